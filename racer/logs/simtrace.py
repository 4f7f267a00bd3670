"""Read DeepRacer simtrace CSVs (SPEC 6.1) and find them in a model folder (SPEC 6.3).

Every column version is read: the console's 17 columns, the 18 with ``obstacle_crash_counter``
and the 19 with ``wall_clock``; absent optional columns are filled (NaN, 0). A file that is cut
off mid-row or has a damaged row is read up to the damage, with a warning, so a killed run's
last log still loads.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from racer.errors import LogError
from racer.track import Track

#: The columns of a simtrace, in DeepRacer's order (SPEC 6.1).
SIMTRACE_COLUMNS = (
    "episode", "steps", "X", "Y", "yaw", "steer", "throttle", "action", "reward", "done",
    "all_wheels_on_track", "progress", "closest_waypoint", "track_len", "tstamp",
    "episode_status", "pause_duration", "obstacle_crash_counter", "wall_clock",
)  # fmt: skip
#: The columns every reader of the format needs (deepracer-utils' list).
REQUIRED_COLUMNS = SIMTRACE_COLUMNS[:16]
_INT = ("episode", "closest_waypoint", "obstacle_crash_counter")
_BOOL = ("done", "all_wheels_on_track")
_STR = ("action", "episode_status")
_DEFAULTS = {"pause_duration": np.nan, "obstacle_crash_counter": 0, "wall_clock": np.nan}
#: How an object sidecar's name ends (`racer.logs.objects`); such files are never simtraces.
OBJECTS_SUFFIX = "-objects.csv"
_ITERATION = re.compile(r"^(\d+)-iteration\.csv$")


@dataclass
class Simtrace:
    """The rows of one or more simtrace files, column by column.

    Attributes:
        columns: every `SIMTRACE_COLUMNS` name, plus ``iteration`` (from the file name, 0 when
            it has none) and ``file`` (index into ``sources``), each an (R,) array: ints as
            int64, booleans as bool, ``action`` and ``episode_status`` as str objects, the rest
            float64.
        sources: the files read, in order.
        warnings: what was damaged and skipped.
    """

    columns: dict[str, np.ndarray]
    sources: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns["episode"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def episodes(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """(file index, episode number, row indices) of each episode, in log order.

        An episode is a run of rows with one episode number in one file; rows keep their order.
        """
        file, episode = self.columns["file"], self.columns["episode"]
        if len(file) == 0:
            return
        change = np.flatnonzero((np.diff(file) != 0) | (np.diff(episode) != 0)) + 1
        bounds = np.concatenate([[0], change, [len(file)]])
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            yield int(file[start]), int(episode[start]), np.arange(start, stop)


def iteration_of(path: Path) -> int:
    """The iteration number of a ``{n}-iteration.csv`` file, 0 for any other name."""
    match = _ITERATION.match(path.name)
    return int(match.group(1)) if match else 0


def read_simtrace(paths: Path | str | Sequence[Path | str]) -> Simtrace:
    """Read one simtrace CSV, or several in order (e.g. a run's iterations), into one table.

    Raises:
        LogError: a file is missing, unreadable, empty, or lacks a required column.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (*SIMTRACE_COLUMNS, "iteration",
                                                                "file")}  # fmt: skip
    trace = Simtrace({}, [Path(p) for p in paths])
    for index, path in enumerate(trace.sources):
        rows, header = _read_rows(path, trace.warnings)
        n = len(rows)
        for name in SIMTRACE_COLUMNS:
            if name in header:
                raw = [row[header[name]] for row in rows]
                parts[name].append(_convert(raw, name, path, trace.warnings))
            else:
                parts[name].append(np.full(n, _DEFAULTS[name],
                                           np.int64 if name in _INT else np.float64))  # fmt: skip
        parts["iteration"].append(np.full(n, iteration_of(path), np.int64))
        parts["file"].append(np.full(n, index, np.int64))
    trace.columns = {name: np.concatenate(arrays) if arrays else np.zeros(0)
                     for name, arrays in parts.items()}  # fmt: skip
    return trace


