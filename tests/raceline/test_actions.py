"""The race recipe's action space, made from the racing line and the car."""

from __future__ import annotations

import numpy as np

from racer.physics.car import CarParams
from racer.physics.motion import DEFAULT_MOTION_MODEL, make_motion_model
from racer.raceline.actions import (
    RECOVERY_SPEED,
    SPEED_ROOM,
    STEERING_ROOM,
    racing_action_space,
    racing_continuous_space,
    racing_line_commands,
)
from racer.track import load_track


def test_the_action_space_is_the_lines_commands_mirrored_with_recovery():
    track = load_track("oval")
    model = make_motion_model(DEFAULT_MOTION_MODEL, CarParams())
    space = racing_action_space(track, model)
    table = set(zip(space.steering_angle_deg, space.speed, strict=True))
    assert len(table) == len(space.speed) <= 2 * 6 + 3  # mirrored, straight, recovery
    assert all((-a, v) in table for a, v in table)  # every steering both ways
    assert (30.0, RECOVERY_SPEED) in table and (-30.0, RECOVERY_SPEED) in table
    steering, speed = racing_line_commands(track, model)
    assert (0.0, round(float(np.clip(speed, 0.5, 4.0).max()), 1)) in table
    assert all(0.5 <= v <= 4.0 and abs(a) <= 30.0 for a, v in table)
    # the line's own commands are near an action: at most a few degrees and 0.5 m/s away
    commands = np.column_stack([np.degrees(steering), np.clip(speed, 0.5, 4.0)])
    actions = np.array(sorted(table))
    gap = np.abs(commands[:, None, :] - actions[None, :, :])
    nearest = np.min(gap[..., 0] / 30.0 + gap[..., 1] / 3.5, axis=1)
    assert np.percentile(nearest, 90) < 0.1
    assert racing_action_space(track, model) == space  # seeded: the same every time


def test_the_continuous_box_holds_the_lines_commands_with_room_to_correct():
    track = load_track("oval")
    model = make_motion_model(DEFAULT_MOTION_MODEL, CarParams())
    box = racing_continuous_space(track, model)
    steering, speed = racing_line_commands(track, model)
    reach = np.degrees(np.abs(steering).max() + STEERING_ROOM)
    assert box.steering_low_deg == -box.steering_high_deg == -np.ceil(reach)
    assert box.speed_low == np.floor((np.clip(speed, 0.5, 4.0).min() - SPEED_ROOM) * 10) / 10
    assert box.speed_high == 4.0  # oval's straights reach the top speed
    # oval (numbers pinned): the line steers at most 7 deg and is never slower than 3.1 m/s
    assert (box.steering_high_deg, box.speed_low) == (12.0, 2.6)


def test_the_continuous_box_stays_inside_the_consoles_limits():
    model = make_motion_model(DEFAULT_MOTION_MODEL, CarParams())
    for name in ("oval", "kidney", "hairpin_comb_cw", "technical_narrow"):
        box = racing_continuous_space(load_track(name), model)
        assert -30.0 <= box.steering_low_deg < 0.0 < box.steering_high_deg <= 30.0
        assert 0.5 <= box.speed_low < box.speed_high <= 4.0
