"""Run an exported policy with onnxruntime alone: no torch, no stable-baselines3, no pickle.

`racer evaluate` drives exported models through this module, so it imports numpy, onnxruntime
and `racer.errors` only, and the ``.onnx`` file is the whole model: a protobuf graph with its
weights, read without unpickling anything.

The graph's contract (written by `racer.export.onnx.export_onnx`):

- camera-only models: input ``observation``, (batch, H, W, C) uint8, the env's camera frames;
  batch is dynamic. `OnnxPolicy.predict` takes the array.
- camera-and-lidar models (the env's observation is a dict): one input per sensor, named as the
  env's dict keys, e.g. ``FRONT_FACING_CAMERA`` (batch, H, W, C) uint8 and ``SECTOR_LIDAR``
  (batch, D) float32, all with the same batch. `OnnxPolicy.predict` takes the dict.
- output ``action``: (batch,) int64 action indices (discrete) or (batch, 2) float32
  [steering, speed] in [-1, 1] (continuous), both exactly what ``env.step`` takes;
- output ``probabilities``: (batch, n) float32, discrete policies only.

``metadata_props`` (strings): ``racer_onnx_format``, ``racer_version``, ``algorithm``,
``policy_class``, ``action_space_type`` ("discrete" / "continuous"), ``action_count``
(discrete), ``action_output``, ``observation_layout`` ("NHWC"), ``observation_shape`` (JSON
[H, W, C]), ``observation_dtype``, ``observation_preprocessing``, ``sensor`` (JSON list),
``deterministic``, and ``action_space`` (the model_metadata.json value, when the exporter was
given it). Camera-and-lidar models also have ``observation_inputs`` (JSON list of the input
names), ``observation_shapes`` and ``observation_dtypes`` (JSON objects keyed by input name);
there ``observation_shape`` and ``observation_dtype`` describe the camera image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from racer.errors import ExportError

DEFAULT_THREADS = 1
"""onnxruntime's intra-op threads by default. On racer's 2-core machines one thread was the
fastest setting even alone (DeepRacer's shallow network: 0.8 ms per frame at batch 1, 2,200
frames/s at batch 64; onnxruntime's own choice: 1.8 ms and 1,600), and it leaves the other core
to the simulator."""
_INPUT = "observation"
_ACTION = "action"
_PROBABILITIES = "probabilities"


class OnnxPolicy:
    """A deterministic racer policy exported to ONNX, run with onnxruntime on the CPU.

    Example::

        policy = OnnxPolicy("runs/my-run/policy.onnx")
        obs = vec_env.reset()                 # (N, 120, 160, 1) uint8, or a dict with a lidar
        obs, rewards, dones, infos = vec_env.step(policy.predict(obs))

    Args:
        path: the ``.onnx`` file written by `racer.export.onnx.export_onnx`.
        num_threads: onnxruntime's intra-op threads; None lets onnxruntime choose (one per
            core), which competes with the simulator for the CPU.

    Raises:
        ExportError: onnxruntime is not installed, the file is missing or not a valid ONNX
            model, or the graph lacks racer's inputs (``observation``, or one per sensor) or
            ``action`` output.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, num_threads: int | None = DEFAULT_THREADS
    ) -> None:
        self.path = Path(path)
        if num_threads is not None and num_threads < 1:
            raise ExportError(f"num_threads must be >= 1 or None, got {num_threads}.")
        if not self.path.is_file():
            raise ExportError(
                f"No exported policy at {self.path}: the file does not exist. Export the trained "
                "model first (racer.export.export_onnx) or check the path."
            )
        self._session = _open_session(self.path, num_threads)
        inputs = {i.name: i for i in self._session.get_inputs()}
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.dict_observation = set(inputs) != {_INPUT}
        """The model takes a dict of sensor observations (camera and lidar), not one array."""
        if _ACTION not in self._outputs or (
            self.dict_observation and not all(map(_is_sensor_input, inputs.values()))
        ):
            raise ExportError(
                f"{self.path} is an ONNX model but not a racer policy: it needs one input "
                f"{_INPUT!r} (or one per sensor: (batch, H, W, C) uint8 images and (batch, D) "
                f"float32 vectors) and an output {_ACTION!r}, it has inputs {sorted(inputs)} and "
                f"outputs {self._outputs}. Export it with racer.export.export_onnx."
            )
        if not self.dict_observation:
            node = inputs[_INPUT]
            if node.type != "tensor(uint8)" or len(node.shape) != 4:
                raise ExportError(
                    f"{self.path}: input {_INPUT!r} must be a (batch, H, W, C) uint8 tensor, got "
                    f"{node.type} of shape {node.shape}. Export it with racer.export.export_onnx."
                )
        self.input_shapes: dict[str, tuple[int | None, ...]] = {
            name: tuple(d if isinstance(d, int) else None for d in node.shape[1:])
            for name, node in inputs.items()
        }
        """Input name -> shape of one observation ((H, W, C) or (D,)); None where the graph
        accepts any size. The one name is ``observation`` for a camera-only model."""
        self._dtypes = {
            name: np.uint8 if node.type == "tensor(uint8)" else np.float32
            for name, node in inputs.items()
        }
        image = next(n for n, node in inputs.items() if node.type == "tensor(uint8)")
        self.observation_shape: tuple[int | None, ...] = self.input_shapes[image]
        """(H, W, C) of one camera image; None where the graph accepts any size."""
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        """The model's ``metadata_props`` (see the module doc)."""

    @property
    def action_space_type(self) -> str:
        """``"discrete"`` or ``"continuous"``."""
        if "action_space_type" in self.metadata:
            return self.metadata["action_space_type"]
        return "discrete" if _PROBABILITIES in self._outputs else "continuous"

    def run(
        self, observation: npt.NDArray[np.uint8] | Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Every output of the graph for a batch of observations.

        Args:
            observation: (B, H, W, C) uint8 camera frames, as the env gives them; for a
                camera-and-lidar model, the env's dict of them and the (B, D) float32 lidar.

        Returns:
            ``{"action": ..., "probabilities": ...}`` (the latter for discrete policies only).

        Raises:
            ExportError: the observation does not fit the model's inputs (see `predict`).
        """
        feed = self._feed(observation)
        try:
            values = self._session.run(None, feed)
        except Exception as exc:  # onnxruntime's own exception types are not public API
            raise ExportError(f"onnxruntime failed to run {self.path}: {exc}") from exc
        return dict(zip(self._outputs, values, strict=True))

    def predict(self, observation: npt.NDArray[np.uint8] | Mapping[str, np.ndarray]) -> np.ndarray:
        """The deterministic actions for a batch of observations, in the env's action format.

        Args:
            observation: (B, H, W, C) uint8 camera frames, as the env gives them; for a
                camera-and-lidar model, the env's dict of them (under the camera's sensor name)
                and the (B, D) float32 lidar (under the lidar's).

        Returns:
            (B,) int64 action indices (discrete) or (B, 2) float32 [steering, speed] in [-1, 1]
            (continuous): what ``RacerVecEnv.step`` takes.

        Raises:
            ExportError: the observation is not a (B, H, W, C) uint8 array of the model's shape
                (or, for a camera-and-lidar model, not a dict of one array per sensor, each of
                the model's shape and dtype, all with the same batch B).
        """
        return self.run(observation)[_ACTION]

    def _feed(self, observation: Any) -> dict[str, np.ndarray]:
        """The onnxruntime feed for ``observation``, or ExportError if it does not fit."""
        if not self.dict_observation:
            if isinstance(observation, Mapping):
                raise ExportError(
                    f"{self.path.name} is a camera-only model: pass the camera frames as one "
                    f"array, not a dict with keys {sorted(observation)}."
                )
            self._check(_INPUT, observation)
            return {_INPUT: observation}
        names = sorted(self.input_shapes)
        if not isinstance(observation, Mapping) or sorted(observation) != names:
            got = (
                f"a dict with keys {sorted(observation)}"
                if isinstance(observation, Mapping)
                else type(observation).__name__
            )
            raise ExportError(
                f"{self.path.name} takes a dict of one batch per sensor, keyed {names}, as the "
                f"env gives it, got {got}."
            )
        for name in names:
            self._check(name, observation[name])
        batches = {name: len(observation[name]) for name in names}
        if len(set(batches.values())) != 1:
            raise ExportError(f"The sensors' batches must have the same size, got {batches}.")
        return {name: observation[name] for name in names}

    def _check(self, name: str, observation: Any) -> None:
        """Raise ExportError unless ``observation`` fits the graph's input ``name``."""
        shape = self.input_shapes[name]
        dtype = np.dtype(self._dtypes[name])
        what = "Observations" if name == _INPUT else f"Observations of {name}"
        want = ("B", *(n if n is not None else "any" for n in shape))
        if not isinstance(observation, np.ndarray):
            raise ExportError(
                f"{what} must be a numpy array of shape {want} {dtype}, got "
                f"{type(observation).__name__}."
            )
        shape_ok = observation.ndim == len(shape) + 1 and all(
            n is None or n == got for n, got in zip(shape, observation.shape[1:], strict=True)
        )
        if not shape_ok:
            hint = (
                " Add the batch axis: observation[None]."
                if observation.shape == tuple(shape)
                else " Pass the env's observations unchanged (channel last, not transposed)."
            )
            raise ExportError(
                f"{what} must have shape {want} for {self.path.name}, got "
                f"{observation.shape}.{hint}"
            )
        if observation.dtype != dtype:
            if dtype == np.uint8:
                raise ExportError(
                    f"{what} must be uint8 camera frames (0..255), got dtype "
                    f"{observation.dtype}. Pass the env's observations unchanged: the graph "
                    "scales them itself."
                )
            raise ExportError(
                f"{what} must be float32, got dtype {observation.dtype}. Pass the env's "
                "observations unchanged."
            )

    def __repr__(self) -> str:
        return f"OnnxPolicy({str(self.path)!r}, {self.action_space_type})"


def _is_sensor_input(node: Any) -> bool:
    """An onnxruntime input node is a (batch, H, W, C) uint8 image or a (batch, D) float vector."""
    return (node.type == "tensor(uint8)" and len(node.shape) == 4) or (
        node.type == "tensor(float)" and len(node.shape) == 2
    )


def _open_session(path: Path, num_threads: int | None) -> Any:
    """An onnxruntime CPU session for ``path`` with ``num_threads`` intra-op threads."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ExportError(
            "Running an exported policy needs onnxruntime. Install it: pip install onnxruntime"
        ) from exc
    options = ort.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # Idle onnxruntime threads spin, as OpenMP's do, and would slow the simulator that
        # shares the cores between two policy calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings go to stderr of every evaluation
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # InvalidProtobuf, Fail, ...: onnxruntime's types are not public
        raise ExportError(
            f"{path} is not a valid ONNX model ({type(exc).__name__}: {exc}). The file may be "
            "truncated or not an export; export the trained model again."
        ) from exc
