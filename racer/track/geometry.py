"""Track geometry: the immutable description of a DeepRacer track and its batched queries.

A track file holds three polylines in row order: the centre line, the inner border (always the
inside of the loop) and the outer border (SPEC section 2.1). A `Track` is that geometry plus a
driving direction: ``reverse=True`` drives the rows backwards, DeepRacer's REVERSE_DIR.

Every per-step question the simulator asks about the track (where is the car along the centre
line, how far from it, how wide is the road there, which waypoints bracket it, which wheels are on
the road) is answered for all N cars by one compiled call, `Track.locate`, exactly as DeepRacer's
shapely code computes it (SPEC section 1.3), in time independent of the track's length.

Conventions: metres, radians; ``s`` is arc length along the centre line [m], ``ndist`` the same as
a fraction of the length, both measured from waypoint 0 *in the driving direction*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from racer.track.index import SegmentIndex, _inside_one, _nearest_one

N_WHEELS = 4


def signed_area(points: np.ndarray) -> float:
    """Shoelace signed area [m^2] of a closed ring (positive when counter-clockwise)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def _vertex_ndist(cum: np.ndarray, length: float) -> np.ndarray:
    """DeepRacer's bisect table for `closest_waypoints` (SPEC 1.3 item 6).

    The normalised projection of every vertex but the last, then 1.0. A vertex projects onto
    itself, so its projection is its own arc length, except that on a ring vertex 0 is at 0.
    """
    table = cum / length
    table[-1] = 1.0
    return table


