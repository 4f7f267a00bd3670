"""The minimum-curvature racing line inside a track's borders, with a safety margin.

The line is parameterised as in Heilmeier et al. (2019), "Minimum curvature trajectory planning and
control for an autonomous race car": the centre line is resampled evenly, and point i of the line
is ``reference[i] + offset[i] * normal[i]``, with ``normal`` the unit left normal of the centre
line (``offset`` follows racer's Frenet ``d``: positive to the left of the driving direction).
Each offset is bounded so that the point keeps at least ``margin`` metres from both borders,
measured as the true distance to the border polylines, not along the normal.

The objective is the bending energy of the line, the integral of the squared curvature over its
length, ``sum(kappa_i**2 * l_i)``, with ``kappa_i`` the Menger curvature (the inverse radius of the
circle through points i-1, i, i+1) and ``l_i`` the half-length of the two segments at point i.
Unlike Heilmeier's linearisation about the centre line, this is the exact discrete curvature of
the line, so on a circular track the optimum is the largest circle that fits (the outer border
minus the margin) and its curvature is exactly 1 / radius. The box-bounded nonlinear least
squares problem is solved by `racer.raceline.solver` (Levenberg-Marquardt steps, each an exact
sparse box-constrained QP; every residual depends on three neighbouring offsets).

Open tracks: the end points have no curvature; their offsets are free within the bounds.
Straight segments between line points cut corners by at most ``kappa * spacing**2 / 8`` (under
4 mm for a 0.1 m spacing and the 0.284 m minimum turning radius), which the margin absorbs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix

from racer.errors import ConfigError
from racer.physics.car import CarParams, MotionModel
from racer.physics.motion import DEFAULT_MOTION_MODEL, make_motion_model
from racer.raceline.solver import box_least_squares
from racer.raceline.speed import SpeedLimits, SpeedProfile, speed_profile
from racer.track import Track

FloatArray = NDArray[np.float64]

#: [m] default distance kept from both borders: the car's half-width (0.098 m) rounded up, so
#: the body stays on the road when the car's reference point is on the line.
DEFAULT_MARGIN = 0.1
#: [m] default spacing of the resampled centre line (and of the racing-line points).
DEFAULT_SPACING = 0.1
#: [m] step of the coarse scan along each normal for the offset bounds (refined by bisection).
_SCAN_STEP = 0.02
_BISECTIONS = 30
_TINY = 1e-12


@dataclass(frozen=True, eq=False)
class RacingLine:
    """A line through a track, as offsets from the evenly resampled centre line.

    Closed lines do not repeat their first point at the end; the segment from the last point
    back to the first is implied.

    Attributes:
        track_name: the track's name, for messages and file names.
        closed: True for a loop.
        reference: (M, 2) float64 [m] evenly resampled centre line, in driving order.
        normal: (M, 2) float64 unit left normals of ``reference``.
        offset: (M,) float64 [m] lateral offset of each line point along its normal (left +).
        lower, upper: (M,) float64 [m] the offset bounds that keep ``margin`` from the borders.
        margin: [m] the safety margin the bounds keep.
    """

    track_name: str
    closed: bool
    reference: FloatArray
    normal: FloatArray
    offset: FloatArray
    lower: FloatArray
    upper: FloatArray
    margin: float

    @property
    def xy(self) -> FloatArray:
        """(M, 2) float64 [m] the line's points."""
        return self.reference + self.offset[:, None] * self.normal

    @property
    def curvature(self) -> FloatArray:
        """(M,) float64 [1/m] signed Menger curvature (left turns positive; 0 at open ends)."""
        return menger_curvature(self.xy, self.closed)

    @property
    def segment_length(self) -> FloatArray:
        """(K,) float64 [m] arc length of each segment; K = M on loops, M - 1 on open lines."""
        return arc_lengths(self.xy, self.closed)

    @property
    def length(self) -> float:
        """Total length of the line [m]."""
        return float(self.segment_length.sum())

    @property
    def bending_energy(self) -> float:
        """Integral of the squared curvature over the line [1/m], the quantity minimised."""
        return float(np.sum(_curvature_residuals(self.xy, self.closed) ** 2))


