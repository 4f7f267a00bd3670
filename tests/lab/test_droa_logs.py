"""DeepRacer-on-AWS's run folder (its own layout, 19 columns) loads in rescore, analyze, replay."""

from __future__ import annotations

import pytest

from racer.cli import main
from racer.lab.analyze import analyze_run
from racer.lab.rescore import rescore_run
from tests.conftest import DEEPRACER_LOGS, DEEPRACER_TRACKS

DROA = DEEPRACER_LOGS / "droa-spain"
SPAIN = DEEPRACER_TRACKS / "Spain_track.npy"


@pytest.fixture(autouse=True)
def needs_logs():
    if not (DROA.is_dir() and SPAIN.exists()):
        pytest.skip(f"the real DeepRacer-on-AWS logs are not at {DROA}")


def test_rescore_reads_every_training_and_evaluation_step(tmp_path):
    training = rescore_run(DROA, "follow_center_line", SPAIN, out=tmp_path / "t", kind="training")
    assert training.steps == 846
    evaluation = rescore_run(DROA, "follow_center_line", SPAIN, out=tmp_path / "e",
                             kind="evaluation")  # fmt: skip
    assert evaluation.steps == 1302


def test_analyze_finds_both_iterations(tmp_path):
    result = analyze_run(DROA, SPAIN, out=tmp_path)
    assert len(result.analysis.episode_progress) == 40
    assert list(result.analysis.iterations) == [0, 1]


def test_replay_renders_an_episode(tmp_path, capsys):
    out = tmp_path / "episode.gif"
    assert main(["replay", str(DROA), "--track", str(SPAIN), "--episode", "0",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "20 frames" in capsys.readouterr().out and out.stat().st_size > 10_000
