"""``racer validate``: will this reward function run a whole training without failing?

Three layers of checks, cheapest first:

1. **The DeepRacer console's checks** (SPEC 1.1): static ones on the source (`check_source`), then
   a call for each of the console's five synthetic cars (valid, start, mid-lap, off track,
   finish), whose result must be a real ``float`` within +-1e5.
2. **racer's sweep**: calls for cars spread over the whole track in both directions, on and off
   the road, at every heading, action and step count, and across the lap wrap-around (progress
   100, ``closest_waypoints`` at the end of the list). One module serves all calls, so state
   carried across calls is exercised too.
3. **Real episodes**: the autopilot drives a lap each way and a car steers off the road, through
   the simulator, so the function sees the params sequences of real episodes.

Every call runs in a worker process (`racer.reward.worker`), so nothing the function does can
hang or end ``racer validate``: a call stuck in C code is killed at its hard limit, a crash or an
``os._exit`` is reported as a failing call, and memory is capped; ``sandbox=True`` also cuts its
network, writes and programs. Every failing call is grouped by its problem; the first of each
kind keeps its params in a JSON file that ``racer validate REWARD.py --params FILE`` replays, and
a fatal one (a time-out, a crash, no memory left, a runaway recursion) ends the calls at once.
The report (`racer.lab.validate_report`) also gives the reward's distribution on and off the
track, and `draw_reward_map` draws where on the track it pays.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.config import EnvConfig
from racer.env.core import RacerCore
from racer.env.rollout import autopilot_driver, constant_driver, rollout
from racer.errors import RewardFunctionError
from racer.formats.model_metadata import DEFAULT_MODEL_METADATA, load_model_metadata
from racer.lab.validate_report import CallFailure, ValidationReport
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig, place_obstacles
from racer.objects.params import ObjectTable, describe_obstacles, fill_object_keys
from racer.physics.actions import DiscreteActionSpace
from racer.plots.reward import RewardMapPanel, draw_reward_map
from racer.reward.calls import RewardCalls
from racer.reward.console import check_source
from racer.reward.failures import RewardCallError, write_failure_params
from racer.reward.params import params_at_poses
from racer.reward.plugin import DEFAULT_TIMEOUT, resolve_reward_path
from racer.reward.worker import DEFAULT_MEMORY_LIMIT, RewardWorker
from racer.track import Track, load_track
from racer.units import rad_to_deg

#: Lateral positions of the heat map, in lane units (+-1 the lane mid-lines, +-2 the borders).
MAP_LANES = (-2.6, -2.0, -1.6, -1.2, -0.8, -0.4, 0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.6)
#: Stop calling after this many failures (or the first fatal one): the report has what it needs.
MAX_FAILURES = 5000
#: Save the params of at most this many failing calls: the first of each distinct problem.
MAX_SAVED_FAILURES = 5
#: The console's five synthetic cars.
CONSOLE_CARS = ("valid", "start", "mid-lap", "off track", "finish")
#: Objects the console's cars carry. The console's validator cars carry six objects, but
#: SPEC-deepracer.md gives no positions for them, so racer places six boxes along the checked
#: track (DeepRacer's evenly spaced object-avoidance layout) and fills the object keys from them.
CONSOLE_OBJECTS = 6


# ------------------------------------------------------------------------------ validation
def validate_reward_function(
    path: str | Path,
    track: str | Path = "oval",
    *,
    model_metadata: str | Path = "",
    heatmap: str | Path | None = None,
    failure_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    seed: int = 0,
    episodes: bool = True,
    obstacles: ObstacleConfig | None = None,
    bots: BotConfig | None = None,
    sandbox: bool = False,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> ValidationReport:
    """Check a reward function as the console does, then as a whole training would use it.

    Args:
        path: the reward file, or the name of a bundled example.
        track: the track to check on (a bundled name or a ``.npy`` path).
        model_metadata: the ``model_metadata.json`` whose actions the sweep uses; empty for
            racer's default action space.
        heatmap: where to save the reward heat map (PNG); None for none.
        failure_dir: where to save the params of failing calls (the first of each distinct
            problem, at most `MAX_SAVED_FAILURES`); None: ``validate-failures`` next to the heat
            map, or else a fresh ``racer-validate-*`` temporary folder made for this validation
            at its first failure (``report.failure_dir`` names it).
        timeout: [s] the longest one call may take.
        seed: seeds the sweep's random poses and actions.
        episodes: also drive real episodes through the simulator.
        obstacles: check in object avoidance: the sweep's cars see these boxes (placed as in
            training; a randomized layout is drawn once from ``seed``) in their object keys, and
            the episodes drive among them.
        bots: check in head-to-bot: the episodes drive among these bot cars.
        sandbox: run the calls in the sandbox of `racer.reward.sandbox` (no network, no
            writes, no programs).
        memory_limit: [bytes] the worker's address space; 0 for no limit.

    Raises:
        TrackError, ConfigError: the track or the model metadata cannot be loaded (nothing
            about the reward function is known then).
    """
    started = time.perf_counter()
    base = load_track(track)
    metadata = (
        load_model_metadata(model_metadata, strict=False) if model_metadata
        else DEFAULT_MODEL_METADATA
    )  # fmt: skip
    try:
        path = resolve_reward_path(path).resolve()
    except RewardFunctionError as exc:
        return ValidationReport(Path(path), base, load_error=str(exc))
    report = ValidationReport(path, base, findings=check_source(path))
    if failure_dir is None and heatmap is not None:
        failure_dir = Path(heatmap).parent / "validate-failures"
    printed = io.StringIO()
    try:
        worker = RewardWorker(path, 1, timeout=timeout, memory_limit=memory_limit,
                              sandbox=sandbox, output=printed, save_failures=False)  # fmt: skip
    except RewardFunctionError as exc:
        report.load_error = str(exc)
        report.seconds = time.perf_counter() - started
        return report
    report.sandbox, report.sandbox_missing = sandbox, worker.missing
    caller = _Caller(worker, report, Path(failure_dir) if failure_dir else None, printed)
    try:
        panels = _calls(caller, base, metadata, obstacles, seed)
        if episodes and not report.stopped_early:
            config = EnvConfig(track=str(track), model_metadata=str(model_metadata),
                               strict_action_space=False, reward_timeout=timeout,
                               obstacles=obstacles or ObstacleConfig(),
                               bots=bots or BotConfig())  # fmt: skip
            for reverse in (False, True):
                caller.episode(config, reverse=reverse, off_track=False)
            caller.episode(config, reverse=False, off_track=True)
    finally:
        worker.close()
    report.printed = printed.getvalue().splitlines()
    actions = _action_options(metadata.action_space)
    if heatmap is not None and all(np.isfinite(r).any() for _, _, r, _ in panels):
        speed = actions[len(actions) // 2][1]
        report.heatmap = draw_reward_map(
            [
                RewardMapPanel(t, xy[good, 0], xy[good, 1], r[good], f"{t.name} {label}: "
                               f"heading along the track, straight, {speed:g} m/s")
                for t, xy, r, label in panels
                for good in [np.isfinite(r)]
            ],
            heatmap,
            f"reward of {path.name} (failed calls left out)" if report.failures
            else f"reward of {path.name}",
        )  # fmt: skip
    report.seconds = time.perf_counter() - started
    return report


def _calls(caller: _Caller, base: Track, metadata: Any, obstacles: ObstacleConfig | None,
           seed: int) -> list[tuple[Track, np.ndarray, np.ndarray, str]]:  # fmt: skip
    """The console's cars, then the sweeps of each direction; the heat map's panels."""
    actions = _action_options(metadata.action_space)
    rng = np.random.default_rng(seed)
    _console_cars(caller, base)
    panels = []
    for direction in (base, base.reversed()):
        label = "reversed" if direction.reverse else "forward"
        boxes = _boxes(direction, obstacles, seed)
        map_params, xy = _map_poses(direction, actions)
        map_rewards = caller.sweep(_with_boxes(map_params, boxes), f"sweep, {label}")
        panels.append((direction, xy, map_rewards, label))
        random = _random_poses(direction, actions, rng, len(map_params))
        caller.sweep(_with_boxes(random, boxes), f"sweep, {label}")
        if direction.closed:
            wrap = _wraparound_poses(direction, actions, rng)
            caller.sweep(_with_boxes(wrap, boxes), f"lap wrap-around, {label}")
    return panels


class _Caller:
    """Calls the function, collects rewards, groups failures, saves the first params of each.

    Only the first `MAX_SAVED_FAILURES` distinct problems get a params file; with no
    ``failure_dir`` the first one makes this validation's own temporary folder.
    """

    def __init__(self, worker: RewardWorker, report: ValidationReport, failure_dir: Path | None,
                 printed: io.StringIO) -> None:  # fmt: skip
        self.worker = worker
        self.report = report
        self.failure_dir = failure_dir
        self.printed = printed

    def _fail(self, error: RewardCallError, case: str, params: dict[str, Any]) -> None:
        report = self.report
        known = report.failures.get(error.problem)
        if known is not None:
            known.count += 1
        else:
            dump = self._save(error, params)
            known = CallFailure(error.problem, case, str(error), 1, dump)
            report.failures[error.problem] = known
        group = case.split(", step")[0]
        known.cases[group] = known.cases.get(group, 0) + 1
        if error.fatal or sum(f.count for f in report.failures.values()) >= MAX_FAILURES:
            report.stopped_early = True

    def _save(self, error: RewardCallError, params: dict[str, Any]) -> Path | None:
        """Save one failing call's params, or None once `MAX_SAVED_FAILURES` are saved."""
        report = self.report
        if sum(f.params_file is not None for f in report.failures.values()) >= MAX_SAVED_FAILURES:
            return None
        if self.failure_dir is None:  # never the shared temp folder: one folder per validation
            try:
                self.failure_dir = Path(tempfile.mkdtemp(prefix="racer-validate-"))
            except OSError:
                return None
        report.failure_dir = self.failure_dir
        return write_failure_params(params, self.worker.path, str(error), self.failure_dir)

    def calls(self, params_list: Sequence[dict[str, Any]], case: str,
              types: bool = False) -> tuple[np.ndarray, list[str]]:  # fmt: skip
        """Call for every params in one batch; (N,) rewards, NaN where it failed or was skipped.

        Returns:
            The rewards and, with ``types``, each value's type name ("" where it failed).
        """
        out = np.full(len(params_list), np.nan)
        report = self.report
        if report.stopped_early or not params_list:
            return out, [""] * len(params_list)
        left = MAX_FAILURES - sum(f.count for f in report.failures.values())
        batch = self.worker.call([0] * len(params_list), list(params_list), max_failures=left,
                                 types=types)  # fmt: skip
        report.calls += batch.made
        for j, error in batch.failures:
            self._fail(error, case, params_list[j])
        for j, value in enumerate(batch.values):
            if value is not None:
                out[j] = value
        return out, batch.types

    def sweep(self, params_list: Sequence[dict[str, Any]], case: str) -> np.ndarray:
        """Call for every params; (N,) rewards, NaN where the call failed or was skipped."""
        out, _ = self.calls(params_list, case)
        report = self.report
        ok = np.isfinite(out)
        report.rewards = np.concatenate([report.rewards, out[ok]])
        kept = [p for p, good in zip(params_list, ok, strict=True) if good]
        on = np.array([p["all_wheels_on_track"] for p in kept], dtype=bool)
        off = np.array([p["is_offtrack"] for p in kept], dtype=bool)
        report.on_track = np.concatenate([report.on_track, on])
        report.off_track = np.concatenate([report.off_track, off])
        return out

    def episode(self, config: EnvConfig, *, reverse: bool, off_track: bool) -> None:
        """Drive one episode in the simulator: an autopilot lap, or a car driving off the road."""
        case = ("off-track episode" if off_track else "lap") + (", reversed" if reverse else "")
        worker = self.worker
        # The episode's own worker, with this validation's limits.
        calls = RewardCalls(worker.path, 1, timeout=worker.timeout, isolation="process",
                            sandbox=worker.sandbox, memory_limit=worker.memory_limit)
        calls.worker.save_failures = False  # `_fail` saves the first of each problem
        core = RacerCore(replace(config, reverse=reverse), 1, reward_function=calls)
        if off_track:
            driver = constant_driver(core, _straight_ahead(core.action_space))
        else:
            driver = autopilot_driver(core)
        status, steps = "max_steps", 0
        try:
            with contextlib.redirect_stdout(self.printed):  # the worker writes its prints there
                for step in rollout(core, driver, rngs=[np.random.default_rng(0)],
                                    max_steps=4000):  # fmt: skip
                    steps = step.step
                    self.report.calls += 1
                    if step.done[0]:
                        status = step.infos[0]["episode_status"]
        except RewardCallError as error:
            steps += 1
            self._fail(error, f"{case}, step {int(error.params['steps'])}", error.params)
            status = "reward function failed"
        finally:
            core.close()
        self.report.episodes.append((case, status, steps))


