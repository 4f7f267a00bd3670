"""Racing lines: the minimum-curvature line inside a track and the ideal lap time on it.

Layer: above `racer.physics` (it reads `CarParams`), below plots and the lab; numpy and scipy only.
"""

from racer.raceline.line import (
    DEFAULT_MARGIN,
    DEFAULT_SPACING,
    RacingLine,
    border_distance,
    centre_line,
    ideal_lap_time,
    line_speed_profile,
    menger_curvature,
    min_curvature_line,
)
from racer.raceline.speed import SpeedLimits, SpeedProfile, speed_profile

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_SPACING",
    "RacingLine",
    "SpeedLimits",
    "SpeedProfile",
    "border_distance",
    "centre_line",
    "ideal_lap_time",
    "line_speed_profile",
    "menger_curvature",
    "min_curvature_line",
    "speed_profile",
]
