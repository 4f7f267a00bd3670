"""The DeepRacer car: geometry, state of N cars, and swappable motion models.

The car knows nothing about tracks: it moves in the plane (x east, y north, yaw counter-clockwise
from +x, steering positive to the left), and the environment asks the track where it is. Its pose
is ``base_link``, the chassis origin, 0.0817 m ahead of the rear axle (SPEC section 4.4).

Motion models share one interface, ``model.step(state, steering, speed, dt)``. This module has
the idealised ones; `racer.physics.servo` has DeepRacer's fitted car (the default) and
`racer.physics.motion` names them all:

- `KinematicBicycle`: rear-axle bicycle with wheelbase 0.164 m, integrated exactly over the step
  for constant inputs, plus an optional first-order lag of the speed toward the command
  (``CarParams.speed_lag``, 0.3 s; 0 gives DeepRacer's "commanded speed is the speed"
  idealisation). It answers a steering command at once with the full yaw rate v tan(delta) / L,
  which DeepRacer's simulated car does not (SPEC 12).
- `FrictionLimitedBicycle`: the same, but the yaw rate is capped by the tyres' grip
  (``v * yaw_rate <= mu * g``), so sharp steering at speed makes the car run wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from racer.errors import ConfigError
from racer.units import deg_to_rad

GRAVITY = 9.81  # [m/s^2]


@dataclass(frozen=True)
class CarParams:
    """Physical parameters of the DeepRacer car (SPEC section 4.4).

    Attributes:
        wheelbase: [m] rear axle to front axle.
        rear_axle: [m] rear axle position ahead of base_link (negative: behind).
        front_axle: [m] front axle position ahead of base_link.
        rear_track: [m] distance between the rear wheel centres.
        front_track: [m] distance between the front wheel centres.
        model_point: [m] how far ahead of base_link DeepRacer measures the car's position (its
            "front of car", used for x, y, progress and distances in params).
        max_steering: [rad] the simulator clips the steering command to +-this.
        min_speed: [m/s] the simulator clips the speed command to at least this.
        max_speed: [m/s] and at most this.
        speed_lag: [s] time constant of the speed's first-order response to the command; 0 means
            the car moves at the commanded speed at once.
        friction: tyre friction coefficient mu (used by `FrictionLimitedBicycle`).
        length: [m] footprint length for collisions.
        width: [m] footprint width for collisions.
    """

    wheelbase: float = 0.164
    rear_axle: float = -0.0817
    front_axle: float = 0.0823
    rear_track: float = 0.162
    front_track: float = 0.159
    model_point: float = 0.14
    max_steering: float = deg_to_rad(30.0)
    min_speed: float = 0.1
    max_speed: float = 4.0
    speed_lag: float = 0.3
    friction: float = 0.5
    length: float = 0.32352
    width: float = 0.1961

    def __post_init__(self) -> None:
        positive = ("wheelbase", "rear_track", "front_track", "max_steering", "max_speed",
                    "length", "width")  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"CarParams.{name} must be > 0, got {getattr(self, name)}.")
        if not 0.0 <= self.min_speed <= self.max_speed:
            raise ConfigError(
                f"CarParams needs 0 <= min_speed <= max_speed, got {self.min_speed}, "
                f"{self.max_speed}."
            )
        if self.speed_lag < 0.0 or self.friction <= 0.0:
            raise ConfigError("CarParams.speed_lag must be >= 0 and friction > 0.")
        if not math.isclose(self.front_axle - self.rear_axle, self.wheelbase, abs_tol=1e-9):
            raise ConfigError(
                f"CarParams: front_axle - rear_axle ({self.front_axle - self.rear_axle}) must "
                f"equal wheelbase ({self.wheelbase})."
            )

    @property
    def wheel_offsets(self) -> np.ndarray:
        """(4, 2) float64 [m] wheel centres in the car frame (forward, left).

        Order as DeepRacer's wheel links: left rear, left front, right rear, right front.
        """
        r, f = self.rear_track / 2.0, self.front_track / 2.0
        return np.array(
            [[self.rear_axle, r], [self.front_axle, f], [self.rear_axle, -r], [self.front_axle, -f]]
        )


class CarState:
    """Mutable state of N cars as structure-of-arrays, car index first.

    Attributes:
        x, y: (N,) float64 [m] base_link position.
        yaw: (N,) float64 [rad] heading, counter-clockwise from +x, wrapped to [-pi, pi).
        speed: (N,) float64 [m/s] actual forward speed of the rear axle.
        steering: (N,) float64 [rad] current front-wheel angle, positive left.
        steering_command: (N,) float64 [rad] the steering command of the last step (what a
            servo-driven model's wheels follow until a new command takes over).
    """

    def __init__(self, n: int) -> None:
        self.x = np.zeros(n)
        self.y = np.zeros(n)
        self.yaw = np.zeros(n)
        self.speed = np.zeros(n)
        self.steering = np.zeros(n)
        self.steering_command = np.zeros(n)

    @property
    def n(self) -> int:
        """Number of cars."""
        return self.x.shape[0]

    def place(self, index: np.ndarray, x: np.ndarray, y: np.ndarray, yaw: np.ndarray) -> None:
        """Put cars ``index`` at rest at the given poses ([m], [m], [rad])."""
        self.x[index] = x
        self.y[index] = y
        self.yaw[index] = yaw
        self.speed[index] = 0.0
        self.steering[index] = 0.0
        self.steering_command[index] = 0.0

    def points_ahead(
        self, distance: float, out_x: np.ndarray, out_y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points ``distance`` [m] ahead of base_link along the heading, into (N,) buffers."""
        np.cos(self.yaw, out=out_x)
        np.sin(self.yaw, out=out_y)
        out_x *= distance
        out_y *= distance
        out_x += self.x
        out_y += self.y
        return out_x, out_y

    def wheel_positions(
        self, params: CarParams, out_x: np.ndarray, out_y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """World positions of the four wheel centres, into (N, 4) buffers [m]."""
        off = params.wheel_offsets
        c = np.cos(self.yaw)[:, None]
        s = np.sin(self.yaw)[:, None]
        np.multiply(c, off[:, 0], out=out_x)
        out_x -= s * off[:, 1]
        out_x += self.x[:, None]
        np.multiply(s, off[:, 0], out=out_y)
        out_y += c * off[:, 1]
        out_y += self.y[:, None]
        return out_x, out_y


class MotionModel(Protocol):
    """Advances N cars by one step of constant commands.

    Besides `step`, a model tells what its car can do in steady state, for drivers and the
    racing line: `steering_for_curvature`, ``max_curvature`` [1/m] (at walking pace; at speed v
    it is ``max_curvature / (1 + understeer v^2)``), ``understeer`` [s^2/m^2], ``speed_lag``
    [s], ``steering_lag`` [s] and ``top_speed`` [m/s].
    """

    params: CarParams
    max_curvature: float
    understeer: float
    speed_lag: float
    steering_lag: float
    top_speed: float

    def steering_for_curvature(
        self, curvature: np.ndarray, speed: np.ndarray | None = None
    ) -> np.ndarray:
        """(N,) steady steering command [rad] for a rear-axle curvature (N,) [1/m].

        At ``speed`` (N,) [m/s]; None: at walking pace.
        """
        ...

    def step(
        self,
        state: CarState,
        steering: np.ndarray,
        speed: np.ndarray,
        dt: float | np.ndarray,
        hold: np.ndarray | None = None,
    ) -> None:
        """Advance ``state`` in place.

        Args:
            state: the N cars.
            steering: (N,) float64 [rad] commanded front-wheel angle (clipped here).
            speed: (N,) float64 [m/s] commanded speed (clipped here to [min_speed, max_speed]).
            dt: [s] step length, scalar or (N,) (the real logs' steps differ).
            hold: (N,) bool, cars commanded to stand still (PREPARE, pauses): speed target 0 and
                straight wheels, bypassing the minimum speed.
        """
        ...


def integrate_arc(
    state: CarState, params: CarParams, yaw_rate: np.ndarray, dt: float | np.ndarray
) -> None:
    """Move base_link along the exact arc of the rear axle for constant speed and yaw rate.

    Args:
        state: the N cars; ``state.speed`` (N,) [m/s] is the speed along the arc.
        params: the car's geometry.
        yaw_rate: (N,) [rad/s].
        dt: [s] scalar or (N,).
    """
    v = state.speed
    dpsi = yaw_rate * dt
    half = 0.5 * dpsi
    # sin(h)/h, safe at h = 0: the straight-line limit of the arc.
    sinc = np.sinc(half / math.pi)
    chord = v * dt * sinc
    # Rear axle position, then back to base_link (which sits -rear_axle ahead of it).
    c0, s0 = np.cos(state.yaw), np.sin(state.yaw)
    rx = state.x + params.rear_axle * c0
    ry = state.y + params.rear_axle * s0
    mid = state.yaw + half
    rx += chord * np.cos(mid)
    ry += chord * np.sin(mid)
    yaw = state.yaw + dpsi
    state.yaw[:] = np.mod(yaw + math.pi, 2.0 * math.pi) - math.pi
    state.x[:] = rx - params.rear_axle * np.cos(state.yaw)
    state.y[:] = ry - params.rear_axle * np.sin(state.yaw)


def _update_speed(
    state: CarState, params: CarParams, target: np.ndarray, dt: float | np.ndarray
) -> np.ndarray:
    """Set ``state.speed`` to the mean speed over the step; return the speed at its end."""
    if params.speed_lag > 0.0:
        # Exact first-order response over the step; the step ends at the new speed and the arc
        # uses the mean speed over the step.
        a = np.exp(-np.asarray(dt, dtype=np.float64) / params.speed_lag)
        new = target + (state.speed - target) * a
        mean = target + (state.speed - target) * (params.speed_lag / dt) * (1.0 - a)
        state.speed[:] = mean
        return new
    state.speed[:] = target
    return target


def clip_commands(
    params: CarParams, steering: np.ndarray, speed: np.ndarray, hold: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's command clip (SPEC 4.4); held cars target speed 0, wheels straight."""
    steer = np.clip(steering, -params.max_steering, params.max_steering)
    target = np.clip(speed, params.min_speed, params.max_speed)
    if hold is not None:
        steer[hold] = 0.0
        target[hold] = 0.0
    return steer, target


@dataclass
class KinematicBicycle:
    """Kinematic bicycle about the rear axle: yaw rate = v tan(steering) / wheelbase."""

    params: CarParams = CarParams()

    def step(
        self,
        state: CarState,
        steering: np.ndarray,
        speed: np.ndarray,
        dt: float | np.ndarray,
        hold: np.ndarray | None = None,
    ) -> None:
        """Advance ``state`` in place by ``dt`` [s] (see `MotionModel.step`)."""
        steer, target = clip_commands(self.params, steering, speed, hold)
        state.steering[:] = steer
        state.steering_command[:] = steer
        end_speed = _update_speed(state, self.params, target, dt)
        integrate_arc(state, self.params, self.yaw_rate(state.speed, steer), dt)
        state.speed[:] = end_speed

    def yaw_rate(self, speed: np.ndarray, steering: np.ndarray) -> np.ndarray:
        """(N,) yaw rate [rad/s] for speed (N,) [m/s] and clipped steering (N,) [rad]."""
        return speed * np.tan(steering) / self.params.wheelbase

    def steering_for_curvature(
        self, curvature: np.ndarray, speed: np.ndarray | None = None
    ) -> np.ndarray:
        """(N,) steady steering [rad] for a rear-axle ``curvature`` (N,) [1/m], at any speed."""
        return np.arctan(self.params.wheelbase * curvature)

    @property
    def max_curvature(self) -> float:
        """[1/m] the tightest steady turn, at full lock: tan(max_steering) / wheelbase."""
        return math.tan(self.params.max_steering) / self.params.wheelbase

    @property
    def speed_lag(self) -> float:
        """[s] time constant of the speed's response to the command."""
        return self.params.speed_lag

    @property
    def steering_lag(self) -> float:
        """[s] the wheels turn at once: 0."""
        return 0.0

    @property
    def understeer(self) -> float:
        """[s^2/m^2] the bicycle turns as tightly at any speed: 0."""
        return 0.0

    @property
    def top_speed(self) -> float:
        """[m/s] the steady speed of the largest speed command."""
        return self.params.max_speed


@dataclass
class FrictionLimitedBicycle(KinematicBicycle):
    """Kinematic bicycle whose lateral acceleration ``v * yaw_rate`` is capped at ``mu * g``.

    Beyond the grip limit the car turns less than its wheels point: it runs wide, as the real car
    slides when it steers hard at speed.
    """

    def yaw_rate(self, speed: np.ndarray, steering: np.ndarray) -> np.ndarray:
        """The kinematic yaw rate [rad/s], clipped to the tyres' grip ``mu g / v``."""
        rate = super().yaw_rate(speed, steering)
        limit = self.params.friction * GRAVITY / np.maximum(np.abs(speed), 1e-6)
        return np.clip(rate, -limit, limit)
