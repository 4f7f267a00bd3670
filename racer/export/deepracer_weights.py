"""A DeepRacer frozen graph's policy weights loaded into a racer policy (DeepRacer's clone).

``racer train --pretrained MODEL.pb`` starts a run from a model trained on DeepRacer, as the
console's "clone" starts from an earlier model. The frozen graph holds the policy network only
(rl_coach freezes the policy output; the value network, SAC's critics and the Gaussian's
log-std are not in the file), so the clone gets:

- the features extractor and the action head from the graph, layer by layer
  (`racer.export.deepracer_layers` reads them; convolution kernels go from TensorFlow's HWIO to
  torch's OIHW, the first dense layer's columns from NHWC's flatten order to torch's), with the
  graph's input scaling folded into the first layer, so that for every frame the torch policy's
  action probabilities (discrete) or means (continuous) equal the graph's;
- batch norms set to the graph's (running mean 0, variance 1 - eps, so that the evaluation form
  is exactly the graph's affine map) or to the identity where the graph folded them away;
- the value head (PPO) or the critics' heads and the log-std head (SAC) freshly initialised; a
  separate value extractor, or SAC's critics' extractors, copied from the actor's.

The policy's network must be the graph's: same layers, kernel sizes, strides and widths. Which
racer network preset that is, `matches` tells.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from racer.errors import ExportError
from racer.export.deepracer_graph import _ACTIVATIONS, _SKIPPED, _chain, _pair
from racer.export.deepracer_layers import GraphLayers


def _extractor(policy: Any) -> nn.Module:
    """The actor's features extractor."""
    return policy.actor.features_extractor if isinstance(policy, SACPolicy) \
        else policy.pi_features_extractor  # fmt: skip


def _head_modules(policy: Any) -> list[nn.Module]:
    """The layers after the extractor: hidden layers and the action head."""
    if isinstance(policy, SACPolicy):
        return [*_chain(policy.actor.latent_pi), policy.actor.mu]
    return [*_chain(policy.mlp_extractor.policy_net), policy.action_net]


def _plain(modules: list[nn.Module]) -> list[nn.Module]:
    return [m for m in modules if not isinstance(m, _SKIPPED)]


def _actor_modules(policy: Any) -> list[nn.Module]:
    """The policy path's leaf layers, as a plain chain: extractor, hidden layers, action head."""
    return _plain([*_chain(_extractor(policy)), *_head_modules(policy)])


def _describe(modules: list[nn.Module]) -> str:
    """The torch chain in `GraphLayers.describe`'s words."""
    words = []
    for module in modules:
        if isinstance(module, nn.Conv2d):
            words.append(f"conv {module.out_channels}@{module.kernel_size[0]}x"
                         f"{module.kernel_size[1]}/{module.stride[0]}")  # fmt: skip
        elif isinstance(module, nn.Linear):
            words.append(f"dense {module.out_features}")
        elif isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
            kind = "avg" if isinstance(module, nn.AvgPool2d) else "max"
            words.append(f"{kind}pool {_pair(module.kernel_size)[0]}/{_pair(module.stride)[0]}")
        elif type(module) in _ACTIVATIONS:
            words.append(_ACTIVATIONS[type(module)].lower())
        elif isinstance(module, nn.BatchNorm2d):
            words.append("batch norm")
        else:
            words.append(type(module).__name__.lower())
    return ", ".join(words)


def _same_head(policy: Any, graph: GraphLayers) -> bool:
    """True when the graph's output is what the policy's head gives: softmax or means."""
    if isinstance(policy, SACPolicy):
        return graph.output == "Identity"
    wanted = {"Softmax": CategoricalDistribution, "Identity": DiagGaussianDistribution}
    return isinstance(policy.action_dist, wanted[graph.output])


Part = tuple[list[tuple[nn.Module, Any]], float, float]
"""A chain of torch layers paired with the graph's, and the gain and offset of its input."""


