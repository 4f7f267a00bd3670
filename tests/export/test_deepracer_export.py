"""DeepRacer export: a frozen TF1 graph with DeepRacer's names, run by OpenVINO and the importer.

Every network preset, discrete and continuous PPO and the stereo camera are exported from
untrained policies whose action heads are scaled up (so the argmax varies from frame to frame)
and whose batch norms have statistics unlike the defaults (so folding them is tested); one tiny
trained run goes through ``export_deepracer`` as ``racer export RUN --format deepracer`` will.
The frames are racer's own camera frames and, when ``../shared`` is there, DeepRacer's.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from torch import nn

from racer.env.config import EnvConfig
from racer.env.vec_env import RacerVecEnv
from racer.errors import ExportError
from racer.export.deepracer_export import (
    DeepRacerExport,
    check_deepracer_export,
    export_deepracer_model,
)
from racer.export.deepracer_model import input_name, output_name
from racer.export.graphdef import (
    DataType,
    GraphDef,
    NodeDef,
    TensorShape,
    decode_graph,
    encode_graph,
    read_graph,
)
from racer.formats.model_archive import unpack_model_archive
from racer.formats.model_metadata import load_model_metadata
from racer.train.networks import PRESETS, policy_kwargs
from tests.conftest import SHARED
from tests.export.deepracer_frames import reference_frames
from tests.export.perturb import scaled_weights

METADATA = Path(__file__).resolve().parents[1] / "data" / "model_metadata"
REAL_MODEL = SHARED / "deepracer-models" / "drutils-sample-shallow" / "model.pb"
CAMERA = SHARED / "deepracer-camera"
# Not importorskip: `import openvino` outside racer's wrapper would send OpenVINO's telemetry.
needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None,
    reason="OpenVINO is not installed (pip install 'racer[deepracer]')",
)
CASES = {  # case -> (network preset, model_metadata.json)
    **{preset: (preset, "discrete_five_actions.json") for preset in PRESETS},
    "continuous": ("RACER_FAST", "continuous_ppo.json"),
    "stereo": ("RACER_FAST", "discrete_stereo.json"),
    "sac": ("RACER_FAST", "continuous_sac.json"),
    "lidar": ("RACER_FAST", "discrete_lidar.json"),
    "sac_lidar": ("RACER_FAST", "continuous_sac_lidar.json"),
    "stereo_lidar": ("DEEP_CONVOLUTIONAL_NETWORK", "discrete_stereo_lidar.json"),
}
CAMERA_CASES = [case for case in CASES if "lidar" not in case and "sac" not in case]
"""The PPO cases over one camera: what ``racer train --pretrained MODEL.pb`` reads back."""
GRAPH_OPS = {"Placeholder", "Const", "RealDiv", "Conv2D", "BiasAdd", "Relu", "Tanh", "AvgPool",
             "Reshape", "MatMul", "Softmax", "Identity"}  # fmt: skip


@functools.cache
def _frames(metadata: str) -> Any:
    """(K, 120, 160, C) uint8: racer's camera frames of 2 cars driving at random (K = 122),
    plus DeepRacer's reference frames (7: noise, black, white, 3 real ones) for one camera.

    With a lidar, the env's dict of those frames (no reference frames) and the lidar, every
    other row's lidar replaced by random readings (the cars see little), so that the lidar's
    path through the graph changes the outputs and the comparison sees it.
    """
    env = RacerVecEnv(EnvConfig(model_metadata=str(METADATA / metadata)), 2, seed=0)
    env.action_space.seed(0)
    frames = [env.reset()]
    for _ in range(60):
        frames.append(env.step(np.stack([env.action_space.sample() for _ in range(2)]))[0])
    env.close()
    if isinstance(frames[0], dict):
        merged = {key: np.concatenate([f[key] for f in frames]) for key in frames[0]}
        lidar = next(key for key, value in merged.items() if value.ndim == 2)
        rng = np.random.default_rng(0)
        readings = merged[lidar][::2]
        merged[lidar][::2] = rng.random(readings.shape, dtype=np.float32) * readings.max(initial=1)
        return merged
    if frames[0].shape[-1] == 1 and CAMERA.exists():
        frames.append(reference_frames(CAMERA))
    return np.concatenate(frames)


def _count(frames: Any) -> int:
    return len(next(iter(frames.values()))) if isinstance(frames, dict) else len(frames)


@functools.cache
def _model(case: str) -> Any:
    """An untrained PPO or SAC of the case's preset, its outputs made to vary (module doc)."""
    preset, metadata = CASES[case]
    env = RacerVecEnv(EnvConfig(model_metadata=str(METADATA / metadata)), 1, seed=0)
    lidar, sac = "lidar" in case, "sac" in case
    name = "MultiInputPolicy" if lidar else "CnnPolicy"
    kwargs = policy_kwargs(preset, lidar=lidar, sac=sac)
    if sac:
        model = SAC(name, env, buffer_size=10, policy_kwargs=kwargs, seed=0, device="cpu")
    else:
        model = PPO(name, env, n_steps=8, batch_size=8, policy_kwargs=kwargs, seed=0,
                    device="cpu")  # fmt: skip
    env.close()
    model.policy.set_training_mode(False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for norm in (m for m in model.policy.modules() if isinstance(m, nn.BatchNorm2d)):
            for tensor, low, high in ((norm.running_mean, -0.2, 0.2), (norm.running_var, 0.3, 3.0),
                                      (norm.weight, 0.5, 1.5), (norm.bias, -0.2, 0.2)):  # fmt: skip
                tensor.copy_(low + (high - low) * torch.rand(tensor.shape, generator=generator))
        _spread_head(model, _frames(metadata), generator)
    return model


SPREAD = 0.7
"""The standard deviation of the spread head's logits (or means) over the frames."""


def _spread_head(model: PPO, frames: np.ndarray, generator: torch.Generator) -> None:
    """Give the action head random weights that make its outputs vary over ``frames``.

    SB3's head starts at gain 0.01 (a near-uniform softmax, near-zero means), and an untrained
    network's features differ little between frames. Centred on the frames' mean features and
    scaled so the logits' standard deviation over the frames is `SPREAD`, the head picks
    different actions on different frames, and some continuous means fall outside [-1, 1], so
    the car's clip is compared too. The scaling also magnifies float32 rounding: a trained
    network differs by about 1e-7 (the run's check), these by up to about 3e-6.
    """
    policy = model.policy
    obs, _ = policy.obs_to_tensor(frames)
    if isinstance(model, SAC):
        actor = policy.actor
        latent = actor.latent_pi(actor.extract_features(obs, actor.features_extractor))
        head = actor.mu
    else:
        latent = policy.mlp_extractor.forward_actor(policy.extract_features(obs))
        head = policy.action_net
    weight = torch.randn(head.weight.shape, generator=generator)
    centred = (latent - latent.mean(dim=0)) @ weight.T
    scale = SPREAD / centred.std()
    head.weight.copy_(weight * scale)
    head.bias.copy_(-(latent.mean(dim=0) @ weight.T) * scale)


@functools.cache
def _actions(case: str) -> np.ndarray:
    """The torch policy's deterministic actions on the case's frames (what DeepRacer does)."""
    return _model(case).predict(_frames(CASES[case][1]), deterministic=True)[0]


@functools.cache
def _export(case: str, folder: Path) -> DeepRacerExport:
    return export_deepracer_model(_model(case), folder / case, METADATA / CASES[case][1])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("deepracer")


@pytest.fixture(scope="module", params=list(CASES))
def exported(request, folder):
    case = request.param
    return case, _model(case), _export(case, folder), _frames(CASES[case][1])


# --------------------------------------------------------------------------- the graph
def test_the_graph_has_deepracers_input_output_and_layout(exported):
    case, model, export, _ = exported
    graph = read_graph(export.graph)
    metadata = load_model_metadata(export.metadata, strict=False)
    algorithm = metadata.training_algorithm
    camera = graph.node(input_name(metadata.camera, algorithm))
    assert camera.op == "Placeholder"
    channels = 2 if "stereo" in case else 1
    assert camera.attr == {"dtype": DataType.FLOAT, "shape": TensorShape((-1, 120, 160, channels))}
    index = graph.nodes.index(camera)
    scale = graph.nodes[index + 2]  # the divide by 255 comes first, as in DeepRacer's graphs
    assert scale.op == "RealDiv" and scale.inputs[0] == camera.name
    assert graph.node(scale.inputs[1]).attr["value"] == np.float32(255.0)
    placeholders = [n.name.rsplit("/", 1)[1] for n in graph.nodes if n.op == "Placeholder"]
    assert placeholders == sorted(metadata.sensor)  # the merger's order: the names sorted
    if metadata.lidar is not None:
        lidar = graph.node(input_name(metadata.lidar, algorithm))
        size = next(v for v in _frames(CASES[case][1]).values() if v.ndim == 2).shape[1]
        assert lidar.attr["shape"] == TensorShape((-1, size))
        assert "ConcatV2" in graph.ops()
    head = graph.nodes[-1]
    assert head.name == output_name(algorithm)
    assert head.op == ("Softmax" if metadata.action_space_type == "discrete" else "Identity")
    assert set(graph.ops()) <= GRAPH_OPS | {"MaxPool", "ConcatV2"}
    seen: set[str] = set()
    for node in graph.nodes:  # topological order, unique names, every input defined
        assert node.name not in seen and all(name in seen for name in node.inputs)
        seen.add(node.name)
    convs = [n for n in graph.nodes if n.op == "Conv2D"]
    actor = model.policy.actor if algorithm == "sac" else model.policy.pi_features_extractor
    torch_convs = [m for m in actor.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(torch_convs) >= 2
    for node, conv in zip(convs, torch_convs, strict=True):
        kernel = graph.node(node.inputs[1]).attr["value"]
        assert kernel.shape == (*conv.kernel_size, conv.in_channels, conv.out_channels)  # HWIO
        assert node.attr["data_format"] == b"NHWC" and node.attr["padding"] == b"VALID"
        assert node.attr["strides"] == [1, *conv.stride, 1]
    n_actions = 2 if metadata.action_space_type == "continuous" else metadata.action_space.n
    head_scope = output_name(algorithm).rsplit("/", 1)[0]
    if algorithm == "sac":
        logits = graph.node(f"{head_scope}/policy_mean/kernel").attr["value"]
        assert logits.shape == (256, 2)  # DeepRacer's SAC head: a hidden dense 256 first
    else:
        logits = graph.node(f"{head_scope}/policy_fc/kernel").attr["value"]
        assert logits.shape == (model.policy.features_dim, n_actions)


def test_deepracers_scopes_name_the_shallow_networks_layers(folder):
    graph = read_graph(_export("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", folder).graph)
    names = {node.name for node in graph.nodes}
    network = "main_level/agent/main/online/network_1"
    camera = f"{network}/FRONT_FACING_CAMERA"
    for name in (
        f"{camera}/Conv2d_0/kernel",
        f"{camera}/Conv2d_4/BiasAdd",
        f"{camera}/BatchnormActivationDropout_5_activation",
        f"{camera}/Flatten/flatten/Reshape",
        f"{network}/middleware_fc_embedder/Dense_0/MatMul",
        f"{network}/ppo_head_0/policy_fc/BiasAdd",
    ):
        assert name in names, name


# --------------------------------------------------------------------------- parity
@needs_openvino
def test_openvino_runs_the_archive_as_torch_runs_the_policy(exported, record_property):
    case, model, export, frames = exported
    check = check_deepracer_export(model, export, frames)
    record_property("max_difference", check.max_difference)
    assert check.frames == _count(frames) >= 122
    # float32 rounding, magnified by the spread head (more so behind SAC's hidden layer)
    assert check.max_difference <= 3e-5 and check.agreeing == check.frames, check.summary()
    continuous = isinstance(model.action_space, gym.spaces.Box)
    assert check.output == ("means" if continuous else "softmax")
    if not continuous:  # the spread head makes the frames pick different actions
        assert len(set(_actions(case).tolist())) >= 3
    assert f"on {_count(frames)} frames" in check.summary()


@needs_openvino
def test_racers_importer_drives_the_exported_model(exported):
    case, model, export, frames = exported
    from racer.export.deepracer_model import DeepRacerPolicy

    imported = DeepRacerPolicy(export.graph)  # the archive: the check above loads it so
    images = next(v for v in frames.values() if v.ndim == 4) if isinstance(frames, dict) \
        else frames  # fmt: skip
    assert imported.observation_shape == images.shape[1:]
    actions = imported.predict(frames)
    if isinstance(model.action_space, gym.spaces.Box):
        # PPO: the means clipped to the box; SAC: their tanh, SB3's deterministic action
        assert imported.action_count == 2 and actions.dtype == np.float32
        np.testing.assert_allclose(actions, _actions(case), atol=3e-5)  # as the check above
        assert (np.abs(actions) <= 1).all() and actions.std(axis=0).min() > 0.05
    else:
        assert imported.action_count == model.action_space.n
        np.testing.assert_array_equal(actions, _actions(case))


@needs_openvino
def test_the_check_catches_a_policy_that_changed(folder):
    model = _model("RACER_FAST")
    frames = _frames(CASES["RACER_FAST"][1])
    with scaled_weights(model.policy.features_extractor.layers[0][1], 1.5):
        with pytest.raises(ExportError, match="differs from the torch policy"):
            check_deepracer_export(model, _export("RACER_FAST", folder), frames)


# --------------------------------------------------------------------------- files
def test_the_cars_archive_round_trips_through_unpack_model_archive(folder):
    export = _export("RACER_FAST", folder)
    with tarfile.open(export.archive, "r:gz") as tar:
        members = tar.getmembers()
    assert sorted(m.name for m in members) == ["model.pb", "model_metadata.json"]
    assert all(m.isfile() and m.mode == 0o644 for m in members)
    unpacked = unpack_model_archive(export.archive)
    try:
        here = Path(unpacked.name)
        assert (here / "model.pb").read_bytes() == export.graph.read_bytes()
        assert (here / "model_metadata.json").read_bytes() == (
            METADATA / "discrete_five_actions.json"
        ).read_bytes()
    finally:
        unpacked.cleanup()
    assert export.metadata.read_bytes() == (METADATA / "discrete_five_actions.json").read_bytes()


@needs_openvino
def test_a_trained_run_exports_to_its_model_folder(tmp_path):
    from racer.train.config import TrainConfig
    from racer.train.deepracer_export import export_deepracer
    from racer.train.runs import load_policy
    from racer.train.trainer import train

    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "num_epochs": 1}))
    config = TrainConfig(env=EnvConfig(), hyperparameters=str(hyper), num_envs=2,
                         max_updates=1, minutes=0, eval_episodes=1, lap_check_every=0,
                         steps_per_car=32)  # fmt: skip
    train(config, tmp_path / "run", say=lambda line: None)
    export = export_deepracer(tmp_path / "run", steps=40)
    folder = tmp_path / "run" / "model" / "deepracer"
    assert (export.graph, export.metadata, export.archive) == (
        folder / "model.pb", folder / "model_metadata.json", folder / "model.tar.gz")  # fmt: skip
    assert export.metadata.read_bytes() == (tmp_path / "run/model/model_metadata.json").read_bytes()
    assert export.check is not None and export.check.frames == 40
    assert export.check.agreeing == 40 and export.check.max_difference <= 1e-5
    loaded = load_policy(export.archive)  # what racer evaluate and racer race take
    assert type(loaded.policy).__name__ == "DeepRacerPolicy"
    other = export_deepracer(tmp_path / "run", tmp_path / "elsewhere", checkpoint="last", steps=5)
    assert other.graph == tmp_path / "elsewhere" / "model.pb" and other.check.frames == 5
    from racer.cli import main

    assert main(["export", str(tmp_path / "run"), "--format", "deepracer", "--out",
                 str(tmp_path / "cli")]) == 0  # fmt: skip
    assert (tmp_path / "cli" / "model.tar.gz").exists()


