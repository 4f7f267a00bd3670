"""A flag that sets a config dataclass field defaults to that field's default (CONFIG_FLAGS).

``racer train``'s TrainConfig flags are checked in tests/train/test_train_config_flags.py.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

import pytest

from racer.cli import CONFIG_FLAGS, build_parser
from racer.env.config import EnvConfig
from racer.env.episode import EpisodeConfig
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig
from racer.train.config import TrainConfig

CLASSES = {cls.__name__: cls for cls in (EnvConfig, EpisodeConfig, ObstacleConfig, BotConfig,
                                         TrainConfig)}  # fmt: skip
CASES = [(command, dest, spec) for command, table in sorted(CONFIG_FLAGS.items())
         for dest, spec in sorted(table.items())]  # fmt: skip


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@pytest.mark.parametrize("command, dest, spec", CASES, ids=[f"{c}-{d}" for c, d, _ in CASES])
def test_a_flag_defaults_to_its_config_field(command, dest, spec):
    name, _, field = spec.partition(".")
    expected = getattr(CLASSES[name](), field)
    parser = _commands()[command]
    actions = [a for a in parser._actions if a.dest == dest]
    assert actions, f"racer {command} has no flag {dest} (a stale CONFIG_FLAGS entry)"
    action = actions[0]
    if isinstance(action, argparse._StoreTrueAction):
        assert expected is False, (f"{spec} now defaults to True: racer {command}'s "
                                   f"{action.option_strings[0]} can only switch it on")  # fmt: skip
    default = parser.get_default(dest)
    assert default == expected and type(default) is type(expected), (
        f"racer {command} {dest} defaults to {default!r}, {spec} to {expected!r}"
    )
    text = action.help % vars(action) if action.help and "%(" in action.help else action.help
    if text and "default" in text and not isinstance(expected, bool):
        assert f"default {_shown(expected)}" in text, text


def test_the_inverted_simulator_limits_flag_matches_strict_action_space():
    for command in ("drive",):  # train's: TRAIN_FLAGS
        assert _commands()[command].get_default("simulator_limits") is (
            not EnvConfig().strict_action_space
        )


def test_the_bench_flags_default_as_its_plan():
    from racer.lab.bench import BenchPlan

    plan = {f.name: f.default for f in fields(BenchPlan) if f.default is not MISSING}
    bench = _commands()["bench"]
    plan_fields = {"laps": "laps", "envs": "num_envs", "obstacles": "obstacles",
                   "randomize_obstacles": "randomize_obstacles", "bots": "bots"}  # fmt: skip
    for dest, field in plan_fields.items():
        assert bench.get_default(dest) == plan[field], (dest, field)
