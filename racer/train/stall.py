"""Noticing a run whose training episodes no longer end (cars circling on the road).

DeepRacer ends a training episode at the lap's end or at a failure (off track, crash, reversed,
immobilized), and after 100,000 steps at the latest. A reward that pays speed or steps without
progress can teach the cars to drive in circles on the road: no rule ends those episodes, no
iteration completes, and nothing would tell the user. `StallWatch` looks at the longest running
episode after every update; past 1.5 laps at the action space's slowest speed
(`racer.train.evaluate.lap_step_limit`), it writes that episode so far as a simtrace and warns
once, naming the command that replays it and the option that ends such episodes
(``--max-episode-steps``; DeepRacer's own limit stays the default).
"""

from __future__ import annotations

from pathlib import Path

from racer.logs.recorder import EpisodeLog, SimtraceRecorder
from racer.logs.run_folder import RunFolder
from racer.logs.writers import write_simtrace

#: The simtrace of the longest running episode, in the run's ``logs/``.
RUNNING_EPISODE = "running-episode.csv"


class StallWatch:
    """Warns once per stalled episode that training episodes have stopped ending.

    Args:
        folder: the run folder (the warning's simtrace goes to its ``logs/``).
        track: the track's name, for the replay command.
        limit_steps: a training episode running longer than this many steps is reported.
        dt: [s] the simulation step.
        max_episode_steps: the run's step limit per episode (DeepRacer's 100,000 by default).
    """

    def __init__(self, folder: RunFolder, track: str, limit_steps: int, dt: float,
                 max_episode_steps: int) -> None:  # fmt: skip
        self.folder = folder
        self.track = track
        self.limit_steps = limit_steps
        self.dt = dt
        self.max_episode_steps = max_episode_steps
        self._warned: tuple[int, float] | None = None  # (car, episode start [s]) warned about

    def check(self, recorder: SimtraceRecorder) -> tuple[float, str]:
        """The longest running episode's length [s] and a warning ("" when none is due)."""
        car, rows = recorder.longest_running()
        seconds = rows * self.dt
        if rows <= self.limit_steps:
            return seconds, ""
        episode = recorder.running_episode(car)
        key = (car, episode.start_time)
        if key == self._warned:
            return seconds, ""
        self._warned = key
        path = self._write(episode)
        see = (f" See it: racer replay {path} --track {self.track}." if path is not None
               else "")  # fmt: skip
        return seconds, (
            f"warning: car {car} has been driving one training episode for {seconds:.0f} s "
            f"({rows} steps) without finishing it, longer than 1.5 laps at the slowest speed: "
            "the cars may be circling on the road (a reward that pays speed or steps without "
            f"progress does that), and no iteration completes while they do.{see} DeepRacer "
            f"ends an episode only after {self.max_episode_steps:,} steps; racer train "
            "--max-episode-steps N ends them sooner. Evaluations and checkpoints go on."
        )

    def _write(self, episode: EpisodeLog) -> Path | None:
        path = self.folder.logs / RUNNING_EPISODE
        try:
            write_simtrace(path, [episode])
        except OSError:
            return None
        return path
