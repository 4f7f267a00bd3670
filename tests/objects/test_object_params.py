"""The object keys of params EQUAL a slow reference written from the SPEC text (1.2, 1.3 item 15,
4.2) and DeepRacer's frustum construction, with shapely, on several tracks in both directions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import LinearRing, LineString, Point, Polygon

from racer.objects.obstacles import ObstacleConfig, place_obstacles
from racer.objects.params import (
    FrustumConfig,
    describe_objects,
    describe_obstacles,
    object_params,
)
from racer.reward.params import new_object_defaults
from racer.track import TrackQuery, load_track
from tests.conftest import DEEPRACER_TRACKS

MODEL_POINT = 0.14
CAMERA = (0.14529379, 0.0, 0.13032555)
PITCH, HFOV, RATIO, NEAR, FAR = 0.2618, 1.13, 480.0 / 640.0, 0.2, 300.0
BOX_Z = 0.1


def quaternion(pitch=0.0, yaw=0.0):
    cy, sy, cp, sp = math.cos(yaw / 2), math.sin(yaw / 2), math.cos(pitch / 2), math.sin(pitch / 2)
    return (-sy * sp, cy * sp, sy * cp, cy * cp)  # (x, y, z, w) with roll = 0


def rotate(q, v):
    """q v q* with plain Hamilton products."""
    x, y, z, w = q

    def mul(a, b):
        ax, ay, az, aw = a
        bx, by, bz, bw = b
        return (
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        )

    r = mul(mul(q, (v[0], v[1], v[2], 0.0)), (-x, -y, -z, w))
    return np.array(r[:3])


def frustum_planes(car_x, car_y, car_yaw):
    """markov/cameras/frustum.py `_calculate_frustum_planes` (ccw=True), step by step."""
    cam = np.array([car_x, car_y, 0.0]) + rotate(quaternion(yaw=car_yaw), CAMERA)
    q = quaternion(pitch=PITCH, yaw=car_yaw)
    fwd, up, right = rotate(q, (1, 0, 0)), rotate(q, (0, 0, 1)), rotate(q, (0, -1, 0))
    nc, fc = cam + fwd * NEAR, cam + fwd * FAR
    nw = 2.0 * math.tan(HFOV / 2) * NEAR
    fw = 2.0 * math.tan(HFOV / 2) * FAR
    nh, fh = nw * RATIO, fw * RATIO
    ftl, ftr = fc + up * fh / 2 - right * fw / 2, fc + up * fh / 2 + right * fw / 2
    fbl, fbr = fc - up * fh / 2 - right * fw / 2, fc - up * fh / 2 + right * fw / 2
    ntl, ntr = nc + up * nh / 2 - right * nw / 2, nc + up * nh / 2 + right * nw / 2
    nbl, nbr = nc - up * nh / 2 - right * nw / 2, nc - up * nh / 2 + right * nw / 2
    planes = []
    for p0, p1, p2 in [
        (nbl, ntl, nbr),
        (fbr, ftr, fbl),
        (fbl, ftl, nbl),
        (nbr, ntr, fbr),
        (ntr, ntl, ftr),
        (nbr, fbr, nbl),
    ]:
        n = np.cross(p1 - p0, p2 - p0)
        n = n / np.linalg.norm(n)
        planes.append((n, -np.dot(n, p0)))
    return planes


def visible(planes, point):
    return all(np.dot(n, point) + d > 0.0 for n, d in planes)


def object_points(x, y, yaw, z, length=0.5, width=0.4):
    """TrackData.get_object_bounding_rect plus the position."""
    q = quaternion(yaw=yaw)
    local = [
        (length / 2, width / 2, 0),
        (length / 2, -width / 2, 0),
        (-length / 2, -width / 2, 0),
        (-length / 2, width / 2, 0),
    ]
    pos = np.array([x, y, z])
    return [pos + rotate(q, v) for v in local] + [pos]


def reference(track, car, objects, z=BOX_Z):
    """SPEC 1.3 item 15 for one car: car = (base x, base y, yaw); objects = [(x, y, yaw)]."""
    bx, by, yaw = car
    model = Point(bx + MODEL_POINT * math.cos(yaw), by + MODEL_POINT * math.sin(yaw))
    line = LinearRing(track.centre) if track.closed else LineString(track.centre)
    pts = [Point(o[0], o[1]) for o in objects]
    pdist = [line.project(p) for p in pts]
    car_pdist = line.project(model)
    order = sorted(range(len(objects)), key=lambda i: pdist[i])
    nxt = len(order)
    for k, i in enumerate(order):
        if pdist[i] > car_pdist:
            nxt = k
            break
    prv = nxt - 1 if nxt > 0 else len(order) - 1
    nxt = 0 if nxt == len(order) else nxt
    g = track.geometry
    if g.closed:
        inner_poly = Polygon(g.centre, [g.inner])
        is_ccw = LinearRing(g.centre).is_ccw != track.reverse
    else:
        inner_poly = Polygon(np.vstack([g.centre, g.inner[::-1]]))
        is_ccw = not track.reverse
    planes = frustum_planes(bx, by, yaw)
    nx, ny, nyaw = objects[order[nxt]]
    return {
        "closest_objects": [order[prv], order[nxt]],
        "objects_location": [[o[0], o[1]] for o in objects],
        "objects_left_of_center": [inner_poly.contains(p) != (not is_ccw) for p in pts],
        "objects_speed": [0.0] * len(objects),
        "objects_heading": [0.0] * len(objects),
        "objects_distance": pdist,
        "objects_distance_from_center": [line.distance(p) for p in pts],
        "object_in_camera": any(visible(planes, p) for p in object_points(nx, ny, nyaw, z)),
    }


def load(name, reverse):
    if name.endswith(".npy"):
        if not DEEPRACER_TRACKS.is_dir():
            pytest.skip(f"the DeepRacer track files are not at {DEEPRACER_TRACKS}")
        return load_track(DEEPRACER_TRACKS / name, reverse=reverse)
    return load_track(name, reverse=reverse)


def cars_for(track, obstacles, rng):
    """Random cars, cars 0.4-3 m behind each object (camera cases) and past the last one."""
    obj_s = obstacles.ndist * track.length
    s = np.concatenate([
        rng.uniform(0.0, track.length, 30),
        (obj_s[:, None] - rng.uniform(0.4, 3.0, (obj_s.shape[0], 3))).ravel(),
        obj_s.max() + rng.uniform(0.05, 0.9, 4),
    ])  # fmt: skip
    s = np.mod(s, track.length) if track.closed else np.clip(s, 0.0, track.length - 0.2)
    x, y, yaw = track.point_at(s)
    lateral = rng.uniform(-0.3, 0.3, s.shape[0])
    x, y = x - lateral * np.sin(yaw), y + lateral * np.cos(yaw)
    yaw = yaw + rng.normal(0.0, 0.15, s.shape[0])
    return x, y, yaw


def run(track, obstacles, x, y, yaw):
    """The function under test, fed as the env will feed it (TrackQuery's s of the model point)."""
    n = x.shape[0]
    query = TrackQuery(n)
    query.model_x[:] = x + MODEL_POINT * np.cos(yaw)
    query.model_y[:] = y + MODEL_POINT * np.sin(yaw)
    track.locate(query)
    table = describe_obstacles(track, obstacles)
    return object_params(table, query.s, x, y, yaw, np.full(n, track.reverse))


def assert_same(got, ref):
    assert got.keys() == ref.keys()
    assert got["closest_objects"] == ref["closest_objects"]
    assert got["objects_location"] == ref["objects_location"]
    assert got["objects_left_of_center"] == ref["objects_left_of_center"]
    assert got["objects_speed"] == ref["objects_speed"]
    assert got["objects_heading"] == ref["objects_heading"]
    assert got["objects_distance"] == pytest.approx(ref["objects_distance"], abs=1e-9)
    assert got["objects_distance_from_center"] == pytest.approx(
        ref["objects_distance_from_center"], abs=1e-9
    )
    assert got["object_in_camera"] == ref["object_in_camera"]


LAYOUTS = {
    "even": ObstacleConfig(count=5),
    "unsorted": ObstacleConfig(positions=((0.8, 1), (0.15, -1), (0.5, 1), (0.33, -1))),
    "random": ObstacleConfig(count=4, randomize=True),
}
TRACKS = ["oval", "kidney", "practice_line", "reinvent_base.npy", "reInvent2019_track_cw.npy"]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reversed"])
@pytest.mark.parametrize("name", TRACKS)
def test_object_params_equal_the_reference(name, reverse, layout):
    track = load(name, reverse)
    rng = np.random.default_rng(11)
    obstacles = place_obstacles(track, LAYOUTS[layout], rng)
    x, y, yaw = cars_for(track, obstacles, rng)
    got = run(track, obstacles, x, y, yaw)
    objects = list(zip(obstacles.x.tolist(), obstacles.y.tolist(), obstacles.yaw.tolist(),
                       strict=True))  # fmt: skip
    seen = 0
    for i in range(x.shape[0]):
        ref = reference(track, (x[i], y[i], yaw[i]), objects)
        assert_same(got[i], ref)
        seen += ref["object_in_camera"]
    assert 0 < seen < x.shape[0]  # both outcomes exercised


def test_closest_objects_index_the_unsorted_list_and_wrap():
    track = load_track("kidney")
    obstacles = place_obstacles(track, LAYOUTS["unsorted"])  # fractions 0.8, 0.15, 0.5, 0.33
    table = describe_obstacles(track, obstacles)
    s = np.array([0.05, 0.2, 0.4, 0.6, 0.95]) * track.length
    x, y, yaw = track.point_at(s)
    got = [p["closest_objects"] for p in object_params(table, s, x, y, yaw, False)]
    assert got == [[0, 1], [1, 3], [3, 2], [2, 0], [0, 1]]
    # bisect-right: an object exactly at the car's projection is behind it.
    tie = object_params(table, table.s[0, 2:3], x[:1], y[:1], yaw[:1], False)[0]
    assert tie["closest_objects"] == [2, 0]


def test_reversed_drive_measures_from_the_other_end():
    forward, backward = load_track("oval"), load_track("oval", reverse=True)
    obstacles = place_obstacles(forward, ObstacleConfig(count=3))
    table = describe_obstacles(forward, obstacles)
    a = object_params(table, [1.0], [0.0], [0.0], [0.0], [False])[0]
    b = object_params(table, [1.0], [0.0], [0.0], [0.0], [True])[0]
    np.testing.assert_allclose(np.add(a["objects_distance"], b["objects_distance"]),
                               forward.length, atol=1e-9)  # fmt: skip
    assert a["objects_left_of_center"] == [not v for v in b["objects_left_of_center"]]
    assert a["objects_left_of_center"] == [True, False, True]  # CCW loop: inner lane is left
    assert describe_obstacles(backward, obstacles).s.tolist() == table.s.tolist()


def test_bot_car_heading_is_in_radians_and_speed_passes_through():
    track = load_track("oval")
    x, y, yaw = track.point_at(np.array([3.0, 9.0]))
    table = describe_objects(track, x, y, yaw, 0.32352, 0.1961, z=0.0,
                             speed=[0.2, 0.2], heading=yaw)  # fmt: skip
    params = object_params(table, [0.0], [0.0], [0.0], [0.0], False)[0]
    assert params["objects_heading"] == yaw.tolist()
    assert max(abs(h) for h in params["objects_heading"]) <= math.pi
    assert params["objects_speed"] == [0.2, 0.2]


def test_values_are_plain_python_and_fresh():
    track = load_track("oval")
    table = describe_obstacles(track, place_obstacles(track, ObstacleConfig(count=2)))
    a, b = object_params(table, [0.5, 0.5], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], False)
    assert type(a["object_in_camera"]) is bool
    assert all(type(v) is int for v in a["closest_objects"])
    assert all(type(v) is bool for v in a["objects_left_of_center"])
    for key in ("objects_speed", "objects_heading", "objects_distance",
                "objects_distance_from_center"):  # fmt: skip
        assert all(type(v) is float for v in a[key]), key
    assert all(type(p) is list and all(type(v) is float for v in p) for p in a["objects_location"])
    a["objects_location"][0][0] = 99.0
    a["objects_distance"].append(1.0)
    assert b["objects_location"][0][0] != 99.0 and len(b["objects_distance"]) == 2


