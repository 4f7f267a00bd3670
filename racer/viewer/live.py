"""The live view of training: a window, in its own process, that follows one car of the batch.

The training process only copies the car's pose, numbers and camera frame into shared memory
each step (a few microseconds; `LiveView.__call__`); a separate process (`LiveView` starts it on
the first step) reads the latest copy at its own frame rate and draws it. Training never waits
for the window, and closing the window does not stop training.

The shared record is a float64 header followed by the frame's bytes, guarded by a sequence
number (odd while the writer is in the middle of a copy), so the reader never shows a torn copy.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.episode import Status
from racer.errors import RacerError
from racer.viewer.display import missing_display, open_window

#: The header's slots, float64 each.
FIELDS = ("seq", "closed", "drawn", "x", "y", "yaw", "speed", "steering_deg", "reward", "progress",
          "steps", "episode", "status", "sim_time")  # fmt: skip
_SLOT = {name: i for i, name in enumerate(FIELDS)}
_HEADER_BYTES = 8 * len(FIELDS)
#: [s] without a new step for this long the window says training is updating the policy.
IDLE_SECONDS = 0.5


class LiveFeed:
    """The shared record of one car: written by training, read by the window.

    The block holds the header (`FIELDS`), then the car's objects (boxes and bot cars) as (K, 6)
    float64 rows of x, y [m], yaw [rad], drawn length and width [m] and kind (0 box, 1 bot),
    then the camera frame.

    Args:
        frame_shape: (H, W, C) of the camera frame.
        name: attach to this existing shared memory block; None creates a new one.
        num_objects: K, the objects each car has (0 in a time trial).
    """

    def __init__(self, frame_shape: tuple[int, int, int], name: str | None = None,
                 num_objects: int = 0) -> None:  # fmt: skip
        self.frame_shape = tuple(int(v) for v in frame_shape)
        self.num_objects = int(num_objects)
        objects_bytes = 8 * 6 * self.num_objects
        size = _HEADER_BYTES + objects_bytes + int(np.prod(self.frame_shape))
        self.owner = name is None
        self.memory = shared_memory.SharedMemory(name=name, create=self.owner, size=size)
        self.header = np.ndarray((len(FIELDS),), np.float64, self.memory.buf, 0)
        self.objects = np.ndarray((self.num_objects, 6), np.float64, self.memory.buf,
                                  _HEADER_BYTES)  # fmt: skip
        self.frame = np.ndarray(self.frame_shape, np.uint8, self.memory.buf,
                                _HEADER_BYTES + objects_bytes)  # fmt: skip
        if self.owner:
            self.header[:] = 0.0
            self.objects[:] = 0.0

    @property
    def name(self) -> str:
        """The shared memory block's name, to attach to from another process."""
        return self.memory.name

    def write(self, record: Any) -> None:
        """Copy a car's `racer.env.core.CarRecord` (after its step) into the shared record."""
        h = self.header
        h[0] += 1.0  # odd: a copy is under way
        h[3:14] = (record.x, record.y, record.yaw, record.speed, record.steering_deg,
                   record.reward, record.progress, record.steps, record.episode, record.status,
                   record.sim_time)  # fmt: skip
        self.frame[...] = record.frame
        if self.num_objects:
            self.objects[:] = record.objects
        h[0] += 1.0  # even: complete

    def read(self) -> tuple[dict[str, float], np.ndarray, np.ndarray] | None:
        """The latest complete copy (numbers, frame, objects), or None before the first."""
        for _ in range(100):
            seq = float(self.header[0])
            if seq == 0.0 or seq % 2.0:
                time.sleep(0.0005)
                continue
            values = self.header.copy()
            frame = self.frame.copy()
            objects = self.objects.copy()
            if float(self.header[0]) == seq:
                return {name: float(values[i]) for name, i in _SLOT.items()}, frame, objects
        return None

    def close(self) -> None:
        """Detach; the creator also frees the block."""
        self.header = self.frame = self.objects = None  # type: ignore[assignment] # release views
        self.memory.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self.memory.unlink()


