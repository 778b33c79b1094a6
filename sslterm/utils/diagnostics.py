"""Collapse diagnostics of a batch of embeddings, all computed on the device without a sync.

- ``embedding_std``: mean per-dimension standard deviation of the L2-normalised embeddings;
  about 1/sqrt(d) when embeddings spread over the sphere, near 0 when they collapse to a point
  (Jing et al., "Understanding Dimensional Collapse in Contrastive SSL", ICLR 2022; used as a
  monitor in SimSiam, Chen & He, CVPR 2021).
- ``rankme``: the effective rank exp(H(p)), p the normalised singular values of the embedding
  matrix (Garrido et al., "RankMe", ICML 2023); between 1 (collapsed) and min(n, d).
- ``alignment`` and ``uniformity`` (Wang & Isola, ICML 2020): E‖f(x)−f(x⁺)‖^α over positive
  pairs (lower is better aligned) and log E exp(−t‖f(x)−f(y)‖²) over all pairs (lower is more
  uniform), both on L2-normalised embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def embedding_std(z: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of the std of L2-normalised embeddings z [n, d]."""
    return F.normalize(z.float(), dim=1).std(dim=0).mean()


def rankme(z: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Effective rank of z [n, d]: exp of the entropy of its normalised singular values."""
    s = torch.linalg.svdvals(z.float())
    p = s / (s.sum() + eps) + eps
    return torch.exp(-(p * p.log()).sum())


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Mean ‖u1 − u2‖^α over positive pairs of L2-normalised embeddings [n, d]."""
    u1, u2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    return (u1 - u2).norm(dim=1).pow(alpha).mean()


def uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """log of the mean Gaussian potential exp(−t‖u_i − u_j‖²) over distinct pairs i < j."""
    u = F.normalize(z.float(), dim=1)
    sq = torch.pdist(u).pow(2)
    return torch.log(torch.exp(-t * sq).mean())
