"""Network presets: DeepRacer's three camera networks and racer's fast default, for SB3.

A preset is DeepRacer's network scheme (the simapp's ``sensors/utils.py`` camera and lidar
embedders, ``architecture/*_schemes.py`` middleware, ``embedder_factory.create_scheme``): each
sensor has an *embedder* (convolutions with "valid" padding, then dense layers), the embedders'
outputs are concatenated in the alphabetical order of the sensors' names (rl_coach's ``merger``),
and the *middleware*'s dense layers follow; every layer has a ReLU after it. The simapp always
builds the plain scheme, so there is no batch norm and no dropout, and the tanh its tables list
for DEEP_CONVOLUTIONAL_NETWORK is not used either. The policy and value heads are single linear
layers on the middleware (``net_arch=[]``, DeepRacer's PPO heads); SAC's actor has DeepRacer's
hidden dense 256 before its head.

SB3 hands a camera over as (B, C, 120, 160) float in [0, 1] (it moves the channel first and
divides the uint8 pixels by 255); a lidar as (B, D) float.

========================================  ===========  ==========
preset                                     features     parameters
========================================  ===========  ==========
``DEEP_CONVOLUTIONAL_NETWORK_SHALLOW``     512          5,839,520
``DEEP_CONVOLUTIONAL_NETWORK``             512          3,682,848
``DEEP_CONVOLUTIONAL_NETWORK_DEEP``        128          1,105,472
``RACER_FAST``                             64           115,568
========================================  ===========  ==========

(parameters of the features extractor alone, front camera; the heads add
``(features + 1) * (actions + 1)``.) The stereo camera has DeepRacer's own embedder for the two
deep presets (five convolutions, no dense layer); the lidar's is dense 256, 256 for every preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from racer.errors import ConfigError
from racer.formats.model_metadata import ModelMetadata
from racer.train.config import TrainConfig

CAMERA_SHAPE = (1, 120, 160)
"""(C, H, W) of the observation as SB3 gives it to the network: grayscale 160x120."""
LIDAR_DENSE = (256, 256)
"""DeepRacer's lidar embedder, for every preset and lidar kind: two dense layers."""
SAC_HIDDEN = 256
"""The dense layer DeepRacer's SAC policy head has before its means (``sac_head.py``)."""


@dataclass(frozen=True)
class Scheme:
    """One preset's layers, as DeepRacer's simapp lists them.

    Attributes:
        convs: (filters, kernel, stride) of each camera convolution.
        dense: widths of the camera embedder's dense layers, after the flatten.
        middleware: widths of the middleware's dense layers.
        stereo_convs: the stereo camera's convolutions where they differ (then with
            ``stereo_dense``), else None.
        stereo_dense: the stereo embedder's dense layers, with ``stereo_convs``.
        pool: an average pooling of this side before the first convolution (racer's fast
            preset; 1: none).
    """

    convs: tuple[tuple[int, int, int], ...]
    dense: tuple[int, ...] = ()
    middleware: tuple[int, ...] = (512,)
    stereo_convs: tuple[tuple[int, int, int], ...] | None = None
    stereo_dense: tuple[int, ...] = ()
    pool: int = 1

    def camera(self, space: gym.Space) -> nn.Sequential:
        """The camera embedder for an image space (C, H, W): convolutions, flatten, dense."""
        channels = space.shape[0]
        stereo = channels == 2 and self.stereo_convs is not None
        convs = self.stereo_convs if stereo else self.convs
        layers: list[nn.Module] = [nn.AvgPool2d(self.pool) if self.pool > 1 else nn.Identity()]
        for filters, kernel, stride in convs:  # type: ignore[union-attr]
            layers += [nn.Conv2d(channels, filters, kernel, stride=stride), nn.ReLU()]
            channels = filters
        layers.append(nn.Flatten())
        if self.pool == 1:
            layers.pop(0)  # DeepRacer's own presets: no pooling layer at all
        flat = _output_size(nn.Sequential(*layers), space)
        return nn.Sequential(*layers, *_dense(flat, self.stereo_dense if stereo else self.dense))


