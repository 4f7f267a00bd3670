"""DeepRacer action spaces and ``model_metadata.json``: the action table and its SI decoding.

A DeepRacer model declares what its policy may command in ``model_metadata.json`` (SPEC section
3.1). This module reads and validates that file into frozen dataclasses and decodes batched policy
actions into the car command: steering [rad] and speed [m/s], plus the steering in degrees exactly
as DeepRacer's ``params`` and simtrace show it (SPEC 1.3 item 10), so `-30.0` stays `-30.0` instead
of going through a rad -> deg round trip.

- Discrete: the policy picks an index into the action table.
- Continuous: the policy acts in a [-1, 1]^2 box ([steering, speed]); the box is clipped and
  scaled linearly into the JSON bounds, so clipped actions land exactly on the bounds.

Neither decoding applies the simulator's own command clip (+-30 deg, 0.1-4 m/s, SPEC 4.4): params
show the raw values and the car model clips what it executes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from racer.errors import ConfigError
from racer.units import RAD_PER_DEG, deg_to_rad

CAMERA_SENSORS = ("FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS", "observation")
LIDAR_SENSORS = ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
NEURAL_NETWORKS = (
    "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    "DEEP_CONVOLUTIONAL_NETWORK",
    "DEEP_CONVOLUTIONAL_NETWORK_DEEP",
)
TRAINING_ALGORITHMS = ("clipped_ppo", "sac")
ACTION_SPACE_TYPES = ("discrete", "continuous")
LIDAR_NUM_SECTORS = (1, 2, 4, 8, 16, 32, 64)
LIDAR_CLIPPING_DIST_RANGE = (0.15, 12.0)
"""Allowed ``lidar_config.clipping_dist`` [m]."""

CONSOLE_DISCRETE_COUNT = (2, 30)
"""Number of discrete actions the console (DROA) allows."""
CONSOLE_STEERING_RANGE_DEG = (-30.0, 30.0)
"""Steering the console allows [deg] (continuous: low in [-30, 0], high in [0, 30])."""
CONSOLE_DISCRETE_SPEED_RANGE = (0.1, 4.0)
"""Discrete speeds the console allows [m/s]."""
CONSOLE_CONTINUOUS_SPEED_RANGE = (0.5, 4.0)
"""Continuous speed bounds the console allows [m/s]."""
SIM_STEERING_LIMIT_DEG = 30.0
"""The simulator clips the executed steering command to +-this [deg] (SPEC 4.4)."""
SIM_SPEED_RANGE = (0.1, 4.0)
"""The simulator clips the executed speed command to this range [m/s] (SPEC 4.4)."""

_NON_STRICT_HINT = (
    "or load with strict=False to accept it as the simulator does (it clips the executed "
    "command to +-30 deg and 0.1-4.0 m/s, while params show the raw value)."
)


_MISSING = object()
"""Sentinel for an absent JSON key (None is a valid JSON value: null)."""


def _fail(source: str, key: str, expected: str, got: object, fix: str) -> ConfigError:
    """Build the one-paragraph ConfigError every check raises."""
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


@dataclass(frozen=True)
class LidarConfig:
    """``lidar_config`` of model_metadata.json, used only by DISCRETIZED_SECTOR_LIDAR (SPEC 4.3)."""

    num_sectors: int = 8
    """Number of sectors the 64 lidar rays are grouped into; a divisor of 64."""
    num_values_per_sector: int = 8
    """One-hot bins per sector, each ``clipping_dist / num_values_per_sector`` wide."""
    clipping_dist: float = 2.0
    """Range beyond which a sector reads as empty [m], in 0.15..12.0."""

    def __post_init__(self) -> None:
        _check_lidar_values(
            self.num_sectors, self.num_values_per_sector, self.clipping_dist, "LidarConfig", ""
        )
        # Plain Python numbers, so to_json_dict output always passes json.dumps.
        object.__setattr__(self, "num_sectors", int(self.num_sectors))
        object.__setattr__(self, "num_values_per_sector", int(self.num_values_per_sector))
        object.__setattr__(self, "clipping_dist", float(self.clipping_dist))


def _check_lidar_values(
    num_sectors: object, num_values: object, clipping_dist: object, source: str, prefix: str
) -> None:
    """Raise a ConfigError naming ``prefix + key`` for an invalid lidar configuration value."""
    if not _is_int(num_sectors) or num_sectors not in LIDAR_NUM_SECTORS:
        raise _fail(
            source,
            f"{prefix}num_sectors",
            f"one of {LIDAR_NUM_SECTORS} (a divisor of the 64 lidar rays)",
            num_sectors,
            "Pick one of those values.",
        )
    if not _is_int(num_values) or num_values < 1:  # type: ignore[operator]
        raise _fail(
            source,
            f"{prefix}num_values_per_sector",
            "an integer >= 1",
            num_values,
            "Write a whole number of bins per sector, e.g. 8.",
        )
    dist = _number(clipping_dist, source, f"{prefix}clipping_dist", "m")
    low, high = LIDAR_CLIPPING_DIST_RANGE
    if not low <= dist <= high:
        raise _fail(
            source,
            f"{prefix}clipping_dist",
            f"within the lidar's range {low:g}..{high:g} m",
            clipping_dist,
            f"Set it within {low:g}..{high:g} m.",
        )


@dataclass(frozen=True)
class ModelMetadata:
    """The contents of a DeepRacer ``model_metadata.json`` (SPEC 3.1), validated.

    ``action_space_type`` is a property derived from ``action_space`` so the two cannot disagree.
    """

    action_space: ActionSpace
    """The discrete action table or the continuous bounds."""
    sensor: tuple[str, ...] = ("FRONT_FACING_CAMERA",)
    """Exactly one camera (CAMERA_SENSORS) and at most one lidar (LIDAR_SENSORS)."""
    neural_network: str = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
    """Network topology name, one of NEURAL_NETWORKS."""
    training_algorithm: str = "clipped_ppo"
    """``"clipped_ppo"`` or ``"sac"`` (continuous only)."""
    version: str = "5"
    """Simapp physics/behaviour version, as written in the file but as a string (e.g. "5")."""
    lidar_config: LidarConfig | None = None
    """The file's ``lidar_config``, or None when it has none (see ``effective_lidar_config``)."""

    def __post_init__(self) -> None:
        source = type(self).__name__
        if not isinstance(self.action_space, (DiscreteActionSpace, ContinuousActionSpace)):
            raise _fail(
                source,
                "action_space",
                "a DiscreteActionSpace or ContinuousActionSpace",
                self.action_space,
                "Build one, or use parse_model_metadata for JSON data.",
            )
        if self.lidar_config is not None and not isinstance(self.lidar_config, LidarConfig):
            raise _fail(
                source, "lidar_config", "a LidarConfig or None", self.lidar_config, "Build one."
            )
        object.__setattr__(self, "sensor", _check_sensor(self.sensor, source))
        object.__setattr__(
            self, "neural_network", _check_neural_network(self.neural_network, source)
        )
        algorithm = _check_training_algorithm(
            self.training_algorithm, self.action_space.action_space_type, source
        )
        object.__setattr__(self, "training_algorithm", algorithm)
        object.__setattr__(self, "version", _check_version(self.version, source))

    @property
    def action_space_type(self) -> str:
        """``"discrete"`` or ``"continuous"``, from ``action_space``."""
        return self.action_space.action_space_type

    @property
    def camera(self) -> str:
        """The one camera sensor name."""
        return next(s for s in self.sensor if s in CAMERA_SENSORS)

    @property
    def lidar(self) -> str | None:
        """The lidar sensor name, or None without a lidar."""
        return next((s for s in self.sensor if s in LIDAR_SENSORS), None)

    @property
    def effective_lidar_config(self) -> LidarConfig:
        """The lidar configuration the simulator uses: the file's, or the default (8, 8, 2.0 m)."""
        return self.lidar_config if self.lidar_config is not None else LidarConfig()

    @property
    def simapp_version(self) -> float:
        """``version`` as a number, for comparisons such as ``>= 4``."""
        return float(self.version)

    def to_json_dict(self) -> dict[str, Any]:
        """A model_metadata.json dict that DeepRacer tools read, keys in the console's order.

        ``lidar_config`` is written only when set, so a file without one round-trips unchanged.
        """
        data: dict[str, Any] = {
            "action_space": self.action_space.to_json_value(),
            "sensor": list(self.sensor),
            "neural_network": self.neural_network,
            "version": self.version,
            "training_algorithm": self.training_algorithm,
            "action_space_type": self.action_space_type,
        }
        if self.lidar_config is not None:
            data["lidar_config"] = {
                "num_sectors": self.lidar_config.num_sectors,
                "num_values_per_sector": self.lidar_config.num_values_per_sector,
                "clipping_dist": self.lidar_config.clipping_dist,
            }
        return data


