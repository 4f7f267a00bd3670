"""Checkpoints load without unpickling anything; crafted or damaged ones are clear errors.

Every command that loads a run's checkpoint is covered: racer evaluate, export and race (best.zip),
racer train --pretrained (the other run's best.zip) and --resume (last.zip).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from racer.cli import main
from racer.env.config import EnvConfig
from racer.errors import CheckpointError, ConfigError
from racer.logs.run_folder import RunFolder
from racer.train.checkpoint import REBUILT, env_spaces, load_checkpoint, rebuilt_objects
from racer.train.config import TrainConfig, load_run_config
from racer.train.ppo import EpisodicPPO
from racer.train.runs import load_policy
from racer.train.trainer import Trainer, train

DATA = Path(__file__).resolve().parents[1] / "data"
HYPER = {"num_episodes_between_training": 4, "batch_size": 64, "num_epochs": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-update PPO run (4 cars, 48 steps each)."""
    root = tmp_path_factory.mktemp("trained")
    hyper = root / "hyperparameters.json"
    hyper.write_text(json.dumps(HYPER))
    config = TrainConfig(env=EnvConfig(), num_envs=4, max_updates=1, minutes=0,
                         eval_episodes=2, lap_check_every=0, steps_per_car=48,
                         hyperparameters=str(hyper))  # fmt: skip
    train(config, root / "run")
    return root / "run", config


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run, free to be tampered with."""
    return shutil.copytree(trained[0], tmp_path / "run")


class MakesMarker:
    """Unpickling this creates the file ``marker``: what a malicious pickle could do."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def serialized(marker) -> dict:
    """A ``data`` entry as SB3 writes a pickled attribute, holding `MakesMarker`."""
    payload = base64.b64encode(pickle.dumps(MakesMarker(marker))).decode()
    return {":type:": "<class 'collections.deque'>", ":serialized:": payload}


def rewrite(path, *, data=None, members=None) -> None:
    """Rewrite the checkpoint zip ``path``: ``data(d)`` edits its data JSON, members replace."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    if data is not None:
        parsed = json.loads(contents["data"])
        data(parsed)
        contents["data"] = json.dumps(parsed).encode()
    contents.update(members or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in contents.items():
            archive.writestr(name, blob)


def add_payload(path, key, marker) -> None:
    rewrite(path, data=lambda d: d.update({key: serialized(marker)}))


# ------------------------------------------------------------------------ racer's own files
def test_a_racer_checkpoint_loads_as_stable_baselines3_loads_it(trained):
    run, _ = trained
    file = run / "checkpoints/best.zip"
    safe = load_policy(run).model
    plain = EpisodicPPO.load(file, device="cpu")  # SB3's own loader, on a file racer wrote
    for a, b in zip(safe.policy.state_dict().values(), plain.policy.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)
    assert safe.num_timesteps == plain.num_timesteps
    assert safe.policy_kwargs == plain.policy_kwargs
    assert safe.observation_space == plain.observation_space
    assert safe.action_space == plain.action_space
    assert safe.clip_range(1.0) == plain.clip_range(1.0)
    assert safe.lr_schedule(1.0) == plain.lr_schedule(1.0)


def test_every_pickled_attribute_of_racers_checkpoints_is_rebuilt(trained):
    run, _ = trained
    with zipfile.ZipFile(run / "checkpoints/best.zip") as archive:
        data = json.loads(archive.read("data"))
    pickled = {k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v}
    assert pickled and pickled <= set(REBUILT)
    config = load_run_config(RunFolder(run))
    assert set(rebuilt_objects(config, *env_spaces(config.env))) == set(REBUILT)


# ------------------------------------------------------------------------ pickled payloads
def test_stable_baselines3_alone_would_run_the_payload(run, tmp_path):
    """The crafted files below are live: SB3's plain load runs them."""
    marker = tmp_path / "ran"
    add_payload(run / "checkpoints/best.zip", "ep_info_buffer", marker)
    EpisodicPPO.load(run / "checkpoints/best.zip", device="cpu")
    assert marker.exists()


@pytest.mark.parametrize("command", ["evaluate", "export", "race"])
def test_commands_refuse_a_checkpoint_with_an_unknown_pickle(run, tmp_path, capsys, command):
    marker = tmp_path / "ran"
    add_payload(run / "checkpoints/best.zip", "surprise", marker)
    argv = {"evaluate": ["evaluate", str(run)], "export": ["export", str(run)],
            "race": ["race", str(run), str(run), "--out", str(tmp_path / "races")]}  # fmt: skip
    assert main(argv[command]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'checkpoints/best.zip'} holds pickled Python objects" in err
    assert "(surprise)" in err and "racer export RUN" in err
    assert len(err.strip().splitlines()) == 1  # one paragraph, no traceback
    assert not marker.exists()
    assert not (run / "model/policy.onnx").exists()