def _dense(size: int, widths: tuple[int, ...]) -> list[nn.Module]:
    """Dense layers of ``widths``, each with its ReLU, on ``size`` inputs."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(size, width), nn.ReLU()]
        size = width
    return layers


def _output_size(layers: nn.Module, space: gym.Space) -> int:
    """Number of features ``layers`` make of one observation of ``space``."""
    with torch.no_grad():
        return int(layers(torch.zeros((1, *space.shape), dtype=torch.float32)).shape[1])


class _Extractor(BaseFeaturesExtractor):
    """A preset on the camera alone: ``layers`` = Sequential(camera embedder, middleware)."""

    scheme: ClassVar[Scheme]

    def __init__(self, observation_space: gym.Space) -> None:
        camera = self.scheme.camera(observation_space)
        middleware = _dense(_output_size(camera, observation_space), self.scheme.middleware)
        super().__init__(observation_space, self.scheme.middleware[-1])
        self.layers = nn.Sequential(camera, *middleware)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """(B, C, 120, 160) float in [0, 1] -> (B, features_dim) float."""
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
    The stereo camera has the same convolutions.
    """

    scheme = Scheme(convs=((32, 8, 4), (64, 4, 2), (64, 3, 1)))


_STEREO_DEEP = ((32, 3, 1), (64, 3, 2), (64, 3, 1), (128, 3, 2), (128, 3, 1))


class DeepRacerStandard(_Extractor):
    """DeepRacer's ``DEEP_CONVOLUTIONAL_NETWORK``: four convolutions, a dense 64, a dense 512.

    ==========================  ===============  ==========
    layer                       output (C, H, W)  parameters
    ==========================  ===============  ==========
    input                       (1, 120, 160)
    conv 32 @ 5x5 / 2, ReLU     (32, 58, 78)      832
    conv 32 @ 3x3 / 1, ReLU     (32, 56, 76)      9,248
    conv 64 @ 3x3 / 2, ReLU     (64, 27, 37)      18,496
    conv 64 @ 3x3 / 1, ReLU     (64, 25, 35)      36,928
    flatten                     56,000
    dense 64, ReLU              64                3,584,064
    dense 512, ReLU (middle)    512               33,280
    ==========================  ===============  ==========

    3,682,848 parameters; about 97 M multiply-adds per frame, the slowest preset on a CPU.
    The stereo camera has DeepRacer's five-convolution stereo embedder and no dense 64.
    """

    scheme = Scheme(convs=((32, 5, 2), (32, 3, 1), (64, 3, 2), (64, 3, 1)), dense=(64,),
                    stereo_convs=_STEREO_DEEP)  # fmt: skip


