"""DeepRacer's metrics JSON files: TrainingMetrics.json and the evaluation metrics (SPEC 6.4).

TrainingMetrics.json is the source of the console's reward graph: one entry per training episode
and per evaluation episode run between iterations. Times are milliseconds of *simulation* time,
as DeepRacer's simulator clock. The evaluation metrics file of an evaluation run has one entry per
lap (trial) with its reset counts, and no ``version`` key.

Both are rewritten in full, atomically, on every save: a reader (or a crash) sees the previous
file or the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from racer.errors import ConfigError, LogError
from racer.formats.best_model import BEST_MODEL_METRICS
from racer.logs.atomic import write_json_atomic
from racer.logs.recorder import EpisodeLog, LapLog, metrics_label

#: TrainingMetrics.json's format version (DeepRacer's METRICS_VERSION).
METRICS_VERSION = 2.0
#: The keys of a TrainingMetrics.json entry, in DeepRacer's order.
TRAINING_ENTRY_KEYS = (
    "reward_score", "metric_time", "start_time", "elapsed_time_in_milliseconds", "episode",
    "trial", "phase", "completion_percentage", "episode_status",
)  # fmt: skip


def ms(seconds: float) -> int:
    """Seconds to DeepRacer's integer milliseconds (rounded)."""
    return int(round(seconds * 1000.0))


class TrainingMetrics:
    """The entries of a TrainingMetrics.json, added episode by episode.

    An existing file is loaded, so a resumed run continues it (see `truncate` to drop what an
    unfinished iteration added).

    Args:
        path: the file (``RunFolder.metrics_file``).
        best_model_metric: ``"progress"``, ``"reward"`` or ``"laptime"``; None keeps the file's,
            or "progress" for a new file.

    Attributes:
        entries: the entries, in file order; each a dict with DeepRacer's keys.

    Raises:
        ConfigError: ``best_model_metric`` is unknown.
        LogError: the file exists but cannot be read or is not a TrainingMetrics.json.
    """

    def __init__(self, path: Path | str, best_model_metric: str | None = None) -> None:
        self.path = Path(path)
        self.entries: list[dict[str, Any]] = []
        stored = "progress"
        if self.path.exists():
            data = read_metrics_json(self.path)
            _check_training_entries(data["metrics"], self.path)
            self.entries = data["metrics"]
            stored = data.get("best_model_metric", stored)
        metric = best_model_metric or stored
        if metric not in BEST_MODEL_METRICS:
            raise ConfigError(f"best_model_metric must be one of {BEST_MODEL_METRICS}, got "
                              f"{metric!r} (in {self.path}).")  # fmt: skip
        self.best_model_metric = metric

    # --------------------------------------------------------------------------- adding
    @property
    def training_episodes(self) -> int:
        """The cumulative training-episode count (the last training entry's ``episode``)."""
        return next((e["episode"] for e in reversed(self.entries) if e["phase"] == "training"), 0)

    def add_training(self, episode: EpisodeLog, trial: int) -> dict[str, Any]:
        """Add a finished training episode.

        Args:
            episode: the episode; its ``episode`` number + 1 is the 1-based cumulative count.
            trial: 1-based index of the episode within its iteration.

        Returns:
            The entry added.
        """
        return self._add(episode, episode.episode + 1, trial, "training")

    def add_evaluation(self, episode: EpisodeLog) -> dict[str, Any]:
        """Add an evaluation episode run after an iteration's training episodes.

        As DeepRacer, the entry repeats the ``episode`` and ``trial`` of the last training entry,
        which is what groups the evaluations of one iteration in the reward graph.
        """
        last = next((e for e in reversed(self.entries) if e["phase"] == "training"), None)
        count, trial = (last["episode"], last["trial"]) if last else (0, 0)
        return self._add(episode, count, trial, "evaluation")

    def _add(self, episode: EpisodeLog, count: int, trial: int, phase: str) -> dict[str, Any]:
        return self.add_entry(phase, episode.total_reward, episode.progress, episode.status,
                              episode.start_time, episode.end_time, count, trial)  # fmt: skip

    def add_entry(
        self,
        phase: str,
        total_reward: float,
        progress: float,
        status: str,
        start_time: float,
        end_time: float,
        episode: int,
        trial: int,
    ) -> dict[str, Any]:
        """Add an entry from an episode's totals (for episodes not recorded as `EpisodeLog`).

        Args:
            phase: ``"training"`` or ``"evaluation"``.
            total_reward: the sum of the episode's step rewards.
            progress: [%] progress at its last step.
            status: its final ``episode_status``, e.g. ``"off_track"`` (DeepRacer's step status).
            start_time: [s] simulation time at its start.
            end_time: [s] simulation time at its end.
            episode: the cumulative training-episode count (1-based).
            trial: the 1-based index of the training episode within its iteration.

        Returns:
            The entry added, with DeepRacer's keys in its order.
        """
        if phase not in ("training", "evaluation"):
            raise ValueError(f"phase must be 'training' or 'evaluation', got {phase!r}.")
        start, end = ms(start_time), ms(end_time)
        entry = {
            "reward_score": int(round(total_reward)),
            "metric_time": end,
            "start_time": start,
            "elapsed_time_in_milliseconds": end - start,
            "episode": int(episode),
            "trial": int(trial),
            "phase": phase,
            # DeepRacer's progress is slightly negative while a car is behind its start point;
            # a completion is never below 0 %
            "completion_percentage": max(int(progress), 0),
            "episode_status": metrics_label(status),
        }
        self.entries.append(entry)
        return entry

    def truncate(self, episodes: int) -> int:
        """Drop the entries logged after training episode ``episodes`` (to resume a checkpoint).

        A run stopped mid-iteration leaves entries for episodes no simtrace holds; resuming from
        the checkpoint of iteration k (``episodes = k * E``) drops them. Evaluation entries of
        that checkpoint (``episode == k * E``) are kept.

        Returns:
            The number of entries dropped.
        """
        kept = [e for e in self.entries if e["episode"] <= episodes]
        dropped = len(self.entries) - len(kept)
        self.entries = kept
        return dropped

    # ---------------------------------------------------------------------------- saving
    def to_json(self) -> dict[str, Any]:
        """The file's content: ``metrics``, ``version`` 2.0 and ``best_model_metric``."""
        return {
            "metrics": self.entries,
            "version": METRICS_VERSION,
            "best_model_metric": self.best_model_metric,
        }

    def save(self) -> Path:
        """Rewrite the file atomically.

        Raises:
            LogError: it cannot be written; the previous file stays intact.
        """
        return write_json_atomic(self.path, self.to_json())


