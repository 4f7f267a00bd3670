"""What N cars see: their cameras (one, or stereo), the objects drawn into them, a lidar.

The observation part of the core, apart from the track, the rules and the cars' state, as
MuJoCo keeps its renderer apart from model and data: `Observer` renders from the cars' poses
and the `ObjectWorld`'s arrays into its preallocated buffers, ``obs`` and ``lidar_obs``.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import Any

import numpy as np

from racer.formats.model_metadata import ModelMetadata
from racer.objects.drawing import BoxRenderer
from racer.objects.world import ObjectWorld
from racer.physics.car import CarState
from racer.sensors.camera import Camera, CameraConfig
from racer.sensors.lidar import (
    SECTORS,
    LidarSpec,
    discretized_observation,
    lidar_observation,
    scan,
    sector_observation,
)
from racer.sensors.texture import (
    GroundTexture,
    TextureStyle,
    render_ground_texture,
    texture_style_for_track,
)
from racer.track import TrackGeometry

#: [m] each STEREO_CAMERAS camera sits this far left and right of the centre (SPEC 4.2).
STEREO_OFFSET = 0.03
_textures: weakref.WeakKeyDictionary[TrackGeometry, dict[TextureStyle, GroundTexture]] = (
    weakref.WeakKeyDictionary()
)


def ground_texture(geometry: TrackGeometry, name: str) -> GroundTexture:
    """The track's camera texture, rendered once per track geometry and look, and cached.

    Args:
        geometry: the track's polylines.
        name: the track's name (its file stem), which picks DeepRacer's textures for it
            (`racer.sensors.texture.texture_style_for_track`: re:Invent 2018's for
            reinvent_base, the set the later tracks share for every other).
    """
    style = texture_style_for_track(name)
    styles = _textures.setdefault(geometry, {})
    texture = styles.get(style)
    if texture is None:
        texture = render_ground_texture(geometry.centre, geometry.inner, geometry.outer,
                                        geometry.closed, style=style)  # fmt: skip
        styles[style] = texture
    return texture


class Observer:
    """The sensors of N cars, as the model_metadata's ``sensor`` lists them (SPEC 4.2, 4.3).

    Args:
        metadata: the sensors (``camera``, ``lidar``) and the lidar's configuration.
        camera: the front camera's mount and optics; STEREO_CAMERAS puts two of them 6 cm apart,
            left first, stacked as the image's channels.
        geometry: the track, whose ground texture the cameras see.
        track_name: the track's name, which picks its textures (`ground_texture`).
        world: the objects the cameras and the lidar see.
        num_cars: N.

    Attributes:
        obs: (N, H, W, C) uint8 the last frames, C = 1 or 2 cameras.
        lidar_obs: (N, D) float32 the last lidar observation; D = 0 without a lidar.
        lidar: the lidar sensor's name, or None.
    """

    def __init__(self, metadata: ModelMetadata, camera: CameraConfig, geometry: TrackGeometry,
                 world: ObjectWorld, num_cars: int,
                 track_name: str = "reinvent_base") -> None:  # fmt: skip
        texture = ground_texture(geometry, track_name)
        if metadata.camera == "STEREO_CAMERAS":
            mounts = [replace(camera, mount_lateral=STEREO_OFFSET),
                      replace(camera, mount_lateral=-STEREO_OFFSET)]  # fmt: skip
        else:
            mounts = [camera]
        self.metadata = metadata
        self.world = world
        self.cameras = [Camera(mount, texture) for mount in mounts]
        self.camera = self.cameras[0]
        height, width, _ = self.camera.shape
        self.obs_shape = (height, width, len(self.cameras))
        self.box_renderers = [BoxRenderer(mount) for mount in mounts] if world.num_objects else []
        # A lidar (SPEC 4.3): an extra observation, seen through the same objects.
        self.lidar = metadata.lidar
        self.lidar_spec = LidarSpec()
        self._heights = world.heights(self.lidar_spec.mount_height)
        self._rng: np.random.Generator | None = None
        size = {"LIDAR": self.lidar_spec.samples, "SECTOR_LIDAR": SECTORS}
        if self.lidar == "DISCRETIZED_SECTOR_LIDAR":
            lc = metadata.effective_lidar_config
            size[self.lidar] = lc.num_sectors * lc.num_values_per_sector
        self.lidar_size = size.get(self.lidar or "", 0)
        self.obs = np.zeros((num_cars, *self.obs_shape), np.uint8)
        self.lidar_obs = np.zeros((num_cars, self.lidar_size), np.float32)
        self._frames = np.zeros((num_cars, *self.camera.shape), np.uint8)

    def seed(self, rng: np.random.Generator, again: bool = False) -> None:
        """Seed the lidar's noise from ``rng``: at the first reset, and ``again`` on a reseed."""
        if self.lidar and (self._rng is None or again):
            self._rng = np.random.default_rng(int(rng.integers(2**63)))

    def observe(self, car: CarState, index: np.ndarray | None = None) -> None:
        """Render every sensor of cars ``index`` (None: all) into ``obs`` and ``lidar_obs``."""
        if index is None:
            self._render(car, None)
        else:
            self.obs[index] = self._render(car, index)
        if self.lidar:
            sel = slice(None) if index is None else index
            self.lidar_obs[sel] = self._scan(car, index)

    def observation(self, index: np.ndarray | int | None = None) -> Any:
        """A copy of the observation of cars ``index`` (None: all; an int: one car, unbatched).

        The camera image alone, (..., H, W, C) uint8; with a lidar, a dict of the camera image
        and the lidar's (..., D) float32 under their sensor names.
        """
        sel = slice(None) if index is None else index
        if not self.lidar:
            return self.obs[sel].copy()
        return {self.metadata.camera: self.obs[sel].copy(), self.lidar: self.lidar_obs[sel].copy()}

    def _render(self, car: CarState, index: np.ndarray | None) -> np.ndarray:
        """Render the cameras of cars ``index`` (None: all, into ``obs``), objects included.

        Returns the (K, H, W, C) frames: one channel per camera.
        """
        w = self.world
        if index is None:
            x, y, yaw, out = car.x, car.y, car.yaw, self.obs
            boxes = (w.x, w.y, w.yaw)
        else:
            x, y, yaw = car.x[index], car.y[index], car.yaw[index]
            out = np.empty((len(index), *self.obs_shape), np.uint8)
            boxes = (w.x[index], w.y[index], w.yaw[index])
        single = len(self.cameras) == 1
        for c, camera in enumerate(self.cameras):
            if single:
                frames = out
            elif index is None:
                frames = self._frames
            else:
                frames = np.empty((len(x), *camera.shape), np.uint8)
            camera.render(x, y, yaw, frames)
            if self.box_renderers:
                self.box_renderers[c].render(frames, x, y, yaw, *boxes, **w.drawn)
            if not single:
                out[..., c] = frames[..., 0]
        return out

    def _scan(self, car: CarState, index: np.ndarray | None) -> np.ndarray:
        """The lidar observation of cars ``index`` (None: all), (K, D) float32.

        The lidar sees the boxes (0.25 m tall) and the bot cars; a bot's body is taken to reach
        the lidar's height (a DeepRacer car carries its lidar at that height).
        """
        w = self.world
        sel = slice(None) if index is None else index
        length, width = w.hit_size
        ranges = scan(self.lidar_spec, car.x[sel], car.y[sel], car.yaw[sel], w.x[sel], w.y[sel],
                      w.yaw[sel], length, width, self._heights, self._rng)  # fmt: skip
        if self.lidar == "LIDAR":
            return lidar_observation(ranges)
        if self.lidar == "SECTOR_LIDAR":
            return sector_observation(ranges)
        lc = self.metadata.effective_lidar_config
        return discretized_observation(ranges, lc.num_sectors, lc.num_values_per_sector,
                                       lc.clipping_dist)  # fmt: skip
