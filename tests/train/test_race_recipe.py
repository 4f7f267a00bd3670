"""racer train --race: the racing line's action space and the lap_time reward."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from racer.cli import main
from racer.env.config import EnvConfig, load_metadata
from racer.formats.model_metadata import load_model_metadata
from racer.logs.run_folder import RunFolder
from racer.physics.car import CarParams
from racer.physics.motion import DEFAULT_MOTION_MODEL, make_motion_model
from racer.raceline.actions import racing_action_space, racing_continuous_space
from racer.track import load_track
from racer.train.recipe import race_metadata

DATA = Path(__file__).resolve().parents[1] / "data"


def test_race_trains_on_the_racing_lines_action_space_and_the_lap_time_reward(tmp_path, capsys):
    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "batch_size": 32,
                                 "num_epochs": 1}))  # fmt: skip
    run = tmp_path / "run"
    assert main(["train", "--race", "--updates", "1", "--envs", "2", "--hyperparameters",
                 str(hyper), "--out", str(run)]) == 0  # fmt: skip
    assert "with lap_time" in capsys.readouterr().out
    metadata = load_model_metadata(run / "model" / "model_metadata.json")
    expected = racing_action_space(load_track("oval"),
                                   make_motion_model(DEFAULT_MOTION_MODEL, CarParams()))
    assert metadata.action_space == expected
    assert "race = true" in RunFolder(run).config_file.read_text()


@pytest.mark.parametrize("name", ["continuous_sac.json", "continuous_ppo.json"])
def test_race_keeps_a_continuous_space_continuous(name):
    """SAC and continuous PPO get the racing line's box; the rest of the metadata stays."""
    env = EnvConfig(model_metadata=str(DATA / "model_metadata" / name))
    metadata = load_metadata(env)
    raced = race_metadata(metadata, env)
    expected = racing_continuous_space(load_track(env.track),
                                       make_motion_model(env.motion_model, env.car))
    assert raced.action_space == expected
    assert replace(raced, action_space=metadata.action_space) == metadata


def test_race_trains_sac_on_the_racing_lines_box(tmp_path):
    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 2, "batch_size": 32,
                                 "num_epochs": 1}))  # fmt: skip
    run = tmp_path / "run"
    sac = DATA / "model_metadata" / "continuous_sac.json"
    assert main(["train", "--race", "--updates", "1", "--envs", "2", "--hyperparameters",
                 str(hyper), "--model-metadata", str(sac), "--out", str(run)]) == 0  # fmt: skip
    metadata = load_model_metadata(run / "model" / "model_metadata.json")
    assert metadata.training_algorithm == "sac"
    assert metadata.action_space == racing_continuous_space(
        load_track("oval"), make_motion_model(DEFAULT_MOTION_MODEL, CarParams()))
