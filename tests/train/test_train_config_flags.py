"""racer train --config: a saved racer.toml reproduces its run; the flags are TrainConfig's."""

from __future__ import annotations

import argparse
import json
import tomllib

import pytest

from racer.cli import build_parser, main
from racer.config import dump_toml
from racer.env.config import EnvConfig
from racer.errors import ConfigError
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig
from racer.train.config import (
    TRAIN_FLAGS,
    TrainConfig,
    config_from_flags,
    config_to_dict,
    flag_default,
    load_config,
    with_overrides,
)

#: racer train's flags that are not fields of TrainConfig.
NOT_CONFIG = {"help", "config", "live", "out", "resume", "pretrained", "randomize_obstacles",
              "bot_speed", "bot_lane_change", "func", "command"}  # fmt: skip


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_every_train_flag_is_a_config_field_left_unset_by_default():
    parser = _train_parser()
    dests = {a.dest for a in parser._actions}
    assert set(TRAIN_FLAGS) <= dests
    assert dests - set(TRAIN_FLAGS) <= NOT_CONFIG, "a train flag that sets no TrainConfig field"
    defaults = parser.parse_args([])
    for dest in TRAIN_FLAGS:  # unset, so that --config's file (or the dataclass) decides
        assert getattr(defaults, dest) is None, dest
    unset = {dest: getattr(defaults, dest) for dest in TRAIN_FLAGS}
    assert config_from_flags(TrainConfig(), unset) == TrainConfig()


@pytest.mark.parametrize("dest", sorted(TRAIN_FLAGS))
def test_each_flag_sets_its_field(dest):
    path = TRAIN_FLAGS[dest][0]
    assert path.split(".")[0] in ("env", "train")
    value = {"track": "kidney", "reverse": True, "reward": "progress_speed",
             "model_metadata": "m.json", "simulator_limits": True, "hyperparameters": "h.json",
             "network": "RACER_FAST", "envs": 3, "seed": 7, "minutes": 2.5, "updates": 4,
             "until_lapping": True, "deepracer_iterations": True, "reward_isolation": "none",
             "sandbox": True, "memory_limit": 1.5, "best_model_metric": "progress", "race": True,
             "max_episode_steps": 3000, "device": "cuda", "torch_threads": 2,
             "numba_threads": 3,
             "obstacles": ObstacleConfig(count=2), "bots": BotConfig(count=1)}[dest]  # fmt: skip
    config = config_from_flags(TrainConfig(), {dest: value})
    assert config != TrainConfig()
    table, *keys = path.split(".")
    field = config.env if table == "env" else config
    for key in keys:
        field = getattr(field, key)
    assert field != flag_default(dest)


def test_overrides_are_checked_like_the_file(tmp_path):
    with pytest.raises(ConfigError, match="num_envs"):
        with_overrides(TrainConfig(), {"train.num_envs": "many"}, "the command line")
    with pytest.raises(ConfigError, match="not a field"):
        with_overrides(TrainConfig(), {"wheels": 5}, "the command line")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nothing.toml")
    (tmp_path / "bad.toml").write_text("[train]\nnum_envs = [\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(tmp_path / "bad.toml")


def test_a_hand_written_config_trains_and_flags_override_it(tmp_path, capsys):
    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "batch_size": 64,
                                 "num_epochs": 1}))  # fmt: skip
    mine = TrainConfig(env=EnvConfig(track="kidney"), hyperparameters=str(hyper), num_envs=2,
                       steps_per_car=32, minutes=0, max_updates=1, eval_episodes=1,
                       lap_check_every=0, seed=3)  # fmt: skip
    file = tmp_path / "mine.toml"
    file.write_text(dump_toml(config_to_dict(mine)))
    run = tmp_path / "run"
    assert main(["train", "--config", str(file), "--seed", "5", "--sandbox", "--out",
                 str(run)]) == 0  # fmt: skip
    assert "training on kidney" in capsys.readouterr().out
    saved = tomllib.loads((run / "racer.toml").read_text())
    assert saved["env"]["track"] == "kidney" and saved["train"]["steps_per_car"] == 32
    assert saved["train"]["seed"] == 5  # the flag wins over the file
    assert saved["env"]["reward_sandbox"] is True and saved["env"]["reward_isolation"] == "process"

    # The run's own racer.toml reproduces it, with the run's copies of its files.
    again = tmp_path / "again"
    assert main(["train", "--config", str(run / "racer.toml"), "--out", str(again)]) == 0
    first = tomllib.loads((run / "racer.toml").read_text())
    second = tomllib.loads((again / "racer.toml").read_text())
    assert second["train"] | {"hyperparameters": ""} == first["train"] | {"hyperparameters": ""}
    assert second["env"]["track"] == "kidney"
    assert second["env"]["reward_function"] == str(run / "reward_function.py")
    assert (again / "reward_function.py").read_text() == (run / "reward_function.py").read_text()
    assert load_config(run).seed == 5  # a run folder works as well as its racer.toml


def test_config_and_resume_do_not_mix(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--config", str(tmp_path)]) == 2
    assert "leave out --config" in capsys.readouterr().err


def test_threads_default_to_the_cores_one_to_eight():
    from racer.train.config import auto_threads
    from racer.train.machine import machine_summary, run_threads

    assert [auto_threads(n) for n in (1, 2, 3, 4, 8, 16, 64)] == [1, 2, 3, 4, 8, 8, 8]
    assert TrainConfig().torch_threads == 0 == TrainConfig().numba_threads
    assert run_threads(TrainConfig(torch_threads=3, numba_threads=1)) == (3, 1)
    assert run_threads(TrainConfig())[0] == auto_threads()
    assert "cores" in machine_summary(TrainConfig())
