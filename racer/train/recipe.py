"""racer's race recipe (``racer train --race``): what it changes in a run's model_metadata.

See `racer.raceline.actions` for the action space it makes and ``reward_functions/lap_time.py``
for the reward ``racer train --race`` picks.
"""

from __future__ import annotations

from dataclasses import replace

from racer.env.config import EnvConfig
from racer.errors import ConfigError
from racer.formats.model_metadata import ModelMetadata
from racer.physics.motion import make_motion_model
from racer.raceline.actions import racing_action_space
from racer.track import load_track


def race_metadata(metadata: ModelMetadata, env: EnvConfig) -> ModelMetadata:
    """``metadata`` with the race recipe's action space: the racing line's (`TrainConfig.race`).

    Raises:
        ConfigError: the model trains with SAC, which needs a continuous action space.
    """
    check_race(metadata, env)
    track = load_track(env.track, reverse=env.reverse, deduplicate=env.deduplicate_waypoints)
    space = racing_action_space(track, make_motion_model(env.motion_model, env.car))
    return replace(metadata, action_space=space)


def check_race(metadata: ModelMetadata, env: EnvConfig) -> None:
    """Refuse the race recipe for a model it cannot train (SAC needs a continuous space).

    Raises:
        ConfigError: the paragraph naming the file and what to change.
    """
    if metadata.training_algorithm == "sac":
        raise ConfigError(f"racer train --race makes a discrete action space from the racing "
                          f"line, but {env.model_metadata} trains with sac, which needs a "
                          "continuous one: use clipped_ppo, or leave out --race.")  # fmt: skip
