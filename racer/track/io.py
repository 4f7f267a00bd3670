"""Read and validate DeepRacer track files; find racer's bundled tracks.

A track file is ``numpy.save`` of a float64 (N, 6) array, rows
``[center_x, center_y, inner_x, inner_y, outer_x, outer_y]`` in metres (SPEC section 2.1). A loop
repeats its first row as its last. Each bundled track in ``tracks/`` has a sidecar ``.toml`` with
its display name and description.

Validation errors name the file, what is wrong, and where (the row), and say how to fix it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from racer.errors import TrackError
from racer.resources import bundled_dir, did_you_mean
from racer.track.geometry import Track, TrackGeometry, signed_area

_CLOSE_ENOUGH_TO_MEAN_CLOSED = 0.05  # [m] ends nearer than this but not equal: almost surely a typo
#: [m] the largest extent and the farthest coordinate a track may have. DeepRacer's tracks are in
#: metres and a few tens of metres across (the shared ones: 5.7-18.5 m, all within 10 m of the
#: origin); a file 100 times larger is in centimetres, and one at 1e12 m is not a track.
MAX_TRACK_EXTENT = 250.0
MAX_TRACK_COORDINATE = 1000.0
#: [m] the narrowest road (median border-to-border distance) a track may have: DeepRacer's car is
#: about 0.2 m wide, its tracks 0.6-1.07 m.
MIN_TRACK_WIDTH = 0.2


def bundled_tracks_dir() -> Path:
    """The folder holding racer's own tracks (in the wheel, or the repository's ``tracks/``)."""
    return bundled_dir("tracks", TrackError)


@dataclass(frozen=True)
class TrackInfo:
    """Metadata of a bundled track (its sidecar TOML) plus figures measured from the file.

    Attributes:
        name: file stem, what ``load_track`` takes.
        path: the ``.npy`` file.
        display_name: human name from the TOML.
        description: one line from the TOML.
        length: [m] centre-line length.
        width: [m] mean published width.
        num_waypoints: rows in the file.
        direction: "ccw", "cw" or "open".
    """

    name: str
    path: Path
    display_name: str
    description: str
    length: float
    width: float
    num_waypoints: int
    direction: str


def list_bundled_tracks() -> list[TrackInfo]:
    """All bundled tracks, sorted by name, with figures measured from their files."""
    infos = []
    for path in sorted(bundled_tracks_dir().glob("*.npy")):
        meta: dict = {}
        toml_path = path.with_suffix(".toml")
        if toml_path.exists():
            with toml_path.open("rb") as fh:
                meta = tomllib.load(fh)
        track = load_track(path)
        direction = "open" if not track.closed else ("ccw" if track.is_ccw else "cw")
        infos.append(
            TrackInfo(
                name=path.stem,
                path=path,
                display_name=str(meta.get("name", path.stem)),
                description=str(meta.get("description", "")),
                length=track.length,
                width=track.mean_width,
                num_waypoints=track.num_waypoints,
                direction=direction,
            )
        )
    return infos


def resolve_track_path(name_or_path: str | Path) -> Path:
    """Turn a bundled track name or a file path into an existing ``.npy`` path.

    Raises:
        TrackError: when neither a file nor a bundled track of that name exists; the message lists
            the bundled names.
    """
    path = Path(name_or_path).expanduser()
    if path.suffix == ".npy" or path.exists() or "/" in str(name_or_path):
        if not path.exists():
            folder = path.parent
            siblings = sorted(p.name for p in folder.glob("*.npy")) if folder.is_dir() else []
            raise TrackError(
                f"track file {path} does not exist.{did_you_mean(path.name, siblings)} Give the "
                f"path of a DeepRacer track .npy file or the name of a bundled track "
                f"({', '.join(_bundled_names())})."
            )
        if path.is_dir():
            raise TrackError(f"track path {path} is a folder; give the .npy file inside it.")
        return path
    bundled = bundled_tracks_dir() / f"{name_or_path}.npy"
    if bundled.exists():
        return bundled
    names = _bundled_names()
    raise TrackError(
        f"unknown track {str(name_or_path)!r}: it is neither a file nor a bundled track."
        f"{did_you_mean(str(name_or_path), names)} Bundled tracks: {', '.join(names)}. Or give a "
        "path to a DeepRacer .npy file."
    )


def _bundled_names() -> list[str]:
    try:
        return sorted(p.stem for p in bundled_tracks_dir().glob("*.npy"))
    except TrackError:
        return []


def read_track_array(path: str | Path) -> np.ndarray:
    """Read a track file into a float64 (N, 6) array, checking its shape and values.

    Raises:
        TrackError: unreadable file, wrong shape or dtype, NaN/inf values, too few rows.
    """
    path = Path(path)
    try:
        raw = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TrackError(f"track file {path} does not exist.") from None
    except (ValueError, OSError, EOFError) as exc:
        raise TrackError(
            f"track file {path} is not a readable numpy .npy array ({exc}). A DeepRacer track is "
            f"numpy.save of a float (N, 6) array [center_x, center_y, inner_x, inner_y, outer_x, "
            f"outer_y] in metres."
        ) from None
    return check_track_rows(raw, f"file {path}")


def check_track_rows(raw: object, source: str) -> np.ndarray:
    """Check an array's shape and values as a track; return it as float64 (N, 6).

    Args:
        raw: the array (from a file or from memory).
        source: what it is, for messages (e.g. ``"file tracks/oval.npy"``).

    Raises:
        TrackError: wrong shape or dtype, NaN/inf values, too few rows.
    """
    if not isinstance(raw, np.ndarray) or raw.ndim != 2 or raw.shape[1] != 6:
        shape = getattr(raw, "shape", None)
        raise TrackError(
            f"track {source} holds an array of shape {shape}; a DeepRacer track must be (N, 6): "
            f"one row per waypoint, columns center_x, center_y, inner_x, inner_y, outer_x, outer_y."
        )
    if not np.issubdtype(raw.dtype, np.number) or np.issubdtype(raw.dtype, np.complexfloating):
        raise TrackError(f"track {source} has dtype {raw.dtype}; it must hold real numbers.")
    rows = raw.astype(np.float64)
    bad = np.argwhere(~np.isfinite(rows))
    if len(bad):
        r, c = bad[0]
        raise TrackError(
            f"track {source} has a non-finite value ({rows[r, c]}) at row {r}, column {c} "
            f"({_COLUMNS[c]}), and {len(bad) - 1} more; every coordinate must be a finite number."
        )
    if rows.shape[0] < 3:
        raise TrackError(f"track {source} has {rows.shape[0]} rows; a track needs at least 3.")
    return rows


_COLUMNS = ("center_x", "center_y", "inner_x", "inner_y", "outer_x", "outer_y")


def deduplicate_rows(rows: np.ndarray) -> np.ndarray:
    """Drop rows whose centre point repeats the previous one (the 2026 simapp's sanitiser).

    This changes ``len(params["waypoints"])`` and every index after a duplicate (SPEC 1.3 item 14),
    so it is an option, off by default.
    """
    keep = np.ones(len(rows), bool)
    keep[1:] = np.any(rows[1:, :2] != rows[:-1, :2], axis=1)
    return rows[keep]


def _segments_cross(p: np.ndarray, q: np.ndarray, skip_adjacent: bool) -> tuple[int, int] | None:
    """First pair (i, j) of properly crossing segments between polylines p and q, or None.

    Segments are p[i]-p[i+1] and q[j]-q[j+1]; "first" is the smallest i, then the smallest j.
    Touching at shared endpoints of neighbouring segments of one polyline (``skip_adjacent``) is
    not a crossing. Near linear: a uniform grid of about one segment per cell pairs only segments
    whose bounding boxes share a cell (two crossing segments both cover the crossing's cell),
    and only those pairs get the exact orientation test.
    """
    a, b = p[:-1], p[1:]
    c, d = q[:-1], q[1:]
    if len(a) == 0 or len(c) == 0:
        return None
    low = np.minimum(np.minimum(a, b).min(axis=0), np.minimum(c, d).min(axis=0))
    sizes = np.concatenate([np.abs(b - a).max(axis=1), np.abs(d - c).max(axis=1)])
    cell = float(np.mean(sizes[sizes > 0])) if np.any(sizes > 0) else 1.0
    i, j = _grid_pairs(a, b, c, d, low, cell)
    if skip_adjacent:
        gap = np.abs(i - j)
        keep = gap > 1
        if p is q and np.array_equal(p[0], p[-1]):
            keep &= gap < len(a) - 1
        i, j = i[keep], j[keep]
    ai, bi, cj, dj = a[i], b[i], c[j], d[j]
    hit = ((_orient(ai, bi, cj) * _orient(ai, bi, dj) < 0)
           & (_orient(cj, dj, ai) * _orient(cj, dj, bi) < 0)
           & np.any(ai != bi, axis=1) & np.any(cj != dj, axis=1))  # fmt: skip
    if not hit.any():
        return None
    first = np.lexsort((j[hit], i[hit]))[0]
    return int(i[hit][first]), int(j[hit][first])


def _orient(o: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(K,) twice the signed area of the triangles o, u, v ((K, 2) each)."""
    return (u[:, 0] - o[:, 0]) * (v[:, 1] - o[:, 1]) - (u[:, 1] - o[:, 1]) * (v[:, 0] - o[:, 0])


def _grid_cells(start: np.ndarray, end: np.ndarray, low: np.ndarray, cell: float):
    """(segment index, cell key) of every grid cell each segment's bounding box covers."""
    lo = np.floor((np.minimum(start, end) - low) / cell).astype(np.int64)
    hi = np.floor((np.maximum(start, end) - low) / cell).astype(np.int64)
    nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    counts = nx * ny
    segment = np.repeat(np.arange(len(start)), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    ix = lo[segment, 0] + k % nx[segment]
    iy = lo[segment, 1] + k // nx[segment]
    return segment, ix * (1 << 31) + iy


def _grid_pairs(a, b, c, d, low, cell) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) index arrays of the distinct segment pairs of p and q that share a grid cell."""
    si, keys_p = _grid_cells(a, b, low, cell)
    sj, keys_q = _grid_cells(c, d, low, cell)
    order = np.argsort(keys_q, kind="stable")
    keys_q, sj = keys_q[order], sj[order]
    first = np.searchsorted(keys_q, keys_p, side="left")
    count = np.searchsorted(keys_q, keys_p, side="right") - first
    i = np.repeat(si, count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    j = sj[np.repeat(first, count) + offsets]
    pairs = np.unique(i * len(c) + j)
    return pairs // len(c), pairs % len(c)


def validate_track(rows: np.ndarray, source: str) -> bool:
    """Check a track's geometry; return whether it is a closed loop.

    Checks: closed (first row equals last exactly) or open; no border crossing itself or the other
    border; on a loop the inner border inside the outer one; a non-zero centre-line length.
    Consecutive duplicate rows (zero-length segments) are tolerated, as in real DeepRacer files.

    Raises:
        TrackError: naming the file, the problem, the row(s), and the fix.
    """
    closed = bool(np.array_equal(rows[0], rows[-1]))
    if not closed and np.array_equal(rows[0, :2], rows[-1, :2]):
        raise TrackError(
            f"track {source}: the first and last centre points are equal but the borders are not "
            f"(row 0 {rows[0].tolist()} vs row {len(rows) - 1} {rows[-1].tolist()}). A closed "
            f"loop repeats its whole first row as its last row: copy row 0 over the last row."
        )
    gap = float(np.linalg.norm(rows[0, :2] - rows[-1, :2]))
    if not closed and gap < _CLOSE_ENOUGH_TO_MEAN_CLOSED:
        raise TrackError(
            f"track {source}: the first and last rows are {gap:.4f} m apart but not equal. "
            f"DeepRacer treats a track as a loop only when the last row equals the first exactly; "
            f"set the last row to a copy of row 0 (or remove it) to close the loop."
        )
    centre, inner, outer = rows[:, 0:2], rows[:, 2:4], rows[:, 4:6]
    length = float(np.sum(np.linalg.norm(np.diff(centre, axis=0), axis=1)))
    if length <= 0.0:
        raise TrackError(f"track {source}: all centre points coincide; the track has no length.")
    _check_scale(rows, source)
    for name, line in (("inner", inner), ("outer", outer)):
        hit = _segments_cross(line, line, skip_adjacent=True)
        if hit:
            i, j = sorted(hit)
            raise TrackError(
                f"track {source}: the {name} border crosses itself between rows {i}-{i + 1} and "
                f"rows {j}-{j + 1} (near x={line[i, 0]:.2f}, y={line[i, 1]:.2f}). A border must be "
                f"a simple line; fix those rows (the track is probably too tight for its width)."
            )
    hit = _segments_cross(inner, outer, skip_adjacent=False)
    if hit:
        i, j = hit
        raise TrackError(
            f"track {source}: the inner border (rows {i}-{i + 1}) crosses the outer border (rows "
            f"{j}-{j + 1}) near x={inner[i, 0]:.2f}, y={inner[i, 1]:.2f}. The two borders must not "
            f"cross; check that columns 2-3 and 4-5 hold the two sides of the road."
        )
    if closed and abs(signed_area(inner)) >= abs(signed_area(outer)):
        raise TrackError(
            f"track {source}: the inner border (columns 2-3) encloses more area than the outer "
            f"border (columns 4-5). In a DeepRacer file columns 2-3 are the inside of the loop; "
            f"swap the two column pairs."
        )
    return closed


def _check_scale(rows: np.ndarray, source: str) -> None:
    """Refuse a track in the wrong units, far from the origin, or narrower than the car."""
    points = rows.reshape(-1, 2)
    extent = float(np.max(points.max(axis=0) - points.min(axis=0)))
    farthest = float(np.abs(points).max())
    if extent > MAX_TRACK_EXTENT or farthest > MAX_TRACK_COORDINATE:
        hint = (f" If it is in centimetres, divide it by 100 ({extent / 100:.1f} m across)."
                if extent > MAX_TRACK_EXTENT else "")  # fmt: skip
        raise TrackError(
            f"track {source} is {extent:,.4g} m across with coordinates up to {farthest:,.4g} m; "
            f"DeepRacer tracks are in metres, a few tens of metres across (racer takes up to "
            f"{MAX_TRACK_EXTENT:g} m, within {MAX_TRACK_COORDINATE:g} m of the origin).{hint}"
        )
    width = float(np.median(np.linalg.norm(rows[:, 2:4] - rows[:, 4:6], axis=1)))
    if width < MIN_TRACK_WIDTH:
        raise TrackError(
            f"track {source}: the road is {width:.3g} m wide (median distance between the borders, "
            f"columns 2-3 and 4-5), narrower than the car; DeepRacer tracks are 0.6-1.07 m wide "
            f"(racer takes {MIN_TRACK_WIDTH:g} m or more). Check the border columns and units."
        )


@lru_cache(maxsize=64)
def _load_geometry(path: str, mtime_ns: int, deduplicate: bool) -> TrackGeometry:
    rows = read_track_array(path)
    return _geometry(deduplicate_rows(rows) if deduplicate else rows, path)


def _geometry(rows: np.ndarray, source: str) -> TrackGeometry:
    """Validate checked rows and build the geometry with its indexes."""
    closed = validate_track(rows, source)
    return TrackGeometry(
        centre=np.ascontiguousarray(rows[:, 0:2]),
        inner=np.ascontiguousarray(rows[:, 2:4]),
        outer=np.ascontiguousarray(rows[:, 4:6]),
        closed=closed,
    )


def load_track(
    name_or_path: str | Path, *, reverse: bool = False, deduplicate: bool = False
) -> Track:
    """Load a bundled track by name, or any DeepRacer ``.npy`` track file by path.

    Args:
        name_or_path: a bundled track name (``racer tracks`` lists them) or a file path.
        reverse: drive the rows backwards (DeepRacer's REVERSE_DIR; ``params["is_reversed"]``).
        deduplicate: drop consecutive repeated centre points, as the 2026 community simapp does.
            Off by default so waypoint indices match AWS's console (SPEC 1.3 item 14).

    Returns:
        The track. Geometry and its spatial indexes are cached per file.

    Raises:
        TrackError: missing or invalid file, with what to fix.
    """
    path = resolve_track_path(name_or_path).resolve()
    geometry = _load_geometry(str(path), path.stat().st_mtime_ns, deduplicate)
    return Track(path.stem, geometry, reverse=reverse, source=str(path))


def track_from_array(
    rows: np.ndarray, name: str = "custom", *, reverse: bool = False, source: str = "<array>"
) -> Track:
    """Build a track from an in-memory (N, 6) array (validated like a file)."""
    rows = check_track_rows(np.asarray(rows), source)
    return Track(name, _geometry(rows, source), reverse=reverse, source=source)
