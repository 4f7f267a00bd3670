"""Top-down ground texture of a track, rasterised once per track for the camera.

The ground is flat, so the camera only needs a grey-level map of the floor seen from above: dark
road between the borders, white border lines painted just inside the road edges, a dashed centre
line, and the floor beyond. This module draws that map with numpy alone (even-odd scanline fill
for the road, per-segment distance tests for the painted lines) at ``supersample`` times the
resolution, box-filters it down (anti-aliased edges), and builds a mip pyramid by 2x2 averaging so
that distant pixels can sample a pre-filtered level instead of aliasing.

Texel ``[r, c]`` of level ``l`` covers world ``x`` in
``[origin_x + c * res_l, origin_x + (c + 1) * res_l)`` and ``y`` in
``[origin_y + r * res_l, origin_y + (r + 1) * res_l)`` with ``res_l = resolution * 2**l``: the row
index grows with +y (north). There is no screen flip here. A guard band of flat floor surrounds
the texture, so a lookup clamped to the texture's edge returns exactly the floor value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racer.errors import ConfigError, TrackError

FloatArray = npt.NDArray[np.float64]
ByteArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TextureStyle:
    """Grey levels and sizes of the ground texture.

    The defaults approximate the luminance (ITU-R 601 Y, as rl_coach's RGB->grey) of a DeepRacer
    simulator frame: black asphalt, white borders, a yellow dashed centre line, a mid-grey floor
    and a light backdrop.
    """

    road: int = 45
    """Grey level of the asphalt (uint8)."""
    border_line: int = 235
    """Grey level of the white border lines (uint8)."""
    centre_line: int = 190
    """Grey level of the yellow centre line (uint8); Y of (255, 200, 0) is about 194."""
    floor: int = 105
    """Grey level of the floor beyond the track (uint8)."""
    sky: int = 175
    """Grey level of the backdrop above the horizon (uint8)."""
    border_line_width: float = 0.05
    """Width of each border line, painted just inside the road edge [m]."""
    centre_line_width: float = 0.05
    """Width of the centre line, centred on the centre polyline [m]."""
    centre_dash: float = 0.15
    """Length of one centre-line dash along the centre line [m]."""
    centre_gap: float = 0.15
    """Gap between centre-line dashes [m]; 0 draws a solid line."""
    floor_noise: int = 6
    """Amplitude of the deterministic floor texture (grey levels); 0 for a flat floor."""
    resolution: float = 0.005
    """Texel size of mip level 0 [m per texel]. The camera's bottom rows see about 1.5 mm per
    pixel, so 1 cm texels would show as 6-pixel blocks; 5 mm keeps them near 3 pixels."""
    supersample: int = 2
    """Level 0 is drawn at ``resolution / supersample`` and box-filtered: anti-aliased edges."""
    margin: float = 1.0
    """Floor drawn around the track's bounding box [m]."""
    mip_levels: int = 7
    """Number of mip levels (level l has texels of resolution * 2**l; 7 levels reach 0.32 m)."""

    def __post_init__(self) -> None:
        for name in ("road", "border_line", "centre_line", "floor", "sky"):
            value = getattr(self, name)
            if not 0 <= value <= 255:
                raise ConfigError(
                    f"TextureStyle.{name} must be a grey level in 0..255, got {value}"
                )
        positive = ("border_line_width", "centre_line_width", "centre_dash", "resolution")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"TextureStyle.{name} must be > 0 [m], got {getattr(self, name)}")
        if not (self.centre_gap >= 0 and self.margin >= 0):
            raise ConfigError("TextureStyle.centre_gap and margin must be >= 0 [m]")
        if not 0 <= self.floor_noise <= 64:
            raise ConfigError(f"TextureStyle.floor_noise must be in 0..64, got {self.floor_noise}")
        if not 1 <= self.supersample <= 4:
            raise ConfigError(f"TextureStyle.supersample must be in 1..4, got {self.supersample}")
        if not 1 <= self.mip_levels <= 10:
            raise ConfigError(f"TextureStyle.mip_levels must be in 1..10, got {self.mip_levels}")


