"""DeepRacer's lidar (SPEC 4.3): 64 rays round the car, and the three observations made of them.

The lidar sits on the chassis, 0.0291 m ahead of base_link and 0.1615 + 0.0232 m up, turned
180 degrees in yaw. Its 64 rays are spread evenly over +-150 degrees of its own frame, so in the
car's frame they run from 30 degrees left of straight ahead, round the back, to 30 degrees right:
the 60 degrees straight ahead are not covered. The track has no walls, so a ray meets only
objects (obstacle boxes and other cars) that are taller than the lidar. Hits are exact ray /
rectangle intersections in the plane, batched over cars, rays and objects; then Gaussian noise
(sigma 0.01 m) from the caller's generator and the 0.01 m resolution, as Gazebo's sensor does.

The observations (`LidarConfig` of model_metadata.json for the discretised one):

- ``LIDAR``: the 64 ranges clipped to [0.15, 1.0] m;
- ``SECTOR_LIDAR``: 8 sectors of 8 rays, 1.0 where the sector's nearest range is below 0.5 m;
- ``DISCRETIZED_SECTOR_LIDAR``: ``num_sectors`` sectors; the nearest range of each, one-hot in
  ``num_values_per_sector`` bins of ``clipping_dist / num_values_per_sector``; no bit when the
  range is ``clipping_dist`` or more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from racer.errors import ConfigError

FloatArray = NDArray[np.float64]

LIDAR_CLIP = (0.15, 1.0)  # [m] the LIDAR observation's range
SECTOR_THRESHOLD = 0.5  # [m] SECTOR_LIDAR: a sector is "occupied" below this
SECTORS = 8  # SECTOR_LIDAR's sectors


@dataclass(frozen=True)
class LidarSpec:
    """The lidar itself (DeepRacer's defaults, SPEC 4.3).

    Attributes:
        samples: rays per scan.
        half_angle: [rad] the scan covers +-this in the lidar's frame.
        yaw_offset: [rad] the lidar's yaw relative to the car (pi: it faces backwards).
        mount_forward: [m] ahead of base_link.
        mount_height: [m] above the ground (chassis 0.0232 + mount 0.1615).
        min_range: [m] nearest measurable range.
        max_range: [m] farthest; rays that hit nothing read +inf.
        noise: [m] standard deviation of the Gaussian range noise.
        resolution: [m] ranges are rounded to this.
    """

    samples: int = 64
    half_angle: float = 2.61799
    yaw_offset: float = math.pi
    mount_forward: float = 0.0291
    mount_height: float = 0.1615 + 0.0232
    min_range: float = 0.15
    max_range: float = 12.0
    noise: float = 0.01
    resolution: float = 0.01

    def __post_init__(self) -> None:
        if self.samples < 2:
            raise ConfigError(f"the lidar needs at least 2 samples, got {self.samples}.")
        if not 0.0 < self.min_range < self.max_range:
            raise ConfigError(f"the lidar needs 0 < min_range < max_range, got "
                              f"{self.min_range}, {self.max_range}.")  # fmt: skip
        if self.noise < 0.0 or self.resolution < 0.0:
            raise ConfigError("the lidar's noise and resolution must be >= 0.")

    @property
    def car_angles(self) -> FloatArray:
        """(samples,) [rad] each ray's direction in the car's frame (0 ahead, + to the left)."""
        local = np.linspace(-self.half_angle, self.half_angle, self.samples)
        return np.mod(local + self.yaw_offset + math.pi, 2.0 * math.pi) - math.pi


def scan(
    spec: LidarSpec,
    car_x: ArrayLike,
    car_y: ArrayLike,
    car_yaw: ArrayLike,
    box_x: ArrayLike,
    box_y: ArrayLike,
    box_yaw: ArrayLike,
    box_length: ArrayLike,
    box_width: ArrayLike,
    box_height: ArrayLike,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """One scan for each of N cars among M rectangles (obstacles, other cars).

    Args:
        spec: the lidar.
        car_x: (N,) [m] base_link east.
        car_y: (N,) [m] base_link north.
        car_yaw: (N,) [rad] heading.
        box_x: (M,) shared or (N, M) per car [m] rectangle centres.
        box_y: (M,) or (N, M) [m].
        box_yaw: (M,) or (N, M) [rad] heading of each rectangle's length axis.
        box_length: scalar, (M,) or (N, M) [m] extent along the yaw.
        box_width: scalar, (M,) or (N, M) [m] extent across it.
        box_height: scalar, (M,) or (N, M) [m]; objects lower than the lidar are not seen.
        rng: noise source; None gives exact ranges (no noise, no rounding).

    Returns:
        (N, samples) float64 [m] ranges, +inf where a ray meets nothing within max_range.
    """
    cx, cy, cyaw = (np.atleast_1d(np.asarray(v, np.float64)) for v in (car_x, car_y, car_yaw))
    n = cx.shape[0]
    bx, by, byaw = (np.asarray(v, np.float64) for v in (box_x, box_y, box_yaw))
    if bx.ndim < 2:
        bx, by, byaw = (np.atleast_1d(v)[None, :] for v in (bx, by, byaw))
    m = bx.shape[1]
    ranges = np.full((n, spec.samples), np.inf)
    if m == 0:
        return ranges
    shape = (bx.shape[0], m)
    half_l = 0.5 * np.broadcast_to(np.asarray(box_length, np.float64), shape)
    half_w = 0.5 * np.broadcast_to(np.asarray(box_width, np.float64), shape)
    seen = np.broadcast_to(np.asarray(box_height, np.float64), shape) >= spec.mount_height
    # The lidar's origin, and each ray's direction, in the world: (N,) and (N, S).
    ox = cx + spec.mount_forward * np.cos(cyaw)
    oy = cy + spec.mount_forward * np.sin(cyaw)
    angle = cyaw[:, None] + spec.car_angles[None, :]
    dx, dy = np.cos(angle), np.sin(angle)
    # Into each box's frame: origin (N, M) and directions (N, M, S).
    c, s = np.cos(byaw), np.sin(byaw)
    rx, ry = ox[:, None] - bx, oy[:, None] - by
    px, py = c * rx + s * ry, c * ry - s * rx
    ux = c[:, :, None] * dx[:, None, :] + s[:, :, None] * dy[:, None, :]
    uy = c[:, :, None] * dy[:, None, :] - s[:, :, None] * dx[:, None, :]
    # Slab test against |x| <= half_l, |y| <= half_w.
    near, far = _slab(px, ux, half_l)
    near_y, far_y = _slab(py, uy, half_w)
    enter = np.maximum(near, near_y)
    leave = np.minimum(far, far_y)
    hit = (enter <= leave) & (leave > 0.0) & seen[:, :, None]
    distance = np.where(hit, np.maximum(enter, 0.0), np.inf)  # inside a box: 0
    ranges = distance.min(axis=1)
    ranges[(ranges < spec.min_range) | (ranges > spec.max_range)] = np.inf
    if rng is not None:
        finite = np.isfinite(ranges)
        noisy = ranges[finite] + rng.normal(0.0, spec.noise, int(finite.sum()))
        if spec.resolution > 0.0:
            noisy = np.round(noisy / spec.resolution) * spec.resolution
        ranges[finite] = np.clip(noisy, spec.min_range, spec.max_range)
    return ranges


def _slab(origin: FloatArray, direction: FloatArray, half: FloatArray
          ) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Ray parameters (N, M, S) where a ray crosses the two lines at +-half of one axis."""
    o, h = origin[:, :, None], half[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-h - o) / direction
        t2 = (h - o) / direction
    low, high = np.minimum(t1, t2), np.maximum(t1, t2)
    parallel = direction == 0.0
    inside = np.abs(o) <= h
    low = np.where(parallel, np.where(inside, -np.inf, np.inf), low)
    high = np.where(parallel, np.where(inside, np.inf, -np.inf), high)
    return low, high


def lidar_observation(ranges: FloatArray) -> NDArray[np.float32]:
    """``LIDAR``: (N, 64) ranges clipped to [0.15, 1.0] m (no hit reads 1.0)."""
    return np.clip(ranges, *LIDAR_CLIP).astype(np.float32)


def sector_observation(ranges: FloatArray, sectors: int = SECTORS) -> NDArray[np.float32]:
    """``SECTOR_LIDAR``: (N, sectors) 1.0 where the sector's nearest range is below 0.5 m."""
    nearest = _sector_minimum(ranges, sectors)
    return (nearest < SECTOR_THRESHOLD).astype(np.float32)


def discretized_observation(
    ranges: FloatArray, num_sectors: int, num_values: int, clipping_dist: float
) -> NDArray[np.float32]:
    """``DISCRETIZED_SECTOR_LIDAR``: (N, num_sectors * num_values) one-hot distance bins.

    Each sector's nearest range sets the bit ``floor(range / (clipping_dist / num_values))`` of
    that sector's ``num_values`` bits; a range of ``clipping_dist`` or more sets none.
    """
    nearest = _sector_minimum(ranges, num_sectors)
    n = nearest.shape[0]
    out = np.zeros((n, num_sectors, num_values), np.float32)
    width = clipping_dist / num_values
    within = nearest < clipping_dist
    bins = np.minimum((np.where(within, nearest, 0.0) / width).astype(np.int64), num_values - 1)
    rows, sectors = np.nonzero(within)
    out[rows, sectors, bins[rows, sectors]] = 1.0
    return out.reshape(n, num_sectors * num_values)


def _sector_minimum(ranges: FloatArray, sectors: int) -> FloatArray:
    n, samples = ranges.shape
    if samples % sectors:
        raise ConfigError(f"{sectors} sectors do not divide the lidar's {samples} samples.")
    return ranges.reshape(n, sectors, samples // sectors).min(axis=2)
