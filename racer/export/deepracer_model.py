"""A real DeepRacer model (its frozen TensorFlow graph) as a racer policy, run with OpenVINO.

DeepRacer's trainer freezes the policy network into a TensorFlow 1 GraphDef (SPEC 11): a
deepracer-for-cloud model folder keeps it as ``model_<iteration>.pb`` beside
``model_metadata.json``, a console download as ``agent/model.pb``. `DeepRacerPolicy` loads such a
graph with OpenVINO, the runtime the physical car uses, so no TensorFlow is needed: OpenVINO's
TensorFlow frontend reads the GraphDef itself and ignores the ``/device:GPU:0`` pins that real
files carry on some nodes.

The graph's contract (SPEC 11):

- one input per sensor, ``main_level/agent/<scope>/online/network_0/<SENSOR>/<SENSOR>``, with
  scope ``main`` for clipped PPO and ``policy`` for SAC: the camera float32 (N, 120, 160, C), raw
  0-255 grayscale (the graph divides by 255 itself), C = 1 (FRONT_FACING_CAMERA, LEFT_CAMERA) or
  2 (STEREO_CAMERAS); a lidar (LIDAR, SECTOR_LIDAR, DISCRETIZED_SECTOR_LIDAR) float32 (N, D), the
  values racer's env gives (`racer.sensors.lidar`);
- output ``main_level/agent/main/online/network_1/ppo_head_0/policy`` for PPO: the softmax (N, n)
  over the n entries of ``action_space`` in model_metadata.json, in the file's order (the order
  of racer's discrete action indices), or for a continuous space the Gaussian's means (N, 2),
  [steering, speed] in the [-1, 1] box; for SAC
  ``main_level/agent/policy/online/network_0/sac_policy_head_0/policy``, the Gaussian's means
  (N, 2) before its tanh.

`DeepRacerPolicy.predict` takes racer's observations unchanged ((N, H, W, C) uint8 frames, or
the env's dict of a camera and a lidar) and returns what DeepRacer's evaluation does with the
output: the argmax of the softmax (as the car's inference node does); PPO's means clipped to
[-1, 1] (the car and the simapp clip them, then scale to [low, high]); SAC's means through the
tanh (the simapp's deterministic evaluation rescales tanh(mean) to [low, high]; the physical car
clips the raw means instead, a difference in DeepRacer itself). racer's env takes actions in the
same [-1, 1] box and scales them to the model_metadata.json's bounds.
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
from racer.export.graphdef import read_graph
from racer.formats.model_archive import is_model_archive, unpack_model_archive
from racer.formats.model_metadata import ModelMetadata, load_model_metadata

DEFAULT_THREADS = 1
"""OpenVINO's inference threads by default: one, as for `racer.export.runner.OnnxPolicy`, which
leaves the other core of a 2-core machine to the simulator."""
_SCOPE = {"clipped_ppo": "main_level/agent/main/online", "sac": "main_level/agent/policy/online"}
"""The agent's online networks per training algorithm (rl_coach's ``main`` or ``policy``)."""
_POLICY = {"clipped_ppo": ("network_1", "ppo_head_0"), "sac": ("network_0", "sac_policy_head_0")}
"""The policy's network and head per algorithm: clipped PPO keeps the value network as
network_0 and the policy as network_1; SAC's policy is its one network."""
METADATA_NAME = "model_metadata.json"
_NUMBERED = re.compile(r"model_(\d+)\.pb")
_INSTALL = "pip install 'racer[deepracer]' (or pip install openvino)"


def input_name(sensor: str, algorithm: str = "clipped_ppo") -> str:
    """The graph's input tensor for ``sensor`` (SPEC 11), without TensorFlow's ``:0``.

    The inputs are network_0's placeholders, which PPO's policy network shares.
    """
    return f"{_SCOPE[algorithm]}/network_0/{sensor}/{sensor}"


def policy_network(algorithm: str = "clipped_ppo") -> str:
    """The scope of the policy network's layers under ``algorithm`` (clipped_ppo or sac)."""
    return f"{_SCOPE[algorithm]}/{_POLICY[algorithm][0]}"


def output_name(algorithm: str = "clipped_ppo") -> str:
    """The graph's policy output (SPEC 11): PPO's softmax or means, SAC's means before the tanh."""
    return f"{policy_network(algorithm)}/{_POLICY[algorithm][1]}/policy"


