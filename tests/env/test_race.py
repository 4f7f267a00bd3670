"""Multi-car races in the core: worlds of K racers, staggered starts, racer crashes, parking.

SPEC 4.5 (staggered starts), 1.3 item 12 (only the car behind is crashed), 5.1 (PARK).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.episode import EpisodeConfig, Phase
from racer.env.vec_env import RacerVecEnv
from racer.errors import ConfigError
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig, place_obstacles, place_obstacles_batch
from racer.objects.starts import START_STAGGER
from racer.track import load_track

RACE = EpisodeConfig(evaluation=True, laps=1, number_of_resets=0)


def race_core(k: int = 2, n: int | None = None, seeds=None, **env) -> RacerCore:
    config = EnvConfig(racers=k, episode=env.pop("episode", RACE), **env)
    n = n or k
    core = RacerCore(config, n, reward_function=lambda p: 1.0)
    seeds = seeds or range(n)
    core.reset_cars(np.arange(n), [np.random.default_rng(s) for s in seeds], restart=True)
    return core


def test_racers_start_staggered_on_alternating_lanes():
    core = race_core(3)
    track = core.tracks[0]
    s = np.mod(-START_STAGGER * np.arange(3), track.length)
    x, y = track.lane_point_at(s, np.array([-1.0, 1.0, -1.0]))  # outer, inner, outer
    np.testing.assert_allclose(core.car.x, x, atol=1e-12)
    np.testing.assert_allclose(core.car.y, y, atol=1e-12)
    _, _, yaw = track.point_at(s)
    np.testing.assert_allclose(core.car.yaw, yaw, atol=1e-12)
    # The cars behind the line start with slightly negative progress and must drive further.
    core.step(np.zeros(3, np.int64))
    progress = [info["progress"] for info in core.infos]
    assert progress[0] > 0.0 > progress[1] > progress[2]
    # (about 0.14 m - 1.5 m of the lap; the lane's projection differs a little)
    assert progress[2] == pytest.approx(100.0 * (0.14 - 2 * START_STAGGER) / track.length, abs=0.2)


def test_each_racer_sees_the_others_as_objects_in_seat_order():
    core = race_core(3)
    core.step(np.zeros(3, np.int64))
    for i, info in enumerate(core.infos):
        others = [j for j in range(3) if j != i]
        location = info["params"]["objects_location"]
        assert location == [[core.car.x[j], core.car.y[j]] for j in others]
        heading = info["params"]["objects_heading"]
        np.testing.assert_allclose(heading, core.car.yaw[others], atol=1e-12)
        assert info["params"]["objects_speed"] == [0.0, 0.0]  # no bots: 0.0 (SPEC 1.2)


def _touching(core: RacerCore, ahead: int, behind: int, s_ahead: float) -> None:
    """Put ``behind`` with its front 5 cm inside ``ahead``'s rear, on the centre line."""
    track = core.tracks[0]
    length = core.config.car.length
    s = np.array([s_ahead, s_ahead - (length - 0.05)])
    x, y, yaw = track.point_at(s)
    core.place_cars(np.array([ahead, behind]), x, y, yaw)


def test_a_crash_between_racers_is_the_one_behind():
    core = race_core(2)
    core.step(np.zeros(2, np.int64))  # PREPARE -> RUN
    _touching(core, ahead=0, behind=1, s_ahead=3.0)
    core.step(np.zeros(2, np.int64))
    assert core.infos[1]["episode_status"] == "crashed" and core.infos[1]["params"]["is_crashed"]
    assert core.infos[0]["episode_status"] == "in_progress"
    assert not core.infos[0]["params"]["is_crashed"]


def test_the_car_ahead_is_not_crashed_when_the_one_behind_rams_it():
    # Car 0 (at the line) rams car 1 from behind: car 1 is further round and goes on.
    core = race_core(2)
    core.step(np.zeros(2, np.int64))
    _touching(core, ahead=1, behind=0, s_ahead=4.0)
    core.step(np.zeros(2, np.int64))
    assert core.infos[0]["episode_status"] == "crashed"
    assert core.infos[1]["episode_status"] == "in_progress"


