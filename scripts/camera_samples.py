"""Render sample front-camera frames on a DeepRacer track and time the batched camera.

Usage:
    python scripts/camera_samples.py [OUT_DIR] [--track PATH] [--scale 3]

Writes ``camera_<k>.png`` (one per pose, upscaled nearest) and ``camera_texture.png`` (the
top-down ground texture) to OUT_DIR (default docs/images/), then prints the texture build time and
the render time per car-frame for N = 1, 8 and 64 (and N = 64 on one thread, to show what the
second thread buys).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import matplotlib
import numba

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from racer.sensors.camera import Camera, CameraConfig  # noqa: E402
from racer.sensors.texture import render_ground_texture  # noqa: E402

DEFAULT_TRACK = Path("/work/shared/deepracer-tracks/reinvent_base.npy")


def centreline_poses(centre: np.ndarray, count: int, lateral: float = 0.0) -> np.ndarray:
    """Return (count, 3) poses (x, y, yaw) spread along the centre line, heading along it."""
    seg = np.diff(centre, axis=0)
    keep = np.hypot(seg[:, 0], seg[:, 1]) > 0
    starts, seg = centre[:-1][keep], seg[keep]
    idx = np.linspace(0, len(seg), count, endpoint=False).astype(int)
    yaw = np.arctan2(seg[idx, 1], seg[idx, 0])
    x = starts[idx, 0] - lateral * np.sin(yaw)
    y = starts[idx, 1] + lateral * np.cos(yaw)
    return np.stack([x, y, yaw], axis=1)


def time_render(camera: Camera, poses: np.ndarray, n: int, repeats: int) -> float:
    """Return the best mean render time per car-frame [s] over ``repeats`` calls with N = n."""
    pick = np.resize(np.arange(len(poses)), n)
    x, y, yaw = (np.ascontiguousarray(poses[pick, k]) for k in range(3))
    out = np.empty((n, *camera.shape), dtype=np.uint8)
    camera.render(x, y, yaw, out)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            camera.render(x, y, yaw, out)
        best = min(best, (time.perf_counter() - start) / repeats / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="docs/images", type=Path)
    parser.add_argument("--track", default=DEFAULT_TRACK, type=Path)
    parser.add_argument("--scale", default=3, type=int, help="nearest upscaling of the PNGs")
    parser.add_argument("--count", default=6, type=int, help="number of sample frames")
    args = parser.parse_args()

    data = np.load(args.track)
    closed = bool(np.array_equal(data[0], data[-1]))
    start = time.perf_counter()
    texture = render_ground_texture(data[:, 0:2], data[:, 2:4], data[:, 4:6], closed)
    build = time.perf_counter() - start
    start = time.perf_counter()
    camera = Camera(CameraConfig(), texture)
    tables = time.perf_counter() - start

    poses = centreline_poses(data[:, 0:2], args.count)
    # Two off-nominal views: 0.3 m left of the centre line, and turned 0.5 rad to the right.
    extra = centreline_poses(data[:, 0:2], 2, lateral=0.3)
    extra[1] = centreline_poses(data[:, 0:2], 3)[1] - (0.0, 0.0, 0.5)
    poses = np.concatenate([poses, extra])
    frames = np.empty((len(poses), *camera.shape), dtype=np.uint8)
    camera.render(poses[:, 0].copy(), poses[:, 1].copy(), poses[:, 2].copy(), frames)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    ones = np.ones((args.scale, args.scale), dtype=np.uint8)
    for k, frame in enumerate(frames):
        path = args.out_dir / f"camera_{k}.png"
        plt.imsave(path, np.kron(frame[:, :, 0], ones), cmap="gray", vmin=0, vmax=255)
    # The texture's rows grow with +y; flip for a north-up picture.
    plt.imsave(
        args.out_dir / "camera_texture.png", texture.levels[0][::-1], cmap="gray", vmin=0, vmax=255
    )
    shape = texture.levels[0].shape
    print(f"track {args.track.name}: texture {shape[1]}x{shape[0]} texels, built in {build:.3f} s")
    print(f"camera tables built in {tables * 1e3:.1f} ms; frames written to {args.out_dir}/")
    threads = numba.get_num_threads()
    for n in (1, 8, 64):
        per_frame = time_render(camera, poses, n, repeats=max(20, 2000 // n))
        print(f"N = {n:3d}: {per_frame * 1e6:7.1f} us per car-frame ({threads} threads)")
    numba.set_num_threads(1)
    per_frame = time_render(camera, poses, 64, repeats=40)
    print(f"N =  64: {per_frame * 1e6:7.1f} us per car-frame (1 thread)")
    numba.set_num_threads(threads)


if __name__ == "__main__":
    main()
