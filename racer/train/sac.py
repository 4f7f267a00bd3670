"""SAC for continuous action spaces (DeepRacer's ``training_algorithm: sac``).

stable-baselines3's SAC, with DeepRacer's hyperparameters: ``lr``, ``discount_factor``,
``batch_size`` and ``sac_alpha`` as a fixed entropy temperature (DeepRacer does not tune it). One
training round is ``steps_per_car`` steps of every car with a gradient step after each; the
steps reach the trainer's logs through `racer.train.recording.RecordingCallback`. The replay
buffer keeps the last ``buffer_size`` transitions of camera frames, stored once
(``optimize_memory_usage``): 50,000 frames of 160x120 take about 1 GB.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecEnv

from racer.train.hyperparameters import Hyperparameters
from racer.train.networks import policy_name

#: Transitions kept for replay.
BUFFER_SIZE = 50_000
#: Random-policy steps before the first update.
LEARNING_STARTS = 1_000
#: A gradient step after every env step (SB3's ``train_freq``); `racer.train.checkpoint`
#: rebuilds a checkpoint's train_freq from it.
TRAIN_FREQ = (1, "step")


def make_sac(
    env: VecEnv,
    hyper: Hyperparameters,
    policy_kwargs: dict[str, Any],
    *,
    seed: int,
    device: str,
    tensorboard_log: str,
) -> SAC:
    """A SAC model with DeepRacer's hyperparameters on racer's batched env."""
    return SAC(
        policy_name(env.observation_space), env, learning_rate=hyper.lr,
        gamma=hyper.discount_factor,
        batch_size=hyper.batch_size, ent_coef=hyper.sac_alpha, buffer_size=BUFFER_SIZE,
        learning_starts=LEARNING_STARTS, train_freq=TRAIN_FREQ, gradient_steps=1,
        # SB3's dict replay buffer (camera and lidar) cannot share next observations
        optimize_memory_usage=policy_name(env.observation_space) == "CnnPolicy",
        replay_buffer_kwargs={"handle_timeout_termination": False},
        policy_kwargs=policy_kwargs, seed=seed, device=device, tensorboard_log=tensorboard_log,
        verbose=0,
    )  # fmt: skip


def algorithm_class(training_algorithm: str) -> type:
    """The SB3 class racer trains ``training_algorithm`` with (for loading checkpoints)."""
    if training_algorithm == "sac":
        return SAC
    from racer.train.ppo import EpisodicPPO

    return EpisodicPPO
