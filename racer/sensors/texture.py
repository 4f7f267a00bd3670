"""Top-down ground texture of a track, rasterised once per track for the camera.

The ground is flat, so the camera only needs a grey-level map of the floor seen from above: the
road between the borders, white border lines painted just inside the road edges, a dashed centre
line, the field around the road and, beyond the field, the wall that rings it (a wall taller than
the camera hides all ground behind it, so drawing it on the ground looks the same from the car).
This module draws a map of those materials with numpy alone (even-odd scanline fill for the road,
per-segment distance tests for the painted lines) at ``supersample`` times the resolution, turns
it into grey levels, box-filters it down (anti-aliased edges), adds each material's seeded grain
to the texels that lie wholly in it, and builds a mip pyramid by 2x2 averaging so that distant
pixels can sample a pre-filtered level instead of aliasing.

Texel ``[r, c]`` of level ``l`` covers world ``x`` in
``[origin_x + c * res_l, origin_x + (c + 1) * res_l)`` and ``y`` in
``[origin_y + r * res_l, origin_y + (r + 1) * res_l)`` with ``res_l = resolution * 2**l``: the row
index grows with +y (north). There is no screen flip here. A guard band of flat wall surrounds
the texture, so a lookup clamped to the texture's edge returns exactly the wall value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racer.errors import ConfigError, TrackError

FloatArray = npt.NDArray[np.float64]
ByteArray = npt.NDArray[np.uint8]


# Where the numbers come from. Line widths, dashes and the field: the simapp's track meshes
# (aws-deepracer-community/deepracer-simapp, bundle/meshes/reinvent/reinvent_base.dae and the
# meshes of the later tracks, e.g. 2022_summit_speedway_mini.dae, reInvent2019_track.dae): every
# track paints its white borders 3 in (0.0762 m) wide just inside the road's edges, and its centre
# line as 1 in (0.0254 m) wide dashes 2 in (0.0508 m) long every 4 in (0.1016 m); the field is a
# rectangle 0.914 m (reinvent_base) or 0.762 m (later tracks) beyond the road's bounding box,
# ringed by a 1 m wall. Grey levels of reinvent_base: the median luma of each region in the
# three real frames in ../shared/deepracer-camera/ (scripts/bench_camera.py prints them). Noise:
# the standard deviations that make racer's rendered regions as grainy as those frames' (the
# road's measured in the bottom quarter of the image, where the grain is resolved).
_BORDER_WIDTH = 0.0762
_CENTRE_WIDTH = 0.0254
_CENTRE_DASH = 0.0508
_CENTRE_GAP = 0.0508
_WALL = 14
"""Median luma of the wall round the field in the real frames (a flat teal texture on every
track; its faces render 2-24 as they face the light)."""
_WALL_HEIGHT = 1.0
"""Height of the wall round the field [m] (the simapp's wall mesh)."""
_SKY = 178
"""Luma above the wall: Gazebo's default background, grey 0.7 (177-178 in the real frames)."""


@dataclass(frozen=True)
class TextureStyle:
    """Grey levels, texture noise and sizes of the ground texture.

    The defaults are DeepRacer's reinvent_base track as its simulated camera shows it (ITU-R 601
    luma, as rl_coach converts to grey): a blue-grey textured asphalt, an orange dashed centre
    line, white borders, a green field, and the dark wall and backdrop beyond it. See
    `texture_style_for_track` for the look of the later tracks.
    """

    road: int = 53
    """Grey level of the asphalt (uint8); 52-55 in the real frames."""
    border_line: int = 212
    """Grey level of the white border lines (uint8); 210-221 in the real frames."""
    centre_line: int = 141
    """Grey level of the orange centre line (uint8); 139-147 in the real frames."""
    floor: int = 134
    """Grey level of the field around the road (uint8); 129-138 in the real frames."""
    wall: int = _WALL
    """Grey level of the wall round the field (uint8); drawn on the ground beyond the field too."""
    sky: int = _SKY
    """Grey level of the sky seen over the wall (uint8)."""
    wall_height: float = _WALL_HEIGHT
    """Height of the wall round the field [m]."""
    road_noise: float = 4.5
    """Standard deviation of the asphalt's grain [grey levels], per level-0 texel."""
    border_noise: float = 6.0
    """Standard deviation of the border lines' grain [grey levels], per level-0 texel."""
    floor_noise: float = 3.5
    """Standard deviation of the field's grain [grey levels], per level-0 texel; 0 is flat."""
    noise_seed: int = 0
    """Seed of the grain: the same style and track give the same texture."""
    border_line_width: float = _BORDER_WIDTH
    """Width of each border line, painted just inside the road edge [m]."""
    centre_line_width: float = _CENTRE_WIDTH
    """Width of the centre line, centred on the centre polyline [m]."""
    centre_dash: float = _CENTRE_DASH
    """Length of one centre-line dash along the centre line [m]."""
    centre_gap: float = _CENTRE_GAP
    """Gap between centre-line dashes [m]; 0 draws a solid line."""
    resolution: float = 0.005
    """Texel size of mip level 0 [m per texel]. The camera's bottom rows see about 1.5 mm per
    pixel, so 1 cm texels would show as 6-pixel blocks; 5 mm keeps them near 3 pixels."""
    supersample: int = 2
    """Level 0 is drawn at ``resolution / supersample`` and box-filtered: anti-aliased edges."""
    margin: float = 0.914
    """Field beyond the track's bounding box [m]; farther out is the wall."""
    mip_levels: int = 7
    """Number of mip levels (level l has texels of resolution * 2**l; 7 levels reach 0.32 m)."""

    def __post_init__(self) -> None:
        for name in ("road", "border_line", "centre_line", "floor", "wall", "sky"):
            value = getattr(self, name)
            if not 0 <= value <= 255:
                raise ConfigError(
                    f"TextureStyle.{name} must be a grey level in 0..255, got {value}"
                )
        positive = ("border_line_width", "centre_line_width", "centre_dash", "resolution",
                    "wall_height")  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"TextureStyle.{name} must be > 0 [m], got {getattr(self, name)}")
        if not (self.centre_gap >= 0 and self.margin >= 0):
            raise ConfigError("TextureStyle.centre_gap and margin must be >= 0 [m]")
        for name in ("road_noise", "border_noise", "floor_noise"):
            if not 0 <= getattr(self, name) <= 64:
                raise ConfigError(
                    f"TextureStyle.{name} must be in 0..64 grey levels, got {getattr(self, name)}"
                )
        if not 1 <= self.supersample <= 4:
            raise ConfigError(f"TextureStyle.supersample must be in 1..4, got {self.supersample}")
        if not 1 <= self.mip_levels <= 10:
            raise ConfigError(f"TextureStyle.mip_levels must be in 1..10, got {self.mip_levels}")


