"""A racer policy as DeepRacer's frozen TensorFlow 1 graph (a `GraphDef`), in NHWC.

DeepRacer's car and its tools read a policy as a frozen GraphDef (SPEC 11), the contract that
`racer.export.deepracer_model` imports:

- one float32 ``Placeholder`` per sensor, ``main_level/agent/<scope>/online/network_0/<SENSOR>/
  <SENSOR>`` (scope ``main`` for clipped PPO, ``policy`` for SAC): the camera (N, 120, 160, C),
  raw 0-255 grayscale, NHWC (FRONT_FACING_CAMERA: C = 1; STEREO_CAMERAS: C = 2), which the graph
  divides by 255 itself (``RealDiv``), as SB3's ``preprocess_obs`` does before racer's network;
  a lidar (N, D) as the env gives it;
- each sensor's embedder, the embedders' outputs concatenated in racer's `SensorFusion` order
  (the sensors' names sorted, as rl_coach's ``merger`` does; ``ConcatV2``), the middleware;
- output, PPO: ``main_level/agent/main/online/network_1/ppo_head_0/policy``, for a discrete action
  space the ``Softmax`` (N, n) over the action list, in model_metadata.json's order; for a
  continuous one the Gaussian's means (N, 2), [steering, speed] in the [-1, 1] box before the
  car's clip (an ``Identity``). SAC: ``main_level/agent/policy/online/network_0/
  sac_policy_head_0/policy``, the means (N, 2) before the tanh, after the head's hidden layer.

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
from torch import nn

from racer.errors import ExportError
from racer.export.deepracer_layers import flatten_order
from racer.export.deepracer_model import input_name, output_name, policy_network
from racer.export.graphdef import DataType, GraphDef, NodeDef, TensorShape

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

    ``shape`` is (H, W, C) in the convolutions and (features,) after the flatten; ``order``
    gives, for each feature of a flat tensor, its index in torch's vector (torch flattens
    (C, H, W), NHWC (H, W, C)), None when they are the same: the next dense layer's rows are
    permuted by it.
    """

    def __init__(self) -> None:
        self.nodes: list[NodeDef] = []
        self.shape: tuple[int, ...] = ()
        self.tensor = ""
        self.order: np.ndarray | None = None

    def placeholder(self, name: str, shape: tuple[int, ...]) -> None:
        """Start a branch at a float32 input of ``shape`` (batch axis left out)."""
        self.tensor = self.add(name, "Placeholder", [], dtype=DataType.FLOAT,
                               shape=TensorShape((-1, *shape)))  # fmt: skip
        self.shape, self.order = shape, None

    def merge(self, name: str, branches: list[tuple[str, tuple[int, ...], Any]]) -> None:
        """Concatenate flat branches (tensor, shape, order) along the features.

        This is rl_coach's merger; torch concatenates its embedders' outputs in the same order.
        """
        if any(len(shape) != 1 for _, shape, _ in branches):
            raise ExportError("every sensor's embedder must end flat before the merger.")
        orders, offset = [], 0
        for _, (size,), order in branches:
            orders.append(offset + (order if order is not None else np.arange(size)))
            offset += size
        axis = self.add(f"{name}/axis", "Const", [], dtype=DataType.INT32,
                        value=np.array(-1, np.int32))  # fmt: skip
        self.tensor = self.add(name, "ConcatV2", [t for t, _, _ in branches] + [axis],
                               N=len(branches), Tidx=DataType.INT32)  # fmt: skip
        self.shape, self.order = (offset,), np.concatenate(orders)

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
        kernel = (weight[:, self.order] if self.order is not None else weight).T
        self.order = None
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
            if len(self.shape) == 3:
                self.order = flatten_order(self.shape)
            self.shape = (size,)
        else:
            self.dense(f"{scope}/Dense_{index}", layer[1], layer[2])


def _window(shape: tuple[int, ...], size: int, stride: int) -> tuple[int, int]:
    """(H, W) after a valid-padded window of ``size`` and ``stride``."""
    if len(shape) != 3 or min(shape[:2]) < size:
        raise ExportError(f"a {size}x{size} window does not fit the image (H, W, C) = {shape}.")
    return (shape[0] - size) // stride + 1, (shape[1] - size) // stride + 1


def _parts(extractor: nn.Module, sensors: dict[str, str], where: str) -> tuple[Any, Any]:
    """The extractor as ([(sensor, embedder layers)] in merger order, middleware layers)."""
    order = getattr(extractor, "order", None)
    if order is not None:  # racer's SensorFusion: a camera and a lidar embedder, the middleware
        branches = {extractor.image_key: extractor.camera, extractor.lidar_key: extractor.lidar}
        embedders = [(key, _chain(branches[key])) for key in order]
        return embedders, _chain(extractor.middleware)
    layers = getattr(extractor, "layers", None)
    if isinstance(layers, nn.Sequential) and len(layers) and isinstance(layers[0], nn.Sequential):
        camera = _chain(layers[0])  # a preset: Sequential(camera embedder, *middleware)
        return [(sensors["camera"], camera)], [m for m in _chain(layers)[len(camera):]]
    modules = _chain(extractor)  # another plain chain: the middleware starts after the flatten
    flat = next((i for i, m in enumerate(modules) if isinstance(m, nn.Flatten)), len(modules))
    return [(sensors["camera"], modules[: flat + 1])], modules[flat + 1 :]