def test_a_finished_racer_parks_off_the_track_and_cannot_be_hit():
    core = race_core(2)
    core.step(np.zeros(2, np.int64))
    # Drive car 1 off the track: with no resets its race ends, and it parks.
    core.place_cars(np.array([1]), np.array([100.0]), np.array([100.0]), np.array([0.0]))
    core.step(np.zeros(2, np.int64))
    assert core.infos[1]["episode_status"] == "off_track" and core.terminated[1]
    assert core.phase[1] == Phase.PARK
    assert core.car.x[1] < core.tracks[0].geometry.outer[:, 0].min()  # off the track
    parked = (core.car.x[1], core.car.y[1])
    # Car 0 still sees it, at the park spot (as DeepRacer's parked cars stay objects) ...
    core.step(np.zeros(2, np.int64))
    assert core.infos[0]["params"]["objects_location"] == [list(parked)]
    assert core.infos[1]["episode_status"] == "park" and core.rewards[1] == 0.0
    assert (core.car.x[1], core.car.y[1]) == parked
    # ... but cannot run into it, even placed on top of it.
    core.place_cars(np.array([0]), np.array([parked[0]]), np.array([parked[1]]), np.array([0.0]))
    core.step(np.zeros(2, np.int64))
    assert core.world.hit[0] == -1


def test_a_racer_paused_after_a_failure_cannot_be_hit():
    episode = replace(RACE, number_of_resets=5)
    core = race_core(2, episode=episode)
    core.step(np.zeros(2, np.int64))
    _touching(core, ahead=0, behind=1, s_ahead=3.0)
    core.step(np.zeros(2, np.int64))
    assert core.infos[1]["episode_status"] == "crashed" and core.phase[1] == Phase.PAUSE
    # A crash into another car pauses the car where it is (the simapp resets only for boxes).
    track = core.tracks[0]
    x, y, _ = track.point_at(np.array([3.0 - (core.config.car.length - 0.05)]))
    assert (core.car.x[1], core.car.y[1]) == pytest.approx((x[0], y[0]))
    # While it pauses, car 0 reversing into it is no crash.
    core.place_cars(np.array([0]), core.car.x[1:2], core.car.y[1:2], core.car.yaw[1:2])
    core.step(np.zeros(2, np.int64))
    assert core.world.hit[0] == -1 and core.infos[0]["episode_status"] != "crashed"


def test_worlds_share_their_boxes_and_bots_and_differ_from_each_other():
    boxes = ObstacleConfig(count=3, randomize=True)
    bots = BotConfig(count=2, randomize=True, lane_change=True)
    core = race_core(2, n=4, seeds=[1, 2, 3, 4], obstacles=boxes, bots=bots)
    for _ in range(40):
        core.step(np.zeros(4, np.int64))
    m = 3 + 2  # boxes and bots, then the other racer
    np.testing.assert_array_equal(core.world.x[0, :m], core.world.x[1, :m])
    np.testing.assert_array_equal(core.world.y[2, :m], core.world.y[3, :m])
    assert not np.allclose(core.world.x[0, :3], core.world.x[2, :3])
    # Each car's last object is the other racer of its world.
    assert core.world.x[0, m] == core.car.x[1] and core.world.x[3, m] == core.car.x[2]
    assert core.world.num_objects == 6


def test_a_race_resets_whole_worlds_only():
    core = race_core(2, n=4)
    with pytest.raises(ValueError, match="whole worlds"):
        core.reset_cars(np.array([1]), [np.random.default_rng(0)])
    with pytest.raises(ConfigError, match="multiple of 2"):
        RacerCore(EnvConfig(racers=2), 3)
    with pytest.raises(ConfigError, match="racers must be >= 1"):
        EnvConfig(racers=0)


def test_training_envs_refuse_races():
    with pytest.raises(ConfigError, match="racer race"):
        RacerVecEnv(EnvConfig(racers=2), 2)


