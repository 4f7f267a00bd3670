"""The border-crossing check: the same first crossing as a brute-force search, at any size."""

from __future__ import annotations

import numpy as np
import pytest

from racer.errors import TrackError
from racer.track import load_track
from racer.track.io import _segments_cross


def brute_force(p, q, skip_adjacent):
    """Every pair of segments tested; the first proper crossing by (i, j)."""

    def orient(o, u, v):
        return (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0])

    closed_self = p is q and np.array_equal(p[0], p[-1])
    for i in range(len(p) - 1):
        for j in range(len(q) - 1):
            a, b, c, d = p[i], p[i + 1], q[j], q[j + 1]
            if np.array_equal(a, b) or np.array_equal(c, d):
                continue
            if skip_adjacent and (abs(i - j) <= 1 or (closed_self and abs(i - j) >= len(p) - 2)):
                continue
            if orient(a, b, c) * orient(a, b, d) < 0 and orient(c, d, a) * orient(c, d, b) < 0:
                return i, j
    return None


@pytest.mark.parametrize("seed", range(6))
def test_the_grid_finds_the_brute_forces_first_crossing(seed):
    rng = np.random.default_rng(seed)
    found = 0
    for _ in range(40):
        p = np.cumsum(rng.normal(size=(int(rng.integers(3, 40)), 2)), axis=0)
        if rng.random() < 0.4:
            p = np.round(p)  # collinear overlaps and shared vertices
        if rng.random() < 0.3:
            p[-1] = p[0]
        q = np.cumsum(rng.normal(size=(int(rng.integers(3, 40)), 2)), axis=0)
        for args in ((p, p, True), (p, q, False)):
            expected = brute_force(*args)
            found += expected is not None
            assert _segments_cross(*args) == expected
    assert found > 20  # the cases do cross


def test_a_40000_row_track_loads_and_its_crossing_is_named(tmp_path):
    # 40,000 rows took about 140 s with the all-pairs check; the grid takes a fraction of a second.
    theta = np.linspace(0.0, 2.0 * np.pi, 40_000)
    ring = [np.c_[r * np.cos(theta), r * np.sin(theta)] for r in (10.0, 9.6, 10.4)]
    rows = np.hstack(ring)
    rows[-1] = rows[0]
    path = tmp_path / "big.npy"
    np.save(path, rows)
    assert load_track(path).geometry.closed
    bent = rows.copy()
    bent[20_000, 2:4] = bent[20_000, 4:6] * 1.01  # one inner point pushed past the outer border
    np.save(path, bent)
    with pytest.raises(TrackError, match=r"inner border \(rows 19999-20000\) crosses the outer"):
        load_track(path)
