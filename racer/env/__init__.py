"""Environments: the batched core, the single gymnasium env and the SB3 VecEnv."""

from racer.env.config import EnvConfig
from racer.env.episode import EpisodeConfig, Phase, Status

__all__ = ["EnvConfig", "EpisodeConfig", "Phase", "Status"]
