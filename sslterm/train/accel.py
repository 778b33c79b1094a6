"""Speed switches of ``[train]``: bf16 autocast, channels-last weights, torch.compile, and the fused AdamW.

Each leaves what is saved unchanged: weights and optimiser state stay fp32, compiled networks keep
their parameter names (the compiled function replaces ``forward`` on the module itself, so
``state_dict`` has no ``_orig_mod.`` prefix), and channels-last weights load into any layout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import nn

from sslterm.config import TrainConfig


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """The context the forward pass runs in: bf16 autocast on ``device``, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(module: nn.Module) -> None:
    """Store every 4-D weight (2-D convolutions) channels-last, in place; inputs follow the weights."""
    module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch accepts it; its stubs do not


def compile_networks(module: nn.Module) -> list[str]:
    """torch.compile the ``forward`` of each network directly under ``module`` (encoder, heads, teacher).

    The objective's own forward, with its augmentations and random generators, stays eager; the
    compiled code replaces ``forward`` on each module instance, so hooks still run and the names in
    ``state_dict`` are unchanged. Returns the names of the compiled networks.
    """
    names = []
    for name, child in module.named_children():
        if any(True for _ in child.parameters()):
            child.forward = torch.compile(child.forward)
            names.append(name)
    return names


def fused_available(device: torch.device) -> bool:
    """Whether torch has a fused AdamW kernel for ``device`` (CUDA; the CPU since torch 2.4)."""
    if device.type == "cuda":
        return True
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return device.type == "cpu" and (major, minor) >= (2, 4)


def make_optimizer(params: Iterable[nn.Parameter], cfg: TrainConfig, device: torch.device,
                   fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW over ``params``; fused into one kernel per step where torch has one (``fused=None``)."""
    use_fused = fused_available(device) if fused is None else fused
    return torch.optim.AdamW(list(params), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=use_fused)
