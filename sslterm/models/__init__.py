"""Encoders looked up by catalog name, and the heads objectives put on top of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.heads import Projector


def build_encoder(name: str, info: dict[str, Any], options: dict[str, Any]) -> Encoder:
    """The encoder ``name`` for data described by ``info`` (see :class:`sslterm.data.Dataset`).

    Options left out take the catalog's defaults, so an encoder saved before an option existed still loads.
    """
    options = {**catalog.get("encoder", name).defaults(), **options}
    encoder: Encoder = catalog.implementation("encoder", name)(info, options)
    return encoder




def load_encoder(path: str | Path, device: str = "cpu") -> Encoder:
    """Load an encoder saved by ``sslterm export RUN --encoder FILE``, ready for your own training loop."""
    import torch

    saved = torch.load(path, map_location=device, weights_only=True)
    encoder = build_encoder(saved["encoder"], saved["info"], saved["options"])
    encoder.load_state_dict(saved["state_dict"])
    return encoder


__all__ = ["Encoder", "Projector", "build_encoder", "load_encoder"]
