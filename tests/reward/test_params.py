"""params against SPEC 1.3 computed independently with shapely, and against a real DeepRacer log."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from shapely.geometry import LinearRing, LineString, Point, Polygon

from racer.reward.params import PARAM_KEYS, compute_progress, params_at_pose
from racer.track import load_track, track_from_array
from tests.conftest import (
    DEEPRACER_LOGS,
    DEEPRACER_TRACKS,
    circle_rows,
    require_shared_tracks,
    shared_track_params,
)

WHEELS = np.array([[-0.0817, 0.081], [0.0823, 0.0795], [-0.0817, -0.081], [0.0823, -0.0795]])


def reference_params(track, x, y, heading_deg, start_ndist=0.0, prev_progress=0.0):
    """SPEC 1.3 step by step with shapely, as the simulator's track_data.py does."""
    rows = np.hstack([track.centre, track.inner, track.outer])  # driving order
    closed = track.closed
    centre = LinearRing(rows[:, :2]) if closed else LineString(rows[:, :2])
    inner = LinearRing(rows[:, 2:4]) if closed else LineString(rows[:, 2:4])
    outer = LinearRing(rows[:, 4:6]) if closed else LineString(rows[:, 4:6])
    road = (Polygon(rows[:, 4:6], [rows[:, 2:4]]) if closed
            else Polygon(np.vstack([rows[:, 2:4], rows[::-1, 4:6]])))  # fmt: skip
    point = Point(x, y)
    ndist = centre.project(point, normalized=True)
    foot = centre.interpolate(ndist, normalized=True)
    pin = inner.interpolate(inner.project(foot))
    pout = outer.interpolate(outer.project(foot))
    ccw = (LinearRing(rows[:, :2]).is_ccw if closed else True) if not track.reverse else None
    if ccw is None:  # reversed drive: orientation of the file order, flipped
        file_rows = rows[::-1]
        ccw = not (LinearRing(file_rows[:, :2]).is_ccw if closed else True)
    table = [centre.project(Point(c), normalized=True) for c in rows[:-1, :2]] + [1.0]
    nxt = next((i for i, v in enumerate(table) if v > ndist), len(table))
    nxt = 0 if nxt >= len(table) else nxt
    prv = nxt - 1 if nxt > 0 else len(table) - 1
    yaw = math.radians(heading_deg)
    bx, by = x - 0.14 * math.cos(yaw), y - 0.14 * math.sin(yaw)
    wheels = [Point(bx + fx * math.cos(yaw) - ly * math.sin(yaw),
                    by + fx * math.sin(yaw) + ly * math.cos(yaw)) for fx, ly in WHEELS]  # fmt: skip
    inside = [road.contains(w) for w in wheels]
    raw = 100.0 * (ndist - start_ndist)
    if raw <= 0:
        raw += 100
    if prev_progress > raw + 50:
        raw += 100
    if raw > prev_progress + 50:
        raw -= 100
    progress = min(raw, 100.0)
    return {
        "all_wheels_on_track": all(inside),
        "x": x,
        "y": y,
        "distance_from_center": point.distance(foot),
        "projection_distance": ndist * centre.length,
        "progress": progress,
        "track_width": pin.distance(pout),
        "track_length": centre.length,
        "waypoints": [tuple(c) for c in rows[:, :2]],
        "closest_waypoints": [prv, nxt],
        "is_left_of_center": (point.distance(pin) < point.distance(pout)) != (not ccw),
        "is_reversed": track.reverse,
        "is_offtrack": not any(inside),
    }


def random_poses(track, n, seed):
    rng = np.random.default_rng(seed)
    c = track.centre
    i = rng.integers(0, len(c) - 1, n)
    u = rng.random(n)[:, None]
    p = c[i] + (c[i + 1] - c[i]) * u + rng.normal(0.0, 0.35, (n, 2))
    return p, rng.uniform(-180, 180, n), rng.uniform(0, 1, n), rng.uniform(0, 100, n)


def compare(track, n, seed):
    for (x, y), heading, start, prev in zip(*random_poses(track, n, seed), strict=True):
        got = params_at_pose(track, x, y, heading, start_progress=100 * start,
                             prev_progress=prev)  # fmt: skip
        ref = reference_params(track, x, y, heading, start, prev)
        for key, value in ref.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-8), key
            else:
                assert got[key] == value, key


@pytest.mark.parametrize("path", shared_track_params())
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reversed"])
def test_params_equal_the_shapely_reference_on_deepracer_tracks(path, reverse):
    require_shared_tracks()
    compare(load_track(path, reverse=reverse), n=60, seed=hash((path.stem, reverse)) % 1000)


def test_params_across_the_finish_line():
    require_shared_tracks()
    track = load_track(DEEPRACER_TRACKS / "reinvent_base.npy")
    x0, y0 = track.waypoints[0]
    x1, y1 = track.waypoints[1]
    heading = math.degrees(math.atan2(y1 - y0, x1 - x0))
    before = params_at_pose(track, x0 - 0.05 * (x1 - x0), y0 - 0.05 * (y1 - y0), heading,
                            prev_progress=99.5)  # fmt: skip
    after = params_at_pose(track, x0 + 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0), heading,
                           prev_progress=99.9)  # fmt: skip
    assert before["progress"] == pytest.approx(100 - 0.05 * 0.0577 / track.length * 100, abs=0.05)
    assert after["progress"] == 100 and type(after["progress"]) is int  # crossed: lap complete
    assert before["closest_waypoints"] == [track.num_waypoints - 2, track.num_waypoints - 1]
    assert after["closest_waypoints"] == [0, 1]


