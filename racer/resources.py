"""Where racer's bundled data lives: in the wheel (``racer/_bundled``) or a source checkout."""

from __future__ import annotations

import difflib
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


def did_you_mean(name: str, choices: list[str]) -> str:
    """A " Did you mean 'x'?" sentence for a misspelt ``name``, or "" when nothing is close.

    File names are compared without their ``.py`` / ``.npy`` suffix, so that a short name's
    suffix alone does not make it look close.

    Args:
        name: what the user typed (a name or a file name).
        choices: the names (or file names) that exist.
    """
    suffix = next((s for s in (".py", ".npy") if str(name).endswith(s)), "")

    def stem(text: str) -> str:
        return text[: -len(suffix)] if suffix and text.endswith(suffix) else text

    by_stem = {stem(c): c for c in choices}
    close = difflib.get_close_matches(stem(str(name)), list(by_stem), n=3, cutoff=0.75)
    if not close:
        return ""
    return f" Did you mean {' or '.join(repr(by_stem[c]) for c in close)}?"
