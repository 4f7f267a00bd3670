"""Episode rules: phases, termination statuses, starts and evaluation resets (SPEC section 5).

Shared by the single and the batched environment. Statuses use DeepRacer's strings in logs and
``info``; their order here is DeepRacer's priority when several rules fire on one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from racer.errors import ConfigError


class Status(IntEnum):
    """Episode status of one step; ``name.lower()`` is DeepRacer's ``episode_status`` string.

    The failure statuses are listed in DeepRacer's priority order (SPEC 5.2).
    """

    IN_PROGRESS = 0
    LAP_COMPLETE = 1
    CRASHED = 2
    OFF_TRACK = 3
    IMMOBILIZED = 4
    TIME_UP = 5
    REVERSED = 6
    PREPARE = 7
    PAUSE = 8
    PARK = 9

    @property
    def label(self) -> str:
        """DeepRacer's ``episode_status`` string, e.g. ``"off_track"``."""
        return self.name.lower()

    @property
    def metrics_label(self) -> str:
        """The label TrainingMetrics.json uses, e.g. ``"Off track"`` (SPEC 6.4)."""
        return _METRIC_LABELS[self]


_METRIC_LABELS = {
    Status.IN_PROGRESS: "In progress",
    Status.LAP_COMPLETE: "Lap complete",
    Status.CRASHED: "Crashed",
    Status.OFF_TRACK: "Off track",
    Status.IMMOBILIZED: "Immobilized",
    Status.TIME_UP: "Time Up",
    Status.REVERSED: "Reversed",
    Status.PREPARE: "Prepare",
    Status.PAUSE: "Pause",
    Status.PARK: "Park",
}
STATUS_LABELS = tuple(s.label for s in Status)


class Phase(IntEnum):
    """Agent phase within an episode (SPEC 5.1)."""

    PREPARE = 0  # first step: the car does not move, the reward function is not called
    RUN = 1
    PAUSE = 2  # evaluation penalty after a reset: the car waits, reward 0
    PARK = 3  # a race: the car has finished and waits off the track for the others, reward 0


@dataclass(frozen=True)
class EpisodeConfig:
    """Rules of an episode, with DeepRacer's defaults (SPEC 5.2-5.3).

    Attributes:
        round_robin_advance: fraction of the track the start moves after each training episode
            (CHANGE_START_POSITION with ROUND_ROBIN_ADVANCE_DIST); 0 always starts at the offset.
        start_position_offset: fraction of the track from waypoint 0 where the first episode starts
            (START_POSITION_OFFSET).
        random_start: start each training episode at a uniformly random point instead of the
            round robin (racer's option, drawn from the env's seeded generator).
        alternate_direction: flip the driving direction after every training episode
            (ALTERNATE_DRIVING_DIRECTION).
        immobilized_steps: consecutive steps without moving that end an episode.
        immobilized_distance: [m] a step moving base_link at most this far counts as not moving.
        reversed_steps: consecutive steps of falling progress that end an episode.
        max_episode_steps: steps after which the episode is truncated (DeepRacer's 100,000).
        evaluation: evaluation rules: start at the offset every episode, reset after failures with
            a penalty pause, and drive ``laps`` laps in one episode.
        laps: laps per evaluation episode (NUMBER_OF_TRIALS with IS_CONTINUOUS).
        number_of_resets: failures an evaluation episode survives (NUMBER_OF_RESETS; the console
            sends 10000). Training always ends on the first failure.
        off_track_penalty: [s] pause after going off track in evaluation.
        collision_penalty: [s] pause after a crash in evaluation.
        reverse_penalty: [s] pause after driving backwards; negative means "as off_track_penalty".
        immobilized_penalty: [s] pause after being immobilized.
    """

    round_robin_advance: float = 0.05
    start_position_offset: float = 0.0
    random_start: bool = False
    alternate_direction: bool = False
    immobilized_steps: int = 15
    immobilized_distance: float = 0.0003
    reversed_steps: int = 15
    max_episode_steps: int = 100_000
    evaluation: bool = False
    laps: int = 3
    number_of_resets: int = 10_000
    off_track_penalty: float = 2.0
    collision_penalty: float = 5.0
    reverse_penalty: float = -1.0
    immobilized_penalty: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.round_robin_advance < 1.0:
            raise ConfigError(
                f"round_robin_advance must be in [0, 1), got {self.round_robin_advance}."
            )
        if not 0.0 <= self.start_position_offset < 1.0:
            raise ConfigError(
                f"start_position_offset must be a fraction in [0, 1), got "
                f"{self.start_position_offset}."
            )
        for name in ("immobilized_steps", "reversed_steps", "max_episode_steps", "laps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.number_of_resets < 0:
            raise ConfigError(f"number_of_resets must be >= 0, got {self.number_of_resets}.")
        for name in ("off_track_penalty", "collision_penalty", "immobilized_penalty"):
            if getattr(self, name) < 0.0:
                raise ConfigError(f"{name} must be >= 0 seconds, got {getattr(self, name)}.")

    @property
    def laps_per_episode(self) -> int:
        """Laps that complete an episode: ``laps`` in evaluation, 1 in training."""
        return self.laps if self.evaluation else 1

    @property
    def resets_allowed(self) -> int:
        """Failures an episode survives: ``number_of_resets`` in evaluation, 0 in training."""
        return self.number_of_resets if self.evaluation else 0

    def penalty(self, status: Status) -> float:
        """Pause [s] after a reset for ``status`` (SPEC 5.2)."""
        if status == Status.CRASHED:
            return self.collision_penalty
        if status == Status.IMMOBILIZED:
            return self.immobilized_penalty
        if status == Status.REVERSED and self.reverse_penalty >= 0.0:
            return self.reverse_penalty
        return self.off_track_penalty


def judge(
    lap_complete: np.ndarray,
    crashed: np.ndarray,
    off_track: np.ndarray,
    immobilized: np.ndarray,
    reversed_: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """Each car's status from the rules that fired, in DeepRacer's priority order (SPEC 5.2).

    Args:
        lap_complete: (N,) bool, progress reached 100 %.
        crashed: (N,) bool, a collision.
        off_track: (N,) bool, no wheel on the road.
        immobilized: (N,) bool, stood still for too many steps.
        reversed_: (N,) bool, drove backwards for too many steps.
        out: (N,) int8 receives a `Status` value per car.

    Returns:
        ``out``.
    """
    out[:] = Status.IN_PROGRESS
    # Assign lowest priority first so higher priorities overwrite.
    out[reversed_] = Status.REVERSED
    out[immobilized] = Status.IMMOBILIZED
    out[off_track] = Status.OFF_TRACK
    out[crashed] = Status.CRASHED
    out[lap_complete] = Status.LAP_COMPLETE
    return out
