"""An SB3 policy's deterministic actions as a plain torch module, for the exporters to trace.

`DeterministicPolicy` wraps an SB3 policy (PPO's `ActorCriticPolicy`, SAC's `SACPolicy`) so that
its forward pass takes the observation as the env gives it, (N, H, W, C) uint8 (channels moved
first and scaled by 1/255 inside, as SB3 does), and returns the deterministic actions (and, for
discrete actions, the probabilities) without sampling. `racer.export.onnx` traces it.
"""

from __future__ import annotations

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
    StateDependentNoiseDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from racer.errors import ExportError


class ActorCriticActions(nn.Module):
    """The deterministic actions of an SB3 `ActorCriticPolicy` (PPO, A2C), without sampling."""

    def __init__(self, policy: ActorCriticPolicy) -> None:
        super().__init__()
        dist = policy.action_dist
        if not isinstance(
            dist,
            CategoricalDistribution | DiagGaussianDistribution | StateDependentNoiseDistribution,
        ):
            raise ExportError(
                f"Cannot export a policy whose action distribution is {type(dist).__name__}: "
                "racer exports Discrete(n) (categorical) and Box (Gaussian) action spaces only."
            )
        self.policy = policy
        self.discrete = isinstance(dist, CategoricalDistribution)
        # gSDE with squash_output applies a tanh bijector to the mean (SB3's ``mode()``).
        self.tanh = isinstance(dist, StateDependentNoiseDistribution) and dist.bijector is not None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, *policy observation shape) as stored -> logits (B, n) or actions (B, d)."""
        policy = self.policy
        x = preprocess_obs(obs, policy.observation_space, normalize_images=policy.normalize_images)
        # pi_features_extractor is the shared extractor when share_features_extractor is true.
        latent_pi = policy.mlp_extractor.forward_actor(policy.pi_features_extractor(x))
        out = policy.action_net(latent_pi)
        return torch.tanh(out) if self.tanh else out


class SacActions(nn.Module):
    """The deterministic actions of an SB3 SAC actor: tanh of the Gaussian's mean."""

    def __init__(self, policy: SACPolicy) -> None:
        super().__init__()
        self.actor = policy.actor
        self.discrete = False

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, *policy observation shape) as stored -> squashed actions (B, d) in [-1, 1]."""
        mean_actions, _, _ = self.actor.get_action_dist_params(obs)
        return torch.tanh(mean_actions)


class DeterministicPolicy(nn.Module):
    """Env observation in, SB3 ``predict(deterministic=True)`` actions out: the exported graph.

    Args:
        policy: the SB3 policy.
        actions: the module computing the policy's raw deterministic actions (or logits).
        channel_first: the policy stores images (C, H, W), so the (H, W, C) input is transposed.
    """

    def __init__(self, policy: BasePolicy, actions: nn.Module, channel_first: bool) -> None:
        super().__init__()
        self.actions = actions
        self.channel_first = channel_first
        self.discrete = bool(actions.discrete)
        self.squash_output = bool(policy.squash_output)
        if not self.discrete:
            box = policy.action_space
            self.register_buffer("low", torch.as_tensor(box.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(box.high, dtype=torch.float32))

    def forward(self, observation: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, H, W, C) uint8 -> (action,) or (action, probabilities); see the module doc."""
        obs = observation.permute(0, 3, 1, 2) if self.channel_first else observation
        return self._postprocess(self.actions(obs))

    def _postprocess(self, out: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The raw logits (B, n) or actions (B, d) -> the graph's outputs."""
        if self.discrete:
            probabilities = torch.softmax(out, dim=1)
            # SB3's Categorical mode is the argmax of the probabilities, not of the logits.
            return torch.argmax(probabilities, dim=1), probabilities
        if self.squash_output:
            # BasePolicy.unscale_action: [-1, 1] -> [low, high].
            return (self.low + 0.5 * (out + 1.0) * (self.high - self.low),)
        return (torch.clamp(out, self.low, self.high),)


class DictDeterministicPolicy(DeterministicPolicy):
    """`DeterministicPolicy` for a Dict observation: one graph input per key, in key order.

    Args:
        policy: the SB3 policy (a ``MultiInputPolicy``).
        actions: the module computing the policy's raw deterministic actions (or logits).
        keys: the Dict's keys, the order of `forward`'s arguments.
        transposed: the keys whose images the policy stores (C, H, W): their (H, W, C) inputs
            are transposed.
    """

    def __init__(
        self, policy: BasePolicy, actions: nn.Module, keys: list[str], transposed: set[str]
    ) -> None:
        super().__init__(policy, actions, channel_first=False)
        self.keys = list(keys)
        self.transposed = set(transposed)

    def forward(self, *observation: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        """One (B, H, W, C) uint8 or (B, D) float32 tensor per key -> the outputs, as above."""
        obs = {
            key: x.permute(0, 3, 1, 2) if key in self.transposed else x
            for key, x in zip(self.keys, observation, strict=True)
        }
        return self._postprocess(self.actions(obs))


def policy_of(model: BaseAlgorithm | BasePolicy) -> BasePolicy:
    """The SB3 policy of an algorithm, or the policy itself."""
    policy = model.policy if isinstance(model, BaseAlgorithm) else model
    if not isinstance(policy, BasePolicy):
        raise ExportError(
            f"Expected a stable-baselines3 model (PPO, SAC) or policy, got {type(model).__name__}."
        )
    return policy
