"""Pretext objectives, one module each, looked up by their catalog names."""

from __future__ import annotations

from typing import Any

from sslterm import catalog, rules
from sslterm.objectives.base import Context, Objective


def build_objective(name: str, ctx: Context, options: dict[str, Any]) -> Objective:
    """The objective ``name`` around ``ctx.encoder``, from its catalog options."""
    objective: Objective = catalog.implementation("objective", name)(ctx, **options)
    objective.targets_are_input = rules.targets_are_input(name)
    return objective


__all__ = ["Context", "Objective", "build_objective"]