class LiveView:
    """Follow car ``car`` of a training batch in a window (`racer train --live`).

    Call it with the env's core after every step; close it when training ends.

    Args:
        track: the track spec the run trains on (bundled name or ``.npy`` path).
        reverse: the run drives the track backwards.
        car: which car of the batch to follow.
        fps: the window's frame rate [1/s].
        size: (width, height) of the window [px].
        snapshot: write the window's last picture to this PNG when it closes (for tests and
            screenshots).
        say: where a warning goes when the window cannot open (training goes on without it).

    Attributes:
        failed: why the window could not open ("" if it did).
        drawn_total: pictures the window drew, known after `close`.
    """

    def __init__(
        self,
        track: str,
        *,
        reverse: bool = False,
        car: int = 0,
        fps: float = 20.0,
        size: tuple[int, int] = (960, 720),
        snapshot: str | Path | None = None,
        say: Any = print,
    ) -> None:
        self.track, self.reverse, self.car = str(track), bool(reverse), int(car)
        self.fps, self.size, self.say = float(fps), tuple(size), say
        self.snapshot = str(snapshot) if snapshot else ""
        self.feed: LiveFeed | None = None
        self.process: Any = None
        self._conn: Any = None
        self._calls = 0
        self.failed = ""
        self.drawn_total = 0

    def __call__(self, core: Any) -> None:
        """Publish the followed car's state after a step of ``core`` (a RacerCore)."""
        if self.feed is None:
            if self.failed:
                return  # no window to publish to
            reason = missing_display()
            if reason:  # do not start a window that SDL would open off screen, unseen
                self._fail(f"no display was found ({reason})")
                return
            self._start(core.obs.shape[1:], core.world.num_objects)
        self.feed.write(core.record(self.car))
        self._calls += 1
        if self._calls % 256 == 0 and not self.failed:
            self._poll()

    def _start(self, frame_shape: tuple[int, ...], num_objects: int) -> None:
        self.feed = LiveFeed(tuple(frame_shape), num_objects=num_objects)  # type: ignore[arg-type]
        context = mp.get_context("spawn")  # no fork of training's threads
        self._conn, child = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_window_main, name="racer-live-view", daemon=True,
            args=(self.feed.name, self.feed.frame_shape, num_objects, self.track, self.reverse,
                  self.fps, self.size, self.snapshot, child),
        )  # fmt: skip
        self.process.start()
        child.close()

    def _poll(self) -> None:
        """Report (once) a window that could not open."""
        with contextlib.suppress(EOFError, OSError):
            while self._conn.poll():
                message = self._conn.recv()
                if message.startswith("error: "):
                    self._fail(message[len("error: ") :])

    def _fail(self, reason: str) -> None:
        """Record why the window cannot open and say so (once: callers check `failed`)."""
        self.failed = reason
        self.say(f"racer: warning: the live view cannot open a window: {reason}; training "
                 "goes on without it (racer replay RUN --out lap.gif renders an episode "
                 "afterwards).")  # fmt: skip

    def drawn(self) -> int:
        """How many pictures the window has drawn so far."""
        return 0 if self.feed is None else int(self.feed.header[_SLOT["drawn"]])

    def close(self, timeout: float = 10.0) -> None:
        """Tell the window that training ended, wait for it, and free the shared record."""
        if self.feed is None:
            return
        self.feed.header[_SLOT["closed"]] = 1.0
        if self.process is not None:
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(1.0)
        if not self.failed:
            self._poll()
        self.drawn_total = self.drawn()
        self.feed.close()
        self.feed = None


def _window_main(feed_name: str, frame_shape: tuple[int, int, int], num_objects: int, track: str,
                 reverse: bool, fps: float, size: tuple[int, int], snapshot: str,
                 conn: Any) -> None:  # fmt: skip
    """The window process: draw the latest record at ``fps`` until training or the user ends."""
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    feed = LiveFeed(frame_shape, name=feed_name, num_objects=num_objects)
    try:
        # refuses SDL's fallback to an off-screen window when DISPLAY names no usable server
        screen = open_window(size, "racer train: live view")
        pygame.font.init()
    except (RacerError, pygame.error) as exc:
        conn.send(f"error: {exc}")
        feed.close()
        pygame.quit()
        return
    window = LiveWindow(track, reverse, size)
    clock = pygame.time.Clock()
    parent = mp.parent_process()
    picture = None
    try:
        while feed.header[_SLOT["closed"]] == 0.0 and (parent is None or parent.is_alive()):
            if any(event.type == pygame.QUIT for event in pygame.event.get()):
                break
            latest = feed.read()
            if latest is not None:
                picture = window.draw(*latest)
                screen.blit(picture, (0, 0))
                pygame.display.flip()
                feed.header[_SLOT["drawn"]] += 1.0
            clock.tick(fps)
        if snapshot and picture is not None:
            pygame.image.save(picture, snapshot)
    finally:
        feed.close()
        pygame.quit()


