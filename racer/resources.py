"""Where racer's bundled data lives: in the wheel (``racer/_bundled``) or a source checkout."""

from __future__ import annotations

from pathlib import Path

from racer.errors import RacerError

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str, error: type[RacerError] = RacerError) -> Path:
    """The folder of bundled ``name`` ("tracks" or "reward_functions").

    Raises:
        ``error``: when neither the installed copy nor the checkout's folder exists.
    """
    candidates = (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise error(
        f"racer's bundled {name} are missing: looked in {candidates[0]} and {candidates[1]}. "
        f"Reinstall racer (pip install -e .) from a full checkout."
    )
