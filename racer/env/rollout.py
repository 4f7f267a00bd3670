"""The one way to drive a core's cars: reset them, then act, step and look, step after step.

Evaluation, races, ``racer validate``'s driven episodes, ``racer drive``, the export check and
the run helpers all drive through `rollout`, a generator of `RolloutStep`: the loop (resets,
observations, decoding, who is still running, the step limit) lives here once, and each caller
only says how to act and what to keep. Training steps through the vectorised env instead, as
SB3 wants.

    for step in rollout(core, policy_driver(policy), rngs=[rng], max_steps=1000):
        keep(step.record(0))

A *driver* maps the observation (and the previous step's infos, None before the first step) to
the (N,) or (N, 2) actions of every car; `policy_driver` and `autopilot_driver` make the usual
ones. A race whose racers have their own action spaces passes ``decode`` to write each car's
commands itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.env.autopilot import Autopilot
from racer.env.core import RacerCore
from racer.physics.actions import ContinuousActionSpace

Driver = Callable[[Any, list[dict[str, Any]] | None], Any]


@dataclass(frozen=True)
class StepRecord:
    """One step of one car, as the evaluation simtrace logs it.

    Attributes:
        action: the action taken (index, or the [-1, 1] pair), plain Python.
        reward: the step's reward.
        done: whether the episode ended on this step.
        info: the env's info dict of the step (params, status, counts).
    """

    action: Any
    reward: float
    done: bool
    info: dict[str, Any]


def plain_action(actions: Any, i: int) -> Any:
    """Car ``i``'s action of a batch as plain Python: an int, or a [steering, speed] list.

    ``actions`` is an (N,) or (N, 2) array, or a list of per-car (1,) or (1, 2) arrays.
    """
    one = np.asarray(actions[i]) if isinstance(actions, list) else np.asarray(actions)[i : i + 1]
    one = one.reshape(-1) if one.ndim > 1 else one
    return one.tolist() if one.size > 1 else int(one.reshape(-1)[0])


@dataclass(frozen=True)
class RolloutStep:
    """What a step of `rollout` did, for every car of the core.

    The arrays and ``infos`` are the core's own (valid until the next step): copy what you keep.

    Attributes:
        step: 1 for the first step.
        actions: the driver's actions of the step.
        obs: the observation after the step.
        rewards: (N,) the step's rewards.
        done: (N,) bool the car's episode ended on this step (once per car, unless restarted).
        running: (N,) bool the car was still running when the step began.
        infos: the N info dicts of the step.
    """

    step: int
    actions: Any
    obs: Any
    rewards: np.ndarray
    done: np.ndarray
    running: np.ndarray
    infos: list[dict[str, Any]]

    def record(self, i: int) -> StepRecord:
        """Car ``i``'s step as a `StepRecord` (its info dict is the step's own)."""
        return StepRecord(plain_action(self.actions, i), float(self.rewards[i]),
                          bool(self.done[i]), self.infos[i])  # fmt: skip


def rollout(core: RacerCore, driver: Driver, *, rngs: Sequence[np.random.Generator],
            max_steps: int, restart: bool = True, restart_done: bool = False,
            decode: Callable[[Any], None] | None = None) -> Iterator[RolloutStep]:  # fmt: skip
    """Reset every car of ``core``, then step them all with ``driver`` until they are done.

    Args:
        core: the simulator; all its N cars drive.
        driver: maps (observation, previous infos or None) to every car's actions.
        rngs: (N,) one generator per car, for its starts (and objects).
        max_steps: the most steps to take.
        restart: start the round robin and the clocks over (`RacerCore.reset_cars`).
        restart_done: a car whose episode ended starts a new one and drives on, and the rollout
            runs all ``max_steps``; by default a finished car is no longer ``running`` and the
            rollout ends when no car is.
        decode: writes the actions into the core's ``steering``, ``speed`` and ``steering_deg``
            itself (racers with their own action spaces); default: the core's action space.

    Yields:
        A `RolloutStep` after every step.
    """
    n = core.n
    cars = np.arange(n)
    core.reset_cars(cars, rngs, restart=restart)
    running = np.ones(n, bool)
    obs, infos = core.observation(), None
    for step in range(1, max_steps + 1):
        actions = driver(obs, infos)
        if decode is None:
            core.step(np.asarray(actions))
        else:
            decode(actions)
            core.advance()
        infos = core.infos
        done = (core.terminated | core.truncated) & running
        if restart_done and done.any():
            ended = np.flatnonzero(done)
            core.reset_cars(ended, [rngs[i] for i in ended])
        obs = core.observation()
        yield RolloutStep(step, actions, obs, core.rewards, done, running.copy(), infos)
        if not restart_done:
            running &= ~done
            if not running.any():
                return


def policy_driver(policy: Any) -> Driver:
    """A driver of a policy with ``predict(obs) -> actions`` (`racer.train.policy.Policy`)."""
    return lambda obs, infos: policy.predict(obs)


def autopilot_driver(core: RacerCore) -> Driver:
    """A driver that follows the centre line with the core's car (`Autopilot`) on every car.

    The first step (PREPARE) ignores its action; from then on each car steers from its last
    params.
    """
    pilot = Autopilot(core.tracks, core.action_space, model=core.model)
    space = core.action_space
    shape = (core.n, 2) if isinstance(space, ContinuousActionSpace) else (core.n,)
    dtype = np.float32 if isinstance(space, ContinuousActionSpace) else np.int64

    def drive(obs: Any, infos: list[dict[str, Any]] | None) -> np.ndarray:
        if infos is None:
            return np.zeros(shape, dtype)
        return np.array([pilot.act(info["params"]) for info in infos], dtype)

    return drive


def constant_driver(core: RacerCore, action: Any) -> Driver:
    """A driver that takes ``action`` (one car's) on every car at every step."""
    actions = np.repeat(np.asarray(action)[None], core.n, axis=0)
    return lambda obs, infos: actions
