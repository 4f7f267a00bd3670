"""Write a racer PPO policy as DeepRacer's model files, and check them the way the car runs them.

`export_deepracer_model` writes, into one folder (``RUN/model/deepracer/`` for ``racer export RUN
--format deepracer``):

- ``model.pb``: the frozen TensorFlow 1 graph (`racer.export.deepracer_graph`), with DeepRacer's
  input ``main_level/agent/main/online/network_0/<SENSOR>/<SENSOR>`` (N, 120, 160, C) float32
  0-255 and output ``main_level/agent/main/online/network_1/ppo_head_0/policy``;
- ``model_metadata.json``: the run's own file, byte for byte (its action list is the order of the
  softmax);
- ``model.tar.gz``: the physical car's archive, ``model.pb`` and ``model_metadata.json`` at its
  root, the layout `racer.export.deepracer_archive.unpack_model_archive` reads.

`check_deepracer_export` loads the archive as the car does, with OpenVINO (racer's importer
`racer.export.deepracer_model.DeepRacerPolicy` for discrete actions), and compares its outputs
with the torch policy's on camera frames.

Supported: clipped PPO over one camera (FRONT_FACING_CAMERA, LEFT_CAMERA, STEREO_CAMERAS), with
discrete actions (the softmax) or continuous ones (the means), and every racer network preset.
Refused with an `ExportError`: SAC models and lidar sensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from racer.errors import ExportError
from racer.export.common import DEFAULT_ATOL, TIE_TOLERANCE, max_abs_diff, write_atomically
from racer.export.deepracer_archive import pack_model_archive, unpack_model_archive
from racer.export.deepracer_graph import policy_graph
from racer.export.deepracer_model import (
    INPUT_NAME,
    METADATA_NAME,
    OUTPUT_NAME,
    DeepRacerPolicy,
    _compile,
    _port,
    _read_graph,
)
from racer.export.graphdef import encode_graph
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
        model: racer's PPO model (or its policy), trained on one camera.
        out_dir: the folder to write to; created if missing.
        metadata: the ``model_metadata.json`` the model was trained with; copied unchanged.
        source: what the model is (its run folder), for error messages; default ``out_dir``.

    Returns:
        The three paths (``check`` is None: see `check_deepracer_export`).

    Raises:
        ExportError: the model is of a kind not supported yet (SAC, lidar), does not fit the
            metadata, or has layers the export does not translate; a file cannot be written.
        ConfigError: the model_metadata.json is invalid.
    """
    out = Path(out_dir)
    where = source or str(out)
    parsed = load_model_metadata(metadata, strict=False)
    policy = _policy(model, parsed, where)
    graph = encode_graph(policy_graph(policy, parsed.camera, where))
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


def _policy(model: Any, metadata: ModelMetadata, where: str) -> ActorCriticPolicy:
    """The model's PPO policy, checked to be a kind the export supports and to fit the metadata."""
    policy = model.policy if isinstance(model, BaseAlgorithm) else model
    if metadata.training_algorithm == "sac":
        raise ExportError(
            f"Cannot export {where} for DeepRacer: it is a SAC model. racer writes DeepRacer's "
            "clipped PPO graph (scope main, head ppo_head_0) so far; DeepRacer's SAC graph has "
            "another scope (policy) and head (sac_policy_head_0), which racer does not write "
            "yet. Export it to ONNX instead (racer export RUN), or train with clipped_ppo to "
            "drive it on the car."
        )
    if not isinstance(policy, ActorCriticPolicy):
        raise ExportError(f"Cannot export {where} for DeepRacer: expected racer's PPO model or "
                          f"its policy, got {type(model).__name__}.")  # fmt: skip
    if metadata.lidar is not None:
        raise ExportError(
            f"Cannot export {where} for DeepRacer: its sensors {list(metadata.sensor)} include "
            f"the lidar {metadata.lidar}. racer writes DeepRacer graphs with one camera input so "
            "far, not the second (lidar) input and its embedder. Export it to ONNX instead "
            "(racer export RUN), or train with the camera alone to drive it on the car."
        )
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
    channels = int(policy.observation_space.shape[0])
    if channels != (2 if metadata.camera == "STEREO_CAMERAS" else 1):
        raise ExportError(f"Cannot export {where} for DeepRacer: its camera images have "
                          f"{channels} channels, which does not fit the sensor "
                          f"{metadata.camera} of its model_metadata.json.")  # fmt: skip
    return policy


