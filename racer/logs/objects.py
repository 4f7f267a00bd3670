"""The object log: where every box and bot car was at each simtrace row, in a sidecar CSV.

DeepRacer's simtrace has no column for the objects of a race (boxes, bot cars, other racing
cars), and its 19 columns must stay as they are for deepracer-utils. So a run with objects writes
a sidecar beside each simtrace, ``{n}-objects.csv`` next to ``{n}-iteration.csv`` (a name that
neither deepracer-utils' ``*-iteration.csv`` globs nor racer's `find_simtraces` pick up), with
one row per simtrace row, in the same order::

    episode,steps,x0,y0,heading0,x1,y1,heading1,...
    0,1.0,1.2500,-0.3000,0.0000,2.1000,0.4500,1.5708
    ...

- ``episode`` and ``steps``: copied from the simtrace row, so a reader can check the two files
  belong together.
- ``x{i}``, ``y{i}`` [m] and ``heading{i}`` [rad] of object i, exactly as the step's params
  report them (``objects_location``, ``objects_heading``; boxes have heading 0.0 there), rounded
  to 4 decimals (0.1 mm, 0.1 mrad). The order is the params' one: the car's boxes, then its bot
  cars, then the other racing cars; ``racer.toml`` gives the counts.

Runs without objects write no sidecar. The file is written atomically (`racer.logs.atomic`), just
before its simtrace, so a committed simtrace always has its sidecar.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racer.config import from_dict
from racer.errors import LogError, RacerError
from racer.logs.atomic import write_text_atomic
from racer.logs.recorder import EpisodeLog
from racer.logs.simtrace import OBJECTS_SUFFIX, Simtrace
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig

#: Decimals written for x, y [m] and heading [rad].
DECIMALS = 4
#: Kinds of logged object (`RunObjects.kinds`).
BOX, BOT, RACER = 0, 1, 2


def objects_path(simtrace: Path | str) -> Path:
    """The sidecar of a simtrace, in its folder: ``{n}-iteration.csv`` -> ``{n}-objects.csv``.

    Any other ``name.csv`` (a lone simtrace) gets ``name-objects.csv``.
    """
    simtrace = Path(simtrace)
    stem = simtrace.stem.removesuffix("-iteration")
    return simtrace.with_name(stem + OBJECTS_SUFFIX)


def objects_text(episodes: Iterable[EpisodeLog]) -> str | None:
    """The sidecar's CSV text for a simtrace of these episodes, or None when none has objects.

    Args:
        episodes: the episodes, in the order their simtrace holds them.

    Returns:
        The header and one line per row of every episode; rows with fewer objects than the
        most are padded with ``nan``.
    """
    episodes = list(episodes)
    count = max((len(poses) // 3 for e in episodes for poses in e.objects), default=0)
    if count == 0:
        return None
    header = ["episode", "steps"] + [f"{a}{i}" for i in range(count)
                                     for a in ("x", "y", "heading")]  # fmt: skip
    lines = [",".join(header)]
    for episode in episodes:
        poses = episode.objects or ((),) * len(episode.rows)
        for row, values in zip(episode.rows, poses, strict=True):
            numbers = [f"{v:.{DECIMALS}f}" for v in values] + ["nan"] * (3 * count - len(values))
            lines.append(",".join([row[0], row[1], *numbers]))
    return "\n".join(lines) + "\n"


def write_objects(simtrace: Path | str, episodes: Iterable[EpisodeLog]) -> Path | None:
    """Write (or, with no objects, remove) the sidecar of a simtrace, atomically.

    Args:
        simtrace: the simtrace file the episodes go to.
        episodes: its episodes, in order.

    Returns:
        The sidecar's path, or None when the episodes have no objects (a stale sidecar of an
        earlier file of that name is then removed, so the two never disagree).

    Raises:
        LogError: the file cannot be written or removed.
    """
    path = objects_path(simtrace)
    text = objects_text(episodes)
    if text is None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise LogError(f"cannot remove the stale object log {path}: {exc}.") from None
        return None
    return write_text_atomic(path, text)


@dataclass(frozen=True)
class ObjectLog:
    """The rows of one object sidecar.

    Attributes:
        episode: (R,) int64, the simtrace's ``episode`` column.
        steps: (R,) float64, the simtrace's ``steps`` column.
        poses: (R, K, 3) float64: x [m], y [m], heading [rad] of each of the K objects; NaN
            where a row had fewer objects.
    """

    episode: np.ndarray
    steps: np.ndarray
    poses: np.ndarray

    def __len__(self) -> int:
        return len(self.episode)

    @property
    def count(self) -> int:
        """K, the objects per row."""
        return self.poses.shape[1]


def read_objects(path: Path | str) -> ObjectLog:
    """Read an object sidecar.

    Args:
        path: a ``{n}-objects.csv`` (see `objects_path`).

    Raises:
        LogError: the file is missing, unreadable or damaged in any way (a replay then falls
            back to what ``racer.toml`` says); the message names the file and the damage.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = [row for row in csv.reader(f) if row]
    except FileNotFoundError:
        raise LogError(f"the object log {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LogError(f"cannot read the object log {path}: {exc}.") from None
    if not lines:
        raise LogError(f"the object log {path} is empty.")
    header = lines[0]
    width = len(header)
    if header[:2] != ["episode", "steps"] or width < 5 or (width - 2) % 3:
        raise LogError(f"the object log {path} has an unexpected header: expected "
                       "episode,steps,x0,y0,heading0,...")  # fmt: skip
    rows = lines[1:]
    for number, row in enumerate(rows, start=2):
        if len(row) != width:
            raise LogError(f"the object log {path} is damaged at line {number} ({len(row)} of "
                           f"{width} fields).")  # fmt: skip
    try:
        table = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except ValueError:
        raise LogError(f"the object log {path} holds a value that is not a number.") from None
    return ObjectLog(table[:, 0].astype(np.int64), table[:, 1],
                     table[:, 2:].reshape(len(rows), (width - 2) // 3, 3))  # fmt: skip


@dataclass(frozen=True)
class RunObjects:
    """What ``racer.toml`` says about a run's objects.

    Attributes:
        obstacles: the boxes' configuration.
        bots: the number of bot cars.
        bot_speed: [m/s] their speed (every object's ``objects_speed`` when there are bots).
        racers: racing cars per world (a race: the K - 1 others are objects too).
        reverse: the run drove the track backwards.
        found: whether a ``racer.toml`` was read (else both are empty defaults).
        note: why it could not be read, or "".
    """

    obstacles: ObstacleConfig = ObstacleConfig()
    bots: int = 0
    bot_speed: float = BotConfig.speed
    racers: int = 1
    reverse: bool = False
    found: bool = False
    note: str = ""

    def kinds(self, count: int) -> np.ndarray:
        """(count,) int64 kinds of the logged objects: M boxes, B bots, then other racers."""
        index = np.arange(count)
        m, b = self.obstacles.num_obstacles, self.bots
        return np.where(index < m, BOX, np.where(index < m + b, BOT, RACER)).astype(np.int64)


def run_objects(run_or_csv: str | Path) -> RunObjects:
    """The object settings in a run's ``racer.toml``.

    For a CSV, the ``racer.toml`` of the run folder it lies in (up to three levels up) is read.
    """
    path = Path(run_or_csv)
    folders = [path] if path.is_dir() else list(path.parents)[:3]
    config_file = next((f / "racer.toml" for f in folders if (f / "racer.toml").is_file()), None)
    if config_file is None:
        return RunObjects()
    try:
        env = tomllib.loads(config_file.read_text()).get("env", {})
        obstacles = from_dict(ObstacleConfig, env.get("obstacles", {}), str(config_file))
        bots = from_dict(BotConfig, env.get("bots", {}), str(config_file))
        racers = int(env.get("racers", 1))
        reverse = bool(env.get("reverse", False))
    except (OSError, tomllib.TOMLDecodeError, RacerError, TypeError, ValueError) as exc:
        return RunObjects(note=f"cannot read the objects of {config_file}: {exc}")
    return RunObjects(obstacles, bots.count, bots.speed, racers, reverse, found=True)


def trace_objects(trace: Simtrace, run: RunObjects) -> TraceObjects:
    """Read the object log of every simtrace file of ``trace`` and line its rows up.

    A file whose log is missing (in a run with objects), damaged or out of step with its
    simtrace keeps its rows unlogged, and the note says so.

    Args:
        trace: simtrace rows read with `racer.logs.simtrace.read_simtrace`.
        run: what the run's ``racer.toml`` says about its objects (`run_objects`).
    """
    has_objects = bool(run.obstacles.num_obstacles or run.bots or run.racers > 1)
    logs: dict[int, ObjectLog] = {}
    problems: list[str] = []
    for index, path in enumerate(trace.sources):
        sidecar = objects_path(path)
        if not sidecar.is_file():
            if has_objects:
                problems.append(f"{sidecar.name} is missing")
            continue
        try:
            log = read_objects(sidecar)
        except LogError as exc:
            problems.append(str(exc).removesuffix("."))
            continue
        rows = np.flatnonzero(trace["file"] == index)
        # The simtrace may be read only up to damage: its rows must be the log's first ones.
        if len(log) < len(rows) or not (
            np.array_equal(log.episode[: len(rows)], trace["episode"][rows])
            and np.array_equal(log.steps[: len(rows)], trace["steps"][rows])
        ):
            problems.append(f"{sidecar.name} does not match its simtrace")
            continue
        logs[index] = log
    poses, logged = None, None
    if logs:
        count = max(log.count for log in logs.values())
        poses = np.full((len(trace), count, 3), np.nan)
        logged = np.zeros(len(trace), bool)
        for index, log in logs.items():
            rows = np.flatnonzero(trace["file"] == index)
            poses[rows, : log.count] = log.poses[: len(rows)]
            logged[rows] = True
    note = ""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        note = f"object log: {problems[0]}{more}"
    return TraceObjects(poses, logged, note)


@dataclass(frozen=True)
class TraceObjects:
    """The object log lined up with the rows of a simtrace.

    Attributes:
        poses: (R, K, 3) float64 x [m], y [m], heading [rad] of each row's K objects, NaN where
            a row has fewer; None when no file had a usable log.
        logged: (R,) bool, the rows whose objects were logged (None with ``poses``).
        note: what was wrong with the object logs (missing, damaged), or "".
    """

    poses: np.ndarray | None
    logged: np.ndarray | None
    note: str
