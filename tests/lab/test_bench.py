"""racer bench: plans, the leaderboard's numbers, and real (tiny) benches locally and on Ray."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tomllib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from racer.cli import main
from racer.errors import ConfigError, RacerError
from racer.lab.bench import BenchPlan, _check_plan_file, parse_budget, run_bench
from racer.lab.leaderboard import leaderboard_rows, write_leaderboard
from racer.plots.bench import seed_band

TINY = {"budget_minutes": 0.02, "laps": 1, "num_envs": 2}


@pytest.mark.parametrize("text, minutes", [("10m", 10.0), ("90s", 1.5), ("1.5h", 90.0), ("2", 2.0),
                                           (" 30 sec ", 0.5), ("5min", 5.0)])  # fmt: skip
def test_budgets(text, minutes):
    assert parse_budget(text) == pytest.approx(minutes)


@pytest.mark.parametrize("text", ["ten", "0m", "-3m", "5 days", ""])
def test_bad_budgets(text):
    with pytest.raises(ConfigError, match="budget"):
        parse_budget(text)


def test_jobs_carry_their_inputs(tmp_path):
    plan = BenchPlan(("follow_center_line", "progress_speed"), ("oval", "kidney"), (0, 1, 2), 1.0)
    jobs = plan.jobs(tmp_path)
    assert len(jobs) == 12 and len({j.key for j in jobs}) == 12
    job = jobs[0]
    assert job.key == "follow_center_line__oval__seed0"
    assert "def reward_function" in job.reward_source
    assert np.asarray(job.track_rows).shape[1] == 6
    assert job.run_dir == str(tmp_path / "runs" / "follow_center_line" / "oval" / "seed0")


def test_bad_plans_fail_before_any_run(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def reward_function(params):\n    return params['speed'] +\n")
    with pytest.raises(RacerError, match="broken.py"):
        BenchPlan((str(broken),), ("oval",), (0,), 1.0).jobs(tmp_path)
    with pytest.raises(RacerError, match="no_such_track"):
        BenchPlan(("follow_center_line",), ("no_such_track",), (0,), 1.0).jobs(tmp_path)
    copy = tmp_path / "other" / "follow_center_line.py"
    copy.parent.mkdir()
    copy.write_text("def reward_function(params):\n    return 1.0\n")
    with pytest.raises(ConfigError, match="share a name"):
        BenchPlan(("follow_center_line", str(copy)), ("oval",), (0,), 1.0).jobs(tmp_path)
    with pytest.raises(ConfigError, match="at least one"):
        BenchPlan((), ("oval",), (0,), 1.0)
    assert not (tmp_path / "runs").exists()


def result(reward, track, seed, laps, lap_times, off_track, first, ideal=5.0):
    return {"key": f"{reward}__{track}__seed{seed}", "reward": reward, "track": track,
            "seed": seed, "budget_minutes": 1.0, "laps": laps, "laps_target": 3,
            "lap_times": lap_times, "off_track": off_track, "crashed": 0, "resets": off_track,
            "steps_to_first_lap": first, "timesteps": 1000 * (seed + 1), "train_seconds": 60.0,
            "steps_per_second": 1000.0, "ideal_lap_time": ideal,
            "curve": {"timesteps": [100.0 * (seed + 1), 200.0 * (seed + 1)],
                      "seconds": [1.0, 2.0], "eval_progress": [10.0 * seed, 50.0]}}  # fmt: skip


RESULTS = [
    result("a", "oval", 0, 3, [10.0, 11.0, 12.0], 1, 5000),
    result("a", "oval", 1, 1, [14.0], 4, -1),
    result("b", "oval", 0, 3, [9.0, 9.0, 9.0], 0, 3000),
    result("b", "oval", 1, 3, [8.0, 9.0, 10.0], 0, 7000),
    result("c", "oval", 0, 0, [], 9, -1),
    result("c", "oval", 1, 0, [], 7, -1),
    result("a", "kidney", 0, 3, [20.0, 20.0, 20.0], 0, 100, ideal=10.0),
]


def test_leaderboard_numbers_and_ranks():
    rows = leaderboard_rows(RESULTS)
    assert [(r["track"], r["reward"], r["rank"]) for r in rows] == [
        ("kidney", "a", 1), ("oval", "b", 1), ("oval", "a", 2), ("oval", "c", 3)]
    kidney, b, a, c = rows
    assert a["completion_pct"] == pytest.approx(100.0 * 4 / 6)
    assert a["mean_lap_s"] == pytest.approx(11.75) and a["best_lap_s"] == 10.0
    assert a["lap_over_ideal"] == pytest.approx(11.75 / 5.0)
    assert a["off_track_per_run"] == 2.5
    assert a["lapped_in_training"] == "1/2" and a["steps_to_first_lap"] == 5000
    assert b["completion_pct"] == 100.0 and b["steps_to_first_lap"] == 5000  # median 3000, 7000
    assert c["completion_pct"] == 0.0 and math.isnan(c["mean_lap_s"])
    assert c["lapped_in_training"] == "0/2" and math.isnan(c["steps_to_first_lap"])
    assert kidney["lap_over_ideal"] == pytest.approx(2.0)


def test_leaderboard_files(tmp_path):
    board, board_csv, runs_csv, curves = write_leaderboard(RESULTS, tmp_path)
    text = board.read_text()
    assert text.startswith("Each run: 1 min of training") and "(3 laps," in text
    assert "| 1 | oval | `b` | 2 | 100 % | 9.00 | 8.00 | 5.00 | 1.80 | 0.0 | 2/2 | 5,000 |" in text
    assert "| 3 | oval | `c` | 2 | 0 % | - | - |" in text
    lines = board_csv.read_text().splitlines()
    assert lines[0].startswith("rank,track,reward,seeds,completion_pct") and len(lines) == 5
    assert "a__oval__seed0,a,oval,0,3,3,10.000 11.000 12.000" in runs_csv.read_text()
    assert curves.stat().st_size > 10_000


def test_seed_band_resamples_on_the_shortest_run():
    grid, mean, low, high = seed_band([(np.array([0.0, 10.0]), np.array([0.0, 100.0])),
                                       (np.array([0.0, 5.0, 20.0]), np.array([0.0, 0.0, 40.0]))],
                                      points=3)  # fmt: skip
    np.testing.assert_allclose(grid, [0.0, 5.0, 10.0])
    at_10 = 40.0 * 5.0 / 15.0  # the second run between (5, 0) and (20, 40)
    np.testing.assert_allclose(mean, [0.0, 25.0, (100.0 + at_10) / 2])
    np.testing.assert_allclose(low, [0.0, 0.0, at_10])
    np.testing.assert_allclose(high, [0.0, 50.0, 100.0])


def check_bench_folder(out, results, keys):
    assert sorted(r["key"] for r in results) == sorted(keys)
    for r in results:
        assert r["timesteps"] > 0 and r["ideal_lap_time"] > 0
        assert len(r["curve"]["timesteps"]) >= 1
        assert (out / "results" / f"{r['key']}.json").exists()
    assert (out / "leaderboard.md").exists() and (out / "learning_curves.png").exists()


def test_a_local_bench_runs_and_resumes(tmp_path):
    out = tmp_path / "bench"
    plan = BenchPlan(("follow_center_line", "progress_speed"), ("oval",), (0,), **TINY)
    said = []
    first = run_bench(plan, out, jobs=2, say=said.append)
    keys = ["follow_center_line__oval__seed0", "progress_speed__oval__seed0"]
    check_bench_folder(out, first.results, keys)
    assert first.ran == 2 and first.skipped == 0
    assert (out / "runs" / "progress_speed" / "oval" / "seed0" / "train" / "logs"
            / "progress.csv").exists()  # fmt: skip
    # Interrupted after one run: the finished one is skipped, the other starts again.
    (out / "results" / "progress_speed__oval__seed0.json").unlink()
    kept = json.loads((out / "results" / "follow_center_line__oval__seed0.json").read_text())
    second = run_bench(plan, out, say=said.append)
    assert second.ran == 1 and second.skipped == 1
    assert second.results[0] == kept
    assert any("1 of 2 runs already finished" in line for line in said)
    # The same folder with other settings is refused.
    with pytest.raises(ConfigError, match="budget_minutes"):
        run_bench(BenchPlan(plan.rewards, plan.tracks, plan.seeds, 5.0, 1, 2), out)


def test_a_failing_run_names_its_log_and_keeps_the_others(tmp_path):
    crash = tmp_path / "crash_later.py"
    crash.write_text("calls = 0\n\ndef reward_function(params):\n    global calls\n"
                     "    calls += 1\n    if calls > 40:\n        raise ValueError('boom')\n"
                     "    return 1.0\n")  # fmt: skip
    out = tmp_path / "bench"
    plan = BenchPlan(("follow_center_line", str(crash)), ("oval",), (0,), **TINY)
    with pytest.raises(RacerError, match=r"crash_later__oval__seed0 failed .*bench\.log"):
        run_bench(plan, out, say=lambda _: None)
    assert (out / "results" / "follow_center_line__oval__seed0.json").exists()
    log = out / "runs" / "crash_later" / "oval" / "seed0" / "bench.log"
    assert "boom" in log.read_text()


def test_the_cli_bench(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", "follow_center_line", "--tracks", "oval", "--seeds", "1",
                 "--budget", "1.2s", "--laps", "1", "--envs", "2", "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "leaderboard" in printed and "| 1 | oval | `follow_center_line` |" in printed


@pytest.mark.slow  # real training, 11-15 s: run with -m slow
def test_a_bench_on_a_local_ray_instance(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "bench"
        plan = BenchPlan(("follow_center_line", "progress_speed"), ("oval",), (0,), **TINY)
        said = []
        result = run_bench(plan, out, backend="ray", say=said.append)
        check_bench_folder(out, result.results, ["follow_center_line__oval__seed0",
                                                 "progress_speed__oval__seed0"])  # fmt: skip
        assert any("Ray tasks submitted" in line for line in said)
        shutil.rmtree(out / "runs")  # the results are gathered: the leaderboard needs no run
        again = run_bench(plan, out, backend="ray", say=said.append)
        assert again.ran == 0 and again.skipped == 2
    finally:
        ray.shutdown()


@pytest.mark.slow  # real training, 11-15 s: run with -m slow
def test_a_bench_of_another_race_type_trains_and_evaluates_in_it(tmp_path):
    out = tmp_path / "bench"
    plan = BenchPlan(("object_avoidance",), ("oval",), (0,), **TINY, obstacles=2, bots=1)
    result = run_bench(plan, out, say=lambda _: None)
    (r,) = result.results
    assert (r["obstacles"], r["randomize_obstacles"], r["bots"]) == (2, False, 1)
    saved = tomllib.loads((Path(r["run_dir"]) / "racer.toml").read_text())["env"]
    assert saved["obstacles"]["count"] == 2 and saved["bots"]["count"] == 1
    assert "(2 boxes and 1 bot car)" in result.leaderboard.read_text()
    with pytest.raises(ConfigError, match="bots"):
        run_bench(BenchPlan(plan.rewards, plan.tracks, plan.seeds, **TINY, obstacles=2), out)


def test_a_bench_folder_from_before_the_race_types_still_resumes(tmp_path):
    plan = BenchPlan(("follow_center_line",), ("oval",), (0,), **TINY)
    tmp_path.joinpath("bench.json").write_text(json.dumps(
        {k: v for k, v in json.loads(json.dumps(asdict(plan))).items()
         if k not in ("obstacles", "randomize_obstacles", "bots")}))  # fmt: skip
    _check_plan_file(tmp_path, plan)  # the missing settings are their defaults: same plan
    with pytest.raises(ConfigError, match="obstacles"):
        _check_plan_file(tmp_path, BenchPlan(plan.rewards, plan.tracks, plan.seeds, **TINY,
                                             obstacles=1))  # fmt: skip


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("import_stuck_in_c", "did not finish importing within 20.5 s"),
        ("exits_3", "ended its worker process (it exited with code 3"),
    ],
)
def test_an_import_that_hangs_or_exits_fails_the_bench_before_any_run(tmp_path, name, fragment):
    """``racer bench`` as a command, bounded in time: the load check imports in a worker."""
    path = Path(__file__).resolve().parents[1] / "data/reward_functions/broken" / f"{name}.py"
    if name == "exits_3":
        path = tmp_path / "exits_3.py"
        path.write_text("import os\n\nos._exit(3)\n\ndef reward_function(params):\n"
                        "    return 1.0\n")  # fmt: skip
    out = tmp_path / "bench"
    run = subprocess.run([sys.executable, "-m", "racer.cli", "bench", str(path), "--tracks",
                          "oval", "--seeds", "1", "--budget", "1s", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    err = run.stderr
    assert err.startswith(f"racer: error: reward function {path} {fragment}")
    assert "Traceback" not in err and not out.exists()


@pytest.mark.slow  # real training, about 10 s: run with -m slow
def test_a_race_bench_trains_with_the_race_recipe(tmp_path):
    from racer.env.config import EnvConfig
    from racer.physics.motion import make_motion_model
    from racer.raceline.actions import racing_action_space
    from racer.track import load_track

    out = tmp_path / "bench"
    plan = BenchPlan(("follow_center_line",), ("oval",), (0,), **TINY, race=True)
    result = run_bench(plan, out, say=lambda _: None)
    (r,) = result.results
    assert r["race"] is True
    metadata = json.loads((Path(r["run_dir"]) / "model/model_metadata.json").read_text())
    env = EnvConfig()
    want = racing_action_space(load_track("oval"), make_motion_model(env.motion_model, env.car))
    assert len(metadata["action_space"]) == want.n > 5  # the racing line's, not the default's
    assert "the race recipe: racer train --race" in result.leaderboard.read_text()
    with pytest.raises(ConfigError, match="race"):  # another plan in the same folder
        run_bench(BenchPlan(plan.rewards, plan.tracks, plan.seeds, **TINY), out)


def test_local_jobs_divide_the_cores_among_them():
    from racer.lab.bench import job_threads

    assert [job_threads(j, cores=2) for j in (1, 2, 3)] == [2, 1, 1]
    assert [job_threads(j, cores=8) for j in (1, 2, 4, 16)] == [8, 4, 2, 1]
    assert job_threads(1, cores=64) == 8  # auto_threads' cap
