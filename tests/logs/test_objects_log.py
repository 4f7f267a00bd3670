"""The object log: a sidecar of every simtrace of a run with boxes or bot cars.

A short head-to-bot run (2 cars, 2 bots each, 10-step episodes) is recorded; the sidecar must
hold exactly the params' objects of every logged row, and must stay invisible to the simtrace
readers (racer's and deepracer-utils').
"""

from __future__ import annotations

import numpy as np
import pytest

from racer import EnvConfig, RacerVecEnv
from racer.env.episode import EpisodeConfig
from racer.errors import LogError
from racer.logs.atomic import write_json_atomic
from racer.logs.objects import objects_path, objects_text, read_objects
from racer.logs.recorder import EpisodeLog, SimtraceRecorder, object_poses
from racer.logs.run_folder import RunFolder
from racer.logs.simtrace import find_simtraces, read_simtrace
from racer.logs.writers import write_simtrace
from racer.objects.bots import BotConfig

STEPS = 10  # max_episode_steps of the recorded episodes


def record_run(config: EnvConfig, want: int, num_envs: int = 2, seed: int = 0):
    """Drive random actions until ``want`` episodes finish.

    Returns the finished episodes and, for each, the flat object poses of its steps' params.
    """
    env = RacerVecEnv(config, num_envs=num_envs, seed=seed)
    rng = np.random.default_rng(seed)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    env.reset()
    pending: list[list[tuple[float, ...]]] = [[] for _ in range(num_envs)]
    episodes: list[EpisodeLog] = []
    expected: list[list[tuple[float, ...]]] = []
    while len(episodes) < want:
        actions = rng.integers(0, env.action_space.n, num_envs)
        _, rewards, dones, infos = env.step(actions)
        for i, info in enumerate(infos):
            params = info["params"]
            location, heading = params["objects_location"], params["objects_heading"]
            pending[i].append(tuple(v for (x, y), h in zip(location, heading, strict=True)
                                    for v in (x, y, h)))  # fmt: skip
        for episode in recorder.record(actions, rewards, dones, infos):
            episodes.append(episode)
            expected.append(pending[episode.car])
            pending[episode.car] = []
    env.close()
    return episodes, expected


@pytest.fixture(scope="module")
def bots_run():
    config = EnvConfig(track="oval", bots=BotConfig(count=2),
                       episode=EpisodeConfig(max_episode_steps=STEPS))  # fmt: skip
    return record_run(config, want=4)


def test_episode_logs_hold_the_params_objects_of_every_row(bots_run):
    episodes, expected = bots_run
    for episode, poses in zip(episodes, expected, strict=True):
        assert len(episode.objects) == episode.steps == len(poses)
        assert [len(p) for p in episode.objects] == [6] * episode.steps  # 2 bots x (x, y, heading)
        assert episode.objects == tuple(poses)
    # the bots drive: their logged positions change within an episode
    first = np.array(episodes[0].objects)
    assert np.abs(first[-1] - first[0]).max() > 0.05


def test_the_sidecar_rows_equal_the_params_at_each_step(bots_run, tmp_path):
    episodes, expected = bots_run
    simtrace = write_simtrace(tmp_path / "training-simtrace" / "0-iteration.csv", episodes)
    sidecar = tmp_path / "training-simtrace" / "0-objects.csv"
    assert objects_path(simtrace) == sidecar and sidecar.is_file()
    assert sidecar.read_text().splitlines()[0] == "episode,steps,x0,y0,heading0,x1,y1,heading1"
    log = read_objects(sidecar)
    trace = read_simtrace(simtrace)
    assert len(log) == len(trace) == sum(e.steps for e in episodes)
    np.testing.assert_array_equal(log.episode, trace["episode"])
    np.testing.assert_array_equal(log.steps, trace["steps"])
    want = np.array([p for poses in expected for p in poses]).reshape(len(log), 2, 3)
    np.testing.assert_allclose(log.poses, want, rtol=0, atol=5e-5)  # 4 decimals


def test_the_simtrace_keeps_its_19_columns_and_readers_skip_the_sidecar(bots_run, tmp_path):
    episodes, _ = bots_run
    folder = RunFolder(tmp_path / "model").create()
    write_simtrace(folder.training_simtrace_file(0), episodes[:2])
    write_simtrace(folder.training_simtrace_file(1), episodes[2:])
    write_simtrace(folder.evaluation_simtrace("20260101000000"), episodes[:1])
    header = folder.training_simtrace_file(0).read_text().splitlines()[0]
    assert len(header.split(",")) == 19 and "objects" not in header
    found = find_simtraces(folder.root)
    assert [p.name for p in found["training"]] == ["0-iteration.csv", "1-iteration.csv"]
    assert [p.name for p in found["evaluation"]] == ["0-iteration.csv"]
    assert (folder.evaluation_dir("20260101000000") / "evaluation-simtrace" / "0-objects.csv"
            ).is_file()  # fmt: skip
    assert folder.iterations() == [0, 1]
    dr = pytest.importorskip("deepracer.logs", reason="pip install deepracer-utils")
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=1)
    write_json_atomic(folder.model_metadata, env.core.metadata.to_json_dict(), indent=2)
    hyper = {"batch_size": 64, "lr": 0.0003, "num_episodes_between_training": 2}
    write_json_atomic(folder.hyperparameters, hyper, indent=2)
    env.close()
    log = dr.DeepRacerLog(model_folder=str(folder.root))
    log.load()
    assert len(log.dataframe()) == sum(e.steps for e in episodes)


def test_a_time_trial_writes_no_sidecar_and_removes_a_stale_one(bots_run, tmp_path):
    episodes, _ = bots_run
    path = tmp_path / "0-iteration.csv"
    write_simtrace(path, episodes)
    assert objects_path(path).is_file()
    plain = [EpisodeLog(e.episode, e.car, e.rows, e.total_reward, e.progress, e.status,
                        e.start_time, e.end_time) for e in episodes]  # fmt: skip
    assert objects_text(plain) is None
    write_simtrace(path, plain)
    assert path.is_file() and not objects_path(path).exists()
    assert object_poses({"objects_location": [], "objects_heading": []}) == ()


def test_a_damaged_sidecar_is_an_error_naming_it(bots_run, tmp_path):
    episodes, _ = bots_run
    path = write_simtrace(tmp_path / "0-iteration.csv", episodes)
    sidecar = objects_path(path)
    lines = sidecar.read_text().splitlines()
    sidecar.write_text("\n".join(lines[:5] + [lines[5][:12]]) + "\n")  # cut off mid-row
    with pytest.raises(LogError, match="0-objects.csv is damaged at line 6"):
        read_objects(sidecar)
    sidecar.write_text("X,Y\n1,2\n")
    with pytest.raises(LogError, match="unexpected header"):
        read_objects(sidecar)
    sidecar.unlink()
    with pytest.raises(LogError, match="does not exist"):
        read_objects(sidecar)
