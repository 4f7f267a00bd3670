"""``racer tracks``, ``drive``, ``replay`` and ``raceline``: look at tracks, laps and logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from racer.cli.common import add_simulator_limits, config_defaults
from racer.physics.motion import MOTION_MODELS

#: The flags that set a config dataclass field, per command: dest -> "Class.field".
CONFIG_FLAGS: dict[str, dict[str, str]] = {
    "drive": {"track": "EnvConfig.track", "reverse": "EnvConfig.reverse"},
    "raceline": {"motion_model": "EnvConfig.motion_model"},
}


def _add_tracks(sub: argparse._SubParsersAction) -> None:
    tracks = sub.add_parser("tracks", help="list bundled tracks, or draw one")
    tracks.set_defaults(func=_tracks_list)
    tracks_sub = tracks.add_subparsers(dest="tracks_command")
    show = tracks_sub.add_parser("show", help="draw a track (bundled name or .npy path) to a PNG")
    show.add_argument("track", help="bundled track name or path of a DeepRacer .npy file")
    show.add_argument("--out", default="track.png", help="output image (default: track.png)")
    show.add_argument("--reverse", action="store_true", help="draw the reversed driving direction")
    show.set_defaults(func=_tracks_show)


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


def _add_drive(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["drive"])
    drive = sub.add_parser("drive", help="drive one lap with the centre-line autopilot")
    drive.add_argument("track", nargs="?", default=d["track"],
                       help="bundled track name or .npy path")  # fmt: skip
    drive.add_argument("--reverse", action="store_true", help="drive the track backwards")
    drive.add_argument("--model-metadata", help="DeepRacer model_metadata.json (action space)")
    add_simulator_limits(drive)
    drive.add_argument("--out", help="folder for a track drawing and camera frames")
    drive.add_argument("--max-steps", type=int, default=5000, help="give up after this many steps")
    drive.set_defaults(func=_drive)


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


def _add_replay(sub: argparse._SubParsersAction) -> None:
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


def _add_raceline(sub: argparse._SubParsersAction) -> None:
    d = config_defaults(CONFIG_FLAGS["raceline"])
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
    raceline.add_argument("--motion-model", default=d["motion_model"], choices=MOTION_MODELS,
                          help="the car that drives the line (default %(default)s)")  # fmt: skip
    raceline.set_defaults(func=_raceline)


def _raceline(args: argparse.Namespace) -> int:
    from racer.lab.raceline import run_raceline
    from racer.physics.car import CarParams
    from racer.physics.motion import make_motion_model

    model = make_motion_model(args.motion_model, CarParams())
    report = run_raceline(args.track, args.out, margin=args.margin, spacing=args.spacing,
                          reverse=args.reverse, model=model, draw=not args.no_draw)  # fmt: skip
    print(report.format())
    return 0


#: Each command's flags (``add_parser`` and its arguments), by name.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "tracks": _add_tracks,
    "drive": _add_drive,
    "replay": _add_replay,
    "raceline": _add_raceline,
}
