"""Tests of the batched camera: closed-form geometry, symmetry, batching, a slow reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.sensors.camera import Camera, CameraConfig
from racer.sensors.texture import GroundTexture, TextureStyle, render_ground_texture

FLAT = TextureStyle(floor_noise=0, road_noise=0, border_noise=0)
CONFIG = CameraConfig()
H, W = CONFIG.height, CONFIG.width
F = 0.5 * W / math.tan(0.5 * CONFIG.horizontal_fov)


def straight_track(length: float = 6.0, half_width: float = 0.5) -> tuple[np.ndarray, ...]:
    """Open straight track from (0, 0) to (length, 0): centre, inner (+y, left), outer."""
    x = np.linspace(0.0, length, 13)
    return tuple(np.stack([x, np.full_like(x, y)], axis=1) for y in (0.0, half_width, -half_width))


def oval_track(half_straight: float = 2.0, radius: float = 1.5) -> tuple[np.ndarray, ...]:
    """Closed stadium centred at the origin, symmetric about the x axis: centre, inner, outer."""
    a = np.linspace(-math.pi / 2, math.pi / 2, 41)

    def ring(r: float) -> np.ndarray:
        right = np.stack([half_straight + r * np.cos(a), r * np.sin(a)], axis=1)
        left = np.stack([-half_straight - r * np.cos(a), -r * np.sin(a)], axis=1)
        points = np.concatenate([right, left])
        return np.concatenate([points, points[:1]])

    return ring(radius), ring(radius - 0.5), ring(radius + 0.5)


@pytest.fixture(scope="module")
def straight_texture() -> GroundTexture:
    return render_ground_texture(*straight_track(), closed=False, style=FLAT)


@pytest.fixture(scope="module")
def oval_texture() -> GroundTexture:
    solid = dataclasses.replace(FLAT, centre_gap=0.0)  # a dash pattern has no mirror symmetry
    return render_ground_texture(*oval_track(), closed=True, style=solid)


def render(camera: Camera, x: float, y: float, yaw: float) -> np.ndarray:
    out = np.zeros((1, *camera.shape), dtype=np.uint8)
    camera.render(np.array([x]), np.array([y]), np.array([yaw]), out)
    return out[0, :, :, 0]


def ground_ahead_of_camera(row: float, config: CameraConfig = CONFIG) -> float:
    """Closed form: ground distance ahead of the camera [m] seen at image row coordinate ``row``."""
    depression = config.pitch + math.atan((row - 0.5 * config.height) / F)
    return config.mount_height / math.tan(depression)


def project(forward: float, left: float, config: CameraConfig = CONFIG) -> tuple[float, float]:
    """Pinhole projection of a car-frame ground point -> continuous image (u, v) [px]."""
    p = np.array(
        [forward - config.mount_forward, left - config.mount_lateral, -config.mount_height]
    )
    s, c = math.sin(config.pitch), math.cos(config.pitch)
    optical, right, down = np.array([c, 0, -s]), np.array([0, -1, 0]), np.array([-s, 0, -c])
    depth = p @ optical
    return 0.5 * W + F * (p @ right) / depth, 0.5 * H + F * (p @ down) / depth


def test_shape_and_tables(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    assert camera.shape == (120, 160, 1)
    assert camera.ground_points.shape == (120, 160, 2)
    assert set(np.unique(camera.subrows)) <= {1, 2, 4}


def test_horizon_matches_closed_form(straight_texture: GroundTexture) -> None:
    config = dataclasses.replace(CONFIG, max_distance=1e4)
    camera = Camera(config, straight_texture)
    horizon = 0.5 * H - F * math.tan(config.pitch)
    assert camera.horizon_row == pytest.approx(horizon, abs=1e-9)
    # Far outside the field, looking away from it: all is wall, the ground beyond the field too.
    image = render(camera, 100.0, 0.0, 0.0)
    for v in range(H):
        if v + 1 <= horizon or v >= horizon + 1:
            assert np.all(image[v] == FLAT.wall), v
    assert np.all(np.isnan(camera.ground_points[: math.floor(horizon)]))
    assert not np.any(np.isnan(camera.ground_points[math.ceil(horizon) :]))


def test_bottom_row_distance(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    centre = ground_ahead_of_camera(H - 0.5)
    ahead = camera.ground_points[H - 1, :, 0] - CONFIG.mount_forward
    np.testing.assert_allclose(ahead, centre, rtol=1e-12)
    vertical_fov = 2.0 * math.atan(0.5 * H / F)
    edge = CONFIG.mount_height / math.tan(CONFIG.pitch + 0.5 * vertical_fov)
    assert edge < centre < ground_ahead_of_camera(H - 1.0)  # half a pixel from the image edge
    # The road starts at world x = 0: 2 cm beyond the bottom row's ground point it is unseen,
    # 2 cm before it fills the bottom row.
    base = -(CONFIG.mount_forward + centre)
    assert np.all(render(camera, base - 0.02, 0.0, 0.0)[H - 1] == FLAT.floor)
    assert not np.any(render(camera, base + 0.02, 0.0, 0.0)[H - 1] == FLAT.floor)


def test_straight_road_is_left_right_symmetric(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    for x in (1.0, 2.3):
        image = render(camera, x, 0.0, 0.0)
        assert np.mean(image == image[:, ::-1]) >= 0.99
        assert np.mean(np.abs(image.astype(int) - image[:, ::-1])) < 1.0


def test_facing_the_left_border(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    # Facing north from the centre line: the left border line covers y in [0.5 - width, 0.5],
    # the field y in [0.5, 0.5 + margin], the wall the rest.
    image = render(camera, 3.0, 0.0, math.pi / 2)
    line = 0.5 - FLAT.border_line_width
    field = 0.5 + FLAT.margin
    for v in range(math.ceil(camera.horizon_row) + 1, H):
        near = CONFIG.mount_forward + ground_ahead_of_camera(v + 1.0)
        far = CONFIG.mount_forward + ground_ahead_of_camera(v)
        if line + 0.005 <= near and far <= 0.495:
            assert np.all(image[v] == FLAT.border_line), v
        elif 0.505 <= near and far <= field - 0.01:
            assert np.all(image[v] == FLAT.floor), v
        elif field + 0.01 <= near and far <= 2.0:
            assert np.all(image[v] == FLAT.wall), v
        elif far <= line - 0.005:
            assert np.all(image[v] == FLAT.road), v


def test_left_appears_on_the_left(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    image = render(camera, 2.0, 0.0, 0.0)
    v = 45  # about 1 m ahead of base_link
    forward = CONFIG.mount_forward + ground_ahead_of_camera(v + 0.5)
    u, v_check = project(forward, 0.5 - FLAT.border_line_width / 2)  # the left border's middle
    assert v_check == pytest.approx(v + 0.5)
    assert 5 < u < W / 2 - 20
    assert image[v, math.floor(u)] == FLAT.border_line
    assert image[v, math.floor(W - u)] == FLAT.border_line  # the right border, mirrored
    assert np.all(image[v, math.floor(u) + 8 : W // 2 - 10] == FLAT.road)


def test_mirror_pose_gives_mirror_image(oval_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, oval_texture)
    for x, y, yaw in [(0.0, 1.5, 0.0), (1.3, -1.6, 0.4), (2.5, 0.7, 1.2), (-2.9, 0.2, -1.9)]:
        image = render(camera, x, y, yaw)
        mirror = render(camera, x, -y, -yaw)
        assert np.mean(image == mirror[:, ::-1]) >= 0.99, (x, y, yaw)
        assert np.mean(np.abs(image.astype(int) - mirror[:, ::-1])) < 1.0


def test_stereo_offset_mirrors_too(oval_texture: GroundTexture) -> None:
    left = Camera(dataclasses.replace(CONFIG, mount_lateral=0.03), oval_texture)
    right = Camera(dataclasses.replace(CONFIG, mount_lateral=-0.03), oval_texture)
    image = render(left, 1.0, 1.45, 0.1)
    mirror = render(right, 1.0, -1.45, -0.1)
    assert np.mean(image == mirror[:, ::-1]) >= 0.99


def test_batched_equals_single(oval_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, oval_texture)
    rng = np.random.default_rng(1)
    n = 7
    x, y = rng.uniform(-4.0, 4.0, n), rng.uniform(-2.5, 2.5, n)
    yaw = rng.uniform(-math.pi, math.pi, n)
    out = np.zeros((n, *camera.shape), dtype=np.uint8)
    assert camera.render(x, y, yaw, out) is out
    for i in range(n):
        np.testing.assert_array_equal(out[i, :, :, 0], render(camera, x[i], y[i], yaw[i]))


def reference_frame(camera: Camera, texture: GroundTexture, x: float, y: float, yaw: float):
    """Slow numpy frame from the pinhole model in 3D; returns (image, mask of pure-ground pixels).

    Only the sampling plan (sub-rows and mip level per row) is taken from the camera.
    """
    cfg = camera.config
    s, c = math.sin(cfg.pitch), math.cos(cfg.pitch)
    camera_to_car = np.column_stack([[0, -1, 0], [-s, 0, -c], [c, 0, -s]])  # right, down, optical
    car_to_world = np.array(
        [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
    )
    mount = np.array([cfg.mount_forward, cfg.mount_lateral, cfg.mount_height])
    eye = np.array([x, y, 0.0]) + car_to_world @ mount
    image = np.zeros((cfg.height, cfg.width), dtype=np.int64)
    ground = np.ones((cfg.height, cfg.width), dtype=bool)
    xn = (np.arange(cfg.width) + 0.5 - 0.5 * cfg.width) / F
    for v in range(cfg.height):
        n, level = camera.subrows[v], camera.mip_levels[v]
        levels, res = texture.levels[level], texture.resolution * 2**level
        total = np.zeros(cfg.width, dtype=np.int64)
        for k in range(n):
            yn = (v + (k + 0.5) / n - 0.5 * cfg.height) / F
            rays_camera = np.stack([xn, np.full_like(xn, yn), np.ones_like(xn)], axis=1)
            rays = rays_camera @ camera_to_car.T
            with np.errstate(divide="ignore"):
                t = -cfg.mount_height / rays[:, 2]
            hit = (rays[:, 2] < 0) & (t * rays[:, 0] <= cfg.max_distance)
            ground[v] &= hit
            t = np.where(hit, t, 0.0)
            world = eye + t[:, None] * (rays @ car_to_world.T)
            col = np.floor((world[:, 0] - texture.origin_x) / res).astype(int)
            row = np.floor((world[:, 1] - texture.origin_y) / res).astype(int)
            inside = (col >= 0) & (col < levels.shape[1]) & (row >= 0) & (row < levels.shape[0])
            values = np.full(cfg.width, texture.wall, dtype=np.int64)
            values[inside] = levels[row[inside], col[inside]]
            total += values
        image[v] = (total + n // 2) // n
        if not ground[v].any():
            image[v] = backdrop(texture, eye, rays @ car_to_world.T)
    return image, ground


def backdrop(texture: GroundTexture, eye: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Slow shade of (M, 3) world rays from ``eye`` that miss the ground: the wall or the sky."""
    x0, y0, x1, y1 = texture.field
    with np.errstate(divide="ignore", invalid="ignore"):
        runs = [(np.where(rays[:, k] > 0, high, low) - eye[k]) / rays[:, k]
                for k, low, high in ((0, x0, x1), (1, y0, y1))]  # fmt: skip
    t = np.fmin(*[np.where(np.isfinite(r) & (r > 0), r, np.inf) for r in runs])
    over = eye[2] + t * rays[:, 2] > texture.wall_height
    return np.where(over, texture.sky, texture.wall)


