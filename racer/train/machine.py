"""Where a run's work goes: torch's device, and the threads of the update and the camera."""

from __future__ import annotations

import numba

from racer.train.config import TrainConfig, auto_threads, usable_cores


def run_threads(config: TrainConfig) -> tuple[int, int]:
    """(torch, numba) threads of a run: the config's, or `auto_threads` where it says 0."""
    torch_threads = config.torch_threads or auto_threads()
    numba_threads = min(config.numba_threads or auto_threads(), numba.config.NUMBA_NUM_THREADS)
    return torch_threads, numba_threads


def machine_summary(config: TrainConfig) -> str:
    """Where a run's work goes: "updates on cpu, 1 torch and 1 numba thread(s) of 2 cores"."""
    from stable_baselines3.common.utils import get_device

    torch_threads, numba_threads = run_threads(config)
    return (f"updates on {get_device(config.device)}, {torch_threads} torch and {numba_threads} "
            f"numba thread(s) of {usable_cores()} cores")
