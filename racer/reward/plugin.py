"""Load a user's ``reward_function.py`` and call it under guard (SPEC section 1.1).

The file is imported once as its own module, by path, under a unique name, so module-level state
persists across steps and episodes as on DeepRacer; several cars get one module each (DeepRacer
runs one module per rollout worker). Each call gets a fresh copy of params. Every result goes
through ``float()``, as DeepRacer's simulator does (so an int, a numpy number or a bool is
accepted), and must be finite and within +-1e5; anything else, an exception, or a call that runs
longer than the time limit raises `RewardCallError` (`racer.reward.failures`). The error names
the user's file, line and step, shows only the user's own traceback frames, and points to a JSON
file holding the params of the failing call, which ``racer validate REWARD.py --params FILE``
replays.

The guard (`guarded_calls`) redirects the function's ``print`` output to a log stream and arms one
watchdog timer for a whole batch of calls, so the per-call cost stays below a microsecond. The
watchdog is a signal in this process: a call stuck in C code, or one that catches or disarms it,
is beyond it. The worker process of `racer.reward.worker` runs these same calls under a limit
that cannot be escaped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import itertools
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from racer.errors import RewardFunctionError
from racer.resources import bundled_dir
from racer.reward.failures import RewardCallError, call_error, user_frames

REWARD_LIMIT = 1e5  # DeepRacer rejects |reward| > 1e5
DEFAULT_TIMEOUT = 1.0  # [s] per call
#: The problem of a call that overran its limit of ``limit`` seconds.
OVERRAN = ("ran for more than its limit of {limit:g} s (an endless loop?); speed it up or raise "
           "the limit (reward_timeout)")  # fmt: skip
#: The problem of a call that found no memory left (a worker names its limit in the brackets).
OUT_OF_MEMORY = ("ran out of memory (MemoryError); data kept across calls that grows on every "
                 "call, such as a list or a cache, does that")  # fmt: skip
_module_ids = itertools.count()
#: The params keys whose lists a copy renews (the rest hold immutable values).
_LIST_KEYS = ("waypoints", "closest_waypoints", "closest_objects", "objects_left_of_center",
              "objects_speed", "objects_heading", "objects_distance",
              "objects_distance_from_center")  # fmt: skip


def copy_params(
    params: dict[str, Any], waypoints: Sequence[tuple[float, float]] | None = None
) -> dict[str, Any]:
    """A copy the reward function may mutate freely: a new dict with new lists.

    Equivalent to DeepRacer's deep copy, since the lists hold immutable tuples and numbers (and
    ``objects_location`` lists of [x, y] lists, copied too), at a fraction of its cost.

    Args:
        params: the dict to copy.
        waypoints: the authoritative waypoints (the track's immutable tuple), so that a caller who
            edited ``params["waypoints"]`` cannot change what later reward calls see.
    """
    out = dict(params)
    for key in _LIST_KEYS:
        out[key] = list(params[key])
    if waypoints is not None:  # (the loop's copy of params' own waypoints is overwritten)
        out["waypoints"] = list(waypoints)
    out["objects_location"] = [list(p) for p in params["objects_location"]]
    return out


def bundled_reward_functions_dir() -> Path:
    """The folder of racer's example reward functions (in the wheel or the checkout)."""
    return bundled_dir("reward_functions", RewardFunctionError)


def list_bundled_reward_functions() -> list[str]:
    """Names of the bundled example reward functions, sorted."""
    return sorted(p.stem for p in bundled_reward_functions_dir().glob("*.py"))


def resolve_reward_path(name_or_path: str | Path) -> Path:
    """A reward file path, or the name of a bundled example (``follow_center_line``)."""
    from racer.resources import did_you_mean

    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    names = list_bundled_reward_functions()
    if path.suffix != ".py" and "/" not in str(name_or_path):  # a name, not a path
        bundled = bundled_reward_functions_dir() / f"{name_or_path}.py"
        if bundled.exists():
            return bundled
        raise RewardFunctionError(
            f"no bundled reward function or file named {str(name_or_path)!r}."
            f"{did_you_mean(str(name_or_path), names)} Bundled examples: {', '.join(names)}; "
            "or give the path of a Python file defining reward_function(params)."
        )
    folder = path.parent
    siblings = sorted(p.name for p in folder.glob("*.py")) if folder.is_dir() else []
    raise RewardFunctionError(
        f"reward function file {path} does not exist.{did_you_mean(path.name, siblings)} Give the "
        f"path of a Python file defining reward_function(params), or a bundled example: "
        f"{', '.join(names)}."
    )


# ------------------------------------------------------------------------------------- guard
class _Timeout(BaseException):  # noqa: N818 - a signal, not an error; BaseException so that
    """Raised inside a user call that overran; ``except Exception`` in user code cannot eat it."""


class _Watch:
    """The one call in flight (this process runs reward calls one at a time)."""

    active = False
    started = 0.0  # perf_counter() at the start of the call in flight, 0 when none
    limit = 0.0  # [s] that call's limit


def _on_alarm(signum: int, frame: Any) -> None:
    if _Watch.started and time.perf_counter() - _Watch.started > _Watch.limit:
        _Watch.started = 0.0  # fire once per call
        raise _Timeout


@contextlib.contextmanager
def guarded_calls(timeout: float = DEFAULT_TIMEOUT, output: TextIO | None = None) -> Iterator[None]:
    """Run a batch of reward calls with their ``print`` output redirected and a watchdog armed.

    The watchdog is a periodic ``SIGALRM`` (every ``timeout / 4``) that interrupts a call which
    has run longer than its limit, such as an infinite loop. It needs the main thread of a POSIX
    process; elsewhere overruns are still reported, but only once the call returns.

    Args:
        timeout: [s] the watchdog's period base; 0 arms no timer.
        output: a text stream for the function's ``print`` output; None leaves stdout alone.
    """
    if _Watch.active:  # nested: the outer guard already covers these calls
        yield
        return
    armed = (
        timeout > 0.0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    previous_handler = None
    if armed:
        previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
        period = max(timeout / 4.0, 0.005)
        signal.setitimer(signal.ITIMER_REAL, period, period)
    redirect = (
        contextlib.redirect_stdout(output) if output is not None else contextlib.nullcontext()
    )
    _Watch.active = True
    try:
        with redirect:
            yield
    finally:
        _Watch.active = False
        _Watch.started = 0.0
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0.0, 0.0)
            signal.signal(signal.SIGALRM, previous_handler)


# ---------------------------------------------------------------------------------- function
class RewardFunction:
    """A user's reward function, loaded from a file, called with guards.

    Args:
        path: the reward file, or the name of a bundled example.
        timeout: [s] the longest a call may take (0: no limit).
        output: where the function's ``print`` output goes; None: stdout.
        failure_dir: the folder for the params of a failing call; None: a temp folder.
        save_failures: save the params of a failing call as JSON (off for callers that handle
            many failures themselves, such as ``racer validate``).

    Attributes:
        path: the file it was loaded from (resolved).
        function: the raw ``reward_function`` callable.
        module: the imported module (its globals are the function's persistent state).
        last_type: the type of the last value the function returned, before ``float()`` (the
            console insists on ``float``; DeepRacer's simulator and racer convert).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        output: TextIO | None = None,
        failure_dir: str | Path | None = None,
        save_failures: bool = True,
    ) -> None:
        """Import ``path`` as a fresh module and find ``reward_function(params)``.

        Raises:
            RewardFunctionError: missing file, syntax error, import failure, no function, or a
                function that does not take exactly one parameter.
        """
        self.path = resolve_reward_path(path).resolve()
        self.timeout = float(timeout)
        self.output = output
        self.failure_dir = Path(failure_dir) if failure_dir else None
        self.save_failures = save_failures
        self.last_type: type = float
        module_name = f"racer_user_reward_{next(_module_ids)}"
        spec = importlib.util.spec_from_file_location(module_name, self.path)
        if spec is None or spec.loader is None:
            raise RewardFunctionError(f"reward function {self.path} cannot be imported as Python.")
        module = importlib.util.module_from_spec(spec)
        try:
            with guarded_calls(self.timeout * 10.0, output):  # imports may be slow, not endless
                _Watch.started, _Watch.limit = time.perf_counter(), self.timeout * 10.0
                spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise RewardFunctionError(
                f"reward function {self.path} has a syntax error at line {exc.lineno}: {exc.msg}. "
                f"Fix that line; `python -m py_compile {self.path}` shows the same error."
            ) from None
        except _Timeout:
            raise RewardFunctionError(
                f"reward function {self.path} did not finish importing within "
                f"{self.timeout * 10.0:g} s: module-level code must not loop forever."
            ) from None
        except Exception as exc:  # the user's module-level code failed
            raise RewardFunctionError(
                f"reward function {self.path} failed while being imported: "
                f"{type(exc).__name__}: {exc}\n{user_frames(exc, self.path)}"
                f"DeepRacer allows the modules math, random, numpy, scipy and shapely."
            ) from None
        function = getattr(module, "reward_function", None)
        if not callable(function):
            raise RewardFunctionError(
                f"reward function {self.path} defines no function named reward_function. "
                f"DeepRacer calls reward_function(params); define it at the top level of the file."
            )
        try:
            signature = inspect.signature(function)
            signature.bind({})
        except TypeError:
            raise RewardFunctionError(
                f"reward function {self.path}: reward_function must take exactly one parameter "
                f"(params), but its signature is reward_function{signature}."
            ) from None
        self.function: Callable[[dict[str, Any]], Any] = function
        self.module = module
        sys.modules.pop(module_name, None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle by path: workers and copies load the file themselves (module state restarts).

        The output stream does not travel: a copy prints to stdout until given one.
        """
        dump = str(self.failure_dir) if self.failure_dir else None
        return {"path": str(self.path), "timeout": self.timeout, "failure_dir": dump,
                "save_failures": self.save_failures}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"], timeout=state["timeout"], failure_dir=state["failure_dir"],
            save_failures=state["save_failures"],
        )  # fmt: skip

    def __call__(
        self, params: dict[str, Any], waypoints: Sequence[tuple[float, float]] | None = None
    ) -> float:
        """Call the user function on a fresh copy of ``params`` and check its result.

        Args:
            params: the step's params; not modified (the function gets a copy).
            waypoints: the authoritative waypoints to give the copy (see `copy_params`).

        Returns:
            The reward as a finite float within +-1e5.

        Raises:
            RewardFunctionError: the function raised, overran its time limit, or returned
                something that is not a finite number within range; the message names the
                file, line and step and where the failing params were saved.
        """
        if not _Watch.active:
            with guarded_calls(self.timeout, self.output):
                return self(params, waypoints)
        fresh = copy_params(params, waypoints)
        _Watch.limit = self.timeout if self.timeout > 0.0 else math.inf
        start = _Watch.started = time.perf_counter()
        try:
            value = self.function(fresh)
        except _Timeout:
            raise self._failure(params, waypoints, OVERRAN.format(limit=self.timeout),
                                fatal=True) from None  # fmt: skip
        except MemoryError:
            raise self._failure(params, waypoints, OUT_OF_MEMORY, fatal=True) from None
        except RecursionError as exc:  # each call would take as long: stop at the first
            raise self._failure(params, waypoints, f"raised RecursionError: {exc}",
                                user_frames(exc, self.path), fatal=True) from None  # fmt: skip
        except (Exception, SystemExit) as exc:
            raise self._failure(params, waypoints, f"raised {type(exc).__name__}: {exc}",
                                user_frames(exc, self.path)) from None  # fmt: skip
        finally:
            _Watch.started = 0.0
        elapsed = time.perf_counter() - start
        if elapsed > _Watch.limit:
            raise self._failure(
                params,
                waypoints,
                f"took {elapsed:.2f} s, more than its limit of "
                f"{self.timeout:g} s; speed it up or raise the limit (reward_timeout)",
                fatal=True,
            )
        self.last_type = type(value)
        return self.check_value(value, params, waypoints)

    def check_value(
        self,
        value: Any,
        params: dict[str, Any],
        waypoints: Sequence[tuple[float, float]] | None = None,
    ) -> float:
        """Convert a returned value as DeepRacer does (``float()``) and check it.

        A bool converts to 1.0 or 0.0, as DeepRacer's ``float()`` does (the console's validator
        alone insists on a float: ``racer validate`` notes it).
        """
        try:
            reward = float(value)
        except (TypeError, ValueError):
            problem = f"{type(value).__name__} {value!r}, which float() cannot convert"
        else:
            if math.isfinite(reward) and abs(reward) <= REWARD_LIMIT:
                return reward
            problem = f"{reward}, outside the allowed range [-1e5, 1e5]"
        raise self._failure(
            params,
            waypoints,
            f"returned {problem}; DeepRacer requires a finite number "
            "within [-1e5, 1e5]: return a float",
        )

    def _failure(self, params: dict[str, Any], waypoints: Sequence[Any] | None, problem: str,
                 frames: str = "", *, fatal: bool = False) -> RewardCallError:  # fmt: skip
        return call_error(self.path, params, waypoints, problem, frames,
                          save=self.save_failures, failure_dir=self.failure_dir,
                          fatal=fatal)  # fmt: skip


def load_reward_function(path: str | Path, **options: Any) -> RewardFunction:
    """Load ``reward_function`` from a file or a bundled example name (see `RewardFunction`)."""
    return RewardFunction(path, **options)
