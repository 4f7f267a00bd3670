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

Every failing call is grouped by its problem; the first of each kind keeps its params in a JSON
file that ``racer validate REWARD.py --params FILE`` replays. The report also gives the reward's
distribution on and off the track, and `draw_reward_map` draws where on the track it pays.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.autopilot import Autopilot
from racer.env.config import EnvConfig
from racer.env.racer_env import RacerEnv
from racer.errors import RewardFunctionError
from racer.physics.actions import DiscreteActionSpace
from racer.physics.model_metadata import DEFAULT_MODEL_METADATA, load_model_metadata
from racer.plots.reward import RewardMapPanel, draw_reward_map
from racer.reward.console import ERROR, Finding, check_source
from racer.reward.objects import ObjectTable, describe_obstacles, fill_object_keys
from racer.reward.params import params_at_poses
from racer.reward.plugin import (
    DEFAULT_TIMEOUT,
    RewardCallError,
    RewardFunction,
    guarded_calls,
    resolve_reward_path,
    write_failure_params,
)
from racer.track import Track, load_track
from racer.track.bots import BotConfig
from racer.track.obstacles import ObstacleConfig, place_obstacles

#: Lateral positions of the heat map, in lane units (+-1 the lane mid-lines, +-2 the borders).
MAP_LANES = (-2.6, -2.0, -1.6, -1.2, -0.8, -0.4, 0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.6)
#: Stop calling after this many failures (or the first time-out): the report has what it needs.
MAX_FAILURES = 5000
#: The console's five synthetic cars.
CONSOLE_CARS = ("valid", "start", "mid-lap", "off track", "finish")


@dataclass
class CallFailure:
    """Failing calls that share one problem.

    Attributes:
        problem: what went wrong (``raised ZeroDivisionError: ...``).
        case: where the first one happened (``sweep, reversed``).
        message: the full error of the first one, with the user's traceback.
        count: how many calls failed this way.
        params_file: the first failing call's params, replayable with ``--params``.
        cases: how many failed in each case.
    """

    problem: str
    case: str
    message: str
    count: int = 1
    params_file: Path | None = None
    cases: dict[str, int] = field(default_factory=dict)


