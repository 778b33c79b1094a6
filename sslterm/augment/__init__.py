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
    """The enabled augmentations in order, each applied to the whole batch.

    For objectives whose targets are the input (:meth:`with_clean_targets`) each augmentation's
    catalog entry says what it does to the targets (``extra['targets']``): ``"view"`` chooses the part
    of the example seen without corrupting it (a crop, a flip) and applies to input and targets alike;
    ``"skip"`` moves the content so no clean target lines up with it (token deletion, speed
    perturbation) and is not applied there; any other corrupts the input only.
    """

    def __init__(self, spec: dict[str, dict[str, Any]]) -> None:
        self.names = tuple(spec)
        self.steps = [(get_augmentation(name), params) for name, params in spec.items()]
        self.roles = tuple(catalog.get("augmentation", name).extra.get("targets", "input") for name in spec)

    def __call__(self, batch: Batch, gen: torch.Generator) -> Batch:
        for fn, params in self.steps:
            batch = fn(batch, params, gen)
        return batch

    def with_clean_targets(self, batch: Batch, gen: torch.Generator) -> tuple[Batch, Batch]:
        """(the batch targets are taken from, the input): views applied to both, corruptions to the input only."""
        target = batch
        for (fn, params), role in zip(self.steps, self.roles, strict=True):
            if role == "view":
                target = fn(target, params, gen)
        corrupted = target
        for (fn, params), role in zip(self.steps, self.roles, strict=True):
            if role == "input":
                corrupted = fn(corrupted, params, gen)
        return target, corrupted

    def skipped_for_targets(self) -> tuple[str, ...]:
        """The augmentations :meth:`with_clean_targets` leaves out (they would corrupt the targets)."""
        return tuple(n for n, role in zip(self.names, self.roles, strict=True) if role == "skip")


def clean_targets(augment: Any, batch: Batch, gen: torch.Generator) -> tuple[Batch, Batch]:
    """(targets' batch, input batch) for objectives whose targets are the input, for any augment callable.

    A :class:`Pipeline` keeps the targets clean; another callable (a test's identity) is taken as a
    corruption of the input alone.
    """
    if isinstance(augment, Pipeline):
        return augment.with_clean_targets(batch, gen)
    return batch, augment(batch, gen)


__all__ = ["BatchAugmentation", "Pipeline", "TensorAugmentation", "clean_targets", "get_augmentation", "on_x"]
