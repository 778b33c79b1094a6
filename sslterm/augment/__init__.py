"""Batched augmentations looked up by catalog name, and the pipeline that chains them.

Each augmentation is a function ``(x, params, gen) -> x`` over a whole batch on the training
device; every random choice is a tensor of per-sample values drawn from ``gen``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sslterm.augment.image import color_jitter, grayscale, horizontal_flip, random_resized_crop

Augmentation = Callable[[torch.Tensor, dict[str, Any], torch.Generator], torch.Tensor]

AUGMENTATIONS: dict[str, Augmentation] = {
    "random_resized_crop": random_resized_crop,
    "horizontal_flip": horizontal_flip,
    "color_jitter": color_jitter,
    "grayscale": grayscale,
}

__all__ = ["AUGMENTATIONS", "Augmentation", "Pipeline"]


class Pipeline:
    """The enabled augmentations in order, each applied to the whole batch."""

    def __init__(self, spec: dict[str, dict[str, Any]]) -> None:
        unknown = [name for name in spec if name not in AUGMENTATIONS]
        if unknown:
            raise KeyError(f"no implementation for augmentation(s) {unknown}; known: {sorted(AUGMENTATIONS)}")
        self.steps = [(AUGMENTATIONS[name], params) for name, params in spec.items()]

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        for fn, params in self.steps:
            x = fn(x, params, gen)
        return x
