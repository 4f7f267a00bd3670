"""Where cars start and restart among their objects: DeepRacer's grid and clear lanes.

Pure geometry on a track, batched: the `ObjectWorld` hands in its cars' seats, start distances
and the distances to their objects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from racer.errors import ConfigError
from racer.track import Track

#: [m] a start (or reset) point this close to a box moves to the other lane (SPEC 4.5, 5.2).
START_CLEARANCE = 1.0
#: [m] how far behind a box a car restarts after a reset next to it (RESET_BEHIND_DIST).
RESET_BEHIND = 1.0
#: [m] in a multi-car race, racer k starts this much times k behind the line (START_POS_OFFSET).
START_STAGGER = 0.75

#: (x, y) of I points -> (I, J) distances [m] from each to its car's boxes and bots.
Gaps = Callable[[np.ndarray, np.ndarray], np.ndarray]


def grid_starts(track: Track, seat: np.ndarray, racers: int, s: np.ndarray,
                gaps: Gaps | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """SPEC 4.5: the race starts of I racers whose start line is at ``s`` [m].

    Racer k starts 0.75 m x k behind the line, on the inner lane for odd k and the outer lane
    for even k, heading along the centre line. With ``gaps`` (not the simapp's: it clears
    training starts only), a racer whose slot is within 1 m of a box or bot takes the lane
    further from them.

    Args:
        track: the track in the cars' driving direction.
        seat: (I,) int each racer's seat k.
        racers: racers per world.
        s: (I,) [m] the start line of each racer's world.
        gaps: distances to each racer's boxes and bots; None keeps the grid's slots.

    Returns:
        (I,) x [m], y [m], yaw [rad] of each racer's base_link.

    Raises:
        ConfigError: an open track without room behind its start for the grid.
    """
    behind = START_STAGGER * (racers - 1)
    if not track.closed and s.min() < behind:
        raise ConfigError(
            f"{racers} racers need {behind:.2f} m of track behind the start, and this open "
            f"track starts {s.min():.2f} m from its first waypoint: set "
            "episode.start_position_offset further along."
        )
    s = s - START_STAGGER * seat
    s = np.mod(s, track.length) if track.closed else s
    _, _, yaw = track.point_at(s)
    lane = np.where(seat % 2 == 1, 1.0, -1.0)
    x, y = track.lane_point_at(s, lane)
    if gaps is not None:
        near = (gaps(x, y) <= START_CLEARANCE).any(axis=1)
        if near.any():
            inner, outer = (gaps(*track.lane_point_at(s, np.full(len(s), side))).min(axis=1)
                            for side in (1.0, -1.0))  # fmt: skip
            lane = np.where(near, np.where(inner >= outer, 1.0, -1.0), lane)
            x, y = track.lane_point_at(s, lane)
    return x, y, yaw


def cleared_starts(
    track: Track, s: np.ndarray, x: np.ndarray, y: np.ndarray, gap: np.ndarray,
    lane_of: Callable[[int, int], float],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """SPEC 4.5: a start within 1 m of an object moves to the lane on the object's other side.

    Args:
        track: the track in the cars' driving direction.
        s: (I,) [m] the starts along the track.
        x: (I,) [m] their points.
        y: (I,) [m].
        gap: (I, J) [m] distances from each start to its car's J boxes and bots.
        lane_of: (start row, object) -> that object's lane, +1 inner or -1 outer.

    Returns:
        (I,) x [m], y [m] of the starts, moved where needed.
    """
    near = gap <= START_CLEARANCE
    rows = np.flatnonzero(near.any(axis=1))
    if not len(rows):
        return x, y
    nearest = np.argmin(np.where(near[rows], gap[rows], np.inf), axis=1)
    lanes = np.array([lane_of(int(k), int(j)) for k, j in zip(rows, nearest, strict=True)])
    x, y = x.copy(), y.copy()
    x[rows], y[rows] = track.lane_point_at(s[rows], -lanes)
    return x, y


def restart_pose(track: Track, s: float, x: float, y: float, box_s: np.ndarray,
                 box_lanes: np.ndarray) -> tuple[float, float, float]:  # fmt: skip
    """SPEC 5.2: where a car restarts after a reset at ``s`` [m] on the lane point (x, y).

    Next to one of its boxes (within 1 m along the track), in the other lane 1 m behind it;
    otherwise at (x, y) itself.

    Args:
        track: the track in the car's driving direction.
        s: [m] the reset point along the track.
        x: [m] the lane point there.
        y: [m].
        box_s: (M,) [m] the car's boxes along the track.
        box_lanes: (M,) their lanes, +1 inner or -1 outer.

    Returns:
        x [m], y [m] and the centre line's yaw [rad] at the restart.
    """
    if len(box_s):
        gap = np.abs((box_s - s + 0.5 * track.length) % track.length - 0.5 * track.length)
        if (gap <= START_CLEARANCE).any():
            k = int(np.argmin(gap))
            s = float((box_s[k] - RESET_BEHIND) % track.length)
            px, py = track.lane_point_at(np.array([s]), np.array([-box_lanes[k]]))
            x, y = float(px[0]), float(py[0])
    _, _, yaw = track.point_at(np.array([s]))
    return x, y, float(yaw[0])
