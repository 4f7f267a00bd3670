"""A real DeepRacer model (its frozen TensorFlow graph) as a racer policy, run with OpenVINO.

DeepRacer's trainer freezes the policy network into a TensorFlow 1 GraphDef (SPEC 11): a
deepracer-for-cloud model folder keeps it as ``model_<iteration>.pb`` beside
``model_metadata.json``, a console download as ``agent/model.pb``. `DeepRacerPolicy` loads such a
graph with OpenVINO, the runtime the physical car uses, so no TensorFlow is needed: OpenVINO's
TensorFlow frontend reads the GraphDef itself and ignores the ``/device:GPU:0`` pins that real
files carry on some nodes.

The graph's contract (clipped PPO, discrete actions, one camera):

- input ``main_level/agent/main/online/network_0/<SENSOR>/<SENSOR>``, float32 (N, 120, 160, C),
  raw 0-255 grayscale (the graph divides by 255 itself); C = 1 for FRONT_FACING_CAMERA;
- output ``main_level/agent/main/online/network_1/ppo_head_0/policy``, the softmax (N, n) over
  the n entries of ``action_space`` in model_metadata.json, in the file's order, which is the
  order of racer's discrete action indices.

`DeepRacerPolicy.predict` takes racer's (N, H, W, C) uint8 camera frames unchanged and returns
the argmax, as the car's inference node does. Continuous-action, SAC and lidar models are not
supported yet: each is refused at load with an `ExportError` saying so.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from racer.errors import ExportError
from racer.export.deepracer_archive import is_model_archive, unpack_model_archive
from racer.formats.model_metadata import ModelMetadata, load_model_metadata

DEFAULT_THREADS = 1
"""OpenVINO's inference threads by default: one, as for `racer.export.runner.OnnxPolicy`, which
leaves the other core of a 2-core machine to the simulator."""
INPUT_NAME = "main_level/agent/main/online/network_0/{sensor}/{sensor}"
"""The PPO graph's input tensor for one sensor (SPEC 11), without TensorFlow's ``:0``."""
OUTPUT_NAME = "main_level/agent/main/online/network_1/ppo_head_0/policy"
"""The PPO graph's policy head: the softmax over the discrete actions (SPEC 11)."""
METADATA_NAME = "model_metadata.json"
_NUMBERED = re.compile(r"model_(\d+)\.pb")
_INSTALL = "pip install 'racer[deepracer]' (or pip install openvino)"


