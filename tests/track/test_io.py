"""Reading and validating track files: every broken file gets a clear error naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from racer.errors import TrackError
from racer.track import list_bundled_tracks, load_track, track_from_array
from tests.conftest import circle_rows, require_shared_tracks, shared_track_paths


def save(tmp_path, rows, name="t.npy"):
    path = tmp_path / name
    np.save(path, rows)
    return path


def test_every_shared_deepracer_track_loads():
    require_shared_tracks()
    for path in shared_track_paths():
        track = load_track(path)
        assert track.num_waypoints == np.load(path).shape[0]
        assert track.closed == (path.stem != "Straight_track")


def test_published_lengths_match_the_spec_appendix():
    require_shared_tracks()
    lengths = {p.stem: load_track(p).length for p in shared_track_paths()}
    assert lengths["reinvent_base"] == pytest.approx(17.709159380834848, abs=1e-9)
    assert lengths["Straight_track"] == pytest.approx(5.71, abs=0.01)
    assert lengths["hamption_open"] == pytest.approx(45.93, abs=0.01)


def test_bundled_tracks_listed_and_loadable_by_name():
    infos = list_bundled_tracks()
    assert len(infos) >= 6
    names = {i.name for i in infos}
    assert "oval" in names
    for info in infos:
        assert load_track(info.name).num_waypoints == info.num_waypoints


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda r: r[:, :5], "shape"),
        (lambda r: r[:2], "at least 3"),
        (lambda r: np.where(np.arange(len(r))[:, None] == 7, np.nan, r), "row 7"),
        (lambda r: np.vstack([r[:-1], r[-1:] + [0.01, 0, 0.01, 0, 0.01, 0]]), "not equal"),
        (lambda r: np.vstack([r[:-1], np.concatenate([r[0, :2], r[0, 2:] + 0.01])]), "borders"),
        (lambda r: r[:, [0, 1, 4, 5, 2, 3]], "swap"),
    ],
    ids=["columns", "rows", "nan", "nearly-closed", "half-closed", "swapped-borders"],
)
def test_broken_track_files_get_clear_errors(tmp_path, make, fragment):
    path = save(tmp_path, make(circle_rows()))
    with pytest.raises(TrackError) as err:
        load_track(path)
    assert fragment in str(err.value)
    assert str(path.name) in str(err.value)


def test_crossing_borders_are_rejected(tmp_path):
    rows = circle_rows(radius=3.0, width=1.0)
    rows[10, 4:6] = rows[10, 2:4] * 0.5  # pull one outer point inside the inner border
    with pytest.raises(TrackError, match="crosses"):
        load_track(save(tmp_path, rows))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(TrackError, match="does not exist"):
        load_track(tmp_path / "nope.npy")
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    with pytest.raises(TrackError, match="not a readable"):
        load_track(bad)
    with pytest.raises(TrackError, match="Bundled tracks"):
        load_track("no_such_track_name")


def test_zero_length_segments_are_tolerated():
    rows = circle_rows(n=61)
    rows = np.vstack([rows[:20], rows[19:]])  # repeat row 19
    track = track_from_array(rows)
    assert track.num_waypoints == 62
    assert np.isfinite(track.point_at(np.linspace(0, track.length, 50))[2]).all()


def test_a_misspelt_track_gets_a_did_you_mean(tmp_path):
    with pytest.raises(TrackError, match=r"unknown track 'ovl'.*Did you mean 'oval'\?"):
        load_track("ovl")
    with pytest.raises(TrackError, match="Did you mean 'chicane_cw' or 'chicane_ccw'"):
        load_track("chicane")
    with pytest.raises(TrackError) as err:
        load_track("zzzz")
    assert "Did you mean" not in str(err.value) and "Bundled tracks: " in str(err.value)
    save(tmp_path, circle_rows(), "circle.npy")
    with pytest.raises(TrackError, match=r"circel.npy does not exist. Did you mean 'circle.npy'"):
        load_track(tmp_path / "circel.npy")
