"""The replay draws a run's logged objects (bot cars, randomized boxes) as they were at each step.

Short real runs (one car, 10-step episodes) are logged into run folders; the replay's frames are
checked on pixels, as in test_render. Without a usable object log the replay falls back to the
run's fixed boxes with a note.
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import math  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from racer import EnvConfig, RacerVecEnv  # noqa: E402
from racer.env.episode import EpisodeConfig  # noqa: E402
from racer.logs.objects import (  # noqa: E402
    BOT,
    BOX,
    RACER,
    objects_path,  # noqa: E402
)
from racer.logs.recorder import SimtraceRecorder  # noqa: E402
from racer.logs.writers import write_simtrace  # noqa: E402
from racer.objects.bots import BotConfig  # noqa: E402
from racer.objects.obstacles import ObstacleConfig  # noqa: E402
from racer.track import load_track  # noqa: E402
from racer.viewer.app import ReplayApp  # noqa: E402
from racer.viewer.export import export_episode  # noqa: E402
from racer.viewer.render import (  # noqa: E402
    BOT_COLOUR,
    BOX_COLOUR,
    RACER_COLOUR,
    ReplayRenderer,
)
from racer.viewer.source import load_episodes, replay_objects  # noqa: E402
from tests.viewer.test_render import pixel  # noqa: E402
from tests.viewer.test_render import write_simtrace as write_centre_line  # noqa: E402

TOML_BOTS = '[env]\ntrack = "oval"\n[env.bots]\ncount = 2\n'
TOML_RANDOM_BOXES = '[env]\ntrack = "oval"\n[env.obstacles]\ncount = 2\nrandomize = true\n'


def log_run(root, config: EnvConfig, toml: str, episodes: int = 1):
    """Record ``episodes`` episodes of one car into ``root`` (a racer run folder).

    Returns the params of every step, in order.
    """
    env = RacerVecEnv(config, num_envs=1, seed=3)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    rng = np.random.default_rng(3)
    env.reset()
    finished, params = [], []
    while len(finished) < episodes:
        actions = rng.integers(0, env.action_space.n, 1)
        _, rewards, dones, infos = env.step(actions)
        params.append(infos[0]["params"])
        finished += recorder.record(actions, rewards, dones, infos)
    env.close()
    (root / "training-simtrace").mkdir(parents=True)
    (root / "racer.toml").write_text(toml)
    write_simtrace(root / "training-simtrace" / "0-iteration.csv", finished)
    return params


@pytest.fixture(scope="module")
def bots_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bots") / "run"
    config = EnvConfig(track="oval", bots=BotConfig(count=2),
                       episode=EpisodeConfig(max_episode_steps=10))  # fmt: skip
    return root, log_run(root, config, TOML_BOTS)


@pytest.fixture(scope="module")
def boxes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("boxes") / "run"
    config = EnvConfig(track="oval", obstacles=ObstacleConfig(count=2, randomize=True),
                       episode=EpisodeConfig(max_episode_steps=6))  # fmt: skip
    return root, log_run(root, config, TOML_RANDOM_BOXES, episodes=2)


def ahead(x, y, yaw, forward, left=0.0):
    """The point ``forward`` m ahead and ``left`` m to the left of a pose."""
    c, s = math.cos(yaw), math.sin(yaw)
    return x + forward * c - left * s, y + forward * s + left * c


def test_a_bot_is_drawn_at_its_logged_pose_of_each_step(bots_run):
    root, params = bots_run
    episodes = load_episodes(root)
    objects = episodes.objects(0)
    assert objects is not None and objects.kinds.tolist() == [BOT, BOT]
    location = np.array([p["objects_location"] for p in params])  # (T, 2, 2)
    np.testing.assert_allclose(objects.x, location[:, :, 0], atol=5e-5)
    np.testing.assert_allclose(objects.heading, [p["objects_heading"] for p in params], atol=5e-5)
    assert replay_objects(episodes, root, load_track("oval")) == (None, "")
    renderer = ReplayRenderer(load_track("oval"), episodes.columns(0), camera=False,
                              objects=objects)  # fmt: skip
    last = renderer.steps - 1
    x, y, yaw = objects.x[last, 0], objects.y[last, 0], objects.heading[last, 0]
    assert math.hypot(x - objects.x[0, 0], y - objects.y[0, 0]) > 0.1  # it drove
    front = renderer.to_screen(*ahead(x, y, yaw, 0.14))[0]
    side = renderer.to_screen(*ahead(x, y, yaw, 0.0, 0.14))[0]
    at_last, at_first = renderer.render_array(last), renderer.render_array(0)
    assert pixel(at_last, renderer.to_screen(x, y)[0]) == BOT_COLOUR
    assert pixel(at_last, front) == BOT_COLOUR and pixel(at_last, side) != BOT_COLOUR
    assert pixel(at_first, front) != BOT_COLOUR  # at step 0 it was further back


def test_the_camera_inset_sees_a_logged_bot_ahead(tmp_path):
    run = tmp_path / "run"
    (run / "training-simtrace").mkdir(parents=True)
    (run / "racer.toml").write_text('[env]\ntrack = "oval"\n[env.bots]\ncount = 1\n')
    csv = run / "training-simtrace" / "0-iteration.csv"
    x, y, yaw = write_centre_line(csv, 6)
    # object 0 (the bot) 0.8 m ahead of the car at every step; object 1, another racing car,
    # far behind it on the road
    bot = [ahead(x[k], y[k], yaw[k], 0.8) for k in range(6)]
    racer = ahead(x[0], y[0], yaw[0], -1.5)
    lines = ["episode,steps,x0,y0,heading0,x1,y1,heading1"]
    lines += [f"0,{k + 1}.0,{bx:.4f},{by:.4f},{yaw[k]:.4f},{racer[0]:.4f},{racer[1]:.4f},"
              f"{yaw[0]:.4f}" for k, (bx, by) in enumerate(bot)]  # fmt: skip
    objects_path(csv).write_text("\n".join(lines) + "\n")
    episodes = load_episodes(run)
    objects = episodes.objects(0)
    assert objects.kinds.tolist() == [BOT, RACER]
    renderer = ReplayRenderer(load_track("oval"), episodes.columns(0), objects=objects)
    seen = renderer.camera_view(3).copy()
    plain = ReplayRenderer(load_track("oval"), episodes.columns(0)).camera_view(3)
    changed = seen != plain
    assert changed.mean() > 0.01  # the bot shows in the camera
    columns = np.flatnonzero(changed.any(axis=0))
    assert abs(0.5 * (columns[0] + columns[-1]) - 80) < 10  # straight ahead: in the middle
    frame = renderer.render_array(3)
    assert pixel(frame, renderer.to_screen(*racer)[0]) == RACER_COLOUR


def test_a_randomized_box_run_replays_each_episodes_boxes(boxes_run, tmp_path):
    root, _ = boxes_run
    track = load_track("oval")
    episodes = load_episodes(root)
    assert len(episodes) == 2
    first, second = episodes.objects(0), episodes.objects(1)
    assert first.kinds.tolist() == second.kinds.tolist() == [BOX, BOX]
    assert np.abs(first.x[0] - second.x[0]).max() > 0.3  # moved between the episodes
    assert replay_objects(episodes, root, track) == (None, "")
    app = ReplayApp(episodes, track)
    app.renderer.show_camera = False
    for index, objects, other in ((0, first, second), (1, second, first)):
        app.show_episode(index)
        frame = app.frame_array()
        for i in range(2):
            assert pixel(frame, app.renderer.to_screen(objects.x[0, i], objects.y[0, i])[0]) \
                == BOX_COLOUR  # fmt: skip
            assert pixel(frame, app.renderer.to_screen(other.x[0, i], other.y[0, i])[0]) \
                != BOX_COLOUR  # fmt: skip
    # a box is drawn along the track: 0.5 m long, 0.4 m wide
    app.show_episode(0)
    frame = app.frame_array()
    bx, by = first.x[0, 0], first.y[0, 0]
    yaw = app.renderer._object_yaw[0, 0]
    assert pixel(frame, app.renderer.to_screen(*ahead(bx, by, yaw, 0.22))[0]) == BOX_COLOUR
    assert pixel(frame, app.renderer.to_screen(*ahead(bx, by, yaw, 0.0, 0.24))[0]) != BOX_COLOUR
    app.show_episode(0)
    app.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_n))  # the next episode's boxes
    assert app.index == 1 and app.renderer.objects is not None
    result = export_episode(root, track, episode=1, out=tmp_path / "lap.gif", size=(320, 240))
    assert result.warnings == []


def test_a_missing_or_damaged_object_log_falls_back_with_a_note(boxes_run, tmp_path):
    source, _ = boxes_run
    track = load_track("oval")
    root = tmp_path / "run"
    shutil.copytree(source, root)
    sidecar = root / "training-simtrace" / "0-objects.csv"
    sidecar.unlink()
    episodes = load_episodes(root)
    assert episodes.objects(0) is None
    boxes, note = replay_objects(episodes, root, track)
    assert boxes is None and "0-objects.csv is missing" in note and "\n" not in note
    assert "moved every episode" in note
    result = export_episode(root, track, out=tmp_path / "lap.gif", size=(320, 240))
    assert result.warnings == [note]
    # fixed boxes and a damaged log: the fixed boxes are drawn, as before the object log
    (root / "racer.toml").write_text('[env]\ntrack = "oval"\n[env.obstacles]\n'
                                     "positions = [[0.2, 1.0], [0.5, -1.0]]\n")  # fmt: skip
    shutil.copy(source / "training-simtrace" / "0-objects.csv", sidecar)
    lines = sidecar.read_text().splitlines()
    sidecar.write_text("\n".join(lines[:4] + [lines[4][:10]]) + "\n")
    episodes = load_episodes(root)
    boxes, note = replay_objects(episodes, root, track)
    assert episodes.objects(0) is None and boxes is not None and len(boxes.x) == 2
    assert "damaged at line 5" in note and "fixed boxes" in note
    # a log of another simtrace (episodes out of step) is not used either
    shutil.copy(source / "training-simtrace" / "0-objects.csv", sidecar)
    text = sidecar.read_text().splitlines()
    sidecar.write_text("\n".join([text[0], *(("9" + line[1:]) for line in text[1:])]) + "\n")
    episodes = load_episodes(root)
    assert episodes.objects(0) is None
    assert "does not match its simtrace" in replay_objects(episodes, root, track)[1]


def test_replay_takes_the_track_from_the_runs_racer_toml(bots_run, tmp_path, capsys):
    from racer.cli import main

    root, _ = bots_run
    out = tmp_path / "episode.gif"
    assert main(["replay", str(root), "--episode", "0", "--out", str(out)]) == 0
    assert out.stat().st_size > 0 and "replayed episode 0" in capsys.readouterr().out
    # A folder without racer.toml (DeepRacer's own logs) still needs --track, and says so.
    logs = tmp_path / "deepracer-logs"
    shutil.copytree(root / "training-simtrace", logs / "training-simtrace")
    assert main(["replay", str(logs), "--out", str(out)]) == 2
    assert "give the track it was driven on, --track" in capsys.readouterr().err


def test_replay_refuses_a_log_of_another_track(bots_run, tmp_path, capsys):
    from racer.cli import main
    from racer.track.io import read_track_array, resolve_track_path

    root, _ = bots_run  # driven on oval
    elsewhere = tmp_path / "elsewhere.npy"  # the oval, 20 m east
    np.save(elsewhere, read_track_array(resolve_track_path("oval")) + [20.0, 0.0] * 3)
    out = tmp_path / "episode.gif"
    assert main(["replay", str(root), "--track", str(elsewhere), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "from the centre line of track elsewhere" in err and not out.exists()