@needs_openvino
@pytest.mark.parametrize("metadata", ["continuous_sac_lidar.json", "discrete_lidar.json"])
def test_a_trained_sac_or_lidar_run_exports_and_its_model_drives(tmp_path, metadata):
    from racer.train.config import TrainConfig
    from racer.train.deepracer_export import export_deepracer
    from racer.train.evaluate import evaluate_laps
    from racer.train.runs import load_policy
    from racer.train.trainer import train

    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "num_epochs": 1,
                                 "batch_size": 32}))  # fmt: skip
    config = TrainConfig(env=EnvConfig(model_metadata=str(METADATA / metadata)),
                         hyperparameters=str(hyper), num_envs=2, max_updates=1, minutes=0,
                         eval_episodes=1, lap_check_every=0, steps_per_car=32)  # fmt: skip
    train(config, tmp_path / "run", say=lambda line: None)
    export = export_deepracer(tmp_path / "run", steps=40)
    assert export.check.frames == 40 and export.check.agreeing == 40
    assert export.check.max_difference <= 1e-4
    loaded = load_policy(export.archive)
    assert loaded.policy.lidar_input_name is not None
    # The imported model drives racer's env (the dict of camera and lidar goes straight in),
    # and, its outputs equal to torch's, on the same course as the run's own policy.
    env = replace(loaded.env, track="oval")
    own = load_policy(tmp_path / "run")
    ours = evaluate_laps(replace(own.env, track="oval"), own.policy, laps=1, max_steps=150,
                         rewards=False)  # fmt: skip
    theirs = evaluate_laps(env, loaded.policy, laps=1, max_steps=150, rewards=False)
    assert (theirs.steps, theirs.off_track, theirs.status) == (
        ours.steps, ours.off_track, ours.status)  # fmt: skip


