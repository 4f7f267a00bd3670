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

The core holds the description (tracks, car model, rules) and the cars' state; what the cars see
is its `Observer`'s (``racer.env.observation``), their objects (boxes, bot cars, other racers) its
`ObjectWorld`'s (``racer.objects.world``), and the reward calls its `RewardCalls`'
(``racer.reward.calls``). It asks them; it has no branch on the race type.

Everything per-car lives in preallocated arrays; the only per-car Python is building each
params dict and calling the user's reward function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.env.config import EnvConfig, load_metadata
from racer.env.episode import STATUS_LABELS, Phase, Status, judge
from racer.env.observation import Observer
from racer.errors import ConfigError
from racer.objects.world import ObjectWorld
from racer.physics.car import CarState
from racer.physics.motion import make_motion_model
from racer.reward.calls import RewardCalls
from racer.reward.params import compute_progress, make_params
from racer.track import Track, TrackQuery, load_track
from racer.units import rad_to_deg

RewardCallable = Callable[[dict[str, Any]], float]


@dataclass(frozen=True)
class CarRecord:
    """One car of the core after a step, for whoever draws or logs it (the live view).

    Attributes:
        x, y: [m] base_link. yaw: [rad]. speed: [m/s] the car's speed.
        steering_deg: [deg] the chosen action's steering. reward: the step's reward.
        progress: [%] of the lap. steps: of the episode. episode: finished episodes.
        status: the `Status` code. sim_time: [s].
        frame: (H, W, C) uint8 the camera frame (the core's buffer: copy what you keep).
        objects: (K, 6) the car's objects (`ObjectWorld.outlines`).
    """

    x: float
    y: float
    yaw: float
    speed: float
    steering_deg: float
    reward: float
    progress: float
    steps: int
    episode: int
    status: int
    sim_time: float
    frame: np.ndarray
    objects: np.ndarray


