"""The trainer's view of every training step: one SB3 callback for PPO and SAC alike.

SB3 calls a callback after every vec-env step of both its on-policy (PPO) and off-policy (SAC)
collection loops, with the loop's local variables. `RecordingCallback` hands each step to a
`StepHook` (the trainer's simtrace recorder) and counts the training episodes that ended since
the rollout started, which is how `racer.train.ppo.EpisodicPPO` knows that a DeepRacer
iteration is complete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

#: Called after every vec-env step with (actions (N, ...), rewards (N,), dones (N,), infos);
#: returns the number of training episodes that ended in that step.
StepHook = Callable[[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]], int]


def count_dones(actions: np.ndarray, rewards: np.ndarray, dones: np.ndarray,
                infos: list[dict[str, Any]]) -> int:  # fmt: skip
    """The `StepHook` that records nothing: every car whose episode ended counts."""
    return int(np.sum(dones))


class RecordingCallback(BaseCallback):
    """Hands every step of an SB3 collection loop to a `StepHook`.

    Args:
        hook: the `StepHook`; `count_dones` when None.

    Attributes:
        finished: episodes the hook reported since the current rollout started.
    """

    def __init__(self, hook: StepHook | None = None) -> None:
        super().__init__()
        self.hook: StepHook = hook if hook is not None else count_dones
        self.finished = 0

    def _on_rollout_start(self) -> None:
        self.finished = 0

    def _on_step(self) -> bool:
        step = self.locals
        # the actions the env was given: SB3's on-policy loop clips (or unscales) them first
        actions = step.get("clipped_actions", step["actions"])
        self.finished += self.hook(np.asarray(actions), step["rewards"], step["dones"],
                                   step["infos"])  # fmt: skip
        return True


def find_recording(callback: BaseCallback) -> RecordingCallback | None:
    """The `RecordingCallback` in ``callback`` (SB3 may wrap it in a `CallbackList`)."""
    if isinstance(callback, RecordingCallback):
        return callback
    if isinstance(callback, CallbackList):
        for part in callback.callbacks:
            found = find_recording(part)
            if found is not None:
                return found
    return None
