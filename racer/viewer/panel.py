"""The replay frame's layout: the track on the left, a side panel for everything else.

The camera inset, the HUD's numbers and the trail's legend live in a panel at the right edge of
the frame, and the track is fitted into the rest (`racer.viewer.render.TrackView`'s ``area``), so
no text or inset ever covers the road, whatever the track's shape or the car's position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pygame

#: The panel's background colour (the replay window's timeline band uses it too).
PANEL_COLOUR = (24, 24, 28)
LEGEND_TEXT = (220, 220, 220)
#: The panel's share of the frame's width, and its narrowest [px] (never over half the frame).
PANEL_SHARE = 0.3
PANEL_MIN_WIDTH = 150
PAD = 8  # [px] between the panel's items and its edges


@dataclass(frozen=True)
class FrameLayout:
    """Where each part of a replay frame goes, in frame pixels.

    Attributes:
        size: (width, height) of the frame [px].
        track: the track view's rectangle (left of the panel).
        panel: the side panel's rectangle (right edge, full height).
        camera: the camera inset's rectangle, at the panel's top; None without a camera.
    """

    size: tuple[int, int]
    track: pygame.Rect
    panel: pygame.Rect
    camera: pygame.Rect | None

    @property
    def text_top(self) -> int:
        """[px] the row where the panel's text (HUD, then legend) starts."""
        return (self.camera.bottom if self.camera is not None else 0) + PAD


def frame_layout(size: tuple[int, int], camera_shape: tuple[int, int] | None) -> FrameLayout:
    """Split a frame into the track view and the side panel.

    Args:
        size: (width, height) of the frame [px].
        camera_shape: (H, W) of the camera image [px], or None for a frame without an inset.
            The inset keeps its aspect, spans the panel's width and takes at most a third of
            the frame's height.

    Returns:
        The layout.
    """
    width, height = int(size[0]), int(size[1])
    panel_width = min(width // 2, max(PANEL_MIN_WIDTH, round(PANEL_SHARE * width)))
    panel = pygame.Rect(width - panel_width, 0, panel_width, height)
    track = pygame.Rect(0, 0, width - panel_width, height)
    camera = None
    if camera_shape is not None:
        rows, columns = int(camera_shape[0]), int(camera_shape[1])
        inset_w = panel_width - 2 * PAD
        inset_h = round(inset_w * rows / columns)
        if inset_h > height // 3:
            inset_h = height // 3
            inset_w = round(inset_h * columns / rows)
        camera = pygame.Rect(panel.left + (panel_width - inset_w) // 2, PAD, inset_w, inset_h)
    return FrameLayout((width, height), track, panel, camera)


@dataclass(frozen=True)
class Legend:
    """What the trail's colours mean.

    Attributes:
        title: the first line (``trail: reward``).
        ramp: (N, 3) uint8 colours of a continuous colour map from low to high, or None.
        low: the value at the ramp's low end, as text.
        high: the value at its high end.
        swatches: (colour, label) of each category (the actions), when there is no ramp.
    """

    title: str
    ramp: np.ndarray | None = None
    low: str = ""
    high: str = ""
    swatches: list[tuple[tuple[int, int, int], str]] = field(default_factory=list)


def draw_legend(
    frame: pygame.Surface, font: pygame.font.Font, legend: Legend, rect: pygame.Rect
) -> pygame.Rect:
    """Draw a legend into ``rect`` (clipped to it): its title, then a ramp bar or swatches.

    Swatches that do not fit end in a ``+N more`` line.

    Returns:
        The rectangle actually drawn on.
    """
    line_h = font.get_linesize()
    previous = frame.get_clip()
    frame.set_clip(rect)
    x, y = rect.left, rect.top
    frame.blit(font.render(legend.title, True, LEGEND_TEXT), (x, y))
    y += line_h + 2
    if legend.ramp is not None:
        bar = pygame.Rect(x, y, rect.width, max(6, line_h // 2))
        columns = np.round(np.linspace(0, len(legend.ramp) - 1, bar.width)).astype(np.int64)
        strip = np.repeat(legend.ramp[columns][:, None, :], bar.height, axis=1)
        frame.blit(pygame.surfarray.make_surface(strip), bar)
        y = bar.bottom + 2
        high = font.render(legend.high, True, LEGEND_TEXT)
        frame.blit(font.render(legend.low, True, LEGEND_TEXT), (x, y))
        frame.blit(high, (rect.right - high.get_width(), y))
        y += line_h
    room = max(0, (rect.bottom - y) // line_h)
    shown = legend.swatches if len(legend.swatches) <= room else legend.swatches[: max(0, room - 1)]
    for colour, label in shown:
        frame.fill(colour, pygame.Rect(x, y + line_h // 4, line_h, line_h // 2))
        frame.blit(font.render(label, True, LEGEND_TEXT), (x + line_h + 6, y))
        y += line_h
    if len(shown) < len(legend.swatches) and room > 0:
        more = f"+{len(legend.swatches) - len(shown)} more"
        frame.blit(font.render(more, True, LEGEND_TEXT), (x, y))
        y += line_h
    frame.set_clip(previous)
    return pygame.Rect(rect.left, rect.top, rect.width, y - rect.top)
