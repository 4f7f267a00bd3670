"""ONNX export of camera-and-lidar policies: a Dict observation, one graph input per sensor."""

from __future__ import annotations

import functools
import json
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

from racer.env.config import EnvConfig
from racer.env.vec_env import RacerVecEnv
from racer.errors import ExportError
from racer.export.onnx import check_export, export_onnx
from racer.export.runner import OnnxPolicy
from racer.objects.obstacles import ObstacleConfig
from racer.train.networks import policy_kwargs
from tests.export.perturb import scaled_weights

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "model_metadata"
CAMERA = "FRONT_FACING_CAMERA"
CASES = {
    # case: (model_metadata.json, sensors replacing its own, algorithm, racer's SensorFusion)
    "ppo_discrete": ("discrete_lidar.json", None, PPO, True),
    "ppo_continuous": ("continuous_ppo.json", [CAMERA, "SECTOR_LIDAR"], PPO, False),
    "sac": ("continuous_sac.json", [CAMERA, "LIDAR"], SAC, True),
    "ppo_stereo": ("discrete_stereo_lidar.json", None, PPO, True),
}
"""ppo_continuous uses SB3's own CombinedExtractor; ppo_stereo has a (120, 160, 2) image under
STEREO_CAMERAS, which sorts after its lidar: the graph's inputs follow the Dict's key order."""


@functools.cache
def _build(case: str, folder: Path):
    """An untrained Dict-observation model (its action head scaled up) and recorded observations.

    The recorded lidar readings of a few cars among two boxes are mostly empty, so every other
    row's lidar is replaced by random readings in [0, 1]: the lidar's path through the graph
    changes the actions, and the comparison sees it.
    """
    name, sensors, algorithm, fusion = CASES[case]
    metadata = json.loads((DATA / name).read_text())
    if sensors is not None:
        metadata["sensor"] = sensors
    path = folder / f"{case}.json"
    path.write_text(json.dumps(metadata))
    config = EnvConfig(model_metadata=str(path), obstacles=ObstacleConfig(count=2))
    env = RacerVecEnv(config, 2, seed=0)
    kwargs = (
        policy_kwargs(lidar=True)
        if fusion
        else {"features_extractor_kwargs": {"cnn_output_dim": 32}, "net_arch": []}
    )
    if algorithm is SAC:
        model = SAC("MultiInputPolicy", env, buffer_size=10, policy_kwargs=kwargs, seed=0)
        head = model.policy.actor.mu
    else:
        model = PPO("MultiInputPolicy", env, n_steps=16, batch_size=32, policy_kwargs=kwargs,
                    seed=0)  # fmt: skip
        head = model.policy.action_net
    env.action_space.seed(0)
    steps = [env.reset()]
    for _ in range(10):
        steps.append(env.step(np.stack([env.action_space.sample() for _ in range(2)]))[0])
    env.close()
    observations = {k: np.concatenate([s[k] for s in steps]) for k in steps[0]}
    lidar = _lidar_key(observations)
    rng = np.random.default_rng(0)
    random = rng.random(observations[lidar][::2].shape, dtype=np.float32)
    observations[lidar][::2] = np.where(random > 0.5, random, 0.0)
    _spread(model, head, observations, 1.0 if isinstance(head, torch.nn.Linear) and
            isinstance(model.action_space, gym.spaces.Discrete) else 3.0)  # fmt: skip
    return model, observations


def _spread(model, head, observations, spread: float) -> None:
    """Random head weights, centred on the observations' mean features, whose outputs' standard
    deviation over the observations is ``spread``: the actions vary from row to row (SB3's
    head starts near zero, and an untrained network's features differ little between rows)."""
    policy = model.policy
    obs, _ = policy.obs_to_tensor(observations)
    with torch.no_grad():
        if isinstance(model, SAC):
            actor = policy.actor
            latent = actor.latent_pi(actor.extract_features(obs, actor.features_extractor))
        else:
            latent = policy.mlp_extractor.forward_actor(policy.extract_features(obs))
        weight = torch.randn(head.weight.shape, generator=torch.Generator().manual_seed(0))
        centred = (latent - latent.mean(dim=0)) @ weight.T
        scale = spread / centred.std()
        head.weight.copy_(weight * scale)
        head.bias.copy_(-(latent.mean(dim=0) @ weight.T) * scale)


