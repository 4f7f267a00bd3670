"""The object keys of DeepRacer's params: obstacles and bot cars as the reward function sees them.

DeepRacer fills them in ``TrackData.get_object_reward_params`` (SPEC 1.2 and 1.3 item 15):

- ``objects_location``: ``[x, y]`` of every object but the car itself, in the simulator's order.
- ``objects_distance``: each object's projection on the centre line [m] from waypoint 0, in the
  driving direction (the simapp projects onto its direction-aware ``center_line``, so on a reversed
  track the distances run from the other end, like ``projection_distance``).
- ``closest_objects``: ``[prev, next]``; objects sorted by that distance, ``next`` is the first
  whose distance exceeds the car's own projection (bisect-right, wrapping to the first), ``prev``
  the one before (wrapping to the last); both index the unsorted list.
- ``objects_left_of_center``: the object lies strictly inside the region between the centre line
  and the inner border, XOR ``not is_ccw``.
- ``objects_distance_from_center``: distance to the centre polyline [m].
- ``objects_speed`` [m/s] and ``objects_heading`` [rad] (radians, although DeepRacer's docs say
  degrees): 0.0 for boxes, speed and yaw for bot cars.
- ``object_in_camera``: whether the next object is inside the camera's view frustum
  (``markov/cameras/frustum.py``): its four footprint corners and its centre, at the object's
  height, are tested, and any one inside counts.

Everything that does not depend on the car (distances, sides, locations) is computed once per
layout by `describe_objects`; `object_params` then fills the keys for N cars in one batched call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike

from racer.objects.obstacles import Obstacles
from racer.physics.car import CarParams
from racer.reward.params import new_object_defaults
from racer.track import Track
from racer.units import deg_to_rad

#: Height [m] of a box obstacle's pose, where DeepRacer tests it against the frustum (OBSTACLE_Z).
OBSTACLE_Z = 0.1
#: Height [m] of a bot car's pose (BOT_CAR_Z).
BOT_CAR_Z = 0.0
#: Height [m] of the racing car's base_link, from which the camera is mounted.
BASE_LINK_Z = 0.0


@dataclass(frozen=True)
class FrustumConfig:
    """The view frustum of ``object_in_camera`` (DeepRacer's hard-coded ``Frustum``, SPEC 4.2).

    These are the simapp's frustum numbers, not the rendered camera's (whose near plane is 0.02 m).

    Attributes:
        forward: [m] camera ahead of base_link (simapp v3+; v1-2 used 0.2).
        lateral: [m] camera offsets to the left of base_link, one per lens; any lens counts.
            (0.0,) for the front camera, (-0.03, 0.03) for stereo.
        height: [m] camera above base_link (simapp v3+; v1-2 used 0.164).
        pitch: [rad] downward tilt of the optical axis.
        horizontal_fov: [rad] full horizontal field of view.
        aspect: image height / width (480 / 640).
        near: [m] near plane distance along the optical axis.
        far: [m] far plane distance.
    """

    forward: float = 0.14529379
    lateral: tuple[float, ...] = (0.0,)
    height: float = 0.13032555
    pitch: float = 0.2618
    horizontal_fov: float = 1.13
    aspect: float = 480.0 / 640.0
    near: float = 0.2
    far: float = 300.0


@dataclass(frozen=True, eq=False)
class ObjectTable:
    """M objects on a track, described for both driving directions (row 0 forward, 1 reversed).

    Attributes:
        x, y: (M,) float64 [m] object positions (their pose, e.g. a box's centre).
        points: (M, 5, 3) float64 [m] the points tested against the frustum: the 4 footprint
            corners and the position, at the object's height.
        speed: (M,) float64 [m/s].
        heading: (M,) float64 [rad].
        s: (2, M) float64 [m] projection on the centre line from waypoint 0, per direction.
        left_of_center: (2, M) bool, per direction.
        distance_from_center: (M,) float64 [m].
        order: (2, M) int64 object indices sorted by ``s`` (stable), per direction.
    """

    x: np.ndarray
    y: np.ndarray
    points: np.ndarray
    speed: np.ndarray
    heading: np.ndarray
    s: np.ndarray
    left_of_center: np.ndarray
    distance_from_center: np.ndarray
    order: np.ndarray

    @property
    def count(self) -> int:
        """Number of objects M."""
        return int(self.x.shape[0])


@numba.njit(cache=True)
def _inside_even_odd(poly: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Crossing-number point-in-polygon test, (M,) bool; ``poly`` is (V, 2), closed or not."""
    v = poly.shape[0]
    out = np.zeros(px.shape[0], np.bool_)
    for i in range(px.shape[0]):
        inside = False
        for k in range(v):
            ax, ay = poly[k, 0], poly[k, 1]
            bx, by = poly[(k + 1) % v, 0], poly[(k + 1) % v, 1]
            if (ay > py[i]) != (by > py[i]):
                dy = by - ay if by != ay else 1.0
                if px[i] < ax + (py[i] - ay) * (bx - ax) / dy:
                    inside = not inside
        out[i] = inside
    return out


def _in_inner_region(track: Track, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Inside DeepRacer's ``_inner_poly_``: between the centre line and the inner border."""
    g = track.geometry
    if g.closed:
        # Polygon(centre, holes=[inner]): inside the centre ring and outside the inner one.
        return _inside_even_odd(g.centre, px, py) != _inside_even_odd(g.inner, px, py)
    return _inside_even_odd(np.vstack([g.centre, g.inner[::-1]]), px, py)


def describe_objects(
    track: Track,
    x: ArrayLike,
    y: ArrayLike,
    yaw: ArrayLike,
    length: ArrayLike,
    width: ArrayLike,
    *,
    z: ArrayLike = OBSTACLE_Z,
    speed: ArrayLike | None = None,
    heading: ArrayLike | None = None,
) -> ObjectTable:
    """Everything about M objects that the object keys need and that does not depend on the car.

    Call it once per obstacle layout (at reset), or every step for moving bot cars.

    Args:
        track: the track (either direction: both are described).
        x: (M,) float64 [m] object positions.
        y: (M,) float64 [m].
        yaw: (M,) float64 [rad] object headings (orient the footprint for the frustum test).
        length: [m] scalar or (M,) footprint along the yaw (box 0.5, bot car 0.32352).
        width: [m] scalar or (M,) footprint across it (box 0.4, bot car 0.1961).
        z: [m] scalar or (M,) height of the object's pose (`OBSTACLE_Z` for boxes, `BOT_CAR_Z`
            for bot cars).
        speed: (M,) float64 [m/s] for ``objects_speed``; zeros (static boxes) by default.
        heading: (M,) float64 [rad] for ``objects_heading``; zeros (static boxes) by default.

    Returns:
        The table for `object_params`.
    """
    x, y, yaw = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, y, yaw))
    m = x.shape[0]
    points = np.empty((m, 5, 3))
    points[:] = np.broadcast_to(np.asarray(z, dtype=np.float64), (m,))[:, None, None]
    _corners(x, y, yaw, length, width, points[:, :4, :2])
    points[:, 4, 0], points[:, 4, 1] = x, y
    s, distance = track.project(x, y)
    inner = _in_inner_region(track, x, y)
    file_ccw = track.geometry.file_ccw
    # is_ccw = file orientation XOR reverse; the flag is (inside inner region) XOR (not is_ccw).
    left = np.stack([inner != (not file_ccw), inner != file_ccw])
    zeros = np.zeros(m)
    return ObjectTable(
        x=x.copy(), y=y.copy(), points=points,
        speed=zeros.copy() if speed is None else np.asarray(speed, dtype=np.float64).copy(),
        heading=zeros.copy() if heading is None else np.asarray(heading, dtype=np.float64).copy(),
        s=s, left_of_center=left, distance_from_center=distance,
        order=np.argsort(s, axis=1, kind="stable"),
    )  # fmt: skip


def _corners(
    x: np.ndarray,
    y: np.ndarray,
    yaw: np.ndarray,
    length: ArrayLike,
    width: ArrayLike,
    out: np.ndarray,
) -> None:
    """`footprint_corners` with scalar or per-object (M,) sizes, into ``out`` (M, 4, 2)."""
    m = x.shape[0]
    half_l = 0.5 * np.broadcast_to(np.asarray(length, dtype=np.float64), (m,))[:, None]
    half_w = 0.5 * np.broadcast_to(np.asarray(width, dtype=np.float64), (m,))[:, None]
    fwd = half_l * np.array([1.0, 1.0, -1.0, -1.0])
    left = half_w * np.array([1.0, -1.0, -1.0, 1.0])
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out[..., 0] = x[:, None] + c * fwd - s * left
    out[..., 1] = y[:, None] + s * fwd + c * left


_CAR_AXIS = ("x", "y", "points", "speed", "heading", "distance_from_center")
_DIRECTION_AXIS = ("s", "left_of_center", "order")


def empty_table(count: int) -> ObjectTable:
    """A table of ``count`` objects to fill row by row (`write_rows`)."""
    return ObjectTable(
        x=np.zeros(count), y=np.zeros(count), points=np.zeros((count, 5, 3)),
        speed=np.zeros(count), heading=np.zeros(count), s=np.zeros((2, count)),
        left_of_center=np.zeros((2, count), bool), distance_from_center=np.zeros(count),
        order=np.zeros((2, count), np.int64),
    )  # fmt: skip


def write_rows(table: ObjectTable, rows: slice | np.ndarray, part: ObjectTable) -> None:
    """Replace objects ``rows`` of a stacked table (e.g. one car's) with ``part``."""
    for name in _CAR_AXIS:
        getattr(table, name)[rows] = getattr(part, name)
    for name in _DIRECTION_AXIS:
        getattr(table, name)[:, rows] = getattr(part, name)


def split_table(table: ObjectTable, n: int) -> list[ObjectTable]:
    """Cut a table of N x K objects (car-major: car 0's K, then car 1's, ...) into N tables.

    One `describe_objects` call for every car's objects, then this, is how moving bot cars are
    described each step without a per-car track query.

    Args:
        table: N * K objects, each car's K consecutive.
        n: N.

    Returns:
        N tables of K objects each, with their own ``order``.
    """
    k = table.count // n if n else 0
    s = table.s.reshape(2, n, k)
    order = np.argsort(s, axis=2, kind="stable")
    left = table.left_of_center.reshape(2, n, k)

    def rows(a: np.ndarray) -> np.ndarray:
        return a.reshape(n, k, *a.shape[1:])

    x, y, points = rows(table.x), rows(table.y), rows(table.points)
    speed, heading = rows(table.speed), rows(table.heading)
    centre = rows(table.distance_from_center)
    return [
        ObjectTable(
            x=x[i],
            y=y[i],
            points=points[i],
            speed=speed[i],
            heading=heading[i],
            s=s[:, i],
            left_of_center=left[:, i],
            distance_from_center=centre[i],
            order=order[:, i],
        )  # fmt: skip
        for i in range(n)
    ]


def describe_obstacles(track: Track, obstacles: Obstacles) -> ObjectTable:
    """`describe_objects` for DeepRacer's static boxes (speed and heading 0, height OBSTACLE_Z)."""
    return describe_objects(track, obstacles.x, obstacles.y, obstacles.yaw, obstacles.length,
                            obstacles.width, z=OBSTACLE_Z)  # fmt: skip


def points_in_frustum(
    points: np.ndarray,
    car_x: ArrayLike,
    car_y: ArrayLike,
    car_yaw: ArrayLike,
    frustum: FrustumConfig | None = None,
) -> np.ndarray:
    """Whether 3-D points are inside each car's camera frustum (any lens), DeepRacer's test.

    A point is visible when it is strictly on the inner side of all six planes: farther than
    ``near`` and nearer than ``far`` along the optical axis, and inside the horizontal and vertical
    half-angles. The car is taken level at base_link height 0 (the camera's yaw is the car's).

    Args:
        points: (N, P, 3) float64 [m] points to test for each car.
        car_x: (N,) float64 [m] base_link.
        car_y: (N,) float64 [m].
        car_yaw: (N,) float64 [rad].
        frustum: the frustum; DeepRacer's front camera by default.

    Returns:
        (N, P) bool.
    """
    f = frustum or FrustumConfig()
    car_x, car_y, car_yaw = (np.atleast_1d(np.asarray(v, dtype=np.float64))
                             for v in (car_x, car_y, car_yaw))  # fmt: skip
    c, s = np.cos(car_yaw)[:, None], np.sin(car_yaw)[:, None]
    cp, sp = math.cos(f.pitch), math.sin(f.pitch)
    tan_h = math.tan(0.5 * f.horizontal_fov)
    visible = np.zeros(points.shape[:2], dtype=bool)
    for lateral in f.lateral:
        qx = points[..., 0] - (car_x[:, None] + c * f.forward - s * lateral)
        qy = points[..., 1] - (car_y[:, None] + s * f.forward + c * lateral)
        qz = points[..., 2] - (BASE_LINK_Z + f.height)
        planar = c * qx + s * qy  # along the car's heading, in the ground plane
        depth = cp * planar - sp * qz  # optical axis pitched down by `pitch`
        up = sp * planar + cp * qz
        right = s * qx - c * qy
        visible |= ((depth > f.near) & (depth < f.far) & (np.abs(right) < depth * tan_h)
                    & (np.abs(up) < depth * tan_h * f.aspect))  # fmt: skip
    return visible


def object_params(
    table: ObjectTable,
    car_s: ArrayLike,
    car_x: ArrayLike,
    car_y: ArrayLike,
    car_yaw: ArrayLike,
    reverse: ArrayLike,
    frustum: FrustumConfig | None = None,
    *,
    per_car: bool = False,
    camera_index_quirk: bool = False,
) -> list[dict[str, Any]]:
    """The eight object keys of params for N cars, with DeepRacer's Python types.

    Args:
        table: the K objects every car sees (`describe_objects`; with K = 0 every car gets the
            time-trial defaults), or with ``per_car`` N * K objects, car-major (car 0's K, then
            car 1's, ...): car i sees its own K, as if called with ``split_table(table, N)[i]``.
        car_s: (N,) float64 [m] each car's model-point projection in its driving direction
            (``TrackQuery.s``, DeepRacer's ``center_line.project(model_point)``).
        car_x: (N,) float64 [m] each car's base_link (for the camera, not the model point).
        car_y: (N,) float64 [m].
        car_yaw: (N,) float64 [rad].
        reverse: (N,) bool or a scalar: each car's driving direction.
        frustum: the camera frustum for ``object_in_camera``; DeepRacer's front camera by default.
        per_car: see ``table``.
        camera_index_quirk: reproduce the simapp's off-by-one instead of SPEC 1.3 item 15. The
            simapp enumerates its object list *including the racing car* (registered first) when
            it tests the frustum, then compares those indices with ``next``, which indexes the
            list *without* the car. So it really tests the object listed just before ``next``
            (``next - 1``), or the car itself (never in its own view) when ``next`` is 0.

    Returns:
        N fresh dicts, each with ``closest_objects``, ``objects_location``,
        ``objects_left_of_center``, ``objects_speed``, ``objects_heading``, ``objects_distance``,
        ``objects_distance_from_center`` and ``object_in_camera``, ready for ``params.update``.
    """
    car_s = np.atleast_1d(np.asarray(car_s, dtype=np.float64))
    n = car_s.shape[0]
    if table.count == 0:
        return [new_object_defaults() for _ in range(n)]
    k = table.count // n if per_car else table.count
    def per(values: np.ndarray, axis: int = 0) -> np.ndarray:
        """A view of ``values`` with its object axis ``axis`` split into (N, K) (or shared)."""
        head, tail = values.shape[:axis], values.shape[axis + 1 :]
        if per_car:
            return values.reshape(head + (n, k) + tail)
        return np.broadcast_to(np.expand_dims(values, axis), head + (n, k) + tail)

    cars = np.arange(n)
    row = np.broadcast_to(np.asarray(reverse, dtype=bool), (n,)).astype(np.int64)
    s = per(table.s, 1)[row, cars]  # (N, K) in each car's own direction
    order = np.argsort(s, axis=1, kind="stable")
    rank = np.count_nonzero(np.take_along_axis(s, order, axis=1) <= car_s[:, None], axis=1)
    prv = order[cars, np.where(rank - 1 < 0, k - 1, rank - 1)]
    nxt = order[cars, np.where(rank == k, 0, rank)]
    tested = nxt - 1 if camera_index_quirk else nxt
    seen = points_in_frustum(per(table.points)[cars, tested], car_x, car_y, car_yaw,
                             frustum).any(axis=1)  # fmt: skip
    if camera_index_quirk:
        seen &= nxt > 0
    location = per(np.stack([table.x, table.y], axis=1)).tolist()
    speed, heading = per(table.speed).tolist(), per(table.heading).tolist()
    centre = per(table.distance_from_center).tolist()
    distance = s.tolist()
    left = per(table.left_of_center, 1)[row, cars].tolist()
    prv_list, nxt_list, seen_list = prv.tolist(), nxt.tolist(), seen.tolist()
    return [
        {
            "closest_objects": [prv_list[i], nxt_list[i]],
            "objects_location": location[i],
            "objects_left_of_center": left[i],
            "objects_speed": speed[i],
            "objects_heading": heading[i],
            "objects_distance": distance[i],
            "objects_distance_from_center": centre[i],
            "object_in_camera": seen_list[i],
        }
        for i in range(n)
    ]


def fill_object_keys(
    params_list: list[dict[str, Any]], table: ObjectTable, *, per_car: bool = False
) -> list[dict[str, Any]]:
    """Fill the object keys of params dicts built without objects (e.g. `params_at_poses`).

    The cars' poses come from the params themselves, in DeepRacer's terms: the model point
    (``x``, ``y``), ``heading`` [deg], ``projection_distance`` and ``is_reversed``.

    Args:
        params_list: N params dicts, updated in place.
        table: the objects every car sees, or with ``per_car`` each car's own K, car-major
            (`object_params`).
        per_car: see ``table``.

    Returns:
        ``params_list``.
    """
    if not params_list:
        return params_list
    car = CarParams()
    yaw = deg_to_rad(np.array([p["heading"] for p in params_list], np.float64))
    x = np.array([p["x"] for p in params_list]) - car.model_point * np.cos(yaw)
    y = np.array([p["y"] for p in params_list]) - car.model_point * np.sin(yaw)
    s = np.array([p["projection_distance"] for p in params_list])
    reverse = np.array([p["is_reversed"] for p in params_list], dtype=bool)
    keys = object_params(table, s, x, y, yaw, reverse, per_car=per_car)
    for params, values in zip(params_list, keys, strict=True):
        params.update(values)
    return params_list

