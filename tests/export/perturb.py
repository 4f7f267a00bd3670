"""A test helper: a policy layer changed for the duration of a check, restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def scaled_weights(layer: torch.nn.Module, factor: float) -> Iterator[None]:
    """Multiply ``layer.weight`` by ``factor`` inside the block, then put the weights back."""
    saved = layer.weight.detach().clone()
    try:
        with torch.no_grad():
            layer.weight.mul_(factor)
        yield
    finally:
        with torch.no_grad():
            layer.weight.copy_(saved)
