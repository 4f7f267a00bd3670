"""The fidelity check reads every real log layout right and measures a model exactly."""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest

from racer.lab.fidelity import MotionLog, hidden_states, open_loop_errors
from racer.logs.simtrace import SIMTRACE_COLUMNS, find_simtraces, read_simtrace
from racer.physics.car import CarParams, CarState, KinematicBicycle
from racer.physics.motion import make_motion_model
from racer.physics.servo import DEEPRACER_2026, ServoBicycle
from tests.conftest import DEEPRACER_LOGS

DRFC = DEEPRACER_LOGS / "drfc-reinvent-base-full"
DROA = DEEPRACER_LOGS / "droa-spain"


def require(path):
    if not path.exists():
        pytest.skip(f"the real DeepRacer logs are not at {path}")


def synthetic_log(tmp_path, model, episodes=3, rows=80, seed=0):
    """A simtrace written the way DeepRacer writes one, driven by ``model``.

    Row i holds the pose before its command and the time stamp after its step; steps jitter.
    A reset puts the car at rest on a new pose and leaves its wheels as they were, as
    DeepRacer's simulators do.
    """
    rng = np.random.default_rng(seed)
    params = model.params
    lines = [",".join(SIMTRACE_COLUMNS[:17])]
    t = 10.0
    state = CarState(1)
    for episode in range(episodes):
        state.x[:] = state.y[:] = state.speed[:] = 0.0
        state.yaw[:] = rng.uniform(-math.pi, math.pi)
        steer = speed = 0.0
        for step in range(1, rows + 1):
            prepare = step == 1
            if step % 5 == 2:
                steer, speed = rng.uniform(-0.5, 0.5), rng.uniform(0.5, 3.0)
            x = state.x[0] + params.model_point * math.cos(state.yaw[0])
            y = state.y[0] + params.model_point * math.sin(state.yaw[0])
            dt = rng.uniform(0.055, 0.079)
            t += dt
            status = "prepare" if prepare else "in_progress"
            done = step == rows
            lines.append(",".join(map(str, [
                episode, float(step), x, y, math.degrees(state.yaw[0]), math.degrees(steer),
                speed, 0, 0.0, done, True, 1.0, 0, 17.7, t, status, 0.0,
            ])))  # fmt: skip
            model.step(state, np.array([steer]), np.array([speed]), dt, np.array([prepare]))
    path = tmp_path / "0-iteration.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_model_predicts_its_own_log_and_the_reading_follows_deepracers_timing(tmp_path):
    model = ServoBicycle(CarParams(), DEEPRACER_2026)
    path = synthetic_log(tmp_path, model)
    trace = read_simtrace(path)
    log = MotionLog.from_simtrace(trace)
    # Degrees become radians; the interval of row i is its stamp minus the one before.
    assert log.yaw[5] == pytest.approx(math.radians(trace["yaw"][5]))
    assert log.duration[5] == pytest.approx(trace["tstamp"][5] - trace["tstamp"][4])
    assert log.duration[0] == pytest.approx(1 / 15) and log.held[0] and not log.run[0]
    own = open_loop_errors(log, model, (1, 15))
    other = open_loop_errors(log, KinematicBicycle(CarParams()), (15,))
    assert own[1].summary()["pos_median"] < 1e-3
    assert own[15].summary()["pos_median"] < 0.01
    assert other[15].summary()["pos_median"] > 10 * own[15].summary()["pos_median"]
    # No window crosses an episode: each has 79 run rows after PREPARE, and a window of 15 needs
    # 15 of them and a pose after them, from its second row on: rows 1..64.
    assert len(log.windows(15)) == 3 * (79 - 15)


def test_the_observer_estimates_an_unlogged_wheel_angle(tmp_path):
    # The logged car's wheels sit 3 degrees off what they are told (a trim the model lacks):
    # replaying the commands alone starts each prediction with the wrong angle; the observer
    # reads it from the logged turns. A perfectly modelled log is left as it is.
    params = CarParams()
    slow = dataclasses.replace(DEEPRACER_2026, steering_lag=0.4)
    truth = ServoBicycle(params, slow)
    trimmed = _Trimmed(params, slow)
    log = MotionLog.from_simtrace(read_simtrace(synthetic_log(tmp_path, trimmed)))
    model = ServoBicycle(params, slow)
    blind = open_loop_errors(log, model, (15,))[15].summary()["pos_median"]
    observed = dataclasses.replace(slow, observer_gain=0.5)
    seeing = open_loop_errors(log, ServoBicycle(params, observed), (15,))[15]
    assert seeing.summary()["pos_median"] < 0.8 * blind
    own = MotionLog.from_simtrace(read_simtrace(synthetic_log(tmp_path, truth)))
    exact = open_loop_errors(own, ServoBicycle(params, observed), (1,))[1]
    assert exact.summary()["pos_median"] < 1e-3


class _Trimmed(ServoBicycle):
    def step(self, state, steering, speed, dt, hold=None):
        super().step(state, steering + math.radians(3.0), speed, dt, hold)


