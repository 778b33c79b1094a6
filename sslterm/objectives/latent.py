"""Latent targets: an EMA teacher's normalised tokens, what masked prediction predicts with ``predict = "teacher"``.

Baevski, Hsu, Xu, Babu, Gu, Auli, "data2vec: A General Framework for Self-supervised Learning in
Speech, Vision and Language", ICML 2022; Bardes, Garrido, Ponce, Chen, Rabbat, LeCun, Assran, Ballas,
"Revisiting Feature Prediction for Learning Visual Representations from Video" (V-JEPA), 2024.

Instead of the input's own tokens (pixels, samples, ids), the student predicts what an exponential
moving average of itself (the teacher, ξ ← τ·ξ + (1 − τ)·θ, τ rising to 1 along a cosine as in BYOL)
makes of the *clean, whole* input at the hidden positions, each token layer-normalised:

    y_t = LayerNorm(teacher.tokens(x)_t),        loss = mean over hidden t of ‖ŷ_t − y_t‖².

The teacher's tokens are contextualised (each one has seen every other token), so a hidden token's
target says what the whole input means there, not what its pixels were: pixel targets reward the
appearance of what is hidden, latent targets what it is doing. No gradient reaches the teacher.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslterm.models import Encoder
from sslterm.objectives.ema import cosine_momentum, ema_update, frozen_copy

PREDICT = ("input", "teacher")
"""What masked prediction predicts at hidden tokens: the input's own targets, or the EMA teacher's tokens."""


class TeacherTokens(nn.Module):
    """An EMA copy of an encoder whose layer-normalised tokens [B, T, token_dim] are the targets."""

    def __init__(self, encoder: Encoder, momentum: float) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.teacher = frozen_copy(encoder)
        self.base_momentum = self.momentum = momentum

    @torch.no_grad()
    def forward(self, x: torch.Tensor, causal: bool = False, **rest: torch.Tensor) -> torch.Tensor:
        """The teacher's tokens of the clean ``x``, each normalised over its features (no affine)."""
        h = self.teacher.tokens(x, causal=causal, **rest).float()
        return F.layer_norm(h, h.shape[-1:])

    def resume_at(self, step: int, total_steps: int) -> None:
        """The momentum after ``step`` (a function of the step, so checkpoints need not hold it)."""
        self.momentum = cosine_momentum(step, total_steps, self.base_momentum)

    @torch.no_grad()
    def follow(self, student: nn.Module, step: int, total_steps: int) -> None:
        """Move the teacher toward ``student`` with τ from the cosine schedule."""
        self.resume_at(step, total_steps)
        ema_update(self.teacher, student, self.momentum)