class DeepRacerPolicy:
    """A DeepRacer model's frozen graph as a deterministic racer `Policy`, run with OpenVINO.

    Example::

        policy = DeepRacerPolicy("model/model_48.pb")   # model_metadata.json beside it
        env = EnvConfig(track="reinvent_base.npy", model_metadata=str(policy.metadata_path))
        result = evaluate_laps(env, policy, laps=3)

    Args:
        path: the ``.pb`` file, a folder holding ``model.pb``, ``model_<n>.pb`` files (the
            newest is taken) or exactly one ``.pb``, or the car's ``.tar.gz`` archive
            (`racer.formats.model_archive`).
        metadata: the model's ``model_metadata.json``; by default the one beside the graph, or
            in the folder above it (a console download keeps the graph in ``agent/``).
        iteration: in a folder of ``model_<n>.pb`` files, take ``model_<iteration>.pb``.
        num_threads: OpenVINO's inference threads; None lets OpenVINO choose.

    Raises:
        ExportError: OpenVINO is not installed; no graph or no model_metadata.json at the path;
            the file is not a frozen graph OpenVINO can read; the graph lacks DeepRacer's inputs
            for the metadata's sensors or its policy output; or its output's width differs
            from the metadata's action count (2 for a continuous space).
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
        algorithm = self.metadata.training_algorithm
        self.input_name = input_name(self.metadata.camera, algorithm)
        """The graph's camera input tensor."""
        self.lidar_input_name = (input_name(self.metadata.lidar, algorithm)
                                 if self.metadata.lidar else None)  # fmt: skip
        """The graph's lidar input tensor, or None for a camera-only model."""
        self.output_name = output_name(algorithm)
        """The graph's policy output tensor."""
        model = read_openvino_model(self.path)
        self._input, camera = find_port(model.inputs, self.input_name, self.path, "input")
        self._lidar = None
        if self.lidar_input_name is not None:
            self._lidar, _ = find_port(model.inputs, self.lidar_input_name, self.path, "input")
        self._output, head = find_port(model.outputs, self.output_name, self.path, "output")
        shape = camera.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise ExportError(f"{self.path}: input {self.input_name} must be (N, H, W, C) camera "
                              f"frames, it has shape {shape}.")  # fmt: skip
        self.observation_shape: tuple[int | None, ...] = tuple(
            d.get_length() if d.is_static else None for d in list(shape)[1:]
        )
        """(H, W, C) of one camera frame; None where the graph accepts any size."""
        self._check_action_count(head.get_partial_shape())
        self._request = compile_model(model, num_threads).create_infer_request()

    @property
    def origin(self) -> Path:
        """The file the graph came from: the ``.pb``, or the archive holding it."""
        return self.source if self._unpacked is not None else self.path

    @property
    def action_space_type(self) -> str:
        """``"discrete"`` or ``"continuous"``, from the model_metadata.json."""
        return self.metadata.action_space_type

    @property
    def action_count(self) -> int:
        """The output's width: n discrete actions (the softmax), or 2 means (continuous)."""
        space = self.metadata.action_space
        return space.n if self.action_space_type == "discrete" else 2  # type: ignore[union-attr]

    def outputs(self, observations: Any) -> npt.NDArray[np.float32]:
        """The graph's policy output for a batch of observations.

        Args:
            observations: (N, H, W, C) uint8 camera frames, as racer's env gives them (raw
                0-255 grayscale: the graph scales them itself); for a model with a lidar, the
                env's dict of those frames and the (N, D) lidar under their sensor names.

        Returns:
            (N, n) float32: the softmax over the metadata's actions (discrete PPO), or the
            Gaussian's means (N, 2) before the car's clip (continuous PPO) or SAC's tanh.

        Raises:
            ExportError: the observations do not fit the model.
        """
        inputs: dict[int, np.ndarray] = {}
        if self._lidar is not None:
            if not isinstance(observations, dict):
                raise ExportError(f"{self.path.name} takes a camera and a lidar: pass the env's "
                                  f"dict of {self.metadata.camera} and {self.metadata.lidar}, got "
                                  f"{type(observations).__name__}.")  # fmt: skip
            missing = [k for k in (self.metadata.camera, self.metadata.lidar)
                       if k not in observations]  # fmt: skip
            if missing:
                raise ExportError(f"the observations for {self.path.name} lack {missing}.")
            lidar = np.asarray(observations[self.metadata.lidar], dtype=np.float32)
            inputs[self._lidar] = lidar
            observations = observations[self.metadata.camera]
        self._check(observations)
        inputs[self._input] = observations.astype(np.float32)
        try:
            result = self._request.infer(inputs)
        except Exception as exc:  # OpenVINO raises plain RuntimeErrors
            raise ExportError(f"OpenVINO failed to run {self.path}: {exc}") from exc
        return np.asarray(result[self._output], dtype=np.float32)

    def probabilities(self, observations: Any) -> npt.NDArray[np.float32]:
        """The softmax (N, n) of a discrete model (see `outputs`).

        Raises:
            ExportError: the model has a continuous action space, or the observations do not
                fit it.
        """
        if self.action_space_type != "discrete":
            raise ExportError(f"{self.path.name} has a continuous action space: it outputs "
                              "means, not probabilities (use outputs or predict).")  # fmt: skip
        return self.outputs(observations)

    def predict(self, observations: Any) -> npt.NDArray[Any]:
        """The deterministic actions, as DeepRacer's evaluation takes them (see the module doc).

        Args:
            observations: what `outputs` takes.

        Returns:
            Discrete: (N,) int64 action indices into the metadata's action_space. Continuous:
            (N, 2) float32 [steering, speed] in the [-1, 1] box: PPO's means clipped, SAC's
            through the tanh. Either is what ``env.step`` takes.

        Raises:
            ExportError: the observations do not fit the model (see `outputs`).
        """
        out = self.outputs(observations)
        if self.action_space_type == "discrete":
            return np.argmax(out, axis=1).astype(np.int64)
        if self.metadata.training_algorithm == "sac":
            return np.tanh(out).astype(np.float32)
        return np.clip(out, -1.0, 1.0).astype(np.float32)

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
            what = (f"lists {self.action_count} actions" if self.action_space_type == "discrete"
                    else "has a continuous action space (2 means)")  # fmt: skip
            raise ExportError(
                f"{self.path}: the policy output {self.output_name} has shape {shape}, but "
                f"{self.metadata_path} {what}. Give the model_metadata.json the model was "
                "trained with (metadata=...)."
            )

    def __repr__(self) -> str:
        kind = (f"{self.action_count} actions" if self.action_space_type == "discrete"
                else f"continuous {self.metadata.training_algorithm}")  # fmt: skip
        return f"DeepRacerPolicy({str(self.origin)!r}, {kind})"


