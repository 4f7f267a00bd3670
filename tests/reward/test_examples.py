"""The bundled example reward functions: they drive full laps through racer, survive every params
edge case DeepRacer produces, pass the console's static rules, and each one does what its
docstring says."""

from __future__ import annotations

import ast
import importlib.util
import io
import itertools
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from shapely.geometry import LinearRing, Point, Polygon

from racer.env.autopilot import Autopilot
from racer.env.config import EnvConfig
from racer.env.racer_env import RacerEnv
from racer.reward.params import params_at_pose
from racer.track import list_bundled_tracks, load_track, track_from_array
from tests.conftest import circle_rows, require_shared_tracks, shared_track_paths

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "reward_functions"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
_module_ids = itertools.count()


def load_example(name: str) -> ModuleType:
    """A fresh module of one example (its own module state)."""
    path = EXAMPLES_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_reward(value) -> float:
    """DeepRacer's console rule: an actual float, finite, within [-1e5, 1e5]."""
    assert type(value) is float, f"{value!r} is a {type(value).__name__}, not a float"
    assert math.isfinite(value) and abs(value) <= 1e5, value
    return value


def pose_at(track, s: float, lane: float = 0.0, turn_deg: float = 0.0, **kwargs) -> dict:
    """Params for a car at arc length ``s`` [m] on a lane (+1 inner, -1 outer, 0 centre), heading
    along the track plus ``turn_deg``."""
    x, y = track.lane_point_at(np.array([s]), np.array([lane]))
    _, _, yaw = track.point_at(np.array([s]))
    return params_at_pose(track, x[0], y[0], math.degrees(yaw[0]) + turn_deg, **kwargs)


def waypoint_s(track, index: int) -> float:
    return float(track.cum_s[index])


# ----------------------------------------------------------------------------------- full laps
def drive(path: Path, track: str, reverse: bool) -> tuple[str, list[float], list[dict]]:
    """One autopilot episode; the status, and the reward and params of every RUN step."""
    env = RacerEnv(EnvConfig(track=track, reverse=reverse, reward_function=str(path)))
    pilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, env.action_space.dtype)  # PREPARE ignores it
    rewards, seen = [], []
    for _ in range(2000):
        _, reward, terminated, truncated, info = env.step(action)
        if info["params"]["steps"] >= 2:  # the reward function is not called on PREPARE
            rewards.append(reward)
            seen.append(info["params"])
        action = pilot.act(info["params"])
        if terminated or truncated:
            return info["episode_status"], rewards, seen
    return "max_steps", rewards, seen


def test_there_are_at_least_nine_examples():
    assert len(EXAMPLES) >= 9, [p.name for p in EXAMPLES]


@pytest.mark.parametrize(
    "track, reverse, statuses",
    [
        ("oval", False, {"lap_complete"}),
        ("oval", True, {"lap_complete"}),
        # The autopilot runs off the far end of the open line, or completes it there.
        ("practice_line", False, {"lap_complete", "off_track"}),
    ],
)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_drives_a_lap(path, track, reverse, statuses):
    status, rewards, seen = drive(path, track, reverse)
    assert status in statuses and len(rewards) > 200
    assert all(math.isfinite(r) and abs(r) <= 1e5 for r in rewards)
    # Replayed on a fresh module, the function returns real floats, and (module state included)
    # the very rewards racer gave.
    module = load_example(path.stem)
    raw = [check_reward(module.reward_function(dict(p))) for p in seen]
    assert raw == rewards
    assert seen[-1]["is_reversed"] is reverse


# ----------------------------------------------------------------------------- params edge cases
def object_params(location: list[float], left_of_center: bool) -> dict:
    """The object keys for one static box at ``location``, next ahead of the car."""
    return {
        "closest_objects": [0, 0],
        "objects_location": [list(location)],
        "objects_left_of_center": [left_of_center],
        "objects_speed": [0.0],
        "objects_heading": [0.0],
        "objects_distance": [0.0],
        "objects_distance_from_center": [0.27],
        "object_in_camera": True,
    }


