"""RacerEnv: gymnasium and SB3 contracts, DeepRacer's step timing and episode rules, laps."""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import racer
from racer.env.config import EnvConfig
from racer.env.episode import EpisodeConfig
from racer.env.racer_env import RacerEnv
from racer.errors import ConfigError
from racer.reward.params import PARAM_KEYS
from tests.conftest import DEEPRACER_TRACKS, require_shared_tracks
from tests.env.follower import drive_lap

DATA = Path(__file__).resolve().parents[1] / "data" / "model_metadata"
CONTINUOUS = str(DATA / "continuous_ppo.json")


def test_checkers_pass_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gymnasium_check_env(gymnasium.make("racer/DeepRacer-v0").unwrapped)
        sb3_check_env(RacerEnv(EnvConfig(model_metadata=CONTINUOUS)))
        sb3_check_env(RacerEnv())


def test_spaces():
    env = RacerEnv()
    assert env.observation_space.shape == (120, 160, 1)
    assert env.observation_space.dtype == np.uint8
    assert env.action_space.n == 8
    assert RacerEnv(EnvConfig(model_metadata=CONTINUOUS)).action_space.shape == (2,)


def test_same_seed_same_trajectory():
    def rollout():
        env = RacerEnv(EnvConfig(episode=EpisodeConfig(random_start=True)))
        obs, _ = env.reset(seed=7)
        frames, rewards, xs = [obs], [], []
        for k in range(60):
            obs, r, term, trunc, info = env.step(k % 8)
            frames.append(obs)
            rewards.append(r)
            xs.append(info["params"]["x"])
            if term or trunc:
                obs, _ = env.reset()
        return np.array(frames), rewards, xs

    a, b = rollout(), rollout()
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


def test_prepare_step_and_params_timing():
    """SPEC 1.4/5.1: step 1 is PREPARE (no move, no reward call); params use the pre-action pose."""
    calls = []

    def reward(params):
        calls.append(params)
        return 1.0

    env = RacerEnv(reward_function=reward)
    env.reset(seed=0)
    x0 = env.core.car.x[0]
    obs, r, term, trunc, info = env.step(6)  # straight at 2 m/s
    p = info["params"]
    assert info["episode_status"] == "prepare" and r == 0.0 and not calls
    assert p["steps"] == 1.0 and isinstance(p["steps"], float)
    assert p["speed"] == 2.0 and p["steering_angle"] == 0.0  # the chosen action's values
    assert env.core.car.x[0] == x0  # PREPARE does not move the car
    _, r, _, _, info = env.step(6)
    assert len(calls) == 1 and r == 1.0 and calls[0]["steps"] == 2.0
    assert calls[0]["x"] == pytest.approx(p["x"])  # still the start pose: the car has not moved
    _, _, _, _, info3 = env.step(0)
    assert info3["params"]["x"] > calls[0]["x"]  # step 3 sees the pose step 2's action left
    assert info3["params"]["steering_angle"] == -30.0


def test_params_keys_and_types():
    env = RacerEnv()
    env.reset(seed=0)
    env.step(2)
    _, _, _, _, info = env.step(2)
    p = info["params"]
    assert tuple(p) == PARAM_KEYS
    assert type(p["heading"]) is np.float64
    assert isinstance(p["waypoints"], list) and isinstance(p["waypoints"][0], tuple)
    assert isinstance(p["closest_waypoints"], list) and len(p["closest_waypoints"]) == 2
    assert all(type(i) is int for i in p["closest_waypoints"])
    assert p["objects_location"] == [] and p["closest_objects"] == [0, 0]
    assert p["object_in_camera"] is False and p["is_crashed"] is False
    assert p["progress"] == pytest.approx(100 * 0.14 / p["track_length"], abs=0.05)


def test_reward_function_gets_a_fresh_dict_it_may_mutate():
    def vandal(params):
        params["waypoints"].clear()
        params["x"] = "garbage"
        return 1.0

    env = RacerEnv(reward_function=vandal)
    env.reset(seed=0)
    for _ in range(3):
        _, _, _, _, info = env.step(2)
    assert len(info["params"]["waypoints"]) == env.core.tracks[0].num_waypoints
    assert isinstance(info["params"]["x"], float)


def test_off_track_is_seen_one_step_late_and_ends_the_episode():
    env = RacerEnv()
    env.reset(seed=0)
    statuses, seen = [], []
    for _ in range(200):
        _, _, term, _, info = env.step(1)  # -15 deg: a circle wider than the road
        statuses.append(info["episode_status"])
        seen.append(info["params"]["is_offtrack"])
        if term:
            break
    assert statuses[-1] == "off_track" and seen[-1] is True
    assert info["params"]["all_wheels_on_track"] is False
    assert "off_track" not in statuses[:-1]


