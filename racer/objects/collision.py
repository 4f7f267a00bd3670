"""DeepRacer's crash rule: a corner of the car's footprint inside another object's rectangle.

DeepRacer (``TrackData.get_collided_object_name``, SPEC 1.3 item 12) builds every object's
rectangle on the floor from its pose and dimensions, centred on the pose: for the racing car that
pose is ``base_link`` (the model state the simulator reads each step), so the 0.32352 m x 0.1961 m
footprint is centred on base_link, 0.0817 m ahead of the rear axle. The car has crashed into the
first object, in the simulator's object order, whose rectangle strictly contains any of the four
corners of the car's footprint. Only the car's corners are tested, so a box corner poking into the
car's side without a car corner inside the box is not a crash: that is DeepRacer's rule.

All functions take N cars and M rectangles at once (numpy broadcasting, no per-car loop).
Frame: x east, y north, yaw counter-clockwise from +x [rad]; lengths along the yaw, widths across.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: DeepRacer's corner order in local (forward, left) half-extents: front-left, front-right,
#: rear-right, rear-left (``TrackData.get_object_bounding_rect``).
_CORNER_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])


def footprint_corners(
    x: ArrayLike,
    y: ArrayLike,
    yaw: ArrayLike,
    length: float,
    width: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Corners of rectangles centred on their poses (cars at base_link, boxes at their centre).

    Args:
        x: (N,) float64 [m] rectangle centres (a car's base_link).
        y: (N,) float64 [m].
        yaw: (N,) float64 [rad] heading of the rectangle's length axis.
        length: [m] extent along the yaw (the car: ``CarParams.length``, 0.32352).
        width: [m] extent across it (the car: ``CarParams.width``, 0.1961).
        out: optional (N, 4, 2) float64 buffer to fill instead of allocating.

    Returns:
        (N, 4, 2) float64 [m] corners: front-left, front-right, rear-right, rear-left.
    """
    x, y, yaw = (np.asarray(v, dtype=np.float64) for v in (x, y, yaw))
    if out is None:
        out = np.empty((x.shape[0], 4, 2))
    fwd = 0.5 * length * _CORNER_SIGNS[:, 0]
    left = 0.5 * width * _CORNER_SIGNS[:, 1]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out[..., 0] = x[:, None] + c * fwd - s * left
    out[..., 1] = y[:, None] + s * fwd + c * left
    return out


def corners_in_boxes(
    corners: np.ndarray,
    box_x: ArrayLike,
    box_y: ArrayLike,
    box_yaw: ArrayLike,
    box_length: ArrayLike,
    box_width: ArrayLike,
) -> np.ndarray:
    """For each car, the first rectangle that strictly contains any of its corners.

    Args:
        corners: (N, K, 2) float64 [m] the points of each car to test (K = 4 footprint corners).
        box_x: (M,) float64 [m] rectangle centres, shared by every car, or (N, M): each car's own.
        box_y: (M,) or (N, M) float64 [m].
        box_yaw: (M,) or (N, M) float64 [rad] heading of each rectangle's length axis.
        box_length: [m] scalar, (M,) or (N, M) extent along the yaw (a DeepRacer box: 0.5).
        box_width: [m] scalar, (M,) or (N, M) extent across it (a DeepRacer box: 0.4).

    Returns:
        (N,) int64: the lowest index m whose rectangle holds a corner strictly inside (on the
        edge does not count, like shapely's ``contains``), or -1 when there is none (also when
        M = 0).
    """
    corners = np.asarray(corners, dtype=np.float64)
    bx, by, byaw = (np.asarray(v, dtype=np.float64) for v in (box_x, box_y, box_yaw))
    if bx.ndim < 2:  # one set of boxes for every car
        bx, by, byaw = (np.atleast_1d(v)[None, :] for v in (bx, by, byaw))
    n, m = corners.shape[0], bx.shape[1]
    if m == 0:
        return np.full(n, -1, dtype=np.int64)
    half_l = 0.5 * np.broadcast_to(np.asarray(box_length, dtype=np.float64), bx.shape)
    half_w = 0.5 * np.broadcast_to(np.asarray(box_width, dtype=np.float64), bx.shape)
    # (N, M, K): each corner in each box's frame.
    dx = corners[:, None, :, 0] - bx[:, :, None]
    dy = corners[:, None, :, 1] - by[:, :, None]
    c, s = np.cos(byaw)[:, :, None], np.sin(byaw)[:, :, None]
    along = c * dx + s * dy
    across = c * dy - s * dx
    inside = (np.abs(along) < half_l[:, :, None]) & (np.abs(across) < half_w[:, :, None])
    hit = inside.any(axis=2)
    first = np.argmax(hit, axis=1)
    return np.where(hit.any(axis=1), first, -1).astype(np.int64)
