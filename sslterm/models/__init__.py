"""Encoders looked up by catalog name, and the heads objectives put on top of them."""

from __future__ import annotations

from typing import Any

from sslterm import catalog
from sslterm.models.base import Encoder
from sslterm.models.heads import Projector


def build_encoder(name: str, info: dict[str, Any], options: dict[str, Any]) -> Encoder:
    """The encoder ``name`` for data described by ``info`` (see :class:`sslterm.data.Dataset`)."""
    encoder: Encoder = catalog.implementation("encoder", name)(info, options)
    return encoder


__all__ = ["Encoder", "Projector", "build_encoder"]