REINVENT_2018 = TextureStyle()
"""reinvent_base (2018): the defaults, measured on the real frames."""

DEEPRACER_2019 = TextureStyle(
    road=72,
    border_line=244,
    centre_line=169,
    floor=138,
    road_noise=6.1,
    border_noise=2.3,
    floor_noise=8.5,
    margin=0.762,
)
"""The texture set nearly every track since 2019 shares (a grey asphalt, a brighter orange and
white, a yellow-green field), with a 0.762 m field. Not measured on real frames: each level is the
texture's mean luma (road 62.9, centre 151.4, border 222.6, field 123.3) times the lighting gain
that reinvent_base's frames show for the same material (1.14, 1.11, 1.10, 1.12), each noise the
reinvent_base one scaled by the two textures' luma spread (road 8.3 vs 6.1, border 5.5 vs 14.2,
field 21.3 vs 8.8)."""

_REINVENT_2018_TRACKS = frozenset({"reinvent_base"})


def texture_style_for_track(name: str) -> TextureStyle:
    """The look of a DeepRacer track by name (its file stem): `REINVENT_2018` or `DEEPRACER_2019`.

    Only reinvent_base wears the 2018 textures; every other DeepRacer track, and racer's own
    tracks, take the set the later tracks share.
    """
    return REINVENT_2018 if name.lower() in _REINVENT_2018_TRACKS else DEEPRACER_2019


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
        floor: Grey level of the field around the road.
        wall: Grey level of the wall round the field, of the ground beyond it, and of every
            lookup outside the texture.
        sky: Grey level of the sky seen over the wall.
        field: The field's (x_min, y_min, x_max, y_max) [m]; the wall stands on its edges.
        wall_height: Height of the wall [m].
        texels: All levels concatenated row-major, uint8 (sum of H_l * W_l,) for the kernel.
        level_offsets: Index of each level's first texel in ``texels``, int64 (L,).
        level_shapes: (H_l, W_l) of each level, int64 (L, 2).
    """

    levels: tuple[ByteArray, ...]
    origin_x: float
    origin_y: float
    resolution: float
    floor: int
    wall: int
    sky: int
    field: tuple[float, float, float, float]
    wall_height: float
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


# Materials of the supersampled map; the style gives each one its grey level and grain.
_FIELD, _ROAD, _BORDER, _CENTRE, _WALL_MATERIAL = range(5)


def _draw_materials(
    lines: tuple[FloatArray, FloatArray, FloatArray],
    closed: bool,
    style: TextureStyle,
    shape: tuple[int, int],
    origin: tuple[float, float],
    field: tuple[FloatArray, FloatArray],
) -> ByteArray:
    """Map the track's materials at texel size ``resolution / supersample``, (H, W) uint8.

    ``lines`` = (centre, inner, outer) polylines [m]; ``field`` = the field's (low, high)
    corners [m], beyond which lies the wall.
    """
    centre, inner, outer = lines
    x0, y0 = origin
    res = style.resolution / style.supersample
    if closed:
        rings = [_close(outer), _close(inner)]
    else:
        rings = [_close(np.concatenate([inner, outer[::-1]]))]
    road = _fill_even_odd(rings, shape, x0, y0, res)
    material = np.where(road, np.uint8(_ROAD), np.uint8(_FIELD))
    frame = (x0, y0, res)
    for edge in (inner, outer):
        _paint_polyline(material, road, edge, style.border_line_width, _BORDER, frame)
    dash = (style.centre_dash, style.centre_gap)
    _paint_polyline(material, road, centre, style.centre_line_width / 2, _CENTRE, frame, dash)
    low, high = field
    column_x = x0 + (np.arange(shape[1]) + 0.5) * res
    row_y = y0 + (np.arange(shape[0]) + 0.5) * res
    material[:, (column_x < low[0]) | (column_x > high[0])] = _WALL_MATERIAL
    material[(row_y < low[1]) | (row_y > high[1]), :] = _WALL_MATERIAL
    return material


def _add_grain(image: ByteArray, material: ByteArray, style: TextureStyle) -> None:
    """Add each material's seeded Gaussian grain to the texels of ``image`` wholly in it.

    ``material`` is the supersampled map; texels that straddle two materials (anti-aliased
    edges) keep their blend, so the grain never smears one material's level into another.
    """
    sigma = np.array(
        [style.floor_noise, style.road_noise, style.border_noise, 0.0, 0.0], dtype=np.float32
    )
    if not np.any(sigma > 0):
        return
    ss = style.supersample
    low = material[::ss, ::ss].copy()
    high = low.copy()
    for i in range(ss):
        for j in range(ss):
            np.minimum(low, material[i::ss, j::ss], out=low)
            np.maximum(high, material[i::ss, j::ss], out=high)
    spread = np.where(low == high, sigma[low], np.float32(0.0))
    grain = np.random.default_rng(style.noise_seed).standard_normal(image.shape, np.float32)
    grain *= spread
    grain += image
    np.clip(np.rint(grain), 0, 255, out=grain)
    image[...] = grain


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
        The texture, covering the bounding box of all three polylines plus ``style.margin`` (the
        field) and a guard band of flat wall, with ``style.mip_levels`` levels. Its origin is a
        multiple of the coarsest texel size. Consecutive duplicate points are tolerated.

    Raises:
        TrackError: If a polyline is not an (M, 2) array of finite numbers with M >= 2.
    """
    centre_xy = _check_polyline("centre", centre)
    inner_xy = _check_polyline("inner", inner)
    outer_xy = _check_polyline("outer", outer)
    res = style.resolution
    all_xy = np.concatenate([centre_xy, inner_xy, outer_xy])
    field = (all_xy.min(axis=0) - style.margin, all_xy.max(axis=0) + style.margin)
    # The origin sits on a multiple of the coarsest texel, so every level's texel grid is
    # anchored at world multiples of its texel size (a track symmetric about an axis through the
    # origin gets a symmetric texture at every level). A guard band of at least one coarsest
    # texel beyond the field is all wall, so each level's outermost texels are exactly the wall
    # value and clamped lookups outside the texture return it. The size is a whole number of
    # coarsest texels.
    block = 2 ** (style.mip_levels - 1)
    cell = block * res
    x0, y0 = (np.floor(field[0] / cell) - 1.0) * cell
    extent = field[1] + cell - (x0, y0)
    width, height = (int(block * math.ceil(e / cell)) for e in extent)
    ss = style.supersample
    material = _draw_materials(
        (centre_xy, inner_xy, outer_xy), closed, style, (height * ss, width * ss), (x0, y0), field
    )
    grey = np.array(
        [style.floor, style.road, style.border_line, style.centre_line, style.wall], dtype=np.uint8
    )
    image = _box_down(grey[material], ss)
    _add_grain(image, material, style)

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
        wall=int(style.wall),
        sky=int(style.sky),
        field=(*(float(v) for v in field[0]), *(float(v) for v in field[1])),
        wall_height=float(style.wall_height),
        texels=texels,
        level_offsets=offsets,
        level_shapes=shapes,
    )


def _close(ring: FloatArray) -> FloatArray:
    """Return the ring with its first point appended if it is not already closed."""
    if np.array_equal(ring[0], ring[-1]):
        return ring
    return np.concatenate([ring, ring[:1]])
