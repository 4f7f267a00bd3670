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

    input_shape: tuple[int, int, int]
    scale: float
    offset: float
    layers: list[tuple[Any, ...]]
    output: str

    def describe(self) -> str:
        """The chain in a few words, e.g. ``conv 32@8x8/4, relu, ..., dense 12``."""
        words = []
        for layer in self.layers:
            kind = layer[0]
            if kind == "conv":
                words.append(f"conv {layer[1].shape[3]}@{layer[1].shape[0]}x"
                             f"{layer[1].shape[1]}/{layer[3]}")  # fmt: skip
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
            "reads DeepRacer's camera networks (convolutions, pooling, batch norm, dense layers, "
            "ReLU/tanh/sigmoid) to start training from them; this graph has another kind of "
            "network, so train from scratch or from a racer run instead."
        )


def read_policy_layers(
    graph: GraphDef, input_name: str, output_name: str, path: Path
) -> GraphLayers:
    """The policy network between ``input_name`` and ``output_name`` (see the module doc).

    Args:
        graph: the decoded frozen graph (`racer.export.graphdef.read_graph`).
        input_name: the camera placeholder's name.
        output_name: the policy head's output node.
        path: the file, for error messages.

    Raises:
        ExportError: the graph lacks the output, does not lead from it to the input through
            supported layers alone, or its shapes do not chain.
    """
    reader = _Reader(graph, path)
    if output_name not in reader.nodes:
        raise ExportError(f"{path} has no policy output {output_name}: it is not a DeepRacer "
                          "PPO policy of this model_metadata.json.")  # fmt: skip
    head = reader.node(output_name)
    if head.op not in ("Softmax", "Identity"):
        raise reader.refuse(f"the output op {head.op} (DeepRacer's PPO head ends in Softmax "
                            "or Identity)")  # fmt: skip
    backwards: list[tuple[Any, ...]] = []
    node = reader.source(head.inputs[0]) if head.inputs else head
    while node.op != "Placeholder":
        node = _step(reader, node, backwards)
    if node.name != input_name:
        raise ExportError(f"{path}: the policy output is computed from {node.name}, not from the "
                          f"camera input {input_name}.")  # fmt: skip
    dims = node.attr.get("shape")
    shape = tuple(getattr(dims, "dims", None) or ())
    if len(shape) != 4 or min(shape[1:]) < 1:
        raise ExportError(f"{path}: the camera input {input_name} has shape {shape}; DeepRacer's "
                          "is (N, H, W, C).")  # fmt: skip
    return _forward(reader, backwards[::-1], (shape[1], shape[2], shape[3]), head.op)


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
    reader: _Reader, steps: list[tuple[Any, ...]], shape: tuple[int, int, int], output: str
) -> GraphLayers:
    """The layers in forward order: biases joined to their layer, input scaling taken apart."""
    scale, offset = 1.0, 0.0
    layers: list[tuple[Any, ...]] = []
    current: tuple[int, ...] = shape
    flattened_from: tuple[int, ...] | None = None
    for step in steps:
        kind = step[0]
        if kind == "affine" and not layers:
            mul, add = (float(np.ravel(v)[0]) if np.size(v) == 1 else None for v in step[1:])
            if mul is None or add is None:
                raise reader.refuse("a per-channel scaling of the camera input")
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
            flattened_from = current if len(current) == 3 else None
            current = (int(np.prod(current)),)
            layers.append(step)
        elif kind == "dense":
            weight = _dense(reader, step[1], current, flattened_from)
            flattened_from, current = None, (weight.shape[0],)
            layers.append(("dense", weight, np.zeros(weight.shape[0])))
        else:
            layers.append(step)
    if not layers or layers[-1][0] != "dense":
        raise reader.refuse("no dense policy layer before its output")
    return GraphLayers(shape, scale, offset, layers, output)


def _dense(
    reader: _Reader, weight: np.ndarray, shape: tuple[int, ...], flattened_from: Any
) -> np.ndarray:
    """A dense layer's (out, in) weight on a ``shape`` tensor, its columns in torch's order."""
    if len(shape) != 1 or weight.shape[1] != shape[0]:
        raise reader.refuse(f"a dense layer of {weight.shape[1]} inputs on a {shape} tensor")
    if flattened_from is None:
        return weight
    h, w, c = flattened_from  # NHWC's columns run (H, W, C), torch's (C, H, W)
    return weight.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(-1, h * w * c)


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
