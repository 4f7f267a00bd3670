"""Reward calls in a worker process: same answers as in-process, and what in-process cannot stop.

Every call that could hang runs in a subprocess with a time bound (``timeout=``), so a broken
kill path fails the test instead of hanging the suite.
"""

from __future__ import annotations

import io
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from racer.reward.calls import RewardCalls
from racer.reward.failures import RewardCallError
from racer.reward.params import params_at_poses
from racer.reward.worker import RewardWorker
from racer.track import load_track

DATA = Path(__file__).resolve().parents[1] / "data" / "reward_functions"
BROKEN, CONSOLE = DATA / "broken", DATA / "console"


@pytest.fixture(scope="module")
def track():
    return load_track("oval")


def step_params(track, n, steps=5.0):
    """N cars' params as the core builds them, each at its own place and step count."""
    s = np.linspace(1.0, track.length - 1.0, n)
    x, y = track.lane_point_at(s, np.zeros(n))
    return params_at_poses(track, x, y, np.zeros(n), steps=steps + np.arange(n))


def write(tmp_path, body, name="reward.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


COUNTER = """\
calls = 0
def reward_function(params):
    global calls
    calls += 1
    return float(calls) + params["x"] / 1000.0
"""


def test_calls_in_a_worker_equal_calls_in_process(tmp_path, track):
    path = write(tmp_path, COUNTER)
    n = 4
    params = step_params(track, n)
    waypoints = (track.waypoints, track.reversed().waypoints)
    rewards = {}
    for isolation in ("none", "process"):
        calls = RewardCalls(path, n, timeout=1.0, isolation=isolation)
        out = np.zeros(n)
        for index in ([0, 1, 2, 3], [1, 3], [3]):  # each car its own module: its own count
            calls(params, np.array(index), np.zeros(n, bool), waypoints, out)
        calls.close()
        rewards[isolation] = out
    assert (calls.worker is not None) and np.array_equal(rewards["none"], rewards["process"])
    assert np.array_equal(np.round(rewards["process"]), [1, 2, 1, 3])


def test_a_failing_call_reads_the_same_in_a_worker(tmp_path, track):
    path = write(tmp_path, "def reward_function(params):\n"
                           "    return 1.0 if params['steps'] < 7 else 1 / 0\n")  # fmt: skip
    params = step_params(track, 4)
    waypoints = (track.waypoints, track.reversed().waypoints)
    messages = []
    for isolation in ("none", "process"):
        calls = RewardCalls(path, 4, timeout=1.0, isolation=isolation,
                            failure_dir=str(tmp_path / isolation))  # fmt: skip
        with pytest.raises(RewardCallError) as err:
            calls(params, np.arange(4), np.zeros(4, bool), waypoints, np.zeros(4))
        calls.close()
        assert err.value.params_file.parent == tmp_path / isolation
        messages.append(str(err.value).replace(f"/{isolation}/", "/"))
    assert messages[0].split("saved in")[0] == messages[1].split("saved in")[0]
    assert "ZeroDivisionError" in messages[1] and "line 2" in messages[1]
    assert "at step 7.0" in messages[1]


def test_prints_come_back_to_the_log_and_copies_restart(tmp_path, track):
    path = write(tmp_path, "print('loaded')\n" + COUNTER.replace(
        "    calls += 1\n", "    calls += 1\n    print('call', calls)\n"))  # fmt: skip
    log = io.StringIO()
    worker = RewardWorker(path, 2, output=log)
    assert worker.call([0, 1, 1], step_params(track, 3)).values[2] == pytest.approx(2.0, abs=0.01)
    assert log.getvalue().split() == ["loaded", "loaded", "call", "1", "call", "1", "call", "2"]
    clone = pickle.loads(pickle.dumps(worker))  # by options: a new child, fresh module state
    assert clone.call([1], step_params(track, 1)).values[0] == pytest.approx(1.0, abs=0.01)
    clone.close()
    worker.close()


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("exits_process", "ended its worker process (it exited with code 0"),
        ("segfaults", "ended its worker process (it crashed with SIGSEGV"),
    ],
)
def test_a_worker_that_dies_is_a_failing_call_naming_file_and_step(tmp_path, track, name,
                                                                   fragment):  # fmt: skip
    worker = RewardWorker(BROKEN / f"{name}.py", 3, failure_dir=tmp_path)
    batch = worker.call([0, 1, 2], step_params(track, 3, steps=1.0))  # steps 1, 2, 3: dies at 3
    ((position, error),) = batch.failures
    assert position == 2 and batch.values == [None] * 3 and error.fatal  # its answers are lost
    message = str(error)
    assert fragment in message and str(BROKEN / f"{name}.py") in message
    assert "at step 3.0" in message and error.params_file.parent == tmp_path
    if name == "segfaults":  # the fault handler's dump names the user's line
        assert f'File "{BROKEN / name}.py", line 8 in reward_function' in message
    assert worker.call([0], step_params(track, 1, steps=1.0)).values == [1.0]  # a new worker
    worker.close()


