"""`racer validate`: the console's checks, the sweep's coverage, the report and the exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from racer.cli import main
from racer.lab.validate import CONSOLE_CARS, MAX_SAVED_FAILURES, validate_reward_function
from racer.reward.console import CONSOLE, ERROR, check_source
from racer.reward.plugin import bundled_reward_functions_dir

BROKEN = Path(__file__).resolve().parents[1] / "data/reward_functions/broken"
CONSOLE_REJECTS = BROKEN.parent / "console"
EXAMPLES = sorted(bundled_reward_functions_dir().glob("*.py"))


@pytest.fixture(autouse=True)
def failures_in_tmp_path(tmp_path, monkeypatch):
    """The system temp folder is tmp_path here: racer validate without --out (and its episodes,
    which do not take failure_dir) saves failing params there, shared with everyone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def write(tmp_path, body, name="reward.py"):
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates_clean_and_draws_a_heat_map(tmp_path, path):
    report = validate_reward_function(path, heatmap=tmp_path / "heatmap.png")
    assert report.ok and report.console_ok, report.format()
    assert [status for _, status, _ in report.episodes] == ["lap_complete", "lap_complete",
                                                             "off_track"]  # fmt: skip
    assert report.heatmap.stat().st_size > 20_000
    assert report.calls > 10_000


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("syntax_error", "syntax error at line 7"),
        ("no_function", "defines no function named reward_function"),
        ("wrong_signature", "exactly one parameter"),
        ("imports_missing", "No module named 'deepracer_helpers_not_installed'"),
        ("raises_sometimes", "raised ZeroDivisionError"),
        ("returns_nan", "returned nan"),
        ("returns_inf", "returned inf"),
        ("returns_none", "returned NoneType None"),
        ("returns_string", "returned str '1.0 reward'"),
        ("returns_huge", "returned 1000000.0, outside the allowed range"),
        ("recursion", "[Previous line repeated"),
        ("infinite_loop", "ran for more than its limit of 0.3 s"),
        ("undefined_name", "NameError: name 'off_track_penalty' is not defined"),
    ],
)
def test_each_broken_function_fails_with_a_clear_message(tmp_path, capsys, name, fragment):
    path = BROKEN / f"{name}.py"
    status = main(["validate", str(path), "--out", str(tmp_path / "map.png"), "--timeout", "0.3"])
    out = capsys.readouterr().out
    assert status == 1
    assert fragment in out and str(path) in out and "result: FAIL" in out


def test_a_failure_names_the_line_and_saves_params_that_replay(tmp_path, capsys):
    path = BROKEN / "raises_sometimes.py"
    report = validate_reward_function(path, failure_dir=tmp_path, episodes=False)
    (failure,) = report.failures.values()
    assert "line 8, in reward_function" in failure.message
    assert failure.params_file.parent == tmp_path and failure.count > 100
    assert main(["validate", str(path), "--params", str(failure.params_file)]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert main(["validate", "follow_center_line", "--params", str(failure.params_file)]) == 0
    assert "returned 1.0 (float)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "condition, case",
    [
        ("p['progress'] == 100 and type(p['progress']) is int", "lap wrap-around"),
        ("p['closest_waypoints'][1] == len(p['waypoints']) - 1", "sweep"),
        ("p['is_reversed'] and not p['all_wheels_on_track']", "reversed"),
        ("p['is_offtrack']", ""),
        ("p['speed'] == 2.0 and p['steering_angle'] == -15.0", "sweep"),
        (
            "abs(p['heading']) > 150 and p['distance_from_center'] > 0.6 * p['track_width']",
            "",
        ),
        ("p['steps'] > 1500", "sweep"),
    ],
)
def test_the_sweep_reaches_every_corner_of_params_space(tmp_path, condition, case):
    body = f"def reward_function(p):\n    if {condition}:\n        raise ValueError('reached')\n" \
           "    return 1.0\n"  # fmt: skip
    report = validate_reward_function(write(tmp_path, body), episodes=False, failure_dir=tmp_path)
    assert not report.ok
    (failure,) = report.failures.values()
    assert "reached" in failure.problem
    assert any(case in reached for reached in failure.cases), failure.cases


