"""Reward calls in a worker process: a time limit that cannot be escaped, crashes that are caught.

A `RewardWorker` runs a child process that imports the reward file once per car (each car keeps
its own module state, as in-process) and answers one message per batch: all the calls of a
step, or of a ``racer validate`` sweep, in one round trip. Inside the child every call runs under
the same guard as in-process (`racer.reward.plugin`), so an ordinary failure reads the same. What
the in-process guard cannot catch, the parent does:

- a call that overran its limit and did not stop (stuck in C code such as
  ``sum(range(10**12))``, or catching or disarming the time-out): past ``2 * timeout + 0.5 s``
  the parent kills the child and raises `RewardCallError` naming the call; the next batch starts
  a new child (all cars' module state restarts).
- a child that ended (``os._exit``, a segfault, the kernel's out-of-memory killer): the error
  names the exit code or signal, the call in flight and, from the child's fault handler, the
  user's line; the next batch starts a new child.
- memory: the child's address space is capped (``memory_limit``, `racer.reward.sandbox`), so a
  leaking function gets ``MemoryError`` instead of taking the machine.

The child starts without racer's package ``__init__`` (gymnasium) and without numba: it imports
only ``racer.reward``'s plugin, sandbox and this module, in about 0.2 s. A closed worker's
healthy child waits in a small pool and serves the next worker with the same limits (it imports
the new file afresh), so the evaluation rounds of a training run do not pay that start each time.
The params travel pickled, without their waypoints (sent once per track); a shared page tells the
parent which call is running and since when.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import mmap
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any, TextIO

from racer.errors import RewardFunctionError
from racer.reward.failures import RewardCallError, call_error
from racer.reward.plugin import DEFAULT_TIMEOUT, resolve_reward_path
from racer.reward.worker_child import CALL, LIMIT, PROTOCOL, START

#: [bytes] the worker's default address-space limit.
DEFAULT_MEMORY_LIMIT = 4 * 2**30
#: [s] how long a new child may take to start, before it imports the reward file.
STARTUP_LIMIT = 60.0
#: Idle children kept for reuse, per set of limits.
POOL_SIZE = 2
_GRACE = 0.5  # [s] hard limit = 2 x soft limit + grace: the soft guard reports first
_TICK = 0.05  # [s] how often a waiting parent looks at the call in flight
_RACER_DIR = str(Path(__file__).resolve().parents[1])
# The child: a stand-in `racer` package (its __init__ imports gymnasium), limits, then serve.
_BOOTSTRAP = """\
import json, os, sys, types
racer = types.ModuleType("racer")
racer.__path__ = [sys.argv[1]]
sys.modules["racer"] = racer
options = json.loads(sys.argv[2])
from racer.reward.sandbox import apply_limits, die_with_parent
die_with_parent()
if os.getppid() != options["parent"]:
    sys.exit(0)
