"""The replay window: play logged episodes with keys and a mouse-driven timeline.

`ReplayApp` is a small state machine: `handle` takes pygame events, `advance` moves playback on
by wall time, `frame` draws the window's picture. `run` wires them to a real window; tests drive
the same methods with synthetic events under SDL's dummy video driver.

Keys: space play/pause, left/right one step back/forward, up/down (or +/-) faster/slower,
n/p (or page down/up) next/previous episode, home/end first/last step, w worst-rewarded step,
o next off-track moment, c trail colouring, i camera inset, h help, q/escape quit. Clicking or
dragging on the timeline scrubs.
"""

from __future__ import annotations

import numpy as np
import pygame

from racer.errors import RacerError
from racer.logs.simtrace import check_on_track
from racer.track import Track, load_track
from racer.viewer.display import missing_display, open_window
from racer.viewer.panel import PAD, PANEL_COLOUR
from racer.viewer.render import COLOUR_MODES, HUD_TEXT, ReplayRenderer
from racer.viewer.source import LoggedEpisodes, load_episodes, off_track_rows, replay_objects

#: [steps/s] playback rate at 1x: DeepRacer's simulator steps at about 15 Hz.
STEP_RATE = 15.0
#: The playback speed multipliers `faster`/`slower` step through.
SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TIMELINE_HEIGHT = 56  # [px] band under the track view
OFF_TRACK_MARK = (230, 30, 30)
CURSOR = (255, 255, 255)
_MESSAGE_SECONDS = 2.5
HELP = (
    "space play/pause   left/right step   up/down speed   n/p episode   home/end   "
    "w worst reward   o off-track   c colours   i camera   q quit"
)


def no_window_error(reason: str, source: object) -> RacerError:
    """The error of a replay window that cannot open, with the headless way to watch instead.

    Args:
        reason: why (`racer.viewer.display.open_window`'s message).
        source: the run folder or CSV being replayed, for the suggested command.
    """
    return RacerError(
        f"cannot open the replay window: {reason}. Render the episode to a video instead, which "
        f"needs no display: racer replay {source} --out lap.gif (or lap.mp4; --episode N picks "
        "the episode). To open a window anyway, set SDL_VIDEODRIVER to the video driver to use."
    )


