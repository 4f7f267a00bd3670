"""Obstacle placement against DeepRacer's rules (SPEC 5.3 "Object avoidance"), with shapely."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import LinearRing, LineString, Point, Polygon

from racer.errors import ConfigError
from racer.objects.obstacles import ObstacleConfig, box_corners, place_obstacles
from racer.track import load_track
from tests.conftest import DEEPRACER_TRACKS, NO_SHARED_TRACKS

BUNDLED = ["oval", "kidney", "practice_line"]


def tracks(reverse: bool):
    return [load_track(name, reverse=reverse) for name in BUNDLED]


def lane_line(track, lane):
    border = track.inner if lane > 0 else track.outer
    pts = 0.5 * (track.centre + border)
    return LinearRing(pts) if track.closed else LineString(pts)


def reference_pose(track, dist, lane):
    """ObstaclesCtrl._compute_obstacle_poses + TrackLine.interpolate_pose, written with shapely."""
    centre = LinearRing(track.centre) if track.closed else LineString(track.centre)
    line = lane_line(track, lane)
    d = line.project(centre.interpolate(dist))
    p = line.interpolate(d)
    ndists = [line.project(Point(c), normalized=True) for c in line.coords[:-1]] + [1.0]
    nd = d / line.length
    nxt = next((i for i, v in enumerate(ndists) if v > nd), len(ndists))
    prv = nxt - 1
    nxt = 0 if nxt == len(ndists) else nxt
    coords = line.coords
    yaw = math.atan2(coords[nxt][1] - coords[prv][1], coords[nxt][0] - coords[prv][0])
    return p.x, p.y, yaw


def road(track):
    if track.closed:
        return Polygon(track.outer, [track.inner])
    return Polygon(np.vstack([track.inner, track.outer[::-1]]))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", BUNDLED)
def test_even_spacing_and_alternating_lanes(name, reverse):
    track = load_track(name, reverse=reverse)
    config = ObstacleConfig(count=5, min_distance_pct=10.0)
    obs = place_obstacles(track, config)
    assert obs.count == 5
    start, end = 0.1 * track.length, track.length - 1.0
    np.testing.assert_allclose(obs.ndist * track.length, np.linspace(start, end, 5), atol=1e-12)
    assert obs.lane.tolist() == [1.0, -1.0, 1.0, -1.0, 1.0]
    assert obs.length == 0.5 and obs.width == 0.4
    for k in range(5):
        ref = reference_pose(track, obs.ndist[k] * track.length, obs.lane[k])
        assert (obs.x[k], obs.y[k]) == pytest.approx(ref[:2], abs=1e-9)
        assert math.cos(obs.yaw[k] - ref[2]) == pytest.approx(1.0, abs=1e-12)


def test_default_count_is_time_trial_and_default_distance_is_two_percent():
    track = load_track("oval")
    config = ObstacleConfig()
    assert config.num_obstacles == 0 and config.min_distance_pct == 2.0
    assert place_obstacles(track, config).count == 0
    obs = place_obstacles(track, ObstacleConfig(count=3))
    assert obs.ndist[0] * track.length == pytest.approx(0.02 * track.length)


@pytest.mark.parametrize("track", tracks(False) + tracks(True), ids=lambda t: repr(t.reverse))
def test_inner_lane_is_nearer_the_inner_border_and_boxes_on_the_road(track):
    obs = place_obstacles(track, ObstacleConfig(count=6))
    inner = LinearRing(track.inner) if track.closed else LineString(track.inner)
    outer = LinearRing(track.outer) if track.closed else LineString(track.outer)
    poly = road(track)
    for k in range(obs.count):
        p = Point(obs.x[k], obs.y[k])
        assert (p.distance(inner) < p.distance(outer)) == (obs.lane[k] > 0)
        assert lane_line(track, obs.lane[k]).distance(p) < 1e-9
        for corner in box_corners(obs)[k]:
            assert poly.contains(Point(corner))


def test_positions_are_honoured_in_their_order():
    track = load_track("kidney")
    positions = ((0.7, 1), (0.2, -1), (0.45, -1))
    obs = place_obstacles(track, ObstacleConfig(positions=positions))
    np.testing.assert_allclose(obs.ndist, [0.7, 0.2, 0.45])
    assert obs.lane.tolist() == [1.0, -1.0, -1.0]
    for k, (fraction, lane) in enumerate(positions):
        ref = reference_pose(track, fraction * track.length, lane)
        assert (obs.x[k], obs.y[k]) == pytest.approx(ref[:2], abs=1e-9)


def test_reversed_track_measures_from_the_other_end():
    forward, backward = load_track("oval"), load_track("oval", reverse=True)
    a = place_obstacles(forward, ObstacleConfig(positions=((0.7, 1),)))
    b = place_obstacles(backward, ObstacleConfig(positions=((0.3, 1),)))
    assert (b.x[0], b.y[0]) == pytest.approx((a.x[0], a.y[0]), abs=1e-9)
    assert math.cos(b.yaw[0] - a.yaw[0]) == pytest.approx(-1.0, abs=1e-9)


@pytest.mark.parametrize("name", BUNDLED)
def test_randomize_is_seeded_spaced_and_on_the_road(name):
    track = load_track(name)
    config = ObstacleConfig(count=6, randomize=True)
    a = place_obstacles(track, config, np.random.default_rng(7))
    b = place_obstacles(track, config, np.random.default_rng(7))
    c = place_obstacles(track, config, np.random.default_rng(8))
    for field in ("x", "y", "yaw", "ndist", "lane"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.ndist, c.ndist)
    gap = 0.02 * track.length
    dist = a.ndist * track.length
    assert dist[0] >= gap - 1e-12 and dist[-1] <= track.length - 1.0 + 1e-12
    assert np.all(np.diff(dist) >= gap - 1e-9)
    assert not np.allclose(dist, np.linspace(gap, track.length - 1.0, 6))
    poly = road(track)
    for k in range(a.count):
        assert poly.contains(Point(a.x[k], a.y[k]))


def test_randomize_draws_both_lanes_over_seeds():
    track = load_track("oval")
    config = ObstacleConfig(count=6, randomize=True)
    lanes = np.concatenate([place_obstacles(track, config, np.random.default_rng(s)).lane
                            for s in range(5)])  # fmt: skip
    assert set(lanes.tolist()) == {1.0, -1.0}


@pytest.mark.skipif(not DEEPRACER_TRACKS.is_dir(), reason=NO_SHARED_TRACKS)
def test_shared_track_layout():
    track = load_track(DEEPRACER_TRACKS / "reInvent2019_track_cw.npy")
    obs = place_obstacles(track, ObstacleConfig(count=6))
    for k in range(6):
        ref = reference_pose(track, obs.ndist[k] * track.length, obs.lane[k])
        assert (obs.x[k], obs.y[k]) == pytest.approx(ref[:2], abs=1e-9)


def test_box_corners_are_a_rectangle_along_the_yaw():
    obs = place_obstacles(load_track("kidney"), ObstacleConfig(count=4))
    corners = box_corners(obs)
    assert corners.shape == (4, 4, 2)
    np.testing.assert_allclose(corners.mean(axis=1), np.stack([obs.x, obs.y], axis=1))
    along = corners[:, 0] - corners[:, 3]  # front-left minus rear-left
    across = corners[:, 0] - corners[:, 1]  # front-left minus front-right
    np.testing.assert_allclose(np.linalg.norm(along, axis=1), 0.5)
    np.testing.assert_allclose(np.linalg.norm(across, axis=1), 0.4)
    np.testing.assert_allclose(np.arctan2(along[:, 1], along[:, 0]), obs.yaw, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"count": -1}, "count must be an int >= 0"),
        ({"count": 2.0}, "count must be an int"),
        ({"count": True}, "count must be an int"),
        ({"min_distance_pct": 150.0}, "percentage of the track"),
        ({"min_distance_pct": -1.0}, "in [0, 100)"),
        ({"length": 0.0}, "length must be > 0"),
        ({"width": -0.4}, "width must be > 0"),
        ({"positions": ((1.5, 1),)}, "fraction must be in [0, 1]"),
        ({"positions": ((0.5, 0),)}, "lane must be 1 (inner) or -1 (outer)"),
        ({"positions": ((0.5, 1, 2),)}, "(fraction, lane) pair"),
        ({"positions": ((0.5, 1),), "count": 3}, "set count to 0 or to len(positions)"),
        ({"positions": ((0.5, 1),), "randomize": True}, "drop one of them"),
    ],
)
def test_bad_configs_say_what_to_fix(kwargs, needle):
    with pytest.raises(ConfigError) as info:
        ObstacleConfig(**kwargs)
    assert needle in str(info.value)


def test_bad_layouts_for_a_track_say_what_to_fix():
    track = load_track("oval")
    with pytest.raises(ConfigError, match="lower min_distance_pct"):
        place_obstacles(track, ObstacleConfig(count=2, min_distance_pct=99.0))
    with pytest.raises(ConfigError, match="default_rng"):
        place_obstacles(track, ObstacleConfig(count=2, randomize=True))