@dataclass(frozen=True, eq=False)
class GroundTexture:
    """Top-down grey texture of a track and its mip levels (immutable; arrays are read-only).

    Texel ``[r, c]`` of level 0 covers world x in ``[origin_x + c*res, origin_x + (c+1)*res)`` and
    y in ``[origin_y + r*res, origin_y + (r+1)*res)``; the row index grows with +y.

    Attributes:
        levels: Mip levels, uint8 arrays (H_l, W_l); level l has texels of ``resolution * 2**l``.
        origin_x: World x of the texture's lower-left corner [m].
        origin_y: World y of the texture's lower-left corner [m].
        resolution: Texel size of level 0 [m].
        floor: Grey level of the floor, used outside the texture.
        sky: Grey level of the backdrop above the horizon.
        texels: All levels concatenated row-major, uint8 (sum of H_l * W_l,) for the kernel.
        level_offsets: Index of each level's first texel in ``texels``, int64 (L,).
        level_shapes: (H_l, W_l) of each level, int64 (L, 2).
    """

    levels: tuple[ByteArray, ...]
    origin_x: float
    origin_y: float
    resolution: float
    floor: int
    sky: int
    texels: ByteArray
    level_offsets: npt.NDArray[np.int64]
    level_shapes: npt.NDArray[np.int64]

    def world_to_texel(self, x: float, y: float, level: int = 0) -> tuple[int, int]:
        """Return the (row, column) of the texel of ``level`` that covers world point (x, y) [m]."""
        res = self.resolution * 2.0**level
        return (
            math.floor((y - self.origin_y) / res),
            math.floor((x - self.origin_x) / res),
        )


