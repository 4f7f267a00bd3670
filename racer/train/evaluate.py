"""Evaluating a policy: DeepRacer's lap evaluation and the short checks between iterations.

Two kinds (SPEC 5.3):

- `evaluate_laps`: what ``racer evaluate`` and the console's evaluation do: one car, N laps from
  the start line, going off track costs a reset with a penalty pause (not the end), lap times
  include the pauses.
- `evaluate_progress`: what DeepRacer's worker does after each training iteration: a few
  single-lap episodes that end at the first failure; their mean progress picks the best model.

A policy is anything with ``predict(observations) -> actions`` for a batch: an SB3 model through
`SB3Policy`, or an exported ONNX model (`racer.export.runner.OnnxPolicy`) without SB3 at all.
Driving a policy needs no reward function: `evaluate_laps` calls one only when asked (``rewards``),
since a shared run folder's ``reward_function.py`` is code from whoever shared it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.episode import STATUS_LABELS, Status
from racer.env.rollout import StepRecord, policy_driver, rollout


class Policy(Protocol):
    """A batched deterministic policy: observations to (N,) or (N, 2) actions.

    Observations are (N, H, W, C) uint8 images, or a dict of them and the lidar's (N, D).
    """

    def predict(self, observations: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations."""
        ...


class SB3Policy:
    """An SB3 model's deterministic policy as a `Policy`."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, observations: np.ndarray) -> np.ndarray:
        """The model's deterministic actions."""
        actions, _ = self.model.predict(observations, deterministic=True)
        return actions


def no_reward(params: dict[str, Any]) -> float:
    """A reward function that pays 0.0 and imports nothing: for drives that need no reward."""
    return 0.0


@dataclass
class LapEvaluation:
    """The result of `evaluate_laps`.

    Attributes:
        laps_target: laps asked for.
        laps: laps completed.
        lap_times: [s] each completed lap's time, penalty pauses included.
        off_track: off-track resets; crashed, immobilized, reversed: the other failures.
        resets: resets used.
        status: the last step's status label.
        steps: steps taken.
        records: every step, for the logs.
    """

    laps_target: int
    laps: int = 0
    lap_times: list[float] = field(default_factory=list)
    off_track: int = 0
    crashed: int = 0
    immobilized: int = 0
    reversed: int = 0
    resets: int = 0
    status: str = ""
    steps: int = 0
    records: list[StepRecord] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """All the laps were driven."""
        return self.laps >= self.laps_target

    @property
    def total_time(self) -> float:
        """[s] the sum of the lap times."""
        return float(sum(self.lap_times))

    def take_counts(self, info: dict[str, Any]) -> None:
        """Read the laps, failure counts and status of the car's last step from its info."""
        self.laps = int(info["laps"])
        self.off_track = int(info["off_track_count"])
        self.crashed = int(info["crash_count"])
        self.immobilized = int(info["immobilized_count"])
        self.reversed = int(info["reversed_count"])
        self.resets = int(info["reset_count"])
        self.status = info["episode_status"]

    def summary(self) -> str:
        """One line: laps, times and failures."""
        times = ", ".join(f"{t:.2f}" for t in self.lap_times) or "-"
        return (f"{self.laps}/{self.laps_target} laps, lap times [s] {times}; off track "
                f"{self.off_track}, crashed {self.crashed}, immobilized {self.immobilized}, "
                f"reversed {self.reversed}, resets {self.resets}")  # fmt: skip


def lap_config(
    config: EnvConfig, laps: int = 3, resets: int = 10_000, reverse: bool | None = None
) -> EnvConfig:
    """The evaluation version of a training config: N laps from the line with resets."""
    episode = replace(config.episode, evaluation=True, laps=laps, number_of_resets=resets,
                      alternate_direction=False, random_start=False)  # fmt: skip
    return replace(config, episode=episode,
                   reverse=config.reverse if reverse is None else reverse)  # fmt: skip


def evaluate_laps(
    config: EnvConfig,
    policy: Policy,
    *,
    laps: int = 3,
    resets: int = 10_000,
    max_steps: int = 0,
    record: bool = True,
    rewards: bool = True,
) -> LapEvaluation:
    """Drive ``laps`` laps from the start line with DeepRacer's evaluation rules.

    Args:
        config: the environment (its training rules are replaced by evaluation ones).
        policy: the policy to drive.
        laps: laps to drive (DeepRacer's console: 3).
        resets: off-track resets allowed (console 10000: the car always continues).
        max_steps: give up after this many steps; 0: `lap_step_limit` per lap.
        record: keep every step for the logs.
        rewards: score every step with ``config.reward_function``; False imports no reward
            function and records every reward as 0.0 (`no_reward`).
    """
    core = lap_core(config, laps, resets, rewards)
    try:
        return drive_laps(core, policy, max_steps=max_steps, record=record)
    finally:
        core.close()


