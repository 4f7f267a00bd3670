"""The DeepRacer console's reward graph, drawn from a TrainingMetrics.json (SPEC 7).

The series are computed as DeepRacer on AWS computes them:

- training: the training entries in file order, in chunks of ``num_episodes_between_training``
  (E); each chunk's mean ``reward_score`` and mean ``completion_percentage`` at x = 1, 2, ...
  (the last chunk may be partial: the iteration in progress);
- evaluation: the evaluation entries grouped by their ``episode`` field (the training-episode
  count when they ran), each group's mean at x = episode / E;
- best model: a vertical line at the evaluation point with the best mean of the file's
  ``best_model_metric`` (progress by default, as the simulator keeps its best checkpoint; ties
  go to the later iteration, as both the simulator and the console resolve them).

The y axis is shared by rewards and percentages ("Reward/Percentage").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import LogError
from racer.formats.best_model import BEST_MODEL_METRICS, best_group, evaluation_groups, group_score
from racer.plots.track import _pyplot

#: The series' labels in the console (DeepRacer on AWS, en).
LABELS = {
    "training_reward": "Average reward (Training)",
    "evaluation_reward": "Average reward (Evaluation)",
    "training_completion": "Average completion (Training)",
    "evaluation_completion": "Average completion (Evaluation)",
    "best": "Best model",
}


@dataclass(frozen=True)
class RewardGraphSeries:
    """The points of the reward graph.

    Attributes:
        training_x: (K,) iteration numbers 1..K.
        training_reward: (K,) mean reward_score of each iteration's training episodes.
        training_completion: (K,) [%] their mean completion_percentage.
        evaluation_x: (M,) iteration of each evaluation group, episode / E (may be fractional).
        evaluation_reward: (M,) mean reward_score of each group.
        evaluation_completion: (M,) [%] mean completion_percentage of each group.
        best_x: the iteration of the best model, or None without evaluation entries.
    """

    training_x: np.ndarray
    training_reward: np.ndarray
    training_completion: np.ndarray
    evaluation_x: np.ndarray
    evaluation_reward: np.ndarray
    evaluation_completion: np.ndarray
    best_x: float | None


def reward_graph_series(
    metrics: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    episodes_per_iteration: int,
    best_model_metric: str | None = None,
) -> RewardGraphSeries:
    """Compute the reward graph's points from TrainingMetrics.json content.

    Args:
        metrics: the file's parsed JSON (a dict with ``metrics``) or its list of entries.
        episodes_per_iteration: E, num_episodes_between_training.
        best_model_metric: "progress", "reward" or "laptime"; the file's, else "progress".

    Raises:
        ValueError: ``episodes_per_iteration`` < 1 or an unknown ``best_model_metric``.
    """
    if episodes_per_iteration < 1:
        raise ValueError(f"episodes_per_iteration must be >= 1, got {episodes_per_iteration}.")
    entries = metrics.get("metrics", []) if isinstance(metrics, Mapping) else metrics
    if best_model_metric is None and isinstance(metrics, Mapping):
        best_model_metric = metrics.get("best_model_metric")
    best_model_metric = best_model_metric or "progress"
    e = episodes_per_iteration
    training = [m for m in entries if m.get("phase") == "training"]
    chunks = [training[i : i + e] for i in range(0, len(training), e)]
    reward = [np.mean([m["reward_score"] for m in c]) for c in chunks]
    completion = [np.mean([m["completion_percentage"] for m in c]) for c in chunks]
    grouped = evaluation_groups(entries)
    eval_reward = [np.mean([m["reward_score"] for m in group]) for _, group in grouped]
    eval_completion = [np.mean([m["completion_percentage"] for m in group])
                       for _, group in grouped]  # fmt: skip
    eval_x = np.array([episode for episode, _ in grouped], dtype=float) / e
    best_x = None
    if grouped:
        best = best_group([group_score(group, best_model_metric) for _, group in grouped])
        best_x = float(eval_x[best])
    return RewardGraphSeries(
        training_x=np.arange(1, len(chunks) + 1, dtype=float),
        training_reward=np.array(reward, dtype=float),
        training_completion=np.array(completion, dtype=float),
        evaluation_x=eval_x,
        evaluation_reward=np.array(eval_reward, dtype=float),
        evaluation_completion=np.array(eval_completion, dtype=float),
        best_x=best_x,
    )


def read_training_metrics(path: Path | str) -> dict[str, Any]:
    """Read a TrainingMetrics.json.

    Raises:
        LogError: the file is missing, unreadable or not a metrics file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LogError(f"metrics file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LogError(f"cannot read metrics file {path}: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise LogError(f'{path} is not a DeepRacer metrics file: expected {{"metrics": [...]}}.')
    if data.get("best_model_metric", "progress") not in BEST_MODEL_METRICS:
        raise LogError(f"{path}: best_model_metric {data['best_model_metric']!r} is not "
                       f"one of {', '.join(BEST_MODEL_METRICS)}.")  # fmt: skip
    return data


def draw_reward_graph(
    metrics_json_path: Path | str,
    episodes_per_iteration: int,
    out_png: Path | str,
    title: str | None = None,
) -> Path:
    """Save the console's reward graph of a TrainingMetrics.json as a PNG.

    Args:
        metrics_json_path: the TrainingMetrics.json.
        episodes_per_iteration: E, num_episodes_between_training.
        out_png: the image to write (any format matplotlib writes, by its suffix).
        title: the figure title; "Reward graph" by default.

    Returns:
        The written path.

    Raises:
        LogError: the metrics file cannot be read or the image cannot be written.
    """
    series = reward_graph_series(read_training_metrics(metrics_json_path), episodes_per_iteration)
    plt = _pyplot()
    out = Path(out_png)
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110, layout="constrained")
    line = {"marker": "o", "markersize": 3.5, "linewidth": 1.6}
    ax.plot(series.training_x, series.training_reward, color="#1f77b4",
            label=LABELS["training_reward"], **line)  # fmt: skip
    if len(series.evaluation_x):
        ax.plot(series.evaluation_x, series.evaluation_reward, color="#ff7f0e",
                label=LABELS["evaluation_reward"], **line)  # fmt: skip
    ax.plot(series.training_x, series.training_completion, color="#2ca02c",
            label=LABELS["training_completion"], **line)  # fmt: skip
    if len(series.evaluation_x):
        ax.plot(series.evaluation_x, series.evaluation_completion, color="#d62728",
                label=LABELS["evaluation_completion"], **line)  # fmt: skip
    if series.best_x is not None:
        ax.axvline(series.best_x, color="#7f7f7f", linestyle="--", linewidth=1.2,
                   label=LABELS["best"])  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    xs = np.concatenate([series.training_x, series.evaluation_x])
    high = float(xs.max()) if len(xs) else 1.0
    ax.set_xlim(0.0, max(high, 1.0) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ys = np.concatenate([series.training_reward, series.training_completion,
                         series.evaluation_reward, series.evaluation_completion])  # fmt: skip
    ax.set_ylim(bottom=min(0.0, float(ys.min())) if len(ys) else 0.0)  # the console's baseline
    ax.set_xlabel("Iteration")
    ax.set_ylabel("Reward/Percentage")
    ax.set_title(title or "Reward graph")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    except OSError as exc:
        raise LogError(f"cannot write the reward graph {out}: {exc.strerror or exc}.") from None
    finally:
        plt.close(fig)
    return out