@pytest.mark.parametrize("pose", [(0.3, 1.55, 0.05), (2.8, -0.9, -2.0), (-3.6, 0.4, 1.7)])
def test_kernel_matches_slow_reference(pose: tuple[float, float, float]) -> None:
    texture = render_ground_texture(*oval_track(), closed=True)  # default style, dashes and grain
    camera = Camera(CONFIG, texture)
    image = render(camera, *pose)
    expected, ground = reference_frame(camera, texture, *pose)
    assert ground.sum() > 0.6 * image.size
    assert np.mean(image[ground] == expected[ground]) >= 0.99
    above = ~ground.any(axis=1)  # rows that see no ground at all: the wall or the sky
    assert np.mean(image[above] == expected[above]) >= 0.99


@pytest.mark.parametrize("yaw", [0.0, math.pi])
def test_sky_over_a_far_wall_only(straight_texture: GroundTexture, yaw: float) -> None:
    # The field ends a margin beyond the straight road (x in [0, 6]); its wall is 1 m high. From
    # x = 0.5 the east wall is far enough to see the sky over it, the west wall is not.
    camera = Camera(CONFIG, straight_texture)
    image = render(camera, 0.5, 0.0, yaw)
    eye = 0.5 + math.cos(yaw) * CONFIG.mount_forward
    run = (6.0 + FLAT.margin - eye) if yaw == 0.0 else (eye + FLAT.margin)
    u = W // 2  # the centre column looks straight ahead (to 0.4 px)
    sky_rows = 0
    for v in range(math.floor(camera.horizon_row)):
        elevation = -CONFIG.pitch - math.atan((v + 0.5 - 0.5 * H) / F)
        over = run * math.tan(elevation) - (FLAT.wall_height - CONFIG.mount_height)
        if abs(over) > 0.01:
            assert image[v, u] == (FLAT.sky if over > 0 else FLAT.wall), v
        sky_rows += image[v, u] == FLAT.sky
    assert (sky_rows > 3) == (yaw == 0.0)


