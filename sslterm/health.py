"""Plain-words judgements of logged metrics, shared by the app, the CLI and the worker (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sslterm import rules

COLLAPSED = 0.25
"""A spread below this share of 1/sqrt(dim) is a collapse, said in plain words (0.015 against 0.088 was one)."""
AT_RISK = 0.3
"""A spread below this share of 1/sqrt(dim) is at risk of collapse."""
CHANCE_LOGS = 5
"""Consecutive logged losses at the chance value that make a 'not learning' warning."""
CHANCE_MARGIN = 0.02
"""A loss within this share of its chance value (or above it) counts as at chance."""
TELLS_APART = 0.9
"""A loss below this share of its chance value tells the batch's examples apart: a low spread is then narrow
features, not a collapse (seen: text InfoNCE on a user's code lines, spread 0.031 of 0.125 at loss 2.77 of
chance 5.54, kNN 0.60 on 5 classes)."""


def collapse_warning(std: float, dim: int, rank: float, tells_apart: bool = False) -> str | None:
    """A warning when embeddings collapse (spread or effective rank near their floor), else None.

    ``std`` is the mean per-dimension std of L2-normalised embeddings, healthy near 1/sqrt(dim);
    ``rank`` is RankMe's effective rank, 1 for a single direction. ``tells_apart``: the loss is far below
    its chance value (:data:`TELLS_APART`), so a spread under the collapse floor is only 'at risk'.
    """
    healthy = dim ** -0.5
    floor = std < COLLAPSED * healthy
    if floor and not tells_apart:
        return (f"collapsing: embeddings are nearly identical (spread {std:.3g}, far below the healthy "
                f"≈ {healthy:.3g})")
    if rank < 1.5:
        return f"collapsing: embeddings span about one direction (effective rank {rank:.2f})"
    if std < AT_RISK * healthy:
        return (f"at risk of collapse: embedding spread is low ({std:.3g}, healthy ≈ {healthy:.3g})"
                + (", though the loss still tells the examples apart" if floor else ""))
    return None


def collapse_applies(objective: str | None) -> bool:
    """Whether a collapse can be judged for ``objective``: not for those whose targets are the input
    (next-token, masked, inpainting), which have no trivial solution and often learn narrow pooled features."""
    return objective is None or not rules.targets_are_input(objective)


def representation_warning(latest: dict[str, Any]) -> str | None:
    """The collapse warning for the newest logged diagnostics, if any were logged."""
    std, dim, rank = latest.get("emb_std"), latest.get("emb_dim"), latest.get("rankme")
    if not all(isinstance(v, (int, float)) for v in (std, dim, rank)):
        return None
    loss, chance = latest.get("loss"), latest.get("chance_loss")
    tells_apart = isinstance(loss, (int, float)) and isinstance(chance, (int, float)) and loss < TELLS_APART * chance
    return collapse_warning(float(std), int(dim), float(rank), tells_apart)  # type: ignore[arg-type]


def chance_warning(records: Sequence[dict[str, Any]]) -> str | None:
    """'Not learning' when the last ``CHANCE_LOGS`` logged losses all sit at their chance value.

    The chance value is what the objective logs as ``chance_loss`` (InfoNCE: ln(2N−1) or ln N), the
    loss of embeddings that tell nothing apart; objectives that log none are never judged here.
    """
    logged = [r for r in records if isinstance(r.get("loss"), (int, float)) and "chance_loss" in r]
    last = logged[-CHANCE_LOGS:]
    if len(last) < CHANCE_LOGS or any(r["loss"] < (1 - CHANCE_MARGIN) * r["chance_loss"] for r in last):
        return None
    chance = float(last[-1]["chance_loss"])
    return (f"not learning: the loss stayed at its chance value {chance:.3g} for {CHANCE_LOGS} logs (to step "
            f"{last[-1].get('step', '?')}); the two views may share nothing: check the crop and clip length")


def training_warning(latest: dict[str, Any], recent: Sequence[dict[str, Any]], collapse: bool = True) -> str | None:
    """The plain-words warning a run's recent metric records call for (a collapse or a loss at chance), else None.

    ``latest`` holds every metric's newest value, ``recent`` the last records in order. This is what
    reaches the run's status (``warning``), so the dashboard's header, ``show`` and ``ls`` say it;
    'at risk' stays on the dashboard's representation line only. ``collapse`` false leaves collapse
    out: objectives whose targets are the input (next-token, masked, inpainting) cannot reach a
    trivial solution, and their pooled features are often narrow while they learn well.
    """
    said = representation_warning(latest) if collapse else None
    if said is not None and said.startswith("collapsing"):
        return said
    return chance_warning(recent)
