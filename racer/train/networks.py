"""Network presets: DeepRacer's three camera networks and racer's fast default, for SB3.

Each preset is an SB3 `BaseFeaturesExtractor` that maps the front camera, as SB3 hands it over
((B, 1, 120, 160) float in [0, 1]: SB3 moves the channel first and divides the uint8 pixels by 255),
to a feature vector; the policy and value heads are single linear layers on it (``net_arch=[]``),
as DeepRacer's heads are on its "middleware" (SPEC 3.1). All presets take the full 160x120 image,
so an exported policy keeps DeepRacer's input; the fast preset downsamples inside the network.

DeepRacer's layers come from the simapp's ``sensors/utils.py`` (camera embedders) and
``architecture/*_schemes.py`` (middleware): convolutions use "valid" padding; the shallow and
standard networks end in a dense 512 (ReLU) middleware, the deep one in a dense 256 and 128 (ReLU).

========================================  ===========  ==========
preset                                     features     parameters
========================================  ===========  ==========
``DEEP_CONVOLUTIONAL_NETWORK_SHALLOW``     512          5,839,520
``DEEP_CONVOLUTIONAL_NETWORK``             512          3,682,848
``DEEP_CONVOLUTIONAL_NETWORK_DEEP``        128          1,105,856
``RACER_FAST``                             64           115,568
========================================  ===========  ==========

(parameters of the features extractor alone; the heads add ``(features + 1) * (actions + 1)``.)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from racer.errors import ConfigError
from racer.formats.model_metadata import ModelMetadata
from racer.train.config import TrainConfig

CAMERA_SHAPE = (1, 120, 160)
"""(C, H, W) of the observation as SB3 gives it to the network: grayscale 160x120."""


def _conv_output_size(layers: nn.Module, observation_space: gym.Space) -> int:
    """Number of features ``layers`` make of one observation of ``observation_space``."""
    with torch.no_grad():
        sample = torch.zeros((1, *observation_space.shape), dtype=torch.float32)
        return int(layers(sample).shape[1])


class _Extractor(BaseFeaturesExtractor):
    """A features extractor that is one `nn.Sequential`, built by the subclass."""

    def __init__(self, observation_space: gym.Space, layers: nn.Sequential) -> None:
        super().__init__(observation_space, _conv_output_size(layers, observation_space))
        self.layers = layers

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """(B, 1, 120, 160) float in [0, 1] -> (B, features_dim) float."""
        return self.layers(observations)


class DeepRacerShallow(_Extractor):
    """DeepRacer's ``DEEP_CONVOLUTIONAL_NETWORK_SHALLOW``, the console's default.

    ==========================  ===============  ==========
    layer                       output (C, H, W)  parameters
    ==========================  ===============  ==========
    input                       (1, 120, 160)
    conv 32 @ 8x8 / 4, ReLU     (32, 29, 39)      2,080
    conv 64 @ 4x4 / 2, ReLU     (64, 13, 18)      32,832
    conv 64 @ 3x3 / 1, ReLU     (64, 11, 16)      36,928
    flatten                     11,264
    dense 512, ReLU             512               5,767,680
    ==========================  ===============  ==========

    5,839,520 parameters; about 22 M multiply-adds per frame (the dense layer is 5.8 M of them).

    Args:
        observation_space: the camera's space as SB3 sees it, (1, 120, 160).
    """

    def __init__(self, observation_space: gym.Space) -> None:
        channels = observation_space.shape[0]
        convs = nn.Sequential(
            nn.Conv2d(channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        flat = _conv_output_size(convs, observation_space)
        super().__init__(observation_space, nn.Sequential(convs, nn.Linear(flat, 512), nn.ReLU()))


class DeepRacerStandard(_Extractor):
    """DeepRacer's ``DEEP_CONVOLUTIONAL_NETWORK``: four tanh convolutions and a dense 64.

    ==========================  ===============  ==========
    layer                       output (C, H, W)  parameters
    ==========================  ===============  ==========
    input                       (1, 120, 160)
    conv 32 @ 5x5 / 2, tanh     (32, 58, 78)      832
    conv 32 @ 3x3 / 1, tanh     (32, 56, 76)      9,248
    conv 64 @ 3x3 / 2, tanh     (64, 27, 37)      18,496
    conv 64 @ 3x3 / 1, tanh     (64, 25, 35)      36,928
    flatten                     56,000
    dense 64, tanh              64                3,584,064
    dense 512, ReLU             512               33,280
    ==========================  ===============  ==========

    3,682,848 parameters; about 97 M multiply-adds per frame, the slowest preset on a CPU.

    Args:
        observation_space: the camera's space as SB3 sees it, (1, 120, 160).
    """

    def __init__(self, observation_space: gym.Space) -> None:
        channels = observation_space.shape[0]
        convs = nn.Sequential(
            nn.Conv2d(channels, 32, 5, stride=2),
            nn.Tanh(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.Tanh(),
            nn.Conv2d(32, 64, 3, stride=2),
            nn.Tanh(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.Tanh(),
            nn.Flatten(),
        )
        flat = _conv_output_size(convs, observation_space)
        dense = nn.Sequential(nn.Linear(flat, 64), nn.Tanh(), nn.Linear(64, 512), nn.ReLU())
        super().__init__(observation_space, nn.Sequential(convs, dense))


class DeepRacerDeep(_Extractor):
    """DeepRacer's ``DEEP_CONVOLUTIONAL_NETWORK_DEEP``: batch-normed convolutions, wide dense.

    ====================================  ===============  ==========
    layer                                 output (C, H, W)  parameters
    ====================================  ===============  ==========
    input                                 (1, 120, 160)
    conv 32 @ 8x8 / 4, batch norm, ReLU   (32, 29, 39)      2,144
    conv 32 @ 4x4 / 2, batch norm, ReLU   (32, 13, 18)      16,480
    conv 64 @ 4x4 / 2, batch norm, ReLU   (64, 5, 8)        32,960
    conv 64 @ 3x3 / 1, batch norm, ReLU   (64, 3, 6)        37,056
    flatten                               1,152
    dense 512, ReLU                       512               590,336
    dense 512, ReLU                       512               262,656
    dense 256, ReLU (middleware)          256               131,328
    dense 128, ReLU (middleware)          128               32,896
    ====================================  ===============  ==========

    1,105,856 parameters (batch-norm weights included; their running statistics are buffers);
    about 9 M multiply-adds per frame.
    DeepRacer also puts dropout 0.5 after the dense layers; racer leaves it out by default
    (``dropout=0``) because a stochastic network makes PPO's probability ratio noisy.

    Args:
        observation_space: the camera's space as SB3 sees it, (1, 120, 160).
        dropout: dropout probability after each dense layer (DeepRacer: 0.5).
    """

    def __init__(self, observation_space: gym.Space, dropout: float = 0.0) -> None:
        channels = observation_space.shape[0]
        layers: list[nn.Module] = []
        for c_in, c_out, kernel, stride in (
            (channels, 32, 8, 4),
            (32, 32, 4, 2),
            (32, 64, 4, 2),
            (64, 64, 3, 1),
        ):
            layers += [nn.Conv2d(c_in, c_out, kernel, stride), nn.BatchNorm2d(c_out), nn.ReLU()]
        convs = nn.Sequential(*layers, nn.Flatten())
        flat = _conv_output_size(convs.eval(), observation_space)
        dense: list[nn.Module] = []
        for n_in, n_out in ((flat, 512), (512, 512), (512, 256), (256, 128)):
            dense += [nn.Linear(n_in, n_out), nn.ReLU()]
            if dropout > 0.0:
                dense.append(nn.Dropout(dropout))
        super().__init__(observation_space, nn.Sequential(convs.train(), *dense))


class RacerFast(_Extractor):
    """racer's default: DeepRacer's 160x120 input, shrunk 4x inside the network for 2 CPU cores.

    ==============================  ===============  ==========
    layer                           output (C, H, W)  parameters
    ==============================  ===============  ==========
    input                           (1, 120, 160)
    average pool 4x4 / 4            (1, 30, 40)       0
    conv 16 @ 4x4 / 2, ReLU         (16, 14, 19)      272
    conv 32 @ 3x3 / 2, ReLU         (32, 6, 9)        4,640
    flatten                         1,728
    dense 64, ReLU                  64                110,656
    ==============================  ===============  ==========

    115,568 parameters; about 0.45 M multiply-adds per frame, 50 times fewer than the shallow
    preset's 22 M. A 40x30 grayscale frame still shows both track borders and the centre line
    at the distances that matter for steering. With PPO on 16 cars (minibatch 64, 3 epochs) it
    trains at about 1,500 env steps/s end to end on 2 CPU cores, the shallow preset at about 150
    (``scripts/bench_train.py``).

    Args:
        observation_space: the camera's space as SB3 sees it, (1, 120, 160).
        pool: side of the average-pooling window [pixels]; 1 keeps the full image.
        channels: output channels of the two convolutions.
        features_dim: width of the dense layer, the features the heads see.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        pool: int = 4,
        channels: tuple[int, int] = (16, 32),
        features_dim: int = 64,
    ) -> None:
        c_in = observation_space.shape[0]
        c1, c2 = channels
        convs = nn.Sequential(
            nn.AvgPool2d(pool) if pool > 1 else nn.Identity(),
            nn.Conv2d(c_in, c1, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        flat = _conv_output_size(convs, observation_space)
        super().__init__(
            observation_space, nn.Sequential(convs, nn.Linear(flat, features_dim), nn.ReLU())
        )


PRESETS: dict[str, type[BaseFeaturesExtractor]] = {
    "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW": DeepRacerShallow,
    "DEEP_CONVOLUTIONAL_NETWORK": DeepRacerStandard,
    "DEEP_CONVOLUTIONAL_NETWORK_DEEP": DeepRacerDeep,
    "RACER_FAST": RacerFast,
}
"""Network preset name -> features extractor class; DeepRacer's names as model_metadata.json
writes them (``neural_network``), plus racer's own."""

DEFAULT_PRESET = "RACER_FAST"
"""racer's fast preset, which replaces DeepRacer's default network unless asked not to."""

DEEPRACER_DEFAULT_NETWORK = "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"
"""The network model_metadata.json names when the console's default was kept."""


class SensorFusion(BaseFeaturesExtractor):
    """A camera and a lidar: the camera preset on the image, a dense embedder on the lidar.

    The two feature vectors are concatenated for the heads, as DeepRacer's middleware joins its
    sensors' embedders. The lidar embedder (two dense layers of ``lidar_units``) is racer's
    choice: the SPEC does not give DeepRacer's.

    Args:
        observation_space: a Dict of the image (C, H, W as SB3 sees it) and the lidar (D,).
        camera_extractor: the preset for the image (a `PRESETS` value).
        lidar_units: width of the lidar embedder's layers.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        camera_extractor: type[BaseFeaturesExtractor] = RacerFast,
        lidar_units: int = 64,
    ) -> None:
        image_keys = [k for k, s in observation_space.spaces.items() if len(s.shape) == 3]
        vector_keys = [k for k, s in observation_space.spaces.items() if len(s.shape) == 1]
        if len(image_keys) != 1 or len(vector_keys) != 1:
            raise ConfigError(f"a camera-and-lidar network needs one image and one vector "
                              f"input, got {observation_space}.")  # fmt: skip
        camera = camera_extractor(observation_space[image_keys[0]])
        size = observation_space[vector_keys[0]].shape[0]
        lidar = nn.Sequential(nn.Linear(size, lidar_units), nn.ReLU(),
                              nn.Linear(lidar_units, lidar_units), nn.ReLU())  # fmt: skip
        super().__init__(observation_space, camera.features_dim + lidar_units)
        self.image_key, self.lidar_key = image_keys[0], vector_keys[0]
        self.camera, self.lidar = camera, lidar

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, features) from the batch's image and lidar."""
        return torch.cat([self.camera(observations[self.image_key]),
                          self.lidar(observations[self.lidar_key])], dim=1)  # fmt: skip


def policy_kwargs(preset: str = DEFAULT_PRESET, lidar: bool = False) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` for a network preset, for PPO (discrete or continuous) and SAC.

    The heads are linear layers on the extractor's features (``net_arch=[]``), as DeepRacer's
    policy and value heads sit directly on its middleware.

    Args:
        preset: a name from `PRESETS`.
        lidar: the model also has a lidar: `SensorFusion` joins it to the preset's camera.

    Returns:
        ``{"features_extractor_class": ..., "net_arch": []}``, ready for ``PPO(...,
        policy_kwargs=...)`` or ``SAC(...)``.

    Raises:
        ConfigError: the preset is unknown.
    """
    if preset not in PRESETS:
        raise ConfigError(
            f"network preset {preset!r} is unknown; choose one of {', '.join(PRESETS)}."
        )
    if lidar:
        return {"features_extractor_class": SensorFusion,
                "features_extractor_kwargs": {"camera_extractor": PRESETS[preset]},
                "net_arch": []}  # fmt: skip
    return {"features_extractor_class": PRESETS[preset], "net_arch": []}


def run_network(config: TrainConfig, metadata: ModelMetadata) -> str:
    """The network preset a run trains: ``config.network``, else model_metadata.json's.

    DeepRacer's default (shallow) network is replaced by `DEFAULT_PRESET` unless
    ``config.deepracer_network`` is set.
    """
    if config.network:
        return config.network
    if metadata.neural_network == DEEPRACER_DEFAULT_NETWORK and not config.deepracer_network:
        return DEFAULT_PRESET
    return metadata.neural_network


def run_policy_kwargs(config: TrainConfig, metadata: ModelMetadata) -> dict[str, Any]:
    """SB3's ``policy_kwargs`` of a run: its network preset, with a lidar embedder if it has one."""
    return policy_kwargs(run_network(config, metadata), lidar=metadata.lidar is not None)


def policy_name(observation_space: gym.Space) -> str:
    """SB3's policy for an observation space: images alone, or a Dict with a lidar."""
    return "MultiInputPolicy" if isinstance(observation_space, gym.spaces.Dict) else "CnnPolicy"