class DeepRacerDeep(_Extractor):
    """DeepRacer's ``DEEP_CONVOLUTIONAL_NETWORK_DEEP``: four convolutions, wide dense layers.

    ====================================  ===============  ==========
    layer                                 output (C, H, W)  parameters
    ====================================  ===============  ==========
    input                                 (1, 120, 160)
    conv 32 @ 8x8 / 4, ReLU               (32, 29, 39)      2,080
    conv 32 @ 4x4 / 2, ReLU               (32, 13, 18)      16,416
    conv 64 @ 4x4 / 2, ReLU               (64, 5, 8)        32,832
    conv 64 @ 3x3 / 1, ReLU               (64, 3, 6)        36,928
    flatten                               1,152
    dense 512, ReLU                       512               590,336
    dense 512, ReLU                       512               262,656
    dense 256, ReLU (middleware)          256               131,328
    dense 128, ReLU (middleware)          128               32,896
    ====================================  ===============  ==========

    1,105,472 parameters; about 9 M multiply-adds per frame. DeepRacer's tables also list batch
    norms and dropout 0.5 for this network, which its simapp does not build (plain scheme).
    The stereo camera has DeepRacer's five-convolution stereo embedder and no dense layers.
    """

    scheme = Scheme(convs=((32, 8, 4), (32, 4, 2), (64, 4, 2), (64, 3, 1)), dense=(512, 512),
                    middleware=(256, 128), stereo_convs=_STEREO_DEEP)  # fmt: skip


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
    (``scripts/bench_train.py``). It is not a DeepRacer network: DeepRacer's tools cannot train
    it further, though its exported graph runs on the car (`racer.export.deepracer_graph`).
    """

    scheme = Scheme(convs=((16, 4, 2), (32, 3, 2)), middleware=(64,), pool=4)


PRESETS: dict[str, type[_Extractor]] = {
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
    """A camera and a lidar, as DeepRacer joins them: embedders, ``merger``, middleware.

    The camera gets the preset's embedder, the lidar DeepRacer's (`LIDAR_DENSE`); their outputs
    are concatenated in the alphabetical order of the sensors' names (FRONT_FACING_CAMERA before
    LIDAR, SECTOR_LIDAR before STEREO_CAMERAS), and the preset's middleware follows.

    Args:
        observation_space: a Dict of the image (C, H, W as SB3 sees it) and the lidar (D,),
            keyed by the sensors' DeepRacer names.
        camera_extractor: the preset (a `PRESETS` value).
    """

    def __init__(
        self, observation_space: gym.spaces.Dict, camera_extractor: type[_Extractor] = RacerFast
    ) -> None:
        image_keys = [k for k, s in observation_space.spaces.items() if len(s.shape) == 3]
        vector_keys = [k for k, s in observation_space.spaces.items() if len(s.shape) == 1]
        if len(image_keys) != 1 or len(vector_keys) != 1:
            raise ConfigError(f"a camera-and-lidar network needs one image and one vector "
                              f"input, got {observation_space}.")  # fmt: skip
        scheme = camera_extractor.scheme
        camera = scheme.camera(observation_space[image_keys[0]])
        size = observation_space[vector_keys[0]].shape[0]
        lidar = nn.Sequential(*_dense(size, LIDAR_DENSE))
        merged = _output_size(camera, observation_space[image_keys[0]]) + LIDAR_DENSE[-1]
        super().__init__(observation_space, scheme.middleware[-1])
        self.image_key, self.lidar_key = image_keys[0], vector_keys[0]
        self.order = tuple(sorted((self.image_key, self.lidar_key)))
        """The sensors' names in the merger's order (alphabetical)."""
        self.camera, self.lidar = camera, lidar
        self.middleware = nn.Sequential(*_dense(merged, scheme.middleware))

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, features) from the batch's image and lidar."""
        embedded = {self.image_key: self.camera(observations[self.image_key]),
                    self.lidar_key: self.lidar(observations[self.lidar_key])}  # fmt: skip
        return self.middleware(torch.cat([embedded[key] for key in self.order], dim=1))


def policy_kwargs(
    preset: str = DEFAULT_PRESET, lidar: bool = False, sac: bool = False
) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` for a network preset, for PPO (discrete or continuous) or SAC.

    PPO's heads are linear layers on the extractor's features (``net_arch=[]``), as DeepRacer's
    policy and value heads sit directly on its middleware; SAC's actor has DeepRacer's hidden
    dense layer (`SAC_HIDDEN`) before its means, and its critic two of that width.

    Args:
        preset: a name from `PRESETS`.
        lidar: the model also has a lidar: `SensorFusion` joins it to the preset's camera.
        sac: the kwargs are for SB3's SAC.

    Returns:
        ``{"features_extractor_class": ..., "net_arch": ...}``, ready for ``PPO(...,
        policy_kwargs=...)`` or ``SAC(...)``.

    Raises:
        ConfigError: the preset is unknown.
    """
    if preset not in PRESETS:
        raise ConfigError(
            f"network preset {preset!r} is unknown; choose one of {', '.join(PRESETS)}."
        )
    net_arch: Any = {"pi": [SAC_HIDDEN], "qf": [SAC_HIDDEN, SAC_HIDDEN]} if sac else []
    if lidar:
        return {"features_extractor_class": SensorFusion,
                "features_extractor_kwargs": {"camera_extractor": PRESETS[preset]},
                "net_arch": net_arch}  # fmt: skip
    return {"features_extractor_class": PRESETS[preset], "net_arch": net_arch}


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
    return policy_kwargs(run_network(config, metadata), lidar=metadata.lidar is not None,
                         sac=metadata.training_algorithm == "sac")  # fmt: skip


def policy_name(observation_space: gym.Space) -> str:
    """SB3's policy for an observation space: images alone, or a Dict with a lidar."""
    return "MultiInputPolicy" if isinstance(observation_space, gym.spaces.Dict) else "CnnPolicy"
