"""Tests of the top-down ground texture: what lies where, mapping, mips, robustness."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from racer.errors import ConfigError, TrackError
from racer.sensors.texture import (
    DEEPRACER_2019,
    REINVENT_2018,
    GroundTexture,
    TextureStyle,
    render_ground_texture,
    texture_style_for_track,
)
from tests.conftest import SHARED

# Flat materials, so that every texel wholly inside one holds exactly its level.
STYLE = TextureStyle(road_noise=0, border_noise=0, floor_noise=0)
RADIUS = 3.0
HALF_WIDTH = 0.5


def circle(radius: float, count: int = 181) -> np.ndarray:
    """Closed counter-clockwise circle, first point == last point, (count, 2)."""
    angle = np.linspace(0.0, 2.0 * math.pi, count)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    points[-1] = points[0]
    return points


def straight(length: float = 6.0, spacing: float = 0.5, y: float = 0.0) -> tuple[np.ndarray, ...]:
    """Open straight track along +x: centre, inner (left, +y) and outer (right, -y) lines."""
    x = np.linspace(0.0, length, round(length / spacing) + 1)

    def line(offset: float) -> np.ndarray:
        return np.stack([x, np.full_like(x, y + offset)], axis=1)

    return line(0.0), line(HALF_WIDTH), line(-HALF_WIDTH)


@pytest.fixture(scope="module")
def ring() -> GroundTexture:
    return render_ground_texture(
        circle(RADIUS), circle(RADIUS - HALF_WIDTH), circle(RADIUS + HALF_WIDTH), True, STYLE
    )


def value_at(texture: GroundTexture, x: float, y: float, level: int = 0) -> int:
    row, col = texture.world_to_texel(x, y, level)
    return int(texture.levels[level][row, col])


def assert_floor(texture: GroundTexture, value: int, style: TextureStyle = STYLE) -> None:
    assert abs(value - style.floor) <= 4 * style.floor_noise


def test_ring_regions(ring: GroundTexture) -> None:
    # Middle of the lane (between the centre line and the inner border) is asphalt.
    assert value_at(ring, 0.0, RADIUS - 0.25) == STYLE.road
    assert value_at(ring, -(RADIUS + 0.25), 0.0) == STYLE.road
    # Borders are painted just inside the road edge, on both edges.
    edge = STYLE.border_line_width / 2
    assert value_at(ring, RADIUS - HALF_WIDTH + edge, 0.0) == STYLE.border_line
    assert value_at(ring, 0.0, -(RADIUS + HALF_WIDTH - edge)) == STYLE.border_line
    # Just outside the road edge is floor again, as are the infield and the far outside.
    assert_floor(ring, value_at(ring, RADIUS + HALF_WIDTH + 0.02, 0.0))
    assert_floor(ring, value_at(ring, 0.0, 0.0))
    assert_floor(ring, value_at(ring, RADIUS + 0.9, RADIUS + 0.9))


def test_centre_line_is_dashed(ring: GroundTexture) -> None:
    # The first dash covers arc length [0, centre_dash) from the first centre point (R, 0),
    # going counter-clockwise; the first gap follows it.
    def at_arc(s: float) -> int:
        return value_at(ring, RADIUS * math.cos(s / RADIUS), RADIUS * math.sin(s / RADIUS))

    assert at_arc(STYLE.centre_dash / 2) == STYLE.centre_line
    assert at_arc(STYLE.centre_dash + STYLE.centre_gap / 2) == STYLE.road
    solid = render_ground_texture(
        *straight(), closed=False, style=replace(STYLE, centre_gap=0.0, resolution=0.01)
    )
    assert all(value_at(solid, x, 0.0) == STYLE.centre_line for x in np.arange(0.1, 5.9, 0.07))


def test_open_track_regions_and_orientation() -> None:
    # The track lies at y in [0.7, 1.7]: a flipped row axis would put it at negative y.
    centre, inner, outer = straight(y=1.2)
    texture = render_ground_texture(centre, inner, outer, closed=False, style=STYLE)
    assert value_at(texture, 3.0, 1.45) == STYLE.road
    assert value_at(texture, 3.0, 1.2 + HALF_WIDTH - 0.02) == STYLE.border_line
    assert value_at(texture, 3.0, 1.2 - HALF_WIDTH + 0.02) == STYLE.border_line
    assert_floor(texture, value_at(texture, 3.0, 0.5))
    assert_floor(texture, value_at(texture, -0.3, 1.45))  # beyond the open end
    assert texture.world_to_texel(3.0, 1.7)[0] > texture.world_to_texel(3.0, 0.7)[0]


def test_origin_and_resolution_mapping(ring: GroundTexture) -> None:
    res = ring.resolution
    assert res == STYLE.resolution
    for level, image in enumerate(ring.levels):
        res_l = res * 2**level
        r, c = image.shape[0] - 1, image.shape[1] // 3
        x = ring.origin_x + (c + 0.5) * res_l
        y = ring.origin_y + (r + 0.5) * res_l
        assert ring.world_to_texel(x, y, level) == (r, c)
        assert ring.world_to_texel(ring.origin_x + 1e-9, ring.origin_y + 1e-9, level) == (0, 0)
    # The texture covers the track's bounding box plus the margin.
    assert ring.origin_x <= -(RADIUS + HALF_WIDTH) - STYLE.margin
    assert ring.origin_x + ring.levels[0].shape[1] * res >= RADIUS + HALF_WIDTH + STYLE.margin


def test_mip_levels_and_flat_buffer(ring: GroundTexture) -> None:
    assert len(ring.levels) == STYLE.mip_levels
    for fine, coarse in zip(ring.levels[:-1], ring.levels[1:], strict=True):
        assert coarse.shape == (fine.shape[0] // 2, fine.shape[1] // 2)
        quad = fine.astype(np.int64).reshape(coarse.shape[0], 2, coarse.shape[1], 2).sum((1, 3))
        np.testing.assert_array_equal(coarse, (quad + 2) // 4)
    for level, image in enumerate(ring.levels):
        start = ring.level_offsets[level]
        flat = ring.texels[start : start + image.size]
        np.testing.assert_array_equal(flat.reshape(ring.level_shapes[level]), image)
        # Guard band: the outermost texels of every level are exactly the wall.
        for edge in (image[0], image[-1], image[:, 0], image[:, -1]):
            assert np.all(edge == STYLE.wall)


def test_zero_length_segments_are_tolerated() -> None:
    centre, inner, outer = straight()
    doubled = [np.repeat(line, 2, axis=0) for line in (centre, inner, outer)]
    style = replace(STYLE, resolution=0.01)
    plain = render_ground_texture(centre, inner, outer, closed=False, style=style)
    repeated = render_ground_texture(*doubled, closed=False, style=style)
    for a, b in zip(plain.levels, repeated.levels, strict=True):
        np.testing.assert_array_equal(a, b)
    ring_dup = [np.insert(circle(r), 5, circle(r)[5], axis=0) for r in (RADIUS, 2.5, 3.5)]
    texture = render_ground_texture(*ring_dup, closed=True, style=style)
    assert value_at(texture, 0.0, RADIUS - 0.25) == STYLE.road


def test_deterministic_and_read_only(ring: GroundTexture) -> None:
    lines = (circle(RADIUS), circle(RADIUS - HALF_WIDTH), circle(RADIUS + HALF_WIDTH))
    grainy = render_ground_texture(*lines, closed=True)
    again = render_ground_texture(*lines, closed=True)
    np.testing.assert_array_equal(again.texels, grainy.texels)
    other = render_ground_texture(*lines, closed=True, style=TextureStyle(noise_seed=1))
    assert not np.array_equal(other.texels, grainy.texels)
    with pytest.raises(ValueError):
        ring.levels[0][0, 0] = 1


def test_field_ends_at_the_wall(ring: GroundTexture) -> None:
    # The field is the bounding box of the track plus the margin; beyond it lies the wall.
    edge = RADIUS + HALF_WIDTH + STYLE.margin
    assert value_at(ring, edge - 0.02, 0.0) == STYLE.floor
    assert value_at(ring, edge + 0.02, 0.0) == STYLE.wall
    assert value_at(ring, 0.0, -(edge + 0.02)) == STYLE.wall
    assert ring.wall == STYLE.wall and ring.floor == STYLE.floor


def test_grain_per_material() -> None:
    style = TextureStyle()
    texture = render_ground_texture(*straight(length=8.0), closed=False, style=style)
    level0 = texture.levels[0].astype(np.float64)

    def texels(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        r0, c0 = texture.world_to_texel(x0, y0)
        r1, c1 = texture.world_to_texel(x1, y1)
        return level0[r0:r1, c0:c1]

    road = texels(1.0, 7.0, 0.1, 0.35)  # between the centre line and the left border
    field = texels(1.0, 7.0, 0.7, 1.2)
    line = texels(1.0, 7.0, 0.44, 0.49)  # inside the 7.6 cm left border
    for patch, level, noise in [(road, style.road, style.road_noise),
                                (field, style.floor, style.floor_noise),
                                (line, style.border_line, style.border_noise)]:  # fmt: skip
        assert abs(np.mean(patch) - level) < 0.5
        assert np.std(patch) == pytest.approx(noise, rel=0.1)
    # The field ends 0.914 m behind the open end (x = 0) and beside the borders (y = +-0.5).
    for wall in (texels(-1.2, -0.95, -1.8, 1.8), texels(0.0, 8.0, 1.45, 1.8)):
        assert wall.size > 1000 and np.all(wall == style.wall)  # flat, as its texture is


def test_line_sizes_are_deepracers() -> None:
    # The simapp's track meshes: 3 in borders, 1 in wide centre dashes 2 in long every 4 in.
    inch = 0.0254
    style = TextureStyle()
    assert style.border_line_width == pytest.approx(3 * inch)
    assert style.centre_line_width == pytest.approx(inch)
    assert (style.centre_dash, style.centre_gap) == pytest.approx((2 * inch, 2 * inch))


def test_style_for_track() -> None:
    assert texture_style_for_track("reinvent_base") is REINVENT_2018 == TextureStyle()
    for name in ("2022_summit_speedway_mini", "reInvent2019_track_ccw", "oval"):
        assert texture_style_for_track(name) is DEEPRACER_2019
    assert DEEPRACER_2019.margin == pytest.approx(0.762)
    assert DEEPRACER_2019.border_line_width == REINVENT_2018.border_line_width


def test_bad_input_raises() -> None:
    with pytest.raises(TrackError):
        render_ground_texture(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), closed=True)
    with pytest.raises(TrackError):
        bad = circle(1.0)
        bad[3, 0] = np.nan
        render_ground_texture(bad, circle(0.5), circle(1.5), closed=True)
    for kwargs in ({"road": 256}, {"wall": -1}, {"resolution": 0.0}, {"centre_gap": -1.0},
                   {"mip_levels": 0}, {"road_noise": -1.0}):  # fmt: skip
        with pytest.raises(ConfigError):
            TextureStyle(**kwargs)


def test_the_env_camera_wears_each_tracks_textures():
    from racer.env.config import EnvConfig
    from racer.env.vec_env import RacerVecEnv

    tracks = {"oval": DEEPRACER_2019}
    reinvent = SHARED / "deepracer-tracks/reinvent_base.npy"
    if reinvent.exists():
        tracks[str(reinvent)] = REINVENT_2018
    for track, style in tracks.items():
        env = RacerVecEnv(EnvConfig(track=track), 1, seed=0)
        try:
            texture = env.core.sensors.camera.texture
            assert (texture.floor, texture.wall) == (style.floor, style.wall), track
            frame = env.reset()[0, 100:, 60:100, 0]  # the road just ahead of the car
            assert abs(float(np.median(frame)) - style.road) <= 6, track
        finally:
            env.close()
