"""Is there a display to open a window on? Asked before any window opens.

Without a display SDL does not fail: on Linux it prints "XDG_RUNTIME_DIR is invalid" and falls
back to its ``offscreen`` driver, so a window "opens" that nobody can see or close, and the
replay waits forever for a key. The checks here turn that into a clear answer: `missing_display`
reads only the environment (cheap, no pygame, safe in the training process), `open_window`
also checks the driver SDL actually picked.

A video driver the user chose (``SDL_VIDEODRIVER``, e.g. ``dummy`` in tests or ``kmsdrm`` on a
console) is always trusted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from racer.errors import RacerError

#: SDL video drivers that draw into memory, not on a screen.
HEADLESS_DRIVERS = ("offscreen", "dummy")
#: The platforms whose windows need an X11 or Wayland server (macOS and Windows always have one).
_NEEDS_SERVER = ("linux", "freebsd", "openbsd", "netbsd")


def missing_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """Why no window can be shown here, from the environment alone; "" when one can.

    Args:
        environ: the environment to read (default ``os.environ``).
        platform: ``sys.platform`` to assume (default the real one).

    Returns:
        A short reason (``"DISPLAY and WAYLAND_DISPLAY are not set"``), or "" when a display is
        there or the user chose SDL's video driver.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get("SDL_VIDEODRIVER"):
        return ""
    if platform.startswith(_NEEDS_SERVER) and not (env.get("DISPLAY") or
                                                   env.get("WAYLAND_DISPLAY")):  # fmt: skip
        return "DISPLAY and WAYLAND_DISPLAY are not set"
    return ""


def open_window(size: tuple[int, int], caption: str) -> Any:
    """Initialise pygame's display and open a window; refuse when no one could see it.

    Args:
        size: (width, height) of the window [px].
        caption: the window's title.

    Returns:
        The window's pygame Surface.

    Raises:
        RacerError: no display (`missing_display`), SDL cannot open one, or SDL fell back to a
            headless driver the user did not ask for. The message is just the reason; callers
            say what to do instead.
    """
    import pygame

    reason = missing_display()
    if reason:
        raise RacerError(f"no display was found ({reason})")
    try:
        pygame.display.init()
        driver = pygame.display.get_driver()
        if driver in HEADLESS_DRIVERS and not os.environ.get("SDL_VIDEODRIVER"):
            raise RacerError(f"no display was found (SDL fell back to its {driver} driver)")
        screen = pygame.display.set_mode((int(size[0]), int(size[1])))
    except pygame.error as exc:
        pygame.display.quit()
        raise RacerError(f"no display could be opened ({exc})") from None
    except RacerError:
        pygame.display.quit()
        raise
    pygame.display.set_caption(caption)
    return screen