# ------------------------------------------------------------------------- discrete geometry
def resample_polyline(points: FloatArray, closed: bool, spacing: float) -> FloatArray:
    """Resample a polyline at even arc-length steps.

    Args:
        points: (N, 2) float64 [m]; on a loop the last row repeats the first.
        closed: True for a loop.
        spacing: [m] wanted distance between samples; rounded so the samples fill the length.

    Returns:
        (M, 2) float64 [m]. A loop gives M = round(L / spacing) points without the repeated
        first one; an open line gives M = round(L / spacing) + 1 points including both ends.
    """
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 0.0])
    points, cum = points[keep], np.concatenate([[0.0], np.cumsum(seg[seg > 0.0])])
    count = max(int(round(cum[-1] / spacing)), 3)
    s = np.linspace(0.0, cum[-1], count + 1)
    if closed:
        s = s[:-1]
    return np.stack([np.interp(s, cum, points[:, 0]), np.interp(s, cum, points[:, 1])], axis=1)


def left_normals(xy: FloatArray, closed: bool) -> FloatArray:
    """(M, 2) float64 unit left normals from central differences (one-sided at open ends)."""
    if closed:
        tangent = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    else:
        tangent = np.gradient(xy, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _triples(xy: FloatArray, closed: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Previous, current and next points of every interior vertex (all vertices on a loop)."""
    if closed:
        return np.roll(xy, 1, axis=0), xy, np.roll(xy, -1, axis=0)
    return xy[:-2], xy[1:-1], xy[2:]


def menger_curvature(xy: FloatArray, closed: bool) -> FloatArray:
    """Signed curvature of the circle through each point and its two neighbours.

    Exact for points on a circle whatever their spacing: ``2 * cross(b - a, c - b) / (|b - a| *
    |c - b| * |c - a|)``.

    Args:
        xy: (M, 2) float64 [m] points; a loop does not repeat its first point.
        closed: True for a loop.

    Returns:
        (M,) float64 [1/m], positive for left turns; 0 at the ends of an open line.
    """
    a, b, c = _triples(xy, closed)
    ab, bc, ac = b - a, c - b, c - a
    cross = ab[:, 0] * bc[:, 1] - ab[:, 1] * bc[:, 0]
    denom = np.linalg.norm(ab, axis=1) * np.linalg.norm(bc, axis=1) * np.linalg.norm(ac, axis=1)
    kappa = 2.0 * cross / np.maximum(denom, _TINY)
    return kappa if closed else np.concatenate([[0.0], kappa, [0.0]])


def arc_lengths(xy: FloatArray, closed: bool) -> FloatArray:
    """Arc length of each segment on the circle of its end points' mean curvature.

    The chord under-estimates the arc by ``(kappa * chord)**2 / 24`` (1e-4 relative at 0.1 m on
    a 1 m radius); correcting it makes lap times on a circle exact.

    Args:
        xy: (M, 2) float64 [m] points; a loop does not repeat its first point.
        closed: True for a loop.

    Returns:
        (K,) float64 [m]: K = M on a loop (the last segment closes it), M - 1 on an open line.
    """
    nxt = np.roll(xy, -1, axis=0) if closed else xy[1:]
    chord = np.linalg.norm(nxt - xy[: len(nxt)], axis=1)
    kappa = np.abs(menger_curvature(xy, closed))
    mean = 0.5 * (kappa[: len(nxt)] + (np.roll(kappa, -1) if closed else kappa[1:]))
    half = np.clip(0.5 * mean * chord, 0.0, 1.0)
    # asin(x)/x -> 1 as x -> 0: the straight-segment limit.
    ratio = np.where(half > 1e-8, np.arcsin(half) / np.maximum(half, 1e-8), 1.0)
    return chord * ratio


def _curvature_residuals(xy: FloatArray, closed: bool) -> FloatArray:
    """``kappa_i * sqrt(l_i)`` at interior points, so the sum of squares is the bending energy."""
    a, b, c = _triples(xy, closed)
    ab, bc, ac = b - a, c - b, c - a
    lab, lbc = np.linalg.norm(ab, axis=1), np.linalg.norm(bc, axis=1)
    cross = ab[:, 0] * bc[:, 1] - ab[:, 1] * bc[:, 0]
    kappa = 2.0 * cross / np.maximum(lab * lbc * np.linalg.norm(ac, axis=1), _TINY)
    return kappa * np.sqrt(0.5 * (lab + lbc))


# --------------------------------------------------------------------------------- bounds
def border_distance(track: Track, points: FloatArray) -> FloatArray:
    """Distance from each point to the nearer border polyline (inner or outer).

    Uses the track's exact nearest-segment indexes (the ones the simulator's off-track test uses).

    Args:
        track: the track.
        points: (K, 2) float64 [m].

    Returns:
        (K,) float64 [m].
    """
    px, py = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    seg, t = np.empty(len(px), np.int64), np.empty(len(px))
    inner, outer = np.empty(len(px)), np.empty(len(px))
    track.geometry.inner_index.nearest(px, py, seg, t, inner)
    track.geometry.outer_index.nearest(px, py, seg, t, outer)
    return np.minimum(inner, outer)


def offset_bounds(
    track: Track, reference: FloatArray, normal: FloatArray, margin: float
) -> tuple[FloatArray, FloatArray]:
    """Offsets along each normal that keep ``margin`` from both borders.

    A coarse scan outwards from the centre line finds the first point closer than
    ``max(margin, step)`` to a border (the distance is 1-Lipschitz, so a point at least one step
    from every border cannot have crossed one before the next step); bisection then refines the
    limit to ``1e-8`` m. Distances are to every border segment, so a neighbouring part of the
    track (a hairpin's other leg) is respected too.

    Args:
        track: the track whose ``inner`` and ``outer`` borders bound the line.
        reference: (M, 2) float64 [m] points the offsets start from (on the road).
        normal: (M, 2) float64 unit normals (left).
        margin: [m] distance to keep from both borders, >= 0.

    Returns:
        lower, upper: (M,) float64 [m], lower <= 0 <= upper.
    """
    reach = 0.5 * float(track.width.max()) + 2.0 * _SCAN_STEP
    steps = _SCAN_STEP * np.arange(1, int(math.ceil(reach / _SCAN_STEP)) + 1)
    limits = []
    for side in (-1.0, 1.0):
        grid = reference[:, None, :] + side * steps[None, :, None] * normal[:, None, :]
        dist = border_distance(track, grid.reshape(-1, 2)).reshape(grid.shape[:2])
        bad = dist < max(margin, _SCAN_STEP)
        first_bad = np.where(bad.any(axis=1), np.argmax(bad, axis=1), len(steps))
        good = first_bad * _SCAN_STEP
        poor = good + _SCAN_STEP
        for _ in range(_BISECTIONS):
            mid = 0.5 * (good + poor)
            ok = border_distance(track, reference + side * mid[:, None] * normal)
            ok = ok >= margin
            good = np.where(ok, mid, good)
            poor = np.where(ok, poor, mid)
        limits.append(side * good)
    return limits[0], limits[1]


def _check_margin(track: Track, reference: FloatArray, margin: float) -> None:
    """Raise ConfigError when the margin leaves no room for a line anywhere on the track."""
    if not (math.isfinite(margin) and margin >= 0.0):
        raise ConfigError(f"raceline margin must be a finite number >= 0 [m], got {margin!r}.")
    room = border_distance(track, reference)
    worst = int(np.argmin(room))
    if margin >= room[worst]:
        spacing = np.linalg.norm(np.diff(reference, axis=0), axis=1).mean()
        raise ConfigError(
            f"raceline margin {margin:.3f} m leaves no room on track '{track.name}': the centre "
            f"line is only {room[worst]:.3f} m from a border at s = {worst * spacing:.2f} m "
            f"(road about {2 * room[worst]:.3f} m wide). Use a margin below "
            f"{room[worst]:.3f} m, e.g. --margin {0.5 * room[worst]:.2f}."
        )


# -------------------------------------------------------------------------------- solving
def centre_line(track: Track, spacing: float = DEFAULT_SPACING) -> RacingLine:
    """The evenly resampled centre line as a `RacingLine` (all offsets 0, no margin).

    Args:
        track: the track, in its driving direction.
        spacing: [m] distance between points.

    Returns:
        The centre line; its bounds are 0.
    """
    _check_spacing(spacing)
    reference = resample_polyline(track.centre, track.closed, spacing)
    zero = np.zeros(len(reference))
    return RacingLine(track.name, track.closed, reference, left_normals(reference, track.closed),
                      zero, zero, zero, 0.0)  # fmt: skip


def _check_spacing(spacing: float) -> None:
    if not (math.isfinite(spacing) and 0.01 <= spacing <= 1.0):
        raise ConfigError(f"raceline spacing must be in [0.01, 1.0] m, got {spacing!r}.")


def _jacobian_sparsity(m: int, closed: bool) -> coo_matrix:
    """Residual i depends on the offsets of its point and both neighbours."""
    rows = np.repeat(np.arange(m if closed else m - 2), 3)
    centre = np.arange(m) if closed else np.arange(1, m - 1)
    cols = (centre[:, None] + np.array([-1, 0, 1])[None, :]).ravel() % m
    return coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(rows.max() + 1, m))


def min_curvature_line(
    track: Track, margin: float = DEFAULT_MARGIN, spacing: float = DEFAULT_SPACING
) -> RacingLine:
    """The line of least bending energy that keeps ``margin`` from both borders.

    Args:
        track: the track, in its driving direction (the line is the same both ways, but its
            points run in the driving order).
        margin: [m] distance kept from both borders (see `DEFAULT_MARGIN`).
        spacing: [m] distance between points of the resampled centre line.

    Returns:
        The optimised line.

    Raises:
        ConfigError: a margin that leaves no room on the track (the message names the track, the
            narrowest place and a margin that fits), or a bad spacing.
    """
    centre = centre_line(track, spacing)
    _check_margin(track, centre.reference, margin)
    lower, upper = offset_bounds(track, centre.reference, centre.normal, margin)
    reference, normal, closed = centre.reference, centre.normal, track.closed

    def residuals(offset: FloatArray) -> FloatArray:
        return _curvature_residuals(reference + offset[:, None] * normal, closed)

    offset, _ = box_least_squares(
        residuals, np.zeros(len(reference)), lower, upper,
        _jacobian_sparsity(len(reference), closed),
    )  # fmt: skip
    offset = np.clip(offset, lower, upper)
    return RacingLine(track.name, closed, reference, normal, offset, lower, upper, float(margin))


def line_speed_profile(
    line: RacingLine, limits: SpeedLimits, start_speed: float | None = None
) -> SpeedProfile:
    """The fastest speed profile along ``line`` (see `racer.raceline.speed.speed_profile`)."""
    return speed_profile(line.curvature, line.segment_length, line.closed, limits, start_speed)


def ideal_lap_time(
    track: Track, model: MotionModel | None = None, margin: float = DEFAULT_MARGIN
) -> float:
    """[s] the ideal lap time: the car's fastest speed profile on the minimum-curvature line.

    ``model`` is the env's motion model (racer's default car when None): its speed lag, top
    speed and tightest turn limit the profile (`SpeedLimits.from_model`).

    A flying lap on a loop, from rest to the end on an open track. It is an upper bound on the
    true minimum lap time (a minimum-time line may trade curvature for speed).

    Raises:
        ConfigError: the margin leaves no room inside the track.
    """
    line = min_curvature_line(track, margin)
    model = model or make_motion_model(DEFAULT_MOTION_MODEL, CarParams())
    return float(line_speed_profile(line, SpeedLimits.from_model(model)).lap_time)
