"""The live view: training writes one car into shared memory, a window process draws it."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from racer.env.config import EnvConfig  # noqa: E402
from racer.env.vec_env import RacerVecEnv  # noqa: E402
from racer.track import load_track  # noqa: E402
from racer.viewer.live import LiveFeed, LiveView  # noqa: E402
from racer.viewer.render import CAR_COLOUR, TrackView  # noqa: E402

SIZE = (480, 360)


@pytest.fixture
def env():
    vec = RacerVecEnv(EnvConfig(track="oval"), 2, seed=3)
    vec.reset()
    yield vec
    vec.close()


def drive(env, steps, watch):
    action = np.zeros(2, np.int64)
    for _ in range(steps):
        env.step(action)
        watch(env.core)


def wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_feed_round_trips_a_car(env):
    drive(env, 5, lambda core: None)
    feed = LiveFeed(env.core.obs.shape[1:])
    try:
        assert feed.read() is None  # nothing written yet
        feed.write(env.core.record(1))
        other = LiveFeed(feed.frame_shape, name=feed.name)  # as the window process attaches
        record, frame, objects = other.read()
        other.close()
        assert record["x"] == env.core.car.x[1] and record["yaw"] == env.core.car.yaw[1]
        assert record["steps"] == 5 and record["reward"] == env.core.rewards[1]
        assert np.array_equal(frame, env.core.obs[1])
        assert record["seq"] == 2.0 and objects.shape == (0, 6)
    finally:
        feed.close()


def test_the_window_draws_the_followed_car_and_its_camera(env, tmp_path):
    snapshot = tmp_path / "live.png"
    live = LiveView("oval", size=SIZE, fps=50, snapshot=snapshot)
    try:
        drive(env, 10, live)
        assert live.process.is_alive()
        assert wait_for(lambda: live.drawn() > 0), "the window drew nothing"
        drive(env, 1, live)
        seq = live.feed.header[0]
        before = live.drawn()
        # two more pictures: the second began after the last step was published
        assert wait_for(lambda: live.drawn() >= before + 2)
    finally:
        live.close()
    assert live.process.exitcode == 0 and not live.failed
    picture = np.asarray(Image.open(snapshot).convert("RGB"))
    assert picture.shape == (SIZE[1], SIZE[0], 3)
    view = TrackView(load_track("oval"), SIZE)
    centre = view.to_screen(env.core.car.x[0], env.core.car.y[0])[0].round().astype(int)
    assert tuple(picture[centre[1], centre[0]]) == CAR_COLOUR
    # The inset is the car's own camera frame, scaled 2x.
    h, w = env.core.obs.shape[1:3]
    inset = picture[10 : 10 + 2 * h : 2, SIZE[0] - 2 * w - 10 : SIZE[0] - 10 : 2, 0]
    assert np.abs(inset.astype(int) - env.core.obs[0, :, :, 0].astype(int)).mean() < 2.0
    assert seq % 2 == 0


def test_a_window_that_cannot_open_is_a_warning_and_training_goes_on(env, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-driver")
    said = []
    live = LiveView("oval", size=SIZE, say=said.append)
    try:
        drive(env, 3, live)
        live.process.join(60)
        drive(env, 300, live)  # training carries on; the failure is reported once
    finally:
        live.close()
    assert len(said) == 1 and "cannot open a window" in said[0]
    assert "training goes on" in said[0]


def test_training_calls_the_watch_after_every_step(tmp_path):
    import json
    from dataclasses import replace

    from tests.train.test_trainer import FAST, HYPER

    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps(HYPER))
    live = LiveView("oval", size=SIZE, fps=50)
    seen = []

    def watch(core):
        seen.append(int(core.steps[0]))
        live(core)

    from racer.train.trainer import Trainer

    trainer = Trainer(replace(FAST, hyperparameters=str(hyper)), tmp_path / "run",
                      say=lambda _: None, watch=watch)  # fmt: skip
    try:
        result = trainer.run()
    finally:
        live.close()
    assert len(seen) == result.state.timesteps // FAST.num_envs == 2 * 96
    assert not live.failed


def test_the_window_draws_the_followed_cars_boxes_and_bots(tmp_path):
    from racer.objects.bots import BotConfig
    from racer.objects.obstacles import ObstacleConfig
    from racer.viewer.render import BOT_COLOUR, BOX_COLOUR

    config = EnvConfig(obstacles=ObstacleConfig(count=2), bots=BotConfig(count=2))
    env = RacerVecEnv(config, 2, seed=3)
    env.reset()
    snapshot = tmp_path / "live.png"
    live = LiveView("oval", size=SIZE, fps=50, snapshot=snapshot)
    try:
        drive(env, 3, live)
        before = live.drawn()
        assert wait_for(lambda: live.drawn() >= before + 2)
        # the record holds car 0's objects: 2 boxes then 2 bots
        _, _, objects = live.feed.read()
        np.testing.assert_array_equal(objects[:, 0], env.core.world.x[0])
        assert objects[:, 5].tolist() == [0.0, 0.0, 1.0, 1.0]
    finally:
        live.close()
        env.close()
    picture = np.asarray(Image.open(snapshot).convert("RGB"))
    view = TrackView(load_track("oval"), SIZE)
    for k, colour in ((0, BOX_COLOUR), (2, BOT_COLOUR)):
        centre = view.to_screen(objects[k, 0], objects[k, 1])[0].round().astype(int)
        assert tuple(picture[centre[1], centre[0]]) == colour
