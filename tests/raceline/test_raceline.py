"""Racing line and ideal lap time: closed forms on a circle, borders, limits, files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from racer.errors import ConfigError
from racer.lab.raceline import run_raceline
from racer.physics.car import GRAVITY, CarParams, KinematicBicycle
from racer.physics.motion import make_motion_model
from racer.physics.servo import DEEPRACER_2026, ServoBicycle
from racer.raceline import (
    SpeedLimits,
    border_distance,
    centre_line,
    ideal_lap_time,
    line_speed_profile,
    min_curvature_line,
    speed_profile,
)
from racer.track import load_track, track_from_array
from tests.conftest import DEEPRACER_TRACKS, circle_rows, require_shared_tracks

LIMITS = SpeedLimits.from_car(CarParams())
KINEMATIC = KinematicBicycle(CarParams())
MARGIN = 0.1


def test_the_fitted_cars_limits():
    limits = SpeedLimits.from_model(ServoBicycle(CarParams(), DEEPRACER_2026))
    assert limits.speed_lag == DEEPRACER_2026.speed_lag
    assert limits.max_speed == pytest.approx(4.0 * DEEPRACER_2026.speed_gain)
    # Its tightest turn is the steady radius at full lock: 0.573 m, not the bicycle's 0.284 m.
    assert 1.0 / limits.max_curvature == pytest.approx(0.5728, abs=1e-4)
    assert SpeedLimits.from_model(KINEMATIC) == LIMITS


def test_limits_from_car():
    assert LIMITS.max_speed == 4.0 and LIMITS.min_speed == 0.1 and LIMITS.speed_lag == 0.3
    assert LIMITS.lateral_acceleration == pytest.approx(0.5 * GRAVITY)
    assert 1.0 / LIMITS.max_curvature == pytest.approx(0.164 / math.tan(math.radians(30.0)))


# Radius 1 m: the line (1.3 m) corners at 2.53 m/s; radius 5 m: the 4 m/s top speed binds.
@pytest.mark.parametrize("radius", [1.0, 5.0])
def test_circle_lap_time_is_closed_form(radius):
    width = 0.8
    track = track_from_array(circle_rows(radius, width, n=721), "circle")
    line = min_curvature_line(track, margin=MARGIN)
    r_line = radius + width / 2 - MARGIN  # min curvature: the outer border minus the margin
    r = np.linalg.norm(line.xy, axis=1)
    # The borders are 720-gons: the line sits within their sagitta (<= 5.1e-5 m) of the circle.
    assert r == pytest.approx(r_line, abs=6e-5)
    profile = line_speed_profile(line, LIMITS)
    speed = min(LIMITS.max_speed, math.sqrt(LIMITS.lateral_acceleration * r_line))
    assert profile.lap_time == pytest.approx(2 * math.pi * r_line / speed, rel=1e-5)
    assert profile.lap_time == pytest.approx(2 * math.pi * r.mean() / min(
        4.0, math.sqrt(0.5 * GRAVITY * r.mean())), rel=1e-6)  # fmt: skip
    assert np.ptp(profile.speed) < 1e-2


def _tracks():
    paths = ["oval", "technical_narrow", "practice_line"]
    paths += [str(DEEPRACER_TRACKS / f) for f in ("reinvent_base.npy", "Straight_track.npy")]
    return paths


@pytest.fixture(scope="module", params=_tracks(), ids=lambda p: p.split("/")[-1])
def solved(request):
    if request.param.startswith("/"):
        require_shared_tracks()
    track = load_track(request.param)
    return track, min_curvature_line(track, margin=MARGIN), centre_line(track)


def test_line_keeps_margin_from_borders(solved):
    track, line, _ = solved
    assert np.all(border_distance(track, line.xy) >= MARGIN - 1e-6)
    # Cross-check with shapely, the library DeepRacer measures distances with.
    shapely = pytest.importorskip("shapely")
    borders = shapely.MultiLineString([track.inner, track.outer])
    dist = shapely.distance(shapely.points(line.xy), borders)
    assert dist.min() >= MARGIN - 1e-6
    assert np.all(line.offset >= line.lower) and np.all(line.offset <= line.upper)


def test_min_curvature_beats_centre_line(solved):
    track, line, centre = solved
    assert line.bending_energy <= centre.bending_energy + 1e-12
    lap, centre_lap = (line_speed_profile(x, LIMITS).lap_time for x in (line, centre))
    assert lap <= centre_lap + 1e-9
    if track.name == "reinvent_base":
        assert line.bending_energy < 0.5 * centre.bending_energy
        assert lap == pytest.approx(5.197, abs=0.01)


def _accel_distance(v0, v1, lim):
    """Exact distance to go from v0 up to v1 at full throttle, dv/dt = (V - v) / tau."""
    top, tau = lim.max_speed, lim.speed_lag
    return tau * (top * np.log((top - v0) / (top - v1)) - (v1 - v0))


def _brake_distance(v0, v1, lim):
    """Exact distance to go from v0 down to v1 at full braking, dv/dt = -(v - m) / tau."""
    m, tau = lim.min_speed, lim.speed_lag
    return tau * ((v0 - v1) + m * np.log((v0 - m) / (v1 - m)))


@pytest.mark.parametrize("start_speed", [None, 0.0])
def test_speed_profile_respects_limits(solved, start_speed):
    track, line, _ = solved
    if start_speed is not None and not track.closed:
        pytest.skip("open lines always start from rest")
    p = line_speed_profile(line, LIMITS, start_speed)
    assert np.all(p.speed <= p.cap + 1e-12)
    # The closing segment of a standing-start lap ends at a speed the profile does not keep.
    count = len(p.speed) - 1 if start_speed is not None or not track.closed else len(p.speed)
    v0, v1 = p.speed[:count], np.roll(p.speed, -1)[:count]
    ds = p.segment_length[:count]
    up, down = v1 > v0 + 1e-12, v1 < v0 - 1e-12
    assert up.any() and (down.any() or not track.closed)
    tol = 1e-6 * ds + 1e-9  # the logs lose digits as v nears the top speed
    assert np.all(_accel_distance(v0[up], v1[up], LIMITS) <= ds[up] + tol[up])
    assert np.all(_brake_distance(v0[down], v1[down], LIMITS) <= ds[down] + tol[down])
    if not track.closed or start_speed == 0.0:
        assert p.speed[0] == 0.0


def test_full_throttle_from_rest_is_exact():
    # From rest v(t) = V (1 - exp(-t/tau)) and s(t) = V t - V tau (1 - exp(-t/tau)).
    n = 41
    p = speed_profile(np.zeros(n), np.full(n - 1, 0.1), False, LIMITS)
    for i in (1, 5, 20, 40):
        t = brentq(lambda t, s=0.1 * i: 4.0 * t - 1.2 * (1 - math.exp(-t / 0.3)) - s, 0.0, 10.0)
        assert p.speed[i] == pytest.approx(4.0 * (1 - math.exp(-t / 0.3)), rel=1e-9)
    assert p.speed[0] == 0.0
    assert p.speed[10] == pytest.approx(3.2235, abs=1e-4)  # after 1 m


def test_margin_too_wide_is_a_clear_error():
    track = load_track("technical_narrow")  # 0.76 m wide
    with pytest.raises(ConfigError, match=r"technical_narrow.*margin below 0\.375 m"):
        min_curvature_line(track, margin=0.4)
    with pytest.raises(ConfigError, match="margin"):
        min_curvature_line(track, margin=-0.1)


def test_run_raceline_writes_files_that_load_back(tmp_path):
    report = run_raceline("oval", tmp_path / "out", margin=MARGIN, model=KINEMATIC)
    xy = np.load(report.files["npy"])
    assert xy.shape == (report.points, 2)
    csv = np.loadtxt(report.files["csv"], delimiter=",", skiprows=1)
    assert csv.shape == (report.points, 4)
    namespace: dict = {}
    exec(report.files["py"].read_text(), namespace)
    assert len(namespace["RACING_LINE"]) == report.points == len(namespace["SPEEDS"])
    assert np.allclose(namespace["RACING_LINE"], xy, atol=1e-4)
    assert report.files["png"].stat().st_size > 10_000
    assert report.lap_time < report.centre_lap_time
    assert report.drivable
    text = report.format()
    for needle in ("oval", "ideal lap", f"{report.lap_time:.3f} s", "margin", "oval_raceline.py"):
        assert needle in text


def test_the_cli_writes_the_line_and_explains_a_bad_margin(tmp_path, capsys):
    from racer.cli import main

    assert main(["raceline", "oval", "--out", str(tmp_path / "rl"), "--motion-model",
                 "kinematic"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "ideal lap    5.520 s (flying lap)" in out
    assert main(["raceline", "oval", "--out", str(tmp_path / "fitted")]) == 0
    assert "ideal lap    5.464 s (flying lap)" in capsys.readouterr().out  # the fitted car
    assert (tmp_path / "rl" / "oval_raceline.py").exists()
    assert main(["raceline", "technical_narrow", "--margin", "0.5", "--out",
                 str(tmp_path / "bad")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "technical_narrow" in err and "Use a margin below 0.375 m" in err
    assert not (tmp_path / "bad").exists()


def test_a_lagging_wheel_caps_the_speed_where_the_curvature_changes():
    # Kinematic wheel angles (steering_angle = atan(L kappa)) on a curvature ramp into a bend.
    lag, lock = 0.46, math.radians(30.0)
    limits = SpeedLimits(steering_lag=lag, max_steering=lock,
                         steering_angle=lambda k: np.arctan(0.164 * k))  # fmt: skip
    kappa = np.concatenate([np.zeros(10), np.linspace(0.0, 1.5, 11), np.full(10, 1.5)])
    ds = np.full(len(kappa) - 1, 0.05)
    cap = limits.steering_speed(kappa, ds, closed=False)
    delta = np.arctan(0.164 * kappa)
    rate = np.gradient(delta, 0.05)
    i = 15  # inside the ramp: the command must lead by lag * v * d(delta)/ds
    assert cap[i] == pytest.approx((lock - delta[i]) / (lag * rate[i]))
    assert cap[i] < 2.0 and np.all(cap[23:] == 4.0) and np.all(cap[:8] == 4.0)
    # The profile respects it, and without a lag nothing changes.
    assert np.all(speed_profile(kappa, ds, False, limits).speed <= cap + 1e-12)
    assert np.all(SpeedLimits().steering_speed(kappa, ds, closed=False) == 4.0)
    with pytest.raises(ConfigError, match="steering_angle"):
        SpeedLimits(steering_lag=0.1)


def test_the_slower_servo_of_2022_loses_time_on_a_twisty_track():
    track = load_track("technical_narrow")
    fast = ideal_lap_time(track, make_motion_model("deepracer", CarParams()))
    slow = ideal_lap_time(track, make_motion_model("deepracer_2022", CarParams()))
    kinematic = ideal_lap_time(track, KINEMATIC)
    assert fast < kinematic < slow  # 9.38 s, 9.60 s, 10.60 s
