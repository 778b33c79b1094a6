"""Probes on frozen features: kNN, a linear probe trained to convergence, and the online probe.

Every function takes features already computed (on any device) and returns accuracies as
tensors (no host sync), so the training loop can call them between steps and read them back
only when it logs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def knn_predict(bank: torch.Tensor, bank_y: torch.Tensor, queries: torch.Tensor, num_classes: int, k: int = 20,
                temperature: float = 0.07, chunk: int = 1024) -> torch.Tensor:
    """Class predictions [m] by a similarity-weighted vote of the k nearest bank features (cosine).

    Each of the k neighbours votes for its class with weight exp(cos / temperature), as in
    Wu et al. (CVPR 2018) and DINO (Caron et al., ICCV 2021). Queries are processed in chunks.
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    bank_n = F.normalize(bank.float(), dim=1)
    k = min(k, bank_n.shape[0])
    preds = []
    for q in F.normalize(queries.float(), dim=1).split(chunk):
        sims, idx = (q @ bank_n.T).topk(k, dim=1)                  # [c, k]
        votes = torch.zeros(q.shape[0], num_classes, device=q.device)
        votes.scatter_add_(1, bank_y[idx], torch.exp(sims / temperature))
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds)


def knn_accuracy(bank: torch.Tensor, bank_y: torch.Tensor, queries: torch.Tensor, query_y: torch.Tensor,
                 num_classes: int, k: int = 20, temperature: float = 0.07) -> torch.Tensor:
    """Fraction of queries whose kNN prediction is their label."""
    pred = knn_predict(bank, bank_y, queries, num_classes, k, temperature)
    return (pred == query_y).float().mean()


def standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Centre and scale features with the training set's statistics."""
    mean, std = train.mean(dim=0), train.std(dim=0).clamp(min=1e-6)
    return [(t - mean) / std for t in (train, *others)]


def linear_probe(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, epochs: int = 200, lr: float = 0.05, weight_decay: float = 1e-4,
                 seed: int = 0) -> torch.Tensor:
    """Held-out accuracy of a logistic-regression probe trained full-batch on standardised features."""
    train, test = standardise(train.float(), test.float())
    gen = torch.Generator(device="cpu").manual_seed(seed)
    head = nn.Linear(train.shape[1], num_classes).to(train.device)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * 0.01)
        head.bias.zero_()
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(head(train), train_y).backward()
        opt.step()
    with torch.no_grad():
        return (head(test).argmax(dim=1) == test_y).float().mean()


class OnlineProbe(nn.Module):
    """A linear classifier trained alongside pretraining on detached features; never touches the encoder."""

    def __init__(self, dim: int, num_classes: int, lr: float = 1e-3, fused: bool = False) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"an online probe needs at least 2 classes, got {num_classes}")
        self.norm = nn.BatchNorm1d(dim, affine=False)
        self.head = nn.Linear(dim, num_classes)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr, fused=fused)

    @torch.no_grad()
    def update(self, features: torch.Tensor, y: torch.Tensor) -> None:
        """One Adam step of softmax regression on features [n, dim] (treated as constants) and labels y [n].

        The gradient is written out rather than traced: with constant inputs and a norm without
        parameters, d(mean cross-entropy)/d(logits) = (softmax − one-hot) / n is all autograd would
        find, and writing it takes a few kernels and no graph (this runs every training step).
        """
        self.train()
        x = self.norm(features.float())                              # batch statistics; updates the running ones
        g = torch.softmax(self.head(x), dim=1)                       # [n, C]
        g.scatter_add_(1, y[:, None], g.new_full((g.shape[0], 1), -1.0))
        g /= g.shape[0]
        self.head.weight.grad = g.T @ x                              # [C, dim]
        self.head.bias.grad = g.sum(dim=0)                           # [C]
        self.optimizer.step()

    @torch.no_grad()
    def accuracy(self, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Accuracy on held-out features."""
        self.eval()
        return (self.head(self.norm(features.float())).argmax(dim=1) == y).float().mean()

    def state(self) -> dict[str, Any]:
        """The probe's weights and optimiser state, for checkpoints."""
        return {"module": self.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved."""
        self.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
