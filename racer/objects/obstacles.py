"""Static box obstacles of DeepRacer's object-avoidance race type (SPEC 5.3, "Object avoidance").

DeepRacer places ``NUMBER_OF_OBSTACLES`` boxes along the track (``ObstaclesCtrl`` in
``agent_ctrl/obstacles_agent_ctrl.py``):

- evenly spaced in arc length from ``MIN_DISTANCE_BETWEEN_OBSTACLES`` percent of the track to
  1 m before its end, lanes alternating inner, outer, inner, ... ;
- or, with ``RANDOMIZE_OBSTACLE_LOCATIONS``, each of those distances re-drawn (in a random order)
  uniformly between its neighbours' distances plus/minus the minimum distance, and every lane drawn
  at random, at every reset;
- or at the ``OBJECT_POSITIONS`` given as (fraction of the track, lane), which override both.

A box stands on a lane, the mid-line between the centre line and a border: DeepRacer takes the
centre-line point at the distance, projects it onto the lane polyline (nearest point), and turns
the box along that lane segment. Distances run from waypoint 0 in the driving direction, so a
reversed track gets its boxes measured from the other end, as DeepRacer's direction-aware
``center_line`` does.

Everything here is in metres and radians; ``lane`` is +1 for the inner lane (the file's columns
2-3, always the inside of a loop) and -1 for the outer lane.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.errors import ConfigError
from racer.track.geometry import Track

#: DeepRacer's box footprint [m] along the track (its local x), including a 0.1 m buffer.
BOX_LENGTH = 0.5
#: DeepRacer's box footprint [m] across the track (its local y), including a 0.1 m buffer.
BOX_WIDTH = 0.4
#: DeepRacer leaves this much of the track free before waypoint 0 comes round again [m].
END_MARGIN = 1.0


@dataclass(frozen=True)
class ObstacleConfig:
    """Where DeepRacer's object-avoidance boxes go (its OA environment variables).

    Attributes:
        count: number of boxes (``NUMBER_OF_OBSTACLES``); 0 is a time trial. Ignored, and may stay
            0, when ``positions`` is given.
        min_distance_pct: [% of the track length] ``MIN_DISTANCE_BETWEEN_OBSTACLES``: where the
            first evenly spaced box stands, and the least gap the random jitter keeps between
            neighbours. DeepRacer's and DRfC's default is 2.0, i.e. 2 % (not 2 m: the simapp
            converts it with ``/ 100 * track_length``).
        positions: ``OBJECT_POSITIONS`` as (fraction of the track in [0, 1], lane) pairs, lane +1
            for inner and -1 for outer; empty for the evenly spaced layout.
        randomize: ``RANDOMIZE_OBSTACLE_LOCATIONS``: jitter every distance and pick every lane at
            random at each reset (needs a seeded generator).
        length: [m] box footprint along the track, buffer included (DeepRacer 0.5).
        width: [m] box footprint across the track, buffer included (DeepRacer 0.4).
    """

    count: int = 0
    min_distance_pct: float = 2.0
    positions: tuple[tuple[float, float], ...] = ()
    randomize: bool = False
    length: float = BOX_LENGTH
    width: float = BOX_WIDTH

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ConfigError(
                f"ObstacleConfig.count must be an int >= 0 (0 = time trial), got {self.count!r}."
            )
        if not 0.0 <= self.min_distance_pct < 100.0:
            raise ConfigError(
                "ObstacleConfig.min_distance_pct is a percentage of the track length and must be "
                f"in [0, 100), got {self.min_distance_pct!r}; DeepRacer's default is 2.0."
            )
        for name in ("length", "width"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(
                    f"ObstacleConfig.{name} must be > 0 [m], got {getattr(self, name)!r}."
                )
        self._check_positions()

    def _check_positions(self) -> None:
        for k, entry in enumerate(self.positions):
            if len(entry) != 2:
                raise ConfigError(
                    f"ObstacleConfig.positions[{k}] must be a (fraction, lane) pair, got {entry!r}."
                )
            fraction, lane = entry
            if not 0.0 <= fraction <= 1.0:
                raise ConfigError(
                    f"ObstacleConfig.positions[{k}] fraction must be in [0, 1] (a fraction of the "
                    f"track, not a percentage), got {fraction!r}."
                )
            if lane not in (1, -1):
                raise ConfigError(
                    f"ObstacleConfig.positions[{k}] lane must be 1 (inner) or -1 (outer), "
                    f"got {lane!r}."
                )
        if self.positions and self.count not in (0, len(self.positions)):
            raise ConfigError(
                f"ObstacleConfig has {len(self.positions)} positions but count={self.count}; "
                "positions decide the count, so set count to 0 or to len(positions)."
            )
        if self.positions and self.randomize:
            raise ConfigError(
                "ObstacleConfig.randomize has no effect with explicit positions (DeepRacer's "
                "OBJECT_POSITIONS override RANDOMIZE_OBSTACLE_LOCATIONS); drop one of them."
            )

    @property
    def num_obstacles(self) -> int:
        """How many boxes are placed: ``len(positions)`` if given, else ``count``."""
        return len(self.positions) if self.positions else self.count


@dataclass(frozen=True, eq=False)
class Obstacles:
    """A placed layout of M boxes (M may be 0).

    Attributes:
        x, y: (M,) float64 [m] box centres.
        yaw: (M,) float64 [rad] box heading, along its lane segment in the driving direction.
        ndist: (M,) float64 the placement distance as a fraction of the track length, from
            waypoint 0 in the driving direction (before the projection onto the lane).
        lane: (M,) float64, +1 inner lane, -1 outer lane.
        length: [m] footprint along the box's yaw.
        width: [m] footprint across it.
    """

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    ndist: np.ndarray
    lane: np.ndarray
    length: float = BOX_LENGTH
    width: float = BOX_WIDTH

    @property
    def count(self) -> int:
        """Number of boxes M."""
        return int(self.x.shape[0])


def obstacle_distances(
    track_length: float, config: ObstacleConfig, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """DeepRacer's box distances along the centre line and their lanes.

    This is the arithmetic of the simapp's ``_compute_obstacle_poses``.

    Args:
        track_length: [m] centre-line length.
        config: the layout rules.
        rng: the generator for ``config.randomize``; unused otherwise.

    Returns:
        dist: (M,) float64 [m] from waypoint 0 in the driving direction.
        lane: (M,) float64, +1 inner, -1 outer.

    Raises:
        ConfigError: the minimum distance leaves no room on this track, or ``randomize`` without
            a generator.
    """
    if config.positions:
        table = np.asarray(config.positions, dtype=np.float64).reshape(-1, 2)
        return table[:, 0] * track_length, table[:, 1].copy()
    n = config.count
    start = config.min_distance_pct / 100.0 * track_length
    end = track_length - END_MARGIN
    if n > 0 and start > end:
        raise ConfigError(
            f"ObstacleConfig.min_distance_pct={config.min_distance_pct} puts the first box at "
            f"{start:.2f} m, past the last possible one at {end:.2f} m on this "
            f"{track_length:.2f} m track; lower min_distance_pct."
        )
    dist = np.linspace(start, end, n)
    if not config.randomize:
        return dist, np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    if rng is None:
        raise ConfigError(
            "ObstacleConfig.randomize needs a seeded numpy Generator: pass rng=np.random."
            "default_rng(seed) to place_obstacles."
        )
    gap = start
    # Sequential on purpose: each draw reads its neighbours' current (possibly redrawn) values.
    # (Python floats: this runs at every reset of every car.)
    values = dist.tolist()
    for i in rng.permutation(n).tolist():
        lo = start if i == 0 else values[i - 1] + gap
        hi = end if i == n - 1 else values[i + 1] - gap
        if lo < hi:
            values[i] = rng.uniform(lo, hi)
    lane = np.where(rng.integers(0, 2, n) == 1, -1.0, 1.0)
    return np.array(values), lane


@dataclass(frozen=True, eq=False)
class _Lane:
    """A lane mid-line and what projecting onto it needs, computed once per track direction.

    Attributes:
        line: (V, 2) float64 [m] vertices; a, d: (V - 1, 2) segment starts and vectors;
        seg2: (V - 1,) squared segment lengths [m^2]; cum: (V,) arc length at each vertex [m].
    """

    line: np.ndarray
    a: np.ndarray
    d: np.ndarray
    seg2: np.ndarray
    cum: np.ndarray


_lane_cache: weakref.WeakKeyDictionary[Any, dict[tuple[bool, float], _Lane]] = (
    weakref.WeakKeyDictionary()
)


def _lane(track: Track, side: float) -> _Lane:
    """The inner (+1) or outer (-1) lane of ``track`` in its driving direction, cached."""
    lanes = _lane_cache.setdefault(track.geometry, {})
    key = (track.reverse, side)
    if key not in lanes:
        border = track.inner if side > 0 else track.outer
        line = 0.5 * (track.centre + border)
        d = np.diff(line, axis=0)
        seg2 = np.einsum("ij,ij->i", d, d)
        cum = np.concatenate([[0.0], np.cumsum(np.sqrt(seg2))])
        lanes[key] = _Lane(line, line[:-1], d, seg2, cum)
    return lanes[key]


def _project_onto_polyline(
    lane: _Lane, px: np.ndarray, py: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest points on a polyline (the first segment wins ties, as shapely's ``project``).

    Args:
        lane: the polyline.
        px: (M,) float64 [m] query points, x.
        py: (M,) float64 [m] query points, y.

    Returns:
        fx, fy: (M,) float64 [m] the nearest points; s: (M,) float64 [m] their arc length.
    """
    a, d, seg2 = lane.a, lane.d, lane.seg2
    rel_x = px[:, None] - a[None, :, 0]
    rel_y = py[:, None] - a[None, :, 1]
    t = (rel_x * d[None, :, 0] + rel_y * d[None, :, 1]) / np.where(seg2 > 0.0, seg2, 1.0)
    t = np.clip(t, 0.0, 1.0)
    ex = rel_x - t * d[None, :, 0]
    ey = rel_y - t * d[None, :, 1]
    j = np.argmin(ex * ex + ey * ey, axis=1)
    tj = t[np.arange(px.shape[0]), j]
    cum = lane.cum
    fx = a[j, 0] + tj * d[j, 0]
    fy = a[j, 1] + tj * d[j, 1]
    return fx, fy, cum[j] + tj * np.sqrt(seg2[j])


