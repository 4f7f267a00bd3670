"""The run state and lock: a lost state.json never costs logs; one racer train per folder."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace

import pytest

from racer.cli import main
from racer.env.config import EnvConfig
from racer.errors import ConfigError
from racer.logs.run_folder import RunFolder
from racer.logs.simtrace import find_simtraces, read_simtrace
from racer.train.config import TrainConfig
from racer.train.run_state import (
    LOCK_NAME,
    RunLock,
    RunState,
    read_run_state,
    rebuild_state,
    saved_updates,
)
from racer.train.trainer import train

FAST = TrainConfig(env=EnvConfig(), num_envs=4, max_updates=2, minutes=0, eval_episodes=2,
                   lap_check_every=1, steps_per_car=96)  # fmt: skip
HYPER = {"num_episodes_between_training": 6, "batch_size": 64, "num_epochs": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-update run (lap checks included), trained once for the module."""
    base = tmp_path_factory.mktemp("trained")
    hyper = base / "hyperparameters.json"
    hyper.write_text(json.dumps(HYPER))
    run = base / "run"
    train(replace(FAST, hyperparameters=str(hyper)), run)
    return run


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the trained run."""
    return shutil.copytree(trained, tmp_path / "run")


def snapshot(root):
    """Every file under ``root``: its (mtime [ns], content)."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def sim_trace_lines(run):
    return (run / "logs/robomaker.log").read_text().count("SIM_TRACE_LOG:")


def test_the_state_is_rebuilt_exactly_from_the_progress_log(run):
    stored = json.loads((run / "checkpoints/state.json").read_text())
    (run / "checkpoints/state.json").unlink()
    rebuilt = rebuild_state(RunFolder(run))
    assert stored["update"] == 1 and stored["robomaker_bytes"] > 0
    assert asdict(rebuilt) == pytest.approx({**stored, "robomaker_bytes": -1})


def test_resume_without_state_json_rebuilds_it_and_keeps_every_log(run, capsys):
    before = snapshot(run)
    lines = sim_trace_lines(run)
    metrics = json.loads((run / "metrics/TrainingMetrics.json").read_text())["metrics"]
    (run / "checkpoints/state.json").unlink()
    assert main(["train", "--resume", str(run), "--updates", "3"]) == 0
    out = capsys.readouterr().out
    assert f"rebuilt the missing run state {run / 'checkpoints/state.json'}" in out
    assert "update 1, iteration" in out and "stopped (updates) after update 2" in out
    after = snapshot(run)
    for name, (_, content) in before.items():  # the committed logs are intact ...
        if name.startswith("training-simtrace/"):
            assert after[name][1] == content, name
    assert (run / "logs/robomaker.log").read_bytes().startswith(before["logs/robomaker.log"][1])
    assert sim_trace_lines(run) > lines
    grown = json.loads((run / "metrics/TrainingMetrics.json").read_text())["metrics"]
    assert grown[: len(metrics)] == metrics
    state = json.loads((run / "checkpoints/state.json").read_text())
    trace = read_simtrace(find_simtraces(run)["training"])  # ... and continued, not renumbered
    assert [e for _, e, _ in trace.episodes()] == list(range(state["episodes"]))
    assert state["update"] == 2 and sim_trace_lines(run) == len(trace)


@pytest.mark.parametrize("also_lost", ["logs/progress.csv", "training-simtrace/0-iteration.csv"])
def test_resume_refuses_when_the_logs_cannot_rebuild_the_state(run, capsys, also_lost):
    (run / "checkpoints/state.json").unlink()
    (run / also_lost).unlink()
    before = snapshot(run)
    assert main(["train", "--resume", str(run), "--updates", "3"]) == 2
    err = capsys.readouterr().err
    assert f"its run state {run / 'checkpoints/state.json'} is missing" in err
    assert "nothing was changed" in err and "Restore" in err
    assert f"racer train --pretrained {run} --out NEW_FOLDER" in err
    assert err.count("\n") == 1  # one paragraph
    assert snapshot(run) == before


def test_resume_refuses_a_state_whose_checkpoint_is_gone(run):
    (run / "checkpoints/last.zip").unlink()
    before = snapshot(run)
    with pytest.raises(ConfigError, match="last.zip is missing"):
        read_run_state(RunFolder(run))
    assert main(["train", "--resume", str(run), "--updates", "3"]) == 2
    assert snapshot(run) == before


def test_a_run_that_committed_nothing_resumes_from_the_start(tmp_path):
    folder = RunFolder(tmp_path / "run").create()
    folder.config_file.write_text("")
    assert read_run_state(folder) == (RunState(), "")


def test_saved_updates_says_when_none_was_saved():
    assert saved_updates(RunState()) == "no update was saved"
    assert saved_updates(RunState(update=4)) == "updates up to 4 are saved"


# -------------------------------------------------------------------------------------- lock
@pytest.mark.parametrize(
    "resume, fragment",
    [(False, "a new run cannot start there: choose another folder with --out"),
     (True, "before resuming")],
)  # fmt: skip
def test_a_held_lock_refuses_with_the_message_for_new_runs_and_resumes(tmp_path, resume,
                                                                       fragment):  # fmt: skip
    held = RunLock.acquire(tmp_path, resume=False)
    stat = os.stat(tmp_path / LOCK_NAME)
    try:
        with pytest.raises(ConfigError, match="another racer train is running") as err:
            RunLock.acquire(tmp_path, resume=resume)
        assert fragment in str(err.value)
        assert os.stat(tmp_path / LOCK_NAME).st_mtime_ns == stat.st_mtime_ns  # not even touched
    finally:
        held.release()
    assert not (tmp_path / LOCK_NAME).exists()
    RunLock.acquire(tmp_path, resume=resume).release()  # free again


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")  # a SIGKILLed run leaves the file, not the lock
    lock = RunLock.acquire(tmp_path, resume=True)
    lock.release()
    lock.release()  # idempotent
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_best_model_is_the_reward_graphs_best_and_each_update_one_evaluation(trained):
    """state.json's best update, checkpoints/best.zip and the graph's line name one update."""
    from racer.formats.best_model import evaluation_groups
    from racer.plots.reward_graph import read_training_metrics, reward_graph_series

    state = json.loads((trained / "checkpoints/state.json").read_text())
    data = read_training_metrics(RunFolder(trained).metrics_file)
    assert data["best_model_metric"] == "laptime"  # racer's default, DeepRacer's name
    groups = evaluation_groups(data["metrics"])
    assert len(groups) == state["update"] + 1  # one evaluation group per update
    keys = [key for key, _ in groups]
    assert keys == sorted(set(keys))
    series = reward_graph_series(data, HYPER["num_episodes_between_training"])
    assert series.best_x == keys[state["best_update"]] / HYPER["num_episodes_between_training"]
    assert all(e["completion_percentage"] >= 0 for e in data["metrics"])
    assert (trained / "checkpoints/best.zip").exists()


def test_evaluate_and_export_name_the_best_models_update(trained, capsys):
    from racer.train.run_state import describe_checkpoint

    state = json.loads((trained / "checkpoints/state.json").read_text())
    best = describe_checkpoint(RunFolder(trained), "best")
    assert best.startswith(f"the best model by laptime: update {state['best_update']}, ")
    assert describe_checkpoint(RunFolder(trained), "last") == f"the last update, {state['update']}"
    assert describe_checkpoint(RunFolder(trained / "missing"), "best") == ""
    main(["evaluate", str(trained), "--laps", "1"])
    assert f"best.zip ({best}) on " in capsys.readouterr().out
