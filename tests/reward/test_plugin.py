"""Loading a user's reward file and guarding its calls: every failure names the file."""

from __future__ import annotations

import pickle

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
        ("True", "a bool"),
    ],
)
def test_bad_return_values(tmp_path, params, value, fragment):
    fn = RewardFunction(write(tmp_path, f"def reward_function(params):\n    return {value}\n"))
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    assert fragment in str(err.value) and "reward.py" in str(err.value)


def test_exception_shows_the_users_line(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "def reward_function(params):\n    return 1 / 0\n"))
    with pytest.raises(RewardFunctionError) as err:
        fn(params)
    message = str(err.value)
    assert "ZeroDivisionError" in message and "line 2" in message and "step 2.0" in message


def test_int_and_numpy_results_become_floats(tmp_path, params):
    fn = RewardFunction(write(tmp_path, "import numpy as np\ndef reward_function(p):\n"
                              "    return np.float32(2) if p['steps'] > 1 else 1\n"))  # fmt: skip
    assert fn(params) == 2.0 and type(fn(params)) is float


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
