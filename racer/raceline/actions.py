"""A discrete action space made from a track's racing line and the car (``racer train --race``).

The community builds race action spaces from the racing line: at every point of the line, the
steering the car needs for the line's curvature at the line's speed, and that speed; the actions
are a few typical (steering, speed) pairs of those points. `racing_action_space` does the same
with racer's own racing line (`min_curvature_line`), the car's fastest speed profile on it
(`line_speed_profile`, limited by the motion model's top speed, tightest turn and lags) and the
model's steady steering for a curvature (`MotionModel.steering_for_curvature`):

1. the line's (steering, speed) pairs are clustered (k-means, seeded, in steering and speed
   scaled to their ranges) into ``pairs`` centres;
2. each centre is mirrored (the opposite steering, same speed), since a car that is off the line
   needs to correct both ways;
3. a slow full-lock turn each way is added, to recover from a bad position;
4. steering is rounded to whole degrees and speed to 0.1 m/s, duplicates dropped, and the
   table sorted by steering then speed.

The result is a `DiscreteActionSpace` in DeepRacer's units (degrees, m/s), inside the console's
limits (30 deg, 0.5-4 m/s), ready for model_metadata.json.

`racing_continuous_space` is the same recipe for a continuous action space (PPO or SAC), as the
community narrows one: the box of the line's commands with some room to correct, steering
symmetric to +-(the line's largest steering + ``STEERING_ROOM``) and speed from the line's slowest
less ``SPEED_ROOM`` to its fastest, inside the console's limits.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2

from racer.physics.actions import ContinuousActionSpace, DiscreteActionSpace
from racer.physics.car import MotionModel
from racer.raceline.line import DEFAULT_MARGIN, line_speed_profile, min_curvature_line
from racer.raceline.speed import SpeedLimits
from racer.track import Track
from racer.units import deg_to_rad, rad_to_deg

#: The console's speed range for an action [m/s].
CONSOLE_SPEEDS = (0.5, 4.0)
#: [m/s] speed of the two recovery actions (full lock each way).
RECOVERY_SPEED = 1.0
#: [rad] room beyond the racing line's largest steering in the continuous box, to correct.
STEERING_ROOM = deg_to_rad(5.0)
#: [m/s] room below the racing line's slowest speed in the continuous box, to recover.
SPEED_ROOM = 0.5


def racing_action_space(
    track: Track,
    model: MotionModel,
    *,
    pairs: int = 6,
    margin: float = DEFAULT_MARGIN,
    seed: int = 0,
) -> DiscreteActionSpace:
    """The action space of the racing line's typical (steering, speed) pairs (module docstring).

    Args:
        track: the track, in its driving direction.
        model: the car's motion model (the env's).
        pairs: k-means centres before mirroring; the table has at most 2 * pairs + 3 actions.
        margin: [m] the racing line's distance from the borders.
        seed: the k-means seed.

    Returns:
        A DiscreteActionSpace, steering [deg] positive to the left, speed [m/s].
    """
    steering, speed = racing_line_commands(track, model, margin)
    lock = float(model.params.max_steering)
    low, high = _speed_limits(model)
    speed = np.clip(speed, low, high)
    scale = np.array([lock, max(high - low, 1e-9)])
    points = np.column_stack([steering, speed - low]) / scale
    k = int(min(max(pairs, 1), len(points)))
    centres, _ = kmeans2(points, k, seed=np.random.default_rng(seed), minit="++")
    centres = centres * scale + np.array([0.0, low])
    table = {(0.0, float(np.max(speed)))}  # the straight at the line's top speed
    for angle, v in centres:
        for sign in (1.0, -1.0):
            table.add((sign * float(angle), float(v)))
    table.update({(lock, RECOVERY_SPEED), (-lock, RECOVERY_SPEED)})
    rounded = sorted({(round(float(rad_to_deg(a))), round(min(max(v, low), high), 1))
                      for a, v in table})  # fmt: skip
    return DiscreteActionSpace(tuple(float(a) for a, _ in rounded),
                               tuple(float(v) for _, v in rounded))  # fmt: skip


def racing_continuous_space(
    track: Track, model: MotionModel, *, margin: float = DEFAULT_MARGIN
) -> ContinuousActionSpace:
    """The continuous action space around the racing line's commands (module docstring).

    Args:
        track: the track, in its driving direction.
        model: the car's motion model (the env's).
        margin: [m] the racing line's distance from the borders.

    Returns:
        A ContinuousActionSpace in DeepRacer's units: steering [deg] symmetric and in whole
        degrees, speed [m/s] in tenths.
    """
    steering, speed = racing_line_commands(track, model, margin)
    lock = float(model.params.max_steering)
    low, high = _speed_limits(model)
    speed = np.clip(speed, low, high)
    reach = min(float(np.max(np.abs(steering))) + STEERING_ROOM, lock)
    reach_deg = min(float(np.ceil(rad_to_deg(reach) - 1e-9)), float(np.floor(rad_to_deg(lock))))
    slow = max(float(np.floor((float(np.min(speed)) - SPEED_ROOM) * 10.0 + 1e-9)) / 10.0, low)
    fast = min(float(np.ceil(float(np.max(speed)) * 10.0 - 1e-9)) / 10.0, high)
    return ContinuousActionSpace(-reach_deg, reach_deg, slow, fast)


def _speed_limits(model: MotionModel) -> tuple[float, float]:
    """[m/s] the speeds an action may ask for: the console's range inside the car's."""
    return (max(CONSOLE_SPEEDS[0], model.params.min_speed),
            min(CONSOLE_SPEEDS[1], model.params.max_speed))  # fmt: skip


def racing_line_commands(
    track: Track, model: MotionModel, margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """The steady commands along the racing line: (M,) steering [rad] and (M,) speed [m/s].

    The speed is the car's fastest profile on the line divided back to a command (a car whose
    speed settles at ``top_speed`` for the largest command needs a little less or more).
    """
    line = min_curvature_line(track, margin)
    profile = line_speed_profile(line, SpeedLimits.from_model(model))
    steering = model.steering_for_curvature(line.curvature, profile.speed)
    gain = model.top_speed / model.params.max_speed
    return np.asarray(steering, dtype=np.float64), profile.speed / gain
