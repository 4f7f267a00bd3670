"""Evaluating a policy: DeepRacer's lap evaluation and the short checks between iterations.

Two kinds (SPEC 5.3):

- `evaluate_laps`: what ``racer evaluate`` and the console's evaluation do: one car, N laps from
  the start line, going off track costs a reset with a penalty pause (not the end), lap times
  include the pauses.
- `evaluate_progress`: what DeepRacer's worker does after each training iteration: a few
  single-lap episodes that end at the first failure; their mean progress picks the best model.

A policy is anything with ``predict(observations) -> actions`` for a batch: an SB3 model through
`SB3Policy`, or an exported ONNX model (`racer.export.runner.OnnxPolicy`) without SB3 at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.episode import STATUS_LABELS, Status


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


@dataclass
class StepRecord:
    """One step of an evaluated car, for the evaluation simtrace.

    Attributes:
        action: the action taken (index, or the [-1, 1] pair).
        reward: the step's reward.
        done: whether the episode ended on this step.
        info: the env's info dict of the step (params, status, counts).
    """

    action: Any
    reward: float
    done: bool
    info: dict[str, Any]


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
) -> LapEvaluation:
    """Drive ``laps`` laps from the start line with DeepRacer's evaluation rules.

    Args:
        config: the environment (its training rules are replaced by evaluation ones).
        policy: the policy to drive.
        laps: laps to drive (DeepRacer's console: 3).
        resets: off-track resets allowed (console 10000: the car always continues).
        max_steps: give up after this many steps; 0: `lap_step_limit` per lap.
        record: keep every step for the logs.
    """
    config = lap_config(config, laps, resets)
    core = RacerCore(config, 1)
    try:
        if max_steps <= 0:
            max_steps = laps * lap_step_limit(core)
        result = LapEvaluation(laps)
        rng = np.random.default_rng(0)
        core.reset_cars(np.array([0]), [rng], restart=True)
        obs = core.observation()
        for _ in range(max_steps):
            action = np.asarray(policy.predict(obs))
            core.step(action)
            obs = core.observation()
            info = core.infos[0]
            done = bool(core.terminated[0] or core.truncated[0])
            result.steps += 1
            if record:
                result.records.append(StepRecord(first_action(action), float(core.rewards[0]), done,
                                                 info))  # fmt: skip
            if info["episode_status"] == STATUS_LABELS[Status.LAP_COMPLETE]:
                result.lap_times.append(float(info["lap_time"]))
            if done:
                break
        result.take_counts(core.infos[0])
        if not result.steps:
            result.status = ""
        return result
    finally:
        core.close()


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


def first_action(action: np.ndarray) -> Any:
    """The first car's action of a batch, as plain Python (an int, or a [steering, speed] list)."""
    action = np.asarray(action)
    return action[0].tolist() if action.ndim else int(action)


@dataclass
class ProgressEvaluation:
    """Single-lap evaluation episodes (one per car), as between DeepRacer iterations.

    Attributes:
        progress: (K,) [%] final progress of each episode.
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
    episode = replace(config.episode, evaluation=False, number_of_resets=0, random_start=False,
                      alternate_direction=False, round_robin_advance=0.0)  # fmt: skip
    core = RacerCore(replace(config, episode=episode), episodes)
    try:
        core.start_offsets[:] = np.arange(episodes) / episodes
        if max_steps <= 0:
            max_steps = lap_step_limit(core)
        rngs = [np.random.default_rng(k) for k in range(episodes)]
        core.reset_cars(np.arange(episodes), rngs, restart=True)
        running = np.ones(episodes, bool)
        progress = np.zeros(episodes)
        rewards = np.zeros(episodes)
        status = [""] * episodes
        end_time = np.zeros(episodes)
        obs = core.observation()
        for _ in range(max_steps):
            core.step(np.asarray(policy.predict(obs)))
            obs = core.observation()
            rewards += np.where(running, core.rewards, 0.0)
            done = (core.terminated | core.truncated) & running
            for k in np.flatnonzero(done):
                info = core.infos[k]
                progress[k] = float(info["progress"])
                status[k] = info["episode_status"]
                end_time[k] = info["episode_time"]
            running &= ~done
            if not running.any():
                break
        for k in np.flatnonzero(running):  # out of steps: report where they got to
            info = core.infos[k]
            progress[k] = float(info["progress"])
            status[k] = "time_up"
            end_time[k] = info["episode_time"]
        return ProgressEvaluation(progress, rewards, status, np.zeros(episodes), end_time)
    finally:
        core.close()