@dataclass
class ValidationReport:
    """Everything `validate_reward_function` found. ``ok`` is the verdict.

    Attributes:
        path: the reward file.
        track: the track it was checked on.
        findings: static findings (`check_source`).
        load_error: why the file could not be loaded, if it could not.
        console_cars: (car, result) for the console's five cars; the result is the returned
            value or the failure's problem.
        failures: failing calls grouped by problem.
        stopped_early: the sweep stopped after a time-out or too many failures.
        calls: reward calls made.
        rewards: (M,) rewards of the sweep's calls that succeeded.
        on_track: (M,) whether that call's car had all wheels on the track.
        off_track: (M,) whether that call's car was off the track (DeepRacer's ``is_offtrack``).
        episodes: (case, final status, steps) of the real episodes.
        printed: the lines the function printed.
        seconds: wall time of the whole validation.
        heatmap: the written heat map, if one was asked for.
    """

    path: Path
    track: Track | None = None
    findings: list[Finding] = field(default_factory=list)
    load_error: str = ""
    console_cars: list[tuple[str, str]] = field(default_factory=list)
    failures: dict[str, CallFailure] = field(default_factory=dict)
    stopped_early: bool = False
    calls: int = 0
    rewards: np.ndarray = field(default_factory=lambda: np.zeros(0))
    on_track: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    off_track: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    episodes: list[tuple[str, str, int]] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    heatmap: Path | None = None

    @property
    def ok(self) -> bool:
        """True when nothing would make a training run fail (console-only findings allowed)."""
        return (
            not self.load_error
            and not self.failures
            and not any(f.severity == ERROR for f in self.findings)
        )

    @property
    def console_ok(self) -> bool:
        """True when the DeepRacer console would accept the file too."""
        return (
            self.ok
            and not self.findings
            and all(result.startswith("float") for _, result in self.console_cars)
        )

    def format(self) -> str:
        """The report as text for the terminal."""
        return _format(self)


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
) -> ValidationReport:
    """Check a reward function as the console does, then as a whole training would use it.

    Args:
        path: the reward file, or the name of a bundled example.
        track: the track to check on (a bundled name or a ``.npy`` path).
        model_metadata: the ``model_metadata.json`` whose actions the sweep uses; empty for
            racer's default action space.
        heatmap: where to save the reward heat map (PNG); None for none.
        failure_dir: where to save the params of failing calls; None: next to the heat map, or
            a temporary folder.
        timeout: [s] the longest one call may take.
        seed: seeds the sweep's random poses and actions.
        episodes: also drive real episodes through the simulator.
        obstacles: check in object avoidance: the sweep's cars see these boxes (placed as in
            training; a randomized layout is drawn once from ``seed``) in their object keys, and
            the episodes drive among them.
        bots: check in head-to-bot: the episodes drive among these bot cars.

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
        function = RewardFunction(path, timeout=timeout, output=printed, save_failures=False)
    except RewardFunctionError as exc:
        report.load_error = str(exc)
        report.seconds = time.perf_counter() - started
        return report
    caller = _Caller(function, report, Path(failure_dir) if failure_dir else None, printed)
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
    if episodes and not report.stopped_early:
        config = EnvConfig(track=str(track), model_metadata=str(model_metadata),
                           strict_action_space=False, reward_timeout=timeout,
                           obstacles=obstacles or ObstacleConfig(),
                           bots=bots or BotConfig())  # fmt: skip
        for reverse in (False, True):
            caller.episode(config, path, reverse=reverse, off_track=False)
        caller.episode(config, path, reverse=False, off_track=True)
    report.printed = printed.getvalue().splitlines()
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


class _Caller:
    """Calls the function, collects rewards, groups failures, saves the first params of each."""

    def __init__(
        self,
        function: RewardFunction,
        report: ValidationReport,
        failure_dir: Path | None,
        printed: io.StringIO,
    ) -> None:
        self.function = function
        self.report = report
        self.failure_dir = failure_dir
        self.printed = printed
        self.rewards: list[np.ndarray] = []

    def _fail(self, error: RewardCallError, case: str, params: dict[str, Any]) -> None:
        report = self.report
        known = report.failures.get(error.problem)
        if known is not None:
            known.count += 1
        else:
            dump = write_failure_params(params, self.function.path, str(error), self.failure_dir)
            known = CallFailure(error.problem, case, str(error), 1, dump)
            report.failures[error.problem] = known
        group = case.split(", step")[0]
        known.cases[group] = known.cases.get(group, 0) + 1
        if (
            "limit of" in error.problem
            or sum(f.count for f in report.failures.values()) >= MAX_FAILURES
        ):
            report.stopped_early = True

    def call(self, params: dict[str, Any], case: str) -> float | None:
        if self.report.stopped_early:
            return None
        self.report.calls += 1
        try:
            return self.function(params)
        except RewardCallError as error:
            self._fail(error, case, params)
            return None

    def sweep(self, params_list: Sequence[dict[str, Any]], case: str) -> np.ndarray:
        """Call for every params; (N,) rewards, NaN where the call failed or was skipped."""
        out = np.full(len(params_list), np.nan)
        with guarded_calls(self.function.timeout, self.printed):
            for i, params in enumerate(params_list):
                value = self.call(params, case)
                if value is not None:
                    out[i] = value
        report = self.report
        ok = np.isfinite(out)
        report.rewards = np.concatenate([report.rewards, out[ok]])
        kept = [p for p, good in zip(params_list, ok, strict=True) if good]
        on = np.array([p["all_wheels_on_track"] for p in kept], dtype=bool)
        off = np.array([p["is_offtrack"] for p in kept], dtype=bool)
        report.on_track = np.concatenate([report.on_track, on])
        report.off_track = np.concatenate([report.off_track, off])
        return out

    def episode(self, config: EnvConfig, path: Path, *, reverse: bool, off_track: bool) -> None:
        """Drive one episode in the simulator: an autopilot lap, or a car driving off the road."""
        case = ("off-track episode" if off_track else "lap") + (", reversed" if reverse else "")
        function = RewardFunction(path, timeout=self.function.timeout, save_failures=False)
        env = RacerEnv(replace(config, reverse=reverse), reward_function=function)
        pilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
        env.reset(seed=0)
        if off_track:
            action = _straight_ahead(env.core.action_space)
        else:  # the PREPARE step ignores it; the autopilot drives from the next step on
            action = np.zeros(env.action_space.shape, env.action_space.dtype)
        status, steps = "max_steps", 0
        with guarded_calls(self.function.timeout, self.printed):
            for steps in range(1, 4001):  # noqa: B007 - steps is reported after the loop
                try:
                    _, _, terminated, truncated, info = env.step(action)
                except RewardCallError as error:
                    self._fail(error, f"{case}, step {int(error.params['steps'])}", error.params)
                    status = "reward function failed"
                    break
                self.report.calls += 1
                if terminated or truncated:
                    status = info["episode_status"]
                    break
                if not off_track:
                    action = pilot.act(info["params"])
        env.close()
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
    params = params_at_poses(track, x, y, np.degrees(yaw), speed=speed, steering_angle=0.0,
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
    heading = np.degrees(yaw) + rng.normal(0.0, 25.0, n)
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
        track, x, y, np.degrees(yaw), speed=np.array([actions[i][1] for i in choice]),
        steering_angle=np.array([actions[i][0] for i in choice]), steps=np.full(n, 250.0),
        start_progress=0.0, prev_progress=prev, sim_time=250.0 / 15.0,
    )  # fmt: skip


def _console_cars(caller: _Caller, track: Track) -> None:
    """The console validator's five synthetic cars, each checked for a real float."""
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
    for name, p in zip(CONSOLE_CARS, params, strict=True):
        value = caller.call(p, f"DeepRacer console's {name} car")
        if value is None:
            caller.report.console_cars.append((name, "failed"))
        else:
            kind = caller.function.last_type.__name__
            caller.report.console_cars.append((name, f"{kind} {value:.6g}"))


