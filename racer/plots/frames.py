"""Save camera frames as images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from racer.plots.track import _pyplot, save_figure


def save_frames(frames: Sequence[np.ndarray], out: str | Path, columns: int = 3) -> Path:
    """Save (H, W, 1) uint8 camera frames side by side in a grid, in grey as the policy sees them.

    Args:
        frames: the frames.
        out: output image path.
        columns: frames per row.

    Returns:
        The written path.
    """
    plt = _pyplot()
    out = Path(out)
    rows = -(-len(frames) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.5 * rows), dpi=100,
                             squeeze=False)  # fmt: skip
    for ax in axes.flat:
        ax.axis("off")
    for ax, frame in zip(axes.flat, frames, strict=False):
        ax.imshow(frame[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    fig.tight_layout()
    return save_figure(fig, plt, out)
