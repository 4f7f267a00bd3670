"""PPO with DeepRacer's iterations: collect a number of whole episodes, then one update.

DeepRacer's "iteration" is ``num_episodes_between_training`` finished episodes (over all cars),
followed by one policy update (SPEC 3.2). stable-baselines3's PPO collects a fixed number of steps
instead. `EpisodicPPO` keeps SB3's update and changes only the collection: it steps all cars until
the iteration's episodes have finished (or its buffer is full), then trains on exactly the steps
collected. Cars whose episode is still running carry on into the next iteration, their values
bootstrapped, so no experience is thrown away.

Two more DeepRacer settings: a Huber value loss (``loss_type: huber``), and a hook that sees
every step (the trainer's logs).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
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

#: Called after every vec-env step with (actions, rewards, dones, infos); returns the number of
#: training episodes that ended in that step.
StepHook = Callable[[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]], int]

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


class EpisodicPPO(PPO):
    """SB3 PPO whose rollouts are DeepRacer iterations of whole episodes.

    Args:
        *args: as `PPO`; ``n_steps`` is the buffer's capacity per car (an iteration ends early,
            with a warning in the logs, when it fills before enough episodes finish).
        episodes_per_iteration: DeepRacer's ``num_episodes_between_training``.
        huber: use a Huber value loss instead of mean squared error.
        step_hook: see `StepHook`; None counts every finished episode.
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
        step_hook: StepHook | None = None,
        **kwargs: Any,
    ) -> None:
        with warnings.catch_warnings():  # SB3 checks batch_size against n_steps * n_envs, which
            warnings.filterwarnings("ignore", message="You have specified a mini-batch size")
            super().__init__(*args, **kwargs)  # is only the capacity here
        self.episodes_per_iteration = episodes_per_iteration
        self.huber = huber
        self.step_hook = step_hook
        self.iteration_steps = 0
        self.buffer_filled = False

    def _excluded_save_params(self) -> list[str]:
        """SB3's save() pickles the attributes; the hook (the trainer's logs) stays out."""
        return [*super()._excluded_save_params(), "step_hook"]

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
        """Step every car until the iteration's episodes have finished; fill the buffer.

        Returns:
            False if a callback asked to stop, else True.
        """
        assert self._last_obs is not None, "no previous observation"
        self.policy.set_training_mode(False)
        capacity = n_rollout_steps
        rollout_buffer.buffer_size = capacity  # undo the last iteration's truncation
        rollout_buffer.reset()
        callback.on_rollout_start()
        finished = 0
        steps = 0
        dones = np.zeros(env.num_envs, dtype=bool)
        while steps < capacity and finished < self.episodes_per_iteration:
            with torch.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)
                actions, values, log_probs = self.policy(obs_tensor)
            actions = actions.cpu().numpy()
            env_actions = actions
            if isinstance(self.action_space, spaces.Box):
                env_actions = np.clip(actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, dones, infos = env.step(env_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            if self.step_hook is not None:
                finished += self.step_hook(env_actions, rewards, dones, infos)
            else:
                finished += int(np.sum(dones))
            steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            rewards = self._bootstrap_time_limits(rewards, dones, infos)
            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts,
                               values, log_probs)  # fmt: skip
            self._last_obs = new_obs
            self._last_episode_starts = dones
        self.iteration_steps = steps
        self.buffer_filled = finished < self.episodes_per_iteration
        _truncate(rollout_buffer, steps)
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


def _truncate(buffer: buffers.RolloutBuffer, steps: int) -> None:
    """Make a partly filled rollout buffer look full with ``steps`` rows per car."""
    for name in ("observations", "actions", "rewards", "returns", "episode_starts", "values",
                 "log_probs", "advantages"):  # fmt: skip
        value = getattr(buffer, name)
        if isinstance(value, dict):  # a camera-and-lidar model's DictRolloutBuffer
            setattr(buffer, name, {key: part[:steps] for key, part in value.items()})
        else:
            setattr(buffer, name, value[:steps])
    buffer.buffer_size = steps
    buffer.pos = steps
    buffer.full = True
