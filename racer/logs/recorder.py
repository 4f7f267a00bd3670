"""Turn `RacerVecEnv` steps into DeepRacer simtrace rows, episode by episode (SPEC 6.1).

`SimtraceRecorder` is called after every ``RacerVecEnv.step`` with exactly what the step returned.
It buffers one row per car and step, already formatted as DeepRacer writes them (``str`` of the
Python value: ``steps`` as ``1.0``, ``done`` as ``True``/``False``, progress as the int ``100``
on a lap-complete row), and when a car's episode ends it returns an `EpisodeLog`: the rows, the
totals TrainingMetrics.json needs (SPEC 6.4) and the laps the evaluation metrics need.

Episodes are numbered in the order they finish, over all cars, 0-based and continuous across
iterations, exactly as one DeepRacer worker numbers its episodes. Rows of unfinished episodes are
never returned, so a training simtrace holds finished training episodes only.

Timing, as racer's env reports it: every episode's first ``step`` is the PREPARE row (``steps``
1.0, reward 0.0, status ``prepare``); the step that ends an episode also resets the car, and the
next ``step`` is the new episode's PREPARE row. ``reset`` itself gives no row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from racer.env.episode import Status
from racer.errors import LogError

_STATUS_BY_LABEL = {status.label: status for status in Status}
_METRICS_LABELS = {status.metrics_label for status in Status}
_COUNT_KEYS = ("off_track_count", "crash_count", "immobilized_count", "reversed_count")
#: Where `SimtraceRecorder._row`'s tuple (the columns after ``episode``) has progress and
#: sim_time.
PROGRESS_COLUMN, SIM_TIME_COLUMN = 10, 13


def metrics_label(status: str) -> str:
    """The TrainingMetrics.json label of a simtrace ``episode_status``, e.g. ``"Off track"``.

    Args:
        status: DeepRacer's step status string, e.g. ``"off_track"`` (a label such as
            ``"Off track"`` is returned as it is).

    Raises:
        LogError: ``status`` is neither a DeepRacer status string nor a label.
    """
    if status in _METRICS_LABELS:
        return status
    try:
        return _STATUS_BY_LABEL[status].metrics_label
    except KeyError:
        raise LogError(
            f"unknown episode_status {status!r}; expected one of {', '.join(_STATUS_BY_LABEL)}."
        ) from None


@dataclass(frozen=True)
class LapLog:
    """One lap (an evaluation "trial") of an episode, as DeepRacer's evaluation metrics count it.

    Attributes:
        number: 1-based index of the lap within its episode.
        complete: the car crossed the line; False for the unfinished last lap of an episode that
            ended some other way.
        start_time: [s] simulation time when the lap began (the episode start for the first lap).
        end_time: [s] simulation time when it ended, penalty pauses included.
        progress: [%] progress on the lap's last row (the int 100 for a complete lap).
        status: ``episode_status`` of the lap's last row, e.g. ``"lap_complete"``.
        off_track_count: off-track resets during the lap.
        crash_count: crash resets during the lap.
        immobilized_count: immobilized resets during the lap.
        reversed_count: reversed resets during the lap.
    """

    number: int
    complete: bool
    start_time: float
    end_time: float
    progress: float
    status: str
    off_track_count: int = 0
    crash_count: int = 0
    immobilized_count: int = 0
    reversed_count: int = 0

    @property
    def reset_count(self) -> int:
        """All resets of the lap (DeepRacer sums the four counts)."""
        return (self.off_track_count + self.crash_count + self.immobilized_count
                + self.reversed_count)  # fmt: skip


@dataclass(frozen=True)
class EpisodeLog:
    """One finished episode of one car: its simtrace rows and its totals.

    Attributes:
        episode: 0-based number in finishing order over all cars, continuous across iterations.
        car: index of the car in the vectorised env.
        rows: one tuple of 19 strings per step, in SIMTRACE_COLUMNS order, formatted exactly as
            DeepRacer writes them; the first is the PREPARE row, the last has ``done`` True. In
            training the ``episode`` column is ``episode``; in evaluation it counts laps (trials)
            over the recorder's whole run, as DeepRacer's evaluation simtrace does.
        total_reward: sum of the logged step rewards.
        progress: [%] progress on the last row.
        status: ``episode_status`` of the last row, e.g. ``"off_track"``.
        start_time: [s] simulation time at the start of the episode (the PREPARE row).
        end_time: [s] simulation time at the end of its last step.
        truncated: the episode hit the step limit rather than ending by DeepRacer's rules.
        laps: the laps driven, the unfinished last one included.
        objects: one tuple per row, ``(x0, y0, heading0, x1, ...)``: each object's
            ``objects_location`` [m] and ``objects_heading`` [rad] from the step's params, in
            the params' order (boxes, bot cars, other racers); () when the run has no objects.
            `racer.logs.objects` writes them beside the simtrace.
    """

    episode: int
    car: int
    rows: tuple[tuple[str, ...], ...]
    total_reward: float
    progress: float
    status: str
    start_time: float
    end_time: float
    truncated: bool = False
    laps: tuple[LapLog, ...] = ()
    objects: tuple[tuple[float, ...], ...] = ()

    @property
    def steps(self) -> int:
        """Number of steps (rows), the PREPARE step included."""
        return len(self.rows)

    @property
    def metrics_status(self) -> str:
        """The TrainingMetrics.json label of the final status, e.g. ``"Lap complete"``."""
        return metrics_label(self.status)


@dataclass
class _CarBuffer:
    """The unfinished episode of one car."""

    rows: list[tuple[str, ...]] = field(default_factory=list)
    objects: list[tuple[float, ...]] = field(default_factory=list)
    lap_of_row: list[int] = field(default_factory=list)
    laps: list[LapLog] = field(default_factory=list)
    reward: float = 0.0
    start_time: float = 0.0
    lap_start: float = 0.0
    counts: tuple[int, ...] = (0, 0, 0, 0)


class SimtraceRecorder:
    """Collect the simtrace rows of N cars and hand back each episode when it ends.

    Args:
        track_length: [m] the track's length, written in every row's ``track_len``.
        continuous: the action space is continuous: the ``action`` column is then
            ``[<steering deg> <speed m/s>]`` (DeepRacer's form); otherwise the action index.
        first_episode: number of the next episode to finish, to resume a run (episodes already
            logged in earlier iterations).
        evaluation: number the ``episode`` column by laps (trials), as DeepRacer's evaluation
            simtrace does, instead of by episode.
        first_trial: the next trial number in evaluation (to append to an earlier evaluation).
    """

    def __init__(
        self,
        track_length: float,
        continuous: bool,
        first_episode: int = 0,
        *,
        evaluation: bool = False,
        first_trial: int = 0,
    ) -> None:
        if first_episode < 0 or first_trial < 0:
            raise ValueError("first_episode and first_trial must be >= 0.")
        self.track_length = float(track_length)
        self.continuous = continuous
        self.evaluation = evaluation
        self.next_episode = first_episode
        self.next_trial = first_trial
        self.discarded_rows = 0
        self._track_len = str(self.track_length)
        self._cars: list[_CarBuffer] = []

    def discard(self) -> int:
        """Drop the rows of every unfinished episode, e.g. at the end of a run.

        (A car whose env is reset mid-episode drops its rows by itself: its next row is a
        PREPARE row; ``discarded_rows`` counts them.)

        Returns:
            The number of rows dropped.
        """
        dropped = sum(len(car.rows) for car in self._cars)
        self._cars = [_CarBuffer() for _ in self._cars]
        return dropped

    @property
    def pending_rows(self) -> int:
        """Rows buffered for episodes that have not finished yet."""
        return sum(len(car.rows) for car in self._cars)

    def longest_running(self) -> tuple[int, int]:
        """The car whose unfinished episode is the longest, and its rows (0, 0 before any step)."""
        if not self._cars:
            return 0, 0
        lengths = [len(car.rows) for car in self._cars]
        car = int(np.argmax(lengths))
        return car, lengths[car]

    def running_episode(self, i: int) -> EpisodeLog:
        """A snapshot of car ``i``'s unfinished episode, as an `EpisodeLog` of its rows so far.

        Numbered as the next episode to finish; the recorder is not changed (the episode goes
        on and is handed back as usual when it ends). For a look at an episode that has run
        for long (``racer replay`` of a simtrace written from it).
        """
        car = self._cars[i]
        number = str(self.next_episode)
        end = car.start_time
        if car.rows:
            end = float(car.rows[-1][SIM_TIME_COLUMN])
        return EpisodeLog(episode=self.next_episode, car=i,
                          rows=tuple((number,) + row for row in car.rows),
                          total_reward=car.reward,
                          progress=float(car.rows[-1][PROGRESS_COLUMN]) if car.rows else 0.0,
                          status="in_progress", start_time=car.start_time, end_time=end,
                          laps=tuple(car.laps),
                          objects=tuple(car.objects) if any(car.objects) else ())  # fmt: skip

    def record(
        self,
        actions: np.ndarray | Sequence[Any],
        rewards: np.ndarray | Sequence[float],
        dones: np.ndarray | Sequence[bool],
        infos: Sequence[dict[str, Any]],
        wall_clock: float | None = None,
    ) -> list[EpisodeLog]:
        """Add one env step of every car; return the episodes it finished, in car order.

        Args:
            actions: the actions passed to ``step``: (N,) int indices (discrete) or (N, 2) floats
                (continuous; the row shows the decoded degrees and m/s from ``params``).
            rewards: (N,) rewards as ``step`` returned them. RacerVecEnv returns float32 (SB3's
                convention); the row shows the shortest decimal of the value given, so pass the
                env's float64 rewards for the reward function's exact values.
            dones: (N,) bool, the episode ended on this step.
            infos: (N,) info dicts from ``step``, each with ``params`` and ``episode_status``.
            wall_clock: [s] Unix time of the step; ``time.time()`` when None.

        Returns:
            The finished episodes, numbered in the order they appear here.

        Raises:
            LogError: a car's first row is not a PREPARE row (the recorder was attached in the
                middle of an episode), or an info lacks ``params``.
        """
        n = len(infos)
        if len(self._cars) != n:
            if self._cars:
                raise LogError(f"record() got {n} cars after {len(self._cars)}; use one "
                               "recorder per env.")  # fmt: skip
            self._cars = [_CarBuffer() for _ in range(n)]
        clock = str(time.time() if wall_clock is None else float(wall_clock))
        actions = np.asarray(actions)
        finished = []
        for i in range(n):
            self._add_row(i, actions[i], rewards[i], infos[i], clock, bool(dones[i]))
            if dones[i]:
                finished.append(self._finish(i, infos[i]))
        return finished

    # ------------------------------------------------------------------------------ internals
    def _add_row(
        self, i: int, action: Any, reward: Any, info: dict[str, Any], clock: str, done: bool
    ) -> None:
        car = self._cars[i]
        try:
            params = info["params"]
        except KeyError:
            raise LogError(
                "record() needs the info dicts of RacerVecEnv.step (with 'params')."
            ) from None
        status = info["episode_status"]
        first = params["steps"] == 1.0
        if car.rows and first:
            # The env was reset by hand mid-episode: that episode never finished, and DeepRacer
            # logs finished episodes only.
            self.discarded_rows += len(car.rows)
            car = self._cars[i] = _CarBuffer()
        if not car.rows:
            if not first:
                raise LogError(
                    f"car {i}'s episode starts at step {params['steps']:g}, not with its PREPARE "
                    "step: create the recorder before the env's first step after reset()."
                )
            car.start_time = car.lap_start = float(params["sim_time"])
        reward_text = str(reward)  # numpy scalars print their shortest round-trip decimal
        car.reward += float(reward_text)
        # DeepRacer logs a lap that is not the episode's last as in_progress (its continuous
        # evaluation, SPEC 6.1); the lap itself is still counted from the env's status.
        shown = "in_progress" if status == "lap_complete" and not done else status
        car.rows.append(self._row(params, action, reward_text, done, shown, info, clock))
        car.objects.append(object_poses(params))
        car.lap_of_row.append(len(car.laps))
        if status == "lap_complete":
            self._close_lap(car, params, info, complete=True, status=status)

    def _row(
        self,
        params: dict[str, Any],
        action: Any,
        reward: str,
        done: bool,
        status: str,
        info: dict[str, Any],
        clock: str,
    ) -> tuple[str, ...]:
        """The 18 columns after ``episode`` (filled in when the episode ends)."""
        x, y = float(params["x"]), float(params["y"])
        steering, speed = float(params["steering_angle"]), float(params["speed"])
        if self.continuous:
            action_text = f"[{steering} {speed}]"
        else:
            action_text = str(int(action))
        return (
            str(float(params["steps"])), str(x), str(y), str(float(params["heading"])),
            str(steering), str(speed), action_text, reward, str(done),
            str(bool(params["all_wheels_on_track"])), str(params["progress"]),
            str(closest_waypoint(params)), self._track_len, str(float(params["sim_time"])),
            status, str(float(info.get("pause_duration", 0.0))),
            str(int(info.get("crash_count", 0))), clock,
        )  # fmt: skip

    @staticmethod
    def _close_lap(
        car: _CarBuffer, params: dict[str, Any], info: dict[str, Any], complete: bool, status: str
    ) -> None:
        counts = tuple(int(info.get(key, 0)) for key in _COUNT_KEYS)
        if complete:
            end = car.lap_start + float(info["lap_time"])
        else:
            end = car.start_time + float(info["episode_time"])
        delta = [now - before for now, before in zip(counts, car.counts, strict=True)]
        car.laps.append(
            LapLog(
                len(car.laps) + 1, complete, car.lap_start, end, params["progress"], status, *delta
            )
        )
        car.lap_start = end
        car.counts = counts

    def _finish(self, i: int, info: dict[str, Any]) -> EpisodeLog:
        car = self._cars[i]
        params, status = info["params"], info["episode_status"]
        if status != "lap_complete":
            self._close_lap(car, params, info, complete=False, status=status)
        episode = self.next_episode
        self.next_episode += 1
        if self.evaluation:
            base = self.next_trial
            rows = tuple((str(base + lap),) + row
                         for lap, row in zip(car.lap_of_row, car.rows, strict=True))  # fmt: skip
            # An episode that ends on a lap-complete row has no rows of a further lap.
            self.next_trial += max(car.lap_of_row[-1] + 1, 1)
        else:
            number = str(episode)
            rows = tuple((number,) + row for row in car.rows)
        log = EpisodeLog(
            episode=episode,
            car=i,
            rows=rows,
            total_reward=car.reward,
            progress=params["progress"],
            status=status,
            start_time=car.start_time,
            end_time=car.start_time + float(info["episode_time"]),
            truncated=bool(info.get("TimeLimit.truncated", False)),
            laps=tuple(car.laps),
            objects=tuple(car.objects) if any(car.objects) else (),
        )
        self._cars[i] = _CarBuffer()
        return log


def closest_waypoint(params: dict[str, Any]) -> int:
    """The simtrace's single closest waypoint: the nearer of ``closest_waypoints`` (SPEC 6.1).

    DeepRacer compares the Euclidean distances from the model point (``x``, ``y``) to the two
    bracketing waypoints and keeps the previous one on a tie.
    """
    previous, following = params["closest_waypoints"]
    waypoints = params["waypoints"]
    x, y = params["x"], params["y"]
    px, py = waypoints[previous]
    nx, ny = waypoints[following]
    if math.hypot(nx - x, ny - y) < math.hypot(px - x, py - y):
        return int(following)
    return int(previous)


def object_poses(params: dict[str, Any]) -> tuple[float, ...]:
    """The step's objects as one flat tuple ``(x0, y0, heading0, x1, ...)`` [m, m, rad].

    From ``objects_location`` and ``objects_heading`` (0.0 where a heading is missing); () when
    the params list no object (a time trial).
    """
    location = params.get("objects_location") or ()
    if not location:
        return ()
    heading = list(params.get("objects_heading") or ())
    heading = (heading + [0.0] * len(location))[: len(location)]
    return tuple(float(v) for (x, y), h in zip(location, heading, strict=True) for v in (x, y, h))
