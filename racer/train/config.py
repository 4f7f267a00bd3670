"""A training run's configuration: the environment plus everything about the learning."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

from racer.config import from_dict, to_dict
from racer.env.config import EnvConfig
from racer.errors import ConfigError
from racer.formats.best_model import BEST_MODEL_METRICS
from racer.logs.run_folder import RunFolder


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved as ``racer.toml`` in the run folder).

    Attributes:
        env: the training environment (track, reward function, model_metadata.json, rules).
        hyperparameters: path of a DeepRacer ``hyperparameters.json``; empty for racer's
            defaults (see `racer.train.hyperparameters.RACER_DEFAULTS`).
        network: the network preset; empty for the one model_metadata.json names, except that
            racer's fast preset replaces DeepRacer's default (shallow) unless
            ``deepracer_network`` is set.
        deepracer_network: keep model_metadata.json's network even when it is the default.
        num_envs: cars simulated in parallel (one process).
        seed: seeds the cars, the network initialisation and the sampling.
        update_every: "steps": a PPO update after ``steps_per_car`` steps of every car (racer's
            default, measured faster); "episodes": after ``num_episodes_between_training``
            finished episodes, as DeepRacer. The logs are in DeepRacer's iterations either way.
        steps_per_car: steps of every car per update with ``update_every="steps"``.
        minutes: [min] wall-clock budget (0: none); the run stops after the iteration in
            flight.
        max_updates: stop after this many PPO updates (0: no limit).
        eval_episodes: evaluation episodes after each iteration (DeepRacer's MIN_EVAL_TRIALS).
        lap_check_every: every this many iterations, a full evaluation (3 laps from the line,
            with resets, as ``racer evaluate``); 0 never.
        stop_when_lapping: stop once a lap check completes all its laps.
        torch_threads: threads for torch's update; 0 (the default): `auto_threads`.
        numba_threads: threads for the camera kernel; 0 (the default): `auto_threads`.
        device: torch device of the updates: "auto" (a GPU when torch sees one, else the CPU),
            "cpu", "cuda", "cuda:1", "mps".
        keep_checkpoints: how many per-iteration checkpoints to keep besides last and best.
        race: racer's race recipe (``racer train --race``): the action space is made from the
            track's racing line and the car (`racer.raceline.actions.racing_action_space`),
            replacing model_metadata.json's; with ``racer train --race`` the reward is the
            bundled ``lap_time`` unless ``--reward`` names another.
        best_model_metric: which update's checkpoint is the best model (``checkpoints/best.zip``,
            what ``racer evaluate`` and ``racer export`` use, the reward graph's line): "laptime"
            (racer's default: the fastest mean lap over the evaluation's episodes, an unfinished
            lap counting 999.999 s, so only an evaluation that completes more laps beats a
            faster one), or DeepRacer's "progress" (its default) or "reward"; ties go to the
            later update.
    """

    env: EnvConfig = field(default_factory=EnvConfig)
    hyperparameters: str = ""
    network: str = ""
    deepracer_network: bool = False
    num_envs: int = 16
    seed: int = 0
    update_every: str = "steps"
    steps_per_car: int = 256
    minutes: float = 10.0
    max_updates: int = 0
    eval_episodes: int = 5
    lap_check_every: int = 5
    stop_when_lapping: bool = False
    torch_threads: int = 0
    numba_threads: int = 0
    device: str = "auto"
    keep_checkpoints: int = 3
    best_model_metric: str = "laptime"
    race: bool = False

    def __post_init__(self) -> None:
        if self.num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {self.num_envs}.")
        if self.minutes < 0 or self.max_updates < 0:
            raise ConfigError("minutes and max_updates must be >= 0.")
        if self.update_every not in ("steps", "episodes"):
            raise ConfigError(f"update_every must be steps or episodes, got {self.update_every!r}.")
        if self.best_model_metric not in BEST_MODEL_METRICS:
            raise ConfigError(f"best_model_metric must be one of {', '.join(BEST_MODEL_METRICS)}, "
                              f"got {self.best_model_metric!r}.")  # fmt: skip
        if self.steps_per_car < 1:
            raise ConfigError(f"steps_per_car must be >= 1, got {self.steps_per_car}.")
        if self.eval_episodes < 1:
            raise ConfigError(f"eval_episodes must be >= 1, got {self.eval_episodes}.")
        if min(self.lap_check_every, self.keep_checkpoints, self.torch_threads,
               self.numba_threads) < 0:  # fmt: skip
            raise ConfigError("lap_check_every, keep_checkpoints and the thread counts must be "
                              ">= 0.")  # fmt: skip


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The tables of ``racer.toml``: ``train`` (every field but env) and ``env``."""
    return {"train": {k: v for k, v in to_dict(config).items() if k != "env"},
            "env": to_dict(config.env)}  # fmt: skip


def config_from_dict(data: dict[str, Any], source: str) -> TrainConfig:
    """A TrainConfig from ``racer.toml``'s tables (`config_to_dict`); errors name ``source``."""
    env = from_dict(EnvConfig, data.get("env", {}), source)
    return replace(from_dict(TrainConfig, data.get("train", {}), source), env=env)


def load_run_config(folder: RunFolder, *, own_copies: bool = True) -> TrainConfig:
    """The configuration a run folder's ``racer.toml`` records.

    Args:
        folder: the run folder.
        own_copies: point the environment at the run's own copies of the reward function and
            model_metadata.json, as DeepRacer uses the uploaded files (a moved run folder stays
            usable), with no reward log or failure folder; False keeps the paths the run was
            started with.

    Raises:
        ConfigError: ``racer.toml`` is missing, unreadable or invalid.
    """
    path = folder.config_file
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder.root} is not a racer run: {path} is missing.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}.") from None
    config = config_from_dict(data, str(path))
    if not own_copies:
        return config
    env = replace(config.env, reward_function=str(folder.reward_function), reward_log="",
                  failure_dir="", model_metadata=str(folder.model_metadata))  # fmt: skip
    return replace(config, env=env)