def edge_cases() -> dict[str, dict]:
    """Params DeepRacer can produce that trip reward functions up."""
    oval = load_track("oval")
    n = oval.num_waypoints
    cases = {"mid_track": pose_at(oval, 5.0)}
    cases["off_track"] = pose_at(oval, 5.0, lane=6.0)
    assert cases["off_track"]["is_offtrack"]
    (x0, y0), (x1, y1) = oval.waypoints[-2], oval.waypoints[-1]
    cases["lap_wrap"] = params_at_pose(oval, (x0 + x1) / 2, (y0 + y1) / 2, 0.0)
    assert cases["lap_wrap"]["closest_waypoints"] == [n - 2, n - 1]
    cases["lap_complete"] = dict(pose_at(oval, 0.1), progress=100)
    cases["behind_start"] = dict(pose_at(oval, 5.0, steps=3), progress=-0.4)
    cases["first_step"] = pose_at(oval, 0.14, steps=2)
    cases["slowest"] = pose_at(oval, 5.0, speed=0.1, steering_angle=-30.0)
    cases["reversed"] = pose_at(oval.reversed(), 3.0, lane=0.5, turn_deg=20.0)
    cases["reversed_wrap"] = pose_at(oval.reversed(), oval.length - 0.05)
    # A loop with a repeated waypoint: the car on the zero-length segment between the copies.
    rows = circle_rows()
    rows = np.insert(rows, 30, rows[30], axis=0)
    circle = track_from_array(rows, "duplicate")
    x, y = circle.waypoints[30]
    params = params_at_pose(circle, x, y, 90.0 + math.degrees(math.atan2(y, x)))
    cases["zero_length_segment"] = dict(params, closest_waypoints=[30, 31])
    cases["zero_length_next"] = dict(params, closest_waypoints=[29, 30])
    # The open line: start, end, and past the end, where the bracket wraps to [N - 1, 0].
    line = load_track("practice_line")
    cases["open_start"] = pose_at(line, 0.0)
    cases["open_end"] = pose_at(line, line.length - 0.05)
    past = pose_at(line, line.length)
    (x0, y0), (x1, y1) = line.waypoints[-2], line.waypoints[-1]
    past = params_at_pose(line, 2 * x1 - x0, 2 * y1 - y0, past["heading"])
    assert past["closest_waypoints"] == [line.num_waypoints - 1, 0]
    cases["open_past_end"] = past
    cases["open_reversed_end"] = pose_at(line.reversed(), line.length - 0.05)
    # Objects present, the next one just ahead in the car's lane.
    obj = pose_at(oval, 5.0, lane=1.0)
    ox, oy = oval.lane_point_at(np.array([5.25]), np.array([1.0]))
    obj.update(object_params([ox[0], oy[0]], obj["is_left_of_center"]))
    cases["object_ahead"] = obj
    return cases


EDGE_CASES = edge_cases()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_returns_a_float_for_every_edge_case(path):
    module = load_example(path.stem)
    for name, params in EDGE_CASES.items():
        for repeat in range(2):  # twice: module state must not break on a repeated call
            value = module.reward_function(dict(params))
            assert type(value) is float and math.isfinite(value), (name, repeat, value)
            assert abs(value) <= 1e5, (name, value)


def test_examples_on_real_tracks_with_repeated_waypoints():
    require_shared_tracks()
    tested = 0
    for path, reverse in itertools.product(shared_track_paths(), (False, True)):
        track = load_track(path, reverse=reverse)
        points = track.waypoints
        repeats = [i for i in range(len(points) - 1) if points[i] == points[i + 1]]
        if not repeats:
            continue
        k = repeats[0]
        cases = [pose_at(track, waypoint_s(track, k)), pose_at(track, track.length - 0.05)]
        cases.append(dict(cases[0], closest_waypoints=[k, k + 1]))  # the zero-length segment
        cases.append(dict(cases[0], closest_waypoints=[k - 1, k]))
        for example in EXAMPLES:
            module = load_example(example.stem)
            for params in cases:
                check_reward(module.reward_function(dict(params)))
        tested += 1
    assert tested, "some DeepRacer tracks repeat a waypoint"


