"""The batched simulator core: N cars on one track, stepped together with DeepRacer's timing.

Both environments are thin shells over `RacerCore`: `RacerEnv` is a core of one car, `RacerVecEnv`
a core of N. That is what makes the batched env equal N single envs by construction; the tests
check it anyway.

One step, for every car at once (SPEC 1.4 and 5.1):

1. decode the actions (the params show the chosen action's speed and steering);
2. read the pose the previous action left, locate it on the track, compute progress and params;
3. judge the episode rules on that pose (so off-track is seen one step late, as on DeepRacer);
4. call each car's reward function on RUN steps only (PREPARE and PAUSE steps pay 0.0);
5. in evaluation, turn failures into a reset with a penalty pause while resets remain;
6. move the cars with the chosen actions (PREPARE, PAUSE and finished cars stand still), and
   every car's head-to-bot bot cars (they drive on through PREPARE and PAUSE, as the simapp's
   bots run on sim time);
7. render every camera in one call, boxes and bot cars drawn into it.

Each car has its own objects: its M boxes, its B bot cars, then (a multi-car race of K racers per
world) the K - 1 other racing cars of its world, in the (N, M + B + K - 1) arrays ``box_x``,
``box_y``, ``box_yaw``; crashes, params and the camera all read them. The racers of one world
share its boxes and bots; a car that finishes a race parks off the track until the others finish.

Everything per-car lives in preallocated arrays; the only per-car Python is building each
params dict and calling the user's reward function.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from racer.env.config import EnvConfig
from racer.env.episode import STATUS_LABELS, Phase, Status, judge
from racer.errors import ConfigError
from racer.physics.car import CarState
from racer.physics.collision import corners_in_boxes, footprint_corners
from racer.physics.model_metadata import DEFAULT_MODEL_METADATA, ModelMetadata, load_model_metadata
from racer.physics.motion import make_motion_model
from racer.reward.objects import (
    BOT_CAR_Z,
    OBSTACLE_Z,
    ObjectTable,
    describe_objects,
    describe_obstacles,
    object_params,
    object_params_per_car,
    split_table,
)
from racer.reward.params import compute_progress, copy_params, make_params
from racer.reward.plugin import RewardFunction, guarded_calls
from racer.sensors.boxes import BoxRenderer, BoxStyle
from racer.sensors.camera import Camera
from racer.sensors.lidar import (
    SECTORS,
    LidarSpec,
    discretized_observation,
    lidar_observation,
    scan,
    sector_observation,
)
from racer.sensors.texture import GroundTexture, render_ground_texture
from racer.track import Track, TrackGeometry, TrackQuery, load_track
from racer.track.bots import (
    BOT_HEIGHT,
    BOT_LENGTH,
    BOT_WIDTH,
    BotState,
    pause_bots,
    place_bots,
    tick_bots,
    update_poses,
)
from racer.track.obstacles import place_obstacles, place_obstacles_batch
from racer.units import rad_to_deg

RewardCallable = Callable[[dict[str, Any]], float]

_SUPPORTED_CAMERAS = ("FRONT_FACING_CAMERA", "observation", "LEFT_CAMERA", "STEREO_CAMERAS")
_SUPPORTED_SENSORS = (*_SUPPORTED_CAMERAS, "LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
_textures: weakref.WeakKeyDictionary[TrackGeometry, GroundTexture] = weakref.WeakKeyDictionary()


#: [m] a start (or reset) point this close to a box moves to the other lane (SPEC 4.5, 5.2).
START_CLEARANCE = 1.0
#: [m] each STEREO_CAMERAS camera sits this far left and right of the centre (SPEC 4.2).
STEREO_OFFSET = 0.03
#: [m] the collision rectangle of a box is this much longer and wider than the box itself.
BOX_BUFFER = 0.1
#: [m] how far behind a box a car restarts after a reset next to it (RESET_BEHIND_DIST).
RESET_BEHIND = 1.0
#: Grey levels (end, side, top) of a drawn bot car: darker than the brown boxes (about 103 luma),
#: with a lighter roof, so the two kinds of object look different. An estimate, like BOT_HEIGHT.
BOT_SHADE = (45, 35, 80)
#: Grey levels (end, side, top) of another racing car in a multi-car race: lighter than a bot.
RACER_SHADE = (70, 60, 120)
#: [m] in a multi-car race, racer k starts this much times k behind the line (START_POS_OFFSET).
START_STAGGER = 0.75
#: The BotState arrays, copied from a world's first car to the others (they share the bots).
_BOT_FIELDS = ("s0", "clock", "pause_left", "lane_from", "lane_to", "change_end", "s", "lane",
               "x", "y", "yaw")  # fmt: skip


def _layout(track: Track, boxes: Any) -> tuple[Any, Any]:
    """A layout: the boxes and their object table (the car-independent part of the params)."""
    return boxes, describe_obstacles(track, boxes)


_CAR_AXIS = ("x", "y", "points", "speed", "heading", "distance_from_center")
_DIRECTION_AXIS = ("s", "left_of_center", "order")


def _empty_table(count: int) -> ObjectTable:
    """A table of ``count`` objects to fill row by row (`_write_rows`)."""
    return ObjectTable(
        x=np.zeros(count), y=np.zeros(count), points=np.zeros((count, 5, 3)),
        speed=np.zeros(count), heading=np.zeros(count), s=np.zeros((2, count)),
        left_of_center=np.zeros((2, count), bool), distance_from_center=np.zeros(count),
        order=np.zeros((2, count), np.int64),
    )  # fmt: skip


def _write_rows(table: ObjectTable, rows: slice | np.ndarray, part: ObjectTable) -> None:
    """Replace objects ``rows`` of a stacked table (e.g. one car's) with ``part``."""
    for name in _CAR_AXIS:
        getattr(table, name)[rows] = getattr(part, name)
    for name in _DIRECTION_AXIS:
        getattr(table, name)[:, rows] = getattr(part, name)


def ground_texture(geometry: TrackGeometry) -> GroundTexture:
    """The track's camera texture, rendered once per track geometry and cached."""
    texture = _textures.get(geometry)
    if texture is None:
        texture = render_ground_texture(geometry.centre, geometry.inner, geometry.outer,
                                        geometry.closed)  # fmt: skip
        _textures[geometry] = texture
    return texture


def _copying(fn: RewardCallable) -> Callable[..., float]:
    """A plain reward callable called with a fresh copy of params, as `RewardFunction` does."""

    def call(params: dict[str, Any], waypoints: Sequence[tuple[float, float]]) -> float:
        return fn(copy_params(params, waypoints))

    return call


def open_reward_log(path: str) -> TextIO:
    """Open (append, line-buffered) the file that receives the reward function's prints."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed by close()
    except OSError as exc:
        raise ConfigError(
            f"cannot open the reward log {path}: {exc.strerror}. Choose a writable reward_log."
        ) from None


def load_metadata(config: EnvConfig) -> ModelMetadata:
    """The model_metadata the config names, or racer's default."""
    if not config.model_metadata:
        return DEFAULT_MODEL_METADATA
    metadata = load_model_metadata(config.model_metadata, strict=config.strict_action_space)
    unsupported = [s for s in metadata.sensor if s not in _SUPPORTED_SENSORS]
    if unsupported:
        raise ConfigError(
            f"{config.model_metadata}: sensor {', '.join(unsupported)} is not supported yet; racer "
            f"simulates {', '.join(_SUPPORTED_SENSORS)}. Remove {', '.join(unsupported)} from "
            f'"sensor".'
        )
    return metadata


class RacerCore:
    """N cars on one track with DeepRacer's rules; the engine behind both environments.

    Args:
        config: the environment configuration.
        num_cars: N.
        reward_function: a callable shared by all cars; by default each car loads
            ``config.reward_function`` as its own module, as each DeepRacer worker does. Calls run
            under `guarded_calls`: prints go to ``config.reward_log``, overruns of
            ``config.reward_timeout`` are errors.

    After `step`, read the results from ``obs`` (N, H, W, 1) uint8, ``rewards`` (N,) float64,
    ``terminated``/``truncated`` (N,) bool, ``status`` (N,) int8 `Status`, and ``infos``.
    """

    def __init__(
        self,
        config: EnvConfig,
        num_cars: int,
        reward_function: RewardCallable | Sequence[RewardCallable] | None = None,
    ) -> None:
        if num_cars < 1:
            raise ConfigError(f"num_cars must be >= 1, got {num_cars}.")
        if num_cars % config.racers:
            raise ConfigError(
                f"{num_cars} cars do not make whole worlds of racers={config.racers}: use a "
                f"multiple of {config.racers} cars."
            )
        self.config = config
        self.n = num_cars
        base = load_track(config.track, deduplicate=config.deduplicate_waypoints)
        self.tracks: tuple[Track, Track] = (base, base.reversed())  # indexed by `reverse`
        self.metadata = load_metadata(config)
        self.action_space = self.metadata.action_space
        self.model = make_motion_model(config.motion_model, config.car)
        texture = ground_texture(base.geometry)
        # STEREO_CAMERAS: two cameras 6 cm apart (left first), stacked as the image's channels.
        if self.metadata.camera == "STEREO_CAMERAS":
            mounts = [replace(config.camera, mount_lateral=STEREO_OFFSET),
                      replace(config.camera, mount_lateral=-STEREO_OFFSET)]  # fmt: skip
        else:
            mounts = [config.camera]
        self.cameras = [Camera(mount, texture) for mount in mounts]
        self.camera = self.cameras[0]
        height, width, _ = self.camera.shape
        self.obs_shape = (height, width, len(self.cameras))
        self._reward_log: TextIO | None = None
        if config.reward_log:
            self._reward_log = open_reward_log(config.reward_log)
        if callable(reward_function):
            self.reward_functions: Sequence[RewardCallable] = [reward_function] * num_cars
        elif reward_function is not None:
            self.reward_functions = list(reward_function)
            if len(self.reward_functions) != num_cars:
                raise ConfigError(f"{len(self.reward_functions)} reward functions for "
                                  f"{num_cars} cars: give one per car.")  # fmt: skip
        else:
            options = {
                "timeout": config.reward_timeout,
                "output": self._reward_log,
                "failure_dir": config.failure_dir or None,
            }
            self.reward_functions = [
                RewardFunction(config.reward_function, **options) for _ in range(num_cars)
            ]
        # RewardFunction copies params itself (and keeps them for its errors); a plain callable
        # gets a fresh copy here. Decided once, not per car-step.
        self._call_reward = [
            fn if isinstance(fn, RewardFunction) else _copying(fn) for fn in self.reward_functions
        ]
        self._waypoints = (list(base.waypoints), list(base.reversed().waypoints))
        # Object avoidance: a fixed layout per driving direction, or (randomize) one per episode.
        self.obstacles = config.obstacles
        self._fixed_layouts: tuple[Any, Any] | None = None
        if self.obstacles.num_obstacles and not self.obstacles.randomize:
            self._fixed_layouts = tuple(  # type: ignore[assignment]
                _layout(track, place_obstacles(track, self.obstacles)) for track in self.tracks
            )
        self._setup_objects(config, mounts, num_cars)
        # A lidar (SPEC 4.3): an extra observation, seen through the same objects.
        self.lidar = self.metadata.lidar
        self.lidar_spec = LidarSpec()
        self._lidar_heights = np.where(np.arange(self.num_objects) < self.num_boxes,
                                       BoxStyle().height, self.lidar_spec.mount_height)  # fmt: skip
        self._lidar_rng: np.random.Generator | None = None
        lidar_size = {"LIDAR": self.lidar_spec.samples, "SECTOR_LIDAR": SECTORS}
        if self.lidar == "DISCRETIZED_SECTOR_LIDAR":
            lc = self.metadata.effective_lidar_config
            lidar_size[self.lidar] = lc.num_sectors * lc.num_values_per_sector
        self.lidar_size = lidar_size.get(self.lidar or "", 0)
        self._allocate()

    def _setup_objects(self, config: EnvConfig, mounts: Sequence[Any], num_cars: int) -> None:
        """Sizes, heights and table layout of every car's objects (boxes, bots, racers)."""
        # Each car's objects: its world's M boxes, its world's B bot cars, then the K - 1 other
        # racing cars of its world.
        self.bot_config = config.bots
        self.racers = config.racers
        self.num_boxes = self.obstacles.num_obstacles
        self.num_bots = self.bot_config.count
        self.num_objects = self.num_boxes + self.num_bots + self.racers - 1
        m, b, r = self.num_boxes, self.num_bots, self.racers - 1
        # The camera sees the boxes as they are (0.4 x 0.3 x 0.25 m): the collision rectangle is
        # 0.1 m larger each way (SPEC 1.3 item 12). A car's rectangle is its footprint.
        self.box_renderers = [BoxRenderer(mount) for mount in mounts] if self.num_objects else []
        self.boxes = self.box_renderers[0] if self.box_renderers else None
        style = BoxStyle()

        def per_object(box: Any, bot: Any, racer: Any) -> np.ndarray:
            return np.concatenate([np.full((m, *np.shape(box)), box),
                                   np.full((b, *np.shape(bot)), bot),
                                   np.full((r, *np.shape(racer)), racer)])  # fmt: skip

        # What the cameras draw of each object: length, width (and height, shade with cars) [m].
        self.object_sizes: dict[str, Any] = {"length": self.obstacles.length - BOX_BUFFER,
                                          "width": self.obstacles.width - BOX_BUFFER}  # fmt: skip
        self._hit_size: tuple[Any, Any] = (self.obstacles.length, self.obstacles.width)
        if b + r:
            self.object_sizes = {
                "length": per_object(self.obstacles.length - BOX_BUFFER, BOT_LENGTH, BOT_LENGTH),
                "width": per_object(self.obstacles.width - BOX_BUFFER, BOT_WIDTH, BOT_WIDTH),
                "height": per_object(style.height, BOT_HEIGHT, BOT_HEIGHT),
                "shade": per_object(np.array(style.shade), np.array(BOT_SHADE),
                                    np.array(RACER_SHADE)).astype(np.int64),
            }  # fmt: skip
            car = config.car
            self._hit_size = (per_object(self.obstacles.length, BOT_LENGTH, car.length),
                              per_object(self.obstacles.width, BOT_WIDTH, car.width))  # fmt: skip
        self._object_z = per_object(OBSTACLE_Z, BOT_CAR_Z, BOT_CAR_Z)
        # Bots, racers and randomized boxes make every car's objects its own: one table of them
        # all, the boxes' rows written when they are placed, the moving ones' every step.
        self._per_car_objects = bool(b + r) or self.obstacles.randomize
        # SPEC 1.2: objects_speed is BOT_CAR_SPEED for every object when bot cars exist, else 0.
        self._object_speed = self.bot_config.speed if b else 0.0
        if b + r:
            lengths, widths = (np.broadcast_to(v, (self.num_objects,)) for v in self._hit_size)
            self._moving_constants = (np.tile(lengths[m:], num_cars),
                                      np.tile(widths[m:], num_cars),
                                      np.tile(self._object_z[m:], num_cars),
                                      np.full(num_cars * (b + r), self._object_speed))  # fmt: skip

    # ------------------------------------------------------------------------------ buffers
    def _allocate(self) -> None:
        n = self.n
        self.car = CarState(n)
        self.query = TrackQuery(n)
        self.obs = np.zeros((n, *self.obs_shape), np.uint8)
        self.lidar_obs = np.zeros((n, self.lidar_size), np.float32)  # (N, D); D = 0 without one
        # one camera's frames, for stereo (each camera renders here, then fills its channel)
        self._frames = np.zeros((n, *self.camera.shape), np.uint8)
        self.rewards = np.zeros(n)
        self.terminated = np.zeros(n, bool)
        self.truncated = np.zeros(n, bool)
        self.status = np.zeros(n, np.int8)
        self.infos: list[dict[str, Any]] = [{} for _ in range(n)]
        # Per-car episode state.
        self.phase = np.full(n, Phase.PREPARE, np.int8)
        self.steps = np.zeros(n, np.int64)
        self.episodes = np.zeros(n, np.int64)  # finished episodes, drives the round robin
        self.started = np.zeros(n, bool)
        self.start_ndist = np.zeros(n)
        self.start_offsets = np.zeros(n)  # per-car shift of the start point [fraction of a lap]
        self.reverse = np.zeros(n, bool)
        self.prev_progress = np.zeros(n)
        self.immobile_steps = np.zeros(n, np.int64)
        self.reversing_steps = np.zeros(n, np.int64)
        self.pause_left = np.zeros(n)
        self.resets = np.zeros(n, np.int64)
        self.laps = np.zeros(n, np.int64)
        self.sim_time = np.zeros(n)
        self.episode_start_time = np.zeros(n)
        self.lap_start_time = np.zeros(n)
        self.completed_lap_time = np.zeros(n)
        self.failure_counts = np.zeros((n, len(Status)), np.int64)
        self.last_x = np.zeros(n)
        self.last_y = np.zeros(n)
        # Per-step scratch.
        self.steering = np.zeros(n)  # [rad] chosen action
        self.speed = np.zeros(n)  # [m/s] chosen action
        self.steering_deg = np.zeros(n)  # [deg] chosen action, exactly as in the action space
        self._off = np.zeros(n, bool)
        k, m = self.num_objects, self.num_boxes
        # [m], [rad] each car's objects: its world's M boxes (one layout per world when
        # randomized), its world's B bot cars, the K - 1 other racers (refreshed every step).
        self.box_x = np.zeros((n, k))
        self.box_y = np.zeros((n, k))
        self.box_yaw = np.zeros((n, k))
        self.layouts: list[Any] = [None] * n  # per car: (Obstacles, ObjectTable)
        # Worlds of K racers: car i sits in seat i % K; ``others`` (N, K - 1) are the cars of its
        # world in seat order without itself; ``leader`` is its world's seat-0 car.
        cars = np.arange(n)
        self.seat = cars % self.racers
        self.leader = cars - self.seat
        seats = np.arange(self.racers)
        self._others = np.array([self.leader[i] + seats[seats != self.seat[i]] for i in cars],
                                dtype=np.int64).reshape(n, self.racers - 1)  # fmt: skip
        # Every car's objects in one car-major table (`_objects_table`), when they differ.
        self._table: ObjectTable | None = None
        if self._per_car_objects:
            self._table = _empty_table(n * k)
            self._table.speed[:] = self._object_speed
            rows = np.arange(n * k).reshape(n, k)
            self._box_rows = rows[:, :m]
            self._moving_rows = rows[:, m:].ravel()
        self._moving_stale = True  # bots or racers moved since their rows were described
        # Where finished racers wait (off the track, one spot per seat), SPEC 5.1's PARK.
        g = self.tracks[0].geometry
        corner = np.min(np.vstack([g.inner, g.outer]), axis=0) - 1.0
        self._park_x = corner[0] - 0.5 * seats
        self._park_y = np.full(self.racers, corner[1])
        self.bots = BotState(n, self.bot_config.count)
        self._bot_rngs: list[np.random.Generator] = [np.random.default_rng(0)] * n
        self.crashed = np.zeros(n, bool)
        self.hit = np.full(n, -1, np.int64)  # index of the object each car crashed into, or -1
        self._corners = np.zeros((n, 4, 2))
        self._lap_counted = np.zeros(n, bool)
        self._hold = np.zeros(n, bool)
        self._no = np.zeros(n, bool)

    # -------------------------------------------------------------------------------- reset
    def reset_cars(
        self, index: np.ndarray, rngs: Sequence[np.random.Generator], restart: bool = False
    ) -> None:
        """Start a new episode for cars ``index``, each drawing from its own generator.

        The start follows DeepRacer (SPEC 5.3, 4.5): training starts advance round-robin by
        ``round_robin_advance`` per finished episode (or are random with ``random_start``),
        evaluation always starts at ``start_position_offset``; the car's base_link sits on the
        centre line heading to the next waypoint; the first step is PREPARE.

        Args:
            index: (K,) int car indices.
            rngs: (K,) generators, one per car in ``index``.
            restart: start the round robin, the direction alternation and the simulation clock
                over (on a reseed), instead of counting the previous episode.
        """
        ep = self.config.episode
        index = np.asarray(index, dtype=np.int64)
        if self.racers > 1:
            worlds = np.unique(self.leader[index])
            if len(index) != len(worlds) * self.racers or not np.all(
                np.isin(worlds[:, None] + np.arange(self.racers), index)
            ):
                raise ValueError(f"a race resets whole worlds: cars {index.tolist()} do not make "
                                 f"whole worlds of {self.racers} racers.")  # fmt: skip
        if restart:
            self.episodes[index] = 0
            self.started[index] = False
            self.sim_time[index] = 0.0
        self.episodes[index] += self.started[index]
        self.started[index] = True
        for i, rng in zip(index, rngs, strict=True):
            k = self.episodes[i]
            offset = ep.start_position_offset + self.start_offsets[i]
            if ep.evaluation:
                start = offset % 1.0
            elif ep.random_start:
                start = float(rng.random())
            else:
                start = (offset + k * ep.round_robin_advance) % 1.0
            self.start_ndist[i] = start
            flip = ep.alternate_direction and not ep.evaluation and k % 2 == 1
            self.reverse[i] = self.config.reverse != flip
        self.phase[index] = Phase.PREPARE
        self._place(index, rngs)
        for arr in (self.steps, self.prev_progress, self.immobile_steps, self.reversing_steps,
                    self.pause_left, self.resets, self.laps):  # fmt: skip
            arr[index] = 0
        self.failure_counts[index] = 0
        self.episode_start_time[index] = self.sim_time[index]
        self.lap_start_time[index] = self.sim_time[index]
        self.last_x[index] = self.car.x[index]
        self.last_y[index] = self.car.y[index]
        self.obs[index] = self._render(index)
        if self.lidar:
            if self._lidar_rng is None:  # the noise follows the first reset's seeds
                self._lidar_rng = np.random.default_rng(int(rngs[0].integers(2**63)))
            self.lidar_obs[index] = self._scan(index)

    def _render(self, index: np.ndarray | None) -> np.ndarray:
        """Render the cameras of cars ``index`` (None: all, into ``obs``), objects included.

        Returns the (K, H, W, C) frames: one channel per camera.
        """
        car = self.car
        if index is None:
            x, y, yaw, out = car.x, car.y, car.yaw, self.obs
            boxes = (self.box_x, self.box_y, self.box_yaw)
        else:
            x, y, yaw = car.x[index], car.y[index], car.yaw[index]
            out = np.empty((len(index), *self.obs_shape), np.uint8)
            boxes = (self.box_x[index], self.box_y[index], self.box_yaw[index])
        single = len(self.cameras) == 1
        for c, camera in enumerate(self.cameras):
            if single:
                frames = out
            elif index is None:
                frames = self._frames
            else:
                frames = np.empty((len(x), *camera.shape), np.uint8)
            camera.render(x, y, yaw, frames)
            if self.box_renderers:
                self.box_renderers[c].render(frames, x, y, yaw, *boxes, **self.object_sizes)
            if not single:
                out[..., c] = frames[..., 0]
        return out

    def _scan(self, index: np.ndarray | None) -> np.ndarray:
        """The lidar observation of cars ``index`` (None: all), (K, D) float32.

        The lidar sees the boxes (0.25 m tall) and the bot cars; a bot's body is taken to reach
        the lidar's height (a DeepRacer car carries its lidar at that height).
        """
        car = self.car
        sel = slice(None) if index is None else index
        length, width = self._hit_size
        ranges = scan(self.lidar_spec, car.x[sel], car.y[sel], car.yaw[sel], self.box_x[sel],
                      self.box_y[sel], self.box_yaw[sel], length, width, self._lidar_heights,
                      self._lidar_rng)  # fmt: skip
        if self.lidar == "LIDAR":
            return lidar_observation(ranges)
        if self.lidar == "SECTOR_LIDAR":
            return sector_observation(ranges)
        lc = self.metadata.effective_lidar_config
        return discretized_observation(ranges, lc.num_sectors, lc.num_values_per_sector,
                                       lc.clipping_dist)  # fmt: skip

    def observation(self, index: np.ndarray | int | None = None) -> Any:
        """A copy of the observation of cars ``index`` (None: all; an int: one car, unbatched).

        The camera image alone, (..., H, W, C) uint8; with a lidar, a dict of the camera image
        and the lidar's (..., D) float32 under their sensor names.
        """
        sel = slice(None) if index is None else index
        if not self.lidar:
            return self.obs[sel].copy()
        return {self.metadata.camera: self.obs[sel].copy(), self.lidar: self.lidar_obs[sel].copy()}

    def _place(self, index: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Lay out cars ``index``'s boxes and bots, then put each car at its start.

        A world's boxes and bots are drawn from its first car's generator and shared.
        """
        lead = self.seat[index] == 0
        if self.num_boxes:
            firsts = [rng for rng, first in zip(rngs, lead, strict=True) if first]
            self._set_layouts(index[lead], firsts)
        if self.num_bots:
            # Each world's bots draw from their own child generator, seeded from its first car's.
            for i, rng, first in zip(index, rngs, lead, strict=True):
                if first:
                    self._bot_rngs[i] = np.random.default_rng(int(rng.integers(2**63)))
        for rev in (False, True):
            sel = index[self.reverse[index] == rev]
            if not len(sel):
                continue
            track = self.tracks[rev]
            if self.num_bots:
                first = sel[self.seat[sel] == 0]
                place_bots(self.bots, first, track, self.bot_config,
                           [self._bot_rngs[i] for i in first])  # fmt: skip
                self._share_bots(sel)
                self._copy_bots(sel)
            s = self.start_ndist[sel] * track.length
            if self.racers > 1:
                x, y, yaw = self._grid(sel, track, s)
            else:
                x, y, yaw = track.point_at(s)
                if self.num_boxes + self.num_bots:
                    x, y = self._clear_start(sel, track, s, x, y)
            self.car.place(sel, x, y, yaw)
        if self.racers > 1:
            self._copy_racers(index)

    def _grid(
        self, sel: np.ndarray, track: Track, s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SPEC 4.5: the race starts of cars ``sel`` whose line is at ``s`` [m].

        Racer k starts 0.75 m x k behind the line, on the inner lane for odd k and the outer
        lane for even k, heading along the centre line.

        Raises:
            ConfigError: an open track without room behind its start for the grid.
        """
        seat = self.seat[sel]
        behind = START_STAGGER * (self.racers - 1)
        if not track.closed and s.min() < behind:
            raise ConfigError(
                f"{self.racers} racers need {behind:.2f} m of track behind the start, and this "
                f"open track starts {s.min():.2f} m from its first waypoint: set "
                "episode.start_position_offset further along."
            )
        s = s - START_STAGGER * seat
        s = np.mod(s, track.length) if track.closed else s
        _, _, yaw = track.point_at(s)
        lane = np.where(seat % 2 == 1, 1.0, -1.0)
        x, y = track.lane_point_at(s, lane)
        if self.num_boxes + self.num_bots and not self.config.simapp_race_rules:
            # Not the simapp's (it clears training starts only), but no racer should start
            # inside a box or a bot: with one within 1 m, it takes the lane further from them.
            near = (self._gaps(sel, x, y) <= START_CLEARANCE).any(axis=1)
            if near.any():
                inner, outer = (self._gaps(sel, *track.lane_point_at(s, np.full(len(s), side)))
                                .min(axis=1) for side in (1.0, -1.0))  # fmt: skip
                lane = np.where(near, np.where(inner >= outer, 1.0, -1.0), lane)
                x, y = track.lane_point_at(s, lane)
        return x, y, yaw

    def place_cars(self, index: np.ndarray, x: np.ndarray, y: np.ndarray, yaw: np.ndarray) -> None:
        """Put cars ``index`` at rest at the given base_link poses ([m], [m], [rad]), by hand.

        The other racers of their worlds see them there at once (``CarState.place`` alone would
        leave the object arrays until the next step's move).
        """
        self.car.place(index, x, y, yaw)
        if self.racers > 1:
            self._copy_racers(slice(None))

    def _park(self, index: np.ndarray) -> None:
        """Racers ``index`` have finished the race: park them off the track (SPEC 5.1, PARK)."""
        self.phase[index] = Phase.PARK
        seat = self.seat[index]
        self.car.place(index, self._park_x[seat], self._park_y[seat], np.zeros(len(index)))

    def close(self) -> None:
        """Close the reward log, if the core opened one."""
        if self._reward_log is not None:
            self._reward_log.close()
            self._reward_log = None

    # ------------------------------------------------------------------------------ objects
    def _set_layouts(self, index: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Give worlds ``index`` (their first cars) their boxes, shared by the world's racers.

        Each direction's fixed layout, or fresh random ones, placed and described in one batch.
        """
        for rev in (False, True):
            pick = self.reverse[index] == rev
            sel = index[pick]
            if not len(sel):
                continue
            if self._fixed_layouts is not None:
                layouts = [self._fixed_layouts[rev]] * len(sel)
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

    def _give_layout(self, i: int, layout: Any) -> None:
        """Car ``i``'s boxes are now ``layout`` (Obstacles, ObjectTable)."""
        self.layouts[i] = layout
        boxes, described = layout
        m = self.num_boxes
        self.box_x[i, :m], self.box_y[i, :m], self.box_yaw[i, :m] = boxes.x, boxes.y, boxes.yaw
        if self._table is not None:
            rows = self._box_rows[i]
            _write_rows(self._table, rows, described)
            self._table.speed[rows] = self._object_speed

    def _share_bots(self, rows: np.ndarray | slice) -> None:
        """Copy each world's bots from its first car to the other racers in ``rows``."""
        if self.racers == 1:
            return
        cars = np.arange(self.n)[rows]
        members = cars[self.seat[cars] > 0]
        first = self.leader[members]
        for name in _BOT_FIELDS:
            values = getattr(self.bots, name)
            values[members] = values[first]

    def _copy_racers(self, rows: np.ndarray | slice) -> None:
        """Copy the other racers' poses into the object arrays of cars ``rows``, after the bots."""
        first = self.num_boxes + self.num_bots
        others = self._others[rows]
        car = self.car
        self.box_x[rows, first:] = car.x[others]
        self.box_y[rows, first:] = car.y[others]
        self.box_yaw[rows, first:] = car.yaw[others]
        self._moving_stale = True

    def _copy_bots(self, rows: np.ndarray | slice) -> None:
        """Copy the bots' poses into the object arrays, after the boxes."""
        m, b = self.num_boxes, self.num_bots
        self._moving_stale = True
        self.box_x[rows, m : m + b] = self.bots.x[rows]
        self.box_y[rows, m : m + b] = self.bots.y[rows]
        self.box_yaw[rows, m : m + b] = self.bots.yaw[rows]

    def _object_lanes(self, i: int, track: Track) -> tuple[np.ndarray, np.ndarray]:
        """Car ``i``'s objects along its track: (K,) centre-line distance [m] and lane (+1/-1).

        A box counts at its placement distance; a bot where it is now, on the lane it is nearer
        to (the inner one half-way through a change).
        """
        parts_s, parts_lane = [], []
        if self.num_boxes:
            boxes = self.layouts[i][0]
            parts_s.append(boxes.ndist * track.length)
            parts_lane.append(boxes.lane)
        if self.num_bots:
            parts_s.append(self.bots.s[i])
            parts_lane.append(np.where(self.bots.lane[i] >= 0.0, 1.0, -1.0))
        return np.concatenate(parts_s), np.concatenate(parts_lane)

    def _gaps(self, sel: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(K, M + B) distances [m] from points (x, y) of cars ``sel`` to their boxes and bots."""
        mb = self.num_boxes + self.num_bots
        return np.hypot(self.box_x[sel, :mb] - x[:, None], self.box_y[sel, :mb] - y[:, None])

    def _clear_start(self, sel: np.ndarray, track: Track, s: np.ndarray, x: np.ndarray,
                     y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """SPEC 4.5: a start within 1 m of an object moves to the lane on its other side."""
        gap = self._gaps(sel, x, y)
        near = gap <= START_CLEARANCE
        rows = np.flatnonzero(near.any(axis=1))
        if not len(rows):
            return x, y
        nearest = np.argmin(np.where(near[rows], gap[rows], np.inf), axis=1)
        lanes = np.array([self._object_lanes(int(sel[k]), track)[1][j]
                          for k, j in zip(rows, nearest, strict=True)])  # fmt: skip
        x, y = x.copy(), y.copy()
        x[rows], y[rows] = track.lane_point_at(s[rows], -lanes)
        return x, y

    def _objects_table(self) -> ObjectTable:
        """Every car's objects, car-major, with the moving ones' rows up to date.

        The boxes' rows are written as they are placed; the moving objects (bots and racers) are
        described again, in one call for all cars, whenever they have moved.
        """
        table = self._table
        assert table is not None
        if self._moving_stale and self.num_objects > self.num_boxes:
            m = self.num_boxes
            length, width, z, speed = self._moving_constants
            yaw = self.box_yaw[:, m:].ravel()
            part = describe_objects(self.tracks[0], self.box_x[:, m:].ravel(),
                                    self.box_y[:, m:].ravel(), yaw, length, width, z=z,
                                    speed=speed, heading=yaw)  # fmt: skip
            _write_rows(table, self._moving_rows, part)
        self._moving_stale = False
        return table

    def _object_keys(self, params_list: list[dict[str, Any]]) -> None:
        """Fill the object keys of every car's params.

        With bots, racers or randomized boxes, every car's objects differ: one batched call for all
        cars. With fixed boxes, one call per driving direction's layout.
        """
        q, car = self.query, self.car
        if self._per_car_objects:
            keys = object_params_per_car(self._objects_table(), q.s, car.x, car.y, car.yaw,
                                         self.reverse)  # fmt: skip
            for params, values in zip(params_list, keys, strict=True):
                params.update(values)
            return
        assert self._fixed_layouts is not None  # the only other case: one layout a direction
        for rev in (False, True):
            idx = np.flatnonzero(self.reverse == rev)
            if not len(idx):
                continue
            table = self._fixed_layouts[rev][1]
            keys = object_params(table, q.s[idx], car.x[idx], car.y[idx], car.yaw[idx],
                                 self.reverse[idx])  # fmt: skip
            for i, values in zip(idx, keys, strict=True):
                params_list[i].update(values)

    # --------------------------------------------------------------------------------- step
    def step(self, actions: np.ndarray) -> None:
        """Advance all N cars by one step of ``dt`` with the given policy actions.

        Args:
            actions: (N,) int action indices (discrete) or (N, 2) float in [-1, 1] (continuous).
        """
        self.action_space.decode(actions, self.steering, self.speed, self.steering_deg)
        self.advance()

    def advance(self) -> None:
        """`step` with the commands already decoded into the (N,) arrays of the actions.

        ``steering`` [rad], ``speed`` [m/s] and ``steering_deg`` [deg]: a race whose racers have
        their own action spaces decodes each car's action itself, then calls this.
        """
        cfg, ep = self.config, self.config.episode
        q, car = self.query, self.car
        # 2. Where the previous action left each car.
        car.points_ahead(cfg.car.model_point, q.model_x, q.model_y)
        car.wheel_positions(cfg.car, q.wheel_x, q.wheel_y)
        self.tracks[0].locate(q, self.reverse)
        progress = compute_progress(q.ndist, self.start_ndist, self.prev_progress)
        # 3. Rules, on RUN steps.
        prepare = self.phase == Phase.PREPARE
        pause = self.phase == Phase.PAUSE
        park = self.phase == Phase.PARK
        run = self.phase == Phase.RUN
        self.steps += 1
        moved = np.hypot(car.x - self.last_x, car.y - self.last_y)
        still = run & (moved <= ep.immobilized_distance)
        self.immobile_steps = np.where(still, self.immobile_steps + 1, 0)
        backwards = run & (progress < self.prev_progress)
        self.reversing_steps = np.where(backwards, self.reversing_steps + 1, 0)
        np.logical_not(q.any_wheel_on_track, out=self._off)
        if self.num_objects:
            footprint_corners(car.x, car.y, car.yaw, cfg.car.length, cfg.car.width,
                              out=self._corners)  # fmt: skip
            box_x = self.box_x
            if self.racers > 1:
                # A racer pausing after a failure (it blinks) or parked cannot be run into.
                gone = self.phase[self._others]
                gone = (gone == Phase.PAUSE) | (gone == Phase.PARK)
                if gone.any():
                    box_x = box_x.copy()
                    box_x[:, self.num_boxes + self.num_bots :][gone] = np.nan
            self.hit[:] = corners_in_boxes(self._corners, box_x, self.box_y, self.box_yaw,
                                           *self._hit_size)  # fmt: skip
            np.greater_equal(self.hit, 0, out=self.crashed)
            if self.racers > 1:
                self._judge_racer_crashes(progress)
            if self.num_bots:
                self._bots_hit_from_behind(run)
        judge(
            run & (progress >= 100.0),
            run & self.crashed,
            run & self._off,
            self.immobile_steps >= ep.immobilized_steps,
            self.reversing_steps >= ep.reversed_steps,
            self.status,
        )
        self.status[prepare] = Status.PREPARE
        self.status[pause] = Status.PAUSE
        self.status[park] = Status.PARK
        # 4. Params and rewards.
        self.rewards[:] = 0.0
        params_list = self._build_params(progress)
        with guarded_calls(self.config.reward_timeout, self._reward_log):
            for i in np.flatnonzero(run):
                waypoints = self.tracks[int(self.reverse[i])].waypoints
                self.rewards[i] = self._call_reward[i](params_list[i], waypoints)
        # 5. Episode ends, laps and evaluation resets.
        self._finish_episodes(run, progress)
        self.truncated[:] = (self.steps >= ep.max_episode_steps) & ~self.terminated
        # 6. Move. Cars in PREPARE or PAUSE, or whose episode just ended, stand still.
        np.logical_not((self.phase == Phase.RUN) & run & ~self.terminated, out=self._hold)
        self.last_x[:] = car.x
        self.last_y[:] = car.y
        self.model.step(car, self.steering, self.speed, cfg.dt, self._hold)
        if self.racers > 1:
            finished = np.flatnonzero(self.terminated)
            if len(finished):
                self._park(finished)
            self._copy_racers(slice(None))
        if self.num_bots:
            self._advance_bots(cfg.dt)
        self.sim_time += cfg.dt
        # A lap restarts progress only when it is counted (a RUN step); a car reset past the line
        # during a pause keeps 100 until its first RUN step completes the lap.
        self.prev_progress[:] = np.where(self._lap_counted, 0.0, progress)
        self._advance_pauses(pause, cfg.dt)
        self.phase[prepare] = Phase.RUN
        # 7. Cameras (and the lidar).
        self._render(None)
        if self.lidar:
            self.lidar_obs[:] = self._scan(None)
        self._fill_infos(params_list)

    def _bots_hit_from_behind(self, run: np.ndarray) -> None:
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
        bot_s = self.bots.s[rows, self.hit[rows] - m]
        gap = (self.query.s[rows] - bot_s + 0.5 * length) % length - 0.5 * length
        ahead = rows[gap > 0.0]
        if len(ahead):
            worlds = np.unique(self.leader[ahead])
            pause_bots(self.bots, self.bot_config, worlds)
            self._share_bots(np.flatnonzero(np.isin(self.leader, worlds)))

    def _judge_racer_crashes(self, progress: np.ndarray) -> None:
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
        distance = 100.0 * (self.laps + self.start_ndist) + progress  # [% of a lap]
        if self.config.simapp_race_rules:
            distance = (progress + 100.0 * self.start_ndist) % 100.0
        self.crashed[rows[distance[rows] >= distance[other]]] = False

    def _advance_bots(self, dt: float) -> None:
        """Move every car's bots by ``dt`` (through the car's PREPARE and PAUSE steps too)."""
        first = self.seat == 0
        tick_bots(self.bots, self.bot_config, dt, self._bot_rngs, np.flatnonzero(first))
        for rev in (False, True):
            rows = np.flatnonzero(first & (self.reverse == rev))
            if len(rows):
                update_poses(self.bots, self.tracks[rev], self.bot_config, rows)
        self._share_bots(slice(None))
        self._copy_bots(slice(None))

    def _build_params(self, progress: np.ndarray) -> list[dict[str, Any]]:
        q, car = self.query, self.car
        heading = rad_to_deg(car.yaw)
        track_length = self.tracks[0].length
        out = []
        for i in range(self.n):
            rev = bool(self.reverse[i])
            out.append(
                make_params(
                    all_wheels_on_track=q.all_wheels_on_track[i],
                    x=q.model_x[i],
                    y=q.model_y[i],
                    heading_deg=heading[i],
                    distance_from_center=q.distance_from_center[i],
                    projection_distance=q.s[i],
                    progress=progress[i],
                    steps=self.steps[i],
                    speed=self.speed[i],
                    steering_angle_deg=self.steering_deg[i],
                    track_width=q.track_width[i],
                    track_length=track_length,
                    waypoints=self._waypoints[rev],
                    closest_waypoints=(q.prev_waypoint[i], q.next_waypoint[i]),
                    is_left_of_center=q.is_left_of_center[i],
                    is_reversed=rev,
                    is_offtrack=self._off[i],
                    is_crashed=bool(self.crashed[i]),
                    sim_time=self.sim_time[i],
                )
            )
        if self.num_objects:
            self._object_keys(out)
        return out

    def _finish_episodes(self, run: np.ndarray, progress: np.ndarray) -> None:
        ep = self.config.episode
        self.terminated[:] = False
        lap = run & (self.status == Status.LAP_COMPLETE)
        self._lap_counted[:] = lap
        self.laps += lap
        # The lap ends, and the next begins, at the end of this step (sim_time + dt).
        end = self.sim_time[lap] + self.config.dt
        self.completed_lap_time[lap] = end - self.lap_start_time[lap]
        self.lap_start_time[lap] = end
        self.terminated |= lap & (self.laps >= ep.laps_per_episode)
        failed = run & (self.status != Status.IN_PROGRESS) & (self.status != Status.LAP_COMPLETE)
        for i in np.flatnonzero(failed):
            status = Status(int(self.status[i]))
            self.failure_counts[i, status] += 1
            if self.resets[i] < ep.resets_allowed:
                self._reset_after_failure(i, status, progress[i])
            else:
                self.terminated[i] = True

    def _reset_after_failure(self, i: int, status: Status, progress: float) -> None:
        """Evaluation reset (SPEC 5.2): back on the nearer lane at the last good progress.

        A crash into a bot car or another racer pauses the car where it is, as the simapp
        does for every crash but one into a box.
        """
        self.resets[i] += 1
        self.phase[i] = Phase.PAUSE
        self.pause_left[i] = self.config.episode.penalty(status)
        self.immobile_steps[i] = 0
        self.reversing_steps[i] = 0
        if status == Status.CRASHED and self.hit[i] >= self.num_boxes:
            return
        track = self.tracks[int(self.reverse[i])]
        # (negative for a staggered racer still behind the line: it goes back there)
        good = float(self.prev_progress[i])
        s = np.array([((self.start_ndist[i] + good / 100.0) % 1.0) * track.length])
        inner = track.lane_point_at(s, np.array([1.0]))
        outer = track.lane_point_at(s, np.array([-1.0]))
        x, y = self.car.x[i], self.car.y[i]
        use_inner = np.hypot(inner[0] - x, inner[1] - y) <= np.hypot(outer[0] - x, outer[1] - y)
        px, py = inner if use_inner[0] else outer
        if self.num_boxes:
            # SPEC 5.2: next to a box, restart in the other lane, 1 m behind it.
            box_s, lanes = self._object_lanes(i, track)
            box_s, lanes = box_s[: self.num_boxes], lanes[: self.num_boxes]
            gap = np.abs((box_s - s[0] + 0.5 * track.length) % track.length - 0.5 * track.length)
            if (gap <= START_CLEARANCE).any():
                k = int(np.argmin(gap))
                s = np.array([(box_s[k] - RESET_BEHIND) % track.length])
                px, py = track.lane_point_at(s, np.array([-lanes[k]]))
        _, _, yaw = track.point_at(s)
        self.car.place(np.array([i]), px, py, yaw)

    def _advance_pauses(self, pause: np.ndarray, dt: float) -> None:
        self.pause_left[pause] -= dt
        # 1e-9 s of slack: 2 s at 1/15 s must be 30 steps despite rounding in the countdown.
        done = pause & (self.pause_left <= 1e-9)
        self.phase[done] = Phase.RUN
        # The car has stood still through the pause: do not count the pause as immobility.
        self.last_x[done] = self.car.x[done]
        self.last_y[done] = self.car.y[done]

    def _fill_infos(self, params_list: list[dict[str, Any]]) -> None:
        # Remaining penalty [s]: set on the failure row, counting down on pause rows.
        pausing = (self.status == Status.PAUSE) | (self.phase == Phase.PAUSE)
        pause = np.where(pausing, self.pause_left, 0.0).tolist()
        # Times [s] up to the end of this step, penalties included; on a lap-complete step,
        # the completed lap's time.
        now = self.sim_time
        lap_time = np.where(self._lap_counted, self.completed_lap_time, now - self.lap_start_time)
        lap_time = lap_time.tolist()
        episode_time = (now - self.episode_start_time).tolist()
        steps, laps, resets = self.steps.tolist(), self.laps.tolist(), self.resets.tolist()
        start, status = self.start_ndist.tolist(), self.status.tolist()
        counts = self.failure_counts.tolist()
        for i, params in enumerate(params_list):
            c = counts[i]
            self.infos[i] = {
                "params": params,
                "episode_status": STATUS_LABELS[status[i]],
                "progress": params["progress"],
                "steps": steps[i],
                "laps": laps[i],
                "lap_time": lap_time[i],
                "episode_time": episode_time[i],
                "pause_duration": pause[i],
                "start_ndist": start[i],
                "reset_count": resets[i],
                "off_track_count": c[Status.OFF_TRACK],
                "crash_count": c[Status.CRASHED],
                "immobilized_count": c[Status.IMMOBILIZED],
                "reversed_count": c[Status.REVERSED],
            }