def _check_sensor(value: object, source: str) -> tuple[str, ...]:
    """Validate a sensor list: exactly one camera, at most one lidar, no unknown names."""
    valid = CAMERA_SENSORS + LIDAR_SENSORS
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
        raise _fail(source, "sensor", "a list of sensor names", value, f"Use names from {valid}.")
    unknown = [s for s in value if s not in valid]
    if unknown:
        raise _fail(
            source, "sensor", f"a list of names from {valid}", value, f"Remove or fix {unknown}."
        )
    cameras = [s for s in value if s in CAMERA_SENSORS]
    if len(cameras) != 1:
        raise _fail(
            source,
            "sensor",
            f"a list with exactly one camera from {CAMERA_SENSORS}",
            value,
            'Keep one camera, e.g. ["FRONT_FACING_CAMERA"].',
        )
    if sum(s in LIDAR_SENSORS for s in value) > 1:
        raise _fail(
            source,
            "sensor",
            f"a list with at most one lidar from {LIDAR_SENSORS}",
            value,
            "Keep one lidar.",
        )
    return tuple(value)


def _check_neural_network(value: object, source: str) -> str:
    """Validate a neural_network name."""
    if value not in NEURAL_NETWORKS:
        raise _fail(
            source,
            "neural_network",
            f"one of {NEURAL_NETWORKS}",
            value,
            f'Use one of those, e.g. "{NEURAL_NETWORKS[0]}" (the default).',
        )
    return str(value)