REBUILT_KEYS = ["policy_class", "policy_kwargs", "observation_space", "lr_schedule", "_last_obs",
                "ep_info_buffer", "clip_range"]  # fmt: skip


@pytest.mark.parametrize("key", REBUILT_KEYS)
def test_a_pickle_in_an_attribute_racer_rebuilds_is_never_unpickled(run, tmp_path, key):
    marker = tmp_path / "ran"
    add_payload(run / "checkpoints/best.zip", key, marker)
    loaded = load_policy(run)
    assert not marker.exists()
    assert loaded.model.policy_kwargs["net_arch"] == []


def test_a_pickle_inside_a_tensor_file_is_refused(run, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"weight": MakesMarker(marker)}, buffer)
    rewrite(run / "checkpoints/best.zip", members={"policy.pth": buffer.getvalue()})
    with pytest.raises(CheckpointError, match="holds tensor files with pickled Python objects"):
        load_policy(run)
    assert not marker.exists()


def test_an_attribute_sb3_never_saves_is_refused(run):
    # SB3 hands a stored env id to gymnasium.make, which imports the module it names.
    rewrite(run / "checkpoints/best.zip", data=lambda d: d.update(env="os:Env-v0"))
    with pytest.raises(CheckpointError, match=r"never saves \(env\)"):
        load_policy(run)


def test_pretrained_refuses_a_pickle_and_leaves_no_folder(trained, run, tmp_path):
    _, config = trained
    marker = tmp_path / "ran"
    add_payload(run / "checkpoints/best.zip", "surprise", marker)
    with pytest.raises(CheckpointError, match="holds pickled Python objects"):
        train(config, tmp_path / "clone", pretrained=run)
    assert not marker.exists()
    assert not (tmp_path / "clone").exists()


def test_resume_refuses_a_pickle_in_last_zip(run, tmp_path):
    marker = tmp_path / "ran"
    add_payload(run / "checkpoints/last.zip", "surprise", marker)
    resumed = Trainer(None, run, resume=True)
    resumed.config = replace(resumed.config, max_updates=2)
    with pytest.raises(CheckpointError, match="last.zip holds pickled Python objects"):
        resumed.run()
    assert not marker.exists()


# ------------------------------------------------------------------------ damaged files
def truncate(path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def flip_a_byte(path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("damage, reason", [
    (truncate, "File is not a zip file"),
    (flip_a_byte, "fails its checksum"),
    (lambda path: path.write_bytes(b""), "File is not a zip file"),
])  # fmt: skip
def test_evaluate_names_a_damaged_checkpoint(run, capsys, damage, reason):
    damage(run / "checkpoints/best.zip")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"the checkpoint {run / 'checkpoints/best.zip'} is damaged or incomplete" in err
    assert reason in err and "Copy it again" in err
    assert len(err.strip().splitlines()) == 1


def test_export_names_a_truncated_checkpoint(run, capsys):
    truncate(run / "checkpoints/best.zip")
    assert main(["export", str(run)]) == 2
    assert "best.zip is damaged or incomplete" in capsys.readouterr().err


def test_resume_names_a_truncated_last_checkpoint(run):
    truncate(run / "checkpoints/last.zip")
    resumed = Trainer(None, run, resume=True)
    resumed.config = replace(resumed.config, max_updates=2)
    with pytest.raises(CheckpointError, match="last.zip is damaged or incomplete"):
        resumed.run()


def test_a_failed_pretrained_start_leaves_nothing_that_blocks_a_retry(trained, run, tmp_path):
    _, config = trained
    truncate(run / "checkpoints/best.zip")
    clone = tmp_path / "clone"
    with pytest.raises(CheckpointError, match="best.zip is damaged or incomplete"):
        train(config, clone, pretrained=run)
    assert not clone.exists()
    shutil.copyfile(trained[0] / "checkpoints/best.zip", run / "checkpoints/best.zip")
    assert train(config, clone, pretrained=run).state.update == 0


def test_pretrained_from_another_algorithm_says_so_before_any_folder(trained, tmp_path):
    source, config = trained
    metadata = json.loads((DATA / "model_metadata/continuous_ppo.json").read_text())
    metadata["training_algorithm"] = "sac"
    path = tmp_path / "model_metadata.json"
    path.write_text(json.dumps(metadata))
    config = replace(config, env=replace(config.env, model_metadata=str(path)))
    with pytest.raises(ConfigError, match="was trained with clipped_ppo, this run with sac"):
        train(config, tmp_path / "clone", pretrained=source)
    assert not (tmp_path / "clone").exists()


def test_load_checkpoint_on_a_missing_file_is_a_clear_error(trained, tmp_path):
    _, config = trained
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path / "nope.zip", config)
