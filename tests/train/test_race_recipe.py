"""racer train --race: the racing line's action space and the lap_time reward."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from racer.cli import main
from racer.env.config import EnvConfig
from racer.errors import ConfigError
from racer.formats.model_metadata import load_model_metadata
from racer.logs.run_folder import RunFolder
from racer.physics.car import CarParams
from racer.physics.motion import DEFAULT_MOTION_MODEL, make_motion_model
from racer.raceline.actions import racing_action_space
from racer.track import load_track
from racer.train.config import TrainConfig
from racer.train.trainer import train

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


def test_race_refuses_sac():
    sac = DATA / "model_metadata" / "continuous_sac.json"
    config = TrainConfig(env=EnvConfig(model_metadata=str(sac)), race=True)
    with pytest.raises(ConfigError, match="--race"):
        train(replace(config, max_updates=1), Path("/nonexistent/never-written"))
