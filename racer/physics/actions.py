"""DeepRacer action spaces: the action table and its SI decoding.

A DeepRacer model declares what its policy may command in ``model_metadata.json`` (SPEC section
3.1; read by `racer.formats.model_metadata`). This module holds the two action spaces as frozen
dataclasses with the console's validation limits, and decodes batched policy actions into the car
command: steering [rad] and speed [m/s], plus the steering in degrees exactly
as DeepRacer's ``params`` and simtrace show it (SPEC 1.3 item 10), so `-30.0` stays `-30.0` instead
of going through a rad -> deg round trip.

- Discrete: the policy picks an index into the action table.
- Continuous: the policy acts in a [-1, 1]^2 box ([steering, speed]); the box is clipped and
  scaled linearly into the JSON bounds, so clipped actions land exactly on the bounds.

Neither decoding applies the simulator's own command clip (+-30 deg, 0.1-4 m/s, SPEC 4.4): params
show the raw values and the car model clips what it executes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from racer.errors import ConfigError
from racer.units import RAD_PER_DEG, deg_to_rad

CONSOLE_DISCRETE_COUNT = (2, 30)
"""Number of discrete actions the console (DROA) allows."""
CONSOLE_STEERING_RANGE_DEG = (-30.0, 30.0)
"""Steering the console allows [deg] (continuous: low in [-30, 0], high in [0, 30])."""
CONSOLE_DISCRETE_SPEED_RANGE = (0.1, 4.0)
"""Discrete speeds the console allows [m/s]."""
CONSOLE_CONTINUOUS_SPEED_RANGE = (0.5, 4.0)
"""Continuous speed bounds the console allows [m/s]."""

SIMULATOR_LIMITS_FIX = (
    "racer train and racer drive take --simulator-limits for that "
    "(EnvConfig(strict_action_space=False) in Python)"
)
"""How a user accepts an action space beyond the console's limits, as the simulator does."""

_NON_STRICT_HINT = (
    "or accept it as the simulator does (it clips the executed command to +-30 deg and "
    f"0.1-4.0 m/s, while params show the raw value): {SIMULATOR_LIMITS_FIX}."
)


_MISSING = object()
"""Sentinel for an absent JSON key (None is a valid JSON value: null)."""


def _fail(source: str, key: str, expected: str, got: object, fix: str) -> ConfigError:
    """Build the one-paragraph ConfigError every check raises.

    An absent key (``got`` is `_MISSING`) is named as missing, never shown as the sentinel.
    """
    if got is _MISSING:
        return ConfigError(f"{source}: {key} is missing: it must be {expected}. {fix}")
    return ConfigError(f"{source}: {key} must be {expected}, got {got!r}. {fix}")


def _is_number(value: object) -> bool:
    """True for JSON numbers (int or float), false for bools, which Python counts as ints."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    """True for JSON integers, false for bools and for floats such as 8.0."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _number(value: object, source: str, key: str, unit: str) -> float:
    """Return ``value`` as a finite float or raise a ConfigError naming ``key``."""
    if value is _MISSING:
        raise ConfigError(f"{source}: {key} is missing. Add it as a number in [{unit}].")
    if not _is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise _fail(source, key, f"a finite number [{unit}]", value, f"Write {key} as a number.")
    return float(value)  # type: ignore[arg-type]


def _check_range(
    value: float, bounds: tuple[float, float], source: str, key: str, unit: str
) -> None:
    """Raise a ConfigError when ``value`` lies outside the console's closed range ``bounds``."""
    low, high = bounds
    if not low <= value <= high:
        raise _fail(
            source,
            key,
            f"within the console's limits {low:g}..{high:g} {unit}",
            value,
            f"Set it within {low:g}..{high:g} {unit}, {_NON_STRICT_HINT}",
        )


