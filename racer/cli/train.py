"""``racer train``, ``evaluate``, ``race``, ``export`` and ``plot``: make and use policies."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from racer.cli.common import (
    RACE_OPTION_FIELDS,
    add_race_type,
    add_simulator_limits,
    config_defaults,
    race_type,
)

#: The flags that set a config dataclass field, per command: dest -> "Class.field". The rest of
#: ``racer train``'s are `racer.train.config.TRAIN_FLAGS` (unset by default, for ``--config``).
CONFIG_FLAGS: dict[str, dict[str, str]] = {
    "train": RACE_OPTION_FIELDS,
    "evaluate": {"laps": "EpisodeConfig.laps", "resets": "EpisodeConfig.number_of_resets"},
    "race": {"laps": "EpisodeConfig.laps", "resets": "EpisodeConfig.number_of_resets",
             **RACE_OPTION_FIELDS},
}  # fmt: skip


def _add_train(sub: argparse._SubParsersAction) -> None:
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
    from racer.formats.best_model import BEST_MODEL_METRICS
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
    add_simulator_limits(train)
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
    train.add_argument("--race", action="store_true", default=None,
                       help="racer's race recipe: the action space made from the track's racing "
                       "line and the car (discrete or continuous, as model_metadata.json's), "
                       "and the lap_time reward unless --reward names "
                       "another (README: training for lap time)")  # fmt: skip
    train.add_argument("--best-model-metric", choices=BEST_MODEL_METRICS,
                       help="which update is the best model: the fastest mean evaluation lap "
                       "(laptime), or DeepRacer's default, the best mean progress (progress), "
                       f"or reward (default {d('best_model_metric')})")  # fmt: skip
    train.add_argument("--max-episode-steps", type=int, metavar="N",
                       help="end a training episode after N steps, as a time limit (default "
                       f"DeepRacer's {d('max_episode_steps'):,})")  # fmt: skip
    train.add_argument("--device",
                       help="torch device for the updates: auto (a GPU when there is one), cpu, "
                       f"cuda, cuda:1, mps (default {d('device')})")  # fmt: skip
    train.add_argument("--torch-threads", type=int, metavar="N",
                       help="threads of torch's updates (0: the cores, 1 to 8) "
                       f"(default {d('torch_threads')})")  # fmt: skip
    train.add_argument("--numba-threads", type=int, metavar="N",
                       help="threads of the camera kernel (0: the cores, 1 to 8) "
                       f"(default {d('numba_threads')})")  # fmt: skip
    add_race_type(train)
    train.set_defaults(simulator_limits=None, obstacles=None, bots=None)
    train.add_argument("--live", action="store_true",
                       help="watch car 0 of the batch drive, in a window of its own")  # fmt: skip
    train.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    train.add_argument("--pretrained", metavar="MODEL",
                       help="start from another run's best model, or from a DeepRacer model "
                       "(its model.pb with model_metadata.json beside it or one folder up, or "
                       "a folder of model_<n>.pb: the newest), whose model_metadata.json and "
                       "network the run then takes (DeepRacer's clone)")  # fmt: skip
    train.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from racer.train.machine import machine_summary

    trainer = _trainer(args)
    cfg = trainer.config
    _warn_console_rejects(cfg.env.reward_function)
    live = None
    if args.live:
        from racer.viewer.live import LiveView

        live = LiveView(cfg.env.track, reverse=cfg.env.reverse)
        trainer.watch = live
    print(f"training on {cfg.env.track} with {cfg.env.reward_function}, {cfg.num_envs} cars, "
          f"run folder {trainer.folder.root}"
          + (f", budget {cfg.minutes:g} min" if cfg.minutes else "")
          + f"; {machine_summary(cfg)}")  # fmt: skip
    try:
        result = trainer.run()
    finally:
        if live is not None:
            live.close()
    state = result.state
    print(f"stopped ({result.stopped}) after update {state.update} (iteration "
          f"{state.iteration}): {state.episodes} episodes, {state.timesteps:,} steps, "
          f"{state.seconds / 60:.1f} min of training, {result.steps_per_second:,.0f} steps/s; "
          f"best model ({trainer.config.best_model_metric}): "
          + (f"update {state.best_update}, {state.best_progress:.1f} % evaluation completion"
             + (f", {state.best_laps} laps of {state.best_lap_time:.2f} s on average"
                if state.best_laps else "") if state.best_update >= 0 else "none"))  # fmt: skip
    if state.first_lap_check >= 0:
        print(f"first lap check with every lap driven: update {state.first_lap_check}, after "
              f"{state.first_lap_seconds / 60:.1f} min of training")  # fmt: skip
    return 130 if result.stopped == "interrupted" else 0


def _trainer(args: argparse.Namespace) -> Any:
    """The `racer.train.trainer.Trainer` of ``racer train``: a resumed run, or a new one."""
    from dataclasses import replace

    from racer.errors import ConfigError
    from racer.train.config import TRAIN_FLAGS, TrainConfig, config_from_flags, load_config
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
        return trainer
    obstacles, bots = race_type(args)
    flags = {dest: getattr(args, dest) for dest in TRAIN_FLAGS}
    flags.update(obstacles=obstacles, bots=bots)
    base = load_config(args.config) if args.config else TrainConfig()
    if args.race and args.reward is None and \
            base.env.reward_function == TrainConfig().env.reward_function:  # fmt: skip
        flags["reward"] = "lap_time"  # the race recipe's reward, unless one is named
    trainer = Trainer(config_from_flags(base, flags), args.out, pretrained=args.pretrained)
    _check_train_inputs(trainer.config)  # a DeepRacer model's clone takes its metadata
    return trainer


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


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["evaluate"])
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
    evaluate.add_argument("--laps", type=int, default=d["laps"],
                          help=f"laps to drive (default {d['laps']})")  # fmt: skip
    evaluate.add_argument("--resets", type=int, default=d["resets"],
                          help=f"off-track resets allowed (the console's: "
                          f"{d['resets']})")  # fmt: skip
    evaluate.add_argument("--checkpoint", default="best", choices=["best", "last"])
    evaluate.add_argument("--iteration", type=int,
                          help="a DeepRacer model folder's model_<n>.pb (default: newest)")
    evaluate.add_argument("--out", help="folder for the logs (default: the run folder)")
    evaluate.add_argument("--rewards", action="store_true",
                          help="score every step of the evaluation log with the run's reward "
                          "function (this imports and runs RUN/reward_function.py; without it "
                          "no reward function is loaded and the logged rewards are 0)")  # fmt: skip
    evaluate.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from racer.train.runs import evaluate_and_log, load_policy

    loaded = load_policy(args.model, args.checkpoint, args.iteration)
    run = evaluate_and_log(loaded, track=args.track, reverse=True if args.reverse else None,
                           laps=args.laps, resets=args.resets, out=args.out,
                           rewards=args.rewards)  # fmt: skip
    result = run.result
    track = args.track or loaded.env.track
    which = ""
    if loaded.run is not None and loaded.source.name in ("best.zip", "last.zip"):
        from racer.train.run_state import describe_checkpoint

        which = describe_checkpoint(loaded.run, loaded.source.stem)
    print(f"{loaded.source}{f' ({which})' if which else ''} on {track}: {result.summary()}")
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


def _add_race(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["race"])
    race = sub.add_parser(
        "race", help="race several trained policies against each other on one track",
        description="A multi-car race with DeepRacer's rules: racer k starts 0.75 m x k behind "
        "the line on alternating lanes, each car sees the others, a crash between two cars is "
        "the one behind's, failures cost a reset and a penalty pause, finished cars park. "
        "Writes each racer's evaluation simtrace (with the others in its object log) and the "
        "standings.",
    )  # fmt: skip
    race.add_argument("models", nargs="+", help="run folders, exported .onnx files or "
                      "DeepRacer models (.pb, a folder of model_<n>.pb, the car's .tar.gz), in "
                      "starting order (the same model may race itself)")  # fmt: skip
    race.add_argument("--track", help="the track (default: the first racer's)")
    race.add_argument("--reverse", action="store_true", help="drive the track backwards")
    race.add_argument("--laps", type=int, default=d["laps"],
                      help=f"laps to race (default {d['laps']})")  # fmt: skip
    race.add_argument("--resets", type=int, default=d["resets"],
                      help=f"failures each car survives with a penalty (default "
                      f"{d['resets']})")  # fmt: skip
    add_race_type(race, inherit=True)
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


def _race(args: argparse.Namespace) -> int:
    from racer.train.race import race_and_log
    from racer.train.runs import load_policy

    entries = [load_policy(model, args.checkpoint) for model in args.models]
    obstacles, bots = race_type(args)
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


def _add_export(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="export a run's policy: ONNX for racer, or DeepRacer's model.pb and car "
        "archive",
        description="onnx (default): RUN/model/policy.onnx, which racer evaluate and race run "
        "without stable-baselines3. deepracer: RUN/model/deepracer/model.pb (DeepRacer's frozen "
        "TensorFlow graph, its tensor names, shapes and input scaling), model_metadata.json and "
        "model.tar.gz, the archive the physical car loads; checked in OpenVINO, the car's "
        "runtime, against the torch policy (pip install 'racer[deepracer]').",
    )  # fmt: skip
    export.add_argument("run", help="run folder")
    export.add_argument("--checkpoint", default="best", choices=["best", "last"])
    export.add_argument("--format", default="onnx", choices=["onnx", "deepracer"],
                        help="onnx (default) or deepracer")  # fmt: skip
    export.add_argument("--out", help="folder for --format deepracer (default "
                        "RUN/model/deepracer)")  # fmt: skip
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from racer.logs.run_folder import RunFolder
    from racer.train.run_state import describe_checkpoint

    which = describe_checkpoint(RunFolder(args.run), args.checkpoint)
    origin = f" from {which}" if which else ""
    if args.format == "deepracer":
        from racer.train.deepracer_export import export_deepracer

        done = export_deepracer(args.run, args.out, checkpoint=args.checkpoint)
        print(f"exported {done.graph}{origin}, with {done.metadata.name} beside it, and the "
              f"car's archive {done.archive}")  # fmt: skip
        print(f"  {done.check.summary()} (frames of the policy's own drive on its track)")
        print(f"drive it in racer: racer evaluate {done.archive}")
        return 0
    if args.out:
        raise SystemExit("racer export: --out is for --format deepracer; the ONNX export goes to "
                         "RUN/model/policy.onnx.")  # fmt: skip
    from racer.train.runs import export_run

    path, difference = export_run(args.run, args.checkpoint)
    print(f"exported {path}{origin} (with model_metadata.json beside it); onnxruntime vs torch "
          f"on frames of the policy's own drive: max abs difference {difference:.2e}")  # fmt: skip
    print(f"evaluate it without stable-baselines3: racer evaluate {path}")
    return 0


def _add_plot(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser("plot", help="draw a run's reward graph as the DeepRacer console does")
    plot.add_argument("run", help="run folder")
    plot.add_argument("--out", help="output PNG (default RUN/reward_graph.png)")
    plot.set_defaults(func=_plot)


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


#: Each command's flags (``add_parser`` and its arguments), by name.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train": _add_train,
    "evaluate": _add_evaluate,
    "race": _add_race,
    "export": _add_export,
    "plot": _add_plot,
}
