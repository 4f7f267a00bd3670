"""The ``racer`` command line. Each subcommand imports what it needs, when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from racer.errors import RacerError
from racer.physics.motion import DEFAULT_MOTION_MODEL, MOTION_MODELS


def _tracks_list(args: argparse.Namespace) -> int:
    from racer.track import list_bundled_tracks

    infos = list_bundled_tracks()
    header = f"{'name':20s} {'length':>8s} {'width':>7s} {'waypoints':>9s}  {'direction':9s}"
    print(f"{header} description")
    for i in infos:
        print(f"{i.name:20s} {i.length:7.2f}m {i.width:6.3f}m {i.num_waypoints:9d}  "
              f"{i.direction:9s} {i.description}")  # fmt: skip
    print("\nAny DeepRacer track .npy file works too: racer tracks show path/to/track.npy")
    return 0


def _tracks_show(args: argparse.Namespace) -> int:
    from racer.plots.track import draw_track
    from racer.track import load_track

    track = load_track(args.track, reverse=args.reverse)
    out = draw_track(track, args.out)
    print(f"{track.name}: {track.length:.2f} m, mean width {track.mean_width:.3f} m, "
          f"{track.num_waypoints} waypoints -> {out}")  # fmt: skip
    return 0


def _drive(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from racer.env.config import EnvConfig
    from racer.env.core import RacerCore
    from racer.env.rollout import autopilot_driver, rollout
    from racer.plots.frames import save_frames
    from racer.plots.track import draw_track

    config = EnvConfig(track=args.track, reverse=args.reverse,
                       model_metadata=args.model_metadata or "",
                       strict_action_space=not args.simulator_limits)  # fmt: skip
    core = RacerCore(config, 1)
    frames, reward, info = [], 0.0, {}
    try:
        for step in rollout(core, autopilot_driver(core), rngs=[np.random.default_rng(0)],
                            max_steps=args.max_steps):  # fmt: skip
            reward += float(step.rewards[0])
            frames.append(step.obs[0])
            info = step.infos[0]
    finally:
        core.close()
    status = info["episode_status"]
    print(f"{core.tracks[0].name}: {status} after {info['steps']} steps, "
          f"lap time {info['lap_time']:.2f} s (simulated), progress {info['progress']:.1f} %, "
          f"total reward {reward:.1f}")  # fmt: skip
    if args.out:
        out = Path(args.out)
        track = core.tracks[int(args.reverse)]
        draw_track(track, out / "track.png")
        picks = [frames[int(k)] for k in np.linspace(1, len(frames) - 1, 6)]
        save_frames(picks, out / "camera.png")
        print(f"wrote {out / 'track.png'} and {out / 'camera.png'} (6 camera frames of the lap)")
    return 0 if status == "lap_complete" else 1


def _validate(args: argparse.Namespace) -> int:
    memory_limit = int(args.memory_limit * 2**30)
    if args.params:
        return _replay_call(args.reward, args.params, args.timeout, args.sandbox, memory_limit)
    from racer.lab.validate import validate_reward_function
    obstacles, bots = _race_type(args)
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


def _warn_console_rejects(reward: str) -> None:
    """Say, before training, what in the reward file the DeepRacer console would refuse."""
    from racer.reward.console import forbidden_findings
    from racer.reward.plugin import resolve_reward_path

    findings = forbidden_findings(resolve_reward_path(reward))
    if findings:
        print(f"warning: {reward} imports or calls what the DeepRacer console forbids. racer "
              "runs it as your own code, with your permissions (network, files, programs); "
              "`racer validate --sandbox` shows what it does without them:", file=sys.stderr)
        for finding in findings:
            print(f"  {finding}", file=sys.stderr)


def _rescore(args: argparse.Namespace) -> int:
    from racer.lab.rescore import rescore_run

    kind = "evaluation" if args.evaluation else "training"
    result = rescore_run(args.run, args.reward, args.track, out=args.out, kind=kind,
                         timeout=args.timeout)  # fmt: skip
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


def _run_track(run: str) -> str:
    """The track a racer run folder recorded in its racer.toml, for ``--track``'s default."""
    from pathlib import Path

    from racer.errors import ConfigError
    from racer.logs.run_folder import RunFolder
    from racer.train.runs import run_env_config

    folder = RunFolder(run)
    if not (Path(run).is_dir() and folder.config_file.exists()):
        raise ConfigError(f"{run} is not a racer run folder with a racer.toml (a DeepRacer log "
                          "folder or a simtrace file): give the track it was driven on, "
                          "--track NAME_OR_NPY.")  # fmt: skip
    return run_env_config(folder).track


