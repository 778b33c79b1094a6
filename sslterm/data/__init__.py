"""Datasets as tensors held on the training device, looked up by catalog name.

A batch is a ``dict[str, Tensor]`` whose tensors share their first dimension: ``x`` always (images
[B, C, H, W], clips [B, T, C, H, W], waveforms [B, L], token ids [B, L], node features [B, V, F]),
plus whatever else a modality needs (graphs: ``adj`` [B, V, V] and ``mask`` [B, V]). Making a batch
is an index gather on every tensor; uint8 pixel data becomes float in [0, 1] at that moment, and
int16 samples (audio prepared from files) float in [-1, 1].

A *windowed* dataset (``window`` > 0: text prepared into a token stream) holds each split's ``x``
as one flat token stream [T] (uint8 bytes, or BPE ids as uint16 or int32); its examples are windows
of ``window`` tokens (id = stored value + 2):
every start position in the training split (windows overlap and cross document boundaries), and in
the held-out split windows that start ``window − 1`` tokens apart, so consecutive ones share one
token and every held-out token but the first is a next-token target exactly once (the last window
is padded with PAD).
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
    window: int = 0
    """Tokens per example of a windowed dataset (each split's ``x`` a token stream); 0: rows."""

    def __len__(self) -> int:
        return self.size("train")

    def size(self, split: str) -> int:
        """Examples in ``split`` (``train`` or ``eval``)."""
        x = getattr(self, split)["x"]
        if not self.window:
            return int(x.shape[0])
        t = int(x.shape[0])
        return max(0, t - self.window + 1) if split == "train" else max(1, -(-(t - 1) // self.stride("eval")))

    def epoch_size(self) -> int:
        """Training examples one epoch visits: all of them; of a windowed split, the windows that do not
        overlap (one every ``window`` tokens), so an epoch reads every token once (but the last < ``window``)."""
        n = self.size("train")
        return n if not self.window else max(1, (n - 1) // self.window + 1)

    def stride(self, split: str) -> int:
        """Tokens between the starts of consecutive examples of a windowed split."""
        return 1 if split == "train" else max(1, self.window - 1)

    def nbytes(self) -> int:
        """Bytes held by both splits and their labels (what placing it on a device takes)."""
        tensors = [*self.train.values(), *self.eval.values(), self.y_train, self.y_eval]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def to(self, device: torch.device, train: bool = True, eval_rows: int | None = None) -> Dataset:
        """The same data on ``device`` (moved once, before training).

        With ``train`` false the training split and its labels stay where they are (streamed batch
        by batch instead); ``eval_rows`` keeps only the first examples of the held-out split.
        """
        eval_keep = eval_rows if eval_rows is None or not self.window else eval_rows * self.stride("eval") + 1

        def move(t: torch.Tensor, rows: int | None = None) -> torch.Tensor:
            return t[:rows].to(device)

        y_train = self.y_train if self.y_train is None or not train else move(self.y_train)
        y_eval = None if self.y_eval is None else move(self.y_eval, eval_rows)
        return Dataset({k: move(v) for k, v in self.train.items()} if train else self.train,
                       {k: move(v, eval_keep) for k, v in self.eval.items()}, y_train, y_eval, self.classes,
                       self.info, self.window)

    def rows(self, split: str, idx: torch.Tensor) -> Batch:
        """Examples ``idx`` of ``split`` as stored (uint8 pixels stay uint8; windows become token ids)."""
        data = getattr(self, split)
        if not self.window:
            return {k: v[idx] for k, v in data.items()}
        return {"x": windows(data["x"], idx * self.stride(split), self.window)}

    def batch(self, split: str, idx: torch.Tensor) -> Batch:
        """Gather examples ``idx`` of ``split``; uint8 pixels become float in [0, 1]."""
        return {k: decode(v) for k, v in self.rows(split, idx).items()}


def windows(stream: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Token ids int64 [B, length] of the stream [T] from ``starts`` [B] (id = stored value + 2; PAD = 0 past the end).

    The stream is uint8 (bytes), int16 (a uint16 stream read as signed: its values come back unsigned)
    or int32.
    """
    pos = starts[:, None] + torch.arange(length, device=starts.device)             # [B, L]
    inside = pos < stream.shape[0]
    ids = stream[pos.clamp(max=stream.shape[0] - 1)].long()
    if stream.dtype == torch.int16:
        ids &= 0xFFFF
    return (ids + 2).masked_fill_(~inside, 0)                                      # text.OFFSET, text.PAD


def decode(t: torch.Tensor) -> torch.Tensor:
    """uint8 pixel data → float32 in [0, 1]; int16 audio samples (prepared audio) → float32 in [-1, 1];
    anything else unchanged."""
    if t.dtype == torch.uint8:
        return t.float().div_(255)
    return t.float().div_(32767) if t.dtype == torch.int16 else t


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


__all__ = ["Batch", "Dataset", "build_dataset", "decode", "windows"]
