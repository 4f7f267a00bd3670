"""A racer PPO policy as DeepRacer's frozen TensorFlow 1 graph (a `GraphDef`), in NHWC.

DeepRacer's car and its tools read a policy as a frozen GraphDef (SPEC 11), the contract that
`racer.export.deepracer_model` imports:

- input ``main_level/agent/main/online/network_0/<SENSOR>/<SENSOR>``, a float32 ``Placeholder``
  of shape (N, 120, 160, C), raw 0-255 grayscale, NHWC; SENSOR is model_metadata.json's camera
  (FRONT_FACING_CAMERA: C = 1; STEREO_CAMERAS: C = 2). The graph divides by 255 itself
  (``RealDiv``), as SB3's ``preprocess_obs`` does before racer's network;
- output ``main_level/agent/main/online/network_1/ppo_head_0/policy``: for a discrete action
  space the ``Softmax`` (N, n) over the action list, in model_metadata.json's order; for a
  continuous one the Gaussian's means (N, 2), [steering, speed] in the [-1, 1] box before the
  car's clip (an ``Identity``).

The torch network is rewritten layer by layer in NHWC, the layout of DeepRacer's graphs:
convolution weights go from torch's OIHW to TensorFlow's HWIO, and the first dense layer after
the flatten has its input rows permuted from torch's (C, H, W) flatten order to NHWC's (H, W, C).
Batch norms (in their evaluation form: running statistics) are folded into the convolution
before them and dropout is left out, as in a frozen inference graph. Nodes are named as in
DeepRacer's own graphs (``network_1/<SENSOR>/Conv2d_0/kernel``, ``middleware_fc_embedder/
Dense_0``, ``ppo_head_0/policy_fc``), with the ops and attributes a TensorFlow 1 graph has
(Placeholder, Const, RealDiv, Conv2D, BiasAdd, Relu, Tanh, AvgPool, Reshape, MatMul, Softmax).

Every racer network preset is a plain chain of supported layers (Conv2d, BatchNorm2d,
AvgPool2d, MaxPool2d, ReLU, Tanh, Sigmoid, Flatten, Linear, Dropout, Identity): the leaves of the
features extractor, in registration order. Any other layer is refused with an `ExportError`;
that the chain is what the extractor's ``forward`` computes is checked by comparing outputs
(`racer.export.deepracer_export.check_deepracer_export`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from racer.errors import ExportError
from racer.export.deepracer_model import INPUT_NAME, OUTPUT_NAME
from racer.export.graphdef import DataType, GraphDef, NodeDef, TensorShape

_NETWORK = "main_level/agent/main/online/network_1"
_HEAD = f"{_NETWORK}/ppo_head_0"
_ACTIVATIONS = {nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid"}
_SKIPPED = (nn.Identity, nn.Dropout)


# --------------------------------------------------------------------------- torch -> layers
def _chain(module: nn.Module) -> list[nn.Module]:
    """The leaf modules of ``module`` in registration order: the order a plain chain runs."""
    children = list(module.children())
    if not children:  # an empty Sequential (SB3's mlp_extractor with net_arch=[]) is no layer
        return [] if isinstance(module, nn.Sequential | nn.ModuleList) else [module]
    return [leaf for child in children for leaf in _chain(child)]


def _layers(modules: list[nn.Module], where: str) -> list[tuple[Any, ...]]:
    """The chain as numpy layers in NHWC, batch norms folded in (see the module doc).

    Returns:
        ``("conv", hwio (kh, kw, in, out), bias (out,), stride)``, ``("scale", mul (C,),
        add (C,))``, ``("pool", "AvgPool" | "MaxPool", kernel, stride)``, ``("act", op)``,
        ``("flatten",)`` and ``("dense", weight (out, in) as torch has it, bias (out,))``.
    """
    out: list[tuple[Any, ...]] = []
    for module in modules:
        if isinstance(module, _SKIPPED):
            continue
        if type(module) in _ACTIVATIONS:
            out.append(("act", _ACTIVATIONS[type(module)]))
        elif isinstance(module, nn.Conv2d):
            out.append(_conv(module, where))
        elif isinstance(module, nn.BatchNorm2d):
            _fold_batch_norm(out, module)
        elif isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
            out.append(_pool(module, where))
        elif isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
            out.append(("flatten",))
        elif isinstance(module, nn.Linear):
            bias = _array(module.bias) if module.bias is not None else np.zeros(module.out_features)
            out.append(("dense", _array(module.weight), bias))
        else:
            raise ExportError(_unsupported(where, f"a {module!r} layer"))
    return out


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float64)


def _conv(conv: nn.Conv2d, where: str) -> tuple[Any, ...]:
    plain = conv.padding in ((0, 0), "valid") and conv.dilation == (1, 1) and conv.groups == 1
    if not plain or conv.stride[0] != conv.stride[1]:
        what = f"the convolution {conv!r} (racer exports valid padding and square strides)"
        raise ExportError(_unsupported(where, what))
    bias = _array(conv.bias) if conv.bias is not None else np.zeros(conv.out_channels)
    return ("conv", _array(conv.weight).transpose(2, 3, 1, 0), bias, int(conv.stride[0]))


def _fold_batch_norm(out: list[tuple[Any, ...]], norm: nn.BatchNorm2d) -> None:
    """Append the batch norm's evaluation form, folded into the convolution before it if any."""
    n = norm.num_features
    mean = _array(norm.running_mean) if norm.running_mean is not None else np.zeros(n)
    var = _array(norm.running_var) if norm.running_var is not None else np.ones(n)
    gamma = _array(norm.weight) if norm.weight is not None else np.ones(n)
    beta = _array(norm.bias) if norm.bias is not None else np.zeros(n)
    scale = gamma / np.sqrt(var + norm.eps)  # float64, so folding adds no rounding of its own
    shift = beta - mean * scale
    if out and out[-1][0] == "conv":
        _, kernel, bias, stride = out.pop()
        out.append(("conv", kernel * scale, bias * scale + shift, stride))
    else:
        out.append(("scale", scale, shift))