@dataclass(frozen=True)
class DiscreteActionSpace:
    """A DeepRacer discrete action table: action i commands (steering_angle_deg[i], speed[i]).

    The degree values are kept exactly as written in model_metadata.json, because DeepRacer's
    params and simtrace show them verbatim; the radian table is derived once at construction.
    """

    steering_angle_deg: tuple[float, ...]
    """Steering of each action [deg], positive to the left, as in the JSON. (n,)"""
    speed: tuple[float, ...]
    """Speed of each action [m/s]. (n,)"""
    _steering_deg: np.ndarray = field(init=False, repr=False, compare=False)
    _steering_rad: np.ndarray = field(init=False, repr=False, compare=False)
    _speed: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        source = type(self).__name__
        steer = tuple(
            _number(v, source, f"steering_angle_deg[{i}]", "deg")
            for i, v in enumerate(self.steering_angle_deg)
        )
        speed = tuple(_number(v, source, f"speed[{i}]", "m/s") for i, v in enumerate(self.speed))
        if not steer or len(steer) != len(speed):
            raise _fail(
                source,
                "steering_angle_deg and speed",
                "non-empty and of equal length",
                (len(steer), len(speed)),
                "Give one steering angle and one speed per action.",
            )
        object.__setattr__(self, "steering_angle_deg", steer)
        object.__setattr__(self, "speed", speed)
        for name, values in (
            ("_steering_deg", steer),
            ("_steering_rad", deg_to_rad(np.array(steer, dtype=np.float64))),
            ("_speed", speed),
        ):
            table = np.array(values, dtype=np.float64)
            table.setflags(write=False)
            object.__setattr__(self, name, table)

    @property
    def action_space_type(self) -> str:
        """Always ``"discrete"``."""
        return "discrete"

    @property
    def n(self) -> int:
        """Number of actions."""
        return len(self.speed)

    @property
    def steering(self) -> np.ndarray:
        """Steering of each action, (n,) float64 [rad], read-only."""
        return self._steering_rad

    @property
    def default_action_index(self) -> int:
        """The first action with steering 0 (rl_coach's default action), or 0 if there is none."""
        return next((i for i, s in enumerate(self.steering_angle_deg) if s == 0.0), 0)

    def decode(
        self,
        actions: npt.NDArray[np.integer],
        steering_out: npt.NDArray[np.float64],
        speed_out: npt.NDArray[np.float64],
        steering_deg_out: npt.NDArray[np.float64],
    ) -> None:
        """Look up N action indices in place, without allocating.

        Args:
            actions: (N,) integer action indices in [0, n).
            steering_out: (N,) float64, receives the steering [rad].
            speed_out: (N,) float64, receives the speed [m/s].
            steering_deg_out: (N,) float64, receives the steering [deg], exactly the JSON value.

        Raises:
            ValueError: ``actions`` is not a (N,) integer array with values in [0, n), or an
                output is not a (N,) float64 array.
        """
        _check_batch(actions, (-1,), steering_out, speed_out, steering_deg_out)
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"Discrete actions must be an integer array of indices, got dtype "
                f"{actions.dtype}. Pass np.asarray(actions, dtype=np.int64)."
            )
        if actions.size and (actions.min() < 0 or actions.max() >= self.n):
            raise ValueError(
                f"Discrete action indices must lie in [0, {self.n}), got values from "
                f"{actions.min()} to {actions.max()}. Sample from the env's action_space."
            )
        # mode="clip" is safe after the range check and, unlike mode="raise", does not buffer out.
        np.take(self._steering_rad, actions, out=steering_out, mode="clip")
        np.take(self._speed, actions, out=speed_out, mode="clip")
        np.take(self._steering_deg, actions, out=steering_deg_out, mode="clip")

    def to_json_value(self) -> list[dict[str, Any]]:
        """The ``action_space`` value of model_metadata.json, with each entry's ``index``."""
        return [
            {"steering_angle": s, "speed": v, "index": i}
            for i, (s, v) in enumerate(zip(self.steering_angle_deg, self.speed, strict=True))
        ]