def test_episodes_catch_what_only_real_sequences_show(tmp_path):
    body = "run = [0.0, 0]\ndef reward_function(p):\n" \
           "    run[1] = run[1] + 1 if p['steps'] == run[0] + 1 else 0\n" \
           "    run[0] = p['steps']\n    if run[1] > 250:\n" \
           "        raise ValueError('250 consecutive steps')\n    return 1.0\n"  # fmt: skip
    report = validate_reward_function(write(tmp_path, body), failure_dir=tmp_path)
    (failure,) = report.failures.values()
    assert failure.case == "lap, step 253" and set(failure.cases) == {"lap", "lap, reversed"}
    assert '"steps": 253.0' in failure.params_file.read_text()


def test_console_only_findings_pass_racer_but_not_the_console(tmp_path, capsys):
    body = "import os\n\n\ndef reward_function(params):\n    payload = 1\n    return payload\n"
    path = write(tmp_path, body)
    report = validate_reward_function(path, episodes=False)
    assert report.ok and not report.console_ok
    text = report.format()
    assert "imports 'os'" in text and "'payload' contains 'load'" in text
    assert "the console wants float(reward)" in text  # an int return
    assert main(["validate", str(path)]) == 1  # the console would reject it: a failure
    assert "FAIL: the DeepRacer console would reject it" in capsys.readouterr().out
    assert main(["validate", str(path), "--console"]) == 1
    assert main(["validate", str(path), "--lenient"]) == 0
    assert "OK (--lenient)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "body, severity, fragment",
    [
        ("def reward_function(p):\n    return float(undefined)\n", ERROR, "undefined name"),
        ("def reward_function(p):\n    x = 1\n    return 1.0\n", CONSOLE, "never used"),
        ("import time\ndef reward_function(p):\n    return 1.0\n", CONSOLE, "imports 'time'"),
        ("def reward_function(p):\n    open('x')\n    return 1.0\n", CONSOLE, "calls open()"),
        ("import numpy as np\ndef reward_function(p):\n    np.save('x', 1)\n    return 1.0\n",
         CONSOLE, "contains 'save'"),
        ("def reward_function(p, q=1):\n    return 1.0\n", CONSOLE, "exactly one parameter"),
        ("def reward_function(p, q):\n    return 1.0\n", ERROR, "exactly one parameter"),
        ("def reward(p):\n    return 1.0\n", ERROR, "no top-level function"),
        ("def reward_function(p):\n    return 1.0\n" + "#" * 140_001 + "\n", CONSOLE, "140,000"),
    ],
)  # fmt: skip
def test_static_console_checks(tmp_path, body, severity, fragment):
    findings = check_source(write(tmp_path, body))
    assert any(f.severity == severity and fragment in f.message for f in findings), findings


def test_clean_source_has_no_findings():
    for path in EXAMPLES:
        assert check_source(path) == [], path


DEF = "def reward_function(params):\n"


@pytest.mark.parametrize(
    "body, code, line",
    [
        (DEF + "    if params == None:\n        return 0.0\n    return 1.0\n", "E711", 2),
        (DEF + "    try:\n        return float(params['x'])\n    except:\n        return 0.0\n",
         "E722", 4),
        (DEF + "    f = lambda v: v\n    return float(f(1))\n", "E731", 2),
        (DEF + "    l = 1.0\n    return l\n", "E741", 2),
        (DEF + "  return 1.0\n", "E111", 2),
        ("import math\ndef reward_function(params):\n    return math.pi\n", "E302", 2),
        # The console's --ignore replaces flake8's default extend-ignore, so E704 counts.
        ("def reward_function(params): return 1.0\n", "E704", 1),
        # A noqa comment naming another code does not hide it (flake8's rule, not pycodestyle's).
        (DEF + "    if params == None:  # noqa: F401\n        return 0.0\n    return 1.0\n",
         "E711", 2),
    ],
)  # fmt: skip
def test_pycodestyle_e_checks_the_console_runs(tmp_path, body, code, line):
    # DeepRacer on AWS runs flake8 --select=E,F --ignore=E5,E226,E261 (SPEC 1.1).
    findings = check_source(write(tmp_path, body))
    assert [(f.severity, f.line, f.message.split()[0]) for f in findings] == [
        (CONSOLE, line, code)], findings  # fmt: skip
    assert "(flake8 E-check)" in findings[0].message


