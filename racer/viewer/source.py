"""The episodes a replay can show: one kind of simtrace of a run (or one CSV), in log order."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from racer.config import from_dict
from racer.errors import LogError, RacerError
from racer.logs.simtrace import Simtrace, find_simtraces, iteration_of, read_simtrace
from racer.track import Track
from racer.track.bots import BotConfig
from racer.track.obstacles import ObstacleConfig, Obstacles, place_obstacles

#: Episode statuses that end an episode with the car off the road (SPEC 5.1), and the
#: moments the viewer's "off-track" key jumps to.
OFF_TRACK_STATUSES = ("off_track", "crashed", "reversed", "immobilized")


@dataclass
class LoggedEpisodes:
    """Every episode of one kind of log, in log order.

    Attributes:
        source: the run folder or CSV they were read from.
        kind: ``training`` or ``evaluation``.
        trace: the simtrace rows (see `racer.logs.simtrace.read_simtrace`).
        entries: (file index, episode number, row indices) of each episode.
    """

    source: Path
    kind: str
    trace: Simtrace
    entries: list[tuple[int, int, np.ndarray]]

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
    return LoggedEpisodes(Path(run_or_csv), kind, trace, entries)


def off_track_rows(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Row indices (into one episode's columns) where the car is off the road.

    That is a wheel off (``all_wheels_on_track`` false) or a step that ended the episode off it.
    """
    status = np.isin(np.asarray(columns["episode_status"]).astype(str), OFF_TRACK_STATUSES)
    wheels_off = ~np.asarray(columns["all_wheels_on_track"], bool)
    return np.flatnonzero(status | wheels_off)


def logged_obstacles(run_or_csv: str | Path, track: Track) -> tuple[Obstacles | None, str]:
    """The obstacle boxes of a racer run, and a note.

    A racer run keeps its settings in ``racer.toml``; boxes at fixed places are placed again
    from them (DeepRacer's logs do not record obstacles at all). Boxes that moved every episode
    cannot be shown: the note says so. None when the run has no boxes (or is not a racer run).
    """
    config_file = Path(run_or_csv) / "racer.toml"
    if not config_file.is_file():
        return None, ""
    try:
        data = tomllib.loads(config_file.read_text())
        env = data.get("env", {})
        config = from_dict(ObstacleConfig, env.get("obstacles", {}), str(config_file))
        bots = from_dict(BotConfig, env.get("bots", {}), str(config_file)).count
    except (OSError, tomllib.TOMLDecodeError, RacerError) as exc:
        return None, f"cannot read the obstacles of {config_file}: {exc}"
    bot_note = (f"the run's {bots} bot cars move and are not logged, so the replay does not show "
                "them" if bots else "")  # fmt: skip
    if not config.num_obstacles:
        return None, bot_note
    if config.randomize:
        note = (f"the run's {config.num_obstacles} boxes moved every episode and are not logged, "
                "so the replay does not show them")  # fmt: skip
        return None, "; ".join(filter(None, (note, bot_note)))
    driven = track.with_reverse(bool(env.get("reverse", False)))
    return place_obstacles(driven, config), bot_note
