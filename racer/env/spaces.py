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


def observation_space_for(
    shape: tuple[int, int, int], camera: str = "", lidar: str | None = None, lidar_size: int = 0
) -> spaces.Space:
    """The observation space: DeepRacer's network input.

    The camera image, (H, W, C) uint8 grayscale (C = 2 for stereo); with a lidar, a Dict of the
    image and the lidar's (D,) float32 in [0, 1], keyed by their sensor names (``camera``,
    ``lidar``).
    """
    image = spaces.Box(0, 255, shape=shape, dtype=np.uint8)
    if not lidar:
        return image
    return spaces.Dict({camera: image,
                        lidar: spaces.Box(0.0, 1.0, shape=(lidar_size,), dtype=np.float32)})
