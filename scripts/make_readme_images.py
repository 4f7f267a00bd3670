"""Regenerate the README's pictures of the demo run from today's code.

Usage:
    python scripts/make_readme_images.py [RUN] [--out docs/images] [--work DIR] [--track TRACK]

Without RUN the demo run is trained first, exactly as ``make demo`` does: the commands of the
Makefile's ``demo`` target are read from the Makefile and run with ``$(DEMO)`` set to a temporary
folder (or to ``--work DIR``, which is kept). That takes about 2 minutes on the project's 2-core
machine (100 s measured; up to 4 on a busy one): training until 3 clean laps, the ONNX export,
the 3-lap evaluation, the lap GIF. The pictures themselves take 10-15 s more, mostly ``racer
analyze``. Written into ``--out``:

- ``replay.png``: a frame of the run's first evaluation lap as ``racer replay RUN --evaluation
  --episode 0 --out lap.gif`` renders it (the export's renderer, size and colouring, quantised to
  256 colours as the GIF is), at the step where the lap passes ``--replay-progress`` % (55).
- ``replay_window.png``: the replay window (``racer replay RUN``), drawn headless, on the
  training episode that got furthest before leaving the road, after the keys ``o`` (jump to the
  moment it leaves the road) and two left arrows: the car two steps before it leaves.
- ``analysis_<name>.png``: each ``<name>.png`` that ``racer analyze RUN`` writes, at its size,
  saved as a 256-colour PNG (its scatter plots take 300-400 kB as written, under 100 kB so).

Only pictures whose source is the demo run are made; the README's other images (tracks, camera
frames, bot/obstacle/race replays, heat map, racing line, bench curves) come from other runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # before pygame is first imported
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RACER = [sys.executable, "-m", "racer.cli"]


def demo_commands(run: Path, makefile: Path = ROOT / "Makefile") -> list[list[str]]:
    """The recipe of the Makefile's ``demo`` target, with ``$(DEMO)`` set to ``run``.

    ``$(VENV)/bin/racer`` becomes this interpreter's ``python -m racer.cli`` and ``$(PY)`` this
    interpreter, so the commands run in the environment the script runs in.

    Raises:
        SystemExit: no ``demo`` target, or a variable the script does not know.
    """
    lines = makefile.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"demo\s*:", line)), None)
    if start is None:
        raise SystemExit(f"{makefile} has no demo target")
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    substitutions = {"$(VENV)/bin/racer": shlex.join(RACER), "$(PY)": sys.executable,
                     "$(DEMO)": str(run)}  # fmt: skip
    commands = []
    for line in recipe:
        for variable, value in substitutions.items():
            line = line.replace(variable, value)
        if "$(" in line:
            raise SystemExit(f"the demo target uses a variable this script does not set: {line}")
        commands.append(shlex.split(line))
    return commands


def train_demo(run: Path) -> None:
    """Run the demo target's commands into ``run`` (its ``rm -rf`` clears the folder first)."""
    for command in demo_commands(run):
        print("$", shlex.join(command), flush=True)
        if command[:2] == ["rm", "-rf"]:
            for path in command[2:]:
                shutil.rmtree(path, ignore_errors=True)
            continue
        subprocess.run(command, cwd=ROOT, check=True)


def run_track(run: Path) -> str:
    """The track a racer run recorded in its ``racer.toml``."""
    from racer.logs.run_folder import RunFolder
    from racer.train.runs import run_env_config

    return str(run_env_config(RunFolder(run)).track)


def save_png(image, path: Path) -> None:
    """Save an (H, W, 3) uint8 array or a PIL image as a 256-colour PNG.

    The colours are quantised as the replay's GIF writer does (`racer.viewer.export`).
    """
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
    image.save(path, optimize=True)


def make_replay(run: Path, track, out: Path, progress: float) -> str:
    """replay.png: the first evaluation lap's frame at ``progress`` %, as its GIF shows it."""
    import inspect

    from racer.viewer.export import export_episode
    from racer.viewer.render import ReplayRenderer
    from racer.viewer.source import load_episodes, replay_objects

    # The export's own frame size and trail colouring, so the frame is the GIF's.
    defaults = inspect.signature(export_episode).parameters
    size, colour_by = defaults["size"].default, defaults["colour_by"].default
    episodes = load_episodes(run, evaluation=True)
    index = episodes.index_of(0)
    renderer = ReplayRenderer(track, episodes.columns(index), size, objects=episodes.objects(index))
    renderer.colour_by = colour_by
    renderer.obstacles, _ = replay_objects(episodes, run, track)
    done = np.asarray(renderer.episode["progress"], np.float64)
    reached = np.flatnonzero(done >= progress)
    k = int(reached[0]) if reached.size else renderer.steps - 1
    save_png(renderer.render_array(k), out)
    return (f"evaluation episode {episodes.number(index)}, row {k + 1}/{renderer.steps}, "
            f"progress {done[k]:.1f} %")  # fmt: skip