def _lane_yaw(lane: _Lane, s: np.ndarray) -> np.ndarray:
    """DeepRacer's ``interpolate_yaw`` (central difference) on a lane at arc lengths ``s``.

    The yaw points from the vertex before to the vertex after ``s``, bracketed by bisect-right on
    the vertex distances (SPEC 1.3 item 6's rule, applied to the lane polyline).
    """
    line, cum = lane.line, lane.cum
    nxt = np.searchsorted(cum, s, side="right")
    nxt = np.where(nxt >= cum.shape[0], 0, nxt)
    prv = np.where(nxt - 1 < 0, cum.shape[0] - 1, nxt - 1)
    return np.arctan2(line[nxt, 1] - line[prv, 1], line[nxt, 0] - line[prv, 0])


def place_obstacles(
    track: Track, config: ObstacleConfig, rng: np.random.Generator | None = None
) -> Obstacles:
    """Place DeepRacer's boxes on a track for one episode.

    Call it at every reset when ``config.randomize`` is set (DeepRacer redraws the layout each
    episode); otherwise the layout is fixed and one call is enough.

    Args:
        track: the track, in the driving direction the boxes are measured in.
        config: the layout rules.
        rng: seeded generator, required when ``config.randomize``; the same seed gives the same
            layout.

    Returns:
        The M = ``config.num_obstacles`` boxes, in placement order (increasing distance for the
        generated layouts, the given order for ``positions``).

    Raises:
        ConfigError: see `obstacle_distances`.
    """
    dist, lane = obstacle_distances(track.length, config, rng)
    x, y, yaw = _lane_poses(track, dist, lane)
    return Obstacles(x, y, yaw, dist / track.length, lane, config.length, config.width)