def _check_training_entries(entries: list[dict[str, Any]], path: Path) -> None:
    for i, entry in enumerate(entries):
        missing = [key for key in TRAINING_ENTRY_KEYS if key not in entry]
        if missing:
            raise LogError(f"{path}: entry {i} of 'metrics' lacks {', '.join(missing)}; this is "
                           "not a TrainingMetrics.json: move it away to start the metrics "
                           "over.")  # fmt: skip


def read_metrics_json(path: Path | str) -> dict[str, Any]:
    """Read a metrics JSON file and check it has a ``metrics`` list of entries.

    Raises:
        LogError: the file is missing, unreadable, not JSON or not a metrics file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LogError(f"metrics file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"cannot read metrics file {path}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise LogError(f"metrics file {path} is not valid JSON ({exc}); restore it from a "
                       "backup or delete it to start the metrics over.") from None  # fmt: skip
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise LogError(f'{path} is not a DeepRacer metrics file: expected {{"metrics": [...]}}.')
    if not all(isinstance(e, dict) for e in data["metrics"]):
        raise LogError(f"{path}: every entry of 'metrics' must be a JSON object.")
    return data


# ------------------------------------------------------------------------- evaluation runs
def evaluation_entries(episodes: Iterable[EpisodeLog]) -> list[dict[str, Any]]:
    """The entries of an evaluation metrics file: one per lap (trial), in order (SPEC 6.4).

    ``trial`` counts the completed laps so far; counts are per lap. As DeepRacer, an unfinished
    lap is listed only while no lap has been completed (so a run that never finishes a lap still
    shows how far it got).
    """
    entries: list[dict[str, Any]] = []
    trials = 0
    for episode in episodes:
        for lap in episode.laps:
            if not lap.complete and trials:
                continue
            trials += lap.complete
            entries.append(evaluation_entry(lap, trials))
    return entries


def evaluation_entry(lap: LapLog, trial: int) -> dict[str, Any]:
    """One evaluation-metrics entry, with DeepRacer's keys in its order."""
    start, end = ms(lap.start_time), ms(lap.end_time)
    return {
        "completion_percentage": max(int(lap.progress), 0),
        "metric_time": end,
        "start_time": start,
        "elapsed_time_in_milliseconds": end - start,
        "episode_status": metrics_label(lap.status),
        "crash_count": lap.crash_count,
        "immobilized_count": lap.immobilized_count,
        "off_track_count": lap.off_track_count,
        "reversed_count": lap.reversed_count,
        "reset_count": lap.reset_count,
        "trial": int(trial),
    }


def write_evaluation_metrics(path: Path | str, episodes: Iterable[EpisodeLog]) -> Path:
    """Write an evaluation run's metrics file atomically: ``{"metrics": [...]}``, no version.

    Args:
        path: ``RunFolder.evaluation_metrics(timestamp)``.
        episodes: the run's episodes, in order.

    Returns:
        The written path.

    Raises:
        LogError: the file cannot be written.
    """
    return write_json_atomic(path, {"metrics": evaluation_entries(episodes)})