class DeepRacerPolicy:
    """A DeepRacer model's frozen graph as a deterministic racer `Policy`, run with OpenVINO.

    Example::

        policy = DeepRacerPolicy("model/model_48.pb")   # model_metadata.json beside it
        env = EnvConfig(track="reinvent_base.npy", model_metadata=str(policy.metadata_path))
        result = evaluate_laps(env, policy, laps=3)

    Args:
        path: the ``.pb`` file, a folder holding ``model.pb``, ``model_<n>.pb`` files (the
            newest is taken) or exactly one ``.pb``, or the car's ``.tar.gz`` archive
            (`racer.export.deepracer_archive`).
        metadata: the model's ``model_metadata.json``; by default the one beside the graph, or
            in the folder above it (a console download keeps the graph in ``agent/``).
        iteration: in a folder of ``model_<n>.pb`` files, take ``model_<iteration>.pb``.
        num_threads: OpenVINO's inference threads; None lets OpenVINO choose.

    Raises:
        ExportError: OpenVINO is not installed; no graph or no model_metadata.json at the path;
            the file is not a frozen graph OpenVINO can read; the graph lacks DeepRacer's input
            or policy output; its action count differs from the metadata's; or the model is of a
            kind not supported yet (continuous actions, SAC, lidar).
        ConfigError: the model_metadata.json is invalid.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: str | os.PathLike[str] | None = None,
        iteration: int | None = None,
        num_threads: int | None = DEFAULT_THREADS,
    ) -> None:
        if num_threads is not None and num_threads < 1:
            raise ExportError(f"num_threads must be >= 1 or None, got {num_threads}.")
        self.source = Path(path)
        """What was given: the graph, its folder or the car's archive."""
        self._unpacked = None  # an archive's temporary folder, kept while the policy lives
        if is_model_archive(self.source):
            if iteration is not None:
                raise ExportError(f"{self.source}: an archive holds one model; give no iteration.")
            self._unpacked = unpack_model_archive(self.source)
            path = Path(self._unpacked.name)
        self.path = find_graph(Path(path), iteration)
        """The frozen graph, ``.pb`` (inside a temporary folder for an archive)."""
        self.metadata_path = Path(metadata) if metadata is not None else find_metadata(self.path)
        """The model_metadata.json the model was trained with."""
        self.metadata: ModelMetadata = load_model_metadata(self.metadata_path, strict=False)
        """The parsed model_metadata.json (its action space gives the actions' order)."""
        _check_supported(self.metadata, self.metadata_path)
        self.input_name = INPUT_NAME.format(sensor=self.metadata.camera)
        """The graph's camera input tensor."""
        model = _read_graph(self.path)
        self._input, camera = _port(model.inputs, self.input_name, self.path, "input")
        self._output, head = _port(model.outputs, OUTPUT_NAME, self.path, "output")
        shape = camera.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise ExportError(f"{self.path}: input {self.input_name} must be (N, H, W, C) camera "
                              f"frames, it has shape {shape}.")  # fmt: skip
        self.observation_shape: tuple[int | None, ...] = tuple(
            d.get_length() if d.is_static else None for d in list(shape)[1:]
        )
        """(H, W, C) of one camera frame; None where the graph accepts any size."""
        self._check_action_count(head.get_partial_shape())
        self._request = _compile(model, num_threads).create_infer_request()

    @property
    def origin(self) -> Path:
        """The file the graph came from: the ``.pb``, or the archive holding it."""
        return self.source if self._unpacked is not None else self.path

    @property
    def action_space_type(self) -> str:
        """``"discrete"`` (the only kind supported so far)."""
        return self.metadata.action_space_type

    @property
    def action_count(self) -> int:
        """n, the number of discrete actions (the softmax's width)."""
        return self.metadata.action_space.n  # type: ignore[union-attr]

    def probabilities(self, observations: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The policy's softmax for a batch of camera frames.

        Args:
            observations: (N, H, W, C) uint8 camera frames, as racer's env gives them (raw
                0-255 grayscale: the graph scales them itself).

        Returns:
            (N, n) float32 action probabilities, in the order of the metadata's action_space.

        Raises:
            ExportError: the frames are not a (N, H, W, C) uint8 array of the model's shape.
        """
        self._check(observations)
        frames = observations.astype(np.float32)
        try:
            result = self._request.infer({self._input: frames})
        except Exception as exc:  # OpenVINO raises plain RuntimeErrors
            raise ExportError(f"OpenVINO failed to run {self.path}: {exc}") from exc
        return np.asarray(result[self._output], dtype=np.float32)

    def predict(self, observations: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        """The deterministic actions: the argmax of the softmax, as DeepRacer's car takes it.

        Args:
            observations: (N, H, W, C) uint8 camera frames, as racer's env gives them.

        Returns:
            (N,) int64 action indices into the metadata's action_space: what ``env.step`` takes.

        Raises:
            ExportError: the frames do not fit the model (see `probabilities`).
        """
        return np.argmax(self.probabilities(observations), axis=1).astype(np.int64)

    def _check(self, observations: Any) -> None:
        """Raise ExportError unless ``observations`` is a batch of the model's uint8 frames."""
        want = ("N", *(n if n is not None else "any" for n in self.observation_shape))
        if not isinstance(observations, np.ndarray):
            raise ExportError(f"Observations must be a numpy array of shape {want} uint8, got "
                              f"{type(observations).__name__}.")  # fmt: skip
        fits = observations.ndim == 4 and all(
            n is None or n == got
            for n, got in zip(self.observation_shape, observations.shape[1:], strict=True)
        )
        if not fits:
            hint = (" Add the batch axis: observations[None]."
                    if observations.shape == self.observation_shape
                    else " Pass the env's camera frames unchanged (channel last).")  # fmt: skip
            raise ExportError(f"Observations must have shape {want} for {self.path.name}, got "
                              f"{observations.shape}.{hint}")  # fmt: skip
        if observations.dtype != np.uint8:
            raise ExportError(f"Observations must be uint8 camera frames (0..255), got dtype "
                              f"{observations.dtype}. Pass the env's frames unchanged: the graph "
                              "scales them itself.")  # fmt: skip

    def _check_action_count(self, shape: Any) -> None:
        """Raise ExportError unless the policy head is (N, n) with the metadata's n."""
        width = list(shape)[-1] if shape.rank.is_static and shape.rank.get_length() == 2 else None
        if width is None or not width.is_static or width.get_length() != self.action_count:
            raise ExportError(
                f"{self.path}: the policy output {OUTPUT_NAME} has shape {shape}, but "
                f"{self.metadata_path} lists {self.action_count} actions. Give the "
                "model_metadata.json the model was trained with (metadata=...)."
            )

    def __repr__(self) -> str:
        return f"DeepRacerPolicy({str(self.origin)!r}, {self.action_count} actions)"