class RacerCore:
    """N cars on one track with DeepRacer's rules; the engine behind both environments.

    Args:
        config: the environment configuration.
        num_cars: N.
        reward_function: a callable shared by all cars, one per car, or ready `RewardCalls`;
            by default each car loads ``config.reward_function`` as its own module, as each
            DeepRacer worker does, in a worker process (``config.reward_isolation``): prints go
            to ``config.reward_log``, overruns of ``config.reward_timeout`` are errors.

    After `step`, read the results from ``obs`` (N, H, W, 1) uint8, ``rewards`` (N,) float64,
    ``terminated``/``truncated`` (N,) bool, ``status`` (N,) int8 `Status`, and ``infos``.
    """

    def __init__(
        self,
        config: EnvConfig,
        num_cars: int,
        reward_function: RewardCallable | Sequence[RewardCallable] | RewardCalls | None = None,
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
        self._waypoints = (list(base.waypoints), list(base.reversed().waypoints))
        # what the reward calls give each copy of params, per direction (built once)
        self._track_waypoints = (self.tracks[0].waypoints, self.tracks[1].waypoints)
        self.metadata = load_metadata(config)
        self.action_space = self.metadata.action_space
        self.model = make_motion_model(config.motion_model, config.car)
        if isinstance(reward_function, RewardCalls):
            self.reward = reward_function
        else:
            self.reward = RewardCalls(
                config.reward_function if reward_function is None else reward_function,
                num_cars, timeout=config.reward_timeout, log=config.reward_log,
                failure_dir=config.failure_dir, isolation=config.reward_isolation,
                sandbox=config.reward_sandbox,
                memory_limit=int(config.reward_memory_limit * 2**30),
            )  # fmt: skip
        self.world = ObjectWorld(self.tracks, num_cars, config.obstacles, config.bots,
                                 config.racers, config.car,
                                 simapp_race_rules=config.simapp_race_rules)  # fmt: skip
        self.sensors = Observer(self.metadata, config.camera, base.geometry, self.world, num_cars,
                                base.name)  # fmt: skip
        self.obs, self.lidar_obs = self.sensors.obs, self.sensors.lidar_obs
        self.obs_shape, self.lidar = self.sensors.obs_shape, self.sensors.lidar
        self.lidar_size = self.sensors.lidar_size
        self._allocate()

    # ------------------------------------------------------------------------------ buffers
    def _allocate(self) -> None:
        n = self.n
        self.car = CarState(n)
        self.query = TrackQuery(n)
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
        self._lap_counted = np.zeros(n, bool)
        self._hold = np.zeros(n, bool)

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
        racers = self.world.racers
        worlds = np.unique(self.world.leader[index])
        if len(index) != len(worlds) * racers or not np.all(
            np.isin(worlds[:, None] + np.arange(racers), index)
        ):
            raise ValueError(f"a race resets whole worlds: cars {index.tolist()} do not make "
                             f"whole worlds of {racers} racers.")  # fmt: skip
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
        x, y, yaw = self.world.starts(index, rngs, self.reverse, self.start_ndist)
        self.car.place(index, x, y, yaw)
        self.world.follow(self.car)
        for arr in (self.steps, self.prev_progress, self.immobile_steps, self.reversing_steps,
                    self.pause_left, self.resets, self.laps):  # fmt: skip
            arr[index] = 0
        self.failure_counts[index] = 0
        self.episode_start_time[index] = self.sim_time[index]
        self.lap_start_time[index] = self.sim_time[index]
        self.last_x[index] = self.car.x[index]
        self.last_y[index] = self.car.y[index]
        self.sensors.seed(rngs[0], again=restart)
        self.sensors.observe(self.car, index)

    def observation(self, index: np.ndarray | int | None = None) -> Any:
        """A copy of the observation of cars ``index`` (`Observer.observation`)."""
        return self.sensors.observation(index)

    def place_cars(self, index: np.ndarray, x: np.ndarray, y: np.ndarray, yaw: np.ndarray) -> None:
        """Put cars ``index`` at rest at the given base_link poses ([m], [m], [rad]), by hand.

        The other racers of their worlds see them there at once (``CarState.place`` alone would
        leave the object arrays until the next step's move).
        """
        self.car.place(index, x, y, yaw)
        self.world.follow(self.car)

    def record(self, i: int) -> CarRecord:
        """Car ``i`` after the last step, as a `CarRecord`."""
        car = self.car
        return CarRecord(
            float(car.x[i]), float(car.y[i]), float(car.yaw[i]), float(car.speed[i]),
            float(self.steering_deg[i]), float(self.rewards[i]), float(self.prev_progress[i]),
            int(self.steps[i]), int(self.episodes[i]), int(self.status[i]),
            float(self.sim_time[i]), self.obs[i], self.world.outlines(i),
        )  # fmt: skip

    def close(self) -> None:
        """Close the reward log, if the core opened one."""
        self.reward.close()

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
        # A racer pausing after a failure (it blinks) or parked cannot be run into.
        absent = (self.phase == Phase.PAUSE) | (self.phase == Phase.PARK)
        self.world.collide(car, run, absent, progress, self.laps, self.start_ndist, q.s)
        judge(
            run & (progress >= 100.0),
            run & self.world.crashed,
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
        self.reward(params_list, np.flatnonzero(run), self.reverse, self._track_waypoints,
                    self.rewards)
        # 5. Episode ends, laps and evaluation resets.
        self._finish_episodes(run, progress)
        self.truncated[:] = (self.steps >= ep.max_episode_steps) & ~self.terminated
        # 6. Move. Cars in PREPARE or PAUSE, or whose episode just ended, stand still.
        np.logical_not((self.phase == Phase.RUN) & run & ~self.terminated, out=self._hold)
        self.last_x[:] = car.x
        self.last_y[:] = car.y
        self.model.step(car, self.steering, self.speed, cfg.dt, self._hold)
        finished = self.world.finishers(self.terminated)
        if len(finished):
            self.phase[finished] = Phase.PARK
            self.world.park(car, finished)
        self.world.move(car, self.reverse, cfg.dt)
        self.sim_time += cfg.dt
        # A lap restarts progress only when it is counted (a RUN step); a car reset past the line
        # during a pause keeps 100 until its first RUN step completes the lap.
        self.prev_progress[:] = np.where(self._lap_counted, 0.0, progress)
        self._advance_pauses(pause, cfg.dt)
        self.phase[prepare] = Phase.RUN
        # 7. Cameras (and the lidar).
        self.sensors.observe(car)
        self._fill_infos(params_list)

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
                    is_crashed=bool(self.world.crashed[i]),
                    sim_time=self.sim_time[i],
                )
            )
        self.world.keys(out, car, q.s, self.reverse)
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
        if status == Status.CRASHED and self.world.pauses_in_place(i):
            return
        track = self.tracks[int(self.reverse[i])]
        # (negative for a staggered racer still behind the line: it goes back there)
        good = float(self.prev_progress[i])
        s = ((self.start_ndist[i] + good / 100.0) % 1.0) * track.length
        inner = track.lane_point_at(np.array([s]), np.array([1.0]))
        outer = track.lane_point_at(np.array([s]), np.array([-1.0]))
        x, y = self.car.x[i], self.car.y[i]
        use_inner = np.hypot(inner[0] - x, inner[1] - y) <= np.hypot(outer[0] - x, outer[1] - y)
        px, py = inner if use_inner[0] else outer
        px, py, yaw = self.world.restart(i, track, s, float(px[0]), float(py[0]))
        self.car.place(np.array([i]), np.array([px]), np.array([py]), np.array([yaw]))

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
