"""The episodes a replay can show: one kind of simtrace of a run (or one CSV), in log order.

With each simtrace file comes its object sidecar when the run had objects
(`racer.logs.objects`): then every episode knows where its boxes, bot cars and other racing cars
were at each step (`LoggedEpisodes.objects`). Without a usable sidecar (an older run, a damaged
file) the replay falls back to the fixed boxes of ``racer.toml`` (`logged_obstacles`), with a
note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racer.errors import LogError
from racer.logs.objects import RunObjects, run_objects, trace_objects
from racer.logs.simtrace import Simtrace, find_simtraces, iteration_of, read_simtrace
from racer.objects.obstacles import ObstacleConfig, Obstacles, place_obstacles
from racer.track import Track

#: Episode statuses that end an episode with the car off the road (SPEC 5.1), and the
#: moments the viewer's "off-track" key jumps to.
OFF_TRACK_STATUSES = ("off_track", "crashed", "reversed", "immobilized")


@dataclass(frozen=True)
class EpisodeObjects:
    """Where the objects of one episode were at each of its T steps (from the object log).

    Attributes:
        x: (T, K) float64 [m] each object's position, east (``objects_location``); NaN marks an
            absent object.
        y: (T, K) float64 [m] north.
        heading: (T, K) float64 [rad] ``objects_heading`` (0.0 for boxes, whose yaw the logs
            do not give: a box lies along the track, see `racer.viewer.render`).
        kinds: (K,) int64, `BOX`, `BOT` or `RACER` for each object.
        box_length: [m] a box's collision rectangle along its yaw (the run's ObstacleConfig).
        box_width: [m] across it.
    """

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    kinds: np.ndarray
    box_length: float = ObstacleConfig.length
    box_width: float = ObstacleConfig.width


@dataclass
class LoggedEpisodes:
    """Every episode of one kind of log, in log order.

    Attributes:
        source: the run folder or CSV they were read from.
        kind: ``training`` or ``evaluation``.
        trace: the simtrace rows (see `racer.logs.simtrace.read_simtrace`).
        entries: (file index, episode number, row indices) of each episode.
        poses: (R, K, 3) float64 x [m], y [m], heading [rad] of each trace row's K objects
            (from the object log), or None when no file had a usable log.
        logged: (R,) bool, the rows whose objects were logged.
        run: what the run's ``racer.toml`` says about its objects.
        object_note: what was wrong with the object logs (missing, damaged), or "".
    """

    source: Path
    kind: str
    trace: Simtrace
    entries: list[tuple[int, int, np.ndarray]]
    poses: np.ndarray | None = None
    logged: np.ndarray | None = None
    run: RunObjects = RunObjects()
    object_note: str = ""

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def warnings(self) -> list[str]:
        """The damage found in the log (it is read up to the damage)."""
        return list(self.trace.warnings)

    def columns(self, index: int) -> dict[str, np.ndarray]:
        """The columns of the ``index``-th episode, each (K,) in step order."""
        rows = self.entries[index][2]
        return {name: values[rows] for name, values in self.trace.columns.items()}

    def objects(self, index: int) -> EpisodeObjects | None:
        """The logged objects of the ``index``-th episode, or None when they were not logged."""
        rows = self.entries[index][2]
        if self.poses is None or self.logged is None or not self.logged[rows].all():
            return None
        poses = self.poses[rows]
        o = self.run.obstacles
        return EpisodeObjects(poses[:, :, 0], poses[:, :, 1], poses[:, :, 2],
                              self.run.kinds(poses.shape[1]), o.length, o.width)  # fmt: skip

    @property
    def all_logged(self) -> bool:
        """Every episode's objects were logged."""
        return self.logged is not None and bool(self.logged.all())

    def number(self, index: int) -> int:
        """The logged episode number of the ``index``-th episode."""
        return self.entries[index][1]

    def iteration(self, index: int) -> int:
        """The iteration (``{n}-iteration.csv``) the ``index``-th episode came from."""
        return iteration_of(self.trace.sources[self.entries[index][0]])

    def index_of(self, episode: int | None) -> int:
        """Position of the logged episode number ``episode`` (None: the first).

        Raises:
            LogError: no such episode.
        """
        if episode is None:
            return 0
        for index, (_, number, _) in enumerate(self.entries):
            if number == episode:
                return index
        numbers = sorted({n for _, n, _ in self.entries})
        raise LogError(f"{self.source} has no {self.kind} episode {episode} (episodes: "
                       f"{numbers[0]}..{numbers[-1]}).")  # fmt: skip


