"""Encoders looked up by catalog name, plus the heads that turn features into embeddings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from sslterm.models.cnn import CNNEncoder, build_cnn
from sslterm.models.heads import Projector, SSLModel

ENCODERS: dict[str, Callable[[int, dict[str, Any]], nn.Module]] = {"cnn": build_cnn}


def build_model(encoder: str, in_channels: int, options: dict[str, Any], projector_hidden: int,
                projector_dim: int) -> SSLModel:
    """Encoder ``encoder`` plus a projection head, from the config."""
    enc = ENCODERS[encoder](in_channels, options)
    return SSLModel(enc, Projector(int(enc.out_dim), projector_hidden, projector_dim))


__all__ = ["ENCODERS", "CNNEncoder", "Projector", "SSLModel", "build_model"]
