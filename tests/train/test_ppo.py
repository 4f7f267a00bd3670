"""EpisodicPPO: an iteration is N whole episodes, then one update on exactly those steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from racer.env.config import EnvConfig
from racer.env.vec_env import RacerVecEnv
from racer.train.networks import policy_kwargs
from racer.train.ppo import EpisodicPPO, IterationBuffer, _huber_value_loss
from racer.train.recording import RecordingCallback

DATA = Path(__file__).resolve().parents[1] / "data"


def make(episodes, huber=False, n_steps=300):
    env = RacerVecEnv(EnvConfig(), 4, seed=0, spread_starts=True)
    return EpisodicPPO("CnnPolicy", env, n_steps=n_steps, batch_size=64, n_epochs=1,
                       policy_kwargs=policy_kwargs("RACER_FAST"), episodes_per_iteration=episodes,
                       huber=huber, seed=0, device="cpu")  # fmt: skip


def test_an_iteration_stops_when_its_episodes_have_finished():
    seen = []

    def hook(actions, rewards, dones, infos):
        seen.append(dones.copy())
        return int(dones.sum())

    model = make(6)
    assert isinstance(model.rollout_buffer, IterationBuffer)  # SB3's rollout_buffer_class
    model.learn(total_timesteps=1, reset_num_timesteps=False, callback=RecordingCallback(hook))
    done_steps = np.array(seen)
    assert done_steps.sum() >= 6 and done_steps[:-1].sum() < 6  # stopped at the 6th episode
    steps = model.iteration_steps
    assert steps == len(seen) and not model.buffer_filled
    assert model.rollout_buffer.observations.shape[0] == steps * 4  # trained on exactly those
    assert model.num_timesteps == steps * 4
    before = model.num_timesteps
    model.learn(total_timesteps=1, reset_num_timesteps=False)  # one more iteration, not more
    assert model.num_timesteps == before + model.iteration_steps * 4
    assert model.rollout_buffer.buffer_size == model.iteration_steps  # ended with the iteration


def test_the_hook_sees_the_actions_the_env_was_given():
    """Continuous PPO samples unbounded actions; the env, and the hook, get them clipped."""
    seen = []

    def hook(actions, rewards, dones, infos):
        seen.append(actions.copy())
        return int(dones.sum())

    config = EnvConfig(model_metadata=str(DATA / "model_metadata" / "continuous_ppo.json"))
    env = RacerVecEnv(config, 2, seed=0)
    model = EpisodicPPO("CnnPolicy", env, n_steps=40, batch_size=40, n_epochs=1,
                        policy_kwargs=policy_kwargs("RACER_FAST"), episodes_per_iteration=2,
                        seed=0, device="cpu")  # fmt: skip
    model.learn(total_timesteps=1, reset_num_timesteps=False, callback=RecordingCallback(hook))
    actions = np.concatenate(seen)
    low, high = env.action_space.low, env.action_space.high
    assert len(seen) == model.iteration_steps and actions.shape[1] == 2
    assert np.all(actions >= low) and np.all(actions <= high)


def test_a_full_buffer_ends_the_iteration():
    model = make(1000, n_steps=20)
    model.learn(total_timesteps=1, reset_num_timesteps=False)
    assert model.iteration_steps == 20 and model.buffer_filled


def test_huber_replaces_the_value_loss_only_inside_the_update():
    from stable_baselines3.ppo import ppo as sb3_ppo

    with _huber_value_loss():
        a, b = torch.tensor([0.0]), torch.tensor([3.0])
        assert sb3_ppo.F.mse_loss(a, b).item() == 2.5  # Huber, delta 1: 3 - 0.5
        assert sb3_ppo.F.relu(torch.tensor([-1.0])).item() == 0.0  # the rest is unchanged
    assert sb3_ppo.F is torch.nn.functional
    model = make(2, huber=True)
    model.learn(total_timesteps=1, reset_num_timesteps=False)
    assert sb3_ppo.F is torch.nn.functional
