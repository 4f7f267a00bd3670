"""How well a motion model predicts DeepRacer's simulated car, measured on real simtraces.

A simtrace row i holds the car's model point (X, Y), its heading (``yaw``, degrees) and the
command chosen there (``steer`` degrees, ``throttle`` m/s). Read from the real logs (SPEC 1.4,
6.1, and ``scripts/fit_dynamics.py``):

- row i's command drives the motion from row i's pose to row i+1's;
- that motion lasts ``tstamp[i] - tstamp[i-1]``: the time stamp is read after the physics step,
  the pose before it (the distance driven from row i to i+1 follows the earlier interval, not
  ``tstamp[i+1] - tstamp[i]``); steps are 0.055-0.079 s, not exactly 1/15 s;
- the PREPARE row and pause rows send a zero command (the car stops, the wheels turn straight);
- pause rows and resets move the car by hand, so no prediction spans them; DROA puts the car
  back on its start pose once more after the PREPARE row is read (the hold's pose is set
  asynchronously), during the PREPARE step or the next: a next step that runs backwards or
  covers less than half the PREPARE step's distance is that move (`MotionLog.placed`);
- a reset does not reset the car's joints: the wheels keep the angle they had when the last
  episode ended and straighten only as the servo follows the held row's zero command (DROA
  and deepracer-for-cloud alike); the speed is zeroed where the car stands through the PREPARE
  row (deepracer-for-cloud's training resets) and kept where it moves on (its evaluation laps,
  which go on without a reset, and DROA's resets, after which the car rolls on its spinning
  wheels until it is put back on its start pose).

`open_loop_errors` starts the model's car at each logged pose and drives it open loop with the
logged commands for K rows, then compares the model point and heading with the log's. The
model's hidden state at the start (the wheels' actual angle, the command they follow) comes from
replaying the commands of the episode, and of the episodes before it in the same simulation
(the same file, stamps under a second apart), up to that row with the car put back on the
logged pose at every row, an observer: after each row the wheel angle is moved by the model's
``observer_gain`` (fitted with the 2022 preset; 0 for the 2026 one and the idealised cars) times
the difference between the angle the logged turn implies and the one the model turned with (the
log has no wheel angle; its headings tell it, noisily); the speed is the measured one (the
distance over the two rows before, when commands drove the car there; the replay's otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from racer.errors import LogError
from racer.logs.simtrace import Simtrace
from racer.physics.car import CarParams, CarState, MotionModel
from racer.units import deg_to_rad, rad_to_deg, wrap_angle

#: Statuses of rows whose pose the car drove to (a prediction may end on them).
DRIVEN = ("in_progress", "off_track", "lap_complete", "crashed", "immobilized", "reversed",
          "time_up")  # fmt: skip
#: Statuses whose command the simulator does not apply (the car is held).
HELD = ("prepare", "pause", "park")
_OBSERVED_SPEED = 0.3  # [m/s] below this a turn says too little about the wheel angle
_FIRST_STEP = 1.0 / 15.0  # [s] the PREPARE row's interval, which the log cannot give
_STANDING = 0.01  # [m] a car that moves less over its PREPARE row stood still


@dataclass(frozen=True)
class MotionLog:
    """The rows of real simtraces that tell how the car moved, as (R,) arrays in log order.

    Attributes:
        x, y: [m] model point.
        yaw: [rad] heading.
        steering: [rad] commanded steering applied from this row (0 on held rows).
        speed: [m/s] commanded speed applied from this row (0 on held rows).
        duration: [s] how long this row's command drives the car (the row's tstamp minus the
            previous row's; 1/15 s on an episode's first row).
        run: this row's command is applied (an in-progress row).
        driven: the car drove itself to this row's pose.
        held: this row's command is replaced by a stop.
        episode: (R,) int, index of the row's episode (0, 1, ... in log order).
        first: (R,) bool, the row starts an episode.
        continued: (R,) bool, the row starts an episode in the simulation the row before ran
            (same file, its stamp under a second later): the car's wheels carry over.
        stopped: (R,) bool, such a start where the car stands through the PREPARE row (moves
            less than `_STANDING` to the next row): the reset stopped it, its speed is zeroed.
        placed: (R,) bool, the first row after a PREPARE row whose step the car did not drive:
            it runs backwards, or covers less than half the PREPARE step's distance (a loss
            of speed beyond what the tyres' grip allows in one step): DROA's second placing.
    """

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    steering: np.ndarray
    speed: np.ndarray
    duration: np.ndarray
    run: np.ndarray
    driven: np.ndarray
    held: np.ndarray
    episode: np.ndarray
    first: np.ndarray
    continued: np.ndarray
    stopped: np.ndarray
    placed: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def from_simtrace(cls, trace: Simtrace) -> MotionLog:
        """Convert a simtrace's rows (degrees, time stamps) to a `MotionLog` (SI, durations).

        Raises:
            LogError: the simtrace has no rows.
        """
        if len(trace) == 0:
            raise LogError(f"{', '.join(map(str, trace.sources))}: the simtrace has no rows.")
        status = trace["episode_status"].astype(str)
        episode = np.zeros(len(trace), np.int64)
        first = np.zeros(len(trace), bool)
        for number, (_, _, rows) in enumerate(trace.episodes()):
            episode[rows] = number
            first[rows[0]] = True
        tstamp = trace["tstamp"]
        duration = np.empty(len(trace))
        duration[1:] = tstamp[1:] - tstamp[:-1]
        x, y = trace["X"].astype(np.float64), trace["Y"].astype(np.float64)
        continued = np.zeros(len(trace), bool)
        continued[1:] = (first[1:] & (trace["file"][1:] == trace["file"][:-1])
                         & (duration[1:] > 0.0) & (duration[1:] < 1.0))  # fmt: skip
        moved = np.append(np.hypot(np.diff(x), np.diff(y)), 0.0)  # to the next row
        stopped = continued & (moved < _STANDING)
        yaw = deg_to_rad(trace["yaw"])
        along = np.append(np.diff(x) * np.cos(yaw[:-1]) + np.diff(y) * np.sin(yaw[:-1]), 0.0)
        after = np.zeros(len(trace), bool)
        after[1:] = first[:-1] & np.isin(status[:-1], HELD) & ~first[1:]
        before = np.roll(moved, 1)
        placed = after & ((along < -_STANDING) | ((before > _STANDING) & (moved < 0.5 * before)))
        duration[first] = _FIRST_STEP
        # A damaged or reordered stamp cannot be a step: fall back to the nominal one.
        bad = ~(np.isfinite(duration) & (duration > 0.0) & (duration < 1.0))
        duration[bad] = _FIRST_STEP
        held = np.isin(status, HELD)
        steering = np.where(held, 0.0, deg_to_rad(trace["steer"]))
        speed = np.where(held, 0.0, trace["throttle"])
        return cls(
            x=x, y=y,
            yaw=deg_to_rad(trace["yaw"]), steering=steering, speed=speed, duration=duration,
            run=status == "in_progress", driven=np.isin(status, DRIVEN), held=held,
            episode=episode, first=first, continued=continued, stopped=stopped, placed=placed,
        )  # fmt: skip

    def windows(self, rows: int) -> np.ndarray:
        """(M,) start rows i of every K = ``rows`` row prediction the log can check.

        Rows i .. i+K-1 apply their commands, row i+K is a pose the car drove to, all in one
        episode, and row i-1 is in it too (for the measured speed).
        """
        n = len(self)
        if n <= rows + 1:
            return np.zeros(0, np.int64)
        run = (self.run & ~self.placed).astype(np.int64)
        ok_run = np.convolve(run, np.ones(rows, np.int64), "valid")[: n - rows] == rows
        start = np.arange(n - rows)
        same = self.episode[start + rows] == self.episode[start]
        ok = ok_run & self.driven[start + rows] & same & ~self.first[start]
        return start[ok]


@dataclass(frozen=True)
class OpenLoopErrors:
    """Errors after K rows for every checked start row.

    Attributes:
        rows: K.
        position: (M,) [m] distance between the predicted and logged model points.
        heading: (M,) [rad] absolute heading difference.
    """

    rows: int
    position: np.ndarray
    heading: np.ndarray

    def summary(self) -> dict[str, float]:
        """Median and 90th percentile of both errors ([m], [deg]) and the sample count."""
        if len(self.position) == 0:
            nan = float("nan")
            return {"n": 0, "pos_median": nan, "pos_p90": nan, "head_median": nan,
                    "head_p90": nan}  # fmt: skip
        head = rad_to_deg(self.heading)
        return {
            "n": len(self.position),
            "pos_median": float(np.median(self.position)),
            "pos_p90": float(np.percentile(self.position, 90)),
            "head_median": float(np.median(head)),
            "head_p90": float(np.percentile(head, 90)),
        }


def base_link(log: MotionLog, rows: np.ndarray, params: CarParams) -> tuple[np.ndarray, ...]:
    """(x, y, yaw) of base_link at ``rows``: the model point moved back along the heading."""
    yaw = log.yaw[rows]
    return (log.x[rows] - params.model_point * np.cos(yaw),
            log.y[rows] - params.model_point * np.sin(yaw), yaw)  # fmt: skip


def measured_velocity(log: MotionLog, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """(vx, vy) [m/s] of the model point arriving at ``rows``, and (N,) bool: measured.

    Measured over the two rows before where both of their commands drove the car, over the
    last one where only it did; not measured when the row before was held (the car stood, or,
    in DeepRacer-on-AWS, rolled 0.04-0.15 m on the wheels still spinning from the episode
    before while it was held on the PREPARE row, a motion no command drove) or placed.
    """
    prev, prev2 = rows - 1, np.maximum(rows - 2, 0)
    one = ~log.held[prev] & ~log.placed[prev] & ~log.first[rows]
    two = one & ~log.first[prev] & ~log.held[prev2] & ~log.placed[prev2] & (rows >= 2)
    before = np.where(two, prev2, prev)
    spent = log.duration[prev] + np.where(two, log.duration[prev2], 0.0)
    vx = np.where(one, (log.x[rows] - log.x[before]) / spent, 0.0)
    vy = np.where(one, (log.y[rows] - log.y[before]) / spent, 0.0)
    return vx, vy, one


def hidden_states(
    log: MotionLog, model: MotionModel, gain: float | None = None
) -> dict[str, np.ndarray]:
    """The model's car state at every row, replaying each simulation's commands on its poses.

    A simulation is a run of episodes that go on from one another (`MotionLog.continued`); all
    of them go in one batch. Before each row the car is put on the logged pose and after it
    keeps only what the log cannot give (wheel angle, followed command, speed); a reset that
    stops the car zeroes the speed, never the wheel angle, and a held row's wheels follow its
    zero command through the model's own response instead of snapping straight. The wheel
    angle is then corrected by ``gain`` (default: the model's ``observer_gain``, 0 if it has
    none) times the error of the row's turn, as angles (module docstring).

    Returns:
        ``{"steering", "steering_command", "speed"}``, each (R,), the state
        on arrival at each row (before its command).
    """
    if gain is None:
        gain = float(getattr(model, "observer_gain", 0.0))
    starts = np.flatnonzero(log.first & ~log.continued)
    lengths = np.diff(np.append(starts, len(log)))
    state, free = CarState(len(starts)), CarState(len(starts))
    names = ("steering", "steering_command", "speed")
    out = {name: np.zeros(len(log)) for name in names}
    zero = np.zeros(len(starts))
    for j in range(int(lengths.max())):
        live = lengths > j
        rows = starts[live] + j
        index = starts + np.minimum(j, lengths - 1)
        state.speed[live & log.stopped[index]] = 0.0  # the reset stopped it
        for name, values in out.items():
            values[rows] = getattr(state, name)[live]
        x, y, yaw = base_link(log, index, model.params)
        state.x[:], state.y[:], state.yaw[:] = x, y, yaw
        held = live & log.held[index]
        if held.any():  # the same step with the wheels told straight, not set straight
            for name in ("x", "y", "yaw", *names):
                getattr(free, name)[:] = getattr(state, name)
            model.step(free, zero, zero, log.duration[index], ~live)
        model.step(state, log.steering[index], log.speed[index], log.duration[index],
                   log.held[index] | ~live)  # fmt: skip
        if held.any():
            state.steering[held] = free.steering[held]
            state.steering_command[held] = free.steering_command[held]
        if gain > 0.0:
            following = np.minimum(index + 1, len(log) - 1)
            seen = (live & (j + 1 < lengths) & log.driven[following] & ~log.held[index]
                    & (state.speed > _OBSERVED_SPEED))  # fmt: skip
            speed = np.maximum(state.speed, _OBSERVED_SPEED)
            logged = wrap_angle(log.yaw[following] - yaw) / log.duration[index]
            modelled = wrap_angle(state.yaw - yaw) / log.duration[index]
            error = (model.steering_for_curvature(logged / speed, speed)
                     - model.steering_for_curvature(modelled / speed, speed))  # fmt: skip
            state.steering[seen] += gain * error[seen]
    return out


def open_loop_errors(
    log: MotionLog, model: MotionModel | None, horizons: Sequence[int] = (1, 15, 45)
) -> dict[int, OpenLoopErrors]:
    """Errors of ``model`` after each horizon K [rows], from every checkable start row.

    Args:
        log: real rows.
        model: a motion model; None for the constant-velocity baseline (the measured velocity
            and heading held for K rows).
        horizons: the K values.
    """
    hidden = hidden_states(log, model) if model is not None else None
    params = model.params if model is not None else CarParams()
    result = {}
    for rows in horizons:
        start = log.windows(rows)
        result[rows] = _predict(log, model, params, hidden, start, rows)
    return result


def _predict(log, model, params, hidden, start, rows) -> OpenLoopErrors:
    end = start + rows
    vx, vy, measured = measured_velocity(log, start)
    if model is None:
        spent = np.zeros(len(start))
        for k in range(rows):
            spent += log.duration[start + k]
        px, py, yaw = log.x[start] + vx * spent, log.y[start] + vy * spent, log.yaw[start]
    else:
        state = CarState(len(start))
        state.x[:], state.y[:], state.yaw[:] = base_link(log, start, params)
        for name, values in hidden.items():
            getattr(state, name)[:] = values[start]
        along = vx * np.cos(state.yaw) + vy * np.sin(state.yaw)
        state.speed[:] = np.where(measured, along, state.speed)  # else the replay's speed
        for k in range(rows):
            i = start + k
            model.step(state, log.steering[i], log.speed[i], log.duration[i], log.held[i])
        yaw = state.yaw
        px = state.x + params.model_point * np.cos(yaw)
        py = state.y + params.model_point * np.sin(yaw)
    position = np.hypot(px - log.x[end], py - log.y[end])
    heading = np.abs(wrap_angle(yaw - log.yaw[end]))
    return OpenLoopErrors(rows, position, heading)
