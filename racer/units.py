"""Unit conversions between racer's SI interior and DeepRacer's degrees and percent.

This is the only module that knows the factor 180/pi; everything else calls it.
"""

from __future__ import annotations

import math

import numpy as np

DEG_PER_RAD = 180.0 / math.pi
RAD_PER_DEG = math.pi / 180.0


def deg_to_rad(angle_deg):
    """Convert degrees to radians (scalar or array)."""
    return angle_deg * RAD_PER_DEG


def rad_to_deg(angle_rad):
    """Convert radians to degrees (scalar or array)."""
    return angle_rad * DEG_PER_RAD


def wrap_angle(angle_rad):
    """Wrap an angle [rad] (scalar or array) to [-pi, pi)."""
    return np.mod(np.asarray(angle_rad) + math.pi, 2.0 * math.pi) - math.pi