def find_graph(path: Path, iteration: int | None = None) -> Path:
    """The frozen graph at ``path``: the ``.pb`` file itself, or the one in a folder.

    In a folder: ``model_<iteration>.pb`` when ``iteration`` is given; else ``model.pb`` (a
    console download's ``agent/``), else the newest ``model_<n>.pb`` (a deepracer-for-cloud
    model folder keeps one per checkpoint), else its only ``.pb`` file.

    Raises:
        ExportError: nothing there, no such iteration, or a folder with no graph to choose.
    """
    saved = path / "saved_model.pb" if path.is_dir() else path
    if saved.name == "saved_model.pb" and saved.is_file():
        raise ExportError(
            f"{saved} is a TensorFlow 2 SavedModel, not DeepRacer's frozen TensorFlow 1 graph, so "
            "racer cannot run it. DeepRacer's trained model is model.pb (in a console or "
            "DeepRacer-on-AWS download's agent/ folder) or model_<n>.pb (in a deepracer-for-cloud "
            "model folder): give that file, or freeze the SavedModel's policy into such a graph."
        )
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


def find_port(ports: list[Any], name: str, path: Path, kind: str) -> tuple[int, Any]:
    """The index and port of the graph's input or output ``name`` (with or without ``:0``).

    Raises:
        ExportError: the graph has no such port, naming the ones it has.
    """
    for index, port in enumerate(ports):
        if name in port.get_names() or f"{name}:0" in port.get_names():
            return index, port
    have = sorted(n for port in ports for n in port.get_names())
    raise ExportError(
        f"{path} is a TensorFlow graph but not a DeepRacer policy of this model_metadata: it "
        f"has no {kind} {name}; its {kind}s are {have}. Check that the .pb and its "
        "model_metadata.json belong together."
    )


def read_openvino_model(path: Path) -> Any:
    """OpenVINO's model of the frozen graph at ``path``.

    The file is decoded as a GraphDef by racer first (`racer.export.graphdef`, 0.04 s for the
    shallow network), so that a file that is none is refused in racer's words, before OpenVINO
    tries its other formats and logs its own parse errors.

    Raises:
        ExportError: the file is not a GraphDef, or OpenVINO cannot read it.
    """
    try:
        read_graph(path)
    except ExportError as exc:
        raise ExportError(f"{exc} Give the model.pb a DeepRacer model folder or download holds; "
                          "the file may be truncated or not a frozen graph.") from None  # fmt: skip
    openvino = _import_openvino()
    try:
        return openvino.Core().read_model(str(path))
    except Exception as exc:  # OpenVINO raises plain RuntimeErrors for unreadable files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"{path} is not a TensorFlow frozen graph that OpenVINO can read ({first}). Give the "
            "model.pb a DeepRacer model folder or download holds; the file may be truncated."
        ) from exc


def compile_model(model: Any, num_threads: int | None) -> Any:
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
