"""Write a racer policy as DeepRacer's model files, and check them the way the car runs them.

`export_deepracer_model` writes, into one folder (``RUN/model/deepracer/`` for ``racer export RUN
--format deepracer``):

- ``model.pb``: the frozen TensorFlow 1 graph (`racer.export.deepracer_graph`), with DeepRacer's
  inputs ``main_level/agent/<scope>/online/network_0/<SENSOR>/<SENSOR>`` (the camera (N, 120,
  160, C) float32 0-255, a lidar (N, D)) and its policy output (SPEC 11);
- ``model_metadata.json``: the run's own file, byte for byte (its action list is the order of the
  softmax). Its ``neural_network`` is the run's model_metadata.json's: racer's own RACER_FAST
  preset is not a name DeepRacer's tools accept, the car does not read the field, and racer
  tells the network from the graph's layers when it reads the model back;
- ``model.tar.gz``: the physical car's archive, ``model.pb`` and ``model_metadata.json`` at its
  root, the layout `racer.formats.model_archive.unpack_model_archive` reads.

`check_deepracer_export` loads the archive as the car does, with OpenVINO (through racer's
importer `racer.export.deepracer_model.DeepRacerPolicy`), and compares its outputs with the
torch policy's on recorded observations.

Supported: clipped PPO with discrete actions (the softmax) or continuous ones (the means) and
SAC (the means before the tanh), over one camera (FRONT_FACING_CAMERA, LEFT_CAMERA,
STEREO_CAMERAS) alone or with a lidar (LIDAR, SECTOR_LIDAR, DISCRETIZED_SECTOR_LIDAR), with
every racer network preset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.sac.policies import SACPolicy

from racer.errors import ExportError
from racer.export.common import DEFAULT_ATOL, TIE_TOLERANCE, max_abs_diff, write_atomically
from racer.export.deepracer_graph import policy_graph
from racer.export.deepracer_model import METADATA_NAME, DeepRacerPolicy
from racer.export.graphdef import encode_graph
from racer.formats.model_archive import pack_model_archive
from racer.formats.model_metadata import ModelMetadata, load_model_metadata

GRAPH_NAME = "model.pb"
"""The frozen graph's name, in the export folder and in the car's archive."""
ARCHIVE_NAME = "model.tar.gz"
"""The car's archive, beside the graph."""


@dataclass(frozen=True)
class DeepRacerCheck:
    """OpenVINO's outputs of the exported model against the torch policy's, on K frames.

    Attributes:
        frames: K, the camera frames compared on.
        output: ``"softmax"`` (discrete actions) or ``"means"`` (continuous, in the [-1, 1] box).
        max_difference: the largest |OpenVINO - torch| of that output over all frames and actions.
        agreeing: frames on which both pick the same action: the argmax (a tie within
            `TIE_TOLERANCE` counts as the same), or for continuous actions the means clipped to
            [-1, 1] within `DEFAULT_ATOL`, as SB3's ``predict`` and the car clip them.
    """

    frames: int
    output: str
    max_difference: float
    agreeing: int

    def summary(self) -> str:
        """One line: the largest difference and the frames with the same action."""
        return (
            f"OpenVINO vs torch on {self.frames} frames: max |{self.output} difference| "
            f"{self.max_difference:.2e}, same action on {self.agreeing}/{self.frames}"
        )


@dataclass(frozen=True)
class DeepRacerExport:
    """The files of a DeepRacer export, and its check when one was run.

    Attributes:
        graph: the frozen graph, ``model.pb``.
        metadata: the ``model_metadata.json`` beside it.
        archive: the car's ``model.tar.gz`` of the two.
        check: `check_deepracer_export`'s result; None if not checked.
    """

    graph: Path
    metadata: Path
    archive: Path
    check: DeepRacerCheck | None = None


def export_deepracer_model(
    model: BaseAlgorithm | ActorCriticPolicy,
    out_dir: str | os.PathLike[str],
    metadata: str | os.PathLike[str],
    *,
    source: str | None = None,
) -> DeepRacerExport:
    """Write ``model.pb``, ``model_metadata.json`` and ``model.tar.gz`` into ``out_dir``.

    Each file is written to a temporary file and moved into place, so a failed export leaves
    the old files (or none), never a partial one.

    Args:
        model: racer's PPO or SAC model (or its policy).
        out_dir: the folder to write to; created if missing.
        metadata: the ``model_metadata.json`` the model was trained with; copied unchanged.
        source: what the model is (its run folder), for error messages; default ``out_dir``.

    Returns:
        The three paths (``check`` is None: see `check_deepracer_export`).

    Raises:
        ExportError: the model does not fit the metadata, or has layers the export does not
            translate; a file cannot be written.
        ConfigError: the model_metadata.json is invalid.
    """
    out = Path(out_dir)
    where = source or str(out)
    parsed = load_model_metadata(metadata, strict=False)
    policy = _policy(model, parsed, where)
    sensors = {"camera": parsed.camera, **({"lidar": parsed.lidar} if parsed.lidar else {})}
    graph = encode_graph(policy_graph(policy, sensors, parsed.training_algorithm, where))
    metadata_bytes = Path(metadata).read_bytes()
    export = DeepRacerExport(out / GRAPH_NAME, out / METADATA_NAME, out / ARCHIVE_NAME)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(graph, export.graph)
        write_atomically(metadata_bytes, export.metadata)
        write_atomically(pack_model_archive({GRAPH_NAME: graph, METADATA_NAME: metadata_bytes}),
                          export.archive)  # fmt: skip
    except OSError as exc:
        raise ExportError(f"cannot write the DeepRacer model of {where} to {out}: "
                          f"{exc.strerror or exc}.") from None  # fmt: skip
    return export


