"""ONNX export of SB3 policies: parity with torch, the graph's contract, the torch-free runner."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnx
import pytest
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from racer.env.config import EnvConfig
from racer.env.vec_env import RacerVecEnv
from racer.errors import ExportError
from racer.export.onnx import _check_argmax, check_export, export_onnx
from racer.export.runner import OnnxPolicy
from racer.formats.model_metadata import load_model_metadata
from tests.export.perturb import scaled_weights

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CONTINUOUS_JSON = DATA / "model_metadata" / "continuous_ppo.json"
OBS_SHAPE = (120, 160, 1)
SMALL_CNN = {"features_extractor_kwargs": {"features_dim": 32}}  # fast to build, same layers


class PooledCnn(BaseFeaturesExtractor):
    """A custom extractor unlike NatureCNN: pooling, batch norm, two convolutions."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 16) -> None:
        super().__init__(observation_space, features_dim)
        self.convs = nn.Sequential(
            nn.AvgPool2d(2),
            nn.Conv2d(observation_space.shape[0], 8, 5, stride=3),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.convs(torch.zeros((1, *observation_space.shape))).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.Tanh())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(observations))


def _env(continuous: bool) -> RacerVecEnv:
    config = EnvConfig(model_metadata=str(CONTINUOUS_JSON) if continuous else "")
    return RacerVecEnv(config, 2, seed=0)


def _record(env: RacerVecEnv, steps: int = 10) -> np.ndarray:
    """(2 * (steps + 1), 120, 160, 1) uint8 frames from driving the env with seeded actions."""
    env.action_space.seed(0)
    frames = [env.reset()]
    for _ in range(steps):
        actions = np.stack([env.action_space.sample() for _ in range(env.num_envs)])
        frames.append(env.step(actions)[0])
    return np.concatenate(frames)


@functools.cache
def _build(case: str):
    """An untrained model whose action head is scaled up, so actions differ between frames.

    SB3 initialises the action head with gain 0.01, which makes an untrained policy nearly
    uniform (discrete) or nearly zero (continuous). Scaled up, the argmax varies with the frame
    and some of PPO's continuous means fall outside [-1, 1], so the export's clip is tested.
    """
    continuous = case != "ppo_discrete" and case != "ppo_custom"
    env = _env(continuous)
    if case == "sac":
        model = SAC("CnnPolicy", env, buffer_size=10, policy_kwargs=SMALL_CNN, seed=0)
        head = model.policy.actor.mu
    else:
        kwargs = dict(SMALL_CNN)
        if case == "ppo_custom":
            kwargs = {"features_extractor_class": PooledCnn, "net_arch": []}
        model = PPO("CnnPolicy", env, n_steps=16, batch_size=32, policy_kwargs=kwargs, seed=0)
        head = model.policy.action_net
        if case == "ppo_custom":  # batch norm statistics unlike the defaults: eval mode matters
            bn = model.policy.features_extractor.convs[2]
            bn.running_mean.fill_(0.3)
            bn.running_var.fill_(0.05)
    with torch.no_grad():
        head.weight.mul_(100.0 if not continuous else 400.0)
    observations = _record(env)
    env.close()
    return model, observations


