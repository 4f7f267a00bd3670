"""What a failing reward call leaves behind: a `RewardCallError` and its params as JSON.

Both ways of calling a reward function (in this process, `racer.reward.plugin`, or in a worker
process, `racer.reward.worker`) build their errors here, so a failure reads the same either way:
the file, the problem, the step and position, the user's own traceback lines, and the JSON file
holding the failing call's params, which ``racer validate REWARD.py --params FILE`` replays.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import RewardFunctionError


class RewardCallError(RewardFunctionError):
    """A call of a loaded reward function failed.

    It raised, overran its limit, returned a bad value, or ended its worker process.

    Attributes:
        problem: what went wrong, without the file and position (groups repeats of one bug).
        params_file: the JSON file holding the failing call's params, or None if not saved.
        params: the failing call's params, as the function received them.
        frames: the user's traceback lines (`user_frames`), part of the message.
        fatal: no later call can be expected to work either (a time-out, a crash, no memory
            left, a runaway recursion): callers making many calls stop at it.
    """

    def __init__(self, message: str, problem: str, params_file: Path | None,
                 params: dict[str, Any], *, frames: str = "",
                 fatal: bool = False) -> None:  # fmt: skip
        super().__init__(message)
        self.problem = problem
        self.params_file = params_file
        self.params = params
        self.frames = frames
        self.fatal = fatal


def user_frames(exc: BaseException, path: Path) -> str:
    """The traceback lines that belong to the user's file only, repeats collapsed.

    A runaway recursion gives one frame per level: `traceback.StackSummary.format` folds
    identical lines into "[Previous line repeated N more times]", so the message stays short.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    if not frames:
        return ""
    return "".join(traceback.StackSummary.from_list(frames).format())


def call_error(
    path: Path,
    params: dict[str, Any],
    waypoints: Sequence[Any] | None,
    problem: str,
    frames: str = "",
    *,
    save: bool = True,
    failure_dir: Path | None = None,
    fatal: bool = False,
) -> RewardCallError:
    """The error of one failing call, with its params saved for replay.

    Args:
        path: the reward file.
        params: the params of the call (the caller's, not the function's copy).
        waypoints: the authoritative waypoints that call got, saved with the params.
        problem: what went wrong (``raised ZeroDivisionError: division by zero``).
        frames: the user's traceback lines (`user_frames`).
        save: write the params to ``failure_dir``; off for callers that save their own.
        failure_dir: where to save them; None: a temporary folder.
        fatal: see `RewardCallError`.
    """
    where = (
        f"at step {params.get('steps')} (x={params.get('x')}, y={params.get('y')}, "
        f"progress={params.get('progress')})"
    )
    message = f"reward function {path} {problem} {where}."
    saved = dict(params)
    if waypoints is not None:
        saved["waypoints"] = list(waypoints)
    if not save:
        return RewardCallError(f"{message}\n{frames}".rstrip(), problem, None, saved,
                               frames=frames, fatal=fatal)  # fmt: skip
    dump = write_failure_params(saved, path, message, failure_dir)
    if dump is None:
        repro = "(the params of that call could not be saved)"
    else:
        repro = (
            f"The params of that call are saved in {dump}; replay it with:\n"
            f"  racer validate {path} --params {dump}"
        )
    return RewardCallError(f"{message}\n{frames}{repro}", problem, dump, saved, frames=frames,
                           fatal=fatal)  # fmt: skip


# ----------------------------------------------------------------------------- failure dumps
def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def params_to_json(params: dict[str, Any]) -> str:
    """A params dict as JSON (tuples become lists, numpy scalars plain numbers)."""
    return json.dumps(params, default=_jsonable)


def params_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """Rebuild a params dict from `params_to_json`'s output, with DeepRacer's Python types.

    Accepts a failure dump (``{"params": {...}, ...}``) or a bare params dict.
    """
    params = dict(data.get("params", data))
    if "waypoints" in params:
        params["waypoints"] = [tuple(p) for p in params["waypoints"]]
    if "heading" in params:
        params["heading"] = np.float64(params["heading"])
    if "steps" in params:
        params["steps"] = float(params["steps"])
    return params


def write_failure_params(
    params: dict[str, Any], path: Path, message: str, folder: Path | None
) -> Path | None:
    """Write the params of a failing call to ``folder`` (a temp folder by default).

    Returns:
        The JSON file written, or None when it could not be written (the error still stands).
    """
    folder = folder or Path(tempfile.gettempdir()) / "racer-reward-failures"
    steps = params.get("steps", 0)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"reward-failure-{path.stem}-step{int(steps)}-{stamp}-{os.getpid()}.json"
    body = {"reward_function": str(path), "error": message, "params": params}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(body, default=_jsonable, indent=1))
    except (OSError, TypeError, ValueError):
        return None
    return target
