"""Gymnasium spaces of racer's environments, derived from the action space and camera."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from racer.physics.actions import ActionSpace, DiscreteActionSpace


def action_space_for(action_space: ActionSpace) -> spaces.Space:
    """Discrete(n) for a discrete DeepRacer action list; Box([-1, 1]^2) [steering, speed] else."""
    if isinstance(action_space, DiscreteActionSpace):
        return spaces.Discrete(action_space.n)
    return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def observation_space_for(shape: tuple[int, int, int]) -> spaces.Box:
    """The camera image: (H, W, 1) uint8 grayscale, as DeepRacer's network input."""
    return spaces.Box(0, 255, shape=shape, dtype=np.uint8)
