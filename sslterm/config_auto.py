"""Which shape-dependent settings an experiment leaves to its data, and their derivation while it is built.

An experiment's ``[auto]`` table maps each such key to its reason (``"auto: 2, from 160-sample signals"``),
or to ``""`` while the data that decides it has not been read. A key the user sets (in the file or
with ``--set``) is never in it. Without an ``[auto]`` table every derivable key absent from the file is
left to the data; a resolved configuration carries its table, so loading it again derives nothing
new. Keys that the dataset's options decide (built-in datasets, an image side the user gave) are
derived at once; the rest once the worker has read the files (:mod:`sslterm.autoscan`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sslterm import autoconf, rules
from sslterm.autoconf import PENDING, Facts
from sslterm.checker import Checker
from sslterm.checker import show as _show


def is_set(raw: dict[str, Any], key: str) -> bool:
    """Whether the raw experiment gives ``key`` (``model.stride``, ``augment.random_crop.min_fraction``)."""
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _given(chk: Checker, raw: dict[str, Any]) -> dict[str, str] | None:
    if "auto" not in raw:
        return None
    table = chk.table("auto", raw["auto"])
    for k, v in table.items():
        if not isinstance(v, str):
            raise chk.fail(f"auto.{k}", f"got {_show(v)}, expected the reason the value was derived (a string)",
                           given=v, allowed="a string")
    return dict(table)


def _values(data: Any, model: Any, objective: Any, augment: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every catalog option by its full key."""
    out = {f"data.{k}": v for k, v in data.options.items()}
    out.update({f"model.{k}": v for k, v in model.options.items()})
    out.update({f"objective.{k}": v for k, v in objective.options.items()})
    for name, params in augment.items():
        out.update({f"augment.{name}.{k}": v for k, v in params.items()})
    return out


def settle(chk: Checker, raw: dict[str, Any], data: Any, model: Any, objective: Any,
           augment: dict[str, dict[str, Any]], facts: Facts | None = None) -> tuple[Any, Any, Any, dict[str, Any],
                                                                                  dict[str, str]]:
    """(data, model, objective, augment, auto): the sections with every auto setting derived that ``facts``
    (what the files say, when read) and the dataset's own options allow, and the ``[auto]`` table."""
    keyed = autoconf.rules_for(data.dataset, model.encoder, objective.name, tuple(augment))
    given = _given(chk, raw)
    if given is None:
        auto = {k: PENDING for k, _, _ in keyed if not is_set(raw, k)}
    else:
        auto = {k: given[k] for k, _, _ in keyed if k in given}
    pending = {k for k, r in auto.items() if r == PENDING}
    if not pending:
        return data, model, objective, augment, auto
    values = _values(data, model, objective, augment)
    known = facts or Facts()
    for k, (_, reason) in autoconf.derive(keyed, {k for k in pending if k.startswith("data.")}, values,
                                          known).items():
        auto[k] = reason
    undecided = [k for k in pending if k.startswith("data.") and auto[k] == PENDING]
    if undecided and facts is None:
        return data, model, objective, augment, auto          # the data's sizes are not known yet
    for k in undecided:                                       # the files were read and say nothing: defaults
        del auto[k]
        pending.discard(k)
    data_options = {k[5:]: v for k, v in values.items() if k.startswith("data.")}
    sized = autoconf.facts_from_sizes(rules.data_sizes(data.dataset, data_options))
    nodes = _generated_nodes(data_options)
    for k, (_, reason) in autoconf.derive(keyed, pending, values, known.merged(sized).merged(nodes)).items():
        auto[k] = reason

    def section(obj: Any, prefix: str) -> Any:
        opts = {k[len(prefix) + 1:]: v for k, v in values.items() if k.startswith(prefix + ".")}
        return dataclasses.replace(obj, options={**obj.options, **opts})

    augment = {name: {**params, **{k.split(".", 2)[2]: v for k, v in values.items()
                                   if k.startswith(f"augment.{name}.")}} for name, params in augment.items()}
    return section(data, "data"), section(model, "model"), section(objective, "objective"), augment, auto


def _generated_nodes(options: dict[str, Any]) -> Facts:
    """A generated graph dataset's typical node count: the middle of its min_nodes..max_nodes."""
    lo, hi = options.get("min_nodes"), options.get("max_nodes")
    if isinstance(lo, int) and isinstance(hi, int):
        return Facts(nodes=(lo + hi) // 2)
    return Facts()


def after_override(raw: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """``raw`` whose ``[auto]`` table no longer holds the keys overridden (the user set them); an overridden
    ``data.*`` key sends every derived key back to the data (new data: derived again)."""
    table = raw.get("auto")
    if not isinstance(table, dict):
        return raw
    kept = {k: v for k, v in table.items() if k not in keys}
    if any(k.startswith("data.") for k in keys):
        kept = dict.fromkeys(kept, PENDING)
    return {**raw, "auto": kept}


def finished(auto: dict[str, str]) -> dict[str, str]:
    """The table once the data is read: keys that no fact decided keep their default and leave it."""
    return {k: r for k, r in auto.items() if r != PENDING}


__all__ = ["after_override", "finished", "is_set", "settle"]
