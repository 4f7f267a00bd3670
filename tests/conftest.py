"""Shared fixtures: the third-party DeepRacer files beside the checkout, and analytic tracks."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEEPRACER_TRACKS = SHARED / "deepracer-tracks"
DEEPRACER_LOGS = SHARED / "deepracer-logs"


#: Where a reward failure's params go when no folder is given (`racer.reward.plugin`): the
#: system's temp folder, shared with everyone on the machine; tests must give their tmp_path.
SYSTEM_FAILURE_DIR = Path(tempfile.gettempdir()) / "racer-reward-failures"


def _own_failure_dumps() -> dict[Path, int]:
    """This process's dumps in `SYSTEM_FAILURE_DIR` (their names end in the pid), by mtime."""
    dumps = {}
    for path in SYSTEM_FAILURE_DIR.glob(f"*-{os.getpid()}.json"):
        try:
            dumps[path] = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
    return dumps


@pytest.fixture(autouse=True)
def no_failure_dumps_in_the_system_temp():
    """Fail a test that saved a reward failure's params in the shared system temp folder."""
    before = _own_failure_dumps()
    yield
    written = sorted(p.name for p, t in _own_failure_dumps().items() if before.get(p) != t)
    assert not written, (
        f"the test wrote {written} into {SYSTEM_FAILURE_DIR}: give the reward function (or "
        "validate_reward_function) failure_dir=tmp_path, or point tempfile.tempdir at tmp_path"
    )


def shared_track_paths() -> list[Path]:
    return sorted(DEEPRACER_TRACKS.glob("*.npy"))


#: The skip reason of every test that needs the DeepRacer track files.
NO_SHARED_TRACKS = f"the DeepRacer track files are not at {DEEPRACER_TRACKS}"


def require_shared_tracks() -> None:
    if not shared_track_paths():
        pytest.skip(NO_SHARED_TRACKS)


def shared_track_params() -> list:
    """`shared_track_paths` as parametrize values named by track; without the files, one value
    that skips with the reason (not pytest's bare "got empty parameter set")."""
    paths = shared_track_paths()
    if paths:
        return [pytest.param(p, id=p.stem) for p in paths]
    skip = pytest.mark.skip(reason=NO_SHARED_TRACKS)
    return [pytest.param(None, id="no-shared-tracks", marks=skip)]


def circle_rows(radius: float = 3.0, width: float = 1.0, n: int = 121, ccw: bool = True):
    """A circular loop as a DeepRacer (n, 6) array; the last row repeats the first."""
    a = np.linspace(0.0, 2.0 * math.pi, n)
    a[-1] = 0.0
    if not ccw:
        a = -a
    u = np.stack([np.cos(a), np.sin(a)], axis=1)
    rows = np.hstack([radius * u, (radius - width / 2) * u, (radius + width / 2) * u])
    rows[-1] = rows[0]
    return rows


def straight_rows(length: float = 6.0, width: float = 0.6, n: int = 21):
    """An open straight line along +x; columns 2-3 (inner) on the left (+y)."""
    x = np.linspace(0.0, length, n)
    zero = np.zeros(n)
    return np.stack([x, zero, x, zero + width / 2, x, zero - width / 2], axis=1)