def _check_training_algorithm(value: object, space_type: str, source: str) -> str:
    """Validate training_algorithm (case-insensitive) against the action space type."""
    algorithm = value.lower() if isinstance(value, str) else value
    if algorithm not in TRAINING_ALGORITHMS:
        raise _fail(
            source,
            "training_algorithm",
            f"one of {TRAINING_ALGORITHMS}",
            value,
            'Use "clipped_ppo" (the default) or "sac".',
        )
    if algorithm == "sac" and space_type != "continuous":
        raise _fail(
            source,
            "training_algorithm",
            '"clipped_ppo" with a discrete action_space (sac needs a continuous one)',
            value,
            'Use "clipped_ppo", or make action_space continuous with action_space_type '
            '"continuous".',
        )
    return str(algorithm)


def _check_version(value: object, source: str) -> str:
    """Validate a version (string or number) and return it as a string, e.g. 5 -> "5"."""
    text = str(value).strip() if _is_number(value) or isinstance(value, str) else None
    try:
        number = float(text) if text is not None else math.nan
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 1.0):
        raise _fail(
            source,
            "version",
            "a simapp version >= 1, as a string or number",
            value,
            'Write e.g. "5" (racer\'s default; DeepRacer writes "4" to "6").',
        )
    return text  # type: ignore[return-value]


def parse_model_metadata(
    data: object, source: str = "model_metadata.json", strict: bool = True
) -> ModelMetadata:
    """Validate a decoded model_metadata.json object (SPEC 3.1) into a ModelMetadata.

    Defaults for absent (or null) keys: ``sensor`` ["FRONT_FACING_CAMERA"], ``neural_network``
    DEEP_CONVOLUTIONAL_NETWORK_SHALLOW, ``training_algorithm`` clipped_ppo, ``version`` "2" when
    ``sensor`` is present and "1" when not (DeepRacer's rule), ``lidar_config`` None (the
    simulator then uses 8 sectors, 8 values, 2.0 m). Unknown top-level keys are ignored, because
    DeepRacer tools add their own; unknown keys inside an action entry are ignored too, while
    unknown ``lidar_config`` keys are errors (a typo there would silently fall back to a default).

    ``action_space_type`` is case-insensitive. When it is absent, racer infers it from the shape of
    ``action_space`` (a list is discrete, an object continuous); DeepRacer itself defaults to
    discrete and then fails on an object, so racer's inference only accepts more files. When it is
    given and contradicts the shape (e.g. "discrete" with an object), that is an error naming both.

    Args:
        data: The JSON object, as returned by ``json.load``.
        source: Where ``data`` came from, for error messages (usually the file path).
        strict: Apply the console's limits (2-30 discrete actions, speeds 0.1-4.0 m/s discrete and
            0.5-4.0 m/s continuous, steering -30..30 deg with continuous low <= 0 <= high). With
            False, any finite values pass, as in the simulator, which clips the executed command
            to +-30 deg and 0.1-4.0 m/s but shows the raw values in params.

    Returns:
        The validated metadata.

    Raises:
        ConfigError: A key is missing, of the wrong type or out of range; the message names
            ``source``, the key (e.g. ``action_space[3].speed``), the value, the allowed range and
            the fix.
    """
    if not isinstance(data, dict):
        raise _fail(
            source, "the top level", "a JSON object", type(data).__name__, "Wrap the keys in {}."
        )
    space_type = _action_space_type(data, source)
    raw = data["action_space"]
    if space_type == "discrete":
        space: ActionSpace = _parse_discrete(raw, source, strict)
    else:
        space = _parse_continuous(raw, source, strict)
    lidar_raw = data.get("lidar_config")
    has_sensor = data.get("sensor") is not None
    return ModelMetadata(
        action_space=space,
        sensor=_check_sensor(data["sensor"], source) if has_sensor else ("FRONT_FACING_CAMERA",),
        neural_network=_check_neural_network(
            _get(data, "neural_network", NEURAL_NETWORKS[0]), source
        ),
        training_algorithm=_check_training_algorithm(
            _get(data, "training_algorithm", "clipped_ppo"), space_type, source
        ),
        version=_check_version(_get(data, "version", "2" if has_sensor else "1"), source),
        lidar_config=None if lidar_raw is None else _parse_lidar_config(lidar_raw, source),
    )


