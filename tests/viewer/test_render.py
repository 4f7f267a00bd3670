"""The replay renderer and its headless export, checked on drawn pixels."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from racer.cli import main  # noqa: E402
from racer.errors import RacerError  # noqa: E402
from racer.logs.simtrace import SIMTRACE_COLUMNS, read_simtrace  # noqa: E402
from racer.track import load_track  # noqa: E402
from racer.viewer.export import export_episode  # noqa: E402
from racer.viewer.render import (  # noqa: E402
    CAR_COLOUR,
    MODEL_POINT_AHEAD,
    ReplayRenderer,
    colour_ramp,
    episode_columns,
)
from tests.conftest import DEEPRACER_LOGS, DEEPRACER_TRACKS  # noqa: E402

DRFC = DEEPRACER_LOGS / "drfc-reinvent-base"
REINVENT = DEEPRACER_TRACKS / "reinvent_base.npy"
STEP = 0.2  # [m] between logged body positions


def write_simtrace(path, steps=10, start=1.0, reward=None):
    """A simtrace of a car on oval's centre line; returns the body positions and yaw [rad]."""
    track = load_track("oval")
    x, y, yaw = track.point_at(start + STEP * np.arange(steps))
    reward = np.linspace(0.0, 1.0, steps) if reward is None else reward
    mx, my = x + MODEL_POINT_AHEAD * np.cos(yaw), y + MODEL_POINT_AHEAD * np.sin(yaw)
    lines = [",".join(SIMTRACE_COLUMNS[:17])]
    for i in range(steps):
        status = "prepare" if i == 0 else "lap_complete" if i == steps - 1 else "in_progress"
        lines.append(",".join(str(v) for v in (
            0, float(i + 1), mx[i], my[i], math.degrees(yaw[i]), 5.0, 1.0 + 0.2 * i, i % 3,
            reward[i], i == steps - 1, True, 100.0 * i / steps, i, track.length,
            12.0 + i / 15, status, 0.0,
        )))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return x, y, yaw


