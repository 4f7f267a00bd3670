"""Loading a user's reward file and guarding its calls: every failure names the file."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from racer.errors import RewardFunctionError
from racer.reward.params import params_at_pose
from racer.reward.plugin import RewardFunction, bundled_reward_functions_dir
from racer.track import load_track


@pytest.fixture(scope="module")
def params():
    track = load_track("oval")
    x, y = track.waypoints[3]
    return params_at_pose(track, x, y, 0.0)


def write(tmp_path, body):
    path = tmp_path / "reward.py"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("def reward_function(params)\n    return 1.0\n", "syntax error at line 1"),
        ("x = 1\n", "defines no function named reward_function"),
        ("def reward_function(a, b):\n    return 1.0\n", "exactly one parameter"),
        ("import not_a_module_xyz\n", "ModuleNotFoundError"),
    ],
)
def test_load_errors(tmp_path, body, fragment):
    path = write(tmp_path, body)
    with pytest.raises(RewardFunctionError) as err:
        RewardFunction(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("float('nan')", "nan"),
        ("float('inf')", "inf"),
        ("1e6", "outside the allowed range"),
        ("'1.0x'", "float() cannot convert"),
        ("None", "NoneType"),
    ],
)
def test_bad_return_values(tmp_path, params, value, fragment):
    fn = RewardFunction(write(tmp_path, f"def reward_function(params):\n    return {value}\n"),
                        failure_dir=tmp_path)  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    assert fragment in str(err.value) and "reward.py" in str(err.value)


def test_exception_shows_the_users_line(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "def reward_function(params):\n    return 1 / 0\n"),
                        failure_dir=tmp_path)  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    message = str(err.value)
    assert "ZeroDivisionError" in message and "line 2" in message and "step 2.0" in message


def test_int_and_numpy_results_become_floats(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "import numpy as np\ndef reward_function(p):\n"
                              "    return np.float32(2) if p['steps'] > 1 else 1\n"))  # fmt: skip
    assert fn(params) == 2.0 and type(fn(params)) is float


def test_a_numeric_string_is_read_by_float_as_on_deepracer_and_a_word_fails(tmp_path, params):
    """DeepRacer's ``float()`` reads '1.0' (the README says so); 'fast' names the problem."""
    fn = RewardFunction(write(tmp_path, "def reward_function(p):\n    return '1.0'\n"))
    assert fn(params) == 1.0 and type(fn(params)) is float and fn.last_type is str
    (tmp_path / "word").mkdir()
    word = RewardFunction(write(tmp_path / "word", "def reward_function(p):\n    return 'fast'\n"),
                          failure_dir=tmp_path)  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        word(params)
    assert "'fast'" in str(err.value) and "float() cannot convert" in str(err.value)


def test_a_bool_result_becomes_a_float_as_deepracer_converts_it(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "def reward_function(p):\n    return p['steps'] > 1\n"))
    assert fn(params) == 1.0 and type(fn(params)) is float and fn.last_type is bool


def test_a_runaway_recursion_is_one_short_paragraph(tmp_path, params):
    body = "def f(n):\n    return f(n + 1)\ndef reward_function(p):\n    return f(0)\n"
    fn = RewardFunction(write(tmp_path, body), failure_dir=tmp_path)
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    message = str(err.value)
    assert "raised RecursionError" in message and "line 2, in f" in message and err.value.fatal
    assert "[Previous line repeated" in message and len(message.splitlines()) < 20


def test_module_state_persists_and_pickles_by_path(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "n = 0\ndef reward_function(p):\n    global n\n"
                              "    n += 1\n    return float(n)\n"))  # fmt: skip
    assert [fn(params) for _ in range(3)] == [1.0, 2.0, 3.0]
    clone = pickle.loads(pickle.dumps(fn))
    assert clone(params) == 1.0  # a fresh module: state restarts in a copy


def test_every_bundled_example_returns_a_float(params):
    for path in sorted(bundled_reward_functions_dir().glob("*.py")):
        value = RewardFunction(path)(params)
        assert type(value) is float


def test_each_call_gets_a_fresh_copy(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "def reward_function(p):\n    p['waypoints'].clear()\n"
                              "    p['x'] = None\n    return float(len(p))\n"))  # fmt: skip
    before = (len(params["waypoints"]), params["x"])
    fn(params)
    assert (len(params["waypoints"]), params["x"]) == before


def test_an_endless_loop_is_stopped_and_reported(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "def reward_function(p):\n    while True:\n"
                              "        pass\n"), timeout=0.2, failure_dir=tmp_path)  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    assert "more than its limit of 0.2 s" in str(err.value)


