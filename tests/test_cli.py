"""The command line: help, track listing and drawing, the autopilot drive, and error exits."""

from __future__ import annotations

import numpy as np
import pytest

from racer.cli import main


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "tracks" in capsys.readouterr().out


def test_tracks_list(capsys):
    assert main(["tracks"]) == 0
    out = capsys.readouterr().out
    assert "oval" in out and "technical_narrow" in out and "0.760m" in out


def test_tracks_show_writes_a_png(tmp_path, capsys):
    out = tmp_path / "t.png"
    assert main(["tracks", "show", "hairpin_comb_cw", "--out", str(out), "--reverse"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drive_laps_and_writes_frames(tmp_path, capsys):
    assert main(["drive", "oval", "--out", str(tmp_path)]) == 0
    assert "lap_complete" in capsys.readouterr().out
    assert (tmp_path / "camera.png").exists() and (tmp_path / "track.png").exists()


def test_bad_track_exits_2_with_a_clear_message(tmp_path, capsys):
    bad = tmp_path / "broken.npy"
    np.save(bad, np.zeros((5, 4)))
    assert main(["tracks", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.npy" in err and "(N, 6)" in err


def test_the_action_space_error_names_the_flag_that_accepts_it(tmp_path, capsys):
    import json

    metadata = tmp_path / "model_metadata.json"
    metadata.write_text(json.dumps({"action_space": [
        {"steering_angle": -30, "speed": 1.0}, {"steering_angle": 0, "speed": 5.0},
        {"steering_angle": 30, "speed": 1.0}]}))  # fmt: skip
    drive = ["drive", "oval", "--model-metadata", str(metadata), "--max-steps", "5"]
    assert main(drive) == 2
    err = capsys.readouterr().err
    assert "action_space[1].speed" in err and "--simulator-limits" in err
    assert "strict=False" not in err
    assert main([*drive, "--simulator-limits"]) == 1  # accepted: 5 steps are no lap


@pytest.mark.parametrize("typo, hint", [
    (["--track", "ovl"], "Did you mean 'oval'?"),
    (["--reward", "follow_centre_line"],
     "no bundled reward function or file named 'follow_centre_line'. Did you mean "
     "'follow_center_line'?"),
])  # fmt: skip
def test_train_checks_its_inputs_before_it_says_what_it_trains_on(tmp_path, capsys, typo, hint):
    run = tmp_path / "run"
    assert main(["train", *typo, "--out", str(run), "--updates", "1"]) == 2
    captured = capsys.readouterr()
    assert "training on" not in captured.out and hint in captured.err
    assert not run.exists()


def test_train_warns_first_about_what_the_console_forbids(tmp_path, capsys):
    from pathlib import Path

    shell = Path(__file__).parent / "data/reward_functions/console/runs_a_shell_command.py"
    # A missing pretrained run stops the run after the warning, before any training.
    start = ["train", "--pretrained", str(tmp_path / "none"), "--out", str(tmp_path / "run")]
    assert main([*start, "--reward", str(shell)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "imports 'os'" in err and "--sandbox" in err
    assert main([*start, "--reward", "follow_center_line"]) == 2
    assert "warning" not in capsys.readouterr().err
