"""Write DeepRacer's simtrace CSVs and its robomaker log (SPEC 6.1 and 6.2).

- `write_simtrace`: one ``{n}-iteration.csv`` (training) or ``0-iteration.csv`` (evaluation),
  written atomically, with the current 19 columns or the console's 17, and, for a run with
  objects, its ``{n}-objects.csv`` sidecar (`racer.logs.objects`).
- `RobomakerLog`: the text log DeepRacer's simulation worker prints, with the ``SIM_TRACE_LOG:``
  line of every step at printf precision and the header lines the log parsers look for (the
  hyper-parameters block, the action space, the sensor list, the world name); `roll_back_log`
  cuts it back to its size at a commit (`RobomakerLog.sync`), so a resume never repeats lines.
- `TrainingMetrics` and `write_evaluation_metrics` (from `racer.logs.metrics`): the metrics JSON.

Every OSError becomes a `LogError` that names the file and says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from racer.formats.model_metadata import ModelMetadata
from racer.logs.atomic import log_error, write_text_atomic
from racer.logs.metrics import TrainingMetrics, write_evaluation_metrics
from racer.logs.objects import write_objects
from racer.logs.recorder import EpisodeLog
from racer.logs.simtrace import SIMTRACE_COLUMNS

__all__ = [
    "SIMTRACE_WIDTHS", "RobomakerLog", "TrainingMetrics", "header_lines", "roll_back_log",
    "sim_trace_log_line", "simtrace_text", "write_evaluation_metrics", "write_simtrace",
]  # fmt: skip

#: Column counts of the simtrace versions: the console's 17, + obstacle_crash_counter, + wall_clock.
SIMTRACE_WIDTHS = (17, 18, 19)


def simtrace_text(episodes: Iterable[EpisodeLog], columns: int = 19) -> str:
    """The CSV text of a simtrace: the header, then every episode's rows in the given order.

    Args:
        episodes: the episodes, in the order to write them.
        columns: 19 (current), 18 (with obstacle_crash_counter) or 17 (the AWS console's format).

    Raises:
        ValueError: ``columns`` is not 17, 18 or 19.
    """
    if columns not in SIMTRACE_WIDTHS:
        raise ValueError(f"columns must be one of {SIMTRACE_WIDTHS}, got {columns}.")
    lines = [",".join(SIMTRACE_COLUMNS[:columns])]
    for episode in episodes:
        lines.extend(",".join(row[:columns]) for row in episode.rows)
    return "\n".join(lines) + "\n"


def write_simtrace(path: Path | str, episodes: Iterable[EpisodeLog], columns: int = 19) -> Path:
    """Write one simtrace file atomically (see `racer.logs.atomic`), and its object sidecar.

    When the episodes have objects (boxes, bot cars), their poses go to the sidecar
    ``{n}-objects.csv`` first (`racer.logs.objects.write_objects`), so a simtrace on disk always
    has its sidecar; without objects a stale sidecar of that name is removed.

    Args:
        path: e.g. ``RunFolder.training_simtrace_file(n)`` or ``evaluation_simtrace(ts)``.
        episodes: the episodes of the file (one iteration's in training), in order.
        columns: 19, 18 or 17 (the console's format, without obstacle_crash_counter and
            wall_clock).

    Returns:
        The written path.

    Raises:
        LogError: the file cannot be written; an earlier file of the same name stays intact.
        ValueError: ``columns`` is not 17, 18 or 19.
    """
    episodes = list(episodes)
    text = simtrace_text(episodes, columns)
    write_objects(path, episodes)
    return write_text_atomic(path, text)


# --------------------------------------------------------------------------- robomaker log
def sim_trace_log_line(row: Sequence[str], columns: int = 19) -> str:
    """One ``SIM_TRACE_LOG:`` line for a simtrace row, with DeepRacer's printf precision.

    Args:
        row: 19 strings in SIMTRACE_COLUMNS order (an `EpisodeLog` row).
        columns: 19, or 17 as the console's logs (never 18: deepracer-utils would read the
            obstacle counter as the wall clock).

    Raises:
        ValueError: ``columns`` is not 17 or 19.
    """
    if columns not in (17, 19):
        raise ValueError(f"SIM_TRACE_LOG lines have 17 or 19 fields, got {columns}.")
    (episode, steps, x, y, yaw, steer, throttle, action, reward, done, on_track, progress,
     closest, track_len, tstamp, status, pause, obstacles, wall_clock) = row  # fmt: skip
    fields = [
        f"{int(episode):d}", f"{int(float(steps)):d}", f"{float(x):.4f}", f"{float(y):.4f}",
        f"{float(yaw):.4f}", f"{float(steer):.2f}", f"{float(throttle):.2f}", action,
        f"{float(reward):.4f}", done, on_track, f"{float(progress):.4f}", f"{int(closest):d}",
        f"{float(track_len):.2f}", tstamp, status, f"{float(pause):.2f}",
    ]  # fmt: skip
    if columns == 19:
        fields += [f"{int(obstacles):d}", f"{float(wall_clock):.4f}"]
    return "SIM_TRACE_LOG:" + ",".join(fields)


def header_lines(
    hyperparameters: Mapping[str, Any] | Any,
    metadata: ModelMetadata,
    world_name: str,
    job_type: str = "TRAINING",
    race_type: str = "TIME_TRIAL",
) -> list[str]:
    """The header lines of a simulation log that the log parsers read (SPEC 6.2).

    deepracer-utils reads WORLD_NAME only before the sensor-list line, and the hyper-parameter
    JSON up to the first line with a ``}``; deepracer-log-guru reads the indented keys, the
    action space and ``action_space_type``.

    Args:
        hyperparameters: the content of ip/hyperparameters.json, as a mapping or a dataclass
            with DeepRacer's keys.
        metadata: the model's model_metadata.json.
        world_name: the track's name (DeepRacer's WORLD_NAME).
        job_type: ``"TRAINING"`` or ``"EVALUATION"``.
        race_type: ``"TIME_TRIAL"``, ``"OBJECT_AVOIDANCE"`` or ``"HEAD_TO_BOT"``.
    """
    if dataclasses.is_dataclass(hyperparameters) and not isinstance(hyperparameters, type):
        hyperparameters = dataclasses.asdict(hyperparameters)
    space = metadata.action_space
    return [
        "PARAMETERS",
        f" * /JOB_TYPE: {job_type}",
        f" * /RACE_TYPE: {race_type}",
        f" * /WORLD_NAME: {world_name}",
        f"Sensor list {list(metadata.sensor)!r}, network {metadata.neural_network}, "
        f"simapp_version {metadata.version}, training_algorithm {metadata.training_algorithm}, "
        f"action_space_type {space.action_space_type}",
        f"Action space from file: {space.to_json_value()!r}",
        "Using the following hyper-parameters",
        json.dumps(dict(hyperparameters), indent=2, sort_keys=True),
    ]


def roll_back_log(path: Path | str, size: int) -> int:
    """Cut an appended log back to ``size`` bytes, its size at the last commit.

    Lines appended after the commit belong to an update that was never committed; a resumed
    run writes them again, so they would appear twice. A log already shorter is left as it is.

    Args:
        path: the log (e.g. ``RunFolder.robomaker_log``); a missing file is left missing.
        size: [bytes] what `RobomakerLog.sync` returned at the commit.

    Returns:
        The number of bytes dropped.

    Raises:
        LogError: the file cannot be cut.
    """
    path = Path(path)
    try:
        extra = path.stat().st_size - size
        if extra > 0:
            os.truncate(path, size)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise log_error("roll back the log", path, exc) from None
    return max(extra, 0)


class RobomakerLog:
    """DeepRacer's simulation ("robomaker") log, appended line by line.

    Args:
        path: the log file (``RunFolder.robomaker_log``); opened for appending, line-buffered,
            so a resumed run continues the same file.
        columns: fields per ``SIM_TRACE_LOG`` line: 19, or 17 as the console's logs.

    Raises:
        LogError: the file cannot be opened.
        ValueError: ``columns`` is not 17 or 19.
    """

    def __init__(self, path: Path | str, columns: int = 19) -> None:
        if columns not in (17, 19):
            raise ValueError(f"SIM_TRACE_LOG lines have 17 or 19 fields, got {columns}.")
        self.path = Path(path)
        self.columns = columns
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: TextIO | None = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise log_error("open the log", self.path, exc) from None

    def write_lines(self, lines: Iterable[str]) -> None:
        """Append lines (without their newlines).

        Raises:
            LogError: the write failed (e.g. the disk is full).
            ValueError: the log is closed.
        """
        if self._file is None:
            raise ValueError(f"the log {self.path} is closed.")
        try:
            self._file.write("".join(f"{line}\n" for line in lines))
        except OSError as exc:
            raise log_error("write to the log", self.path, exc) from None

    def write_header(
        self,
        hyperparameters: Mapping[str, Any] | Any,
        metadata: ModelMetadata,
        world_name: str,
        job_type: str = "TRAINING",
    ) -> None:
        """Append the lines of `header_lines` (once, when a run starts)."""
        self.write_lines(header_lines(hyperparameters, metadata, world_name, job_type))

    def write_episode(self, episode: EpisodeLog) -> None:
        """Append ``Reset agent`` lines and one ``SIM_TRACE_LOG`` line per step of an episode."""
        lines = ["Reset agent", "Reset agent finished"]
        lines.extend(sim_trace_log_line(row, self.columns) for row in episode.rows)
        self.write_lines(lines)

    def sync(self) -> int:
        """Flush the log to disk (fsync) and return its size [bytes], for a commit record.

        Raises:
            LogError: the flush failed (e.g. the disk is full).
            ValueError: the log is closed.
        """
        if self._file is None:
            raise ValueError(f"the log {self.path} is closed.")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            return os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise log_error("write to the log", self.path, exc) from None

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                raise log_error("close the log", self.path, exc) from None
            finally:
                self._file = None

    def __enter__(self) -> RobomakerLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
