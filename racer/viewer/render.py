"""Draw one frame of a logged episode: the track from above, the car, its trail, its camera.

The track fills the frame's left part; the camera inset, the step's numbers and the trail's
legend go in a side panel on the right (`racer.viewer.panel`), so they never cover the track.
Everything is drawn on plain pygame Surfaces, so no window (and no display) is needed; only
``pygame.font`` is initialised. Screen coordinates have y down; the world's y is up.
"""

from __future__ import annotations

import math

import numpy as np
import pygame

from racer.env.observation import ground_texture
from racer.logs.objects import BOT, BOX
from racer.logs.simtrace import Simtrace
from racer.objects.bots import BOT_HEIGHT, BOT_LENGTH, BOT_WIDTH
from racer.objects.drawing import BOT_SHADE, RACER_SHADE, BoxRenderer, BoxStyle
from racer.objects.obstacles import Obstacles, box_corners
from racer.objects.world import BOX_BUFFER
from racer.physics.car import CarParams
from racer.sensors.camera import Camera, CameraConfig
from racer.track import Track
from racer.units import deg_to_rad
from racer.viewer.panel import PAD, PANEL_COLOUR, Legend, draw_legend, frame_layout
from racer.viewer.source import EpisodeObjects, episode_clock

#: [m] how far the logged model point (X, Y) lies ahead of the body centre (SPEC 6.1).
MODEL_POINT_AHEAD = 0.14
#: The trail colourings a renderer offers (`ReplayRenderer.colour_by`).
COLOUR_MODES = ("reward", "speed", "action")
CAR_COLOUR = (230, 30, 30)
BOX_COLOUR = (123, 97, 79)  # the simapp's box_obstacle brown
BOT_COLOUR = (70, 50, 140)  # bot cars
RACER_COLOUR = (240, 150, 20)  # the other racing cars of a race
BACKGROUND = (46, 110, 52)
ROAD = (90, 90, 96)
BORDER = (235, 235, 235)
CENTRE_LINE = (200, 180, 60)
HUD_TEXT = (255, 255, 255)
# Viridis, sampled at five stops: low values dark blue, high values yellow; no red in it, so
# the car stays distinct from its trail.
_RAMP = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)],
                 dtype=np.float64)  # fmt: skip
# Tab20 without its reds (the car is red): one colour each for up to 18 actions.
_PALETTE = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189),
                     (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34),
                     (23, 190, 207), (174, 199, 232), (255, 187, 120), (152, 223, 138),
                     (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
                     (219, 219, 141), (158, 218, 229)], dtype=np.float64)  # fmt: skip
_MARGIN = 20