@functools.cache
def _export(case: str, folder: Path) -> Path:
    model, _ = _build(case, folder)
    return export_onnx(model, folder / f"{case}.onnx")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dict_exports")


@pytest.fixture(scope="module", params=list(CASES))
def exported(request, folder):
    model, observations = _build(request.param, folder)
    return request.param, model, _export(request.param, folder), observations


def _lidar_key(observations: dict[str, np.ndarray]) -> str:
    return next(k for k, v in observations.items() if v.ndim == 2)


# --------------------------------------------------------------------------- parity
def test_check_export_reports_a_small_difference(exported, record_property):
    case, model, path, observations = exported
    diff = check_export(model, path, observations)
    record_property(f"max_abs_diff_{case}", diff)
    count = len(next(iter(observations.values())))
    print(f"\n{case}: max |onnx - torch| = {diff:.3g} over {count} observations")
    assert 0.0 <= diff < 1e-5


def test_onnx_policy_predicts_what_sb3_predicts_from_the_dict(exported):
    case, model, path, observations = exported
    expected, _ = model.predict(observations, deterministic=True)
    policy = OnnxPolicy(path)
    assert policy.dict_observation
    actions = policy.predict(observations)
    if case in ("ppo_discrete", "ppo_stereo"):
        assert actions.dtype == np.int64 and actions.shape == expected.shape
        np.testing.assert_array_equal(actions, expected)
        assert len(np.unique(expected)) > 1, "the test observations should not all give one action"
    else:
        assert actions.dtype == np.float32 and actions.shape == (len(expected), 2)
        np.testing.assert_allclose(actions, expected, atol=1e-5)
        assert actions.min() >= -1.0 and actions.max() <= 1.0


def test_the_lidar_changes_the_actions_in_the_graph(exported):
    _, model, path, observations = exported
    lidar = _lidar_key(observations)
    blind = {k: v.copy() for k, v in observations.items()}
    blind[lidar][:] = 0.0
    policy = OnnxPolicy(path)
    seeing, not_seeing = policy.run(observations), policy.run(blind)
    key = "probabilities" if "probabilities" in seeing else "action"
    assert np.abs(seeing[key][::2] - not_seeing[key][::2]).max() > 1e-3
    expected, _ = model.predict(blind, deterministic=True)
    np.testing.assert_allclose(not_seeing["action"], expected, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 7])
def test_batch_size_is_dynamic(exported, batch):
    _, model, path, observations = exported
    part = {k: v[3 : 3 + batch] for k, v in observations.items()}
    expected, _ = model.predict(part, deterministic=True)
    actions = OnnxPolicy(path).predict(part)
    assert actions.shape[0] == batch
    np.testing.assert_allclose(actions, expected, atol=1e-5)


def test_graph_has_one_input_per_sensor_and_says_so(exported):
    case, _, path, observations = exported
    proto = onnx.load(str(path))
    inputs = {
        i.name: (i.type.tensor_type.elem_type, [d.dim_value for d in i.type.tensor_type.shape.dim])
        for i in proto.graph.input
    }
    assert [i.name for i in proto.graph.input] == sorted(observations)
    assert all(d.dim_param for i in proto.graph.input for d in i.type.tensor_type.shape.dim[:1])
    for name, values in observations.items():
        elem = onnx.TensorProto.UINT8 if values.dtype == np.uint8 else onnx.TensorProto.FLOAT
        assert inputs[name] == (elem, [0, *values.shape[1:]])
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["observation_inputs"]) == sorted(observations)
    assert json.loads(meta["sensor"]) == sorted(observations)
    assert json.loads(meta["observation_shapes"]) == {
        k: list(v.shape[1:]) for k, v in observations.items()
    }
    assert json.loads(meta["observation_dtypes"]) == {
        k: str(v.dtype) for k, v in observations.items()
    }
    image = "STEREO_CAMERAS" if case == "ppo_stereo" else CAMERA
    assert meta["observation_shape"] == json.dumps(list(observations[image].shape[1:]))
    assert meta["observation_layout"] == "NHWC" and meta["racer_onnx_format"] == "1"
    assert meta["algorithm"] == ("SAC" if case == "sac" else "PPO")
    assert OnnxPolicy(path).observation_shape == observations[image].shape[1:]


