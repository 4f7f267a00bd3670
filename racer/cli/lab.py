"""``racer validate``, ``rescore``, ``analyze`` and ``bench``: the reward-function lab."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from racer.cli.common import (
    RACE_COUNT_FIELDS,
    RACE_TYPE_FIELDS,
    add_race_type,
    config_defaults,
    race_type,
)

#: The flags that set a config dataclass field, per command: dest -> "Class.field". The bench's
#: flags are those of its training runs and evaluations (`racer.lab.bench.BenchPlan` agrees).
CONFIG_FLAGS: dict[str, dict[str, str]] = {
    "validate": {"track": "EnvConfig.track", "timeout": "EnvConfig.reward_timeout",
                 "sandbox": "EnvConfig.reward_sandbox",
                 "memory_limit": "EnvConfig.reward_memory_limit", **RACE_TYPE_FIELDS},
    "rescore": {"timeout": "EnvConfig.reward_timeout", "sandbox": "EnvConfig.reward_sandbox",
                "memory_limit": "EnvConfig.reward_memory_limit"},
    "bench": {"tracks": "EnvConfig.track", "laps": "EpisodeConfig.laps",
              "envs": "TrainConfig.num_envs", **RACE_COUNT_FIELDS,
              "randomize_obstacles": "ObstacleConfig.randomize", "race": "TrainConfig.race"},
}  # fmt: skip


def _add_validate(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["validate"])
    validate = sub.add_parser(
        "validate",
        help="check a reward function as the DeepRacer console does, then over the whole track",
        description="Check a reward function: the DeepRacer console's checks (syntax, names, "
        "imports, builtins, one parameter, five synthetic cars), then calls for cars all over the "
        "track in both directions, on and off the road, with every action, across the lap "
        "wrap-around, and real episodes in the simulator, in a worker process that is killed if "
        "a call hangs, crashes or runs out of memory. Exit status 0 only when it would run a "
        "whole training without failing and the DeepRacer console would accept it (--lenient: "
        "only the first).",
    )  # fmt: skip
    validate.add_argument("reward", help="reward function file (or a bundled example name)")
    validate.add_argument("--track", default=d["track"], help="bundled track name or .npy path")
    validate.add_argument("--out", help="save the reward heat map here (PNG)")
    validate.add_argument("--model-metadata", help="model_metadata.json whose actions to try")
    validate.add_argument("--timeout", type=float, default=d["timeout"],
                          help="longest a call may take, in seconds (default "
                          f"{d['timeout']:g})")  # fmt: skip
    validate.add_argument("--seed", type=int, default=0, help="seed of the random poses")
    validate.add_argument("--lenient", action="store_true",
                          help="pass what only the DeepRacer console rejects (racer runs it)")
    validate.add_argument("--console", action="store_true",
                          help=argparse.SUPPRESS)  # the default now; kept for old scripts
    validate.add_argument("--sandbox", action="store_true",
                          help="run the function with no network, no writes and no programs "
                          "(what this machine allows; the report says what it did not)")
    validate.add_argument("--memory-limit", type=float, default=d["memory_limit"], metavar="GB",
                          help="memory the function's worker process may use (default "
                          f"{d['memory_limit']:g}; 0: no limit)")  # fmt: skip
    add_race_type(validate)
    validate.add_argument("--params", metavar="FILE.json",
                          help="replay one call with saved params (from a failure)")  # fmt: skip
    validate.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    memory_limit = int(args.memory_limit * 2**30)
    if args.params:
        return _replay_call(args.reward, args.params, args.timeout, args.sandbox, memory_limit)
    from racer.lab.validate import validate_reward_function

    obstacles, bots = race_type(args)
    report = validate_reward_function(
        args.reward, args.track, model_metadata=args.model_metadata or "", heatmap=args.out,
        timeout=args.timeout, seed=args.seed,
        obstacles=obstacles, bots=bots, sandbox=args.sandbox, memory_limit=memory_limit,
    )  # fmt: skip
    print(report.format(lenient=args.lenient))
    if args.lenient:
        return 0 if report.ok else 1
    return 0 if report.console_ok else 1


def _replay_call(reward: str, params_file: str, timeout: float, sandbox: bool,
                 memory_limit: int) -> int:  # fmt: skip
    """Call a reward function once with saved params (``racer validate R.py --params F.json``)."""
    import json
    from pathlib import Path

    from racer.errors import ConfigError
    from racer.reward.failures import params_from_json
    from racer.reward.worker import RewardWorker

    path = Path(params_file)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the params file {path}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the params file {path} is not JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}.") from None  # fmt: skip
    if not isinstance(data, dict):
        raise ConfigError(f"the params file {path} must hold a JSON object (a params dict).")
    worker = RewardWorker(reward, 1, timeout=timeout, memory_limit=memory_limit,
                          sandbox=sandbox, save_failures=False)  # fmt: skip
    try:
        batch = worker.call([0], [params_from_json(data)], types=True)
    finally:
        worker.close()
    if batch.failures:
        print(f"racer: the call fails:\n{batch.failures[0][1]}", file=sys.stderr)
        return 1
    print(f"reward_function returned {batch.values[0]!r} ({batch.types[0]}) for {path}")
    return 0


def _add_rescore(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["rescore"])
    rescore = sub.add_parser(
        "rescore",
        help="score every logged step of a run with a new reward function (what-if)",
        description="Rebuild the params of every step a run logged (a racer run, a "
        "deepracer-for-cloud model folder, a console download or one simtrace CSV) and score them "
        "with a new reward function. Writes per-step and per-episode old vs new reward as CSV, and "
        "a plot.",
    )  # fmt: skip
    rescore.add_argument("run", help="model folder or simtrace CSV")
    rescore.add_argument("--reward", required=True, help="the new reward function file")
    rescore.add_argument("--track", required=True,
                         help="the track the run was driven on (bundled name or .npy)")  # fmt: skip
    rescore.add_argument("--out", help="output folder (default: ./rescore-<run>-<reward> in the "
                         "current folder; the run's own folder is never written to)")  # fmt: skip
    rescore.add_argument("--evaluation", action="store_true",
                         help="re-score the evaluation logs, not the training logs")  # fmt: skip
    rescore.add_argument("--timeout", type=float, default=d["timeout"],
                         help="longest a call may take, in seconds (default "
                         f"{d['timeout']:g})")  # fmt: skip
    rescore.add_argument("--sandbox", action="store_true",
                         help="the reward worker gets no network, no writes outside --out and "
                         "no programs (README: where the reward function runs)")  # fmt: skip
    rescore.add_argument("--memory-limit", type=float, default=d["memory_limit"], metavar="GB",
                         help="the reward worker's address space (default "
                         f"{d['memory_limit']:g}; 0: no limit)")  # fmt: skip
    rescore.set_defaults(func=_rescore)


def _rescore(args: argparse.Namespace) -> int:
    from racer.lab.rescore import rescore_run

    kind = "evaluation" if args.evaluation else "training"
    result = rescore_run(args.run, args.reward, args.track, out=args.out, kind=kind,
                         timeout=args.timeout, sandbox=args.sandbox,
                         memory_limit=int(args.memory_limit * 2**30))  # fmt: skip
    for warning in result.warnings:
        print(f"racer: warning: {warning}", file=sys.stderr)
    print(f"re-scored {result.steps:,} {kind} steps of {result.episodes:,} episodes with "
          f"{args.reward} ({result.calls:,} reward calls, {result.seconds:.1f} s)")  # fmt: skip
    print(f"correlation with the logged reward: {result.step_correlation:.3f} per step, "
          f"{result.episode_correlation:.3f} per episode")  # fmt: skip
    where = "" if args.out else " (a new folder in the current one; --out DIR chooses another)"
    print(f"wrote to {result.folder}{where}")
    print(f"per step:    {result.steps_csv}")
    print(f"per episode: {result.episodes_csv}")
    print(f"plot:        {result.plot}")
    if result.log.stat().st_size:
        print(f"prints:      {result.log}")
    return 0


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="draw the community notebooks' analysis plots of a run's training logs",
        description="Read a run's training simtraces (a racer run, a deepracer-for-cloud model "
        "folder, a console download or one simtrace CSV) and write PNGs: reward and speed heat "
        "maps, action distribution (overall and per track section), progress per episode and "
        "iteration, completion by start position and off-track locations, with an index.html.",
    )  # fmt: skip
    analyze.add_argument("run", help="model folder or simtrace CSV")
    analyze.add_argument("--track", required=True,
                         help="the track the run was driven on (bundled name or .npy)")  # fmt: skip
    analyze.add_argument("--out", help="output folder (default: RUN/analysis)")
    analyze.add_argument("--sections", type=int, default=6,
                         help="track sections of the per-section action charts")  # fmt: skip
    analyze.set_defaults(func=_analyze)


def _analyze(args: argparse.Namespace) -> int:
    from racer.lab.analyze import analyze_run

    result = analyze_run(args.run, args.track, out=args.out, sections=args.sections)
    for warning in result.analysis.warnings:
        print(f"racer: warning: {warning}", file=sys.stderr)
    a = result.analysis
    print(f"analysed {len(a.episode_progress):,} episodes in {len(a.iterations):,} iterations "
          f"on {a.track.name}: {len(result.plots)} plots in {result.out}")  # fmt: skip
    print(f"open: {result.index}")
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["bench"])
    bench = sub.add_parser(
        "bench",
        help="compare reward functions: train each on tracks x seeds with one budget, rank them",
        description="For each (reward function, track, seed): a training run with identical "
        "settings and wall-time budget, then DeepRacer's evaluation of its best checkpoint. "
        "Writes a leaderboard (Markdown and CSV: completion, mean and best lap time, lap time / "
        "ideal lap, off-track count, steps to the first lap) and learning curves with the seed "
        "spread. Runs are independent processes, or Ray tasks with --backend ray. Repeating the "
        "command resumes an interrupted bench and skips finished runs.",
    )  # fmt: skip
    bench.add_argument("rewards", nargs="+", help="reward function files or bundled names")
    bench.add_argument("--tracks", default=d["tracks"],
                       help="comma-separated track names or .npy paths (default "
                       f"{d['tracks']})")  # fmt: skip
    bench.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    bench.add_argument("--budget", default="10m",
                       help="training time per run: 10m, 90s, 1.5h (default 10m)")
    bench.add_argument("--laps", type=int, default=d["laps"],
                       help=f"evaluation laps (default {d['laps']})")  # fmt: skip
    bench.add_argument("--envs", type=int, default=d["envs"],
                       help=f"cars per training run (default {d['envs']})")  # fmt: skip
    add_race_type(bench, bot_options=False)
    bench.add_argument("--race", action="store_true",
                       help="train every run with the race recipe (racer train --race: the "
                       "track's racing action space and settings), each with its own reward")
    bench.add_argument("--out", default="runs/bench", help="bench folder (default runs/bench)")
    bench.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local processes, or Ray tasks (pip install 'racer[ray]')")  # fmt: skip
    bench.add_argument("--jobs", type=int, default=1,
                       help="local runs at once (default 1), each with its share of the "
                       "cores")  # fmt: skip
    bench.add_argument("--address",
                       help="Ray cluster address (default: a local Ray instance)")
    bench.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from racer.lab.bench import BenchPlan, parse_budget, run_bench, summary_line

    tracks = tuple(t.strip() for t in args.tracks.split(",") if t.strip())
    plan = BenchPlan(tuple(args.rewards), tracks, tuple(range(args.seeds)),
                     parse_budget(args.budget), laps=args.laps, num_envs=args.envs,
                     obstacles=args.obstacles, randomize_obstacles=args.randomize_obstacles,
                     bots=args.bots, race=args.race)  # fmt: skip
    try:
        result = run_bench(plan, args.out, backend=args.backend, jobs=args.jobs,
                           address=args.address)  # fmt: skip
    except KeyboardInterrupt:
        print(f"racer: bench interrupted; finished runs are kept in {args.out}/results: repeat "
              "the command to run the rest.", file=sys.stderr)  # fmt: skip
        return 130
    for r in result.results:
        print(summary_line(r))
    print()
    print(result.leaderboard.read_text())
    print(f"ran {result.ran} runs, skipped {result.skipped} finished ones, in "
          f"{result.seconds / 60:.1f} min")  # fmt: skip
    print(f"leaderboard: {result.leaderboard} and {result.leaderboard_csv}; runs: "
          f"{result.runs_csv}; learning curves: {result.curves}")  # fmt: skip
    return 0


#: Each command's flags (``add_parser`` and its arguments), by name.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "validate": _add_validate,
    "rescore": _add_rescore,
    "analyze": _add_analyze,
    "bench": _add_bench,
}