def with_overrides(config: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """``config`` with some fields replaced, checked as if read from ``racer.toml``.

    Args:
        config: the base configuration.
        overrides: ``"table.field"`` of racer.toml (``"env.track"``, ``"train.num_envs"``) to
            the new value; a dataclass value (``env.obstacles``) replaces the whole sub-table.
        source: what errors name (the flags, or the file).

    Raises:
        ConfigError: an unknown field or a value of the wrong type.
    """
    data = config_to_dict(config)
    for path, value in overrides.items():
        *tables, key = path.split(".")
        table = data
        for name in tables:  # "env.episode.max_episode_steps": racer.toml's [env.episode]
            table = table.get(name) if isinstance(table, dict) else None
        if not tables or not isinstance(table, dict) or key not in table:
            raise ConfigError(f"{source}: {path!r} is not a field of racer.toml's [train] or "
                              "[env].")  # fmt: skip
        table[key] = to_dict(value) if is_dataclass(value) else value
    return config_from_dict(data, source)


def load_config(path: str | Path) -> TrainConfig:
    """The configuration of ``racer train --config``: a run's racer.toml, or one of your own.

    A ``racer.toml`` inside a run folder (or the folder itself) reproduces that run: it trains
    with the run's own copies of the reward function, model_metadata.json and
    hyperparameters.json, as they were when it started, wherever the originals are now.

    Raises:
        ConfigError: a missing or unreadable file, or an invalid configuration.
    """
    path = Path(path)
    if path.is_dir():
        path = RunFolder(path).config_file
    folder = RunFolder(path.parent)
    if path.name == folder.config_file.name and folder.reward_function.exists():
        config = load_run_config(folder)
        if folder.hyperparameters.exists():
            config = replace(config, hyperparameters=str(folder.hyperparameters))
        env = replace(config.env, reward_log="", failure_dir="")
        if not folder.model_metadata.exists():
            env = replace(env, model_metadata="")
        return replace(config, env=env)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: give racer train --config a racer.toml (a "
                          "run folder's, or one of your own with [train] and [env] "
                          "tables).") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}.") from None
    return config_from_dict(data, str(path))


#: The most threads `auto_threads` gives torch or the camera.
MAX_AUTO_THREADS = 8


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def auto_threads(cores: int | None = None) -> int:
    """Threads for torch's update and for the camera when the config says 0: the cores, 1 to 8.

    The rollout (the camera kernel, the reward worker) and the update take turns, so both get
    every core. On this project's 2-core machine two threads each train 1.37x faster than one
    (``racer train --race`` on re:Invent 2018, 20 updates: 1,575 against 1,152 steps/s; one
    thread on one core, 1,204); past 8 neither the 16 cars' frames nor a 64-frame minibatch
    give a thread enough work (not measured here). Jobs that share a machine divide it
    (``racer bench --jobs``), since threads that wait for a busy core run several times slower.
    """
    cores = usable_cores() if cores is None else cores
    return min(max(cores, 1), MAX_AUTO_THREADS)


def _update_every(deepracer_iterations: bool) -> str:
    return "episodes" if deepracer_iterations else "steps"


#: ``racer train``'s flags (argparse dests) and the racer.toml fields they set, with how a flag's
#: value becomes the field's: the one map between the command line and `TrainConfig`. A flag
#: left out keeps the value of ``--config``'s file, or the dataclass default.
TRAIN_FLAGS: dict[str, tuple[str, Any]] = {
    "track": ("env.track", str),
    "reverse": ("env.reverse", bool),
    "reward": ("env.reward_function", str),
    "model_metadata": ("env.model_metadata", str),
    "simulator_limits": ("env.strict_action_space", lambda on: not on),
    "reward_isolation": ("env.reward_isolation", str),
    "sandbox": ("env.reward_sandbox", bool),
    "memory_limit": ("env.reward_memory_limit", float),
    "obstacles": ("env.obstacles", None),  # an ObstacleConfig
    "bots": ("env.bots", None),  # a BotConfig
    "hyperparameters": ("train.hyperparameters", str),
    "network": ("train.network", str),
    "envs": ("train.num_envs", int),
    "seed": ("train.seed", int),
    "minutes": ("train.minutes", float),
    "updates": ("train.max_updates", int),
    "until_lapping": ("train.stop_when_lapping", bool),
    "deepracer_iterations": ("train.update_every", _update_every),
    "best_model_metric": ("train.best_model_metric", str),
    "race": ("train.race", bool),
    "max_episode_steps": ("env.episode.max_episode_steps", int),
    "device": ("train.device", str),
    "torch_threads": ("train.torch_threads", int),
    "numba_threads": ("train.numba_threads", int),
}


def config_from_flags(base: TrainConfig, flags: dict[str, Any]) -> TrainConfig:
    """``base`` with the given `TRAIN_FLAGS` applied (flags left out or None change nothing)."""
    overrides = {}
    for dest, value in flags.items():
        if value is None:
            continue
        path, convert = TRAIN_FLAGS[dest]
        overrides[path] = value if convert is None else convert(value)
    return with_overrides(base, overrides, "the command line") if overrides else base


def flag_default(dest: str) -> Any:
    """The default of `TRAIN_FLAGS` ``dest``: the TrainConfig field's, as the flag's help says."""
    table, *path = TRAIN_FLAGS[dest][0].split(".")
    value: Any = TrainConfig()
    if table == "env":
        value = value.env
    for key in path:  # "env.episode.max_episode_steps"
        value = getattr(value, key)
    return value
