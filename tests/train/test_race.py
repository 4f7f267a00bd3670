"""racer race: several policies in one world, their logs, standings and errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from racer.cli import main
from racer.env.config import EnvConfig
from racer.errors import ConfigError
from racer.logs.objects import objects_path, read_objects
from racer.logs.simtrace import find_simtraces, read_simtrace
from racer.train.race import race, race_and_log
from racer.train.runs import LoadedPolicy

DATA = Path(__file__).resolve().parents[1] / "data/model_metadata"
LIDAR = str(DATA / "discrete_lidar.json")


class Constant:
    """A policy that always takes one action of racer's default discrete space."""

    def __init__(self, action: int) -> None:
        self.action = action

    def predict(self, observations):
        return np.full(len(observations), self.action, np.int64)


def entry(action: int, env: EnvConfig | None = None, name: str = "p") -> LoadedPolicy:
    return LoadedPolicy(Constant(action), env or EnvConfig(), Path(f"{name}{action}"))


def test_racers_leave_the_track_in_turn_and_rank_by_how_far_they_got():
    # Straight ahead at 1 and 2 m/s with no resets: each drives off at the first bend.
    result, config = race([entry(2), entry(6)], ["slow", "fast"], laps=1, resets=0)
    assert config.racers == 2 and config.episode.evaluation
    slow, fast = result.racers
    assert slow.status == fast.status == "off_track" and slow.laps == fast.laps == 0
    assert [r.name for r in result.standings()] == sorted(
        ["slow", "fast"], key=lambda n: -result.racers[["slow", "fast"].index(n)].progress
    )
    # Every step a car drove is recorded, the last one done, the first a PREPARE step.
    for racer in result.racers:
        assert racer.records[0].info["episode_status"] == "prepare"
        assert racer.records[-1].done and not any(r.done for r in racer.records[:-1])
    # The car that failed first parked while the other drove on.
    first, second = sorted(result.racers, key=lambda r: len(r.records))
    assert len(first.records) < len(second.records)
    assert "| 1 |" in result.table() and "off track" in result.table()


def test_race_logs_hold_each_racer_with_the_others_in_its_object_log(tmp_path):
    logged = race_and_log([entry(2), entry(2, name="q")], out=tmp_path, laps=1, resets=0)
    for seat in (0, 1):
        run = logged.folder / f"seat-{seat}"
        assert (run / "racer.toml").is_file()
        (simtrace,) = find_simtraces(run)["evaluation"]
        trace = read_simtrace(simtrace)
        assert len(trace) == len(logged.result.racers[seat].records)
    # Car 0's object log shows car 1's base_link, 0.14 m behind car 1's params x, y.
    (mine,) = find_simtraces(logged.folder / "seat-0")["evaluation"]
    (theirs,) = find_simtraces(logged.folder / "seat-1")["evaluation"]
    objects = read_objects(objects_path(mine))
    other = read_simtrace(theirs)
    steps = min(len(other), len(objects.poses))
    for t in range(1, steps):
        yaw = math.radians(other["yaw"][t])
        x = other["X"][t] - 0.14 * math.cos(yaw)
        y = other["Y"][t] - 0.14 * math.sin(yaw)
        assert objects.poses[t, 0, 0] == pytest.approx(x, abs=2e-3)
        assert objects.poses[t, 0, 1] == pytest.approx(y, abs=2e-3)
    assert logged.standings.read_text().startswith("# Race on oval")


def test_a_race_needs_two_racers_with_the_same_sensors():
    with pytest.raises(ConfigError, match="at least two racers"):
        race([entry(0)])
    with pytest.raises(ConfigError, match="different sensors"):
        race([entry(0), entry(0, EnvConfig(model_metadata=LIDAR))])


def test_racer_race_reports_bad_models(tmp_path, capsys):
    assert main(["race", str(tmp_path / "missing"), str(tmp_path / "other")]) == 2
    assert "neither a run folder nor an .onnx file" in capsys.readouterr().err


def test_a_race_log_without_its_object_log_replays_with_a_note(tmp_path):
    from racer.track import load_track
    from racer.viewer.source import load_episodes, replay_objects

    logged = race_and_log([entry(2), entry(2, name="q")], out=tmp_path, laps=1, resets=0)
    run = logged.folder / "seat-0"
    episodes = load_episodes(run, evaluation=True)
    assert episodes.all_logged and episodes.objects(0).kinds.tolist() == [2]  # the other racer
    (simtrace,) = find_simtraces(run)["evaluation"]
    objects_path(simtrace).unlink()
    episodes = load_episodes(run, evaluation=True)
    boxes, note = replay_objects(episodes, run, load_track("oval"))
    assert boxes is None and "0-objects.csv is missing" in note


class Box:
    """A continuous policy: always the same [steering, speed] in [-1, 1]."""

    def __init__(self, steering: float, speed: float) -> None:
        self.action = np.array([steering, speed], np.float32)

    def predict(self, observations):
        return np.tile(self.action, (len(observations), 1))


