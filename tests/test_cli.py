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