# --------------------------------------------------------------------------- console rules
ALLOWED_IMPORTS = {"math", "random", "numpy", "scipy", "shapely"}
FORBIDDEN_NAMES = {"open", "exec", "eval", "compile", "input", "__import__"}
FORBIDDEN_TEXT = ("__import__", "load", "save", "tofile", "memmap", "fromfile", "genfromtxt")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_follows_the_console_rules(path):
    source = path.read_text()
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree)
    assert docstring and len(docstring.splitlines()) <= 8, "a short module docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {a.name.split(".")[0] for a in node.names} <= ALLOWED_IMPORTS
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] in ALLOWED_IMPORTS
        elif isinstance(node, ast.Name):
            assert node.id not in FORBIDDEN_NAMES, f"line {node.lineno}: {node.id}"
    for text in FORBIDDEN_TEXT:
        assert text not in source, f"the console rejects the text {text!r}"
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    (function,) = [f for f in functions if f.name == "reward_function"]
    args = function.args
    assert len(args.args) == 1 and not (args.vararg or args.kwarg or args.kwonlyargs)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_pyflakes_clean(path):
    api = pytest.importorskip("pyflakes.api")
    reporter_module = pytest.importorskip("pyflakes.reporter")
    out = io.StringIO()
    count = api.check(path.read_text(), str(path), reporter_module.Reporter(out, out))
    assert count == 0, out.getvalue()


# ------------------------------------------------------------------------------ each design
@pytest.fixture(scope="module")
def oval():
    return load_track("oval")


def test_stay_inside_borders(oval):
    reward = load_example("stay_inside_borders").reward_function
    assert reward(pose_at(oval, 5.0)) == 1.0
    assert reward(pose_at(oval, 5.0, lane=0.9)) == 1.0  # anywhere inside pays the same
    assert reward(pose_at(oval, 5.0, lane=-3.0)) == 1e-3  # off track
    params = pose_at(oval, 5.0)
    near_border = 0.5 * params["track_width"] - 0.04
    assert reward(dict(params, distance_from_center=near_border)) == 1e-3


def test_prevent_zigzag(oval):
    reward = load_example("prevent_zigzag").reward_function
    straight = reward(pose_at(oval, 5.0, steering_angle=5.0))
    assert straight == 1.0
    assert reward(pose_at(oval, 5.0, steering_angle=20.0)) == pytest.approx(0.8 * straight)
    assert reward(pose_at(oval, 5.0, steering_angle=-20.0)) == pytest.approx(0.8 * straight)
    assert reward(pose_at(oval, 5.0, lane=1.5, steering_angle=5.0)) == 0.1  # the outer band


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("s", [0.1, 4.0, 7.0, 12.0, 17.7])  # straights, bends, the lap wrap
def test_waypoint_heading_pays_for_alignment(oval, reverse, s):
    track = oval.with_reverse(reverse)
    reward = load_example("waypoint_heading").reward_function
    aligned = reward(pose_at(track, s))
    assert aligned > 0.95
    off_20, off_45 = (reward(pose_at(track, s, turn_deg=turn)) for turn in (20.0, 45.0))
    assert aligned > off_20 > off_45
    assert aligned > reward(pose_at(track, s, turn_deg=-45.0))
    assert reward(pose_at(track, s, turn_deg=180.0)) == 1e-3  # driving the wrong way


def test_progress_speed(oval):
    reward = load_example("progress_speed").reward_function
    quick = reward(pose_at(oval, 5.0, steps=80))
    slow = reward(pose_at(oval, 5.0, steps=160))  # the same progress in twice the steps
    assert quick > slow > 1.0
    assert reward(pose_at(oval, 5.0, steps=80, speed=2.0)) == pytest.approx(quick + 3.0)
    assert reward(pose_at(oval, 5.0, lane=-3.0, steps=80)) == 0.01  # off track


def test_lap_time_pays_distance_gained_squared_and_nothing_for_standing(oval):
    reward = load_example("lap_time")
    function = reward.reward_function
    step = reward.TOP_SPEED * reward.STEP  # [m] at top speed in one step
    assert function(pose_at(oval, 1.0, steps=2)) > 0  # the episode's first step
    here = pose_at(oval, 2.0, steps=3)
    function(here)
    assert function(pose_at(oval, 2.0, steps=4)) == 0.0  # no progress, no pay (circling)
    half = function(pose_at(oval, 2.0 + 0.5 * step, steps=5))
    full = function(pose_at(oval, 2.0 + 1.5 * step, steps=6))
    assert half == pytest.approx(0.25, rel=0.05) and full == pytest.approx(1.0, rel=0.05)
    assert function(pose_at(oval, 2.0 + 1.5 * step, lane=-3.0, steps=7)) == 0.001  # off track
    assert function(pose_at(oval, 1.0, steps=2)) > 0  # a new episode starts from 0 again


