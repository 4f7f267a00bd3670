"""racer's race recipe (``racer train --race``): what it changes in a run's model_metadata.

See `racer.raceline.actions` for the action space it makes and ``reward_functions/lap_time.py``
for the reward ``racer train --race`` picks.
"""

from __future__ import annotations

from dataclasses import replace

from racer.env.config import EnvConfig
from racer.formats.model_metadata import ModelMetadata
from racer.physics.actions import DiscreteActionSpace
from racer.physics.motion import make_motion_model
from racer.raceline.actions import racing_action_space, racing_continuous_space
from racer.track import load_track


def race_metadata(metadata: ModelMetadata, env: EnvConfig) -> ModelMetadata:
    """``metadata`` with the race recipe's action space: the racing line's (`TrainConfig.race`).

    The kind stays model_metadata.json's: a discrete space becomes `racing_action_space`'s
    table, a continuous one (clipped PPO or SAC) `racing_continuous_space`'s box.
    """
    track = load_track(env.track, reverse=env.reverse, deduplicate=env.deduplicate_waypoints)
    model = make_motion_model(env.motion_model, env.car)
    if isinstance(metadata.action_space, DiscreteActionSpace):
        return replace(metadata, action_space=racing_action_space(track, model))
    return replace(metadata, action_space=racing_continuous_space(track, model))
