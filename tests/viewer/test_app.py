"""The replay window, driven headless by synthetic key and mouse events; frames checked."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from racer.cli import main  # noqa: E402
from racer.errors import LogError  # noqa: E402
from racer.logs.simtrace import SIMTRACE_COLUMNS  # noqa: E402
from racer.track import load_track  # noqa: E402
from racer.viewer.app import CURSOR, OFF_TRACK_MARK, STEP_RATE, ReplayApp  # noqa: E402
from racer.viewer.render import CAR_COLOUR, MODEL_POINT_AHEAD  # noqa: E402
from racer.viewer.source import load_episodes, off_track_rows  # noqa: E402
from tests.conftest import DEEPRACER_LOGS, DEEPRACER_TRACKS  # noqa: E402

SIZE = (480, 360)
STEPS = 20


def write_episodes(path, episodes=3, steps=STEPS):
    """Episodes on oval's centre line; episode 1 leaves the road at rows 8-10 and ends off it at
    row 15, with its worst reward at row 12. Returns each episode's body (x, y, yaw)."""
    track = load_track("oval")
    lines = [",".join(SIMTRACE_COLUMNS[:17])]
    bodies = []
    for e in range(episodes):
        rows = steps if e != 1 else 16
        x, y, yaw = track.point_at(1.0 + 3.0 * e + 0.2 * np.arange(rows))
        bodies.append((x, y, yaw))
        mx, my = x + MODEL_POINT_AHEAD * np.cos(yaw), y + MODEL_POINT_AHEAD * np.sin(yaw)
        for i in range(rows):
            reward = 1.0 - 0.01 * i
            on_track = True
            status = "prepare" if i == 0 else "in_progress"
            if e == 1:
                reward = 0.05 if i == 12 else reward
                on_track = not (8 <= i <= 10 or i == 15)
                status = "off_track" if i == 15 else status
            elif i == rows - 1:
                status = "lap_complete"
            lines.append(",".join(str(v) for v in (
                e, float(i + 1), mx[i], my[i], math.degrees(yaw[i]), 5.0, 1.0 + 0.1 * i, i % 3,
                reward, i == rows - 1, on_track, 5.0 * i, i, track.length, 12.0 + i / 15, status,
                0.0,
            )))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return bodies


@pytest.fixture
def app(tmp_path):
    csv = tmp_path / "0-iteration.csv"
    bodies = write_episodes(csv)
    viewer = ReplayApp(load_episodes(csv), load_track("oval"), size=SIZE)
    viewer.bodies = bodies
    return viewer


def key(app, k):
    app.handle(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="", scancode=0))


def pixel(frame, xy):
    return tuple(int(v) for v in frame[int(round(xy[1])), int(round(xy[0]))])


def car_centre(app):
    x, y, _ = app.bodies[app.index]
    return app.renderer.to_screen(x[app.step], y[app.step])[0]


def cursor_x(frame, app):
    """The x of the timeline cursor, found from the pixels above the strip."""
    row = app.timeline_rect().top - 2
    xs = np.flatnonzero((frame[row] == CURSOR).all(axis=1))
    assert xs.size, "no cursor drawn"
    return float(xs.mean())


def test_arrow_keys_step_and_the_frame_follows(app):
    app.renderer.show_camera = False
    first = app.frame_array()
    assert first.shape == (SIZE[1] + 56, SIZE[0], 3)
    assert pixel(first, car_centre(app)) == CAR_COLOUR
    for _ in range(5):
        key(app, pygame.K_RIGHT)
    assert app.step == 5 and not app.playing
    frame = app.frame_array()
    assert pixel(frame, car_centre(app)) == CAR_COLOUR
    assert abs(cursor_x(frame, app) - app.step_x(5)) <= 1.5
    assert abs(cursor_x(frame, app) - cursor_x(first, app)) > 20
    key(app, pygame.K_LEFT)
    assert app.step == 4
    for _ in range(10):
        key(app, pygame.K_LEFT)
    assert app.step == 0  # clamped
    key(app, pygame.K_END)
    assert app.step == STEPS - 1
    key(app, pygame.K_RIGHT)
    assert app.step == STEPS - 1


def test_space_plays_at_the_step_rate_and_the_speed_keys_scale_it(app):
    key(app, pygame.K_SPACE)
    assert app.playing
    app.advance(4 / STEP_RATE)
    assert app.step == 4
    key(app, pygame.K_UP)
    assert app.speed == 2.0
    app.advance(2 / STEP_RATE)
    assert app.step == 8
    key(app, pygame.K_DOWN)
    key(app, pygame.K_DOWN)
    assert app.speed == 0.5
    app.advance(2 / STEP_RATE)
    assert app.step == 9
    key(app, pygame.K_SPACE)
    app.advance(1.0)
    assert app.step == 9 and not app.playing
    key(app, pygame.K_SPACE)
    app.advance(100.0)  # stops at the last step
    assert app.step == STEPS - 1 and not app.playing
    key(app, pygame.K_SPACE)  # at the end, play starts again from the first step
    assert app.playing and app.step == 0
    for _ in range(20):
        key(app, pygame.K_UP)
    assert app.speed == 16.0


