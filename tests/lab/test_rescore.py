"""`racer rescore`: rebuilt params reproduce a real run's rewards; errors name what to fix."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from racer.cli import main
from racer.env.autopilot import Autopilot
from racer.env.config import EnvConfig
from racer.env.racer_env import RacerEnv
from racer.errors import LogError, RewardFunctionError
from racer.lab.rescore import rescore_run
from racer.logs.simtrace import SIMTRACE_COLUMNS
from tests.conftest import DEEPRACER_LOGS, DEEPRACER_TRACKS

DRFC = DEEPRACER_LOGS / "drfc-reinvent-base"
REINVENT = DEEPRACER_TRACKS / "reinvent_base.npy"
BROKEN = Path(__file__).resolve().parents[1] / "data" / "reward_functions" / "broken"


def needs_logs():
    if not (DRFC.is_dir() and REINVENT.exists()):
        pytest.skip(f"the real DeepRacer logs and tracks are not at {DEEPRACER_LOGS}")


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind, rows", [("training", 1074), ("evaluation", 650)])
def test_the_real_runs_reward_function_reproduces_every_logged_reward(tmp_path, kind, rows):
    """The drfc run trained with the console's default centre-line reward (racer's example)."""
    needs_logs()
    result = rescore_run(DRFC, "follow_center_line", REINVENT, out=tmp_path, kind=kind)
    steps = read_csv(result.steps_csv)
    assert len(steps) == rows == result.steps
    old = np.array([float(r["old_reward"]) for r in steps])
    new = np.array([float(r["new_reward"]) for r in steps])
    np.testing.assert_array_equal(new, old)
    assert result.plot.stat().st_size > 10_000


def test_episode_totals_and_call_order(tmp_path):
    needs_logs()
    counter = tmp_path / "counter.py"
    counter.write_text("n = [0]\ndef reward_function(params):\n    n[0] += 1\n"
                       "    print(n[0])\n    return float(n[0])\n")  # fmt: skip
    result = rescore_run(DRFC, counter, REINVENT, out=tmp_path / "out")
    steps = read_csv(result.steps_csv)
    scored = [r for r in steps if r["episode_status"] != "prepare"]
    # One module for the whole log, called in log order: 1, 2, 3, ...
    assert [float(r["new_reward"]) for r in scored] == [float(i) for i in range(1, 1035)]
    assert result.calls == 1034 and result.log.read_text().split() == [str(i) for i in
                                                                        range(1, 1035)]  # fmt: skip
    episodes = read_csv(result.episodes_csv)
    assert len(episodes) == 40 and int(episodes[0]["steps"]) == 57
    assert float(episodes[0]["new_total"]) == sum(range(1, 57))


def write_simtrace(path, infos, actions):
    """A simtrace in SPEC 6.1's format of one racer episode (the writer comes with training)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SIMTRACE_COLUMNS)
        for info, (action, reward) in zip(infos, actions, strict=True):
            p = info["params"]
            w.writerow([0, p["steps"], p["x"], p["y"], p["heading"], p["steering_angle"],
                        p["speed"], action, reward, info["episode_status"] != "in_progress",
                        p["all_wheels_on_track"], p["progress"], p["closest_waypoints"][1],
                        p["track_length"], p["sim_time"], info["episode_status"],
                        info["pause_duration"], 0, 0.0])  # fmt: skip


def racer_episode(reverse=False, max_steps=100_000):
    """The infos and (action, reward) of an autopilot's episode on hairpin_comb_ccw."""
    env = RacerEnv(EnvConfig(track="hairpin_comb_ccw", reverse=reverse,
                             reward_function="waypoint_heading"))  # fmt: skip
    pilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    env.reset(seed=3)  # round robin: the episode starts away from the line
    infos, actions, action = [], [], 0
    while len(infos) < max_steps:
        _, reward, terminated, truncated, info = env.step(action)
        infos.append(info)
        actions.append((action, reward))
        action = pilot.act(info["params"])
        if terminated or truncated:
            break
    env.close()
    return infos, actions


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reversed"])
def test_a_racer_episode_rescored_with_its_own_function_matches(tmp_path, reverse):
    infos, actions = racer_episode(reverse)
    assert infos[-1]["episode_status"] == "lap_complete"
    log = tmp_path / "0-iteration.csv"
    write_simtrace(log, infos, actions)
    result = rescore_run(log, "waypoint_heading", "hairpin_comb_ccw", out=tmp_path / "out")
    steps = read_csv(result.steps_csv)
    np.testing.assert_allclose([float(r["new_reward"]) for r in steps],
                               [float(r["old_reward"]) for r in steps], atol=1e-9)  # fmt: skip


def test_a_log_from_another_track_is_refused(tmp_path):
    needs_logs()
    with pytest.raises(LogError, match="does not fit track oval"):
        rescore_run(DRFC, "follow_center_line", "oval", out=tmp_path)


def test_a_failing_new_function_saves_its_params_and_keeps_the_log(tmp_path):
    needs_logs()
    before = (DRFC / "training-simtrace/0-iteration.csv").read_bytes()
    broken = tmp_path / "broken.py"
    broken.write_text("def reward_function(params):\n    if params['progress'] > 10:\n"
                      "        return params['waypoints'][1000]\n    return 1.0\n")  # fmt: skip
    with pytest.raises(RewardFunctionError) as err:
        rescore_run(DRFC, broken, REINVENT, out=tmp_path)
    assert "IndexError" in str(err.value) and "line 3" in str(err.value)
    assert err.value.params_file.parent == tmp_path
    assert main(["validate", str(broken), "--params", str(err.value.params_file)]) == 1
    assert (DRFC / "training-simtrace/0-iteration.csv").read_bytes() == before


