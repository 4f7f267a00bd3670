"""racer train: a DeepRacer model folder, committed per iteration; resume, failures, bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from racer.cli import main
from racer.env.config import EnvConfig
from racer.errors import ConfigError, LogError, RacerError, RewardFunctionError
from racer.logs.progress import read_progress
from racer.logs.simtrace import find_simtraces, read_simtrace
from racer.train.config import TrainConfig
from racer.train.trainer import Trainer, train

FAST = TrainConfig(env=EnvConfig(), num_envs=4, max_updates=2, minutes=0, eval_episodes=2,
                   lap_check_every=0, steps_per_car=96)  # fmt: skip
HYPER = {"num_episodes_between_training": 6, "batch_size": 64, "num_epochs": 1}


def quick(tmp_path, name="run", **changes):
    hyper = tmp_path / "hyperparameters.json"
    hyper.write_text(json.dumps(HYPER))
    return replace(FAST, hyperparameters=str(hyper), **changes), tmp_path / name


def test_a_short_run_leaves_a_deepracer_model_folder(tmp_path):
    config, run = quick(tmp_path)
    result = train(config, run)
    state = result.state
    assert result.stopped == "updates" and state.update == 1 and state.iteration >= 1
    assert state.episodes == 6 * (state.iteration + 1)  # whole DeepRacer iterations only
    assert state.timesteps == 2 * 96 * 4
    for name in ("model/model_metadata.json", "ip/hyperparameters.json", "reward_function.py",
                 "racer.toml", "metrics/TrainingMetrics.json", "checkpoints/last.zip",
                 "checkpoints/best.zip", "logs/robomaker.log"):  # fmt: skip
        assert (run / name).exists(), name
    assert not (run / ".racer-train.lock").exists()  # removed at the end of the run
    files = find_simtraces(run)["training"]
    assert [p.name for p in files] == [f"{k}-iteration.csv" for k in range(state.iteration + 1)]
    curve = read_progress(run / "logs" / "progress.csv")
    np.testing.assert_array_equal(curve["update"], [0, 1])
    np.testing.assert_array_equal(curve["timesteps"], [96 * 4, 2 * 96 * 4])
    assert curve["seconds"][-1] == pytest.approx(state.seconds)
    assert np.isfinite(curve["eval_progress"]).all()  # (DeepRacer progress can dip below 0)
    trace = read_simtrace(files)
    episodes = list(trace.episodes())
    assert len(episodes) == state.episodes
    assert set(trace["episode"][trace["iteration"] == 0].tolist()) == set(range(6))
    assert [e for _, e, _ in episodes] == list(range(len(episodes)))
    metrics = json.loads((run / "metrics/TrainingMetrics.json").read_text())["metrics"]
    training = [m for m in metrics if m["phase"] == "training"]
    assert len(training) == result.state.episodes
    assert len([m for m in metrics if m["phase"] == "evaluation"]) == 2 * 2
    assert json.loads((run / "ip/hyperparameters.json").read_text())["num_epochs"] == 1


def test_deepracer_utils_reads_the_run(tmp_path):
    logs = pytest.importorskip("deepracer.logs")
    config, run = quick(tmp_path)
    result = train(config, run)
    log = logs.DeepRacerLog(model_folder=str(run))
    log.load()
    df = log.dataframe()
    assert len(df) == len(read_simtrace(find_simtraces(run)["training"]))
    assert df["episode"].nunique() == result.state.episodes


def test_resume_continues_numbering_and_drops_an_uncommitted_iteration(tmp_path):
    config, run = quick(tmp_path)
    first = train(config, run)
    # A killed round: its simtrace got written but the state was not committed.
    stray = run / f"training-simtrace/{first.state.iteration + 1}-iteration.csv"
    stray.write_text("episode\n")
    resumed = Trainer(None, run, resume=True)
    resumed.config = replace(resumed.config, max_updates=4)
    result = resumed.run()
    assert result.state.update == 3 and result.state.episodes > first.state.episodes
    trace = read_simtrace(find_simtraces(run)["training"])
    numbers = [e for _, e, _ in trace.episodes()]
    assert numbers == list(range(result.state.episodes))
    metrics = json.loads((run / "metrics/TrainingMetrics.json").read_text())["metrics"]
    assert [m["episode"] for m in metrics if m["phase"] == "training"] == \
        list(range(1, result.state.episodes + 1))  # fmt: skip


def test_a_new_run_refuses_an_existing_folder(tmp_path):
    config, run = quick(tmp_path)
    train(replace(config, max_updates=1), run)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config, run)


def test_a_reward_function_failing_mid_run_keeps_the_committed_iterations(tmp_path):
    reward = tmp_path / "late_failure.py"
    reward.write_text("calls = [0]\ndef reward_function(params):\n    calls[0] += 1\n"
                      "    if calls[0] > 900:\n        raise RuntimeError('broke late')\n"
                      "    return 1.0\n")  # fmt: skip
    config, run = quick(tmp_path)
    config = replace(config, env=replace(config.env, reward_function=str(reward)),
                     max_updates=50)  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        train(config, run)
    assert "broke late" in str(err.value) and str(run / "logs") in str(err.value)
    assert f"racer train --resume {run}" in str(err.value)
    assert str(run / "reward_function.py") in str(err.value)  # the run's copy is what runs
    state = json.loads((run / "checkpoints/state.json").read_text())
    assert state["update"] >= 0
    assert len(find_simtraces(run)["training"]) == state["iteration"] + 1
    assert list((run / "logs").glob("reward-failure-*.json"))
    assert not (run / ".racer-train.lock").exists()


def test_bad_hyperparameters_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "hyper.json"
    bad.write_text('{"lr": 0.001, "batch_size": "many"}')
    status = main(["train", "--hyperparameters", str(bad), "--out", str(tmp_path / "r"),
                   "--updates", "1"])  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "batch_size must be a number" in err and str(bad) in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_an_unwritable_run_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config, _ = quick(tmp_path)
    with pytest.raises(LogError):
        train(config, blocker / "run")


def test_deepracer_iterations_update_after_whole_episodes(tmp_path):
    config, run = quick(tmp_path, update_every="episodes")
    result = train(config, run)
    assert result.state.update == 1 and result.state.episodes >= 12
    trace = read_simtrace(find_simtraces(run)["training"])
    assert len(list(trace.episodes())) == result.state.episodes


def test_pretrained_start_copies_the_other_runs_best_policy(tmp_path):
    import torch

    from racer.train.ppo import EpisodicPPO

    config, run = quick(tmp_path)
    train(replace(config, max_updates=1), run)
    train(replace(config, max_updates=1, seed=5), tmp_path / "clone", pretrained=run)
    train(replace(config, max_updates=1, seed=5), tmp_path / "fresh")

    def weights(folder, name):
        model = EpisodicPPO.load(folder / f"checkpoints/{name}.zip")
        return torch.nn.utils.parameters_to_vector(model.policy.parameters())

    source = weights(run, "best")
    # One update moves the clone a little from the weights it started from, far less than a
    # run with a fresh initialisation is from them.
    clone = (weights(tmp_path / "clone", "last") - source).norm()
    fresh = (weights(tmp_path / "fresh", "last") - source).norm()
    assert clone < 0.2 * fresh


def test_a_killed_process_resumes_from_its_last_commit(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    config, run = quick(tmp_path)
    hyper = config.hyperparameters
    command = [sys.executable, "-m", "racer.cli", "train", "--out", str(run), "--envs", "4",
               "--hyperparameters", hyper, "--minutes", "5"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_file = run / "checkpoints/state.json"
    deadline = time.time() + 240
    while time.time() < deadline and not (
        state_file.exists() and json.loads(state_file.read_text())["update"] >= 1
    ):
        time.sleep(0.2)  # fmt: skip
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = json.loads(state_file.read_text())
    resumed = Trainer(None, run, resume=True)
    resumed.config = replace(resumed.config, max_updates=before["update"] + 2, minutes=0)
    result = resumed.run()
    assert result.state.update == before["update"] + 1
    trace = read_simtrace(find_simtraces(run)["training"])
    assert [e for _, e, _ in trace.episodes()] == list(range(result.state.episodes))


def test_sac_trains_resumes_and_evaluates(tmp_path, capsys):
    metadata = json.loads((Path(__file__).parents[1] / "data/model_metadata/"
                           "continuous_ppo.json").read_text())  # fmt: skip
    metadata["training_algorithm"] = "sac"
    path = tmp_path / "model_metadata.json"
    path.write_text(json.dumps(metadata))
    config, run = quick(tmp_path, max_updates=1, steps_per_car=48)
    config = replace(config, env=replace(config.env, model_metadata=str(path)))
    result = train(config, run)
    assert result.state.update == 0 and result.state.timesteps == 48 * 4
    assert json.loads((run / "model/model_metadata.json").read_text())["training_algorithm"] \
        == "sac"  # fmt: skip
    resumed = Trainer(None, run, resume=True)
    resumed.config = replace(resumed.config, max_updates=2)
    assert resumed.run().state.timesteps == 2 * 48 * 4
    assert main(["evaluate", str(run), "--laps", "1", "--resets", "1"]) in (0, 1)
    assert "laps, lap times" in capsys.readouterr().out


def test_a_full_disk_mid_run_stops_cleanly_with_earlier_updates_intact(tmp_path, monkeypatch):
    import errno

    from racer.train.ppo import EpisodicPPO

    config, run = quick(tmp_path, max_updates=3)
    real_save = EpisodicPPO.save
    saves = []

    def save(self, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(EpisodicPPO, "save", save)
    with pytest.raises(LogError, match="No space left on device. Free some disk space"):
        train(config, run)
    state = json.loads((run / "checkpoints/state.json").read_text())
    assert state["update"] == 0
    assert (run / "checkpoints/last.zip").exists()
    assert not list((run / "checkpoints").glob(".*tmp*"))
    assert not (run / ".racer-train.lock").exists()
    log = run / "logs/robomaker.log"
    assert log.stat().st_size > state["robomaker_bytes"]  # update 1's lines, never committed
    resumed = Trainer(None, run, resume=True)
    resumed.config = replace(resumed.config, max_updates=2)
    monkeypatch.setattr(EpisodicPPO, "save", real_save)
    assert resumed.run().state.update == 1
    # The failed commit's robomaker.log lines were rolled back with its simtrace, not repeated.
    trace = read_simtrace(find_simtraces(run)["training"])
    text = log.read_text()
    assert text.count("SIM_TRACE_LOG:") == len(trace)
    assert text.count("Reset agent finished") == len(list(trace.episodes()))
    assert text.count("Using the following hyper-parameters") == 1


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"track": "no_such_track"}, "unknown track"),
        ({"reward_function": "/nope.py"}, "does not exist"),
    ],
)
def test_bad_track_or_reward_fails_before_a_run_folder_exists(tmp_path, change, fragment):
    config, run = quick(tmp_path)
    config = replace(config, env=replace(config.env, **change))
    with pytest.raises(RacerError, match=fragment):
        train(config, run)
    assert not run.exists()


def snapshot(root):
    """Every file under ``root``: its (mtime [ns], content)."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_a_second_process_cannot_train_into_a_running_folder(tmp_path, capsys):
    from racer.train.run_state import RunLock

    config, run = quick(tmp_path)
    train(replace(config, max_updates=1), run)
    before = snapshot(run)
    held = RunLock.acquire(run, resume=False)  # as a running `racer train` holds it
    try:
        with pytest.raises(ConfigError, match="another racer train is running.*before resuming"):
            Trainer(None, run, resume=True).run()
        assert main(["train", "--resume", str(run), "--updates", "3"]) == 2
        assert "before resuming" in capsys.readouterr().err
    finally:
        held.release()
    assert snapshot(run) == before


