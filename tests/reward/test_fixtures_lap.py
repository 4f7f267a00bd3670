"""Community-style reward functions run unmodified through real laps, and do what they claim.

Every file in ``tests/data/reward_functions/good`` imitates a kind of reward function DeepRacer
users paste into the console, each written to survive one of the params edge cases real ones trip on
(float ``steps``, the int 100 ``progress``, the wrap-around bracket, zero-length segments, empty
object lists, module state across episodes...). Each drives a lap of the bundled oval with racer's
autopilot; the geometry-sensitive ones also drive the oval reversed, a circle with a duplicate
waypoint, and a real DeepRacer track with one (skipped without ``../shared``). The fixture-specific
tests read the fixtures' module state to check that the edge case was really met.
"""

from __future__ import annotations

import ast
import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from racer.env.autopilot import Autopilot
from racer.env.config import EnvConfig
from racer.env.racer_env import RacerEnv
from racer.reward.params import params_at_pose
from racer.reward.plugin import REWARD_LIMIT, RewardFunction
from racer.track import load_track
from tests.conftest import circle_rows, require_shared_tracks, shared_track_paths

GOOD_DIR = Path(__file__).resolve().parents[1] / "data" / "reward_functions" / "good"
GOOD = sorted(GOOD_DIR.glob("*.py"))


def good(name: str) -> Path:
    path = GOOD_DIR / f"{name}.py"
    assert path.exists(), path
    return path


# ------------------------------------------------------------------------------------- driving
@dataclass
class Episode:
    status: str
    rewards: list[float]  # the reward of every step the reward function was called on
    params: list[dict[str, Any]]  # racer's params of those steps (the function got a copy)


@dataclass
class Run:
    env: RacerEnv
    episodes: list[Episode]

    @property
    def module(self) -> Any:
        """The fixture as racer imported it: its globals are the function's state."""
        return self.env.core.reward.functions[0].module

    @property
    def params(self) -> list[dict[str, Any]]:
        return [p for e in self.episodes for p in e.params]

    @property
    def rewards(self) -> list[float]:
        return [r for e in self.episodes for r in e.rewards]


def drive(path: Path, track: str | Path = "oval", reverse: bool = False, episodes: int = 1) -> Run:
    """Drive ``episodes`` episodes with the autopilot, recording the rewards of RUN steps."""
    # In this process, so that the tests can read the module's state (`Run.module`).
    env = RacerEnv(EnvConfig(track=str(track), reverse=reverse, reward_function=str(path),
                             reward_isolation="none"))  # fmt: skip
    pilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    out = []
    for k in range(episodes):
        env.reset(seed=0 if k == 0 else None)
        action = np.zeros(env.action_space.shape, env.action_space.dtype)  # PREPARE ignores it
        episode = Episode("max_steps", [], [])
        for _ in range(3000):
            _, reward, terminated, truncated, info = env.step(action)
            if info["episode_status"] != "prepare":  # the reward function is not called there
                episode.rewards.append(reward)
                episode.params.append(info["params"])
            action = pilot.act(info["params"])
            if terminated or truncated:
                episode.status = info["episode_status"]
                break
        out.append(episode)
    return Run(env, out)


#: Fixtures whose state is about episodes: their oval run drives two.
TWO_EPISODES = {"global_counter", "steering_smoothness", "reward_class", "best_progress_memory"}


@functools.cache
def oval_run(name: str) -> Run:
    """The fixture's run on the oval, driven once and shared by the tests that only read it."""
    return drive(good(name), episodes=2 if name in TWO_EPISODES else 1)


def assert_lap(episode: Episode) -> None:
    assert episode.status == "lap_complete", episode.params[-1]["progress"]
    assert len(episode.rewards) > 100
    for reward in episode.rewards:
        assert type(reward) is float and math.isfinite(reward), reward
        assert -REWARD_LIMIT <= reward <= REWARD_LIMIT, reward
    assert episode.params[-1]["progress"] == 100 and type(episode.params[-1]["progress"]) is int


