"""The environment's configuration: one frozen dataclass, loadable from TOML."""

from __future__ import annotations

from dataclasses import dataclass, field

from racer.env.episode import EpisodeConfig
from racer.errors import ConfigError
from racer.formats.model_metadata import DEFAULT_MODEL_METADATA, ModelMetadata, load_model_metadata
from racer.objects.bots import BotConfig
from racer.objects.obstacles import ObstacleConfig
from racer.physics.car import CarParams
from racer.physics.motion import DEFAULT_MOTION_MODEL, MOTION_MODELS
from racer.reward.calls import DEFAULT_ISOLATION, ISOLATIONS
from racer.reward.worker import DEFAULT_MEMORY_LIMIT
from racer.sensors.camera import CameraConfig

_SUPPORTED_CAMERAS = ("FRONT_FACING_CAMERA", "observation", "LEFT_CAMERA", "STEREO_CAMERAS")
_SUPPORTED_SENSORS = (*_SUPPORTED_CAMERAS, "LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines a racer environment.

    Attributes:
        track: a bundled track name (``racer tracks``) or the path of a DeepRacer ``.npy`` file.
        reverse: drive the track backwards (DeepRacer's REVERSE_DIR).
        deduplicate_waypoints: drop repeated centre points as the 2026 community simapp does;
            off keeps AWS's raw waypoint indexing (SPEC 1.3 item 14).
        model_metadata: path of a DeepRacer ``model_metadata.json`` for the action space; empty
            for racer's default discrete action space.
        strict_action_space: enforce the DeepRacer console's limits on the action space.
        reward_function: a reward file path or a bundled example name.
        reward_timeout: [s] the longest one reward call may take before it is an error (DeepRacer's
            console validator allows 5 s in total); 0 for no limit.
        reward_log: a file that receives the reward function's ``print`` output (appended); empty
            leaves it on stdout.
        failure_dir: the folder where the params of a failing reward call are saved as JSON;
            empty for a temporary folder.
        reward_isolation: where the reward file's calls run (`racer.reward.calls`): "process"
            (the default: a worker process with a hard time limit, crashes reported, memory
            capped) or "none" (this process: faster, but a call stuck in C code hangs it).
        reward_sandbox: with "process", also cut the worker's network, its writes outside
            ``failure_dir`` and its programs (`racer.reward.sandbox`; README).
        reward_memory_limit: [GiB] with "process", the worker's address space; 0 for none.
        motion_model: how the car answers its commands (`racer.physics.motion`): "deepracer"
            (the default: DeepRacer-on-AWS's simulated car, fitted on real logs),
            "deepracer_2022" (the ROS1 simulator's, deepracer-for-cloud and the console),
            "kinematic" (the idealised bicycle that steers at once) or "friction_limited"
            (that bicycle, sliding).
        dt: [s] simulated time per step (DeepRacer's 15 Hz camera: 1/15).
        car: the car's geometry and limits.
        camera: the front camera's intrinsics and mounting.
        episode: the episode rules.
        obstacles: DeepRacer's object-avoidance boxes (none by default: a time trial).
        bots: DeepRacer's head-to-bot bot cars, B per racing car (none by default).
        racers: racing cars per world, K (SPEC 4.5): 1 for DeepRacer's training and single-car
            races; K > 1 is a multi-car race (``racer race``), where the N cars form N / K
            worlds, each car sees the others as objects, starts staggered 0.75 m apart, and a
            crash between two racers is the slower one's. Boxes and bots are shared per world.
        simapp_race_rules: judge a race exactly as the simapp does: a crash between racers by
            ``(progress + 100 start_ndist) mod 100``, which counts a car still behind the line
            at the start as ahead, and no lane change for a grid slot next to a box or bot.
            Off, racer judges by laps and progress from the line and clears the grid.
    """

    track: str = "oval"
    reverse: bool = False
    deduplicate_waypoints: bool = False
    model_metadata: str = ""
    strict_action_space: bool = True
    reward_function: str = "follow_center_line"
    reward_timeout: float = 1.0
    reward_log: str = ""
    failure_dir: str = ""
    reward_isolation: str = DEFAULT_ISOLATION
    reward_sandbox: bool = False
    reward_memory_limit: float = DEFAULT_MEMORY_LIMIT / 2**30
    motion_model: str = DEFAULT_MOTION_MODEL
    dt: float = 1.0 / 15.0
    car: CarParams = field(default_factory=CarParams)
    camera: CameraConfig = field(default_factory=CameraConfig)
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    obstacles: ObstacleConfig = field(default_factory=ObstacleConfig)
    bots: BotConfig = field(default_factory=BotConfig)
    racers: int = 1
    simapp_race_rules: bool = False

    def __post_init__(self) -> None:
        if not self.dt > 0.0:
            raise ConfigError(f"dt must be > 0 seconds, got {self.dt}.")
        if not self.reward_timeout >= 0.0:
            raise ConfigError(f"reward_timeout must be >= 0 seconds, got {self.reward_timeout}.")
        if self.reward_isolation not in ISOLATIONS:
            raise ConfigError(f"reward_isolation must be one of {', '.join(ISOLATIONS)}, got "
                              f"{self.reward_isolation!r}.")  # fmt: skip
        if not self.reward_memory_limit >= 0.0:
            raise ConfigError(f"reward_memory_limit must be >= 0 GiB, got "
                              f"{self.reward_memory_limit}.")  # fmt: skip
        if self.racers < 1:
            raise ConfigError(f"racers must be >= 1 (racing cars per world), got {self.racers}.")
        if self.motion_model not in MOTION_MODELS:
            raise ConfigError(
                f"motion_model {self.motion_model!r} is unknown; choose one of "
                f"{', '.join(MOTION_MODELS)}."
            )


def load_metadata(config: EnvConfig) -> ModelMetadata:
    """The model_metadata the config names, or racer's default.

    Raises:
        ConfigError: a sensor racer does not simulate (and `load_model_metadata`'s errors).
    """
    if not config.model_metadata:
        return DEFAULT_MODEL_METADATA
    metadata = load_model_metadata(config.model_metadata, strict=config.strict_action_space)
    unsupported = [s for s in metadata.sensor if s not in _SUPPORTED_SENSORS]
    if unsupported:
        raise ConfigError(
            f"{config.model_metadata}: sensor {', '.join(unsupported)} is not supported yet; racer "
            f"simulates {', '.join(_SUPPORTED_SENSORS)}. Remove {', '.join(unsupported)} from "
            f'"sensor".'
        )
    return metadata
