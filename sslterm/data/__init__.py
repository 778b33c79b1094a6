"""Datasets as tensors held on the training device, looked up by catalog name.

A batch is a ``dict[str, Tensor]`` whose tensors share their first dimension: ``x`` always (images
[B, C, H, W], clips [B, T, C, H, W], waveforms [B, L], token ids [B, L], node features [B, V, F]),
plus whatever else a modality needs (graphs: ``adj`` [B, V, V] and ``mask`` [B, V]). Making a batch
is an index gather on every tensor; uint8 pixel data becomes float in [0, 1] at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sslterm import catalog

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Dataset:
    """A training split, a labelled held-out split, and the facts encoders need about the data."""

    train: Batch
    eval: Batch
    y_train: torch.Tensor | None
    y_eval: torch.Tensor | None
    classes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    """Shape facts for encoders and objectives: channels, image_size, vocab_size, seq_len, ..."""

    def __len__(self) -> int:
        return int(self.train["x"].shape[0])

    def size(self, split: str) -> int:
        """Examples in ``split`` (``train`` or ``eval``)."""
        return int(getattr(self, split)["x"].shape[0])

    def nbytes(self) -> int:
        """Bytes held by both splits and their labels (what placing it on a device takes)."""
        tensors = [*self.train.values(), *self.eval.values(), self.y_train, self.y_eval]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def to(self, device: torch.device, train: bool = True, eval_rows: int | None = None) -> Dataset:
        """The same data on ``device`` (moved once, before training).

        With ``train`` false the training split and its labels stay where they are (streamed batch
        by batch instead); ``eval_rows`` keeps only the first rows of the held-out split.
        """

        def move(t: torch.Tensor, rows: int | None = None) -> torch.Tensor:
            return t[:rows].to(device)

        y_train = self.y_train if self.y_train is None or not train else move(self.y_train)
        y_eval = None if self.y_eval is None else move(self.y_eval, eval_rows)
        return Dataset({k: move(v) for k, v in self.train.items()} if train else self.train,
                       {k: move(v, eval_rows) for k, v in self.eval.items()}, y_train, y_eval, self.classes, self.info)

    def batch(self, split: str, idx: torch.Tensor) -> Batch:
        """Gather examples ``idx`` of ``split``; uint8 pixels become float in [0, 1]."""
        return {k: decode(v[idx]) for k, v in getattr(self, split).items()}


def decode(t: torch.Tensor) -> torch.Tensor:
    """uint8 pixel data → float32 in [0, 1]; anything else unchanged."""
    return t.float().div_(255) if t.dtype == torch.uint8 else t


def build_dataset(name: str, options: dict[str, Any], cache: Path | None = None) -> Dataset:
    """Build the dataset ``name`` (generated on the CPU, or read from ``options['path']``).

    With a ``cache`` directory a generated dataset is kept there and read back by later runs with
    the same options (see :mod:`sslterm.data.cache`).
    """
    builder = catalog.implementation("dataset", name)
    if cache is not None and "path" not in options:
        from sslterm.data.cache import cached

        return cached(cache, name, options, builder)
    result: Dataset = builder(options)
    return result


__all__ = ["Batch", "Dataset", "build_dataset", "decode"]