def brackets(run: Run) -> list[tuple[int, int]]:
    return [tuple(p["closest_waypoints"]) for p in run.params]


def zero_length_pairs(waypoints: list[tuple[float, float]]) -> set[tuple[int, int]]:
    """Index pairs (i, i + 1 mod n) of identical consecutive waypoints, the loop's closure too."""
    n = len(waypoints)
    return {(i, (i + 1) % n) for i in range(n) if waypoints[i] == waypoints[(i + 1) % n]}


# --------------------------------------------------- checks that hold on every track and direction
def check_lookahead_numpy(run: Run) -> None:
    waypoints = run.params[0]["waypoints"]
    n = len(waypoints)
    zero = zero_length_pairs(waypoints)
    assert (n - 1, 0) in zero  # the loop's repeated closing point
    # The look-ahead window covers every segment during a lap, so it met every zero-length one.
    assert run.module.ZERO_PAIRS == zero


def check_curvature_speed_zones(run: Run) -> None:
    waypoints = run.params[0]["waypoints"]
    n = len(waypoints)
    expected = set()
    for prev_i, next_i in brackets(run):
        after_i = (next_i + 1) % n
        a, b, c = waypoints[prev_i], waypoints[next_i], waypoints[after_i]
        if a == b or b == c or c == a:
            expected.add((prev_i, next_i, after_i))
    assert (n - 2, n - 1, 0) in expected  # the wrap: waypoints[N-1] == waypoints[0]
    assert run.module.DEGENERATE_TRIPLES == expected
    assert 0.0 < run.module.MAX_CURVATURE < 10.0


def check_wraparound_waypoints(run: Run) -> None:
    n = len(run.params[0]["waypoints"])
    at_wrap = sum(1 for pair in brackets(run) if pair == (n - 2, n - 1))
    assert at_wrap > 0
    assert run.module.WRAP_PAIRS_SEEN == at_wrap
    assert run.module.CLOSED_LOOP_SEEN == {True}


def check_lru_cache_directions(run: Run) -> None:
    waypoints = run.params[0]["waypoints"]
    segments = {(waypoints[i], waypoints[j]) for i, j in brackets(run)}
    info = run.module.segment_direction.cache_info()
    assert info.misses == len(segments) and info.hits == len(run.params) - len(segments)
    # DeepRacer's bisect never brackets the car with a zero-length pair (SPEC 1.3 item 6).
    assert run.module.ZERO_SEGMENTS == 0


def check_shapely_centre_line(run: Run) -> None:
    module = run.module
    assert module.CALLS == len(run.params)
    assert module.MAX_PROJECTION_ERROR < 1e-6
    assert module.MAX_DISTANCE_ERROR < 1e-6
    assert module.MAX_LENGTH_ERROR < 1e-6


def check_heading_alignment(run: Run) -> None:
    assert run.module.HEADING_TYPES == {"float64"}
    # The autopilot follows the centre line: the car points along the bracketing segment.
    assert run.module.MAX_DIRECTION_DIFF < 45.0


def check_racing_line_lanes(run: Run) -> None:
    counts = run.module.LANE_COUNTS
    assert sum(counts.values()) == len(run.params)
    assert all(count > 0 for count in counts.values()), counts


def check_stay_inside_borders(run: Run) -> None:
    assert run.module.LEFT_SEEN == {p["is_left_of_center"] for p in run.params}
    assert run.module.REVERSED_SEEN == {run.env.config.reverse}
    expected = [(1.1 if p["is_left_of_center"] != p["is_reversed"] else 1.0) for p in run.params]
    assert run.rewards == pytest.approx(expected)


TRACK_CHECKS: dict[str, Callable[[Run], None]] = {
    "lookahead_numpy": check_lookahead_numpy,
    "curvature_speed_zones": check_curvature_speed_zones,
    "wraparound_waypoints": check_wraparound_waypoints,
    "lru_cache_directions": check_lru_cache_directions,
    "shapely_centre_line": check_shapely_centre_line,
    "heading_alignment": check_heading_alignment,
    "racing_line_lanes": check_racing_line_lanes,
    "stay_inside_borders": check_stay_inside_borders,
}


