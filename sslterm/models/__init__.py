"""Encoders looked up by catalog name, and the heads objectives put on top of them."""

from __future__ import annotations

import importlib
from typing import Any

from sslterm.models.base import Encoder
from sslterm.models.heads import Projector

# catalog name → "module:function(info, options) -> Encoder"; imported only when built
_BUILDERS = {
    "cnn": "sslterm.models.cnn:build_cnn",
}
ENCODERS = tuple(_BUILDERS)


def build_encoder(name: str, info: dict[str, Any], options: dict[str, Any]) -> Encoder:
    """The encoder ``name`` for data described by ``info`` (see :class:`sslterm.data.Dataset`)."""
    if name not in _BUILDERS:
        raise KeyError(f"no builder for encoder {name!r}; known: {', '.join(sorted(_BUILDERS))}")
    module, _, fn = _BUILDERS[name].partition(":")
    encoder: Encoder = getattr(importlib.import_module(module), fn)(info, options)
    return encoder


__all__ = ["ENCODERS", "Encoder", "Projector", "build_encoder"]
