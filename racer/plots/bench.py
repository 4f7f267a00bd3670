"""The learning curves of ``racer bench``: evaluation completion against env steps, per track."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from racer.plots.track import _pyplot, save_figure


def seed_band(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 100
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Resample each seed's curve on a common step grid and reduce it to mean, min and max.

    Args:
        curves: per seed, (steps (U,), values (U,)), steps increasing.
        points: grid points.

    Returns:
        (grid, mean, low, high), each (points,); the grid ends at the shortest curve's last step,
        so every seed contributes at every point.
    """
    ends = [steps[-1] for steps, _ in curves if len(steps)]
    if not ends:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    grid = np.linspace(0.0, float(min(ends)), points)
    stacked = np.array([np.interp(grid, steps, values, left=values[0])
                        for steps, values in curves if len(steps)])  # fmt: skip
    return grid, stacked.mean(axis=0), stacked.min(axis=0), stacked.max(axis=0)


def draw_learning_curves(
    curves: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]], out: str | Path
) -> Path:
    """Save one panel per track of evaluation completion against env steps.

    Each reward function is drawn as the mean over its seeds, with the seeds' min-max band.

    Args:
        curves: ``{track: {reward: [(steps, completion [%]) per seed]}}``.
        out: the PNG to write.

    Returns:
        The written path.
    """
    plt = _pyplot()
    tracks = list(curves)
    fig, axes = plt.subplots(1, len(tracks), figsize=(6.5 * len(tracks), 4.5), dpi=100,
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax, track in zip(axes[0], tracks, strict=True):
        for k, (reward, seeds) in enumerate(curves[track].items()):
            grid, mean, low, high = seed_band(seeds)
            if not len(grid):
                continue
            colour = f"C{k}"
            ax.plot(grid, mean, color=colour, label=f"{reward} ({len(seeds)} seeds)")
            ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.set_title(track)
        ax.set_xlabel("env steps (all cars)")
        ax.set_ylabel("evaluation completion [%]")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, plt, out)
