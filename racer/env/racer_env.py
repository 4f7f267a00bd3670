"""`RacerEnv`: one DeepRacer car as a gymnasium environment (``racer/DeepRacer-v0``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from racer.env.config import EnvConfig
from racer.env.core import RacerCore, RewardCallable
from racer.env.spaces import action_space_for, observation_space_for


class RacerEnv(gym.Env):
    """A DeepRacer car on a track, seen through its front camera.

    ## Description
    AWS DeepRacer's time trial, simulated faster than real time: the car drives a DeepRacer track
    (any ``.npy`` route file, or one of racer's bundled tracks) at 15 steps per simulated second,
    and a user's unmodified ``reward_function(params)`` scores every step.

    ## Action Space
    From ``model_metadata.json`` (SPEC 3.1). Discrete: ``Discrete(n)``, an index into the action
    list. Continuous: ``Box(-1, 1, (2,))`` as [steering, speed], scaled to the JSON ranges.

    ## Observation Space
    ``Box(0, 255, (120, 160, 1), uint8)``: the front camera in grayscale, as DeepRacer's network
    sees it, rendered after the step's motion.

    ## Rewards
    The user's reward function on RUN steps; 0.0 on the PREPARE step and on evaluation pauses.

    ## Starting State
    On the centre line heading to the next waypoint, at the round-robin start point (5 % further
    each episode), or the start line in evaluation. The first step is PREPARE: the car stays put.

    ## Episode Termination
    ``terminated`` on lap complete, off track (no wheel on the road), immobilized (15 steps) or
    reversed (15 steps), judged on the pose the previous action left (one step late, as on
    DeepRacer). ``truncated`` after ``episode.max_episode_steps`` steps. In evaluation, failures
    reset the car with a penalty pause and the episode runs ``episode.laps`` laps.

    ## Info
    ``params`` (the dict given to the reward function), ``episode_status`` (DeepRacer's string),
    ``progress`` [%], ``steps``, ``laps`` completed, ``lap_time`` [s] of the current lap (of the
    completed lap on a lap-complete step), ``episode_time`` [s], both with penalties,
    ``pause_duration`` [s] left, ``start_ndist``, ``reset_count``, and the evaluation counters
    ``off_track_count``, ``crash_count``, ``immobilized_count``, ``reversed_count``.

    ## Arguments
    ``config``: an `EnvConfig` (track, direction, action space, reward function, car, camera,
    episode rules). ``reward_function``: a callable to use instead of the config's file.
    ``render_mode``: ``"rgb_array"`` returns the camera frame as RGB.

    ## Version History
    - v0: first version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        config: EnvConfig | None = None,
        *,
        reward_function: RewardCallable | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.config = config or EnvConfig()
        self.core = RacerCore(self.config, 1, reward_function)
        self.action_space = action_space_for(self.core.action_space)
        self.observation_space = observation_space_for(
            self.core.obs_shape, self.core.metadata.camera, self.core.lidar, self.core.lidar_size
        )
        self.render_mode = render_mode
        self._actions = np.zeros((1, *self.action_space.shape), self.action_space.dtype)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; a seed also restarts the round robin (see `RacerCore.reset_cars`)."""
        super().reset(seed=seed)
        self.core.reset_cars(np.array([0]), [self.np_random], restart=seed is not None)
        return self.core.observation(0), self._reset_info()

    def _reset_info(self) -> dict[str, Any]:
        core = self.core
        return {"start_ndist": float(core.start_ndist[0]), "is_reversed": bool(core.reverse[0])}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One step of 1/15 s of simulated time (see the class docstring)."""
        self._actions[0] = action
        core = self.core
        core.step(self._actions)
        return (
            core.observation(0),
            float(core.rewards[0]),
            bool(core.terminated[0]),
            bool(core.truncated[0]),
            core.infos[0],
        )

    def render(self) -> np.ndarray | None:
        """The camera frame as an (H, W, 3) uint8 RGB image (``render_mode="rgb_array"``)."""
        if self.render_mode != "rgb_array":
            return None
        return np.repeat(self.core.obs[0][:, :, :1], 3, axis=2)

    def close(self) -> None:
        """Close the reward log, if the config names one."""
        self.core.close()