# ---------------------------------------------------------------------------------- report
def _stats(values: np.ndarray) -> str:
    if len(values) == 0:
        return "no samples"
    p = np.percentile(values, [0, 5, 50, 95, 100])
    return (f"n={len(values):,}  min {p[0]:.4g}  p5 {p[1]:.4g}  median {p[2]:.4g}  "
            f"p95 {p[3]:.4g}  max {p[4]:.4g}  mean {values.mean():.4g}")  # fmt: skip


def _histogram(values: np.ndarray, bins: int = 8, width: int = 40) -> list[str]:
    if len(values) == 0 or np.ptp(values) == 0:
        return []
    counts, edges = np.histogram(values, bins=bins)
    top = counts.max()
    rows = []
    for i, count in enumerate(counts):
        bar = "#" * int(round(width * count / top))
        rows.append(f"  {edges[i]:>10.4g} .. {edges[i + 1]:<10.4g} {bar:<{width}} {count:,}")
    return rows


def _format(report: ValidationReport) -> str:
    lines = []
    track = report.track
    where = f" on {track.name} ({track.length:.2f} m)" if track is not None else ""
    lines.append(f"racer validate {report.path}{where}")
    lines.append("")
    lines.append("DeepRacer console checks")
    if report.findings:
        lines += [f"  {f}" for f in report.findings]
    elif not report.load_error:
        lines.append("  ok: syntax, names, imports, forbidden builtins, one parameter")
    if report.load_error:
        lines.append("")
        lines.append("cannot load the reward function:")
        lines.append(f"  {report.load_error}")
        lines.append("")
        lines.append("result: FAIL. Fix the file and run racer validate again.")
        return "\n".join(lines)
    if report.console_cars:
        cars = "; ".join(f"{name}: {result}" for name, result in report.console_cars)
        lines.append(f"  five synthetic cars: {cars}")
        not_float = [name for name, result in report.console_cars
                     if not result.startswith("float") and result != "failed"]  # fmt: skip
        if not_float:
            lines.append(f"  [console would reject] the {', '.join(not_float)} car got no "
                         "float: the console wants float(reward) (racer converts)")  # fmt: skip
    lines.append("")
    lines.append("racer checks")
    lines.append(f"  {report.calls:,} reward calls: the whole track both ways, on and off the "
                 "road, every action, the lap wrap-around, and real episodes")  # fmt: skip
    for case, status, steps in report.episodes:
        lines.append(f"  {case}: {status} after {steps} steps")
    lines += _format_failures(report)
    if len(report.rewards):
        lines.append("")
        lines.append("reward distribution over the sweep")
        on = report.rewards[report.on_track]
        off = report.rewards[report.off_track]
        lines.append(f"  all wheels on track: {_stats(on)}")
        lines.append(f"  off track:           {_stats(off)}")
        lines += _histogram(report.rewards)
        lines += _hints(report, on, off)
    if report.printed:
        lines.append("")
        lines.append(f"printed {len(report.printed):,} lines (training sends them to the run's "
                     "log), the first:")  # fmt: skip
        lines += [f"  | {line}" for line in report.printed[:3]]
    if report.heatmap is not None:
        lines.append("")
        lines.append(f"heat map: {report.heatmap}")
    lines.append("")
    verdict = ("OK: it would run a whole training without failing" if report.ok else
               "FAIL: a training run would stop on the errors above")  # fmt: skip
    if report.ok and not report.console_ok:
        verdict += " (the DeepRacer console would reject it as it is, see above)"
    lines.append(f"result: {verdict} ({report.seconds:.1f} s)")
    return "\n".join(lines)


def _format_failures(report: ValidationReport) -> list[str]:
    if not report.failures:
        return []
    lines = ["", f"ERRORS ({sum(f.count for f in report.failures.values()):,} failing calls"
             f"{', stopped early' if report.stopped_early else ''}):"]  # fmt: skip
    for failure in report.failures.values():
        where = ", ".join(f"{case} ({n:,})" for case, n in failure.cases.items())
        lines.append(f"- {failure.count:,} x {failure.problem}; in {where}; the first:")
        lines += [f"    {line}" for line in failure.message.splitlines()]
        if failure.params_file is not None:
            lines.append(f"    params: {failure.params_file}")
            lines.append(f"    replay: racer validate {report.path} --params "
                         f"{failure.params_file}")  # fmt: skip
    return lines


def _hints(report: ValidationReport, on: np.ndarray, off: np.ndarray) -> list[str]:
    out = []
    if np.ptp(report.rewards) == 0:
        out.append("  note: the reward is the same everywhere: the car cannot learn from it")
    elif len(on) and len(off) and off.mean() >= on.mean():
        out.append("  note: off-track cars earn as much as on-track ones on average: the car "
                   "may learn to leave the road")  # fmt: skip
    return out
