"""Issue 17's honest measurements: both InfoNCE forms against hand-written formulas, clean targets, chance warnings."""

from __future__ import annotations

import math

import pytest
import torch

from sslterm import catalog
from sslterm.objectives.infonce import chance_loss, info_nce

torch.set_num_threads(1)


def unit(v: torch.Tensor) -> list[list[float]]:
    rows = v.tolist()
    return [[x / math.sqrt(sum(y * y for y in r)) for x in r] for r in rows]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def ref_both_views(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """SimCLR's NT-Xent written out: 2B anchors, each against the 2B − 1 others."""
    u, b = unit(torch.cat([z1, z2])), z1.shape[0]
    total = 0.0
    for i in range(2 * b):
        pos = (i + b) % (2 * b)
        denom = sum(math.exp(dot(u[i], u[k]) / tau) for k in range(2 * b) if k != i)
        total -= math.log(math.exp(dot(u[i], u[pos]) / tau) / denom)
    return total / (2 * b)


def ref_cross_view(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """The design's form written out: logits = z1·z2ᵀ/τ, cross-entropy on the diagonal, both directions."""
    a, c, b = unit(z1), unit(z2), z1.shape[0]
    rows = cols = 0.0
    for i in range(b):
        rows -= math.log(math.exp(dot(a[i], c[i]) / tau) / sum(math.exp(dot(a[i], c[k]) / tau) for k in range(b)))
        cols -= math.log(math.exp(dot(a[i], c[i]) / tau) / sum(math.exp(dot(a[k], c[i]) / tau) for k in range(b)))
    return (rows + cols) / (2 * b)


@pytest.mark.parametrize(("negatives", "ref"), [("both_views", ref_both_views), ("cross_view", ref_cross_view)])
def test_info_nce_forms_match_their_formulas(negatives: str, ref: object) -> None:
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    loss, acc = info_nce(z1, z2, 0.3, negatives)
    assert float(loss) == pytest.approx(ref(z1, z2, 0.3), rel=1e-5)  # type: ignore[operator]
    assert 0.0 <= float(acc) <= 1.0


def test_the_two_forms_differ_and_sit_at_their_chance_levels_when_nothing_is_told_apart() -> None:
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert float(info_nce(z1, z2, 0.3, "both_views")[0]) != pytest.approx(float(info_nce(z1, z2, 0.3, "cross_view")[0]))
    same = torch.ones(6, 4)                                      # every embedding alike: chance
    assert float(info_nce(same, same, 0.3, "both_views")[0]) == pytest.approx(chance_loss(6, "both_views"))
    assert float(info_nce(same, same, 0.3, "cross_view")[0]) == pytest.approx(chance_loss(6, "cross_view"))
    assert chance_loss(6, "both_views") == pytest.approx(math.log(11))
    assert chance_loss(6, "cross_view") == pytest.approx(math.log(6))


def test_negatives_is_declared_with_both_forms_and_refuses_others() -> None:
    p = catalog.get("objective", "infonce").param("negatives")
    assert p is not None and p.choices == ("both_views", "cross_view") and p.default == "both_views"
    assert "2N−2" in p.help and "N−1" in p.help
    with pytest.raises(ValueError, match="both_views, cross_view"):
        info_nce(torch.randn(3, 2), torch.randn(3, 2), 0.3, "all")