missing = apply_limits(options["memory_limit"], options["sandbox"], options["writable"])
from racer.reward.worker_child import serve
serve(options, missing)
"""


@dataclass
class Batch:
    """The answers to one batch of calls.

    Attributes:
        values: one per call: the reward, or None where the call failed or was not made (a
            batch whose worker died has no values).
        failures: (position in the batch, error) of each failing call.
        types: with ``types=True``, the type name of each value before ``float()`` ("" where
            the call failed or was not made).
        made: the calls made: all of them, or up to the one that stopped the batch.
    """

    values: list[float | None]
    failures: list[tuple[int, RewardCallError]] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    made: int = 0


class _Child:
    """One worker process, its pipe, its slot page and its fault handler's file.

    Args:
        key: (reward file, memory_limit, sandbox, writable): it serves only that file (whose
            module-level code may have changed the process) with those limits.
    """

    def __init__(self, key: tuple[str, int, bool, str]) -> None:
        self.key = key
        conn, child = Pipe(duplex=True)
        slot_fd = os.memfd_create("racer-reward-slot")
        os.ftruncate(slot_fd, mmap.PAGESIZE)
        self.slot = mmap.mmap(slot_fd, mmap.PAGESIZE)
        self.view = memoryview(self.slot).cast("d")
        self.dump = tempfile.TemporaryFile()  # the child's fault handler writes here
        _, memory_limit, sandbox, writable = key
        fds = [child.fileno(), slot_fd, self.dump.fileno()]
        options = {"memory_limit": memory_limit, "sandbox": sandbox, "writable": writable,
                   "parent": os.getpid(), "fds": fds}  # fmt: skip
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")  # fmt: skip
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, _RACER_DIR, json.dumps(options)],
                pass_fds=options["fds"], stdin=subprocess.DEVNULL, env=env,
                start_new_session=True,  # Ctrl-C is the parent's to handle, not the child's
            )  # fmt: skip
        finally:
            child.close()
            os.close(slot_fd)
        self.conn: Connection = conn
        self.poller = select.poll()  # cheaper than Connection.poll's selector on every call
        self.poller.register(conn.fileno(), select.POLLIN)
        self.waypoints: tuple[Any, ...] | None = None
        self.fresh = True  # its first load also waits for the interpreter to start
        self.finalizer = weakref.finalize(self, _stop_process, self.proc, conn)

    def alive(self) -> bool:
        return self.proc.returncode is None and self.proc.poll() is None

    def close(self) -> None:
        """Stop the process (it exits when its pipe closes) and free the channels."""
        self.finalizer()
        self.view.release()
        self.slot.close()
        self.dump.close()


_POOL: list[_Child] = []


def _take(key: tuple[str, int, bool, str]) -> _Child:
    """An idle child that served this file with these limits, or a new one."""
    for child in list(_POOL):
        if not child.alive():
            _POOL.remove(child)
            child.close()
        elif child.key == key:
            _POOL.remove(child)
            return child
    return _Child(key)


def _give(child: _Child) -> None:
    """Keep a healthy child for the next worker (the oldest idle one makes room), or stop it."""
    if not child.alive():
        child.close()
        return
    _POOL.append(child)
    while len(_POOL) > POOL_SIZE:
        _POOL.pop(0).close()


@atexit.register
def _drain_pool() -> None:
    while _POOL:
        _POOL.pop().close()


class RewardWorker:
    """A child process holding ``num_cars`` modules of one reward file.

    Args:
        path: the reward file (or a bundled example name).
        num_cars: modules to load, one per car.
        timeout: [s] the longest one call may take (0: no limit, crashes are still caught).
        memory_limit: [bytes] the child's address space; 0 for no limit.
        sandbox: run the child in the sandbox of `racer.reward.sandbox`.
        writable: the one folder the sandboxed child may write beneath; empty for none.
        output: where the functions' prints go; None: this process's stdout at the time.
        failure_dir: where the params of a failing call are saved; None: a temp folder.
        save_failures: save them at all.

    Attributes:
        missing: the sandbox layers (or memory limit) the OS did not allow, as sentences.
    """

    def __init__(self, path: str | Path, num_cars: int = 1, *, timeout: float = DEFAULT_TIMEOUT,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT, sandbox: bool = False,
                 writable: str | Path = "", output: TextIO | None = None,
                 failure_dir: str | Path | None = None,
                 save_failures: bool = True) -> None:  # fmt: skip
        self.path = resolve_reward_path(path).resolve()
        self.num_cars = num_cars
        self.timeout = float(timeout)
        self.memory_limit = int(memory_limit)
        self.sandbox = sandbox
        self.writable = str(writable)
        self.output = output
        self.failure_dir = Path(failure_dir) if failure_dir else None
        self.save_failures = save_failures
        self.missing: list[str] = []
        self._child: _Child | None = None
        self._dirty = False
        self._status: int | None = None
        self._dump_text = ""
        self._overran = False
        self._start()

    # --------------------------------------------------------------------------- lifecycle
    def _start(self) -> None:
        """Take a child and have it import the modules; raises the load error, if any."""
        key = (str(self.path), self.memory_limit, self.sandbox, self.writable)
        child = self._child = _take(key)
        self._finalizer = weakref.finalize(self, _give, child)
        self._dirty = False
        child.waypoints = None  # the new load starts without them
        self._send(("load", str(self.path), self.num_cars, self.timeout))
        reply = self._receive(0, load=True)
        if reply is None:
            raise RewardFunctionError(self._died_at_start())
        kind, body, printed = reply
        self._write(printed)
        if kind == "error":
            raise RewardFunctionError(body)
        self.missing = body

    def close(self) -> None:
        """Give the child back to the pool (or stop it); the next call takes another."""
        if self._dirty:  # after a time-out, a runaway recursion or no memory left
            self._drop()
        elif self._child is not None:
            self._finalizer()
            self._child = None

    def _drop(self) -> None:
        """Stop a child that died, was killed or is out of step."""
        if self._child is not None:
            self._finalizer.detach()
            self._child.close()
            self._child = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle by options: a copy starts its own child (module state restarts)."""
        return {"path": str(self.path), "num_cars": self.num_cars, "timeout": self.timeout,
                "memory_limit": self.memory_limit, "sandbox": self.sandbox,
                "writable": self.writable, "failure_dir": self.failure_dir,
                "save_failures": self.save_failures}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        path, num_cars = state.pop("path"), state.pop("num_cars")
        self.__init__(path, num_cars, **state)  # type: ignore[misc]

    # ------------------------------------------------------------------------------- calls
    def call(self, cars: list[int], params: list[dict[str, Any]], reverse: list[int] | None = None,
             waypoints: tuple[Any, Any] | None = None, *, max_failures: int = 1,
             types: bool = False) -> Batch:  # fmt: skip
        """Call car ``cars[j]``'s function on ``params[j]`` for every j, in one round trip.

        Args:
            cars: the module (car) of each call.
            params: the params of each call (not modified; the functions get copies).
            reverse: with ``waypoints``, which of the two each call gets (0 or 1).
            waypoints: the track's waypoints forwards and reversed, the authoritative ones;
                None: each params' own waypoints are used.
            max_failures: stop the batch after this many failing calls (and at a fatal one).
            types: also return the type of each value before ``float()``.

        Returns:
            The values and the failures, whose errors are those of `RewardFunction`, plus
            those of a call that had to be killed or that ended the worker.
        """
        if self._child is None:
            self._start()
        child = self._child
        if waypoints is not None:
            if child.waypoints is None or any(
                a is not b for a, b in zip(waypoints, child.waypoints, strict=True)
            ):
                self._send(("waypoints", [list(w) for w in waypoints]))
                child.waypoints = tuple(waypoints)
            params = [_without_waypoints(p) for p in params]
        self._send(("call", cars, params, reverse, max_failures, types))
        try:
            reply = self._receive(len(cars))
        except BaseException:  # Ctrl-C while it works: its answer would be out of step
            self._kill()
            self._drop()
            raise
        if reply is None:  # killed, or ended on its own
            return self._lost(params, reverse, waypoints, types)
        values, failed, type_names, printed = reply
        self._write(printed)
        batch = Batch(values, [], type_names, len(values))
        if failed and (failed[-1][3] or len(failed) >= max_failures):
            batch.made = failed[-1][0] + 1
        self._dirty = self._dirty or any(fatal for *_, fatal in failed)
        for j, problem, frames, fatal in failed:
            batch.failures.append((j, self._error(params[j], reverse, waypoints, j, problem,
                                                  frames, fatal)))  # fmt: skip
        return batch

    def _error(self, params: dict[str, Any], reverse: list[int] | None, waypoints: Any, j: int,
               problem: str, frames: str, fatal: bool) -> RewardCallError:  # fmt: skip
        wp = waypoints[reverse[j]] if waypoints is not None and reverse is not None else None
        return call_error(self.path, params, wp, problem, frames, save=self.save_failures,
                          failure_dir=self.failure_dir, fatal=fatal)  # fmt: skip

    def _send(self, message: Any) -> None:
        try:
            self._child.conn.send_bytes(pickle.dumps(message, PROTOCOL))
        except OSError:  # the child is gone: `_receive` reports how
            pass

    def _receive(self, calls: int, load: bool = False) -> Any:
        """The child's reply, or None once it has died or been killed for overrunning."""
        child = self._child
        view, poll = child.view, child.poller.poll
        hard = 2.0 * self.timeout + _GRACE if self.timeout > 0 else math.inf
        # Bounds the whole batch even if user code scribbles on the slot.
        if load:
            cap = STARTUP_LIMIT * child.fresh + 10.0 + 10.0 * self.num_cars * hard
            child.fresh = False
        else:
            cap = 10.0 + calls * hard
        cap += time.monotonic()
        self._overran = False
        while True:
            start = view[START]
            deadline = cap
            if start > 0.0 and self.timeout > 0.0:
                deadline = min(cap, start + 2.0 * view[LIMIT] + _GRACE)
            wait = deadline - time.monotonic()
            if wait <= 0.0:
                self._overran = True
                self._kill()
                return None
            if poll(1000.0 * min(wait, _TICK)):
                try:
                    return pickle.loads(child.conn.recv_bytes())
                except (EOFError, OSError):
                    self._reap()
                    return None

    def _write(self, printed: str) -> None:
        if printed:
            (sys.stdout if self.output is None else self.output).write(printed)

    # ------------------------------------------------------------------------------ deaths
    def _kill(self) -> None:
        """End a child that overran: SIGABRT first (its fault handler dumps where it was)."""
        pid = self._child.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGABRT)
        for _ in range(50):
            if self._reap(block=False):
                return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._reap()

    def _reap(self, block: bool = True) -> bool:
        """Collect the dead child's exit status and its fault handler's dump.

        Returns:
            False when ``block`` is off and the child is still running.
        """
        proc = self._child.proc
        if proc.returncode is None:
            try:
                pid, status = os.waitpid(proc.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: status unknown
                pid, status = proc.pid, 0
            if pid == 0:
                return False
            proc.returncode = os.waitstatus_to_exitcode(status)
        self._status = proc.returncode
        self._child.dump.seek(0)
        self._dump_text = self._child.dump.read().decode("utf-8", "replace")
        return True

    def _lost(self, params: list[dict[str, Any]], reverse: list[int] | None, waypoints: Any,
              types: bool) -> Batch:  # fmt: skip
        """The batch whose child was killed or died: the call in flight fails, fatally."""
        view = self._child.view
        j = int(view[CALL]) if view[START] > 0 else -1
        problem = self._death_problem()
        self._drop()
        batch = Batch([None] * len(params), types=[""] * len(params) if types else [],
                      made=max(j + 1, 0))  # fmt: skip
        if j >= 0:
            error = self._error(params[j], reverse, waypoints, j, problem, self._dump_frames(),
                                True)  # fmt: skip
        else:  # between two calls: the step is still the batch's
            error = self._error(params[0], reverse, waypoints, 0, f"{problem}, between two calls",
                                "", True)  # fmt: skip
        batch.failures.append((max(j, 0), error))
        return batch

    def _death_problem(self) -> str:
        """What happened to the child, for the error message."""
        if self._overran:
            return (f"could not be stopped at its limit of {self.timeout:g} s (stuck in C code, or "
                    f"catching or disarming the time-out): after {2.0 * self.timeout + _GRACE:g} s "
                    "racer killed its worker process (the next call gets a new one, with fresh "
                    "module state)")  # fmt: skip
        code = self._status
        if code is not None and code < 0 and -code == signal.SIGKILL:
            why = "it was killed by SIGKILL: the kernel's out-of-memory killer, or another process"
        elif code is not None and code < 0:
            limit = (f", or an allocation past the worker's {self.memory_limit / 2**30:g} GB "
                     "memory_limit" if self.memory_limit else "")  # fmt: skip
            why = (f"it crashed with {signal.Signals(-code).name}: a fault in C code, from a C "
                   f"extension, ctypes, a stack overflow from deep recursion{limit}")  # fmt: skip
        else:
            why = f"it exited with code {code}: os._exit(), or sys.exit() outside the call"
        return f"ended its worker process ({why})"

    def _died_at_start(self) -> str:
        if self._overran:
            limit = 20.0 * self.timeout + _GRACE
            problem = (f"did not finish importing within {limit:g} s and could not be interrupted "
                       "(module-level code stuck in C code, or catching the time-out): racer "
                       "killed its worker process")  # fmt: skip
        else:
            problem = f"{self._death_problem()} while being imported"
        self._drop()
        return f"reward function {self.path} {problem}.\n{self._dump_frames()}".rstrip()

    def _dump_frames(self) -> str:
        """The user's lines from the fault handler's dump: where the call was when it ended."""
        lines = [line.strip() for line in self._dump_text.splitlines()
                 if f'"{self.path}"' in line]  # fmt: skip
        if not lines:
            return ""
        return "where it was (innermost first):\n" + "".join(f"  {line}\n" for line in lines[:8])


def _without_waypoints(params: dict[str, Any]) -> dict[str, Any]:
    """The params to send: the child has the waypoints; a numpy heading pickles slowly."""
    out = dict(params)
    del out["waypoints"]
    out["heading"] = float(out["heading"])
    return out


def _stop_process(proc: subprocess.Popen[bytes], conn: Connection) -> None:
    """Close the pipe (the child exits on its own) and reap the child, killing it if it hangs."""
    conn.close()
    if proc.returncode is not None:
        return
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
