"""The best-model rule the trainer, its resumed state and the reward graph share."""

from __future__ import annotations

import pytest

from racer.formats.best_model import (
    LAPTIME_INCOMPLETE_MS,
    best_group,
    evaluation_groups,
    group_score,
    lap_summary,
)


def entry(episode, progress, ms, reward=10):
    return {"phase": "evaluation", "episode": episode, "completion_percentage": progress,
            "elapsed_time_in_milliseconds": ms, "reward_score": reward}  # fmt: skip


def best_of(groups, metric):
    return best_group([group_score(group, metric) for group in groups])


def test_laptime_picks_the_fastest_evaluation_that_completes_every_lap():
    slow = [entry(1, 100, 16_000), entry(1, 100, 15_000)]
    fast = [entry(2, 100, 12_000), entry(2, 100, 13_000)]
    faster_but_one_off = [entry(3, 100, 9_000), entry(3, 40, 3_000)]
    groups = [slow, fast, faster_but_one_off]
    assert best_of(groups, "laptime") == 1
    assert group_score(faster_but_one_off, "laptime")[0] == -(9_000 + LAPTIME_INCOMPLETE_MS) / 2
    # DeepRacer's default keeps the last evaluation with the best mean progress instead
    assert best_of(groups, "progress") == 1
    assert best_of([fast, slow], "progress") == 1


def test_more_completed_laps_beat_faster_fewer_and_progress_decides_among_none():
    one = [entry(1, 100, 8_000), entry(1, 20, 1_000)]
    two = [entry(2, 100, 20_000), entry(2, 100, 20_000)]
    assert best_of([two, one], "laptime") == 0
    far = [entry(1, 60, 5_000), entry(1, 50, 5_000)]
    near = [entry(2, 10, 1_000), entry(2, 20, 1_000)]
    assert best_of([far, near], "laptime") == 0  # no lap: the further evaluation
    assert best_of([near, far], "laptime") == 1


def test_ties_go_to_the_later_evaluation_and_unknown_metrics_fail():
    a, b = [entry(1, 100, 10_000)], [entry(2, 100, 10_000)]
    assert best_of([a, b], "laptime") == 1 and best_of([a, b], "progress") == 1
    with pytest.raises(ValueError, match="best_model_metric"):
        group_score(a, "speed")
    with pytest.raises(ValueError):
        best_group([])


def test_groups_follow_the_episode_count_and_laps_are_summarised():
    entries = [entry(6, 100, 12_000), {"phase": "training", "episode": 7}, entry(3, 50, 1),
               entry(6, 30, 2_000)]  # fmt: skip
    groups = evaluation_groups(entries)
    assert [key for key, _ in groups] == [3, 6] and len(groups[1][1]) == 2
    assert lap_summary(groups[1][1]) == (1, 12.0)
    laps, seconds = lap_summary(groups[0][1])
    assert laps == 0 and seconds != seconds  # NaN
