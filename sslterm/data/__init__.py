"""Built-in datasets as labelled tensors held on the training device, looked up by catalog name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset held as tensors: uint8 images [N, C, H, W] and int64 labels [N]."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    classes: tuple[str, ...]

    def to(self, device: torch.device) -> Dataset:
        """The same data on ``device`` (moved once, before training)."""
        return Dataset(self.x_train.to(device), self.y_train.to(device), self.x_eval.to(device),
                       self.y_eval.to(device), self.classes)


def _shapes(options: dict[str, Any]) -> Dataset:
    from sslterm.data.shapes import build_shapes

    return build_shapes(options)


DATASETS: dict[str, Callable[[dict[str, Any]], Dataset]] = {"shapes": _shapes}


def build_dataset(name: str, options: dict[str, Any]) -> Dataset:
    """Generate the built-in dataset ``name`` on the CPU from its catalog options."""
    return DATASETS[name](options)
