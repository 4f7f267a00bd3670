"""Writing DeepRacer's logs from real RacerVecEnv runs; read back by racer and by deepracer-utils.

One module-scoped run (4 cars on the oval, seeded random actions, car 0 on the autopilot) gives
two training iterations, TrainingMetrics.json with evaluation entries, a robomaker log and an
evaluation run of two laps with an off-track reset.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from racer import EnvConfig, RacerVecEnv
from racer.env.autopilot import Autopilot
from racer.env.episode import EpisodeConfig
from racer.errors import ConfigError, LogError
from racer.logs import atomic
from racer.logs.atomic import write_json_atomic
from racer.logs.metrics import evaluation_entries, read_metrics_json
from racer.logs.recorder import (
    EpisodeLog,
    LapLog,
    SimtraceRecorder,
    closest_waypoint,
    metrics_label,
)
from racer.logs.run_folder import RunFolder, timestamp
from racer.logs.simtrace import SIMTRACE_COLUMNS, find_simtraces, read_simtrace
from racer.logs.writers import (
    RobomakerLog,
    TrainingMetrics,
    header_lines,
    sim_trace_log_line,
    simtrace_text,
    write_evaluation_metrics,
    write_simtrace,
)
from tests.conftest import DEEPRACER_LOGS

E = 6  # num_episodes_between_training
DRFC = DEEPRACER_LOGS / "drfc-reinvent-base"
DATA = Path(__file__).resolve().parents[1] / "data"
HYPERPARAMETERS = {"batch_size": 64, "lr": 0.0003, "num_episodes_between_training": E,
                   "num_epochs": 3, "discount_factor": 0.99}  # fmt: skip
STAMP = timestamp(1764000000.0)


@dataclass(frozen=True)
class Hyperparameters:
    batch_size: int = 64
    lr: float = 0.0003


@dataclass
class Run:
    folder: RunFolder
    episodes: list[EpisodeLog]  # training episodes, in finishing order (3 iterations' worth)
    evaluation: list[EpisodeLog]
    metadata: object


def drive(env, recorder, autopilot, want, rng, force_off=()):
    """Step until ``want`` episodes finish: car 0 on the autopilot, the others random.

    During the steps in ``force_off`` car 0 steers hard right (action 0) instead.
    """
    env.reset()
    params, finished, step = [None] * env.num_envs, [], 0
    while len(finished) < want:
        actions = rng.integers(0, env.action_space.n, env.num_envs)
        if step in force_off:
            actions[0] = 0
        elif params[0] is not None:
            actions[0] = autopilot.act(params[0])
        _, rewards, dones, infos = env.step(actions)
        params = [info["params"] for info in infos]
        finished += recorder.record(actions, rewards, dones, infos)
        step += 1
    return finished


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    folder = RunFolder(tmp_path_factory.mktemp("run") / "model").create()
    rng = np.random.default_rng(7)
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=4, seed=0)
    autopilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    episodes = drive(env, recorder, autopilot, 3 * E, rng)
    metadata = env.core.metadata
    write_json_atomic(folder.model_metadata, metadata.to_json_dict(), indent=2)
    write_json_atomic(folder.hyperparameters, HYPERPARAMETERS, indent=2)
    metrics = TrainingMetrics(folder.metrics_file)
    with RobomakerLog(folder.robomaker_log) as log:
        log.write_header(HYPERPARAMETERS, metadata, "oval")
        for k in range(2):
            iteration = episodes[k * E : (k + 1) * E]
            write_simtrace(folder.training_simtrace_file(k), iteration)
            for trial, episode in enumerate(iteration, start=1):
                metrics.add_training(episode, trial)
                log.write_episode(episode)
            # Stand-ins for the evaluation episodes DeepRacer runs between iterations.
            for episode in episodes[2 * E + 2 * k : 2 * E + 2 * k + 2]:
                metrics.add_evaluation(episode)
    metrics.save()
    config = EnvConfig(track="oval", episode=EpisodeConfig(evaluation=True, laps=2,
                                                           off_track_penalty=1.0))  # fmt: skip
    evaluator = RacerVecEnv(config, num_envs=1, seed=0)
    eval_recorder = SimtraceRecorder(evaluator.core.tracks[0].length, False, evaluation=True)
    # Full steering to the right for 14 steps drives the car off the oval once.
    evaluation = drive(evaluator, eval_recorder, autopilot, 1, rng, force_off=range(100, 114))
    write_simtrace(folder.evaluation_simtrace(STAMP), evaluation, columns=18)
    write_evaluation_metrics(folder.evaluation_metrics(STAMP), evaluation)
    return Run(folder, episodes, evaluation, metadata)


def column(episode: EpisodeLog, name: str) -> list[str]:
    index = SIMTRACE_COLUMNS.index(name)
    return [row[index] for row in episode.rows]


# ------------------------------------------------------------------------- racer reads it
def test_iterations_read_back_with_racers_reader(run):
    files = find_simtraces(run.folder.root)
    assert [p.name for p in files["training"]] == ["0-iteration.csv", "1-iteration.csv"]
    trace = read_simtrace(files["training"])
    assert not trace.warnings
    assert len(trace) == sum(e.steps for e in run.episodes[: 2 * E])
    episodes = list(trace.episodes())
    assert [number for _, number, _ in episodes] == list(range(2 * E))
    assert [trace["iteration"][rows[0]] for _, _, rows in episodes] == [0] * E + [1] * E
    for (_, number, rows), log in zip(episodes, run.episodes, strict=False):
        assert number == log.episode and len(rows) == log.steps
        assert trace["steps"][rows].tolist() == [float(s) for s in range(1, len(rows) + 1)]
        assert trace["episode_status"][rows[0]] == "prepare" and trace["reward"][rows[0]] == 0.0
        assert trace["done"][rows].tolist() == [False] * (len(rows) - 1) + [True]
        assert trace["episode_status"][rows[-1]] == log.status != "in_progress"
        assert np.all(np.diff(trace["tstamp"][rows]) > 0)
        assert trace["reward"][rows].sum() == pytest.approx(log.total_reward)
    assert np.allclose(trace["track_len"], float(run.episodes[0].rows[0][13]))


def test_rows_show_the_params_of_each_step():
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=1, seed=3)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    env.reset()
    rng = np.random.default_rng(3)
    seen, finished = [], []
    while not finished:
        actions = rng.integers(0, env.action_space.n, 1)
        _, rewards, dones, infos = env.step(actions)
        seen.append((actions[0], rewards[0], infos[0]))
        finished = recorder.record(actions, rewards, dones, infos, wall_clock=1.5)
    assert len(finished[0].rows) == len(seen)
    for (action, reward, info), row in zip(seen, finished[0].rows, strict=True):
        p, r = info["params"], dict(zip(SIMTRACE_COLUMNS, row, strict=True))
        assert r["episode"] == "0" and r["steps"] == str(p["steps"])
        assert float(r["X"]) == p["x"] and float(r["Y"]) == p["y"]
        assert float(r["yaw"]) == p["heading"] and float(r["steer"]) == p["steering_angle"]
        assert float(r["throttle"]) == p["speed"] and r["action"] == str(action)
        assert r["reward"] == str(reward) and r["all_wheels_on_track"] == str(
            p["all_wheels_on_track"]
        )
        assert r["progress"] == str(p["progress"]) and float(r["tstamp"]) == p["sim_time"]
        assert int(r["closest_waypoint"]) in p["closest_waypoints"]
        assert r["episode_status"] == info["episode_status"] and r["wall_clock"] == "1.5"
        assert float(r["track_len"]) == p["track_length"] and r["obstacle_crash_counter"] == "0"


def test_closest_waypoint_is_the_nearer_of_the_pair_and_the_previous_on_a_tie():
    waypoints = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]
    params = {"waypoints": waypoints, "closest_waypoints": [0, 1], "x": 0.7, "y": 0.3}
    assert closest_waypoint(params) == 1
    assert closest_waypoint({**params, "x": 0.3}) == 0
    assert closest_waypoint({**params, "x": 0.5}) == 0


def test_a_recorder_attached_mid_episode_refuses():
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=1, seed=0)
    env.reset()
    env.step(np.array([2]))
    _, rewards, dones, infos = env.step(np.array([2]))
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    with pytest.raises(LogError, match="PREPARE"):
        recorder.record(np.array([2]), rewards, dones, infos)


def test_an_env_reset_mid_episode_drops_the_unfinished_rows():
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=1, seed=0)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    action = np.array([0])  # hard right: off the oval within a few dozen steps
    env.reset()
    for _ in range(5):
        recorder.record(action, *env.step(action)[1:])
    env.reset()
    finished = []
    while not finished:
        finished = recorder.record(action, *env.step(action)[1:])
    assert recorder.discarded_rows == 5
    assert column(finished[0], "steps")[0] == "1.0" and finished[0].episode == 0
    assert column(finished[0], "steps")[-1] == f"{finished[0].steps}.0"


def test_episode_numbers_continue_when_resumed(run):
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=2, seed=1)
    recorder = SimtraceRecorder(env.core.tracks[0].length, False, first_episode=12)
    autopilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    episodes = drive(env, recorder, autopilot, 3, np.random.default_rng(1))
    assert [e.episode for e in episodes[:3]] == [12, 13, 14]
    assert all(set(column(e, "episode")) == {str(e.episode)} for e in episodes)
    assert recorder.pending_rows > 0 and recorder.discard() > 0 and recorder.pending_rows == 0


# ------------------------------------------------------------------------ format parity
def text_kind(text: str) -> str:
    if text in ("True", "False"):
        return "bool"
    if re.fullmatch(r"-?\d+", text):
        return "int"
    if re.fullmatch(r"-?\d+\.\d+(e[-+]\d+)?", text):
        return "float"
    return "word"


def real_rows(path: Path) -> tuple[str, list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0], [line.split(",") for line in lines[1:]]


def test_headers_and_text_formats_match_real_drfc_files(run):
    if not DRFC.is_dir():
        pytest.skip(f"the real DeepRacer logs are not at {DRFC}")
    header17, training = real_rows(DRFC / "training-simtrace" / "0-iteration.csv")
    (evaluation_csv,) = DRFC.glob("evaluation-*/evaluation-simtrace/0-iteration.csv")
    header18, _ = real_rows(evaluation_csv)
    ours = {n: simtrace_text(run.episodes[:1], n).splitlines() for n in (17, 18, 19)}
    assert ours[17][0] == header17 and ours[18][0] == header18
    assert ours[19][0] == ",".join(SIMTRACE_COLUMNS)
    real_prepare, real_running = training[0], training[5]
    for line in (ours[17][1], ours[17][6]):
        mine = line.split(",")
        real = real_prepare if mine[15] == "prepare" else real_running
        assert [text_kind(t) for t in mine] == [text_kind(t) for t in real], line
    assert ours[17][1].split(",")[1] == "1.0" == real_prepare[1]
    done = [row.split(",")[9] for row in ours[17][1:]]
    assert set(done) == {"True", "False"} and done[-1] == "True"


def test_continuous_actions_are_written_as_degrees_and_metres_per_second(tmp_path):
    config = EnvConfig(track="oval", model_metadata=str(DATA / "model_metadata" /
                                                        "continuous_ppo.json"))  # fmt: skip
    env = RacerVecEnv(config, num_envs=2, seed=5)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=True)
    env.reset()
    rng = np.random.default_rng(5)
    finished = []
    while not finished:
        actions = rng.uniform(-1.0, 1.0, (2, 2)).astype(np.float32)
        _, rewards, dones, infos = env.step(actions)
        finished += recorder.record(actions, rewards, dones, infos)
    episode = finished[0]
    for row in episode.rows:
        assert re.fullmatch(r"\[-?\d+\.\d+(e-\d+)? \d+\.\d+\]", row[7]), row[7]
        steer, speed = row[7][1:-1].split(" ")
        assert (steer, speed) == (row[5], row[6])
        assert -30.0 <= float(steer) <= 30.0 and 1.0 <= float(speed) <= 2.0
    trace = read_simtrace(write_simtrace(tmp_path / "0-iteration.csv", finished))
    assert trace["action"][0].startswith("[") and len(trace) == sum(e.steps for e in finished)


# ------------------------------------------------------------------------------ metrics
def test_training_metrics_entries(run):
    data = json.loads(run.folder.metrics_file.read_text())
    assert list(data) == ["metrics", "version", "best_model_metric"]
    assert data["version"] == 2.0 and data["best_model_metric"] == "progress"
    training = [m for m in data["metrics"] if m["phase"] == "training"]
    assert len(training) == 2 * E and len(data["metrics"]) == 2 * E + 4
    for entry, episode in zip(training, run.episodes, strict=False):
        assert list(entry) == ["reward_score", "metric_time", "start_time",
                               "elapsed_time_in_milliseconds", "episode", "trial", "phase",
                               "completion_percentage", "episode_status"]  # fmt: skip
        assert entry["episode"] == episode.episode + 1
        assert entry["trial"] == episode.episode % E + 1
        assert entry["reward_score"] == int(round(episode.total_reward))
        assert entry["completion_percentage"] == int(episode.progress)
        assert entry["start_time"] == round(episode.start_time * 1000)
        assert entry["elapsed_time_in_milliseconds"] == entry["metric_time"] - entry["start_time"]
        assert entry["elapsed_time_in_milliseconds"] == pytest.approx(
            episode.steps * 1000 / 15, abs=1
        )
        assert entry["episode_status"] == episode.metrics_status
    evaluation = [m for m in data["metrics"] if m["phase"] == "evaluation"]
    assert [(m["episode"], m["trial"]) for m in evaluation] == [(E, E)] * 2 + [(2 * E, E)] * 2


def episode_log(number, reward, progress, status="off_track", start=1.0, end=2.5, laps=()):
    return EpisodeLog(number, 0, (), reward, progress, status, start, end, False, laps)


def test_training_metrics_rounding_and_labels(tmp_path):
    metrics = TrainingMetrics(tmp_path / "m.json")
    entry = metrics.add_training(episode_log(0, 12.5, 99.99, start=1.0004, end=2.0), trial=1)
    assert entry["reward_score"] == 12 and entry["completion_percentage"] == 99
    assert (entry["start_time"], entry["metric_time"]) == (1000, 2000)
    lap = metrics.add_training(episode_log(1, 13.5, 100, "lap_complete"), trial=2)
    assert lap["reward_score"] == 14 and lap["episode_status"] == "Lap complete"
    assert metrics_label("Off track") == "Off track" == metrics_label("off_track")
    with pytest.raises(LogError, match="unknown episode_status"):
        metrics_label("offtrack")
    evaluation = metrics.add_evaluation(episode_log(7, 3.2, 50.0))
    assert (evaluation["episode"], evaluation["trial"], evaluation["phase"]) == (2, 2, "evaluation")
    entry = metrics.add_entry("evaluation", 3.6, 55.5, "time_up", 0.25, 1.5, episode=2, trial=2)
    assert (entry["reward_score"], entry["completion_percentage"]) == (4, 55)
    assert (entry["elapsed_time_in_milliseconds"], entry["episode_status"]) == (1250, "Time Up")
    with pytest.raises(ConfigError, match="best_model_metric"):
        TrainingMetrics(tmp_path / "other.json", best_model_metric="speed")


def test_training_metrics_resume_and_truncate(run, tmp_path):
    path = tmp_path / "TrainingMetrics.json"
    shutil.copy(run.folder.metrics_file, path)
    metrics = TrainingMetrics(path)
    assert len(metrics.entries) == 2 * E + 4 and metrics.training_episodes == 2 * E
    assert metrics.truncate(E) == E + 2
    assert metrics.training_episodes == E and metrics.entries[-1]["phase"] == "evaluation"
    metrics.add_training(run.episodes[E], trial=1)
    metrics.save()
    again = TrainingMetrics(path)
    assert again.entries == metrics.entries and again.best_model_metric == "progress"
    path.write_text("{not json")
    with pytest.raises(LogError, match="not valid JSON"):
        TrainingMetrics(path)
    path.write_text('{"entries": []}')
    with pytest.raises(LogError, match="not a DeepRacer metrics file"):
        read_metrics_json(path)
    path.write_text('{"metrics": [{"episode": 1, "phase": "training"}]}')
    with pytest.raises(LogError, match="entry 0 of 'metrics' lacks reward_score"):
        TrainingMetrics(path)


def test_evaluation_run_laps_trials_and_metrics(run):
    (episode,) = run.evaluation
    assert [lap.complete for lap in episode.laps] == [True, True]
    assert [lap.off_track_count for lap in episode.laps] == [1, 0]
    assert episode.laps[0].end_time == episode.laps[1].start_time
    assert episode.end_time == pytest.approx(episode.laps[1].end_time)
    statuses = column(episode, "episode_status")
    assert statuses[0] == "prepare" and "pause" in statuses and statuses[-1] == "lap_complete"
    # The first lap ends on a progress-100 row logged as in_progress, as DeepRacer's continuous
    # evaluation logs it (the drfc evaluation log in ../shared does the same).
    progress = [float(p) for p in column(episode, "progress")]
    first_lap_rows = progress.index(100.0) + 1
    assert statuses[first_lap_rows - 1] == "in_progress"
    assert statuses.count("lap_complete") == 1
    trials = [int(t) for t in column(episode, "episode")]
    assert trials == [0] * first_lap_rows + [1] * (len(trials) - first_lap_rows)
    off = statuses.index("off_track")
    assert (
        column(episode, "done")[off] == "False"
        and float(column(episode, "pause_duration")[off]) == 1.0
    )
    data = json.loads(run.folder.evaluation_metrics(STAMP).read_text())
    assert list(data) == ["metrics"]
    first, second = data["metrics"]
    assert (first["trial"], second["trial"]) == (1, 2)
    assert first["off_track_count"] == first["reset_count"] == 1 and second["reset_count"] == 0
    assert first["completion_percentage"] == 100 and second["start_time"] == first["metric_time"]
    header = run.folder.evaluation_simtrace(STAMP).read_text().splitlines()[0]
    assert header == ",".join(SIMTRACE_COLUMNS[:18])


def test_evaluation_entries_follow_deepracers_trial_rules():
    def lap(number, complete, progress):
        status = "lap_complete" if complete else "off_track"
        return LapLog(number, complete, number - 1.0, float(number), progress, status, 1)

    unfinished_only = episode_log(0, 0.0, 40.0, laps=(lap(1, False, 40.0),))
    entries = evaluation_entries([unfinished_only])
    assert [(e["trial"], e["completion_percentage"]) for e in entries] == [(0, 40)]
    finished_then_not = episode_log(0, 0.0, 40.0, laps=(lap(1, True, 100), lap(2, False, 40.0)))
    entries = evaluation_entries([finished_then_not])
    assert [(e["trial"], e["episode_status"]) for e in entries] == [(1, "Lap complete")]


# ----------------------------------------------------------------------- robomaker log
def test_sim_trace_log_lines_have_printf_precision_and_17_or_19_fields(run):
    row = run.episodes[0].rows[1]
    line19, line17 = sim_trace_log_line(row, 19), sim_trace_log_line(row, 17)
    fields = line19.removeprefix("SIM_TRACE_LOG:").split(",")
    assert len(fields) == 19 and line17 == "SIM_TRACE_LOG:" + ",".join(fields[:17])
    assert fields[1] == "2" and re.fullmatch(r"-?\d+\.\d{4}", fields[2])
    assert re.fullmatch(r"-?\d+\.\d{2}", fields[5]) and fields[14] == row[14]
    assert re.fullmatch(r"\d+\.\d{4}", fields[18]) and fields[17] == "0"
    with pytest.raises(ValueError, match="17 or 19"):
        sim_trace_log_line(row, 18)
    from_dataclass = header_lines(Hyperparameters(), run.metadata, "oval")
    assert json.loads(from_dataclass[-1]) == {"batch_size": 64, "lr": 0.0003}
    text = run.folder.robomaker_log.read_text()
    assert text.count("SIM_TRACE_LOG:") == sum(e.steps for e in run.episodes[: 2 * E])
    assert " * /WORLD_NAME: oval\n" in text and "action_space_type discrete" in text
    block = text.split("Using the following hyper-parameters\n")[1].split("}\n")[0] + "}"
    assert json.loads(block) == HYPERPARAMETERS and '\n  "batch_size": 64,' in text


# ------------------------------------------------------------------------------ folders
def test_run_folder_layout(tmp_path):
    folder = RunFolder(tmp_path / "m")
    assert folder.iterations() == [] and folder.next_iteration() == 0
    folder.create()
    for path in (folder.training_simtrace, folder.metrics_evaluation, folder.model,
                 folder.ip, folder.checkpoints, folder.logs,
                 folder.tensorboard):  # fmt: skip
        assert path.is_dir(), path
    assert folder.metrics_file == tmp_path / "m/metrics/TrainingMetrics.json"
    assert folder.model_metadata == tmp_path / "m/model/model_metadata.json"
    assert folder.reward_function.name == "reward_function.py"
    assert folder.config_file.name == "racer.toml" and folder.reward_log.parent == folder.logs
    assert folder.evaluation_simtrace("20251124160000") == (
        tmp_path / "m/evaluation-20251124160000/evaluation-simtrace/0-iteration.csv"
    )
    assert folder.evaluation_metrics(STAMP).name == f"evaluation-{STAMP}.json"
    assert re.fullmatch(r"\d{14}", timestamp())
    with pytest.raises(ValueError, match="14 digits"):
        folder.evaluation_dir("2025-11-24")
    for n in (0, 1, 10):
        folder.training_simtrace_file(n).write_text("x")
    assert folder.iterations() == [0, 1, 10] and folder.next_iteration() == 11
    folder.evaluation_simtrace(STAMP).parent.mkdir(parents=True)
    assert folder.evaluations() == [STAMP]


def test_run_folder_create_fails_clearly(tmp_path):
    (tmp_path / "m").write_text("a file where the run folder should be")
    with pytest.raises(LogError, match="cannot create the folder"):
        RunFolder(tmp_path / "m").create()


# -------------------------------------------------------------------- failures, atomicity
@pytest.fixture
def written(run, tmp_path):
    """A copy of the run folder, safe to break."""
    folder = RunFolder(tmp_path / "model")
    shutil.copytree(run.folder.root, folder.root)
    before = {p: p.read_bytes() for p in folder.root.rglob("*") if p.is_file()}
    return folder, before


def assert_intact(folder, before, appended=()):
    for path, content in before.items():
        now = path.read_bytes()
        assert now.startswith(content) if path in appended else now == content, path
    leftovers = [p for p in folder.root.rglob("*") if p.is_file() and p not in before]
    assert leftovers == [], leftovers
    trace = read_simtrace(find_simtraces(folder.root)["training"])
    assert not trace.warnings and set(trace["iteration"].tolist()) == {0, 1}
    assert read_metrics_json(folder.metrics_file)["metrics"]


class FullDiskFile:
    """A file whose writes stop half way with ENOSPC, as on a full disk."""

    def __init__(self, f):
        self.f = f

    def write(self, text):
        self.f.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def full_disk(monkeypatch):
    real_open = open
    monkeypatch.setattr(atomic, "open", lambda *a, **k: FullDiskFile(real_open(*a, **k)),
                        raising=False)  # fmt: skip


def test_full_disk_keeps_earlier_iterations_and_metrics(run, written, monkeypatch):
    folder, before = written
    full_disk(monkeypatch)
    with pytest.raises(LogError, match=r"2-iteration\.csv.*disk is full"):
        write_simtrace(folder.training_simtrace_file(2), run.episodes[2 * E :])
    with pytest.raises(LogError, match=r"1-iteration\.csv.*disk is full"):
        write_simtrace(folder.training_simtrace_file(1), run.episodes[:1])  # a rewrite fails too
    metrics = TrainingMetrics(folder.metrics_file)
    metrics.add_training(run.episodes[2 * E], trial=1)
    with pytest.raises(LogError, match=r"TrainingMetrics\.json.*disk is full"):
        metrics.save()
    assert_intact(folder, before)


def test_full_disk_at_fsync_and_in_the_robomaker_log(run, written, monkeypatch):
    folder, before = written

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(LogError, match="disk is full"):
        write_evaluation_metrics(folder.evaluation_metrics(STAMP), run.evaluation)
    monkeypatch.undo()
    log = RobomakerLog(folder.robomaker_log)
    log._file = FullDiskFile(log._file)
    with pytest.raises(LogError, match=r"robomaker\.log.*disk is full"):
        log.write_episode(run.episodes[0])
    log.close()
    assert_intact(folder, before, appended=[folder.robomaker_log])  # half a line more


def test_permission_denied(run, written, monkeypatch):
    folder, before = written
    real_open = open

    def denied(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", denied, raising=False)
    with pytest.raises(LogError, match=r"0-iteration\.csv.*not writable"):
        write_simtrace(folder.training_simtrace_file(0), run.episodes[E:])
    assert_intact(folder, before)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_folder(run, written):
    folder, before = written
    folder.training_simtrace.chmod(0o555)
    try:
        with pytest.raises(LogError, match="not writable"):
            write_simtrace(folder.training_simtrace_file(2), run.episodes[2 * E :])
    finally:
        folder.training_simtrace.chmod(0o755)
    assert_intact(folder, before)


def test_a_folder_that_is_a_file_gives_a_log_error(run, written):
    folder, before = written
    shutil.rmtree(folder.metrics_evaluation)
    folder.metrics_evaluation.write_text("in the way")
    with pytest.raises(LogError, match=r"evaluation-\d{14}\.json"):
        write_evaluation_metrics(folder.evaluation_metrics(STAMP), run.evaluation)
    shutil.rmtree(folder.logs)
    folder.logs.write_text("in the way")
    with pytest.raises(LogError, match=r"robomaker\.log"):
        RobomakerLog(folder.robomaker_log)


# ------------------------------------------------------------------------ deepracer-utils
def deepracer_logs():
    return pytest.importorskip("deepracer.logs", reason="pip install deepracer-utils")


def load_training(root: Path):
    """Load a model folder the way deepracer-analysis' Training_analysis notebook does."""
    dr = deepracer_logs()
    log = dr.DeepRacerLog(model_folder=str(root))
    log.load()
    df = log.dataframe()
    return log, df, dr.AnalysisUtils.simulation_agg(df)


