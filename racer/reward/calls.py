"""One step's reward calls for N cars: each car's own function, guarded, its prints to a log.

Each DeepRacer worker imports the reward file as its own module, so module-level state is per
car; `RewardCalls` loads one `RewardFunction` per car from the same file (or takes the callables
it is given) and calls those of the cars on a RUN step. The env's core asks it for rewards and
knows nothing of files, logs, guards or processes.

Where the calls run (``isolation``):

- ``"process"`` (the default for a reward file): in a `RewardWorker` child process, all the
  step's calls in one round trip. Its time limit cannot be escaped, a crash or ``os._exit`` in
  the function is reported as a failing call, and its memory is capped. It costs one pickled
  message each way per step (README, Speed).
- ``"none"``: in this process, under `guarded_calls` (a ``SIGALRM`` watchdog): the fastest, but a
  call stuck in C code or one that catches the time-out hangs the caller, and ``os._exit`` or a
  segfault ends it. Callables (not files) always run this way: functions are never pickled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from racer.errors import ConfigError
from racer.reward.plugin import RewardFunction, copy_params, guarded_calls
from racer.reward.worker import DEFAULT_MEMORY_LIMIT, RewardWorker

RewardCallable = Callable[[dict[str, Any]], float]
#: Where reward files' calls run; see the module doc.
ISOLATIONS = ("process", "none")
DEFAULT_ISOLATION = "process"


def open_reward_log(path: str) -> TextIO:
    """Open (append, line-buffered) the file that receives the reward function's prints."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed by close()
    except OSError as exc:
        raise ConfigError(
            f"cannot open the reward log {path}: {exc.strerror}. Choose a writable reward_log."
        ) from None


def _copying(fn: RewardCallable) -> Callable[..., float]:
    """A plain reward callable called with a fresh copy of params, as `RewardFunction` does."""

    def call(params: dict[str, Any], waypoints: Sequence[tuple[float, float]]) -> float:
        return fn(copy_params(params, waypoints))

    return call


class RewardCalls:
    """The reward functions of N cars.

    Args:
        source: a reward file or bundled name, loaded once per car; or a callable shared by
            all cars; or N callables, one per car.
        num_cars: N.
        timeout: [s] the longest one call may take; 0 for no limit.
        log: the file that receives the functions' prints (appended); "" leaves stdout alone.
        failure_dir: where a failing call's params are saved; "" for a temporary folder.
        isolation: where a reward file's calls run: "process" or "none" (see the module doc).
        sandbox: with "process", also cut the worker's network, writes (all but beneath
            ``failure_dir``) and programs (`racer.reward.sandbox`).
        memory_limit: [bytes] with "process", the worker's address space; 0 for no limit.

    Attributes:
        functions: the N in-process callables (`RewardFunction` when loaded from a file); empty
            when the calls run in a worker.
        worker: the `RewardWorker`, or None.
    """

    def __init__(self, source: str | Path | RewardCallable | Sequence[RewardCallable],
                 num_cars: int, *, timeout: float, log: str = "", failure_dir: str = "",
                 isolation: str = DEFAULT_ISOLATION, sandbox: bool = False,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:  # fmt: skip
        if isolation not in ISOLATIONS:
            raise ConfigError(f"reward isolation {isolation!r} is unknown; choose one of "
                              f"{', '.join(ISOLATIONS)}.")  # fmt: skip
        self.timeout = timeout
        self._log: TextIO | None = open_reward_log(log) if log else None
        self.worker: RewardWorker | None = None
        self.functions: list[Any] = []
        if callable(source):
            self.functions = [source] * num_cars
        elif isinstance(source, (str, Path)) and isolation == "process":
            self.worker = RewardWorker(source, num_cars, timeout=timeout,
                                       memory_limit=memory_limit, sandbox=sandbox,
                                       writable=failure_dir, output=self._log,
                                       failure_dir=failure_dir or None)  # fmt: skip
        elif isinstance(source, (str, Path)):
            options = {"timeout": timeout, "output": self._log, "failure_dir": failure_dir or None}
            self.functions = [RewardFunction(source, **options) for _ in range(num_cars)]
        else:
            self.functions = list(source)
            if len(self.functions) != num_cars:
                raise ConfigError(f"{len(self.functions)} reward functions for {num_cars} cars: "
                                  "give one per car.")  # fmt: skip
        # RewardFunction copies params itself (and keeps them for its errors); a plain callable
        # gets a fresh copy here. Decided once, not per car-step.
        self._calls = [fn if isinstance(fn, RewardFunction) else _copying(fn)
                       for fn in self.functions]  # fmt: skip

    def __call__(self, params_list: list[dict[str, Any]], index: np.ndarray, reverse: np.ndarray,
                 waypoints: tuple[Any, Any], out: np.ndarray) -> None:  # fmt: skip
        """Call the functions of cars ``index`` and write their rewards into ``out``.

        Args:
            params_list: every car's params (not modified: each function gets a copy).
            index: the cars to call (those on a RUN step).
            reverse: (N,) bool each car's driving direction.
            waypoints: the track's waypoints forwards and reversed, for the copies of params.
            out: (N,) float64 rewards; other cars' entries are left as they are.

        Raises:
            RewardFunctionError: a call raised, overran its limit, returned a bad value, or
                (in a worker) ended the worker process.
        """
        if self.worker is not None:
            if len(index):
                self._call_worker(params_list, index, reverse, waypoints, out)
            return
        with guarded_calls(self.timeout, self._log):
            for i in index:
                out[i] = self._calls[i](params_list[i], waypoints[int(reverse[i])])

    def _call_worker(self, params_list: list[dict[str, Any]], index: np.ndarray,
                     reverse: np.ndarray, waypoints: tuple[Any, Any],
                     out: np.ndarray) -> None:  # fmt: skip
        cars = index.tolist()
        batch = self.worker.call(cars, [params_list[i] for i in cars],
                                 reverse[index].astype(int).tolist(), waypoints)  # fmt: skip
        if batch.failures:
            raise batch.failures[0][1]
        out[index] = batch.values

    def close(self) -> None:
        """Stop the worker and close the reward log, if this opened them."""
        if self.worker is not None:
            self.worker.close()
        if self._log is not None:
            self._log.close()
            self._log = None
