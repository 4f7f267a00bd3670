"""How close racer's camera looks to DeepRacer's: grey levels per region of the image.

A region is what the camera sees at a pixel: the wall round the field (and the dark void above
it), the sky over the wall, the road, the centre-line dashes, the white borders, or the field.
For each region this module gives the median grey level of its pixels and their spread (the
texture noise), for two kinds of frame:

- a real DeepRacer frame: a 640x480 RGB render of the simulator's camera. It is reduced as the car
  reduces it (PIL bilinear to 160x120, then luma Y = 0.299 R + 0.587 G + 0.114 B, SPEC 4.2), and
  its regions are told apart by colour at full size (orange dashes, white borders, green field,
  blue-grey road; above the horizon light grey is sky and the rest wall, as is all near black);
- a racer frame: a pose on a track rendered by `racer.sensors.camera.Camera`. Its regions come
  from geometry alone (shapely distances from each pixel's ground point to the road's edges and
  the centre line; for pixels that miss the ground, whether the ray clears the wall), never from
  the grey levels being measured.

In both, a pixel counts only when its whole footprint lies in one region (a 12x12 source window
for the real frames; for racer's, the ground distance to the region's edge must exceed the
pixel's ground footprint), so edges and far, blurred lines do not mix two levels.
``scripts/bench_camera.py`` prints the two side by side; ``tests/sensors/test_camera_levels.py``
holds racer to the real frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from racer.errors import RacerError
from racer.sensors.camera import Camera
from racer.sensors.texture import TextureStyle
from racer.track import TrackGeometry

LabelArray = npt.NDArray[np.int8]
ByteArray = npt.NDArray[np.uint8]

UNKNOWN, WALL, SKY, ROAD, CENTRE, BORDER, FIELD = range(7)
#: Region names by label (label 0, a pixel of mixed or unknown region, is left out).
REGIONS = {WALL: "wall", SKY: "sky", ROAD: "road", CENTRE: "centre", BORDER: "border",
           FIELD: "field"}  # fmt: skip
#: (height, width) [px] of the car's observation, and the factor from DeepRacer's 640x480 render.
OBSERVATION_SHAPE = (120, 160)
_RENDER_FACTOR = 4
#: A reduced pixel is pure when this many source pixels on each side (beyond its own 4x4) are of
#: its region too: PIL's bilinear reduction by 4 reads 8 source pixels across per output pixel.
_REACH = 4
#: Image rows [px of the 160x120 image] whose road pixels measure the texture noise: the bottom
#: quarter, where the asphalt's grain is still resolved (farther rows average it away).
NEAR_ROWS = slice(90, 120)


@dataclass(frozen=True)
class RegionLevel:
    """Grey levels of one region's pure pixels.

    Attributes:
        median: Median grey level (0..255).
        std: Standard deviation of the grey levels (the region's texture noise).
        count: Number of pixels.
    """

    median: float
    std: float
    count: int


def _luma(rgb: npt.NDArray[np.uint8]) -> ByteArray:
    """Rounded ITU-R 601 luma of an (H, W, 3) uint8 image, as PIL's ``convert("L")``."""
    weights = np.array([299, 587, 114], dtype=np.int64)
    return ((rgb.astype(np.int64) @ weights + 500) // 1000).astype(np.uint8)


def read_deepracer_frame(path: str | Path) -> tuple[ByteArray, ByteArray]:
    """Read a real frame; return its full-size RGB (480, 640, 3) and the car's (120, 160) grey.

    Raises:
        RacerError: If the file is not a 640x480 image.
    """
    from PIL import Image  # Pillow comes with matplotlib; only the lab reads PNG files.

    with Image.open(path) as image:
        rgb_image = image.convert("RGB")
        if rgb_image.size != (640, 480):
            raise RacerError(f"{path}: expected a 640x480 DeepRacer frame, got {rgb_image.size}")
        small = rgb_image.resize(OBSERVATION_SHAPE[::-1], Image.Resampling.BILINEAR)
        return np.asarray(rgb_image), _luma(np.asarray(small))


def label_deepracer_frame(rgb: npt.NDArray[np.uint8], horizon_row: float) -> LabelArray:
    """Regions of a real 640x480 frame by colour, (480, 640) int8 labels (0 = none).

    Args:
        rgb: The frame, (480, 640, 3) uint8.
        horizon_row: Row coordinate of the horizon in the 160x120 image [px]; all above it is
            backdrop (``Camera.horizon_row``).
    """
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    high, low = rgb.max(axis=-1).astype(np.int64), rgb.min(axis=-1).astype(np.int64)
    rows = np.arange(rgb.shape[0])[:, None]
    above = rows < horizon_row * _RENDER_FACTOR
    grey = (low > 140) & (high - low < 40)
    labels = np.zeros(rgb.shape[:2], dtype=np.int8)
    labels[(b > r + 10) & (high < 140)] = ROAD
    labels[(r > 130) & (b < 60) & (r - g > 40)] = CENTRE
    labels[grey] = BORDER
    labels[(g > r + 15) & (g > b + 10) & (g > 90)] = FIELD
    # The wall round the field is dark teal or black (2-24 luma) as its faces meet the light;
    # over it, Gazebo's light grey background.
    labels[above | (high < 42)] = WALL
    labels[above & grey] = SKY
    return labels


def reduce_labels(labels: LabelArray) -> LabelArray:
    """Labels of the 160x120 pixels whose source window lies in one region, else 0."""
    from numpy.lib.stride_tricks import sliding_window_view

    size = _RENDER_FACTOR + 2 * _REACH
    padded = np.pad(labels, _REACH, mode="edge")
    windows = sliding_window_view(padded, (size, size))[::_RENDER_FACTOR, ::_RENDER_FACTOR]
    windows = windows[: OBSERVATION_SHAPE[0], : OBSERVATION_SHAPE[1]]
    pure = windows.min(axis=(-2, -1)) == windows.max(axis=(-2, -1))
    return np.where(pure, windows[..., 0, 0], UNKNOWN).astype(np.int8)


def deepracer_frame_regions(path: str | Path, horizon_row: float) -> tuple[ByteArray, LabelArray]:
    """A real frame's (120, 160) grey observation and its (120, 160) pure-region labels."""
    rgb, grey = read_deepracer_frame(path)
    return grey, reduce_labels(label_deepracer_frame(rgb, horizon_row))


def _pixel_footprint(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ground spacing [m] between each pixel's ground point and its neighbours', (H, W)."""
    down = np.full(points.shape[:2], np.nan)
    across = np.full(points.shape[:2], np.nan)
    down[:-1] = np.hypot(*np.moveaxis(points[1:] - points[:-1], -1, 0))
    down[-1] = down[-2]
    across[:, :-1] = np.hypot(*np.moveaxis(points[:, 1:] - points[:, :-1], -1, 0))
    across[:, -1] = across[:, -2]
    # Above a row's lower neighbour the spacing is that of the row above it: take both.
    up = np.vstack([down[:1], down[:-1]])
    return np.fmax(np.fmax(down, up), across)


def label_racer_frame(
    camera: Camera,
    geometry: TrackGeometry,
    pose: tuple[float, float, float],
    style: TextureStyle,
) -> LabelArray:
    """Regions of racer's frame at ``pose`` = (x [m], y [m], yaw [rad]), from geometry alone.

    Returns:
        (H, W) int8 labels; 0 where a pixel's footprint reaches across a region's edge.
    """
    import shapely  # a racer dependency; the lab measures with it, independently of the texture

    x, y, yaw = pose
    forward, left = camera.ground_points[..., 0], camera.ground_points[..., 1]
    c, s = np.cos(yaw), np.sin(yaw)
    over_wall = _over_the_wall(camera, pose)
    world = np.stack([x + c * forward - s * left, y + s * forward + c * left], axis=-1)
    texel = camera.texture.resolution * 2.0 ** camera.mip_levels[:, None]
    guard = np.fmax(_pixel_footprint(world), texel) + 0.002
    sky = np.isnan(world[..., 0])
    px, py = np.nan_to_num(world[..., 0]), np.nan_to_num(world[..., 1])
    if geometry.closed:
        road = shapely.Polygon(geometry.outer, holes=[geometry.inner])
    else:
        road = shapely.Polygon(np.concatenate([geometry.inner, geometry.outer[::-1]]))
    inside = shapely.contains_xy(road, px, py) & ~sky
    # Distances only where the ground is seen, arc lengths only near the centre line: the
    # shapely queries are most of the time spent here.
    seen = ~sky
    points = shapely.points(px[seen], py[seen])
    edge, to_centre = np.full(sky.shape, np.inf), np.full(sky.shape, np.inf)
    edge[seen] = shapely.distance(road.boundary, points)
    centre_line = shapely.LineString(geometry.centre)
    to_centre[seen] = shapely.distance(centre_line, points)
    near = to_centre < 0.5 * style.centre_line_width
    in_dash = np.zeros(sky.shape, dtype=bool)
    if style.centre_gap == 0:
        in_dash[near] = True
    else:
        phase = np.mod(
            shapely.line_locate_point(centre_line, shapely.points(px[near], py[near])),
            style.centre_dash + style.centre_gap,
        )
        in_dash[near] = (phase > guard[near]) & (phase < style.centre_dash - guard[near])
    painted_border = inside & (edge > guard) & (edge < style.border_line_width - guard)
    inner_road = inside & (edge > style.border_line_width + guard)
    all_xy = np.concatenate([geometry.centre, geometry.inner, geometry.outer])
    low, high = all_xy.min(axis=0) - style.margin, all_xy.max(axis=0) + style.margin
    beyond = np.maximum(
        np.maximum(low[0] - px, px - high[0]), np.maximum(low[1] - py, py - high[1])
    )
    labels = np.zeros(sky.shape, dtype=np.int8)
    labels[~inside & ~sky & (edge > guard) & (beyond < -guard)] = FIELD
    labels[painted_border] = BORDER
    labels[inner_road & (to_centre > 0.5 * style.centre_line_width + guard)] = ROAD
    labels[inner_road & (to_centre < 0.5 * style.centre_line_width - guard) & in_dash] = CENTRE
    labels[(beyond > guard) | (sky & (over_wall < 0))] = WALL
    labels[sky & (over_wall > 0)] = SKY
    return labels


def _over_the_wall(camera: Camera, pose: tuple[float, float, float]) -> npt.NDArray[np.float64]:
    """Per pixel, how far [m] its ray passes over the wall's top (< 0: it meets the wall).

    Where the ray's height at the wall is within 1.5 pixels' spread of the top, 0 (unknown).
    """
    x, y, yaw = pose
    cfg, texture = camera.config, camera.texture
    c, s = np.cos(yaw), np.sin(yaw)
    eye_x = x + c * cfg.mount_forward - s * cfg.mount_lateral
    eye_y = y + s * cfg.mount_forward + c * cfg.mount_lateral
    rays = camera.backdrop_rays
    dx = c * rays[..., 0] - s * rays[..., 1]
    dy = s * rays[..., 0] + c * rays[..., 1]
    x0, y0, x1, y1 = texture.field
    with np.errstate(divide="ignore"):
        run_x = np.where(dx > 0, (x1 - eye_x) / dx, (x0 - eye_x) / dx)
        run_y = np.where(dy > 0, (y1 - eye_y) / dy, (y0 - eye_y) / dy)
    run = np.fmin(np.where(run_x > 0, run_x, np.inf), np.where(run_y > 0, run_y, np.inf))
    over = cfg.mount_height + run * rays[..., 2] - texture.wall_height
    return np.where(np.abs(over) > 1.5 * run / cfg.focal_length, over, 0.0)


def region_levels(
    frames: Iterable[tuple[ByteArray, LabelArray]],
) -> dict[str, RegionLevel]:
    """Pooled grey levels per region over several (grey (H, W), labels (H, W)) frames.

    The road's ``std`` is that of its pixels in `NEAR_ROWS` (the texture's grain, which farther
    rows average away); every other region's is over all its pixels. Each frame's std is taken
    about that frame's own median, so frames of different brightness do not add spread.
    """
    values: dict[int, list[np.ndarray]] = {label: [] for label in REGIONS}
    spread: dict[int, list[np.ndarray]] = {label: [] for label in REGIONS}
    for grey, labels in frames:
        for label in REGIONS:
            mask = labels == label
            if label == ROAD:
                near = np.zeros_like(mask)
                near[NEAR_ROWS] = True
                noise = grey[mask & near].astype(np.float64)
            else:
                noise = grey[mask].astype(np.float64)
            values[label].append(grey[mask].astype(np.float64))
            if noise.size:
                spread[label].append(noise - np.median(noise))
    levels = {}
    for label, name in REGIONS.items():
        pooled = np.concatenate(values[label])
        deviations = np.concatenate(spread[label]) if spread[label] else np.zeros(0)
        if pooled.size:
            std = float(np.sqrt(np.mean(deviations**2))) if deviations.size else 0.0
            levels[name] = RegionLevel(float(np.median(pooled)), std, int(pooled.size))
    return levels


def centreline_poses(geometry: TrackGeometry, count: int) -> list[tuple[float, float, float]]:
    """``count`` poses (x [m], y [m], yaw [rad]) spread along the centre line, facing along it."""
    centre = geometry.centre
    step = np.diff(centre, axis=0)
    keep = np.flatnonzero(np.hypot(step[:, 0], step[:, 1]) > 0)
    picks = keep[np.linspace(0, len(keep), count, endpoint=False).astype(int)]
    return [
        (float(centre[k, 0]), float(centre[k, 1]), float(np.arctan2(step[k, 1], step[k, 0])))
        for k in picks
    ]


def racer_frames(
    camera: Camera,
    geometry: TrackGeometry,
    poses: Sequence[tuple[float, float, float]],
    style: TextureStyle,
) -> list[tuple[ByteArray, LabelArray]]:
    """Render racer's camera at each pose; return (grey (H, W), labels (H, W)) per pose."""
    x, y, yaw = (np.array([pose[k] for pose in poses]) for k in range(3))
    out = np.zeros((len(poses), *camera.shape), dtype=np.uint8)
    camera.render(x, y, yaw, out)
    return [
        (out[i, :, :, 0], label_racer_frame(camera, geometry, pose, style))
        for i, pose in enumerate(poses)
    ]
