"""`RacerVecEnv`: N DeepRacer cars stepped together, with stable-baselines3's VecEnv contract."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from racer.env.config import EnvConfig
from racer.env.core import RacerCore, RewardCallable
from racer.env.spaces import action_space_for, observation_space_for
from racer.errors import ConfigError


class RacerVecEnv(VecEnv):
    """N cars on one track in one process, batched: SB3's VecEnv semantics to the letter.

    Car ``i`` behaves exactly as a `RacerEnv` reset with seed ``seed + i`` (SB3's convention for
    ``VecEnv.seed``), including its own copy of the reward function's module state, as each
    DeepRacer rollout worker has. Finished cars reset automatically: their last observation is in
    ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` tells a step-limit
    cut from a real end. Seeds set with `seed` apply at the next `reset`.

    Args:
        config: the environment configuration (shared by all cars).
        num_envs: N, the number of cars.
        reward_function: a callable shared by all cars instead of the config's file.
        seed: seed of car 0 for the first reset (car i gets seed + i); None draws fresh entropy.
        spread_starts: start car i a fraction i / N further round the track (on top of the
            round robin and the start offset), so the cars cover the whole track at once; off,
            every car starts where a single DeepRacer worker would.
    """

    def __init__(
        self,
        config: EnvConfig | None = None,
        num_envs: int = 8,
        *,
        reward_function: RewardCallable | None = None,
        seed: int | None = None,
        spread_starts: bool = False,
    ) -> None:
        self.config = config or EnvConfig()
        if self.config.racers > 1:
            raise ConfigError(
                f"racers={self.config.racers} is a multi-car race: run it with `racer race`. "
                "DeepRacer trains one racing car per world; set racers = 1 to train."
            )
        self.core = RacerCore(self.config, num_envs, reward_function)
        if spread_starts:
            self.core.start_offsets[:] = np.arange(num_envs) / num_envs
        self.render_mode = None
        super().__init__(
            num_envs,
            observation_space_for(self.core.obs_shape, self.core.metadata.camera,
                                  self.core.lidar, self.core.lidar_size),  # fmt: skip
            action_space_for(self.core.action_space),
        )
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._actions: np.ndarray | None = None
        if seed is not None:
            self.seed(seed)

    # --------------------------------------------------------------------------- VecEnv API
    def reset(self) -> VecEnvObs:
        """Reset every car (with the seeds from `seed`, if any) and return the observations."""
        restart = [s is not None for s in self._seeds]
        for i, seed in enumerate(self._seeds):
            if seed is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(seed)
        index = np.arange(self.num_envs)
        for flag in (True, False):
            sel = index[np.array(restart) == flag]
            if len(sel):
                self.core.reset_cars(sel, [self._rngs[i] for i in sel], restart=flag)
        self.reset_infos = [self._reset_info(i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return self.core.observation()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for `step_wait`."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step all cars, auto-resetting finished ones."""
        core = self.core
        core.step(self._actions)
        dones = core.terminated | core.truncated
        obs = core.observation()
        infos = core.infos
        for i in np.flatnonzero(dones):
            infos[i]["TimeLimit.truncated"] = bool(core.truncated[i] and not core.terminated[i])
            infos[i]["terminal_observation"] = core.observation(int(i))
        for i in np.flatnonzero(~dones):
            infos[i]["TimeLimit.truncated"] = False
        done_index = np.flatnonzero(dones)
        if len(done_index):
            core.reset_cars(done_index, [self._rngs[i] for i in done_index])
            fresh = core.observation(done_index)
            if isinstance(obs, dict):
                for key in obs:
                    obs[key][done_index] = fresh[key]
            else:
                obs[done_index] = fresh
            for i in done_index:
                self.reset_infos[i] = self._reset_info(i)
        # float32 rewards, as SB3's own VecEnvs return them.
        return obs, core.rewards.astype(np.float32), dones.copy(), list(infos)

    def _reset_info(self, i: int) -> dict[str, Any]:
        core = self.core
        return {"start_ndist": float(core.start_ndist[i]), "is_reversed": bool(core.reverse[i])}

    def close(self) -> None:
        """Close the reward log; the cars live in this process, nothing else to release."""
        self.core.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """The attribute from each (virtual) sub-environment: all cars share one object."""
        return [deepcopy(getattr(self, attr_name)) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute; the cars share one object, so this sets it for all of them."""
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a method of this env once (the cars share it) and give its result per car."""
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """The cars are not gymnasium envs, so never wrapped."""
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: Any) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices) if isinstance(indices, Iterable) else [indices]
