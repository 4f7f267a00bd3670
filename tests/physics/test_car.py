"""The car model against closed forms: straight lines, constant-steer circles, clamps, lag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.physics.car import (
    CarParams,
    CarState,
    FrictionLimitedBicycle,
    KinematicBicycle,
)
from racer.physics.motion import make_motion_model

INSTANT = CarParams(speed_lag=0.0)


def drive(model, steps, steering, speed, dt=1 / 15, n=1):
    state = CarState(n)
    for _ in range(steps):
        model.step(state, np.full(n, steering), np.full(n, speed), dt)
    return state


def test_straight_line_distance():
    state = drive(KinematicBicycle(INSTANT), 15, 0.0, 2.0)
    assert state.x[0] == pytest.approx(2.0)
    assert state.y[0] == pytest.approx(0.0)


def test_constant_steer_circle_radius():
    steer = math.radians(20.0)
    radius = INSTANT.wheelbase / math.tan(steer)  # rear-axle circle
    state = CarState(1)
    model = KinematicBicycle(INSTANT)
    rear = []
    for _ in range(40):
        model.step(state, np.array([steer]), np.array([1.0]), 1 / 15)
        rear.append(
            (state.x[0] + INSTANT.rear_axle * math.cos(state.yaw[0]),
             state.y[0] + INSTANT.rear_axle * math.sin(state.yaw[0]))
        )  # fmt: skip
    rear = np.array(rear)
    centre = np.array([INSTANT.rear_axle, radius])  # the rear axle starts at (rear_axle, 0)
    assert np.linalg.norm(rear - centre, axis=1) == pytest.approx(radius, abs=1e-9)


def test_commands_are_clipped():
    state = drive(KinematicBicycle(INSTANT), 1, math.radians(80), 9.0)
    assert state.steering[0] == pytest.approx(math.radians(30))
    assert state.speed[0] == pytest.approx(4.0)
    state = drive(KinematicBicycle(INSTANT), 1, 0.0, 0.01)
    assert state.speed[0] == pytest.approx(0.1)
    state = drive(KinematicBicycle(INSTANT), 1, 0.0, 0.0)
    assert state.speed[0] == pytest.approx(0.1)  # speed 0 is raised to the minimum, as DeepRacer
    state = CarState(1)
    KinematicBicycle(INSTANT).step(
        state, np.array([0.5]), np.array([2.0]), 1 / 15, np.array([True])
    )
    assert state.x[0] == 0.0 and state.steering[0] == 0.0  # held (PREPARE, pause): stays put


def test_speed_lag_first_order_response():
    params = CarParams(speed_lag=0.3)
    state = drive(KinematicBicycle(params), 15, 0.0, 2.0)
    assert state.speed[0] == pytest.approx(2.0 * (1 - math.exp(-1.0 / 0.3)))
    # distance = integral of 2 (1 - exp(-t/tau)) over 1 s
    assert state.x[0] == pytest.approx(2.0 * (1.0 - 0.3 * (1 - math.exp(-1.0 / 0.3))))


def test_friction_limit_widens_the_turn_at_speed():
    kin = drive(KinematicBicycle(INSTANT), 2, math.radians(30), 3.0)
    slide = drive(FrictionLimitedBicycle(INSTANT), 2, math.radians(30), 3.0)
    # Grip caps the yaw rate at mu g / v: 0.5 * 9.81 / 3 rad/s over two steps.
    assert slide.yaw[0] == pytest.approx(0.5 * 9.81 / 3.0 * 2 / 15)
    slow_kin = drive(KinematicBicycle(INSTANT), 10, math.radians(30), 0.5)
    slow_slide = drive(FrictionLimitedBicycle(INSTANT), 10, math.radians(30), 0.5)
    assert abs(slide.yaw[0]) < abs(kin.yaw[0])  # turns less than the wheels point
    assert slow_slide.x[0] == pytest.approx(slow_kin.x[0])  # within grip: identical


def test_batched_equals_single():
    model = KinematicBicycle(CarParams())
    rng = np.random.default_rng(3)
    steer, speed = rng.uniform(-0.5, 0.5, (20, 8)), rng.uniform(0.1, 4, (20, 8))
    batch = CarState(8)
    singles = [CarState(1) for _ in range(8)]
    for k in range(20):
        model.step(batch, steer[k], speed[k], 1 / 15)
        for i, s in enumerate(singles):
            model.step(s, steer[k, i : i + 1], speed[k, i : i + 1], 1 / 15)
    assert batch.x.tolist() == [s.x[0] for s in singles]
    assert batch.yaw.tolist() == [s.yaw[0] for s in singles]


def test_wheel_positions_and_model_point():
    params = CarParams()
    state = CarState(1)
    state.place(np.array([0]), np.array([1.0]), np.array([2.0]), np.array([math.pi / 2]))
    wx, wy = np.zeros((1, 4)), np.zeros((1, 4))
    state.wheel_positions(params, wx, wy)
    # Facing +y: the left wheels are at smaller x.
    assert wx[0].tolist() == pytest.approx([1 - 0.081, 1 - 0.0795, 1 + 0.081, 1 + 0.0795])
    assert wy[0].tolist() == pytest.approx([2 - 0.0817, 2 + 0.0823, 2 - 0.0817, 2 + 0.0823])
    mx, my = np.zeros(1), np.zeros(1)
    state.points_ahead(params.model_point, mx, my)
    assert (mx[0], my[0]) == pytest.approx((1.0, 2.14))


def test_bad_params_and_model_names():
    with pytest.raises(ConfigError, match="wheelbase"):
        CarParams(wheelbase=0.0, front_axle=0.0, rear_axle=0.0)
    with pytest.raises(ConfigError, match="kinematic"):
        make_motion_model("rocket", CarParams())
