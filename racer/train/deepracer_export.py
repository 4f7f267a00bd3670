"""``racer export RUN --format deepracer``: a run's policy as DeepRacer's model.pb and car archive.

The run's checkpoint is loaded without unpickling anything (`racer.train.checkpoint`), written by
`racer.export.deepracer_export.export_deepracer_model` into ``RUN/model/deepracer/``
(``model.pb``, ``model_metadata.json``, ``model.tar.gz``), and checked the way the car runs it:
the archive in OpenVINO against the torch policy, on the camera frames the policy itself sees
while driving the run's track (that drive needs no rewards, so the run's reward function is not
imported). This lives in `racer.train` because loading a run's checkpoint does; the export
itself needs only the model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.core import RacerCore
from racer.env.rollout import rollout
from racer.export.deepracer_export import (
    DeepRacerExport,
    check_deepracer_export,
    export_deepracer_model,
)
from racer.train.evaluate import no_reward
from racer.train.runs import LoadedPolicy, load_policy

DEFAULT_STEPS = 300
"""Steps of the check's drive: one camera frame each."""


def export_deepracer(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    checkpoint: str = "best",
    steps: int = DEFAULT_STEPS,
) -> DeepRacerExport:
    """Export a run's policy for DeepRacer and check it in OpenVINO against torch.

    Args:
        run_dir: the run folder.
        out_dir: where to write; default ``RUN/model/deepracer/``.
        checkpoint: ``best`` or ``last``.
        steps: frames to compare on, from the policy's own drive on the run's track (>= 1).

    Returns:
        The files written and the check (``export.check``, printed by
        ``export.check.summary()``).

    Raises:
        ConfigError: not a run folder, or no such checkpoint.
        CheckpointError: a damaged checkpoint, or one that carries pickled objects.
        ExportError: a network the export does not translate, OpenVINO missing,
            or an export that differs from the torch policy.
    """
    loaded = load_policy(run_dir, checkpoint)
    run = loaded.run
    assert run is not None  # load_policy gives a run for a run folder
    target = Path(out_dir) if out_dir is not None else run.model / "deepracer"
    export = export_deepracer_model(loaded.model, target, run.model_metadata,
                                    source=f"the run {run.root}")  # fmt: skip
    check = check_deepracer_export(loaded.model, export, drive_frames(loaded, max(steps, 1)))
    return replace(export, check=check)


def drive_frames(loaded: LoadedPolicy, steps: int) -> Any:
    """What one car sees, driven by the policy on its track, ``steps`` observations.

    (steps, H, W, C) uint8 camera frames, or for a model with a lidar the env's dict of those
    and the (steps, D) lidar. The car restarts when an episode ends, with seed 0, so the
    observations are the same every time.
    """
    core = RacerCore(loaded.env, 1, no_reward)
    seen: list[Any] = []
    try:

        def drive(obs: Any, infos: Any) -> Any:
            seen.append(obs)  # (1, H, W, C) uint8
            return loaded.policy.predict(obs)

        for _ in rollout(core, drive, rngs=[np.random.default_rng(0)], max_steps=steps,
                         restart_done=True):  # fmt: skip
            pass  # the driver keeps what the policy saw
    finally:
        core.close()
    if isinstance(seen[0], dict):
        return {key: np.concatenate([obs[key] for obs in seen]) for key in seen[0]}
    return np.concatenate(seen)
