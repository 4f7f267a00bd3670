"""The worker process's side of `racer.reward.worker`: import the modules, answer the batches.

The child runs `serve` after `racer.reward.sandbox` has applied its limits. It imports each
"load" message's reward file once per car, then answers "call" messages until the next "load"
(a pooled child serving a new worker) or the end of its pipe. Around each call it writes the
slot page the parent watches: which call of the batch is running, since when, and its limit.
"""

from __future__ import annotations

import io
import mmap
import os
import pickle
import time
from multiprocessing.connection import Connection
from typing import Any

from racer.errors import RewardFunctionError
from racer.reward.failures import RewardCallError
from racer.reward.plugin import OUT_OF_MEMORY

#: Slot fields (float64): the call in flight (its position in the batch), its start
#: (``time.monotonic()``, 0 between calls) and its limit [s].
CALL, START, LIMIT = 0, 1, 2
PROTOCOL = pickle.HIGHEST_PROTOCOL


def serve(options: dict[str, Any], missing: list[str]) -> None:
    """The child's loop: import the modules of each "load", answer batches, until EOF."""
    import faulthandler

    from racer.reward.sandbox import forbid_new_processes

    conn_fd, slot_fd, dump_fd = options["fds"]
    conn = Connection(conn_fd)
    faulthandler.enable(file=os.fdopen(dump_fd, "w"))
    view = memoryview(mmap.mmap(slot_fd, mmap.PAGESIZE)).cast("d")
    message = _receive_message(conn)
    first = True
    while message is not None:  # one reward file per pass
        functions, reply = _load(message, view)
        if first and options["sandbox"]:
            missing = missing + forbid_new_processes()
        first = False
        conn.send_bytes(pickle.dumps(reply if functions is None else ("ready", missing, reply[2]),
                                     PROTOCOL))  # fmt: skip
        message = _serve_file(conn, functions or [], view, options["memory_limit"])


def _receive_message(conn: Connection) -> tuple[Any, ...] | None:
    try:
        return pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return None


def _load(message: tuple[Any, ...], view: memoryview) -> tuple[list[Any] | None, tuple[Any, ...]]:
    """Import one module per car: (the functions, the reply); (None, an error reply) on failure."""
    import gc

    from racer.reward.plugin import RewardFunction

    _, path, num_cars, timeout = message
    gc.collect()  # the previous load's modules, and what they held
    printed = io.StringIO()
    functions = []
    try:
        for _ in range(num_cars):
            view[LIMIT], view[START] = 10.0 * timeout, time.monotonic()
            functions.append(RewardFunction(path, timeout=timeout, output=printed,
                                            save_failures=False))  # fmt: skip
            view[START] = 0.0
    except RewardFunctionError as exc:
        view[START] = 0.0
        return None, ("error", str(exc), printed.getvalue())
    return functions, ("ready", [], printed.getvalue())


def _serve_file(conn: Connection, functions: list[Any], view: memoryview,
                memory: int) -> tuple[Any, ...] | None:  # fmt: skip
    """Answer batches for one file's modules; returns the next "load" message, or None at EOF."""
    from racer.reward.plugin import guarded_calls

    printed = io.StringIO()
    waypoints: list[Any] = []
    timeout = functions[0].timeout if functions else 0.0
    # One guard per file: arming it per batch costs two sigaction calls (~35 us here); the
    # watchdog ticks every timeout / 4 and ignores the time between calls.
    with guarded_calls(timeout, printed):
        while True:
            message = _receive_message(conn)
            if message is None or message[0] == "load":
                return message
            if message[0] == "waypoints":
                waypoints = message[1]
                continue
            printed.seek(0)
            printed.truncate()
            reply = _run_batch(functions, message, waypoints, view, memory)
            conn.send_bytes(pickle.dumps((*reply, printed.getvalue()), PROTOCOL))


def _run_batch(
    functions: list[Any], message: tuple[Any, ...], waypoints: list[Any], view: memoryview,
    memory: int,
) -> tuple[list[Any], list[Any], list[str]]:  # fmt: skip
    """The child's answer to one batch: values, failures (position, problem, frames, fatal)."""
    import numpy as np

    _, cars, params, reverse, max_failures, want_types = message
    values: list[float | None] = [None] * len(cars)
    types = [""] * len(cars) if want_types else []
    failed = []
    view[LIMIT] = functions[0].timeout
    for j, car in enumerate(cars):
        p = params[j]
        if waypoints and reverse is not None:
            p["waypoints"] = waypoints[reverse[j]]  # the function gets a copy, as in-process
            p["heading"] = np.float64(p["heading"])  # sent as a float: 15 us less per message
        view[CALL], view[START] = j, time.monotonic()
        try:
            values[j] = functions[car](p)
        except RewardCallError as exc:
            problem = exc.problem
            if problem == OUT_OF_MEMORY and memory:
                problem = problem.replace("(MemoryError)", f"(MemoryError: past the worker's "
                                          f"{memory / 2**30:g} GB memory_limit)")  # fmt: skip
            failed.append((j, problem, exc.frames, exc.fatal))
            if exc.fatal or len(failed) >= max_failures:
                break
            continue
        finally:
            view[START] = 0.0
        if want_types:
            types[j] = functions[car].last_type.__name__
    return values, failed, types
