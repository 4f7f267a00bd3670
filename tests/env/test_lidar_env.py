"""The lidar as an observation: a Dict of the camera and the lidar, seeing boxes and bots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.vec_env import RacerVecEnv
from racer.objects.obstacles import ObstacleConfig

DATA = Path(__file__).resolve().parents[1] / "data/model_metadata"
SECTOR = str(DATA / "discrete_lidar.json")


def test_the_vec_env_returns_camera_and_lidar():
    env = RacerVecEnv(EnvConfig(model_metadata=SECTOR), 3, seed=0)
    obs = env.reset()
    assert set(obs) == {"FRONT_FACING_CAMERA", "SECTOR_LIDAR"}
    assert obs["FRONT_FACING_CAMERA"].shape == (3, 120, 160, 1)
    assert obs["SECTOR_LIDAR"].shape == (3, 8) and obs["SECTOR_LIDAR"].dtype == np.float32
    assert not obs["SECTOR_LIDAR"].any()  # a time trial: nothing to see
    for _ in range(40):  # through auto-resets
        obs, _, dones, infos = env.step(np.zeros(3, np.int64))
        for i in np.flatnonzero(dones):
            assert set(infos[i]["terminal_observation"]) == set(obs)
    assert env.observation_space.contains({k: v[0] for k, v in obs.items()})


def test_a_box_behind_and_left_lights_one_sector():
    # a box 0.55 m behind the start in the inner (left) lane: 0.47 m from the lidar at its nearest
    track_length = 17.7614
    behind = ObstacleConfig(positions=((1.0 - 0.55 / track_length, 1.0),))
    core = RacerCore(EnvConfig(model_metadata=SECTOR, obstacles=behind), 1,
                     reward_function=lambda p: 1.0)  # fmt: skip
    core.reset_cars(np.array([0]), [np.random.default_rng(0)], restart=True)
    # sectors 0..7 sweep from 30 degrees left round the back to 30 degrees right: sector 2
    # looks back and to the left (rays 16-23, 40-74 degrees left of straight back)
    assert core.lidar_obs[0].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    box = core.world.layouts[0][0]
    gap = math.hypot(box.x[0] - core.car.x[0], box.y[0] - core.car.y[0])
    assert gap < 1.0


@pytest.mark.slow  # real training, 11-15 s: run with -m slow
def test_a_camera_and_lidar_model_trains_exports_and_evaluates_from_onnx(tmp_path):
    from racer.export.runner import OnnxPolicy
    from racer.train.config import TrainConfig
    from racer.train.runs import evaluate_and_log, export_run, load_policy
    from racer.train.trainer import train

    hyper = tmp_path / "h.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "num_epochs": 1}))
    env = EnvConfig(model_metadata=SECTOR, obstacles=ObstacleConfig(count=2))
    config = TrainConfig(env=env, hyperparameters=str(hyper), num_envs=2, max_updates=1, minutes=0,
                         eval_episodes=1, lap_check_every=0, steps_per_car=64)  # fmt: skip
    train(config, tmp_path / "run")
    loaded = load_policy(tmp_path / "run")
    assert type(loaded.model.policy.features_extractor).__name__ == "SensorFusion"
    result = evaluate_and_log(loaded, laps=1, resets=2).result
    assert result.steps > 0
    path, difference = export_run(tmp_path / "run")
    print(f"\ncamera + lidar export: max |onnx - torch| = {difference:.3g}")
    assert path == tmp_path / "run" / "model" / "policy.onnx"
    assert 0.0 <= difference < 1e-4
    assert OnnxPolicy(path).input_shapes == {"FRONT_FACING_CAMERA": (120, 160, 1),
                                             "SECTOR_LIDAR": (8,)}  # fmt: skip
    from_onnx = load_policy(path)
    assert isinstance(from_onnx.policy, OnnxPolicy) and from_onnx.model is None
    run = evaluate_and_log(from_onnx, laps=1, resets=2)
    assert run.result.steps > 0 and run.simtrace is not None and run.simtrace.exists()
