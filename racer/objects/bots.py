"""Bot cars of DeepRacer's head-to-bot race type (SPEC 5.3, "Head-to-bot").

DeepRacer's ``BotCarsCtrl`` (``agent_ctrl/bot_cars_agent_ctrl.py`` in the community simapp) drives
``NUMBER_OF_BOT_CARS`` cars along the lanes; racer follows it:

- **Placement** (``_compute_bot_car_initial_states``): centre-line distances evenly spaced from
  ``MIN_DISTANCE_BETWEEN_BOT_CARS`` (metres here, unlike the obstacles' percent) to 1 m before the
  end of the track, lanes alternating inner, outer, inner, ...; with
  ``RANDOMIZE_BOT_CAR_LOCATIONS`` the distances are jittered exactly as the boxes' are (each
  redrawn, in random order, between its neighbours plus/minus the minimum distance) and each lane
  drawn at random, at every reset. Distances run from waypoint 0 in the driving direction.
- **Motion** (``_get_dist_from_sim_time``): a bot's centre-line distance is its initial distance
  plus ``BOT_CAR_SPEED`` times the time it has been moving, wrapped round the track. Its position
  is the lane point at that centre-line distance (the simapp's lane splines are parametrised by
  the centre-line projection of the lane vertices), so ``speed`` is the rate along the centre
  line; on the inner lane of a bend the bot covers a little less ground, on the outer a little
  more. Its yaw is the direction of its path.
- **Lane changes** (``IS_LANE_CHANGE``, ``_compute_bot_car_lane_changes``): a bot waits a time
  drawn uniformly from [``LOWER_LANE_CHANGE_TIME``, ``UPPER_LANE_CHANGE_TIME``] (3-5 s), then
  crosses to the other lane over ``LANE_CHANGE_DISTANCE`` (1 m) of centre line, i.e. over
  ``distance / speed`` seconds; when it arrives it draws the next wait. The simapp bends the path
  with a cubic spline through lane vertices before and after the change; racer blends the lateral
  offset with a smoothstep (3a^2 - 2a^3), which also starts and ends tangent to the lanes.
- **Pause** (``judge_action``, ``PENALTY_SECONDS``, default 2 s): when a bot runs into the racing
  car from behind (the car is judged crashed while it is ahead of the bot), all bots of that car
  stand still for the penalty so the car can get away; their lane-change timers stop with them.

The state is batched: each of N training cars has its own B bots, so every array is (N, B), with a
per-car clock. Units: metres, seconds, radians; ``lane`` is +1 inner (the file's columns 2-3), -1
outer, and any value between during a change (0 is the centre line), as in
`Track.lane_point_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from racer.errors import ConfigError
from racer.objects.obstacles import ObstacleConfig, obstacle_distances
from racer.track.geometry import Track

#: [m] a bot car's footprint along its yaw (``ObstacleDimensions.BOT_CAR_DIMENSION``), which is
#: also its collision rectangle and its drawn length.
BOT_LENGTH = 0.32352
#: [m] a bot car's footprint across its yaw.
BOT_WIDTH = 0.1961
#: [m] the drawn height of a bot car. An estimate (the simapp's ``bot_car`` model is the
#: DeepRacer car mesh, not stored in our reference); it is below the 0.13 m camera, so the roof
#: is seen from behind.
BOT_HEIGHT = 0.12
#: [m] centre-line step used for the yaw's central difference.
_YAW_STEP = 0.05


@dataclass(frozen=True)
class BotConfig:
    """DeepRacer's head-to-bot bot cars (its H2B environment variables).

    Attributes:
        count: bot cars per racing car (``NUMBER_OF_BOT_CARS``; DRfC 3); 0 for none.
        speed: [m/s] ``BOT_CAR_SPEED``, along the centre line (default 0.2).
        min_distance: [m] ``MIN_DISTANCE_BETWEEN_BOT_CARS``: where the first evenly spaced bot
            starts, and the least gap the random jitter keeps (default 2.0 m; metres, not percent).
        randomize: ``RANDOMIZE_BOT_CAR_LOCATIONS``: jitter the distances and draw the lanes at
            every reset.
        lane_change: ``IS_LANE_CHANGE``: bots change lane now and then.
        lane_change_time: [s] (lower, upper) ``LOWER_/UPPER_LANE_CHANGE_TIME``: the wait before
            each lane change is uniform in this range (default 3-5 s).
        lane_change_distance: [m] ``LANE_CHANGE_DISTANCE``: centre-line distance a change takes.
        penalty_seconds: [s] ``PENALTY_SECONDS``: how long the bots stand still after one of them
            runs into the racing car from behind (default 2.0).
    """

    count: int = 0
    speed: float = 0.2
    min_distance: float = 2.0
    randomize: bool = False
    lane_change: bool = False
    lane_change_time: tuple[float, float] = (3.0, 5.0)
    lane_change_distance: float = 1.0
    penalty_seconds: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ConfigError(f"BotConfig.count must be an int >= 0 (0 = no bots), got "
                              f"{self.count!r}.")  # fmt: skip
        if not self.speed > 0.0:
            raise ConfigError(f"BotConfig.speed must be > 0 [m/s], got {self.speed!r}; "
                              "DeepRacer's default is 0.2.")  # fmt: skip
        if not self.min_distance >= 0.0:
            raise ConfigError(f"BotConfig.min_distance must be >= 0 [m], got "
                              f"{self.min_distance!r}.")  # fmt: skip
        if len(self.lane_change_time) != 2 or not (
            0.0 <= self.lane_change_time[0] <= self.lane_change_time[1]
        ):
            raise ConfigError(
                "BotConfig.lane_change_time must be a (lower, upper) pair of seconds with "
                f"0 <= lower <= upper, got {self.lane_change_time!r}; DeepRacer's is (3.0, 5.0)."
            )
        if not self.lane_change_distance > 0.0:
            raise ConfigError(f"BotConfig.lane_change_distance must be > 0 [m], got "
                              f"{self.lane_change_distance!r}.")  # fmt: skip
        if not self.penalty_seconds >= 0.0:
            raise ConfigError(f"BotConfig.penalty_seconds must be >= 0 [s], got "
                              f"{self.penalty_seconds!r}.")  # fmt: skip

    @property
    def change_duration(self) -> float:
        """[s] how long one lane change takes: ``lane_change_distance / speed`` (5 s by default)."""
        return self.lane_change_distance / self.speed


class BotState:
    """The bots of N cars, B each: structure of arrays, leading axes (N, B).

    Attributes:
        s0: (N, B) float64 [m] initial centre-line distance in the car's driving direction.
        clock: (N,) float64 [s] how long each car's bots have been moving this episode.
        pause_left: (N,) float64 [s] remaining `BotConfig.penalty_seconds` stand-still.
        lane_from: (N, B) float64 the lane a bot is on, or leaves during a change (+1 / -1).
        lane_to: (N, B) float64 the lane it is heading for (= ``lane_from`` without lane changes).
        change_end: (N, B) float64 [s of clock] when the current or next change ends (inf never).
        s: (N, B) float64 [m] current centre-line distance, in [0, track length).
        lane: (N, B) float64 current lateral position as a lane value in [-1, 1].
        x, y: (N, B) float64 [m] current positions (the bot's footprint centre).
        yaw: (N, B) float64 [rad] current headings.
    """

    def __init__(self, n: int, b: int) -> None:
        self.s0 = np.zeros((n, b))
        self.clock = np.zeros(n)
        self.pause_left = np.zeros(n)
        self.lane_from = np.ones((n, b))
        self.lane_to = np.ones((n, b))
        self.change_end = np.full((n, b), np.inf)
        self.s = np.zeros((n, b))
        self.lane = np.ones((n, b))
        self.x = np.zeros((n, b))
        self.y = np.zeros((n, b))
        self.yaw = np.zeros((n, b))

    @property
    def shape(self) -> tuple[int, int]:
        """(N, B)."""
        return self.s0.shape  # type: ignore[return-value]


def bot_distances(
    track_length: float, config: BotConfig, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """DeepRacer's initial bot distances and lanes (``_compute_bot_car_initial_states``).

    The arithmetic is the boxes' (`obstacle_distances`) with the minimum distance in metres.

    Args:
        track_length: [m] centre-line length.
        config: the bots.
        rng: the generator for ``config.randomize``; unused otherwise.

    Returns:
        dist: (B,) float64 [m] from waypoint 0 in the driving direction; lane: (B,) +1 / -1.

    Raises:
        ConfigError: ``min_distance`` leaves no room on this track, or ``randomize`` without rng.
    """
    if config.count and config.min_distance > track_length - 1.0:
        raise ConfigError(
            f"BotConfig.min_distance={config.min_distance} m puts the first bot past the last "
            f"possible one on this {track_length:.2f} m track; lower min_distance."
        )
    pct = 100.0 * config.min_distance / track_length
    boxes = ObstacleConfig(count=config.count, min_distance_pct=pct, randomize=config.randomize)
    return obstacle_distances(track_length, boxes, rng)


def place_bots(
    state: BotState,
    rows: np.ndarray,
    track: Track,
    config: BotConfig,
    rngs: Sequence[np.random.Generator],
) -> None:
    """Start a new episode for the bots of cars ``rows`` (all on ``track``'s direction).

    Args:
        state: the bots, modified in place (rows ``rows`` only).
        rows: (K,) int car indices.
        track: the track in those cars' driving direction.
        config: the bots.
        rngs: (K,) one generator per car: random layouts and lane-change waits.
    """
    rows = np.asarray(rows, dtype=np.int64)
    lo, hi = config.lane_change_time
    for i, rng in zip(rows, rngs, strict=True):
        dist, lane = bot_distances(track.length, config, rng)
        state.s0[i], state.lane_from[i] = dist, lane
        if config.lane_change:
            state.lane_to[i] = -lane
            state.change_end[i] = rng.uniform(lo, hi, config.count) + config.change_duration
        else:
            state.lane_to[i] = lane
            state.change_end[i] = np.inf
    state.clock[rows] = 0.0
    state.pause_left[rows] = 0.0
    update_poses(state, track, config, rows)


def _lane_at(state: BotState, rows: np.ndarray, clock: np.ndarray, duration: float) -> np.ndarray:
    """(K, B) lateral lane value at per-car times ``clock`` (K,): a smoothstep across changes."""
    start = state.change_end[rows] - duration
    a = np.clip((clock[:, None] - start) / duration, 0.0, 1.0)
    blend = a * a * (3.0 - 2.0 * a)
    lane_from, lane_to = state.lane_from[rows], state.lane_to[rows]
    return lane_from + (lane_to - lane_from) * blend


def _lane_points(track: Track, s: np.ndarray, lane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = track.lane_point_at(s.ravel(), lane.ravel())
    return x.reshape(s.shape), y.reshape(s.shape)


def update_poses(
    state: BotState, track: Track, config: BotConfig, rows: np.ndarray | None = None
) -> None:
    """Recompute ``s``, ``lane``, ``x``, ``y``, ``yaw`` of cars ``rows`` from their clocks.

    Args:
        state: the bots, modified in place.
        track: the track in those cars' driving direction.
        config: the bots.
        rows: (K,) int car indices; all cars by default.
    """
    rows = np.arange(state.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.size == 0 or state.shape[1] == 0:
        return
    clock = state.clock[rows]
    duration = config.change_duration
    # Wrapped as the simapp does (``% center_line.length``), open tracks included.
    s = np.mod(state.s0[rows] + config.speed * clock[:, None], track.length)
    lane = _lane_at(state, rows, clock, duration)
    # Yaw: direction of the path, central difference over +-_YAW_STEP of centre line. One
    # lane-point call for the pose and both neighbours: (3, K, B).
    dt = _YAW_STEP / config.speed
    all_s = np.stack([s, s + _YAW_STEP, s - _YAW_STEP])
    all_lane = np.stack([lane, _lane_at(state, rows, clock + dt, duration),
                         _lane_at(state, rows, clock - dt, duration)])  # fmt: skip
    x, y = _lane_points(track, all_s, all_lane)
    state.s[rows] = s
    state.lane[rows] = lane
    state.x[rows], state.y[rows] = x[0], y[0]
    state.yaw[rows] = np.arctan2(y[1] - y[2], x[1] - x[2])


def tick_bots(
    state: BotState,
    config: BotConfig,
    dt: float,
    rngs: Sequence[np.random.Generator],
    rows: np.ndarray | None = None,
) -> None:
    """Advance the bots' clocks by ``dt`` and start the lane changes that are due.

    Bots of a car in its penalty pause stand still (their clock stops) while the pause counts
    down. A bot whose lane change has ended is now on its target lane; it draws its next wait
    from that car's generator (only when lane changes are on).

    Args:
        state: the bots, modified in place (positions are not refreshed: see `update_poses`).
        config: the bots.
        dt: [s] step length.
        rngs: (N,) one generator per car (all cars, not only ``rows``).
        rows: (K,) int car indices to advance; all cars by default.
    """
    rows = np.arange(state.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    paused = state.pause_left[rows] > 1e-9
    state.clock[rows] += np.where(paused, 0.0, dt)
    state.pause_left[rows] = np.maximum(state.pause_left[rows] - dt, 0.0)
    if not config.lane_change:
        return
    due = state.clock[rows, None] >= state.change_end[rows]
    if not due.any():
        return
    lo, hi = config.lane_change_time
    for k, b in zip(*np.nonzero(due), strict=True):
        i = rows[k]
        state.lane_from[i, b] = state.lane_to[i, b]
        state.lane_to[i, b] = -state.lane_to[i, b]
        wait = float(rngs[i].uniform(lo, hi))
        state.change_end[i, b] = state.clock[i] + wait + config.change_duration


def advance_bots(
    state: BotState,
    track: Track,
    config: BotConfig,
    dt: float,
    rngs: Sequence[np.random.Generator],
    rows: np.ndarray | None = None,
) -> None:
    """`tick_bots` then `update_poses`: one step of ``dt`` for the bots of cars ``rows``.

    Args:
        state: the bots, modified in place.
        track: the track in those cars' driving direction.
        config: the bots.
        dt: [s] step length.
        rngs: (N,) one generator per car.
        rows: (K,) int car indices; all cars by default.
    """
    tick_bots(state, config, dt, rngs, rows)
    update_poses(state, track, config, rows)


def pause_bots(state: BotState, config: BotConfig, rows: np.ndarray) -> None:
    """A bot ran into car ``rows`` from behind: stop their bots for ``penalty_seconds`` more."""
    state.pause_left[rows] += config.penalty_seconds
    # Lane-change times are on the bots' own clock, which stops too: nothing else to shift.


__all__ = [
    "BOT_HEIGHT",
    "BOT_LENGTH",
    "BOT_WIDTH",
    "BotConfig",
    "BotState",
    "advance_bots",
    "bot_distances",
    "pause_bots",
    "place_bots",
    "tick_bots",
    "update_poses",
]