# --------------------------------------------------------------------------- refusals
def test_a_model_of_another_algorithm_or_sensors_than_its_metadata_is_refused(tmp_path):
    sac = _model("sac")
    refused = r"the run R for DeepRacer: its model_metadata.json says clipped_ppo.*PPO model"
    with pytest.raises(ExportError, match=refused):
        export_deepracer_model(sac, tmp_path, METADATA / "continuous_ppo.json", source="the run R")
    refused = r"the run R for DeepRacer: its model_metadata.json names the lidar SECTOR_LIDAR"
    with pytest.raises(ExportError, match=refused):
        with_lidar = json.loads((METADATA / "discrete_five_actions.json").read_text())
        with_lidar["sensor"] = ["FRONT_FACING_CAMERA", "SECTOR_LIDAR"]
        (tmp_path.parent / "with_lidar.json").write_text(json.dumps(with_lidar))
        export_deepracer_model(_model("RACER_FAST"), tmp_path, tmp_path.parent / "with_lidar.json",
                               source="the run R")  # fmt: skip
    assert not list(tmp_path.iterdir())  # refused before anything is written


def test_layers_the_export_does_not_translate_are_refused(tmp_path):
    model = _model("RACER_FAST")
    layers = model.policy.features_extractor.layers
    saved = layers[0][2]
    layers[0][2] = nn.LeakyReLU()
    try:
        with pytest.raises(ExportError, match="LeakyReLU.*does not translate"):
            export_deepracer_model(model, tmp_path, METADATA / "discrete_five_actions.json")
    finally:
        layers[0][2] = saved
    stereo = json.loads((METADATA / "discrete_five_actions.json").read_text())
    stereo["sensor"] = ["STEREO_CAMERAS"]
    (tmp_path / "stereo.json").write_text(json.dumps(stereo))
    with pytest.raises(ExportError, match="1 channels, which does not fit the sensor STEREO"):
        export_deepracer_model(model, tmp_path / "out", tmp_path / "stereo.json")
    with pytest.raises(ExportError, match="acts in Discrete"):
        export_deepracer_model(model, tmp_path / "out", METADATA / "continuous_ppo.json")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- graphdef