@dataclass(frozen=True)
class ContinuousActionSpace:
    """A DeepRacer continuous action space: steering and speed each in a [low, high] interval.

    The policy acts in the box [-1, 1]^2 in [steering, speed] order; ``decode`` clips to the box
    and maps -1 to low and +1 to high linearly.
    """

    steering_low_deg: float
    """Lowest steering [deg] (rightmost, since positive is left)."""
    steering_high_deg: float
    """Highest steering [deg]."""
    speed_low: float
    """Lowest speed [m/s]."""
    speed_high: float
    """Highest speed [m/s]."""

    def __post_init__(self) -> None:
        source = type(self).__name__
        for name, unit in (
            ("steering_low_deg", "deg"),
            ("steering_high_deg", "deg"),
            ("speed_low", "m/s"),
            ("speed_high", "m/s"),
        ):
            object.__setattr__(self, name, _number(getattr(self, name), source, name, unit))
        _check_low_high(self.steering_low_deg, self.steering_high_deg, source, "steering")
        _check_low_high(self.speed_low, self.speed_high, source, "speed")

    @property
    def action_space_type(self) -> str:
        """Always ``"continuous"``."""
        return "continuous"

    @property
    def shape(self) -> tuple[int]:
        """Shape of one policy action in the [-1, 1] box: (2,) for [steering, speed]."""
        return (2,)

    def decode(
        self,
        actions: npt.NDArray[np.floating],
        steering_out: npt.NDArray[np.float64],
        speed_out: npt.NDArray[np.float64],
        steering_deg_out: npt.NDArray[np.float64],
    ) -> None:
        """Clip N box actions to [-1, 1] and scale them into the bounds, in place.

        The scaling is ``(1 - t) * low + t * high`` with ``t = (a + 1) / 2``, which gives the
        bounds exactly at t = 0 and t = 1 (``low + t * (high - low)`` can miss by one ulp).
        The output buffers double as scratch space; float32 actions only cost numpy's fixed-size
        casting buffer, independent of N.

        Args:
            actions: (N, 2) float policy actions, [steering, speed], nominally in [-1, 1].
            steering_out: (N,) float64, receives the steering [rad].
            speed_out: (N,) float64, receives the speed [m/s].
            steering_deg_out: (N,) float64, receives the steering [deg].

        Raises:
            ValueError: ``actions`` is not a (N, 2) float array or contains NaN, or an output is
                not a (N,) float64 array.
        """
        _check_batch(actions, (-1, 2), steering_out, speed_out, steering_deg_out)
        if not np.issubdtype(actions.dtype, np.floating):
            raise ValueError(
                f"Continuous actions must be a float array, got dtype {actions.dtype}. "
                "Pass np.asarray(actions, dtype=np.float32)."
            )
        if actions.size and np.isnan(actions.sum()):
            raise ValueError(
                "Continuous actions contain NaN. Check the policy's output (a diverged "
                "network or a NaN observation)."
            )
        # The steering buffers double as scratch space so the call allocates nothing per car.
        _lerp_box(actions[:, 1], self.speed_low, self.speed_high, speed_out, steering_deg_out)
        _lerp_box(
            actions[:, 0],
            self.steering_low_deg,
            self.steering_high_deg,
            steering_deg_out,
            steering_out,
        )
        np.multiply(steering_deg_out, RAD_PER_DEG, out=steering_out)

    def to_json_value(self) -> dict[str, dict[str, float]]:
        """The ``action_space`` value of model_metadata.json."""
        return {
            "steering_angle": {"low": self.steering_low_deg, "high": self.steering_high_deg},
            "speed": {"low": self.speed_low, "high": self.speed_high},
        }


ActionSpace = DiscreteActionSpace | ContinuousActionSpace


def _check_low_high(low: float, high: float, source: str, key: str) -> None:
    """Raise a ConfigError unless low < high."""
    if not low < high:
        raise _fail(
            source,
            key,
            "an interval with low < high",
            {"low": low, "high": high},
            "Swap the bounds or widen the interval.",
        )


def _lerp_box(
    box: np.ndarray, low: float, high: float, out: np.ndarray, scratch: np.ndarray
) -> None:
    """Write ``(1 - t) * low + t * high``, t = (clip(box, -1, 1) + 1) / 2, into ``out``."""
    np.clip(box, -1.0, 1.0, out=out)
    out += 1.0
    out *= 0.5
    np.subtract(1.0, out, out=scratch)
    scratch *= low
    out *= high
    out += scratch
    # A convex combination can round one ulp past a bound; keep the documented range.
    np.clip(out, low, high, out=out)


def _check_batch(actions: object, shape: tuple[int, ...], *outs: object) -> None:
    """Check that ``actions`` has ``shape`` (-1 = N) and every output is a (N,) float64 array."""
    if (
        not isinstance(actions, np.ndarray)
        or actions.ndim != len(shape)
        or any(want not in (-1, got) for want, got in zip(shape, actions.shape, strict=True))
    ):
        got = getattr(actions, "shape", type(actions).__name__)
        raise ValueError(
            f"actions must be a numpy array of shape {('N', *shape[1:])}, got {got}. "
            "Batch the actions of all cars along the first axis."
        )
    n_cars = actions.shape[0]
    for out in outs:
        if not isinstance(out, np.ndarray) or out.shape != (n_cars,) or out.dtype != np.float64:
            got = (getattr(out, "shape", None), getattr(out, "dtype", type(out).__name__))
            raise ValueError(
                f"decode outputs must be float64 arrays of shape ({n_cars},), got {got}. "
                "Preallocate them with np.empty(n_cars, dtype=np.float64)."
            )


def action_log_value(
    action_space: ActionSpace, action: int | np.integer, steering_deg: float, speed: float
) -> int | str:
    """The simtrace ``action`` column for one car's step (SPEC 6.1 column 8).

    Args:
        action_space: The model's action space.
        action: The discrete action index; ignored for a continuous space.
        steering_deg: The decoded steering [deg]; used only for a continuous space.
        speed: The decoded speed [m/s]; used only for a continuous space.

    Returns:
        Discrete: the index as an int. Continuous: ``"[<steer_deg> <speed>]"``, space separated,
        e.g. ``"[-12.5 1.8]"``.
    """
    if isinstance(action_space, DiscreteActionSpace):
        return int(action)
    return f"[{float(steering_deg)!r} {float(speed)!r}]"
