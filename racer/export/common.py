"""What both exports (ONNX and DeepRacer's model.pb) share: atomic files and output comparisons."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import numpy as np

#: Largest |exported - torch| an export check accepts on the policy's outputs.
DEFAULT_ATOL = 1e-4
#: Two actions whose probabilities differ by at most this are a tie: either argmax is right.
TIE_TOLERANCE = 1e-6


def write_atomically(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and os.replace.

    The file gets the mode every other file of a run has, 0666 less the umask (0644 under the
    usual 022): the temporary file is created with it, where ``tempfile.mkstemp`` would give
    0600, which the rename would keep.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest |a - b| in float64; inf when the shapes differ, 0 when both are empty."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