def test_each_racer_drives_its_own_action_space():
    continuous = str(DATA / "continuous_ppo.json")
    fast = LoadedPolicy(Box(0.0, 1.0), EnvConfig(model_metadata=continuous), Path("box"))
    result, _ = race([entry(2), fast], ["discrete", "continuous"], laps=1, resets=0)
    discrete, box = result.racers
    # Racer 0's action 2 of the default space is 1 m/s straight; racer 1's [0, 1] maps to the top
    # of its 1-2 m/s range, straight ahead. The params and logs show each car's own command.
    driven = [r.info["params"] for r in discrete.records[1:]]
    assert {p["speed"] for p in driven} == {1.0} and {p["steering_angle"] for p in driven} == {0.0}
    driven = [r.info["params"] for r in box.records[1:]]
    assert {p["speed"] for p in driven} == {2.0} and {p["steering_angle"] for p in driven} == {0.0}
    assert box.records[1].action == pytest.approx([0.0, 1.0])


def test_racers_must_share_the_car_and_camera():
    from racer.physics.car import CarParams

    other = EnvConfig(car=CarParams(speed_lag=0.0))
    with pytest.raises(ConfigError, match="another camera, step length, car or motion model"):
        race([entry(0), entry(0, other, name="q")])
    with pytest.raises(ConfigError, match="3 names for 2 racers"):
        race([entry(0), entry(1)], ["a", "b", "c"])


def test_an_interrupted_race_says_nothing_was_written(tmp_path, monkeypatch, capsys):
    import racer.train.race as race_module
    import racer.train.runs as runs_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_module, "load_policy", lambda path, checkpoint: entry(2))
    monkeypatch.setattr(race_module, "race", interrupted)
    out = tmp_path / "races"
    assert main(["race", "a", "b", "--out", str(out)]) == 130
    assert "race interrupted" in capsys.readouterr().err and not out.exists()


def test_a_race_runs_no_racers_reward_function_unless_asked(tmp_path):
    marker = tmp_path / "imported"
    shared = tmp_path / "reward_function.py"  # a shared run's file: it must not run by default
    shared.write_text(f"open({str(marker)!r}, 'w').close()\n"
                      "def reward_function(params):\n    return 1.0\n")  # fmt: skip
    env = EnvConfig(reward_function=str(shared), reward_isolation="none")
    result, _ = race([entry(2, env), entry(6, env)], laps=1, resets=0)
    assert not marker.exists()
    assert all(r.reward == 0.0 for racer in result.racers for r in racer.records)
    result, _ = race([entry(2, env), entry(6, env)], laps=1, resets=0, rewards=True)
    assert marker.exists()
    assert any(r.reward == 1.0 for racer in result.racers for r in racer.records)


def test_a_race_scores_in_each_racers_own_worker(tmp_path):
    path = tmp_path / "counter.py"
    path.write_text("n = 0\ndef reward_function(params):\n    global n\n    n += 1\n"
                    "    return float(n)\n")  # fmt: skip
    env = EnvConfig(reward_function=str(path))  # reward_isolation "process", the default
    result, _ = race([entry(2, env), entry(6, env)], laps=1, resets=0, rewards=True)
    for racer in result.racers:  # each racer its own module: 1, 2, 3, ... on its RUN steps
        paid = [r.reward for r in racer.records if r.reward]
        assert paid == [float(i) for i in range(1, len(paid) + 1)] and len(paid) > 5


RACE = """\
import sys
from pathlib import Path
import numpy as np
import racer.train.runs as runs
from racer.cli import main
from racer.env.config import EnvConfig

class Constant:
    def __init__(self, action):
        self.action = action
    def predict(self, observations):
        return np.full(len(observations), self.action, np.int64)

def load_policy(path, checkpoint):
    env = EnvConfig(reward_function=sys.argv[1], reward_timeout=0.2)
    return runs.LoadedPolicy(Constant(2), EnvConfig() if path == "good" else env, Path(path))

runs.load_policy = load_policy
sys.exit(main(["race", "good", "bad", "--rewards", "--laps", "1", "--resets", "0",
               "--out", sys.argv[2]]))
"""


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("stuck_in_c", "could not be stopped at its limit of 0.2 s"),
        ("exits_3", "ended its worker process (it exited with code 3"),
    ],
)
def test_race_rewards_that_hang_or_exit_end_the_race_with_an_error(tmp_path, name, fragment):
    """``racer race --rewards`` as a command, bounded in time: a hang fails the test."""
    path = Path(__file__).resolve().parents[1] / "data/reward_functions/broken/stuck_in_c.py"
    if name == "exits_3":
        path = tmp_path / "exits_3.py"
        path.write_text("import os\n\ndef reward_function(params):\n    os._exit(3)\n")
    out = tmp_path / "races"
    run = subprocess.run([sys.executable, "-c", RACE, str(path), str(out)], capture_output=True,
                         text=True, timeout=120,
                         env=dict(os.environ, TMPDIR=str(tmp_path)))  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    err = run.stderr
    assert err.startswith(f"racer: error: racer bad (seat 1): reward function {path} {fragment}")
    assert "at step" in err and "Traceback" not in err and "nothing was written" in err
    assert not out.exists()
    assert list((tmp_path / "racer-reward-failures").glob(f"reward-failure-{name}-step*.json"))
