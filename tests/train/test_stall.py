"""Training that stops finishing episodes is reported, with the replay command and the option."""

from __future__ import annotations

import numpy as np

from racer.env.autopilot import Autopilot
from racer.env.config import EnvConfig
from racer.env.vec_env import RacerVecEnv
from racer.logs.recorder import SimtraceRecorder
from racer.logs.run_folder import RunFolder
from racer.logs.simtrace import read_simtrace
from racer.train.stall import RUNNING_EPISODE, StallWatch


def test_a_long_running_episode_is_reported_once_with_its_replay(tmp_path):
    folder = RunFolder(tmp_path / "run").create()
    env = RacerVecEnv(EnvConfig(track="oval"), num_envs=2, seed=0)
    autopilot = Autopilot(env.core.tracks, env.core.action_space, model=env.core.model)
    recorder = SimtraceRecorder(env.core.tracks[0].length, continuous=False)
    watch = StallWatch(folder, "oval", limit_steps=20, dt=env.config.dt, max_episode_steps=100_000)
    env.reset()
    params = None
    warnings = []
    for step in range(30):
        actions = np.zeros(2, dtype=np.int64)
        if params is not None:
            actions[:] = [autopilot.act(p) for p in params]
        _, rewards, dones, infos = env.step(actions)
        params = [info["params"] for info in infos]
        assert not recorder.record(actions, rewards, dones, infos)  # nobody finishes
        seconds, warning = watch.check(recorder)
        assert seconds == (step + 1) * env.config.dt
        warnings.append(warning)
    env.close()
    said = [w for w in warnings if w]
    assert len(said) == 1 and warnings.index(said[0]) == 20  # past 20 steps, once
    path = folder.logs / RUNNING_EPISODE
    assert f"racer replay {path} --track oval" in said[0]
    assert "--max-episode-steps" in said[0] and "100,000 steps" in said[0]
    trace = read_simtrace(path)
    assert len(trace) == 21  # the episode so far, from its PREPARE row
    assert recorder.pending_rows == 60  # the recorder itself is unchanged