def test_progress_rules():
    progress = compute_progress(
        np.array([0.30, 0.10, 0.999, 0.02, 0.049]),
        np.array([0.25, 0.95, 0.05, 0.05, 0.05]),
        np.array([0.0, 10.0, 3.0, 99.0, 0.0]),
    )
    # plain; wrapped past waypoint 0; behind the start (slightly negative); crossed the line
    # forward -> capped at 100; a hair behind the start at the beginning of an episode.
    assert progress.tolist() == pytest.approx([5.0, 15.0, -5.1, 97.0, -0.1])


def test_params_types_and_keys_on_a_circle():
    track = track_from_array(circle_rows(radius=3.0, width=1.0, n=721))
    p = params_at_pose(track, 3.3, 0.0, 90.0, speed=1.5, steering_angle=-10.0)
    assert tuple(p) == PARAM_KEYS
    assert p["x"] == 3.3 and p["heading"] == pytest.approx(90.0)
    assert p["steps"] == 2.0 and type(p["steps"]) is float
    assert p["speed"] == 1.5 and p["steering_angle"] == -10.0
    assert p["distance_from_center"] == pytest.approx(0.3, abs=1e-4)
    assert p["track_width"] == pytest.approx(1.0, abs=1e-4)
    assert p["is_left_of_center"] is False  # outward of a counter-clockwise loop is right
    assert p["all_wheels_on_track"] and not p["is_offtrack"]
    off = params_at_pose(track, 3.9, 0.0, 90.0)
    assert not off["all_wheels_on_track"] and off["is_offtrack"]


def test_params_match_a_real_deepracer_training_log():
    """Positions logged by the real simulator on re:Invent 2018 give the logged progress and
    closest waypoint (SPEC 6.1: X/Y are the model point, yaw in degrees)."""
    require_shared_tracks()
    logs = sorted((DEEPRACER_LOGS / "drfc-reinvent-base" / "training-simtrace").glob("*.csv"))
    if not logs:
        pytest.skip(f"the DeepRacer sample logs are not in {DEEPRACER_LOGS}")
    track = load_track(DEEPRACER_TRACKS / "reinvent_base.npy")
    rows = [row for log in logs for row in csv.DictReader(log.open())]
    checked, wheel_match = 0, 0
    start, prev = 0.0, 0.0
    for row in rows:
        x, y, yaw = float(row["X"]), float(row["Y"]), float(row["yaw"])
        if row["episode_status"] == "prepare":
            # The episode's start point: the prepare row's projection minus its progress.
            p0 = params_at_pose(track, x, y, yaw)
            start = (p0["projection_distance"] / track.length - float(row["progress"]) / 100) % 1
            prev = 0.0
        p = params_at_pose(track, x, y, yaw, start_progress=100 * start, prev_progress=prev)
        assert p["progress"] == pytest.approx(float(row["progress"]), abs=1e-3)
        assert p["track_length"] == pytest.approx(float(row["track_len"]), abs=1e-9)
        a, b = p["closest_waypoints"]
        wx, wy = zip(*(track.waypoints[a], track.waypoints[b]), strict=True)
        nearer = a if math.hypot(wx[0] - x, wy[0] - y) <= math.hypot(wx[1] - x, wy[1] - y) else b
        assert nearer == int(row["closest_waypoint"])
        wheel_match += p["all_wheels_on_track"] == (row["all_wheels_on_track"] == "True")
        prev = float(row["progress"]) if float(row["progress"]) < 100 else 0.0
        checked += 1
    assert checked > 1000
    # The wheel centres are racer's model of the car, not logged, yet every row agrees.
    assert wheel_match == checked


def test_params_at_pose_without_history_reads_the_distance_from_the_start():
    """Review finding: by default a pose past half a lap must not come back negative."""
    require_shared_tracks()
    track = load_track(DEEPRACER_TRACKS / "reinvent_base.npy")
    for k in (10, 70, 110):
        x, y = track.waypoints[k]
        p = params_at_pose(track, x, y, 0.0)
        assert p["progress"] == pytest.approx(100 * track.cum_s[k] / track.length, abs=1e-6)
    x, y = track.waypoints[5]
    done = params_at_pose(track, x, y, 0.0, prev_progress=100)  # 100 means a finished lap: 0
    assert done["progress"] == pytest.approx(100 * track.cum_s[5] / track.length, abs=1e-6)


@pytest.mark.parametrize("path", shared_track_params())
def test_closest_waypoints_when_exactly_on_a_waypoint(path):
    """Review finding: a model point exactly on waypoint k is bracketed [k, k+1], as shapely."""
    require_shared_tracks()
    track = load_track(path)
    for k in range(0, track.num_waypoints - 1, 3):
        x, y = track.waypoints[k]
        ref = reference_params(track, x, y, 0.0)
        assert params_at_pose(track, x, y, 0.0)["closest_waypoints"] == ref["closest_waypoints"], k
