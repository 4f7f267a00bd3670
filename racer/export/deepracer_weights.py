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


def _actor_modules(policy: Any) -> list[nn.Module]:
    """The policy path's leaf layers, as a plain chain: extractor, hidden layers, action head."""
    if isinstance(policy, SACPolicy):
        actor = policy.actor
        modules = [*_chain(actor.features_extractor), *_chain(actor.latent_pi), actor.mu]
    else:
        modules = [*_chain(policy.pi_features_extractor),
                   *_chain(policy.mlp_extractor.policy_net), policy.action_net]  # fmt: skip
    return [m for m in modules if not isinstance(m, _SKIPPED)]


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


def _assignments(policy: Any, graph: GraphLayers) -> list[tuple[nn.Module, Any]]:
    """Each torch layer paired with the graph layer (or None) it takes; None if they differ."""
    if not _same_head(policy, graph):
        return []
    layers = list(graph.layers)
    pairs: list[tuple[nn.Module, Any]] = []
    for module in _actor_modules(policy):
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
    return bool(_assignments(policy, graph)) and _fits_input(policy, graph)


def _fits_input(policy: Any, graph: GraphLayers) -> bool:
    space = policy.observation_space
    if not isinstance(space, spaces.Box) or len(space.shape) != 3:
        return False
    channels, height, width = space.shape
    return graph.input_shape == (height, width, channels)


def load_graph_weights(policy: Any, graph: GraphLayers, where: str) -> None:
    """Set ``policy``'s actor to the graph's weights (see the module doc), in place.

    Args:
        policy: SB3's PPO ``ActorCriticPolicy`` or ``SACPolicy`` over one camera image.
        graph: the graph's layers (`racer.export.deepracer_layers.read_policy_layers`).
        where: the model file, for error messages.

    Raises:
        ExportError: the policy's network or camera differs from the graph's, or the graph
            scales its input in a way that cannot be folded into its first layer.
    """
    pairs = _assignments(policy, graph)
    if not pairs or not _fits_input(policy, graph):
        raise ExportError(
            f"{where} has the network [{graph.describe()}] on {graph.input_shape} (H, W, C) "
            f"frames, but this run's policy is [{_describe(_actor_modules(policy))}] on "
            f"{policy.observation_space.shape} (C, H, W): they must match to start from it. "
            "Give the run the model's network (--network, e.g. the neural_network of its "
            "model_metadata.json) and its model_metadata.json."
        )
    # SB3 hands the network frames / 255; the graph's first layer sees raw * scale + offset.
    gain = graph.scale * (255.0 if policy.normalize_images else 1.0)
    offset = graph.offset
    if gain <= 0.0:
        raise ExportError(f"{where} scales its camera input by {graph.scale:g}; racer takes "
                          "graphs that scale it by a positive factor (DeepRacer's: 1/255).")
    folded = gain == 1.0 and offset == 0.0
    with torch.no_grad():
        for module, layer in pairs:
            if isinstance(module, nn.Conv2d | nn.Linear):
                weight, bias = layer[1], layer[2]
                weight = weight.transpose(3, 2, 0, 1) if layer[0] == "conv" else weight
                if not folded:
                    axes = tuple(range(1, weight.ndim))
                    bias = bias + offset * weight.sum(axis=axes)
                    weight = weight * gain
                    folded = True
                _copy(module.weight, weight)
                if module.bias is None:
                    raise ExportError(f"{where}: the policy's {module} has no bias to take.")
                _copy(module.bias, bias)
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                mul, add = (layer[1], layer[2]) if layer is not None else (np.ones(n), np.zeros(n))
                _copy(module.weight, mul)
                _copy(module.bias, add)
                _copy(module.running_mean, np.zeros(n))
                _copy(module.running_var, np.full(n, 1.0 - module.eps))
            elif not folded and not isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
                raise ExportError(f"{where} scales its camera input (x {graph.scale:g} + "
                                  f"{graph.offset:g}) before a {module}, which racer cannot fold "
                                  "into the first layer.")  # fmt: skip
        if isinstance(policy, SACPolicy):  # the critics start from the actor's camera layers
            for critic in (policy.critic, policy.critic_target):
                critic.features_extractor.load_state_dict(
                    policy.actor.features_extractor.state_dict())
        elif policy.vf_features_extractor is not policy.pi_features_extractor:
            policy.vf_features_extractor.load_state_dict(policy.pi_features_extractor.state_dict())


def _copy(target: torch.Tensor, value: np.ndarray) -> None:
    target.copy_(torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype))
