"""`racer analyze`: the numbers behind each analysis plot, the files written, the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from racer.cli import main
from racer.errors import LogError
from racer.lab.analyze import analyze_run, compute_analysis
from racer.logs.simtrace import SIMTRACE_COLUMNS, find_simtraces, read_simtrace
from racer.track import load_track
from tests.conftest import DEEPRACER_LOGS, DEEPRACER_TRACKS

DRFC = DEEPRACER_LOGS / "drfc-reinvent-base"
REINVENT = DEEPRACER_TRACKS / "reinvent_base.npy"
PLOTS = ("reward_map.png", "speed_map.png", "actions.png", "actions_by_section.png",
         "progress.png", "start_positions.png", "off_track.png")  # fmt: skip


def episode_rows(episode, s_values, actions, rewards, progress, waypoints, final, shift=0.0):
    """One episode's rows in SPEC 6.1's 19-column format: a prepare row, then driven rows."""
    track = load_track("oval")
    x, y, yaw = track.point_at(np.array(s_values, dtype=float))
    y = y + shift
    rows = []
    for i in range(len(s_values)):
        status = "prepare" if i == 0 else (final if i == len(s_values) - 1 else "in_progress")
        action = actions[i]
        steer, speed = action if isinstance(action, tuple) else (10.0 * action, 1.0 + action)
        label = f"[{steer} {speed}]" if isinstance(action, tuple) else str(action)
        rows.append([episode, float(i + 1), x[i], y[i], np.degrees(yaw[i]), steer, speed, label,
                     rewards[i], i == len(s_values) - 1, final != "off_track", progress[i],
                     waypoints[i], track.length, 0.1 * i, status, 0.0, 0, 1.7e9 + i])  # fmt: skip
    return rows


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(SIMTRACE_COLUMNS)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def run(tmp_path):
    """A racer-style run folder: 2 iterations of 2 episodes on the oval."""
    folder = tmp_path / "run"
    sim = folder / "training-simtrace"
    write_csv(sim / "0-iteration.csv",
              episode_rows(0, [0.0, 0.5, 1.0, 1.5], [0, 1, 2, 1], [0.0, 1.0, 2.0, 0.5],
                           [0.0, 2.8, 5.6, 8.4], [0, 3, 5, 8], "off_track")
              + episode_rows(1, [4.0, 4.5, 5.0], [0, 0, 2], [0.0, 1.0, 1.0],
                             [0.0, 2.8, 5.6], [20, 23, 25], "crashed"))  # fmt: skip
    write_csv(sim / "1-iteration.csv",
              episode_rows(2, [8.0, 9.0, 10.0], [1, 1, 1], [0.0, 3.0, 3.0],
                           [0.0, 5.6, 100.0], [40, 45, 51], "lap_complete")
              + episode_rows(3, [12.0, 13.0], [2, 2], [0.0, 4.0],
                             [0.0, 30.0], [60, 70], "off_track"))  # fmt: skip
    return folder


def test_computed_numbers(run):
    trace = read_simtrace(find_simtraces(run)["training"])
    a = compute_analysis(trace, load_track("oval"), sections=4)
    assert not a.continuous
    np.testing.assert_array_equal(a.episode_number, [0, 1, 2, 3])
    np.testing.assert_array_equal(a.episode_iteration, [0, 0, 1, 1])
    np.testing.assert_array_equal(a.episode_progress, [8.4, 5.6, 100.0, 30.0])
    np.testing.assert_array_equal(a.episode_reward, [3.5, 2.0, 6.0, 4.0])
    assert list(a.episode_status) == ["off_track", "crashed", "lap_complete", "off_track"]
    np.testing.assert_array_equal(a.iterations, [0, 1])
    np.testing.assert_allclose(a.iteration_progress, [7.0, 65.0])
    np.testing.assert_allclose(a.iteration_reward, [2.75, 5.0])
    # only episode 2 completed its lap: 3 rows 0.1 s apart
    np.testing.assert_allclose(a.episode_lap_time, [np.nan, np.nan, 0.2, np.nan])
    np.testing.assert_allclose(a.iteration_lap_time, [np.nan, 0.2])
    np.testing.assert_allclose(a.iteration_best_lap_time, [np.nan, 0.2])
    np.testing.assert_array_equal(a.start_waypoint, [0, 20, 40, 60])
    # driven rows only (prepare rows are left out): actions 1,2,1 | 0,2 | 1,1 | 2
    assert a.action_labels == ["0", "1", "2"]
    np.testing.assert_array_equal(a.action_counts, [1, 4, 3])
    assert len(a.x) == 8 and a.reward.sum() == pytest.approx(15.5)
    # 89 distinct waypoints in 4 sections; driven waypoints 3 5 8 | 23 25 | 45 51 | 70
    np.testing.assert_array_equal(a.section_bounds, [0, 22, 44, 67, 89])
    np.testing.assert_array_equal(a.section_counts, [[0, 2, 1], [1, 0, 1], [0, 2, 0], [0, 0, 1]])
    track = load_track("oval")
    x, y, _ = track.point_at(np.array([1.5, 5.0, 13.0]))
    np.testing.assert_allclose(a.off_x, x)
    np.testing.assert_allclose(a.off_y, y)
    assert list(a.off_status) == ["off_track", "crashed", "off_track"]


def test_continuous_actions_are_binned_by_steering(tmp_path):
    log = tmp_path / "trace.csv"
    write_csv(log, episode_rows(0, [0.0, 0.5, 1.0, 1.5, 2.0],
                                [(0.0, 1.0), (-25.0, 1.5), (0.0, 2.0), (15.0, 3.0), (29.0, 1.0)],
                                [0.0, 1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 3.0, 4.0],
                                [0, 1, 2, 3, 4], "off_track"))  # fmt: skip
    a = compute_analysis(read_simtrace(log), load_track("oval"))
    assert a.continuous
    assert len(a.action_labels) == 7
    np.testing.assert_array_equal(a.action_counts, [1, 0, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(a.steer, [-25.0, 0.0, 15.0, 29.0])
    np.testing.assert_array_equal(a.throttle, [1.5, 2.0, 3.0, 1.0])


def test_all_plots_and_index_are_written(run):
    result = analyze_run(run, "oval")
    assert result.out == run / "analysis"
    assert list(result.plots) == list(PLOTS)
    for name in PLOTS:
        assert (result.out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = result.index.read_text()
    for name, caption in result.plots.items():
        assert f'src="{name}"' in page
        assert caption.split(":")[0] in page
    assert "4 episodes in 2 iterations, 1 laps completed" in page


def test_a_log_from_another_track_is_refused(tmp_path):
    log = tmp_path / "trace.csv"
    write_csv(log, episode_rows(0, [0.0, 0.5, 1.0], [0, 1, 2], [0.0, 1.0, 1.0], [0.0, 1.0, 2.0],
                                [0, 1, 2], "off_track", shift=40.0))  # fmt: skip
    with pytest.raises(LogError, match="centre line of track oval"):
        analyze_run(log, "oval", out=tmp_path / "out")


def test_cli(run, tmp_path, capsys):
    assert main(["analyze", str(run), "--track", "oval", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "analysed 4 episodes in 2 iterations on oval: 7 plots" in out
    assert (tmp_path / "a" / "index.html").exists()
    assert main(["analyze", str(tmp_path / "nowhere"), "--track", "oval"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_real_drfc_run(tmp_path):
    if not (DRFC.is_dir() and REINVENT.exists()):
        pytest.skip(f"the real DeepRacer logs and tracks are not at {DEEPRACER_LOGS}")
    result = analyze_run(DRFC, REINVENT, out=tmp_path)
    a = result.analysis
    assert len(a.episode_progress) == 40 and list(a.iterations) == [0, 1]
    assert not a.continuous and int(a.action_counts.sum()) == len(a.x)
    assert all((tmp_path / name).exists() for name in PLOTS)


def test_every_lap_of_a_continuous_evaluation_counts(tmp_path):
    # DeepRacer's continuous evaluation logs its first two laps' ends as in_progress rows at
    # progress 100, and only the last as lap_complete: all three are laps.
    if not (DRFC.is_dir() and REINVENT.exists()):
        pytest.skip(f"the real DeepRacer logs and tracks are not at {DEEPRACER_LOGS}")
    trace = read_simtrace(find_simtraces(DRFC)["evaluation"])
    a = compute_analysis(trace, load_track(REINVENT))
    assert list(a.episode_status) == ["in_progress", "in_progress", "lap_complete"]
    # first to last row's tstamp of each lap (the first lap's rows start at 6.978 s)
    np.testing.assert_allclose(a.episode_lap_time, [14.746, 13.739, 14.659], atol=1e-3)


def captured_axes(monkeypatch):
    """{PNG name: [(x label, y label, tick labels) of each visible axes]} of the plots drawn."""
    from racer.plots import analysis as plots

    drawn = {}
    save = plots.save_figure

    def keep(fig, plt, out):
        drawn[out.name] = [(ax.get_xlabel(), ax.get_ylabel(),
                            [t.get_text() for t in ax.get_xticklabels()])
                           for ax in fig.axes if ax.get_visible()]  # fmt: skip
        return save(fig, plt, out)

    monkeypatch.setattr(plots, "save_figure", keep)
    return drawn


def test_the_action_charts_show_steering_and_speed(run, monkeypatch):
    drawn = captured_axes(monkeypatch)
    result = analyze_run(run, "oval")
    a = result.analysis
    # episode_rows logs action i as steering 10 i [deg] at 1 + i [m/s]
    np.testing.assert_array_equal(a.action_steer, [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(a.action_speed, [1.0, 2.0, 3.0])
    axis = "action: index, steering [deg], speed [m/s]"
    assert drawn["actions.png"] == [(axis, "steps", ["0\n+0°\n1 m/s", "1\n+10°\n2 m/s",
                                                     "2\n+20°\n3 m/s"])]  # fmt: skip
    # six sections in 2 rows of 3: y labelled in the first column, x in the bottom row
    sections = drawn["actions_by_section.png"]
    assert [y for _, y, _ in sections] == ["steps", "", "", "steps", "", ""]
    assert [x for x, _, _ in sections] == ["", "", "", axis, axis, axis]
    assert all(t == ["0: +0°, 1", "1: +10°, 2", "2: +20°, 3"] for _, _, t in sections)
    caption = result.plots["actions.png"]
    assert "continuous" not in caption and "3 discrete actions" in caption
    assert "steering [deg] and speed [m/s]" in caption
    assert "continuous" not in result.index.read_text()


def test_a_continuous_runs_action_charts_say_so(tmp_path, monkeypatch):
    log = tmp_path / "trace.csv"
    write_csv(log, episode_rows(0, [0.0, 0.5, 1.0, 1.5], [(0.0, 1.0), (-25.0, 1.5), (0.0, 2.0),
                                                         (15.0, 3.0)],
                                [0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 3.0], [0, 1, 2, 3],
                                "off_track"))  # fmt: skip
    drawn = captured_axes(monkeypatch)
    result = analyze_run(log, "oval", out=tmp_path / "out", sections=1)
    (hist, colour_bar) = drawn["actions.png"]
    assert hist[:2] == ("steering [deg]", "speed [m/s]")
    assert "continuous action space" in result.plots["actions.png"]
    ((x, y, ticks),) = drawn["actions_by_section.png"]
    assert (x, y) == ("steering bin [deg]", "steps") and ticks[0] == "-30..-20°"
    np.testing.assert_allclose(result.analysis.action_steer[:2], [-25.0, -15.0])
