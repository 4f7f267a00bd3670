"""Multi-car races: several trained policies on one track at once, with DeepRacer's race rules.

What DeepRacer's head-to-head races do (the simapp runs one agent per racing car; it does not train
several at once, so neither does racer):

- racer k starts 0.75 m x k behind the line, on the outer lane for even k and the inner lane for
  odd k (SPEC 4.5);
- each car sees the others in its params' object keys and in its camera;
- when two racers touch, only the one with the lower progress has crashed (SPEC 1.3 item 12); a
  crash pauses it where it is for the collision penalty, and while it pauses (or after going off
  track) no one can run into it;
- the evaluation rules of SPEC 5.3: laps from the line, resets with penalty pauses;
- a car that has finished parks off the track until all have (SPEC 5.1, PARK).

Each racer keeps its own model: its action space and its reward function (its params, rewards and
simtrace are its own). The racers must see with the same sensors, since the world renders one
kind of observation.

With ``rewards``, each racer's reward file runs as ``racer train`` runs it (`RaceRewards`): in a
worker process of its own, with its run's ``reward_timeout``, ``reward_sandbox`` and
``reward_memory_limit``, so a call stuck in C code is killed at its limit and a crash or an
``os._exit`` is an error naming the racer, the file and the step, not the end of racer; in this
process only for a run trained with ``reward_isolation = "none"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from racer.config import dump_toml, to_dict
from racer.env.config import EnvConfig, load_metadata
from racer.env.core import RacerCore
from racer.env.episode import STATUS_LABELS, Status
from racer.env.rollout import rollout
from racer.errors import ConfigError, RewardFunctionError
from racer.logs.atomic import write_text_atomic
from racer.logs.run_folder import RunFolder, timestamp
from racer.logs.writers import write_simtrace
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig
from racer.reward.calls import RewardCalls
from racer.reward.failures import RewardCallError
from racer.train.evaluate import LapEvaluation, lap_config, lap_step_limit, no_reward
from racer.train.runs import LoadedPolicy, episode_logs, with_parent_dir


@dataclass
class RacerResult(LapEvaluation):
    """How one racer did: its `LapEvaluation` (laps, lap times, failures, every step), and more.

    Attributes:
        name: the racer's name (its run folder or model file).
        seat: its starting position k (0 on the line, k x 0.75 m behind).
        race_time: [s] from the start to its last completed lap (its finishing time when it
            finished), penalties included.
        progress: [%] of the lap it was on when its race ended (100 when it finished).
    """

    name: str = ""
    seat: int = 0
    race_time: float = 0.0
    progress: float = 0.0

    @property
    def finished(self) -> bool:
        """All the laps were driven."""
        return self.complete


@dataclass
class RaceResult:
    """A race: every racer's result (in seat order) and the track."""

    racers: list[RacerResult]
    track: str
    steps: int

    def standings(self) -> list[RacerResult]:
        """The racers in finishing order.

        Most laps first, then the furthest round the lap they were on, then the shorter race
        time (which decides between the cars that finished).
        """
        return sorted(self.racers, key=lambda r: (-r.laps, -r.progress, r.race_time, r.seat))

    def table(self) -> str:
        """The standings as a Markdown table."""
        lines = [
            "| position | racer | start | laps | race time [s] | lap times [s] | crashed | "
            "off track | resets |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for place, r in enumerate(self.standings(), 1):
            times = ", ".join(f"{t:.2f}" for t in r.lap_times) or "-"
            total = f"{r.race_time:.2f}" if r.laps else f"- ({r.progress:.0f} % of lap 1)"
            lines.append(f"| {place} | {r.name} | {r.seat} | {r.laps}/{r.laps_target} | {total} "
                         f"| {times} | {r.crashed} | {r.off_track} | {r.resets} |")  # fmt: skip
        return "\n".join(lines) + "\n"


def race_config(
    entries: list[LoadedPolicy],
    *,
    track: str | None = None,
    laps: int = 3,
    resets: int = 10_000,
    obstacles: ObstacleConfig | None = None,
    bots: BotConfig | None = None,
    reverse: bool | None = None,
    simapp_rules: bool = False,
) -> EnvConfig:
    """The world of a race: the first racer's environment, with K racers and evaluation rules.

    Raises:
        ConfigError: fewer than two racers, or racers that see with different sensors or were
            trained with another camera, step length, car or motion model.
    """
    if len(entries) < 2:
        raise ConfigError("a race needs at least two racers (run folders or .onnx models).")
    sensors = [tuple(load_metadata(e.env).sensor) for e in entries]
    lidar = [load_metadata(e.env).effective_lidar_config for e in entries]
    if len(set(sensors)) > 1 or any(cfg != lidar[0] for cfg in lidar):
        pairs = zip(entries, sensors, strict=True)
        listing = "; ".join(f"{e.source}: {', '.join(s)}" for e, s in pairs)
        raise ConfigError(
            f"the racers see with different sensors ({listing}); one world renders one kind of "
            "observation, so race models trained with the same sensor list (and lidar_config)."
        )
    setups = [(e.env.camera, e.env.dt, e.env.car, e.env.motion_model) for e in entries]
    if any(setup != setups[0] for setup in setups):
        odd = [str(e.source) for e, setup in zip(entries, setups, strict=True)
               if setup != setups[0]]  # fmt: skip
        raise ConfigError(
            f"{', '.join(odd)} trained with another camera, step length, car or motion model "
            f"than {entries[0].source}; one world simulates one kind of car: race models "
            "trained with the same settings."
        )
    env = entries[0].env
    env = replace(env, racers=len(entries), reward_log="", failure_dir="",
                  simapp_race_rules=simapp_rules)  # fmt: skip
    if track is not None:
        env = replace(env, track=track)
    if obstacles is not None:
        env = replace(env, obstacles=obstacles)
    if bots is not None:
        env = replace(env, bots=bots)
    return lap_config(env, laps, resets, reverse)


def race(
    entries: list[LoadedPolicy],
    names: list[str] | None = None,
    *,
    track: str | None = None,
    laps: int = 3,
    resets: int = 10_000,
    obstacles: ObstacleConfig | None = None,
    bots: BotConfig | None = None,
    reverse: bool | None = None,
    max_steps: int = 0,
    seed: int = 0,
    simapp_rules: bool = False,
    rewards: bool = False,
) -> tuple[RaceResult, EnvConfig]:
    """Race the policies against each other in one world, in seat order.

    Args:
        entries: the racers' policies and the environments they were trained in; entry k
            starts in seat k.
        names: a name per racer (default: its source file).
        track: the track (default: the first racer's).
        laps: laps to race (DeepRacer's console: 3).
        resets: failures each racer survives with a penalty pause (console 10000).
        obstacles: boxes on the track (default: the first racer's settings).
        bots: bot cars (default: the first racer's settings).
        reverse: drive the track backwards (default: the first racer's direction).
        max_steps: give up after this many steps; 0: `lap_step_limit` per lap.
        seed: seeds randomized boxes and bots.
        simapp_rules: judge as the simapp does (`EnvConfig.simapp_race_rules`).
        rewards: score each racer's steps with its own reward function (a run folder's
            ``reward_function.py``, code from whoever shared the run); False, the default, runs
            none and logs rewards of 0.0, as `racer evaluate` does.

    Returns:
        The result and the race's environment.
    """
    config = race_config(entries, track=track, laps=laps, resets=resets, obstacles=obstacles,
                         bots=bots, reverse=reverse, simapp_rules=simapp_rules)  # fmt: skip
    k = len(entries)
    names = names or [str(e.source) for e in entries]
    if len(names) != k:
        raise ConfigError(f"{len(names)} names for {k} racers: give one per racer.")
    spaces = [load_metadata(e.env).action_space for e in entries]
    core = _race_core(config, entries, names, rewards)
    try:
        if max_steps <= 0:
            max_steps = laps * max(lap_step_limit(core, space) for space in spaces)
        results = [RacerResult(laps, name=name, seat=seat) for seat, name in enumerate(names)]

        def drive(obs: Any, infos: Any) -> list[np.ndarray]:
            return [np.asarray(entry.policy.predict(_one(obs, seat)))
                    for seat, entry in enumerate(entries)]  # fmt: skip

        def decode(actions: list[np.ndarray]) -> None:
            for seat, (action, space) in enumerate(zip(actions, spaces, strict=True)):
                sl = slice(seat, seat + 1)
                space.decode(action, core.steering[sl], core.speed[sl], core.steering_deg[sl])

        rngs = [np.random.default_rng(seed + i) for i in range(k)]
        running, steps = np.ones(k, bool), 0
        for step in rollout(core, drive, rngs=rngs, max_steps=max_steps, decode=decode):
            steps = step.step
            for seat in np.flatnonzero(step.running):
                info = step.infos[seat]
                result = results[seat]
                result.steps += 1
                result.records.append(step.record(seat))
                if info["episode_status"] == STATUS_LABELS[Status.LAP_COMPLETE]:
                    result.lap_times.append(float(info["lap_time"]))
                    result.race_time = float(info["episode_time"])
                if step.done[seat]:
                    _finish(result, info)
            running = step.running & ~step.done
        for seat in np.flatnonzero(running):  # out of steps
            _finish(results[seat], core.infos[seat])
            results[seat].status = "time_up"
        return RaceResult(results, config.track, steps), config
    finally:
        core.close()


class RaceRewards(RewardCalls):
    """The racers' own reward functions, each called as its run was trained to call it.

    Each racer has its own `RewardCalls` of one car, from its own file with its own settings
    (``reward_timeout``, ``reward_isolation``, ``reward_sandbox``, ``reward_memory_limit``): in
    a worker process unless its run chose ``reward_isolation = "none"``. Their prints go to
    stdout and the params of a failing call to a temporary folder: a shared run's own
    ``reward_log`` and ``failure_dir`` name places on the machine it came from.

    Args:
        seats: each racer's calls, in seat order.
        names: each racer's name, for the errors.
    """

    def __init__(self, seats: list[RewardCalls], names: list[str]) -> None:
        # Not RewardCalls.__init__: the calls are the seats', each with its own file.
        self.seats = seats
        self.names = names
        self.timeout = max(seat.timeout for seat in seats)
        self.worker = None
        self.functions = []
        self._log = None
        self._first = np.zeros(1, np.intp)

    @classmethod
    def load(cls, entries: list[LoadedPolicy], names: list[str]) -> RaceRewards:
        """Load every racer's reward file (a worker imports it, unless its run says "none").

        Raises:
            RewardFunctionError: a file that does not load, naming the racer.
        """
        seats: list[RewardCalls] = []
        try:
            for seat, (entry, name) in enumerate(zip(entries, names, strict=True)):
                env = entry.env
                try:
                    seats.append(RewardCalls(
                        env.reward_function, 1, timeout=env.reward_timeout,
                        isolation=env.reward_isolation, sandbox=env.reward_sandbox,
                        memory_limit=int(env.reward_memory_limit * 2**30),
                    ))  # fmt: skip
                except RewardFunctionError as exc:
                    raise RewardFunctionError(f"racer {name} (seat {seat}): {exc}") from None
        except BaseException:
            for calls in seats:
                calls.close()
            raise
        return cls(seats, names)

    def __call__(self, params_list: list[dict[str, Any]], index: np.ndarray, reverse: np.ndarray,
                 waypoints: tuple[Any, Any], out: np.ndarray) -> None:  # fmt: skip
        """Call the reward function of each racer in ``index``, one racer at a time.

        Raises:
            RewardCallError: a racer's call failed (it raised, overran its limit, returned a
                bad value, or ended its worker process), naming the racer, file and step.
        """
        for seat in index.tolist():
            try:
                self.seats[seat]([params_list[seat]], self._first, reverse[seat : seat + 1],
                                 waypoints, out[seat : seat + 1])  # fmt: skip
            except RewardCallError as exc:
                raise _reworded(exc, f"racer {self.names[seat]} (seat {seat}): {exc}") from None

    def close(self) -> None:
        """Stop every racer's worker."""
        for calls in self.seats:
            calls.close()


def _reworded(exc: RewardCallError, message: str) -> RewardCallError:
    """The same failing call, told with more context."""
    return RewardCallError(message, exc.problem, exc.params_file, exc.params, frames=exc.frames,
                           fatal=exc.fatal)  # fmt: skip


def _race_core(config: EnvConfig, entries: list[LoadedPolicy], names: list[str],
               rewards: bool) -> RacerCore:  # fmt: skip
    """The race's world, its cars scored by their own reward functions or by `no_reward`."""
    if not rewards:
        return RacerCore(config, len(entries), reward_function=[no_reward] * len(entries))
    scorers = RaceRewards.load(entries, names)
    try:
        return RacerCore(config, len(entries), reward_function=scorers)
    except BaseException:
        scorers.close()
        raise


def _one(obs: Any, seat: int) -> Any:
    if isinstance(obs, dict):
        return {key: value[seat : seat + 1] for key, value in obs.items()}
    return obs[seat : seat + 1]


def _finish(result: RacerResult, info: dict[str, Any]) -> None:
    result.take_counts(info)
    result.progress = 100.0 if result.finished else float(info["progress"])


@dataclass
class LoggedRace:
    """A race and where it was written."""

    result: RaceResult
    folder: Path
    standings: Path


def race_and_log(
    entries: list[LoadedPolicy],
    names: list[str] | None = None,
    *,
    out: str | Path = "runs/races",
    **options: Any,
) -> LoggedRace:
    """``racer race``: run the race, then write its logs into ``out/race-<timestamp>/``.

    Each racer gets a folder ``seat-<k>/`` laid out as an evaluated DeepRacer model:
    ``evaluation-<timestamp>/evaluation-simtrace/0-iteration.csv`` (with the other racers in its
    object log, so ``racer replay`` draws them) and a ``racer.toml`` of the race's world. The
    standings go to ``standings.md``.
    """
    try:
        result, config = race(entries, names, **options)
    except RewardCallError as exc:
        raise _reworded(exc, f"{exc}\nThe race stopped; its logs are written only when it ends, "
                             f"so nothing was written to {out}.") from None  # fmt: skip
    root = Path(out)
    stamp = timestamp()
    while (root / f"race-{stamp}").exists():
        stamp = str(int(stamp) + 1)
    folder = root / f"race-{stamp}"
    for racer, entry in zip(result.racers, entries, strict=True):
        run = RunFolder(folder / f"seat-{racer.seat}")
        env = replace(config, model_metadata=entry.env.model_metadata,
                      reward_function=entry.env.reward_function)  # fmt: skip
        simtrace = with_parent_dir(run.evaluation_simtrace(stamp))
        write_simtrace(simtrace, episode_logs(env, racer.records))
        write_text_atomic(run.config_file, dump_toml({"env": to_dict(env),
                                                      "race": {"racer": racer.name,
                                                               "seat": racer.seat}}))  # fmt: skip
    standings = folder / "standings.md"
    write_text_atomic(standings, f"# Race on {result.track}\n\n{result.table()}")
    return LoggedRace(result, folder, standings)


__all__ = ["LoggedRace", "RaceResult", "RaceRewards", "RacerResult", "race", "race_and_log",
           "race_config"]  # fmt: skip
