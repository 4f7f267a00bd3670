"""racer evaluate / export / plot on a finished run, and an exported model without SB3."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from racer.cli import main
from racer.env.config import EnvConfig
from racer.logs.simtrace import find_simtraces, read_simtrace
from racer.train.config import TrainConfig
from racer.train.trainer import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    hyper = root / "h.json"
    hyper.write_text(json.dumps({"num_episodes_between_training": 4, "num_epochs": 1}))
    config = TrainConfig(env=EnvConfig(), num_envs=4, max_updates=1, minutes=0,
                         eval_episodes=2, lap_check_every=0, steps_per_car=96)  # fmt: skip
    train(replace(config, hyperparameters=str(hyper)), root / "run")
    return root / "run"


def test_evaluate_writes_deepracers_evaluation_logs(run, capsys):
    status = main(["evaluate", str(run), "--laps", "1", "--resets", "3"])
    out = capsys.readouterr().out
    assert status in (0, 1) and "laps, lap times" in out
    (simtrace,) = find_simtraces(run)["evaluation"]
    trace = read_simtrace(simtrace)
    assert trace["episode_status"][0] == "prepare" and len(trace) > 1
    (metrics,) = (run / "metrics/evaluation").glob("evaluation-*.json")
    entries = json.loads(metrics.read_text())["metrics"]
    assert entries and "version" not in json.loads(metrics.read_text())
    assert {"off_track_count", "reset_count", "trial"} <= set(entries[0])


def test_export_then_evaluate_the_onnx_model_without_sb3_or_torch(run, capsys):
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    difference = float(out.split("max abs difference ")[1].split()[0])
    assert difference < 1e-4
    onnx = run / "model/policy.onnx"
    script = (
        "import sys\n"
        "sys.modules['stable_baselines3'] = None\nsys.modules['torch'] = None\n"
        "from racer.train.runs import evaluate_and_log, load_policy\n"
        f"loaded = load_policy({str(onnx)!r})\n"
        "result = evaluate_and_log(loaded, laps=1, resets=2).result\n"
        "print('steps', result.steps)\n"
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "steps" in done.stdout


def test_plot_draws_the_reward_graph(run, capsys):
    assert main(["plot", str(run)]) == 0
    assert (run / "reward_graph.png").stat().st_size > 10_000


def test_missing_things_are_clear_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "has no best checkpoint" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a trained run folder" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "x.onnx")]) == 2


def test_evaluate_and_export_import_no_reward_function_unless_asked(run, tmp_path, capsys):
    import shutil

    copy = shutil.copytree(run, tmp_path / "run")
    marker = tmp_path / "imported"
    (copy / "reward_function.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('this file must not run')\n"
    )
    assert main(["export", str(copy)]) == 0  # the export's drive needs no rewards
    onnx = copy / "model/policy.onnx"
    for model in (onnx, copy):  # the exported policy, and the run's own checkpoint
        capsys.readouterr()
        assert main(["evaluate", str(model), "--laps", "1", "--resets", "1"]) in (0, 1)
        out = capsys.readouterr().out
        assert "laps, lap times" in out and "rewards not computed (logged as 0)" in out
        assert not marker.exists()
    for simtrace in find_simtraces(copy)["evaluation"]:
        assert (read_simtrace(simtrace)["reward"] == 0.0).all()
    assert main(["evaluate", str(onnx), "--laps", "1", "--resets", "1", "--rewards"]) == 2
    assert "this file must not run" in capsys.readouterr().err
    assert marker.exists()  # asked for, the rewards come from the run's reward function