def test_check_export_catches_a_lidar_embedder_that_changed(folder):
    model, observations = _build("ppo_discrete", folder)
    path = _export("ppo_discrete", folder)
    with scaled_weights(model.policy.features_extractor.lidar[0], -5.0):
        with pytest.raises(ExportError, match="differs from the torch policy|different actions"):
            check_export(model, path, observations)


# --------------------------------------------------------------------------- without torch
def test_runner_takes_the_dict_without_torch_or_sb3(folder, tmp_path):
    path = _export("ppo_discrete", folder)
    _, observations = _build("ppo_discrete", folder)
    np.savez(tmp_path / "obs.npz", **observations)
    np.save(tmp_path / "expected.npy", OnnxPolicy(path).predict(observations))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None
        sys.modules["stable_baselines3"] = None
        import numpy as np
        from racer.export.runner import OnnxPolicy
        with np.load({str(tmp_path / "obs.npz")!r}, allow_pickle=False) as data:
            obs = dict(data)
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
def _with(observations: dict[str, np.ndarray], key: str, value) -> dict:
    return {**observations, key: value}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: o[CAMERA], r"takes a dict of one batch per sensor"),
        (lambda o: {CAMERA: o[CAMERA]}, r"keyed \['FRONT_FACING_CAMERA', 'SECTOR_LIDAR'\]"),
        (lambda o: _with(o, "SECTOR_LIDAR", o["SECTOR_LIDAR"][0]), r"Add the batch axis"),
        (
            lambda o: _with(o, "SECTOR_LIDAR", o["SECTOR_LIDAR"].astype(np.float64)),
            r"SECTOR_LIDAR must be float32",
        ),
        (lambda o: _with(o, CAMERA, o[CAMERA] / 255.0), r"must be uint8"),
        (lambda o: _with(o, CAMERA, o[CAMERA].transpose(0, 3, 1, 2)), r"channel last"),
        (lambda o: _with(o, "SECTOR_LIDAR", o["SECTOR_LIDAR"][:1]), r"the same size"),
        (lambda o: _with(o, "SECTOR_LIDAR", o["SECTOR_LIDAR"].tolist()), r"numpy array"),
    ],
    ids=[
        "array",
        "missing",
        "unbatched",
        "float64",
        "float_image",
        "channel_first",
        "batches",
        "list",
    ],
)
def test_wrong_dict_observations_are_a_clear_error(folder, make, match):
    path = _export("ppo_discrete", folder)
    _, observations = _build("ppo_discrete", folder)
    with pytest.raises(ExportError, match=match):
        OnnxPolicy(path).predict(make({k: v[:2] for k, v in observations.items()}))


def test_a_camera_only_model_refuses_a_dict(folder):
    from tests.export.test_onnx import _build as build_camera_only

    model, frames = build_camera_only("ppo_discrete")
    path = export_onnx(model, folder / "camera_only.onnx")
    assert not OnnxPolicy(path).dict_observation
    with pytest.raises(ExportError, match="camera-only model"):
        OnnxPolicy(path).predict({CAMERA: frames[:2]})


def test_check_export_needs_recorded_observations(folder):
    model, observations = _build("ppo_discrete", folder)
    path = _export("ppo_discrete", folder)
    with pytest.raises(ExportError, match="K >= 1"):
        check_export(model, path, {k: v[:0] for k, v in observations.items()})