def off_road_pick(episodes) -> tuple[int, int]:
    """(episode index, row) of the training episode that got furthest before leaving the road.

    The row is its first off-the-road row (what the window's ``o`` key jumps to from the start).
    """
    from racer.viewer.source import off_track_rows

    best, best_progress = None, -1.0
    for index in range(len(episodes)):
        columns = episodes.columns(index)
        rows = off_track_rows(columns)
        if rows.size == 0 or rows[0] < 3:
            continue
        progress = float(columns["progress"][rows[0]])
        if progress > best_progress:
            best, best_progress = (index, int(rows[0])), progress
    if best is None:
        raise SystemExit("no training episode of the run leaves the road: nothing to show")
    return best


def make_window(run: Path, track, out: Path) -> str:
    """replay_window.png: the replay window just before the car leaves the road."""
    import pygame

    from racer.viewer.app import ReplayApp
    from racer.viewer.source import load_episodes, replay_objects

    episodes = load_episodes(run)
    index, row = off_road_pick(episodes)
    app = ReplayApp(episodes, track, start=index)  # the window's own size and colouring
    app.renderer.obstacles, _ = replay_objects(episodes, run, track)
    for key in (pygame.K_o, pygame.K_LEFT, pygame.K_LEFT):
        app.handle(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))
    if app.step != row - 2:
        raise SystemExit(f"the o key went to row {app.step + 2}, expected {row}")
    pygame.image.save(app.frame(), str(out))
    e, k = app.renderer.episode, app.step
    return (f"training episode {episodes.number(index)} (iteration {episodes.iteration(index)}), "
            f"row {k + 1}/{app.renderer.steps}, progress {float(e['progress'][k]):.1f} %, "
            f"leaves the road at row {row + 1}, ends {e['episode_status'][-1]}")  # fmt: skip


def make_analysis(run: Path, track: str, out: Path) -> list[Path]:
    """analysis_<name>.png: every PNG of ``racer analyze RUN``, in 256 colours."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="racer-analyze-") as folder:
        subprocess.run([*RACER, "analyze", str(run), "--track", track, "--out", folder],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        written = []
        for png in sorted(Path(folder).glob("*.png")):
            target = out / f"analysis_{png.name}"
            with Image.open(png) as image:
                save_png(image, target)
            written.append(target)
    readme = (ROOT / "README.md").read_text()
    for name in sorted(set(re.findall(r"docs/images/(analysis_\w+\.png)", readme))):
        if not (out / name).exists():
            print(f"warning: README.md shows {name}, which racer analyze no longer writes")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run",
        nargs="?",
        type=Path,
        help="a trained demo run folder (default: train one as make demo does)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "images",
        help="where the pictures go (default docs/images)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="train the demo run into this folder and keep it (default: a "
        "temporary folder, removed afterwards)",
    )
    parser.add_argument("--track", help="the run's track (default: the one its racer.toml records)")
    parser.add_argument(
        "--replay-progress",
        type=float,
        default=55.0,
        help="replay.png shows the lap where it passes this %% (default 55)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    temporary = None
    run = args.run
    if run is None and args.work is None:
        temporary = tempfile.TemporaryDirectory(prefix="racer-demo-")
    try:
        if run is None:
            run = args.work if temporary is None else Path(temporary.name) / "demo"
            train_demo(run.resolve())
            print(f"trained the demo run in {time.perf_counter() - started:.0f} s", flush=True)
        run = run.resolve()
        render_started = time.perf_counter()
        from racer.track import load_track

        track_name = args.track or run_track(run)
        track = load_track(track_name)
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        print("replay.png:", make_replay(run, track, out / "replay.png", args.replay_progress))
        print("replay_window.png:", make_window(run, track, out / "replay_window.png"))
        written = [out / "replay.png", out / "replay_window.png"]
        written += make_analysis(run, track_name, out)
        for path in written:
            print(f"  {path}: {path.stat().st_size / 1000:.0f} kB")
        print(f"pictures in {time.perf_counter() - render_started:.0f} s, "
              f"{time.perf_counter() - started:.0f} s in all")  # fmt: skip
    finally:
        if temporary is not None:
            temporary.cleanup()


if __name__ == "__main__":
    main()