def test_cli(tmp_path, capsys):
    needs_logs()
    status = main(["rescore", str(DRFC), "--reward", "progress_speed", "--track", str(REINVENT),
                   "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0 and "re-scored 1,074 training steps of 40 episodes" in out
    assert (tmp_path / "rescore_episodes.csv").exists()
    assert main(["rescore", str(tmp_path / "nowhere"), "--reward", "progress_speed",
                 "--track", "oval"]) == 2  # fmt: skip
    assert "does not exist" in capsys.readouterr().err


def test_object_keys_are_rebuilt_from_the_object_log(tmp_path):
    # A run with 2 boxes and 2 moving bots, rescored with the reward function it trained with:
    # the object keys come back from the object log and racer.toml, so the rewards do too.
    run = tmp_path / "run"
    assert main(["train", "--obstacles", "2", "--bots", "2", "--bot-lane-change", "--reward",
                 "object_avoidance", "--updates", "1", "--envs", "4", "--minutes", "0",
                 "--out", str(run)]) == 0  # fmt: skip
    result = rescore_run(run, "object_avoidance", "oval", out=tmp_path / "out")
    steps = [r for r in read_csv(result.steps_csv) if r["episode_status"] != "prepare"]
    old = np.array([float(r["old_reward"]) for r in steps])
    new = np.array([float(r["new_reward"]) for r in steps])
    assert len(steps) > 400 and not result.warnings
    # (positions are logged to 0.1 mm: a distance threshold may flip on a rare step)
    assert np.mean(np.isclose(new, old, atol=1e-9)) > 0.99
    # Without the object log the keys keep their time-trial defaults, and the rewards differ.
    for sidecar in (run / "training-simtrace").glob("*-objects.csv"):
        sidecar.unlink()
    blind = rescore_run(run, "object_avoidance", "oval", out=tmp_path / "blind")
    assert any("is missing" in w for w in blind.warnings)
    rescored = np.array([float(r["new_reward"]) for r in read_csv(blind.steps_csv)
                         if r["episode_status"] != "prepare"])  # fmt: skip
    wrong, blind_wrong = np.sum(~np.isclose(new, old)), np.sum(~np.isclose(rescored, old))
    assert blind_wrong >= 10 and blind_wrong > 5 * wrong


def test_the_default_output_is_a_new_folder_here_never_the_run(tmp_path, monkeypatch, capsys):
    run = tmp_path / "downloaded-model"
    (run / "training-simtrace").mkdir(parents=True)
    write_simtrace(run / "training-simtrace" / "0-iteration.csv", *racer_episode(max_steps=40))
    files = sorted(run.rglob("*"))
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    command = ["rescore", str(run), "--reward", "progress_speed", "--track", "hairpin_comb_ccw"]
    assert main(command) == 0
    out = here / "rescore-downloaded-model-progress_speed"
    assert f"wrote to {out} (a new folder" in capsys.readouterr().out
    assert (out / "rescore_steps.csv").exists() and (out / "rescore.png").exists()
    assert sorted(run.rglob("*")) == files  # the run's folder is as it was
    # From inside the run there is no "here" that is not the run: an error, with the fix.
    for inside in (run, run / "training-simtrace"):
        monkeypatch.chdir(inside)
        assert main(command) == 2
        assert "does not write into the run's folder" in capsys.readouterr().err
        assert sorted(run.rglob("*")) == files
    monkeypatch.chdir(run)
    assert main([*command, "--out", str(tmp_path / "chosen")]) == 0
    assert f"wrote to {tmp_path / 'chosen'}\n" in capsys.readouterr().out


def test_a_header_only_simtrace_is_one_paragraph_naming_the_file(tmp_path, capsys):
    """A CSV with the header line and no rows: a LogError naming it, no traceback, no output."""
    empty = tmp_path / "0-iteration.csv"
    empty.write_text(",".join(SIMTRACE_COLUMNS) + "\n")
    with pytest.raises(LogError, match="holds no logged steps") as err:
        rescore_run(empty, "progress_speed", "oval", out=tmp_path / "out")
    assert str(empty) in str(err.value) and not (tmp_path / "out").exists()
    assert main(["rescore", str(empty), "--reward", "progress_speed", "--track", "oval",
                 "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    captured = capsys.readouterr()
    assert str(empty) in captured.err and "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("stuck_in_c", "could not be stopped at its limit of 0.2 s"),
        ("exits_3", "ended its worker process (it exited with code 3"),
    ],
)
def test_a_new_function_that_hangs_or_exits_ends_rescore_with_an_error(tmp_path, name, fragment):
    """``racer rescore`` as a command, bounded in time: a hang fails the test, not the suite."""
    log = tmp_path / "0-iteration.csv"
    write_simtrace(log, *racer_episode(max_steps=40))
    path = BROKEN / "stuck_in_c.py"
    if name == "exits_3":
        path = tmp_path / "exits_3.py"
        path.write_text("import os\n\ndef reward_function(params):\n    if params['steps'] > 5:\n"
                        "        os._exit(3)\n    return 1.0\n")  # fmt: skip
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "racer.cli", "rescore", str(log), "--reward",
                          str(path), "--track", "hairpin_comb_ccw", "--out", str(out),
                          "--timeout", "0.2"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    err = run.stderr
    assert err.startswith(f"racer: error: reward function {path} {fragment}")
    assert "at step" in err and "Traceback" not in err
    assert list(out.glob(f"reward-failure-{name}-step*.json"))  # replayable, beside the output