def _get(data: dict[str, Any], key: str, default: object) -> object:
    """``data[key]``, or ``default`` when the key is absent or null."""
    value = data.get(key)
    return default if value is None else value


def _action_space_type(data: dict[str, Any], source: str) -> str:
    """Decide discrete/continuous from ``action_space_type`` and the shape of ``action_space``."""
    if "action_space" not in data:
        raise ConfigError(
            f"{source}: action_space is missing. Add a list of "
            '{"steering_angle": deg, "speed": m/s} actions (discrete) or '
            '{"steering_angle": {"low", "high"}, "speed": {"low", "high"}} (continuous).'
        )
    raw = data["action_space"]
    shape_type = {list: "discrete", dict: "continuous"}.get(type(raw))
    if shape_type is None:
        raise _fail(
            source,
            "action_space",
            "a list of actions (discrete) or an object of low/high bounds (continuous)",
            raw,
            "See SPEC 3.1 for both shapes.",
        )
    given = data.get("action_space_type")
    if given is None:
        return shape_type
    if not isinstance(given, str) or given.lower() not in ACTION_SPACE_TYPES:
        raise _fail(
            source,
            "action_space_type",
            f"one of {ACTION_SPACE_TYPES} (any case)",
            given,
            'Write "discrete" or "continuous".',
        )
    if given.lower() != shape_type:
        shape = "a list of actions" if shape_type == "discrete" else "an object of bounds"
        raise _fail(
            source,
            "action_space_type",
            f'"{shape_type}" because action_space is {shape}',
            given,
            f'Set action_space_type to "{shape_type}", or rewrite action_space in the '
            f"{given.lower()} shape.",
        )
    return shape_type


def _parse_discrete(raw: list[Any], source: str, strict: bool) -> DiscreteActionSpace:
    """Validate a discrete action list into a DiscreteActionSpace."""
    low, high = CONSOLE_DISCRETE_COUNT if strict else (1, math.inf)
    if not low <= len(raw) <= high:
        raise _fail(
            source,
            "action_space",
            f"a list of {low}..{high:g} actions" + (" (the console's limit)" if strict else ""),
            len(raw),
            "Add or remove actions"
            + (", or load with strict=False (the simulator takes any number)." if strict else "."),
        )
    pairs = [_parse_discrete_entry(entry, i, source, strict) for i, entry in enumerate(raw)]
    return DiscreteActionSpace(
        steering_angle_deg=tuple(s for s, _ in pairs), speed=tuple(v for _, v in pairs)
    )