CASES = ["ppo_discrete", "ppo_continuous", "sac", "ppo_custom"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


@functools.cache
def _export(case: str, folder: Path) -> Path:
    model, _ = _build(case)
    return export_onnx(model, folder / f"{case}.onnx")


@pytest.fixture(scope="module", params=CASES)
def exported(request, export_dir):
    model, observations = _build(request.param)
    return request.param, model, _export(request.param, export_dir), observations


# --------------------------------------------------------------------------- parity
def test_check_export_reports_a_small_difference(exported, record_property):
    case, model, path, observations = exported
    diff = check_export(model, path, observations)
    record_property(f"max_abs_diff_{case}", diff)
    print(f"\n{case}: max |onnx - torch| = {diff:.3g} over {len(observations)} frames")
    assert 0.0 <= diff < 1e-5


def test_onnx_policy_predicts_what_sb3_predicts(exported):
    case, model, path, observations = exported
    expected, _ = model.predict(observations, deterministic=True)
    actions = OnnxPolicy(path).predict(observations)
    if case in ("ppo_discrete", "ppo_custom"):
        assert actions.dtype == np.int64 and actions.shape == (len(observations),)
        np.testing.assert_array_equal(actions, expected)
        assert len(np.unique(expected)) > 1, "the test frames should not all give one action"
    else:
        assert actions.dtype == np.float32 and actions.shape == (len(observations), 2)
        np.testing.assert_allclose(actions, expected, atol=1e-5)
        assert actions.min() >= -1.0 and actions.max() <= 1.0
        assert np.ptp(expected, axis=0).min() > 1e-3, "the test frames should give varied actions"
        if case == "ppo_continuous":  # some means lie outside the box: the clip is exercised
            assert 0 < np.sum(np.abs(expected) == 1.0) < expected.size


@pytest.mark.parametrize("batch", [1, 7])
def test_batch_size_is_dynamic(exported, batch):
    _, model, path, observations = exported
    frames = observations[3 : 3 + batch]
    expected, _ = model.predict(frames, deterministic=True)
    actions = OnnxPolicy(path).predict(frames)
    assert actions.shape[0] == batch
    np.testing.assert_allclose(actions, expected, atol=1e-5)


def test_graph_takes_the_env_observation_and_says_what_it_is(exported):
    case, _, path, _ = exported
    proto = onnx.load(str(path))
    (node,) = proto.graph.input
    dims = node.type.tensor_type.shape.dim
    assert node.name == "observation"
    assert node.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == list(OBS_SHAPE)
    outputs = {o.name: o.type.tensor_type.elem_type for o in proto.graph.output}
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["observation_layout"] == "NHWC" and meta["observation_shape"] == "[120, 160, 1]"
    assert meta["racer_version"] and meta["racer_onnx_format"] == "1"
    if case in ("ppo_discrete", "ppo_custom"):
        assert outputs == {
            "action": onnx.TensorProto.INT64,
            "probabilities": onnx.TensorProto.FLOAT,
        }
        assert meta["action_space_type"] == "discrete" and meta["action_count"] == "8"
    else:
        assert outputs == {"action": onnx.TensorProto.FLOAT}
        assert meta["action_space_type"] == "continuous"
        assert meta["algorithm"] == ("SAC" if case == "sac" else "PPO")


def test_check_export_catches_a_policy_that_changed(exported):
    case, model, path, observations = exported
    head = model.policy.actor.mu if case == "sac" else model.policy.action_net
    with scaled_weights(head, -1.0):
        with pytest.raises(ExportError, match="differs from the torch policy|different actions"):
            check_export(model, path, observations)


# --------------------------------------------------------------------------- without torch
def test_runner_works_without_torch_or_sb3(exported, tmp_path):
    """racer evaluate runs exported models where torch and SB3 cannot be imported."""
    _, model, path, observations = exported
    np.save(tmp_path / "obs.npy", observations)
    np.save(tmp_path / "expected.npy", OnnxPolicy(path).predict(observations))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        sys.modules["stable_baselines3"] = None
        import numpy as np
        from racer.export.runner import OnnxPolicy
        obs = np.load({str(tmp_path / "obs.npy")!r}, allow_pickle=False)
        expected = np.load({str(tmp_path / "expected.npy")!r}, allow_pickle=False)
        actions = OnnxPolicy({str(path)!r}).predict(obs)
        assert np.array_equal(actions, expected), (actions, expected)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "stable_baselines3"))
        assert all(sys.modules[m] is None for m in loaded), loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# --------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def discrete_export(export_dir):
    return _export("ppo_discrete", export_dir), _build("ppo_discrete")[1]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        OnnxPolicy(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [b"", b"not a model at all", "truncated"])
