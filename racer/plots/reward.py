"""Reward plots: where on the track a reward function pays, and old vs new reward of a log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racer.plots.track import _pyplot, draw_road, save_figure
from racer.track import Track


@dataclass(frozen=True)
class RewardMapPanel:
    """One panel of a reward heat map: rewards sampled at points of one track direction.

    Attributes:
        track: the track in the direction the cars drove.
        x, y: (N,) [m] the sampled model points.
        reward: (N,) the reward at each point.
        title: the panel's title.
    """

    track: Track
    x: np.ndarray
    y: np.ndarray
    reward: np.ndarray
    title: str


def draw_reward_map(panels: Sequence[RewardMapPanel], out: str | Path, title: str) -> Path:
    """Save the reward heat map: each panel's samples coloured by reward over its track.

    All panels share one colour scale, so the directions compare directly.

    Returns:
        The written path.
    """
    plt = _pyplot()
    out = Path(out)
    values = np.concatenate([p.reward for p in panels])
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        hi = lo + 1.0
    track = panels[0].track
    aspect = np.ptp(track.outer[:, 1]) / max(np.ptp(track.outer[:, 0]), 1e-9)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels) + 1.2, 6.5 * aspect + 1.0),
                             dpi=110, squeeze=False, layout="constrained")  # fmt: skip
    for ax, panel in zip(axes[0], panels, strict=True):
        draw_road(ax, panel.track, centre_line=False)
        order = np.argsort(panel.reward)  # the highest rewards drawn last, on top
        points = ax.scatter(panel.x[order], panel.y[order], c=panel.reward[order], s=5,
                            cmap="viridis", vmin=lo, vmax=hi, linewidths=0)  # fmt: skip
        x0, y0, yaw0 = panel.track.point_at(np.array([0.0]))
        arrow = 0.08 * max(np.ptp(panel.track.outer[:, 0]), np.ptp(panel.track.outer[:, 1]))
        ax.annotate("", xy=(x0[0] + arrow * np.cos(yaw0[0]), y0[0] + arrow * np.sin(yaw0[0])),
                    xytext=(x0[0], y0[0]),
                    arrowprops={"arrowstyle": "-|>", "color": "#ff4d4d", "lw": 2})  # fmt: skip
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
    fig.colorbar(points, ax=axes[0].tolist(), label="reward")
    fig.suptitle(title)
    return save_figure(fig, plt, out)


def draw_rescore(
    old: np.ndarray,
    new: np.ndarray,
    groups: np.ndarray,
    old_name: str,
    new_name: str,
    out: str | Path,
    group_label: str = "episode",
) -> Path:
    """Save the what-if plot: each episode's total reward under the old and the new function.

    The two functions' scales differ, so each has its own axis; a second panel plots one against
    the other, with their correlation.

    Args:
        old: (E,) total logged reward per episode.
        new: (E,) total new reward per episode.
        groups: (E,) the episode numbers (x axis).
        old_name: label of the logged reward.
        new_name: label of the new reward function.
        out: output path.
        group_label: name of the x axis.

    Returns:
        The written path.
    """
    plt = _pyplot()
    out = Path(out)
    fig, (ax, scatter) = plt.subplots(1, 2, figsize=(13, 4.8), dpi=110,
                                      gridspec_kw={"width_ratios": [2, 1]})  # fmt: skip
    ax.plot(groups, old, color="#1f77b4", lw=1.2, label=old_name)
    ax.set_xlabel(group_label)
    ax.set_ylabel(f"total reward: {old_name}", color="#1f77b4")
    twin = ax.twinx()
    twin.plot(groups, new, color="#d62728", lw=1.2, label=new_name)
    twin.set_ylabel(f"total reward: {new_name}", color="#d62728")
    ax.set_title(f"reward per {group_label}: logged vs re-scored")
    scatter.scatter(old, new, s=10, color="#444444")
    scatter.set_xlabel(old_name)
    scatter.set_ylabel(new_name)
    if len(old) > 1 and np.ptp(old) > 0 and np.ptp(new) > 0:
        r = float(np.corrcoef(old, new)[0, 1])
        scatter.set_title(f"per {group_label}, correlation {r:.2f}")
    else:
        scatter.set_title(f"per {group_label}")
    fig.tight_layout()
    return save_figure(fig, plt, out)
