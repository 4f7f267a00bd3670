"""``logs/progress.csv``: a run's learning curve, one row per committed update.

DeepRacer's TrainingMetrics.json counts training in episodes; a fair comparison of reward
functions also needs env steps and wall time, so the trainer writes them here after every update.
A row of an update that was redone after a crash replaces the earlier one.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from racer.errors import LogError
from racer.logs.atomic import write_text_atomic

#: The columns, in order: the update, the last logging iteration written, training episodes and
#: env steps so far, training wall time so far [s], mean completion [%] of this update's training
#: episodes, mean evaluation completion [%] after it, and the lap check's laps (-1: none ran).
COLUMNS = ("update", "iteration", "episodes", "timesteps", "seconds", "train_progress",
           "eval_progress", "lap_check_laps")  # fmt: skip


def append_progress(path: Path, row: dict[str, float]) -> None:
    """Add (or replace) the row of ``row["update"]`` and rewrite the file atomically."""
    rows = read_progress(path, missing_ok=True)
    keep = rows["update"] < row["update"] if len(rows["update"]) else np.zeros(0, bool)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in np.flatnonzero(keep):
        writer.writerow([_text(rows[c][i]) for c in COLUMNS])
    writer.writerow([_text(float(row[c])) for c in COLUMNS])
    write_text_atomic(path, out.getvalue())


def _text(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def read_progress(path: Path, *, missing_ok: bool = False) -> dict[str, np.ndarray]:
    """Read a progress log into (U,) float64 columns (empty cells: NaN), by update.

    Raises:
        LogError: the file is missing (unless ``missing_ok``) or not a progress log.
    """
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return {c: np.zeros(0) for c in COLUMNS}
        raise LogError(f"{path} does not exist: the run has committed no update yet.")
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if tuple(header) != COLUMNS:
            raise LogError(f"{path} is not a racer progress log (its header is {header}).")
        data = [[float(v) if v else math.nan for v in row] for row in reader if len(row) == 8]
    table = np.array(data, dtype=np.float64).reshape(-1, len(COLUMNS))
    return {c: table[:, i] for i, c in enumerate(COLUMNS)}
