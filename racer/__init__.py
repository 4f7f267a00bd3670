"""racer: a local DeepRacer-compatible racing simulator and reward-function lab.

Public API (imported lazily, so ``import racer`` stays light):

- `RacerEnv`, `RacerVecEnv`, `EnvConfig`, `EpisodeConfig`: the environments and their config;
- `load_track`: a bundled track by name or any DeepRacer ``.npy`` file;
- `params_at_pose`: DeepRacer's params dict for a car placed on a track, for testing reward
  functions.

Importing racer registers the gymnasium id ``racer/DeepRacer-v0``.
"""

from __future__ import annotations

from typing import Any

import gymnasium

__version__ = "0.1.0"

_LAZY = {
    "RacerEnv": "racer.env.racer_env",
    "RacerVecEnv": "racer.env.vec_env",
    "EnvConfig": "racer.env.config",
    "EpisodeConfig": "racer.env.episode",
    "load_track": "racer.track",
    "params_at_pose": "racer.reward.params",
}

if "racer/DeepRacer-v0" not in gymnasium.registry:
    gymnasium.register(id="racer/DeepRacer-v0", entry_point="racer.env.racer_env:RacerEnv")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'racer' has no attribute {name!r}")


__all__ = sorted(_LAZY)