def _policy(model: Any, metadata: ModelMetadata, where: str) -> Any:
    """The model's policy, checked to be a kind the export supports and to fit the metadata."""
    policy = model.policy if isinstance(model, BaseAlgorithm) else model
    sac = metadata.training_algorithm == "sac"
    kind = SACPolicy if sac else ActorCriticPolicy
    if not isinstance(policy, kind):
        raise ExportError(f"Cannot export {where} for DeepRacer: its model_metadata.json says "
                          f"{metadata.training_algorithm}, so racer expects a "
                          f"{'SAC' if sac else 'PPO'} model or its policy, got "
                          f"{type(model).__name__}.")  # fmt: skip
    gym_space = policy.action_space
    if isinstance(gym_space, spaces.Discrete):
        fits = metadata.action_space_type == "discrete" and gym_space.n == metadata.action_space.n
    else:
        fits = metadata.action_space_type == "continuous" and gym_space.shape == (2,)
    if not fits:
        raise ExportError(
            f"Cannot export {where} for DeepRacer: its policy acts in {gym_space}, but its "
            f"model_metadata.json has a {metadata.action_space_type} action space "
            f"{metadata.action_space.to_json_value()}. Give the model_metadata.json the model "
            "was trained with (the run's own)."
        )
    space = policy.observation_space
    if metadata.lidar is not None and not isinstance(space, spaces.Dict):
        raise ExportError(f"Cannot export {where} for DeepRacer: its model_metadata.json names "
                          f"the lidar {metadata.lidar}, but the policy observes one image "
                          f"{space}.")  # fmt: skip
    camera = space[metadata.camera] if isinstance(space, spaces.Dict) else space
    channels = int(camera.shape[0])
    if channels != (2 if metadata.camera == "STEREO_CAMERAS" else 1):
        raise ExportError(f"Cannot export {where} for DeepRacer: its camera images have "
                          f"{channels} channels, which does not fit the sensor "
                          f"{metadata.camera} of its model_metadata.json.")  # fmt: skip
    return policy


# --------------------------------------------------------------------------- check
def check_deepracer_export(
    model: BaseAlgorithm,
    export: DeepRacerExport,
    observations: Any,
    *,
    atol: float = DEFAULT_ATOL,
) -> DeepRacerCheck:
    """Run the car's archive with OpenVINO and compare it with the torch policy.

    The archive runs in racer's importer `DeepRacerPolicy`. Discrete: its softmax is compared
    with SB3's action probabilities, its argmax with SB3's deterministic action. PPO
    continuous: its means with the Gaussian's means and, clipped to [-1, 1] as the car clips
    them, with SB3's deterministic action. SAC: its means with the actor's, and their tanh (the
    simapp's deterministic action) with SB3's deterministic action.

    Args:
        model: the SB3 model that was exported.
        export: what `export_deepracer_model` wrote.
        observations: K >= 1 observations as the env gives them: (K, H, W, C) uint8 camera
            frames, or the env's dict of those and the (K, D) lidar.
        atol: the largest difference accepted.

    Returns:
        The comparison (`DeepRacerCheck`).

    Raises:
        ExportError: the archive does not load, or differs from the torch policy by more than
            ``atol`` or in an action (other than a tie).
    """
    frames = observations if isinstance(observations, dict) else np.asarray(observations)
    images = next(v for v in frames.values() if v.ndim == 4) if isinstance(frames, dict) \
        else frames  # fmt: skip
    if images.ndim != 4 or not len(images) or images.dtype != np.uint8:
        raise ExportError("check_deepracer_export needs K >= 1 observations of (K, H, W, C) uint8 "
                          f"camera frames, got {images.shape} {images.dtype}.")  # fmt: skip
    graph_policy = DeepRacerPolicy(export.archive, metadata=export.metadata)
    graph = graph_policy.outputs(frames)
    chosen = graph_policy.predict(frames)
    policy = model.policy
    obs, _ = policy.obs_to_tensor(frames)
    policy.set_training_mode(False)
    with torch.no_grad():  # one forward pass: what model.predict(deterministic=True) computes
        if isinstance(policy, SACPolicy):
            mean = policy.actor.get_action_dist_params(obs)[0]
            torch_out, actions = mean.cpu().numpy(), torch.tanh(mean).cpu().numpy()
        else:
            distribution = policy.get_distribution(obs)
            actions = distribution.get_actions(deterministic=True).cpu().numpy()
            inner = distribution.distribution
            discrete = isinstance(policy.action_space, spaces.Discrete)
            torch_out = (inner.probs if discrete else inner.mean).cpu().numpy()
            if not discrete:
                box = policy.action_space
                actions = np.clip(actions, box.low, box.high)
    difference = max_abs_diff(graph, torch_out)
    if isinstance(policy.action_space, spaces.Discrete):
        rows = np.arange(len(images))
        gap = np.abs(torch_out[rows, chosen] - torch_out[rows, np.asarray(actions)])
        agree = (chosen == actions) | (gap <= TIE_TOLERANCE)
        check = DeepRacerCheck(len(images), "softmax", difference, int(agree.sum()))
    else:
        apart = np.abs(chosen - actions).max(axis=1)
        check = DeepRacerCheck(len(images), "means", difference, int((apart <= atol).sum()))
    if not difference <= atol or check.agreeing < check.frames:
        raise ExportError(
            f"The DeepRacer export {export.archive} differs from the torch policy: "
            f"{check.summary()} (tolerance {atol:g}). Export again with the policy in its final "
            "state; if it persists, its features extractor's forward is not the chain of its "
            "layers that the export translates."
        )
    return check
