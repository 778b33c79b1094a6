"""Exponential-moving-average teachers: a frozen copy of a module and the momentum schedule that moves it.

BYOL (Grill et al., NeurIPS 2020) and DINO (Caron et al., ICCV 2021) both keep a *teacher* (target
network) whose parameters follow the student's, ξ ← τ·ξ + (1 − τ)·θ after every optimiser step, with
τ raised from its base value to 1 along a cosine,

    τ_k = 1 − (1 − τ_base) · (cos(π k / K) + 1) / 2,

so the teacher moves quickly at first and freezes at the end of training.
"""

from __future__ import annotations

import copy
import math
from typing import TypeVar

import torch
from torch import nn


def cosine_momentum(step: int, total_steps: int, base: float) -> float:
    """τ after ``step`` of ``total_steps``: ``base`` at step 0, rising along a cosine to 1 at the end."""
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {base}")
    progress = min(1.0, max(0.0, step / max(1, total_steps)))
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


M = TypeVar("M", bound=nn.Module)


def frozen_copy(module: M) -> M:
    """A deep copy of ``module`` that the optimiser never sees (``requires_grad_(False)``)."""
    teacher = copy.deepcopy(module)
    teacher.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """ξ ← τ·ξ + (1 − τ)·θ for every parameter pair, in place, on the device (no host sync).

    Buffers (batch-norm running statistics) are not averaged: the teacher keeps its own, which it
    updates whenever it runs in training mode.
    """
    t_params: list[torch.Tensor] = list(teacher.parameters())
    s_params: list[torch.Tensor] = list(student.parameters())
    if len(t_params) != len(s_params):
        raise ValueError(f"teacher has {len(t_params)} parameters, student {len(s_params)}")
    if t_params:
        torch._foreach_lerp_(t_params, [p.detach() for p in s_params], 1.0 - momentum)
