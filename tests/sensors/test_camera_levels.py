"""racer's camera against DeepRacer's: grey level of each region, and the asphalt's grain.

The real frames (../shared/deepracer-camera/, reinvent_base in DeepRacer's simulator) and racer's
camera on the same track, the car on the centre line, are measured alike by
`racer.lab.camera_levels`; `scripts/bench_camera.py` prints the same figures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from racer.lab.camera_levels import (
    RegionLevel,
    centreline_poses,
    deepracer_frame_regions,
    racer_frames,
    region_levels,
)
from racer.sensors.camera import Camera, CameraConfig
from racer.sensors.texture import TextureStyle, render_ground_texture, texture_style_for_track
from racer.track import Track, load_track
from tests.conftest import DEEPRACER_TRACKS, SHARED

FRAMES = SHARED / "deepracer-camera"
#: Largest allowed |racer - DeepRacer| of a region's median grey level. The three real frames'
#: own medians spread over 2-24 (wall), 52-55 (road), 139-147 (centre), 210-221 (borders) and
#: 129-138 (field); the sky over the wall, 178, shows in one frame. Each bound is about that
#: spread, so racer sits among the real frames.
TOLERANCE = {"wall": 12, "sky": 6, "road": 4, "centre": 8, "border": 10, "field": 6}
#: Largest allowed |racer - DeepRacer| of the road's spread in the bottom quarter [grey levels];
#: the real frames give 4.1-4.9.
ROAD_NOISE_TOLERANCE = 1.0
#: Fewest pure pixels a region needs in both, so that no comparison is vacuous.
MIN_PIXELS = 20
#: racer's look before it was matched to these frames (issue 13): a light backdrop, a darker
#: road, a white-ish centre line, a grey field to the horizon, thinner and longer lines, no grain.
PREVIOUS_LOOK = {"road": 45, "border_line": 235, "centre_line": 190, "floor": 105, "wall": 105,
                 "sky": 175, "road_noise": 0.0, "border_noise": 0.0, "floor_noise": 6.0,
                 "border_line_width": 0.05, "centre_line_width": 0.05, "centre_dash": 0.15,
                 "centre_gap": 0.15, "margin": 1.0}  # fmt: skip


@pytest.fixture(scope="module")
def track() -> Track:
    path = DEEPRACER_TRACKS / "reinvent_base.npy"
    if not path.exists():
        pytest.skip(f"the DeepRacer track files are not at {DEEPRACER_TRACKS}")
    return load_track(path)


def frame_paths() -> list[Path]:
    paths = sorted(FRAMES.glob("dr-demo-*.png"))
    if not paths:
        pytest.skip(f"the real DeepRacer camera frames are not at {FRAMES}")
    return paths


def racer_levels(track: Track, style: TextureStyle) -> dict[str, RegionLevel]:
    g = track.geometry
    camera = Camera(CameraConfig(), render_ground_texture(g.centre, g.inner, g.outer, True, style))
    return region_levels(racer_frames(camera, g, centreline_poses(g, 12), style))


@pytest.fixture(scope="module")
def deepracer_levels() -> dict[str, RegionLevel]:
    horizon = CameraConfig().horizon_row
    return region_levels([deepracer_frame_regions(path, horizon) for path in frame_paths()])


def mismatches(real: dict[str, RegionLevel], ours: dict[str, RegionLevel]) -> dict[str, str]:
    """What differs beyond the tolerances, by region ("grain" for the road's noise)."""
    found = {}
    for name, tolerance in TOLERANCE.items():
        a, b = real.get(name), ours.get(name)
        if a is None or b is None or min(a.count, b.count) < MIN_PIXELS:
            found[name] = f"too few pixels (DeepRacer {a}, racer {b})"
        elif abs(a.median - b.median) > tolerance:
            found[name] = f"racer {b.median:.0f}, DeepRacer {a.median:.0f} (+-{tolerance})"
    if "road" in real and "road" in ours:
        a, b = real["road"].std, ours["road"].std
        if abs(a - b) > ROAD_NOISE_TOLERANCE:
            found["grain"] = f"road std: racer {b:.1f}, DeepRacer {a:.1f}"
    return found


def test_real_frames_measure_as_their_readme_says(deepracer_levels) -> None:
    # README: background 0-50, road about 55, centre dashes about 140, borders 210, field 130.
    levels = {name: level.median for name, level in deepracer_levels.items()}
    assert 0 <= levels["wall"] <= 50
    assert levels["road"] == pytest.approx(55, abs=5)
    assert levels["centre"] == pytest.approx(140, abs=8)
    assert levels["border"] == pytest.approx(210, abs=8)
    assert levels["field"] == pytest.approx(130, abs=8)


def test_camera_levels_match_deepracer(track, deepracer_levels) -> None:
    ours = racer_levels(track, texture_style_for_track(track.name))
    assert mismatches(deepracer_levels, ours) == {}


def test_previous_look_does_not_match(track, deepracer_levels) -> None:
    # The comparison can fail: racer's old colours miss every region but the sky, and the grain.
    old = replace(texture_style_for_track(track.name), **PREVIOUS_LOOK)
    found = mismatches(deepracer_levels, racer_levels(track, old))
    assert set(found) == {"wall", "road", "centre", "border", "field", "grain"}, found
