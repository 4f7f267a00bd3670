"""Render a logged episode headless and write it as a GIF or an H.264 MP4."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from racer.errors import LogError, RacerError
from racer.logs.simtrace import check_on_track
from racer.track import Track, load_track
from racer.viewer.source import load_episodes, replay_objects


@dataclass
class ExportResult:
    """What `export_episode` wrote.

    Attributes:
        out: the video file.
        episode: the logged episode number replayed.
        iteration: the iteration (file) it came from.
        frames: frames written (one per logged step).
        seconds: [s] wall time of the export.
        sim_seconds: [s] the episode's length at the video's frame rate (frames / fps).
        warnings: damage found in the log (replayed up to it).
    """

    out: Path
    episode: int
    iteration: int
    frames: int
    seconds: float
    sim_seconds: float
    warnings: list[str] = field(default_factory=list)


def _headless() -> None:
    """Make pygame work with no display; must run before pygame is first imported."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def export_episode(
    run_or_csv: str | Path,
    track: str | Path | Track,
    *,
    episode: int | None = None,
    iteration: int | None = None,
    evaluation: bool = False,
    out: str | Path = "lap.gif",
    fps: float = 15.0,
    size: tuple[int, int] = (960, 720),
    colour_by: str = "reward",
) -> ExportResult:
    """Render every step of one logged episode and write the frames as a video.

    Args:
        run_or_csv: a model folder (racer, deepracer-for-cloud, console download) or a CSV.
        track: the track it was driven on (bundled name, ``.npy`` path or a `Track`).
        episode: the logged episode number; default the first episode (of ``iteration``).
        iteration: only look in this iteration's file (``{n}-iteration.csv``).
        evaluation: replay the evaluation logs, not the training logs.
        out: ``.gif`` (Pillow) or ``.mp4`` (H.264 through imageio-ffmpeg's ffmpeg).
        fps: frames per second; DeepRacer steps at about 15 Hz.
        size: (width, height) of a frame [px].
        colour_by: the trail's colouring, ``reward``, ``speed`` or ``action``.

    Raises:
        LogError: no such log or episode.
        RacerError: an unsupported output format, or the file cannot be written.
    """
    started = time.perf_counter()
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise RacerError(f"cannot write {out}: give a .gif or .mp4 output file.")
    if suffix == ".mp4":
        _check_mp4()
    if fps <= 0:
        raise RacerError(f"fps must be positive, got {fps}.")
    episodes = load_episodes(run_or_csv, evaluation=evaluation, iteration=iteration)
    index = episodes.index_of(episode)
    base = track if isinstance(track, Track) else load_track(track)
    check_on_track(base, episodes.trace["X"], episodes.trace["Y"])

    _headless()
    from racer.viewer.render import ReplayRenderer

    renderer = ReplayRenderer(base, episodes.columns(index), size, objects=episodes.objects(index))
    renderer.colour_by = colour_by
    renderer.obstacles, note = replay_objects(episodes, run_or_csv, base)
    if renderer.objects is not None:
        note = ""  # this episode's objects were logged: nothing is missing from its video
    warnings = episodes.warnings + ([note] if note else [])
    frames = (renderer.render_array(k) for k in range(renderer.steps))
    # Written beside the output and renamed when complete: a stopped export leaves no broken video.
    partial = out.with_name(f".{out.stem}.partial{suffix}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".gif":
            _write_gif(frames, partial, fps)
        else:
            _write_mp4(frames, partial, fps)
        os.replace(partial, out)
    except OSError as exc:
        raise RacerError(f"cannot write {out}: {exc.strerror or exc}.") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return ExportResult(out, episodes.number(index), episodes.iteration(index), renderer.steps,
                        time.perf_counter() - started, renderer.steps / fps,
                        warnings)  # fmt: skip


def _write_gif(frames, out: Path, fps: float) -> None:
    from PIL import Image

    # Quantise each frame as it comes so the list held for the GIF writer is 1 byte a pixel.
    images = [Image.fromarray(f).quantize(256, method=Image.Quantize.FASTOCTREE) for f in frames]
    if not images:
        raise LogError("the episode has no rows to replay.")
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000.0 / fps)), loop=0)  # fmt: skip


def _check_mp4() -> None:
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise RacerError(
            f"writing .mp4 needs ffmpeg through the imageio-ffmpeg package ({exc}): reinstall "
            "racer, or write a .gif instead (--out lap.gif)."
        ) from None


def _write_mp4(frames, out: Path, fps: float) -> None:
    """Write the frames as H.264 in yuv420p, which every browser and phone plays.

    Frames should be multiples of 16 px (the default 960x720 is), or ffmpeg pads them.
    """
    import imageio_ffmpeg

    first = next(frames, None)
    if first is None:
        raise LogError("the episode has no rows to replay.")
    height, width = first.shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(out), (width, height), fps=fps, codec="libx264", pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p", quality=7, macro_block_size=16, ffmpeg_log_level="error",
    )  # fmt: skip
    writer.send(None)  # start ffmpeg
    try:
        writer.send(np.ascontiguousarray(first))
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