# ------------------------------------------------------------------------------- racing line
def closed_tracks():
    return [info.name for info in list_bundled_tracks() if info.direction != "open"]


def bending(points: np.ndarray, closed: bool) -> tuple[float, float]:
    """Total turning [rad] and bending energy (sum of turn**2 / spacing) of a polyline."""
    if closed:
        points = np.vstack([points, points[:1]])
    step = np.diff(points, axis=0)
    heading = np.arctan2(step[:, 1], step[:, 0])
    if closed:
        heading = np.append(heading, heading[0])
    turn = np.angle(np.exp(1j * np.diff(heading)))
    length = np.hypot(step[:, 0], step[:, 1])
    spacing = 0.5 * (length + np.roll(length, -1))[: len(turn)]
    return float(np.abs(turn).sum()), float((turn**2 / spacing).sum())


@pytest.mark.parametrize("name", closed_tracks())
def test_racing_line_keeps_the_margin_and_is_smoother(name):
    module = load_example("racing_line")
    track = load_track(name)
    width = float(track.width[0])
    line, closed = module.racing_line(list(track.waypoints), width)
    assert closed and line.shape == (track.num_waypoints - 1, 2)
    centre = LinearRing(track.centre[:-1])
    road = Polygon(track.outer[:-1], [track.inner[:-1]])  # "inner" is the hole on every loop
    assert road.is_valid
    middles = 0.5 * (line + np.roll(line, -1, axis=0))
    for x, y in np.vstack([line, middles]):
        point = Point(x, y)
        assert centre.distance(point) <= 0.5 * width - module.MARGIN + 1e-6
        assert road.contains(point)
        assert road.boundary.distance(point) >= module.MARGIN - 0.01
    # It really moves off the centre line, and bends less than it.
    assert np.abs(line - track.centre[:-1]).max() > 0.5 * (0.5 * width - module.MARGIN)
    line_turn, line_energy = bending(line, closed=True)
    centre_turn, centre_energy = bending(track.centre[:-1], closed=True)
    assert line_energy < 0.9 * centre_energy
    if name in ("oval", "speedway"):  # convex: every line turns exactly once round
        assert line_turn == pytest.approx(2 * math.pi, abs=1e-6)
    elif not name.startswith("hairpin_comb"):  # the comb's line swings wide into each hairpin,
        assert line_turn < centre_turn  # turning the other way first: more turning, less bending


def test_racing_line_keeps_the_ends_of_an_open_track():
    module = load_example("racing_line")
    track = load_track("practice_line")
    line, closed = module.racing_line(list(track.waypoints), 1.07)
    assert not closed and line.shape == (track.num_waypoints, 2)
    assert np.allclose(line[[0, -1]], track.centre[[0, -1]])
    assert bending(line, closed=False)[1] < 0.5 * bending(track.centre, closed=False)[1]


def test_racing_line_handles_repeated_waypoints():
    module = load_example("racing_line")
    rows = circle_rows()
    rows = np.insert(rows, 30, rows[30], axis=0)  # a zero-length segment
    track = track_from_array(rows, "duplicate")
    line, closed = module.racing_line(list(track.waypoints), 1.0)
    assert closed and len(line) == len(rows) - 2 and np.isfinite(line).all()


def test_racing_line_pays_more_on_the_line(oval):
    module = load_example("racing_line")
    line, _ = module.racing_line(list(oval.waypoints), float(oval.width[0]))
    offset = np.hypot(*(line - oval.centre[:-1]).T)
    i = int(np.argmax(offset))  # where the line is furthest from the centre line
    heading = math.degrees(math.atan2(*(line[i + 1] - line[i - 1])[::-1]))
    on_line = params_at_pose(oval, line[i][0], line[i][1], heading)
    on_centre = params_at_pose(oval, *oval.centre[i], heading)
    assert module.reward_function(on_line) > 0.99
    assert module.reward_function(on_line) > module.reward_function(on_centre) + 0.4
    faster = dict(on_line, speed=4.0)
    assert module.reward_function(faster) > module.reward_function(on_line)
    assert module.reward_function(pose_at(oval, 5.0, lane=-3.0)) == 1e-3


