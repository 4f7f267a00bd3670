"""Oriented 3-D boxes drawn into rendered camera frames: DeepRacer's obstacles and bot cars.

The ground renderer (:mod:`racer.sensors.camera`) draws a flat world. Object-avoidance boxes and
head-to-bot cars stand on it, so they are drawn afterwards, into the finished frames, by casting
each pixel's camera ray against every box of that car with the slab test (a box is the
intersection of three slabs in its own frame). The nearest hit wins, which gives exact occlusion
between boxes; the ground is always behind them, as nothing is drawn below the ground plane. The
camera model is the ground renderer's: same focal length, mount and pitch, pixel ``(u, v)``
covering ``[u, u + 1) x [v, v + 1)`` with its centre at ``(u + 0.5, v + 0.5)``.

Anti-aliasing: DeepRacer renders 640x480 and downsizes bilinearly to 160x120, so an object edge
blends over about one output pixel. Here each pixel corner's ray is cast first. A pixel whose four
corners hit the same face of the same box is filled with that face's shade; one whose four
corners all miss keeps its ground value; only the others (edge pixels) are supersampled with
``supersample x supersample`` rays and blended with the ground by coverage. Faces project to
convex polygons, so the corner test is exact except for a box vertex poking into a pixel without
covering a corner: an error of well under half a pixel's area.

Faces are flat-shaded by their orientation in the box frame: the two ends (normal along the box
heading), the two sides and the top. With DeepRacer's camera 0.13 m above the ground and its box
0.25 m tall, the top of a box is above the camera and never seen; a bot car's roof is.

Conventions as in the camera: world x east, y north, yaw counter-clockwise from +x; a box's
length runs along its yaw, its width across, its height up from the ground (z = 0).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from racer.errors import ConfigError
from racer.sensors.camera import CameraConfig

FloatArray = npt.NDArray[np.float64]

_NEAR = 0.01
"""Near plane [m along the optical axis]: nearer surface is clipped (not drawn)."""
_PARAMS = 12
"""Per visible box: ray origin (3) and direction coefficients A, Du, Dv (3 each), box frame."""
_BLOCK = 4
"""Side of the pixel blocks [px] that are filled whole when inside one face of one box."""


#: Grey levels (end, side, top) of a drawn bot car: darker than the brown boxes (about 103 luma),
#: with a lighter roof, so the two kinds of object look different. An estimate, like BOT_HEIGHT.
BOT_SHADE = (45, 35, 80)
#: Grey levels (end, side, top) of another racing car in a multi-car race: lighter than a bot.
RACER_SHADE = (70, 60, 120)


@dataclass(frozen=True)
class BoxStyle:
    """Size, grey levels and sampling of the drawn boxes (defaults: DeepRacer's ``box_obstacle``).

    The size is the visual box of the simapp's ``models/box_obstacle/model.sdf`` (0.4 x 0.3 x
    0.25 m). :class:`racer.objects.obstacles.Obstacles` uses 0.5 x 0.4 m, the same box plus the
    0.1 m buffer DeepRacer's collision and frustum code add; that footprint is not what the camera
    sees.
    The box's colour is brown #7b614f, luma (ITU-R 601, as rl_coach's RGB->grey) about 103; the
    face levels scale it by rough Lambert factors of an overhead sun, so the ends and sides differ
    and the box's vertical edges show. They are estimates, not measured from simapp frames.
    """

    length: float = 0.4
    """Box size along its yaw [m] when the call gives none."""
    width: float = 0.3
    """Box size across its yaw [m] when the call gives none."""
    height: float = 0.25
    """Box height above the ground [m] when the call gives none."""
    top: int = 115
    """Grey level of the top face (uint8)."""
    end: int = 90
    """Grey level of the two end faces, normal along the box's yaw (uint8): what cars behind see."""
    side: int = 70
    """Grey level of the two side faces, normal across the box's yaw (uint8)."""
    supersample: int = 4
    """Rays per pixel along each axis at box edges (4 matches DeepRacer's 640 -> 160 downsizing)."""

    def __post_init__(self) -> None:
        for name in ("length", "width", "height"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f"BoxStyle.{name} must be a finite size > 0 [m], got {value!r}")
        for name in ("top", "end", "side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ConfigError(f"BoxStyle.{name} must be an int grey level, got {value!r}")
            if not 0 <= value <= 255:
                raise ConfigError(f"BoxStyle.{name} must be a grey level in 0..255, got {value}")
        if self.supersample not in range(1, 9) or isinstance(self.supersample, bool):
            raise ConfigError(
                f"BoxStyle.supersample must be an int in 1..8, got {self.supersample!r}"
            )

    @property
    def shade(self) -> tuple[int, int, int]:
        """Grey levels (end, side, top), the order of the ``shade`` argument of ``render``."""
        return (self.end, self.side, self.top)


class BoxRenderer:
    """Draws N cars' boxes into their camera frames in one call.

    Args:
        camera_config: The camera the frames were rendered with (intrinsics and mount).
        style: Default box size and grey levels, and the edge supersampling.
    """

    def __init__(self, camera_config: CameraConfig, style: BoxStyle = BoxStyle()) -> None:
        self.camera_config = camera_config
        self.style = style
        cfg = camera_config
        f = cfg.focal_length
        sp, cp = math.sin(cfg.pitch), math.cos(cfg.pitch)
        # The car-frame (forward, left, up) direction of the ray through continuous image point
        # (u, v) is rays[0] + u * rays[1] + v * rays[2]; its component along the optical axis
        # is 1, so a ray parameter is a depth [m] and depths of different boxes compare.
        half_w, half_h = 0.5 * cfg.width / f, 0.5 * cfg.height / f
        self._rays = np.array(
            [[cp + sp * half_h, half_w, -sp + cp * half_h], [0.0, -1.0 / f, 0.0],
             [-sp / f, 0.0, -cp / f]]
        )  # fmt: skip
        self._camera = np.array(
            [cfg.mount_forward, cfg.mount_lateral, cfg.mount_height, f, sp, cp, cfg.max_distance]
        )
        self._scratch: tuple[np.ndarray, ...] | None = None
        self._style_arrays: dict[int, tuple[FloatArray, FloatArray, FloatArray, np.ndarray]] = {}

    def _buffers(self, n: int, m: int) -> tuple[np.ndarray, ...]:
        """Per-car scratch, reused while (N, M) stays the same.

        (N, M, 12) visible boxes' ray parameters, (N, M, 5) their box index and pixel bbox,
        (N, 3, 8) one box's corners in camera coordinates, (N, 2, W + 1) two rows of block-corner
        hits, (N, (_BLOCK + 1)**2) one block's pixel-corner hits.
        """
        s = self._scratch
        if s is None or s[0].shape[:2] != (n, m):
            width = self.camera_config.width
            s = (np.empty((n, m, _PARAMS)), np.empty((n, m, 5), np.int64), np.empty((n, 3, 8)),
                 np.empty((n, 2, width + 1), np.int64),
                 np.empty((n, (_BLOCK + 1) ** 2), np.int64))  # fmt: skip
            self._scratch = s
        return s

    def _sizes(
        self, m: int, length: object, width: object, height: object, shade: object
    ) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
        """The per-box (M,) sizes [m] and (M, 3) grey levels; None takes the style's value."""
        cached = self._style_arrays.get(m)
        if cached is None:
            st = self.style
            cached = (np.full(m, st.length), np.full(m, st.width), np.full(m, st.height),
                      np.tile(np.array(st.shade, np.int64), (m, 1)))  # fmt: skip
            self._style_arrays[m] = cached
        sizes = []
        for k, (name, value) in enumerate((("length", length), ("width", width),
                                           ("height", height))):  # fmt: skip
            if value is None:
                sizes.append(cached[k])
                continue
            array = np.broadcast_to(np.asarray(value, np.float64), (m,))
            if not np.all(array > 0.0):
                raise ValueError(f"box {name} must be > 0 [m], got {value!r}")
            sizes.append(np.ascontiguousarray(array))
        if shade is None:
            grey = cached[3]
        else:
            grey = np.asarray(shade)
            if grey.shape not in ((3,), (m, 3)) or np.any(grey < 0) or np.any(grey > 255):
                raise ValueError(
                    f"shade must be (3,) or (M, 3) grey levels in 0..255 (end, side, top) with "
                    f"M = {m}, got shape {grey.shape}"
                )
            grey = np.ascontiguousarray(np.broadcast_to(grey.astype(np.int64), (m, 3)))
        return sizes[0], sizes[1], sizes[2], grey

    def render(
        self,
        frames: npt.NDArray[np.uint8],
        car_x: npt.ArrayLike,
        car_y: npt.ArrayLike,
        car_yaw: npt.ArrayLike,
        box_x: npt.ArrayLike,
        box_y: npt.ArrayLike,
        box_yaw: npt.ArrayLike,
        length: npt.ArrayLike | None = None,
        width: npt.ArrayLike | None = None,
        height: npt.ArrayLike | None = None,
        shade: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Draw the boxes of N cars into their frames, in place.

        Args:
            frames: Rendered ground frames, (N, H, W, C) uint8, C-contiguous; every channel is
                blended with the same grey.
            car_x: Base_link x, (N,) float64 [m].
            car_y: Base_link y, (N,) float64 [m].
            car_yaw: Heading, (N,) float64 [rad], counter-clockwise from +x.
            box_x: Box centres' x, (N, M) float64 [m], row i the boxes car i sees, or (M,) shared
                by all cars. A non-finite x marks an absent box.
            box_y: Box centres' y, same shape as ``box_x`` [m].
            box_yaw: Box headings, same shape as ``box_x`` [rad].
            length: Box sizes along their yaw, scalar or (M,) [m]; None for ``style.length``.
            width: Box sizes across their yaw, scalar or (M,) [m]; None for ``style.width``.
            height: Box heights, scalar or (M,) [m]; None for ``style.height``.
            shade: Grey levels (end, side, top), (3,) or (M, 3) in 0..255; None for the style's.

        Returns:
            ``frames``.

        Raises:
            ValueError: If a shape, dtype or size does not match.
        """
        car_x = np.ascontiguousarray(car_x, dtype=np.float64)
        car_y = np.ascontiguousarray(car_y, dtype=np.float64)
        car_yaw = np.ascontiguousarray(car_yaw, dtype=np.float64)
        n = car_x.shape[0] if car_x.ndim == 1 else -1
        if car_x.ndim != 1 or car_y.shape != car_x.shape or car_yaw.shape != car_x.shape:
            raise ValueError(
                f"car_x, car_y, car_yaw must be (N,) arrays, got {car_x.shape}, {car_y.shape}, "
                f"{car_yaw.shape}"
            )
        cfg = self.camera_config
        if (frames.ndim != 4 or frames.shape[:3] != (n, cfg.height, cfg.width)
                or frames.dtype != np.uint8 or not frames.flags.c_contiguous):  # fmt: skip
            raise ValueError(
                f"frames must be a C-contiguous uint8 array of shape ({n}, {cfg.height}, "
                f"{cfg.width}, C), got {frames.dtype} {frames.shape}"
            )
        boxes = [np.ascontiguousarray(a, dtype=np.float64) for a in (box_x, box_y, box_yaw)]
        boxes = [a.reshape(1, -1) if a.ndim == 1 else a for a in boxes]
        m = boxes[0].shape[1] if boxes[0].ndim == 2 else -1
        if any(a.ndim != 2 or a.shape[0] not in (1, n) or a.shape != boxes[0].shape
               for a in boxes):  # fmt: skip
            raise ValueError(
                f"box_x, box_y, box_yaw must all be (N, M) with N = {n}, or (M,), got "
                f"{[a.shape for a in boxes]}"
            )
        if m == 0 or n == 0:
            return frames
        sizes = self._sizes(m, length, width, height, shade)
        _boxes_kernel(
            car_x, car_y, car_yaw, boxes[0], boxes[1], boxes[2], *sizes, self._camera,
            self._rays, self.style.supersample, *self._buffers(n, m), frames,
        )  # fmt: skip
        return frames


@numba.njit(cache=True, inline="always")
def _slab(o, d, lo, hi):
    # Entry and exit ray parameters of the slab lo <= o + t d <= hi. A ray parallel to the slab
    # is inside it for every t, or for none: (-inf, inf) or (inf, -inf), never 0 * inf = NaN.
    if d != 0.0:
        inv = 1.0 / d  # one division instead of two: the edge samples' cost is mostly these
        ta = (lo - o) * inv
        tb = (hi - o) * inv
        return (ta, tb) if ta < tb else (tb, ta)
    if lo <= o <= hi:
        return -np.inf, np.inf
    return np.inf, -np.inf


@numba.njit(cache=True, inline="always")
def _hit(p, u, v, half_length, half_width, height):
    """Depth [m] and face (0 end, 1 side, 2 top; -1 miss) of the ray through image (u, v)."""
    dx = p[3] + u * p[6] + v * p[9]
    dy = p[4] + u * p[7] + v * p[10]
    dz = p[5] + u * p[8] + v * p[11]
    tx0, tx1 = _slab(p[0], dx, -half_length, half_length)
    ty0, ty1 = _slab(p[1], dy, -half_width, half_width)
    tz0, tz1 = _slab(p[2], dz, 0.0, height)
    enter, face = tx0, 0
    if ty0 > enter:
        enter, face = ty0, 1
    if tz0 > enter:
        enter, face = tz0, 2
    leave = min(tx1, ty1, tz1)
    # Entering behind the near plane means the camera is inside or the face is clipped.
    if enter < leave and enter >= _NEAR:
        return enter, face
    return np.inf, -1


@numba.njit(cache=True, inline="always")
def _cast(u, v, k_count, params_i, index_i, length, width, height):
    """Nearest hit of the ray through image (u, v) among a car's visible boxes.

    Returns 3 * slot + face, or -1 for a miss. Boxes whose closed pixel bbox excludes (u, v)
    are skipped: a pixel corner on a bbox's far edge still belongs to it.
    """
    best_t, best = np.inf, -1
    for k in range(k_count):
        b = index_i[k]
        if u < b[1] or v < b[3] or u > b[2] or v > b[4]:
            continue
        j = b[0]
        t, face = _hit(params_i[k], u, v, 0.5 * length[j], 0.5 * width[j], height[j])
        if face >= 0 and t < best_t:
            best_t, best = t, 3 * k + face
    return best


@numba.njit(cache=True)
def _project_corners(i, j, row, cam_x, cam_y, c, s, box_x, box_y, box_yaw, length, width, height,
                     camera, corners):  # fmt: skip
    """Car i's camera coordinates (right, down, depth) [m] of box j's 8 corners into corners[i].

    Returns the smallest forward distance [m] of a corner from the camera, along the car.
    """
    mh, sp, cp = camera[2], camera[4], camera[5]
    bx, by, byaw = box_x[row, j], box_y[row, j], box_yaw[row, j]
    cb, sb = math.cos(byaw), math.sin(byaw)
    hl, hw = 0.5 * length[j], 0.5 * width[j]
    nearest = np.inf
    for corner in range(8):
        a = hl if corner & 1 else -hl
        b = hw if corner & 2 else -hw
        rel_x = bx + cb * a - sb * b - cam_x
        rel_y = by + sb * a + cb * b - cam_y
        fwd = c * rel_x + s * rel_y
        left = -s * rel_x + c * rel_y
        up = (height[j] if corner & 4 else 0.0) - mh
        corners[i, 0, corner] = -left
        corners[i, 1, corner] = -sp * fwd - cp * up
        corners[i, 2, corner] = cp * fwd - sp * up
        nearest = min(nearest, fwd)
    return nearest


@numba.njit(cache=True)
def _image_bounds(ci, f, width_px, height_px):
    """Image bbox (u_min, u_max, v_min, v_max) [px] of a box from its corners ci (3, 8).

    The box's image is the convex hull of its corners in front of the near plane and of the
    points where its edges cross that plane, so a box straddling the plane does not wrap round.
    """
    u_min, u_max, v_min, v_max = np.inf, -np.inf, np.inf, -np.inf
    for a in range(8):
        for bit in (0, 1, 2, 4):
            b = a ^ bit
            if bit == 0 and ci[2, a] >= _NEAR:
                w = 0.0
            elif bit != 0 and ci[2, a] >= _NEAR > ci[2, b]:
                w = (ci[2, a] - _NEAR) / (ci[2, a] - ci[2, b])
            else:
                continue
            depth = ci[2, a] + w * (ci[2, b] - ci[2, a])
            qu = 0.5 * width_px + f * (ci[0, a] + w * (ci[0, b] - ci[0, a])) / depth
            qv = 0.5 * height_px + f * (ci[1, a] + w * (ci[1, b] - ci[1, a])) / depth
            u_min, u_max = min(u_min, qu), max(u_max, qu)
            v_min, v_max = min(v_min, qv), max(v_max, qv)
    return max(u_min, 0.0), min(u_max, width_px), max(v_min, 0.0), min(v_max, height_px)


@numba.njit(cache=True)
def _prepare(i, row, x, y, yaw, box_x, box_y, box_yaw, length, width, height, camera, rays,
             params, index, corners, width_px, height_px):  # fmt: skip
    """Fill car i's visible-box ray parameters and pixel bboxes; returns the visible count."""
    mf, ml, mh, f, max_distance = camera[0], camera[1], camera[2], camera[3], camera[6]
    c, s = math.cos(yaw[i]), math.sin(yaw[i])
    cam_x = x[i] + c * mf - s * ml
    cam_y = y[i] + s * mf + c * ml
    count = 0
    for j in range(box_x.shape[1]):
        bx, by, byaw = box_x[row, j], box_y[row, j], box_yaw[row, j]
        if not (math.isfinite(bx) and math.isfinite(by) and math.isfinite(byaw)):
            continue  # an absent box
        nearest = _project_corners(i, j, row, cam_x, cam_y, c, s, box_x, box_y, box_yaw,
                                   length, width, height, camera, corners)  # fmt: skip
        if nearest > max_distance:
            continue  # the ground renderer shows the backdrop there
        u0, u1, v0, v1 = _image_bounds(corners[i], f, width_px, height_px)
        if not (u0 < u1 and v0 < v1):
            continue  # behind the camera or outside the field of view
        p = params[i, count]
        cb, sb = math.cos(byaw), math.sin(byaw)
        rel_x, rel_y = cam_x - bx, cam_y - by
        p[0], p[1], p[2] = cb * rel_x + sb * rel_y, -sb * rel_x + cb * rel_y, mh
        # Car frame -> box frame is a rotation by the relative heading; up is unchanged.
        cr, sr = math.cos(yaw[i] - byaw), math.sin(yaw[i] - byaw)
        for r in range(3):
            p[3 + 3 * r] = cr * rays[r, 0] - sr * rays[r, 1]
            p[4 + 3 * r] = sr * rays[r, 0] + cr * rays[r, 1]
            p[5 + 3 * r] = rays[r, 2]
        index[i, count, 0] = j
        index[i, count, 1] = math.floor(u0)
        index[i, count, 2] = math.ceil(u1)
        index[i, count, 3] = math.floor(v0)
        index[i, count, 4] = math.ceil(v1)
        count += 1
    return count


@numba.njit(cache=True, inline="always")
def _alone(slot, u0, v0, u1, v1, k_count, index_i):
    """True if no visible box but ``slot`` (-1: none) has a bbox touching [u0, u1] x [v0, v1]."""
    for k in range(k_count):
        b = index_i[k]
        if k != slot and b[1] <= u1 and b[2] >= u0 and b[3] <= v1 and b[4] >= v0:
            return False
    return True


@numba.njit(cache=True)
def _draw_block(u0, v0, u1, v1, k_count, params_i, index_i, corner, length, width, height, shade,
                ss, frame):  # fmt: skip
    """Draw pixels [u0, u1) x [v0, v1) one by one: uniform ones filled, edge ones supersampled."""
    span = u1 - u0 + 1
    for v in range(v0, v1 + 1):
        for u in range(u0, u1 + 1):
            corner[(v - v0) * span + u - u0] = _cast(u, v, k_count, params_i, index_i, length,
                                                     width, height)  # fmt: skip
    samples = ss * ss
    for v in range(v0, v1):
        for u in range(u0, u1):
            q = (v - v0) * span + u - u0
            a = corner[q]
            if a == corner[q + 1] and a == corner[q + span] and a == corner[q + span + 1]:
                if a >= 0:
                    frame[v, u, :] = shade[index_i[a // 3, 0], a % 3]
                continue
            total, covered = 0, 0
            for sy in range(ss):
                vs = v + (sy + 0.5) / ss
                for sx in range(ss):
                    hit = _cast(u + (sx + 0.5) / ss, vs, k_count, params_i, index_i, length,
                                width, height)  # fmt: skip
                    if hit >= 0:
                        total += shade[index_i[hit // 3, 0], hit % 3]
                        covered += 1
            if covered:
                for ch in range(frame.shape[2]):
                    ground = (samples - covered) * np.int64(frame[v, u, ch])
                    frame[v, u, ch] = (total + ground + samples // 2) // samples


@numba.njit(cache=True)
def _draw(k_count, params_i, index_i, lines_i, corner, length, width, height, shade, ss, frame):
    """Draw one car's visible boxes into its frame (H, W, C).

    The union of the boxes' bboxes is cut into _BLOCK-pixel blocks. A block whose four corners
    hit the same face of the only box near it lies inside that face (faces project to convex
    polygons) and is filled at once; a block near no box is skipped; others go pixel by pixel.
    """
    u_lo, u_hi = index_i[0, 1], index_i[0, 2]
    v_lo, v_hi = index_i[0, 3], index_i[0, 4]
    for k in range(1, k_count):
        u_lo, u_hi = min(u_lo, index_i[k, 1]), max(u_hi, index_i[k, 2])
        v_lo, v_hi = min(v_lo, index_i[k, 3]), max(v_hi, index_i[k, 4])
    n_u = (u_hi - u_lo + _BLOCK - 1) // _BLOCK
    n_v = (v_hi - v_lo + _BLOCK - 1) // _BLOCK
    for bu in range(n_u + 1):
        lines_i[0, bu] = _cast(u_lo + bu * _BLOCK, v_lo, k_count, params_i, index_i, length,
                               width, height)  # fmt: skip
    for bv in range(n_v):
        v0 = v_lo + bv * _BLOCK
        v1 = min(v0 + _BLOCK, v_hi)
        top, bottom = lines_i[bv & 1], lines_i[(bv + 1) & 1]
        for bu in range(n_u + 1):
            bottom[bu] = _cast(u_lo + bu * _BLOCK, v0 + _BLOCK, k_count, params_i, index_i,
                               length, width, height)  # fmt: skip
        for bu in range(n_u):
            u0 = u_lo + bu * _BLOCK
            u1 = min(u0 + _BLOCK, u_hi)
            a = top[bu]
            uniform = a == top[bu + 1] and a == bottom[bu] and a == bottom[bu + 1]
            if uniform and _alone(a // 3 if a >= 0 else -1, u0, v0, u1, v1, k_count, index_i):
                if a >= 0:
                    frame[v0:v1, u0:u1, :] = shade[index_i[a // 3, 0], a % 3]
                continue
            _draw_block(u0, v0, u1, v1, k_count, params_i, index_i, corner, length, width,
                        height, shade, ss, frame)  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _boxes_kernel(x, y, yaw, box_x, box_y, box_yaw, length, width, height, shade, camera, rays, ss,
                  params, index, corners, lines, block, out):  # fmt: skip
    """Draw every car's boxes into out (N, H, W, C); one work item per car."""
    n, height_px, width_px = out.shape[0], out.shape[1], out.shape[2]
    for i in numba.prange(n):
        row = min(np.int64(i), box_x.shape[0] - 1)  # (1, M) boxes are shared by all cars
        k_count = _prepare(i, row, x, y, yaw, box_x, box_y, box_yaw, length, width, height,
                           camera, rays, params, index, corners, width_px, height_px)  # fmt: skip
        if k_count:
            _draw(k_count, params[i], index[i], lines[i], block[i], length, width, height, shade,
                  ss, out[i])  # fmt: skip