def _pool(pool: nn.AvgPool2d | nn.MaxPool2d, where: str) -> tuple[Any, ...]:
    sizes = [_pair(v) for v in (pool.kernel_size, pool.stride, pool.padding)]
    (kernel, _), (stride, _), padding = sizes
    dilation = _pair(getattr(pool, "dilation", 1))
    plain = all(a == b for a, b in sizes) and padding == (0, 0) and dilation == (1, 1)
    if not plain or pool.ceil_mode or getattr(pool, "divisor_override", None) is not None:
        what = f"the pooling {pool!r} (racer exports square windows without padding)"
        raise ExportError(_unsupported(where, what))
    return ("pool", "AvgPool" if isinstance(pool, nn.AvgPool2d) else "MaxPool", kernel, stride)


def _pair(value: Any) -> tuple[int, int]:
    """A torch size argument (int or pair) as a pair."""
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _unsupported(where: str, what: str) -> str:
    return (f"Cannot export {where} for DeepRacer: its network has {what}, which racer's "
            "DeepRacer export does not translate. racer exports its network presets "
            "(convolutions, pooling, batch norm, dense layers, ReLU/tanh); export this policy "
            "to ONNX instead (racer export RUN).")  # fmt: skip


# --------------------------------------------------------------------------- layers -> graph
class _Graph:
    """The GraphDef being written: its nodes, the last tensor and that tensor's shape.

    ``shape`` is (H, W, C) in the convolutions and (features,) after the flatten;
    ``flattened_from`` is the (H, W, C) that the next dense layer's rows must be permuted from.
    """

    def __init__(self, sensor: str, shape: tuple[int, int, int]) -> None:
        self.nodes: list[NodeDef] = []
        self.shape: tuple[int, ...] = shape
        self.flattened_from: tuple[int, ...] | None = None
        placeholder = TensorShape((-1, *shape))
        self.tensor = INPUT_NAME.format(sensor=sensor)
        self.add(self.tensor, "Placeholder", [], dtype=DataType.FLOAT, shape=placeholder)

    def add(self, name: str, op: str, inputs: list[str], **attr: Any) -> str:
        """Append a node; float ops get TensorFlow's ``T`` attribute. Returns its name."""
        if op not in ("Placeholder", "Const"):
            attr.setdefault("T", DataType.FLOAT)
        self.nodes.append(NodeDef(name, op, inputs, attr))
        return name

    def then(self, name: str, op: str, const: tuple[str, Any] | None = None, **attr: Any) -> None:
        """Append ``op`` on the last tensor; ``const`` = (name, value) adds a Const 2nd input."""
        inputs = [self.tensor]
        if const is not None:
            array = np.asarray(const[1])
            integer = array.dtype.kind == "i"
            value = array.astype(np.int32 if integer else np.float32)
            dtype = DataType.INT32 if integer else DataType.FLOAT
            inputs.append(self.add(const[0], "Const", [], dtype=dtype, value=value))
        self.tensor = self.add(name, op, inputs, **attr)

    def dense(self, scope: str, weight: np.ndarray, bias: np.ndarray) -> None:
        """MatMul and BiasAdd; the first dense after a flatten takes its rows in NHWC order."""
        if len(self.shape) != 1:
            raise ExportError(f"a dense layer in {scope} needs a flattened input, got (H, W, C) "
                              f"= {self.shape}: add a Flatten before it.")  # fmt: skip
        if self.flattened_from is not None:  # torch's rows run (C, H, W), NHWC's (H, W, C)
            h, w, c = self.flattened_from
            kernel = weight.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
            self.flattened_from = None
        else:
            kernel = weight.T
        self.then(f"{scope}/MatMul", "MatMul", (f"{scope}/kernel", kernel), transpose_a=False,
                  transpose_b=False)  # fmt: skip
        self.then(f"{scope}/BiasAdd", "BiasAdd", (f"{scope}/bias", bias), data_format=b"NHWC")
        self.shape = (kernel.shape[1],)

    def layer(self, scope: str, index: int, layer: tuple[Any, ...]) -> None:
        """Append one `_layers` entry; ``scope`` and ``index`` name its nodes."""
        kind, nhwc = layer[0], {"data_format": b"NHWC"}
        if kind == "conv":
            _, kernel, bias, stride = layer
            name = f"{scope}/Conv2d_{index}"
            self.then(f"{name}/Conv2D", "Conv2D", (f"{name}/kernel", kernel),
                      strides=[1, stride, stride, 1], padding=b"VALID", dilations=[1, 1, 1, 1],
                      use_cudnn_on_gpu=True, **nhwc)  # fmt: skip
            self.then(f"{name}/BiasAdd", "BiasAdd", (f"{name}/bias", bias), **nhwc)
            self.shape = (*_window(self.shape, kernel.shape[0], stride), kernel.shape[3])
        elif kind == "pool":
            _, op, size, stride = layer
            self.then(f"{scope}/{op}_{index}/{op}", op, ksize=[1, size, size, 1],
                      strides=[1, stride, stride, 1], padding=b"VALID", **nhwc)  # fmt: skip
            self.shape = (*_window(self.shape, size, stride), self.shape[2])
        elif kind == "scale":
            name = f"{scope}/BatchNorm_{index}"
            self.then(f"{name}/mul", "Mul", (f"{name}/scale", layer[1]))
            self.then(f"{name}/add", "Add", (f"{name}/shift", layer[2]))
        elif kind == "act":
            self.then(f"{scope}/BatchnormActivationDropout_{index}_activation", layer[1])
        elif kind == "flatten":
            size = int(np.prod(self.shape))
            name = f"{scope}/Flatten/flatten/Reshape"
            shape = (f"{name}/shape", np.array([-1, size]))
            self.then(name, "Reshape", shape, Tshape=DataType.INT32)
            self.flattened_from = self.shape if len(self.shape) == 3 else None
            self.shape = (size,)
        else:
            self.dense(f"{scope}/Dense_{index}", layer[1], layer[2])


