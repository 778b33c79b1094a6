"""Pretext objectives, one module each, looked up by their catalog names."""

from __future__ import annotations

import importlib
from typing import Any

from sslterm.objectives.base import Context, Objective

# catalog name → "module:Class"; imported only when built
_CLASSES = {
    "infonce": "sslterm.objectives.infonce:InfoNCE",
}
OBJECTIVES = tuple(_CLASSES)


def build_objective(name: str, ctx: Context, options: dict[str, Any]) -> Objective:
    """The objective ``name`` around ``ctx.encoder``, from its catalog options."""
    if name not in _CLASSES:
        raise KeyError(f"no implementation of objective {name!r}; known: {', '.join(sorted(_CLASSES))}")
    module, _, cls = _CLASSES[name].partition(":")
    objective: Objective = getattr(importlib.import_module(module), cls)(ctx, **options)
    return objective


__all__ = ["OBJECTIVES", "Context", "Objective", "build_objective"]