def test_racers_drive_their_own_action_spaces_and_rewards():
    config = EnvConfig(racers=2, episode=RACE)
    calls: list[int] = []
    rewards = [lambda p: calls.append(0) or 1.0, lambda p: calls.append(1) or 2.0]
    core = RacerCore(config, 2, reward_function=rewards)
    core.reset_cars(np.arange(2), [np.random.default_rng(0), np.random.default_rng(1)])
    core.speed[:] = [0.5, 1.5]
    core.steering[:] = 0.0
    core.steering_deg[:] = 0.0
    core.advance()  # PREPARE: no reward
    core.speed[:] = [0.5, 1.5]
    core.advance()
    assert sorted(calls) == [0, 1] and core.rewards.tolist() == [1.0, 2.0]
    assert [info["params"]["speed"] for info in core.infos] == [0.5, 1.5]


def test_batched_box_placement_equals_one_car_at_a_time():
    track = load_track("oval")
    config = ObstacleConfig(count=4, randomize=True)
    batch = place_obstacles_batch(track, config, [np.random.default_rng(s) for s in (5, 6, 7)])
    for seed, boxes in zip((5, 6, 7), batch, strict=True):
        one = place_obstacles(track, config, np.random.default_rng(seed))
        for name in ("x", "y", "yaw", "ndist", "lane"):
            np.testing.assert_array_equal(getattr(boxes, name), getattr(one, name))


def test_a_racer_still_behind_the_line_is_behind_in_a_crash():
    # Car 0 has crossed the line; car 1, still behind it (negative progress), runs into it.
    core = race_core(2)
    core.step(np.zeros(2, np.int64))
    _touching(core, ahead=0, behind=1, s_ahead=0.1)
    core.step(np.zeros(2, np.int64))
    assert core.infos[1]["progress"] < 0.0 < core.infos[0]["progress"]
    assert core.infos[1]["episode_status"] == "crashed"
    assert core.infos[0]["episode_status"] == "in_progress"


def test_the_simapps_race_rules_stay_available():
    # Wrapped progress: the car behind the line counts as ahead; and no lane change at the grid.
    core = race_core(2, simapp_race_rules=True)
    core.step(np.zeros(2, np.int64))
    _touching(core, ahead=0, behind=1, s_ahead=0.1)
    core.step(np.zeros(2, np.int64))
    assert core.infos[0]["episode_status"] == "crashed"
    assert core.infos[1]["episode_status"] == "in_progress"
    core = race_core(4, obstacles=ObstacleConfig(count=3), simapp_race_rules=True)
    core.step(np.zeros(4, np.int64))
    core.step(np.zeros(4, np.int64))
    assert core.world.hit[1] >= 0  # racer 1 starts on the last box's lane, 0.25 m from it


def test_an_evaluation_reset_puts_a_racer_behind_the_line_back_there():
    core = race_core(3, episode=replace(RACE, number_of_resets=5))
    core.step(np.zeros(3, np.int64))
    core.step(np.zeros(3, np.int64))
    before = core.infos[2]["progress"]
    assert before < 0.0
    core.place_cars(np.array([2]), np.array([100.0]), np.array([100.0]), np.array([0.0]))
    core.step(np.zeros(3, np.int64))  # off track: reset at its last good progress
    assert core.infos[2]["episode_status"] == "off_track"
    core.step(np.zeros(3, np.int64))
    assert core.infos[2]["progress"] == pytest.approx(before, abs=1.0)


def test_no_racer_starts_inside_a_box():
    # DeepRacer's 3 fixed boxes put the last one on the inner lane 1 m before the line, where
    # racer 1 would start: it takes the outer lane.
    core = race_core(4, obstacles=ObstacleConfig(count=3))
    core.step(np.zeros(4, np.int64))
    core.step(np.zeros(4, np.int64))
    assert (core.world.hit == -1).all()
    assert [info["episode_status"] for info in core.infos] == ["in_progress"] * 4


def test_an_open_track_needs_room_behind_the_start_for_the_grid(tmp_path):
    rows = np.load(load_track("oval").source)[:40]
    open_track = tmp_path / "open.npy"
    np.save(open_track, rows)
    with pytest.raises(ConfigError, match="1.50 m of track behind the start"):
        race_core(3, track=str(open_track))
    core = race_core(3, track=str(open_track),
                     episode=replace(RACE, start_position_offset=0.2))  # fmt: skip
    assert core.car.x.shape == (3,)
