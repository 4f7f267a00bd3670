"""Frozen, typed configuration: build dataclasses from TOML or dicts, rejecting unknown keys.

Every tunable lives in a frozen dataclass next to the code it configures (`CarParams` in physics,
`CameraConfig` in sensors, `EpisodeConfig` and `EnvConfig` in env). This module only knows how to
fill any of them from nested dicts, with errors that name the file, the key and the valid keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from racer.errors import ConfigError

T = TypeVar("T")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
        return from_dict(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a valid {annotation}.")
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}.")
        return tuple(_convert(v, a, f"{where}[{i}]")
                     for i, (v, a) in enumerate(zip(value, args, strict=True)))  # fmt: skip
    return _convert_scalar(value, annotation, where)


_SCALARS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _convert_scalar(value: Any, annotation: Any, where: str) -> Any:
    if annotation not in _SCALARS:
        return value
    accepts, expected = _SCALARS[annotation]
    if not accepts(value):
        raise ConfigError(f"{where}: expected {expected}, got {value!r}.")
    return float(value) if annotation is float else value


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build dataclass ``cls`` from a (nested) dict.

    Args:
        cls: a dataclass type; nested dataclass fields take nested dicts (TOML tables).
        data: the values; missing keys keep their defaults.
        source: where the data came from, for error messages (a file path or "config").

    Raises:
        ConfigError: an unknown key (the message lists the valid ones), a value of the wrong type,
            or a value the dataclass's own validation rejects.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table of settings, got {data!r}.")
    hints = _field_types(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}; valid settings "
            f"are {', '.join(names)}."
        )
    kwargs = {key: _convert(value, hints[key], f"{source}: {key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_toml(cls: type[T], path: str | Path) -> T:
    """Read a TOML file into dataclass ``cls`` (see `from_dict`)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from None
    return from_dict(cls, data, str(path))


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as nested plain dicts (for saving a run's resolved config)."""
    return dataclasses.asdict(config)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise ConfigError(f"{where}: cannot write a {type(value).__name__} to TOML.")


def dump_toml(data: dict[str, Any], _prefix: str = "") -> str:
    """Nested dicts of scalars, strings and lists as TOML (what `load_toml` reads back).

    Args:
        data: the dict, e.g. `to_dict` of a config; nested dicts become tables.

    Returns:
        The TOML text.
    """
    lines = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{key} = {_toml_value(value, _prefix + key)}")
    for key, value in tables:
        name = f"{_prefix}{key}"
        body = dump_toml(value, name + ".")
        lines.append("")
        lines.append(f"[{name}]")
        lines.append(body.strip("\n"))
    return "\n".join(lines).strip("\n") + "\n"