def test_no_objects_gives_the_time_trial_defaults():
    track = load_track("oval")
    table = describe_obstacles(track, place_obstacles(track, ObstacleConfig()))
    assert object_params(table, [1.0], [0.0], [0.0], [0.0], False) == [new_object_defaults()]


def test_object_straight_ahead_is_in_camera_and_behind_is_not():
    track = load_track("oval")
    table = describe_objects(track, [2.0, -2.0], [0.0, 0.0], [0.0, 0.0], 0.5, 0.4)
    ahead = object_params(table, [0.0], [0.0], [0.0], [0.0], False)[0]
    nxt = ahead["closest_objects"][1]
    visible_next = [2.0, -2.0][nxt] > 0
    assert ahead["object_in_camera"] == visible_next
    from racer.objects.params import points_in_frustum

    pts = np.array([[[1.0, 0.0, 0.1], [-1.0, 0.0, 0.1], [0.5, 0.0, 0.0], [0.1, 0.0, 0.1],
                     [1.0, 1.0, 0.1], [400.0, 0.0, 0.1]]])  # fmt: skip
    assert points_in_frustum(pts, [0.0], [0.0], [0.0]).tolist() == [
        [True, False, True, False, False, False]
    ]
    stereo = FrustumConfig(lateral=(-0.03, 0.03))
    assert points_in_frustum(pts, [0.0], [0.0], [0.0], stereo)[0, 0]


def test_camera_index_quirk_tests_the_object_listed_before_next():
    track = load_track("oval")
    # Objects listed in track order; the car sits just behind object 1, object 0 is far behind.
    obstacles = place_obstacles(track, ObstacleConfig(positions=((0.1, 1), (0.5, 1), (0.9, 1))))
    table = describe_obstacles(track, obstacles)
    s = np.array([obstacles.ndist[1] * track.length - 1.0, obstacles.ndist[0] * track.length - 1.0])
    s = np.mod(s, track.length)
    x, y, yaw = track.point_at(s)
    spec = object_params(table, s + 0.14, x, y, yaw, False)
    quirk = object_params(table, s + 0.14, x, y, yaw, False, camera_index_quirk=True)
    assert [p["closest_objects"][1] for p in spec] == [1, 0]
    assert [p["object_in_camera"] for p in spec] == [True, True]
    # next = 1 -> the simapp tests object 0 (behind the car); next = 0 -> the car itself.
    assert [p["object_in_camera"] for p in quirk] == [False, False]
