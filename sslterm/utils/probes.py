"""Probes on frozen features: kNN, a linear probe trained to convergence, and the online probe.

Every function takes features already computed (on any device) and returns accuracies as
tensors. kNN and the online probe never sync with the host, so the training loop calls them
between steps and reads them back only when it logs; the linear probe's L-BFGS decides on the
host, so it runs only in evaluation (``sslterm eval``, benchmarks), never in the loop.
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


PROTOCOL = "L-BFGS logistic regression, L2 strength from 1e-6..1 chosen on 20% of the training features"
"""The linear probe's protocol in a few words, for records that say how they were measured."""
L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""Strengths λ of the probe's penalty λ‖W‖² (on mean cross-entropy) tried on the validation split."""
VALIDATION_SHARE = 0.2
"""Share of each class's training features held out to choose λ."""


def validation_split(y: torch.Tensor, num_classes: int, seed: int,
                     share: float = VALIDATION_SHARE) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (fit, validation) of labels ``y``: a seeded ``share`` of each class (at least one) is held out."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.randperm(y.shape[0], generator=gen).to(y.device)
    order = order[torch.argsort(y[order], stable=True)]            # grouped by class, shuffled within
    counts = torch.bincount(y, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    sorted_y = y[order]
    rank = torch.arange(y.shape[0], device=y.device) - starts[sorted_y]
    held = rank < (counts[sorted_y] * share).ceil().clamp(min=1)
    held &= counts[sorted_y] > 1                                    # a class of one stays in the fit
    return order[~held], order[held]


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, max_iter: int = 500,
                 tol: float = 1e-4, start: tuple[torch.Tensor, torch.Tensor] | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights [C, d] and bias [C] minimising mean cross-entropy + ``l2``·‖W‖² on features ``x`` [n, d].

    Full-batch L-BFGS with a strong-Wolfe line search, from zero (or ``start``), until the largest
    gradient entry is below ``tol`` or ``max_iter`` iterations; the bias is not penalised. The
    problem is strictly convex for l2 > 0, so the answer does not depend on the start.
    """
    weight = (start[0].clone() if start else x.new_zeros(num_classes, x.shape[1])).requires_grad_(True)
    bias = (start[1].clone() if start else x.new_zeros(num_classes)).requires_grad_(True)
    opt = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, max_eval=max_iter * 5 // 4 + 20,
                            tolerance_grad=tol, tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(x @ weight.T + bias, y) + l2 * weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)                                               # host syncs: L-BFGS decides on the host
    return weight.detach(), bias.detach()


def choose_l2(x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int = 0, grid: tuple[float, ...] = L2_GRID,
              ) -> tuple[float, tuple[torch.Tensor, torch.Tensor] | None]:
    """The λ of ``grid`` whose probe, fitted on 80% of the training features, is most accurate on the other 20%.

    Returns λ and that fit (a start for the refit on all features). Only training features and
    labels are read. Ties go to the larger λ; the path runs from the largest λ down, each fit
    starting from the previous solution.
    """
    fit, val = validation_split(y, num_classes, seed)
    if val.numel() == 0:
        return max(grid), None
    best, best_acc, best_fit, start = max(grid), -1.0, None, None
    for l2 in sorted(grid, reverse=True):
        start = fit_logistic(x[fit], y[fit], num_classes, l2, start=start)
        acc = float(((x[val] @ start[0].T + start[1]).argmax(dim=1) == y[val]).float().mean())
        if acc > best_acc:
            best, best_acc, best_fit = l2, acc, start
    return best, best_fit


def row_space(train: torch.Tensor, *others: torch.Tensor, rel_tol: float = 1e-6) -> list[torch.Tensor]:
    """Coordinates of ``train`` [n, d] and ``others`` in an orthonormal basis of train's row space (n < d).

    An L2-penalised linear model's weights lie in the span of its training features (the penalty
    only grows outside it), so the probe solved in these ≤ n coordinates is the probe on all d
    dimensions, at a fraction of the cost when d ≫ n (raw video: 24,576 values per clip).
    Directions whose Gram eigenvalue is below ``rel_tol`` × the largest are dropped.
    """
    evals, evecs = torch.linalg.eigh((train @ train.T).double())    # [n], [n, n]
    keep = evals > evals.max() * rel_tol
    evals, evecs = evals[keep], evecs[:, keep]
    scale = evals.sqrt()
    inverse = (evecs / scale).to(train.dtype)                       # X Q = U √Λ with Q = Xᵀ U / √Λ
    return [(evecs * scale).to(train.dtype), *((o @ train.T) @ inverse for o in others)]


def linear_probe_record(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
                        num_classes: int, seed: int = 0) -> dict[str, Any]:
    """The converged linear probe: ``{"accuracy": held-out accuracy (tensor), "l2": the λ chosen}``.

    Logistic regression on features standardised with the training statistics, its L2 strength
    chosen from :data:`L2_GRID` on a seeded 20% of the training features (never the test split), then
    refitted on all training features with that λ and trained to convergence (L-BFGS), as the
    linear evaluations of SimCLR and CLIP do with scikit-learn.
    """
    train, test = standardise(train.float(), test.float())
    if train.shape[1] > train.shape[0]:
        train, test = row_space(train, test)
    l2, start = choose_l2(train, train_y, num_classes, seed)
    weight, bias = fit_logistic(train, train_y, num_classes, l2, start=start)
    with torch.no_grad():
        return {"accuracy": ((test @ weight.T + bias).argmax(dim=1) == test_y).float().mean(), "l2": l2}


def linear_probe(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
                 num_classes: int, seed: int = 0) -> torch.Tensor:
    """Held-out accuracy of the converged linear probe (:func:`linear_probe_record`)."""
    return linear_probe_record(train, train_y, test, test_y, num_classes, seed)["accuracy"]


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
