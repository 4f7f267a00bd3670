"""DeepRacer's simulated car as the real logs show it: servo-driven steering on sliding tyres.

The simulator drives the two steering hinges with position controllers and the wheels with
velocity (or effort) controllers on 0.5-friction tyres (SPEC 4.4, 12). Measured on real
simtraces (``scripts/fit_dynamics.py``), the car's response to a command has four parts, each
a parameter of `ServoResponse`:

- **dead time**: a new steering command starts to act ``steering_delay`` [s] after the step
  begins (0.049 s, three quarters of a step, in the ROS2 simulator of 2026; 0.015 s in 2022);
- **steering lag**: the wheels then follow the command as a first-order response of time
  constant ``steering_lag`` [s] (0.15 s in 2026, 0.43 s in 2022);
- **yaw response**: the car turns less than a kinematic bicycle, less so the harder it steers
  and (in 2022) the faster it goes: yaw rate = ``yaw_gain`` v tan(delta) / (L (1 +
  ``yaw_compression`` delta^2) (1 + ``understeer`` v^2)): at small angles 0.66 of the kinematic
  rate in 2026, 0.86 at 1 m/s and 0.37 at 3 m/s in 2022; about half at 30 degrees and 1 m/s;
- **speed response**: the speed follows ``speed_gain`` times the command with a first-order lag
  ``speed_lag`` [s] (0.20 s in 2022; 3 ms with the 2026 velocity controllers).

The rear axle stays the no-slip point, as in the kinematic bicycle (the logs' lateral velocity
of the model point is the yaw rate times its 0.22 m lever to the rear axle).

`ServoBicycle` integrates this in `SUBSTEPS` sub-steps per step, each an exact arc of the rear
axle; it is the motion model behind the ``deepracer`` (DeepRacer-on-AWS, 2026, the default) and
``deepracer_2022`` (ROS1 simulator, deepracer-for-cloud and the console) presets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numba
import numpy as np

from racer.errors import ConfigError
from racer.physics.car import CarParams, CarState

#: Sub-steps per step: the dead time and the lags change the wheel angle within a step.
SUBSTEPS = 4


@dataclass(frozen=True)
class ServoResponse:
    """How the simulated car answers its commands (fitted on real logs; module docstring).

    Attributes:
        steering_delay: [s] dead time before a new steering command starts to act.
        steering_lag: [s] time constant of the wheel angle's first-order response; 0 is instant.
        yaw_gain: steady yaw rate over the kinematic bicycle's, at small wheel angles.
        yaw_compression: [1/rad^2] how fast that ratio falls with the wheel angle delta:
            divided by 1 + yaw_compression * delta^2.
        understeer: [s^2/m^2] how fast it falls with the speed v: divided by 1 + understeer *
            v^2 (the tyres slip more as the lateral acceleration grows).
        speed_lag: [s] time constant of the speed's first-order response; 0 is instant.
        speed_gain: steady speed over the commanded speed.
        observer_gain: not the car's, the fidelity benchmark's: how much of the wheel-angle
            error a logged turn reveals `racer.lab.fidelity` corrects row by row when it
            estimates the unlogged wheel angle (fitted with the rest: the 2022 simulator's
            residual turn persists from row to row, the 2026 one's does not).
        fitted_on: which real logs the numbers come from.
    """

    steering_delay: float = 0.0
    steering_lag: float = 0.0
    yaw_gain: float = 1.0
    yaw_compression: float = 0.0
    understeer: float = 0.0
    speed_lag: float = 0.0
    speed_gain: float = 1.0
    observer_gain: float = 0.0
    fitted_on: str = ""

    def __post_init__(self) -> None:
        for name in ("steering_delay", "steering_lag", "yaw_compression", "understeer",
                     "speed_lag", "observer_gain"):  # fmt: skip
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                raise ConfigError(f"ServoResponse.{name} must be >= 0, got {value}.")
        for name in ("yaw_gain", "speed_gain"):
            value = getattr(self, name)
            if not (value > 0.0 and math.isfinite(value)):
                raise ConfigError(f"ServoResponse.{name} must be > 0, got {value}.")


#: DeepRacer-on-AWS (2026, ROS2 simulator). Fitted by scripts/fit_dynamics.py on
#: deepracer-logs/droa-spain training (2 iterations); checked on its evaluation.
DEEPRACER_2026 = ServoResponse(
    steering_delay=0.049,
    steering_lag=0.148,
    yaw_gain=0.662,
    yaw_compression=1.222,
    speed_lag=0.003,
    speed_gain=1.008,
    fitted_on="droa-spain training",
)
#: The ROS1 simulator (2022: deepracer-for-cloud, the AWS console). Fitted on the even
#: iterations of deepracer-logs/drfc-reinvent-base-full; checked on the odd ones and evaluations.
DEEPRACER_2022 = ServoResponse(
    steering_delay=0.015,
    steering_lag=0.43,
    yaw_gain=1.026,
    yaw_compression=2.804,
    understeer=0.194,
    speed_lag=0.197,
    speed_gain=0.985,
    observer_gain=0.353,
    fitted_on="drfc-reinvent-base-full even iterations",
)


@dataclass
class ServoBicycle:
    """Kinematic bicycle behind a steering servo and a speed controller (module docstring).

    ``CarState.steering`` is the wheels' actual angle and ``CarState.steering_command`` the
    command they were following before this step (for the dead time).
    """

    params: CarParams = field(default_factory=CarParams)
    response: ServoResponse = DEEPRACER_2026
    # the kernel's scratch for N cars: no hold, and dt per car
    _no_hold: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_), repr=False,
                                 compare=False)  # fmt: skip
    _dt: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def step(
        self,
        state: CarState,
        steering: np.ndarray,
        speed: np.ndarray,
        dt: float | np.ndarray,
        hold: np.ndarray | None = None,
    ) -> None:
        """Advance ``state`` in place by ``dt`` [s] (scalar or (N,)); see `MotionModel.step`.

        One compiled pass over the cars (`_servo_step`), allocation-free for a scalar ``dt``
        and arrays of float64.
        """
        n = state.n
        if n == 0:
            return
        if self._no_hold.shape[0] != n:
            self._no_hold = np.zeros(n, dtype=np.bool_)
            self._dt = np.zeros(n)
        if np.ndim(dt) == 0:
            self._dt[:] = dt
            steps = self._dt
        else:
            steps = np.ascontiguousarray(np.broadcast_to(np.asarray(dt, np.float64), (n,)))
        p, r = self.params, self.response
        _servo_step(state.x, state.y, state.yaw, state.speed, state.steering,
                    state.steering_command, np.asarray(steering, np.float64),
                    np.asarray(speed, np.float64), self._no_hold if hold is None else hold,
                    steps, p.wheelbase, p.rear_axle, p.max_steering, p.min_speed, p.max_speed,
                    r.steering_delay, r.steering_lag, r.speed_lag, r.speed_gain, r.yaw_gain,
                    r.yaw_compression, r.understeer, SUBSTEPS)  # fmt: skip

    def yaw_rate(self, speed: np.ndarray, angle: np.ndarray) -> np.ndarray:
        """(N,) yaw rate [rad/s] for speed (N,) [m/s] and actual wheel angle (N,) [rad]."""
        return speed * self.curvature(angle) / (1.0 + self.response.understeer * speed * speed)

    def curvature(self, angle: np.ndarray) -> np.ndarray:
        """(N,) steady rear-axle curvature [1/m] at walking pace for wheel angles (N,) [rad]."""
        r = self.response
        return (r.yaw_gain * np.tan(angle)
                / (self.params.wheelbase * (1.0 + r.yaw_compression * angle * angle)))  # fmt: skip

    @cached_property
    def _steering_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(curvatures [1/m], wheel angles [rad]) across the lock, for `steering_for_curvature`."""
        lock = self.params.max_steering
        angles = np.linspace(-lock, lock, 241)
        return self.curvature(angles), angles

    def steering_for_curvature(
        self, curvature: np.ndarray, speed: np.ndarray | None = None
    ) -> np.ndarray:
        """(N,) steady steering command [rad] for a rear-axle ``curvature`` (N,) [1/m].

        The inverse of `yaw_rate` / speed (monotonic within the steering limit) at ``speed``
        (N,) [m/s], or at walking pace (no understeer) when None; a curve tighter than the car
        can take asks for the full lock.
        """
        if speed is not None:
            curvature = curvature * (1.0 + self.response.understeer * speed * speed)
        reach, angles = self._steering_table
        return np.interp(curvature, reach, angles)

    @property
    def max_curvature(self) -> float:
        """[1/m] the tightest steady turn, at full lock and walking pace (1 / 0.573 m in 2026)."""
        return float(self.curvature(np.array([self.params.max_steering]))[0])

    @property
    def observer_gain(self) -> float:
        """The fidelity benchmark's wheel-angle observer gain (`ServoResponse.observer_gain`)."""
        return self.response.observer_gain

    @property
    def understeer(self) -> float:
        """[s^2/m^2] the steady curvature at speed v is max_curvature / (1 + understeer v^2)."""
        return self.response.understeer

    @property
    def speed_lag(self) -> float:
        """[s] time constant of the speed's response to the command."""
        return self.response.speed_lag

    @property
    def steering_lag(self) -> float:
        """[s] time constant of the wheels' response to the steering command."""
        return self.response.steering_lag

    @property
    def top_speed(self) -> float:
        """[m/s] the steady speed of the largest speed command."""
        return self.params.max_speed * self.response.speed_gain

    def turn_radius(self, speed: float, steering: float) -> float:
        """[m] steady radius of the rear axle's circle for a held command (speed [m/s], [rad])."""
        v = speed * self.response.speed_gain
        angle = float(np.clip(steering, -self.params.max_steering, self.params.max_steering))
        kappa = abs(float(self.curvature(np.array([angle]))[0]))
        return (1.0 + self.response.understeer * v * v) / kappa


@numba.njit(cache=True)
def _servo_step(x: np.ndarray, y: np.ndarray, yaw: np.ndarray, speed: np.ndarray,
                steering: np.ndarray, steering_command: np.ndarray, steer_in: np.ndarray,
                speed_in: np.ndarray, hold: np.ndarray, dt: np.ndarray, wheelbase: float,
                rear_axle: float, max_steering: float, min_speed: float, max_speed: float,
                delay: float, steer_lag: float, speed_lag: float, speed_gain: float,
                yaw_gain: float, yaw_compression: float, understeer: float,
                substeps: int) -> None:  # fmt: skip
    """`ServoBicycle.step` for N cars, in place.

    The state arrays are (N,) [m, m, rad, m/s, rad, rad]; the commands (N,) [rad, m/s] are
    clipped here, as the simulator clips them; ``hold`` (N,) bool; ``dt`` (N,) [s]. Each
    sub-step is an exact arc of the rear axle (`racer.physics.car.integrate_arc`) at the
    sub-step's mean speed and wheel angle.
    """
    two_pi = 2.0 * math.pi
    for i in range(x.shape[0]):
        steer = min(max(steer_in[i], -max_steering), max_steering)
        target = min(max(speed_in[i], min_speed), max_speed)
        previous = steering_command[i]
        if hold[i]:  # a held car's wheels are straight at once (PREPARE, pauses)
            steer, target, previous = 0.0, 0.0, 0.0
            steering[i] = 0.0
        target *= speed_gain
        h = dt[i] / substeps
        steer_keep = math.exp(-h / steer_lag) if steer_lag > 0.0 else 0.0
        speed_keep = math.exp(-h / speed_lag) if speed_lag > 0.0 else 0.0
        for k in range(substeps):
            command = previous if (k + 0.5) * h < delay else steer
            angle0 = steering[i]
            steering[i] = command + (angle0 - command) * steer_keep
            speed0 = speed[i]
            end_speed = target + (speed0 - target) * speed_keep
            v = 0.5 * (speed0 + end_speed)
            angle = 0.5 * (angle0 + steering[i])
            curvature = yaw_gain * math.tan(angle) / (wheelbase
                                                      * (1.0 + yaw_compression * angle * angle))
            rate = v * curvature / (1.0 + understeer * v * v)
            dpsi = rate * h
            half = 0.5 * dpsi
            sinc = math.sin(half) / half if half != 0.0 else 1.0
            chord = v * h * sinc
            rx = x[i] + rear_axle * math.cos(yaw[i]) + chord * math.cos(yaw[i] + half)
            ry = y[i] + rear_axle * math.sin(yaw[i]) + chord * math.sin(yaw[i] + half)
            heading = (yaw[i] + dpsi + math.pi) % two_pi - math.pi
            yaw[i] = heading
            x[i] = rx - rear_axle * math.cos(heading)
            y[i] = ry - rear_axle * math.sin(heading)
            speed[i] = end_speed
        steering_command[i] = steer