class LiveWindow:
    """Draws the live view's picture: the track, the car and its trail, its camera, numbers.

    Args:
        track: the track spec (bundled name or ``.npy`` path).
        reverse: the track is driven backwards.
        size: (width, height) [px].
    """

    def __init__(self, track: str, reverse: bool, size: tuple[int, int]) -> None:
        import pygame

        from racer.track import load_track
        from racer.viewer.render import TrackView

        if not pygame.font.get_init():
            pygame.font.init()
        self.view = TrackView(load_track(track, reverse=reverse), size)
        self._font = pygame.font.Font(None, max(14, int(size[1]) // 32))
        self.trail: list[tuple[float, float, float]] = []
        self._episode = -1.0
        self._steps = 0.0
        self._seq = 0.0
        self._seen = time.monotonic()

    def draw(self, record: dict[str, float], frame: np.ndarray,
             objects: np.ndarray | None = None) -> Any:  # fmt: skip
        """The picture of one record (see `FIELDS`).

        Args:
            record: the numbers.
            frame: (H, W, C) uint8 camera frame.
            objects: (K, 6) the car's boxes and bots (see `LiveFeed`), or None.
        """
        import pygame

        from racer.viewer.render import (
            BOT_COLOUR,
            BOX_COLOUR,
            CAR_COLOUR,
            colour_ramp,
            draw_camera,
            draw_text_panel,
        )

        now = time.monotonic()
        if record["seq"] != self._seq:
            self._seq, self._seen = record["seq"], now
            if record["episode"] != self._episode or record["steps"] < self._steps:
                self.trail.clear()
            self._episode, self._steps = record["episode"], record["steps"]
            self.trail.append((record["x"], record["y"], record["reward"]))
        picture = self.view.background.copy()
        if len(self.trail) > 1:
            points = np.array(self.trail)
            screen = self.view.to_screen(points[:, 0], points[:, 1])
            colours = colour_ramp(points[:, 2], 0.0, max(float(points[:, 2].max()), 1e-9))
            width = max(2, int(round(0.05 * self.view.scale)))
            for i in range(1, len(points)):
                pygame.draw.line(picture, tuple(int(c) for c in colours[i]), screen[i - 1],
                                 screen[i], width)  # fmt: skip
        for x, y, yaw, length, width, kind in objects if objects is not None else ():
            corners = self.view.footprint(x, y, yaw, length, width)
            pygame.draw.polygon(picture, BOT_COLOUR if kind else BOX_COLOUR, corners)
        car = self.view.footprint(record["x"], record["y"], record["yaw"])
        pygame.draw.polygon(picture, CAR_COLOUR, car)
        h, w = frame.shape[:2]
        rect = pygame.Rect(self.view.size[0] - 2 * w - 10, 10, 2 * w, 2 * h)
        draw_camera(picture, frame[:, :, 0] if frame.shape[2] != 3 else frame, rect)
        idle = now - self._seen > IDLE_SECONDS
        lines = [
            f"episode {int(record['episode'])}  step {int(record['steps'])}",
            f"time      {record['sim_time']:.2f} s",
            f"progress  {record['progress']:.1f} %",
            f"speed     {record['speed']:.2f} m/s",
            f"steering  {record['steering_deg']:+.1f} deg",
            f"reward    {record['reward']:.3f}",
            f"status    {Status(int(record['status'])).name.lower()}",
            "updating the policy..." if idle else "driving (live)",
        ]
        draw_text_panel(picture, self._font, lines)
        return picture