def test_the_wheels_carry_over_a_reset_and_the_replay_follows_them(tmp_path):
    # Each synthetic episode ends on a steering command, which the next one's wheels still hold
    # when it starts: the replay runs on across the resets of one simulation.
    model = ServoBicycle(CarParams(), DEEPRACER_2026)
    log = MotionLog.from_simtrace(read_simtrace(synthetic_log(tmp_path, model)))
    starts = np.flatnonzero(log.first)
    assert list(log.continued[starts]) == [False, True, True]
    assert log.stopped[starts[1:]].all() and not log.placed.any()
    states = hidden_states(log, model)
    assert abs(states["steering"][starts[1]]) > math.radians(3.0)
    assert states["speed"][starts[1]] == 0.0


def test_deepracer_on_aws_placing_the_car_again_is_not_a_step(tmp_path):
    # DROA sets the start pose again after the PREPARE row is read: the step after it runs
    # backwards, which no car can do in one step from 2 m/s. That step is in no window.
    model = ServoBicycle(CarParams(), DEEPRACER_2026)
    trace = read_simtrace(synthetic_log(tmp_path, model, episodes=1))
    log = MotionLog.from_simtrace(trace)
    assert not log.placed.any()
    trace["X"][1] += 0.1  # rolled on during PREPARE
    trace["X"][2] = trace["X"][0]  # put back on the start pose
    moved = MotionLog.from_simtrace(trace)
    assert list(np.flatnonzero(moved.placed)) == [1] and not moved.continued.any()
    assert 1 not in moved.windows(15) and 2 in moved.windows(15)


def test_the_placing_shows_on_deepracer_on_aws_logs_only():
    require(DROA)
    require(DRFC)
    droa = MotionLog.from_simtrace(read_simtrace(find_simtraces(DROA)["training"]))
    drfc = MotionLog.from_simtrace(read_simtrace(find_simtraces(DRFC)["training"]))
    assert droa.placed.sum() == 32 and droa.first.sum() == 40
    assert drfc.placed.sum() == 0 and drfc.stopped.sum() > 500


def test_pause_rows_and_resets_are_never_predicted_across():
    require(DROA)
    log = MotionLog.from_simtrace(read_simtrace(find_simtraces(DROA)["evaluation"]))
    trace = read_simtrace(find_simtraces(DROA)["evaluation"])
    status = trace["episode_status"].astype(str)
    assert (status == "pause").sum() == 31
    for start in log.windows(15):
        assert set(status[start : start + 15]) == {"in_progress"}
    assert log.held[status == "pause"].all() and (log.speed[status == "pause"] == 0).all()


def test_every_real_layout_is_found(tmp_path):
    require(DRFC)
    require(DROA)
    droa = find_simtraces(DROA)
    assert len(droa["training"]) == 2 and len(droa["evaluation"]) == 1  # DROA's own layout
    assert {p.name for p in droa["training"]} == {"0-iteration.csv", "1-iteration.csv"}
    trace = read_simtrace(droa["training"])
    assert np.isfinite(trace["wall_clock"]).all()  # its 19th column is read
    # deepracer-for-cloud with two workers, and the console's download, built from real files.
    files = sorted((DRFC / "training-simtrace").glob("*.csv"))[:2]
    for worker in ("0", "1"):
        (tmp_path / "multi" / worker / "training-simtrace").mkdir(parents=True)
        for f in files:
            shutil.copy(f, tmp_path / "multi" / worker / "training-simtrace" / f.name)
    console = tmp_path / "console" / "sim-trace" / "training" / "training-simtrace"
    console.mkdir(parents=True)
    shutil.copy(files[0], console / files[0].name)
    multi = find_simtraces(tmp_path / "multi")["training"]
    assert len(multi) == 4
    log = MotionLog.from_simtrace(read_simtrace(multi))
    single = MotionLog.from_simtrace(read_simtrace(files))
    assert len(log.windows(15)) == 2 * len(single.windows(15))  # workers never run together
    assert len(find_simtraces(tmp_path / "console")["training"]) == 1


@pytest.mark.parametrize(
    ("folder", "kind", "model", "median", "p90"),
    [
        ("droa-spain", "evaluation", "deepracer", 0.10, 0.25),
        ("drfc-reinvent-base-full", "evaluation", "deepracer_2022", 0.10, 0.25),
        ("drfc-reinvent-base-full", "training", "deepracer_2022", 0.10, 0.25),
    ],
)
def test_the_fitted_cars_on_real_logs(folder, kind, model, median, p90):
    require(DEEPRACER_LOGS / folder)
    log = MotionLog.from_simtrace(read_simtrace(find_simtraces(DEEPRACER_LOGS / folder)[kind]))
    fitted = open_loop_errors(log, make_motion_model(model, CarParams()), (15,))[15].summary()
    kinematic = open_loop_errors(log, make_motion_model("kinematic", CarParams()), (15,))
    baseline = open_loop_errors(log, None, (15,))[15].summary()
    assert fitted["pos_median"] <= median and fitted["pos_p90"] <= p90
    assert kinematic[15].summary()["pos_median"] > 5 * fitted["pos_median"]
    assert baseline["pos_median"] > 5 * fitted["pos_median"]