@dataclass(frozen=True, eq=False)
class TrackGeometry:
    """Direction-independent geometry in file row order, with its spatial indexes.

    Attributes:
        centre, inner, outer: (M, 2) float64 [m] polylines in file row order.
        closed: True for a loop (the last row equals the first).
        cum_s: (M,) float64 [m] arc length of each centre vertex from vertex 0.
        length: [m] centre-line length.
        file_ccw: True if the centre line runs counter-clockwise in file order (open lines: True).
        centre_index, inner_index, outer_index: nearest-segment indexes of the three polylines.
        road_index: index of the road outline for open tracks (inner then outer reversed), else
            None; loops test the wheels against ``outer_index`` and ``inner_index`` as rings.
        ring_sign: (3,) float64 orientation sign (+1 CCW, -1 CW) of inner, outer and road rings.
        seg_s0, seg_len: (K,) float64 [m] arc length at the start of, and length of, each segment
            of ``centre_index``.
        vertex_ndist: (2, M) float64 bisect tables for ``closest_waypoints``, row 0 for the file
            order, row 1 for the reversed drive.
    """

    centre: np.ndarray
    inner: np.ndarray
    outer: np.ndarray
    closed: bool
    cum_s: np.ndarray = field(init=False)
    length: float = field(init=False)
    file_ccw: bool = field(init=False)
    centre_index: SegmentIndex = field(init=False)
    inner_index: SegmentIndex = field(init=False)
    outer_index: SegmentIndex = field(init=False)
    road_index: SegmentIndex | None = field(init=False)
    ring_sign: np.ndarray = field(init=False)
    seg_s0: np.ndarray = field(init=False)
    seg_len: np.ndarray = field(init=False)
    vertex_ndist: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        setter = object.__setattr__
        seg = np.linalg.norm(np.diff(self.centre, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        setter(self, "cum_s", cum)
        setter(self, "length", float(cum[-1]))
        reverse_cum = np.maximum(cum[-1] - cum[::-1], 0.0)
        setter(self, "vertex_ndist", np.stack([_vertex_ndist(cum, cum[-1]),
                                               _vertex_ndist(reverse_cum, cum[-1])]))  # fmt: skip
        setter(self, "file_ccw", (not self.closed) or signed_area(self.centre) > 0.0)
        centre_index = SegmentIndex.build(self.centre)
        setter(self, "centre_index", centre_index)
        setter(self, "inner_index", SegmentIndex.build(self.inner))
        setter(self, "outer_index", SegmentIndex.build(self.outer))
        setter(self, "seg_s0", cum[centre_index.segment_vertex].copy())
        setter(self, "seg_len", seg[centre_index.segment_vertex].copy())
        if self.closed:
            road = None
            signs = [math.copysign(1.0, signed_area(b)) for b in (self.inner, self.outer)] + [1.0]
        else:
            outline = np.vstack([self.inner, self.outer[::-1], self.inner[:1]])
            road = SegmentIndex.build(outline)
            signs = [1.0, 1.0, math.copysign(1.0, signed_area(outline))]
        setter(self, "road_index", road)
        setter(self, "ring_sign", np.array(signs))


@dataclass(frozen=True, eq=False)
class Track:
    """A DeepRacer track driven in one direction.

    Build one with `racer.track.load_track`. The driving-order attributes are what a reward
    function sees in ``params``; the file-order geometry is shared by both directions.

    Attributes:
        name: short name (the file stem for track files).
        geometry: the file-order geometry and indexes.
        reverse: True when the rows are driven backwards (DeepRacer's REVERSE_DIR; ``is_reversed``).
        source: where the track came from (a path), for messages.
        waypoints: the centre line in driving order as a tuple of (x, y) float tuples [m]; on a
            loop the last repeats the first (DeepRacer's ``params["waypoints"]``).
        centre, inner, outer: (M, 2) float64 [m] polylines in driving order.
        vertex_ndist: (M,) float64 bisect table for ``closest_waypoints`` in driving order.
        is_ccw: True when the drive runs counter-clockwise (file orientation XOR reverse); decides
            which border is "left" (SPEC 1.3 item 5).
        width: (M,) float64 [m] published width |outer - inner| per row, in driving order.
    """

    name: str
    geometry: TrackGeometry
    reverse: bool = False
    source: str = ""
    waypoints: tuple[tuple[float, float], ...] = field(init=False)
    centre: np.ndarray = field(init=False)
    inner: np.ndarray = field(init=False)
    outer: np.ndarray = field(init=False)
    cum_s: np.ndarray = field(init=False)
    vertex_ndist: np.ndarray = field(init=False)
    is_ccw: bool = field(init=False)
    width: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        g = self.geometry
        order = slice(None, None, -1) if self.reverse else slice(None)
        centre, inner, outer = g.centre[order], g.inner[order], g.outer[order]
        setter = object.__setattr__
        setter(self, "centre", centre)
        setter(self, "inner", inner)
        setter(self, "outer", outer)
        setter(self, "waypoints", tuple((float(x), float(y)) for x, y in centre))
        cum = np.maximum(g.length - g.cum_s[::-1], 0.0) if self.reverse else g.cum_s
        setter(self, "cum_s", cum)
        setter(self, "vertex_ndist", g.vertex_ndist[int(self.reverse)])
        setter(self, "is_ccw", g.file_ccw != self.reverse)
        setter(self, "width", np.linalg.norm(outer - inner, axis=1))

    # ----------------------------------------------------------------------------------- basics
    @property
    def closed(self) -> bool:
        """True for a loop."""
        return self.geometry.closed

    @property
    def length(self) -> float:
        """Centre-line length [m]."""
        return self.geometry.length

    @property
    def num_waypoints(self) -> int:
        """Number of rows, i.e. ``len(params["waypoints"])``."""
        return self.centre.shape[0]

    @property
    def mean_width(self) -> float:
        """Mean published width [m]."""
        return float(self.width.mean())

    def reversed(self) -> Track:
        """The same track driven in the other direction (sharing the geometry)."""
        return Track(self.name, self.geometry, not self.reverse, self.source)

    def with_reverse(self, reverse: bool) -> Track:
        """This track driven forwards (``reverse=False``) or backwards."""
        return self if reverse == self.reverse else self.reversed()

    # ------------------------------------------------------------------------------- positions
    def point_at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre-line points at arc lengths ``s`` (driving order), heading to the next waypoint.

        This is DeepRacer's start pose (SPEC 4.5): the interpolated centre point and the yaw from it
        toward the next waypoint ahead ("forward difference").

        Args:
            s: (N,) float64 [m] arc length from waypoint 0 in driving order; wrapped on loops.

        Returns:
            x, y: (N,) float64 [m]; yaw: (N,) float64 [rad].
        """
        s = np.asarray(s, dtype=np.float64)
        s = np.mod(s, self.length) if self.closed else np.clip(s, 0.0, self.length)
        cum, c = self.cum_s, self.centre
        nxt = np.searchsorted(cum, s, side="right")
        nxt = np.clip(nxt, 1, len(cum) - 1)
        prev = nxt - 1
        seg = cum[nxt] - cum[prev]
        t = np.where(seg > 0.0, (s - cum[prev]) / np.where(seg > 0.0, seg, 1.0), 0.0)
        x = c[prev, 0] + t * (c[nxt, 0] - c[prev, 0])
        y = c[prev, 1] + t * (c[nxt, 1] - c[prev, 1])
        # At the end of an open line there is no next waypoint: keep the last segment's heading.
        at_end = (c[nxt, 0] == x) & (c[nxt, 1] == y)
        tx = np.where(at_end, c[nxt, 0] - c[prev, 0], c[nxt, 0] - x)
        ty = np.where(at_end, c[nxt, 1] - c[prev, 1], c[nxt, 1] - y)
        return x, y, np.arctan2(ty, tx)

    def lane_point_at(self, s: np.ndarray, lane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points on the lanes, the mid-lines between the centre line and a border (SPEC 4.5).

        Args:
            s: (N,) float64 [m] arc length in driving order.
            lane: (N,) float64, +1 for the inner lane, -1 for the outer lane, 0 for the centre.

        Returns:
            x, y: (N,) float64 [m].
        """
        s = np.asarray(s, dtype=np.float64)
        s = np.mod(s, self.length) if self.closed else np.clip(s, 0.0, self.length)
        cum = self.cum_s
        nxt = np.clip(np.searchsorted(cum, s, side="right"), 1, len(cum) - 1)
        prev = nxt - 1
        seg = cum[nxt] - cum[prev]
        t = np.where(seg > 0.0, (s - cum[prev]) / np.where(seg > 0.0, seg, 1.0), 0.0)[:, None]
        centre = self.centre[prev] + t * (self.centre[nxt] - self.centre[prev])
        inner = self.inner[prev] + t * (self.inner[nxt] - self.inner[prev])
        outer = self.outer[prev] + t * (self.outer[nxt] - self.outer[prev])
        lane = np.asarray(lane, dtype=np.float64)[:, None]
        border = np.where(lane > 0, inner, outer)
        point = centre + 0.5 * np.abs(lane) * (border - centre)
        return point[:, 0], point[:, 1]

    def locate(self, query: TrackQuery, reverse: np.ndarray | None = None) -> None:
        """Answer every per-step track question for the points already in ``query``.

        Reads ``query.model_x/model_y`` (the 0.14 m model point of each car) and
        ``query.wheel_x/wheel_y`` (its four wheel centres) and fills all other fields.

        Args:
            query: the batch buffer, modified in place.
            reverse: (N,) bool driving direction per car; defaults to this track's direction.
                Cars may drive different directions in one batch (ALTERNATE_DRIVING_DIRECTION).
        """
        if reverse is None:
            query.reverse[:] = self.reverse
        else:
            query.reverse[:] = reverse
        g = self.geometry
        road = g.road_index if g.road_index is not None else g.outer_index
        _locate(query.model_x, query.model_y, query.wheel_x, query.wheel_y, query.reverse,
                g.centre_index._args(), g.seg_s0, g.seg_len, g.length, g.closed,
                g.inner_index._args(), g.outer_index._args(), road._args(), g.ring_sign,
                g.vertex_ndist[0], g.vertex_ndist[1], g.file_ccw,
                query.s, query.ndist, query.distance_from_center, query.foot_x, query.foot_y,
                query.track_width, query.is_left_of_center, query.prev_waypoint,
                query.next_waypoint, query.wheel_on_track)  # fmt: skip
        np.all(query.wheel_on_track, axis=1, out=query.all_wheels_on_track)
        np.any(query.wheel_on_track, axis=1, out=query.any_wheel_on_track)

    def project(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre-line projections of M points, in both driving directions.

        The same numbers as `locate`'s ``s`` and ``distance_from_center`` (one shared kernel),
        without its width, side, waypoint and wheel questions: what the object keys need.

        Args:
            x: (M,) float64 [m] points.
            y: (M,) float64 [m].

        Returns:
            s: (2, M) float64 [m] projection from waypoint 0, row 0 in the file's direction and
                row 1 reversed; distance: (M,) float64 [m] to the centre line.
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        s = np.empty((2, x.shape[0]))
        distance = np.empty(x.shape[0])
        g = self.geometry
        _project(x, y, g.centre_index._args(), g.seg_s0, g.seg_len, g.length, g.closed, s,
                 distance)  # fmt: skip
        return s, distance


class TrackQuery:
    """Preallocated structure-of-arrays buffer for `Track.locate`, N cars.

    Inputs (set by the caller):
        model_x, model_y: (N,) float64 [m] model point (0.14 m ahead of base_link).
        wheel_x, wheel_y: (N, 4) float64 [m] wheel-centre positions.

    Outputs (driving direction of each car):
        reverse: (N,) bool, the direction used.
        s: (N,) float64 [m] projection of the model point along the centre line from waypoint 0.
        ndist: (N,) float64, ``s`` / track length (DeepRacer's normalised projection).
        distance_from_center: (N,) float64 [m] distance to the nearest centre-line point.
        foot_x, foot_y: (N,) float64 [m] that nearest point.
        track_width: (N,) float64 [m] local width at the foot point (SPEC 1.3 item 4).
        is_left_of_center: (N,) bool (SPEC 1.3 item 5).
        prev_waypoint, next_waypoint: (N,) int64 ``closest_waypoints`` (SPEC 1.3 item 6).
        wheel_on_track: (N, 4) bool, each wheel centre strictly inside the road polygon.
        all_wheels_on_track, any_wheel_on_track: (N,) bool.
    """

    def __init__(self, n: int) -> None:
        f = np.float64
        self.model_x = np.zeros(n, f)
        self.model_y = np.zeros(n, f)
        self.wheel_x = np.zeros((n, N_WHEELS), f)
        self.wheel_y = np.zeros((n, N_WHEELS), f)
        self.reverse = np.zeros(n, bool)
        self.s = np.zeros(n, f)
        self.ndist = np.zeros(n, f)
        self.distance_from_center = np.zeros(n, f)
        self.foot_x = np.zeros(n, f)
        self.foot_y = np.zeros(n, f)
        self.track_width = np.zeros(n, f)
        self.is_left_of_center = np.zeros(n, bool)
        self.prev_waypoint = np.zeros(n, np.int64)
        self.next_waypoint = np.zeros(n, np.int64)
        self.wheel_on_track = np.zeros((n, N_WHEELS), bool)
        self.all_wheels_on_track = np.zeros(n, bool)
        self.any_wheel_on_track = np.zeros(n, bool)


@numba.njit(cache=True)
def _nearest_point(px, py, idx):
    j, t, _ = _nearest_one(px, py, *idx)
    return idx[0][j] + t * idx[2][j], idx[1][j] + t * idx[3][j]


@numba.njit(cache=True)
def _bisect_right(table, value):
    lo, hi = 0, table.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if value < table[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(cache=True)
def _project_one(px, py, reverse, cidx, seg_s0, seg_len, length, closed):
    """Centre-line projection of one point.

    Returns (s [m] in the driving direction, squared distance [m^2], foot x [m], foot y [m]).
    """
    j, t, d2 = _nearest_one(px, py, *cidx)
    # A point on a vertex must project exactly onto it (t = 1 - 1 ulp would bracket it one
    # waypoint too early, SPEC 1.3 item 6).
    if t > 1.0 - 1e-12:
        t = 1.0
    elif t < 1e-12:
        t = 0.0
    fx = cidx[0][j] + t * cidx[2][j]
    fy = cidx[1][j] + t * cidx[3][j]
    s = seg_s0[j] + t * seg_len[j]
    if reverse:
        s = length - s
        if closed and s >= length:
            s -= length
    return s, d2, fx, fy


@numba.njit(cache=True)
def _project(px, py, cidx, seg_s0, seg_len, length, closed, out_s, out_dist):
    for i in range(px.shape[0]):
        for r in range(2):
            s, d2, _, _ = _project_one(px[i], py[i], r == 1, cidx, seg_s0, seg_len, length,
                                       closed)  # fmt: skip
            out_s[r, i] = s
        out_dist[i] = math.sqrt(d2)


@numba.njit(cache=True)
def _locate(mx, my, wx, wy, reverse, cidx, seg_s0, seg_len, length, closed, iidx, oidx, ridx,
            ring_sign, vnd_fwd, vnd_rev, file_ccw, out_s, out_ndist, out_dist, out_fx, out_fy,
            out_width, out_left, out_prev, out_next, out_wheel):  # fmt: skip
    n = mx.shape[0]
    m = vnd_fwd.shape[0]
    for i in range(n):
        s, d2, fx, fy = _project_one(mx[i], my[i], reverse[i], cidx, seg_s0, seg_len, length,
                                     closed)  # fmt: skip
        table = vnd_rev if reverse[i] else vnd_fwd
        ndist = s / length
        out_s[i] = s
        out_ndist[i] = ndist
        out_dist[i] = math.sqrt(d2)
        out_fx[i] = fx
        out_fy[i] = fy
        # Local width and side: nearest border points to the foot point (SPEC 1.3 items 4-5).
        ix, iy = _nearest_point(fx, fy, iidx)
        ox, oy = _nearest_point(fx, fy, oidx)
        out_width[i] = math.hypot(ix - ox, iy - oy)
        d_in = math.hypot(mx[i] - ix, my[i] - iy)
        d_out = math.hypot(mx[i] - ox, my[i] - oy)
        is_ccw = file_ccw != reverse[i]
        out_left[i] = (d_in < d_out) != (not is_ccw)
        nxt = _bisect_right(table, ndist)
        if nxt >= m:
            nxt = 0
        prv = nxt - 1
        if prv < 0:
            prv = m - 1
        out_prev[i] = prv
        out_next[i] = nxt
        for w in range(wx.shape[1]):
            px, py = wx[i, w], wy[i, w]
            if closed:
                in_outer = _inside_one(px, py, *oidx, ring_sign[1])
                on = in_outer and not _inside_one(px, py, *iidx, ring_sign[0])
                # A wheel exactly on the inner border is not strictly inside the road either.
                if on:
                    _, _, din2 = _nearest_one(px, py, *iidx)
                    on = din2 > 0.0
            else:
                on = _inside_one(px, py, *ridx, ring_sign[2])
            out_wheel[i, w] = on