def _replay(args: argparse.Namespace) -> int:
    if args.track is None:
        args.track = _run_track(args.run)
    if not args.out:
        from racer.viewer.app import replay_window

        episodes = replay_window(args.run, args.track, episode=args.episode,
                                 iteration=args.iteration, evaluation=args.evaluation,
                                 colour_by=args.colour_by)  # fmt: skip
        for warning in episodes.warnings:
            print(f"racer: warning: {warning}", file=sys.stderr)
        return 0
    from racer.viewer.export import export_episode

    result = export_episode(args.run, args.track, episode=args.episode, iteration=args.iteration,
                            evaluation=args.evaluation, out=args.out, fps=args.fps,
                            colour_by=args.colour_by)  # fmt: skip
    for warning in result.warnings:
        print(f"racer: warning: {warning}", file=sys.stderr)
    print(f"replayed episode {result.episode} (iteration {result.iteration}): {result.frames} "
          f"frames, {result.sim_seconds:.1f} s of video in {result.seconds:.1f} s")  # fmt: skip
    print(f"video: {result.out}")
    return 0


def _raceline(args: argparse.Namespace) -> int:
    from racer.lab.raceline import run_raceline
    from racer.physics.car import CarParams
    from racer.physics.motion import make_motion_model

    model = make_motion_model(args.motion_model, CarParams())
    report = run_raceline(args.track, args.out, margin=args.margin, spacing=args.spacing,
                          reverse=args.reverse, model=model, draw=not args.no_draw)  # fmt: skip
    print(report.format())
    return 0


def _bench(args: argparse.Namespace) -> int:
    from racer.lab.bench import BenchPlan, parse_budget, run_bench, summary_line

    tracks = tuple(t.strip() for t in args.tracks.split(",") if t.strip())
    plan = BenchPlan(tuple(args.rewards), tracks, tuple(range(args.seeds)),
                     parse_budget(args.budget), laps=args.laps, num_envs=args.envs,
                     obstacles=args.obstacles, randomize_obstacles=args.randomize_obstacles,
                     bots=args.bots)  # fmt: skip
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


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from racer.errors import ConfigError
    from racer.train.config import (
        TRAIN_FLAGS,
        TrainConfig,
        config_from_flags,
        load_config,
    )
    from racer.train.trainer import Trainer

    if args.resume:
        if args.config:
            raise ConfigError("--resume continues a run with its own racer.toml: leave out "
                              "--config (or start a new run from it without "
                              "--resume).")  # fmt: skip
        trainer = Trainer(None, args.resume, resume=True)
        pairs = (("minutes", args.minutes), ("max_updates", args.updates))
        overrides = {key: value for key, value in pairs if value is not None}
        trainer.config = replace(trainer.config, **overrides)
    else:
        obstacles, bots = _race_type(args)
        flags = {dest: getattr(args, dest) for dest in TRAIN_FLAGS}
        flags.update(obstacles=obstacles, bots=bots)
        base = load_config(args.config) if args.config else TrainConfig()
        config = config_from_flags(base, flags)
        _check_train_inputs(config)
        trainer = Trainer(config, args.out, pretrained=args.pretrained)
    cfg = trainer.config
    _warn_console_rejects(cfg.env.reward_function)
    live = None
    if args.live:
        from racer.viewer.live import LiveView

        live = LiveView(cfg.env.track, reverse=cfg.env.reverse)
        trainer.watch = live
    print(f"training on {cfg.env.track} with {cfg.env.reward_function}, {cfg.num_envs} cars, "
          f"run folder {trainer.folder.root}"
          + (f", budget {cfg.minutes:g} min" if cfg.minutes else ""))  # fmt: skip
    try:
        result = trainer.run()
    finally:
        if live is not None:
            live.close()
    state = result.state
    print(f"stopped ({result.stopped}) after update {state.update} (iteration "
          f"{state.iteration}): {state.episodes} episodes, {state.timesteps:,} steps, "
          f"{state.seconds / 60:.1f} min of training, {result.steps_per_second:,.0f} steps/s; "
          f"best model: update {state.best_update} ({state.best_progress:.1f} % evaluation "
          f"completion)")  # fmt: skip
    if state.first_lap_check >= 0:
        print(f"first lap check with every lap driven: update {state.first_lap_check}, after "
              f"{state.first_lap_seconds / 60:.1f} min of training")  # fmt: skip
    return 130 if result.stopped == "interrupted" else 0