def _boxes(track: Track, obstacles: ObstacleConfig | None, seed: int) -> ObjectTable | None:
    """The boxes the sweep's cars see on ``track``, described, or None without boxes."""
    if obstacles is None or not obstacles.num_obstacles:
        return None
    rng = np.random.default_rng(seed) if obstacles.randomize else None
    return describe_obstacles(track, place_obstacles(track, obstacles, rng))


def _with_boxes(
    params_list: list[dict[str, Any]], table: ObjectTable | None
) -> list[dict[str, Any]]:
    """The params with the object keys of cars that see the boxes of ``table`` (in place)."""
    return params_list if table is None else fill_object_keys(params_list, table)


def _straight_ahead(space: Any) -> Any:
    """The straightest, fastest action: on a loop it leaves the road at the first bend."""
    if isinstance(space, DiscreteActionSpace):
        cost = np.abs(np.array(space.steering_angle_deg)) * 1000.0 - np.array(space.speed)
        return int(np.argmin(cost))
    low, high = space.steering_low_deg, space.steering_high_deg
    straight = np.clip(2.0 * (0.0 - low) / (high - low) - 1.0, -1.0, 1.0)
    return np.array([straight, 1.0], np.float32)


# ----------------------------------------------------------------------------------- poses
def _action_options(space: Any) -> list[tuple[float, float]]:
    """(steering [deg], speed [m/s]) pairs to try: every discrete action, or a grid."""
    if isinstance(space, DiscreteActionSpace):
        pairs = list(zip(space.steering_angle_deg, space.speed, strict=True))
    else:
        steer = np.linspace(space.steering_low_deg, space.steering_high_deg, 5)
        speed = np.linspace(space.speed_low, space.speed_high, 4)
        pairs = [(float(a), float(v)) for a in steer for v in speed]
    return sorted(pairs, key=lambda p: (p[1], p[0]))


