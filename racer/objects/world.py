"""Every car's objects: its boxes, its bot cars and the other racers of its world, batched.

Each of the core's N cars has its own K = M + B + R objects: its world's M boxes, its world's B
bot cars, then (a multi-car race of K racers per world) the R = racers - 1 other racing cars of
its world, in the (N, K) arrays ``x``, ``y``, ``yaw``. The racers of one world share its boxes
and bots, drawn from the world's first car's generator; a car that finishes a race parks off the
track until the others finish (SPEC 5.1's PARK).

`ObjectWorld` owns those arrays and what the env's core asks of them: start poses clear of the
objects (SPEC 4.5), moving the bots and following the racers, hits (SPEC 1.3 item 12), the params
keys (SPEC 1.2) and where a car restarts after a reset next to a box (SPEC 5.2). A time trial is
the world with K = 0, where each of these is a no-op or the plain answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from racer.objects.bots import (
    BOT_HEIGHT,
    BOT_LENGTH,
    BOT_WIDTH,
    BotConfig,
    BotState,
    pause_bots,
    place_bots,
    tick_bots,
    update_poses,
)
from racer.objects.collision import corners_in_boxes, footprint_corners
from racer.objects.drawing import BOT_SHADE, RACER_SHADE, BoxStyle
from racer.objects.obstacles import (
    ObstacleConfig,
    Obstacles,
    place_obstacles,
    place_obstacles_batch,
)
from racer.objects.params import (
    BOT_CAR_Z,
    OBSTACLE_Z,
    ObjectTable,
    describe_objects,
    describe_obstacles,
    empty_table,
    object_params,
    split_table,
    write_rows,
)
from racer.objects.starts import Gaps, cleared_starts, grid_starts, restart_pose
from racer.physics.car import CarParams, CarState
from racer.track import Track

#: [m] the collision rectangle of a box is this much longer and wider than the box itself.
BOX_BUFFER = 0.1
#: The BotState arrays, copied from a world's first car to the others (they share the bots).
_BOT_FIELDS = ("s0", "clock", "pause_left", "lane_from", "lane_to", "change_end", "s", "lane",
               "x", "y", "yaw")  # fmt: skip
Layout = tuple[Obstacles, ObjectTable]


def _layout(track: Track, boxes: Obstacles) -> Layout:
    """A layout: the boxes and their object table (the car-independent part of the params)."""
    return boxes, describe_obstacles(track, boxes)


class ObjectWorld:
    """The objects of N cars in worlds of ``racers`` cars each.

    Args:
        tracks: the track forwards and reversed (indexed by a car's ``reverse``).
        num_cars: N, a multiple of ``racers``.
        obstacles: the boxes (M = ``num_obstacles``), fixed per direction or randomized.
        bots: the bot cars (B = ``count``).
        racers: cars per world; car i sits in seat i % racers.
        car: the racing cars' geometry (their footprint is another racer's collision rectangle).
        simapp_race_rules: judge racer-racer crashes and grid starts exactly as the simapp does.

    Attributes:
        x, y, yaw: (N, K) [m], [m], [rad] every car's objects.
        drawn: what the cameras draw of each object: ``length``, ``width`` [m] (with bots or
            racers also (K,) ``height`` [m] and (K, 3) ``shade`` grey levels).
        hit_size: the collision rectangles' length and width [m], scalars or (K,).
        hit: (N,) int the object each car crashed into at the last `collide`, or -1.
        crashed: (N,) bool the car has crashed (the one behind, in a crash of two racers).
        layouts: per car, its boxes and their object table.
        bot_state: every car's bots.
        seat, leader: (N,) int each car's seat and its world's seat-0 car.
    """

    def __init__(self, tracks: tuple[Track, Track], num_cars: int, obstacles: ObstacleConfig,
                 bots: BotConfig, racers: int, car: CarParams, *,
                 simapp_race_rules: bool = False) -> None:  # fmt: skip
        self.tracks = tracks
        self.n = n = num_cars
        self.obstacles = obstacles
        self.bot_config = bots
        self.racers = racers
        self.simapp_race_rules = simapp_race_rules
        self.num_boxes = m = obstacles.num_obstacles
        self.num_bots = b = bots.count
        r = racers - 1
        self.num_objects = k = m + b + r
        style = BoxStyle()

        def per_object(box: Any, bot: Any, racer: Any) -> np.ndarray:
            return np.concatenate([np.full((m, *np.shape(box)), box),
                                   np.full((b, *np.shape(bot)), bot),
                                   np.full((r, *np.shape(racer)), racer)])  # fmt: skip

        # The camera sees the boxes as they are (0.4 x 0.3 x 0.25 m): the collision rectangle is
        # 0.1 m larger each way (SPEC 1.3 item 12). A car's rectangle is its footprint.
        self.drawn: dict[str, Any] = {"length": obstacles.length - BOX_BUFFER,
                                      "width": obstacles.width - BOX_BUFFER}  # fmt: skip
        self.hit_size: tuple[Any, Any] = (obstacles.length, obstacles.width)
        if b + r:
            self.drawn = {
                "length": per_object(obstacles.length - BOX_BUFFER, BOT_LENGTH, BOT_LENGTH),
                "width": per_object(obstacles.width - BOX_BUFFER, BOT_WIDTH, BOT_WIDTH),
                "height": per_object(style.height, BOT_HEIGHT, BOT_HEIGHT),
                "shade": per_object(np.array(style.shade), np.array(BOT_SHADE),
                                    np.array(RACER_SHADE)).astype(np.int64),
            }  # fmt: skip
            self.hit_size = (per_object(obstacles.length, BOT_LENGTH, car.length),
                             per_object(obstacles.width, BOT_WIDTH, car.width))  # fmt: skip
        self._car = car
        self._z = per_object(OBSTACLE_Z, BOT_CAR_Z, BOT_CAR_Z)
        self._is_box = np.arange(k) < m
        # A fixed layout per driving direction, or (randomize) one per episode.
        self._fixed: tuple[Layout, Layout] | None = None
        if m and not obstacles.randomize:
            self._fixed = (_layout(tracks[0], place_obstacles(tracks[0], obstacles)),
                           _layout(tracks[1], place_obstacles(tracks[1], obstacles)))  # fmt: skip
        # SPEC 1.2: objects_speed is BOT_CAR_SPEED for every object when bot cars exist, else 0.
        self._speed = bots.speed if b else 0.0
        self.x, self.y, self.yaw = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k))
        self.layouts: list[Layout | None] = [None] * n
        self.hit = np.full(n, -1, np.int64)
        self.crashed = np.zeros(n, bool)
        self._corners = np.zeros((n, 4, 2))
        cars = np.arange(n)
        self.seat = cars % racers
        self.leader = cars - self.seat
        seats = np.arange(racers)
        # (N, R) the cars of each car's world in seat order, without itself.
        self._others = np.array([self.leader[i] + seats[seats != self.seat[i]] for i in cars],
                                dtype=np.int64).reshape(n, r)  # fmt: skip
        self.bot_state = BotState(n, b)
        self._bot_rngs: list[np.random.Generator] = [np.random.default_rng(0)] * n
        # Bots, racers and randomized boxes make every car's objects its own: one car-major table
        # of them all, the boxes' rows written when they are placed, the moving ones' when stale.
        self._table: ObjectTable | None = None
        self._stale = True
        if b + r or obstacles.randomize:
            self._table = empty_table(n * k)
            self._table.speed[:] = self._speed
            rows = np.arange(n * k).reshape(n, k)
            self._box_rows, self._moving_rows = rows[:, :m], rows[:, m:].ravel()
            lengths, widths = (np.broadcast_to(v, (k,)) for v in self.hit_size)
            self._moving_constants = (np.tile(lengths[m:], n), np.tile(widths[m:], n),
                                      np.tile(self._z[m:], n), np.full(n * (b + r), self._speed))
        # Where finished racers wait (off the track, one spot per seat).
        g = tracks[0].geometry
        corner = np.min(np.vstack([g.inner, g.outer]), axis=0) - 1.0
        self._park_x, self._park_y = corner[0] - 0.5 * seats, np.full(racers, corner[1])

    def heights(self, mount: float) -> np.ndarray:
        """(K,) [m] each object's top for a sensor at ``mount`` [m].

        A box's height, or a car's body taken to reach the sensor (a DeepRacer car carries its
        lidar at that height).
        """
        return np.where(self._is_box, BoxStyle().height, mount)

    # ------------------------------------------------------------------------------- starts
    def starts(self, index: np.ndarray, rngs: Sequence[np.random.Generator], reverse: np.ndarray,
               start_ndist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Lay out the objects of cars ``index`` for a new episode and return their start poses.

        A world's boxes and bots are drawn from its first car's generator and shared. A lone car
        starts on the centre line at ``start_ndist``, moved to the other lane when an object is
        within 1 m (SPEC 4.5); racers start on the grid (`_grid`).

        Args:
            index: (I,) int the cars, whole worlds.
            rngs: (I,) their generators.
            reverse: (N,) bool every car's driving direction.
            start_ndist: (N,) every car's start [fraction of a lap].

        Returns:
            (I,) x [m], y [m], yaw [rad] of each car's base_link, in ``index`` order.
        """
        lead = self.seat[index] == 0
        if self.num_boxes:
            firsts = [rng for rng, first in zip(rngs, lead, strict=True) if first]
            self._set_layouts(index[lead], firsts, reverse)
        if self.num_bots:
            # Each world's bots draw from their own child generator, seeded from its first car's.
            for i, rng, first in zip(index, rngs, lead, strict=True):
                if first:
                    self._bot_rngs[i] = np.random.default_rng(int(rng.integers(2**63)))
        x, y, yaw = np.zeros(len(index)), np.zeros(len(index)), np.zeros(len(index))
        for rev in (False, True):
            pick = reverse[index] == rev
            sel = index[pick]
            if not len(sel):
                continue
            track = self.tracks[rev]
            if self.num_bots:
                first = sel[self.seat[sel] == 0]
                place_bots(self.bot_state, first, track, self.bot_config,
                           [self._bot_rngs[i] for i in first])  # fmt: skip
                self._share_bots(sel)
                self._copy_bots(sel)
            s = start_ndist[sel] * track.length
            objects = bool(self.num_boxes + self.num_bots)
            if self.racers > 1:
                gaps = self._gaps(sel) if objects and not self.simapp_race_rules else None
                x[pick], y[pick], yaw[pick] = grid_starts(track, self.seat[sel], self.racers, s,
                                                          gaps)  # fmt: skip
            else:
                x[pick], y[pick], yaw[pick] = track.point_at(s)
                if objects:
                    x[pick], y[pick] = cleared_starts(
                        track, s, x[pick], y[pick], self._gaps(sel)(x[pick], y[pick]),
                        lambda k, j, sel=sel, track=track: self._lanes(int(sel[k]), track)[1][j])
        return x, y, yaw

    def _gaps(self, sel: np.ndarray) -> Gaps:
        """Distances [m] from points of cars ``sel`` to their boxes and bots, (I, M + B)."""
        mb = self.num_boxes + self.num_bots
        bx, by = self.x[sel, :mb], self.y[sel, :mb]
        return lambda x, y: np.hypot(bx - x[:, None], by - y[:, None])

    def _lanes(self, i: int, track: Track) -> tuple[np.ndarray, np.ndarray]:
        """Car ``i``'s boxes and bots along its track: (M + B,) distance [m] and lane (+1/-1).

        A box counts at its placement distance; a bot where it is now, on the lane it is nearer
        to (the inner one half-way through a change).
        """
        parts_s, parts_lane = [], []
        if self.num_boxes:
            boxes = self.layouts[i][0]  # type: ignore[index]
            parts_s.append(boxes.ndist * track.length)
            parts_lane.append(boxes.lane)
        if self.num_bots:
            parts_s.append(self.bot_state.s[i])
            parts_lane.append(np.where(self.bot_state.lane[i] >= 0.0, 1.0, -1.0))
        return np.concatenate(parts_s), np.concatenate(parts_lane)

    def restart(self, i: int, track: Track, s: float, x: float, y: float
                ) -> tuple[float, float, float]:  # fmt: skip
        """SPEC 5.2: where car ``i`` restarts after a reset at ``s`` [m] on lane point (x, y).

        Returns x [m], y [m] and yaw [rad] (`restart_pose` among the car's boxes).
        """
        box_s, lanes = self._lanes(i, track) if self.num_boxes else (np.zeros(0), np.zeros(0))
        m = self.num_boxes
        return restart_pose(track, s, x, y, box_s[:m], lanes[:m])

    def pauses_in_place(self, i: int) -> bool:
        """Car ``i``'s crash was into a bot car or another racer: it pauses where it is.

        As the simapp does, instead of moving it back on the track as for every other failure.
        """
        return bool(self.hit[i] >= self.num_boxes)

    # ------------------------------------------------------------------------------ layouts
    def _set_layouts(self, index: np.ndarray, rngs: Sequence[np.random.Generator],
                     reverse: np.ndarray) -> None:  # fmt: skip
        """Give worlds ``index`` (their first cars) their boxes, shared by the world's racers.

        Each direction's fixed layout, or fresh random ones, placed and described in one batch.
        """
        for rev in (False, True):
            pick = reverse[index] == rev
            sel = index[pick]
            if not len(sel):
                continue
            if self._fixed is not None:
                layouts = [self._fixed[rev]] * len(sel)
            else:
                mine = [rng for rng, p in zip(rngs, pick, strict=True) if p]
                placed = place_obstacles_batch(self.tracks[rev], self.obstacles, mine)
                x, y, yaw = (np.concatenate([getattr(b, f) for b in placed])
                             for f in ("x", "y", "yaw"))  # fmt: skip
                table = describe_objects(self.tracks[0], x, y, yaw, self.obstacles.length,
                                         self.obstacles.width, z=OBSTACLE_Z)  # fmt: skip
                layouts = list(zip(placed, split_table(table, len(sel)), strict=True))
            for i, layout in zip(sel, layouts, strict=True):
                for car in range(i, i + self.racers):
                    self._give_layout(car, layout)

    def _give_layout(self, i: int, layout: Layout) -> None:
        """Car ``i``'s boxes are now ``layout``."""
        self.layouts[i] = layout
        boxes, described = layout
        m = self.num_boxes
        self.x[i, :m], self.y[i, :m], self.yaw[i, :m] = boxes.x, boxes.y, boxes.yaw
        if self._table is not None:
            rows = self._box_rows[i]
            write_rows(self._table, rows, described)
            self._table.speed[rows] = self._speed

    # ------------------------------------------------------------------------------- moving
    def _share_bots(self, rows: np.ndarray | slice) -> None:
        """Copy each world's bots from its first car to the other racers in ``rows``."""
        if self.racers == 1:
            return
        cars = np.arange(self.n)[rows]
        members = cars[self.seat[cars] > 0]
        first = self.leader[members]
        for name in _BOT_FIELDS:
            values = getattr(self.bot_state, name)
            values[members] = values[first]

    def _copy_bots(self, rows: np.ndarray | slice) -> None:
        """Copy the bots' poses into the object arrays of cars ``rows``, after the boxes."""
        m, b = self.num_boxes, self.num_bots
        self._stale = True
        self.x[rows, m : m + b] = self.bot_state.x[rows]
        self.y[rows, m : m + b] = self.bot_state.y[rows]
        self.yaw[rows, m : m + b] = self.bot_state.yaw[rows]

    def follow(self, car: CarState, rows: np.ndarray | slice = slice(None)) -> None:
        """Copy the other racers' poses into the object arrays of cars ``rows``, after the bots.

        Call it whenever cars were placed or moved; without other racers it does nothing.
        """
        if self.racers == 1:
            return
        first = self.num_boxes + self.num_bots
        others = self._others[rows]
        self.x[rows, first:] = car.x[others]
        self.y[rows, first:] = car.y[others]
        self.yaw[rows, first:] = car.yaw[others]
        self._stale = True

    def move(self, car: CarState, reverse: np.ndarray, dt: float) -> None:
        """After the cars moved by ``dt`` [s]: follow the racers and move every world's bots.

        The bots drive on through their cars' PREPARE and PAUSE steps, on sim time.
        """
        self.follow(car)
        if not self.num_bots:
            return
        first = self.seat == 0
        tick_bots(self.bot_state, self.bot_config, dt, self._bot_rngs, np.flatnonzero(first))
        for rev in (False, True):
            rows = np.flatnonzero(first & (reverse == rev))
            if len(rows):
                update_poses(self.bot_state, self.tracks[rev], self.bot_config, rows)
        self._share_bots(slice(None))
        self._copy_bots(slice(None))

    def finishers(self, terminated: np.ndarray) -> np.ndarray:
        """The cars that park now: racers whose race ended (a lone car's episode just resets)."""
        if self.racers == 1:
            return np.zeros(0, np.int64)
        return np.flatnonzero(terminated)

    def park(self, car: CarState, index: np.ndarray) -> None:
        """Park racers ``index`` off the track, one spot per seat (SPEC 5.1, PARK).

        `move` (or `follow`) then shows them there to the others.
        """
        seat = self.seat[index]
        car.place(index, self._park_x[seat], self._park_y[seat], np.zeros(len(index)))

    def outlines(self, i: int) -> np.ndarray:
        """Car ``i``'s objects as drawn from above, (K, 6).

        Columns: x, y [m], yaw [rad], drawn length and width [m], kind (0 a box, 1 a bot car or
        another racer).
        """
        k = self.num_objects
        out = np.empty((k, 6))
        out[:, 0], out[:, 1], out[:, 2] = self.x[i], self.y[i], self.yaw[i]
        out[:, 3] = self.drawn["length"]
        out[:, 4] = self.drawn["width"]
        out[:, 5] = np.arange(k) >= self.num_boxes
        return out

    # -------------------------------------------------------------------------------- hits
    def collide(self, car: CarState, run: np.ndarray, absent: np.ndarray, progress: np.ndarray,
                laps: np.ndarray, start_ndist: np.ndarray, car_s: np.ndarray) -> None:  # fmt: skip
        """Judge every car's footprint against its objects: sets ``hit`` and ``crashed``.

        Args:
            car: the cars' poses.
            run: (N,) bool cars on a RUN step (only they stop a bot by running into it).
            absent: (N,) bool cars pausing after a failure (they blink) or parked: other racers
                cannot run into them.
            progress: (N,) [%] of the current lap (who is behind in a crash of two racers).
            laps: (N,) laps driven.
            start_ndist: (N,) each car's start [fraction of a lap].
            car_s: (N,) [m] each car's model point along its track (whether a bot was hit from
                behind).
        """
        if not self.num_objects:
            return
        footprint_corners(car.x, car.y, car.yaw, self._car.length, self._car.width,
                          out=self._corners)  # fmt: skip
        x = self.x
        if self.racers > 1:
            gone = absent[self._others]
            if gone.any():
                x = x.copy()
                x[:, self.num_boxes + self.num_bots :][gone] = np.nan
        self.hit[:] = corners_in_boxes(self._corners, x, self.y, self.yaw, *self.hit_size)
        np.greater_equal(self.hit, 0, out=self.crashed)
        if self.racers > 1:
            self._judge_racer_crashes(progress, laps, start_ndist)
        if self.num_bots:
            self._bots_hit_from_behind(run, car_s)

    def _bots_hit_from_behind(self, run: np.ndarray, car_s: np.ndarray) -> None:
        """Stop the bots that ran into their car from behind for ``penalty_seconds``.

        The simapp's ``judge_action``: the car is crashed into a bot, and ahead of it. "Ahead"
        is the wrapped centre-line gap from the bot's footprint centre to the car's model point,
        in (-L/2, L/2]; the simapp compares raw progress values instead, which only differs for
        a crash astride the start line.
        """
        m = self.num_boxes
        by_bot = run & (self.hit >= m) & (self.hit < m + self.num_bots)
        if not by_bot.any():
            return
        rows = np.flatnonzero(by_bot)
        length = self.tracks[0].length
        bot_s = self.bot_state.s[rows, self.hit[rows] - m]
        gap = (car_s[rows] - bot_s + 0.5 * length) % length - 0.5 * length
        ahead = rows[gap > 0.0]
        if len(ahead):
            worlds = np.unique(self.leader[ahead])
            pause_bots(self.bot_state, self.bot_config, worlds)
            self._share_bots(np.flatnonzero(np.isin(self.leader, worlds)))

    def _judge_racer_crashes(self, progress: np.ndarray, laps: np.ndarray,
                             start_ndist: np.ndarray) -> None:  # fmt: skip
        """SPEC 1.3 item 12: in a crash between two racers only the one behind has crashed.

        As the simapp's ``_check_for_episode_termination``, each car compares its progress with
        the other's, both measured from the start line; the car with the lower value is crashed,
        the other goes on. racer counts the laps driven and does not wrap the sum (the simapp's
        ``(progress + 100 start_ndist) mod 100``, kept with ``simapp_race_rules``, puts a car
        still behind the line at the start, with its slightly negative progress, ahead of one
        that has crossed it).
        """
        first = self.num_boxes + self.num_bots
        rows = np.flatnonzero(self.hit >= first)
        if not len(rows):
            return
        other = self._others[rows, self.hit[rows] - first]
        distance = 100.0 * (laps + start_ndist) + progress  # [% of a lap]
        if self.simapp_race_rules:
            distance = (progress + 100.0 * start_ndist) % 100.0
        self.crashed[rows[distance[rows] >= distance[other]]] = False

    # -------------------------------------------------------------------------------- keys
    def keys(self, params_list: list[dict[str, Any]], car: CarState, car_s: np.ndarray,
             reverse: np.ndarray) -> None:  # fmt: skip
        """Fill the eight object keys of every car's params (SPEC 1.2); a time trial's stay.

        With bots, racers or randomized boxes every car's objects differ: one batched call for
        all cars. With fixed boxes, one call per driving direction's layout.
        """
        if not self.num_objects:
            return
        if self._table is not None:
            keys = object_params(self._described(), car_s, car.x, car.y, car.yaw, reverse,
                                 per_car=True)  # fmt: skip
            for params, values in zip(params_list, keys, strict=True):
                params.update(values)
            return
        assert self._fixed is not None  # the only other case: one layout a direction
        for rev in (False, True):
            idx = np.flatnonzero(reverse == rev)
            if len(idx):
                keys = object_params(self._fixed[rev][1], car_s[idx], car.x[idx], car.y[idx],
                                     car.yaw[idx], reverse[idx])  # fmt: skip
                for i, values in zip(idx, keys, strict=True):
                    params_list[i].update(values)

    def _described(self) -> ObjectTable:
        """Every car's objects, car-major, with the moving ones' rows up to date.

        The boxes' rows are written as they are placed; the moving objects (bots and racers) are
        described again, in one call for all cars, whenever they have moved.
        """
        table = self._table
        assert table is not None
        if self._stale and self.num_objects > self.num_boxes:
            m = self.num_boxes
            length, width, z, speed = self._moving_constants
            yaw = self.yaw[:, m:].ravel()
            part = describe_objects(self.tracks[0], self.x[:, m:].ravel(), self.y[:, m:].ravel(),
                                    yaw, length, width, z=z, speed=speed, heading=yaw)
            write_rows(table, self._moving_rows, part)
        self._stale = False
        return table
