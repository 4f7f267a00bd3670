"""``racer raceline``: the minimum-curvature racing line of a track and its ideal lap time.

`run_raceline` computes the line (`racer.raceline.min_curvature_line`) and its speed profile for
racer's car, and writes into one folder:

- ``<name>_raceline.npy``: (M, 2) float64 [m] line points in driving order (a loop does not
  repeat its first point);
- ``<name>_raceline.csv``: the same points with their ideal speed [m/s] and curvature [1/m];
- ``<name>_raceline.py``: ``RACING_LINE = [[x, y], ...]`` and ``SPEEDS = [...]`` to paste into a
  DeepRacer reward function;
- ``<name>_raceline.png``: the track with the line coloured by speed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from racer.physics.car import CarParams, MotionModel
from racer.physics.motion import DEFAULT_MOTION_MODEL, make_motion_model
from racer.raceline import (
    DEFAULT_MARGIN,
    DEFAULT_SPACING,
    RacingLine,
    SpeedLimits,
    SpeedProfile,
    centre_line,
    line_speed_profile,
    min_curvature_line,
)
from racer.track import Track, load_track


@dataclass
class RacelineReport:
    """What `run_raceline` computed and wrote.

    Attributes:
        track: the track's name; reverse: whether it was driven backwards.
        closed: True for a loop (the lap time is a flying lap), False for an open line (from
            rest to the end).
        margin: [m] distance kept from the borders; spacing: [m] between line points.
        points: number of line points M.
        line_length, centre_length: [m] lengths of the racing line and of the centre line.
        lap_time: [s] ideal lap time on the line; centre_lap_time: [s] on the centre line.
        min_speed, max_speed: [m/s] extremes of the ideal speed profile.
        max_curvature: [1/m] tightest curvature on the line; steer_limit: [1/m] the tightest the
            car can steer (``tan(max_steering) / wheelbase``).
        seconds: [s] computation time (line and speed profile).
        files: the files written, by kind ("npy", "csv", "py", "png").
        line, profile: the results themselves.
    """

    track: str
    reverse: bool
    closed: bool
    margin: float
    spacing: float
    points: int
    line_length: float
    centre_length: float
    lap_time: float
    centre_lap_time: float
    min_speed: float
    max_speed: float
    max_curvature: float
    steer_limit: float
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
    line: RacingLine | None = field(default=None, repr=False)
    profile: SpeedProfile | None = field(default=None, repr=False)

    @property
    def drivable(self) -> bool:
        """True when no point of the line is tighter than the car can steer."""
        return self.max_curvature <= self.steer_limit

    def format(self) -> str:
        """A short summary for the terminal."""
        kind = "flying lap" if self.closed else "from rest to the end"
        lines = [
            f"track        {self.track}{' (reversed)' if self.reverse else ''}",
            f"racing line  {self.line_length:.2f} m ({self.points} points every "
            f"{self.spacing:.2f} m), centre line {self.centre_length:.2f} m",
            f"ideal lap    {self.lap_time:.3f} s ({kind}); "
            f"centre line {self.centre_lap_time:.3f} s",
            f"speed        {self.min_speed:.2f} to {self.max_speed:.2f} m/s",
            f"margin       {self.margin:.3f} m from both borders",
            f"computed in  {self.seconds:.2f} s",
        ]
        if not self.drivable:
            lines.append(
                f"WARNING      the line curves at {self.max_curvature:.2f} 1/m, tighter than the "
                f"car can steer ({self.steer_limit:.2f} 1/m); no speed can follow it there."
            )
        lines += [f"wrote        {path}" for path in self.files.values()]
        return "\n".join(lines)


def run_raceline(
    track: str | Path | Track,
    out: str | Path | None = None,
    *,
    margin: float = DEFAULT_MARGIN,
    spacing: float = DEFAULT_SPACING,
    reverse: bool = False,
    model: MotionModel | None = None,
    draw: bool = True,
) -> RacelineReport:
    """Compute a track's racing line and ideal lap time, and write the line's files.

    Args:
        track: a bundled track name, a ``.npy`` path, or a loaded track.
        out: the folder to write into; None for ``raceline-<track>[-reversed]`` in the current
            directory.
        margin: [m] distance the line keeps from both borders.
        spacing: [m] distance between line points.
        reverse: drive a named or path track backwards (ignored for a loaded `Track`).
        model: the motion model whose car drives the line; racer's default car if None.
        draw: also draw the PNG (needs matplotlib).

    Returns:
        The report; ``report.format()`` is the terminal summary.

    Raises:
        ConfigError: a margin that leaves no room on the track, or a bad spacing.
        TrackError: a missing or invalid track file.
    """
    if not isinstance(track, Track):
        track = load_track(track, reverse=reverse)
    limits = SpeedLimits.from_model(model or make_motion_model(DEFAULT_MOTION_MODEL, CarParams()))
    started = time.perf_counter()
    line = min_curvature_line(track, margin=margin, spacing=spacing)
    profile = line_speed_profile(line, limits)
    seconds = time.perf_counter() - started
    centre_profile = line_speed_profile(centre_line(track, spacing), limits)
    stem = f"{track.name}{'-reversed' if track.reverse else ''}"
    folder = Path(out) if out is not None else Path.cwd() / f"raceline-{stem}"
    report = RacelineReport(
        track=track.name,
        reverse=track.reverse,
        closed=track.closed,
        margin=float(margin),
        spacing=float(spacing),
        points=len(line.xy),
        line_length=line.length,
        centre_length=float(centre_profile.segment_length.sum()),
        lap_time=profile.lap_time,
        centre_lap_time=centre_profile.lap_time,
        min_speed=float(profile.speed.min()),
        max_speed=float(profile.speed.max()),
        max_curvature=float(np.abs(line.curvature).max()),
        steer_limit=limits.max_curvature,
        seconds=seconds,
        line=line,
        profile=profile,
    )
    report.files = write_raceline(folder, f"{stem}_raceline", track, line, profile, draw=draw)
    return report


def write_raceline(
    folder: Path, stem: str, track: Track, line: RacingLine, profile: SpeedProfile, draw: bool
) -> dict[str, Path]:
    """Write the line as ``.npy``, ``.csv``, ``.py`` (and ``.png``) files named ``stem``.

    Returns:
        The written paths by kind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    xy, speed, kappa = line.xy, profile.speed, line.curvature
    files = {kind: folder / f"{stem}.{kind}" for kind in ("npy", "csv", "py")}
    np.save(files["npy"], xy)
    table = np.column_stack([xy, speed, kappa])
    np.savetxt(files["csv"], table, fmt="%.6f", delimiter=",", header="x,y,speed,curvature",
               comments="")  # fmt: skip
    points = ",\n".join(f"    [{x:.4f}, {y:.4f}]" for x, y in xy)
    speeds = ",\n".join(f"    {v:.3f}" for v in speed)
    kind = "a loop; the last point joins the first" if line.closed else "an open line"
    files["py"].write_text(
        f'"""Racing line for track {track.name!r}{" (reversed)" if track.reverse else ""}, '
        f"from racer raceline.\n\n"
        f"{len(xy)} points [m] in driving order ({kind}), {line.margin:.3f} m from both borders;\n"
        f"SPEEDS [m/s] are the ideal speeds (lap {profile.lap_time:.3f} s). Paste into a "
        f'reward function.\n"""\n\n'
        f"RACING_LINE = [\n{points},\n]\n\nSPEEDS = [\n{speeds},\n]\n"
    )
    if draw:
        from racer.plots.raceline import draw_raceline

        files["png"] = draw_raceline(track, line, profile, folder / f"{stem}.png")
    return files
