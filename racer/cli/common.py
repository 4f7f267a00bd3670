"""What several ``racer`` commands share: the race-type and simulator-limit flags, and defaults.

A flag that sets a field of a config dataclass takes its default from that field, through
`config_defaults`; each command module lists such flags in its ``CONFIG_FLAGS`` table
(command -> argparse dest -> ``"Class.field"``), which `tests/test_cli_config_flags.py` checks
against the dataclasses. ``racer train``'s own flags are mapped by
`racer.train.config.TRAIN_FLAGS` instead.
"""

from __future__ import annotations

import argparse
from typing import Any

#: `add_race_type`'s boxes and bots, and the fields they set (``racer race`` inherits them).
RACE_COUNT_FIELDS: dict[str, str] = {"obstacles": "ObstacleConfig.count", "bots": "BotConfig.count"}
#: `add_race_type`'s other flags and the fields they set. A flag with ``action="store_true"``
#: keeps argparse's False: the table's test fails if its field's default ever becomes True.
RACE_OPTION_FIELDS: dict[str, str] = {
    "randomize_obstacles": "ObstacleConfig.randomize",
    "bot_speed": "BotConfig.speed",
    "bot_lane_change": "BotConfig.lane_change",
}
RACE_TYPE_FIELDS: dict[str, str] = {**RACE_COUNT_FIELDS, **RACE_OPTION_FIELDS}


def config_defaults(flags: dict[str, str]) -> dict[str, Any]:
    """The default of each flag of a ``CONFIG_FLAGS`` table: its dataclass field's default.

    Args:
        flags: argparse dest -> ``"Class.field"``; Class is one of EnvConfig, EpisodeConfig,
            ObstacleConfig, BotConfig and TrainConfig.

    Returns:
        argparse dest -> the field's default value.
    """
    from racer.env.config import EnvConfig
    from racer.env.episode import EpisodeConfig
    from racer.objects.bots import BotConfig
    from racer.objects.obstacles import ObstacleConfig
    from racer.train.config import TrainConfig

    classes = {cls.__name__: cls for cls in (EnvConfig, EpisodeConfig, ObstacleConfig,
                                              BotConfig, TrainConfig)}  # fmt: skip
    defaults = {}
    for dest, spec in flags.items():
        name, _, field = spec.partition(".")
        defaults[dest] = getattr(classes[name](), field)
    return defaults


def add_race_type(
    parser: argparse.ArgumentParser, *, inherit: bool = False, bot_options: bool = True
) -> None:
    """The race-type options: boxes and bot cars.

    Their default is none (`ObstacleConfig` and `BotConfig`'s counts), or with ``inherit`` the
    first model's settings; ``bot_options`` adds the bots' speed and lane changes.
    """
    d = config_defaults(RACE_TYPE_FIELDS)
    obstacles = None if inherit else d["obstacles"]
    bots = None if inherit else d["bots"]
    parser.add_argument("--obstacles", type=int, default=obstacles,
                        help="object avoidance: boxes on the track (default "
                        f"{_inherited(obstacles)})")  # fmt: skip
    parser.add_argument("--randomize-obstacles", action="store_true",
                        help="move the boxes (and their lanes) at every episode")  # fmt: skip
    parser.add_argument("--bots", type=int, default=bots,
                        help=f"head-to-bot: bot cars on the track (default "
                        f"{_inherited(bots)})")  # fmt: skip
    if bot_options:
        parser.add_argument("--bot-speed", type=float, default=d["bot_speed"],
                            help=f"the bot cars' speed, in m/s (default {d['bot_speed']:g}, "
                            "DeepRacer's)")  # fmt: skip
        parser.add_argument("--bot-lane-change", action="store_true",
                            help="bot cars change lanes every 3-5 s")  # fmt: skip


def _inherited(default: int | None) -> str:
    return "the first racer's settings" if default is None else str(default)


def race_type(args: argparse.Namespace) -> tuple[Any, Any]:
    """The (ObstacleConfig, BotConfig) of `add_race_type`'s options; None where not given."""
    from racer.objects.bots import BotConfig
    from racer.objects.obstacles import ObstacleConfig

    obstacles = bots = None
    if args.obstacles is not None:
        obstacles = ObstacleConfig(count=args.obstacles, randomize=args.randomize_obstacles)
    if args.bots is not None:
        bots = BotConfig(count=args.bots, speed=args.bot_speed, lane_change=args.bot_lane_change)
    return obstacles, bots


def add_simulator_limits(parser: argparse.ArgumentParser) -> None:
    """``--simulator-limits``, the flag the action-space errors point to (SIMULATOR_LIMITS_FIX)."""
    parser.add_argument(
        "--simulator-limits",
        action="store_true",
        help="accept an action space beyond the DeepRacer console's limits, as the simulator "
        "does (it clips the commands to +-30 deg and 0.1-4 m/s)",
    )