def episode_columns(trace: Simtrace, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of one episode's rows (from `Simtrace.episodes`), for `ReplayRenderer`."""
    return {name: values[rows] for name, values in trace.columns.items()}


def colour_ramp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map values to RGB on the trail's colour map.

    Args:
        values: (N,) float64; NaN counts as ``low``.
        low: the value at the dark end of the map.
        high: the value at the bright end of the map.

    Returns:
        (N, 3) uint8 RGB.
    """
    span = high - low if high > low else 1.0
    t = np.clip(np.nan_to_num((np.asarray(values, np.float64) - low) / span), 0.0, 1.0)
    position = t * (len(_RAMP) - 1)
    i = np.minimum(position.astype(np.int64), len(_RAMP) - 2)
    frac = (position - i)[:, None]
    return np.round(_RAMP[i] * (1.0 - frac) + _RAMP[i + 1] * frac).astype(np.uint8)


class TrackView:
    """The track from above, fitted into a frame with y up, and the car's footprint on it.

    Args:
        track: the track to draw.
        size: (width, height) of the frame [px].
        extra: (M, 2) world points [m] that must fit in the frame too (a car's path); NaN rows
            are ignored.
        area: the part of the frame the track is fitted into, a pygame.Rect or (left, top,
            width, height) [px]; the whole frame by default. The rest is left to other drawing
            (the replay's side panel).

    Attributes:
        scale: [px/m].
        offset: screen position [px] of the world origin.
    """

    def __init__(
        self,
        track: Track,
        size: tuple[int, int],
        extra: np.ndarray | None = None,
        area: pygame.Rect | tuple[int, int, int, int] | None = None,
    ) -> None:
        self.track = track
        self.size = (int(size[0]), int(size[1]))
        self.area = pygame.Rect(area) if area is not None else pygame.Rect((0, 0), self.size)
        points = np.concatenate([track.inner, track.outer, track.centre])
        if extra is not None and len(extra):
            points = np.concatenate([points, extra[np.isfinite(extra).all(axis=1)]])
        low, high = points.min(axis=0), points.max(axis=0)
        extent = np.maximum(high - low, 1e-6)
        a = self.area
        self.scale = float(min(max(a.width - 2 * _MARGIN, 1) / extent[0],
                               max(a.height - 2 * _MARGIN, 1) / extent[1]))  # fmt: skip
        centre = 0.5 * (low + high)
        self.offset = (a.centerx - self.scale * centre[0], a.centery + self.scale * centre[1])
        self._background: pygame.Surface | None = None

    @property
    def background(self) -> pygame.Surface:
        """The drawn track (road, borders, dashed centre line) on grass, drawn on first use."""
        if self._background is None:
            self._background = self._draw_track()
        return self._background

    def to_screen(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """World points [m] to screen pixels, (N, 2) float64 (column, row)."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return np.column_stack([self.offset[0] + self.scale * x, self.offset[1] - self.scale * y])

    def footprint(self, x: float, y: float, yaw: float, length: float | None = None,
                  width: float | None = None) -> np.ndarray:  # fmt: skip
        """Screen corners (4, 2) of the car's footprint (or another rectangle's).

        Args:
            x: [m] body centre, east.
            y: [m] body centre, north.
            yaw: [rad] heading.
            length: [m] along the heading; the car's by default.
            width: [m] across it; the car's by default.
        """
        params = CarParams()
        c, s = math.cos(yaw), math.sin(yaw)
        half_l = 0.5 * (params.length if length is None else length)
        half_w = 0.5 * (params.width if width is None else width)
        local = np.array([(half_l, half_w), (half_l, -half_w), (-half_l, -half_w),
                          (-half_l, half_w)])  # fmt: skip
        return self.to_screen(x + c * local[:, 0] - s * local[:, 1],
                              y + s * local[:, 0] + c * local[:, 1])  # fmt: skip

    def _draw_track(self) -> pygame.Surface:
        surface = pygame.Surface(self.size)
        surface.fill(BACKGROUND)
        inner = self.to_screen(self.track.inner[:, 0], self.track.inner[:, 1])
        outer = self.to_screen(self.track.outer[:, 0], self.track.outer[:, 1])
        for i in range(len(inner) - 1):
            quad = [inner[i], inner[i + 1], outer[i + 1], outer[i]]
            pygame.draw.polygon(surface, ROAD, quad)
            pygame.draw.polygon(surface, ROAD, quad, 1)
        closed = self.track.closed
        pygame.draw.lines(surface, BORDER, closed, inner.tolist(), 2)
        pygame.draw.lines(surface, BORDER, closed, outer.tolist(), 2)
        centre = self.to_screen(self.track.centre[:, 0], self.track.centre[:, 1])
        for i in range(0, len(centre) - 1, 2):  # dashed
            pygame.draw.line(surface, CENTRE_LINE, centre[i], centre[i + 1], 1)
        return surface


def draw_camera(frame: pygame.Surface, image: np.ndarray, rect: pygame.Rect) -> None:
    """Draw a (H, W) gray or (H, W, 3) RGB uint8 camera image scaled into ``rect``, framed."""
    image = np.asarray(image)
    rgb = image.transpose(1, 0, 2) if image.ndim == 3 else np.repeat(image.T[:, :, None], 3, 2)
    frame.blit(pygame.transform.scale(pygame.surfarray.make_surface(rgb), rect.size), rect)
    pygame.draw.rect(frame, BORDER, rect.inflate(4, 4), 2)


def draw_text_panel(frame: pygame.Surface, font: pygame.font.Font, lines: list[str],
                    at: tuple[int, int] = (10, 10)) -> pygame.Rect:  # fmt: skip
    """Draw lines of white text on a translucent black panel at ``at`` (top-left) [px].

    Returns:
        The panel's rectangle.
    """
    texts = [font.render(line, True, HUD_TEXT) for line in lines]
    line_h = font.get_linesize()
    width = max(t.get_width() for t in texts) + 16
    panel = pygame.Surface((width, line_h * len(texts) + 12), pygame.SRCALPHA)
    panel.fill((0, 0, 0, 150))
    frame.blit(panel, at)
    for i, text in enumerate(texts):
        frame.blit(text, (at[0] + 8, at[1] + 6 + i * line_h))
    return pygame.Rect(at, panel.get_size())


class ReplayRenderer:
    """Draws the frames of one logged episode.

    Args:
        track: the track the episode was driven on (either direction: positions are absolute).
        episode: the episode's columns, each (K,) in step order (see `episode_columns`); needs
            ``X``, ``Y`` [m] (model point), ``yaw`` [deg], ``steer`` [deg], ``throttle`` [m/s],
            ``action``, ``reward``, ``progress`` [%], ``tstamp`` [s], ``steps``,
            ``episode_status``.
        size: (width, height) of a frame [px]: the track on the left, a side panel on the
            right with the camera inset, the HUD and the trail's legend (`layout`).
        camera: draw the inset of the car's camera view.
        objects: the episode's logged objects, or None (see `set_episode`).

    Attributes:
        layout: where the track, the panel and the inset go (`racer.viewer.panel.FrameLayout`).
        clock: (K,) [s] the episode's own time at each row (from its first row).
        colour_by: what the trail's colour shows, one of `COLOUR_MODES`.
        show_camera: draw the camera inset (only when made with ``camera=True``).
        obstacles: fixed boxes to draw on the track and in the camera (see
            `racer.viewer.source.logged_obstacles`), or None; drawn only for an episode without
            logged ``objects``.
        objects: the episode's logged objects (boxes, bot cars, other racers), drawn at their
            pose of each step; set with `set_episode`.
    """

    def __init__(
        self,
        track: Track,
        episode: dict[str, np.ndarray],
        size: tuple[int, int] = (960, 720),
        *,
        camera: bool = True,
        objects: EpisodeObjects | None = None,
    ) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self.track = track
        self.size = (int(size[0]), int(size[1]))
        self.colour_by = "reward"
        self.show_camera = camera
        self.obstacles: Obstacles | None = None
        self.objects: EpisodeObjects | None = None
        self._boxes = BoxRenderer(CameraConfig()) if camera else None
        self._font = pygame.font.Font(None, max(14, self.size[1] // 32))
        texture = ground_texture(track.geometry, track.name) if camera else None
        self._camera = Camera(CameraConfig(), texture) if texture is not None else None
        self._frame = np.zeros((1, 120, 160, 1), np.uint8)
        if self._camera is not None:
            self._frame = np.zeros((1, *self._camera.shape), np.uint8)
        self.layout = frame_layout(self.size, self._frame.shape[1:3] if camera else None)
        self.view: TrackView | None = None
        self.set_episode(episode, objects)

    def set_episode(
        self, episode: dict[str, np.ndarray], objects: EpisodeObjects | None = None
    ) -> None:
        """Show another episode on the same track.

        The camera and, if the fit holds, the track drawing are reused.

        Args:
            episode: its columns (see the class).
            objects: its logged objects, T rows like the columns (see
                `racer.viewer.source.LoggedEpisodes.objects`), or None.
        """
        self.episode = episode
        self.objects = objects
        self._object_yaw = None if objects is None else object_yaw(self.track, objects)
        self.steps = len(episode["X"])
        self.clock = episode_clock(episode["tstamp"])
        yaw = deg_to_rad(np.asarray(episode["yaw"], np.float64))
        self.yaw = yaw
        self.body_x = np.asarray(episode["X"], np.float64) - MODEL_POINT_AHEAD * np.cos(yaw)
        self.body_y = np.asarray(episode["Y"], np.float64) - MODEL_POINT_AHEAD * np.sin(yaw)
        view = TrackView(self.track, self.size, np.column_stack([self.body_x, self.body_y]),
                         self.layout.track)  # fmt: skip
        if self.view is None or (view.scale, view.offset) != (self.view.scale, self.view.offset):
            self.view = view  # else keep the old one, whose track is drawn already
        self.scale = self.view.scale
        self._trail: pygame.Surface | None = None
        self._trail_upto = 0
        self._trail_mode = ""

    # ---------------------------------------------------------------------------- geometry
    def to_screen(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """World points [m] to screen pixels, (N, 2) float64 (column, row)."""
        return self.view.to_screen(x, y)

    def car_corners(self, k: int) -> np.ndarray:
        """Screen corners of the car's footprint at step ``k``, (4, 2)."""
        return self.view.footprint(self.body_x[k], self.body_y[k], self.yaw[k])

    # ---------------------------------------------------------------------------- layers
    def trail_colours(self) -> np.ndarray:
        """(K, 3) uint8 colour of each step's trail point under `colour_by`."""
        if self.colour_by not in COLOUR_MODES:
            raise ValueError(f"colour_by must be one of {COLOUR_MODES}, got {self.colour_by!r}")
        if self.colour_by == "action":
            _, index = self._action_codes()
            return _PALETTE[index % len(_PALETTE)].astype(np.uint8)
        values, low, high = self._ramp_range()
        return colour_ramp(values, low, high)

    def _action_codes(self) -> tuple[list[str], np.ndarray]:
        """The distinct actions (in index order) and (K,) each row's position among them."""
        actions = [str(a) for a in self.episode["action"]]
        names = sorted(set(actions), key=lambda a: (0, int(a), "") if a.isdigit() else (1, 0, a))
        codes = {a: i for i, a in enumerate(names)}
        return names, np.array([codes[a] for a in actions], np.int64)

    def _ramp_range(self) -> tuple[np.ndarray, float, float]:
        """(K,) the values the trail's ramp shows under `colour_by`, and its low and high end."""
        values = np.asarray(self.episode["reward" if self.colour_by == "reward" else "throttle"],
                            np.float64)  # fmt: skip
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return values, 0.0, 1.0
        low = float(finite.min()) if self.colour_by == "reward" else 0.0
        return values, low, float(finite.max())

    def legend(self) -> Legend:
        """What the trail's colours mean under `colour_by`.

        A ramp from the lowest to the highest reward (from 0 to the fastest speed [m/s]), one
        swatch when every step has the same value (an evaluation logged without rewards), or
        one swatch per action with its logged steering [deg] and speed [m/s].
        """
        if self.colour_by not in COLOUR_MODES:
            raise ValueError(f"colour_by must be one of {COLOUR_MODES}, got {self.colour_by!r}")
        if self.colour_by == "action":
            names, index = self._action_codes()
            e, first = self.episode, [int(np.argmax(index == c)) for c in range(len(names))]
            swatches = [(tuple(int(v) for v in _PALETTE[c % len(_PALETTE)]),
                         f"{name}: {float(e['steer'][r]):+.1f} deg, {float(e['throttle'][r]):.2f} "
                         "m/s")
                        for c, (name, r) in enumerate(zip(names, first, strict=True))]  # fmt: skip
            return Legend("trail: action (steering, speed)", swatches=swatches)
        _, low, high = self._ramp_range()
        title = "trail: reward" if self.colour_by == "reward" else "trail: speed [m/s]"
        if not high > low:  # one value throughout (an unscored log's 0 rewards): no gradient
            colour = tuple(int(v) for v in colour_ramp(np.array([low]), low, high)[0])
            text = f"{low:.3g}" if self.colour_by == "reward" else f"{low:.2f}"
            return Legend(title, swatches=[(colour, f"every step: {text}")])
        ramp = colour_ramp(np.linspace(0.0, 1.0, 64), 0.0, 1.0)
        if self.colour_by == "reward":
            return Legend("trail: reward", ramp, f"{low:.3g}", f"{high:.3g}")
        return Legend("trail: speed [m/s]", ramp, f"{low:.2f}", f"{high:.2f}")

    def _trail_to(self, k: int) -> pygame.Surface:
        """Background plus the trail up to step ``k``, drawn incrementally for forward replay."""
        if self._trail is None or k < self._trail_upto or self._trail_mode != self.colour_by:
            self._trail = self.view.background.copy()
            self._trail.fill(PANEL_COLOUR, self.layout.panel)
            if self.obstacles is not None and self.objects is None:
                for corners in box_corners(self.obstacles):
                    pygame.draw.polygon(self._trail, BOX_COLOUR,
                                        self.to_screen(corners[:, 0], corners[:, 1]))  # fmt: skip
            self._trail_upto = 0
            self._trail_mode = self.colour_by
            self._screen_path = self.to_screen(self.body_x, self.body_y)
            self._colours = [tuple(int(v) for v in c) for c in self.trail_colours()]
        width = max(2, int(round(0.05 * self.scale)))
        path = self._screen_path
        for i in range(max(self._trail_upto, 1), k + 1):
            if np.isfinite(path[i - 1 : i + 1]).all():
                pygame.draw.line(self._trail, self._colours[i], path[i - 1], path[i], width)
        self._trail_upto = max(self._trail_upto, k)
        return self._trail

    def camera_view(self, k: int) -> np.ndarray:
        """The car's camera frame at step ``k`` re-rendered from the logged pose, (120, 160)."""
        if self._camera is None:
            raise ValueError("this renderer was made with camera=False")
        self._camera.render(self.body_x[k : k + 1], self.body_y[k : k + 1],
                            self.yaw[k : k + 1], self._frame)  # fmt: skip
        if self.objects is not None and self._boxes is not None:
            self._render_objects(k)
        elif self.obstacles is not None and self._boxes is not None:
            o = self.obstacles
            self._boxes.render(self._frame, self.body_x[k : k + 1], self.body_y[k : k + 1],
                               self.yaw[k : k + 1], o.x, o.y, o.yaw, length=o.length - 0.1,
                               width=o.width - 0.1)  # fmt: skip
        return self._frame[0, :, :, 0]

    def object_corners(self, k: int) -> list[tuple[int, np.ndarray]]:
        """(kind, screen corners (4, 2)) of each logged object present at step ``k``."""
        if self.objects is None or self._object_yaw is None:
            return []
        o = self.objects
        length, width = object_footprints(o)
        out = []
        for i in np.flatnonzero(np.isfinite(o.x[k]) & np.isfinite(o.y[k])):
            corners = self.view.footprint(o.x[k, i], o.y[k, i], self._object_yaw[k, i],
                                          length[i], width[i])  # fmt: skip
            out.append((int(o.kinds[i]), corners))
        return out

    def _render_objects(self, k: int) -> None:
        """Draw the logged objects of step ``k`` into the camera frame, as the env draws them."""
        o = self.objects
        box = BoxStyle()
        is_box = o.kinds == BOX  # bots and other racers are DeepRacer cars alike
        length = np.where(is_box, o.box_length - BOX_BUFFER, BOT_LENGTH)
        width = np.where(is_box, o.box_width - BOX_BUFFER, BOT_WIDTH)
        height = np.where(is_box, box.height, BOT_HEIGHT)
        shade = np.where(is_box[:, None], np.array(box.shade),
                         np.where((o.kinds == BOT)[:, None], np.array(BOT_SHADE),
                                  np.array(RACER_SHADE)))  # fmt: skip
        self._boxes.render(self._frame, self.body_x[k : k + 1], self.body_y[k : k + 1],
                           self.yaw[k : k + 1], o.x[k], o.y[k], self._object_yaw[k],
                           length=length, width=width, height=height,
                           shade=shade.astype(np.int64))  # fmt: skip

    def camera_rect(self) -> pygame.Rect:
        """Where the camera inset is drawn: the top of the side panel (`layout`)."""
        if self.layout.camera is not None:
            return self.layout.camera
        w, h = self._frame.shape[2], self._frame.shape[1]
        return pygame.Rect(self.layout.panel.left + PAD, PAD, w, h)

    def hud_lines(self, k: int) -> list[str]:
        """The HUD's text at step ``k``."""
        e = self.episode
        return [
            f"episode {int(e['episode'][k])}  step {int(e['steps'][k])} ({k + 1}/{self.steps})"
            if "episode" in e else f"step {int(e['steps'][k])} ({k + 1}/{self.steps})",
            f"time      {float(self.clock[k]):.2f} s",
            f"progress  {float(e['progress'][k]):.1f} %",
            f"speed     {float(e['throttle'][k]):.2f} m/s",
            f"steering  {float(e['steer'][k]):+.1f} deg",
            f"reward    {float(e['reward'][k]):.3f}",
            f"status    {e['episode_status'][k]}",
        ]  # fmt: skip

    # ---------------------------------------------------------------------------- frames
    def render(self, k: int) -> pygame.Surface:
        """The frame of step ``k`` (0-based row of the episode), a new Surface."""
        if not 0 <= k < self.steps:
            raise IndexError(f"step {k} is outside the episode's {self.steps} rows")
        frame = self._trail_to(k).copy()
        colours = {BOX: BOX_COLOUR, BOT: BOT_COLOUR}
        for kind, corners in self.object_corners(k):
            pygame.draw.polygon(frame, colours.get(kind, RACER_COLOUR), corners)
        if np.isfinite([self.body_x[k], self.body_y[k], self.yaw[k]]).all():
            pygame.draw.polygon(frame, CAR_COLOUR, self.car_corners(k))
        if self._camera is not None and self.show_camera:
            draw_camera(frame, self.camera_view(k), self.camera_rect())
        self._draw_panel_text(frame, k)
        return frame

    def render_array(self, k: int) -> np.ndarray:
        """The frame of step ``k`` as an (H, W, 3) uint8 RGB array."""
        return np.ascontiguousarray(pygame.surfarray.array3d(self.render(k)).transpose(1, 0, 2))

    def _draw_panel_text(self, frame: pygame.Surface, k: int) -> None:
        """The HUD under the camera inset, then the trail's legend, all in the side panel."""
        panel = self.layout.panel
        previous = frame.get_clip()
        frame.set_clip(panel)
        hud = draw_text_panel(frame, self._font, self.hud_lines(k),
                              (panel.left + PAD, self.layout.text_top))  # fmt: skip
        frame.set_clip(previous)
        area = pygame.Rect(panel.left + PAD, hud.bottom + PAD, panel.width - 2 * PAD,
                           max(0, panel.bottom - hud.bottom - 2 * PAD))  # fmt: skip
        draw_legend(frame, self._font, self.legend(), area)


def object_footprints(objects: EpisodeObjects) -> tuple[np.ndarray, np.ndarray]:
    """(K,) lengths and (K,) widths [m] drawn from above for each logged object.

    A box as the replay draws fixed boxes (its collision rectangle), a bot car at its size, another
    racer at the car's.
    """
    car = CarParams()
    kinds = objects.kinds
    length = np.select([kinds == BOX, kinds == BOT], [objects.box_length, BOT_LENGTH], car.length)
    width = np.select([kinds == BOX, kinds == BOT], [objects.box_width, BOT_WIDTH], car.width)
    return length.astype(np.float64), width.astype(np.float64)


def object_yaw(track: Track, objects: EpisodeObjects) -> np.ndarray:
    """(T, K) yaw [rad] to draw each logged object with.

    Bot cars and racers keep their logged heading. The logs give boxes heading 0.0 (as
    DeepRacer's params do), but a box lies along its lane: its yaw is the direction of the
    centre-line segment nearest to it (a box looks the same turned by pi, so the driving direction
    does not matter).
    """
    yaw = np.array(objects.heading, dtype=np.float64, copy=True)
    boxes = objects.kinds == BOX
    if not boxes.any():
        return yaw
    x, y = objects.x[:, boxes], objects.y[:, boxes]
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    finite = np.isfinite(points).all(axis=1)
    unique, inverse = np.unique(points[finite], axis=0, return_inverse=True)
    box_yaw = np.zeros(len(points))
    box_yaw[finite] = _nearest_segment_yaw(track.centre, unique)[inverse.ravel()]
    yaw[:, boxes] = box_yaw.reshape(x.shape)
    return yaw


def _nearest_segment_yaw(line: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P,) direction [rad] of the segment of polyline ``line`` (S + 1, 2) nearest each point."""
    if len(points) == 0:
        return np.zeros(0)
    start, step = line[:-1], np.diff(line, axis=0)  # (S, 2)
    squared = np.maximum((step**2).sum(axis=1), 1e-12)
    t = np.clip(((points[:, None, :] - start[None]) * step[None]).sum(axis=2) / squared, 0.0, 1.0)
    nearest = start[None] + t[:, :, None] * step[None]  # (P, S, 2)
    best = np.argmin(((points[:, None, :] - nearest) ** 2).sum(axis=2), axis=1)
    return np.arctan2(step[best, 1], step[best, 0])