def load_evaluation(root: Path):
    """Load the evaluations the way the Evaluation_analysis notebook does."""
    dr = deepracer_logs()
    log = dr.DeepRacerLog(filehandler=dr.FSFileHandler(model_folder=str(root)))
    log.load_evaluation_trace()
    df = log.dataframe()
    return df, dr.AnalysisUtils.simulation_agg(df, "stream", is_eval=True)


def load_metrics(path: Path):
    """Load TrainingMetrics.json the way the Metrics notebook does (from a file)."""
    tm = deepracer_logs().TrainingMetrics(None, fname=str(path))
    return tm, tm.getSummary(method="mean", summary_index=["r-i", "master_iteration"])


def test_deepracer_utils_loads_the_real_drfc_folder():
    if not DRFC.is_dir():
        pytest.skip(f"the real DeepRacer logs are not at {DRFC}")
    log, df, agg = load_training(DRFC)
    assert log.fh.type.name == "DRFC_MODEL_SINGLE_WORKERS" and len(df) == 1074 and len(agg) == 40
    assert log.hyperparameters()["num_episodes_between_training"] == 20
    eval_df, eval_agg = load_evaluation(DRFC)
    assert len(eval_df) == 650 and eval_agg["progress"].tolist() == [100.0] * 3
    tm, summary = load_metrics(DRFC / "metrics" / "TrainingMetrics.json")
    assert len(summary) == 28 and summary["train_episodes"].iloc[0] == 20