def load_episodes(
    run_or_csv: str | Path, *, evaluation: bool = False, iteration: int | None = None
) -> LoggedEpisodes:
    """Read the training (or evaluation) simtraces of a run, or one CSV.

    Args:
        run_or_csv: a model folder (racer, deepracer-for-cloud, console download) or a CSV.
        evaluation: read the evaluation logs, not the training logs.
        iteration: only read this iteration's file (``{n}-iteration.csv``).

    Raises:
        LogError: no such log, or it holds no episode.
    """
    kind = "evaluation" if evaluation else "training"
    files = find_simtraces(run_or_csv)[kind]
    if iteration is not None:
        files = [f for f in files if iteration_of(f) == iteration]
    if not files:
        where = f" for iteration {iteration}" if iteration is not None else ""
        raise LogError(f"{run_or_csv} holds no {kind} simtrace{where}.")
    trace = read_simtrace(files)
    entries = list(trace.episodes())
    if not entries:
        raise LogError(f"{run_or_csv} holds no complete {kind} row to replay.")
    run = run_objects(run_or_csv)
    episodes = LoggedEpisodes(Path(run_or_csv), kind, trace, entries, run=run)
    _attach_objects(episodes)
    return episodes


def _attach_objects(episodes: LoggedEpisodes) -> None:
    """Line the run's object logs up with the trace's rows (`racer.logs.objects.trace_objects`)."""
    found = trace_objects(episodes.trace, episodes.run)
    episodes.poses, episodes.logged, episodes.object_note = found.poses, found.logged, found.note


def episode_clock(tstamp: np.ndarray) -> np.ndarray:
    """(K,) [s] each row's time since the episode's first row.

    A training simtrace's ``tstamp`` runs on from the start of the iteration (DeepRacer's
    clock is not reset between episodes), so an episode's own time is counted from its first
    row with a time stamp. NaN stays NaN; all NaN gives all NaN.

    Args:
        tstamp: (K,) the episode's logged ``tstamp`` [s], in step order.
    """
    tstamp = np.asarray(tstamp, np.float64)
    finite = np.flatnonzero(np.isfinite(tstamp))
    return tstamp - tstamp[finite[0]] if finite.size else tstamp.copy()


def off_track_rows(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Row indices (into one episode's columns) where the car is off the road.

    That is a wheel off (``all_wheels_on_track`` false) or a step that ended the episode off it.
    """
    status = np.isin(np.asarray(columns["episode_status"]).astype(str), OFF_TRACK_STATUSES)
    wheels_off = ~np.asarray(columns["all_wheels_on_track"], bool)
    return np.flatnonzero(status | wheels_off)


def logged_obstacles(run_or_csv: str | Path, track: Track) -> tuple[Obstacles | None, str]:
    """The fixed obstacle boxes of a racer run, and a note: the fallback of the object log.

    A racer run keeps its settings in ``racer.toml``; boxes at fixed places are placed again
    from them (DeepRacer's own logs do not record obstacles at all). Boxes that moved every
    episode and bot cars cannot be shown without the object log: the note says so. None when
    the run has no boxes (or is not a racer run).
    """
    if not Path(run_or_csv).is_dir():  # a lone CSV: no racer.toml to read
        return None, ""
    run = run_objects(run_or_csv)
    if run.note:
        return None, run.note
    config, bots = run.obstacles, run.bots
    bot_note = (f"the run's {bots} bot cars move and their object log is missing, so the replay "
                "does not show them" if bots else "")  # fmt: skip
    if not config.num_obstacles:
        return None, bot_note
    if config.randomize:
        note = (f"the run's {config.num_obstacles} boxes moved every episode and their object log "
                "is missing, so the replay does not show them")  # fmt: skip
        return None, "; ".join(filter(None, (note, bot_note)))
    return place_obstacles(track.with_reverse(run.reverse), config), bot_note


def replay_objects(
    episodes: LoggedEpisodes, run_or_csv: str | Path, track: Track
) -> tuple[Obstacles | None, str]:
    """The fallback boxes for episodes without an object log, and a one-line note to show.

    When every episode's objects were logged, nothing falls back and the note is empty;
    otherwise `logged_obstacles` gives the run's fixed boxes, and the note says what was wrong
    with the object log and what the replay cannot show.
    """
    if episodes.all_logged:
        return None, episodes.run.note  # a racer.toml that cannot be read: kinds are unknown
    boxes, note = logged_obstacles(run_or_csv, track)
    if episodes.object_note:
        shown = "the run's fixed boxes only" if boxes is not None else "no objects"
        note = note or f"those episodes show {shown}"
        note = f"{episodes.object_note}: {note}"
    return boxes, note
