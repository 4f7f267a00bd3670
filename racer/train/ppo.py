"""PPO with DeepRacer's iterations: collect a number of whole episodes, then one update.

DeepRacer's "iteration" is ``num_episodes_between_training`` finished episodes (over all cars),
followed by one policy update (SPEC 3.2). stable-baselines3's PPO collects a fixed number of steps
instead. `EpisodicPPO` keeps SB3's update and changes only when the collection ends: it steps all
cars until the iteration's episodes have finished (or its buffer is full), then trains on exactly
the steps collected. Cars whose episode is still running carry on into the next iteration, their
values bootstrapped, so no experience is thrown away.

It goes through SB3's extension points where they exist: every step reaches the trainer through
a callback (`racer.train.recording.RecordingCallback`, as for SAC), which also counts the
iteration's episodes, and the partly filled buffer is a rollout buffer class of its own
(`IterationBuffer`, SB3's ``rollout_buffer_class``). SB3's collection loop has no way to end
early without dropping the step that ended it (a callback returning False stops before the step
is stored, and skips the update), so `EpisodicPPO.collect_rollouts` is SB3's loop with one more
condition.

One more DeepRacer setting: a Huber value loss (``loss_type: huber``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common import buffers
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.ppo import ppo as sb3_ppo

from racer.train.recording import find_recording

#: PPO's clip range of the likelihood ratio (fixed; SB3's default). The trainer builds with it
#: and `racer.train.checkpoint` rebuilds a checkpoint's clip-range schedule from it.
CLIP_RANGE = 0.2


class _HuberFunctional:
    """torch.nn.functional with ``mse_loss`` replaced by the Huber loss (delta 1)."""

    def __getattr__(self, name: str) -> Any:
        if name == "mse_loss":
            return torch.nn.functional.huber_loss
        return getattr(torch.nn.functional, name)


@contextlib.contextmanager
def _huber_value_loss() -> Iterator[None]:
    original = sb3_ppo.F
    sb3_ppo.F = _HuberFunctional()  # SB3's PPO computes its value loss with F.mse_loss
    try:
        yield
    finally:
        sb3_ppo.F = original


class _Iteration:
    """A rollout buffer that an iteration may end before it is full (mixed into SB3's two).

    ``buffer_size`` is the capacity per car; `end` keeps the rows added so far and makes the
    buffer look full with them, so SB3's returns, advantages and minibatches cover exactly the
    iteration's steps. `reset` (SB3 calls it at every rollout's start) restores the capacity.
    """

    _FIELDS = ("observations", "actions", "rewards", "returns", "episode_starts", "values",
               "log_probs", "advantages")  # fmt: skip

    def __init__(self, buffer_size: int, *args: Any, **kwargs: Any) -> None:
        self.capacity = buffer_size
        super().__init__(buffer_size, *args, **kwargs)  # type: ignore[call-arg]

    def reset(self) -> None:
        self.buffer_size = self.capacity
        super().reset()  # type: ignore[misc]

    def end(self) -> int:
        """End the iteration at the rows added so far; returns their number per car."""
        steps: int = self.pos  # type: ignore[attr-defined]
        for name in self._FIELDS:
            value = getattr(self, name)
            if isinstance(value, dict):  # DictRolloutBuffer's observations (camera and lidar)
                setattr(self, name, {key: part[:steps] for key, part in value.items()})
            else:
                setattr(self, name, value[:steps])
        self.buffer_size = steps
        self.full = True
        return steps


class IterationBuffer(_Iteration, buffers.RolloutBuffer):
    """SB3's rollout buffer for one observation array, ending with the iteration."""


class DictIterationBuffer(_Iteration, buffers.DictRolloutBuffer):
    """SB3's rollout buffer for dict observations (camera and lidar), ending with the iteration."""


class EpisodicPPO(PPO):
    """SB3 PPO whose rollouts are DeepRacer iterations of whole episodes.

    Give `learn` a `racer.train.recording.RecordingCallback` to see every step and to count
    the episodes the way its hook does; without one, every car's episode end counts.

    Args:
        *args: as `PPO`; ``n_steps`` is the buffer's capacity per car (an iteration ends early,
            with a warning in the logs, when it fills before enough episodes finish).
        episodes_per_iteration: DeepRacer's ``num_episodes_between_training``.
        huber: use a Huber value loss instead of mean squared error.
        **kwargs: as `PPO`.

    Attributes:
        iteration_steps: steps per car collected in the last iteration.
        buffer_filled: whether the last iteration ended because the buffer was full.
    """

    def __init__(
        self,
        *args: Any,
        episodes_per_iteration: int = 20,
        huber: bool = False,
        **kwargs: Any,
    ) -> None:
        with warnings.catch_warnings():  # SB3 checks batch_size against n_steps * n_envs, which
            warnings.filterwarnings("ignore", message="You have specified a mini-batch size")
            super().__init__(*args, **kwargs)  # is only the capacity here
        self.episodes_per_iteration = episodes_per_iteration
        self.huber = huber
        self.iteration_steps = 0
        self.buffer_filled = False

    def _setup_model(self) -> None:
        """SB3's setup, with `IterationBuffer` as the rollout buffer class unless one is given."""
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = DictIterationBuffer if dict_obs else IterationBuffer
        super()._setup_model()

    def train(self) -> None:
        """One PPO update on the iteration's steps (Huber value loss if configured)."""
        with _huber_value_loss() if self.huber else contextlib.nullcontext():
            super().train()

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: buffers.RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """SB3's collection, ending when the iteration's episodes have finished.

        Returns:
            False if a callback asked to stop, else True.
        """
        assert self._last_obs is not None, "no previous observation"
        assert isinstance(rollout_buffer, _Iteration), "EpisodicPPO needs an IterationBuffer"
        recording = find_recording(callback)
        self.policy.set_training_mode(False)
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        finished = 0
        steps = 0
        dones = np.zeros(env.num_envs, dtype=bool)
        new_obs = self._last_obs
        while steps < n_rollout_steps and finished < self.episodes_per_iteration:
            if self.use_sde and self.sde_sample_freq > 0 and steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            with torch.no_grad():
                actions, values, log_probs = self.policy(obs_as_tensor(self._last_obs,
                                                                       self.device))  # fmt: skip
            actions = actions.cpu().numpy()
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(actions, self.action_space.low,
                                              self.action_space.high)  # fmt: skip
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            finished = recording.finished if recording is not None else finished + int(dones.sum())
            steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            rewards = self._bootstrap_time_limits(rewards, dones, infos)
            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts,
                               values, log_probs)  # fmt: skip
            self._last_obs = new_obs
            self._last_episode_starts = dones
        self.iteration_steps = rollout_buffer.end()
        self.buffer_filled = finished < self.episodes_per_iteration
        with torch.no_grad():
            last_values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))
        rollout_buffer.compute_returns_and_advantage(last_values=last_values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _bootstrap_time_limits(
        self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]
    ) -> np.ndarray:
        """Add gamma * V(s_T) to steps cut by a time limit (not a real end of the episode)."""
        rewards = rewards.astype(np.float32, copy=True)
        for i in np.flatnonzero(dones):
            info = infos[i]
            if info.get("TimeLimit.truncated") and info.get("terminal_observation") is not None:
                terminal = self.policy.obs_to_tensor(info["terminal_observation"])[0]
                with torch.no_grad():
                    value = self.policy.predict_values(terminal)[0].item()
                rewards[i] += self.gamma * value
        return rewards

