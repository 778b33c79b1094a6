"""A pre-norm transformer stack shared by the sequence encoders (text, ViT, audio frames, video)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Pre-norm self-attention and MLP with residual connections; optionally causal."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, causal: bool = False, key_padding: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, D]; ``key_padding`` [B, T] is True at positions no token may attend to."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        mask = None
        if key_padding is not None:
            mask = ~key_padding[:, None, None, :]                  # [B, 1, 1, T], True = may attend
            if causal:
                mask = mask & torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
                causal = False
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=causal)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


class TransformerStack(nn.Module):
    """``depth`` blocks and a final LayerNorm: [B, T, D] → [B, T, D]."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, causal: bool = False, key_padding: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, causal=causal, key_padding=key_padding)
        return self.norm(x)


def masked_mean(h: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over the token axis of h [B, T, D], counting only ``valid`` [B, T] positions."""
    if valid is None:
        return h.mean(dim=1)
    w = valid.to(h.dtype).unsqueeze(-1)
    return (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1)
