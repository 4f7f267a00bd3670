"""``racer rescore``: what would a new reward function have paid for the steps a run logged?

For every logged step the params DeepRacer gave the reward function are rebuilt from the
simtrace row: the logged model point, heading, action, step count, progress and clock, plus
everything the track geometry determines (distance from centre, waypoints, track width, wheels
on track). The new function is called on them in log order, as one worker would have called it,
so module-level state behaves as in training. PREPARE, PAUSE and PARK rows pay 0, as in the
simulator.

The calls run in a reward worker process (`racer.reward.worker`), as ``racer train``'s do, a
batch of rows per round trip: a call stuck in C code, or one that catches the time-out, is
killed at twice its limit and reported as a failing call naming the file and step; an
``os._exit`` or a crash in the function is reported too, and never ends racer.

The driving direction and start point of each episode are not in the simtrace; they are found by
matching the logged progress against the track in both directions. A log that matches neither
was recorded on another track, and is reported as such.

The object keys (boxes, bot cars, other racers) are rebuilt from the run's object log
(`racer.logs.objects`), which racer writes beside each simtrace, and its ``racer.toml``: the
objects' positions and headings as the params gave them (to 0.1 mm), their distances, sides and
order computed again. A box's footprint for ``object_in_camera`` is turned along the centre line
(the log holds the params' heading of 0.0), which can differ from the simulator's lane yaw at the
frustum's edge. Logs without an object log (DeepRacer's own) keep the time-trial defaults.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import LogError, RacerError
from racer.logs.objects import BOT, BOX, RunObjects, TraceObjects, run_objects, trace_objects
from racer.logs.simtrace import Simtrace, find_simtraces, read_simtrace
from racer.objects.bots import BOT_LENGTH, BOT_WIDTH
from racer.objects.params import BOT_CAR_Z, OBSTACLE_Z, describe_objects, fill_object_keys
from racer.physics.car import CarParams
from racer.plots.reward import draw_rescore
from racer.reward.params import params_at_poses
from racer.reward.plugin import DEFAULT_TIMEOUT
from racer.reward.worker import DEFAULT_MEMORY_LIMIT, RewardWorker
from racer.track import Track, TrackQuery, load_track

#: Rows on which DeepRacer does not call the reward function.
NOT_SCORED = ("prepare", "pause", "park")
#: Largest median progress mismatch [%] at which a log still counts as driven on the track.
MAX_PROGRESS_MISMATCH = 1.0
#: Rows sent to the reward worker per round trip (whole episodes, at least this many).
BATCH_ROWS = 2048


@dataclass
class RescoreResult:
    """The re-scored run.

    Attributes:
        steps_csv: per-step old and new reward.
        episodes_csv: per-episode totals.
        plot: the comparison plot.
        log: the new function's print output.
        episodes: number of episodes re-scored.
        steps: number of rows re-scored.
        calls: reward calls made.
        step_correlation: Pearson correlation of old and new reward over scored steps (NaN if
            either is constant).
        episode_correlation: the same over episode totals.
        warnings: damage found in the logs.
        seconds: wall time.
    """

    steps_csv: Path
    episodes_csv: Path
    plot: Path
    log: Path
    episodes: int = 0
    steps: int = 0
    calls: int = 0
    step_correlation: float = math.nan
    episode_correlation: float = math.nan
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def folder(self) -> Path:
        """The folder the results were written to."""
        return self.steps_csv.parent


def default_out(run: str | Path, reward: str | Path, cwd: str | Path | None = None) -> Path:
    """Where `rescore_run` writes without ``out``: ``./rescore-<run>-<reward>/``.

    A new folder under the current one, never inside the run: a downloaded DeepRacer model
    folder stays as it was downloaded.

    Args:
        run: the run folder or simtrace CSV.
        reward: the new reward file (or bundled example name).
        cwd: the folder to put it in; default the current one.

    Raises:
        RacerError: the current folder is the run folder or inside it (give ``out``).
    """
    base = Path(cwd if cwd is not None else Path.cwd()).resolve()
    run_path = Path(run).resolve()
    folder = run_path if run_path.is_dir() else run_path.parent
    if folder.name.endswith("simtrace"):  # a CSV of a model folder's training-simtrace/
        folder = folder.parent
    if base == folder or folder in base.parents:
        raise RacerError(f"racer rescore does not write into the run's folder {folder}, and the "
                         "current folder is inside it: give --out DIR, or run it from another "
                         "folder.")  # fmt: skip
    name = run_path.name if run_path.is_dir() else run_path.stem
    return base / f"rescore-{name}-{Path(str(reward)).stem}"


def rescore_run(
    run: str | Path,
    reward: str | Path,
    track: str | Path,
    *,
    out: str | Path | None = None,
    kind: str = "training",
    timeout: float = DEFAULT_TIMEOUT,
    sandbox: bool = False,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> RescoreResult:
    """Re-score every logged step of a run with a new reward function.

    Args:
        run: a model folder (deepracer-for-cloud, console download, racer) or a simtrace CSV.
        reward: the new reward file (or a bundled example name).
        track: the track the run was driven on (bundled name or ``.npy`` path).
        out: the output folder; default ``./rescore-<run name>-<reward name>/`` under the
            current folder (`default_out`: never inside the run's folder).
        kind: ``training`` or ``evaluation`` logs.
        timeout: [s] the longest one reward call may take; a call that cannot be stopped is
            killed after ``2 * timeout + 0.5`` s.
        sandbox: run the reward worker in `racer.reward.sandbox`'s sandbox (writes beneath
            ``out`` only).
        memory_limit: [bytes] the reward worker's address space; 0 for no limit.

    Raises:
        LogError: no logs, damaged beyond reading, or recorded on another track.
        RewardFunctionError: the new function fails to load, or fails on a logged step: it
            raised, overran its limit, or ended its worker process (the failing params are
            saved in ``out`` for replay).
    """
    started = time.perf_counter()
    if kind not in ("training", "evaluation"):
        raise RacerError(f"kind must be training or evaluation, got {kind!r}.")
    files = find_simtraces(run)[kind]
    if not files:
        raise LogError(f"{run} holds no {kind} simtrace.")
    trace = read_simtrace(files)
    if not len(trace):
        raise LogError(_no_rows_message(files))
    base = load_track(track)
    reward_name = Path(str(reward)).stem
    out = Path(out) if out is not None else default_out(run, reward)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RacerError(f"cannot create the output folder {out}: {exc.strerror}.") from None
    result = RescoreResult(out / "rescore_steps.csv", out / "rescore_episodes.csv",
                           out / "rescore.png", out / "rescore_prints.log",
                           warnings=list(trace.warnings))  # fmt: skip
    run_info = run_objects(run)
    objects = trace_objects(trace, run_info)
    result.warnings += [note for note in (run_info.note, objects.note) if note]
    new = np.zeros(len(trace))
    directions = (base, base.reversed())
    with open(result.log, "w", encoding="utf-8") as log:
        worker = RewardWorker(reward, 1, timeout=timeout, memory_limit=memory_limit,
                              sandbox=sandbox, writable=out if sandbox else "", output=log,
                              failure_dir=out)  # fmt: skip
        try:
            calls = _Calls(worker, directions, new)
            for _, _, rows in trace.episodes():
                _score_episode(trace, rows, directions, calls, (objects, run_info))
            calls.flush()
        finally:
            worker.close()
    result.calls = calls.made
    result.steps = len(trace)
    _write_outputs(trace, new, result, reward_name)
    result.seconds = time.perf_counter() - started
    return result


def _no_rows_message(files: list[Path]) -> str:
    """The error for simtrace files that hold a header line and no step rows."""
    named = str(files[0]) if len(files) == 1 else f"{len(files)} files ({files[0]} ...)"
    return (f"the simtrace {named} holds no logged steps: there is a header line and no rows, so "
            f"there is nothing to re-score. Give a simtrace from an iteration that ran (a "
            f"DeepRacer training writes one CSV per iteration; an interrupted one may be empty).")


class _Calls:
    """The reward calls of the log, in log order, sent to the worker a batch of rows at a time.

    Args:
        worker: the worker holding the new function's one module.
        directions: the track forwards and reversed; their waypoints travel once.
        new: (rows,) the new rewards, filled in as the batches come back.
    """

    def __init__(self, worker: RewardWorker, directions: tuple[Track, Track],
                 new: np.ndarray) -> None:  # fmt: skip
        self.worker = worker
        self.waypoints = (directions[0].waypoints, directions[1].waypoints)
        self.new = new
        self.rows: list[int] = []
        self.params: list[dict[str, Any]] = []
        self.reverse: list[int] = []
        self.made = 0

    def add(self, row: int, params: dict[str, Any], direction: int) -> None:
        """Queue the call of one row; ``direction`` 1 on the reversed track, 0 forwards."""
        self.rows.append(row)
        self.params.append(params)
        self.reverse.append(direction)

    def end_episode(self) -> None:
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Make the calls added so far; raises the first failing call's error."""
        if not self.rows:
            return
        n = len(self.rows)
        batch = self.worker.call([0] * n, self.params, self.reverse, self.waypoints)
        if batch.failures:
            raise batch.failures[0][1]
        self.new[self.rows] = batch.values
        self.made += n
        self.rows, self.params, self.reverse = [], [], []


