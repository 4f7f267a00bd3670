"""racer: a local DeepRacer-compatible racing simulator and reward-function lab."""

from __future__ import annotations

__version__ = "0.1.0"