def _window(shape: tuple[int, ...], size: int, stride: int) -> tuple[int, int]:
    """(H, W) after a valid-padded window of ``size`` and ``stride``."""
    if len(shape) != 3 or min(shape[:2]) < size:
        raise ExportError(f"a {size}x{size} window does not fit the image (H, W, C) = {shape}.")
    return (shape[0] - size) // stride + 1, (shape[1] - size) // stride + 1


def policy_graph(policy: ActorCriticPolicy, sensor: str, where: str = "the policy") -> GraphDef:
    """The frozen DeepRacer graph of a racer PPO policy (see the module doc).

    Args:
        policy: SB3's ``ActorCriticPolicy`` over one camera image, (C, H, W) as SB3 stores it.
        sensor: the camera's DeepRacer name, e.g. ``"FRONT_FACING_CAMERA"``: the input's name.
        where: what the policy is (a run folder), for error messages.

    Returns:
        The graph: input (N, H, W, C) float32 0-255, output the softmax (N, n) or means (N, 2).

    Raises:
        ExportError: the policy's observation, action distribution or layers are not supported.
    """
    space = policy.observation_space
    if not isinstance(space, spaces.Box) or len(space.shape) != 3 or space.shape[0] > 4:
        raise ExportError(f"Cannot export {where} for DeepRacer: it observes {space}; "
                          "DeepRacer's graph takes one camera image (SB3's channel-first "
                          "(C, H, W)).")  # fmt: skip
    dist = policy.action_dist
    if not isinstance(dist, CategoricalDistribution | DiagGaussianDistribution):
        raise ExportError(_unsupported(where, f"a {type(dist).__name__} action distribution"))
    channels, height, width = (int(n) for n in space.shape)
    graph = _Graph(sensor, (height, width, channels))
    if policy.normalize_images:  # SB3 divides uint8 images by 255; the graph gets raw 0-255
        name = f"{_NETWORK}/{sensor}/truediv"
        graph.then(name, "RealDiv", (f"{name}/y", np.float32(255.0)))
    layers = _layers(_chain(policy.pi_features_extractor), where)
    flat = next((i for i, layer in enumerate(layers) if layer[0] == "flatten"), len(layers))
    for index, layer in enumerate(layers):
        scope = f"{_NETWORK}/{sensor}" if index <= flat else f"{_NETWORK}/middleware_fc_embedder"
        graph.layer(scope, index if index <= flat else index - flat - 1, layer)
    for index, layer in enumerate(_layers(_chain(policy.mlp_extractor.policy_net), where)):
        graph.layer(f"{_HEAD}/hidden", index, layer)
    action = policy.action_net
    graph.dense(f"{_HEAD}/policy_fc", _array(action.weight), _array(action.bias))
    op = "Softmax" if isinstance(dist, CategoricalDistribution) else "Identity"
    graph.add(OUTPUT_NAME, op, [graph.tensor])
    return GraphDef(graph.nodes)
