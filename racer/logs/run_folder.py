"""A training run's folder, in deepracer-for-cloud's single-worker layout (SPEC 6.3).

deepracer-utils, deepracer-analysis and racer's own readers load it unchanged::

    <run>/
      training-simtrace/{n}-iteration.csv         one per iteration, n = 0, 1, ...
      evaluation-YYYYmmddHHMMSS/evaluation-simtrace/0-iteration.csv
      metrics/TrainingMetrics.json                the reward graph's source
      metrics/evaluation/evaluation-YYYYmmddHHMMSS.json
      model/model_metadata.json                   action space, sensors, network
      ip/hyperparameters.json
      reward_function.py
      racer.toml                                  racer's resolved configuration
      checkpoints/                                racer's policy checkpoints
      logs/robomaker.log                          SIM_TRACE_LOG lines (SPEC 6.2)
      logs/reward_function.log                    the reward function's prints
      logs/progress.csv                           one row per update: the learning curve
      tensorboard/

Folders are properties named after them (``training_simtrace``, ``metrics``, ...), files are
properties or, where a run has many, methods (``training_simtrace_file(n)``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from racer.errors import LogError
from racer.logs.atomic import log_error
from racer.logs.simtrace import iteration_of

_TIMESTAMP = re.compile(r"^\d{14}$")


def timestamp(when: float | None = None) -> str:
    """A 14-digit local-time stamp ``YYYYmmddHHMMSS``, as DRfC names evaluations.

    Args:
        when: Unix time [s]; now when None.
    """
    return time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() if when is None else when))


class RunFolder:
    """The paths of one run's folder; `create` makes its folders.

    Args:
        root: the run folder (the DeepRacer "model folder").
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # --------------------------------------------------------------------- DeepRacer's files
    @property
    def training_simtrace(self) -> Path:
        """``training-simtrace/``: one CSV per training iteration."""
        return self.root / "training-simtrace"

    def training_simtrace_file(self, iteration: int) -> Path:
        """``training-simtrace/{iteration}-iteration.csv`` (iteration 0-based)."""
        if iteration < 0:
            raise ValueError(f"iteration must be >= 0, got {iteration}.")
        return self.training_simtrace / f"{iteration}-iteration.csv"

    @property
    def metrics(self) -> Path:
        """``metrics/``."""
        return self.root / "metrics"

    @property
    def metrics_file(self) -> Path:
        """``metrics/TrainingMetrics.json``: the console's reward-graph source."""
        return self.metrics / "TrainingMetrics.json"

    @property
    def metrics_evaluation(self) -> Path:
        """``metrics/evaluation/``: one metrics file per evaluation run."""
        return self.metrics / "evaluation"

    def evaluation_metrics(self, stamp: str) -> Path:
        """``metrics/evaluation/evaluation-{stamp}.json`` for a 14-digit `timestamp`."""
        return self.metrics_evaluation / f"evaluation-{_checked(stamp)}.json"

    def evaluation_dir(self, stamp: str) -> Path:
        """``evaluation-{stamp}/``: one evaluation run (deepracer-utils needs 14 digits)."""
        return self.root / f"evaluation-{_checked(stamp)}"

    def evaluation_simtrace(self, stamp: str) -> Path:
        """``evaluation-{stamp}/evaluation-simtrace/0-iteration.csv``."""
        return self.evaluation_dir(stamp) / "evaluation-simtrace" / "0-iteration.csv"

    @property
    def model(self) -> Path:
        """``model/``."""
        return self.root / "model"

    @property
    def model_metadata(self) -> Path:
        """``model/model_metadata.json``."""
        return self.model / "model_metadata.json"

    @property
    def ip(self) -> Path:
        """``ip/``."""
        return self.root / "ip"

    @property
    def hyperparameters(self) -> Path:
        """``ip/hyperparameters.json``."""
        return self.ip / "hyperparameters.json"

    @property
    def reward_function(self) -> Path:
        """``reward_function.py``: a copy of the reward function trained with."""
        return self.root / "reward_function.py"

    # ------------------------------------------------------------------------ racer's files
    @property
    def config_file(self) -> Path:
        """``racer.toml``: the run's resolved configuration."""
        return self.root / "racer.toml"

    @property
    def checkpoints(self) -> Path:
        """``checkpoints/``: policy checkpoints."""
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        """``logs/``."""
        return self.root / "logs"

    @property
    def robomaker_log(self) -> Path:
        """``logs/robomaker.log``: DeepRacer's simulation log (SPEC 6.2)."""
        return self.logs / "robomaker.log"

    @property
    def reward_log(self) -> Path:
        """``logs/reward_function.log``: what the reward function prints."""
        return self.logs / "reward_function.log"

    @property
    def progress_log(self) -> Path:
        """``logs/progress.csv``: one row per committed update (`racer.logs.progress`)."""
        return self.logs / "progress.csv"

    @property
    def tensorboard(self) -> Path:
        """``tensorboard/``."""
        return self.root / "tensorboard"

    # ------------------------------------------------------------------------------ actions
    def create(self) -> RunFolder:
        """Make the run's folders (existing ones are kept).

        Returns:
            self.

        Raises:
            LogError: a folder cannot be created (permissions, a file in the way, full disk).
        """
        folders = (self.training_simtrace, self.metrics_evaluation, self.model, self.ip,
                   self.checkpoints, self.logs, self.tensorboard)  # fmt: skip
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise LogError(f"cannot create the folder {folder}: a file of that name is in the "
                               "way. Move it, or choose another run folder.") from None  # fmt: skip
            except OSError as exc:
                raise log_error("create the folder", folder, exc) from None
        return self

    def iterations(self) -> list[int]:
        """The iteration numbers of the training simtraces present, ascending."""
        if not self.training_simtrace.is_dir():
            return []
        return sorted(iteration_of(p) for p in self.training_simtrace.glob("*-iteration.csv"))

    def next_iteration(self) -> int:
        """The iteration number to write next: one past the last present (0 for a new run)."""
        done = self.iterations()
        return done[-1] + 1 if done else 0

    def evaluations(self) -> list[str]:
        """The timestamps of the evaluation runs present, ascending."""
        stamps = (p.name.removeprefix("evaluation-") for p in self.root.glob("evaluation-*"))
        return sorted(s for s in stamps if _TIMESTAMP.match(s))


def _checked(stamp: str) -> str:
    if not _TIMESTAMP.match(stamp):
        raise ValueError(
            f"an evaluation timestamp must be 14 digits (YYYYmmddHHMMSS, see timestamp()), got "
            f"{stamp!r}; deepracer-utils ignores other names."
        )
    return stamp
