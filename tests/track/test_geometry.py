"""Track geometry against shapely (the real simulator's own geometry library) and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import LinearRing, LineString, Point, Polygon

from racer.track import TrackQuery, load_track, track_from_array
from tests.conftest import (
    circle_rows,
    require_shared_tracks,
    shared_track_params,
    shared_track_paths,
    straight_rows,
)


def reference(track, px, py, wheels):
    """SPEC 1.3 computed with shapely, independently of racer's kernels."""
    centre, inner, outer = track.centre, track.inner, track.outer  # driving order
    line = LinearRing(centre) if track.closed else LineString(centre)
    iline = LinearRing(inner) if track.closed else LineString(inner)
    oline = LinearRing(outer) if track.closed else LineString(outer)
    road = Polygon(outer, [inner]) if track.closed else Polygon(np.vstack([inner, outer[::-1]]))
    p = Point(px, py)
    ndist = line.project(p, normalized=True)
    foot = line.interpolate(ndist, normalized=True)
    pin = iline.interpolate(iline.project(foot))
    pout = oline.interpolate(oline.project(foot))
    table = [line.project(Point(c), normalized=True) for c in centre[:-1]] + [1.0]
    nxt = next((i for i, v in enumerate(table) if v > ndist), len(table))
    nxt = 0 if nxt >= len(table) else nxt
    prv = nxt - 1 if nxt > 0 else len(table) - 1
    left = (p.distance(pin) < p.distance(pout)) != (not track.is_ccw)
    return {
        "ndist": ndist,
        "dist": p.distance(foot),
        "width": pin.distance(pout),
        "left": left,
        "wp": (prv, nxt),
        "wheels": [road.contains(Point(w)) for w in wheels],
    }


def random_points(track, n, spread, seed):
    rng = np.random.default_rng(seed)
    c = track.centre
    i = rng.integers(0, len(c) - 1, n)
    u = rng.random(n)[:, None]
    p = c[i] + (c[i + 1] - c[i]) * u + rng.normal(0.0, spread, (n, 2))
    wheels = p[:, None, :] + rng.normal(0.0, 0.12, (n, 4, 2))
    return p, wheels


def check_against_reference(track, n=300, spread=0.5, seed=0):
    p, wheels = random_points(track, n, spread, seed)
    q = TrackQuery(n)
    q.model_x[:], q.model_y[:] = p[:, 0], p[:, 1]
    q.wheel_x[:], q.wheel_y[:] = wheels[..., 0], wheels[..., 1]
    track.locate(q)
    for k in range(n):
        ref = reference(track, p[k, 0], p[k, 1], wheels[k])
        assert q.ndist[k] == pytest.approx(ref["ndist"], abs=1e-9), k
        assert q.distance_from_center[k] == pytest.approx(ref["dist"], abs=1e-9)
        assert q.track_width[k] == pytest.approx(ref["width"], abs=1e-9)
        assert bool(q.is_left_of_center[k]) == ref["left"], k
        assert (q.prev_waypoint[k], q.next_waypoint[k]) == ref["wp"], k
        assert q.wheel_on_track[k].tolist() == ref["wheels"], k


@pytest.mark.parametrize("path", shared_track_params())
@pytest.mark.parametrize("reverse", [False, True])
def test_locate_matches_shapely_on_deepracer_tracks(path, reverse):
    require_shared_tracks()
    check_against_reference(load_track(path, reverse=reverse), n=150, seed=int(reverse))


def test_locate_matches_shapely_with_deduplicated_waypoints():
    require_shared_tracks()
    path = next(p for p in shared_track_paths() if p.stem == "hamption_open")
    raw = load_track(path)
    dedup = load_track(path, deduplicate=True)
    assert dedup.num_waypoints == raw.num_waypoints - 1
    check_against_reference(dedup, n=100)


def test_circle_closed_forms():
    track = track_from_array(circle_rows(radius=3.0, width=1.0, n=3601))
    assert track.length == pytest.approx(2 * math.pi * 3.0, rel=1e-6)
    q = TrackQuery(1)
    q.model_x[:], q.model_y[:] = 0.0, 3.2  # a quarter lap, 0.2 m outward
    q.wheel_x[:], q.wheel_y[:] = 0.0, 3.2
    track.locate(q)
    assert q.ndist[0] == pytest.approx(0.25, abs=1e-6)
    assert q.distance_from_center[0] == pytest.approx(0.2, abs=1e-6)
    assert q.track_width[0] == pytest.approx(1.0, abs=1e-6)
    assert not q.is_left_of_center[0]  # outward is right when driving counter-clockwise
    assert q.all_wheels_on_track[0]
    backwards = track.reversed()
    backwards.locate(q)
    assert q.ndist[0] == pytest.approx(0.75, abs=1e-6)
    assert q.is_left_of_center[0]


def test_open_track_ends_and_sides():
    track = track_from_array(straight_rows(length=6.0, width=0.6))
    assert track.is_ccw and not track.closed
    q = TrackQuery(2)
    q.model_x[:] = [1.5, 7.0]
    q.model_y[:] = [0.1, 0.0]
    q.wheel_x[:] = q.model_x[:, None]
    q.wheel_y[:] = q.model_y[:, None]
    track.locate(q)
    assert q.ndist.tolist() == pytest.approx([0.25, 1.0])
    assert q.is_left_of_center[0]
    assert q.all_wheels_on_track.tolist() == [True, False]
    # Past the end of an open line both indices wrap as in DeepRacer: next 0, prev N-1.
    assert (q.prev_waypoint[1], q.next_waypoint[1]) == (20, 0)


def test_point_at_is_on_the_line_and_heads_to_the_next_waypoint():
    track = track_from_array(circle_rows(radius=2.0, n=361))
    x, y, yaw = track.point_at(np.array([0.0, track.length / 4]))
    assert x[0] == pytest.approx(2.0) and y[0] == pytest.approx(0.0)
    assert yaw[0] == pytest.approx(math.pi / 2, abs=0.01)
    assert math.cos(yaw[1]) == pytest.approx(-1.0, abs=1e-3)  # heading west, either side of pi
    rx, ry, ryaw = track.reversed().point_at(np.array([0.0]))
    assert ryaw[0] == pytest.approx(-math.pi / 2, abs=0.01)


def test_lane_points_are_half_way_to_the_borders():
    track = track_from_array(circle_rows(radius=3.0, width=1.0, n=721))
    x, y = track.lane_point_at(np.array([0.0, 0.0]), np.array([1.0, -1.0]))
    assert np.hypot(x, y) == pytest.approx([2.75, 3.25], abs=1e-6)