@pytest.mark.parametrize(
    "body",
    [
        DEF + "    return float(" + " + ".join(["params['speed']"] * 5) + ")\n",  # 105 characters
        DEF + "    a = 1+2\n    return float(a)\n",  # E226
        DEF + "    x = 1.0 # c\n    return x\n",  # E261
        DEF + "    if params == None:  # noqa: E711\n        return 0.0\n    return 1.0\n",
        DEF + "    if params == None:  # noqa\n        return 0.0\n    return 1.0\n",
        "# flake8: noqa\n" + DEF + "  return 1.0\n",
        'import math\n\n\ndef reward_function(params):\n    """Clean."""\n    return math.pi\n',
    ],
    ids=["E501", "E226", "E261", "noqa-code", "noqa", "file-noqa", "clean"],
)
def test_e_checks_the_console_ignores_give_no_finding(tmp_path, body):
    assert check_source(write(tmp_path, body)) == []


def test_bad_track_or_missing_file_exit_2_or_1(tmp_path, capsys):
    assert main(["validate", "follow_center_line", "--track", "no_such_track"]) == 2
    assert "unknown track" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.py")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_the_other_race_types_are_checked_with_their_objects(tmp_path, capsys):
    # A function that only fails once objects exist fails a time-trial check only at the
    # console's cars (they carry six objects, as the console's do), and fails in object
    # avoidance (the sweep's cars see the boxes) and in head-to-bot (the episodes).
    reward = tmp_path / "no_objects.py"
    reward.write_text("def reward_function(params):\n    if params['objects_location']:\n"
                      "        raise ValueError('cannot handle objects')\n    return 1.0\n")
    trial = validate_reward_function(reward, failure_dir=tmp_path)
    assert {case for f in trial.failures.values() for case in f.cases} == {
        f"DeepRacer console's {car} car" for car in CONSOLE_CARS}
    assert main(["validate", str(reward), "--obstacles", "2"]) == 1
    assert "sweep, forward" in capsys.readouterr().out
    from racer.objects.bots import BotConfig

    report = validate_reward_function(reward, bots=BotConfig(count=2), failure_dir=tmp_path)
    assert not report.ok and all(case.startswith(("lap", "off-track", "DeepRacer console's"))
                                 for f in report.failures.values() for case in f.cases)
    assert main(["validate", "object_avoidance", "--obstacles", "3", "--bots", "2"]) == 0


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("returns_bool", "car got no float"),  # DeepRacer's float() makes it 1.0
        ("runs_a_shell_command", "imports 'os'"),
    ],
)
def test_what_only_the_console_rejects_fails_by_default(tmp_path, capsys, name, fragment):
    path = CONSOLE_REJECTS / f"{name}.py"
    assert main(["validate", str(path), "--out", str(tmp_path / "map.png")]) == 1
    out = capsys.readouterr().out
    assert fragment in out and "[console would reject]" in out and "ERRORS" not in out
    assert "--lenient accepts that" in out  # racer itself would run it