def test_a_leak_stops_at_the_memory_limit_with_a_clear_error(tmp_path, track):
    worker = RewardWorker(BROKEN / "leaks_memory.py", 1, memory_limit=2**29,
                          failure_dir=tmp_path)  # fmt: skip
    batch = worker.call([0] * 200, step_params(track, 200), max_failures=200)
    worker.close()
    ((position, error),) = batch.failures  # fatal: the batch stops there
    assert 5 < position < 60 and batch.made == position + 1
    assert "ran out of memory (MemoryError: past the worker's 0.5 GB memory_limit)" in str(error)


RUN_CALLS = """\
import sys, time
import numpy as np
from racer.reward.calls import RewardCalls
from racer.reward.params import params_at_poses
from racer.track import load_track

track = load_track("oval")
params = params_at_poses(track, [0.5, 1.0], [-2.0, -2.0], [0.0, 0.0], steps=[5.0, 6.0])
calls = RewardCalls(sys.argv[1], 2, timeout=0.2, failure_dir=sys.argv[2], isolation="process")
start = time.perf_counter()
try:
    calls(params, np.arange(2), np.zeros(2, bool), (track.waypoints, track.waypoints), np.zeros(2))
except Exception as exc:
    print(type(exc).__name__, f"after {time.perf_counter() - start:.1f} s:", exc)
calls.close()
"""


@pytest.mark.parametrize("name", ["stuck_in_c", "catches_timeout", "disarms_timer"])
def test_a_hang_the_guard_cannot_stop_is_killed(tmp_path, name):
    path = BROKEN / f"{name}.py"
    run = subprocess.run([sys.executable, "-c", RUN_CALLS, str(path), str(tmp_path)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, run.stderr
    assert out.startswith("RewardCallError") and str(path) in out and "at step 5.0" in out
    assert "could not be stopped at its limit of 0.2 s" in out and "killed its worker" in out
    assert f'File "{path}", line' in out  # where it was stuck, from the fault handler
    assert list(tmp_path.glob(f"reward-failure-{name}-step5-*.json"))


def test_the_sandbox_stops_writes_programs_and_the_network(tmp_path, track):
    path = tmp_path / "probe.py"
    shutil.copyfile(CONSOLE / "probes_the_machine.py", path)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        (tmp_path / "port.txt").write_text(str(server.getsockname()[1]))
        seen = {}
        for sandbox in (False, True):
            log = io.StringIO()
            worker = RewardWorker(path, 1, sandbox=sandbox, output=log)
            assert worker.call([0], step_params(track, 1)).values == [1.0]
            worker.close()
            seen[sandbox] = dict(line.split(": ", 1) for line in log.getvalue().splitlines())
            missing = " ".join(worker.missing)
    assert all(v == "allowed" for v in seen[False].values()), seen
    assert (tmp_path / "written.txt").exists()  # without the sandbox, it wrote
    (tmp_path / "written.txt").unlink()
    sandboxed = seen[True]
    assert sandboxed["read"] == "allowed"  # the sandbox does not stop reading
    if "writes and programs are not restricted" not in missing:
        assert sandboxed["write"].startswith("stopped") and sandboxed["program"].startswith("stop")
        assert not (tmp_path / "written.txt").exists()
    if "network stays reachable" not in missing:
        assert sandboxed["network"].startswith("stopped")


def test_a_closed_workers_healthy_child_serves_the_next_one_of_that_file(tmp_path, track):
    path, other = write(tmp_path, COUNTER), write(tmp_path, COUNTER, "other.py")
    first = RewardWorker(path, 2)
    pid = first._child.proc.pid
    first.call([0, 1], step_params(track, 2))
    first.close()
    second = RewardWorker(path, 3)  # the same process, the file imported afresh
    assert second._child.proc.pid == pid
    assert second.call([2], step_params(track, 1)).values[0] == pytest.approx(1.0, abs=0.01)
    third = RewardWorker(other, 1)  # another file: another process
    assert third._child.proc.pid != pid
    for worker in (second, third):
        worker.close()
    hung = RewardWorker(BROKEN / "recursion.py", 1, failure_dir=tmp_path)
    pid = hung._child.proc.pid
    assert hung.call([0], step_params(track, 1)).failures[0][1].fatal
    hung.close()  # after a fatal failure the child is not kept
    again = RewardWorker(BROKEN / "recursion.py", 1, failure_dir=tmp_path)
    assert again._child.proc.pid != pid
    again.close()