def place_obstacles_batch(
    track: Track, config: ObstacleConfig, rngs: Sequence[np.random.Generator]
) -> list[Obstacles]:
    """`place_obstacles` for K cars at once, each drawing from its own generator.

    The same layouts as K calls (each car's draws are sequential, as in `obstacle_distances`),
    with one lane projection for all K x M boxes: what a batch of randomized resets needs.

    Args:
        track: the track, in the cars' driving direction.
        config: the layout rules.
        rngs: (K,) seeded generators, one per car.

    Returns:
        K layouts of M boxes each.
    """
    drawn = [obstacle_distances(track.length, config, rng) for rng in rngs]
    if not drawn:
        return []
    dist = np.concatenate([d for d, _ in drawn])
    lane = np.concatenate([la for _, la in drawn])
    x, y, yaw = _lane_poses(track, dist, lane)
    m = config.num_obstacles
    return [
        Obstacles(x[k * m : (k + 1) * m], y[k * m : (k + 1) * m], yaw[k * m : (k + 1) * m],
                  dist[k * m : (k + 1) * m] / track.length, lane[k * m : (k + 1) * m],
                  config.length, config.width)  # fmt: skip
        for k in range(len(rngs))
    ]


def _lane_poses(
    track: Track, dist: np.ndarray, lane: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Box poses: the centre point at ``dist`` projected onto the ``lane``'s mid-line.

    Args:
        track: the track, in the driving direction ``dist`` is measured in.
        dist: (M,) float64 [m] centre-line distances.
        lane: (M,) float64, +1 inner, -1 outer.

    Returns:
        x, y: (M,) float64 [m]; yaw: (M,) float64 [rad] along the lane (DeepRacer's
        ``interpolate_yaw``).
    """
    x, y, yaw = np.zeros_like(dist), np.zeros_like(dist), np.zeros_like(dist)
    if dist.shape[0] == 0:
        return x, y, yaw
    cx, cy, _ = track.point_at(dist)
    for side in (1.0, -1.0):
        mine = lane == side
        if not mine.any():
            continue
        mid = _lane(track, side)
        fx, fy, s = _project_onto_polyline(mid, cx[mine], cy[mine])
        x[mine], y[mine], yaw[mine] = fx, fy, _lane_yaw(mid, s)
    return x, y, yaw


def box_corners(obstacles: Obstacles) -> np.ndarray:
    """The boxes' footprint rectangles, in DeepRacer's corner order.

    Args:
        obstacles: M boxes.

    Returns:
        (M, 4, 2) float64 [m]: front-left, front-right, rear-right, rear-left (front = +yaw).
    """
    half_l, half_w = 0.5 * obstacles.length, 0.5 * obstacles.width
    local = np.array([[half_l, half_w], [half_l, -half_w], [-half_l, -half_w], [-half_l, half_w]])
    c, s = np.cos(obstacles.yaw)[:, None], np.sin(obstacles.yaw)[:, None]
    out = np.empty((obstacles.count, 4, 2))
    out[..., 0] = obstacles.x[:, None] + c * local[:, 0] - s * local[:, 1]
    out[..., 1] = obstacles.y[:, None] + s * local[:, 0] + c * local[:, 1]
    return out


__all__ = [
    "BOX_LENGTH",
    "BOX_WIDTH",
    "ObstacleConfig",
    "Obstacles",
    "box_corners",
    "obstacle_distances",
    "place_obstacles",
    "place_obstacles_batch",
]
