"""Slow: racer train learns to lap the default track from camera images (run with -m slow)."""

from __future__ import annotations

import pytest

from racer.cli import main
from racer.logs.simtrace import find_simtraces


@pytest.mark.slow
def test_default_training_drives_three_clean_laps_on_the_oval(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--minutes", "10", "--until-lapping"]) == 0
    out = capsys.readouterr().out
    assert "stopped (lapping)" in out, out[-3000:]
    assert main(["export", str(run)]) == 0
    assert main(["evaluate", str(run / "model/policy.onnx")]) == 0  # 3 of 3 laps
    out = capsys.readouterr().out
    assert "3/3 laps" in out
    # each lap against the ideal lap on oval's racing line (5.52 s): slower, but not absurdly
    ratios = [float(r) for r in out.split("racer raceline): ")[1].splitlines()[0].split(", ")]
    assert len(ratios) == 3 and all(1.0 < r < 6.0 for r in ratios), out
    assert find_simtraces(run)["evaluation"]
    # The trained model races its own ONNX export: both finish 3 laps from staggered starts,
    # and each racer's log holds the other car.
    races = tmp_path / "races"
    assert main(["race", str(run), str(run / "model/policy.onnx"), "--out", str(races)]) == 0
    table = capsys.readouterr().out
    assert table.count("| 3/3 |") == 2, table
    (race,) = races.iterdir()
    for seat in (0, 1):
        (simtrace,) = find_simtraces(race / f"seat-{seat}")["evaluation"]
        assert simtrace.with_name("0-objects.csv").is_file()
