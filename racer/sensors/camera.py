"""Batched front camera: DeepRacer's 160x120 grayscale FRONT_FACING_CAMERA for N cars in one call.

The ground is flat and the camera is rigidly mounted, so every pixel's ray meets the ground at a
fixed point of the car frame (forward, left). All of that is precomputed once; a frame is then a
rotate-and-translate of the table plus a gather from the top-down :class:`GroundTexture`.

Two facts make the table small. On a flat ground all pixels of an image row see the same forward
distance, and their lateral offsets are evenly spaced: a row is a straight, uniformly sampled
segment on the ground (the "mode 7" scanline). So the table stores, per image row, a few sub-rows
(forward [m], lateral offset of column 0 [m], lateral step per column [m]) and a mip level.

Anti-aliasing emulates DeepRacer, which renders 640x480 and downsizes bilinearly to 160x120: each
output pixel averages its ground footprint. Across a row the footprint is handled by the mip level;
along the view direction, where distant rows are strongly foreshortened, by averaging up to four
sub-rows per pixel row (four is exactly the 640 -> 160 ratio). Sub-rows above the horizon or beyond
``max_distance`` take the backdrop's grey, so the horizon is anti-aliased too. The backdrop is
DeepRacer's: the wall round the field, or the sky where a ray passes over the wall's top (found
per image row as the interval of columns that clear it, from the field's corners).

Conventions: world x east, y north, yaw counter-clockwise from +x; car frame forward, left, up.
Image row 0 is the top (sky side); column 0 is the left of the image as the camera sees it, and a
point to the car's left appears in the left part of the image.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from racer.errors import ConfigError
from racer.sensors.texture import GroundTexture

FloatArray = npt.NDArray[np.float64]

_MAX_SUBROWS = 4
_ROWS_PER_JOB = 8
"""Image rows per parallel work item: amortises the per-car sin/cos, keeps N=1 parallel."""


@dataclass(frozen=True)
class CameraConfig:
    """Intrinsics and mounting of a pinhole camera (defaults: DeepRacer's front camera, v>=3)."""

    width: int = 160
    """Image width [px]."""
    height: int = 120
    """Image height [px]."""
    horizontal_fov: float = 1.13
    """Horizontal field of view [rad]; square pixels set the vertical one."""
    mount_forward: float = 0.1453
    """Camera position ahead of the car's base_link [m]."""
    mount_lateral: float = 0.0
    """Camera position to the left of base_link [m] (stereo cameras sit at +-0.03)."""
    mount_height: float = 0.1303
    """Camera height above the ground [m]."""
    pitch: float = 0.2618
    """Downward tilt of the optical axis [rad] (15 deg)."""
    max_distance: float = 10.0
    """Ground seen farther ahead of the camera than this [m] shows the backdrop instead."""
    max_subrows: int = 4
    """Most ground samples averaged along the view direction per pixel (1, 2 or 4)."""

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not (is_int and value > 0):
                raise ConfigError(f"CameraConfig.{name} must be a positive int [px], got {value!r}")
        if not 0.0 < self.horizontal_fov < math.pi:
            raise ConfigError(
                f"CameraConfig.horizontal_fov must be in (0, pi) [rad], got {self.horizontal_fov}"
            )
        if not self.mount_height > 0.0:
            raise ConfigError(f"CameraConfig.mount_height must be > 0 [m], got {self.mount_height}")
        if not -math.pi / 2 < self.pitch < math.pi / 2:
            raise ConfigError(
                f"CameraConfig.pitch must be in (-pi/2, pi/2) [rad], got {self.pitch}"
            )
        if not (math.isfinite(self.mount_forward) and math.isfinite(self.mount_lateral)):
            raise ConfigError("CameraConfig.mount_forward and mount_lateral must be finite [m]")
        if not self.max_distance > 0.0:
            raise ConfigError(f"CameraConfig.max_distance must be > 0 [m], got {self.max_distance}")
        if self.max_subrows not in (1, 2, 4):
            raise ConfigError(f"CameraConfig.max_subrows must be 1, 2 or 4, got {self.max_subrows}")

    @property
    def focal_length(self) -> float:
        """Focal length [px], from the horizontal field of view."""
        return 0.5 * self.width / math.tan(0.5 * self.horizontal_fov)

    @property
    def horizon_row(self) -> float:
        """Image row coordinate of the horizon [px from the top]; rows above it miss the ground."""
        return 0.5 * self.height - self.focal_length * math.tan(self.pitch)


class Camera:
    """Renders N cars' camera frames in one call from precomputed ground-ray tables.

    Args:
        config: Intrinsics and mounting.
        texture: The track's ground texture (see :func:`render_ground_texture`).

    Raises:
        ConfigError: If the wall round the field is not taller than the camera.
    """

    def __init__(self, config: CameraConfig, texture: GroundTexture) -> None:
        if not texture.wall_height > config.mount_height:
            raise ConfigError(
                f"the wall round the field ({texture.wall_height} m) must stand taller than the "
                f"camera ({config.mount_height} m): raise TextureStyle.wall_height"
            )
        self.config = config
        self.texture = texture
        height = config.height
        self._horizon = config.horizon_row
        self._forward = np.zeros((height, _MAX_SUBROWS))
        self._lateral0 = np.zeros((height, _MAX_SUBROWS))
        self._lateral_step = np.zeros((height, _MAX_SUBROWS))
        self._subrows = np.ones(height, dtype=np.int64)
        self._ground_subrows = np.zeros(height, dtype=np.int64)
        self._level = np.zeros(height, dtype=np.int64)
        for v in range(height):
            self._plan_row(v)
        self._inv_res = 1.0 / (texture.resolution * 2.0 ** np.arange(len(texture.levels)))
        self._ground_points = self._pixel_ground_points()
        # A pixel centre's ray, unnormalised: (ahead[v], -(xn0 + u / f), rise[v]) in the car
        # frame (forward, left, up); the backdrop test needs no more than that.
        sin_p, cos_p = math.sin(config.pitch), math.cos(config.pitch)
        yn = (np.arange(height) + 0.5 - 0.5 * height) / config.focal_length
        self._ray_rows = np.stack([cos_p - yn * sin_p, -(sin_p + yn * cos_p)], axis=1)
        x0, y0, x1, y1 = texture.field
        # The backdrop test's constants: the field's corners [m], the wall's height above the
        # camera [m], the camera's mount [m], the grey levels of the wall and of the sky, and the
        # image-plane x of column 0's centre and per column.
        self._backdrop = np.array(
            [x0, y0, x1, y1, texture.wall_height - config.mount_height, config.mount_forward,
             config.mount_lateral, texture.wall, texture.sky,
             (0.5 - 0.5 * config.width) / config.focal_length, 1.0 / config.focal_length]
        )  # fmt: skip
        for table in (self._ground_points, self._level, self._subrows, self._ray_rows):
            table.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one frame, (height, width, 1)."""
        return (self.config.height, self.config.width, 1)

    @property
    def horizon_row(self) -> float:
        """Image row coordinate of the horizon [px from the top edge]; rows above it are sky."""
        return self._horizon

    @property
    def ground_points(self) -> FloatArray:
        """Car-frame (forward, left) [m] of each pixel centre's ground hit, (H, W, 2); NaN = sky."""
        return self._ground_points

    @property
    def backdrop_rays(self) -> FloatArray:
        """Car-frame ray of each pixel centre, (H, W, 3): horizontal direction, rise.

        The direction (forward, left) is a unit vector, the rise in metres per metre of run.
        Pixels that miss the ground show the wall round the field, or the sky when the ray
        passes over the wall's top.
        """
        cfg = self.config
        xn = self._backdrop[9] + np.arange(cfg.width) * self._backdrop[10]
        ahead = np.broadcast_to(self._ray_rows[:, :1], (cfg.height, cfg.width))
        left = np.broadcast_to(-xn, (cfg.height, cfg.width))
        rise = np.broadcast_to(self._ray_rows[:, 1:], (cfg.height, cfg.width))
        run = np.hypot(ahead, left)
        return np.stack([ahead / run, left / run, rise / run], axis=-1)

    @property
    def mip_levels(self) -> npt.NDArray[np.int64]:
        """Mip level sampled by each image row, (H,) int64."""
        return self._level

    @property
    def subrows(self) -> npt.NDArray[np.int64]:
        """Ground samples averaged along the view direction by each image row, (H,) int64.

        Sample k of row v lies on image row coordinate ``v + (k + 0.5) / subrows[v]``; samples
        above the horizon or beyond ``max_distance`` count as backdrop.
        """
        return self._subrows

    def _ray_to_ground(self, row: float) -> tuple[float, float, float] | None:
        """Return (forward, lateral at column 0, lateral step per column) [m] of image ``row``.

        ``row`` is a continuous image row coordinate (pixel centres at v + 0.5). Returns None when
        the ray misses the ground or meets it beyond ``max_distance``.
        """
        cfg = self.config
        f = cfg.focal_length
        yn = (row - 0.5 * cfg.height) / f
        sin_p, cos_p = math.sin(cfg.pitch), math.cos(cfg.pitch)
        down = sin_p + yn * cos_p
        if down <= 0.0:
            return None
        t = cfg.mount_height / down
        ahead = t * (cos_p - yn * sin_p)
        if ahead > cfg.max_distance:
            return None
        # Image columns grow to the camera's right, i.e. towards the car's -left.
        lateral0 = cfg.mount_lateral - t * (0.5 - 0.5 * cfg.width) / f
        return cfg.mount_forward + ahead, lateral0, -t / f

    def _ground_ahead(self, row: float) -> float:
        """Ground distance ahead of the camera [m] at image ``row``, capped at ``max_distance``."""
        hit = self._ray_to_ground(row)
        if hit is None:
            return self.config.max_distance
        return hit[0] - self.config.mount_forward

    def _plan_row(self, v: int) -> None:
        """Choose image row ``v``'s sub-row count and mip level from its ground footprint."""
        cfg = self.config
        res = self.texture.resolution
        depth = self._ground_ahead(v) - self._ground_ahead(v + 1.0)
        centre = self._ray_to_ground(v + 0.5)
        across = abs(centre[2]) if centre is not None else cfg.max_distance / cfg.focal_length
        # Average sub-rows until their spacing on the ground is within sqrt(2) of the spacing
        # across the row (or of a texel); the mip level then covers the larger of the two, so
        # sampling stays at about one texel per sample in both directions.
        n = 1
        while n < cfg.max_subrows and depth / n > math.sqrt(2.0) * max(across, res):
            n *= 2
        footprint = max(across, depth / n, res)
        top_level = len(self.texture.levels) - 1
        self._level[v] = min(max(round(math.log2(footprint / res)), 0), top_level)
        self._subrows[v] = n
        ground = [h for k in range(n) if (h := self._ray_to_ground(v + (k + 0.5) / n)) is not None]
        self._ground_subrows[v] = len(ground)
        for k, (fwd, lat0, step) in enumerate(ground):
            self._forward[v, k], self._lateral0[v, k], self._lateral_step[v, k] = fwd, lat0, step

    def _pixel_ground_points(self) -> FloatArray:
        """Per-pixel (forward, left) [m] of the centre ray's ground hit, (H, W, 2); NaN = sky."""
        cfg = self.config
        points = np.full((cfg.height, cfg.width, 2), np.nan)
        columns = np.arange(cfg.width)
        for v in range(cfg.height):
            hit = self._ray_to_ground(v + 0.5)
            if hit is not None:
                points[v, :, 0] = hit[0]
                points[v, :, 1] = hit[1] + columns * hit[2]
        return points

    def render(
        self, x: npt.ArrayLike, y: npt.ArrayLike, yaw: npt.ArrayLike, out: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.uint8]:
        """Render the frames of N cars into ``out``.

        Args:
            x: Base_link x, (N,) float64 [m].
            y: Base_link y, (N,) float64 [m].
            yaw: Heading, (N,) float64 [rad], counter-clockwise from +x.
            out: Destination, (N, H, W, 1) uint8, C-contiguous; written in place.

        Returns:
            ``out``. Row 0 is the top of the image, column 0 its left.

        Raises:
            ValueError: If the poses' or ``out``'s shape or dtype do not match.
        """
        # Contiguous float64 poses keep the kernel on a single compiled signature.
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        yaw = np.ascontiguousarray(yaw, dtype=np.float64)
        n = x.shape[0] if x.ndim == 1 else -1
        if x.ndim != 1 or y.shape != x.shape or yaw.shape != x.shape:
            raise ValueError(
                f"x, y, yaw must be (N,) arrays, got {x.shape}, {y.shape}, {yaw.shape}"
            )
        expected = (n, *self.shape)
        if out.shape != expected or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(
                f"out must be a C-contiguous uint8 array of shape {expected}, "
                f"got {out.dtype} {out.shape}"
            )
        tex = self.texture
        _render_kernel(
            x, y, yaw,
            self._forward, self._lateral0, self._lateral_step,
            self._subrows, self._ground_subrows, self._level, self._ray_rows, self._backdrop,
            tex.texels, tex.level_offsets, tex.level_shapes, self._inv_res,
            tex.origin_x, tex.origin_y, out,
        )  # fmt: skip
        return out


@numba.njit(cache=True, inline="always")
def _nearest(col, row, texels, offset, level_h, level_w):
    # Clamping instead of branching keeps the loop branch-free; the texture's guard band of flat
    # floor makes every clamped lookup outside the texture return exactly the floor value. The
    # comparisons are written so that NaN (a NaN pose) clamps to 0 instead of indexing wildly.
    col = col if col > 0.0 else 0.0
    row = row if row > 0.0 else 0.0
    ix = np.int64(col if col < level_w - 1.0 else level_w - 1.0)
    iy = np.int64(row if row < level_h - 1.0 else level_h - 1.0)
    return np.int64(texels[offset + iy * level_w + ix])


@numba.njit(cache=True, inline="always")
def _coefficients(px, py, c, s, forward, lateral0, step, inv_res, ox, oy):
    # Texel coordinates of column 0 and their change per column for one sub-row.
    wx = px + c * forward - s * lateral0
    wy = py + s * forward + c * lateral0
    return (wx - ox) * inv_res, -s * step * inv_res, (wy - oy) * inv_res, c * step * inv_res


@numba.njit(cache=True, inline="always")
def _clear_columns(lo, hi, d0, dd, first, last):
    # Narrow the columns [first, last] to those whose direction d0 + u * dd lies in (lo, hi).
    if dd > 0.0:
        first = max(first, math.floor((lo - d0) / dd) + 1.0)
        last = min(last, math.ceil((hi - d0) / dd) - 1.0)
    elif dd < 0.0:
        first = max(first, math.floor((hi - d0) / dd) + 1.0)
        last = min(last, math.ceil((lo - d0) / dd) - 1.0)
    elif not lo < d0 < hi:
        last = first - 1.0
    return first, last


@numba.njit(cache=True, inline="always")
def _backdrop_row(row_out, ray_row, c, s, cx, cy, backdrop):
    # DeepRacer's field is ringed by a wall taller than the camera: a ray that leaves the ground
    # meets the wall, or passes over its top and shows the sky. A ray (dx, dy, rise) clears the
    # east and west walls if rise * run > the wall's height above the camera, the run being
    # (edge - cx) / dx: that is, if dx lies strictly between -rise * (cx - x0) / height and
    # rise * (x1 - cx) / height. The world direction is linear in the column, so along a row
    # each axis keeps one interval of columns: the sky is their intersection, the rest wall.
    width = row_out.shape[0]
    wall, sky = np.uint8(backdrop[7]), np.uint8(backdrop[8])
    row_out[:] = wall
    x0, y0, x1, y1, height = backdrop[0], backdrop[1], backdrop[2], backdrop[3], backdrop[4]
    if not (x0 < cx < x1 and y0 < cy < y1):
        return  # a camera outside the field sees the wall's outside
    ahead, scale = ray_row[0], ray_row[1] / height
    first, last = 0.0, width - 1.0
    first, last = _clear_columns(
        -scale * (cx - x0), scale * (x1 - cx),
        c * ahead + s * backdrop[9], s * backdrop[10], first, last,
    )  # fmt: skip
    first, last = _clear_columns(
        -scale * (cy - y0), scale * (y1 - cy),
        s * ahead - c * backdrop[9], -c * backdrop[10], first, last,
    )  # fmt: skip
    if first <= last:
        row_out[np.int64(first) : np.int64(last) + 1] = sky


@numba.njit(cache=True, parallel=True, fastmath=False)
def _render_kernel(  # noqa: C901
    x, y, yaw, forward, lateral0, lateral_step, subrows, ground_subrows, level, rays, backdrop,
    texels, level_offsets, level_shapes, inv_res, ox, oy, out,
):  # fmt: skip
    """Fill ``out`` (N, H, W, 1) uint8; one work item is a band of image rows of one car."""
    n_cars, height, width = out.shape[0], out.shape[1], out.shape[2]
    bands = (height + _ROWS_PER_JOB - 1) // _ROWS_PER_JOB
    for job in numba.prange(n_cars * bands):
        i = job // bands
        v_start = (job % bands) * _ROWS_PER_JOB
        c = math.cos(yaw[i])
        s = math.sin(yaw[i])
        cx = x[i] + c * backdrop[5] - s * backdrop[6]
        cy = y[i] + s * backdrop[5] + c * backdrop[6]
        for v in range(v_start, min(v_start + _ROWS_PER_JOB, height)):
            ng = ground_subrows[v]
            n = subrows[v]
            row_out = out[i, v, :, 0]
            if ng == 0:
                _backdrop_row(row_out, rays[v], c, s, cx, cy, backdrop)
                continue
            lv = level[v]
            inv = inv_res[lv]
            offset = level_offsets[lv]
            lh = level_shapes[lv, 0]
            lw = level_shapes[lv, 1]
            shift = 0 if n == 1 else (1 if n == 2 else 2)
            # Sub-rows above the horizon (or beyond max_distance) add the backdrop's shade, kept
            # in the output row meanwhile; rows wholly on the ground, nearly all, skip it.
            sky_weight = n - ng
            if sky_weight:
                _backdrop_row(row_out, rays[v], c, s, cx, cy, backdrop)
            half = n >> 1
            a0, b0, c0, d0 = _coefficients(
                x[i], y[i], c, s, forward[v, 0], lateral0[v, 0], lateral_step[v, 0], inv, ox, oy
            )
            if ng == 1:
                for u in range(width):
                    tap0 = _nearest(a0 + u * b0, c0 + u * d0, texels, offset, lh, lw)
                    back = sky_weight * row_out[u] if sky_weight else 0
                    row_out[u] = (back + half + tap0) >> shift
                continue
            a1, b1, c1, d1 = _coefficients(
                x[i], y[i], c, s, forward[v, 1], lateral0[v, 1], lateral_step[v, 1], inv, ox, oy
            )
            if ng == 2:
                for u in range(width):
                    tap0 = _nearest(a0 + u * b0, c0 + u * d0, texels, offset, lh, lw)
                    tap1 = _nearest(a1 + u * b1, c1 + u * d1, texels, offset, lh, lw)
                    back = sky_weight * row_out[u] if sky_weight else 0
                    row_out[u] = (back + half + tap0 + tap1) >> shift
                continue
            a2, b2, c2, d2 = _coefficients(
                x[i], y[i], c, s, forward[v, 2], lateral0[v, 2], lateral_step[v, 2], inv, ox, oy
            )
            # Three ground sub-rows happen only where a row straddles the horizon; the fourth
            # then repeats the third with zero weight rather than adding a fourth loop.
            k3 = 3 if ng == 4 else 2
            w3 = 1 if ng == 4 else 0
            a3, b3, c3, d3 = _coefficients(
                x[i], y[i], c, s, forward[v, k3], lateral0[v, k3], lateral_step[v, k3], inv, ox, oy
            )
            for u in range(width):
                tap0 = _nearest(a0 + u * b0, c0 + u * d0, texels, offset, lh, lw)
                tap1 = _nearest(a1 + u * b1, c1 + u * d1, texels, offset, lh, lw)
                tap2 = _nearest(a2 + u * b2, c2 + u * d2, texels, offset, lh, lw)
                tap3 = _nearest(a3 + u * b3, c3 + u * d3, texels, offset, lh, lw)
                back = sky_weight * row_out[u] if sky_weight else 0
                row_out[u] = (back + half + tap0 + tap1 + tap2 + w3 * tap3) >> shift