def policy_graph(
    policy: Any,
    sensors: dict[str, str],
    algorithm: str = "clipped_ppo",
    where: str = "the policy",
) -> GraphDef:
    """The frozen DeepRacer graph of a racer PPO or SAC policy (see the module doc).

    Args:
        policy: SB3's PPO ``ActorCriticPolicy`` or SAC policy, over one camera image ((C, H, W)
            as SB3 stores it) or a Dict of a camera and a lidar keyed by their sensor names.
        sensors: ``{"camera": name}`` and, with a lidar, ``"lidar": name``: DeepRacer's sensor
            names, which name the inputs.
        algorithm: ``"clipped_ppo"`` or ``"sac"``: the graph's scope and head.
        where: what the policy is (a run folder), for error messages.

    Returns:
        The graph: inputs (N, H, W, C) float32 0-255 (and (N, D) lidar), output the softmax
        (N, n) or the means (N, 2).

    Raises:
        ExportError: the policy's observation, action distribution or layers are not supported.
    """
    sac = algorithm == "sac"
    extractor = policy.actor.features_extractor if sac else policy.pi_features_extractor
    spaces_by_sensor = _input_spaces(policy.observation_space, sensors, where)
    if not sac and not isinstance(policy.action_dist,
                                  CategoricalDistribution | DiagGaussianDistribution):  # fmt: skip
        raise ExportError(_unsupported(where, f"a {type(policy.action_dist).__name__} action "
                                       "distribution"))  # fmt: skip
    network = policy_network(algorithm)
    head = output_name(algorithm).rsplit("/", 1)[0]
    graph = _Graph()
    embedders, middleware = _parts(extractor, sensors, where)
    ends = []
    for sensor, modules in embedders:
        space = spaces_by_sensor[sensor]
        graph.placeholder(input_name(sensor, algorithm), space)
        if len(space) == 3 and policy.normalize_images:  # SB3 divides images by 255
            name = f"{network}/{sensor}/truediv"
            graph.then(name, "RealDiv", (f"{name}/y", np.float32(255.0)))
        for index, layer in enumerate(_layers(modules, where)):
            graph.layer(f"{network}/{sensor}", index, layer)
        ends.append((graph.tensor, graph.shape, graph.order))
    if len(ends) > 1:
        graph.merge(f"{network}/merger", ends)
    for index, layer in enumerate(_layers(middleware, where)):
        graph.layer(f"{network}/middleware_fc_embedder", index, layer)
    if sac:
        for index, layer in enumerate(_layers(_chain(policy.actor.latent_pi), where)):
            graph.layer(f"{head}/hidden", index, layer)
        mean = policy.actor.mu
        graph.dense(f"{head}/policy_mean", _array(mean.weight), _array(mean.bias))
        graph.add(output_name(algorithm), "Identity", [graph.tensor])
        return GraphDef(graph.nodes)
    for index, layer in enumerate(_layers(_chain(policy.mlp_extractor.policy_net), where)):
        graph.layer(f"{head}/hidden", index, layer)
    action = policy.action_net
    graph.dense(f"{head}/policy_fc", _array(action.weight), _array(action.bias))
    op = "Softmax" if isinstance(policy.action_dist, CategoricalDistribution) else "Identity"
    graph.add(output_name(algorithm), op, [graph.tensor])
    return GraphDef(graph.nodes)


def _input_spaces(space: Any, sensors: dict[str, str], where: str) -> dict[str, tuple[int, ...]]:
    """Each sensor's input shape as the graph takes it: (H, W, C) for a camera, (D,) a lidar."""
    def image(box: Any) -> tuple[int, ...]:
        if not isinstance(box, spaces.Box) or len(box.shape) != 3 or box.shape[0] > 4:
            raise ExportError(f"Cannot export {where} for DeepRacer: it observes {box}; "
                              "DeepRacer's graph takes camera images (SB3's channel-first "
                              "(C, H, W)).")  # fmt: skip
        channels, height, width = (int(n) for n in box.shape)
        return (height, width, channels)

    if "lidar" not in sensors:
        return {sensors["camera"]: image(space)}
    if not isinstance(space, spaces.Dict) or set(space.spaces) != set(sensors.values()):
        raise ExportError(f"Cannot export {where} for DeepRacer: it observes {space}, not a "
                          f"Dict of its sensors {sorted(sensors.values())}.")  # fmt: skip
    lidar = space[sensors["lidar"]]
    return {sensors["camera"]: image(space[sensors["camera"]]),
            sensors["lidar"]: (int(lidar.shape[0]),)}  # fmt: skip