def find_graph(path: Path, iteration: int | None = None) -> Path:
    """The frozen graph at ``path``: the ``.pb`` file itself, or the one in a folder.

    In a folder: ``model_<iteration>.pb`` when ``iteration`` is given; else ``model.pb`` (a
    console download's ``agent/``), else the newest ``model_<n>.pb`` (a deepracer-for-cloud
    model folder keeps one per checkpoint), else its only ``.pb`` file.

    Raises:
        ExportError: nothing there, no such iteration, or a folder with no graph to choose.
    """
    if path.is_dir():
        numbered = {int(m.group(1)): p for p in path.glob("model_*.pb")
                    if (m := _NUMBERED.fullmatch(p.name))}  # fmt: skip
        graphs = sorted(path.glob("*.pb"))
        if iteration is not None:
            if iteration in numbered:
                return numbered[iteration]
            have = ", ".join(str(n) for n in sorted(numbered)) or "none"
            raise ExportError(
                f"{path} has no model_{iteration}.pb (iterations there: {have}). Give one of "
                "those, or leave the iteration out for the newest."
            )
        if (path / "model.pb").is_file():
            return path / "model.pb"
        if numbered:
            return numbered[max(numbered)]
        if len(graphs) == 1:
            return graphs[0]
        found = ", ".join(p.name for p in graphs) or "none"
        raise ExportError(
            f"{path} is a folder; it must hold model.pb, model_<n>.pb files or exactly one .pb "
            f"file (found: {found}). Give the .pb file itself."
        )
    if iteration is not None:
        raise ExportError(f"{path}: an iteration picks a model_<n>.pb in a model folder; give "
                          "the folder, or the .pb file without an iteration.")  # fmt: skip
    if not path.is_file():
        raise ExportError(
            f"No DeepRacer model at {path}: the file does not exist. Give the frozen graph "
            "(model.pb of a console download's agent/ folder, or model_<n>.pb of a "
            "deepracer-for-cloud model folder) or check the path."
        )
    return path


def is_deepracer_model(path: Path) -> bool:
    """True for a ``.pb`` file, the car's archive, or a folder of graphs that is not a run."""
    if path.suffix == ".pb" or is_model_archive(path):
        return True
    return path.is_dir() and not (path / "racer.toml").exists() and any(path.glob("*.pb"))


def find_metadata(graph: Path) -> Path:
    """The ``model_metadata.json`` beside ``graph``, or in the folder above it.

    Raises:
        ExportError: neither exists.
    """
    candidates = [graph.parent / METADATA_NAME, graph.parent.parent / METADATA_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ExportError(
        f"{graph}: no {METADATA_NAME} beside it ({candidates[0]}) or above it ({candidates[1]}). "
        "A DeepRacer model needs the model_metadata.json it was trained with, for its action "
        "space: put it beside the .pb or pass metadata=..."
    )


def _check_supported(metadata: ModelMetadata, source: Path) -> None:
    """Raise ExportError for the kinds of DeepRacer model racer cannot run yet."""
    if metadata.training_algorithm != "clipped_ppo" or metadata.action_space_type != "discrete":
        raise ExportError(
            f"{source}: a {metadata.training_algorithm} model with a {metadata.action_space_type} "
            "action space; racer runs DeepRacer's clipped_ppo models with discrete actions so far "
            "(continuous and SAC policy heads are not read yet)."
        )
    if metadata.lidar is not None:
        raise ExportError(
            f"{source}: sensor {list(metadata.sensor)} includes a lidar; racer runs DeepRacer "
            "models with one camera input so far."
        )


def _port(ports: list[Any], name: str, path: Path, kind: str) -> tuple[int, Any]:
    """The index and port of the graph's input or output ``name`` (with or without ``:0``)."""
    for index, port in enumerate(ports):
        if name in port.get_names() or f"{name}:0" in port.get_names():
            return index, port
    have = sorted(n for port in ports for n in port.get_names())
    raise ExportError(
        f"{path} is a TensorFlow graph but not a DeepRacer PPO policy of this model_metadata: it "
        f"has no {kind} {name}; its {kind}s are {have}. Check that the .pb and its "
        "model_metadata.json belong together."
    )


def _read_graph(path: Path) -> Any:
    """OpenVINO's model of the frozen graph at ``path``."""
    openvino = _import_openvino()
    try:
        return openvino.Core().read_model(str(path))
    except Exception as exc:  # OpenVINO raises plain RuntimeErrors for unreadable files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"{path} is not a TensorFlow frozen graph that OpenVINO can read ({first}). Give the "
            "model.pb a DeepRacer model folder or download holds; the file may be truncated."
        ) from exc


def _compile(model: Any, num_threads: int | None) -> Any:
    """The model compiled for OpenVINO's CPU plugin, in float32."""
    openvino = _import_openvino()
    # On CPUs with bfloat16 units (AVX512-BF16, AMX) OpenVINO's CPU default is bf16, which moves
    # DeepRacer's softmax by ~1e-3 and could flip a close argmax; f32 equals TensorFlow's outputs.
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if num_threads is not None:
        config["INFERENCE_NUM_THREADS"] = num_threads
    return openvino.Core().compile_model(model, "CPU", config)


def _import_openvino() -> Any:
    """The ``openvino`` module, imported with OpenVINO's usage telemetry off.

    ``import openvino`` sends an analytics event and writes a client id under ``~/intel`` unless
    the user opted out; racer keeps that off (tests run offline and write only to their tmp
    folders) by hiding ``openvino_telemetry`` during the import, which makes OpenVINO use its
    built-in no-op stub.

    Raises:
        ExportError: OpenVINO is not installed, naming the pip extra.
    """
    hidden = "openvino_telemetry" not in sys.modules
    if hidden:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
    try:
        import openvino
    except ImportError as exc:
        raise ExportError(
            f"Running a DeepRacer model (.pb) needs OpenVINO, which is not installed: {_INSTALL}."
        ) from exc
    finally:
        if hidden:
            del sys.modules["openvino_telemetry"]
    return openvino
