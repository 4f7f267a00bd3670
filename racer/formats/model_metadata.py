"""Read and validate DeepRacer's ``model_metadata.json`` (SPEC section 3.1).

The file declares the model's action space, sensors, network, training algorithm and simapp
version. Parsing turns it into a frozen `ModelMetadata` holding a `DiscreteActionSpace` or
`ContinuousActionSpace` (see `racer.physics.actions`); every problem raises a `ConfigError` that
names the file, the key, the value and the fix. Unknown top-level keys are ignored, as DeepRacer's
tools add their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racer.errors import ConfigError, ExportError
from racer.formats.model_archive import is_model_archive, read_archive_member
from racer.physics.actions import (
    _MISSING,
    CONSOLE_CONTINUOUS_SPEED_RANGE,
    CONSOLE_DISCRETE_COUNT,
    CONSOLE_DISCRETE_SPEED_RANGE,
    CONSOLE_STEERING_RANGE_DEG,
    SIMULATOR_LIMITS_FIX,
    ActionSpace,
    ContinuousActionSpace,
    DiscreteActionSpace,
    _check_low_high,
    _check_range,
    _fail,
    _is_int,
    _is_number,
    _number,
)

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
            + (
                f", or accept any number as the simulator does: {SIMULATOR_LIMITS_FIX}."
                if strict
                else "."
            ),
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
                source, key, f'an object {{"low": {unit}, "high": {unit}}}', sub,
                f'Add the bounds, e.g. "{name}": {{"low": ..., "high": ...}}; a continuous '
                'action_space needs both steering_angle and speed.',
            )  # fmt: skip
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
        path: The JSON file, or the car's model archive (``.tar.gz``) holding it
            (`racer.formats.model_archive`).
        strict: Apply the console's limits; see ``parse_model_metadata``.

    Returns:
        The validated metadata.

    Raises:
        ConfigError: The file is missing or unreadable, is not JSON (the message gives the line
            and column), or fails validation.
    """
    path = Path(path)
    try:
        if is_model_archive(path):  # the car's archive: its model_metadata.json
            text = read_archive_member(path, "model_metadata.json").decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except ExportError as error:
        raise ConfigError(str(error)) from None
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
