"""Plain-words judgements of logged metrics, shared by the app, the CLI and the worker (no torch)."""

from __future__ import annotations

from typing import Any


def collapse_warning(std: float, dim: int, rank: float) -> str | None:
    """A warning when embeddings collapse (spread or effective rank near their floor), else None.

    ``std`` is the mean per-dimension std of L2-normalised embeddings, healthy near 1/sqrt(dim);
    ``rank`` is RankMe's effective rank, 1 for a single direction.
    """
    healthy = dim ** -0.5
    if std < 0.1 * healthy:
        return f"collapsing: embeddings are nearly identical (spread {std:.3g}, healthy ≈ {healthy:.3g})"
    if rank < 1.5:
        return f"collapsing: embeddings span about one direction (effective rank {rank:.2f})"
    if std < 0.3 * healthy:
        return f"at risk of collapse: embedding spread is low ({std:.3g}, healthy ≈ {healthy:.3g})"
    return None


def representation_warning(latest: dict[str, Any]) -> str | None:
    """The collapse warning for the newest logged diagnostics, if any were logged."""
    std, dim, rank = latest.get("emb_std"), latest.get("emb_dim"), latest.get("rankme")
    if not all(isinstance(v, (int, float)) for v in (std, dim, rank)):
        return None
    return collapse_warning(float(std), int(dim), float(rank))  # type: ignore[arg-type]
