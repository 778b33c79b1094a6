"""The objective interface: a pretext task owns its heads (and any teacher) and makes a loss."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sslterm.config import ModelConfig
from sslterm.data import Batch
from sslterm.models import Encoder

Loss = tuple[torch.Tensor, dict[str, torch.Tensor]]
"""A scalar loss tensor and named scalar metric tensors, all still on the device."""
Augment = Any  # a callable (Batch, torch.Generator) -> Batch, e.g. sslterm.augment.Pipeline


@dataclass(frozen=True)
class Context:
    """What an objective is built from: the encoder to train, facts about the data, head sizes."""

    encoder: Encoder
    info: dict[str, Any] = field(default_factory=dict)
    projector_hidden: int = ModelConfig.projector_hidden    # [model]'s defaults, declared there once
    projector_dim: int = ModelConfig.projector_dim


class Objective(nn.Module):
    """A pretext objective. ``forward(batch, augment, gen)`` → (loss, metrics), both on the device.

    Subclasses make the views they need with ``augment``, run ``self.encoder`` and their heads,
    and return scalar tensors only (never ``.item()``: the loop reads them at log intervals).
    """

    targets_are_input = False
    """Whether the targets are the input itself (next-token, masked, inpainting): augmentations then
    corrupt the input only, and held-out metrics are measured on clean data. Set by
    :func:`sslterm.objectives.build_objective` from the catalog, the one place that says so."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.encoder = ctx.encoder

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        raise NotImplementedError

    def after_step(self, step: int, total_steps: int) -> None:
        """Called after every optimiser step (an EMA teacher is updated here)."""

    def resume_at(self, step: int, total_steps: int) -> None:
        """Set what follows from the step alone (an EMA momentum) to its value after ``step``; for resume."""

    def trainable(self) -> Iterator[nn.Parameter]:
        """Parameters the optimiser updates (a teacher's are excluded)."""
        return (p for p in self.parameters() if p.requires_grad)

    def target_count(self, batch: Batch) -> torch.Tensor:
        """How many targets a clean ``batch`` holds: the weight of its loss among held-out batches (rows)."""
        return torch.tensor(float(batch["x"].shape[0]), device=batch["x"].device)

    def metric_weights(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Metrics weighted otherwise than by :meth:`target_count` among held-out batches, and their weights.

        Next-token's ``bits_per_byte`` is weighted by the bytes its tokens spell, so the held-out value
        is Σ bits / Σ bytes whatever the tokeniser.
        """
        return {}

    @torch.no_grad()
    def features(self, batch: Batch) -> torch.Tensor:
        """Representations of a batch [B, D] for probes and transfer: the encoder's output."""
        return self.encoder(**batch)

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        """The embedding the objective compares [B, D'], shown in similarity snapshots.

        Defaults to :meth:`features`; objectives with a projection head return its output.
        """
        return self.features(batch)
