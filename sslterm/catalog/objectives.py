"""Catalog declarations of the pretext objectives and the modalities each one supports."""

from __future__ import annotations

from sslterm.catalog import Entry, P

ENTRIES: tuple[Entry, ...] = (
    # ---- objectives -------------------------------------------------------------------
    Entry(
        "objective",
        "infonce",
        "Contrastive InfoNCE / NT-Xent (SimCLR): two views of each example, positives "
        "on the diagonal, all other examples in the batch as negatives.",
        modalities=("image",),
        impl="sslterm.objectives.infonce:InfoNCE",
        params=(
            P("temperature", float, 0.2, "Softmax temperature τ.", low=0.0, high=10.0, low_open=True),
        ),
        extra={"views": 2, "needs": ()},
    ),
)