def test_corrupt_file_is_a_clear_error(tmp_path, discrete_export, content):
    path, _ = discrete_export
    if content == "truncated":
        content = path.read_bytes()[: path.stat().st_size // 2]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(ExportError, match="not a valid ONNX model"):
        OnnxPolicy(bad)


def test_an_onnx_model_that_is_not_a_policy_is_refused(tmp_path):
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(onnx.helper.make_model(graph), tmp_path / "relu.onnx")
    with pytest.raises(ExportError, match="not a racer policy"):
        OnnxPolicy(tmp_path / "relu.onnx")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: o[0], r"Add the batch axis"),
        (lambda o: o.transpose(0, 3, 1, 2), r"channel last"),
        (lambda o: o[:, :, :80], r"must have shape \('B', 120, 160, 1\)"),
        (lambda o: o.astype(np.float32) / 255.0, "must be uint8"),
        (lambda o: o.tolist(), "numpy array"),
    ],
    ids=["unbatched", "channel_first", "cropped", "float", "list"],
)
def test_wrong_observations_are_a_clear_error(discrete_export, make, match):
    path, observations = discrete_export
    with pytest.raises(ExportError, match=match):
        OnnxPolicy(path).predict(make(observations[:2]))


def test_threads_can_be_chosen(discrete_export):
    path, observations = discrete_export
    single = OnnxPolicy(path).predict(observations)
    np.testing.assert_array_equal(OnnxPolicy(path, num_threads=2).predict(observations), single)
    np.testing.assert_array_equal(OnnxPolicy(path, num_threads=None).predict(observations), single)
    with pytest.raises(ExportError, match="num_threads"):
        OnnxPolicy(path, num_threads=0)


def test_export_replaces_the_file_atomically(tmp_path, discrete_export, monkeypatch):
    model, _ = _build("ppo_discrete")
    target = tmp_path / "policy.onnx"
    target.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise RuntimeError("tracing failed")

    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(ExportError, match="could not export"):
        export_onnx(model, target)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    monkeypatch.undo()
    export_onnx(model, target)
    assert OnnxPolicy(target).action_space_type == "discrete"
    assert sorted(tmp_path.iterdir()) == [target]


def test_action_space_metadata_travels_with_the_model(tmp_path):
    model, observations = _build("ppo_continuous")
    action_space = load_model_metadata(CONTINUOUS_JSON).action_space
    path = export_onnx(model, tmp_path / "p.onnx", action_space=action_space)
    meta = OnnxPolicy(path).metadata
    assert meta["action_space"] == (
        '{"steering_angle": {"low": -30.0, "high": 30.0}, "speed": {"low": 1.0, "high": 2.0}}'
    )
    discrete_model, _ = _build("ppo_discrete")
    with pytest.raises(ExportError, match="does not fit"):
        export_onnx(discrete_model, tmp_path / "q.onnx", action_space=action_space)


def test_unsupported_models_are_refused(tmp_path):
    with pytest.raises(ExportError, match="Expected a stable-baselines3 model"):
        export_onnx(object(), tmp_path / "p.onnx")  # type: ignore[arg-type]


def test_an_argmax_tie_is_not_a_mismatch():
    probs = np.array([[0.4, 0.4 + 1e-7, 0.2], [0.5, 0.3, 0.2]], dtype=np.float32)
    _check_argmax(np.array([0, 0]), np.array([1, 0]), probs, "p.onnx")  # a tie: either is right
    with pytest.raises(ExportError, match="different actions"):
        _check_argmax(np.array([0, 1]), np.array([1, 0]), probs, "p.onnx")


def test_the_package_exports_its_api_lazily():
    import racer.export

    assert racer.export.OnnxPolicy is OnnxPolicy and racer.export.export_onnx is export_onnx
    with pytest.raises(AttributeError):
        racer.export.nothing  # noqa: B018


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_the_onnx_file_has_the_mode_of_every_other_file(tmp_path, umask, mode):
    """0666 less the umask, as open() gives (model_metadata.json, the logs), not mkstemp's 0600."""
    import os

    model, _ = _build("ppo_discrete")
    old = os.umask(umask)
    try:
        path = export_onnx(model, tmp_path / "model" / "policy.onnx")
        other = tmp_path / "model" / "model_metadata.json"
        other.write_text("{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode == other.stat().st_mode & 0o777
    assert {p.name for p in path.parent.iterdir()} == {"policy.onnx", "model_metadata.json"}
