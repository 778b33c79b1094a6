"""Device choice: ``auto`` means CUDA when torch sees it, else the CPU."""

from __future__ import annotations

import torch


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)
