"""The analysis plots of ``racer analyze``: heat maps over the track, actions, progress, starts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from racer.plots.track import _pyplot, draw_road, save_figure
from racer.track import Track


def _track_figure(plt, track: Track):
    aspect = np.ptp(track.outer[:, 1]) / max(np.ptp(track.outer[:, 0]), 1e-9)
    fig, ax = plt.subplots(figsize=(8, min(8 * aspect + 0.8, 10)), dpi=100, layout="constrained")
    draw_road(ax, track, centre_line=False)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    return fig, ax


def draw_track_scatter(
    track: Track,
    x: np.ndarray,
    y: np.ndarray,
    value: np.ndarray,
    label: str,
    title: str,
    out: str | Path,
    cmap: str = "viridis",
) -> Path:
    """Save logged positions coloured by a per-step value (reward, speed) over the track.

    Returns:
        The written path.
    """
    plt = _pyplot()
    fig, ax = _track_figure(plt, track)
    order = np.argsort(value, kind="stable")  # the highest values drawn last, on top
    points = ax.scatter(x[order], y[order], c=value[order], s=4, cmap=cmap, linewidths=0)
    fig.colorbar(points, ax=ax, label=label, shrink=0.8)
    ax.set_title(f"{title} on {track.name} ({len(x):,} steps)")
    return save_figure(fig, plt, out)


def draw_actions(
    labels: Sequence[str],
    counts: np.ndarray,
    continuous: bool,
    steer: np.ndarray,
    speed: np.ndarray,
    out: str | Path,
    xlabel: str = "action index",
) -> Path:
    """Save the action distribution: a bar per discrete action, or steer vs speed (continuous).

    Args:
        labels: (A,) each discrete action's tick label (index, steering, speed).
        counts: (A,) steps per action.
        continuous: draw a 2-D histogram of ``steer`` and ``speed`` instead of bars.
        steer: (R,) [deg] each driven step's commanded steering.
        speed: (R,) [m/s] each driven step's commanded speed.
        out: the PNG to write.
        xlabel: the bar chart's x-axis label.

    Returns:
        The written path.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100, layout="constrained")
    if continuous:
        _, _, _, image = ax.hist2d(steer, speed, bins=(24, 16), cmap="magma", cmin=1)
        fig.colorbar(image, ax=ax, label="steps")
        ax.set_xlabel("steering [deg]")
        ax.set_ylabel("speed [m/s]")
        ax.set_title(f"continuous actions ({len(steer):,} steps)")
    else:
        ax.bar(range(len(labels)), counts, color="#1f77b4")
        ax.set_xticks(range(len(labels)), labels, fontsize=8 if len(labels) > 10 else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("steps")
        ax.set_title(f"action distribution ({int(np.sum(counts)):,} steps)")
    return save_figure(fig, plt, out)


def draw_section_actions(
    labels: Sequence[str],
    counts: np.ndarray,
    bounds: np.ndarray,
    out: str | Path,
    xlabel: str = "action",
) -> Path:
    """Save one small bar chart of action counts per track section.

    Args:
        labels: (A,) action class names (tick labels).
        counts: (S, A) steps per section and action class.
        bounds: (S+1,) waypoint bounds of the sections.
        out: output path.
        xlabel: the x-axis label of the bottom row's charts (each chart's y axis is steps).

    Returns:
        The written path.
    """
    plt = _pyplot()
    n = counts.shape[0]
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), dpi=100, squeeze=False,
                             sharey=True, layout="constrained")  # fmt: skip
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        ax.bar(range(len(labels)), counts[k], color="#2ca02c")
        long = len(labels) > 8 or max((len(t) for t in labels), default=0) > 6
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90 if long else 0)
        if k % cols == 0:
            ax.set_ylabel("steps")
        if k + cols >= n:  # nothing below it: the bottom chart of its column
            ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(f"waypoints {bounds[k]}-{bounds[k + 1] - 1} ({int(counts[k].sum()):,})",
                     fontsize=9)  # fmt: skip
    fig.suptitle("actions per track section")
    return save_figure(fig, plt, out)


