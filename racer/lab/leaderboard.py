"""The leaderboard of ``racer bench``: one row per (reward function, track), from job results."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from racer.logs.atomic import write_text_atomic

#: The leaderboard's columns, in order (CSV names; the Markdown header spells them out).
COLUMNS = ("rank", "track", "reward", "seeds", "completion_pct", "mean_lap_s", "best_lap_s",
           "ideal_lap_s", "lap_over_ideal", "off_track_per_run", "lapped_in_training",
           "steps_to_first_lap", "train_steps")  # fmt: skip
_HEADER = ("rank", "track", "reward function", "seeds", "completion", "mean lap [s]",
           "best lap [s]", "ideal lap [s]", "mean lap / ideal", "off track per run",
           "lapped in training", "steps to first lap (median)",
           "training steps (mean)")  # fmt: skip
RUN_COLUMNS = ("key", "reward", "track", "seed", "laps", "laps_target", "lap_times",
               "off_track", "crashed", "resets", "steps_to_first_lap", "timesteps",
               "train_seconds", "steps_per_second", "ideal_lap_time")  # fmt: skip


def leaderboard_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Aggregate job results per (track, reward function) and rank them within each track.

    Completion is the share of evaluation laps driven, over all seeds; lap times are over every
    lap of every seed; steps to the first lap is the median over the seeds that lapped in
    training. Ranking: completion first, then mean lap time (no lap: last).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["track"], result["reward"]), []).append(result)
    rows = []
    for (track, reward), runs in groups.items():
        laps = [t for r in runs for t in r["lap_times"]]
        firsts = [r["steps_to_first_lap"] for r in runs if r["steps_to_first_lap"] >= 0]
        ideal = float(runs[0]["ideal_lap_time"])
        mean_lap = float(np.mean(laps)) if laps else math.nan
        rows.append({
            "track": track, "reward": reward, "seeds": len(runs),
            "completion_pct": 100.0 * sum(r["laps"] for r in runs)
            / sum(r["laps_target"] for r in runs),
            "mean_lap_s": mean_lap, "best_lap_s": float(min(laps)) if laps else math.nan,
            "ideal_lap_s": ideal, "lap_over_ideal": mean_lap / ideal if ideal > 0 else math.nan,
            "off_track_per_run": float(np.mean([r["off_track"] for r in runs])),
            "lapped_in_training": f"{len(firsts)}/{len(runs)}",
            "steps_to_first_lap": float(np.median(firsts)) if firsts else math.nan,
            "train_steps": float(np.mean([r["timesteps"] for r in runs])),
        })  # fmt: skip
    rows.sort(key=lambda r: (r["track"], -r["completion_pct"],
                             r["mean_lap_s"] if r["mean_lap_s"] == r["mean_lap_s"] else math.inf))
    rank, track = 0, None
    for row in rows:
        rank = 1 if row["track"] != track else rank + 1
        track = row["track"]
        row["rank"] = rank
    return rows


def _cell(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def write_leaderboard(results: list[dict[str, Any]], out: Path) -> tuple[Path, Path, Path, Path]:
    """Write leaderboard.md, leaderboard.csv, runs.csv and learning_curves.png into ``out``."""
    from racer.plots.bench import draw_learning_curves

    rows = leaderboard_rows(results)
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for row in rows:
        values = [str(row["rank"]), row["track"], f"`{row['reward']}`", str(row["seeds"]),
                  _cell(row["completion_pct"], 0) + " %", _cell(row["mean_lap_s"]),
                  _cell(row["best_lap_s"]),
                  _cell(row["ideal_lap_s"]), _cell(row["lap_over_ideal"]),
                  _cell(row["off_track_per_run"], 1), row["lapped_in_training"],
                  _cell(row["steps_to_first_lap"]), _cell(row["train_steps"])]  # fmt: skip
        lines.append("| " + " | ".join(values) + " |")
    budget = float(results[0]["budget_minutes"]) if results else 0.0
    spent = f"{budget:g} min" if budget >= 1.0 else f"{60.0 * budget:.3g} s"
    laps = int(results[0]["laps_target"]) if results else 3
    kind = race_type(results[0]) if results else "a time trial"
    if results and results[0].get("race"):
        kind += ", the race recipe: racer train --race"
    text = (f"Each run: {spent} of training ({kind}), then DeepRacer's evaluation of the best "
            "checkpoint "
            f"({laps} lap{'s' if laps != 1 else ''}, off-track resets with penalties, which the "
            "lap times include).\n\n" + "\n".join(lines) + "\n")
    board = out / "leaderboard.md"
    write_text_atomic(board, text)
    board_csv = out / "leaderboard.csv"
    write_text_atomic(board_csv, _csv(COLUMNS, rows))
    runs_csv = out / "runs.csv"
    runs = [dict(r, lap_times=" ".join(f"{t:.3f}" for t in r["lap_times"])) for r in results]
    write_text_atomic(runs_csv, _csv(RUN_COLUMNS, runs))
    curves: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]] = {}
    for r in results:
        seeds = curves.setdefault(r["track"], {}).setdefault(r["reward"], [])
        seeds.append((np.asarray(r["curve"]["timesteps"], np.float64),
                      np.asarray(r["curve"]["eval_progress"], np.float64)))  # fmt: skip
    plot = draw_learning_curves(curves, out / "learning_curves.png")
    return board, board_csv, runs_csv, plot


def race_type(result: dict[str, Any]) -> str:
    """The race type a bench run trained and was evaluated in, in words."""
    parts = []
    boxes = int(result.get("obstacles", 0))
    if boxes:
        moved = " moved every episode" if result.get("randomize_obstacles") else ""
        parts.append(f"{boxes} box{'es' if boxes != 1 else ''}{moved}")
    bots = int(result.get("bots", 0))
    if bots:
        parts.append(f"{bots} bot car{'s' if bots != 1 else ''}")
    return " and ".join(parts) if parts else "a time trial"


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if isinstance(row[c], float) and math.isnan(row[c]) else row[c]
                         for c in columns])  # fmt: skip
    return out.getvalue()