def test_a_second_new_run_into_a_locked_folder_changes_nothing(tmp_path, capsys):
    """The first run holds the lock and is still validating: the second must not write."""
    from racer.train.run_state import LOCK_NAME, RunLock

    config, run = quick(tmp_path)
    run.mkdir()
    held = RunLock.acquire(run, resume=False)
    before = snapshot(run)
    try:
        status = main(["train", "--out", str(run), "--envs", "2", "--updates", "1",
                       "--hyperparameters", config.hyperparameters])  # fmt: skip
    finally:
        assert snapshot(run) == before and [p.name for p in run.iterdir()] == [LOCK_NAME]
        held.release()
    assert status == 2
    err = capsys.readouterr().err
    assert f"another racer train is running in {run}" in err and "--out" in err
    assert "before resuming" not in err


def test_ctrl_c_before_the_first_commit_says_no_update_was_saved(tmp_path, monkeypatch):
    config, run = quick(tmp_path)
    said = []

    def interrupted(self, model):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_learn_round", interrupted)
    result = train(config, run, say=said.append)
    assert result.stopped == "interrupted"
    assert said == [f"interrupted: no update was saved; continue with racer train --resume "
                    f"{run}"]  # fmt: skip
    assert not (run / ".racer-train.lock").exists()
    assert json.loads((run / "checkpoints/state.json").read_text())["update"] == -1


def test_a_reward_function_ending_its_process_mid_run_stops_the_run_with_a_message(tmp_path):
    # os._exit() in the reward function ends its worker process, not racer train: the run
    # says so (file and step), keeps its committed updates and exits non-zero.
    reward = tmp_path / "exits_late.py"
    reward.write_text("import os\ncalls = [0]\ndef reward_function(params):\n    calls[0] += 1\n"
                      "    if calls[0] > 900:\n        os._exit(0)\n    return 1.0\n")  # fmt: skip
    config, run = quick(tmp_path)
    config = replace(config, env=replace(config.env, reward_function=str(reward)),
                     max_updates=50)  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        train(config, run)
    message = str(err.value)
    assert "ended its worker process (it exited with code 0" in message and "at step" in message
    assert str(run / "reward_function.py") in message and f"racer train --resume {run}" in message
    state = json.loads((run / "checkpoints/state.json").read_text())
    assert state["update"] >= 0 and len(find_simtraces(run)["training"]) == state["iteration"] + 1
    assert list((run / "logs").glob("reward-failure-reward_function-step*.json"))