def _stations(track: Track) -> np.ndarray:
    count = int(np.clip(track.length / 0.08, 150, 600))
    return (np.arange(count) + 0.5) * (track.length / count)


def _map_poses(
    track: Track, actions: list[tuple[float, float]]
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Cars on a grid over the track and its verges, heading along it, straight, mid speed."""
    s = np.repeat(_stations(track), len(MAP_LANES))
    lanes = np.tile(np.array(MAP_LANES), len(s) // len(MAP_LANES))
    x, y = track.lane_point_at(s, lanes)
    _, _, yaw = track.point_at(s)
    speed = actions[len(actions) // 2][1]
    steps = 2.0 + np.floor(s / track.length * 300.0)
    params = params_at_poses(track, x, y, rad_to_deg(yaw), speed=speed, steering_angle=0.0,
                             steps=steps)  # fmt: skip
    return params, np.column_stack([x, y])


def _random_poses(
    track: Track, actions: list[tuple[float, float]], rng: np.random.Generator, n: int
) -> list[dict[str, Any]]:
    """Cars anywhere near the track, any heading, action, step count and start point."""
    s = rng.uniform(0.0, track.length, n)
    lanes = rng.uniform(-2.8, 2.8, n)
    x, y = track.lane_point_at(s, lanes)
    _, _, yaw = track.point_at(s)
    heading = rad_to_deg(yaw) + rng.normal(0.0, 25.0, n)
    wild = rng.random(n) < 0.1
    heading[wild] = rng.uniform(-180.0, 180.0, wild.sum())
    choice = rng.integers(0, len(actions), n)
    steering = np.array([actions[i][0] for i in choice])
    speed = np.array([actions[i][1] for i in choice])
    steps = rng.integers(2, 2000, n).astype(np.float64)
    start = rng.uniform(0.0, 100.0, n) if track.closed else np.zeros(n)
    return params_at_poses(track, x, y, heading, speed=speed, steering_angle=steering,
                           steps=steps, start_progress=start, sim_time=steps / 15.0)  # fmt: skip


def _wraparound_poses(
    track: Track, actions: list[tuple[float, float]], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Cars crossing the start line of a loop: the last segment, progress 100, the first."""
    n = 200
    s = np.linspace(-0.6, 0.6, n)
    x, y = track.lane_point_at(np.mod(s, track.length), rng.uniform(-1.8, 1.8, n))
    _, _, yaw = track.point_at(np.mod(s, track.length))
    choice = rng.integers(0, len(actions), n)
    prev = np.where(s < 0.0, 100.0 + 100.0 * s / track.length - 0.3, 99.9)
    return params_at_poses(
        track, x, y, rad_to_deg(yaw), speed=np.array([actions[i][1] for i in choice]),
        steering_angle=np.array([actions[i][0] for i in choice]), steps=np.full(n, 250.0),
        start_progress=0.0, prev_progress=prev, sim_time=250.0 / 15.0,
    )  # fmt: skip


def _console_cars(caller: _Caller, track: Track) -> None:
    """The console validator's five synthetic cars, each checked for a real float.

    Like the console's, each car's object keys describe `CONSOLE_OBJECTS` objects (boxes here).
    """
    length = track.length
    ahead = 0.14  # the model point is 0.14 m ahead of a car whose body sits at the start
    s = np.array([0.25 * length, ahead, 0.5 * length, 0.3 * length,
                  0.02 if track.closed else length - 0.02])  # fmt: skip
    lanes = np.array([0.0, 0.0, 0.4, -3.0, 0.0])
    x, y = track.lane_point_at(s, lanes)
    _, _, yaw = track.point_at(s)
    prev = np.array([24.7, math.nan, 49.6, 29.7, 99.9 if track.closed else 99.8])
    params = [
        params_at_poses(track, x[i : i + 1], y[i : i + 1], np.degrees(yaw[i : i + 1]),
                        speed=1.0, steering_angle=0.0, steps=[75.0, 2.0, 150.0, 90.0, 300.0][i],
                        prev_progress=None if math.isnan(prev[i]) else [prev[i]])[0]
        for i in range(5)
    ]  # fmt: skip
    boxes = place_obstacles(track, ObstacleConfig(count=CONSOLE_OBJECTS))
    fill_object_keys(params, describe_obstacles(track, boxes))
    for name, p in zip(CONSOLE_CARS, params, strict=True):
        (value,), (kind,) = caller.calls([p], f"DeepRacer console's {name} car", types=True)
        if math.isnan(value):
            caller.report.console_cars.append((name, "failed"))
        else:
            caller.report.console_cars.append((name, f"{kind} {value:.6g}"))