def _check_train_inputs(config: Any) -> None:
    """Fail on a new run's bad track, reward function, hyperparameters or model_metadata now.

    `_train` calls it before it says what it trains on; the trainer checks them again.
    """
    from racer.env.config import load_metadata
    from racer.reward.plugin import resolve_reward_path
    from racer.track import load_track
    from racer.train.hyperparameters import load_hyperparameters

    load_track(config.env.track, deduplicate=config.env.deduplicate_waypoints)
    resolve_reward_path(config.env.reward_function)
    if config.hyperparameters:
        load_hyperparameters(config.hyperparameters)
    load_metadata(config.env)


def _evaluate(args: argparse.Namespace) -> int:
    from racer.train.runs import evaluate_and_log, load_policy

    loaded = load_policy(args.model, args.checkpoint, args.iteration)
    run = evaluate_and_log(loaded, track=args.track, reverse=True if args.reverse else None,
                           laps=args.laps, resets=args.resets, out=args.out,
                           rewards=args.rewards)  # fmt: skip
    result = run.result
    track = args.track or loaded.env.track
    print(f"{loaded.source} on {track}: {result.summary()}")
    if result.lap_times:
        from racer.physics.motion import make_motion_model
        from racer.raceline import ideal_lap_time
        from racer.track import load_track

        reverse = True if args.reverse else loaded.env.reverse
        model = make_motion_model(loaded.env.motion_model, loaded.env.car)
        ideal = ideal_lap_time(load_track(track, reverse=reverse), model)
        ratios = ", ".join(f"{t / ideal:.2f}" for t in result.lap_times)
        print(f"total time {result.total_time:.2f} s (penalties included); lap time / ideal lap "
              f"({ideal:.2f} s on the racing line, racer raceline): {ratios}")  # fmt: skip
    if run.simtrace is not None:
        print(f"evaluation simtrace: {run.simtrace}\nevaluation metrics:  {run.metrics}")
        if not run.rewards:
            print(f"rewards not computed (logged as 0): add --rewards to score the steps with "
                  f"{loaded.env.reward_function}, which runs that file")  # fmt: skip
    return 0 if result.complete else 1


def _race(args: argparse.Namespace) -> int:
    from racer.train.race import race_and_log
    from racer.train.runs import load_policy

    entries = [load_policy(model, args.checkpoint) for model in args.models]
    obstacles, bots = _race_type(args)
    try:
        logged = race_and_log(entries, list(args.models), out=args.out, track=args.track,
                              laps=args.laps, resets=args.resets, obstacles=obstacles,
                              bots=bots, reverse=True if args.reverse else None,
                              simapp_rules=args.simapp_rules, rewards=args.rewards)  # fmt: skip
    except KeyboardInterrupt:
        print("racer: race interrupted; its logs are written only when it ends, so nothing "
              f"was written to {args.out}.", file=sys.stderr)  # fmt: skip
        return 130
    result = logged.result
    print(f"race on {result.track}, {len(entries)} racers, {result.steps} steps:\n")
    print(result.table())
    print(f"standings: {logged.standings}")
    print(f"replay a racer with the others: racer replay {logged.folder / 'seat-0'} --track "
          f"{result.track} --evaluation")  # fmt: skip
    return 0