def test_racing_line_is_cached_per_track(oval):
    module = load_example("racing_line")
    module.reward_function(pose_at(oval, 1.0))
    first = dict(module._LINES)
    module.reward_function(pose_at(oval, 9.0))
    assert module._LINES.keys() == first.keys()  # computed once for the track
    module.reward_function(pose_at(oval.reversed(), 1.0))
    assert len(module._LINES) == 2  # another waypoint list: another line


# --------------------------------------------------------------------------- speed in corners
def turning_ahead(track, index: int, segments: int) -> float:
    """How much [rad] the centre line turns over the segments after waypoint ``index``."""
    n = track.num_waypoints - 1
    idx = [(index + k) % n for k in range(segments + 1)]
    step = track.centre[[(i + 1) for i in idx]] - track.centre[idx]
    heading = np.arctan2(step[:, 1], step[:, 0])
    return float(np.abs(np.angle(np.exp(1j * np.diff(heading)))).sum())


def test_speed_in_corners():
    reward = load_example("speed_in_corners").reward_function
    straight_track = load_track("grand_prix")  # an 11 m straight
    n = straight_track.num_waypoints - 1
    i = min(range(n), key=lambda k: turning_ahead(straight_track, k, 10))
    s = waypoint_s(straight_track, i)
    fast = reward(pose_at(straight_track, s, speed=3.0))
    assert fast > 0.95 and fast > reward(pose_at(straight_track, s, speed=1.0))
    corner_track = load_track("technical_narrow")  # R 0.6 m hairpins
    n = corner_track.num_waypoints - 1
    i = max(range(n), key=lambda k: turning_ahead(corner_track, k, 7))
    assert turning_ahead(corner_track, i, 7) > math.radians(90)
    s = waypoint_s(corner_track, i)
    slow = reward(pose_at(corner_track, s, speed=1.2))
    assert slow > 0.95 and slow > reward(pose_at(corner_track, s, speed=3.0))
    assert reward(pose_at(corner_track, s, lane=-3.0, speed=1.2)) == 1e-3  # off track


# --------------------------------------------------------------------------- object avoidance
def test_object_avoidance(oval):
    reward = load_example("object_avoidance").reward_function
    alone = pose_at(oval, 8.5, lane=1.0)  # the left (inner) lane of the ccw oval's back straight
    assert alone["objects_location"] == [] and alone["closest_objects"] == [0, 0]
    assert alone["is_left_of_center"]
    assert reward(alone) == pytest.approx(1e-3 + 1.0 + 4.0)  # a time trial: nothing to avoid
    same_xy = oval.lane_point_at(np.array([8.9]), np.array([1.0]))
    other_xy = oval.lane_point_at(np.array([8.9]), np.array([-1.0]))
    same = dict(alone, **object_params([same_xy[0][0], same_xy[1][0]], True))
    other = dict(alone, **object_params([other_xy[0][0], other_xy[1][0]], False))
    assert math.dist((alone["x"], alone["y"]), same["objects_location"][0]) == pytest.approx(
        0.4, abs=0.01
    )
    assert reward(same) == pytest.approx(1e-3 + 1.0 + 4.0 * 0.2)  # 0.3-0.5 m ahead: x0.2
    assert reward(other) == pytest.approx(1e-3 + 1.0 + 4.0)
    assert reward(same) < reward(other)
    off = pose_at(oval, 8.5, lane=-3.0)
    assert reward(off) == pytest.approx(1e-3 + 1e-3 + 4.0)


# ----------------------------------------------------------------------------- smooth steering
def test_smooth_steering_penalises_jumps_and_resets_each_episode(oval):
    module = load_example("smooth_steering")
    reward = module.reward_function
    steady = [reward(pose_at(oval, 5.0, steps=k, steering_angle=15.0)) for k in (2, 3, 4)]
    assert steady[0] == steady[1] == steady[2] > 0.95
    jump = reward(pose_at(oval, 5.0, steps=5, steering_angle=-15.0))  # a 30-degree change
    assert jump == pytest.approx(module.MIN_SMOOTHNESS * steady[0])
    small = reward(pose_at(oval, 5.0, steps=6, steering_angle=-7.5))  # a 7.5-degree change
    assert jump < small == pytest.approx(0.75 * steady[0])
    # A new episode starts again at step 2: no penalty for the previous episode's last angle.
    assert reward(pose_at(oval, 5.0, steps=2, steering_angle=30.0)) == steady[0]
    assert module.previous_steps == 2.0 and module.previous_steering == 30.0
