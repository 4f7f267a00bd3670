"""DeepRacer's crash rule (SPEC 1.3 item 12): hand-built cases and a brute-force shapely loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from racer.objects.collision import corners_in_boxes, footprint_corners
from racer.physics.car import CarParams

CAR = CarParams()
HALF_L, HALF_W = 0.5 * 0.32352, 0.5 * 0.1961


def car(x, y, yaw):
    return footprint_corners([x], [y], [yaw], CAR.length, CAR.width)


def test_footprint_is_centred_on_base_link_in_deepracer_corner_order():
    corners = car(0.0, 0.0, 0.0)[0]
    expected = [[HALF_L, HALF_W], [HALF_L, -HALF_W], [-HALF_L, -HALF_W], [-HALF_L, HALF_W]]
    np.testing.assert_allclose(corners, expected)
    turned = car(1.0, 2.0, math.pi / 2)[0]
    np.testing.assert_allclose(turned, [[1.0 - HALF_W, 2.0 + HALF_L], [1.0 + HALF_W, 2.0 + HALF_L],
                                        [1.0 + HALF_W, 2.0 - HALF_L], [1.0 - HALF_W, 2.0 - HALF_L]],
                               atol=1e-15)  # fmt: skip


def test_car_nose_inside_a_box_is_a_crash_and_touching_its_edge_is_not():
    box = dict(box_x=[1.0], box_y=[0.0], box_yaw=[0.0], box_length=0.5, box_width=0.4)
    nose_in = car(0.76 - HALF_L, 0.0, 0.0)
    assert corners_in_boxes(nose_in, **box).tolist() == [0]
    assert corners_in_boxes(car(0.5 - HALF_L, 0.0, 0.0), **box).tolist() == [-1]
    # Exactly on the edge: shapely's `contains` is strict, so no crash.
    assert corners_in_boxes(car(0.75 - HALF_L, 0.0, 0.0), **box).tolist() == [-1]


def test_car_alongside_a_box_is_not_a_crash():
    box = dict(box_x=[0.0], box_y=[0.0], box_yaw=[0.0], box_length=0.5, box_width=0.4)
    beside = car(0.0, 0.2 + HALF_W + 0.01, 0.0)
    assert corners_in_boxes(beside, **box).tolist() == [-1]
    grazing = car(0.0, 0.2 + HALF_W - 0.01, 0.0)
    assert corners_in_boxes(grazing, **box).tolist() == [0]


def test_only_the_cars_corners_count():
    # A box turned 45 degrees pokes its corner into the car's flank; no car corner is inside it,
    # so DeepRacer registers no crash.
    yaw = math.pi / 4
    reach = 0.25 * math.sin(yaw) + 0.2 * math.cos(yaw)  # lowest box corner below its centre
    box_y = HALF_W + reach - 0.03
    box = dict(box_x=[0.0], box_y=[box_y], box_yaw=[yaw], box_length=0.5, box_width=0.4)
    assert corners_in_boxes(car(0.0, 0.0, 0.0), **box).tolist() == [-1]
    box_corners = footprint_corners([0.0], [box_y], [yaw], 0.5, 0.4)[0]
    car_poly = Polygon(car(0.0, 0.0, 0.0)[0])
    assert any(car_poly.contains(Point(p)) for p in box_corners)


def test_rotated_boxes():
    yaw = math.radians(30.0)
    box = dict(box_x=[2.0], box_y=[1.0], box_yaw=[yaw], box_length=0.5, box_width=0.4)
    # A car corner 0.2 m along and 0.15 m across the box's own axes is inside...
    p = np.array([2.0, 1.0]) + 0.2 * np.array([math.cos(yaw), math.sin(yaw)]) \
        + 0.15 * np.array([-math.sin(yaw), math.cos(yaw)])  # fmt: skip
    corners = np.array([[p, p + 5.0, p + 5.0, p + 5.0]])
    assert corners_in_boxes(corners, **box).tolist() == [0]
    # ...but 0.24 m east, 0.15 m south, inside the box had it not been turned, is not
    # (0.133 m along, -0.250 m across in the box's axes).
    q = np.array([2.24, 0.85])
    corners = np.array([[q, q + 5.0, q + 5.0, q + 5.0]])
    assert corners_in_boxes(corners, **box).tolist() == [-1]


def test_no_boxes_means_no_crash():
    corners = footprint_corners(np.zeros(3), np.zeros(3), np.zeros(3), 0.3, 0.2)
    assert corners_in_boxes(corners, [], [], [], 0.5, 0.4).tolist() == [-1, -1, -1]


def test_many_cars_many_boxes_equal_a_brute_force_loop():
    rng = np.random.default_rng(3)
    n, m = 400, 9
    cx, cy, cyaw = rng.uniform(0, 3, n), rng.uniform(0, 3, n), rng.uniform(-math.pi, math.pi, n)
    bx, by, byaw = rng.uniform(0, 3, m), rng.uniform(0, 3, m), rng.uniform(-math.pi, math.pi, m)
    bl, bw = rng.uniform(0.3, 0.8, m), rng.uniform(0.2, 0.5, m)
    corners = footprint_corners(cx, cy, cyaw, CAR.length, CAR.width)
    got = corners_in_boxes(corners, bx, by, byaw, bl, bw)
    boxes = [Polygon(footprint_corners([bx[j]], [by[j]], [byaw[j]], bl[j], bw[j])[0])
             for j in range(m)]  # fmt: skip
    expected = []
    for i in range(n):
        hit = -1
        for j, poly in enumerate(boxes):
            if any(poly.contains(Point(p)) for p in corners[i]):
                hit = j
                break
        expected.append(hit)
    assert got.tolist() == expected
    assert sum(h >= 0 for h in expected) > 20  # the sample does exercise crashes
    assert len({h for h in expected if h >= 0}) > 3


@pytest.mark.parametrize("n", [1, 5])
def test_out_buffer_is_filled(n):
    out = np.zeros((n, 4, 2))
    res = footprint_corners(np.ones(n), np.ones(n), np.zeros(n), 0.4, 0.2, out=out)
    assert res is out
    assert out[0, 0].tolist() == [1.2, 1.1]
