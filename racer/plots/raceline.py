"""Draw a racing line over its track, coloured by the ideal speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from racer.plots.track import _pyplot, draw_road, save_figure
from racer.raceline import RacingLine, SpeedProfile
from racer.track import Track


def draw_raceline(
    track: Track, line: RacingLine, profile: SpeedProfile, out: str | Path, title: str = ""
) -> Path:
    """Save a top-down drawing of the road with the line coloured by speed to a PNG.

    Args:
        track: the track, in its driving direction.
        line: the racing line (M points).
        profile: its speed profile (M speeds [m/s]).
        out: output path.
        title: figure title; the track's name and the ideal lap time by default.

    Returns:
        The written path.
    """
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    out = Path(out)
    xy = line.xy
    ends = np.vstack([xy, xy[:1]]) if line.closed else xy
    segments = np.stack([ends[:-1], ends[1:]], axis=1)
    speed = profile.speed[: len(segments)]
    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=120)
    draw_road(ax, track)
    collection = LineCollection(segments, cmap="plasma", linewidths=2.5)
    collection.set_array(speed)
    collection.set_clim(float(profile.speed.min()), float(profile.speed.max()))
    ax.add_collection(collection)
    fig.colorbar(collection, ax=ax, label="ideal speed [m/s]", shrink=0.8)
    ax.plot(*xy[0], "o", color="#ff4d4d")
    ax.set_title(title or f"{track.name}{' (reversed)' if track.reverse else ''}: racing line "
                 f"{line.length:.2f} m, ideal lap {profile.lap_time:.3f} s, "
                 f"margin {line.margin:.2f} m")  # fmt: skip
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    fig.tight_layout()
    return save_figure(fig, plt, out)
