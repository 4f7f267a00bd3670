"""``racer analyze``: the analysis plots DeepRacer users draw from a run's training simtraces.

`compute_analysis` is pure: it turns a simtrace and its track into the numbers behind each plot
(an `Analysis`). `analyze_run` finds and reads a run's logs, computes them, draws the PNGs
(`racer.plots.analysis`) and writes an ``index.html`` that shows them with one-line captions.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from racer.errors import LogError, RacerError
from racer.logs.simtrace import Simtrace, check_on_track, find_simtraces, read_simtrace
from racer.plots import analysis as plots
from racer.track import Track, load_track

#: Rows that are not a driven step (no action taken, reward 0).
NOT_DRIVEN = ("prepare", "pause", "park")
#: Terminal statuses drawn as off-track markers.
OFF_TRACK = ("off_track", "crashed")
#: Steering bins [deg] that stand for actions in continuous logs' per-section charts.
STEER_BINS = np.array([-30.0, -20.0, -10.0, -3.0, 3.0, 10.0, 20.0, 30.0])
_CONTINUOUS = re.compile(r"^\s*\[\s*(\S+)\s+(\S+)\s*\]\s*$")


@dataclass
class Analysis:
    """The numbers behind each analysis plot.

    Attributes:
        track: the track the run was driven on.
        x, y: (R,) [m] model points of the driven rows (not prepare/pause/park).
        reward: (R,) step reward of those rows.
        throttle: (R,) [m/s] commanded speed of those rows.
        continuous: True when ``action`` holds ``[steer speed]`` strings.
        action_labels: (A,) the action classes: discrete action indices, or steering bins.
        action_counts: (A,) driven rows per action class.
        action_steer: (A,) [deg] each class's commanded steering: a discrete action's (its
            rows' median), or a steering bin's centre.
        action_speed: (A,) [m/s] each class's commanded speed: a discrete action's (its rows'
            median), or the median speed of a bin's rows (NaN for an empty bin).
        steer: (R,) [deg] commanded steering of the driven rows (for the continuous 2-D plot).
        section_bounds: (S+1,) waypoint index bounds of the track sections.
        section_counts: (S, A) driven rows per section (by ``closest_waypoint``) and action class.
        episode_iteration: (E,) iteration of each episode.
        episode_number: (E,) the logged episode number.
        episode_progress: (E,) [%] final progress.
        episode_reward: (E,) total reward.
        episode_status: (E,) final status.
        start_waypoint: (E,) ``closest_waypoint`` of each episode's first row.
        iterations: (I,) the iterations.
        iteration_progress: (I,) [%] mean final progress per iteration.
        iteration_reward: (I,) mean total reward per iteration.
        episode_lap_time: (E,) [s] simulated time of each completed lap (first to last row's
            ``tstamp``, as deepracer-utils counts it); NaN for episodes that did not complete.
        iteration_lap_time: (I,) [s] mean lap time of the iteration's completed laps (NaN: none).
        iteration_best_lap_time: (I,) [s] its fastest completed lap (NaN: none).
        off_x, off_y: (K,) [m] positions of off_track / crashed rows.
        off_status: (K,) their status.
        warnings: damage found in the logs.
    """

    track: Track
    x: np.ndarray
    y: np.ndarray
    reward: np.ndarray
    throttle: np.ndarray
    continuous: bool
    action_labels: list[str]
    action_counts: np.ndarray
    action_steer: np.ndarray
    action_speed: np.ndarray
    steer: np.ndarray
    section_bounds: np.ndarray
    section_counts: np.ndarray
    episode_iteration: np.ndarray
    episode_number: np.ndarray
    episode_progress: np.ndarray
    episode_reward: np.ndarray
    episode_status: np.ndarray
    start_waypoint: np.ndarray
    iterations: np.ndarray
    iteration_progress: np.ndarray
    iteration_reward: np.ndarray
    episode_lap_time: np.ndarray
    iteration_lap_time: np.ndarray
    iteration_best_lap_time: np.ndarray
    off_x: np.ndarray
    off_y: np.ndarray
    off_status: np.ndarray
    warnings: list[str] = field(default_factory=list)


@dataclass
class AnalyzeResult:
    """What `analyze_run` wrote.

    Attributes:
        analysis: the computed numbers.
        plots: caption-ordered ``{file name: caption}`` of the PNGs written.
        index: the ``index.html`` showing them.
        out: the output folder.
    """

    analysis: Analysis
    plots: dict[str, str]
    index: Path
    out: Path


def compute_analysis(trace: Simtrace, track: Track, sections: int = 6) -> Analysis:
    """Compute the numbers of every analysis plot from a simtrace.

    Args:
        trace: the run's training simtrace (all iterations).
        track: the track it was driven on.
        sections: number of equal waypoint ranges the track is split into.

    Raises:
        LogError: the log has no rows, or its positions do not lie on ``track``.
    """
    if len(trace) == 0:
        raise LogError("the simtrace has no rows to analyse.")
    if sections < 1:
        raise RacerError(f"sections must be at least 1, got {sections}.")
    status = trace["episode_status"]
    driven = ~np.isin(status, NOT_DRIVEN)
    x, y = trace["X"][driven], trace["Y"][driven]
    check_on_track(track, trace["X"], trace["Y"])
    actions = trace["action"][driven]
    continuous = bool(len(actions)) and _CONTINUOUS.match(str(actions[0])) is not None
    steer = trace["steer"][driven]
    if continuous:
        labels = [f"{lo:g}..{hi:g}°" for lo, hi in zip(STEER_BINS[:-1], STEER_BINS[1:],
                                                       strict=True)]  # fmt: skip
        classes = np.clip(np.searchsorted(STEER_BINS, steer, side="right") - 1, 0,
                          len(labels) - 1)  # fmt: skip
    else:
        try:
            index = np.array([int(float(a)) for a in actions], dtype=np.int64)
        except ValueError as exc:
            raise LogError(f"the action column holds a value that is neither an action index "
                           f"nor a continuous [steer speed] pair: {exc}.") from None  # fmt: skip
        unique = np.unique(index)
        labels = [str(a) for a in unique]
        classes = np.searchsorted(unique, index)
    counts = np.bincount(classes, minlength=len(labels)).astype(np.int64)
    speed = trace["throttle"][driven]
    action_speed = np.array([np.median(speed[classes == c]) if counts[c] else np.nan
                             for c in range(len(labels))])  # fmt: skip
    if continuous:
        action_steer = 0.5 * (STEER_BINS[:-1] + STEER_BINS[1:])
    else:
        action_steer = np.array([np.median(steer[classes == c]) for c in range(len(labels))])
    waypoints = track.num_waypoints - (1 if track.closed else 0)
    bounds = np.round(np.linspace(0, waypoints, sections + 1)).astype(np.int64)
    wp = trace["closest_waypoint"][driven]
    section = np.clip(np.searchsorted(bounds, wp, side="right") - 1, 0, sections - 1)
    section_counts = np.zeros((sections, len(labels)), dtype=np.int64)
    np.add.at(section_counts, (section, classes), 1)

    ep_iter, ep_num, ep_prog, ep_rew, ep_status, ep_start = [], [], [], [], [], []
    ep_lap = []
    for _, episode, rows in trace.episodes():
        last = rows[-1]
        ep_iter.append(int(trace["iteration"][last]))
        ep_num.append(episode)
        ep_prog.append(float(trace["progress"][last]))
        ep_rew.append(float(trace["reward"][rows].sum()))
        ep_status.append(str(status[last]))
        ep_start.append(int(trace["closest_waypoint"][rows[0]]))
        # A lap of a continuous evaluation that is not the last ends on an in_progress row at
        # progress 100 (DeepRacer's logs, and racer's).
        lap = str(status[last]) == "lap_complete" or float(trace["progress"][last]) >= 100.0
        ep_lap.append(float(trace["tstamp"][last] - trace["tstamp"][rows[0]]) if lap else np.nan)
    ep_iter_a, ep_prog_a, ep_rew_a = np.array(ep_iter), np.array(ep_prog), np.array(ep_rew)
    iterations = np.unique(ep_iter_a)
    ep_lap_a = np.array(ep_lap, dtype=np.float64)
    laps = [ep_lap_a[(ep_iter_a == i) & np.isfinite(ep_lap_a)] for i in iterations]
    off = np.isin(status, OFF_TRACK)
    return Analysis(
        track=track, x=x, y=y, reward=trace["reward"][driven], throttle=trace["throttle"][driven],
        continuous=continuous, action_labels=labels, action_counts=counts,
        action_steer=action_steer, action_speed=action_speed, steer=steer,
        section_bounds=bounds, section_counts=section_counts, episode_iteration=ep_iter_a,
        episode_number=np.array(ep_num), episode_progress=ep_prog_a, episode_reward=ep_rew_a,
        episode_status=np.array(ep_status, dtype=object), start_waypoint=np.array(ep_start),
        iterations=iterations,
        iteration_progress=np.array([ep_prog_a[ep_iter_a == i].mean() for i in iterations]),
        iteration_reward=np.array([ep_rew_a[ep_iter_a == i].mean() for i in iterations]),
        episode_lap_time=ep_lap_a,
        iteration_lap_time=np.array([t.mean() if t.size else np.nan for t in laps]),
        iteration_best_lap_time=np.array([t.min() if t.size else np.nan for t in laps]),
        off_x=trace["X"][off], off_y=trace["Y"][off], off_status=status[off],
        warnings=list(trace.warnings),
    )  # fmt: skip


def analyze_run(
    run: str | Path, track: str | Path, *, out: str | Path | None = None, sections: int = 6
) -> AnalyzeResult:
    """Analyse a run's training simtraces: write the analysis PNGs and an ``index.html``.

    Args:
        run: a model folder (racer, deepracer-for-cloud, console download) or a simtrace CSV.
        track: the track the run was driven on (bundled name or ``.npy`` path).
        out: the output folder; default ``RUN/analysis/`` (next to a CSV file).
        sections: number of track sections of the per-section action charts.

    Raises:
        LogError: no training logs, or logs of another track.
        RacerError: the output folder cannot be written.
    """
    files = find_simtraces(run)["training"]
    if not files:
        raise LogError(f"{run} holds no training simtrace.")
    analysis = compute_analysis(read_simtrace(files), load_track(track), sections)
    run_path = Path(run)
    if out is None:
        out = (run_path if run_path.is_dir() else run_path.parent) / "analysis"
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RacerError(f"cannot create the output folder {out}: {exc.strerror}.") from None
    a = analysis
    captions: dict[str, str] = {}
    plots.draw_track_scatter(a.track, a.x, a.y, a.reward, "reward", "Reward per step",
                             out / "reward_map.png")  # fmt: skip
    captions["reward_map.png"] = "Where the reward is paid: every driven step, coloured by reward."
    plots.draw_track_scatter(a.track, a.x, a.y, a.throttle, "speed [m/s]", "Commanded speed",
                             out / "speed_map.png", cmap="plasma")  # fmt: skip
    captions["speed_map.png"] = "Where the car goes fast: every driven step, coloured by throttle."
    ticks, compact, axis = action_ticks(a)
    plots.draw_actions(ticks, a.action_counts, a.continuous, a.steer, a.throttle,
                       out / "actions.png", xlabel=axis)  # fmt: skip
    plots.draw_section_actions(compact, a.section_counts, a.section_bounds,
                               out / "actions_by_section.png", xlabel=axis)  # fmt: skip
    captions.update(_action_captions(a))
    plots.draw_progress(a.episode_progress, a.iterations, a.iteration_progress,
                        a.iteration_reward, out / "progress.png", a.episode_lap_time,
                        a.iteration_lap_time, a.iteration_best_lap_time)  # fmt: skip
    captions["progress.png"] = (
        "Final progress and lap time of every episode; mean progress, mean total reward, and "
        "mean and best lap time per iteration."
    )
    plots.draw_start_positions(a.start_waypoint, a.episode_progress, a.track.num_waypoints,
                               out / "start_positions.png")  # fmt: skip
    captions["start_positions.png"] = (
        "Final progress by start waypoint (round-robin starts): where starting is hard."
    )
    plots.draw_off_track(a.track, a.off_x, a.off_y, a.off_status, out / "off_track.png")
    captions["off_track.png"] = f"Where episodes ended off track or crashed ({len(a.off_x)} rows)."
    index = out / "index.html"
    _write_index(index, run_path, a, captions)
    return AnalyzeResult(analysis, captions, index, out)


def action_ticks(a: Analysis) -> tuple[list[str], list[str], str]:
    """The action charts' tick labels and x-axis label.

    Returns:
        (ticks, compact ticks, axis label): a discrete action as its index above its steering
        [deg] and speed [m/s], one per line (compact, on one line: ``"3: +15°, 1.5"``); a
        continuous log's steering bins as they are.
    """
    if a.continuous:
        return list(a.action_labels), list(a.action_labels), "steering bin [deg]"
    ticks, compact = [], []
    for label, steer, speed in zip(a.action_labels, a.action_steer, a.action_speed, strict=True):
        ticks.append(f"{label}\n{steer:+.3g}°\n{speed:.3g} m/s")
        compact.append(f"{label}: {steer:+.3g}°, {speed:.3g}")
    return ticks, compact, "action: index, steering [deg], speed [m/s]"


def _action_captions(a: Analysis) -> dict[str, str]:
    """The captions of the two action charts, for a discrete or a continuous action space."""
    if a.continuous:
        return {
            "actions.png": "Steering [deg] against speed [m/s] over all driven steps "
            "(a continuous action space).",
            "actions_by_section.png": "Steering per track section (sections by closest "
            "waypoint; continuous steering in bins [deg]): what the car does where.",
        }
    return {
        "actions.png": f"Steps per action over all driven steps: each of the "
        f"{len(a.action_labels)} discrete actions used, by index, steering [deg] and speed [m/s].",
        "actions_by_section.png": "Steps per action and track section (sections by closest "
        "waypoint): what the car does where.",
    }


def _write_index(path: Path, run: Path, a: Analysis, captions: dict[str, str]) -> None:
    done = int(np.sum(a.episode_progress >= 100.0))
    title = html.escape(f"racer analyze: {run} on {a.track.name}")
    summary = html.escape(
        f"{len(a.episode_progress)} episodes in {len(a.iterations)} iterations, {done} laps "
        f"completed, mean progress {a.episode_progress.mean():.1f} %."
    )
    figures = "\n".join(
        f'<figure><img src="{name}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in captions.items()
    )
    text = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>\n'
        "<style>body{font-family:sans-serif;margin:1em}figure{display:inline-block;"
        "vertical-align:top;margin:0.5em;max-width:48%}img{max-width:100%}</style></head>\n"
        f"<body><h1>{title}</h1><p>{summary}</p>\n{figures}\n</body></html>\n"
    )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RacerError(f"cannot write {path}: {exc.strerror}.") from None