def draw_progress(
    episode_progress: np.ndarray,
    iterations: np.ndarray,
    iteration_progress: np.ndarray,
    iteration_reward: np.ndarray,
    out: str | Path,
    episode_lap_time: np.ndarray | None = None,
    iteration_lap_time: np.ndarray | None = None,
    iteration_best_lap_time: np.ndarray | None = None,
) -> Path:
    """Save progress and lap time per episode and per iteration (four panels).

    Args:
        episode_progress: (E,) [%] final progress.
        iterations: (I,) iteration numbers.
        iteration_progress: (I,) [%] mean final progress.
        iteration_reward: (I,) mean total reward.
        out: the PNG to write.
        episode_lap_time: (E,) [s] lap time, NaN for episodes without a completed lap.
        iteration_lap_time: (I,) [s] mean lap time of completed laps, NaN when none.
        iteration_best_lap_time: (I,) [s] fastest lap, NaN when none.

    Returns:
        The written path.
    """
    plt = _pyplot()
    nan_e, nan_i = np.full(len(episode_progress), np.nan), np.full(len(iterations), np.nan)
    lap_e = nan_e if episode_lap_time is None else np.asarray(episode_lap_time, np.float64)
    lap_i = nan_i if iteration_lap_time is None else np.asarray(iteration_lap_time, np.float64)
    best_i = (nan_i if iteration_best_lap_time is None
              else np.asarray(iteration_best_lap_time, np.float64))  # fmt: skip
    fig, axes = plt.subplots(2, 2, figsize=(13, 7), dpi=100, layout="constrained")
    (top, top_laps), (bottom, bottom_laps) = axes
    episodes = np.arange(len(episode_progress))
    top.plot(episodes, episode_progress, ".", ms=4, color="#1f77b4")
    top.set_xlabel("episode")
    top.set_ylabel("final progress [%]")
    top.set_ylim(-2, 105)
    top.set_title("progress per episode")
    done = np.isfinite(lap_e)
    top_laps.plot(episodes[done], lap_e[done], ".", ms=5, color="#2ca02c")
    top_laps.set_xlim(top.get_xlim())
    top_laps.set_xlabel("episode")
    top_laps.set_ylabel("lap time [s]")
    top_laps.set_title(f"lap time per completed episode ({int(done.sum())} laps)")
    if not done.any():
        top_laps.text(0.5, 0.5, "no completed lap yet", ha="center", va="center",
                      transform=top_laps.transAxes)  # fmt: skip
    bottom.plot(iterations, iteration_progress, "o-", color="#1f77b4")
    bottom.set_xlabel("iteration")
    bottom.set_ylabel("mean progress [%]", color="#1f77b4")
    twin = bottom.twinx()
    twin.plot(iterations, iteration_reward, "s--", color="#d62728")
    twin.set_ylabel("mean total reward", color="#d62728")
    bottom.set_title("per iteration")
    bottom_laps.plot(iterations, lap_i, "o-", color="#2ca02c", label="mean")
    bottom_laps.plot(iterations, best_i, "v", color="#17becf", label="best")
    bottom_laps.set_xlim(bottom.get_xlim())
    bottom_laps.set_xlabel("iteration")
    bottom_laps.set_ylabel("lap time [s]")
    bottom_laps.set_title("lap time per iteration (completed laps)")
    if np.isfinite(lap_i).any():
        bottom_laps.legend(loc="best")
    return save_figure(fig, plt, out)


def draw_start_positions(
    start: np.ndarray, progress: np.ndarray, num_waypoints: int, out: str | Path
) -> Path:
    """Save final progress against each episode's start waypoint, with the mean per start.

    Returns:
        The written path.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100, layout="constrained")
    ax.plot(start, progress, ".", ms=5, color="#888888", label="episode")
    starts = np.unique(start)
    means = np.array([progress[start == s].mean() for s in starts])
    ax.plot(starts, means, "o-", color="#d62728", label="mean per start")
    ax.set_xlim(-1, num_waypoints)
    ax.set_ylim(-2, 105)
    ax.set_xlabel("start waypoint (closest_waypoint of the first row)")
    ax.set_ylabel("final progress [%]")
    ax.set_title("completion by start position")
    ax.legend(loc="best")
    return save_figure(fig, plt, out)


def draw_off_track(
    track: Track, x: np.ndarray, y: np.ndarray, status: np.ndarray, out: str | Path
) -> Path:
    """Save markers where rows were off track (red x) or crashed (orange o) over the track.

    Returns:
        The written path.
    """
    plt = _pyplot()
    fig, ax = _track_figure(plt, track)
    for name, marker, colour in (("off_track", "x", "#ff3030"), ("crashed", "o", "#ff9f1a")):
        mask = status == name
        if mask.any():
            ax.plot(x[mask], y[mask], marker, ls="none", color=colour, ms=6,
                    label=f"{name} ({int(mask.sum())})")  # fmt: skip
    if len(x):
        ax.legend(loc="best")
    ax.set_title(f"off-track locations on {track.name} ({len(x)} rows)")
    return save_figure(fig, plt, out)
