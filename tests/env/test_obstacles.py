"""Object avoidance in the environment: boxes in params, crashes, starts and resets beside boxes."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from racer.config import from_dict
from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.episode import EpisodeConfig
from racer.env.racer_env import RacerEnv
from racer.objects.collision import footprint_corners
from racer.objects.obstacles import ObstacleConfig
from racer.objects.starts import RESET_BEHIND
from tests.env.follower import drive_lap

CONTINUOUS = str(Path(__file__).resolve().parents[1] / "data/model_metadata/continuous_ppo.json")
ONE_BOX = ObstacleConfig(positions=((0.3, 1.0),))  # inner lane, 30 % round


def test_params_carry_the_boxes():
    env = RacerEnv(EnvConfig(obstacles=ObstacleConfig(count=3), model_metadata=CONTINUOUS))
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(2, np.float32))
    params = info["params"]
    boxes = env.core.world.layouts[0][0]
    assert len(params["objects_location"]) == 3
    np.testing.assert_allclose(params["objects_location"], np.column_stack([boxes.x, boxes.y]))
    assert params["closest_objects"] == [2, 0]  # at the line: behind the last, before the first
    assert params["objects_left_of_center"] == [True, False, True]  # lanes alternate, inner first
    assert params["objects_heading"] == [0.0, 0.0, 0.0] and params["objects_speed"] == [0.0] * 3
    assert all(isinstance(v, float) for v in params["objects_distance"])
    assert params["is_crashed"] is False


def test_the_centre_line_autopilot_crashes_into_a_box_on_its_lane():
    env = RacerEnv(EnvConfig(obstacles=ONE_BOX, model_metadata=CONTINUOUS))
    status, infos = drive_lap(env)
    assert status == "crashed"
    last = infos[-1]
    assert last["params"]["is_crashed"] is True and last["crash_count"] == 1
    # where the box is: 30 % of the way round
    assert 25.0 < last["params"]["progress"] < 31.0
    car, params = env.core.car, env.core.config.car  # a finished car stands where it crashed
    corners = footprint_corners(car.x, car.y, car.yaw, params.length, params.width)[0]
    boxes = env.core.world.layouts[0][0]
    assert np.hypot(corners[:, 0] - boxes.x[0], corners[:, 1] - boxes.y[0]).min() < 0.35


def test_without_boxes_the_same_drive_laps():
    env = RacerEnv(EnvConfig(model_metadata=CONTINUOUS))
    status, _ = drive_lap(env)
    assert status == "lap_complete"


def test_a_start_next_to_a_box_moves_to_the_other_lane():
    near = ObstacleConfig(positions=((0.02, 1.0),))  # 0.36 m ahead of the line, inner lane
    core = RacerCore(EnvConfig(obstacles=near), 1, reward_function=lambda p: 1.0)
    core.reset_cars(np.array([0]), [np.random.default_rng(0)], restart=True)
    track = core.tracks[0]
    x, y, yaw = track.point_at(np.array([0.0]))
    ox, oy = track.lane_point_at(np.array([0.0]), np.array([-1.0]))  # the outer lane
    assert math.hypot(core.car.x[0] - ox[0], core.car.y[0] - oy[0]) < 1e-9
    assert core.car.yaw[0] == pytest.approx(yaw[0])
    far = ObstacleConfig(positions=((0.5, 1.0),))
    core = RacerCore(EnvConfig(obstacles=far), 1, reward_function=lambda p: 1.0)
    core.reset_cars(np.array([0]), [np.random.default_rng(0)], restart=True)
    assert math.hypot(core.car.x[0] - x[0], core.car.y[0] - y[0]) < 1e-9  # on the centre line


def test_an_evaluation_crash_resets_behind_the_box_in_the_other_lane():
    episode = EpisodeConfig(evaluation=True, laps=1, number_of_resets=5)
    env = RacerEnv(EnvConfig(obstacles=ONE_BOX, episode=episode, model_metadata=CONTINUOUS))
    status, infos = drive_lap(env, max_steps=600)
    crash = next(k for k, info in enumerate(infos) if info["episode_status"] == "crashed")
    assert infos[crash]["pause_duration"] == pytest.approx(episode.collision_penalty)
    pause = infos[crash + 1]
    track = env.core.tracks[0]
    box = env.core.world.layouts[0][0]
    s = np.array([box.ndist[0] * track.length - RESET_BEHIND])
    ox, oy = track.lane_point_at(s, np.array([-1.0]))
    mx, my = pause["params"]["x"], pause["params"]["y"]  # the model point, 0.14 m ahead
    yaw = math.radians(pause["params"]["heading"])
    assert math.hypot(mx - 0.14 * math.cos(yaw) - ox[0], my - 0.14 * math.sin(yaw) - oy[0]) < 1e-6
    assert infos[-1]["crash_count"] >= 1


def test_randomized_boxes_differ_per_car_and_episode_and_follow_the_seed():
    config = EnvConfig(obstacles=ObstacleConfig(count=4, randomize=True))
    a = RacerCore(config, 2, reward_function=lambda p: 1.0)
    b = RacerCore(config, 2, reward_function=lambda p: 1.0)
    for core in (a, b):
        core.reset_cars(np.arange(2), [np.random.default_rng(s) for s in (1, 2)], restart=True)
    np.testing.assert_array_equal(a.world.x, b.world.x)
    assert not np.array_equal(a.world.x[0], a.world.x[1])
    before = a.world.x[0].copy()
    a.reset_cars(np.array([0]), [np.random.default_rng(5)])
    assert not np.array_equal(before, a.world.x[0])


def test_obstacles_load_from_toml_style_dicts():
    config = from_dict(EnvConfig, {"obstacles": {"positions": [[0.25, 1], [0.6, -1]]}})
    assert config.obstacles.positions == ((0.25, 1.0), (0.6, -1.0))
    assert replace(config, track="kidney").obstacles == config.obstacles


def test_the_simtrace_counts_crashes(tmp_path):
    from racer.env.autopilot import Autopilot
    from racer.logs.recorder import SimtraceRecorder
    from racer.logs.simtrace import read_simtrace
    from racer.logs.writers import write_simtrace

    episode = EpisodeConfig(evaluation=True, laps=1, number_of_resets=5)
    env = RacerEnv(EnvConfig(obstacles=ONE_BOX, episode=episode, model_metadata=CONTINUOUS))
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=True, evaluation=True)
    pilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    env.reset(seed=0)
    action = np.zeros(2, np.float32)
    finished = []
    for _ in range(600):
        _, reward, terminated, truncated, info = env.step(action)
        finished += recorder.record([action], [reward], [terminated or truncated], [info], 0.0)
        action = pilot.act(info["params"])
        if terminated or truncated:
            break
    trace = read_simtrace(write_simtrace(tmp_path / "0-iteration.csv", finished))
    counter = trace["obstacle_crash_counter"]
    crash = int(np.flatnonzero(trace["episode_status"] == "crashed")[0])
    assert counter[crash - 1] == 0 and counter[crash] == 1 and counter[-1] >= 1


def test_the_camera_sees_the_boxes():
    config = EnvConfig(obstacles=ObstacleConfig(positions=((0.1, 1.0),)))
    cores = [RacerCore(c, 1, reward_function=lambda p: 1.0)
             for c in (config, replace(config, obstacles=ObstacleConfig()))]  # fmt: skip
    for core in cores:
        core.reset_cars(np.array([0]), [np.random.default_rng(0)], restart=True)
    with_box, without = (core.obs[0, :, :, 0] for core in cores)
    changed = with_box != without
    assert 0.005 < changed.mean() < 0.2
    # the box stands on the inner (left, on this counter-clockwise oval) side, above the road
    rows, columns = np.nonzero(changed)
    assert columns.mean() < 80 and rows.min() < cores[0].sensors.camera.horizon_row
    for core in cores:  # and after a step, the same
        core.step(np.zeros(1, np.int64))
    assert (cores[0].obs != cores[1].obs).any()


def test_racer_train_with_obstacles_keeps_them_in_the_run(tmp_path):
    import tomllib

    from racer.cli import main
    from racer.logs.run_folder import RunFolder
    from racer.train.runs import run_env_config

    run = tmp_path / "run"
    assert main(["train", "--obstacles", "2", "--bots", "1", "--bot-lane-change", "--reward",
                 "object_avoidance", "--updates", "1", "--envs", "2", "--minutes", "0", "--out",
                 str(run)]) == 0  # fmt: skip
    saved = tomllib.loads((run / "racer.toml").read_text())
    assert saved["env"]["obstacles"]["count"] == 2 and saved["env"]["bots"]["count"] == 1
    config = run_env_config(RunFolder(run))
    assert config.obstacles == ObstacleConfig(count=2)
    assert config.bots.count == 1 and config.bots.lane_change
    # without an object log, the replay falls back to the fixed boxes and says what it misses
    from racer.track import load_track
    from racer.viewer.source import logged_obstacles

    boxes, note = logged_obstacles(run, load_track("oval"))
    assert boxes.count == 2 and "1 bot cars move and their object log is missing" in note


def test_randomized_boxes_give_the_same_object_keys_as_one_car_at_a_time():
    config = EnvConfig(obstacles=ObstacleConfig(count=4, randomize=True))
    batch = RacerCore(config, 3, reward_function=lambda p: 1.0)
    batch.reset_cars(np.arange(3), [np.random.default_rng(s) for s in (4, 5, 6)], restart=True)
    for _ in range(3):
        batch.step(np.zeros(3, np.int64))
    # car 1 starts a new episode with new boxes: only its rows of the all-cars table change
    batch.reset_cars(np.array([1]), [np.random.default_rng(9)])
    batch.step(np.zeros(3, np.int64))
    for i, seed in enumerate((4, 5, 6)):
        alone = RacerCore(config, 1, reward_function=lambda p: 1.0)
        alone.reset_cars(np.array([0]), [np.random.default_rng(seed)], restart=True)
        for _ in range(3):
            alone.step(np.zeros(1, np.int64))
        if i == 1:
            alone.reset_cars(np.array([0]), [np.random.default_rng(9)])
        alone.step(np.zeros(1, np.int64))
        mine, theirs = batch.infos[i]["params"], alone.infos[0]["params"]
        for key in ("closest_objects", "objects_location", "objects_left_of_center",
                    "objects_speed", "objects_heading", "objects_distance",
                    "objects_distance_from_center", "object_in_camera"):  # fmt: skip
            assert mine[key] == theirs[key], key
        assert mine["objects_speed"] == [0.0] * 4
