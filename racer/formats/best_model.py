"""Which evaluation is the best model, by DeepRacer's best-model metrics (SPEC 5.3, 6.4, 7).

DeepRacer keeps the checkpoint whose evaluation between iterations scores best by
``BEST_MODEL_METRIC`` (progress by default, or reward, or laptime), and the console's reward
graph marks that iteration. racer's trainer, its reward graph and the state it resumes from all
decide with these functions, on the evaluation entries of TrainingMetrics.json, so they name
the same checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The metrics DeepRacer can select the best checkpoint by (BEST_MODEL_METRIC).
BEST_MODEL_METRICS = ("progress", "reward", "laptime")
#: [ms] The lap time DeepRacer's "laptime" metric gives an evaluation episode that did not
#: complete its lap.
LAPTIME_INCOMPLETE_MS = 999_999

def evaluation_groups(
    entries: Iterable[Mapping[str, Any]],
) -> list[tuple[int, list[Mapping[str, Any]]]]:
    """The evaluation entries grouped as the reward graph groups them: by ``episode``.

    Each group is one evaluation between iterations (DeepRacer writes the training-episode
    count at the time in every entry of it). Returns (episode, entries) in ``episode`` order.
    """
    groups: dict[int, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if entry.get("phase") == "evaluation":
            groups.setdefault(int(entry["episode"]), []).append(entry)
    return sorted(groups.items())


def group_score(group: Sequence[Mapping[str, Any]], metric: str) -> tuple[float, float]:
    """One evaluation's score by a best-model metric: higher is better, compared as a tuple.

    - "progress": the mean ``completion_percentage`` (DeepRacer's default).
    - "reward": the mean ``reward_score``.
    - "laptime": minus the mean lap time, an episode that did not complete its lap counting
      `LAPTIME_INCOMPLETE_MS` (DeepRacer's rule), so the evaluation where every episode laps
      fastest wins, and one that completes more laps beats one that completes fewer; equal
      lap scores (none completed) are decided by the mean completion.

    Raises:
        ValueError: an unknown metric.
    """
    progress = float(sum(e["completion_percentage"] for e in group) / len(group))
    if metric == "progress":
        return progress, 0.0
    if metric == "reward":
        return float(sum(e["reward_score"] for e in group) / len(group)), 0.0
    if metric == "laptime":
        lap = [e["elapsed_time_in_milliseconds"] if e["completion_percentage"] >= 100
               else LAPTIME_INCOMPLETE_MS for e in group]  # fmt: skip
        return -float(sum(lap) / len(lap)), progress
    raise ValueError(f"best_model_metric must be one of {BEST_MODEL_METRICS}, got {metric!r}.")


def best_group(scores: Sequence[tuple[float, float]]) -> int:
    """The index of the best score, the last of equal bests (as the console's graph marks it).

    Raises:
        ValueError: no scores.
    """
    if not scores:
        raise ValueError("no evaluation to choose a best model from.")
    best = 0
    for k, score in enumerate(scores):
        if score >= scores[best]:
            best = k
    return best


def lap_summary(group: Sequence[Mapping[str, Any]]) -> tuple[int, float]:
    """An evaluation's completed laps and their mean time [s] (NaN when none completed)."""
    laps = [e["elapsed_time_in_milliseconds"] for e in group if e["completion_percentage"] >= 100]
    return len(laps), (sum(laps) / len(laps) / 1000.0 if laps else float("nan"))
