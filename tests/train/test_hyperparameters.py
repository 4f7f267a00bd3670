"""DeepRacer's hyperparameters.json: defaults, checks with clear errors, the file written back."""

from __future__ import annotations

import json

import pytest

from racer.errors import ConfigError
from racer.train.hyperparameters import (
    DEEPRACER_DEFAULTS,
    RACER_DEFAULTS,
    load_hyperparameters,
    parse_hyperparameters,
)
from tests.conftest import DEEPRACER_LOGS

DRFC_HYPER = DEEPRACER_LOGS / "drfc-reinvent-base/ip/hyperparameters.json"


def test_deepracer_defaults_are_the_simulators():
    d = DEEPRACER_DEFAULTS
    assert (d.batch_size, d.beta_entropy, d.discount_factor, d.lr) == (64, 0.01, 0.999, 0.0003)
    assert (d.num_episodes_between_training, d.num_epochs, d.loss_type) == (
        20, 10, "mean squared error")  # fmt: skip
    assert not d.huber and not RACER_DEFAULTS.huber


def test_the_real_drfc_file_loads():
    if not DRFC_HYPER.exists():
        pytest.skip(f"the real DeepRacer logs are not at {DEEPRACER_LOGS}")
    h = load_hyperparameters(DRFC_HYPER)
    data = json.loads(DRFC_HYPER.read_text())
    for key, value in data.items():
        assert getattr(h, key) == value, key


def test_absent_keys_take_the_base_and_strings_are_numbers():
    h = parse_hyperparameters({"lr": "0.001", "batch_size": 128.0}, base=DEEPRACER_DEFAULTS)
    assert h.lr == 0.001 and h.batch_size == 128 and type(h.batch_size) is int
    assert h.num_epochs == DEEPRACER_DEFAULTS.num_epochs


def test_round_trip_through_the_file(tmp_path):
    path = tmp_path / "hyperparameters.json"
    path.write_text(RACER_DEFAULTS.to_json())
    assert load_hyperparameters(path) == RACER_DEFAULTS
    assert list(json.loads(path.read_text())) == sorted(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"learning_rate": 0.1}, "unknown key(s) learning_rate"),
        ({"lr": 0}, "lr: must be within 1e-08 to 0.001 (the DeepRacer console's limits)"),
        ({"lr": 1.0}, "lr: must be within 1e-08 to 0.001"),
        ({"lr": 2e-3}, "got 0.002"),
        ({"batch_size": 1e9}, "batch_size: must be one of 32, 64, 128, 256, 512"),
        ({"batch_size": 100}, "(the DeepRacer console's choices), got 100"),
        ({"beta_entropy": 2}, "beta_entropy: must be within [0, 1]"),
        ({"sac_alpha": -0.1}, "sac_alpha: must be within [0, 1]"),
        ({"e_greedy_value": "nan"}, "e_greedy_value: must be within [0, 1]"),
        ({"batch_size": 64.5}, "batch_size must be a whole number"),
        ({"batch_size": True}, "batch_size must be a number"),
        ({"discount_factor": 1.5}, "discount_factor: must be within [0, 1]"),
        ({"loss_type": "l1"}, "loss_type: must be one of"),
        ({"num_epochs": 0}, "num_epochs: must be >= 1"),
        ({"beta_entropy": "lots"}, "beta_entropy must be a number"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_bad_values_name_the_key_and_file(data, fragment):
    with pytest.raises(ConfigError) as err:
        parse_hyperparameters(data, "my/hyperparameters.json")
    assert fragment in str(err.value) and "my/hyperparameters.json" in str(err.value)


@pytest.mark.parametrize(
    "data",
    [{"lr": 1e-8}, {"lr": 1e-3}, {"batch_size": 32}, {"batch_size": 512}, {"beta_entropy": 1},
     {"discount_factor": 0}, {"sac_alpha": 0}],
)  # fmt: skip
def test_the_consoles_limits_are_accepted(data):
    key, value = next(iter(data.items()))
    assert getattr(parse_hyperparameters(data), key) == value


def test_bad_json_and_missing_file(tmp_path):
    path = tmp_path / "h.json"
    path.write_text('{"lr": 0.001,\n "batch_size": }')
    with pytest.raises(ConfigError, match="not valid JSON: .* line 2"):
        load_hyperparameters(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_hyperparameters(tmp_path / "nope.json")
