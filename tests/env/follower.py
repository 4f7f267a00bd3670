"""Drive one episode of a RacerEnv with racer's autopilot."""

from __future__ import annotations

import numpy as np

from racer.env.autopilot import Autopilot


def drive_lap(env, max_steps: int = 5000) -> tuple[str, list[dict]]:
    """Drive one episode; return the final status and every step's info."""
    pilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    env.reset(seed=0)
    infos: list[dict] = []
    action = np.zeros(env.action_space.shape, env.action_space.dtype)  # PREPARE ignores it
    for _ in range(max_steps):
        _, _, terminated, truncated, info = env.step(action)
        infos.append(info)
        action = pilot.act(info["params"])
        if terminated or truncated:
            return info["episode_status"], infos
    return "max_steps", infos
