"""racer's camera beside DeepRacer's: grey level per image region, and the render time.

Measures the real simulator frames in ../shared/deepracer-camera/ (reduced to 160x120 grey as
the car does) and racer's camera on the same track (reinvent_base), the car on the centre line
at evenly spaced points, with `racer.lab.camera_levels`; prints per region (backdrop, road,
centre dashes, borders, field) the median grey level and its spread (for the road, in the bottom
quarter of the image: the asphalt's grain), then racer's render time per car-frame.

    python scripts/bench_camera.py [--track PATH] [--frames DIR] [--poses 12]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from racer.lab.camera_levels import (
    REGIONS,
    RegionLevel,
    centreline_poses,
    deepracer_frame_regions,
    racer_frames,
    region_levels,
)
from racer.sensors.camera import Camera, CameraConfig
from racer.sensors.texture import render_ground_texture, texture_style_for_track
from racer.track import load_track

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


WIDTH = 19
"""Characters per table cell."""


def row(name: str, levels: list[dict[str, RegionLevel]]) -> str:
    """One table row: a region's median (std) and pixel count in each set of levels."""
    cells = []
    for level in levels:
        value = level.get(name)
        text = "-" if value is None else f"{value.median:3.0f} ({value.std:4.1f}) {value.count}"
        cells.append(text)
    return f"| {name:10s} | " + " | ".join(f"{cell:>{WIDTH}s}" for cell in cells) + " |"


def render_time(camera: Camera, poses: list[tuple[float, float, float]], n: int) -> float:
    """Best mean render time per car-frame [s] of N = n cars over 5 tries."""
    pick = np.resize(np.arange(len(poses)), n)
    x, y, yaw = (np.array([poses[i][k] for i in pick]) for k in range(3))
    out = np.empty((n, *camera.shape), dtype=np.uint8)
    camera.render(x, y, yaw, out)
    repeats = max(10, 1000 // n)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            camera.render(x, y, yaw, out)
        best = min(best, (time.perf_counter() - start) / (repeats * n))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", type=Path, default=SHARED / "deepracer-tracks/reinvent_base.npy")
    parser.add_argument("--frames", type=Path, default=SHARED / "deepracer-camera")
    parser.add_argument("--poses", type=int, default=12, help="racer poses along the centre line")
    args = parser.parse_args()
    paths = sorted(args.frames.glob("*.png"))
    if not paths or not args.track.exists():
        print(f"need real frames in {args.frames} and the track {args.track}", file=sys.stderr)
        return 1

    track = load_track(args.track)
    style = texture_style_for_track(track.name)
    geometry = track.geometry
    start = time.perf_counter()
    texture = render_ground_texture(
        geometry.centre, geometry.inner, geometry.outer, geometry.closed, style
    )
    build = time.perf_counter() - start
    camera = Camera(CameraConfig(), texture)
    real = [deepracer_frame_regions(path, camera.horizon_row) for path in paths]
    ours = racer_frames(camera, geometry, centreline_poses(geometry, args.poses), style)
    columns = [region_levels([frame]) for frame in real]
    columns += [region_levels(real), region_levels(ours)]
    names = [path.stem for path in paths] + ["DeepRacer", f"racer {track.name}"]
    print("grey level: median (std) and count of each region's pure pixels (road std: rows 90+)")
    print("| region     | " + " | ".join(f"{name:>{WIDTH}s}" for name in names) + " |")
    print("|------------|" + "|".join("-" * (WIDTH + 2) for _ in names) + "|")
    for name in REGIONS.values():
        print(row(name, columns))
    print(f"\ntexture {texture.levels[0].shape[1]}x{texture.levels[0].shape[0]} texels "
          f"built in {build:.2f} s")  # fmt: skip
    poses = centreline_poses(geometry, 8)
    for n in (1, 64):
        print(f"render N = {n:2d}: {render_time(camera, poses, n) * 1e6:6.1f} us per car-frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
