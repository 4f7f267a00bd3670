"""Working with finished runs: load a policy, evaluate it with logs, export it, draw its graph.

The commands ``racer evaluate``, ``racer export`` and ``racer plot`` are thin shells over these.
A policy comes from a run folder (its best or last checkpoint, loaded without unpickling anything:
`racer.train.checkpoint`) or from an exported ONNX file (onnxruntime only: no stable-baselines3).
Neither evaluating nor exporting imports the run's reward function unless rewards are asked for
(``evaluate_and_log(rewards=True)``, ``racer evaluate --rewards``): a shared run's
``reward_function.py`` is code from whoever shared it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.config import EnvConfig, load_metadata
from racer.env.core import RacerCore
from racer.env.rollout import StepRecord, rollout
from racer.errors import ConfigError
from racer.logs.metrics import write_evaluation_metrics
from racer.logs.recorder import EpisodeLog, SimtraceRecorder
from racer.logs.run_folder import RunFolder, timestamp
from racer.logs.writers import write_simtrace
from racer.physics.actions import DiscreteActionSpace
from racer.track import load_track
from racer.train.config import load_run_config
from racer.train.evaluate import (
    LapEvaluation,
    Policy,
    SB3Policy,
    evaluate_laps,
    no_reward,
)


@dataclass
class LoadedPolicy:
    """A policy and the environment it was trained for.

    Attributes:
        policy: the batched deterministic policy.
        env: the run's environment config (its track, actions and reward function), or one
            built from the model_metadata.json beside an ONNX file.
        source: the file the policy came from.
        run: the run folder, if the policy came from one.
        model: the SB3 model (None for ONNX).
    """

    policy: Policy
    env: EnvConfig
    source: Path
    run: RunFolder | None = None
    model: Any = None


def run_env_config(run: RunFolder) -> EnvConfig:
    """The environment a run trained in (from its ``racer.toml``).

    It uses the run's own copies of the reward function and model_metadata.json, so a moved run
    folder stays usable (`racer.train.config.load_run_config`).
    """
    return load_run_config(run).env


def load_policy(
    path: str | Path, checkpoint: str = "best", iteration: int | None = None
) -> LoadedPolicy:
    """Load a policy: a run folder, an exported ONNX file or a DeepRacer model's frozen graph.

    Run folders load their SB3 checkpoint; a ``.pb`` runs with OpenVINO
    (`racer.export.deepracer_model`).

    Args:
        path: a run folder, an ``.onnx`` file (its ``model_metadata.json`` must sit beside it,
            as ``racer export`` leaves it), or a ``.pb`` file with its ``model_metadata.json``
            beside it or one folder up, or a DeepRacer model folder of ``model_<n>.pb`` files.
        checkpoint: ``best`` or ``last`` (run folders only).
        iteration: which ``model_<n>.pb`` of a DeepRacer model folder (default: the newest).

    Raises:
        ConfigError: nothing loadable at ``path``.
        CheckpointError: a damaged checkpoint, or one that carries pickled objects.
        ExportError: a broken ONNX file or DeepRacer graph, or OpenVINO missing for a ``.pb``.
    """
    path = Path(path)
    from racer.export.deepracer_model import DeepRacerPolicy, is_deepracer_model

    if is_deepracer_model(path):
        graph = DeepRacerPolicy(path, iteration=iteration)
        return LoadedPolicy(graph, EnvConfig(model_metadata=str(graph.metadata_path)),
                            graph.origin)  # fmt: skip
    if path.suffix == ".onnx":
        from racer.export.runner import OnnxPolicy

        policy = OnnxPolicy(path)
        metadata = path.parent / "model_metadata.json"
        if not metadata.exists():
            raise ConfigError(f"{metadata} is missing: an exported model needs the "
                              "model_metadata.json it was trained with beside it.")  # fmt: skip
        run = RunFolder(path.parent.parent)  # RUN/model/policy.onnx, as racer export leaves it
        if run.config_file.exists():
            return LoadedPolicy(policy, run_env_config(run), path, run)
        return LoadedPolicy(policy, EnvConfig(model_metadata=str(metadata)), path)
    run = RunFolder(path)
    if not path.is_dir():
        raise ConfigError(f"{path} is neither a run folder nor an .onnx file.")
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last, got {checkpoint!r}.")
    file = run.checkpoints / f"{checkpoint}.zip"
    if not file.exists():
        raise ConfigError(f"{path} has no {checkpoint} checkpoint ({file} is missing): train "
                          "first, or give the run folder of a finished run.")  # fmt: skip
    from racer.train.checkpoint import load_checkpoint

    config = load_run_config(run)
    model = load_checkpoint(file, config, device="cpu")
    return LoadedPolicy(SB3Policy(model), config.env, file, run, model)


@dataclass
class EvaluationRun:
    """A logged evaluation: the result, where its simtrace and metrics went, whether rewarded.

    Attributes:
        result: the laps driven.
        simtrace: the evaluation simtrace (None: no folder to write it to).
        metrics: the evaluation metrics JSON (None likewise).
        rewards: whether the steps were scored with the reward function; if not, every
            logged reward is 0.0.
    """

    result: LapEvaluation
    simtrace: Path | None
    metrics: Path | None
    rewards: bool = False


def evaluate_and_log(
    loaded: LoadedPolicy,
    *,
    track: str | None = None,
    reverse: bool | None = None,
    laps: int = 3,
    resets: int = 10_000,
    out: str | Path | None = None,
    rewards: bool = False,
) -> EvaluationRun:
    """``racer evaluate``: drive the laps and write DeepRacer's evaluation simtrace and metrics.

    The logs go to ``evaluation-<timestamp>/`` and ``metrics/evaluation/`` of the run folder
    (or of ``out``), where deepracer-utils finds them.

    Args:
        loaded: the policy and its environment (`load_policy`).
        track: another track (default: the policy's).
        reverse: drive the track backwards (default: as the policy's environment).
        laps: laps to drive.
        resets: off-track resets allowed.
        out: the folder for the logs (default: the policy's run folder; none: no logs).
        rewards: score every step with the environment's reward function (for a run folder its
            ``reward_function.py``, which this imports and runs); False logs rewards of 0.0.
    """
    env = loaded.env
    if track is not None:
        env = replace(env, track=track)
    if reverse is not None:
        env = replace(env, reverse=reverse)
    result = evaluate_laps(env, loaded.policy, laps=laps, resets=resets, record=True,
                           rewards=rewards)  # fmt: skip
    folder = RunFolder(out) if out is not None else loaded.run
    if folder is None:
        return EvaluationRun(result, None, None, rewards)
    stamp = timestamp()
    while folder.evaluation_dir(stamp).exists():  # two evaluations within one second
        stamp = str(int(stamp) + 1)
    episodes = episode_logs(env, result.records)
    simtrace = write_simtrace(with_parent_dir(folder.evaluation_simtrace(stamp)), episodes)
    metrics = write_evaluation_metrics(with_parent_dir(folder.evaluation_metrics(stamp)), episodes)
    return EvaluationRun(result, simtrace, metrics, rewards)


def with_parent_dir(path: Path) -> Path:
    """``path``, its folder created (ConfigError naming it when that fails)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent}: {exc.strerror}.") from None
    return path


def episode_logs(env: EnvConfig, records: list[StepRecord]) -> list[EpisodeLog]:
    """The evaluation simtrace's episodes of one car's recorded steps in ``env``."""
    length = load_track(env.track, deduplicate=env.deduplicate_waypoints).length
    continuous = not isinstance(load_metadata(env).action_space, DiscreteActionSpace)
    recorder = SimtraceRecorder(length, continuous, evaluation=True)
    episodes: list[EpisodeLog] = []
    last = len(records) - 1
    for k, record in enumerate(records):
        done = record.done or k == last  # a run cut off by the step limit still ends its log
        action = np.array([record.action])
        episodes += recorder.record(action, np.array([record.reward]), np.array([done]),
                                    [record.info])  # fmt: skip
    return episodes


def export_run(
    run_dir: str | Path, checkpoint: str = "best", steps: int = 300
) -> tuple[Path, float]:
    """``racer export``: the run's policy as ``model/policy.onnx``, checked in onnxruntime.

    The check compares the ONNX model with the torch policy on the observations (camera frames,
    and lidar readings for a camera-and-lidar model) the policy itself sees while driving the
    run's track; that drive needs no rewards, so the run's reward function is not imported.

    Returns:
        The ONNX file and the largest difference between onnxruntime and torch outputs.
    """
    from racer.export.onnx import check_export, export_onnx

    loaded = load_policy(run_dir, checkpoint)
    run = loaded.run
    assert run is not None
    core = RacerCore(loaded.env, 1, no_reward)
    try:
        seen: list[Any] = []

        def drive(obs: Any, infos: Any) -> Any:
            seen.append(obs)  # (1, H, W, C) uint8 frames, or dicts of them and (1, D) readings
            return loaded.policy.predict(obs)

        for _ in rollout(core, drive, rngs=[np.random.default_rng(0)], max_steps=steps,
                         restart_done=True):  # fmt: skip
            pass  # the driver keeps what the policy saw
        space = core.action_space
    finally:
        core.close()
    if isinstance(seen[0], dict):
        observations: Any = {k: np.concatenate([o[k] for o in seen]) for k in seen[0]}
    else:
        observations = np.concatenate(seen)
    target = run.model / "policy.onnx"
    export_onnx(loaded.model, target, action_space=space)
    difference = check_export(loaded.model, target, observations)
    return target, difference
