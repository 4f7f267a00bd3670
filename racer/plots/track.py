"""Draw a track from above: road, borders, centre line, waypoint numbers, start and direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from racer.errors import RacerError
from racer.track import Track


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise RacerError("drawing needs matplotlib: pip install matplotlib") from None
    return plt


def save_figure(fig, plt, out: str | Path) -> Path:
    """Save a figure to ``out`` (creating its folder), close it, and return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def draw_road(ax, track: Track, centre_line: bool = True) -> None:
    """Draw the road surface, white borders and (dashed) centre line on a matplotlib axes."""
    from matplotlib.patches import Polygon

    ax.set_facecolor("#6b8e5a")
    if track.closed:
        ax.add_patch(Polygon(track.outer, closed=True, facecolor="#2d2d2d", edgecolor="none"))
        ax.add_patch(Polygon(track.inner, closed=True, facecolor="#6b8e5a", edgecolor="none"))
    else:
        outline = np.vstack([track.inner, track.outer[::-1]])
        ax.add_patch(Polygon(outline, closed=True, facecolor="#2d2d2d", edgecolor="none"))
    ax.plot(*track.inner.T, color="white", lw=1.5)
    ax.plot(*track.outer.T, color="white", lw=1.5)
    if centre_line:
        ax.plot(*track.centre.T, color="#f2c500", lw=1, ls=(0, (4, 4)))
    ax.set_aspect("equal")
    margin = 0.5
    ax.set_xlim(track.outer[:, 0].min() - margin, track.outer[:, 0].max() + margin)
    ax.set_ylim(track.outer[:, 1].min() - margin, track.outer[:, 1].max() + margin)


def draw_track(track: Track, out: str | Path, title: str | None = None, every: int = 10) -> Path:
    """Save a top-down drawing of ``track`` to a PNG (or any format matplotlib writes).

    Args:
        track: the track, in its driving direction.
        out: output path.
        title: figure title; the track's name, length and width by default.
        every: label every this many waypoints with its index (as ``params["waypoints"]``).

    Returns:
        The written path.
    """
    plt = _pyplot()
    out = Path(out)
    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=120)
    draw_road(ax, track)
    for i in range(0, track.num_waypoints - (1 if track.closed else 0), every):
        x, y = track.centre[i]
        ax.annotate(str(i), (x, y), fontsize=7, color="#f2c500", ha="center", va="bottom")
    x, y, yaw = track.point_at(np.array([0.0]))
    arrow = 0.08 * max(np.ptp(track.outer[:, 0]), np.ptp(track.outer[:, 1]))
    ax.annotate("", xy=(x[0] + arrow * np.cos(yaw[0]), y[0] + arrow * np.sin(yaw[0])),
                xytext=(x[0], y[0]),
                arrowprops={"arrowstyle": "-|>", "color": "#ff4d4d", "lw": 2})  # fmt: skip
    ax.plot(x, y, "o", color="#ff4d4d")
    direction = "open line" if not track.closed else ("counter-clockwise" if track.is_ccw else
                                                       "clockwise")  # fmt: skip
    ax.set_title(title or f"{track.name}{' (reversed)' if track.reverse else ''}: "
                 f"{track.length:.2f} m, width {track.mean_width:.3f} m, "
                 f"{track.num_waypoints} waypoints, {direction}")  # fmt: skip
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    fig.tight_layout()
    return save_figure(fig, plt, out)
