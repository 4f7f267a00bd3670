"""Loading racer's SB3 checkpoints without unpickling anything.

A checkpoint (``checkpoints/best.zip``, ``last.zip``, ``update-<n>.zip``) is stable-baselines3's
zip: ``data``, a JSON object of the algorithm's attributes, and torch state dicts (``policy.pth``,
the optimizers' ``*.optimizer.pth``, ``pytorch_variables.pth``). SB3 stores every attribute JSON
cannot hold (the spaces, the policy class and its kwargs, schedules, the last observations) as a
cloudpickle under ``":serialized:"``, and its loader unpickles them: a checkpoint edited that way
runs any code when it is loaded. Run folders are what people download and swap, so racer never
lets SB3 unpickle one:

- every attribute racer's checkpoints pickle is rebuilt from what racer knows, the run's
  ``racer.toml`` and ``model_metadata.json`` (network preset, observation and action spaces) and
  racer's fixed training choices (`CLIP_RANGE`, `TRAIN_FREQ`), and handed to SB3's
  ``load(custom_objects=...)``, which uses them in place of the stored ones. The state of the
  last session (its last observations and episode statistics) is dropped, and the buffer
  classes and learning-rate schedule are left for SB3 to set up from the JSON values, as it
  does for a new model;
- a checkpoint that carries any other pickled attribute, or an attribute SB3 never saves (an env,
  whose name SB3 would hand to ``gymnasium.make``), is refused;
- the torch state dicts are read by torch's weights-only unpickler (tensors and plain containers
  only), which SB3 uses from version 2.3 on, racer's minimum.

The file is read into memory once; that copy is checked and is what SB3 loads. A damaged file
(cut short, a bad checksum, not a zip) is a `CheckpointError` naming it, never a traceback.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecTransposeImage

from racer.env.config import EnvConfig, load_metadata
from racer.env.vec_env import RacerVecEnv
from racer.errors import CheckpointError
from racer.train.config import TrainConfig
from racer.train.evaluate import no_reward
from racer.train.networks import policy_name, run_policy_kwargs
from racer.train.ppo import CLIP_RANGE
from racer.train.sac import TRAIN_FREQ, algorithm_class

#: The key of SB3's pickled attributes in the ``data`` JSON.
SERIALIZED = ":serialized:"

#: Pickled attributes racer drops: the last session's observations and episode statistics
#: (SB3 resets them at the next ``learn``), the buffer classes and the learning-rate schedule
#: (SB3 sets them up from the JSON values when they are None, as for a new model).
_DROPPED = ("_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer",
            "ep_success_buffer", "rollout_buffer_class", "replay_buffer_class",
            "lr_schedule")  # fmt: skip

#: Attributes SB3's save always leaves out (``_excluded_save_params`` of PPO, SAC and racer's
#: EpisodicPPO): a ``data`` that has one was not written by SB3's save.
_NEVER_SAVED = ("env", "device", "policy", "rollout_buffer", "replay_buffer", "actor", "critic",
                "critic_target", "_vec_normalize_env", "_episode_storage", "_logger",
                "_custom_logger", "step_hook")  # fmt: skip

_REFUSED = (
    "unpickling them could run any code, so racer does not load this checkpoint. Checkpoints "
    "racer saved hold nothing else: if the run came from someone else, ask them for its exported "
    "policy instead (racer export RUN writes RUN/model/policy.onnx, which racer evaluate runs "
    "without executing anything from the run), or train your own."
)


def model_spaces(env: VecEnv) -> tuple[spaces.Space, spaces.Space]:
    """The observation and action spaces an SB3 model has on ``env``.

    SB3 moves the images' channels first (VecTransposeImage: (H, W, C) -> (C, H, W)) and keeps
    the spaces it saw so.
    """
    return VecTransposeImage(env).observation_space, env.action_space


def env_spaces(config: EnvConfig) -> tuple[spaces.Space, spaces.Space]:
    """The observation and action spaces of an SB3 model on racer's env for ``config``.

    The env is built with `no_reward`, so no reward function is imported.
    """
    env = RacerVecEnv(replace(config, reward_log="", failure_dir=""), 1, reward_function=no_reward)
    try:
        return model_spaces(env)
    finally:
        env.close()


#: Every attribute `rebuilt_objects` gives; a pickled attribute outside these is refused.
REBUILT = (*_DROPPED, "policy_class", "policy_kwargs", "observation_space", "action_space",
           "clip_range", "train_freq")  # fmt: skip


def rebuilt_objects(
    config: TrainConfig, observation_space: spaces.Space, action_space: spaces.Space
) -> dict[str, Any]:
    """What racer hands SB3's load in place of every attribute its checkpoints pickle (`REBUILT`).

    Args:
        config: the run's configuration (its network preset and model_metadata.json).
        observation_space: the run's observation space.
        action_space: the run's action space.

    Returns:
        SB3's ``custom_objects``: attribute name -> value.
    """
    metadata = load_metadata(config.env)
    algorithm = algorithm_class(metadata.training_algorithm)
    kwargs = run_policy_kwargs(config, metadata)
    if metadata.training_algorithm == "sac":
        kwargs["use_sde"] = False  # SB3's SAC records it there; racer never uses SDE
    objects: dict[str, Any] = dict.fromkeys(_DROPPED)
    objects.update(
        policy_class=algorithm.policy_aliases[policy_name(observation_space)],
        policy_kwargs=kwargs,
        observation_space=observation_space,
        action_space=action_space,
        clip_range=CLIP_RANGE,  # PPO's
        train_freq=TRAIN_FREQ,  # SAC's
    )
    return objects


def load_checkpoint(
    path: str | Path,
    config: TrainConfig,
    *,
    env: VecEnv | None = None,
    device: str = "cpu",
) -> BaseAlgorithm:
    """Load one of racer's checkpoints without unpickling anything (see the module doc).

    Args:
        path: the checkpoint zip.
        config: the run's configuration. Its model_metadata.json (training algorithm, sensors,
            actions), network preset and environment give what the checkpoint would have
            unpickled.
        env: the env to go on training in (its spaces are used); None to only predict.
        device: the torch device ("cpu", "cuda", "auto").

    Returns:
        The model: racer's EpisodicPPO or SB3's SAC, by model_metadata.json's
        ``training_algorithm``.

    Raises:
        CheckpointError: the file is unreadable, damaged, does not fit the run's network, or
            carries pickled objects racer does not rebuild.
        ConfigError: the run's model_metadata.json or network preset is bad.
    """
    path = Path(path)
    blob, data = _read(path)
    _check_attributes(path, data)
    if env is None:
        observation_space, action_space = env_spaces(config.env)
    else:
        observation_space, action_space = model_spaces(env)
    objects = rebuilt_objects(config, observation_space, action_space)
    algorithm = algorithm_class(load_metadata(config.env).training_algorithm)
    try:
        return algorithm.load(io.BytesIO(blob), env=env, device=device, custom_objects=objects)
    except pickle.UnpicklingError as exc:  # torch's weights-only unpickler refused a .pth
        raise CheckpointError(f"{path} holds tensor files with pickled Python objects in them "
                              f"(torch: {_first_line(exc)}); {_REFUSED}") from None  # fmt: skip
    except Exception as exc:  # whatever SB3 or torch raise for a file that does not fit
        raise CheckpointError(
            f"cannot load the checkpoint {path} ({type(exc).__name__}: {_first_line(exc)}). It "
            f"does not fit the {algorithm.__name__} model with the network and sensors that the "
            "run's racer.toml and model_metadata.json describe, or it is damaged: use the "
            f"checkpoint with the run folder it was saved in, or another of the run's checkpoints "
            f"in {path.parent} (best.zip, last.zip, update-<n>.zip)."
        ) from None


def _check_attributes(path: Path, data: dict[str, Any]) -> None:
    """Refuse pickled attributes racer does not rebuild, and attributes SB3 never saves."""
    unknown = [k for k, v in data.items() if isinstance(v, dict) and SERIALIZED in v
               and k not in REBUILT]  # fmt: skip
    if unknown:
        raise CheckpointError(f"{path} holds pickled Python objects racer does not know how to "
                              f"rebuild ({', '.join(unknown)}); {_REFUSED}")  # fmt: skip
    foreign = [k for k in data if k in _NEVER_SAVED]
    if foreign:
        raise CheckpointError(f"{path} holds attributes stable-baselines3 never saves "
                              f"({', '.join(foreign)}), so racer did not write it; "
                              f"{_REFUSED}")  # fmt: skip


def _read(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its ``data`` JSON, checked to be a whole zip (CheckpointError)."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint {path}: {exc.strerror or exc}. Check "
                              "that the file exists and is readable.") from None  # fmt: skip
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            bad = archive.testzip()  # reads every member: a cut or flipped byte shows here
            if bad is not None:
                raise CheckpointError(_damaged(path, f"its member {bad} fails its checksum"))
            data = json.loads(archive.read("data"))
    except KeyError:
        raise CheckpointError(_damaged(path, "it has no data entry")) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError,
            NotImplementedError, RuntimeError, OSError) as exc:  # fmt: skip
        raise CheckpointError(_damaged(path, _first_line(exc))) from None
    if not isinstance(data, dict):
        raise CheckpointError(_damaged(path, "its data entry is not a JSON object"))
    return blob, data


def _damaged(path: Path, reason: str) -> str:
    """The message for a checkpoint that is not a whole SB3 zip."""
    return (f"the checkpoint {path} is damaged or incomplete ({reason}), so racer cannot load "
            "it. Copy it again from where it came from (a download or copy cut short leaves such "
            f"a file), or use another of the run's checkpoints in {path.parent} (best.zip, "
            "last.zip, update-<n>.zip).")  # fmt: skip


def _first_line(exc: BaseException) -> str:
    """An exception's message, first line only (torch's run to many paragraphs)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