def test_a_loop_that_catches_exceptions_is_still_stopped(tmp_path, params):
    body = "def reward_function(p):\n    while True:\n        try:\n            pass\n" \
           "        except Exception:\n            pass\n"  # fmt: skip
    fn = RewardFunction(write(tmp_path, body), timeout=0.2, failure_dir=tmp_path)
    with pytest.raises(RewardFunctionError, match="limit of 0.2 s"):
        fn(params)


def test_a_slow_call_is_reported(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "import time\ndef reward_function(p):\n"
                              "    time.sleep(0.5)\n    return 1.0\n"),
                        timeout=0.1, failure_dir=tmp_path)  # fmt: skip
    with pytest.raises(RewardFunctionError, match="limit of 0.1 s"):
        fn(params)


def test_no_timer_is_left_armed(tmp_path, params):
    import signal

    fn = RewardFunction(write(tmp_path, "def reward_function(p):\n    return 1.0\n"))
    before = signal.getsignal(signal.SIGALRM)
    assert fn(params) == 1.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before


def test_prints_go_to_the_given_stream(tmp_path, params, capsys):
    import io

    log = io.StringIO()
    body = "print('loaded')\ndef reward_function(p):\n    print('step', p['steps'])\n" \
           "    return 1.0\n"  # fmt: skip
    fn = RewardFunction(write(tmp_path, body), output=log)
    fn(params)
    assert log.getvalue() == "loaded\nstep 2.0\n"
    assert capsys.readouterr().out == ""


def test_a_failure_saves_the_params_for_replay(tmp_path, params):
    from racer.reward.failures import params_from_json

    body = (
        "def reward_function(p):\n    if p['progress'] > 1:\n        return 1 / 0\n    return 1.0\n"
    )
    path = write(tmp_path, body)
    fn = RewardFunction(path, failure_dir=tmp_path / "run")
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    dump = err.value.params_file
    assert dump.parent == tmp_path / "run" and str(dump) in str(err.value)
    assert f"racer validate {path} --params {dump}" in str(err.value)
    saved = json.loads(dump.read_text())
    assert saved["reward_function"] == str(path) and "ZeroDivisionError" in saved["error"]
    replay = params_from_json(saved)
    assert replay == params  # same keys, values and types: the failure reproduces
    assert type(replay["steps"]) is float and type(replay["heading"]) is np.float64
    assert type(replay["waypoints"][0]) is tuple
    with pytest.raises(RewardFunctionError, match="ZeroDivisionError"):
        RewardFunction(path, failure_dir=tmp_path)(replay)


def test_an_unwritable_failure_folder_does_not_hide_the_error(tmp_path, params):
    blocker = tmp_path / "file"
    blocker.write_text("")
    fn = RewardFunction(write(tmp_path, "def reward_function(p):\n    return None\n"),
                        failure_dir=blocker / "sub")  # fmt: skip
    with pytest.raises(RewardFunctionError, match="could not be saved"):
        fn(params)


def test_env_reports_the_step_and_keeps_prints_in_the_log(tmp_path):
    from racer.env.config import EnvConfig
    from racer.env.racer_env import RacerEnv

    body = "def reward_function(p):\n    print('at', p['steps'])\n" \
           "    return 1.0 if p['steps'] < 5 else float('nan')\n"  # fmt: skip
    log = tmp_path / "run" / "reward.log"
    env = RacerEnv(EnvConfig(reward_function=str(write(tmp_path, body)), reward_log=str(log),
                             failure_dir=str(tmp_path / "run")))  # fmt: skip
    env.reset(seed=1)
    with pytest.raises(RewardFunctionError) as err:
        for _ in range(10):
            env.step(2)
    env.close()
    assert "returned nan" in str(err.value) and "at step 5.0" in str(err.value)
    assert log.read_text().splitlines() == [f"at {s}.0" for s in range(2, 6)]
    assert len(list((tmp_path / "run").glob("reward-failure-reward-step5-*.json"))) == 1


def test_a_misspelt_bundled_reward_is_not_called_a_file(tmp_path):
    with pytest.raises(RewardFunctionError) as err:
        RewardFunction("follow_centre_line")
    message = str(err.value)
    assert message.startswith("no bundled reward function or file named 'follow_centre_line'. "
                              "Did you mean 'follow_center_line'?")  # fmt: skip
    assert "reward function file" not in message and "progress_speed" in message
    with pytest.raises(RewardFunctionError) as err:
        RewardFunction("nothing_like_any")
    assert "Did you mean" not in str(err.value)
    write(tmp_path, "def reward_function(p):\n    return 1.0\n")  # reward.py
    typo = r"reward function file .*rewrd\.py does not exist\. Did you mean 'reward\.py'\?"
    with pytest.raises(RewardFunctionError, match=typo):
        RewardFunction(tmp_path / "rewrd.py")
