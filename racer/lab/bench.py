"""`racer bench`: compare reward functions on the same tracks, seeds and budget.

Every (reward function, track, seed) is one job: a training run with identical settings and
wall-time budget, then DeepRacer's evaluation of its best checkpoint. Jobs run as independent
processes, on this machine (``backend="local"``) or as Ray tasks (``backend="ray"``, on a local
instance or a cluster). A job carries its inputs (the reward function's text, the track's rows),
so a worker needs no files of the machine that started the bench, and returns its results (the
learning curve included), so the leaderboard is gathered in one place whatever ran the jobs.

The bench folder::

    bench.json                          the plan; a re-run with the same folder must match it
    results/<reward>__<track>__seed<k>.json   one per finished job (the resume skips these)
    runs/<reward>/<track>/seed<k>/      the job's inputs, run folder (train/) and log (local only)
    leaderboard.md, leaderboard.csv     one row per (reward function, track)
    runs.csv                            one row per job
    learning_curves.png                 evaluation completion against env steps, seed spread

An interrupted bench resumes where it stopped: finished jobs are skipped, an unfinished job
starts again from nothing (a resumed run would get a fresh budget, and the comparison would not
be fair).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import ConfigError, RacerError
from racer.logs.atomic import write_text_atomic
from racer.raceline import ideal_lap_time
from racer.track import load_track

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$")


def parse_budget(text: str | float) -> float:
    """A budget like ``10m``, ``90s``, ``1.5h`` or a bare number of minutes, in minutes.

    Raises:
        ConfigError: not a positive duration.
    """
    if isinstance(text, int | float):
        minutes = float(text)
    else:
        match = _BUDGET.match(str(text))
        if not match:
            raise ConfigError(f"the budget {text!r} is not a duration: write e.g. 10m, 90s or "
                              "1.5h.")  # fmt: skip
        value, unit = float(match.group(1)), match.group(2) or "m"
        minutes = value / 60.0 if unit.startswith("s") else value * 60.0 if unit == "h" else value
    if not minutes > 0.0:
        raise ConfigError(f"the budget must be positive, got {text!r}.")
    return minutes


@dataclass(frozen=True)
class Job:
    """One training run of a bench, self-contained so any worker can run it.

    Attributes:
        reward_name: the reward function's name (its file stem).
        reward_source: the reward function's text.
        track_name: the track's name (its file stem).
        track_rows: the track file's (N, 6) rows, as nested lists [m].
        seed: the run's seed.
        budget_minutes: [min] training wall time.
        laps: laps of the evaluation after training.
        num_envs: cars trained at once.
        run_dir: where the job writes its files (on the worker's machine).
        obstacles: boxes on the track (object avoidance; 0 for a time trial).
        randomize_obstacles: move the boxes at every episode.
        bots: bot cars on the track (head-to-bot).
        race: train with the race recipe.
        threads: torch's and the camera's threads (0: every core, `auto_threads`); the
            bench gives each of its jobs a share (`job_threads`).
    """

    reward_name: str
    reward_source: str
    track_name: str
    track_rows: list[list[float]]
    seed: int
    budget_minutes: float
    laps: int
    num_envs: int
    run_dir: str
    obstacles: int = 0
    randomize_obstacles: bool = False
    bots: int = 0
    race: bool = False
    threads: int = 0

    @property
    def key(self) -> str:
        """``<reward>__<track>__seed<k>``: the job's name in results/."""
        return f"{self.reward_name}__{self.track_name}__seed{self.seed}"


@dataclass(frozen=True)
class BenchPlan:
    """What a bench compares.

    Attributes:
        rewards: reward function files or bundled example names.
        tracks: bundled track names or ``.npy`` paths.
        seeds: the seeds, the same for every (reward, track).
        budget_minutes: [min] training wall time of each run.
        laps: laps of each evaluation (DeepRacer's console: 3).
        num_envs: cars trained at once in each run.
        obstacles: boxes on the track in training and evaluation (object avoidance), 0: none.
        randomize_obstacles: move the boxes at every episode.
        bots: bot cars on the track (head-to-bot), 0: none.
        race: train with the race recipe (`racer.train.recipe`: the track's racing action
            space and its settings), each run with its own reward function.
    """

    rewards: tuple[str, ...]
    tracks: tuple[str, ...]
    seeds: tuple[int, ...]
    budget_minutes: float
    laps: int = 3
    num_envs: int = 16
    obstacles: int = 0
    randomize_obstacles: bool = False
    bots: int = 0
    race: bool = False

    def __post_init__(self) -> None:
        if not self.rewards or not self.tracks or not self.seeds:
            raise ConfigError("a bench needs at least one reward function, track and seed.")
        if self.laps < 1 or self.num_envs < 1:
            raise ConfigError(f"laps and cars must be at least 1, got {self.laps}, "
                              f"{self.num_envs}.")  # fmt: skip
        if self.obstacles < 0 or self.bots < 0:
            raise ConfigError(f"obstacles and bots must be >= 0, got {self.obstacles}, "
                              f"{self.bots}.")  # fmt: skip

    def jobs(self, out: Path) -> list[Job]:
        """The jobs, reward-major, with their inputs read now (bad inputs fail here).

        Raises:
            ConfigError: a reward function or track that cannot be read, or two with one name.
        """
        from racer.env.config import EnvConfig
        from racer.reward.plugin import resolve_reward_path
        from racer.reward.worker import RewardWorker

        rewards = []
        timeout = EnvConfig().reward_timeout  # the jobs train with the default settings
        for spec in self.rewards:
            path = resolve_reward_path(spec)
            # A broken function fails before any run. Imported in a worker process, as the jobs'
            # training does: module-level code that hangs or exits cannot take the bench with it.
            RewardWorker(path, timeout=timeout).close()
            rewards.append((path.stem, path.read_text()))
        tracks = []
        for spec in self.tracks:
            track = load_track(spec)
            rows = np.load(track.source) if track.source.endswith(".npy") else None
            if rows is None:
                raise ConfigError(f"cannot read the rows of the track {spec}.")
            tracks.append((track.name, np.asarray(rows, np.float64).tolist()))
        for kind, names in (("reward function", [r[0] for r in rewards]),
                            ("track", [t[0] for t in tracks])):  # fmt: skip
            if len(set(names)) != len(names):
                raise ConfigError(f"two {kind}s of the bench share a name ({names}): rename "
                                  "one file so that results can tell them apart.")  # fmt: skip
        return [Job(reward, source, track, rows, seed, self.budget_minutes, self.laps,
                    self.num_envs, str(out / "runs" / reward / track / f"seed{seed}"),
                    self.obstacles, self.randomize_obstacles, self.bots, self.race)
                for reward, source in rewards for track, rows in tracks
                for seed in self.seeds]  # fmt: skip


# ------------------------------------------------------------------------------------- one job
def run_job(job: Job | dict[str, Any], say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, evaluate and measure one job; returns its result (JSON-ready).

    An unfinished earlier attempt in the job's folder is removed first, so every run trains for
    exactly its budget from nothing.
    """
    from racer.env.config import EnvConfig
    from racer.objects.bots import BotConfig
    from racer.objects.obstacles import ObstacleConfig
    from racer.train.config import TrainConfig
    from racer.train.runs import evaluate_and_log, load_policy
    from racer.train.trainer import Trainer

    job = job if isinstance(job, Job) else Job(**job)
    started = time.perf_counter()
    root = Path(job.run_dir)
    inputs, run = root / "input", root / "train"
    if run.exists():
        shutil.rmtree(run)
    inputs.mkdir(parents=True, exist_ok=True)
    reward = inputs / f"{job.reward_name}.py"
    reward.write_text(job.reward_source)
    track = inputs / f"{job.track_name}.npy"
    np.save(track, np.asarray(job.track_rows, np.float64))
    env = EnvConfig(track=str(track), reward_function=str(reward),
                    obstacles=ObstacleConfig(count=job.obstacles,
                                             randomize=job.randomize_obstacles),
                    bots=BotConfig(count=job.bots))  # fmt: skip
    config = TrainConfig(env=env, seed=job.seed, minutes=job.budget_minutes,
                         num_envs=job.num_envs, race=job.race, torch_threads=job.threads,
                         numba_threads=job.threads)  # fmt: skip
    trained = Trainer(config, run, say=say).run()
    if trained.stopped == "interrupted":
        raise KeyboardInterrupt
    # The job's own reward function (it trained with it): its evaluation log keeps the rewards.
    evaluation = evaluate_and_log(load_policy(run, "best"), laps=job.laps, rewards=True).result
    ideal = ideal_lap_time(load_track(str(track)))
    from racer.logs.progress import read_progress

    curve = read_progress(run / "logs" / "progress.csv")
    return {
        "key": job.key, "reward": job.reward_name, "track": job.track_name, "seed": job.seed,
        "budget_minutes": job.budget_minutes, "obstacles": job.obstacles,
        "randomize_obstacles": job.randomize_obstacles, "bots": job.bots, "race": job.race,
        "train_seconds": trained.state.seconds, "timesteps": trained.state.timesteps,
        "episodes": trained.state.episodes, "steps_per_second": trained.steps_per_second,
        "best_update": trained.state.best_update,
        "steps_to_first_lap": steps_to_first_lap(run),
        "laps_target": job.laps, "laps": evaluation.laps,
        "lap_times": list(evaluation.lap_times), "off_track": evaluation.off_track,
        "crashed": evaluation.crashed, "resets": evaluation.resets,
        "ideal_lap_time": ideal,
        "curve": {"timesteps": curve["timesteps"].tolist(), "seconds": curve["seconds"].tolist(),
                  "eval_progress": curve["eval_progress"].tolist()},
        "wall_seconds": time.perf_counter() - started, "run_dir": str(run),
    }  # fmt: skip


def steps_to_first_lap(run: Path) -> int:
    """Env steps (summed over cars) logged up to and including the first completed lap.

    Counted over the training simtrace in log order (episodes are logged as they finish), so
    steps of episodes still running at that moment are not included: a slight undercount. -1
    when no training episode completed a lap.
    """
    from racer.logs.simtrace import find_simtraces, read_simtrace

    files = find_simtraces(run)["training"]
    if not files:
        return -1
    trace = read_simtrace(files)
    steps = 0
    status = trace["episode_status"]
    for _, _, rows in trace.episodes():
        steps += len(rows)
        if str(status[rows[-1]]) == "lap_complete":
            return steps
    return -1


def _job_main(job_file: str) -> int:
    """A local worker process: run the job in ``job_file``, write its result beside it."""
    path = Path(job_file)
    job = Job(**json.loads(path.read_text()))
    result = run_job(job, say=lambda line: print(line, flush=True))
    write_text_atomic(path.with_name("result.json"), json.dumps(result, indent=1) + "\n")
    return 0


# ------------------------------------------------------------------------------------- the bench
@dataclass
class BenchResult:
    """What `run_bench` did."""

    out: Path
    results: list[dict[str, Any]]
    ran: int
    skipped: int
    leaderboard: Path
    leaderboard_csv: Path
    runs_csv: Path
    curves: Path
    seconds: float


def run_bench(
    plan: BenchPlan,
    out: str | Path,
    *,
    backend: str = "local",
    jobs: int = 1,
    address: str | None = None,
    say: Callable[[str], None] = print,
) -> BenchResult:
    """Run every job of ``plan`` not already finished in ``out``, then write the leaderboard.

    Args:
        plan: what to compare.
        out: the bench folder (created; an existing one must hold the same plan).
        backend: ``local`` (processes on this machine) or ``ray``.
        jobs: local jobs at once; each trains with the cores divided among them (`job_threads`)
            as its torch and its camera threads, a Ray task with one of each.
        address: the Ray cluster (``ray.init(address=...)``); None starts a local instance.
        say: where progress lines go.

    Raises:
        ConfigError: bad plan or inputs, a bench folder holding another plan, no ray.
        RacerError: a job failed (its log is named; finished jobs are kept).
    """
    started = time.perf_counter()
    out = Path(out)
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend must be local or ray, got {backend!r}.")
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}.")
    job_list = plan.jobs(out)
    _check_plan_file(out, plan)
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    todo = [j for j in job_list if not (results_dir / f"{j.key}.json").exists()]
    skipped = len(job_list) - len(todo)
    if skipped:
        say(f"bench: {skipped} of {len(job_list)} runs already finished in {out}; "
            f"running the other {len(todo)}")  # fmt: skip
    else:
        say(f"bench: {len(job_list)} runs of {plan.budget_minutes:g} min in {out}")

    def keep(result: dict[str, Any]) -> None:
        write_text_atomic(results_dir / f"{result['key']}.json", json.dumps(result, indent=1))
        say(f"bench: finished {summary_line(result)}")

    if todo:
        if backend == "local":
            _run_local(todo, jobs, keep, say)
        else:
            _run_ray(todo, address, keep, say)
    results = [json.loads((results_dir / f"{j.key}.json").read_text()) for j in job_list]
    from racer.lab.leaderboard import write_leaderboard

    files = write_leaderboard(results, out)
    return BenchResult(out, results, len(todo), skipped, *files, time.perf_counter() - started)


def _times(times: Sequence[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times) or "-"


def _check_plan_file(out: Path, plan: BenchPlan) -> None:
    path = out / "bench.json"
    data = asdict(plan)
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {path} ({exc}): delete the bench folder {out} or "
                              "choose another --out.") from None  # fmt: skip
        # A plan written before a setting existed holds that setting's default.
        defaults = {f.name: f.default for f in fields(BenchPlan) if f.default is not MISSING}
        changed = sorted(k for k in data if old.get(k, defaults.get(k)) != data[k])
        if changed:
            raise ConfigError(
                f"{out} holds a different bench (its {', '.join(changed)} differ from this "
                f"command's): choose another --out, or repeat the command that started it "
                f"({path} holds its settings)."
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def job_threads(jobs: int, cores: int | None = None) -> int:
    """Torch and camera threads of each of ``jobs`` local jobs: the cores divided, at least 1.

    Each job alone would take every core (`racer.train.config.auto_threads`); jobs that wait
    for each other's cores train several times slower.
    """
    from racer.train.config import auto_threads, usable_cores

    cores = usable_cores() if cores is None else cores
    return auto_threads(max(cores // max(jobs, 1), 1))


def _run_local(todo: list[Job], jobs: int, keep: Callable[[dict[str, Any]], None],
               say: Callable[[str], None]) -> None:  # fmt: skip
    """One process per job (``python -m racer.lab.bench JOB.json``), ``jobs`` at once."""
    pending = [replace(job, threads=job_threads(jobs)) for job in todo]
    running: list[tuple[Job, subprocess.Popen[bytes], Path]] = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        while pending or running:
            while pending and len(running) < jobs:
                job = pending.pop(0)
                root = Path(job.run_dir)
                root.mkdir(parents=True, exist_ok=True)
                (root / "result.json").unlink(missing_ok=True)
                job_file = root / "job.json"
                write_text_atomic(job_file, json.dumps(asdict(job)))
                log = root / "bench.log"
                with log.open("wb") as handle:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "racer.lab.bench", str(job_file)],
                        stdout=handle, stderr=subprocess.STDOUT, env=env)  # fmt: skip
                say(f"bench: started {job.key} (log {log})")
                running.append((job, process, log))
            time.sleep(0.2)
            for entry in list(running):
                job, process, log = entry
                if process.poll() is None:
                    continue
                running.remove(entry)
                result_file = Path(job.run_dir) / "result.json"
                if process.returncode != 0 or not result_file.exists():
                    raise RacerError(
                        f"the bench run {job.key} failed (exit {process.returncode}); its log is "
                        f"{log}. Finished runs are kept: fix the cause and repeat the command "
                        "to run the rest."
                    )
                keep(json.loads(result_file.read_text()))
    finally:
        for _, process, _ in running:  # Ctrl-C or a failure: stop the others
            process.terminate()
        for _, process, _ in running:
            process.wait()


def _run_ray(todo: list[Job], address: str | None, keep: Callable[[dict[str, Any]], None],
             say: Callable[[str], None]) -> None:  # fmt: skip
    """One Ray task per job; results are gathered as they finish."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'racer[ray]' (or pip install "
                          "ray).") from None  # fmt: skip
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
        refs = {task.remote(asdict(replace(job, threads=1))): job for job in todo}
        say(f"bench: {len(refs)} Ray tasks submitted ({ray.cluster_resources().get('CPU', 0):g} "
            "CPUs in the cluster)")  # fmt: skip
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            job = refs.pop(done[0])
            try:
                keep(ray.get(done[0]))
            except ray.exceptions.RayTaskError as exc:
                for ref in refs:
                    ray.cancel(ref, force=True)
                raise RacerError(f"the bench run {job.key} failed on Ray: {exc.cause!r}. "
                                 "Finished runs are kept; repeat the command to run the "
                                 "rest.") from None  # fmt: skip
    finally:
        if started_here:
            ray.shutdown()


def _ray_job(job: dict[str, Any]) -> dict[str, Any]:
    """A Ray task: the job in the worker's process, its output lines into the job's log."""
    root = Path(job["run_dir"])
    root.mkdir(parents=True, exist_ok=True)
    with (root / "bench.log").open("w") as log:
        def say(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        return run_job(job, say=say)


def summary_line(result: dict[str, Any]) -> str:
    """One job's outcome on one line."""
    laps = f"{result['laps']}/{result['laps_target']}"
    first = result["steps_to_first_lap"]
    return (f"{result['key']}: {laps} laps, lap times [s] {_times(result['lap_times'])}, off "
            f"track {result['off_track']}, first training lap after "
            f"{first if first >= 0 else '-'} steps")  # fmt: skip


if __name__ == "__main__":
    sys.exit(_job_main(sys.argv[1]))