def _export(args: argparse.Namespace) -> int:
    from racer.train.runs import export_run

    path, difference = export_run(args.run, args.checkpoint)
    print(f"exported {path} (with model_metadata.json beside it); onnxruntime vs torch on "
          f"frames of the policy's own drive: max abs difference {difference:.2e}")  # fmt: skip
    print(f"evaluate it without stable-baselines3: racer evaluate {path}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from racer.logs.run_folder import RunFolder
    from racer.plots.reward_graph import draw_reward_graph
    from racer.train.hyperparameters import load_hyperparameters

    run = RunFolder(args.run)
    if not run.metrics_file.exists():
        from racer.errors import LogError

        raise LogError(f"{run.metrics_file} is missing: {args.run} is not a trained run folder.")
    episodes = load_hyperparameters(run.hyperparameters).num_episodes_between_training
    out = Path(args.out) if args.out else run.root / "reward_graph.png"
    draw_reward_graph(run.metrics_file, episodes, out)
    print(f"reward graph: {out}")
    return 0


def _add_race_type(
    parser: argparse.ArgumentParser, *, inherit: bool = False, bot_options: bool = True
) -> None:
    """The race-type options: boxes and bot cars.

    Their default is none, or with ``inherit`` the first model's settings; ``bot_options`` adds
    the bots' speed and lane changes.
    """
    default = None if inherit else 0
    where = "the first racer's settings" if inherit else "0"
    parser.add_argument("--obstacles", type=int, default=default,
                        help=f"object avoidance: boxes on the track (default {where})")
    parser.add_argument("--randomize-obstacles", action="store_true",
                        help="move the boxes (and their lanes) at every episode")  # fmt: skip
    parser.add_argument("--bots", type=int, default=default,
                        help=f"head-to-bot: bot cars on the track (default {where})")
    if bot_options:
        parser.add_argument("--bot-speed", type=float, default=0.2,
                            help="the bot cars' speed, in m/s (default 0.2, DeepRacer's)")
        parser.add_argument("--bot-lane-change", action="store_true",
                            help="bot cars change lanes every 3-5 s")  # fmt: skip


def _race_type(args: argparse.Namespace) -> tuple[Any, Any]:
    """The (ObstacleConfig, BotConfig) of `_add_race_type`'s options; None where not given."""
    from racer.objects.bots import BotConfig
    from racer.objects.obstacles import ObstacleConfig

    obstacles = bots = None
    if args.obstacles is not None:
        obstacles = ObstacleConfig(count=args.obstacles, randomize=args.randomize_obstacles)
    if args.bots is not None:
        bots = BotConfig(count=args.bots, speed=args.bot_speed, lane_change=args.bot_lane_change)
    return obstacles, bots


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="racer", description="A local DeepRacer-compatible simulator and reward-function lab."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tracks = sub.add_parser("tracks", help="list bundled tracks, or draw one")
    tracks.set_defaults(func=_tracks_list)
    tracks_sub = tracks.add_subparsers(dest="tracks_command")
    show = tracks_sub.add_parser("show", help="draw a track (bundled name or .npy path) to a PNG")
    show.add_argument("track", help="bundled track name or path of a DeepRacer .npy file")
    show.add_argument("--out", default="track.png", help="output image (default: track.png)")
    show.add_argument("--reverse", action="store_true", help="draw the reversed driving direction")
    show.set_defaults(func=_tracks_show)
    drive = sub.add_parser("drive", help="drive one lap with the centre-line autopilot")
    drive.add_argument("track", nargs="?", default="oval", help="bundled track name or .npy path")
    drive.add_argument("--reverse", action="store_true", help="drive the track backwards")
    drive.add_argument("--model-metadata", help="DeepRacer model_metadata.json (action space)")
    _add_simulator_limits(drive)
    drive.add_argument("--out", help="folder for a track drawing and camera frames")
    drive.add_argument("--max-steps", type=int, default=5000, help="give up after this many steps")
    drive.set_defaults(func=_drive)
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
    validate.add_argument("--track", default="oval", help="bundled track name or .npy path")
    validate.add_argument("--out", help="save the reward heat map here (PNG)")
    validate.add_argument("--model-metadata", help="model_metadata.json whose actions to try")
    validate.add_argument("--timeout", type=float, default=1.0,
                          help="longest a call may take, in seconds (default 1)")  # fmt: skip
    validate.add_argument("--seed", type=int, default=0, help="seed of the random poses")
    validate.add_argument("--lenient", action="store_true",
                          help="pass what only the DeepRacer console rejects (racer runs it)")
    validate.add_argument("--console", action="store_true",
                          help=argparse.SUPPRESS)  # the default now; kept for old scripts
    validate.add_argument("--sandbox", action="store_true",
                          help="run the function with no network, no writes and no programs "
                          "(what this machine allows; the report says what it did not)")
    validate.add_argument("--memory-limit", type=float, default=4.0, metavar="GB",
                          help="memory the function's worker process may use (default 4; "
                          "0: no limit)")  # fmt: skip
    _add_race_type(validate)
    validate.add_argument("--params", metavar="FILE.json",
                          help="replay one call with saved params (from a failure)")  # fmt: skip
    validate.set_defaults(func=_validate)
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
    rescore.add_argument("--timeout", type=float, default=1.0,
                         help="longest a call may take, in seconds (default 1)")  # fmt: skip
    rescore.set_defaults(func=_rescore)
    replay = sub.add_parser(
        "replay",
        help="replay logged episodes in a window, or render one to a GIF or MP4",
        description="Replay the episodes of a run's simtrace (a racer run, a deepracer-for-cloud "
        "model folder, a console download or one simtrace CSV): the track from above, the car, "
        "its trail coloured by reward, speed or action, the camera view re-rendered from the "
        "logged pose, and the step's numbers. Without --out a window opens: space play/pause, "
        "left/right step, up/down speed, n/p next/previous episode, w worst reward, o off-track "
        "moment, c trail colours, i camera, h help, q quit; the mouse scrubs the timeline. With "
        "--out the episode is rendered headless to a video. A damaged log is replayed up to "
        "the damage.",
    )  # fmt: skip
    replay.add_argument("run", help="model folder or simtrace CSV")
    replay.add_argument("--track",
                        help="the track the run was driven on (bundled name or .npy; default: "
                        "the one a racer run's racer.toml records)")  # fmt: skip
    which = replay.add_mutually_exclusive_group()
    which.add_argument("--episode", type=int, help="the logged episode number (default: first)")
    which.add_argument("--iteration", type=int,
                       help="replay the first episode of this iteration")  # fmt: skip
    replay.add_argument("--evaluation", action="store_true",
                        help="replay the evaluation logs, not the training logs")  # fmt: skip
    replay.add_argument("--out", help="render to this video (.gif or .mp4) instead of a window")
    replay.add_argument("--fps", type=float, default=15.0, help="frames per second (default 15)")
    replay.add_argument("--colour-by", choices=("reward", "speed", "action"), default="reward",
                        help="what the trail's colour shows (default reward)")  # fmt: skip
    replay.set_defaults(func=_replay)
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
    raceline = sub.add_parser(
        "raceline",
        help="compute a track's racing line and the ideal lap time on it",
        description="The minimum-curvature racing line inside the borders (keeping --margin "
        "from each), and the ideal lap time on it for racer's car (4 m/s top speed, the tyres' "
        "lateral grip, the speed response's acceleration and braking). Writes the line as "
        "waypoints (.npy, .csv with speeds, and a .py to paste into a reward function) and a "
        "drawing coloured by speed.",
    )  # fmt: skip
    raceline.add_argument("track", help="bundled track name or .npy path")
    raceline.add_argument("--out", help="output folder (default raceline-<track>)")
    raceline.add_argument("--margin", type=float, default=0.1,
                          help="distance kept from both borders, in m (default 0.1)")  # fmt: skip
    raceline.add_argument("--spacing", type=float, default=0.1,
                          help="distance between line points, in m (default 0.1)")  # fmt: skip
    raceline.add_argument("--reverse", action="store_true", help="drive the track backwards")
    raceline.add_argument("--no-draw", action="store_true", help="skip the PNG")
    raceline.add_argument("--motion-model", default=DEFAULT_MOTION_MODEL, choices=MOTION_MODELS,
                          help="the car that drives the line (default %(default)s)")  # fmt: skip
    raceline.set_defaults(func=_raceline)
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
    bench.add_argument("--tracks", default="oval",
                       help="comma-separated track names or .npy paths (default oval)")
    bench.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    bench.add_argument("--budget", default="10m",
                       help="training time per run: 10m, 90s, 1.5h (default 10m)")
    bench.add_argument("--laps", type=int, default=3, help="evaluation laps (default 3)")
    bench.add_argument("--envs", type=int, default=16, help="cars per training run (default 16)")
    _add_race_type(bench, bot_options=False)
    bench.add_argument("--out", default="runs/bench", help="bench folder (default runs/bench)")
    bench.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local processes, or Ray tasks (pip install 'racer[ray]')")  # fmt: skip
    bench.add_argument("--jobs", type=int, default=1,
                       help="local runs at once (default 1; each uses about one core)")  # fmt: skip
    bench.add_argument("--address",
                       help="Ray cluster address (default: a local Ray instance)")
    bench.set_defaults(func=_bench)
    train = sub.add_parser(
        "train",
        help="train a policy from camera images with PPO; writes a DeepRacer model folder",
        description="Train a PPO policy on the batched simulator. The run folder has DeepRacer's "
        "layout (training-simtrace/, metrics/TrainingMetrics.json, model/, ip/): "
        "deepracer-utils reads it. Each iteration is committed atomically; a stopped or killed "
        "run continues with --resume.",
    )  # fmt: skip
    # Every flag that sets a TrainConfig field defaults to None: left out, it keeps the value
    # of --config's file, or the field's default (`racer.train.config.TRAIN_FLAGS`).
    from racer.train.config import TrainConfig
    from racer.train.config import flag_default as d

    train.add_argument("--config", metavar="RACER.TOML",
                       help="start from this configuration (a run's racer.toml or run folder "
                       "reproduces that run); flags given as well override it")  # fmt: skip
    train.add_argument("--track", help=f"bundled track name or .npy path (default {d('track')})")
    train.add_argument("--reverse", action="store_true", default=None,
                       help="drive the track backwards")  # fmt: skip
    train.add_argument("--reward", help="reward function file or bundled example name (default "
                       f"{d('reward')})")  # fmt: skip
    train.add_argument("--model-metadata", help="DeepRacer model_metadata.json (actions, network)")
    _add_simulator_limits(train)
    train.add_argument("--reward-isolation", choices=("process", "none"),
                       help="run the reward calls in a worker process with a hard time limit "
                       f"(process), or in training's own (none) (default "
                       f"{d('reward_isolation')})")  # fmt: skip
    train.add_argument("--sandbox", action="store_true", default=None,
                       help="the reward worker gets no network, no writes outside the run's "
                       "logs/ and no programs (README: where the reward function "
                       "runs)")  # fmt: skip
    train.add_argument("--memory-limit", type=float, metavar="GB",
                       help="the reward worker's address space (default "
                       f"{d('memory_limit'):g}; 0: none)")  # fmt: skip
    train.add_argument("--hyperparameters", help="DeepRacer hyperparameters.json")
    train.add_argument("--network", help="network preset (overrides model_metadata.json)")
    train.add_argument("--envs", type=int, help=f"cars simulated at once (default {d('envs')})")
    train.add_argument("--seed", type=int, help=f"seed (default {d('seed')})")
    train.add_argument("--minutes", type=float,
                       help=f"wall-clock budget (default {d('minutes'):g})")  # fmt: skip
    train.add_argument("--updates", type=int, help="stop after this many PPO updates")
    train.add_argument("--deepracer-iterations", action="store_true", default=None,
                       help="update after num_episodes_between_training episodes, as DeepRacer "
                       f"(default: after {TrainConfig().steps_per_car} steps of every "
                       "car)")  # fmt: skip
    train.add_argument("--until-lapping", action="store_true", default=None,
                       help="stop once a lap check drives 3 clean laps")  # fmt: skip
    _add_race_type(train)
    train.set_defaults(simulator_limits=None, obstacles=None, bots=None)
    train.add_argument("--live", action="store_true",
                       help="watch car 0 of the batch drive, in a window of its own")  # fmt: skip
    train.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    train.add_argument("--pretrained", metavar="RUN",
                       help="start from another run's best model (DeepRacer's clone)")  # fmt: skip
    train.set_defaults(func=_train)
    evaluate = sub.add_parser(
        "evaluate", help="drive DeepRacer's evaluation laps with a trained or exported policy",
        description="DeepRacer's evaluation: laps from the start line; going off track costs a "
        "reset and a penalty pause. Writes the evaluation simtrace and metrics into the run.",
    )  # fmt: skip
    evaluate.add_argument("model", help="run folder, an exported .onnx file, or a DeepRacer "
                          "model (its .pb, a folder of model_<n>.pb, or the car's .tar.gz; "
                          "model_metadata.json beside it; needs racer[deepracer])")  # fmt: skip
    evaluate.add_argument("--track", help="another track (default: the run's)")
    evaluate.add_argument("--reverse", action="store_true", help="drive the track backwards")
    evaluate.add_argument("--laps", type=int, default=3, help="laps to drive (default 3)")
    evaluate.add_argument("--resets", type=int, default=10_000,
                          help="off-track resets allowed (the console's: 10000)")  # fmt: skip
    evaluate.add_argument("--checkpoint", default="best", choices=["best", "last"])
    evaluate.add_argument("--iteration", type=int,
                          help="a DeepRacer model folder's model_<n>.pb (default: newest)")
    evaluate.add_argument("--out", help="folder for the logs (default: the run folder)")
    evaluate.add_argument("--rewards", action="store_true",
                          help="score every step of the evaluation log with the run's reward "
                          "function (this imports and runs RUN/reward_function.py; without it "
                          "no reward function is loaded and the logged rewards are 0)")  # fmt: skip
    evaluate.set_defaults(func=_evaluate)
    race = sub.add_parser(
        "race", help="race several trained policies against each other on one track",
        description="A multi-car race with DeepRacer's rules: racer k starts 0.75 m x k behind "
        "the line on alternating lanes, each car sees the others, a crash between two cars is "
        "the one behind's, failures cost a reset and a penalty pause, finished cars park. "
        "Writes each racer's evaluation simtrace (with the others in its object log) and the "
        "standings.",
    )  # fmt: skip
    race.add_argument("models", nargs="+", help="run folders or exported .onnx files, in "
                      "starting order (the same model may race itself)")  # fmt: skip
    race.add_argument("--track", help="the track (default: the first racer's)")
    race.add_argument("--reverse", action="store_true", help="drive the track backwards")
    race.add_argument("--laps", type=int, default=3, help="laps to race (default 3)")
    race.add_argument("--resets", type=int, default=10_000,
                      help="failures each car survives with a penalty (default 10000)")  # fmt: skip
    _add_race_type(race, inherit=True)
    race.add_argument("--simapp-rules", action="store_true",
                      help="judge crashes between racers as the simapp does (wrapped progress) "
                      "and leave grid slots next to boxes as they are")  # fmt: skip
    race.add_argument("--checkpoint", default="best", choices=["best", "last"])
    race.add_argument("--rewards", action="store_true",
                      help="score each racer's steps with its run's reward_function.py (runs "
                      "that file; default: rewards logged as 0)")  # fmt: skip
    race.add_argument("--out", default="runs/races",
                      help="folder for the race logs (default runs/races)")  # fmt: skip
    race.set_defaults(func=_race)
    export = sub.add_parser("export", help="export a run's policy to ONNX (model/policy.onnx)")
    export.add_argument("run", help="run folder")
    export.add_argument("--checkpoint", default="best", choices=["best", "last"])
    export.set_defaults(func=_export)
    plot = sub.add_parser("plot", help="draw a run's reward graph as the DeepRacer console does")
    plot.add_argument("run", help="run folder")
    plot.add_argument("--out", help="output PNG (default RUN/reward_graph.png)")
    plot.set_defaults(func=_plot)
    return parser


def _add_simulator_limits(parser: argparse.ArgumentParser) -> None:
    """``--simulator-limits``, the flag the action-space errors point to (SIMULATOR_LIMITS_FIX)."""
    parser.add_argument(
        "--simulator-limits",
        action="store_true",
        help="accept an action space beyond the DeepRacer console's limits, as the simulator "
        "does (it clips the commands to +-30 deg and 0.1-4 m/s)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RacerError as exc:
        print(f"racer: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
