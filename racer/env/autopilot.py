"""A scripted centre-line driver (pure pursuit), for demos, tests and baselines.

It drives from what a reward function sees (``params``), so it works on any track, in either
direction, with a discrete or continuous action space.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from racer.physics.actions import ActionSpace, DiscreteActionSpace
from racer.physics.car import CarParams, KinematicBicycle, MotionModel
from racer.track import Track
from racer.units import deg_to_rad, rad_to_deg


class Autopilot:
    """Pure pursuit of a point ``lookahead`` metres ahead on the centre line.

    Args:
        tracks: the track in file order and reversed (index by ``params["is_reversed"]``).
        action_space: the env's action space; discrete spaces take the nearest steering angle at
            the lowest speed, continuous ones the exact angle at the lowest speed.
        lookahead: [m] pursuit distance along the centre line.
        model: the env's motion model (``env.core.model``): its geometry places the rear axle,
            and its `steering_for_curvature` turns the pursuit's curvature into a command (the
            fitted DeepRacer car needs more steering than a kinematic bicycle for the same turn).
            None: the kinematic bicycle.
    """

    def __init__(
        self,
        tracks: tuple[Track, Track],
        action_space: ActionSpace,
        lookahead: float = 0.45,
        model: MotionModel | None = None,
    ) -> None:
        self.tracks = tracks
        self.action_space = action_space
        self.lookahead = lookahead
        self.model = model or KinematicBicycle(CarParams())
        self.car = self.model.params

    def aim_point(self, params: dict[str, Any]) -> tuple[float, float]:
        """The point [m] the car pursues: ``lookahead`` ahead on the centre line."""
        track = self.tracks[int(params["is_reversed"])]
        tx, ty, _ = track.point_at(np.array([params["projection_distance"] + self.lookahead]))
        return float(tx[0]), float(ty[0])

    def steering_deg(self, params: dict[str, Any]) -> float:
        """The pursuit steering angle [deg, + left] for the car described by ``params``."""
        yaw = deg_to_rad(params["heading"])
        tx, ty = self.aim_point(params)
        back = self.car.model_point - self.car.rear_axle  # model point to rear axle [m]
        rx = params["x"] - back * math.cos(yaw)
        ry = params["y"] - back * math.sin(yaw)
        alpha = math.atan2(ty - ry, tx - rx) - yaw
        distance = math.hypot(tx - rx, ty - ry)
        curvature = 2.0 * math.sin(alpha) / max(distance, 1e-6)  # [1/m] the pursuit arc
        speed = np.array([float(params["speed"])])
        steering = self.model.steering_for_curvature(np.array([curvature]), speed)
        return rad_to_deg(float(steering[0]))

    def act(self, params: dict[str, Any]) -> int | np.ndarray:
        """The action to take next, for the env's action space."""
        steer = self.steering_deg(params)
        space = self.action_space
        if isinstance(space, DiscreteActionSpace):
            angles = np.array(space.steering_angle_deg)
            speeds = np.array(space.speed)
            cost = np.abs(angles - steer) * 1000.0 + speeds  # nearest angle, then slowest
            return int(np.argmin(cost))
        low, high = space.steering_low_deg, space.steering_high_deg
        scaled = 2.0 * (steer - low) / (high - low) - 1.0
        return np.array([np.clip(scaled, -1.0, 1.0), -1.0], np.float32)