def _parts(policy: Any, graph: GraphLayers) -> list[Part]:
    """The policy's layers paired with the graph's, per chain; [] if they differ.

    One chain for a camera network; for a camera and a lidar, each sensor's embedder and then
    the middleware with the head. SB3 hands the network frames / 255, so a camera chain's input
    gain is the graph's scale times 255.
    """
    if not _same_head(policy, graph):
        return []
    extractor = _extractor(policy)
    head = _head_modules(policy)
    image = 255.0 if policy.normalize_images else 1.0
    if not graph.branches:
        if hasattr(extractor, "order"):
            return []
        pairs = _pair_chain(_plain([*_chain(extractor), *head]), graph.layers)
        return [(pairs, graph.scale * image, graph.offset)] if pairs else []
    names = [branch.input_name.rsplit("/", 1)[1] for branch in graph.branches]
    if list(getattr(extractor, "order", ())) != names:
        return []  # racer's SensorFusion merges the embedders in the same (sorted) order
    modules = {extractor.image_key: extractor.camera, extractor.lidar_key: extractor.lidar}
    parts: list[Part] = []
    for name, branch in zip(names, graph.branches, strict=True):
        pairs = _pair_chain(_plain(_chain(modules[name])), branch.layers)
        if not pairs:
            return []
        gain = image if name == extractor.image_key else 1.0
        parts.append((pairs, branch.scale * gain, branch.offset))
    pairs = _pair_chain(_plain([*_chain(extractor.middleware), *head]), graph.layers)
    return [*parts, (pairs, 1.0, 0.0)] if pairs else []


def _pair_chain(modules: list[nn.Module], graph_layers: list[Any]) -> list[tuple[nn.Module, Any]]:
    """Each torch layer paired with the graph layer (or None) it takes; [] if they differ."""
    layers = list(graph_layers)
    pairs: list[tuple[nn.Module, Any]] = []
    for module in modules:
        layer = layers[0] if layers else ("end",)
        kind = layer[0]
        if isinstance(module, nn.BatchNorm2d):
            taken = layer if kind == "scale" and len(layer[1]) == module.num_features else None
            pairs.append((module, taken))
            if taken is not None:
                layers.pop(0)
            continue
        if isinstance(module, nn.Conv2d):
            shape = tuple(module.weight.shape)
            same = kind == "conv" and layer[1].shape == (shape[2], shape[3], shape[1], shape[0])
            same = same and layer[3] == module.stride[0] == module.stride[1]
            same = same and module.padding in ((0, 0), "valid") and module.groups == 1
        elif isinstance(module, nn.Linear):
            same = kind == "dense" and layer[1].shape == tuple(module.weight.shape)
        elif isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
            op = "AvgPool" if isinstance(module, nn.AvgPool2d) else "MaxPool"
            same = kind == "pool" and layer[1] == op and (layer[2], layer[3]) == (
                _pair(module.kernel_size)[0], _pair(module.stride)[0])  # fmt: skip
        elif type(module) in _ACTIVATIONS:
            same = kind == "act" and layer[1] == _ACTIVATIONS[type(module)]
        elif isinstance(module, nn.Flatten):
            same = kind == "flatten"
        else:
            same = False
        if not same:
            return []
        pairs.append((module, layers.pop(0)))
    return pairs if not layers else []


def matches(policy: Any, graph: GraphLayers) -> bool:
    """True when ``policy``'s actor is the graph's network, layer for layer."""
    return bool(_parts(policy, graph)) and _fits_input(policy, graph)


