"""Tests of the box renderer: closed-form perspective, occlusion, clipping, ground alignment,
batching, and agreement with a slow numpy ray caster."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.objects.drawing import BoxRenderer, BoxStyle
from racer.sensors.camera import Camera, CameraConfig
from racer.sensors.texture import TextureStyle, render_ground_texture

CONFIG = CameraConfig()
H, W = CONFIG.height, CONFIG.width
F = CONFIG.focal_length
SP, CP = math.sin(CONFIG.pitch), math.cos(CONFIG.pitch)
BACKGROUND = 200
STYLE = BoxStyle()
END, SIDE, TOP = STYLE.end, STYLE.side, STYLE.top


@pytest.fixture(scope="module")
def renderer() -> BoxRenderer:
    return BoxRenderer(CONFIG)


def draw(
    renderer: BoxRenderer,
    boxes: list[tuple[float, float, float]],
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0),
    background: int = BACKGROUND,
    **kwargs: object,
) -> np.ndarray:
    """One car's frame (H, W) int64: boxes (x, y, yaw) drawn over a uniform background."""
    frames = np.full((1, H, W, 1), background, dtype=np.uint8)
    b = np.array(boxes, dtype=np.float64).reshape(-1, 3)
    renderer.render(frames, [pose[0]], [pose[1]], [pose[2]],
                    b[None, :, 0], b[None, :, 1], b[None, :, 2], **kwargs)  # fmt: skip
    return frames[0, :, :, 0].astype(np.int64)


def ahead(distance: float, lateral: float = 0.0, yaw: float = 0.0) -> tuple[float, float, float]:
    """A box whose near end face is ``distance`` [m] ahead of the camera (car at the origin)."""
    return (CONFIG.mount_forward + distance + 0.5 * STYLE.length, lateral, yaw)


def test_style_validation() -> None:
    with pytest.raises(ConfigError, match="height"):
        BoxStyle(height=0.0)
    with pytest.raises(ConfigError, match="grey level"):
        BoxStyle(top=256)
    with pytest.raises(ConfigError, match="supersample"):
        BoxStyle(supersample=0)
    assert STYLE.shade == (STYLE.end, STYLE.side, STYLE.top)


def test_shape_errors(renderer: BoxRenderer) -> None:
    frames = np.zeros((2, H, W, 1), dtype=np.uint8)
    zeros = np.zeros(2)
    with pytest.raises(ValueError, match="frames"):
        renderer.render(frames[:1], zeros, zeros, zeros, zeros, zeros, zeros)
    with pytest.raises(ValueError, match="box_x"):
        renderer.render(frames, zeros, zeros, zeros, np.zeros((3, 2)), zeros, zeros)
    with pytest.raises(ValueError, match="shade"):
        renderer.render(frames, zeros, zeros, zeros, zeros, zeros, zeros, shade=[1, 2])


def test_box_ahead_is_centred_and_symmetric(renderer: BoxRenderer) -> None:
    image = draw(renderer, [ahead(1.0)])
    coverage = (BACKGROUND - image) / (BACKGROUND - END)
    assert coverage.max() == pytest.approx(1.0)
    assert np.all(image[coverage > 0.999] == END)  # only the end face shows: no side, no top
    columns = coverage.sum(axis=0)
    centre = (columns * (np.arange(W) + 0.5)).sum() / columns.sum()
    assert centre == pytest.approx(0.5 * W, abs=0.05)
    np.testing.assert_array_equal(image, image[:, ::-1])


def test_mirror_pose_gives_mirror_image(renderer: BoxRenderer) -> None:
    boxes = [(1.4, 0.3, 0.4), (2.6, -0.4, -1.0), (1.9, 0.05, 2.0)]
    image = draw(renderer, boxes, pose=(0.1, 0.2, 0.1))
    mirror = draw(renderer, [(x, -y, -yaw) for x, y, yaw in boxes], pose=(0.1, -0.2, -0.1))
    assert np.count_nonzero(image != BACKGROUND) > 500
    assert np.abs(image - mirror[:, ::-1]).max() <= 2
    assert np.mean(image == mirror[:, ::-1]) >= 0.999


