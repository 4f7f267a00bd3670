"""The motion models racer offers, by the name ``EnvConfig.motion_model`` gives them.

- ``deepracer`` (the default): DeepRacer-on-AWS's simulated car (2026, ROS2), fitted on real
  logs (`racer.physics.servo.DEEPRACER_2026`).
- ``deepracer_2022``: the ROS1 simulator's car, as deepracer-for-cloud and the AWS console ran it
  (`racer.physics.servo.DEEPRACER_2022`).
- ``kinematic``: the idealised kinematic bicycle that answers a command at once (racer's car
  before the fit; `racer.physics.car.KinematicBicycle`).
- ``friction_limited``: that bicycle with its lateral acceleration capped at mu g.
"""

from __future__ import annotations

from collections.abc import Callable

from racer.errors import ConfigError
from racer.physics.car import CarParams, FrictionLimitedBicycle, KinematicBicycle, MotionModel
from racer.physics.servo import DEEPRACER_2022, DEEPRACER_2026, ServoBicycle

#: Name -> builder from the car's parameters.
MOTION_MODELS: dict[str, Callable[[CarParams], MotionModel]] = {
    "deepracer": lambda params: ServoBicycle(params, DEEPRACER_2026),
    "deepracer_2022": lambda params: ServoBicycle(params, DEEPRACER_2022),
    "kinematic": KinematicBicycle,
    "friction_limited": FrictionLimitedBicycle,
}
#: The default motion model's name.
DEFAULT_MOTION_MODEL = "deepracer"


def make_motion_model(name: str, params: CarParams) -> MotionModel:
    """Build a motion model by its name (one of `MOTION_MODELS`).

    Raises:
        ConfigError: the name is unknown.
    """
    try:
        return MOTION_MODELS[name](params)
    except KeyError:
        raise ConfigError(
            f"unknown motion model {name!r}; choose one of {', '.join(MOTION_MODELS)}."
        ) from None
