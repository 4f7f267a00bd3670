"""Tracks in the wrong units, far from the origin or narrower than the car are refused clearly."""

from __future__ import annotations

import numpy as np
import pytest

from racer.cli import main
from racer.errors import TrackError
from racer.track import load_track
from racer.track.io import read_track_array, resolve_track_path


@pytest.fixture
def oval_rows():
    return read_track_array(resolve_track_path("oval"))


def save(tmp_path, name, rows):
    path = tmp_path / f"{name}.npy"
    np.save(path, rows)
    return path


def test_a_track_in_centimetres_is_refused_with_the_fix(tmp_path, oval_rows):
    path = save(tmp_path, "centimetres", np.round(oval_rows * 100.0))
    fix = r"centimetres.npy is 766 m across.*divide it by 100 \(7.7 m across\)"
    with pytest.raises(TrackError, match=fix):
        load_track(path)


def test_coordinates_far_from_the_origin_are_refused(tmp_path, oval_rows):
    path = save(tmp_path, "far", oval_rows + 1e12)
    with pytest.raises(TrackError, match=r"coordinates up to 1e\+12 m; DeepRacer tracks are"):
        load_track(path)


def test_a_road_narrower_than_the_car_is_refused(tmp_path, oval_rows):
    thin = oval_rows.copy()
    centre = thin[:, 0:2]
    for side in (slice(2, 4), slice(4, 6)):  # borders 0.5 mm either side of the centre line
        offset = thin[:, side] - centre
        thin[:, side] = centre + 0.0005 * offset / np.linalg.norm(offset, axis=1, keepdims=True)
    with pytest.raises(TrackError, match=r"the road is 0.001 m wide .* narrower than the car"):
        load_track(save(tmp_path, "thin", thin))


def test_the_cli_says_it_in_one_paragraph(tmp_path, oval_rows, capsys):
    path = save(tmp_path, "centimetres", oval_rows * 100.0)
    assert main(["raceline", str(path), "--out", str(tmp_path / "line")]) != 0
    err = capsys.readouterr().err
    assert "divide it by 100" in err and "Traceback" not in err