# --------------------------------------------------------------------------------- every fixture
def test_there_are_enough_good_fixtures():
    assert len(GOOD) >= 20, [p.name for p in GOOD]
    assert set(TRACK_CHECKS) <= {p.stem for p in GOOD}


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_fixture_has_a_short_docstring(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{path.name} needs a module docstring"
    assert 1 <= len([line for line in docstring.splitlines() if line.strip()]) <= 2


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_fixture_drives_a_lap_of_the_oval(path):
    run = oval_run(path.stem)
    for episode in run.episodes:
        assert_lap(episode)
    if path.stem in TRACK_CHECKS:
        TRACK_CHECKS[path.stem](run)


@pytest.fixture(scope="module")
def duplicate_circle(tmp_path_factory) -> Path:
    """A circle whose centre line repeats waypoint 20: a zero-length segment mid-lap."""
    rows = circle_rows(radius=3.0, width=1.0, n=61)
    rows = np.insert(rows, 20, rows[20], axis=0)
    path = tmp_path_factory.mktemp("tracks") / "duplicate_circle.npy"
    np.save(path, rows)
    return path


def shared_duplicate_track() -> Path:
    """The first closed DeepRacer track in ../shared with a repeated consecutive centre point."""
    require_shared_tracks()
    for path in shared_track_paths():
        centre = np.load(path)[:, :2]
        repeated = np.all(np.diff(centre, axis=0) == 0.0, axis=1).any()
        if repeated and np.array_equal(centre[0], centre[-1]):
            return path
    pytest.skip("no closed shared DeepRacer track has a duplicate consecutive waypoint")


#: The look-ahead, wrap-around and zero-length-segment fixtures (and shapely's cross-check of
#: projection_distance), driven everywhere; the other geometry checks only on the reversed oval.
WAYPOINT_FIXTURES = ["curvature_speed_zones", "lookahead_numpy", "lru_cache_directions",
                     "shapely_centre_line", "wraparound_waypoints"]  # fmt: skip
ELSEWHERE = ["oval-reversed", "duplicate_circle", "shared-duplicate", "shared-duplicate-reversed"]
CASES = [(name, where) for name in sorted(TRACK_CHECKS) for where in ELSEWHERE
         if name in WAYPOINT_FIXTURES or where == "oval-reversed"]  # fmt: skip


@pytest.mark.parametrize("name, where", CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_geometry_fixtures_on_other_tracks_and_directions(name, where, duplicate_circle):
    track = {"oval-reversed": "oval", "duplicate_circle": duplicate_circle}.get(where)
    if track is None:
        track = shared_duplicate_track()
    run = drive(good(name), track=track, reverse=where.endswith("reversed"))
    assert_lap(run.episodes[0])
    waypoints = run.params[0]["waypoints"]
    if where != "oval-reversed":  # the track really has a zero-length segment mid-lap
        assert len(zero_length_pairs(waypoints)) == 2
    TRACK_CHECKS[name](run)


# ------------------------------------------------------------------ fixture-specific behaviour
def test_global_counter_counts_every_call_across_episodes():
    run = oval_run("global_counter")
    for episode in run.episodes:
        assert_lap(episode)
    module = run.module
    assert module.CALLS == len(run.params)
    assert module.EPISODES == 2
    assert module.LAST_STEPS == run.params[-1]["steps"]
    assert module.TOTAL_REWARD == pytest.approx(sum(run.rewards))


def test_steering_smoothness_remembers_the_previous_angle_within_an_episode():
    run = oval_run("steering_smoothness")
    jumps = 0
    for episode in run.episodes:
        assert_lap(episode)
        angles = [p["steering_angle"] for p in episode.params]
        jumps += sum(1 for a, b in zip(angles, angles[1:], strict=False) if abs(b - a) > 10.0)
    assert jumps > 0
    assert run.module.JUMPS == jumps
    assert run.module.PREV_STEERING == run.params[-1]["steering_angle"]


def test_reward_class_resets_at_each_new_episode():
    run = oval_run("reward_class")
    for episode in run.episodes:
        assert_lap(episode)
    reward_object = run.module.reward_object
    assert reward_object.resets == 2
    assert reward_object.first_steps == [2.0, 2.0]  # DeepRacer's first call is step 2
    assert reward_object.episode_calls == len(run.episodes[1].params)
    assert reward_object.prev_progress == 100.0


def test_best_progress_memory_keeps_one_entry_per_episode():
    run = oval_run("best_progress_memory")
    for episode in run.episodes:
        assert_lap(episode)
    assert run.module.BEST_PROGRESS == {1: 100, 2: 100}
    # The second episode starts 5 % further round (round robin) but is a full lap too.
    assert run.episodes[1].params[0]["projection_distance"] > 0.5


def test_random_jitter_draws_once_per_call_from_its_seeded_generator():
    run = oval_run("random_jitter")
    assert_lap(run.episodes[0])
    rng = random.Random(run.module.SEED)
    assert run.module.DRAWS == [rng.uniform(-0.05, 0.05) for _ in run.params]


def test_objects_defensive_sees_time_trial_defaults():
    run = oval_run("objects_defensive")
    assert_lap(run.episodes[0])
    module = run.module
    assert module.EMPTY_CALLS == len(run.params) and module.OBJECT_CALLS == 0
    assert module.CLOSEST_SEEN == {(0, 0)}
    assert module.OBJECT_IN_CAMERA_SEEN == {False}
    # No object: the lane term and a full avoidance term.
    margin_ok = [0.5 * p["track_width"] - p["distance_from_center"] >= 0.05 for p in run.params]
    assert all(margin_ok)
    assert run.rewards == pytest.approx([1e-3 + 1.0 + 4.0] * len(run.params))


def test_objects_defensive_pays_less_with_an_object_close_ahead_in_its_lane():
    fn = RewardFunction(good("objects_defensive"))
    track = load_track("oval")
    x, y = track.waypoints[10]
    base = params_at_pose(track, x, y, heading=0.0)
    ox, oy = track.waypoints[12]  # ~0.4 m ahead on the centre line
    blocked = dict(base)
    blocked.update(
        closest_objects=[0, 1],
        objects_location=[[-3.0, 0.0], [ox, oy]],
        objects_left_of_center=[True, base["is_left_of_center"]],
        objects_speed=[0.0, 0.0],
        objects_heading=[0.0, 0.0],
        objects_distance=[track.length / 2, base["projection_distance"] + 0.4],
        objects_distance_from_center=[0.0, 0.0],
        object_in_camera=True,
    )
    other_lane = dict(blocked)
    other_lane.update(
        closest_objects=[0, 0],
        objects_location=[[ox, oy + 0.3]],
        objects_left_of_center=[not base["is_left_of_center"]],
        objects_speed=[1.0],
        objects_heading=[0.0],
        objects_distance=[base["projection_distance"] + 0.4],
        objects_distance_from_center=[0.3],
        object_in_camera=False,
    )
    free = fn(dict(base))
    assert fn(blocked) < 0.5 * free
    assert fn(other_lane) == free
    assert fn.module.OBJECT_CALLS == 2


def test_steps_float_milestones_sees_float_steps_and_pays_milestones():
    run = oval_run("steps_float_milestones")
    assert_lap(run.episodes[0])
    assert run.module.STEP_TYPES == {"float"}
    expected = [
        int(p["steps"])
        for p in run.params
        if p["steps"] % 100 == 0 and p["progress"] > p["steps"] / 300 * 100
    ]
    assert expected  # the autopilot laps the oval in ~277 steps: ahead of schedule
    assert run.module.MILESTONES == expected
    assert sum(1 for r in run.rewards if r > 10.0) == len(expected)


def test_self_motivator_pays_progress_per_step_plus_speed_squared():
    run = oval_run("self_motivator")
    assert_lap(run.episodes[0])
    expected = [p["progress"] / p["steps"] * 100 + p["speed"] ** 2 for p in run.params]
    assert run.rewards == pytest.approx(expected)


def test_centre_bands_int_returns_an_int_that_racer_passes_through_float():
    run = oval_run("centre_bands_int")
    assert_lap(run.episodes[0])
    function = RewardFunction(good("centre_bands_int")).function  # unguarded: the raw value
    raw = [function(dict(p)) for p in run.params]
    assert {type(value) for value in raw} == {int}
    assert run.rewards == [float(value) for value in raw]
    assert set(raw) <= {10, 5} and 10 in raw


def test_lookahead_numpy_returns_a_numpy_float64():
    run = oval_run("lookahead_numpy")
    assert_lap(run.episodes[0])
    function = RewardFunction(good("lookahead_numpy")).function  # unguarded: the raw value
    raw = [function(dict(p)) for p in run.params[::25]]
    assert {type(value) for value in raw} == {np.float64}
    assert run.rewards[::25] == [float(value) for value in raw]


def test_exponential_distance_follows_its_formula():
    run = oval_run("exponential_distance")
    assert_lap(run.episodes[0])
    expected = [
        math.exp(-4.0 * (p["distance_from_center"] / (0.5 * p["track_width"])) ** 2)
        for p in run.params
    ]
    assert run.rewards == pytest.approx(expected)
    assert min(run.rewards) < 0.99  # the car is off the centre line in the bends


def test_zigzag_penalty_follows_the_example():
    run = oval_run("zigzag_penalty")
    assert_lap(run.episodes[0])
    expected = []
    for p in run.params:
        d, w = p["distance_from_center"], p["track_width"]
        band = 1.0 if d <= 0.1 * w else 0.5 if d <= 0.25 * w else 0.1 if d <= 0.5 * w else 1e-3
        expected.append(band * (0.8 if abs(p["steering_angle"]) > 15.0 else 1.0))
    assert run.rewards == pytest.approx(expected)


def test_debug_print_output_reaches_stdout(capsys):
    run = drive(good("debug_print"))  # its own run: the output goes to this test's capsys
    assert_lap(run.episodes[0])
    lines = [line for line in capsys.readouterr().out.splitlines() if "[reward-debug]" in line]
    every_25 = [p for p in run.params if int(p["steps"]) % 25 == 0]
    assert len(lines) == len(every_25) + 1
    assert lines[0].startswith(f"[reward-debug] steps={int(every_25[0]['steps'])} ")
    assert lines[-1] == f"[reward-debug] lap complete in {int(run.params[-1]['steps'])} steps"


def test_sim_time_pace_sees_the_clock_advance_one_fifteenth_per_step():
    run = oval_run("sim_time_pace")
    assert_lap(run.episodes[0])
    module = run.module
    assert len(module.SIM_TIME_DELTAS) == len(run.params) - 1
    assert module.SIM_TIME_DELTAS == pytest.approx([1.0 / 15.0] * (len(run.params) - 1))
    assert module.EPISODE_START == {
        "time": run.params[0]["sim_time"],
        "distance": run.params[0]["projection_distance"],
    }
    assert run.rewards[0] == 1.0  # no time has passed yet: the guarded branch


def test_speed_guard_eta_follows_its_formula_and_survives_speed_zero():
    run = oval_run("speed_guard_eta")
    assert_lap(run.episodes[0])
    expected = []
    for p in run.params:
        remaining = p["track_length"] * (1.0 - min(p["progress"], 100) / 100.0)
        expected.append(1.0 + 10.0 / (1.0 + remaining / max(p["speed"], 0.1)))
    assert run.rewards == pytest.approx(expected)
    assert run.rewards[-1] == pytest.approx(11.0)  # nothing left to drive
    stopped = dict(run.params[10], speed=0.0)
    assert math.isfinite(RewardFunction(good("speed_guard_eta"))(stopped))


def test_lap_complete_bonus_is_paid_once_on_the_int_100_step():
    run = oval_run("lap_complete_bonus")
    assert_lap(run.episodes[0])
    assert run.module.BONUS_STEPS == [int(run.params[-1]["steps"])]
    assert run.module.PROGRESS_TYPE_AT_FINISH == ["int"]
    assert run.rewards[-1] > 100.0 and max(run.rewards[:-1]) < 3.0


def test_mutates_params_never_sees_its_own_edits():
    run = oval_run("mutates_params")
    assert_lap(run.episodes[0])
    n = len(load_track("oval").waypoints)
    assert run.module.WAYPOINT_LENGTHS == {n}
    last = run.params[-1]
    assert len(last["waypoints"]) == n and last["closest_objects"] == [0, 0]
    assert "distance_from_center" in last and "closest_waypoints" in last


# ------------------------------------------------------------------ params a lap does not produce
def edge_params() -> list[dict[str, Any]]:
    """Params DeepRacer can produce that a centre-line lap does not reach, in both directions."""
    out = []
    for reverse in (False, True):
        track = load_track("oval", reverse=reverse)
        wps = track.waypoints
        n = len(wps)

        def pose(s: float, track=track) -> tuple[float, float, float]:
            x, y, yaw = track.point_at(np.array([s % track.length]))
            return float(x[0]), float(y[0]), math.degrees(float(yaw[0]))

        x, y, h = pose(0.0)
        out.append(params_at_pose(track, x, y, h, steps=1, sim_time=0.0))  # steps 1.0
        # On the last segment, on the lap-complete step (progress is the int 100).
        mx, my = (wps[n - 2][0] + wps[n - 1][0]) / 2, (wps[n - 2][1] + wps[n - 1][1]) / 2
        last = params_at_pose(track, mx, my, h, steps=300, speed=4.0, prev_progress=99.0)
        out.append(dict(last, progress=100))
        # Exactly on a waypoint, stopped or crawling, steering hard, heading +-180.
        x, y = wps[n // 3]
        out.append(params_at_pose(track, x, y, 180.0, speed=0.0, steering_angle=30.0))
        out.append(params_at_pose(track, x, y, -180.0, speed=1e-9, steering_angle=-30.0))
        # Far off track, facing backwards; and half off track.
        out.append(params_at_pose(track, x + 3.0, y + 3.0, h + 180.0, steps=100_000))
        x, y, h = pose(0.3 * track.length)
        out.append(params_at_pose(track, x, y + 0.4, h + 90.0, speed=0.5))
        # Just behind an episode's start point: progress slightly negative.
        x, y, h = pose(0.395 * track.length)
        behind = params_at_pose(track, x, y, h, start_progress=40.0, prev_progress=0.0)
        assert behind["progress"] < 0.0
        out.append(behind)
        # Objects: a static box just ahead, a bot car elsewhere.
        x, y, h = pose(0.5 * track.length)
        ox, oy, _ = pose(0.5 * track.length + 0.35)
        near = params_at_pose(track, x, y, h)
        near.update(
            closest_objects=[0, 1],
            objects_location=[[-9.0, -9.0], [ox, oy]],
            objects_left_of_center=[False, near["is_left_of_center"]],
            objects_speed=[1.2, 0.0],
            objects_heading=[math.pi, 0.0],
            objects_distance=[0.1, near["projection_distance"] + 0.35],
            objects_distance_from_center=[5.0, 0.0],
            object_in_camera=True,
        )
        out.append(near)
    return out


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_fixture_survives_params_a_lap_does_not_produce(path):
    fn = RewardFunction(path)  # raises on a non-finite, out-of-range or non-number result
    for params in edge_params():
        reward = fn(params)
        assert math.isfinite(reward) and abs(reward) <= REWARD_LIMIT