def test_immobilized_after_fifteen_still_steps():
    def stop(params):
        return 1.0

    env = RacerEnv(reward_function=stop)
    env.reset(seed=0)
    env.core.step = _frozen(env.core.step, env.core)
    statuses = []
    for _ in range(20):
        _, _, term, _, info = env.step(2)
        statuses.append(info["episode_status"])
        if term:
            break
    assert statuses[-1] == "immobilized" and len(statuses) == 16  # prepare + 15 still RUN steps


def _frozen(step, core):
    def frozen(actions):
        x, y, yaw = core.car.x.copy(), core.car.y.copy(), core.car.yaw.copy()
        step(actions)
        core.car.x[:], core.car.y[:], core.car.yaw[:] = x, y, yaw

    return frozen


def test_reversed_after_fifteen_backward_steps():
    env = RacerEnv(EnvConfig(episode=EpisodeConfig(round_robin_advance=0.0)))
    env.reset(seed=0)
    env.core.car.yaw[:] += math.pi  # facing backwards on the start line
    statuses = []
    for _ in range(40):
        _, _, term, _, info = env.step(2)
        statuses.append(info["episode_status"])
        if term:
            break
    assert statuses[-1] == "reversed"


def test_round_robin_and_alternating_direction():
    config = EnvConfig(episode=EpisodeConfig(round_robin_advance=0.05, alternate_direction=True))
    env = RacerEnv(config)
    starts, directions = [], []
    _, info = env.reset(seed=0)
    for _ in range(3):
        starts.append(info["start_ndist"])
        directions.append(info["is_reversed"])
        _, info = env.reset()
    assert starts == pytest.approx([0.0, 0.05, 0.10])
    assert directions == [False, True, False]
    _, info = env.reset(seed=0)  # a new seed restarts the sequence
    assert info["start_ndist"] == 0.0


def test_follower_laps_the_default_track():
    env = RacerEnv(EnvConfig(model_metadata=CONTINUOUS))
    status, infos = drive_lap(env)
    assert status == "lap_complete"
    last = infos[-1]["params"]
    assert last["progress"] == 100 and type(last["progress"]) is int
    progress = [i["params"]["progress"] for i in infos]
    assert all(b >= a - 1e-9 for a, b in zip(progress[1:], progress[2:], strict=False))


@pytest.mark.parametrize("reverse", [False, True])
def test_follower_laps_reinvent_2018_both_directions(reverse):
    require_shared_tracks()
    config = EnvConfig(track=str(DEEPRACER_TRACKS / "reinvent_base.npy"), reverse=reverse,
                       model_metadata=CONTINUOUS)  # fmt: skip
    status, infos = drive_lap(RacerEnv(config))
    assert status == "lap_complete"
    assert all(i["params"]["is_reversed"] is reverse for i in infos)


def test_evaluation_resets_with_penalty_pause_and_laps():
    episode = EpisodeConfig(evaluation=True, laps=1, off_track_penalty=2.0)
    env = RacerEnv(EnvConfig(episode=episode))
    env.reset(seed=0)
    statuses, pauses = [], []
    for _ in range(80):
        _, r, term, _, info = env.step(1)  # -15 deg: off track, reset, pause, again
        statuses.append(info["episode_status"])
        pauses.append(info["pause_duration"])
        if info["episode_status"] == "pause":
            assert r == 0.0
        assert not term
    first = statuses.index("off_track")
    assert pauses[first] == pytest.approx(2.0)
    n_pause = 0
    while statuses[first + 1 + n_pause] == "pause":
        n_pause += 1
    assert n_pause == 30  # 2 s at 15 Hz
    assert pauses[first + 1] == pytest.approx(2.0 - 1 / 15)
    assert env.core.resets[0] >= 1


def test_truncation_at_the_step_limit():
    env = RacerEnv(EnvConfig(episode=EpisodeConfig(max_episode_steps=5)))
    env.reset(seed=0)
    for _ in range(5):
        _, _, term, trunc, _ = env.step(2)
    assert trunc and not term


def test_stereo_and_lidar_give_a_dict_observation_and_bad_metadata_is_a_clear_error(tmp_path):
    env = RacerEnv(EnvConfig(model_metadata=str(DATA / "discrete_stereo_lidar.json")))
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"STEREO_CAMERAS", "DISCRETIZED_SECTOR_LIDAR"}
    assert obs["STEREO_CAMERAS"].shape == (120, 160, 2)
    assert obs["DISCRETIZED_SECTOR_LIDAR"].shape == (16 * 4,)  # its lidar_config
    assert env.observation_space.contains(obs)
    bad = tmp_path / "model_metadata.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="model_metadata.json"):
        RacerEnv(EnvConfig(model_metadata=str(bad)))


