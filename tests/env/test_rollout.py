"""The one rollout loop (racer.env.rollout) and the core's public per-car record."""

from __future__ import annotations

import numpy as np
import pytest

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.rollout import (
    autopilot_driver,
    constant_driver,
    plain_action,
    policy_driver,
    rollout,
)


def test_the_autopilot_laps_the_oval_and_the_rollout_ends_with_the_episode():
    core = RacerCore(EnvConfig(track="oval"), 1)
    steps = list(rollout(core, autopilot_driver(core), rngs=[np.random.default_rng(0)],
                         max_steps=2000))  # fmt: skip
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert [bool(s.done[0]) for s in steps] == [False] * (len(steps) - 1) + [True]
    assert all(s.running[0] for s in steps)
    last = steps[-1].record(0)
    assert last.done and last.info["episode_status"] == "lap_complete"
    assert isinstance(last.action, int) and isinstance(last.reward, float)
    core.close()


def test_each_car_runs_until_its_own_end_and_the_rollout_until_the_last():
    core = RacerCore(EnvConfig(track="oval"), 3)
    straight = constant_driver(core, 0)  # an action that leaves the oval at the first bend
    steps = list(rollout(core, straight, rngs=[np.random.default_rng(k) for k in range(3)],
                         max_steps=5000))  # fmt: skip
    done_at = {i: next(s.step for s in steps if s.done[i]) for i in range(3)}
    assert max(done_at.values()) == steps[-1].step
    for i, step_no in done_at.items():  # running until (and including) the step it ended on
        assert all(s.running[i] == (s.step <= step_no) for s in steps)
    core.close()


def test_restart_done_drives_on_for_every_step():
    core = RacerCore(EnvConfig(track="oval"), 2)
    steps = list(rollout(core, constant_driver(core, 0), rngs=[np.random.default_rng(k)
                                                                for k in range(2)],
                         max_steps=400, restart_done=True))  # fmt: skip
    assert len(steps) == 400
    assert sum(int(s.done.sum()) for s in steps) > 2  # several episodes each
    assert core.episodes.min() >= 1
    core.close()


def test_the_first_step_sees_no_infos_and_later_ones_the_previous_steps():
    core = RacerCore(EnvConfig(track="oval"), 1)
    seen = []

    def driver(obs, infos):
        seen.append(None if infos is None else infos[0]["steps"])
        return np.zeros(1, np.int64)

    list(rollout(core, driver, rngs=[np.random.default_rng(0)], max_steps=3))
    assert seen == [None, 1, 2]
    core.close()


def test_decode_writes_the_commands_itself():
    core = RacerCore(EnvConfig(track="oval"), 1)
    space = core.action_space

    def decode(actions):
        space.decode(np.asarray(actions), core.steering, core.speed, core.steering_deg)

    steps = list(rollout(core, lambda obs, infos: np.array([3]), rngs=[np.random.default_rng(0)],
                         max_steps=2, decode=decode))  # fmt: skip
    assert steps[-1].infos[0]["params"]["speed"] == space.speed[3]
    core.close()


class _Fixed:
    def __init__(self, action):
        self.action = action

    def predict(self, obs):
        return np.repeat(self.action[None], len(obs), axis=0)


def test_policy_driver_calls_predict_on_the_batch():
    core = RacerCore(EnvConfig(track="oval"), 2)
    steps = rollout(core, policy_driver(_Fixed(np.int64(2))), rngs=[np.random.default_rng(0),
                                                                     np.random.default_rng(1)],
                    max_steps=3)  # fmt: skip
    assert [s.record(1).action for s in steps] == [2, 2, 2]
    core.close()


@pytest.mark.parametrize(("actions", "expected"), [
    (np.array([4, 7]), 7),
    (np.array([[0.5, -1.0], [0.25, 1.0]], np.float32), [0.25, 1.0]),
    ([np.array([3]), np.array([[0.5, 0.0]], np.float32)], [0.5, 0.0]),
])  # fmt: skip
def test_plain_action_of_batches_and_per_car_lists(actions, expected):
    value = plain_action(actions, 1)
    assert value == expected and type(value) is type(expected)


def test_the_cars_public_record_is_its_state_after_the_step():
    core = RacerCore(EnvConfig(track="oval"), 2)
    for _ in rollout(core, constant_driver(core, 1), rngs=[np.random.default_rng(0),
                                                           np.random.default_rng(1)],
                     max_steps=5):  # fmt: skip
        pass
    record = core.record(1)
    assert (record.x, record.y, record.yaw) == (core.car.x[1], core.car.y[1], core.car.yaw[1])
    assert record.steps == 5 and record.reward == core.rewards[1]
    assert record.frame.shape == core.obs_shape and record.objects.shape == (0, 6)
    core.close()