def _score_episode(
    trace: Simtrace,
    rows: np.ndarray,
    directions: tuple[Track, Track],
    calls: _Calls,
    objects: tuple[TraceObjects, RunObjects] | None = None,
) -> None:
    """Add the scored rows of one episode to ``calls``, with their params."""
    x, y = trace["X"][rows], trace["Y"][rows]
    progress = trace["progress"][rows]
    track, start = _direction_and_start(directions, x, y, progress, trace, rows)
    status = trace["episode_status"][rows]
    params_list = params_at_poses(
        track, x, y, trace["yaw"][rows], speed=trace["throttle"][rows],
        steering_angle=trace["steer"][rows], steps=trace["steps"][rows],
        start_progress=100.0 * start, prev_progress=np.concatenate([[0.0], progress[:-1]]),
        sim_time=trace["tstamp"][rows],
    )  # fmt: skip
    if objects is not None:
        logged, run = objects
        if logged.poses is not None and logged.logged is not None and logged.logged[rows].all():
            _object_keys(params_list, track, logged.poses[rows], run)
    direction = int(track is directions[1])
    for j, params in enumerate(params_list):
        if status[j] in NOT_SCORED:
            continue
        params["progress"] = 100 if progress[j] >= 100.0 else float(progress[j])
        params["is_crashed"] = bool(status[j] == "crashed")  # a bool, as DeepRacer gives
        calls.add(int(rows[j]), params, direction)
    calls.end_episode()


