"""Tests of the third-party files in ../shared beside the checkout skip with a reason naming it."""

from __future__ import annotations

from pathlib import Path

import tests.conftest as conftest

TESTS = Path(__file__).resolve().parent


def test_shared_track_params_skip_with_a_reason_when_the_files_are_absent(monkeypatch, tmp_path):
    assert all(p.id == p.values[0].stem for p in conftest.shared_track_params())
    monkeypatch.setattr(conftest, "DEEPRACER_TRACKS", tmp_path / "absent")
    (param,) = conftest.shared_track_params()  # not an empty list: "got empty parameter set"
    (mark,) = param.marks
    assert mark.name == "skip" and mark.kwargs["reason"] == conftest.NO_SHARED_TRACKS
    assert str(conftest.SHARED / "deepracer-tracks") in conftest.NO_SHARED_TRACKS


def test_only_conftest_says_where_the_shared_folder_is():
    # One place: every test reaches ../shared through tests.conftest.SHARED and its children.
    shared = conftest.SHARED
    assert shared == TESTS.parent.parent / shared.name
    spelled = (f'"{shared.name}"', str(shared))
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == "conftest.py" or "data" in path.relative_to(TESTS).parts:
            continue
        text = path.read_text()
        assert not any(s in text for s in spelled), path
