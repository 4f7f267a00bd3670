"""How much `racer train --live` slows training: the same short run with and without the window.

    SDL_VIDEODRIVER=dummy python scripts/bench_live.py [--updates 6] [--repeats 2]

Runs `Trainer` for ``--updates`` updates (16 cars, the default settings, no lap checks) in a fresh
run folder, alternating without and with the live view, ``--repeats`` times each, and prints the
end-to-end steps/s of each run, the medians, and the slowdown. The window process draws at its
default 20 frames/s. Under SDL's dummy driver nothing reaches a screen, but every picture is still
drawn and blitted; on a desktop the compositor adds its own (GPU) cost.

Figures are wall-clock on this machine: noisy, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from racer.env.config import EnvConfig  # noqa: E402
from racer.train.config import TrainConfig  # noqa: E402
from racer.train.trainer import Trainer  # noqa: E402
from racer.viewer.live import LiveView  # noqa: E402


def one_run(updates: int, live: bool, track: str) -> tuple[float, int]:
    config = TrainConfig(env=EnvConfig(track=track), max_updates=updates, minutes=0.0,
                         lap_check_every=0)  # fmt: skip
    view = LiveView(track) if live else None
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, folder, say=lambda _: None, watch=view)
        try:
            result = trainer.run()
        finally:
            if view is not None:
                view.close()
    drawn = view.drawn_total if view is not None else 0
    return result.steps_per_second, drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--track", default="oval")
    args = parser.parse_args()
    plain, live = [], []
    for repeat in range(args.repeats):
        for with_live, figures in ((False, plain), (True, live)):
            rate, drawn = one_run(args.updates, with_live, args.track)
            figures.append(rate)
            extra = f", {drawn} pictures drawn" if with_live else ""
            print(f"run {repeat + 1} {'with' if with_live else 'without'} the live view: "
                  f"{rate:,.0f} steps/s{extra}", flush=True)  # fmt: skip
    a, b = statistics.median(plain), statistics.median(live)
    print(f"median steps/s: {a:,.0f} without, {b:,.0f} with the live view; "
          f"slowdown {100.0 * (1.0 - b / a):.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
