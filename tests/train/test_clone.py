"""``racer train --pretrained``: a run cloned from a DeepRacer model (its frozen graph).

The shared real model (DeepRacer's shallow network, 12 actions) gives the run its
model_metadata.json and network; the run's first policy is the graph's, and one update moves it
only a little. Models racer cannot clone from are refused before any run folder exists, with a
paragraph that names the file and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from racer.cli import main
from racer.env.config import EnvConfig, load_metadata
from racer.errors import ConfigError, ExportError
from racer.export.graphdef import encode_graph, read_graph
from racer.train.clone import clone_config, pretrained_weights
from racer.train.config import TrainConfig
from racer.train.trainer import train
from tests.conftest import SHARED
from tests.train.test_trainer import quick

MODEL_DIR = SHARED / "deepracer-models" / "drutils-sample-shallow"
MODEL = MODEL_DIR / "model.pb"
SHALLOW = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is not there")


def test_a_deepracer_model_gives_the_run_its_metadata_and_network():
    config = clone_config(TrainConfig(), MODEL)
    assert config.env.model_metadata == str(MODEL_DIR / "model_metadata.json")
    assert config.network == SHALLOW
    assert load_metadata(config.env).action_space.n == 12
    # What the user set stays; a racer run folder changes nothing.
    own = TrainConfig(network=SHALLOW, env=EnvConfig(model_metadata=config.env.model_metadata))
    assert clone_config(own, MODEL) == own
    assert clone_config(TrainConfig(), MODEL_DIR) == config  # the folder holding model.pb


def test_a_cloned_run_starts_from_the_models_policy(tmp_path):
    config, run = quick(tmp_path, max_updates=1, num_envs=2, steps_per_car=32, eval_episodes=1)
    config = clone_config(config, MODEL)
    start = pretrained_weights(MODEL, config, load_metadata(config.env))
    fresh = pretrained_weights(MODEL, config, load_metadata(config.env))
    assert all(torch.equal(start[k], fresh[k]) for k in start)  # a pure function of the file
    graph = read_graph(MODEL)
    kernel = graph.node("main_level/agent/main/online/network_1/FRONT_FACING_CAMERA/Conv2d_0/"
                        "kernel").attr["value"]  # fmt: skip
    first = start["features_extractor.layers.0.0.weight"]
    assert torch.allclose(first, torch.as_tensor(kernel.transpose(3, 2, 0, 1)))
    train(config, run, pretrained=MODEL)
    assert json.loads((run / "model/model_metadata.json").read_text())["neural_network"] == SHALLOW
    from racer.train.ppo import EpisodicPPO

    trained = EpisodicPPO.load(run / "checkpoints/last.zip").policy.state_dict()
    actor = [k for k in start if k.startswith(("features_extractor.", "action_net."))]
    moved = torch.cat([(trained[k] - start[k]).flatten() for k in actor]).norm()
    size = torch.cat([start[k].flatten() for k in actor]).norm()
    assert 0 < moved < 0.05 * size  # a fresh initialisation is about size away


def test_models_racer_cannot_clone_from_are_refused_before_any_folder(tmp_path):
    config = TrainConfig()
    run = tmp_path / "run"

    def refused(source, error, match, **changes):
        with pytest.raises(error, match=match):
            train(replace(config, **changes), run, pretrained=source)
        assert not run.exists()

    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(MODEL, arcname="model.pb")
    refused(archive, ConfigError, r"model\.tar\.gz has no model_metadata\.json at its root")
    five = str(Path(__file__).parents[1] / "data/model_metadata/"
               "discrete_five_actions.json")  # fmt: skip
    refused(MODEL, ConfigError, r"model\.pb was trained with the action space .* they must "
            r"match.*Leave out --model-metadata", env=EnvConfig(model_metadata=five))  # fmt: skip
    refused(MODEL, ExportError, r"has the network \[conv 32@8x8/4.*avgpool 4/4.*--network",
            network="RACER_FAST")  # fmt: skip
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copyfile(MODEL, lonely / "model.pb")
    refused(lonely / "model.pb", ExportError, r"no model_metadata\.json beside it")
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "model.pb").write_bytes(MODEL.read_bytes()[:5000])
    shutil.copyfile(MODEL_DIR / "model_metadata.json", cut / "model_metadata.json")
    refused(cut / "model.pb", ExportError, r"cut/model\.pb is not a GraphDef")
    odd = tmp_path / "odd"
    odd.mkdir()
    shutil.copyfile(MODEL_DIR / "model_metadata.json", odd / "model_metadata.json")

    def edited(name: str, change) -> None:
        graph = read_graph(MODEL)
        for node in graph.nodes:
            if node.name.endswith(name):
                change(node)
        (odd / "model.pb").write_bytes(encode_graph(dataclasses.replace(graph)))

    # A network that is none of racer's presets: its first activation is a tanh.
    edited("BatchnormActivationDropout_1_activation", lambda node: setattr(node, "op", "Tanh"))
    refused(odd / "model.pb", ConfigError, r"conv 32@8x8/4, tanh, .* none of racer's network "
            "presets")  # fmt: skip
    # Layers whose shapes do not chain (the first convolution's stride changed).
    edited("Conv2d_0/Conv2D", lambda node: node.attr.update(strides=[1, 2, 2, 1]))
    refused(odd / "model.pb", ExportError, r"odd/model\.pb: its policy network has a dense layer "
            r"of 11264 inputs on a \(56000,\) tensor")  # fmt: skip


def test_racer_train_names_a_refused_model_in_one_paragraph(tmp_path, capsys):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(MODEL, arcname="model.pb")
    status = main(["train", "--pretrained", str(archive), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2 and "model.tar.gz has no model_metadata.json" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_the_cars_archive_clones_in_place(tmp_path):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(MODEL, arcname="agent/model.pb")
        tar.add(MODEL_DIR / "model_metadata.json", arcname="model_metadata.json")
    config = clone_config(TrainConfig(), archive)
    assert config.env.model_metadata == str(archive) and config.network == SHALLOW
    assert load_metadata(config.env).action_space.n == 12  # read from inside the archive
    from_archive = pretrained_weights(archive, config, load_metadata(config.env))
    from_file = pretrained_weights(MODEL, clone_config(TrainConfig(), MODEL),
                                   load_metadata(config.env))  # fmt: skip
    assert all(torch.equal(from_archive[k], from_file[k]) for k in from_file)
    assert not list(tmp_path.glob("racer-*"))  # nothing unpacked beside it


@pytest.mark.parametrize("metadata", ["continuous_sac.json", "discrete_lidar.json",
                                      "continuous_sac_lidar.json"])
def test_a_run_starts_from_a_sac_or_lidar_deepracer_model(tmp_path, metadata):
    from racer.export.deepracer_export import export_deepracer_model
    from racer.train.runs import load_policy

    path = Path(__file__).parents[1] / "data/model_metadata" / metadata
    config, run = quick(tmp_path, max_updates=1, num_envs=2, steps_per_car=32, eval_episodes=1,
                        env=EnvConfig(model_metadata=str(path)))  # fmt: skip
    train(config, run)
    source = load_policy(run)
    model_dir = tmp_path / "model"
    export_deepracer_model(source.model, model_dir, run / "model/model_metadata.json")
    cloned = clone_config(replace(config, env=EnvConfig()), model_dir / "model.pb")
    assert cloned.network == "RACER_FAST"  # told from the graph: the metadata names another
    parsed = load_metadata(cloned.env)
    weights = pretrained_weights(model_dir / "model.pb", cloned, parsed)
    sac = parsed.training_algorithm == "sac"
    own = source.model.policy.state_dict()
    actor = [k for k in own if k.startswith(("actor.", "features_extractor.", "action_net."))
             and not k.startswith("actor.log_std")]  # fmt: skip
    assert actor and all(torch.allclose(weights[k], own[k], atol=1e-6) for k in actor)
    assert not any(k.startswith(("actor.log_std", "critic.qf", "value_net")) for k in weights)
    assert sac == any(k.startswith("actor.latent_pi") for k in weights)
    clone = tmp_path / "clone"
    assert train(cloned, clone, pretrained=model_dir / "model.pb").state.update == 0