@pytest.mark.parametrize("distance", [1.0, 2.0, 3.0])
def test_perspective_width_closed_form(renderer: BoxRenderer, distance: float) -> None:
    image = draw(renderer, [ahead(distance)])
    coverage = (BACKGROUND - image) / (BACKGROUND - END)
    # The end face is a plane at ``distance`` ahead: the ray of image row v meets it at depth
    # distance / c_v, and a width w spans f * w * c_v / distance pixels there.
    top = H / 2 + F * (-SP * distance - CP * (STYLE.height - CONFIG.mount_height)) / (
        CP * distance - SP * (STYLE.height - CONFIG.mount_height)
    )
    bottom = H / 2 + F * (-SP * distance + CP * CONFIG.mount_height) / (
        CP * distance + SP * CONFIG.mount_height
    )
    # The face's top and bottom edges, through the pinhole projection, bound the centre column.
    assert coverage[:, W // 2].sum() == pytest.approx(bottom - top, abs=0.15)
    rows = coverage.sum(axis=1)
    for v in range(math.ceil(top) + 1, math.floor(bottom) - 1):
        c_v = CP - (v + 0.5 - H / 2) / F * SP
        assert rows[v] == pytest.approx(F * STYLE.width * c_v / distance, abs=0.3), v


def test_width_halves_when_distance_doubles(renderer: BoxRenderer) -> None:
    widths = []
    for distance in (1.0, 2.0):
        image = draw(renderer, [ahead(distance)])
        widths.append(((BACKGROUND - image) / (BACKGROUND - END)).sum(axis=1).max())
    assert widths[1] / widths[0] == pytest.approx(0.5, abs=0.02)


def test_near_box_occludes_far_box(renderer: BoxRenderer) -> None:
    near, far = ahead(1.0), ahead(2.5)
    size = {"length": [0.4, 0.4], "width": [0.3, 1.0], "height": [0.25, 0.6]}
    shade = np.array([[100, 100, 100], [20, 20, 20]])
    both = draw(renderer, [near, far], shade=shade, **size)
    swapped = draw(renderer, [far, near], shade=shade[::-1],
                   **{k: v[::-1] for k, v in size.items()})  # fmt: skip
    np.testing.assert_array_equal(both, swapped)  # order does not matter, depth does
    near_alone = draw(renderer, [near], shade=shade[:1], length=0.4, width=0.3, height=0.25)
    inside = near_alone == 100
    assert inside.sum() > 1000
    assert np.all(both[inside] == 100)  # no far-box colour where the near box fully covers
    assert np.count_nonzero(both == 20) > 500  # the taller, wider far box shows around it


def test_box_behind_or_outside_the_view_draws_nothing(renderer: BoxRenderer) -> None:
    for box in [(-1.0, 0.0, 0.3), (-0.3, 0.0, 0.0), (1.0, 5.0, 0.0), (0.5, -3.0, 1.0),
                (CONFIG.max_distance + 1.0, 0.0, 0.0)]:  # fmt: skip
        assert np.all(draw(renderer, [box]) == BACKGROUND), box


def test_box_straddling_the_camera_plane(renderer: BoxRenderer) -> None:
    # Half of the box is behind the camera, to its left: it fills the left edge of the image and
    # must not wrap round to the right.
    box = (CONFIG.mount_forward + 0.05, 0.2, 0.0)
    image = draw(renderer, [box])
    assert np.count_nonzero(image != BACKGROUND) > 500
    assert np.all(image[:, W // 2 :] == BACKGROUND)
    assert np.all(image[:, 0] != BACKGROUND)
    # The camera inside a box (a bot car overlapping the car): nothing drawn, no crash.
    assert np.all(draw(renderer, [(CONFIG.mount_forward, 0.0, 0.7)]) == BACKGROUND)


def test_top_face_seen_only_when_below_the_camera(renderer: BoxRenderer) -> None:
    shade = [100, 50, 230]
    low = draw(renderer, [ahead(0.8, 0.2, 0.5)], height=0.08, shade=shade)
    assert {100, 50, 230} <= set(np.unique(low))  # end, side and top, each its own shade
    # DeepRacer's 0.25 m box stands taller than the 0.13 m camera: its top is never seen.
    tall = draw(renderer, [ahead(0.8, 0.2, 0.5)], shade=shade)
    assert {100, 50} <= set(np.unique(tall)) and 230 not in set(np.unique(tall))


def test_base_edge_meets_the_ground_render(renderer: BoxRenderer) -> None:
    # An open straight road from x = 0 to 6: at x = 6 the dark road meets the lighter floor.
    x = np.linspace(0.0, 6.0, 13)
    lines = tuple(np.stack([x, np.full_like(x, y)], axis=1) for y in (0.0, 0.5, -0.5))
    # Flat (no grain), with the field reaching past the rows read below (the wall beyond it
    # would be a second edge).
    style = TextureStyle(floor_noise=0, road_noise=0, border_noise=0, margin=5.0)
    camera = Camera(CONFIG, render_ground_texture(*lines, closed=False, style=style))
    frames = np.zeros((1, *camera.shape), dtype=np.uint8)
    pose = ([4.0], [0.0], [0.0])
    camera.render(*pose, frames)
    ground = frames[0, :, :, 0].astype(np.float64)
    # A box standing on the road with its near face exactly over that edge, to the car's left.
    renderer.render(frames, *pose, [[6.0 + 0.5 * STYLE.length]], [[0.25]], [[0.0]])
    image = frames[0, :, :, 0].astype(np.float64)

    def edge_row(fraction: np.ndarray) -> float:
        """Image row [px] where a column's ``fraction`` of upper material drops from 1 to 0."""
        start = int(np.flatnonzero(fraction < 0.999)[0])
        assert np.all(fraction[start - 3 : start] > 0.999) and np.all(fraction[start + 2 :] == 0)
        return start + fraction[start:].sum()

    u_box = round(W / 2 - F * 0.25 / 1.85)  # 0.25 m left, about 1.85 m ahead of the camera
    u_ground = W - 1 - u_box  # the mirror column sees the bare edge
    below = slice(30, 45)  # clear of the backdrop above and of the centre line below
    # The box's coverage of each pixel, from the frame before and after drawing it: a partly
    # covered pixel blends the box with the pixel's ground value.
    covered = (image[below, u_box] - ground[below, u_box]) / (END - ground[below, u_box])
    floor = (ground[below, u_ground] - style.road) / (style.floor - style.road)
    ahead_of_camera = 6.0 - 4.0 - CONFIG.mount_forward
    exact = H / 2 + F * math.tan(math.atan(CONFIG.mount_height / ahead_of_camera) - CONFIG.pitch)
    assert 30 + edge_row(floor) == pytest.approx(exact, abs=0.1)
    assert 30 + edge_row(covered) == pytest.approx(exact, abs=0.1)


def test_batched_equals_single_and_shared_equals_tiled(renderer: BoxRenderer) -> None:
    rng = np.random.default_rng(3)
    n, m = 6, 4
    x, y = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
    yaw = rng.uniform(-0.3, 0.3, n)
    bx, by = rng.uniform(0.6, 3.0, (n, m)), rng.uniform(-0.8, 0.8, (n, m))
    byaw = rng.uniform(-math.pi, math.pi, (n, m))
    bx[2, 1] = np.nan  # an absent box
    frames = np.full((n, H, W, 1), BACKGROUND, dtype=np.uint8)
    renderer.render(frames, x, y, yaw, bx, by, byaw)
    for i in range(n):
        alone = draw(renderer, list(zip(bx[i], by[i], byaw[i], strict=True)), (x[i], y[i], yaw[i]))
        np.testing.assert_array_equal(frames[i, :, :, 0], alone)
    assert np.array_equal(draw(renderer, [(bx[2, k], by[2, k], byaw[2, k]) for k in (0, 2, 3)],
                               (x[2], y[2], yaw[2])), frames[2, :, :, 0])  # fmt: skip
    shared = np.full((n, H, W, 1), BACKGROUND, dtype=np.uint8)
    renderer.render(shared, x, y, yaw, bx[0], by[0], byaw[0])
    tiled = np.full((n, H, W, 1), BACKGROUND, dtype=np.uint8)
    renderer.render(tiled, x, y, yaw, *(np.tile(a[0], (n, 1)) for a in (bx, by, byaw)))
    np.testing.assert_array_equal(shared, tiled)


def test_no_boxes_leaves_frames_unchanged(renderer: BoxRenderer) -> None:
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, (3, H, W, 2), dtype=np.uint8)
    before = frames.copy()
    empty = np.zeros((3, 0))
    assert renderer.render(frames, np.zeros(3), np.zeros(3), np.zeros(3), empty, empty,
                           empty) is frames  # fmt: skip
    np.testing.assert_array_equal(frames, before)


def test_every_channel_blends_with_its_own_ground(renderer: BoxRenderer) -> None:
    frames = np.zeros((1, H, W, 2), dtype=np.uint8)
    frames[..., 0], frames[..., 1] = 40, 240
    renderer.render(frames, [0.0], [0.0], [0.0], [[ahead(1.5)[0]]], [[0.0]], [[0.0]])
    inside = frames[0, :, :, 0] == END
    assert np.array_equal(inside, frames[0, :, :, 1] == END) and inside.any()
    edge = (frames[0, :, :, 0] != 40) & ~inside
    assert np.all(frames[0, :, :, 0][edge] < END) and np.all(frames[0, :, :, 1][edge] > END)


def reference_frame(
    boxes: np.ndarray, pose: tuple[float, float, float], style: BoxStyle, background: int
) -> np.ndarray:
    """Slow numpy ray caster: every pixel supersampled, nearest box per ray; (H, W) int64."""
    ss = style.supersample
    offsets = (np.arange(ss) + 0.5) / ss
    u = (np.arange(W)[:, None] + offsets[None, :]).ravel()  # (W * ss,)
    v = (np.arange(H)[:, None] + offsets[None, :]).ravel()
    xn, yn = np.meshgrid((u - W / 2) / F, (v - H / 2) / F)  # (H * ss, W * ss)
    fwd, left, up = CP - yn * SP, -xn, -(SP + yn * CP)
    c, s = math.cos(pose[2]), math.sin(pose[2])
    eye = np.array([pose[0] + c * CONFIG.mount_forward, pose[1] + s * CONFIG.mount_forward])
    dx, dy = c * fwd - s * left, s * fwd + c * left
    best = np.full(xn.shape, np.inf)
    grey = np.full(xn.shape, background, dtype=np.int64)
    for bx, by, byaw in boxes:
        cb, sb = math.cos(byaw), math.sin(byaw)
        ox, oy = cb * (eye[0] - bx) + sb * (eye[1] - by), -sb * (eye[0] - bx) + cb * (eye[1] - by)
        local = (cb * dx + sb * dy, -sb * dx + cb * dy, up)
        origin = (ox, oy, CONFIG.mount_height)
        bounds = ((-style.length / 2, style.length / 2), (-style.width / 2, style.width / 2),
                  (0.0, style.height))  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore"):
            t = [((lo - o) / d, (hi - o) / d) for (lo, hi), o, d in zip(bounds, origin, local,
                                                                          strict=True)]  # fmt: skip
        near = np.stack([np.minimum(a, b) for a, b in t])
        far = np.stack([np.maximum(a, b) for a, b in t])
        enter, face = near.max(axis=0), near.argmax(axis=0)
        hit = (enter < far.min(axis=0)) & (enter >= 0.01) & (enter < best)
        best[hit] = enter[hit]
        grey[hit] = np.array(style.shade)[face[hit]]
    return (grey.reshape(H, ss, W, ss).sum(axis=(1, 3)) + ss * ss // 2) // (ss * ss)


def test_matches_slow_reference(renderer: BoxRenderer) -> None:
    boxes = np.array([(1.2, 0.35, 0.3), (2.0, -0.1, -0.6), (3.1, 0.4, 1.2), (1.6, -0.6, 0.0)])
    for pose in [(0.0, 0.0, 0.0), (0.3, -0.1, 0.15), (0.6, 0.2, -0.2)]:
        image = draw(renderer, boxes.tolist(), pose)
        reference = reference_frame(boxes, pose, STYLE, BACKGROUND)
        assert np.count_nonzero(image != BACKGROUND) > 1000
        assert np.abs(image - reference).max() <= 2, pose
        assert np.mean(image == reference) > 0.999, pose


def test_low_supersampling_still_matches_reference() -> None:
    style = dataclasses.replace(STYLE, supersample=2)
    boxes = np.array([(1.5, 0.1, 0.4)])
    image = draw(BoxRenderer(CONFIG, style), boxes.tolist())
    np.testing.assert_array_equal(image, reference_frame(boxes, (0.0, 0.0, 0.0), style, BACKGROUND))