def renderer_for(tmp_path, steps=10, size=(960, 720), **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "0-iteration.csv"
    body = write_simtrace(csv, steps, **kwargs)
    trace = read_simtrace(csv)
    ((_, _, rows),) = trace.episodes()
    return ReplayRenderer(load_track("oval"), episode_columns(trace, rows), size), body


def pixel(frame, screen):
    column, row = (int(round(v)) for v in screen)
    return tuple(int(v) for v in frame[row, column])


def test_the_car_is_drawn_at_its_body_not_its_model_point(tmp_path):
    renderer, (x, y, yaw) = renderer_for(tmp_path)
    k = 9
    frame = renderer.render_array(k)
    assert frame.shape == (720, 960, 3) and frame.dtype == np.uint8
    c, s = math.cos(yaw[k]), math.sin(yaw[k])
    centre = renderer.to_screen(x[k], y[k])[0]
    assert not renderer.camera_rect().collidepoint(*centre)
    assert pixel(frame, centre) == CAR_COLOUR
    # 0.13 m behind the body centre is inside the 0.32 m car; it would be outside a car drawn
    # around the model point (0.14 m ahead of the body).
    assert pixel(frame, renderer.to_screen(x[k] - 0.13 * c, y[k] - 0.13 * s)[0]) == CAR_COLOUR
    assert pixel(frame, renderer.to_screen(x[k] + 0.25 * c, y[k] + 0.25 * s)[0]) != CAR_COLOUR
    # The footprint's area on screen matches 0.32352 m x 0.1961 m.
    red = np.all(frame == CAR_COLOUR, axis=2).sum()
    assert red == pytest.approx(0.32352 * 0.1961 * renderer.scale**2, rel=0.15)


def test_the_trail_is_coloured_by_reward(tmp_path):
    renderer, (x, y, _) = renderer_for(tmp_path)
    frame = renderer.render_array(9)
    expected = colour_ramp(np.linspace(0.0, 1.0, 10), 0.0, 1.0)
    seen = []
    for i in (2, 6):
        middle = renderer.to_screen(0.5 * (x[i - 1] + x[i]), 0.5 * (y[i - 1] + y[i]))[0]
        seen.append(pixel(frame, middle))
        assert seen[-1] == tuple(int(v) for v in expected[i])
    assert seen[0] != seen[1]
    # Not yet driven: no trail ahead of step 3 in that frame.
    early = renderer.render_array(3)
    middle = renderer.to_screen(0.5 * (x[5] + x[6]), 0.5 * (y[5] + y[6]))[0]
    assert pixel(early, middle) != seen[1]


def test_the_colour_modes_differ(tmp_path):
    renderer, _ = renderer_for(tmp_path)
    colours = {}
    for mode in ("reward", "speed", "action"):
        renderer.colour_by = mode
        colours[mode] = renderer.trail_colours()
        renderer.render(9)
    assert not np.array_equal(colours["reward"], colours["action"])
    assert len({tuple(c) for c in colours["action"]}) == 3  # three actions, three colours
    renderer.colour_by = "heat"
    with pytest.raises(ValueError, match="colour_by"):
        renderer.render(1)


def test_the_camera_inset_shows_the_road(tmp_path):
    renderer, _ = renderer_for(tmp_path)
    frame = renderer.render_array(5)
    rect = renderer.camera_rect()
    inset = frame[rect.top : rect.bottom, rect.left : rect.right]
    assert inset.std() > 10.0
    assert len(np.unique(inset[..., 0])) > 5
    assert (inset[..., 0] == inset[..., 1]).all()  # grayscale
    assert "reward    0.556" in renderer.hud_lines(5)


def test_export_writes_one_gif_frame_per_step(tmp_path):
    csv = tmp_path / "0-iteration.csv"
    write_simtrace(csv, 10)
    result = export_episode(csv, "oval", episode=0, out=tmp_path / "lap.gif", size=(480, 360))
    assert result.frames == 10 and result.warnings == []
    with Image.open(result.out) as gif:
        assert gif.n_frames == 10
        assert gif.size == (480, 360)


def test_a_truncated_log_is_replayed_up_to_the_damage(tmp_path, capsys):
    csv = tmp_path / "0-iteration.csv"
    write_simtrace(csv, 10)
    text = csv.read_text()
    csv.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 20])  # cut the last row
    out = tmp_path / "lap.gif"
    assert main(["replay", str(csv), "--track", "oval", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "damaged" in captured.err
    with Image.open(out) as gif:
        assert gif.n_frames == 9


def test_bad_requests_are_errors(tmp_path):
    csv = tmp_path / "0-iteration.csv"
    write_simtrace(csv, 3)
    with pytest.raises(RacerError, match="no training episode 7"):
        export_episode(csv, "oval", episode=7, out=tmp_path / "a.gif")
    with pytest.raises(RacerError, match=".gif"):
        export_episode(csv, "oval", out=tmp_path / "a.avi")


def test_export_writes_an_h264_mp4_that_decodes_to_the_frames(tmp_path):
    import imageio_ffmpeg

    csv = tmp_path / "0-iteration.csv"
    write_simtrace(csv, 10)
    result = export_episode(csv, "oval", out=tmp_path / "lap.mp4", size=(480, 368), fps=15)
    reader = imageio_ffmpeg.read_frames(str(result.out))
    meta = reader.__next__()
    assert meta["size"] == (480, 368) and meta["fps"] == 15 and "h264" in meta["codec"]
    decoded = [np.frombuffer(f, np.uint8).reshape(368, 480, 3) for f in reader]
    assert len(decoded) == 10
    # Lossy, but close to the renderer's own last frame.
    renderer, _ = renderer_for(tmp_path / "again", size=(480, 368))
    expected = renderer.render_array(9).astype(np.float64)
    assert np.abs(decoded[-1].astype(np.float64) - expected).mean() < 6.0
    assert list(tmp_path.glob(".*partial*")) == []


def test_a_failed_export_leaves_no_partial_video(tmp_path):
    csv = tmp_path / "0-iteration.csv"
    write_simtrace(csv, 3)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    with pytest.raises(RacerError, match="cannot write"):
        export_episode(csv, "oval", out=blocked / "lap.gif")
    out = tmp_path / "lap.gif"
    out.write_bytes(b"an earlier video")
    with pytest.raises(RacerError, match="no training episode"):
        export_episode(csv, "oval", episode=9, out=out)
    assert out.read_bytes() == b"an earlier video"


def test_the_real_drfc_log_replays(tmp_path):
    if not (DRFC.is_dir() and REINVENT.exists()):
        pytest.skip(f"the real DeepRacer logs and tracks are not at {DEEPRACER_LOGS}")
    started = time.perf_counter()
    result = export_episode(DRFC, REINVENT, out=tmp_path / "lap.gif", size=(480, 360))
    trace = read_simtrace(DRFC / "training-simtrace" / "0-iteration.csv")
    first = next(trace.episodes())[2]
    assert result.episode == 0 and result.frames == len(first)
    with Image.open(result.out) as gif:
        assert gif.n_frames == len(first)
    print(f"{result.frames} steps exported in {time.perf_counter() - started:.2f} s")


def test_a_row_missing_columns_is_replayed_up_to_it(tmp_path, capsys):
    csv = tmp_path / "0-iteration.csv"
    write_simtrace(csv, 10)
    lines = csv.read_text().splitlines()
    lines[7] = ",".join(lines[7].split(",")[:12])  # row 7 of 10 lost its last 5 columns
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "lap.mp4"
    assert main(["replay", str(csv), "--track", "oval", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "damaged at line 8" in err
    import imageio_ffmpeg

    frames = list(imageio_ffmpeg.read_frames(str(out)))[1:]
    assert len(frames) == 6


def test_a_racer_run_with_fixed_boxes_replays_them(tmp_path):
    from racer.objects.obstacles import ObstacleConfig, place_obstacles
    from racer.viewer.render import BOX_COLOUR
    from racer.viewer.source import load_episodes, logged_obstacles

    run = tmp_path / "run"
    (run / "training-simtrace").mkdir(parents=True)
    write_simtrace(run / "training-simtrace" / "0-iteration.csv", 10)
    (run / "racer.toml").write_text('[env]\ntrack = "oval"\n[env.obstacles]\n'
                                    "positions = [[0.2, 1.0], [0.5, -1.0]]\n")  # fmt: skip
    track = load_track("oval")
    boxes, note = logged_obstacles(run, track)
    expected = place_obstacles(track, ObstacleConfig(positions=((0.2, 1.0), (0.5, -1.0))))
    assert note == "" and np.array_equal(boxes.x, expected.x)
    renderer = ReplayRenderer(track, load_episodes(run).columns(0))
    plain = renderer.render_array(0)
    renderer.obstacles = boxes
    renderer.set_episode(renderer.episode)  # redraw the trail layer with the boxes
    frame = renderer.render_array(0)
    centre = renderer.to_screen(boxes.x[0], boxes.y[0])[0]
    assert pixel(frame, centre) == BOX_COLOUR and pixel(plain, centre) != BOX_COLOUR
    seen = renderer.camera_view(0).copy()
    renderer.obstacles = None
    assert (seen != renderer.camera_view(0)).mean() > 0.005  # the camera inset shows a box
    # randomized boxes are not logged: the replay says so
    (run / "racer.toml").write_text('[env]\ntrack = "oval"\n[env.obstacles]\ncount = 3\n'
                                    "randomize = true\n")  # fmt: skip
    boxes, note = logged_obstacles(run, track)
    assert boxes is None and "moved every episode" in note
    result = export_episode(run, "oval", out=tmp_path / "lap.gif", size=(480, 360))
    assert any("moved every episode" in w for w in result.warnings)


@pytest.mark.parametrize("size", [(960, 720), (480, 360), (320, 240)])
def test_the_hud_inset_and_legend_never_cover_the_track(tmp_path, size):
    from racer.viewer.render import BACKGROUND, BORDER, CENTRE_LINE, ROAD

    steps = int(load_track("oval").length / STEP)  # a whole lap: the car passes every corner
    renderer, (x, y, _) = renderer_for(tmp_path, steps=steps, start=0.0, size=size)
    layout, track = renderer.layout, renderer.track
    panel = layout.panel
    assert layout.track.right == panel.left and panel.right == size[0]
    assert panel.contains(renderer.camera_rect())
    for xs, ys in ((track.inner[:, 0], track.inner[:, 1]), (track.outer[:, 0], track.outer[:, 1]),
                   (x, y)):  # fmt: skip
        screen = renderer.to_screen(xs, ys)
        assert screen[:, 0].max() < panel.left and screen[:, 0].min() >= 0
        assert screen[:, 1].min() >= 0 and screen[:, 1].max() < size[1]
    # Left of the panel only the track, the trail and the car are drawn: no text, no inset.
    allowed = {BACKGROUND, ROAD, BORDER, CENTRE_LINE, CAR_COLOUR}
    for mode in ("reward", "action"):
        renderer.colour_by = mode
        seen = {tuple(int(v) for v in c) for c in renderer.trail_colours()} | allowed
        for k in (0, steps // 3, steps - 1):
            frame = renderer.render_array(k)
            colours = {tuple(c) for c in frame[:, : panel.left].reshape(-1, 3).tolist()}
            assert colours <= seen, colours - seen
            assert pixel(frame, renderer.to_screen(x[k], y[k])[0]) == CAR_COLOUR


def test_the_hud_time_is_the_episodes_own(tmp_path):
    from racer.viewer.source import episode_clock

    renderer, _ = renderer_for(tmp_path)  # tstamp 12.0 + i / 15: the iteration's clock
    assert "time      0.00 s" in renderer.hud_lines(0)
    assert "time      0.60 s" in renderer.hud_lines(9)
    np.testing.assert_allclose(episode_clock(np.array([np.nan, 75.0, 75.5])), [np.nan, 0.0, 0.5])
    assert np.isnan(episode_clock(np.array([np.nan, np.nan]))).all()


def test_the_legend_explains_the_trail_colours(tmp_path):
    renderer, _ = renderer_for(tmp_path)  # reward 0..1; speed 1.0 + 0.2 i [m/s]; action i % 3
    legend = renderer.legend()
    assert (legend.title, legend.low, legend.high) == ("trail: reward", "0", "1")
    ends = colour_ramp(np.array([0.0, 1.0]), 0.0, 1.0)
    np.testing.assert_array_equal(legend.ramp[[0, -1]], ends)
    renderer.colour_by = "speed"
    legend = renderer.legend()
    assert (legend.title, legend.low, legend.high) == ("trail: speed [m/s]", "0.00", "2.80")
    renderer.colour_by = "action"
    legend = renderer.legend()
    colours = renderer.trail_colours()
    assert legend.ramp is None and [label for _, label in legend.swatches] == [
        "0: +5.0 deg, 1.00 m/s", "1: +5.0 deg, 1.20 m/s", "2: +5.0 deg, 1.40 m/s"]
    assert [c for c, _ in legend.swatches] == [tuple(int(v) for v in colours[i]) for i in range(3)]
    # drawn in the side panel: each swatch's colour is there
    frame = renderer.render_array(9)
    panel = renderer.layout.panel
    inside = {tuple(c) for c in frame[:, panel.left :].reshape(-1, 3).tolist()}
    assert all(colour in inside for colour, _ in legend.swatches)
    # One reward throughout (an evaluation logged without --rewards): one swatch, no gradient,
    # in the colour the trail is drawn in.
    renderer.episode["reward"][:] = 0.0
    renderer.colour_by = "reward"
    legend = renderer.legend()
    assert legend.ramp is None and [label for _, label in legend.swatches] == ["every step: 0"]
    assert legend.swatches[0][0] == tuple(int(v) for v in renderer.trail_colours()[0])