def test_deepracer_utils_loads_racers_training_simtrace(run):
    log, df, agg = load_training(run.folder.root)
    logs = run.episodes[: 2 * E]
    assert log.fh.type.name == "DRFC_MODEL_SINGLE_WORKERS"
    assert len(df) == sum(e.steps for e in logs)
    assert df["unique_episode"].tolist() == df["episode"].tolist()
    assert df["iteration"].tolist() == [e.episode // E for e in logs for _ in e.rows]
    assert df["action"].dtype.kind == "i" and df["done"].dtype == bool
    assert log.hyperparameters() == HYPERPARAMETERS
    assert log.action_space() == run.metadata.action_space.to_json_value()
    assert agg["episode"].tolist() == [e.episode for e in logs]
    assert agg["steps"].tolist() == [e.steps for e in logs]
    assert np.allclose(agg["reward"], [e.total_reward for e in logs])
    assert np.allclose(agg["progress"], [max(float(p) for p in column(e, "progress"))
                                         for e in logs])  # fmt: skip
    expected_time = [float(e.rows[-1][14]) - float(e.rows[0][14]) for e in logs]
    assert np.allclose(agg["time"], expected_time)
    assert agg["start_at"].tolist() == [int(e.rows[0][12]) for e in logs]


def test_deepracer_utils_loads_racers_evaluation(run):
    df, agg = load_evaluation(run.folder.root)
    (episode,) = run.evaluation
    assert df["stream"].unique().tolist() == [STAMP] and len(df) == episode.steps
    assert agg["episode"].tolist() == [0, 1] and agg["progress"].tolist() == [100.0, 100.0]
    assert agg["off_track"].tolist() == [lap.off_track_count for lap in episode.laps]
    lap_rows = [[r for r in episode.rows if r[0] == str(k)] for k in (0, 1)]
    assert agg["steps"].tolist() == [len(rows) for rows in lap_rows]


def test_deepracer_utils_reads_racers_training_metrics(run):
    tm, summary = load_metrics(run.folder.metrics_file)
    train, evaluation = tm.getTraining(), tm.getEvaluation()
    assert len(train) == 2 * E and len(evaluation) == 4
    assert tm.episodes_per_iteration == E
    assert train["iteration"].tolist() == [0] * E + [1] * E
    rewards = [int(round(e.total_reward)) for e in run.episodes[: 2 * E]]
    completion = [int(e.progress) for e in run.episodes[: 2 * E]]
    assert np.allclose(summary["train_reward"], [np.mean(rewards[:E]), np.mean(rewards[E:])])
    assert np.allclose(summary["train_completion"],
                       [np.mean(completion[:E]), np.mean(completion[E:])])  # fmt: skip
    extra = run.episodes[2 * E : 2 * E + 4]
    eval_rewards = [int(round(e.total_reward)) for e in extra]
    assert np.allclose(summary["eval_reward"], [np.mean(eval_rewards[:2]),
                                                np.mean(eval_rewards[2:])])  # fmt: skip
    assert evaluation["iteration"].tolist() == [0, 0, 1, 1]


def test_deepracer_utils_reads_racers_robomaker_log(run, tmp_path):
    """The console's layout (sim-trace/ + logs/training/*-robomaker.log) loads the log."""
    console = tmp_path / "console"
    shutil.copytree(run.folder.training_simtrace,
                    console / "sim-trace" / "training" / "training-simtrace")  # fmt: skip
    (console / "logs" / "training").mkdir(parents=True)
    log_name = f"training-{STAMP}-racer-robomaker.log"
    shutil.copy(run.folder.robomaker_log, console / "logs" / "training" / log_name)
    dr = deepracer_logs()
    log = dr.DeepRacerLog(str(console))
    log.load()
    df = log.dataframe()
    logs = run.episodes[: 2 * E]
    assert log.fh.type.name == "CONSOLE_MODEL_WITH_LOGS" and len(df) == sum(e.steps for e in logs)
    assert log.hyperparameters() == HYPERPARAMETERS
    assert log.action_space() == run.metadata.action_space.to_json_value()
    assert log.agent_and_network()["world"] == "oval"
    assert df["iteration"].tolist() == [e.episode // E for e in logs for _ in e.rows]
    assert np.allclose(df["wall_clock"], [float(r[18]) for e in logs for r in e.rows], atol=1e-4)
    assert np.allclose(df["reward"], [float(r[8]) for e in logs for r in e.rows], atol=1e-4)


def test_a_robomaker_log_rolls_back_to_its_committed_size(tmp_path):
    from racer.logs.writers import RobomakerLog, roll_back_log

    path = tmp_path / "logs" / "robomaker.log"
    with RobomakerLog(path) as log:
        log.write_lines(["committed"])
        size = log.sync()
        log.write_lines(["never committed"])
    assert size == len("committed\n")
    assert roll_back_log(path, size) == len("never committed\n")
    assert path.read_text() == "committed\n"
    assert roll_back_log(path, size + 100) == 0 and path.read_text() == "committed\n"
    assert roll_back_log(tmp_path / "missing.log", 0) == 0


def test_a_completion_is_never_negative(tmp_path):
    """DeepRacer's progress dips below 0 behind the start point; a completion does not."""
    metrics = TrainingMetrics(tmp_path / "TrainingMetrics.json")
    entry = metrics.add_entry("evaluation", 1.0, -2.4, "time_up", 0.0, 3.0, 6, 3)
    assert entry["completion_percentage"] == 0
    assert metrics.add_entry("training", 1.0, 57.9, "off_track", 0.0, 3.0, 7, 1)[
        "completion_percentage"] == 57
