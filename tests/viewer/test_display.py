"""No display: the replay says so and suggests --out, the live view warns once, nothing hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest  # noqa: E402

from racer.viewer.display import missing_display  # noqa: E402
from tests.viewer.test_app import write_episodes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RACER = [sys.executable, "-c", "import sys; from racer.cli import main; sys.exit(main())"]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="only Linux needs DISPLAY or WAYLAND_DISPLAY")  # fmt: skip


def headless_env(**extra):
    """This environment without a display, and without a video driver chosen for SDL."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}  # fmt: skip
    return {**env, **extra}


def test_missing_display_reads_the_environment():
    assert missing_display({}, "linux") == "DISPLAY and WAYLAND_DISPLAY are not set"
    assert missing_display({"DISPLAY": ":0"}, "linux") == ""
    assert missing_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert missing_display({"SDL_VIDEODRIVER": "dummy"}, "linux") == ""  # the user's choice
    assert missing_display({"DISPLAY": ""}, "linux") != ""
    assert missing_display({}, "darwin") == "" and missing_display({}, "win32") == ""


@linux_only
def test_replay_without_a_display_says_so_and_suggests_a_video(tmp_path):
    csv = tmp_path / "0-iteration.csv"
    write_episodes(csv)
    done = subprocess.run([*RACER, "replay", str(csv), "--track", "oval"], cwd=ROOT,
                          env=headless_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode != 0
    err = done.stderr
    assert "no display was found (DISPLAY and WAYLAND_DISPLAY are not set)" in err
    assert f"racer replay {csv} --out lap.gif (or lap.mp4" in err
    assert "XDG_RUNTIME_DIR" not in err  # refused before SDL was asked
    assert len(err.strip().splitlines()) == 1  # one paragraph
    # the suggested command works headless
    done = subprocess.run([*RACER, "replay", str(csv), "--track", "oval", "--out",
                           str(tmp_path / "lap.gif")], cwd=ROOT, env=headless_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and (tmp_path / "lap.gif").stat().st_size > 0


@linux_only
def test_a_display_sdl_cannot_use_is_refused_not_opened_off_screen():
    # DISPLAY names no X server: SDL falls back to its offscreen driver, an invisible window.
    code = ("import sys\nfrom racer.errors import RacerError\n"
            "from racer.viewer.display import open_window\n"
            "try:\n    open_window((64, 48), 'test')\nexcept RacerError as exc:\n"
            "    print(exc)\n    sys.exit(3)\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          env=headless_env(DISPLAY=":987", PYGAME_HIDE_SUPPORT_PROMPT="1"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "no display" in done.stdout


@linux_only
def test_the_live_view_without_a_display_warns_once_and_training_goes_on(monkeypatch):
    from racer.env.config import EnvConfig
    from racer.env.vec_env import RacerVecEnv
    from racer.viewer.live import LiveView
    from tests.viewer.test_live import drive

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    env = RacerVecEnv(EnvConfig(track="oval"), 2, seed=3)
    env.reset()
    said = []
    live = LiveView("oval", say=said.append)
    try:
        drive(env, 300, live)
    finally:
        live.close()
        env.close()
    assert live.process is None and live.feed is None  # no window process was started
    assert live.failed == "no display was found (DISPLAY and WAYLAND_DISPLAY are not set)"
    assert len(said) == 1 and "training goes on" in said[0]


@linux_only
@pytest.mark.slow
def test_train_live_without_a_display_trains(tmp_path):
    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text('{"num_episodes_between_training": 2, "batch_size": 32, "num_epochs": 1}')
    done = subprocess.run([*RACER, "train", "--live", "--updates", "1", "--envs", "2",
                           "--hyperparameters", str(hyper), "--out", str(tmp_path / "run")],
                          cwd=ROOT, env=headless_env(), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("live view cannot open a window: no display was found") == 1
    assert "stopped (updates) after update 0" in out


@linux_only
def test_the_live_view_with_an_unusable_display_says_so_once(monkeypatch):
    """DISPLAY names no X server: the window process refuses SDL's invisible fallback."""
    from racer.env.config import EnvConfig
    from racer.env.vec_env import RacerVecEnv
    from racer.viewer.live import LiveView
    from tests.viewer.test_live import drive

    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    monkeypatch.setenv("DISPLAY", ":987")
    env = RacerVecEnv(EnvConfig(track="oval"), 2, seed=3)
    env.reset()
    said = []
    live = LiveView("oval", say=said.append)
    try:
        drive(env, 300, live)
    finally:
        live.close()
        env.close()
    assert live.failed.startswith("no display"), live.failed
    assert len(said) == 1 and "training goes on" in said[0]
    assert live.drawn_total == 0