def test_outside_the_texture_is_wall(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    image = render(camera, -50.0, 30.0, 2.0)
    assert np.all(image[math.ceil(camera.horizon_row) + 3 :] == FLAT.wall)


def test_bad_config_raises() -> None:
    bad = [
        {"width": 0},
        {"height": -5},
        {"width": 160.0},
        {"horizontal_fov": 0.0},
        {"horizontal_fov": math.pi},
        {"mount_height": 0.0},
        {"pitch": 2.0},
        {"max_distance": 0.0},
        {"max_subrows": 3},
        {"mount_forward": math.inf},
    ]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            CameraConfig(**kwargs)


def test_wall_must_stand_taller_than_the_camera() -> None:
    low = dataclasses.replace(FLAT, wall_height=0.1)  # the camera is 0.13 m up
    with pytest.raises(ConfigError, match="taller than the camera"):
        Camera(CONFIG, render_ground_texture(*straight_track(), closed=False, style=low))


def test_render_checks_shapes(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    pose = np.zeros(2)
    with pytest.raises(ValueError):
        camera.render(pose, pose, pose, np.zeros((3, *camera.shape), dtype=np.uint8))
    with pytest.raises(ValueError):
        camera.render(pose, pose, pose, np.zeros((2, *camera.shape), dtype=np.float32))
    with pytest.raises(ValueError):
        camera.render(pose, pose[:1], pose, np.zeros((2, *camera.shape), dtype=np.uint8))


def test_empty_batch_and_non_finite_poses(straight_texture: GroundTexture) -> None:
    camera = Camera(CONFIG, straight_texture)
    empty = np.zeros((0, *camera.shape), dtype=np.uint8)
    assert camera.render(np.zeros(0), np.zeros(0), np.zeros(0), empty).shape == (0, 120, 160, 1)
    # A NaN or infinite pose must not index outside the texture; the frame is just garbage.
    out = np.zeros((3, *camera.shape), dtype=np.uint8)
    camera.render(np.array([np.nan, np.inf, 1.0]), np.array([0.0, -np.inf, 0.0]),
                  np.array([0.0, 0.0, np.nan]), out)  # fmt: skip
