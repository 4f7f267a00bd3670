"""Starting a run from another model: DeepRacer's "clone", of a racer run or a DeepRacer model.

``racer train --pretrained SOURCE`` takes either

- a racer run folder: the new run starts from its best checkpoint's policy (the whole policy,
  value head included), which must have the new run's algorithm, action space, network and
  sensors; or
- a DeepRacer model (`racer.export.deepracer_model.is_deepracer_model`): a ``model.pb`` with its
  ``model_metadata.json`` beside it or one folder up (a console or DROA download's ``agent/``),
  a deepracer-for-cloud model folder of ``model_<n>.pb`` files (the newest), or the car's
  ``.tar.gz`` archive of both (read in place; the run's model_metadata.json is the archive's).
  Its frozen graph holds the policy network; `racer.export.deepracer_weights` loads it into the
  new run's PPO or SAC policy, and the value head (or SAC's critics' heads) starts fresh. Unless
  the run names its own, the model's model_metadata.json becomes the run's (its action space,
  sensors) and the racer network preset that is the graph's network becomes the run's
  (`clone_config`). Reading the graph needs no TensorFlow and no OpenVINO, and runs nothing
  from the file.

Everything is checked before the new run's folder exists, so a refused start leaves nothing
behind that blocks a retry.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from racer.env.config import load_metadata
from racer.errors import ConfigError, ExportError
from racer.export.deepracer_layers import GraphLayers, read_policy_layers
from racer.export.deepracer_model import (
    find_graph,
    find_metadata,
    input_name,
    is_deepracer_model,
    output_name,
)
from racer.export.deepracer_weights import load_graph_weights, matches
from racer.export.graphdef import decode_graph, read_graph
from racer.formats.model_archive import is_model_archive, read_archive_member
from racer.formats.model_metadata import load_model_metadata
from racer.logs.run_folder import RunFolder
from racer.train.checkpoint import env_spaces, load_checkpoint
from racer.train.config import TrainConfig, load_run_config
from racer.train.networks import PRESETS, policy_kwargs, policy_name, run_policy_kwargs
from racer.train.sac import algorithm_class


def clone_config(config: TrainConfig, source: str | Path) -> TrainConfig:
    """``config`` for a run cloned from ``source``: a DeepRacer model's metadata and network.

    For a DeepRacer model, a config without a model_metadata.json takes the model's, and one
    without a network preset takes the preset whose layers are the graph's. A racer run
    folder leaves ``config`` as it is (the run's settings are the user's to repeat).

    Raises:
        ConfigError: the model cannot be read, or no racer preset is its network.
        ExportError: the model's files are missing or are not a DeepRacer policy racer reads.
    """
    path = Path(source)
    if not is_deepracer_model(path):
        return config
    graph_path, metadata_path = _model_files(path)
    if not config.env.model_metadata:
        config = replace(config, env=replace(config.env, model_metadata=str(metadata_path)))
    _check_same(graph_path, metadata_path, load_metadata(config.env))
    if not config.network:
        layers = _graph_layers(graph_path, metadata_path)
        observation_space, action_space = env_spaces(config.env)
        run_metadata = load_metadata(config.env)
        algorithm = run_metadata.training_algorithm
        for preset in PRESETS:
            kwargs = policy_kwargs(preset, lidar=run_metadata.lidar is not None,
                                   sac=algorithm == "sac")  # fmt: skip
            policy = _policy(observation_space, action_space, kwargs, algorithm=algorithm)
            if matches(policy, layers):
                return replace(config, network=preset)
        raise ConfigError(
            f"{graph_path} has the network [{layers.describe()}], which is none of racer's "
            f"network presets ({', '.join(PRESETS)}), so racer cannot start a run from it. "
            "Train from scratch, or from a model of one of those networks."
        )
    return config


def pretrained_weights(source: str | Path, config: TrainConfig, metadata: Any) -> dict[str, Any]:
    """The weights the new run's policy starts from (see the module doc), for `start_from`.

    A racer run gives its whole policy's state dict, a DeepRacer model the actor's entries
    (features extractor, policy layers, action head).

    Args:
        source: a racer run folder or a DeepRacer model.
        config: the new run's configuration (after `clone_config`).
        metadata: the new run's model_metadata.

    Raises:
        ConfigError: the source has no best model or racer.toml, or it differs from the run in
            algorithm, action space, network or sensors.
        CheckpointError: a run's best.zip is damaged or carries pickled objects.
        ExportError: a DeepRacer model's files are missing, damaged or not a policy racer reads.
    """
    path = Path(source)
    if is_deepracer_model(path):
        return _deepracer_weights(path, config, metadata)
    folder = RunFolder(path)
    best = folder.checkpoints / "best.zip"
    if not best.exists():
        raise ConfigError(f"{path} has no best model to start from ({best} is missing).")
    other_config = load_run_config(folder)
    algorithm = load_metadata(other_config.env).training_algorithm
    if algorithm != metadata.training_algorithm:
        raise ConfigError(f"the pretrained run {path} was trained with {algorithm}, this run with "
                          f"{metadata.training_algorithm}; start from a run of the same "
                          "training_algorithm.")  # fmt: skip
    other = load_checkpoint(best, other_config, device=config.device)
    observation_space, action_space = env_spaces(config.env)
    if other.action_space != action_space:
        raise ConfigError(f"the pretrained run {path} has the action space {other.action_space}, "
                          f"this run {action_space}: they must match.")  # fmt: skip
    weights = other.policy.state_dict()
    policy = _policy(observation_space, action_space, run_policy_kwargs(config, metadata),
                     other.policy_class)  # fmt: skip
    try:
        policy.load_state_dict(weights)
    except RuntimeError:
        raise ConfigError(f"the pretrained run {path} uses another network or other sensors; "
                          "use the same network preset and sensors to start from it."
                          ) from None  # fmt: skip
    return weights


def _deepracer_weights(path: Path, config: TrainConfig, metadata: Any) -> dict[str, Any]:
    """The run's PPO policy with a DeepRacer model's policy network loaded into it."""
    graph_path, metadata_path = _model_files(path)
    _check_same(graph_path, metadata_path, metadata)
    layers = _graph_layers(graph_path, metadata_path)
    observation_space, action_space = env_spaces(config.env)
    policy = _policy(observation_space, action_space, run_policy_kwargs(config, metadata),
                     algorithm=metadata.training_algorithm)  # fmt: skip
    load_graph_weights(policy, layers, str(graph_path))
    actor = ("features_extractor.", "pi_features_extractor.", "vf_features_extractor.",
             "mlp_extractor.policy_net.", "action_net.", "actor.features_extractor.",
             "actor.latent_pi.", "actor.mu.", "critic.features_extractor.",
             "critic_target.features_extractor.")  # fmt: skip
    return {k: v for k, v in policy.state_dict().items() if k.startswith(actor)}


def _check_same(graph_path: Path, metadata_path: Path, metadata: Any) -> None:
    """Refuse a run whose algorithm, action space or sensors are not the DeepRacer model's."""
    model = load_model_metadata(metadata_path, strict=False)
    if model.training_algorithm != metadata.training_algorithm:
        raise ConfigError(
            f"{graph_path} was trained with {model.training_algorithm}, this run trains with "
            f"{metadata.training_algorithm}: they must match to start from it. Leave out "
            "--model-metadata to take the model's."
        )
    if model.action_space != metadata.action_space or model.sensor != metadata.sensor:
        raise ConfigError(
            f"{graph_path} was trained with the action space {model.action_space.to_json_value()} "
            f"and sensors {list(model.sensor)} ({metadata_path}), this run has "
            f"{metadata.action_space.to_json_value()} and {list(metadata.sensor)}: they must "
            "match to start from it. Leave out --model-metadata to take the model's."
        )


