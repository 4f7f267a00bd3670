"""Fit the car's speed lag (CarParams.speed_lag) to a real DeepRacer training simtrace.

The simtrace logs the model point each step and the commanded speed; the distance between two
consecutive rows over their sim-time difference is the car's actual speed under the command of the
earlier row (SPEC 1.4). This prints the RMS error of a first-order speed response for a range of
time constants.

    python scripts/fit_speed_lag.py [SIMTRACE.csv ...]
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

DEFAULT = sorted(
    (
        Path(__file__).resolve().parents[1].parent
        / "shared/deepracer-logs/drfc-reinvent-base"
        / "training-simtrace"
    ).glob("*-iteration.csv")
)


def samples(paths):
    rows = [r for p in paths for r in csv.DictReader(open(p))]
    out = []
    for a, b in zip(rows[:-1], rows[1:], strict=False):
        if a["episode"] != b["episode"] or a["episode_status"] == "prepare":
            continue
        dt = float(b["tstamp"]) - float(a["tstamp"])
        if dt <= 0.02:
            continue
        v = math.hypot(float(b["X"]) - float(a["X"]), float(b["Y"]) - float(a["Y"])) / dt
        out.append((a["episode"], float(a["throttle"]), v, dt))
    return out


def rms(data, tau):
    err, episode, speed = 0.0, None, 0.0
    for ep, cmd, v, dt in data:
        if ep != episode:
            episode, speed = ep, 0.0
        if tau > 0:
            a = math.exp(-dt / tau)
            mean = cmd + (speed - cmd) * (tau / dt) * (1 - a)
            speed = cmd + (speed - cmd) * a
        else:
            mean = speed = cmd
        err += (mean - v) ** 2
    return math.sqrt(err / len(data))


def main() -> None:
    paths = sys.argv[1:] or DEFAULT
    data = samples(paths)
    print(f"{len(data)} steps from {len(paths)} file(s)")
    for tau in (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7):
        print(f"speed_lag {tau:4.2f} s  RMS speed error {rms(data, tau):.3f} m/s")


if __name__ == "__main__":
    main()
