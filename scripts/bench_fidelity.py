"""How far each of racer's motion models drifts from DeepRacer's simulated car on real logs.

For every simtrace set given (a CSV, a console model folder, a deepracer-for-cloud folder with
one or several workers, or a DeepRacer-on-AWS folder), racer's car starts at each logged pose
with the logged commands and drives K rows open loop; the table gives the model point's position
error and the heading error after K = 1, 15 and 45 rows (median and 90th percentile) for every
motion model and for a constant-velocity baseline (`racer.lab.fidelity`).

    python scripts/bench_fidelity.py [LOG ...] [--rows 1,15,45]

Without LOG it measures the real logs in ../shared/deepracer-logs/ (training and evaluation
simtraces of each folder apart).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from racer.errors import RacerError
from racer.lab.fidelity import MotionLog, open_loop_errors
from racer.logs.simtrace import find_simtraces, read_simtrace
from racer.physics.car import CarParams
from racer.physics.motion import MOTION_MODELS, make_motion_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "deepracer-logs"
DEFAULT_LOGS = ("drfc-reinvent-base-full", "droa-spain")


def log_sets(path: Path) -> list[tuple[str, list[Path]]]:
    """(label, simtrace files) for a log path: its training and its evaluation files apart."""
    found = find_simtraces(path)
    return [(f"{path.name} {kind}", files) for kind, files in found.items() if files]


def table(label: str, log: MotionLog, horizons: tuple[int, ...]) -> list[str]:
    """The markdown rows of one log set: one per model, position and heading per horizon."""
    lines = []
    for name in ("constant velocity", *MOTION_MODELS):
        model = None if name == "constant velocity" else make_motion_model(name, CarParams())
        errors = open_loop_errors(log, model, horizons)
        cells = []
        for rows in horizons:
            s = errors[rows].summary()
            cells.append(f"{s['pos_median']:.3f} / {s['pos_p90']:.3f} m, "
                         f"{s['head_median']:.1f} / {s['head_p90']:.1f} deg")  # fmt: skip
        lines.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logs", nargs="*", type=Path, help="simtrace CSVs or model folders")
    parser.add_argument("--rows", default="1,15,45", help="horizons K [rows], comma-separated")
    args = parser.parse_args(argv)
    horizons = tuple(int(k) for k in args.rows.split(","))
    paths = args.logs or [SHARED / name for name in DEFAULT_LOGS]
    head = " | ".join(f"K={k}: position median / p90, heading median / p90" for k in horizons)
    print(f"| log | model | {head} |")
    print("|---|---|" + "---|" * len(horizons))
    try:
        for path in paths:
            for label, files in log_sets(path):
                trace = read_simtrace(files)
                for warning in trace.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                log = MotionLog.from_simtrace(trace)
                print("\n".join(table(f"{label} ({len(log)} rows)", log, horizons)))
    except RacerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
