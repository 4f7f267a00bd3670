"""STEREO_CAMERAS: two grayscale cameras 6 cm apart, stacked as a (120, 160, 2) observation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from racer.env.config import EnvConfig
from racer.env.observation import ground_texture
from racer.env.racer_env import RacerEnv
from racer.env.vec_env import RacerVecEnv
from racer.objects.obstacles import ObstacleConfig
from racer.sensors.camera import Camera

STEREO = str(Path(__file__).resolve().parents[1] / "data/model_metadata/discrete_stereo.json")


def test_the_two_channels_are_the_left_and_right_cameras():
    config = EnvConfig(model_metadata=STEREO)
    env = RacerEnv(config)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (120, 160, 2) and env.observation_space.shape == (120, 160, 2)
    obs, *_ = env.step(1)
    car = env.core.car
    track = env.core.tracks[0]
    for channel, lateral in ((0, 0.03), (1, -0.03)):
        camera = Camera(replace(config.camera, mount_lateral=lateral),
                        ground_texture(track.geometry, track.name))  # fmt: skip
        frame = np.zeros((1, *camera.shape), np.uint8)
        camera.render(car.x[:1], car.y[:1], car.yaw[:1], frame)
        np.testing.assert_array_equal(obs[..., channel], frame[0, ..., 0])
    # parallax: the two views differ, a little. A 6 cm shift resamples the asphalt's grain at
    # every pixel, so count only differences beyond it (2.5 sigma of two grain samples).
    difference = np.abs(obs[..., 0].astype(int) - obs[..., 1].astype(int))
    assert 0 < (difference > 16).mean() < 0.5


def test_both_cameras_see_the_boxes_from_their_own_place():
    config = EnvConfig(model_metadata=STEREO, obstacles=ObstacleConfig(positions=((0.1, 1.0),)))
    plain = replace(config, obstacles=ObstacleConfig())
    with_box, without = (RacerVecEnv(c, 1, seed=0).reset()[0] for c in (config, plain))
    changed = with_box != without
    assert changed[..., 0].mean() > 0.005 and changed[..., 1].mean() > 0.005
    assert not np.array_equal(changed[..., 0], changed[..., 1])


def test_a_stereo_model_trains_and_exports(tmp_path):
    from racer.train.config import TrainConfig
    from racer.train.runs import export_run
    from racer.train.trainer import train

    hyper = tmp_path / "h.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "num_epochs": 1}))
    config = TrainConfig(env=EnvConfig(model_metadata=STEREO), hyperparameters=str(hyper),
                         num_envs=2, max_updates=1, minutes=0, eval_episodes=1,
                         lap_check_every=0, steps_per_car=64)  # fmt: skip
    train(config, tmp_path / "run")
    path, difference = export_run(tmp_path / "run", steps=30)
    assert path.exists() and difference < 1e-4
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["sensor"]) == ["STEREO_CAMERAS"]
    assert json.loads(props["observation_shape"]) == [120, 160, 2]
