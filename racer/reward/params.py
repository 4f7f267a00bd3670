"""DeepRacer's ``params`` dict: the reward function's only input (SPEC section 1).

This is the boundary where racer's SI interior becomes DeepRacer's units: headings and steering in
degrees, progress in percent. Every key of SPEC 1.2 is present with DeepRacer's Python type:
``steps`` is a float, ``closest_waypoints`` a list of two ints, ``waypoints`` a list of (x, y)
tuples, ``progress`` the int 100 on the lap-complete step, ``heading`` a numpy float64; the
object keys start at their time-trial defaults, and `racer.objects.params` fills them when there
are boxes, bot cars or other racers.

`params_at_pose` builds the dict for a car placed anywhere on a track, so users can unit-test their
reward functions with real params (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from racer.physics.car import CarParams, CarState
from racer.track import Track, TrackQuery
from racer.units import deg_to_rad, rad_to_deg, wrap_angle

#: Every key DeepRacer puts in params, in its order (SPEC 1.2).
PARAM_KEYS = (
    "all_wheels_on_track", "x", "y", "heading", "distance_from_center", "projection_distance",
    "progress", "steps", "speed", "steering_angle", "track_width", "track_length", "waypoints",
    "closest_waypoints", "is_left_of_center", "is_reversed", "is_offtrack", "is_crashed",
    "sim_time", "closest_objects", "objects_location", "objects_left_of_center", "objects_speed",
    "objects_heading", "objects_distance", "objects_distance_from_center", "object_in_camera",
)  # fmt: skip


def compute_progress(
    ndist: np.ndarray, start_ndist: np.ndarray, prev_progress: np.ndarray
) -> np.ndarray:
    """DeepRacer's progress [%] relative to the episode's start point (SPEC 1.3 item 8).

    Args:
        ndist: (N,) normalised projection of the model point in the driving direction.
        start_ndist: (N,) normalised start point of each car's episode.
        prev_progress: (N,) the previous step's progress [%] (0 after a completed lap).

    Returns:
        (N,) float64 progress [%]: wrapped across the start line in either direction, capped at
        100, slightly negative while the car is behind its start point.
    """
    raw = 100.0 * (np.asarray(ndist) - start_ndist)
    raw = np.where(raw <= 0.0, raw + 100.0, raw)
    raw = np.where(prev_progress > raw + 50.0, raw + 100.0, raw)
    raw = np.where(raw > prev_progress + 50.0, raw - 100.0, raw)
    return np.minimum(raw, 100.0)


def new_object_defaults() -> dict[str, Any]:
    """The object keys with the values DeepRacer gives them in a time trial (fresh lists)."""
    return {
        "closest_objects": [0, 0],
        "objects_location": [],
        "objects_left_of_center": [],
        "objects_speed": [],
        "objects_heading": [],
        "objects_distance": [],
        "objects_distance_from_center": [],
        "object_in_camera": False,
    }


def make_params(
    *,
    all_wheels_on_track: bool,
    x: float,
    y: float,
    heading_deg: float,
    distance_from_center: float,
    projection_distance: float,
    progress: float,
    steps: int,
    speed: float,
    steering_angle_deg: float,
    track_width: float,
    track_length: float,
    waypoints: list[tuple[float, float]],
    closest_waypoints: tuple[int, int],
    is_left_of_center: bool,
    is_reversed: bool,
    is_offtrack: bool,
    is_crashed: bool,
    sim_time: float,
) -> dict[str, Any]:
    """Assemble one params dict with DeepRacer's key set and types (SPEC 1.2).

    Values arrive already in DeepRacer's units (degrees, percent). ``waypoints`` must be a list the
    caller owns: the dict takes it as it is.
    """
    params = {
        "all_wheels_on_track": bool(all_wheels_on_track),
        "x": float(x),
        "y": float(y),
        "heading": np.float64(heading_deg),
        "distance_from_center": float(distance_from_center),
        "projection_distance": float(projection_distance),
        "progress": 100 if progress >= 100.0 else float(progress),
        "steps": float(steps),
        "speed": float(speed),
        "steering_angle": float(steering_angle_deg),
        "track_width": float(track_width),
        "track_length": float(track_length),
        "waypoints": waypoints,
        "closest_waypoints": [int(closest_waypoints[0]), int(closest_waypoints[1])],
        "is_left_of_center": bool(is_left_of_center),
        "is_reversed": bool(is_reversed),
        "is_offtrack": bool(is_offtrack),
        "is_crashed": bool(is_crashed),
        "sim_time": float(sim_time),
    }
    params.update(new_object_defaults())
    return params


def params_at_pose(
    track: Track,
    x: float,
    y: float,
    heading: float,
    *,
    speed: float = 1.0,
    steering_angle: float = 0.0,
    steps: int = 2,
    start_progress: float = 0.0,
    prev_progress: float | None = None,
    sim_time: float = 0.0,
    car: CarParams | None = None,
) -> dict[str, Any]:
    """The params dict DeepRacer gives a car placed at a pose, for testing reward functions.

    Everything is in DeepRacer's own terms, as the reward function sees it.

    Args:
        track: the track and driving direction (``load_track(name, reverse=...)``).
        x: [m] the car's ``params["x"]``: its model point, 0.14 m ahead of the body centre.
        y: [m] the car's ``params["y"]``.
        heading: [deg] the car's ``params["heading"]``, counter-clockwise from +x.
        speed: [m/s] the chosen action's speed.
        steering_angle: [deg] the chosen action's steering angle, positive left.
        steps: the step count (2 is the first step the reward function sees).
        start_progress: [%] where the episode started, as a percentage of the track from waypoint
            0 (DeepRacer's round-robin start; 0 is the start line).
        prev_progress: [%] the previous step's progress, used to unwrap the start line as
            DeepRacer does (100 counts as a finished lap, i.e. 0). None: no history, the
            progress is the distance driven from the start point, in [0, 100].
        sim_time: [s] the simulation clock.
        car: car geometry (wheel positions, model point); DeepRacer's by default.

    Returns:
        A fresh params dict with every key of SPEC 1.2.

    Example:
        >>> from racer.track import load_track
        >>> from racer.reward.params import params_at_pose
        >>> track = load_track("oval")
        >>> x, y = track.waypoints[5]
        >>> params_at_pose(track, x, y, heading=0.0)["all_wheels_on_track"]
        True
    """
    return params_at_poses(
        track, [x], [y], [heading], speed=[speed], steering_angle=[steering_angle], steps=[steps],
        start_progress=[start_progress],
        prev_progress=None if prev_progress is None else [prev_progress],
        sim_time=[sim_time], car=car,
    )[0]  # fmt: skip


def params_at_poses(
    track: Track,
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    heading: Sequence[float] | np.ndarray,
    *,
    speed: Sequence[float] | np.ndarray | float = 1.0,
    steering_angle: Sequence[float] | np.ndarray | float = 0.0,
    steps: Sequence[float] | np.ndarray | float = 2,
    start_progress: Sequence[float] | np.ndarray | float = 0.0,
    prev_progress: Sequence[float] | np.ndarray | None = None,
    sim_time: Sequence[float] | np.ndarray | float = 0.0,
    car: CarParams | None = None,
) -> list[dict[str, Any]]:
    """`params_at_pose` for N poses at once: one track query for all, one dict per pose.

    Every argument is an (N,) array in DeepRacer's units, or a scalar for all poses; see
    `params_at_pose` for their meaning. ``prev_progress`` None means no history for any pose.

    Returns:
        N fresh params dicts, each with its own ``waypoints`` list.
    """
    car = car or CarParams()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[0]

    def full(value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))

    yaw = deg_to_rad(full(heading))
    speed, steering, steps = full(speed), full(steering_angle), full(steps)
    start, sim_time = full(start_progress) / 100.0, full(sim_time)
    state = CarState(n)
    state.place(
        np.arange(n), x - car.model_point * np.cos(yaw), y - car.model_point * np.sin(yaw), yaw
    )
    query = TrackQuery(n)
    query.model_x[:], query.model_y[:] = x, y
    state.wheel_positions(car, query.wheel_x, query.wheel_y)
    track.locate(query)
    if prev_progress is None:
        raw = 100.0 * (query.ndist - start)
        history = np.where(raw <= 0.0, raw + 100.0, raw)  # consistent with itself: no unwrap
    else:
        prev = full(prev_progress)
        history = np.where(prev >= 100.0, 0.0, prev)
    progress = compute_progress(query.ndist, start, history)
    heading_deg = rad_to_deg(wrap_angle(yaw))
    return [
        make_params(
            all_wheels_on_track=query.all_wheels_on_track[i],
            x=x[i],
            y=y[i],
            heading_deg=heading_deg[i],
            distance_from_center=query.distance_from_center[i],
            projection_distance=query.s[i],
            progress=progress[i],
            steps=steps[i],
            speed=speed[i],
            steering_angle_deg=steering[i],
            track_width=query.track_width[i],
            track_length=track.length,
            waypoints=list(track.waypoints),
            closest_waypoints=(query.prev_waypoint[i], query.next_waypoint[i]),
            is_left_of_center=query.is_left_of_center[i],
            is_reversed=track.reverse,
            is_offtrack=not query.any_wheel_on_track[i],
            is_crashed=False,
            sim_time=sim_time[i],
        )
        for i in range(n)
    ]
