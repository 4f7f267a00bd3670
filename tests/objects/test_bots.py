"""Head-to-bot bot cars (racer.objects.bots) against DeepRacer's BotCarsCtrl (SPEC 5.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.objects.bots import (
    BotConfig,
    BotState,
    advance_bots,
    bot_distances,
    pause_bots,
    place_bots,
)
from racer.track import TrackQuery, load_track

DT = 1.0 / 15.0


def placed(config: BotConfig, n: int = 1, track_name: str = "oval", reverse: bool = False):
    track = load_track(track_name, reverse=reverse)
    state = BotState(n, config.count)
    rngs = [np.random.default_rng(seed) for seed in range(n)]
    place_bots(state, np.arange(n), track, config, rngs)
    return track, state, rngs


def test_even_spacing_from_min_distance_in_metres_and_alternating_lanes():
    track = load_track("kidney")
    dist, lane = bot_distances(track.length, BotConfig(count=3))
    np.testing.assert_allclose(dist, np.linspace(2.0, track.length - 1.0, 3))
    np.testing.assert_array_equal(lane, [1.0, -1.0, 1.0])  # inner first
    assert BotConfig().count == 0 and BotConfig().speed == 0.2


def test_randomized_layout_follows_the_seed_and_keeps_the_gap():
    track = load_track("kidney")
    config = BotConfig(count=3, randomize=True)
    a = bot_distances(track.length, config, np.random.default_rng(4))
    b = bot_distances(track.length, config, np.random.default_rng(4))
    c = bot_distances(track.length, config, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert np.all(np.diff(a[0]) >= config.min_distance - 1e-9)


@pytest.mark.parametrize("reverse", [False, True])
def test_bots_drive_their_lane_at_their_speed(reverse):
    config = BotConfig(count=2, speed=0.3)
    track, state, rngs = placed(config, n=2, reverse=reverse)
    query = TrackQuery(2)
    for _ in range(150):  # 10 s, round the bends of the oval
        s0, x0, y0 = state.s.copy(), state.x.copy(), state.y.copy()
        advance_bots(state, track, config, DT, rngs)
        # the centre-line distance grows by exactly speed * dt (DeepRacer's parametrisation)
        ds = (state.s - s0) % track.length
        np.testing.assert_allclose(ds, config.speed * DT, atol=1e-9)
        # on the lane: the lane point at that distance, half-way between centre and border
        for b, lane in enumerate((1.0, -1.0)):
            lx, ly = track.lane_point_at(state.s[:, b], np.full(2, lane))
            np.testing.assert_allclose(state.x[:, b], lx, atol=1e-9)
            np.testing.assert_allclose(state.y[:, b], ly, atol=1e-9)
        # the ground covered is close to speed * dt (a lane is a little shorter or longer)
        step = np.hypot(state.x - x0, state.y - y0)
        np.testing.assert_allclose(step, config.speed * DT, rtol=0.25)
        # and the yaw points along the motion
        motion = np.arctan2(state.y - y0, state.x - x0)
        assert np.all(np.abs((state.yaw - motion + math.pi) % (2 * math.pi) - math.pi) < 0.1)
    query.model_x[:], query.model_y[:] = state.x[:, 0], state.y[:, 0]
    track.locate(query)
    np.testing.assert_allclose(query.distance_from_center, 0.25 * query.track_width, rtol=0.05)


def test_lane_changes_take_the_lane_change_distance_and_wait_three_to_five_seconds():
    config = BotConfig(count=3, lane_change=True, speed=0.2)
    track, state, rngs = placed(config, n=2)
    steps = int(120.0 / DT)
    lane = np.empty((steps, 2, 3))
    clock = np.empty(steps)
    for k in range(steps):
        advance_bots(state, track, config, DT, rngs)
        lane[k], clock[k] = state.lane, state.clock[0]
        for b in range(3):  # the footprint centre is the lane value's point
            x, y = track.lane_point_at(state.s[:, b], state.lane[:, b])
            np.testing.assert_allclose(state.x[:, b], x, atol=1e-9)
    for i in range(2):
        for b in range(3):
            moving = np.abs(lane[:, i, b]) < 1.0 - 1e-12
            edges = np.flatnonzero(np.diff(moving.astype(int)))
            starts, ends = edges[moving[edges + 1]], edges[~moving[edges + 1]]
            if moving[0]:  # the record began mid-change: drop the partial one
                ends = ends[1:]
            n = min(len(starts), len(ends))
            starts, ends = starts[:n], ends[:n]
            assert n >= 8  # about one change every 8-10 s over 120 s
            # each change lasts lane_change_distance / speed = 5 s, i.e. 1 m of centre line
            duration = clock[ends] - clock[starts]
            np.testing.assert_allclose(duration, config.change_duration, atol=1.5 * DT)
            np.testing.assert_allclose(duration * config.speed, 1.0, atol=0.05)
            # between changes the bot waits 3-5 s on a lane, then goes to the other one
            waits = clock[starts[1:]] - clock[ends[:-1]]
            assert np.all(waits > 3.0 - 1.5 * DT) and np.all(waits < 5.0 + 1.5 * DT)
            before = np.sign(lane[starts, i, b])
            after = np.sign(lane[ends + 1, i, b])
            np.testing.assert_array_equal(after, -before)


def test_without_lane_changes_bots_keep_their_lane():
    config = BotConfig(count=3)
    track, state, rngs = placed(config)
    for _ in range(300):
        advance_bots(state, track, config, DT, rngs)
    np.testing.assert_array_equal(state.lane, [[1.0, -1.0, 1.0]])


def test_a_pause_stops_the_bots_for_penalty_seconds():
    config = BotConfig(count=2, lane_change=True)
    track, state, rngs = placed(config)
    advance_bots(state, track, config, DT, rngs)
    pause_bots(state, config, np.array([0]))
    s = state.s.copy()
    for _ in range(30):  # 2 s at 15 Hz
        advance_bots(state, track, config, DT, rngs)
        np.testing.assert_array_equal(state.s, s)
    advance_bots(state, track, config, DT, rngs)
    np.testing.assert_allclose(state.s - s, config.speed * DT, atol=1e-12)


def test_same_seed_same_bots_and_each_car_its_own():
    config = BotConfig(count=3, randomize=True, lane_change=True)
    track, a, rngs_a = placed(config, n=2)
    _, b, rngs_b = placed(config, n=2)
    for _ in range(200):
        advance_bots(a, track, config, DT, rngs_a)
        advance_bots(b, track, config, DT, rngs_b)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x[0], a.x[1])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"count": -1}, "count"),
        ({"speed": 0.0}, "speed"),
        ({"lane_change_time": (5.0, 3.0)}, "lane_change_time"),
        ({"lane_change_distance": 0.0}, "lane_change_distance"),
        ({"penalty_seconds": -1.0}, "penalty_seconds"),
        ({"min_distance": -1.0}, "min_distance"),
    ],
)
def test_bad_configs_say_what_to_fix(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        BotConfig(**kwargs)


def test_a_min_distance_longer_than_the_track_is_an_error():
    with pytest.raises(ConfigError, match="min_distance"):
        bot_distances(10.0, BotConfig(count=2, min_distance=20.0))


@pytest.mark.parametrize("quirk", [False, True])
def test_per_car_object_keys_equal_one_call_per_car(quirk):
    from racer.objects.params import (
        describe_objects,
        object_params,
        split_table,
    )

    track = load_track("kidney")
    rng = np.random.default_rng(3)
    n, k = 6, 4
    s = rng.uniform(0.0, track.length, (n, k))
    x, y = track.lane_point_at(s.ravel(), rng.choice([-1.0, 1.0], n * k))
    yaw = rng.uniform(-math.pi, math.pi, n * k)
    table = describe_objects(track, x, y, yaw, np.tile([0.5, 0.32352, 0.32352, 0.5], n),
                             0.3, z=0.05, speed=np.full(n * k, 0.2), heading=yaw)  # fmt: skip
    car_s = rng.uniform(0.0, track.length, n)
    cx, cy, cyaw = track.point_at(car_s)
    reverse = np.array([False, True] * (n // 2))
    cyaw = np.where(reverse, cyaw + math.pi, cyaw)
    batched = object_params(table, car_s, cx, cy, cyaw, reverse, per_car=True,
                            camera_index_quirk=quirk)  # fmt: skip
    for i, sub in enumerate(split_table(table, n)):
        one = object_params(sub, car_s[i : i + 1], cx[i : i + 1], cy[i : i + 1], cyaw[i : i + 1],
                            reverse[i : i + 1], camera_index_quirk=quirk)[0]  # fmt: skip
        assert batched[i] == one
        for key, value in one.items():
            assert type(batched[i][key]) is type(value)
    assert any(p["object_in_camera"] for p in batched) or quirk