def _check_polyline(name: str, points: npt.ArrayLike) -> FloatArray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < 2:
        raise TrackError(f"{name} must be an (M, 2) polyline with M >= 2, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise TrackError(f"{name} contains NaN or infinite coordinates")
    return array


def _fill_even_odd(
    rings: list[FloatArray], shape: tuple[int, int], x0: float, y0: float, res: float
) -> npt.NDArray[np.bool_]:
    """Even-odd scanline fill of closed rings, sampled at texel centres; returns (H, W) bool."""
    height, width = shape
    starts = np.concatenate([ring[:-1] for ring in rings])
    ends = np.concatenate([ring[1:] for ring in rings])
    # Half-open rule: an edge crosses the row if exactly one endpoint is at or below it, which
    # skips horizontal and zero-length edges and counts shared vertices once.
    row_y = y0 + (np.arange(height) + 0.5) * res
    low = np.minimum(starts[:, 1], ends[:, 1])
    high = np.maximum(starts[:, 1], ends[:, 1])
    crosses = (low[None, :] <= row_y[:, None]) & (row_y[:, None] < high[None, :])
    rows, edges = np.nonzero(crosses)
    a, b = starts[edges], ends[edges]
    t = (row_y[rows] - a[:, 1]) / (b[:, 1] - a[:, 1])
    cross_x = a[:, 0] + t * (b[:, 0] - a[:, 0])
    # A texel is inside when an odd number of crossings lie left of its centre: toggle the parity
    # at the first column whose centre is right of each crossing, then take a running parity.
    first_col = np.clip(np.floor((cross_x - x0) / res - 0.5).astype(np.int64) + 1, 0, width)
    # uint8 sums wrap modulo 256, which keeps the parity and moves a quarter of the bytes.
    toggles = np.zeros((height, width + 1), dtype=np.uint8)
    np.add.at(toggles, (rows, first_col), 1)
    return (np.cumsum(toggles[:, :width], axis=1, dtype=np.uint8) & 1).view(bool)


def _paint_polyline(
    image: ByteArray,
    road: npt.NDArray[np.bool_],
    line: FloatArray,
    radius: float,
    value: int,
    origin: tuple[float, float, float],
    dash: tuple[float, float] | None = None,
) -> None:
    """Paint ``value`` on road texels whose centre lies within ``radius`` [m] of the polyline.

    ``origin`` = (x0, y0, texel size) [m]. ``dash`` = (dash length, gap) [m] keeps only points
    whose arc length along the polyline falls in a dash. Zero-length segments are skipped.
    """
    x0, y0, res = origin
    height, width = image.shape
    seg = np.diff(line, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    reach = radius + res
    # Long diagonal segments are cut into short pieces: each piece's bounding box stays close to
    # the painted band instead of growing with the square of the segment length.
    piece = max(0.1, 6.0 * radius)
    for k in np.nonzero(lengths > 0)[0]:
        count = math.ceil(lengths[k] / piece)
        dx, dy, length = seg[k, 0] / count, seg[k, 1] / count, lengths[k] / count
        for j in range(count):
            ax, ay = line[k, 0] + j * dx, line[k, 1] + j * dy
            c0 = max(int((min(ax, ax + dx) - reach - x0) / res), 0)
            c1 = min(int((max(ax, ax + dx) + reach - x0) / res) + 1, width)
            r0 = max(int((min(ay, ay + dy) - reach - y0) / res), 0)
            r1 = min(int((max(ay, ay + dy) + reach - y0) / res) + 1, height)
            if c0 >= c1 or r0 >= r1:
                continue
            px = (x0 - ax + 0.5 * res) + np.arange(c0, c1) * res
            py = (y0 - ay + 0.5 * res) + np.arange(r0, r1)[:, None] * res
            along = (px * dx + py * dy) * (1.0 / (length * length))
            t = np.minimum(np.maximum(along, 0.0), 1.0)
            hit = (px - t * dx) ** 2 + (py - t * dy) ** 2 <= radius * radius
            if dash is not None and dash[1] > 0:
                # The unclamped position keeps dash ends square: a texel past a segment's end
                # belongs to the dash pattern there, not to the end point's (round caps).
                hit &= np.mod(arc[k] + (j + along) * length, dash[0] + dash[1]) < dash[0]
            hit &= road[r0:r1, c0:c1]
            image[r0:r1, c0:c1][hit] = value


def _draw_track(
    centre: FloatArray,
    inner: FloatArray,
    outer: FloatArray,
    closed: bool,
    style: TextureStyle,
    shape: tuple[int, int],
    x0: float,
    y0: float,
) -> tuple[ByteArray, npt.NDArray[np.bool_]]:
    """Draw the track at texel size ``resolution / supersample``; return (image, road mask)."""
    res = style.resolution / style.supersample
    if closed:
        rings = [_close(outer), _close(inner)]
    else:
        rings = [_close(np.concatenate([inner, outer[::-1]]))]
    road = _fill_even_odd(rings, shape, x0, y0, res)
    image = np.where(road, np.uint8(style.road), np.uint8(style.floor))
    origin = (x0, y0, res)
    for edge in (inner, outer):
        _paint_polyline(image, road, edge, style.border_line_width, style.border_line, origin)
    dash = (style.centre_dash, style.centre_gap)
    _paint_polyline(
        image, road, centre, style.centre_line_width / 2, style.centre_line, origin, dash
    )
    return image, road


def _block_sum(image: ByteArray, factor: int) -> npt.NDArray[np.uint16]:
    """Return the sum of each ``factor`` x ``factor`` block of a uint8 image."""
    # Strided slice sums are several times faster than reshape(...).sum(axis=(1, 3)).
    blocks = np.zeros((image.shape[0] // factor, image.shape[1] // factor), dtype=np.uint16)
    for i in range(factor):
        for j in range(factor):
            blocks += image[i::factor, j::factor]
    return blocks


def _box_down(image: ByteArray, factor: int) -> ByteArray:
    """Return the rounded mean of each ``factor`` x ``factor`` block of a uint8 image."""
    if factor == 1:
        return image
    blocks = _block_sum(image, factor)
    return ((blocks + factor * factor // 2) // (factor * factor)).astype(np.uint8)


def _mip_pyramid(level0: ByteArray, count: int) -> tuple[ByteArray, ...]:
    """Return ``count`` levels, each the rounded 2x2 mean of the previous (level 0 included)."""
    levels = [level0]
    for _ in range(count - 1):
        levels.append(_box_down(levels[-1], 2))
    return tuple(levels)


def render_ground_texture(
    centre: npt.ArrayLike,
    inner: npt.ArrayLike,
    outer: npt.ArrayLike,
    closed: bool,
    style: TextureStyle = TextureStyle(),
) -> GroundTexture:
    """Rasterise a track to a top-down grey texture with mip levels.

    Args:
        centre: Centre line, (M, 2) float64 [m], in driving order.
        inner: Inner border, (M, 2) float64 [m]: the inside of the loop for a closed track, the
            left of the driving direction for an open one.
        outer: Outer border, (M, 2) float64 [m].
        closed: True for a loop (the last point equals the first, as in DeepRacer files).
            An open track's road is the polygon ``inner + reversed(outer)``.
        style: Grey levels and sizes.

    Returns:
        The texture, covering the bounding box of all three polylines plus ``style.margin`` and
        a guard band of flat floor, with ``style.mip_levels`` levels. Its origin is a multiple
        of the coarsest texel size. Consecutive duplicate points are tolerated.

    Raises:
        TrackError: If a polyline is not an (M, 2) array of finite numbers with M >= 2.
    """
    centre_xy = _check_polyline("centre", centre)
    inner_xy = _check_polyline("inner", inner)
    outer_xy = _check_polyline("outer", outer)
    res = style.resolution
    all_xy = np.concatenate([centre_xy, inner_xy, outer_xy])
    # The origin sits on a multiple of the coarsest texel, so every level's texel grid is
    # anchored at world multiples of its texel size (a track symmetric about an axis through the
    # origin gets a symmetric texture at every level). A guard band of one coarsest texel of flat
    # floor on every side makes each level's outermost texels exactly the floor value, so clamped
    # lookups outside the texture return floor. The size is a whole number of coarsest texels.
    block = 2 ** (style.mip_levels - 1)
    cell = block * res
    x0, y0 = (np.floor((all_xy.min(axis=0) - style.margin) / cell) - 1.0) * cell
    extent = all_xy.max(axis=0) + style.margin + cell - (x0, y0)
    width, height = (int(block * math.ceil(e / cell)) for e in extent)
    ss = style.supersample
    fine_shape = (height * ss, width * ss)
    fine, road = _draw_track(centre_xy, inner_xy, outer_xy, closed, style, fine_shape, x0, y0)
    image = _box_down(fine, ss)
    if style.floor_noise > 0:
        # Texels entirely off the road get a faint deterministic grain.
        pure_floor = _block_sum(road.view(np.uint8), ss) == 0
        low = max(style.floor - style.floor_noise, 0)
        high = min(style.floor + style.floor_noise, 255)
        grain = np.random.default_rng(0).integers(low, high + 1, size=image.shape, dtype=np.uint8)
        np.copyto(image, grain, where=pure_floor)
        for band in (image[:block], image[-block:], image[:, :block], image[:, -block:]):
            band[...] = style.floor

    levels = _mip_pyramid(image, style.mip_levels)
    for level in levels:
        level.setflags(write=False)
    shapes = np.array([level.shape for level in levels], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])[:-1]]).astype(np.int64)
    texels = np.concatenate([level.ravel() for level in levels])
    for array in (texels, offsets, shapes):
        array.setflags(write=False)
    return GroundTexture(
        levels=levels,
        origin_x=float(x0),
        origin_y=float(y0),
        resolution=float(res),
        floor=int(style.floor),
        sky=int(style.sky),
        texels=texels,
        level_offsets=offsets,
        level_shapes=shapes,
    )


def _close(ring: FloatArray) -> FloatArray:
    """Return the ring with its first point appended if it is not already closed."""
    if np.array_equal(ring[0], ring[-1]):
        return ring
    return np.concatenate([ring, ring[:1]])
