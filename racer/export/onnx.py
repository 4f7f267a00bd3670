"""Export a trained stable-baselines3 policy to ONNX, and check the export against torch.

The exported graph is the *deterministic* policy, with the environment's own observation as its
input, so whoever runs it (`racer.export.runner.OnnxPolicy`, a car, another runtime) needs
neither torch nor SB3 and does no preprocessing:

- camera-only models (a Box observation): one input ``observation``, (batch, 120, 160, 1) uint8
  ((batch, 120, 160, 2) for stereo cameras), the camera frame exactly as `RacerEnv` gives it
  (channel last, 0..255); the batch axis is dynamic. The graph moves the channel first and
  divides by 255 as SB3's ``VecTransposeImage`` and ``preprocess_obs`` do.
- camera-and-lidar models (a Dict observation, SB3's ``MultiInputPolicy``): one input per key of
  the Dict, named after its sensor as the env names them, in the Dict's (sorted) key order, e.g.
  ``FRONT_FACING_CAMERA`` (batch, 120, 160, 1) uint8 and ``SECTOR_LIDAR`` (batch, 8) float32.
  The image is preprocessed as above; the lidar vector goes in as it is (SB3's
  ``preprocess_obs`` only casts a Box to float). The metadata key ``observation_inputs`` lists
  the input names, so a runner feeds the env's observation dict by name.
- discrete action space: output ``action`` (batch,) int64, the argmax, and ``probabilities``
  (batch, n) float32, the softmax of the policy's logits.
- continuous action space: output ``action`` (batch, 2) float32 [steering, speed] in [-1, 1], the
  distribution's mode post-processed as SB3's ``predict(deterministic=True)`` does: clipped to the
  box for PPO, tanh-squashed and unscaled for SAC.

The model's ``metadata_props`` say what the graph is (see `metadata_for`). The policy's own
modules are traced (``torch.onnx.export`` with ``torch.export``), so any ``BaseFeaturesExtractor``
that ``torch.export`` can trace works, not only SB3's NatureCNN.

torch and stable-baselines3 are imported here at module level; onnx, onnxscript (the exporter's
back end) and onnxruntime are optional and imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.preprocessing import (
    is_image_space,
    is_image_space_channels_first,
)
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from racer.errors import ExportError
from racer.export.common import DEFAULT_ATOL, TIE_TOLERANCE, max_abs_diff, write_atomically
from racer.export.torch_policy import (
    ActorCriticActions,
    DeterministicPolicy,
    DictDeterministicPolicy,
    SacActions,
    policy_of,
)
from racer.physics.actions import ActionSpace, DiscreteActionSpace

DEFAULT_OPSET = 18
"""ONNX opset of the exported graph: the lowest that torch's ``torch.export`` exporter emits
natively (lower ones go through onnx's version converter), run by onnxruntime >= 1.14."""
FORMAT_VERSION = "1"
"""Version of racer's ONNX policy contract (input, outputs, metadata keys) in ``metadata_props``."""
INPUT_NAME = "observation"
"""Name of the one input of a camera-only graph (Dict-observation graphs name theirs after the
Dict's keys, the sensors)."""
ACTION_OUTPUT = "action"
"""Name of the action output."""
PROBABILITIES_OUTPUT = "probabilities"
"""Name of the discrete policy's second output, the action probabilities."""
_INSTALL_HINT = "Install the export dependencies: pip install onnx onnxscript onnxruntime"


# --------------------------------------------------------------------------- the traced graph
def _deterministic_policy(policy: BasePolicy) -> DeterministicPolicy:
    """Wrap ``policy`` as the module to trace, or raise ExportError if it is not supported."""
    if isinstance(policy, ActorCriticPolicy):
        actions: nn.Module = ActorCriticActions(policy)
    elif isinstance(policy, SACPolicy):
        actions = SacActions(policy)
    else:
        raise ExportError(
            f"Cannot export a {type(policy).__name__}: racer exports PPO/A2C (ActorCriticPolicy) "
            "and SAC (SACPolicy) policies."
        )
    space = policy.observation_space
    if isinstance(space, spaces.Dict):
        specs = _input_specs(policy)  # raises ExportError for unsupported sub-spaces
        transposed = {k for k, s in space.spaces.items()
                      if is_image_space(s) and is_image_space_channels_first(s)}  # fmt: skip
        return DictDeterministicPolicy(policy, actions, list(specs), transposed)
    if not (isinstance(space, spaces.Box) and is_image_space(space)):
        raise ExportError(
            f"Cannot export a policy observing {space}: racer's ONNX input is the camera image, "
            "a uint8 Box of shape (H, W, C), or a Dict of such images and (D,) float vectors "
            "(the lidar). Train on RacerEnv / RacerVecEnv observations."
        )
    return DeterministicPolicy(policy, actions, is_image_space_channels_first(space))


def _input_specs(policy: BasePolicy) -> dict[str, tuple[tuple[int, ...], str]]:
    """The graph's inputs: name -> (shape of one env observation, numpy dtype name).

    A Box policy has the one input `INPUT_NAME`, (H, W, C) uint8. A Dict policy has one input per
    key: an image as (H, W, C) uint8, a vector as (D,) float32.

    Raises:
        ExportError: a Dict sub-space is neither an image nor a 1-D float Box.
    """
    space = policy.observation_space
    if not isinstance(space, spaces.Dict):
        return {INPUT_NAME: (observation_shape(policy), "uint8")}
    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    for key, sub in space.spaces.items():
        if isinstance(sub, spaces.Box) and is_image_space(sub):
            specs[key] = (_image_shape(sub), "uint8")
        elif (
            isinstance(sub, spaces.Box)
            and len(sub.shape) == 1
            and np.issubdtype(sub.dtype, np.floating)
        ):
            specs[key] = ((int(sub.shape[0]),), "float32")
        else:
            raise ExportError(
                f"Cannot export a policy observing {key!r}: {sub}. racer exports Dict "
                "observations of camera images (uint8 (H, W, C)) and (D,) float vectors (lidar)."
            )
    if not any(dtype == "uint8" for _, dtype in specs.values()):
        raise ExportError(f"Cannot export a policy observing {space}: it has no camera image.")
    return specs


def _image_shape(space: spaces.Space) -> tuple[int, int, int]:
    """(H, W, C) of an image space as the env gives it, undoing SB3's channel-first move."""
    shape = tuple(int(n) for n in space.shape)
    if is_image_space_channels_first(space):
        return shape[1], shape[2], shape[0]
    return shape  # type: ignore[return-value]


def observation_shape(policy: BasePolicy) -> tuple[int, int, int]:
    """The (H, W, C) image the env gives for ``policy``, undoing SB3's channel-first move.

    Args:
        policy: an SB3 policy over camera images, or over a Dict with one (its camera's image).

    Returns:
        (H, W, C), e.g. (120, 160, 1) for DeepRacer's grayscale camera.
    """
    space = policy.observation_space
    if isinstance(space, spaces.Dict):
        images = [s for s in space.spaces.values() if is_image_space(s)]
        if len(images) != 1:
            raise ExportError(f"Expected one camera image in the observation, got {space}.")
        space = images[0]
    return _image_shape(space)


# --------------------------------------------------------------------------- metadata
def metadata_for(
    policy: BasePolicy, algorithm: str, action_space: ActionSpace | None = None
) -> dict[str, str]:
    """The ``metadata_props`` racer writes into an exported model (all values are strings).

    Args:
        policy: the exported SB3 policy.
        algorithm: the algorithm's name, e.g. ``"PPO"``.
        action_space: the DeepRacer action space the policy was trained with; when given, its
            ``model_metadata.json`` value is stored as ``action_space`` so that the steering [deg]
            and speed [m/s] of each action travel with the model.

    Returns:
        The metadata, keyed as documented in the module docstring of `racer.export.runner`. For
        a Dict observation, ``observation_shape`` and ``observation_dtype`` describe the camera
        image, and ``observation_inputs`` (JSON list of the graph's input names, the sensors),
        ``observation_shapes`` and ``observation_dtypes`` (JSON objects keyed by input name)
        describe every input; ``sensor`` lists the inputs.
    """
    gym_space = policy.action_space
    discrete = isinstance(gym_space, spaces.Discrete)
    height, width, channels = observation_shape(policy)
    racer = sys.modules["racer"]  # loaded with this package; importing it would be a cycle.
    meta = {
        "racer_onnx_format": FORMAT_VERSION,
        "racer_version": str(getattr(racer, "__version__", "unknown")),
        "algorithm": algorithm,
        "policy_class": type(policy).__name__,
        "action_space_type": "discrete" if discrete else "continuous",
        "action_output": (
            "index into the action list (argmax of probabilities)"
            if discrete
            else "[steering, speed] in [-1, 1], scaled linearly into the action space bounds"
        ),
        "observation_layout": "NHWC",
        "observation_shape": json.dumps([height, width, channels]),
        "observation_dtype": "uint8",
        "observation_preprocessing": (
            "transpose to NCHW and divide by 255 inside the graph"
            if policy.normalize_images
            else "transpose to NCHW inside the graph, no scaling"
        ),
        # a two-channel image is racer's STEREO_CAMERAS (SPEC 4.2)
        "sensor": json.dumps(["STEREO_CAMERAS" if channels == 2 else "FRONT_FACING_CAMERA"]),
        "deterministic": "true",
    }
    if isinstance(policy.observation_space, spaces.Dict):
        specs = _input_specs(policy)
        meta["observation_inputs"] = json.dumps(list(specs))
        meta["observation_shapes"] = json.dumps({k: list(s) for k, (s, _) in specs.items()})
        meta["observation_dtypes"] = json.dumps({k: d for k, (_, d) in specs.items()})
        meta["observation_preprocessing"] = (
            f"images: {meta['observation_preprocessing']}; vectors (lidar): none, as given"
        )
        meta["sensor"] = json.dumps(list(specs))
    if discrete:
        meta["action_count"] = str(int(gym_space.n))
    if action_space is not None:
        _check_action_space(gym_space, action_space)
        meta["action_space"] = json.dumps(action_space.to_json_value())
    return meta


def _check_action_space(gym_space: spaces.Space, action_space: ActionSpace) -> None:
    """Raise ExportError if the DeepRacer action space does not fit the policy's gym space."""
    if isinstance(action_space, DiscreteActionSpace):
        fits = isinstance(gym_space, spaces.Discrete) and int(gym_space.n) == action_space.n
    else:
        fits = isinstance(gym_space, spaces.Box) and gym_space.shape == action_space.shape
    if not fits:
        raise ExportError(
            f"The action space given for the metadata ({action_space.action_space_type}, "
            f"{action_space.to_json_value()}) does not fit the policy's {gym_space}. Pass the "
            "action space of the model_metadata.json the policy was trained with."
        )


# --------------------------------------------------------------------------- export
def export_onnx(
    model: BaseAlgorithm | BasePolicy,
    path: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    action_space: ActionSpace | None = None,
) -> Path:
    """Write the deterministic policy of ``model`` as an ONNX graph (see the module doc).

    The file is written to a temporary file beside ``path`` and moved into place, so ``path``
    holds either its old content or the complete new model, never a partial one.

    Args:
        model: a stable-baselines3 PPO/A2C or SAC model (or its policy), over camera images.
        path: where to write the ``.onnx`` file; parent folders are created.
        opset: the ONNX opset to target.
        action_space: the DeepRacer action space to record in the metadata (optional).

    Returns:
        ``path`` as a `Path`.

    Raises:
        ExportError: the policy is not supported, the onnx packages are missing, or tracing the
            policy failed (a features extractor ``torch.export`` cannot trace).
    """
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter back end, imported lazily by torch)
    except ImportError as exc:
        raise ExportError(f"ONNX export needs the {exc.name!r} package. {_INSTALL_HINT}") from exc

    policy = policy_of(model)
    graph = _deterministic_policy(policy)
    algorithm = type(model).__name__ if isinstance(model, BaseAlgorithm) else "unknown"
    meta = metadata_for(policy, algorithm, action_space)
    proto = _trace(policy, graph, opset)
    onnx.helper.set_model_props(proto, meta)
    proto.doc_string = f"racer {meta['racer_version']}: the deterministic {algorithm} policy."
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"The exported ONNX graph is invalid: {exc}") from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(proto.SerializeToString(), path)
    return path


