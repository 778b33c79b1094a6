"""A module's training or eval mode for a block of code, restored afterwards even when the block fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def mode(module: nn.Module, training: bool) -> Iterator[None]:
    """Put ``module`` in training (True) or eval (False) mode for the block; its previous mode comes back after."""
    was = module.training
    module.train(training)
    try:
        yield
    finally:
        module.train(was)