def test_graphdef_round_trips_every_attribute_kind():
    weights = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.5
    attr = {"s": b"NHWC", "n": -3, "f": 0.25, "b": True, "ints": [1, -2, 3], "empty": [],
            "types": [DataType.INT64], "shapes": [TensorShape(None), TensorShape(())],
            "strings": [b"a", b""]}  # fmt: skip
    nodes = [
        NodeDef("x", "Placeholder", [], {"dtype": DataType.FLOAT, "shape": TensorShape((-1, 3))}),
        NodeDef("w", "Const", [], {"dtype": DataType.FLOAT, "value": weights}),
        NodeDef("i", "Const", [], {"dtype": DataType.INT32, "value": np.array([-1, 7], np.int32)}),
        NodeDef("op", "Custom", ["x", "w:0", "^i"], attr, device="/device:CPU:0"),
    ]
    graph = GraphDef(nodes, producer=27)
    back = decode_graph(encode_graph(graph))
    assert back.producer == 27 and [n.name for n in back.nodes] == ["x", "w", "i", "op"]
    np.testing.assert_array_equal(back.node("w").attr["value"], weights)
    assert back.node("i:0").attr["value"].tolist() == [-1, 7]
    op = back.node("op")
    assert op.inputs == ["x", "w:0", "^i"] and op.device == "/device:CPU:0"
    assert op.attr == graph.nodes[3].attr
    with pytest.raises(ExportError, match="not a GraphDef"):
        decode_graph(encode_graph(graph)[:-5])