def _trace(policy: BasePolicy, graph: DeterministicPolicy, opset: int) -> Any:
    """Trace ``graph`` with torch's ``torch.export`` ONNX exporter and return the ModelProto."""
    specs = _input_specs(policy)
    # A batch of 2, not 1: torch.export specialises sizes 0 and 1 instead of keeping them dynamic.
    examples = tuple(
        torch.zeros((2, *shape), dtype=getattr(torch, dtype), device=policy.device)
        for shape, dtype in specs.values()
    )
    batch = torch.export.Dim("batch")
    if isinstance(graph, DictDeterministicPolicy):
        dynamic_shapes: Any = {"observation": tuple({0: batch} for _ in specs)}
    else:
        dynamic_shapes = {"observation": {0: batch}}
    outputs = [ACTION_OUTPUT, PROBABILITIES_OUTPUT] if graph.discrete else [ACTION_OUTPUT]
    was_training = policy.training
    graph.eval()  # batch norm and dropout as in predict(); this includes the policy's modules
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                graph,
                examples,
                input_names=list(specs),
                output_names=outputs,
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        raise ExportError(
            f"torch could not export the {type(policy).__name__} to ONNX: "
            f"{type(exc).__name__}: {exc}. Every module of the policy's features extractor must "
            "be traceable by torch.export (no data-dependent Python control flow)."
        ) from exc
    finally:
        policy.set_training_mode(was_training)
    return program.model_proto


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's chatter that says nothing about the user's policy.

    torch logs one warning per torchvision operator it cannot register (torchvision is not a
    racer dependency), torch's pytree emits a FutureWarning about its own API, and the exporter
    warns that the inputs of a Dict observation share their batch axis.
    """
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            # A Dict observation's inputs share one batch axis, which torch names once.
            warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")
            yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------- check
def check_export(
    model: BaseAlgorithm,
    path: str | os.PathLike[str],
    observations: npt.NDArray[np.uint8] | dict[str, np.ndarray],
    *,
    atol: float = DEFAULT_ATOL,
) -> float:
    """Run the exported graph with onnxruntime and compare it with the torch policy.

    Compared on ``observations``: the actions of ``model.predict(obs, deterministic=True)``
    (discrete: equal, except for ties within `TIE_TOLERANCE`; continuous: within ``atol``) and,
    for a discrete policy, the probabilities of SB3's own action distribution (within ``atol``).

    Args:
        model: the SB3 model that was exported.
        path: the exported ``.onnx`` file.
        observations: (K, H, W, C) uint8 observations as the env gives them, e.g. recorded while
            stepping the env; K >= 1. For a camera-and-lidar model, the env's dict of them and
            the (K, D) float32 lidar readings, keyed by sensor.
        atol: the largest absolute difference accepted.

    Returns:
        The largest absolute difference between onnxruntime and torch: of the probabilities
        (discrete) or of the actions (continuous).

    Raises:
        ExportError: the file does not load, does not fit the model, or differs from it.
    """
    from racer.export.runner import OnnxPolicy

    if isinstance(observations, dict):
        ok = bool(observations) and all(
            isinstance(v, np.ndarray) and v.ndim >= 2 and len(v) for v in observations.values()
        )
        got: Any = {k: getattr(v, "shape", type(v).__name__) for k, v in observations.items()}
    else:
        ok = isinstance(observations, np.ndarray) and observations.ndim == 4 and len(observations)
        got = getattr(observations, "shape", type(observations).__name__)
    if not ok:
        raise ExportError(
            "check_export needs a (K, H, W, C) uint8 array of K >= 1 recorded observations (or, "
            f"for a camera-and-lidar model, a dict of such arrays per sensor), got {got}."
        )
    policy = policy_of(model)
    onnx_policy = OnnxPolicy(path)
    onnx_out = onnx_policy.run(observations)
    expected_type = "discrete" if isinstance(policy.action_space, spaces.Discrete) else "continuous"
    if onnx_policy.action_space_type != expected_type:
        raise ExportError(
            f"{path} holds a {onnx_policy.action_space_type} policy but the model is "
            f"{expected_type}. Export this model again."
        )
    actions, _ = model.predict(observations, deterministic=True)
    if expected_type == "continuous":
        diff = max_abs_diff(onnx_out[ACTION_OUTPUT], actions)
        _check_within(diff, atol, "continuous actions", path)
        return diff
    obs_tensor, _ = policy.obs_to_tensor(observations)
    with torch.no_grad():
        probs = policy.get_distribution(obs_tensor).distribution.probs.cpu().numpy()
    diff = max_abs_diff(onnx_out[PROBABILITIES_OUTPUT], probs)
    _check_within(diff, atol, "action probabilities", path)
    _check_argmax(onnx_out[ACTION_OUTPUT], np.asarray(actions), probs, path)
    return diff


def _check_within(diff: float, atol: float, what: str, path: Any) -> None:
    """Raise ExportError if ``diff`` exceeds ``atol`` (or is NaN)."""
    if not diff <= atol:
        raise ExportError(
            f"The ONNX export {path} differs from the torch policy: max |onnx - torch| of the "
            f"{what} is {diff:.3g} > {atol:g}. Export again with the policy in its final state; "
            "if it persists, the features extractor does not export faithfully."
        )


def _check_argmax(
    onnx_actions: np.ndarray, actions: np.ndarray, probs: np.ndarray, path: Any
) -> None:
    """Raise ExportError where the ONNX argmax differs from predict() other than in a tie."""
    onnx_actions = np.asarray(onnx_actions).reshape(-1)
    actions = actions.reshape(-1)
    rows = np.flatnonzero(onnx_actions != actions)
    gap = np.abs(probs[rows, onnx_actions[rows]] - probs[rows, actions[rows]])
    bad = rows[gap > TIE_TOLERANCE]
    if len(bad):
        i = int(bad[0])
        raise ExportError(
            f"The ONNX export {path} picks different actions from model.predict on {len(bad)} of "
            f"{len(actions)} observations (first: observation {i}, onnx {int(onnx_actions[i])}, "
            f"torch {int(actions[i])}). Export the policy again."
        )