def test_next_and_previous_episode(app):
    assert app.episodes.number(app.index) == 0
    key(app, pygame.K_RIGHT)
    key(app, pygame.K_n)
    assert app.index == 1 and app.step == 0
    assert app.renderer.steps == 16
    app.renderer.show_camera = False
    assert pixel(app.frame_array(), car_centre(app)) == CAR_COLOUR
    key(app, pygame.K_n)
    key(app, pygame.K_n)  # there is no fourth
    assert app.index == 2 and "no next episode" in app.message
    key(app, pygame.K_p)
    key(app, pygame.K_PAGEUP)
    key(app, pygame.K_p)
    assert app.index == 0


def test_jump_to_the_worst_reward_and_the_off_track_moments(app):
    key(app, pygame.K_o)
    assert app.step == 0 and "no off-track" in app.message
    key(app, pygame.K_w)
    assert app.step == STEPS - 1  # the reward falls along episode 0
    key(app, pygame.K_n)
    assert off_track_rows(app.renderer.episode).tolist() == [8, 9, 10, 15]
    key(app, pygame.K_w)
    assert app.step == 12
    key(app, pygame.K_HOME)
    key(app, pygame.K_o)
    assert app.step == 8
    key(app, pygame.K_o)
    assert app.step == 15
    key(app, pygame.K_o)  # wraps round
    assert app.step == 8
    # The off-the-road steps are marked red on the timeline.
    frame = app.frame_array()
    top = app.timeline_rect().top + 1
    assert pixel(frame, (app.step_x(9), top)) == OFF_TRACK_MARK
    assert pixel(frame, (app.step_x(4), top)) != OFF_TRACK_MARK


def test_the_mouse_scrubs_the_timeline(app):
    bar = app.timeline_rect()
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(bar.centerx, bar.centery)))
    assert app.step in (9, 10)
    app.handle(pygame.event.Event(pygame.MOUSEMOTION, pos=(bar.right - 1, bar.centery),
                                  rel=(0, 0), buttons=(1, 0, 0)))  # fmt: skip
    assert app.step == STEPS - 1
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(bar.left, bar.centery)))
    app.handle(pygame.event.Event(pygame.MOUSEMOTION, pos=(bar.left, bar.centery),
                                  rel=(0, 0), buttons=(0, 0, 0)))  # fmt: skip
    assert app.step == STEPS - 1  # the button is up: motion no longer scrubs
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(5, 5)))
    assert app.step == STEPS - 1  # a click off the timeline does nothing


def test_c_switches_the_trail_colouring_and_i_the_camera(app):
    key(app, pygame.K_END)
    app.renderer.show_camera = True
    with_camera = app.frame_array()
    key(app, pygame.K_i)
    without = app.frame_array()
    inset = app.renderer.camera_rect()
    assert not np.array_equal(with_camera[inset.top : inset.bottom, inset.left : inset.right],
                              without[inset.top : inset.bottom, inset.left : inset.right])
    modes = []
    strips = []
    for _ in range(3):
        modes.append(app.renderer.colour_by)
        bar = app.timeline_rect()
        strips.append(app.frame_array()[bar.centery, bar.left : bar.right].copy())
        key(app, pygame.K_c)
    assert modes == ["reward", "speed", "action"] and app.renderer.colour_by == "reward"
    assert not np.array_equal(strips[0], strips[1]) and not np.array_equal(strips[1], strips[2])


def test_the_window_loop_runs_posted_events_until_quit(app):
    app.run(max_frames=1)  # opens the (dummy) window
    for k in (pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_n, pygame.K_RIGHT, pygame.K_q):
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="",
                                             scancode=0))  # fmt: skip
    app.run(fps=200, max_frames=50)
    assert not app.running
    assert app.index == 1 and app.step == 1
    shown = pygame.surfarray.array3d(pygame.display.get_surface()).transpose(1, 0, 2)
    assert np.array_equal(shown, app.frame_array())


def test_a_bad_episode_is_a_clear_error(tmp_path):
    csv = tmp_path / "0-iteration.csv"
    write_episodes(csv)
    with pytest.raises(LogError, match=r"no training episode 9 \(episodes: 0..2\)"):
        load_episodes(csv).index_of(9)
    assert main(["replay", str(csv), "--track", "oval", "--episode", "9"]) == 2


def test_the_real_drfc_evaluation_log_browses(tmp_path):
    run = DEEPRACER_LOGS / "drfc-reinvent-base"
    track = DEEPRACER_TRACKS / "reinvent_base.npy"
    if not (run.is_dir() and track.exists()):
        pytest.skip(f"the real DeepRacer logs are not at {DEEPRACER_LOGS}")
    viewer = ReplayApp(load_episodes(run, evaluation=True), load_track(track), size=SIZE)
    assert len(viewer.episodes) == 3  # three laps driven without a stop
    key(viewer, pygame.K_n)
    key(viewer, pygame.K_n)
    key(viewer, pygame.K_END)
    assert viewer.renderer.episode["episode_status"][viewer.step] == "lap_complete"
    assert viewer.renderer.episode["progress"][viewer.step] == pytest.approx(100.0)
    assert viewer.frame_array().std() > 10
