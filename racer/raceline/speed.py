"""The fastest speed profile along a line for racer's car, and the ideal lap time.

Limits (`SpeedLimits.from_model`), all taken from the env's motion model and its
`racer.physics.CarParams`:

- lateral: ``v**2 * |kappa| <= mu * g``, the grip limit `FrictionLimitedBicycle` enforces, so a
  corner of curvature kappa caps the speed at ``sqrt(mu * g / |kappa|)``; and ``v <= max_speed``.
- longitudinal: the car's speed follows its command with a first-order lag ``tau``
  (``dv/dt = (command - v) / tau``) and the command lies in [min_speed, max_speed], so full
  throttle gives ``dv/dt = (max_speed - v) / tau`` and full braking ``dv/dt = -(v - min_speed) /
  tau``. These are the motion model's own dynamics, not a fitted approximation. The model has no
  friction circle coupling them (its yaw-rate cap ignores braking), so neither do we.
- steering: the wheels turn at most ``max_steering``, so curvature above the model's full-lock
  curvature (1 / 0.284 m for the kinematic bicycle, 1 / 0.573 m for DeepRacer's fitted car)
  cannot be driven at any speed. No speed fixes that; it is reported
  by `SpeedLimits.max_curvature` and checked by the caller. A car that understeers (its
  tightest turn at speed v is ``max_curvature / (1 + understeer v^2)``, the 2022 simulator's)
  is also capped at ``sqrt((max_curvature / |kappa| - 1) / understeer)``.
- steering lag: DeepRacer's wheels follow their command with a first-order lag ``tau_s``
  (`racer.physics.servo`). To hold the line's wheel angle ``delta(s)`` (the steady angle of its
  curvature) the command must lead it, ``delta + tau_s v d(delta)/ds``, and the command is
  limited to ``max_steering``; so where the curvature changes, the speed is capped at
  ``(max_steering - sign(delta delta') |delta|) / (tau_s |delta'|)``
  (`SpeedLimits.steering_speed`). The steering dead time only shifts the command earlier and
  caps nothing.

The profile is the classic forward-backward pass: start from the curvature cap, sweep backwards
so every point can brake in time for the next, sweep forwards so every point is reachable from
the previous at full throttle. Each step integrates the lag dynamics exactly over the segment
(a Newton solve for the segment's duration). On a loop both sweeps run twice around so the
profile wraps consistently (a flying lap). On an open line, and on a loop with ``start_speed``,
the car starts at ``start_speed`` (at rest by default, as the environment places cars) and the
end is free. Segment times are ``2 ds / (v_i + v_{i+1})``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from racer.errors import ConfigError
from racer.physics.car import GRAVITY, CarParams, KinematicBicycle, MotionModel
from racer.units import deg_to_rad

FloatArray = NDArray[np.float64]

_NEWTON_ITERS = 60
_CAR = CarParams()  # the defaults: the DeepRacer car
_AT_LOCK = deg_to_rad(1.0)  # [rad] a wheel angle this close to the lock is at the limit
#: [m/s] the steering caps (lag, understeer) never plan slower than this: full braking only
#: tends to min_speed, so a cap at min_speed would slow the whole line before it; a point that
#: needs less is at the car's limit, where it goes wide, and the line is tighter than it steers.
CREEP_SPEED = 0.5


@dataclass(frozen=True)
class SpeedLimits:
    """What the car can do, in SI units.

    Attributes:
        max_speed: [m/s] top speed (the largest speed command).
        min_speed: [m/s] smallest speed command; full braking decays the speed towards it.
        lateral_acceleration: [m/s^2] grip limit ``v**2 * |kappa|``, mu * g.
        speed_lag: [s] time constant of the speed's response to the command; 0 means the speed
            changes at once (no longitudinal limit).
        max_curvature: [1/m] tightest drivable curvature, ``tan(max_steering) / wheelbase``.
        understeer: [s^2/m^2] the tightest turn at speed v is max_curvature / (1 + understeer
            v^2); 0 for a car that turns as tightly at any speed.
        steering_lag: [s] time constant of the wheels' response to the steering command; 0
            means they turn at once (no steering-rate limit).
        max_steering: [rad] the steering command's limit.
        steering_angle: the steady wheel angle [rad] for (M,) curvatures [1/m] (the motion
            model's `steering_for_curvature` at walking pace); needed when ``steering_lag`` >
            0.
    """

    max_speed: float = _CAR.max_speed
    min_speed: float = _CAR.min_speed
    lateral_acceleration: float = 0.5 * GRAVITY
    speed_lag: float = _CAR.speed_lag
    max_curvature: float = math.tan(_CAR.max_steering) / _CAR.wheelbase
    understeer: float = 0.0
    steering_lag: float = 0.0
    max_steering: float = _CAR.max_steering
    steering_angle: Callable[[FloatArray], FloatArray] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not (self.understeer >= 0.0 and math.isfinite(self.understeer)):
            raise ConfigError(f"SpeedLimits.understeer must be >= 0, got {self.understeer}.")
        if not (self.steering_lag >= 0.0 and math.isfinite(self.steering_lag)):
            raise ConfigError(
                f"SpeedLimits.steering_lag must be >= 0 [s], got {self.steering_lag}."
            )
        if self.steering_lag > 0.0 and self.steering_angle is None:
            raise ConfigError("SpeedLimits with a steering_lag needs its steering_angle curve.")
        if not (0.0 <= self.min_speed < self.max_speed and math.isfinite(self.max_speed)):
            raise ConfigError(
                f"SpeedLimits needs 0 <= min_speed < max_speed [m/s], got {self.min_speed}, "
                f"{self.max_speed}."
            )
        if not (self.lateral_acceleration > 0.0 and self.max_curvature > 0.0):
            raise ConfigError("SpeedLimits.lateral_acceleration and max_curvature must be > 0.")
        if not (self.speed_lag >= 0.0 and math.isfinite(self.speed_lag)):
            raise ConfigError(f"SpeedLimits.speed_lag must be >= 0 [s], got {self.speed_lag}.")

    @classmethod
    def from_car(cls, params: CarParams) -> SpeedLimits:
        """The limits of the kinematic bicycle with these parameters (module docstring)."""
        return cls.from_model(KinematicBicycle(params))

    @classmethod
    def from_model(cls, model: MotionModel) -> SpeedLimits:
        """The limits of a motion model's car: its lag, top speed and tightest turn."""
        params = model.params
        return cls(
            max_speed=model.top_speed,
            min_speed=params.min_speed,
            lateral_acceleration=params.friction * GRAVITY,
            speed_lag=model.speed_lag,
            max_curvature=model.max_curvature,
            understeer=model.understeer,
            steering_lag=model.steering_lag,
            max_steering=params.max_steering,
            steering_angle=model.steering_for_curvature if model.steering_lag > 0.0 else None,
        )

    def curvature_speed(self, curvature: FloatArray) -> FloatArray:
        """(M,) float64 [m/s] the highest speed at each curvature [1/m], capped at max_speed.

        The grip limit, and for a car that understeers the speed at which its tightest turn
        is still as tight as ``curvature`` (never below `CREEP_SPEED`; a curve tighter than
        the lock gets no such cap: no speed follows it, which the caller reports, see
        `max_curvature`).
        """
        kappa = np.abs(np.asarray(curvature, dtype=np.float64))
        safe = np.maximum(kappa, 1e-12)
        cap = np.where(kappa > 0.0, np.minimum(self.max_speed, np.sqrt(
            self.lateral_acceleration / safe)), self.max_speed)  # fmt: skip
        if self.understeer > 0.0:
            room = self.max_curvature / safe - 1.0
            slip = np.sqrt(np.maximum(room, 0.0) / self.understeer)
            cap = np.where(room > 0.0, np.minimum(cap, np.maximum(slip, CREEP_SPEED)), cap)
        return cap

    def steering_speed(self, curvature: FloatArray, segment_length: FloatArray,
                       closed: bool) -> FloatArray:  # fmt: skip
        """(M,) float64 [m/s] the steering lag's speed cap at each point (module docstring).

        ``curvature`` (M,) is signed [1/m]; ``segment_length`` (K,) [m] as in `speed_profile`.
        Where the wheel angle does not change, or without a lag, the cap is ``max_speed``; it
        is never below `CREEP_SPEED`. Points within 1 degree of full lock get no lag cap: the
        car is at its limit there, and a line tighter than the lock cannot be followed at any
        speed (`max_curvature`, which the caller reports).
        """
        kappa = np.asarray(curvature, dtype=np.float64)
        if self.steering_lag <= 0.0 or self.steering_angle is None or len(kappa) < 3:
            return np.full(len(kappa), self.max_speed)
        delta = self.steering_angle(kappa)
        ds = np.asarray(segment_length, dtype=np.float64)
        if closed:  # central differences round the loop
            rate = (np.roll(delta, -1) - np.roll(delta, 1)) / (ds + np.roll(ds, 1))
        else:
            rate = np.gradient(delta, np.concatenate([[0.0], np.cumsum(ds)]))
        room = self.max_steering - np.sign(delta * rate) * np.abs(delta)  # [rad] of command left
        spin = self.steering_lag * np.abs(rate)  # [rad s/m] lead per m/s
        cap = np.where(spin > 1e-12, np.maximum(room, 0.0) / np.maximum(spin, 1e-12), np.inf)
        cap[np.abs(delta) >= self.max_steering - _AT_LOCK] = np.inf
        return np.clip(cap, min(CREEP_SPEED, self.max_speed), self.max_speed)


@dataclass(frozen=True, eq=False)
class SpeedProfile:
    """The fastest speeds along a line.

    Attributes:
        speed: (M,) float64 [m/s] at each line point.
        cap: (M,) float64 [m/s] the curvature, steering-lag and top-speed cap at each point.
        segment_length: (K,) float64 [m] segment lengths (K = M on a loop, M - 1 on open lines).
        segment_time: (K,) float64 [s] time to drive each segment.
        closed: True for a loop (the last segment returns to point 0).
    """

    speed: FloatArray
    cap: FloatArray
    segment_length: FloatArray
    segment_time: FloatArray
    closed: bool

    @property
    def lap_time(self) -> float:
        """Time for the whole line [s]."""
        return float(self.segment_time.sum())


def _accelerate(v0: float, ds: float, limits: SpeedLimits) -> float:
    """Speed [m/s] after ``ds`` [m] at full throttle from ``v0`` (exact lag dynamics).

    ``v(t) = V - (V - v0) exp(-t / tau)`` travels ``s(t) = V t - tau (V - v0)(1 - exp(-t/tau))``;
    s is convex in t, so Newton from ``t_hi = (ds + tau (V - v0)) / V >= t*`` falls monotonically
    to the root.
    """
    top, tau = limits.max_speed, limits.speed_lag
    if tau == 0.0 or v0 >= top:
        return top if tau == 0.0 else v0
    gap = top - v0
    t = (ds + tau * gap) / top
    for _ in range(_NEWTON_ITERS):
        decay = math.exp(-t / tau)
        excess = top * t - tau * gap * (1.0 - decay) - ds
        t_next = t - excess / (top - gap * decay)
        if t - t_next <= 1e-15 * t:
            break
        t = t_next
    return top - gap * math.exp(-t / tau)


def _brake_from(v1: float, ds: float, limits: SpeedLimits) -> float:
    """Highest speed [m/s] from which full braking over ``ds`` [m] gets down to ``v1``.

    Backwards in time the speed grows as ``u(t) = m + (v1 - m) exp(t / tau)`` and covers
    ``m t + tau (v1 - m)(exp(t / tau) - 1)``, convex in t and at least ``v1 t``, so Newton from
    ``t_hi = ds / v1`` falls monotonically to the root.
    """
    floor, tau = limits.min_speed, limits.speed_lag
    if tau == 0.0:
        return limits.max_speed
    if v1 <= floor:
        return v1
    gap = v1 - floor
    t = ds / v1
    for _ in range(_NEWTON_ITERS):
        grow = math.exp(t / tau)
        excess = floor * t + tau * gap * (grow - 1.0) - ds
        t_next = t - excess / (floor + gap * grow)
        if t - t_next <= 1e-15 * t:
            break
        t = t_next
    return floor + gap * math.exp(t / tau)


def _sweeps(cap: FloatArray, ds: FloatArray, limits: SpeedLimits, periodic: bool) -> FloatArray:
    """Backward (braking) then forward (throttle) sweeps over nodes with caps ``cap``.

    ``ds[i]`` is the segment from node i to node i+1 (mod n when periodic).
    """
    n = len(cap)
    v = cap.astype(np.float64).copy()
    laps = 2 if periodic else 1
    span = n if periodic else n - 1
    for k in range(laps * span - 1, -1, -1):
        i, j = k % n, (k + 1) % n
        v[i] = min(v[i], _brake_from(v[j], ds[i], limits))
    for k in range(laps * span):
        i, j = k % n, (k + 1) % n
        v[j] = min(v[j], _accelerate(v[i], ds[i], limits))
    return v


def speed_profile(
    curvature: FloatArray,
    segment_length: FloatArray,
    closed: bool,
    limits: SpeedLimits,
    start_speed: float | None = None,
) -> SpeedProfile:
    """The fastest speeds along a line of known curvature.

    Args:
        curvature: (M,) float64 [1/m] signed curvature at each point (left turns positive).
        segment_length: (K,) float64 [m] segment lengths; K = M on a loop (the last segment
            returns to point 0), M - 1 on an open line.
        closed: True for a loop.
        limits: the car's limits.
        start_speed: [m/s] speed at point 0 for a standing start. None: a flying lap on a loop
            (the profile wraps around), and a start from rest (0 m/s) on an open line.

    Returns:
        The profile; ``lap_time`` is the time from point 0 round to point 0 on a loop, and from
        the first point to the last on an open line.

    Raises:
        ConfigError: mismatched lengths, or a negative start speed.
    """
    curvature = np.asarray(curvature, dtype=np.float64)
    ds = np.asarray(segment_length, dtype=np.float64)
    m = len(curvature)
    if len(ds) != (m if closed else m - 1) or m < 2:
        raise ConfigError(
            f"speed_profile: {m} points need {m if closed else m - 1} segment lengths "
            f"({'closed' if closed else 'open'} line), got {len(ds)}."
        )
    if start_speed is not None and not start_speed >= 0.0:
        raise ConfigError(f"start_speed must be >= 0 [m/s], got {start_speed}.")
    cap = np.minimum(limits.curvature_speed(curvature),
                     limits.steering_speed(curvature, ds, closed))  # fmt: skip
    if closed and start_speed is None:
        speed = _sweeps(cap, ds, limits, periodic=True)
        following = np.roll(speed, -1)
    else:
        # A standing start: lay the line out as a path; a loop ends back at point 0, free.
        nodes = np.concatenate([cap, cap[:1]]) if closed else cap.copy()
        nodes[0] = min(nodes[0], 0.0 if start_speed is None else start_speed)
        path = _sweeps(nodes, ds, limits, periodic=False)
        speed, following = path[:m], path[1:]
    # Average of the two ends; guard the 0/0 of a segment that starts and ends at rest.
    time = 2.0 * ds / np.maximum(speed[: len(ds)] + following, 1e-12)
    return SpeedProfile(speed, cap, ds, time, closed)
