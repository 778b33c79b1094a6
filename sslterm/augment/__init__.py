"""Batched augmentations looked up through the catalog, and the pipeline that chains them.

An augmentation works on a whole batch on the training device; every random choice is a tensor
of per-sample values drawn from the generator it is given, so a seed fixes every view. Tensor
functions (``x -> x``, e.g. :func:`sslterm.augment.image.color_jitter`) are the public API; the
pipeline lifts them to batches (``Batch -> Batch``) so modalities whose batches carry more
than ``x`` (graphs) fit the same pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sslterm import catalog
from sslterm.data import Batch

TensorAugmentation = Callable[[torch.Tensor, dict[str, Any], torch.Generator], torch.Tensor]
BatchAugmentation = Callable[[Batch, dict[str, Any], torch.Generator], Batch]


def on_x(fn: TensorAugmentation) -> BatchAugmentation:
    """Lift an augmentation of ``x`` to one of whole batches (other tensors pass through)."""

    def lifted(batch: Batch, params: dict[str, Any], gen: torch.Generator) -> Batch:
        return {**batch, "x": fn(batch["x"], params, gen)}

    lifted.__name__ = fn.__name__
    lifted.__doc__ = fn.__doc__
    return lifted


def get_augmentation(name: str) -> BatchAugmentation:
    """The batch-level augmentation ``name`` (tensor functions are lifted with :func:`on_x`)."""
    entry = catalog.get("augmentation", name)
    fn = catalog.implementation("augmentation", name)
    return fn if entry.extra.get("batch") else on_x(fn)


class Pipeline:
    """The enabled augmentations in order, each applied to the whole batch."""

    def __init__(self, spec: dict[str, dict[str, Any]]) -> None:
        self.steps = [(get_augmentation(name), params) for name, params in spec.items()]

    def __call__(self, batch: Batch, gen: torch.Generator) -> Batch:
        for fn, params in self.steps:
            batch = fn(batch, params, gen)
        return batch


__all__ = ["BatchAugmentation", "Pipeline", "TensorAugmentation", "get_augmentation", "on_x"]
