"""Deterministic train / held-out splits for datasets read from users' files."""

from __future__ import annotations

from typing import Any

import torch

from sslterm.data import Dataset

EVAL_FRACTION = 0.1
"""The share of a user's labelled examples held out for evaluation."""


def split_order(n: int, seed: int = 0, eval_fraction: float = EVAL_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) indices of ``n`` examples: one seeded shuffle, ``eval_fraction`` (at least one) held out."""
    if n < 2:
        raise ValueError(f"need at least 2 examples to hold one out for evaluation, found {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_eval = max(1, round(n * eval_fraction))
    return order[n_eval:], order[:n_eval]


def split_labelled(data: dict[str, torch.Tensor], y: torch.Tensor | None, classes: tuple[str, ...],
                   info: dict[str, Any], seed: int = 0, eval_fraction: float = EVAL_FRACTION) -> Dataset:
    """Shuffle once with ``seed`` and hold out ``eval_fraction`` (at least one example) for evaluation."""
    tr, ev = split_order(int(next(iter(data.values())).shape[0]), seed, eval_fraction)
    return Dataset({k: v[tr] for k, v in data.items()}, {k: v[ev] for k, v in data.items()},
                   None if y is None else y[tr], None if y is None else y[ev], classes, info)
