"""A training run's commit record (``checkpoints/state.json``) and the lock on its folder.

`RunState` is what the trainer has committed: it is written last in every update's commit, so
a resume rolls every log back to it (`racer.train.trainer`). A new run writes it once, with
nothing committed, before it trains, so a missing state.json always means a lost one. Resuming
without it would renumber the iterations and overwrite committed logs: `read_run_state` then
rebuilds it from ``logs/progress.csv`` when every log agrees with that file, and refuses
otherwise.

`RunLock` keeps two ``racer train`` processes out of one folder. It is taken before anything is
written to the folder and removed when the run ends, however it ends.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from racer.errors import ConfigError, LogError
from racer.formats.best_model import best_group, evaluation_groups, group_score, lap_summary
from racer.logs.atomic import log_error, write_text_atomic
from racer.logs.metrics import TrainingMetrics
from racer.logs.progress import read_progress
from racer.logs.run_folder import RunFolder
from racer.logs.writers import roll_back_log

#: The lock file in a run folder, present only while a ``racer train`` runs there.
LOCK_NAME = ".racer-train.lock"
#: Laps of the trainer's lap check (3 from the line, no resets), and so of a complete one.
LAP_CHECK_LAPS = 3


@dataclass
class RunState:
    """What has been committed: the last finished iteration and the counters after it.

    Attributes:
        update: the last committed PPO update (-1: none yet).
        iteration: the last logging iteration written (-1: none yet).
        episodes: training episodes logged so far (= (iteration + 1) * episodes per iteration).
        timesteps: env steps (summed over cars) so far.
        seconds: [s] wall time spent training so far, over all sessions.
        best_update: update of the best model (-1: none), by the run's best-model metric
            (`racer.formats.best_model`: the same rule as the reward graph's line).
        best_progress: [%] its mean evaluation progress.
        best_laps: its evaluation episodes that completed their lap.
        best_lap_time: [s] their mean lap time (-1: none completed).
        first_lap_check: update of the first lap check that drove every lap (-1: none).
        first_lap_seconds: [s] training wall time at that check.
        robomaker_bytes: [bytes] size of ``logs/robomaker.log`` at the commit; a resume cuts
            the log back to it (-1: unknown, the log is left as it is).
        metrics_entries: entries of TrainingMetrics.json at the commit; a resume drops the
            ones after it (-1: unknown, it drops those after ``episodes`` training episodes).
    """

    update: int = -1
    iteration: int = -1
    episodes: int = 0
    timesteps: int = 0
    seconds: float = 0.0
    best_update: int = -1
    best_progress: float = -1.0
    best_laps: int = 0
    best_lap_time: float = -1.0
    first_lap_check: int = -1
    first_lap_seconds: float = -1.0
    robomaker_bytes: int = -1
    metrics_entries: int = -1


def best_model(entries: list[dict[str, Any]], metric: str) -> tuple[int, dict[str, Any]]:
    """The best evaluation in TrainingMetrics entries by ``metric``, and its RunState fields.

    Returns:
        (index of the best evaluation group, in logging order, or -1 when there is none;
        ``best_progress``, ``best_laps`` and ``best_lap_time`` of it).
    """
    groups = evaluation_groups(entries)
    if not groups:
        return -1, {}
    best = best_group([group_score(group, metric) for _, group in groups])
    group = groups[best][1]
    laps, lap_time = lap_summary(group)
    progress = sum(e["completion_percentage"] for e in group) / len(group)
    return best, {"best_progress": float(progress), "best_laps": laps,
                  "best_lap_time": lap_time if laps else -1.0}  # fmt: skip


def best_summary(state: RunState) -> str:
    """The progress line's view of the best model: "best 100.0 %, 5 laps 12.34 s @ 7"."""
    if state.best_update < 0:
        return "no best model yet"
    laps = ""
    if state.best_laps:
        plural = "s" if state.best_laps > 1 else ""
        laps = f", {state.best_laps} lap{plural} {state.best_lap_time:.2f} s"
    return f"best {state.best_progress:5.1f} %{laps} @ {state.best_update}"


def roll_back(folder: RunFolder, state: RunState, metric: str, resume: bool) -> TrainingMetrics:
    """The run's metrics (best model by ``metric``); on resume, every log rolled back to ``state``.

    What a round wrote before its commit failed (or the process died) is dropped, as it will be
    written again: the metrics entries, simtraces and robomaker.log lines after the state's
    counts.
    """
    metrics = TrainingMetrics(folder.metrics_file, metric)
    if resume:
        if state.metrics_entries >= 0:
            metrics.entries = metrics.entries[: state.metrics_entries]
        else:  # a state written by an older racer
            metrics.truncate(state.episodes)
        simtrace = folder.training_simtrace
        for path in [*simtrace.glob("*-iteration.csv"), *simtrace.glob("*-objects.csv")]:
            if int(path.name.split("-")[0]) > state.iteration:
                path.unlink()  # written by a round that was never committed
        if state.robomaker_bytes >= 0:
            roll_back_log(folder.robomaker_log, state.robomaker_bytes)
    return metrics


def describe_checkpoint(folder: RunFolder, checkpoint: str) -> str:
    """Which update a run's ``best`` or ``last`` checkpoint is, from its state ("" unknown).

    E.g. "the best model by laptime: update 7, 5 of 5 evaluation laps, 12.34 s on average".
    """
    try:
        state = RunState(**json.loads(state_file(folder).read_text()))
        metric = TrainingMetrics(folder.metrics_file).best_model_metric
    except (OSError, ValueError, TypeError, ConfigError, LogError):
        return ""
    if checkpoint == "last":
        return f"the last update, {state.update}" if state.update >= 0 else ""
    if state.best_update < 0:
        return ""
    laps = (f", {state.best_laps} evaluation laps of {state.best_lap_time:.2f} s on average"
            if state.best_laps else "")  # fmt: skip
    return (f"the best model by {metric}: update {state.best_update}, "
            f"{state.best_progress:.1f} % evaluation completion{laps}")


def state_file(folder: RunFolder) -> Path:
    """``checkpoints/state.json`` of a run folder."""
    return folder.checkpoints / "state.json"


def saved_updates(state: RunState) -> str:
    """The user's view of what a stopped run keeps: "updates up to 4 are saved"."""
    if state.update < 0:
        return "no update was saved"
    return f"updates up to {state.update} are saved"


def write_state(folder: RunFolder, state: RunState) -> None:
    """Write the state atomically: the commit point of an update.

    Raises:
        LogError: it cannot be written; the previous state stays intact.
    """
    write_text_atomic(state_file(folder), json.dumps(asdict(state), indent=1) + "\n")


def read_run_state(folder: RunFolder) -> tuple[RunState, str]:
    """The committed state of a run to resume, and a note when it had to be rebuilt.

    Returns:
        The state, and "" when it came from state.json (or nothing was ever committed);
        otherwise a sentence for the user saying it was rebuilt from which file.

    Raises:
        ConfigError: state.json is unreadable, or missing while the logs do not all agree on
            how far the run got (the message names the file and what to do), or its last
            checkpoint is missing; nothing in the folder has been changed.
    """
    path = state_file(folder)
    if path.exists():
        try:
            state = RunState(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read the run state {path}: {exc}. Restore it from a "
                              "backup, or delete it to have it rebuilt from "
                              f"{folder.progress_log}.") from None  # fmt: skip
        _check_checkpoint(folder, state)
        return state, ""
    if not _committed_files(folder):
        return RunState(), ""  # killed before it wrote anything (older racer): nothing to lose
    state = rebuild_state(folder)
    return state, (f"rebuilt the missing run state {path} from {folder.progress_log}: update "
                   f"{state.update}, iteration {state.iteration}, {state.episodes} episodes "
                   "(the simtraces, metrics and checkpoint agree with it).")  # fmt: skip


def rebuild_state(folder: RunFolder) -> RunState:
    """Rebuild a lost state.json from ``logs/progress.csv``, if every log agrees with it.

    progress.csv gets one row per commit, written just before the state; the simtraces, the
    metrics and the checkpoint are written before it. The rebuilt state is therefore the
    state of the last commit when the simtraces are exactly iterations 0..iteration and the
    metrics hold exactly its training episodes. ``robomaker_bytes`` is unknown (-1).

    Raises:
        ConfigError: the paragraph that says why the state cannot be rebuilt and what to do.
    """
    if not folder.progress_log.exists():
        raise _cannot_rebuild(folder, f"{folder.progress_log} is missing")
    try:
        rows = read_progress(folder.progress_log)
    except LogError as exc:
        raise _cannot_rebuild(folder, str(exc)) from None
    updates = rows["update"]
    if not len(updates) or not _counts_up(updates):
        raise _cannot_rebuild(folder, f"{folder.progress_log} does not list the updates 0, 1, "
                              "2, ... one row each")  # fmt: skip
    last = len(updates) - 1
    state = RunState(update=last, iteration=int(rows["iteration"][last]),
                     episodes=int(rows["episodes"][last]),
                     timesteps=int(rows["timesteps"][last]),
                     seconds=float(rows["seconds"][last]))  # fmt: skip
    for k in range(len(updates)):  # the trainer's rule for the first lap check
        if state.first_lap_check < 0 and rows["lap_check_laps"][k] >= LAP_CHECK_LAPS:
            state.first_lap_check, state.first_lap_seconds = k, float(rows["seconds"][k])
    disagreement = _disagreement(folder, state)
    if disagreement:
        raise _cannot_rebuild(folder, disagreement)
    if folder.metrics_file.exists():
        metrics = TrainingMetrics(folder.metrics_file)
        best, fields = best_model(metrics.entries, metrics.best_model_metric)
        if best >= 0 and len(evaluation_groups(metrics.entries)) == len(updates):
            state = replace(state, best_update=best, **fields)  # one evaluation per update
        state = replace(state, metrics_entries=_committed_entries(metrics.entries, len(updates)))
    return state


def _committed_entries(entries: list[dict[str, Any]], updates: int) -> int:
    """How many entries the commit of the last of ``updates`` updates left in the metrics.

    Each update ends with one evaluation group; entries of the next group (a round saved
    before its commit was written) are not committed.
    """
    keys: list[int] = []
    for k, entry in enumerate(entries):
        if entry["phase"] == "evaluation" and (not keys or entry["episode"] != keys[-1]):
            if len(keys) == updates:
                return k
            keys.append(entry["episode"])
    return len(entries)


def _counts_up(values: Any) -> bool:
    """Whether a (U,) float array is exactly 0, 1, ..., U - 1."""
    return all(float(v) == k for k, v in enumerate(values))


def _disagreement(folder: RunFolder, state: RunState) -> str:
    """Why the logs do not match a rebuilt state ("" when they all do)."""
    last = folder.checkpoints / "last.zip"
    if not last.exists():
        return f"the last checkpoint {last} is missing"
    iterations = folder.iterations()
    if iterations != list(range(state.iteration + 1)):
        return (f"{folder.progress_log} ends at iteration {state.iteration}, but "
                f"{folder.training_simtrace} holds iterations {_span(iterations)}")  # fmt: skip
    try:
        entries = TrainingMetrics(folder.metrics_file).entries if folder.metrics_file.exists() \
            else []  # fmt: skip
    except (ConfigError, LogError) as exc:
        return str(exc)
    training = [e["episode"] for e in entries if e["phase"] == "training"]
    if training != list(range(1, state.episodes + 1)):
        return (f"{folder.progress_log} counts {state.episodes} episodes, but "
                f"{folder.metrics_file} holds {len(training)} training entries")  # fmt: skip
    if not math.isfinite(state.seconds):
        return f"{folder.progress_log} has no training time in its last row"
    return ""


def _span(iterations: list[int]) -> str:
    if not iterations:
        return "none"
    return f"{iterations[0]}..{iterations[-1]} ({len(iterations)} files)"


def _cannot_rebuild(folder: RunFolder, reason: str) -> ConfigError:
    path = state_file(folder)
    return ConfigError(
        f"cannot resume {folder.root}: its run state {path} is missing, and the logs do not say "
        f"reliably how far the run got ({reason}). Resuming without it would renumber the "
        "iterations and overwrite the committed simtraces and metrics, so nothing was changed. "
        f"Restore {path} from a backup and resume again, or start a new run in another "
        f"folder, from this run's best model if you like: racer train --pretrained "
        f"{folder.root} --out NEW_FOLDER."
    )


def _committed_files(folder: RunFolder) -> list[Path]:
    """The files only a commit writes (checkpoints, metrics, progress, simtraces) present."""
    found = [p for p in (folder.progress_log, folder.metrics_file) if p.exists()]
    if folder.checkpoints.is_dir():
        found += sorted(folder.checkpoints.glob("*.zip"))
    if folder.training_simtrace.is_dir():
        found += sorted(folder.training_simtrace.glob("*-iteration.csv"))
    return found


def _check_checkpoint(folder: RunFolder, state: RunState) -> None:
    last = folder.checkpoints / "last.zip"
    if state.update >= 0 and not last.exists():
        raise ConfigError(
            f"cannot resume {folder.root}: its state says update {state.update} was committed, "
            f"but its checkpoint {last} is missing, and training on from a new policy would "
            f"mix two policies in one run. Restore {last} from a backup, or start a new run "
            f"in another folder: racer train --out NEW_FOLDER (with --pretrained {folder.root} "
            "to start from its best model, if checkpoints/best.zip is still there)."
        )


class RunLock:
    """An exclusive lock on a run folder, held from before its first write to the run's end.

    Use `acquire`; `release` removes the lock file. A process killed outright leaves the file
    behind, but not the lock (the system drops it), so the next run takes it. POSIX only:
    elsewhere the folder is not locked.

    Args:
        path: the lock file.
        fd: its open descriptor, locked.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, root: Path, *, resume: bool) -> RunLock:
        """Create ``root`` if needed and lock it.

        Args:
            root: the run folder.
            resume: whether the run is a resume (for the message).

        Raises:
            ConfigError: another ``racer train`` holds the lock; nothing was written.
            LogError: the folder or the lock file cannot be created.
        """
        path = root / LOCK_NAME
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise log_error("create the run folder", root, exc) from None
        while True:
            try:  # no O_TRUNC: a refused run must not even touch the holder's lock file
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise log_error("create the lock file", path, exc) from None
            if not _lock(fd):
                os.close(fd)
                raise ConfigError(_busy_message(root, resume))
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return cls(path, fd)
            os.close(fd)  # the holder removed the file as we opened it: lock the new one

    def release(self) -> None:
        """Remove the lock file, then unlock (idempotent); the file goes while still locked."""
        if self._fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                self.path.unlink()
        except OSError:
            pass  # gone already, or an unwritable folder: the lock itself still goes
        finally:
            os.close(self._fd)
            self._fd = None


def _lock(fd: int) -> bool:
    """Try to lock ``fd`` exclusively; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _busy_message(root: Path, resume: bool) -> str:
    if resume:
        return (f"another racer train is running in {root}: wait for it to finish, or stop it "
                "(Ctrl-C), before resuming.")  # fmt: skip
    return (f"another racer train is running in {root}, so a new run cannot start there: "
            "choose another folder with --out, or wait for that run to finish and continue it "
            f"with racer train --resume {root}.")  # fmt: skip