def _parse_discrete_entry(entry: object, i: int, source: str, strict: bool) -> tuple[float, float]:
    """Validate action_space[i] and return its (steering [deg], speed [m/s])."""
    key = f"action_space[{i}]"
    if not isinstance(entry, dict):
        raise _fail(
            source, key, 'an object {"steering_angle": deg, "speed": m/s}', entry, "Fix the entry."
        )
    steer = _number(entry.get("steering_angle", _MISSING), source, f"{key}.steering_angle", "deg")
    speed = _number(entry.get("speed", _MISSING), source, f"{key}.speed", "m/s")
    if "index" in entry and not (_is_number(entry["index"]) and entry["index"] == i):
        raise _fail(
            source,
            f"{key}.index",
            f"its position in the list, {i}",
            entry["index"],
            "Number the actions 0, 1, 2, ... in list order, or drop the index keys.",
        )
    if strict:
        _check_range(steer, CONSOLE_STEERING_RANGE_DEG, source, f"{key}.steering_angle", "deg")
        _check_range(speed, CONSOLE_DISCRETE_SPEED_RANGE, source, f"{key}.speed", "m/s")
    return steer, speed


def _parse_continuous(raw: dict[str, Any], source: str, strict: bool) -> ContinuousActionSpace:
    """Validate continuous low/high bounds into a ContinuousActionSpace."""
    bounds: dict[str, tuple[float, float]] = {}
    for name, unit in (("steering_angle", "deg"), ("speed", "m/s")):
        key = f"action_space.{name}"
        sub = raw.get(name, _MISSING)
        if not isinstance(sub, dict):
            raise _fail(
                source, key, f'an object {{"low": {unit}, "high": {unit}}}', sub, "Add the bounds."
            )
        low = _number(sub.get("low", _MISSING), source, f"{key}.low", unit)
        high = _number(sub.get("high", _MISSING), source, f"{key}.high", unit)
        _check_low_high(low, high, source, key)
        bounds[name] = (low, high)
    (steer_low, steer_high), (speed_low, speed_high) = bounds["steering_angle"], bounds["speed"]
    if strict:
        limit_low, limit_high = CONSOLE_STEERING_RANGE_DEG
        _check_range(steer_low, (limit_low, 0.0), source, "action_space.steering_angle.low", "deg")
        _check_range(
            steer_high, (0.0, limit_high), source, "action_space.steering_angle.high", "deg"
        )
        for end, value in (("low", speed_low), ("high", speed_high)):
            key = f"action_space.speed.{end}"
            _check_range(value, CONSOLE_CONTINUOUS_SPEED_RANGE, source, key, "m/s")
    return ContinuousActionSpace(steer_low, steer_high, speed_low, speed_high)


def _parse_lidar_config(raw: object, source: str) -> LidarConfig:
    """Validate a lidar_config object; absent keys take the simulator's defaults."""
    defaults = LidarConfig()
    valid = ("num_sectors", "num_values_per_sector", "clipping_dist")
    if not isinstance(raw, dict) or set(raw) - set(valid):
        extra = sorted(set(raw) - set(valid)) if isinstance(raw, dict) else None
        raise _fail(
            source,
            "lidar_config",
            f"an object with keys from {valid}",
            raw,
            f"Remove or fix the keys {extra}." if extra else "Write it as an object.",
        )
    values = [raw.get(key, getattr(defaults, key)) for key in valid]
    _check_lidar_values(*values, source, "lidar_config.")
    return LidarConfig(*values)


def load_model_metadata(path: str | Path, strict: bool = True) -> ModelMetadata:
    """Read and validate a model_metadata.json file (see ``parse_model_metadata``).

    Args:
        path: The JSON file.
        strict: Apply the console's limits; see ``parse_model_metadata``.

    Returns:
        The validated metadata.

    Raises:
        ConfigError: The file is missing or unreadable, is not JSON (the message gives the line
            and column), or fails validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{path}: cannot read the model metadata file ({error}). Check the path; a DeepRacer "
            "model folder has it at model/model_metadata.json."
        ) from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}. "
            "Fix the syntax there (a trailing comma or a missing quote is typical)."
        ) from error
    return parse_model_metadata(data, source=str(path), strict=strict)


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


DEFAULT_MODEL_METADATA = ModelMetadata(
    # Few actions learn fastest on a CPU; the slow 1.0 m/s row keeps sharp turns feasible on every
    # track, the 2.0 m/s row lets the car speed up on straights and gentle curves.
    action_space=DiscreteActionSpace(
        steering_angle_deg=(-30.0, -15.0, 0.0, 15.0, 30.0, -15.0, 0.0, 15.0),
        speed=(1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0),
    ),
    sensor=("FRONT_FACING_CAMERA",),
    neural_network="DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    training_algorithm="clipped_ppo",
    version="5",
)
"""racer's first-run model: 8 discrete actions, front camera, clipped PPO, simapp version 5."""