def start_from(policy: Any, weights: dict[str, Any]) -> None:
    """Load `pretrained_weights` into a new run's policy; what they leave out stays as it is.

    A DeepRacer model gives the actor alone: the value head keeps the run's seeded
    initialisation, so a cloned run is as reproducible as a fresh one.
    """
    state = policy.state_dict()
    state.update(weights)
    policy.load_state_dict(state)


def _model_files(path: Path) -> tuple[Path, Path]:
    """A DeepRacer model's graph and model_metadata.json; the car's archive is both."""
    if is_model_archive(path):
        return path, path
    graph = find_graph(path)
    return graph, find_metadata(graph)


def _graph_layers(graph_path: Path, metadata_path: Path) -> GraphLayers:
    """The policy network of a DeepRacer model's frozen graph (or of the car's archive)."""
    metadata = load_model_metadata(metadata_path, strict=False)
    algorithm = metadata.training_algorithm
    camera = input_name(metadata.camera, algorithm)
    lidar = input_name(metadata.lidar, algorithm) if metadata.lidar else None
    if is_model_archive(graph_path):
        try:
            graph = decode_graph(read_archive_member(graph_path, "model.pb"))
        except ExportError as exc:
            raise ExportError(f"{graph_path}: its model.pb is {exc}") from None
    else:
        graph = read_graph(graph_path)
    return read_policy_layers(graph, camera, output_name(algorithm), graph_path, lidar)


def _policy(observation_space: Any, action_space: Any, kwargs: dict[str, Any],
            policy_class: Any = None, algorithm: str = "clipped_ppo") -> Any:  # fmt: skip
    """A fresh SB3 policy of ``algorithm`` for the spaces and ``policy_kwargs``, on the CPU."""
    if policy_class is None:
        policy_class = algorithm_class(algorithm).policy_aliases[policy_name(observation_space)]
    return policy_class(observation_space, action_space, lambda _: 0.0, **kwargs)
