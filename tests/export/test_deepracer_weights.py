"""Reading a DeepRacer frozen graph back into a racer policy (``racer train --pretrained``).

Every exported case of ``test_deepracer_export`` (each network preset, continuous, stereo) is
read back into a fresh policy of its preset: the loaded policy's action probabilities or means
equal the original's on the same frames. The real DeepRacer model loads into the shallow preset
and computes what OpenVINO computes on its graph. Graphs that are not a plain chain of supported
layers are refused with an ExportError that names the file and the layer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticCnnPolicy, MultiInputActorCriticPolicy
from stable_baselines3.sac.policies import SACPolicy

from racer.errors import ExportError
from racer.export.deepracer_layers import read_policy_layers
from racer.export.deepracer_model import input_name, output_name
from racer.export.deepracer_weights import load_graph_weights, matches
from racer.export.graphdef import read_graph
from racer.formats.model_metadata import load_model_metadata
from racer.train.networks import PRESETS, policy_kwargs
from tests.export.test_deepracer_export import (
    CAMERA_CASES,
    CASES,
    REAL_MODEL,
    _export,
    _frames,
    _model,
    folder,  # noqa: F401 (the module fixture the exports go to)
    needs_openvino,
)

FRONT = input_name("FRONT_FACING_CAMERA")


def _outputs(policy, frames) -> np.ndarray:
    """Probabilities (discrete) or means (continuous) of ``policy`` for (K, H, W, C) frames
    (or the env's dict of those and a lidar)."""
    policy.set_training_mode(False)
    if isinstance(frames, dict):  # SB3 keeps the images channel first, as VecTransposeImage
        frames = {k: v.transpose(0, 3, 1, 2) if v.ndim == 4 else v for k, v in frames.items()}
    else:
        frames = frames.transpose(0, 3, 1, 2)
    obs, _ = policy.obs_to_tensor(frames)
    with torch.no_grad():
        if isinstance(policy, SACPolicy):
            return policy.actor.get_action_dist_params(obs)[0].numpy()
        distribution = policy.get_distribution(obs).distribution
    probs = getattr(distribution, "probs", None)
    return (probs if probs is not None else distribution.mean).numpy()


def _fresh(preset: str, observation_space, action_space, sac: bool = False):
    lidar = isinstance(observation_space, spaces.Dict)
    policy_class = (SACPolicy if sac else
                    MultiInputActorCriticPolicy if lidar else ActorCriticCnnPolicy)  # fmt: skip
    return policy_class(observation_space, action_space, lambda _: 0.0,
                        **policy_kwargs(preset, lidar=lidar, sac=sac))  # fmt: skip


def _layers(path, sensor="FRONT_FACING_CAMERA", algorithm="clipped_ppo", lidar=None):
    return read_policy_layers(read_graph(path), input_name(sensor, algorithm),
                              output_name(algorithm), path,
                              input_name(lidar, algorithm) if lidar else None)  # fmt: skip


@pytest.mark.parametrize("case", [*CAMERA_CASES, "sac", "lidar", "sac_lidar", "stereo_lidar"])
def test_an_exported_graph_loads_back_into_its_preset(case, folder):  # noqa: F811
    preset, metadata = CASES[case]
    original = _model(case).policy
    export = _export(case, folder)
    parsed = load_model_metadata(export.metadata, strict=False)
    sac = parsed.training_algorithm == "sac"
    layers = _layers(export.graph, parsed.camera, parsed.training_algorithm, parsed.lidar)
    assert layers.scale == pytest.approx(1 / 255) and layers.offset == 0.0
    assert len(layers.branches) == (2 if parsed.lidar else 0)
    spaces_ = (original.observation_space, original.action_space)
    policy = _fresh(preset, *spaces_, sac=sac)
    assert matches(policy, layers)
    others = [p for p in PRESETS if p != preset]
    assert not any(matches(_fresh(p, *spaces_, sac=sac), layers) for p in others)
    if case == "continuous":  # a PPO graph is not a SAC policy's (no hidden layer)
        assert not matches(_fresh(preset, *spaces_, sac=True), layers)
    load_graph_weights(policy, layers, str(export.graph))
    frames = _frames(metadata)
    want, got = _outputs(original, frames), _outputs(policy, frames)
    assert np.abs(got - want).max() < 1e-5


def test_the_real_model_loads_into_the_shallow_preset_as_openvino_runs_it():
    if not REAL_MODEL.exists():
        pytest.skip(f"{REAL_MODEL} is not there")
    layers = _layers(REAL_MODEL)
    assert layers.describe() == ("conv 32@8x8/4, relu, conv 64@4x4/2, relu, conv 64@3x3/1, relu, "
                                 "flatten, dense 512, relu, dense 12")  # fmt: skip
    assert layers.output == "Softmax" and layers.input_shape == (120, 160, 1)
    observation_space = spaces.Box(0, 255, (1, 120, 160), np.uint8)
    actions = spaces.Discrete(12)
    fits = [p for p in PRESETS if matches(_fresh(p, observation_space, actions), layers)]
    assert fits == ["DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"]
    policy = _fresh(fits[0], observation_space, spaces.Discrete(12))
    load_graph_weights(policy, layers, str(REAL_MODEL))
    frames = np.random.default_rng(0).integers(0, 256, (16, 120, 160, 1), dtype=np.uint8)
    got = _outputs(policy, frames)
    assert got.shape == (16, 12) and np.allclose(got.sum(axis=1), 1.0, atol=1e-5)
    # Against the graph itself, the layers a hand-rolled NHWC numpy forward pass computes:
    x = frames.astype(np.float64) * layers.scale + layers.offset
    for layer in layers.layers:
        x = _numpy_layer(x, layer)
    softmax = np.exp(x - x.max(axis=1, keepdims=True))
    assert np.abs(got - softmax / softmax.sum(axis=1, keepdims=True)).max() < 1e-5


@needs_openvino
def test_the_real_model_loaded_into_torch_equals_openvino():
    if not REAL_MODEL.exists():
        pytest.skip(f"{REAL_MODEL} is not there")
    from racer.export.deepracer_model import DeepRacerPolicy

    observation_space = spaces.Box(0, 255, (1, 120, 160), np.uint8)
    policy = _fresh("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", observation_space, spaces.Discrete(12))
    load_graph_weights(policy, _layers(REAL_MODEL), str(REAL_MODEL))
    frames = np.random.default_rng(1).integers(0, 256, (16, 120, 160, 1), dtype=np.uint8)
    graph = DeepRacerPolicy(REAL_MODEL).probabilities(frames)
    got = _outputs(policy, frames)
    assert np.abs(got - graph).max() < 1e-5
    assert (got.argmax(axis=1) == graph.argmax(axis=1)).all()


def _numpy_layer(x: np.ndarray, layer: tuple) -> np.ndarray:
    """One layer of `read_policy_layers`' list on NHWC (or flat) float64 data."""
    kind = layer[0]
    if kind == "conv":
        kernel, bias, stride = layer[1], layer[2], layer[3]
        kh, kw = kernel.shape[:2]
        windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
        windows = windows[:, ::stride, ::stride]  # (N, H', W', C, kh, kw)
        return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias
    if kind == "act":
        return np.maximum(x, 0.0) if layer[1] == "Relu" else np.tanh(x)
    if kind == "flatten":  # torch's (C, H, W) order: the dense weights were permuted to it
        return x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    assert kind == "dense"
    return x @ layer[1].T + layer[2]


def test_the_policy_must_be_the_graphs_network():
    if not REAL_MODEL.exists():
        pytest.skip(f"{REAL_MODEL} is not there")
    layers = _layers(REAL_MODEL)
    fast = _fresh("RACER_FAST", spaces.Box(0, 255, (1, 120, 160), np.uint8), spaces.Discrete(12))
    with pytest.raises(ExportError, match=r"conv 32@8x8/4.*avgpool 4/4.*must match.*--network"):
        load_graph_weights(fast, layers, str(REAL_MODEL))
    other_actions = _fresh("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
                           spaces.Box(0, 255, (1, 120, 160), np.uint8), spaces.Discrete(5))
    assert not matches(other_actions, layers)


def test_graphs_with_layers_racer_does_not_read_are_refused(tmp_path):
    if not REAL_MODEL.exists():
        pytest.skip(f"{REAL_MODEL} is not there")
    from racer.export.graphdef import encode_graph

    def edited(change) -> tuple:
        graph = read_graph(REAL_MODEL)
        nodes = [change(node) for node in graph.nodes]
        path = tmp_path / "edited.pb"
        path.write_bytes(encode_graph(dataclasses.replace(graph, nodes=nodes)))
        return path

    def same_padding(node):
        if node.op == "Conv2D":
            node.attr["padding"] = b"SAME"
        return node

    path = edited(same_padding)
    with pytest.raises(ExportError, match=r"edited\.pb: its policy network has the Conv2D .*"
                                          r"padding b'SAME'"):  # fmt: skip
        _layers(path)

    def elu(node):
        if node.op == "Relu":
            node.op = "Elu"
        return node

    with pytest.raises(ExportError, match=r"edited\.pb: .*the op Elu"):
        _layers(edited(elu))
    with pytest.raises(ExportError, match="no policy output"):
        read_policy_layers(read_graph(REAL_MODEL), FRONT, "nothing/policy", REAL_MODEL)
    with pytest.raises(ExportError, match=r"computed from .*FRONT_FACING_CAMERA alone, not from"):
        read_policy_layers(read_graph(REAL_MODEL), "other/input", output_name(), REAL_MODEL)