def test_the_reader_decodes_a_real_deepracer_model_and_writes_it_back(tmp_path):
    if not REAL_MODEL.exists():
        pytest.skip(f"the real DeepRacer files are not at {REAL_MODEL}")
    graph = read_graph(REAL_MODEL)
    assert len(graph.nodes) == 62
    camera = graph.node(input_name("FRONT_FACING_CAMERA"))
    assert camera.op == "Placeholder" and camera.attr["shape"] == TensorShape((-1, 120, 160, 1))
    assert graph.node(output_name()).op == "Softmax"
    kernels = [n.attr["value"].shape for n in graph.nodes if n.name.endswith("/kernel")]
    assert kernels == [(8, 8, 1, 32), (4, 4, 32, 64), (3, 3, 64, 64), (11264, 512), (512, 12)]
    again = decode_graph(encode_graph(graph))
    for a, b in zip(graph.nodes, again.nodes, strict=True):
        assert (a.name, a.op, a.inputs, a.device, a.attr.keys()) == (
            b.name, b.op, b.inputs, b.device, b.attr.keys())  # fmt: skip
    (tmp_path / "m.pb").write_bytes(REAL_MODEL.read_bytes()[:1000])  # a cut copy, in tmp only
    with pytest.raises(ExportError, match="m.pb is not a GraphDef"):
        read_graph(tmp_path / "m.pb")