# --------------------------------------------------------------------------- check
def check_deepracer_export(
    model: BaseAlgorithm,
    export: DeepRacerExport,
    observations: npt.NDArray[np.uint8],
    *,
    atol: float = DEFAULT_ATOL,
) -> DeepRacerCheck:
    """Run the car's archive with OpenVINO and compare it with the torch policy.

    Discrete: the archive runs in racer's importer `DeepRacerPolicy`; its softmax is compared
    with SB3's action probabilities, its argmax with SB3's deterministic action (the argmax of
    those, what ``model.predict(deterministic=True)`` returns). Continuous: its means are
    compared with the Gaussian's means and, clipped to [-1, 1] as the car clips them, with
    SB3's deterministic action (the means clipped to the action box).

    Args:
        model: the SB3 model that was exported.
        export: what `export_deepracer_model` wrote.
        observations: (K, H, W, C) uint8 camera frames as the env gives them, K >= 1.
        atol: the largest difference accepted.

    Returns:
        The comparison (`DeepRacerCheck`).

    Raises:
        ExportError: the archive does not load, or differs from the torch policy by more than
            ``atol`` or in an action (other than a tie).
    """
    frames = np.asarray(observations)
    if frames.ndim != 4 or not len(frames) or frames.dtype != np.uint8:
        raise ExportError("check_deepracer_export needs a (K, H, W, C) uint8 array of K >= 1 "
                          f"camera frames, got {frames.shape} {frames.dtype}.")  # fmt: skip
    policy = model.policy
    obs, _ = policy.obs_to_tensor(frames)
    policy.set_training_mode(False)
    with torch.no_grad():  # one forward pass: what model.predict(deterministic=True) computes
        torch_policy = policy.get_distribution(obs)
    distribution = torch_policy.distribution
    actions = torch_policy.get_actions(deterministic=True).cpu().numpy()
    if isinstance(policy.action_space, spaces.Discrete):
        probabilities = distribution.probs.cpu().numpy()
        graph = DeepRacerPolicy(export.archive).probabilities(frames)
        difference = max_abs_diff(graph, probabilities)
        chosen = graph.argmax(axis=1)
        rows = np.arange(len(frames))
        gap = np.abs(probabilities[rows, chosen] - probabilities[rows, np.asarray(actions)])
        agree = (chosen == actions) | (gap <= TIE_TOLERANCE)
        check = DeepRacerCheck(len(frames), "softmax", difference, int(agree.sum()))
    else:
        means = distribution.mean.cpu().numpy()
        box = policy.action_space
        graph = _run_archive(export.archive, export.metadata, frames)
        difference = max_abs_diff(graph, means)
        clipped = np.abs(np.clip(graph, -1.0, 1.0) - np.clip(actions, box.low, box.high))
        clipped = clipped.max(axis=1)
        check = DeepRacerCheck(len(frames), "means", difference, int((clipped <= atol).sum()))
    if not difference <= atol or check.agreeing < check.frames:
        raise ExportError(
            f"The DeepRacer export {export.archive} differs from the torch policy: "
            f"{check.summary()} (tolerance {atol:g}). Export again with the policy in its final "
            "state; if it persists, its features extractor's forward is not the chain of its "
            "layers that the export translates."
        )
    return check


def _run_archive(archive: Path, metadata: Path, frames: np.ndarray) -> np.ndarray:
    """The graph's policy output for ``frames``, run with OpenVINO from the car's archive."""
    sensor = load_model_metadata(metadata, strict=False).camera
    folder = unpack_model_archive(archive)
    try:
        path = Path(folder.name) / GRAPH_NAME
        model = _read_graph(path)
        camera, _ = _port(model.inputs, INPUT_NAME.format(sensor=sensor), path, "input")
        head, _ = _port(model.outputs, OUTPUT_NAME, path, "output")
        request = _compile(model, 1).create_infer_request()
        result = request.infer({camera: frames.astype(np.float32)})
        return np.asarray(result[head], dtype=np.float32)
    finally:
        folder.cleanup()
