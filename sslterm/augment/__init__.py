"""Batched augmentations looked up by catalog name, and the pipeline that chains them.

An augmentation works on a whole batch on the training device; every random choice is a tensor
of per-sample values drawn from the generator it is given, so a seed fixes every view. Tensor
functions (``x -> x``, e.g. :func:`sslterm.augment.image.color_jitter`) are the public API; the
registry holds them lifted to batches (``Batch -> Batch``) so modalities whose batches carry more
than ``x`` (graphs) fit the same pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sslterm.augment import image
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


AUGMENTATIONS: dict[str, BatchAugmentation] = {
    "random_resized_crop": on_x(image.random_resized_crop),
    "horizontal_flip": on_x(image.horizontal_flip),
    "color_jitter": on_x(image.color_jitter),
    "grayscale": on_x(image.grayscale),
}


class Pipeline:
    """The enabled augmentations in order, each applied to the whole batch."""

    def __init__(self, spec: dict[str, dict[str, Any]]) -> None:
        unknown = [name for name in spec if name not in AUGMENTATIONS]
        if unknown:
            raise KeyError(f"no implementation for augmentation(s) {unknown}; known: {sorted(AUGMENTATIONS)}")
        self.steps = [(AUGMENTATIONS[name], params) for name, params in spec.items()]

    def __call__(self, batch: Batch, gen: torch.Generator) -> Batch:
        for fn, params in self.steps:
            batch = fn(batch, params, gen)
        return batch


__all__ = ["AUGMENTATIONS", "BatchAugmentation", "Pipeline", "TensorAugmentation", "on_x"]