def _object_keys(
    params_list: list[dict[str, Any]], track: Track, poses: np.ndarray, run: RunObjects
) -> None:
    """Fill the object keys of T steps' params from their logged objects.

    Args:
        params_list: T params dicts, updated in place.
        track: the track in the episode's driving direction.
        poses: (T, K, 3) x [m], y [m], heading [rad] of each step's K objects.
        run: the run's object settings (kinds, sizes, bot speed).
    """
    t, k, _ = poses.shape
    if k == 0 or not np.isfinite(poses).all():
        return
    kinds = run.kinds(k)
    car = CarParams()
    o = run.obstacles
    length = np.select([kinds == BOX, kinds == BOT], [o.length, BOT_LENGTH], car.length)
    width = np.select([kinds == BOX, kinds == BOT], [o.width, BOT_WIDTH], car.width)
    z = np.where(kinds == BOX, OBSTACLE_Z, BOT_CAR_Z)
    x, y, heading = (poses[..., i].ravel() for i in range(3))
    # A box's footprint lies along the centre line where it stands (its logged heading is 0.0).
    s, _ = track.project(x, y)
    _, _, along = track.point_at(s[int(track.reverse)])
    yaw = np.where(np.tile(kinds == BOX, t), along, heading)
    speed = np.full(t * k, run.bot_speed if run.bots else 0.0)
    table = describe_objects(track, x, y, yaw, np.tile(length, t), np.tile(width, t),
                             z=np.tile(z, t), speed=speed, heading=heading)  # fmt: skip
    fill_object_keys(params_list, table, per_car=True)


