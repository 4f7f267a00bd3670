"""Tests for racer.physics.actions: action decoding and model_metadata.json parsing."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.formats.model_metadata import (
    DEFAULT_MODEL_METADATA,
    LidarConfig,
    ModelMetadata,
    load_model_metadata,
    parse_model_metadata,
)
from racer.physics.actions import ContinuousActionSpace, DiscreteActionSpace, action_log_value
from tests.conftest import DEEPRACER_LOGS

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "model_metadata"
REAL_MODEL_DIR = DEEPRACER_LOGS / "drfc-reinvent-base" / "model"
REAL_METADATA = REAL_MODEL_DIR / "model_metadata.json"

needs_real_logs = pytest.mark.skipif(
    not REAL_METADATA.is_file(),
    reason=f"real DeepRacer sample logs not found at {REAL_MODEL_DIR} (they are never copied "
    "into the repo; check out ../shared next to the repo to run this test)",
)


def _outputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(n), np.empty(n), np.empty(n)


def _write(tmp_path: Path, data: Any, name: str = "model_metadata.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _discrete(n: int = 3, speed: float = 1.0) -> list[dict[str, Any]]:
    return [
        {"steering_angle": -30.0 + 60.0 * i / max(n - 1, 1), "speed": speed, "index": i}
        for i in range(n)
    ]


def _continuous(steer=(-30.0, 30.0), speed=(1.0, 2.0)) -> dict[str, Any]:
    return {
        "steering_angle": {"low": steer[0], "high": steer[1]},
        "speed": {"low": speed[0], "high": speed[1]},
    }


# ---------------------------------------------------------------------------------------------
# The real DeepRacer file


@needs_real_logs
def test_real_drfc_metadata_parses_exactly():
    metadata = load_model_metadata(REAL_METADATA)
    space = metadata.action_space
    assert isinstance(space, DiscreteActionSpace)
    assert space.n == 14
    assert space.steering_angle_deg == tuple(float(a) for a in range(-30, 31, 10) for _ in (1, 2))
    assert space.speed == (1.0, 2.0) * 7
    assert space.default_action_index == 6
    assert space.steering_angle_deg[6] == 0.0
    assert metadata.action_space_type == "discrete"
    assert metadata.sensor == ("FRONT_FACING_CAMERA",)
    assert metadata.camera == "FRONT_FACING_CAMERA"
    assert metadata.lidar is None
    assert metadata.neural_network == "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    assert metadata.training_algorithm == "clipped_ppo"
    assert metadata.version == "4"
    assert metadata.simapp_version == 4.0
    assert metadata.lidar_config is None
    assert metadata.effective_lidar_config == LidarConfig(8, 8, 2.0)


@needs_real_logs
def test_real_drfc_metadata_round_trips_to_the_same_json():
    original = json.loads(REAL_METADATA.read_text())
    assert load_model_metadata(REAL_METADATA).to_json_dict() == original


# ---------------------------------------------------------------------------------------------
# Discrete decoding


def test_discrete_decode_is_batched_and_exact():
    space = DiscreteActionSpace((-30.0, -15.0, 0.0, 15.0, 30.0), (1.0, 1.5, 2.0, 2.5, 3.0))
    actions = np.array([0, 4, 2, 2, 1, 3], dtype=np.int64)
    steering, speed, steering_deg = _outputs(len(actions))
    space.decode(actions, steering, speed, steering_deg)
    assert steering_deg.tolist() == [-30.0, 30.0, 0.0, 0.0, -15.0, 15.0]
    assert speed.tolist() == [1.0, 3.0, 2.0, 2.0, 1.5, 2.5]
    np.testing.assert_allclose(steering, np.radians(steering_deg), rtol=0, atol=1e-15)
    assert steering[0] == space.steering[0] == -math.pi / 6


def test_discrete_properties():
    space = DiscreteActionSpace((10.0, 0.0, -10.0, 0.0), (1.0, 2.0, 3.0, 4.0))
    assert space.n == 4
    assert space.default_action_index == 1
    assert space.action_space_type == "discrete"
    assert space.steering.dtype == np.float64 and space.steering.shape == (4,)
    with pytest.raises(ValueError):
        space.steering[0] = 1.0
    assert DiscreteActionSpace((10.0, -10.0), (1.0, 1.0)).default_action_index == 0


def test_discrete_decode_accepts_empty_batch_and_other_int_dtypes():
    space = DEFAULT_MODEL_METADATA.action_space
    space.decode(np.empty(0, dtype=np.int64), *_outputs(0))
    steering, speed, steering_deg = _outputs(2)
    space.decode(np.array([1, 7], dtype=np.uint8), steering, speed, steering_deg)
    assert steering_deg.tolist() == [-15.0, 15.0]


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.array([0, 8]), r"\[0, 8\)"),
        (np.array([-1, 0]), r"\[0, 8\)"),
        (np.array([0.0, 1.0]), "integer"),
        (np.array([[0], [1]]), "shape"),
        ([0, 1], "shape"),
    ],
)
def test_discrete_decode_rejects_bad_actions(actions, match):
    with pytest.raises(ValueError, match=match):
        DEFAULT_MODEL_METADATA.action_space.decode(actions, *_outputs(2))


@pytest.mark.parametrize(
    "outputs",
    [
        (np.empty(3), np.empty(2), np.empty(2)),
        (np.empty(2, dtype=np.float32), np.empty(2), np.empty(2)),
        (np.empty(2), [0.0, 0.0], np.empty(2)),
    ],
)
def test_decode_rejects_bad_outputs(outputs):
    with pytest.raises(ValueError, match="float64 arrays of shape"):
        DEFAULT_MODEL_METADATA.action_space.decode(np.array([0, 1]), *outputs)


# ---------------------------------------------------------------------------------------------
# Continuous decoding


def test_continuous_decode_clips_and_pins_bounds_exactly():
    space = ContinuousActionSpace(-20.0, 25.0, 0.5, 3.5)
    actions = np.array(
        [[-1.0, -1.0], [1.0, 1.0], [-7.0, 3.0], [5.0, -np.inf], [0.0, 0.0], [0.5, -0.5]]
    )
    steering, speed, steering_deg = _outputs(len(actions))
    space.decode(actions, steering, speed, steering_deg)
    assert steering_deg[:4].tolist() == [-20.0, 25.0, -20.0, 25.0]
    assert speed[:4].tolist() == [0.5, 3.5, 3.5, 0.5]
    np.testing.assert_allclose(steering_deg[4:], [2.5, 13.75], rtol=0, atol=1e-12)
    np.testing.assert_allclose(speed[4:], [2.0, 1.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(steering, np.radians(steering_deg), rtol=0, atol=1e-15)


def test_continuous_decode_hits_awkward_bounds_bit_exactly():
    rng = np.random.default_rng(0)
    lows = rng.uniform(-30.0, 0.0, 50)
    highs = rng.uniform(0.01, 30.0, 50)
    box = np.array([[-1.0, -1.0], [1.0, 1.0], [-2.0, 2.0]], dtype=np.float32)
    for low, high in zip(lows, highs, strict=True):
        space = ContinuousActionSpace(low, high, low / 10 + 3.1, high / 10 + 3.1)
        steering, speed, steering_deg = _outputs(3)
        space.decode(box, steering, speed, steering_deg)
        assert steering_deg.tolist() == [low, high, low]
        assert speed.tolist() == [space.speed_low, space.speed_high, space.speed_high]


def test_continuous_decode_is_monotone_and_within_bounds():
    space = ContinuousActionSpace(-30.0, 30.0, 1.0, 2.0)
    box = np.linspace(-1.5, 1.5, 1001)
    actions = np.stack([box, box], axis=1)
    steering, speed, steering_deg = _outputs(len(box))
    space.decode(actions, steering, speed, steering_deg)
    assert np.all(np.diff(steering_deg) >= 0) and np.all(np.diff(speed) >= 0)
    assert steering_deg.min() == -30.0 and steering_deg.max() == 30.0
    assert speed.min() == 1.0 and speed.max() == 2.0
    assert space.shape == (2,) and space.action_space_type == "continuous"


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([[0, 1]]), "float"),
        (np.array([0.0, 1.0]), "shape"),
        (np.array([[0.0, 1.0, 2.0]]), "shape"),
    ],
)
def test_continuous_decode_rejects_bad_actions(actions, match):
    space = ContinuousActionSpace(-30.0, 30.0, 1.0, 2.0)
    with pytest.raises(ValueError, match=match):
        space.decode(actions, *_outputs(len(actions)))


@pytest.mark.parametrize(
    ("space", "actions"),
    [
        (DEFAULT_MODEL_METADATA.action_space, np.arange(100_000) % 8),
        (ContinuousActionSpace(-30.0, 30.0, 1.0, 2.0), np.zeros((100_000, 2))),
        (ContinuousActionSpace(-30.0, 30.0, 1.0, 2.0), np.zeros((100_000, 2), dtype=np.float32)),
    ],
)
def test_decode_does_not_allocate_per_car(space, actions):
    outputs = _outputs(len(actions))
    space.decode(actions, *outputs)  # warm up any lazy numpy state
    tracemalloc.start()
    try:
        space.decode(actions, *outputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One (N,) float64 temporary would be 800 kB; numpy's fixed float32->float64 casting buffer
    # (about 35 kB, whatever N) is the only allocation allowed.
    assert peak < 64_000, f"decode allocated {peak} bytes for 100,000 cars"


# ---------------------------------------------------------------------------------------------
# Fixture files, defaults and round trips


def test_discrete_minimal_fills_in_defaults():
    metadata = load_model_metadata(DATA / "discrete_minimal.json")
    assert metadata.action_space == DiscreteActionSpace((-30.0, 30.0), (1.0, 1.0))
    assert isinstance(metadata.action_space.steering_angle_deg[0], float)
    assert metadata.action_space_type == "discrete"
    assert metadata.sensor == ("FRONT_FACING_CAMERA",)
    assert metadata.neural_network == "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    assert metadata.training_algorithm == "clipped_ppo"
    assert metadata.version == "1"  # DeepRacer's default when the file has no sensor key
    assert metadata.lidar_config is None


def test_continuous_sac_is_case_insensitive_and_keeps_version_as_string():
    metadata = load_model_metadata(DATA / "continuous_sac.json")
    assert metadata.action_space == ContinuousActionSpace(-20.0, 25.0, 0.5, 3.5)
    assert metadata.action_space_type == "continuous"
    assert metadata.training_algorithm == "sac"
    assert metadata.version == "4"


def test_stereo_lidar_fixture_and_unknown_top_level_keys_ignored():
    metadata = load_model_metadata(DATA / "discrete_stereo_lidar.json")
    assert metadata.camera == "STEREO_CAMERAS"
    assert metadata.lidar == "DISCRETIZED_SECTOR_LIDAR"
    assert metadata.lidar_config == LidarConfig(16, 4, 1.5)
    assert metadata.effective_lidar_config == LidarConfig(16, 4, 1.5)
    assert metadata.version == "5.0"
    assert metadata.action_space.default_action_index == 1
    assert "preprocess_type" not in metadata.to_json_dict()


def test_discrete_five_actions_matches_spec_example():
    metadata = load_model_metadata(DATA / "discrete_five_actions.json")
    assert metadata.action_space.steering_angle_deg == (-30.0, -15.0, 0.0, 15.0, 30.0)
    assert metadata.action_space.default_action_index == 2
    assert metadata.to_json_dict() == json.loads((DATA / "discrete_five_actions.json").read_text())


def test_continuous_ppo_fixture_round_trips_exactly():
    path = DATA / "continuous_ppo.json"
    assert load_model_metadata(path).to_json_dict() == json.loads(path.read_text())


VALID_FIXTURES = sorted(p.name for p in DATA.glob("*.json") if not p.name.startswith("invalid"))


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_fixtures_round_trip_through_json(name, tmp_path):
    metadata = load_model_metadata(DATA / name)
    path = _write(tmp_path, json.dumps(metadata.to_json_dict(), indent=4))
    again = load_model_metadata(path)
    assert again == metadata
    assert again.to_json_dict() == metadata.to_json_dict()


def test_default_model_metadata_is_console_valid_and_round_trips():
    metadata = DEFAULT_MODEL_METADATA
    space = metadata.action_space
    assert isinstance(space, DiscreteActionSpace)
    assert 2 <= space.n <= 30
    assert space.default_action_index == 2
    assert metadata.version == "5"
    assert metadata.training_algorithm == "clipped_ppo"
    assert metadata.sensor == ("FRONT_FACING_CAMERA",)
    assert parse_model_metadata(metadata.to_json_dict(), strict=True) == metadata


def test_dict_action_space_without_type_is_continuous():
    metadata = parse_model_metadata({"action_space": _continuous()})
    assert metadata.action_space_type == "continuous"
    assert parse_model_metadata({"action_space": _discrete()}).action_space_type == "discrete"


def test_null_optional_keys_take_defaults():
    data = {"action_space": _discrete(), "sensor": None, "neural_network": None}
    metadata = parse_model_metadata(data)
    assert metadata.sensor == ("FRONT_FACING_CAMERA",)
    assert metadata.neural_network == "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"


def test_lidar_config_missing_keys_take_defaults():
    data = {"action_space": _discrete(), "lidar_config": {"num_sectors": 64}}
    assert parse_model_metadata(data).lidar_config == LidarConfig(64, 8, 2.0)


def test_dataclasses_are_frozen_hashable_and_picklable():
    metadata = DEFAULT_MODEL_METADATA
    with pytest.raises(dataclasses.FrozenInstanceError):
        metadata.version = "6"  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(metadata))
    assert again == metadata and hash(again) == hash(metadata)
    np.testing.assert_array_equal(again.action_space.steering, metadata.action_space.steering)
    faster = dataclasses.replace(metadata.action_space, speed=(3.0,) * 8)
    assert (
        faster.speed[0] == 3.0
        and faster.steering_angle_deg == metadata.action_space.steering_angle_deg
    )


# ---------------------------------------------------------------------------------------------
# The simtrace action column


def test_action_log_value():
    discrete = DEFAULT_MODEL_METADATA.action_space
    assert action_log_value(discrete, np.int64(3), 15.0, 1.0) == 3
    assert type(action_log_value(discrete, np.int64(3), 15.0, 1.0)) is int
    continuous = ContinuousActionSpace(-30.0, 30.0, 1.0, 2.0)
    assert action_log_value(continuous, 0, -12.5, 1.8) == "[-12.5 1.8]"
    assert action_log_value(continuous, 0, np.float64(30.0), np.float64(2.0)) == "[30.0 2.0]"


# ---------------------------------------------------------------------------------------------
# Validation errors: every message names the file, the key and the value


def _assert_config_error(tmp_path: Path, data: Any, *fragments: str, strict: bool = True) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_model_metadata(path, strict=strict)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message
    return message


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope" / "model_metadata.json"
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_model_metadata(path)
    assert str(path) in str(info.value)


def test_invalid_json_reports_line_and_column(tmp_path):
    text = '{\n  "action_space": [\n    {"steering_angle": 0.0, "speed": 1.0,}\n  ]\n}\n'
    _assert_config_error(tmp_path, text, "not valid JSON", "line 3, column")


def test_top_level_must_be_an_object(tmp_path):
    _assert_config_error(tmp_path, "[1, 2]", "top level", "JSON object", "list")


def test_action_space_missing(tmp_path):
    _assert_config_error(tmp_path, {"sensor": ["FRONT_FACING_CAMERA"]}, "action_space is missing")


def test_invalid_sac_discrete_fixture():
    path = DATA / "invalid_sac_discrete.json"
    with pytest.raises(ConfigError) as info:
        load_model_metadata(path)
    message = str(info.value)
    assert str(path) in message and "training_algorithm" in message and "'sac'" in message
    assert "continuous" in message


BASE = {"action_space": _discrete(), "sensor": ["FRONT_FACING_CAMERA"], "version": "5"}


def _with(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def _entries_with(i: int, **changes: Any) -> list[dict[str, Any]]:
    entries = _discrete(4)
    entries[i] = {**entries[i], **changes}
    return entries


ERROR_CASES = {
    # action_space / action_space_type
    "type unknown": (_with(action_space_type="diagonal"), ["action_space_type", "'diagonal'"]),
    "type not a string": (_with(action_space_type=1), ["action_space_type", "1"]),
    "dict but discrete": (
        _with(action_space=_continuous(), action_space_type="discrete"),
        ["action_space_type", "action_space is an object", "'discrete'", '"continuous"'],
    ),
    "list but continuous": (
        _with(action_space_type="CONTINUOUS"),
        ["action_space_type", "action_space is a list", "'CONTINUOUS'"],
    ),
    "action_space a string": (_with(action_space="big"), ["action_space", "'big'"]),
    # discrete entries
    "entry not an object": (_with(action_space=[*_discrete(2), 5]), ["action_space[2]", "5"]),
    "steering missing": (
        _with(action_space=[*_discrete(2), {"speed": 1.0}]),
        ["action_space[2].steering_angle is missing"],
    ),
    "speed bool": (_with(action_space=_entries_with(1, speed=True)), ["action_space[1].speed"]),
    "speed string": (
        _with(action_space=_entries_with(3, speed="fast")),
        ["action_space[3].speed", "'fast'", "finite number"],
    ),
    "speed NaN": (_with(action_space=_entries_with(0, speed=math.nan)), ["action_space[0].speed"]),
    "index mismatch": (
        _with(action_space=_entries_with(2, index=5)),
        ["action_space[2].index", "5", "position in the list, 2"],
    ),
    "index bool": (_with(action_space=_entries_with(1, index=True)), ["action_space[1].index"]),
    "one action": (
        _with(action_space=_discrete(1)),
        ["action_space", "2..30", "got 1.", "--simulator-limits"],
    ),
    "31 actions": (_with(action_space=_discrete(31)), ["action_space", "2..30", "got 31."]),
    "speed above console": (
        _with(action_space=_entries_with(3, speed=5.0)),
        ["action_space[3].speed", "5.0", "0.1..4 m/s", "racer train and racer drive take "
         "--simulator-limits"],
    ),
    "speed below console": (
        _with(action_space=_entries_with(0, speed=0.05)),
        ["action_space[0].speed", "0.05", "0.1..4 m/s"],
    ),
    "steering beyond console": (
        _with(action_space=_entries_with(1, steering_angle=-45)),
        ["action_space[1].steering_angle", "-45", "-30..30 deg"],
    ),
    # continuous
    "continuous speed missing": (
        _with(action_space={"steering_angle": {"low": -30, "high": 30}}),
        ["action_space.speed", "low", "high"],
    ),
    "continuous high missing": (
        _with(action_space={**_continuous(), "speed": {"low": 1.0}}),
        ["action_space.speed.high is missing"],
    ),
    "continuous low string": (
        _with(action_space=_continuous(steer=("-30", 30.0))),
        ["action_space.steering_angle.low", "'-30'"],
    ),
    "continuous low >= high": (
        _with(action_space=_continuous(speed=(2.0, 1.0))),
        ["action_space.speed must", "low < high", "'low': 2.0", "'high': 1.0"],
    ),
    "continuous speed below console": (
        _with(action_space=_continuous(speed=(0.2, 2.0))),
        ["action_space.speed.low", "0.2", "0.5..4 m/s"],
    ),
    "continuous speed above console": (
        _with(action_space=_continuous(speed=(1.0, 4.5))),
        ["action_space.speed.high", "4.5", "0.5..4 m/s"],
    ),
    "continuous steering low positive": (
        _with(action_space=_continuous(steer=(5.0, 30.0))),
        ["action_space.steering_angle.low", "5.0", "-30..0 deg"],
    ),
    "continuous steering high negative": (
        _with(action_space=_continuous(steer=(-30.0, -5.0))),
        ["action_space.steering_angle.high", "-5.0", "0..30 deg"],
    ),
    "continuous steering high beyond": (
        _with(action_space=_continuous(steer=(-30.0, 40.0))),
        ["action_space.steering_angle.high", "40.0", "0..30 deg"],
    ),
    # training_algorithm
    "algorithm unknown": (_with(training_algorithm="ppo"), ["training_algorithm", "'ppo'", "sac"]),
    "sac with discrete": (
        _with(training_algorithm="sac"),
        ["training_algorithm", "'sac'", "continuous"],
    ),
    # sensor
    "sensor unknown": (
        _with(sensor=["FRONT_FACING_CAMERA", "RADAR"]),
        ["sensor", "'RADAR'", "LEFT_CAMERA", "SECTOR_LIDAR"],
    ),
    "sensor not a list": (_with(sensor="FRONT_FACING_CAMERA"), ["sensor", "list"]),
    "two cameras": (
        _with(sensor=["FRONT_FACING_CAMERA", "LEFT_CAMERA"]),
        ["sensor", "exactly one camera", "LEFT_CAMERA"],
    ),
    "no camera": (_with(sensor=["LIDAR"]), ["sensor", "exactly one camera", "'LIDAR'"]),
    "empty sensor": (_with(sensor=[]), ["sensor", "exactly one camera", "[]"]),
    "two lidars": (
        _with(sensor=["FRONT_FACING_CAMERA", "LIDAR", "SECTOR_LIDAR"]),
        ["sensor", "at most one lidar"],
    ),
    # neural_network
    "network unknown": (
        _with(neural_network="RESNET"),
        ["neural_network", "'RESNET'", "DEEP_CONVOLUTIONAL_NETWORK_DEEP"],
    ),
    # version
    "version text": (_with(version="latest"), ["version", "'latest'"]),
    "version bool": (_with(version=True), ["version", "True"]),
    "version list": (_with(version=[5]), ["version", "[5]"]),
    "version zero": (_with(version=0), ["version", ">= 1"]),
    # lidar_config
    "lidar sectors": (
        _with(lidar_config={"num_sectors": 3}),
        ["lidar_config.num_sectors", "3", "64"],
    ),
    "lidar sectors float": (
        _with(lidar_config={"num_sectors": 8.0}),
        ["lidar_config.num_sectors", "8.0"],
    ),
    "lidar values zero": (
        _with(lidar_config={"num_values_per_sector": 0}),
        ["lidar_config.num_values_per_sector", "0", ">= 1"],
    ),
    "lidar values float": (
        _with(lidar_config={"num_values_per_sector": 2.5}),
        ["lidar_config.num_values_per_sector", "2.5"],
    ),
    "lidar clipping too far": (
        _with(lidar_config={"clipping_dist": 20}),
        ["lidar_config.clipping_dist", "20", "0.15..12 m"],
    ),
    "lidar unknown key": (
        _with(lidar_config={"num_sector": 8}),
        ["lidar_config", "num_sector", "num_values_per_sector"],
    ),
    "lidar not an object": (_with(lidar_config=[8, 8, 2.0]), ["lidar_config", "[8, 8, 2.0]"]),
}


@pytest.mark.parametrize(("data", "fragments"), ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_validation_errors_name_file_key_and_value(tmp_path, data, fragments):
    _assert_config_error(tmp_path, data, *fragments)


def test_base_case_is_valid():
    assert parse_model_metadata(BASE).action_space.n == 3


def test_parse_uses_source_in_messages():
    with pytest.raises(ConfigError, match=r"^models/a/model_metadata.json: neural_network"):
        parse_model_metadata(_with(neural_network="X"), source="models/a/model_metadata.json")


# ---------------------------------------------------------------------------------------------
# strict=False: the simulator's view


NON_STRICT_ONLY = [
    "one action",
    "31 actions",
    "speed above console",
    "speed below console",
    "steering beyond console",
    "continuous speed below console",
    "continuous speed above console",
    "continuous steering low positive",
    "continuous steering high negative",
    "continuous steering high beyond",
]


@pytest.mark.parametrize("case", NON_STRICT_ONLY)
def test_console_limits_are_waived_with_strict_false(case, tmp_path):
    data, _ = ERROR_CASES[case]
    metadata = load_model_metadata(_write(tmp_path, data), strict=False)
    assert metadata.to_json_dict()["action_space"] == data["action_space"]


def test_non_strict_keeps_raw_values_for_params():
    data = _with(action_space=_entries_with(1, steering_angle=-45, speed=5.5))
    space = parse_model_metadata(data, strict=False).action_space
    steering, speed, steering_deg = _outputs(1)
    space.decode(np.array([1]), steering, speed, steering_deg)
    assert steering_deg[0] == -45.0 and speed[0] == 5.5


@pytest.mark.parametrize(
    "case",
    [
        "speed NaN",
        "speed string",
        "index mismatch",
        "continuous low >= high",
        "sac with discrete",
        "two cameras",
        "lidar sectors",
    ],
)
def test_structural_errors_remain_with_strict_false(case, tmp_path):
    data, fragments = ERROR_CASES[case]
    _assert_config_error(tmp_path, data, *fragments, strict=False)


def test_empty_action_list_fails_even_with_strict_false(tmp_path):
    _assert_config_error(tmp_path, _with(action_space=[]), "action_space", "got 0.", strict=False)


# ---------------------------------------------------------------------------------------------
# Direct construction validates too


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: DiscreteActionSpace((), ()), "non-empty"),
        (lambda: DiscreteActionSpace((0.0, 1.0), (1.0,)), "equal length"),
        (lambda: DiscreteActionSpace((0.0, math.inf), (1.0, 1.0)), "steering_angle_deg[1]"),
        (
            lambda: ContinuousActionSpace(30.0, -30.0, 1.0, 2.0),
            "steering must be an interval with low < high",
        ),
        (lambda: ContinuousActionSpace(-30.0, 30.0, True, 2.0), "speed_low"),
        (lambda: LidarConfig(num_sectors=3), "num_sectors"),
        (lambda: LidarConfig(clipping_dist=0.1), "clipping_dist"),
        (
            lambda: ModelMetadata(DEFAULT_MODEL_METADATA.action_space, training_algorithm="sac"),
            "training_algorithm",
        ),
        (lambda: ModelMetadata(DEFAULT_MODEL_METADATA.action_space, sensor=()), "sensor"),
        (lambda: ModelMetadata({"steering_angle": 0}), "action_space"),
        (lambda: ModelMetadata(DEFAULT_MODEL_METADATA.action_space, lidar_config={}), "lidar"),
    ],
)
def test_direct_construction_is_validated(build, fragment):
    with pytest.raises(ConfigError) as info:
        build()
    assert fragment in str(info.value)


def test_model_metadata_normalises_fields():
    metadata = ModelMetadata(
        ContinuousActionSpace(-30, 30, 1, 2),
        sensor=["LEFT_CAMERA", "LIDAR"],  # type: ignore[arg-type]
        training_algorithm="SAC",
        version=5,  # type: ignore[arg-type]
    )
    assert metadata.sensor == ("LEFT_CAMERA", "LIDAR")
    assert metadata.training_algorithm == "sac"
    assert metadata.version == "5"
    assert metadata.action_space.steering_low_deg == -30.0
    assert isinstance(metadata.action_space.speed_high, float)


@pytest.mark.parametrize(
    "space, missing",
    [({}, "action_space.steering_angle"),
     ({"steering_angle": {"low": -30.0, "high": 30.0}}, "action_space.speed")],
)  # fmt: skip
def test_an_empty_continuous_space_names_what_is_missing(space, missing):
    """An absent bound object is named as missing, never printed as the internal sentinel."""
    with pytest.raises(ConfigError) as info:
        parse_model_metadata({"action_space": space, "action_space_type": "continuous"})
    message = str(info.value)
    assert f"{missing} is missing" in message and '"low"' in message
    assert "object at 0x" not in message