def test_pickle_round_trip():
    env = RacerEnv()
    env.reset(seed=0)
    clone = pickle.loads(pickle.dumps(env))
    a = env.step(3)
    b = clone.step(3)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_public_api_is_lazy_and_complete():
    assert racer.RacerEnv is RacerEnv
    assert callable(racer.params_at_pose) and callable(racer.load_track)


def test_evaluation_runs_n_laps_in_one_episode():
    episode = EpisodeConfig(evaluation=True, laps=2)
    env = RacerEnv(EnvConfig(model_metadata=CONTINUOUS, episode=episode))
    status, infos = drive_lap(env)
    assert status == "lap_complete"
    laps = [i for i in infos if i["episode_status"] == "lap_complete"]
    assert len(laps) == 2 and laps[-1]["laps"] == 2
    assert infos[-1]["episode_time"] > 2 * laps[0]["lap_time"] * 0.9  # two laps of similar time
    assert all(i["start_ndist"] == 0.0 for i in infos)  # evaluation starts at the line


def test_a_lap_completed_by_an_evaluation_reset_is_counted():
    """A reset near the line can put the model point past it during the pause (review finding)."""
    episode = EpisodeConfig(evaluation=True, laps=1)
    # The kinematic car's 0.3 s speed lag keeps the placed car short of the line for a step;
    # the fitted car would cross it at once, before it is pushed off.
    env = RacerEnv(EnvConfig(model_metadata=CONTINUOUS, episode=episode, motion_model="kinematic"))
    env.reset(seed=0)
    core = env.core
    # Pretend the car got to 99.7 % and then leaves the track sideways.
    track = core.tracks[0]
    x, y, yaw = track.point_at(np.array([0.997 * track.length - 0.14]))
    core.car.place(np.array([0]), x, y, yaw)
    core.phase[0] = 1  # RUN
    core.prev_progress[0] = 99.6
    env.step(np.array([0.0, -1.0], np.float32))  # progress ~99.7, still on track
    core.car.y[0] += 1.0  # pushed off the road
    statuses = []
    for _ in range(60):
        _, _, term, _, info = env.step(np.array([0.0, -1.0], np.float32))
        statuses.append(info["episode_status"])
        if term:
            break
    assert "off_track" in statuses and statuses[-1] == "lap_complete"
    assert len(statuses) <= 35  # off track, 30 pause rows, then the lap counts at once
    assert info["lap_time"] == pytest.approx(info["episode_time"])


def test_lap_time_is_per_lap_in_multi_lap_evaluation():
    episode = EpisodeConfig(evaluation=True, laps=2)
    env = RacerEnv(EnvConfig(model_metadata=CONTINUOUS, episode=episode))
    status, infos = drive_lap(env)
    laps = [i for i in infos if i["episode_status"] == "lap_complete"]
    assert laps[0]["lap_time"] == pytest.approx(laps[0]["episode_time"])
    assert laps[1]["lap_time"] == pytest.approx(laps[1]["episode_time"] - laps[0]["lap_time"])
    assert laps[1]["lap_time"] == pytest.approx(laps[0]["lap_time"], rel=0.1)


def test_speed_zero_actions_move_at_the_minimum_speed(tmp_path):
    """DeepRacer clips a 0 m/s action to 0.1 m/s; it is not a stop (review finding)."""
    meta = tmp_path / "model_metadata.json"
    meta.write_text('{"action_space": [{"steering_angle": 0, "speed": 0.0},'
                    ' {"steering_angle": 10, "speed": 0.0}]}')  # fmt: skip
    env = RacerEnv(EnvConfig(model_metadata=str(meta), strict_action_space=False))
    env.reset(seed=0)
    statuses = [env.step(0)[4]["episode_status"] for _ in range(40)]
    assert "immobilized" not in statuses
    assert env.core.car.speed[0] == pytest.approx(0.1, rel=0.05)


def test_editing_info_params_does_not_leak_into_later_reward_calls():
    seen = []
    env = RacerEnv(reward_function=lambda p: seen.append(len(p["waypoints"])) or 1.0)
    env.reset(seed=0)
    _, _, _, _, info = env.step(2)
    info["params"]["waypoints"].clear()
    env.step(2)
    env.step(2)
    assert seen == [env.core.tracks[0].num_waypoints] * 2


def test_info_reports_failure_counts_in_evaluation():
    episode = EpisodeConfig(evaluation=True, laps=1)
    env = RacerEnv(EnvConfig(episode=episode))
    env.reset(seed=0)
    for _ in range(120):
        _, _, _, _, info = env.step(1)  # -15 deg: off, reset, off again
    assert info["off_track_count"] >= 2 and info["crash_count"] == 0
    assert info["reset_count"] == info["off_track_count"] + info["reversed_count"] + info[
        "immobilized_count"]  # fmt: skip
