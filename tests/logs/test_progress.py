"""logs/progress.csv: one row per committed update; a redone update replaces its row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.errors import LogError
from racer.logs.progress import COLUMNS, append_progress, read_progress


def row(update, **changes):
    values = {"update": update, "iteration": 5 * update + 4, "episodes": 20 * (update + 1),
              "timesteps": 4096 * (update + 1), "seconds": 12.5 * (update + 1),
              "train_progress": 10.0 + update, "eval_progress": 20.0 + update,
              "lap_check_laps": -1}  # fmt: skip
    values.update(changes)
    return values


def test_rows_round_trip_and_a_redone_update_replaces_its_row(tmp_path):
    path = tmp_path / "logs" / "progress.csv"
    path.parent.mkdir()
    for update in range(3):
        append_progress(path, row(update))
    # a crash after update 2's row but before its commit: update 2 runs again, then 3
    append_progress(path, row(2, eval_progress=99.0, lap_check_laps=3))
    append_progress(path, row(3, train_progress=math.nan))
    table = read_progress(path)
    np.testing.assert_array_equal(table["update"], [0, 1, 2, 3])
    np.testing.assert_array_equal(table["eval_progress"], [20.0, 21.0, 99.0, 23.0])
    np.testing.assert_array_equal(table["lap_check_laps"], [-1, -1, 3, -1])
    np.testing.assert_array_equal(table["timesteps"], [4096, 8192, 12288, 16384])
    assert math.isnan(table["train_progress"][3])
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(LogError, match="committed no update"):
        read_progress(tmp_path / "progress.csv")
    assert len(read_progress(tmp_path / "progress.csv", missing_ok=True)["update"]) == 0
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(LogError, match="not a racer progress log"):
        read_progress(other)
