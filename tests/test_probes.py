"""The converged linear probe: separable data, convergence, determinism, and λ chosen on training features only."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sslterm.utils.probes import fit_logistic, linear_probe, linear_probe_record, row_space, validation_split


def gaussians(n: int, d: int, classes: int, seed: int, spread: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points around ``classes`` fixed centres (the same for every seed) in ``d`` dimensions."""
    centres = torch.randn(classes, d, generator=torch.Generator().manual_seed(7))
    y = torch.arange(n) % classes
    return centres[y] + spread * torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), y


def largest_gradient(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, l2: float) -> float:
    """max |∂/∂(W, b)| of mean cross-entropy + l2·‖W‖², in float64."""
    w, b = weight.double().requires_grad_(True), bias.double().requires_grad_(True)
    (F.cross_entropy(x.double() @ w.T + b, y) + l2 * w.square().sum()).backward()
    assert w.grad is not None and b.grad is not None
    return max(float(w.grad.abs().max()), float(b.grad.abs().max()))


def test_separable_classes_are_all_found() -> None:
    x, y = gaussians(200, 10, 5, seed=0, spread=0.1)
    xt, yt = gaussians(100, 10, 5, seed=1, spread=0.1)
    assert linear_probe(x, y, xt, yt, 5) == 1.0


def test_the_fit_stops_at_a_vanishing_gradient() -> None:
    x, y = gaussians(300, 6, 3, seed=0, spread=1.5)                 # overlapping classes: a finite optimum
    weight, bias = fit_logistic(x, y, 3, l2=1e-3, tol=1e-5)
    assert largest_gradient(x, y, weight, bias, 1e-3) < 1e-4
    far = fit_logistic(x, y, 3, l2=1e-3, max_iter=2)                 # two iterations are not the optimum
    assert largest_gradient(x, y, *far, 1e-3) > 1e-3


def test_row_space_coordinates_give_the_same_probe() -> None:
    x, y = gaussians(30, 120, 3, seed=0, spread=1.0)                 # more dimensions than examples
    xt, _ = gaussians(20, 120, 3, seed=1, spread=1.0)
    full = fit_logistic(x, y, 3, l2=1e-2, tol=1e-6, max_iter=2000)
    z, zt = row_space(x, xt)
    assert z.shape == (30, 30)
    small = fit_logistic(z, y, 3, l2=1e-2, tol=1e-6, max_iter=2000)
    torch.testing.assert_close(zt @ small[0].T + small[1], xt @ full[0].T + full[1], atol=2e-3, rtol=1e-3)


def test_the_same_seed_gives_the_same_probe() -> None:
    x, y = gaussians(240, 8, 4, seed=0, spread=2.0)
    xt, yt = gaussians(80, 8, 4, seed=1, spread=2.0)
    a, b = (linear_probe_record(x, y, xt, yt, 4, seed=3) for _ in range(2))
    assert a["l2"] == b["l2"] and a["accuracy"] == b["accuracy"]


def test_lambda_is_chosen_without_the_test_split() -> None:
    x, y = gaussians(240, 20, 4, seed=0, spread=3.0)
    xt, yt = gaussians(80, 20, 4, seed=1, spread=3.0)
    chosen = linear_probe_record(x, y, xt, yt, 4)["l2"]
    shuffled = yt[torch.randperm(80, generator=torch.Generator().manual_seed(1))]
    noise = torch.randn(80, 20, generator=torch.Generator().manual_seed(2))
    assert linear_probe_record(x, y, xt, shuffled, 4)["l2"] == chosen
    assert linear_probe_record(x, y, noise, yt, 4)["l2"] == chosen


def test_validation_split_holds_out_a_fifth_of_each_class() -> None:
    y = torch.tensor([0] * 10 + [1] * 5 + [2] * 1)
    fit, val = validation_split(y, 3, seed=0)
    assert sorted(torch.cat([fit, val]).tolist()) == list(range(16))
    assert torch.bincount(y[val], minlength=3).tolist() == [2, 1, 0]   # ceil(20%), a class of one stays in the fit
    assert torch.equal(val, validation_split(y, 3, seed=0)[1])
