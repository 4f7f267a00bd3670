"""Shared fixtures: the third-party DeepRacer files beside the checkout, and analytic tracks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEEPRACER_TRACKS = SHARED / "deepracer-tracks"
DEEPRACER_LOGS = SHARED / "deepracer-logs"


def shared_track_paths() -> list[Path]:
    return sorted(DEEPRACER_TRACKS.glob("*.npy"))


def require_shared_tracks() -> None:
    if not shared_track_paths():
        pytest.skip(f"the DeepRacer track files are not at {DEEPRACER_TRACKS}")


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