class ReplayApp:
    """Replays the episodes of one log in a window.

    Args:
        episodes: the episodes to browse (see `racer.viewer.source.load_episodes`).
        track: the track they were driven on.
        start: index into ``episodes`` to show first.
        size: (width, height) of the renderer's frame [px]: the track and its side panel
            (`racer.viewer.panel`); the timeline adds `TIMELINE_HEIGHT` below.
        colour_by: the trail's first colouring, one of `COLOUR_MODES`.

    Attributes:
        index: the episode shown (index into ``episodes``).
        position: the playback position, a fractional row of the episode.
        playing: whether playback runs.
        speed: the playback speed multiplier, one of `SPEEDS`.
        running: false once the user asked to quit.
    """

    def __init__(
        self,
        episodes: LoggedEpisodes,
        track: Track,
        *,
        start: int = 0,
        size: tuple[int, int] = (960, 720),
        colour_by: str = "reward",
    ) -> None:
        if colour_by not in COLOUR_MODES:
            raise RacerError(f"colour_by must be one of {COLOUR_MODES}, got {colour_by!r}.")
        self.episodes = episodes
        self.index = int(start)
        # Each episode's logged objects are drawn; ``renderer.obstacles`` is the fallback for
        # episodes without an object log (see `racer.viewer.source.replay_objects`).
        self.renderer = ReplayRenderer(track, episodes.columns(self.index), size,
                                       objects=episodes.objects(self.index))  # fmt: skip
        self.renderer.colour_by = colour_by
        self.position = 0.0
        self.playing = False
        self.speed = 1.0
        self.running = True
        self.show_help = False
        self.message = ""
        self._message_left = 0.0
        self._scrubbing = False
        self._strip: pygame.Surface | None = None
        self._font = pygame.font.Font(None, 20)
        self._cache: tuple[tuple, pygame.Surface] | None = None
        self._load_episode()

    # ---------------------------------------------------------------------------- state
    @property
    def step(self) -> int:
        """The row of the episode on screen."""
        return min(int(self.position), self.renderer.steps - 1)

    @property
    def window_size(self) -> tuple[int, int]:
        """(width, height) of the window [px]."""
        width, height = self.renderer.size
        return width, height + TIMELINE_HEIGHT

    def timeline_rect(self) -> pygame.Rect:
        """The timeline's bar, where the mouse scrubs."""
        width, height = self.renderer.size
        return pygame.Rect(10, height + 8, width - 20, 22)

    def _load_episode(self) -> None:
        self.renderer.set_episode(self.episodes.columns(self.index),
                                  self.episodes.objects(self.index))  # fmt: skip
        self.position = 0.0
        self._off_track = off_track_rows(self.renderer.episode)
        self._strip = None

    def show_episode(self, index: int) -> None:
        """Show the ``index``-th episode from its first step (clamped to the first and last)."""
        index = max(0, min(int(index), len(self.episodes) - 1))
        if index != self.index:
            self.index = index
            self._load_episode()

    def seek(self, row: float) -> None:
        """Move to a row of the episode (clamped)."""
        self.position = float(max(0.0, min(float(row), self.renderer.steps - 1)))

    def _say(self, text: str) -> None:
        self.message, self._message_left = text, _MESSAGE_SECONDS

    def worst_step(self) -> int:
        """The row with the lowest reward (the first of equals)."""
        reward = np.asarray(self.renderer.episode["reward"], np.float64)
        reward = np.where(np.isfinite(reward), reward, np.inf)
        return int(np.argmin(reward))

    def off_track_moments(self) -> np.ndarray:
        """The first row of each stretch of off-the-road rows, in order."""
        rows = self._off_track
        if rows.size == 0:
            return rows
        return rows[np.concatenate([[True], np.diff(rows) > 1])]

    # ---------------------------------------------------------------------------- input
    def handle(self, event: pygame.event.Event) -> None:
        """Apply one pygame event (keys, mouse on the timeline, window close)."""
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            self._key(event.key)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if self.timeline_rect().inflate(0, 16).collidepoint(event.pos):
                self._scrubbing = True
                self.playing = False
                self._scrub(event.pos[0])
        elif event.type == pygame.MOUSEMOTION and self._scrubbing:
            self._scrub(event.pos[0])
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            self._scrubbing = False

    def _scrub(self, x: int) -> None:
        bar = self.timeline_rect()
        fraction = (x - bar.left) / max(1, bar.width - 1)
        self.seek(round(fraction * (self.renderer.steps - 1)))

    def _key(self, key: int) -> None:  # noqa: C901 - one branch per key
        if key in (pygame.K_q, pygame.K_ESCAPE):
            self.running = False
        elif key == pygame.K_SPACE:
            if not self.playing and self.step >= self.renderer.steps - 1:
                self.position = 0.0  # play again from the start
            self.playing = not self.playing
        elif key in (pygame.K_RIGHT, pygame.K_LEFT):
            self.playing = False
            self.seek(self.step + (1 if key == pygame.K_RIGHT else -1))
        elif key in (pygame.K_UP, pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.speed = SPEEDS[min(SPEEDS.index(self.speed) + 1, len(SPEEDS) - 1)]
            self._say(f"speed x{self.speed:g}")
        elif key in (pygame.K_DOWN, pygame.K_MINUS, pygame.K_KP_MINUS):
            self.speed = SPEEDS[max(SPEEDS.index(self.speed) - 1, 0)]
            self._say(f"speed x{self.speed:g}")
        elif key in (pygame.K_n, pygame.K_PAGEDOWN, pygame.K_p, pygame.K_PAGEUP):
            step = 1 if key in (pygame.K_n, pygame.K_PAGEDOWN) else -1
            target = self.index + step
            if 0 <= target < len(self.episodes):
                self.show_episode(target)
            else:
                self._say("no next episode" if step > 0 else "no previous episode")
        elif key == pygame.K_HOME:
            self.seek(0)
        elif key == pygame.K_END:
            self.seek(self.renderer.steps - 1)
        elif key == pygame.K_w:
            self.playing = False
            self.seek(self.worst_step())
            self._say(f"worst reward: {float(self.renderer.episode['reward'][self.step]):.3f}")
        elif key == pygame.K_o:
            self._jump_off_track()
        elif key == pygame.K_c:
            modes = COLOUR_MODES
            self.renderer.colour_by = modes[(modes.index(self.renderer.colour_by) + 1) % 3]
            self._strip = None
            self._say(f"trail coloured by {self.renderer.colour_by}")
        elif key == pygame.K_i:
            self.renderer.show_camera = not self.renderer.show_camera
        elif key in (pygame.K_h, pygame.K_F1):
            self.show_help = not self.show_help

    def _jump_off_track(self) -> None:
        moments = self.off_track_moments()
        if moments.size == 0:
            self._say("no off-track moment in this episode")
            return
        later = moments[moments > self.step]
        self.playing = False
        self.seek(int(later[0] if later.size else moments[0]))  # wraps to the first
        self._say(f"off the road at step {int(self.renderer.episode['steps'][self.step])}")

    def advance(self, seconds: float) -> None:
        """Move playback on by ``seconds`` of wall time; stops at the episode's end."""
        self._message_left = max(0.0, self._message_left - seconds)
        if not self.playing:
            return
        self.position += seconds * STEP_RATE * self.speed
        if self.position >= self.renderer.steps - 1:
            self.position = float(self.renderer.steps - 1)
            self.playing = False

    # ---------------------------------------------------------------------------- drawing
    def frame(self) -> pygame.Surface:
        """The window's picture now: the renderer's frame over the timeline band."""
        key = (self.index, self.step, self.renderer.colour_by, self.renderer.show_camera,
               self.playing, self.speed, self.show_help, self._message_left > 0,
               self.message)  # fmt: skip
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        surface = pygame.Surface(self.window_size)
        surface.blit(self.renderer.render(self.step), (0, 0))
        self._draw_timeline(surface)
        if self.show_help:  # asked for: it may cover the track until h is pressed again
            self._draw_text_box(surface, HELP.split("   "), (self.renderer.size[0] // 2 - 120, 200))
        elif self._message_left > 0:  # at the foot of the side panel, off the track
            panel = self.renderer.layout.panel
            surface.set_clip(panel)
            self._draw_text_box(surface, [self.message],
                                (panel.left + PAD,
                                 panel.bottom - self._font.get_linesize() - 24))  # fmt: skip
            surface.set_clip(None)
        self._cache = key, surface
        return surface

    def frame_array(self) -> np.ndarray:
        """`frame` as an (H, W, 3) uint8 RGB array."""
        return np.ascontiguousarray(pygame.surfarray.array3d(self.frame()).transpose(1, 0, 2))

    def step_x(self, row: int) -> int:
        """The timeline's x pixel of an episode row."""
        bar = self.timeline_rect()
        return bar.left + round(row / max(1, self.renderer.steps - 1) * (bar.width - 1))

    def _draw_timeline(self, surface: pygame.Surface) -> None:
        width, height = self.renderer.size
        surface.fill(PANEL_COLOUR, pygame.Rect(0, height, width, TIMELINE_HEIGHT))
        bar = self.timeline_rect()
        if self._strip is None:
            # One column per pixel, coloured as the trail is at the step under it.
            colours = self.renderer.trail_colours()
            rows = np.round(np.linspace(0, self.renderer.steps - 1, bar.width)).astype(np.int64)
            strip = np.repeat(colours[rows][:, None, :], bar.height, axis=1)
            self._strip = pygame.surfarray.make_surface(strip)
            for row in self._off_track:  # off-the-road steps: red ticks over the strip's top
                x = self.step_x(int(row)) - bar.left
                pygame.draw.line(self._strip, OFF_TRACK_MARK, (x, 0), (x, 5))
        surface.blit(self._strip, bar)
        x = self.step_x(self.step)
        pygame.draw.line(surface, CURSOR, (x, bar.top - 4), (x, bar.bottom + 3), 3)
        state = "playing" if self.playing else "paused"
        text = (f"{state} x{self.speed:g}   episode {self.episodes.number(self.index)} "
                f"({self.index + 1}/{len(self.episodes)}, iteration "
                f"{self.episodes.iteration(self.index)}, {self.episodes.kind})   "
                f"trail: {self.renderer.colour_by}   h: keys")  # fmt: skip
        surface.blit(self._font.render(text, True, HUD_TEXT), (10, bar.bottom + 6))

    def _draw_text_box(self, surface: pygame.Surface, lines: list[str], at: tuple[int, int]):
        texts = [self._font.render(line, True, HUD_TEXT) for line in lines]
        line_h = self._font.get_linesize()
        box = pygame.Surface((max(t.get_width() for t in texts) + 20, line_h * len(texts) + 14),
                             pygame.SRCALPHA)  # fmt: skip
        box.fill((0, 0, 0, 190))
        for i, text in enumerate(texts):
            box.blit(text, (10, 7 + i * line_h))
        surface.blit(box, at)

    # ---------------------------------------------------------------------------- window
    def run(self, *, fps: float = 30.0, max_frames: int | None = None) -> None:
        """Open the window and replay until the user quits (or after ``max_frames`` frames).

        Raises:
            RacerError: no display to open a window on.
        """
        try:
            screen = open_window(self.window_size, f"racer replay: {self.episodes.source}")
        except RacerError as exc:
            raise no_window_error(str(exc), self.episodes.source) from None
        clock = pygame.time.Clock()
        frames = 0
        shown = None
        while self.running and (max_frames is None or frames < max_frames):
            for event in pygame.event.get():
                self.handle(event)
            self.advance(clock.tick(fps) / 1000.0)
            picture = self.frame()
            if picture is not shown:  # draw only what changed
                screen.blit(picture, (0, 0))
                pygame.display.flip()
                shown = picture
            frames += 1


def replay_window(
    run_or_csv: str,
    track: str | Track,
    *,
    episode: int | None = None,
    iteration: int | None = None,
    evaluation: bool = False,
    colour_by: str = "reward",
) -> LoggedEpisodes:
    """Open the replay window on a run's (or a CSV's) episodes, starting at ``episode``.

    Returns the episodes browsed (their ``warnings`` name any damage in the log).

    Raises:
        LogError: no such log or episode.
        RacerError: no display (checked first, before the log is read).
    """
    reason = missing_display()
    if reason:
        raise no_window_error(f"no display was found ({reason})", run_or_csv)
    episodes = load_episodes(run_or_csv, evaluation=evaluation, iteration=iteration)
    base = track if isinstance(track, Track) else load_track(track)
    check_on_track(base, episodes.trace["X"], episodes.trace["Y"])
    app = ReplayApp(episodes, base, start=episodes.index_of(episode), colour_by=colour_by)
    app.renderer.obstacles, note = replay_objects(episodes, run_or_csv, base)
    if note:
        episodes.trace.warnings.append(note)
    app.run()
    return episodes