def _validate_in_a_subprocess(tmp_path, path, *options):
    """`racer validate` as a command, bounded in time: a hang fails the test, not the suite."""
    run = subprocess.run(
        [sys.executable, "-m", "racer.cli", "validate", str(path), "--out",
         str(tmp_path / "map.png"), "--timeout", "0.3", *options],
        capture_output=True, text=True, timeout=90, env=dict(os.environ, TMPDIR=str(tmp_path)),
    )  # fmt: skip
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize(
    "name, fragment, options",
    [
        ("stuck_in_c", "could not be stopped at its limit of 0.3 s", ()),
        ("catches_timeout", "could not be stopped at its limit of 0.3 s", ()),
        ("disarms_timer", "could not be stopped at its limit of 0.3 s", ()),
        ("exits_process", "ended its worker process (it exited with code 0", ()),
        ("segfaults", "ended its worker process (it crashed with SIGSEGV", ()),
        ("leaks_memory", "ran out of memory (MemoryError: past the worker's 0.5 GB memory_limit)",
         ("--memory-limit", "0.5")),
    ],
)  # fmt: skip
def test_what_the_in_process_guard_cannot_stop_fails_with_a_message(tmp_path, name, fragment,
                                                                    options):  # fmt: skip
    path = BROKEN / f"{name}.py"
    status, out = _validate_in_a_subprocess(tmp_path, path, *options)
    assert status == 1, out
    assert fragment in out and "at step" in out and str(path) in out and "result: FAIL" in out
    assert "stopped early" in out  # one fatal failure ends the calls
    assert list((tmp_path / "validate-failures").glob(f"reward-failure-{name}-*.json"))


def test_the_sandbox_is_reported(tmp_path):
    report = validate_reward_function("follow_center_line", episodes=False, sandbox=True)
    assert report.ok and report.sandbox
    text = report.format()
    assert "sandbox" in text and all(note in text for note in report.sandbox_missing)


def test_an_import_stuck_in_c_code_is_stopped_too(tmp_path):
    path = BROKEN / "import_stuck_in_c.py"
    status, out = _validate_in_a_subprocess(tmp_path, path, "--timeout", "0.1")
    assert status == 1, out
    assert "did not finish importing within 2.5 s" in out and "cannot load" in out
    assert f'File "{path}", line 3 in <module>' in out


def test_failure_params_are_few_and_in_a_folder_of_this_validation(tmp_path, capsys):
    """Thousands of distinct failures save at most MAX_SAVED_FAILURES files, never in the shared
    ``racer-reward-failures`` temp folder: under --out's folder, else a fresh folder per run."""
    path = write(tmp_path, "def reward_function(params):\n"
                           "    raise ValueError('bad x %.9f' % params['x'])\n")  # fmt: skip
    first = validate_reward_function(path, episodes=False)
    second = validate_reward_function(path, episodes=False)
    assert len(first.failures) > 100 and first.failure_dir != second.failure_dir
    for report in (first, second):
        assert report.failure_dir.parent == tmp_path  # tempfile.tempdir is tmp_path here
        assert report.failure_dir.name.startswith("racer-validate-")
        assert len(list(report.failure_dir.iterdir())) == MAX_SAVED_FAILURES
        assert str(report.failure_dir) in report.format()
    assert not (tmp_path / "racer-reward-failures").exists()
    assert main(["validate", str(path), "--out", str(tmp_path / "out/map.png")]) == 1
    assert f"are saved in {tmp_path / 'out/validate-failures'}" in capsys.readouterr().out
    assert len(list((tmp_path / "out/validate-failures").iterdir())) == MAX_SAVED_FAILURES


def test_the_console_cars_carry_six_objects_as_the_consoles_do(tmp_path):
    """An object-avoidance function that indexes objects_location[5] passes the console cars."""
    body = ("def reward_function(params):\n    x, y = params['objects_location'][5]\n"
            "    ok = len(params['objects_distance']) == 6 and params['closest_objects'] != [0, 0]"
            "\n    return float(ok)\n")  # fmt: skip
    report = validate_reward_function(write(tmp_path, body), failure_dir=tmp_path,
                                       episodes=False)  # fmt: skip
    assert report.console_cars == [(car, "float 1") for car in CONSOLE_CARS], report.format()
    assert not any("console" in f.case for f in report.failures.values())