def _fits_input(policy: Any, graph: GraphLayers) -> bool:
    """True when the policy observes what the graph's inputs take."""
    space = policy.observation_space
    inputs = {b.input_name.rsplit("/", 1)[1]: b.input_shape for b in graph.branches}
    if isinstance(space, spaces.Dict):
        if set(space.spaces) != set(inputs):
            return False
        return all(inputs[k] == (tuple(s.shape[1:]) + tuple(s.shape[:1]) if len(s.shape) == 3
                                 else tuple(s.shape)) for k, s in space.spaces.items())  # fmt: skip
    if graph.branches or not isinstance(space, spaces.Box) or len(space.shape) != 3:
        return False
    channels, height, width = space.shape
    return graph.input_shape == (height, width, channels)


def load_graph_weights(policy: Any, graph: GraphLayers, where: str) -> None:
    """Set ``policy``'s actor to the graph's weights (see the module doc), in place.

    Args:
        policy: SB3's PPO ``ActorCriticPolicy`` or ``SACPolicy``, over one camera image or a
            Dict of a camera and a lidar (racer's `SensorFusion`).
        graph: the graph's layers (`racer.export.deepracer_layers.read_policy_layers`).
        where: the model file, for error messages.

    Raises:
        ExportError: the policy's network or sensors differ from the graph's, or the graph
            scales an input in a way that cannot be folded into its first layer.
    """
    parts = _parts(policy, graph)
    if not parts or not _fits_input(policy, graph):
        inputs = ([f"{b.input_name.rsplit('/', 1)[1]} {b.input_shape}" for b in graph.branches]
                  or [f"{graph.input_shape} (H, W, C) frames"])  # fmt: skip
        raise ExportError(
            f"{where} has the network [{graph.describe()}] on {', '.join(inputs)}, but this "
            f"run's policy is [{_describe(_actor_modules(policy))}] on "
            f"{policy.observation_space}: they must match to start from it. Give the run the "
            "model's network (--network, e.g. the neural_network of its model_metadata.json) "
            "and its model_metadata.json."
        )
    with torch.no_grad():
        for pairs, gain, offset in parts:
            _load_chain(pairs, gain, offset, where)
        if isinstance(policy, SACPolicy):  # the critics start from the actor's sensor layers
            for critic in (policy.critic, policy.critic_target):
                critic.features_extractor.load_state_dict(
                    policy.actor.features_extractor.state_dict())
        elif policy.vf_features_extractor is not policy.pi_features_extractor:
            policy.vf_features_extractor.load_state_dict(policy.pi_features_extractor.state_dict())


def _load_chain(pairs: list[tuple[nn.Module, Any]], gain: float, offset: float, where: str) -> None:
    """Copy one chain's weights; the input's ``x * gain + offset`` goes into its first layer."""
    if gain <= 0.0:
        raise ExportError(f"{where} scales an input by {gain:g} (relative to racer's); racer "
                          "takes graphs that scale it by a positive factor (DeepRacer's: 1/255 "
                          "for a camera, 1 for a lidar).")  # fmt: skip
    folded = gain == 1.0 and offset == 0.0
    for module, layer in pairs:
        if isinstance(module, nn.Conv2d | nn.Linear):
            weight, bias = layer[1], layer[2]
            weight = weight.transpose(3, 2, 0, 1) if layer[0] == "conv" else weight
            if not folded:
                bias = bias + offset * weight.sum(axis=tuple(range(1, weight.ndim)))
                weight = weight * gain
                folded = True
            if module.bias is None:
                raise ExportError(f"{where}: the policy's {module} has no bias to take.")
            _copy(module.weight, weight)
            _copy(module.bias, bias)
        elif isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            mul, add = (layer[1], layer[2]) if layer is not None else (np.ones(n), np.zeros(n))
            _copy(module.weight, mul)
            _copy(module.bias, add)
            _copy(module.running_mean, np.zeros(n))
            _copy(module.running_var, np.full(n, 1.0 - module.eps))
        elif not folded and not isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
            raise ExportError(f"{where} scales an input (x {gain:g} + {offset:g}) before a "
                              f"{module}, which racer cannot fold into the first layer.")


def _copy(target: torch.Tensor, value: np.ndarray) -> None:
    target.copy_(torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype))
