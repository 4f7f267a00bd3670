"""Exceptions raised by racer at its boundaries, each with a message that says what to fix."""

from __future__ import annotations


class RacerError(Exception):
    """Base class of every error racer raises on purpose."""


class ConfigError(RacerError):
    """A configuration value or file (TOML, model_metadata.json, hyperparameters.json) is bad."""


class TrackError(RacerError):
    """A track file is missing, malformed or geometrically invalid."""


class RewardFunctionError(RacerError):
    """A user reward function failed to load, raised, or returned an invalid value."""


class ExportError(RacerError):
    """A policy could not be exported or the export does not match the trained policy."""


class LogError(RacerError):
    """A log (simtrace CSV, metrics JSON, model folder) is missing or malformed."""


class CheckpointError(RacerError):
    """A policy checkpoint (SB3 zip) is damaged, or carries objects racer will not unpickle."""
