"""The autopilot completes a lap on every bundled track and every closed DeepRacer track, both ways.

This is the behavioural test of the whole core: tracks, car, params timing and episode rules
together. The sweep takes ~15 s, so it runs in the default suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from racer.env.config import EnvConfig
from racer.env.racer_env import RacerEnv
from racer.track import bundled_tracks_dir, load_track
from tests.conftest import shared_track_paths
from tests.env.follower import drive_lap

CONTINUOUS = str(Path(__file__).resolve().parents[1] / "data/model_metadata/continuous_ppo.json")
CLOSED_TRACKS = [p for p in sorted(bundled_tracks_dir().glob("*.npy")) + shared_track_paths()
                 if load_track(p).closed]  # fmt: skip


@pytest.mark.parametrize("path", CLOSED_TRACKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reversed"])
def test_autopilot_completes_a_lap(path, reverse):
    env = RacerEnv(EnvConfig(track=str(path), reverse=reverse, model_metadata=CONTINUOUS))
    status, infos = drive_lap(env)
    assert status == "lap_complete", (path.stem, reverse, infos[-1]["params"]["progress"])


def test_autopilot_reaches_the_end_of_open_tracks():
    for path in [p for p in sorted(bundled_tracks_dir().glob("*.npy")) + shared_track_paths()
                 if not load_track(p).closed]:  # fmt: skip
        env = RacerEnv(EnvConfig(track=str(path), model_metadata=CONTINUOUS))
        status, infos = drive_lap(env)
        # An open line ends where the road ends: the car runs off its far end after ~all of it.
        assert infos[-2]["params"]["progress"] > 95.0, path.stem
