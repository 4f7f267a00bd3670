"""Environment throughput: steps/s of RacerEnv and RacerVecEnv, and where the time goes.

    python scripts/bench_env.py [--track oval] [--motion-model deepracer] [--seconds 5]
        [--sizes 1,8,64] [--obstacles 6] [--bots 3] [--repeats 3] [--isolation both]

Every run has the camera on and calls the bundled centre-line reward function (a Python file
loaded as DeepRacer would) for every car on every step. Cars drive a fixed cycle of actions and
reset automatically, so the figures include resets. ``--obstacles M`` runs the object-avoidance
race type (M boxes, fixed and then randomized per episode, crashes judged, drawn in every camera)
after the time trial, and prints its share of the time-trial steps/s (the median of ``--repeats``
pairs of runs, the time trial measured again just before each); ``--bots B`` does the same for
head-to-bot (B bot cars per car, randomized per episode, with lane changes, moving every step).
``--isolation`` picks where the reward calls run (`racer.reward.calls`): "process" (a worker
process, the default), "none" (in this process), or "both" (each figure for each, measured in
alternation, so that both see the same load).
Figures are wall-clock on this machine: noisy, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from dataclasses import replace

import numpy as np

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.racer_env import RacerEnv
from racer.env.vec_env import RacerVecEnv
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig
from racer.physics.motion import DEFAULT_MOTION_MODEL, MOTION_MODELS
from racer.reward.calls import DEFAULT_ISOLATION


def single_env(config: EnvConfig, seconds: float) -> float:
    env = RacerEnv(config)
    env.reset(seed=0)
    n_actions = env.action_space.n
    for k in range(50):  # warm up the compiled kernels
        env.step(k % n_actions)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            _, _, term, trunc, _ = env.step(steps % n_actions)
            steps += 1
            if term or trunc:
                env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def vec_env(config: EnvConfig, n: int, seconds: float) -> float:
    env = RacerVecEnv(config, n, seed=0)
    env.reset()
    n_actions = env.action_space.n
    actions = np.arange(n) % n_actions
    for _ in range(20):
        env.step(actions)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            env.step((actions + steps) % n_actions)
            steps += 1
    rate = steps * n / (time.perf_counter() - start)
    env.close()
    return rate


class Timed:
    """Wraps the core's stages with timers to show where a step's time goes."""

    def __init__(self, core: RacerCore) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.core = core
        for obj, name, label in (
            (core.tracks[0], "locate", "track queries"),
            (core.sensors.camera, "render", "camera"),
            (core.model, "step", "car physics"),
            (core, "_build_params", "params dicts"),
            (core, "_finish_episodes", "episode rules"),
            (core, "_fill_infos", "infos"),
        ):
            self._wrap(obj, name, label)
        if core.sensors.box_renderers:
            self._wrap(core.sensors.box_renderers[0], "render", "camera: boxes")
        if core.world.num_objects:
            self._wrap(core.world, "move", "object motion")
            self._wrap(core.world, "collide", "object hits")
        if core.reward.worker is not None:  # the whole round trip
            self._wrap(core.reward.worker, "call", "reward calls (worker)")
        calls = core.reward._calls
        calls[:] = [self._timed_reward(f) for f in calls]

    def _wrap(self, obj, name, label):
        inner = getattr(obj, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.totals[label] += time.perf_counter() - t

        object.__setattr__(obj, name, timed)

    def _timed_reward(self, fn):
        def timed(params, waypoints):
            t = time.perf_counter()
            try:
                return fn(params, waypoints)
            finally:
                self.totals["reward function calls"] += time.perf_counter() - t

        return timed


def breakdown(config: EnvConfig, n: int, steps: int = 300) -> None:
    env = RacerVecEnv(config, n, seed=0)
    env.reset()
    actions = np.arange(n) % env.action_space.n
    for _ in range(20):
        env.step(actions)
    timer = Timed(env.core)
    start = time.perf_counter()
    for k in range(steps):
        env.step((actions + k) % env.action_space.n)
    total = time.perf_counter() - start
    print(
        f"\nwhere the time goes, RacerVecEnv N={n} ({steps} steps, "
        f"{total / steps * 1e3:.2f} ms/step)"
    )
    accounted = 0.0
    for label, t in sorted(timer.totals.items(), key=lambda kv: -kv[1]):
        # The reward time is inside "params" only if nested; here the stages do not overlap.
        accounted += t
        print(f"  {label:24s} {t / total * 100:5.1f} %  {t / steps / n * 1e6:7.2f} us/car-step")
    rest = total - accounted
    label = "other (python, resets)"
    print(f"  {label:24s} {rest / total * 100:5.1f} %  {rest / steps / n * 1e6:7.2f} us/car-step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--track", default="oval")
    parser.add_argument("--motion-model", default=DEFAULT_MOTION_MODEL, choices=MOTION_MODELS)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sizes", default="1,8,64")
    parser.add_argument("--obstacles", type=int, default=0, help="also run with M boxes")
    parser.add_argument("--bots", type=int, default=0, help="also run with B bot cars per car")
    parser.add_argument("--repeats", type=int, default=3,
                        help="time-trial/race-type pairs per share (median reported)")  # fmt: skip
    parser.add_argument("--isolation", default=DEFAULT_ISOLATION,
                        choices=("process", "none", "both"),
                        help="where the reward calls run (default: racer's default)")  # fmt: skip
    args = parser.parse_args()
    config = EnvConfig(track=args.track, motion_model=args.motion_model)
    isolations = ["none", "process"] if args.isolation == "both" else [args.isolation]
    print(
        f"track {args.track}, camera 160x120 grayscale, reward follow_center_line.py, "
        f"{os.cpu_count()} CPUs, reward isolation {' / '.join(isolations)}"
    )
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = [replace(config, reward_isolation=isolation) for isolation in isolations]
    for label, measure in [("RacerEnv (single)", lambda c: single_env(c, args.seconds))] + [
        (f"RacerVecEnv N={n:<3d}", lambda c, n=n: vec_env(c, n, args.seconds)) for n in sizes
    ]:
        rates = [f"{measure(c):9,.0f}" for c in configs]
        print(f"{label:22s} {' / '.join(rates)} steps/s")
    for isolation, isolated in zip(isolations, configs, strict=True):
        print(f"\nreward isolation {isolation}:", end="")
        breakdown(isolated, max(sizes))
    config = configs[-1]
    for randomize in (False, True) if args.obstacles else ():
        where = "randomized per episode" if randomize else "fixed, DeepRacer's default"
        boxes = ObstacleConfig(count=args.obstacles, randomize=randomize)
        compare(f"object avoidance, {args.obstacles} boxes ({where})",
                replace(config, obstacles=boxes), config, sizes, args.seconds,
                args.repeats)  # fmt: skip
    if args.bots:
        bots = BotConfig(count=args.bots, randomize=True, lane_change=True)
        compare(f"head-to-bot, {args.bots} bot cars per car (randomized, lane changes)",
                replace(config, bots=bots), config, sizes, args.seconds,
                args.repeats)  # fmt: skip


def compare(title: str, config: EnvConfig, base: EnvConfig, sizes: list[int], seconds: float,
            repeats: int) -> None:  # fmt: skip
    """Steps/s of a race type at each size, as a share of the time trial's, and its breakdown.

    The time trial is measured again right before each of the ``repeats`` runs, so that each
    share compares two runs under the same load (this machine is shared); the median is the
    figure.
    """
    print(f"\n{title}:")
    for n in sizes:
        shares, rates = [], []
        for _ in range(repeats):
            plain = vec_env(base, n, seconds)
            rates.append(vec_env(config, n, seconds))
            shares.append(100.0 * rates[-1] / plain)
        listed = ", ".join(f"{v:.0f}" for v in shares)
        print(f"RacerVecEnv N={n:<3d}      {float(np.median(rates)):9,.0f} steps/s (median; "
              f"{float(np.median(shares)):.0f} % of the time trial, runs: {listed} %)")
    breakdown(config, max(sizes))


if __name__ == "__main__":
    main()
