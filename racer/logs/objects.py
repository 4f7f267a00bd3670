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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racer.errors import LogError
from racer.logs.atomic import write_text_atomic
from racer.logs.recorder import EpisodeLog
from racer.logs.simtrace import OBJECTS_SUFFIX

#: Decimals written for x, y [m] and heading [rad].
DECIMALS = 4


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
