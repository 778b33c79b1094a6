"""DINO: self-distillation with no labels; a student matches a centred, sharpened EMA teacher.

Caron, Touvron, Misra, Jégou, Mairal, Bojanowski, Joulin, "Emerging Properties in Self-Supervised
Vision Transformers", ICCV 2021.

Student and teacher are each an encoder and a projection head ending in K prototype scores; the
teacher is an exponential moving average of the student. For views a, b with student scores s and
teacher scores t [B, K], and a centre c [K] (an EMA of the teacher's batch-mean scores),

    P_t = softmax((t − c) / τ_t),   log P_s = log_softmax(s / τ_s),
    H(t, s) = −1/B Σ_i Σ_k P_t[i, k] · log P_s[i, k],
    loss = ½ (H(t_a, s_b) + H(t_b, s_a)).

Centring stops one prototype from dominating; sharpening (τ_t < τ_s) stops the uniform solution.
The teacher's temperature may warm up linearly from ``warmup_teacher_temp`` to ``teacher_temp``
over the first ``teacher_temp_warmup`` of training (the paper: 0.04 to 0.07 over 30 epochs), a sharp
teacher early on keeping the centring from flattening it to uniform. Two global views (no multi-crop).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslterm import catalog
from sslterm.data import Batch
from sslterm.objectives.base import Augment, Context, Loss, Objective
from sslterm.objectives.ema import cosine_momentum, ema_update, frozen_copy
from sslterm.objectives.infonce import concat_views
from sslterm.utils.dist import mean as dist_mean


class DINOHead(nn.Module):
    """MLP to a bottleneck, ℓ2-normalised, then cosine scores against K prototypes (weight-normalised, g = 1).

    [B, F] → [B, K] with every score in [−1, 1]; :meth:`bottleneck` gives the normalised [B, D].
    The hidden layers use batch norm (the DINO code's ``use_bn_in_head``): without it, a small
    CNN's outputs are so alike across examples that the centred teacher turns uniform at once.
    """

    def __init__(self, in_dim: int, hidden: int, bottleneck: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.prototypes = nn.Parameter(torch.randn(out_dim, bottleneck) / bottleneck**0.5)

    def bottleneck(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(h), dim=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(h) @ F.normalize(self.prototypes, dim=1).T


def teacher_probs(t: torch.Tensor, center: torch.Tensor, temperature: float) -> torch.Tensor:
    """Centred and sharpened teacher distribution softmax((t − c) / τ_t): [B, K]."""
    return F.softmax((t - center) / temperature, dim=1)


def cross_entropy(p_teacher: torch.Tensor, s: torch.Tensor, temperature: float) -> torch.Tensor:
    """H(P_t, P_s) = −mean_i Σ_k P_t[i, k] log softmax(s / τ_s)[i, k]."""
    return -(p_teacher * F.log_softmax(s / temperature, dim=1)).sum(dim=1).mean()


def dino_loss(s1: torch.Tensor, s2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor, center: torch.Tensor,
              student_temp: float, teacher_temp: float) -> torch.Tensor:
    """½ (H(t1, s2) + H(t2, s1)): each view's teacher distribution supervises the other view's student."""
    p1 = teacher_probs(t1.detach(), center, teacher_temp)
    p2 = teacher_probs(t2.detach(), center, teacher_temp)
    return 0.5 * (cross_entropy(p1, s2, student_temp) + cross_entropy(p2, s1, student_temp))


def teacher_temperature(step: int, total_steps: int, start: float, end: float, warmup: float) -> float:
    """τ_t after ``step``: linear from ``start`` to ``end`` over the first ``warmup`` of the steps, then ``end``."""
    span = warmup * total_steps
    if span <= 0 or step >= span:
        return end
    return start + (end - start) * max(0, step) / span


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the rows of p [B, K]: ln K when uniform, 0 when one-hot."""
    return -(p * p.clamp(min=1e-12).log()).sum(dim=1).mean()


_DEFAULTS = catalog.get("objective", "dino").defaults()
"""DINO's defaults: the catalog declares them, once."""


class DINO(Objective):
    """DINO with a momentum teacher, a centred and sharpened teacher distribution, two views.

    Shapes: encoder [B, ...] → [B, F]; head [B, F] → [B, K] (K = ``out_dim``; hidden width
    ``ctx.projector_hidden``, bottleneck ``ctx.projector_dim``); centre [K]. Metrics:
    ``teacher_entropy`` (near 0: collapse to one prototype; near ln K: collapse to uniform),
    ``kl`` (H − teacher entropy: how far the student is from the teacher), ``prototypes_used``
    (exp of the entropy of the batch-mean teacher distribution: 1 when every example picks the same
    prototype), ``momentum``, ``teacher_temp`` (τ_t now).
    """

    center: torch.Tensor

    def __init__(self, ctx: Context, out_dim: int = _DEFAULTS["out_dim"],
                 student_temp: float = _DEFAULTS["student_temp"], teacher_temp: float = _DEFAULTS["teacher_temp"],
                 center_momentum: float = _DEFAULTS["center_momentum"],
                 momentum: float = _DEFAULTS["momentum"],
                 warmup_teacher_temp: float = _DEFAULTS["warmup_teacher_temp"],
                 teacher_temp_warmup: float = _DEFAULTS["teacher_temp_warmup"]) -> None:
        super().__init__(ctx)
        catalog.check_args("objective", "dino", out_dim=out_dim, student_temp=student_temp,
                           teacher_temp=teacher_temp, center_momentum=center_momentum, momentum=momentum,
                           warmup_teacher_temp=warmup_teacher_temp, teacher_temp_warmup=teacher_temp_warmup)
        self.student_temp, self.final_teacher_temp = student_temp, teacher_temp
        self.warmup_teacher_temp, self.teacher_temp_warmup = warmup_teacher_temp, teacher_temp_warmup
        self.teacher_temp = teacher_temperature(0, 1, warmup_teacher_temp, teacher_temp, teacher_temp_warmup)
        self.center_momentum = center_momentum
        self.base_momentum = self.momentum = momentum
        self.head = DINOHead(ctx.encoder.out_dim, ctx.projector_hidden, ctx.projector_dim, out_dim)
        self.teacher_encoder = frozen_copy(self.encoder)
        self.teacher_head = frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(out_dim))

    def forward(self, batch: Batch, augment: Augment, gen: torch.Generator) -> Loss:
        views = concat_views(augment(batch, gen), augment(batch, gen))   # [2B, ...]
        s1, s2 = self.head(self.encoder(**views)).chunk(2)                 # [B, K] student scores
        with torch.no_grad():
            t = self.teacher_head(self.teacher_encoder(**views))           # [2B, K] teacher scores
        t1, t2 = t.chunk(2)
        loss = dino_loss(s1, s2, t1, t2, self.center, self.student_temp, self.teacher_temp)
        with torch.no_grad():
            p = teacher_probs(t, self.center, self.teacher_temp)
            h_teacher = entropy(p)
            used = entropy(p.mean(dim=0, keepdim=True)).exp()
            if self.training:                                             # a held-out evaluation leaves it alone
                self.update_center(t)
        return loss, {"teacher_entropy": h_teacher, "kl": loss.detach() - h_teacher, "prototypes_used": used,
                      "momentum": torch.full((), self.momentum, device=loss.device),
                      "teacher_temp": torch.full((), self.teacher_temp, device=loss.device)}

    @torch.no_grad()
    def update_center(self, t: torch.Tensor) -> None:
        """c ← m·c + (1 − m)·mean of the teacher scores [2B, K] over the batch (in place, no sync)."""
        mean = dist_mean(t.to(self.center.dtype).mean(dim=0))  # every process; in the centre's dtype (bf16 autocast)
        self.center.lerp_(mean, 1.0 - self.center_momentum)

    def resume_at(self, step: int, total_steps: int) -> None:
        """Momentum and teacher temperature after ``step`` (functions of the step: checkpoints need not hold them)."""
        self.momentum = cosine_momentum(step, total_steps, self.base_momentum)
        self.teacher_temp = teacher_temperature(step, total_steps, self.warmup_teacher_temp, self.final_teacher_temp,
                                                self.teacher_temp_warmup)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """Move the teacher toward the student with τ from the cosine schedule."""
        self.resume_at(step, total_steps)
        ema_update(self.teacher_encoder, self.encoder, self.momentum)
        ema_update(self.teacher_head, self.head, self.momentum)

    @torch.no_grad()
    def embed(self, batch: Batch) -> torch.Tensor:
        """The student head's normalised bottleneck embedding [B, D]."""
        return self.head.bottleneck(self.encoder(**batch))
