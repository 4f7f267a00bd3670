"""Head-to-bot in the environment: bots in params, crashes, the camera, boxes and bots together."""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from racer.config import dump_toml, from_dict, to_dict
from racer.env.autopilot import Autopilot
from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.episode import EpisodeConfig, Phase, Status
from racer.env.racer_env import RacerEnv
from racer.objects.bots import BOT_LENGTH, BotConfig
from racer.objects.drawing import BOT_SHADE
from racer.objects.obstacles import ObstacleConfig
from tests.env.follower import drive_lap

CONTINUOUS = str(Path(__file__).resolve().parents[1] / "data/model_metadata/continuous_ppo.json")
DT = 1.0 / 15.0


class LanePilot(Autopilot):
    """The pure-pursuit autopilot, aimed at a lane instead of the centre line."""

    def __init__(self, *args: Any, lane: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lane = lane

    def aim_point(self, params: dict[str, Any]) -> tuple[float, float]:
        track = self.tracks[int(params["is_reversed"])]
        s = np.array([params["projection_distance"] + self.lookahead])
        tx, ty = track.lane_point_at(s, np.array([self.lane]))
        return float(tx[0]), float(ty[0])


def core_with(config: EnvConfig, n: int = 1, seeds=(0,)) -> RacerCore:
    core = RacerCore(config, n, reward_function=lambda p: 1.0)
    core.reset_cars(np.arange(n), [np.random.default_rng(s) for s in seeds], restart=True)
    return core


def test_params_carry_the_bots():
    env = RacerEnv(EnvConfig(bots=BotConfig(count=3), model_metadata=CONTINUOUS))
    env.reset(seed=0)
    for _ in range(10):
        _, _, _, _, info = env.step(np.zeros(2, np.float32))
    params = info["params"]
    bots = env.core.world.bot_state
    # params show the bots as they were when the car's pose was judged, one move ago
    s_now = bots.s[0].copy()
    assert len(params["objects_location"]) == 3
    assert params["objects_speed"] == [0.2, 0.2, 0.2]
    assert all(isinstance(v, float) for v in params["objects_heading"])
    np.testing.assert_allclose(np.array(params["objects_distance"]), s_now - 0.2 * DT, atol=0.03)
    assert params["objects_left_of_center"] == [True, False, True]  # inner, outer, inner (CCW)


def test_object_keys_are_the_bots_of_the_judged_step():
    core = core_with(EnvConfig(bots=BotConfig(count=2)))
    x, y, yaw = core.world.x[0].copy(), core.world.y[0].copy(), core.world.yaw[0].copy()
    core.step(np.zeros(1, np.int64))
    params = core.infos[0]["params"]
    np.testing.assert_allclose(params["objects_location"], np.column_stack([x, y]))
    assert params["objects_heading"] == yaw.tolist()
    assert params["objects_speed"] == [0.2, 0.2]
    assert not np.array_equal(core.world.x[0], x)  # and they have moved since


def test_a_car_driving_into_a_slow_bot_from_behind_crashes():
    config = EnvConfig(bots=BotConfig(count=1), model_metadata=CONTINUOUS)  # bot 2 m on, inner
    env = RacerEnv(config)
    pilot = LanePilot(env.core.tracks, env.core.action_space, model=env.core.model, lane=1.0)
    env.reset(seed=0)
    action = np.zeros(2, np.float32)
    for _ in range(200):
        _, _, terminated, _, info = env.step(action)
        action = pilot.act(info["params"])
        if terminated:
            break
    assert info["episode_status"] == "crashed" and info["params"]["is_crashed"] is True
    core = env.core
    assert core.world.hit[0] == 0  # the bot
    gap = core.world.bot_state.s[0, 0] - core.query.s[0]
    assert 0.0 < gap < BOT_LENGTH + 0.2  # the car's nose is at the bot's tail
    assert core.world.bot_state.pause_left[0] == 0.0  # the car ran into the bot: it goes on


def test_the_same_lane_drive_on_the_other_lane_passes_the_bot():
    config = EnvConfig(bots=BotConfig(count=1), model_metadata=CONTINUOUS)
    env = RacerEnv(config)
    pilot = LanePilot(env.core.tracks, env.core.action_space, model=env.core.model, lane=-1.0)
    env.reset(seed=0)
    action = np.zeros(2, np.float32)
    for _ in range(60):  # 4 s: past the bot at 2 m
        _, _, terminated, _, info = env.step(action)
        action = pilot.act(info["params"])
        assert not terminated, info["episode_status"]
    assert info["params"]["projection_distance"] > env.core.world.bot_state.s[0, 0] + 0.5


def test_a_bot_running_into_a_car_from_behind_stops_for_the_penalty():
    episode = EpisodeConfig(evaluation=True, laps=1, number_of_resets=5)
    core = core_with(EnvConfig(bots=BotConfig(count=1), episode=episode))
    core.step(np.zeros(1, np.int64))  # PREPARE
    assert core.phase[0] == Phase.RUN
    track = core.tracks[0]
    s_bot = core.world.bot_state.s[0, 0]
    s_car = np.array([s_bot + BOT_LENGTH - 0.02])  # the car's tail inside the bot's nose
    x, y = track.lane_point_at(s_car, np.array([1.0]))
    core.car.place(np.array([0]), x, y, core.world.bot_state.yaw[0])
    core.step(np.zeros(1, np.int64))
    assert core.status[0] == Status.CRASHED and core.world.hit[0] == 0
    assert core.world.bot_state.pause_left[0] == pytest.approx(2.0 - DT)
    s = core.world.bot_state.s.copy()
    for _ in range(29):
        core.step(np.zeros(1, np.int64))
        np.testing.assert_array_equal(core.world.bot_state.s, s)
    core.step(np.zeros(1, np.int64))
    assert core.world.bot_state.s[0, 0] == pytest.approx(s[0, 0] + 0.2 * DT)


def test_the_camera_sees_a_bot_ahead_in_its_own_shade():
    config = EnvConfig(bots=BotConfig(count=1, min_distance=1.0))  # 1 m ahead, inner lane
    with_bot, without = (core_with(c) for c in (config, replace(config, bots=BotConfig())))
    a, b = with_bot.obs[0, :, :, 0], without.obs[0, :, :, 0]
    changed = a != b
    assert 0.005 < changed.mean() < 0.3
    assert np.isin(np.array(BOT_SHADE), a[changed]).any()
    rows, columns = np.nonzero(changed)
    assert columns.mean() < 80  # the inner lane is on the left on this counter-clockwise oval
    for core in (with_bot, without):
        core.step(np.zeros(1, np.int64))
    assert (with_bot.obs != without.obs).any()


def test_boxes_and_bots_together():
    config = EnvConfig(obstacles=ObstacleConfig(positions=((0.3, 1.0),)),
                       bots=BotConfig(count=2), model_metadata=CONTINUOUS)  # fmt: skip
    env = RacerEnv(config)
    status, infos = drive_lap(env)  # the centre line passes between the lanes' bots
    assert status == "crashed"
    core = env.core
    assert core.world.hit[0] == 0  # the box, object 0
    params = infos[-1]["params"]
    assert len(params["objects_location"]) == 3
    assert params["objects_speed"] == [0.2] * 3  # BOT_CAR_SPEED for every object (SPEC 1.2)
    assert params["objects_heading"][0] == 0.0
    assert core.world.x.shape == (1, 3)
    box = core.world.layouts[0][0]
    assert core.world.x[0, 0] == box.x[0]


def test_bots_are_placed_anew_per_episode_and_follow_the_seed():
    config = EnvConfig(bots=BotConfig(count=3, randomize=True))
    a = core_with(config, n=2, seeds=(1, 2))
    b = core_with(config, n=2, seeds=(1, 2))
    np.testing.assert_array_equal(a.world.x, b.world.x)
    assert not np.array_equal(a.world.x[0], a.world.x[1])
    before = a.world.x[0].copy()
    a.reset_cars(np.array([0]), [np.random.default_rng(5)])
    assert not np.array_equal(before, a.world.x[0])
    assert a.world.bot_state.clock[0] == 0.0


def test_a_start_next_to_a_bot_moves_to_the_other_lane():
    config = EnvConfig(bots=BotConfig(count=1, min_distance=0.4))  # inner lane, 0.4 m on
    core = core_with(config)
    track = core.tracks[0]
    ox, oy = track.lane_point_at(np.array([0.0]), np.array([-1.0]))
    assert math.hypot(core.car.x[0] - ox[0], core.car.y[0] - oy[0]) < 1e-9


def test_bots_load_from_toml_style_dicts():
    config = from_dict(EnvConfig, {"bots": {"count": 3, "lane_change": True,
                                            "lane_change_time": [2, 4]}})  # fmt: skip
    assert config.bots == BotConfig(count=3, lane_change=True, lane_change_time=(2.0, 4.0))
    assert from_dict(EnvConfig, tomllib.loads(dump_toml(to_dict(config)))) == config
