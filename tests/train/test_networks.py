"""Network presets: shapes, parameter counts, and that SB3's PPO and SAC build and train on them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC

from racer.errors import ConfigError
from racer.train.networks import CAMERA_SHAPE, PRESETS, policy_kwargs

# (features, parameters of the extractor), as the module and class docstrings give them.
DOCUMENTED = {
    "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW": (512, 5_839_520),
    "DEEP_CONVOLUTIONAL_NETWORK": (512, 3_682_848),
    "DEEP_CONVOLUTIONAL_NETWORK_DEEP": (128, 1_105_472),
    "RACER_FAST": (64, 115_568),
}


class CameraEnv(gym.Env):
    """A stand-in with RacerEnv's spaces: a 160x120 grayscale camera and a given action space."""

    observation_space = gym.spaces.Box(0, 255, (120, 160, 1), np.uint8)

    def __init__(self, action_space: gym.Space) -> None:
        self.action_space = action_space
        self._steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._steps = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._steps += 1
        done = self._steps >= 8
        return self.observation_space.sample(), 1.0, done, False, {}


def test_every_preset_is_documented():
    assert set(PRESETS) == set(DOCUMENTED)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_maps_a_camera_batch_to_its_features(preset):
    features, params = DOCUMENTED[preset]
    space = gym.spaces.Box(0.0, 1.0, CAMERA_SHAPE, np.float32)
    net = PRESETS[preset](space)
    assert net.features_dim == features
    assert sum(p.numel() for p in net.parameters()) == params
    batch = torch.rand(3, *CAMERA_SHAPE)
    for mode in (net.train, net.eval):
        mode()
        out = net(batch)
        assert out.shape == (3, features)
        assert torch.isfinite(out).all()


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="RACER_FAST"):
        policy_kwargs("DEEP_CONVOLUTIONAL_NETWORK_HUGE")


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize(
    "action_space",
    [gym.spaces.Discrete(8), gym.spaces.Box(-1.0, 1.0, (2,), np.float32)],
    ids=["discrete", "continuous"],
)
def test_ppo_builds_and_trains(preset, action_space):
    env = CameraEnv(action_space)
    model = PPO(
        "CnnPolicy", env, n_steps=4, batch_size=4, n_epochs=1, policy_kwargs=policy_kwargs(preset),
        device="cpu", seed=0,
    )  # fmt: skip
    model.learn(4)
    action, _ = model.predict(env.observation_space.sample(), deterministic=True)
    assert action_space.contains(np.asarray(action, dtype=action_space.dtype))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_sac_builds_and_trains(preset):
    env = CameraEnv(gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    model = SAC(
        "CnnPolicy", env, buffer_size=8, learning_starts=3, batch_size=2,
        policy_kwargs=policy_kwargs(preset), device="cpu", seed=0,
    )  # fmt: skip
    model.learn(4)
    action, _ = model.predict(env.observation_space.sample(), deterministic=True)
    assert action.shape == (2,)
