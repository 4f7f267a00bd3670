"""The lidar reads the right distances in hand-built scenes, and its three observations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon

from racer.errors import ConfigError
from racer.sensors.lidar import (
    LidarSpec,
    discretized_observation,
    lidar_observation,
    scan,
    sector_observation,
)

SPEC = LidarSpec()
TALL = 0.5  # [m] taller than the lidar (0.1847 m)


def one(x, y, yaw, boxes, height=TALL, spec=SPEC):
    """Scan of one car at (x, y, yaw) among boxes [(x, y, yaw, length, width)]."""
    b = np.array(boxes, np.float64).reshape(-1, 5)
    return scan(spec, [x], [y], [yaw], b[:, 0], b[:, 1], b[:, 2], b[:, 3], b[:, 4], height)[0]


def test_the_rays_run_from_30_degrees_left_round_the_back_to_30_right():
    angles = SPEC.car_angles
    assert angles.shape == (64,)
    assert angles[0] == pytest.approx(math.radians(30.0), abs=1e-5)
    assert angles[-1] == pytest.approx(-math.radians(30.0), abs=1e-5)
    # no ray within 30 degrees of straight ahead
    assert np.abs(angles).min() == pytest.approx(math.radians(30.0), abs=1e-5)


def test_a_box_straight_behind():
    ranges = one(0.0, 0.0, 0.0, [(-1.0, 0.0, 0.0, 0.5, 0.4)])
    # the two middle rays, 0.0416 rad either side of straight back, meet the face at x = -0.75
    off = SPEC.half_angle / 63.0
    expected = (0.0291 + 0.75) / math.cos(off)
    assert ranges[31] == pytest.approx(expected, abs=1e-12)
    assert ranges[32] == pytest.approx(expected, abs=1e-12)
    assert np.isinf(ranges[:20]).all() and np.isinf(ranges[44:]).all()


def test_nothing_is_seen_straight_ahead_nor_below_the_lidar():
    assert np.isinf(one(0.0, 0.0, 0.0, [(1.0, 0.0, 0.0, 0.5, 0.4)])).all()
    low = one(0.0, 0.0, 0.0, [(-1.0, 0.0, 0.0, 0.5, 0.4)], height=0.15)
    assert np.isinf(low).all()


def test_the_nearer_of_two_boxes_on_a_ray_wins():
    near_only = one(0.0, 0.0, 0.0, [(-1.0, 0.0, 0.0, 0.5, 0.4)])
    both = one(0.0, 0.0, 0.0, [(-3.0, 0.0, 0.0, 0.5, 2.0), (-1.0, 0.0, 0.0, 0.5, 0.4)])
    assert both[31] == near_only[31]
    assert np.isfinite(both).sum() > np.isfinite(near_only).sum()  # the wide far box shows round


def test_exact_against_shapely_in_random_scenes():
    rng = np.random.default_rng(7)
    for _ in range(20):
        cx, cy, cyaw = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-math.pi, math.pi)
        boxes = [(rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(-math.pi, math.pi),
                  rng.uniform(0.2, 1.0), rng.uniform(0.2, 1.0)) for _ in range(6)]  # fmt: skip
        ranges = one(cx, cy, cyaw, boxes)
        ox, oy = cx + 0.0291 * math.cos(cyaw), cy + 0.0291 * math.sin(cyaw)
        polygons = []
        for bx, by, byaw, length, width in boxes:
            c, s = math.cos(byaw), math.sin(byaw)
            hl, hw = length / 2, width / 2
            corners = [(bx + c * u - s * v, by + s * u + c * v)
                       for u, v in ((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))]  # fmt: skip
            polygons.append(Polygon(corners))
        for k, angle in enumerate(SPEC.car_angles):
            a = cyaw + angle
            ray = LineString([(ox, oy), (ox + 12 * math.cos(a), oy + 12 * math.sin(a))])
            best = math.inf
            for polygon in polygons:
                if polygon.contains(Point(ox, oy)):
                    best = 0.0
                hit = ray.intersection(polygon.exterior)
                points = getattr(hit, "geoms", [hit]) if not hit.is_empty else []
                for point in points:
                    for px, py in point.coords:
                        best = min(best, math.hypot(px - ox, py - oy))
            expected = best if SPEC.min_range <= best <= SPEC.max_range else math.inf
            assert ranges[k] == pytest.approx(expected, abs=1e-9), (k, ranges[k], expected)


def test_batched_cars_with_their_own_boxes_equal_single_scans():
    cars = np.array([(0.0, 0.0, 0.0), (1.0, 2.0, 1.0), (-2.0, 0.5, -2.0)])
    boxes = np.array([[(-1.0, 0.0, 0.0), (0.0, 1.0, 0.5)],
                      [(0.0, 2.0, 0.0), (1.0, 3.0, 0.2)],
                      [(-1.0, 1.5, 1.0), (-3.0, -1.0, 0.0)]])  # fmt: skip
    batch = scan(SPEC, cars[:, 0], cars[:, 1], cars[:, 2], boxes[..., 0], boxes[..., 1],
                 boxes[..., 2], 0.5, 0.4, TALL)  # fmt: skip
    for i in range(3):
        alone = one(*cars[i], [(*b, 0.5, 0.4) for b in boxes[i]])
        np.testing.assert_array_equal(batch[i], alone)


def test_noise_is_seeded_gaussian_and_rounded():
    boxes = [(-1.0, 0.0, 0.0, 0.5, 4.0)]
    exact = one(0.0, 0.0, 0.0, boxes)
    b = np.array(boxes)
    noisy = [scan(SPEC, [0.0], [0.0], [0.0], b[:, 0], b[:, 1], b[:, 2], b[:, 3], b[:, 4], TALL,
                  rng=np.random.default_rng(seed))[0] for seed in range(200)]  # fmt: skip
    noisy = np.array(noisy)
    seen = np.isfinite(exact)
    assert np.allclose(noisy[:, seen] / 0.01, np.round(noisy[:, seen] / 0.01))
    error = (noisy[:, seen] - exact[seen]).ravel()
    assert abs(error.mean()) < 0.002 and 0.008 < error.std() < 0.012
    again = scan(SPEC, [0.0], [0.0], [0.0], b[:, 0], b[:, 1], b[:, 2], b[:, 3], b[:, 4], TALL,
                 rng=np.random.default_rng(0))[0]  # fmt: skip
    np.testing.assert_array_equal(again, noisy[0])


def test_the_three_observations():
    ranges = np.full((1, 64), np.inf)
    ranges[0, 3] = 0.3  # sector 0
    ranges[0, 9] = 0.6  # sector 1
    ranges[0, 20] = 1.99  # sector 2
    ranges[0, 30] = 2.0  # sector 3: at the clipping distance, no bit
    raw = lidar_observation(ranges)
    assert raw.dtype == np.float32 and raw[0, 3] == pytest.approx(0.3) and raw[0, 0] == 1.0
    assert raw[0, 20] == 1.0
    assert sector_observation(ranges).tolist() == [[1, 0, 0, 0, 0, 0, 0, 0]]
    bits = discretized_observation(ranges, 8, 8, 2.0).reshape(8, 8)
    assert bits.sum(axis=1).tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert np.argmax(bits[0]) == 1 and np.argmax(bits[1]) == 2 and np.argmax(bits[2]) == 7
    with pytest.raises(ConfigError, match="do not divide"):
        sector_observation(ranges, 7)


def test_bad_specs():
    with pytest.raises(ConfigError):
        LidarSpec(min_range=2.0, max_range=1.0)
    with pytest.raises(ConfigError):
        LidarSpec(samples=1)