def _direction_and_start(
    directions: tuple[Track, Track], x: np.ndarray, y: np.ndarray, progress: np.ndarray,
    trace: Simtrace, rows: np.ndarray,
) -> tuple[Track, float]:  # fmt: skip
    """The direction (forwards or reversed) that explains the logged progress, and the start."""
    base = directions[0]
    query = TrackQuery(len(x))
    query.model_x[:], query.model_y[:] = x, y
    best: tuple[float, Track, float] | None = None
    for track in directions:
        query.wheel_x[:] = x[:, None]
        query.wheel_y[:] = y[:, None]
        track.locate(query)
        start = float(np.mod(query.ndist[0] - progress[0] / 100.0, 1.0))
        predicted = np.mod(100.0 * (query.ndist - start), 100.0)
        gap = np.abs(predicted - np.mod(progress, 100.0))
        error = float(np.median(np.minimum(gap, 100.0 - gap)))
        if best is None or error < best[0]:
            best = (error, track, start)
    assert best is not None
    if best[0] > MAX_PROGRESS_MISMATCH:
        source = trace.sources[int(trace["file"][rows[0]])]
        raise LogError(
            f"episode {int(trace['episode'][rows[0]])} of {source} does not fit track "
            f"{base.name}: its logged progress differs from the track's by {best[0]:.1f} % "
            f"(median) in either direction. Give the track the run was driven on (--track)."
        )
    return best[1], best[2]


def _write_outputs(trace: Simtrace, new: np.ndarray, result: RescoreResult, name: str) -> None:
    old = trace["reward"]
    status = trace["episode_status"]
    scored = ~np.isin(status, NOT_SCORED)
    try:
        with open(result.steps_csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["iteration", "episode", "steps", "episode_status", "progress",
                             "old_reward", "new_reward"])  # fmt: skip
            for i in range(len(trace)):
                writer.writerow([trace["iteration"][i], trace["episode"][i], trace["steps"][i],
                                 status[i], trace["progress"][i], old[i], new[i]])  # fmt: skip
        totals = []
        with open(result.episodes_csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["iteration", "episode", "steps", "final_status", "final_progress",
                             "old_total", "new_total"])  # fmt: skip
            for _, episode, rows in trace.episodes():
                last = rows[-1]
                old_total, new_total = old[rows].sum(), new[rows].sum()
                totals.append((episode, old_total, new_total))
                writer.writerow([trace["iteration"][last], episode, len(rows), status[last],
                                 trace["progress"][last], old_total, new_total])  # fmt: skip
    except OSError as exc:
        raise RacerError(f"cannot write the re-scored results in {result.steps_csv.parent}: "
                         f"{exc.strerror}.") from None  # fmt: skip
    episodes = np.array(totals)
    result.episodes = len(episodes)
    result.step_correlation = _correlation(old[scored], new[scored])
    result.episode_correlation = _correlation(episodes[:, 1], episodes[:, 2])
    draw_rescore(episodes[:, 1], episodes[:, 2], np.arange(len(episodes)), "logged reward",
                 name, result.plot)  # fmt: skip


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
