"""Tracks: DeepRacer track files, their validation, and batched geometric queries."""

from racer.track.geometry import Track, TrackGeometry, TrackQuery
from racer.track.io import (
    TrackInfo,
    bundled_tracks_dir,
    list_bundled_tracks,
    load_track,
    read_track_array,
    resolve_track_path,
    track_from_array,
    validate_track,
)

__all__ = [
    "Track",
    "TrackGeometry",
    "TrackInfo",
    "TrackQuery",
    "bundled_tracks_dir",
    "list_bundled_tracks",
    "load_track",
    "read_track_array",
    "resolve_track_path",
    "track_from_array",
    "validate_track",
]