def lap_core(config: EnvConfig, laps: int = 3, resets: int = 10_000,
             rewards: bool = True) -> RacerCore:  # fmt: skip
    """The one-car core `drive_laps` drives: ``config`` with `lap_config`'s evaluation rules.

    Args:
        config: the environment.
        laps: laps per evaluation (DeepRacer's console: 3).
        resets: failures each evaluation survives with a penalty pause.
        rewards: load ``config.reward_function``; False imports none (`no_reward`).
    """
    return RacerCore(lap_config(config, laps, resets), 1, None if rewards else no_reward)


def drive_laps(core: RacerCore, policy: Policy, *, max_steps: int = 0,
               record: bool = True) -> LapEvaluation:  # fmt: skip
    """`evaluate_laps` on a `lap_core`, which can drive one evaluation after another."""
    laps = core.config.episode.laps_per_episode
    if max_steps <= 0:
        max_steps = laps * lap_step_limit(core)
    result = LapEvaluation(laps)
    for step in rollout(core, policy_driver(policy), rngs=[np.random.default_rng(0)],
                        max_steps=max_steps):  # fmt: skip
        info = step.infos[0]
        result.steps += 1
        if record:
            result.records.append(step.record(0))
        if info["episode_status"] == STATUS_LABELS[Status.LAP_COMPLETE]:
            result.lap_times.append(float(info["lap_time"]))
    result.take_counts(core.infos[0])
    if not result.steps:
        result.status = ""
    return result


def lap_step_limit(core: RacerCore, space: Any = None) -> int:
    """Steps allowed for one lap: 1.5 laps' worth at the action space's slowest speed.

    A policy that circles or crawls without failing a rule would otherwise run for ever.

    Args:
        core: the simulator (its track and step length).
        space: the action space (default: the core's).
    """
    space = core.action_space if space is None else space
    slowest = min(space.speed) if hasattr(space, "speed") else space.speed_low
    return int(1.5 * core.tracks[0].length / max(slowest, 0.1) / core.config.dt) + 50


@dataclass
class ProgressEvaluation:
    """Single-lap evaluation episodes (one per car), as between DeepRacer iterations.

    Attributes:
        progress: (K,) [%] final progress of each episode, never below 0 (the params' progress
            is slightly negative while a car is behind its start point).
        rewards: (K,) total reward of each episode.
        status: (K,) final status labels.
        start_time, end_time: (K,) [s] sim time at the start and end of each episode.
    """

    progress: np.ndarray
    rewards: np.ndarray
    status: list[str]
    start_time: np.ndarray
    end_time: np.ndarray

    @property
    def mean_progress(self) -> float:
        """[%] the best-model metric."""
        return float(np.mean(self.progress)) if len(self.progress) else math.nan


def evaluate_progress(
    config: EnvConfig, policy: Policy, episodes: int = 5, max_steps: int = 0
) -> ProgressEvaluation:
    """Run ``episodes`` single-lap episodes at once, starting spread evenly round the track.

    Each ends at the first failure (no resets), as DeepRacer's evaluation episodes between
    iterations do. The starts are spread (car k at k / episodes of the lap), where DeepRacer uses
    the worker's current round-robin start: the mean then covers the whole track every time.
    """
    core = progress_core(config, episodes)
    try:
        return drive_progress(core, policy, max_steps)
    finally:
        core.close()


def progress_core(config: EnvConfig, episodes: int = 5) -> RacerCore:
    """The core of ``episodes`` cars `drive_progress` drives, their starts spread round the lap."""
    episode = replace(config.episode, evaluation=False, number_of_resets=0, random_start=False,
                      alternate_direction=False, round_robin_advance=0.0)  # fmt: skip
    core = RacerCore(replace(config, episode=episode), episodes)
    core.start_offsets[:] = np.arange(episodes) / episodes
    return core


def drive_progress(core: RacerCore, policy: Policy, max_steps: int = 0) -> ProgressEvaluation:
    """`evaluate_progress` on a `progress_core`, which can drive one evaluation after another."""
    episodes = core.n
    if max_steps <= 0:
        max_steps = lap_step_limit(core)
    rngs = [np.random.default_rng(k) for k in range(episodes)]
    running = np.ones(episodes, bool)
    progress = np.zeros(episodes)
    rewards = np.zeros(episodes)
    status = [""] * episodes
    end_time = np.zeros(episodes)
    for step in rollout(core, policy_driver(policy), rngs=rngs, max_steps=max_steps):
        rewards += np.where(step.running, step.rewards, 0.0)
        for k in np.flatnonzero(step.done):
            info = step.infos[k]
            progress[k] = max(float(info["progress"]), 0.0)  # params' progress dips below 0
            status[k] = info["episode_status"]
            end_time[k] = info["episode_time"]
        running = step.running & ~step.done
    for k in np.flatnonzero(running):  # out of steps: report where they got to
        info = core.infos[k]
        progress[k] = max(float(info["progress"]), 0.0)
        status[k] = "time_up"
        end_time[k] = info["episode_time"]
    return ProgressEvaluation(progress, rewards, status, np.zeros(episodes), end_time)
