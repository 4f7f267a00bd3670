"""A test helper: the camera frames the DeepRacer model's TensorFlow reference was computed on.

Pure numpy and Pillow, without racer or pytest, so that ``scripts/deepracer_tf_reference.py`` can
build the same frames in a throwaway TensorFlow venv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NOISE_SEED = 13
DEMO_FRAMES = ("dr-demo-1.png", "dr-demo-2.png", "dr-demo-3.png")
"""Real frames of DeepRacer's simulated front camera, in ``../shared/deepracer-camera/``."""


def reference_frames(camera_dir: Path) -> np.ndarray:
    """(7, 120, 160, 1) uint8 frames: two of seeded noise, black, white, and the three demo frames.

    The demo frames (640x480 RGBA) become grayscale (0.299 R + 0.587 G + 0.114 B) averaged over
    4x4 blocks and rounded, the car's 160x120 input.
    """
    noise = np.random.default_rng(NOISE_SEED).integers(0, 256, (2, 120, 160, 1), dtype=np.uint8)
    flat = np.stack([np.zeros((120, 160, 1), np.uint8), np.full((120, 160, 1), 255, np.uint8)])
    demos = np.stack([demo_frame(camera_dir / name) for name in DEMO_FRAMES])
    return np.concatenate([noise, flat, demos])


def demo_frame(path: Path) -> np.ndarray:
    """(120, 160, 1) uint8: a 640x480 camera PNG as the model's grayscale input."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    gray = rgb @ np.array([0.299, 0.587, 0.114])
    blocks = gray.reshape(120, 4, 160, 4).mean(axis=(1, 3))
    return np.clip(np.rint(blocks), 0, 255).astype(np.uint8)[..., None]