def _read_rows(path: Path, warnings: list[str]) -> tuple[list[list[str]], dict[str, int]]:
    """The well-formed data rows of a file and its header's column positions."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except FileNotFoundError:
        raise LogError(f"simtrace file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LogError(f"cannot read simtrace file {path}: {exc}.") from None
    if not lines:
        raise LogError(f"simtrace file {path} is empty: it has no header line.")
    header = {name.strip(): i for i, name in enumerate(lines[0])}
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise LogError(
            f"simtrace file {path} lacks the column(s) {', '.join(missing)}. A DeepRacer "
            f"simtrace's header starts with: {','.join(REQUIRED_COLUMNS)}."
        )
    width = len(lines[0])
    rows = []
    for number, row in enumerate(lines[1:], start=2):
        if not row:
            continue
        if len(row) != width:
            warnings.append(f"{path} is damaged at line {number} ({len(row)} of {width} "
                            f"fields): read the {len(rows)} rows before it")  # fmt: skip
            break
        rows.append(row)
    return rows, header


def _convert(raw: list[str], name: str, path: Path, warnings: list[str]) -> np.ndarray:
    if name in _STR:
        return np.array(raw, dtype=object)
    if name in _BOOL:
        return np.array([value.strip() == "True" for value in raw], dtype=bool)
    try:
        values = np.array(raw, dtype=np.float64)
    except ValueError:
        values = np.array([_float(v) for v in raw])
        bad = int(np.isnan(values).sum())
        warnings.append(f"{path}: {bad} value(s) of column {name} are not numbers (read as NaN)")
    if name in _INT:
        return np.nan_to_num(values).astype(np.int64)
    return values


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


# ------------------------------------------------------------------------------ model folders
def find_simtraces(run: Path | str) -> dict[str, list[Path]]:
    """The simtrace files of a model folder, by kind, each list in iteration order.

    Understands the layouts deepracer-utils does (SPEC 6.3): deepracer-for-cloud with one
    worker (``training-simtrace/``) or several (``0/training-simtrace/``, ...), the console's
    download (``sim-trace/training/training-simtrace/``), DeepRacer-on-AWS
    (``sim-trace/training/<time>-<job>/training-simtrace/``, SPEC 13), and evaluations in
    ``evaluation-*/evaluation-simtrace/`` or ``sim-trace/evaluation/*/evaluation-simtrace/``.
    A single CSV file counts as a training log. Object sidecars (``*-objects.csv``, see
    `racer.logs.objects`) are left out.

    Returns:
        ``{"training": [...], "evaluation": [...]}`` (either may be empty).

    Raises:
        LogError: ``run`` does not exist, or holds no simtrace at all.
    """
    run = Path(run)
    if run.is_file():
        return {"training": [run], "evaluation": []}
    if not run.is_dir():
        raise LogError(f"{run} does not exist: give a model folder or a simtrace CSV file.")
    training_dirs = sorted(run.glob("training-simtrace")) + sorted(
        run.glob("[0-9]*/training-simtrace")
    ) + sorted(run.glob("sim-trace/training/training-simtrace")) + sorted(
        run.glob("sim-trace/training/*/training-simtrace")
    )  # fmt: skip
    training = [p for d in training_dirs for p in sorted(d.glob("*.csv"), key=iteration_of)
                if not p.name.endswith(OBJECTS_SUFFIX)]  # fmt: skip
    evaluation = [p for p in sorted(run.glob("evaluation-*/evaluation-simtrace/*.csv")) + sorted(
        run.glob("sim-trace/evaluation/*/evaluation-simtrace/*.csv")
    ) if not p.name.endswith(OBJECTS_SUFFIX)]  # fmt: skip
    if not training and not evaluation:
        raise LogError(
            f"{run} holds no simtrace: expected training-simtrace/*.csv or "
            f"evaluation-*/evaluation-simtrace/*.csv (a DeepRacer model folder), or give a CSV."
        )
    return {"training": training, "evaluation": evaluation}


#: Largest median distance [track widths] of logged points from the centre line on the track.
MAX_OFFSET_WIDTHS = 1.5


def check_on_track(track: Track, x: np.ndarray, y: np.ndarray) -> None:
    """Refuse logged positions (N,) [m] that lie far from ``track`` (driven on another track).

    Raises:
        LogError: their median distance from the centre line is over `MAX_OFFSET_WIDTHS` track
            widths, or a position is not finite.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise LogError(f"the log holds positions that are not finite numbers (X, Y); it is "
                       f"damaged, or not a simtrace of track {track.name}.")  # fmt: skip
    step = max(1, len(x) // 2000)
    points = np.stack([x[::step], y[::step]], axis=1)
    if len(points) == 0:
        return
    d = np.linalg.norm(points[:, None, :] - track.centre[None, :, :], axis=2).min(axis=1)
    offset = float(np.median(d))
    if offset > MAX_OFFSET_WIDTHS * track.mean_width:
        raise LogError(
            f"the logged positions lie {offset:.2f} m (median) from the centre line of track "
            f"{track.name}: give the track the run was driven on (--track)."
        )
