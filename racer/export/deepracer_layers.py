"""A DeepRacer frozen graph's policy network read back as numpy layers, without TensorFlow.

`racer.export.deepracer_graph` writes a racer policy as DeepRacer's frozen graph; this module
goes the other way, for ``racer train --pretrained MODEL.pb`` (`racer.export.deepracer_weights`):
it follows the graph from its policy output back to its camera input and returns the chain of
layers it passes, in racer's (torch's) convention, the list format of
``deepracer_graph._layers``:

- ``("conv", hwio (kh, kw, in, out), bias (out,), stride)`` (valid padding, NHWC);
- ``("scale", mul (C,), add (C,))`` for a per-channel affine step (an unfolded batch norm);
- ``("pool", "AvgPool" | "MaxPool", kernel, stride)``, ``("act", "Relu" | "Tanh" |
  "Sigmoid")``, ``("flatten",)``;
- ``("dense", weight (out, in), bias (out,))`` with the weight as torch's ``nn.Linear`` holds it:
  the first dense layer after the flatten has its input columns permuted from NHWC's (H, W, C)
  flatten order back to torch's (C, H, W).

A graph of a camera and a lidar merges their embedders (rl_coach's ``merger``, a ``ConcatV2``)
before its middleware: each embedder is read back as a `GraphBranch`, the layers after the merger
as the chain, whose first dense layer has the camera segment's columns in torch's order.

The graph's input scaling (DeepRacer divides the raw 0-255 frame by 255 and subtracts an offset,
0 in the files seen) is returned apart, as ``x * scale + offset`` of the raw pixel, so that the
loader can fold it into the first layer. What the graph computes in between is checked op by op:
``Identity``, ``StopGradient`` and rl_coach's gradient rescaler (``Pack``, two ``Mul`` whose
factors sum to 1, ``Add``, ``StridedSlice`` of row 0) pass the tensor on unchanged; every other
op must be one of the layers above, or the graph is refused with an `ExportError` naming it.
Nothing in the file is executed: the reader only looks at node names, ops, attributes and
constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import ExportError
from racer.export.graphdef import GraphDef, NodeDef

_ACTIVATIONS = ("Relu", "Tanh", "Sigmoid")
_PASS = ("Identity", "StopGradient", "Snapshot")
_AFFINE = ("RealDiv", "Mul", "Sub", "Add", "AddV2")
_BATCH_NORMS = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")


@dataclass(frozen=True)
class GraphLayers:
    """The policy network of a frozen graph, as read by `read_policy_layers`.

    Attributes:
        input_shape: (H, W, C) of the camera input.
        scale: the graph's input is ``raw * scale + offset`` before its first layer
            (DeepRacer: 1/255 and 0).
        offset: see ``scale``.
        layers: the chain, in the list format of the module doc, the policy head's dense layer
            last.
        output: ``"Softmax"`` (discrete: action probabilities) or ``"Identity"`` (the
            Gaussian's means, continuous).
    """

    input_shape: tuple[int, ...]
    scale: float
    offset: float
    layers: list[tuple[Any, ...]]
    output: str
    branches: tuple[GraphBranch, ...] = ()
    """For a camera and a lidar: each sensor's embedder, in the merger's order; ``layers`` are
    then the middleware and head after the merger, and ``input_shape``, ``scale`` and
    ``offset`` the camera's."""

    def describe(self) -> str:
        """The chain in a few words, e.g. ``conv 32@8x8/4, relu, ..., dense 12``."""
        merged = [f"{b.input_name.rsplit('/', 1)[1]}: [{_words(b.layers)}]" for b in self.branches]
        return "; ".join([*merged, ("merger, " if merged else "") + _words(self.layers)])


@dataclass(frozen=True)
class GraphBranch:
    """One sensor's embedder in a graph that merges two (a camera and a lidar).

    Attributes:
        input_name: the sensor's placeholder.
        input_shape: (H, W, C) of a camera, (D,) of a lidar.
        scale: the input is ``raw * scale + offset`` before the first layer.
        offset: see ``scale``.
        layers: the embedder, in `GraphLayers`' list format.
    """

    input_name: str
    input_shape: tuple[int, ...]
    scale: float
    offset: float
    layers: list[tuple[Any, ...]]


def _words(layers: list[tuple[Any, ...]]) -> str:
    """`GraphLayers.describe` of one chain."""
    words = []
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            kernel = layer[1].shape
            words.append(f"conv {kernel[3]}@{kernel[0]}x{kernel[1]}/{layer[3]}")
        elif kind == "dense":
            words.append(f"dense {layer[1].shape[0]}")
        elif kind == "pool":
            words.append(f"{layer[1][:3].lower()}pool {layer[2]}/{layer[3]}")
        elif kind == "act":
            words.append(layer[1].lower())
        else:
            words.append(kind)
    return ", ".join(words)


class _Reader:
    """Looks up nodes and constant values of one graph; ``path`` names it in errors."""

    def __init__(self, graph: GraphDef, path: Path) -> None:
        self.nodes = {node.name: node for node in graph.nodes}
        self.path = path

    def node(self, ref: str) -> NodeDef:
        """The node producing tensor ``ref`` (``name``, ``name:0``); only first outputs."""
        name, _, port = ref.lstrip("^").partition(":")
        if port not in ("", "0"):
            raise self.refuse(f"the tensor {ref} (racer reads single-output layers)")
        if name not in self.nodes:
            raise ExportError(f"{self.path}: the node {name} that another node reads is not in "
                              "the graph; the file is damaged or not a frozen graph.")  # fmt: skip
        return self.nodes[name]

    def const(self, ref: str) -> np.ndarray | None:
        """The value of ``ref`` if it is a constant, else None.

        A constant is a Const, possibly through Identity or arithmetic on constants.
        """
        node = self.node(ref)
        if node.op == "Const":
            value = node.attr.get("value")
            return np.asarray(value) if value is not None else None
        if node.op in _PASS and node.inputs:
            return self.const(node.inputs[0])
        if node.op in _AFFINE and len(node.inputs) == 2:
            a, b = (self.const(ref) for ref in node.inputs[:2])
            if a is None or b is None:
                return None
            a, b = a.astype(np.float64), b.astype(np.float64)
            return {"RealDiv": a / b, "Mul": a * b, "Sub": a - b}.get(node.op, a + b)
        return None

    def source(self, ref: str) -> NodeDef:
        """The node behind ``ref`` once value-preserving ops are skipped (see the module doc)."""
        node = self.node(ref)
        while True:
            if node.op in _PASS and node.inputs:
                node = self.node(node.inputs[0])
            elif node.op == "StridedSlice" and self._row_zero(node):
                node = self._unpacked(self.source(node.inputs[0]), node)
            else:
                return node

    def _row_zero(self, node: NodeDef) -> bool:
        """True for ``x[0]``: a StridedSlice [0:1:1] of the first axis that drops it."""
        begin, end, step = (self.const(ref) for ref in node.inputs[1:4])
        if begin is None or end is None or step is None:
            return False
        first = [int(np.ravel(v)[0]) if np.size(v) else -1 for v in (begin, end, step)]
        return first == [0, 1, 1] and int(node.attr.get("shrink_axis_mask", 0)) & 1 == 1

    def _unpacked(self, node: NodeDef, where: NodeDef) -> NodeDef:
        """The tensor that ``Pack([x])`` (or rl_coach's rescaler of it) stacked, for ``x[0]``."""
        if node.op == "Pack" and len(node.inputs) == 1 and int(node.attr.get("axis", 0)) == 0:
            return self.source(node.inputs[0])
        if node.op in ("Add", "AddV2") and len(node.inputs) == 2:
            terms = [self.node(ref) for ref in node.inputs]
            if all(t.op == "Mul" and len(t.inputs) == 2 for t in terms):
                weights, packs = [], []
                for term in terms:
                    values = [self.const(ref) for ref in term.inputs]
                    k = 0 if values[0] is not None else 1
                    if values[k] is None or values[k].size != 1:
                        break
                    weights.append(float(values[k].ravel()[0]))
                    packs.append(self.source(term.inputs[1 - k]))
                else:  # two Pack([x]) nodes of the same x, weighted (1 - r) and r
                    stacked = [self._unpacked(pack, where) for pack in packs]
                    if stacked[0] is stacked[1] and abs(sum(weights) - 1.0) <= 1e-6:
                        return stacked[0]
        raise self.refuse(f"the slice {where.name} of a {node.op} ({node.name})")

    def refuse(self, what: str) -> ExportError:
        return ExportError(
            f"{self.path}: its policy network has {what}, which racer does not read. racer "
            "reads DeepRacer's networks (convolutions, pooling, batch norm, dense layers, "
            "ReLU/tanh/sigmoid, a merger of a camera and a lidar) to start training from them; "
            "this graph has another kind of "
            "network, so train from scratch or from a racer run instead."
        )


def read_policy_layers(
    graph: GraphDef,
    input_name: str,
    output_name: str,
    path: Path,
    lidar_name: str | None = None,
) -> GraphLayers:
    """The policy network between the inputs and ``output_name`` (see the module doc).

    Args:
        graph: the decoded frozen graph (`racer.export.graphdef.read_graph`).
        input_name: the camera placeholder's name.
        output_name: the policy head's output node.
        path: the file, for error messages.
        lidar_name: the lidar placeholder's name, for a model with a lidar: the graph then
            merges the two sensors' embedders (``ConcatV2``) before its middleware.

    Raises:
        ExportError: the graph lacks the output, does not lead from it to the inputs through
            supported layers alone, or its shapes do not chain.
    """
    reader = _Reader(graph, path)
    if output_name not in reader.nodes:
        raise ExportError(f"{path} has no policy output {output_name}: it is not a DeepRacer "
                          "policy of this model_metadata.json.")  # fmt: skip
    head = reader.node(output_name)
    if head.op not in ("Softmax", "Identity"):
        raise reader.refuse(f"the output op {head.op} (DeepRacer's policy heads end in Softmax "
                            "or Identity)")  # fmt: skip
    backwards: list[tuple[Any, ...]] = []
    node = reader.source(head.inputs[0]) if head.inputs else head
    while node.op not in ("Placeholder", "ConcatV2"):
        node = _step(reader, node, backwards)
    wanted = [input_name, *([lidar_name] if lidar_name else [])]
    if node.op == "Placeholder":
        if lidar_name is not None or node.name != input_name:
            raise ExportError(f"{path}: the policy output is computed from {node.name} alone, "
                              f"not from the inputs {wanted}.")  # fmt: skip
        shape = _input_shape(reader, node)
        scale, offset, layers, _, _ = _forward(reader, backwards[::-1], shape)
        return GraphLayers(shape, scale, offset, _ended(reader, layers), head.op)
    branches, ends = [], []
    for ref in node.inputs[:-1]:  # ConcatV2's last input is its axis
        steps: list[tuple[Any, ...]] = []
        start = reader.source(ref)
        while start.op != "Placeholder":
            start = _step(reader, start, steps)
        shape = _input_shape(reader, start)
        scale, offset, layers, end, order = _forward(reader, steps[::-1], shape)
        branches.append(GraphBranch(start.name, shape, scale, offset, layers))
        ends.append((end, order))
    names = [branch.input_name for branch in branches]
    if sorted(names) != sorted(wanted) or any(len(end) != 1 for end, _ in ends):
        raise ExportError(f"{path}: the policy merges the inputs {names} (their embedders ending "
                          f"in {[end for end, _ in ends]}); this model's are {wanted}, each "
                          "ending flat.")  # fmt: skip
    orders, size = [], 0
    for (width,), order in ends:
        orders.append(size + (order if order is not None else np.arange(width)))
        size += width
    _, _, layers, _, _ = _forward(reader, backwards[::-1], (size,), np.concatenate(orders))
    camera = branches[names.index(input_name)]
    return GraphLayers(camera.input_shape, camera.scale, camera.offset, _ended(reader, layers),
                       head.op, tuple(branches))  # fmt: skip


def _input_shape(reader: _Reader, node: NodeDef) -> tuple[int, ...]:
    """A placeholder's shape without the batch axis: (H, W, C) of a camera, (D,) of a lidar."""
    shape = tuple(getattr(node.attr.get("shape"), "dims", None) or ())
    if len(shape) not in (2, 4) or min(shape[1:]) < 1:
        raise ExportError(f"{reader.path}: the input {node.name} has shape {shape}; DeepRacer's "
                          "are (N, H, W, C) for a camera and (N, D) for a lidar.")  # fmt: skip
    return tuple(int(n) for n in shape[1:])


def _ended(reader: _Reader, layers: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``layers``, checked to end in the policy head's dense layer."""
    if not layers or layers[-1][0] != "dense":
        raise reader.refuse("no dense policy layer before its output")
    return layers


def _step(reader: _Reader, node: NodeDef, out: list[tuple[Any, ...]]) -> NodeDef:
    """Record ``node`` as a layer (appended backwards) and return the node it reads."""
    op = node.op
    inputs = node.inputs
    if op in _ACTIVATIONS:
        out.append(("act", op))
        return reader.source(inputs[0])
    if op in ("Reshape", "Flatten"):
        out.append(("flatten",))
        return reader.source(inputs[0])
    if op in ("MaxPool", "AvgPool"):
        _plain(reader, node)
        size, stride = _square(reader, node, "ksize"), _square(reader, node, "strides")
        out.append(("pool", op, size, stride))
        return reader.source(inputs[0])
    if op in _BATCH_NORMS:
        scale, offset, mean, var = (reader.const(ref) for ref in inputs[1:5])
        if any(v is None for v in (scale, offset, mean, var)) or node.attr.get("is_training"):
            raise reader.refuse(f"the batch norm {node.name} in training form")
        mul = scale / np.sqrt(var + float(node.attr.get("epsilon", 1e-3)))  # type: ignore[operator]
        out.append(("scale", mul, offset - mean * mul))
        return reader.source(inputs[0])
    return _binary(reader, node, out)


def _binary(reader: _Reader, node: NodeDef, out: list[tuple[Any, ...]]) -> NodeDef:
    """`_step` for an op of a tensor and a constant: a layer's weights, bias or an affine step."""
    op, inputs = node.op, node.inputs
    if len(inputs) < 2:
        raise reader.refuse(f"the op {op} ({node.name})")
    constant = [reader.const(ref) for ref in inputs[:2]]
    k = 1 if constant[1] is not None else 0  # which input is the constant
    value, data = constant[k], inputs[1 - k]
    if value is None:
        raise reader.refuse(f"the op {op} of two computed tensors ({node.name})")
    value = value.astype(np.float64)
    if op == "Conv2D" and k == 1:
        _plain(reader, node)
        out.append(("conv", value, None, _square(reader, node, "strides")))
    elif op == "MatMul" and k == 1:
        if node.attr.get("transpose_a"):
            raise reader.refuse(f"the transposed MatMul {node.name}")
        kernel = value.T if node.attr.get("transpose_b") else value
        out.append(("dense", kernel.T, None))  # torch's (out, in)
    elif op == "BiasAdd" and k == 1:
        out.append(("bias", value))
    elif op in _AFFINE and value.ndim <= 1 and (op != "RealDiv" or k == 1):
        if op == "RealDiv":
            out.append(("affine", 1.0 / value, 0.0))
        elif op == "Mul":
            out.append(("affine", value, 0.0))
        elif op == "Sub":
            out.append(("affine", 1.0, -value) if k == 1 else ("affine", -1.0, value))
        else:
            out.append(("affine", 1.0, value))
    else:
        raise reader.refuse(f"the op {op} ({node.name})")
    return reader.source(data)


def _plain(reader: _Reader, node: NodeDef) -> None:
    """Refuse a convolution or pooling racer's torch layers cannot take exactly."""
    padding = node.attr.get("padding", b"VALID")
    layout = node.attr.get("data_format", b"NHWC")
    dilations = node.attr.get("dilations", [1, 1, 1, 1])
    if padding not in (b"VALID", "VALID") or layout not in (b"NHWC", "NHWC") or any(
        int(d) != 1 for d in dilations
    ):
        raise reader.refuse(f"the {node.op} {node.name} with padding {padding!r}, layout "
                            f"{layout!r} and dilations {list(dilations)} (racer reads valid "
                            "padding, NHWC, no dilation)")  # fmt: skip


def _square(reader: _Reader, node: NodeDef, key: str) -> int:
    """The window or stride of an NHWC op, which must be the same along H and W."""
    values = [int(v) for v in node.attr.get(key, [1, 1, 1, 1])]
    if len(values) != 4 or values[1] != values[2] or values[0] != 1 or values[3] != 1:
        raise reader.refuse(f"the {node.op} {node.name} with {key} {values} (racer reads square "
                            "windows and strides)")  # fmt: skip
    return values[1]


def _forward(
    reader: _Reader,
    steps: list[tuple[Any, ...]],
    shape: tuple[int, ...],
    order: np.ndarray | None = None,
) -> tuple[float, float, list[tuple[Any, ...]], tuple[int, ...], np.ndarray | None]:
    """The layers in forward order: biases joined to their layer, input scaling taken apart.

    Args:
        reader: the graph, for error messages.
        steps: `_step`'s records, in forward order.
        shape: the input's shape, (H, W, C) or (D,).
        order: for a flat input, each feature's index in torch's vector (see `_dense`).

    Returns:
        (scale, offset, layers, the output's shape, its order).
    """
    scale, offset = 1.0, 0.0
    layers: list[tuple[Any, ...]] = []
    current: tuple[int, ...] = shape
    for step in steps:
        kind = step[0]
        if kind == "affine" and not layers:
            mul, add = (float(np.ravel(v)[0]) if np.size(v) == 1 else None for v in step[1:])
            if mul is None or add is None:
                raise reader.refuse("a per-channel scaling of an input")
            scale, offset = scale * mul, offset * mul + add
        elif kind in ("affine", "bias"):
            _join(reader, layers, step, current[-1])
        elif kind == "conv":
            kernel, stride = step[1], step[3]
            if len(current) != 3 or kernel.ndim != 4 or kernel.shape[2] != current[2]:
                raise reader.refuse(f"a {kernel.shape} convolution on a {current} tensor")
            current = (*_window(reader, current, kernel.shape[0], kernel.shape[1], stride),
                       kernel.shape[3])  # fmt: skip
            layers.append(("conv", kernel, np.zeros(kernel.shape[3]), stride))
        elif kind == "pool":
            current = (*_window(reader, current, step[2], step[2], step[3]), current[2])
            layers.append(step)
        elif kind == "flatten":
            if len(current) == 3:
                order = flatten_order(current)
            current = (int(np.prod(current)),)
            layers.append(step)
        elif kind == "dense":
            weight = _dense(reader, step[1], current, order)
            order, current = None, (weight.shape[0],)
            layers.append(("dense", weight, np.zeros(weight.shape[0])))
        else:
            layers.append(step)
    return scale, offset, layers, current, order


def flatten_order(shape: tuple[int, ...]) -> np.ndarray:
    """For an NHWC (H, W, C) tensor flattened, each feature's index in torch's (C, H, W) flatten.

    Graph feature (i, j, k) is torch's k * H * W + i * W + j; a dense layer after the flatten
    has its rows (graph) or columns (torch) in these two orders.
    """
    h, w, c = shape
    return np.arange(h * w * c).reshape(c, h, w).transpose(1, 2, 0).ravel()


def _dense(
    reader: _Reader, weight: np.ndarray, shape: tuple[int, ...], order: np.ndarray | None
) -> np.ndarray:
    """A dense layer's (out, in) weight on a ``shape`` tensor, its columns in torch's order.

    ``order[r]`` is the index in torch's vector of the graph's feature r (NHWC flattens
    (H, W, C), torch (C, H, W)); None when they are the same.
    """
    if len(shape) != 1 or weight.shape[1] != shape[0]:
        raise reader.refuse(f"a dense layer of {weight.shape[1]} inputs on a {shape} tensor")
    if order is None:
        return weight
    torch_order = np.empty_like(weight)
    torch_order[:, order] = weight
    return torch_order


def _join(reader: _Reader, layers: list[tuple[Any, ...]], step: tuple[Any, ...], n: int) -> None:
    """Add a bias to the layer before it, or append a per-channel affine step of ``n`` channels."""
    if step[0] == "affine":
        mul = np.broadcast_to(np.asarray(step[1], np.float64), (n,))
        add = np.broadcast_to(np.asarray(step[2], np.float64), (n,))
        layers.append(("scale", mul.copy(), add.copy()))
        return
    if not layers or layers[-1][0] not in ("conv", "dense"):
        raise reader.refuse("a bias that follows no convolution or dense layer")
    last = layers.pop()
    layers.append((last[0], last[1], last[2] + step[1].reshape(-1), *last[3:]))


def _window(
    reader: _Reader, shape: tuple[int, ...], kh: int, kw: int, stride: int
) -> tuple[int, int]:
    """(H, W) after a valid-padded window; refused when it does not fit."""
    if len(shape) != 3 or shape[0] < kh or shape[1] < kw:
        raise reader.refuse(f"a {kh}x{kw} window on a {shape} tensor")
    return (shape[0] - kh) // stride + 1, (shape[1] - kw) // stride + 1
