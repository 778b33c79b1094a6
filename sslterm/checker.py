"""Checking raw experiment data one value at a time: every failure is a ConfigError with its fields filled."""

from __future__ import annotations

import math
from typing import Any

from sslterm import catalog
from sslterm.catalog import Param
from sslterm.errors import ConfigError

QUOTE_MAX = 60
"""Longest quoted value in a message; longer ones are cut with an ellipsis."""

def cut(text: str, limit: int = QUOTE_MAX) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(v: Any) -> str:
    """A value as a message quotes it: TOML words for booleans, a kind for tables and lists, cut when long."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return repr(cut(v))
    return cut(repr(v))


def suggest(name: Any, options: tuple[str, ...] | list[str]) -> str:
    """The catalog's '(did you mean …?)' hint, skipped for values too long to be a misspelling."""
    if not isinstance(name, str) or len(name) > QUOTE_MAX:
        return ""
    return catalog.suggest(name, options)


_UNSET: Any = object()


class Checker:
    """Validates raw TOML data; every failure is a one-line ConfigError naming the key(s)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str, *, given: Any = _UNSET, allowed: str | None = None,
             also: tuple[str, ...] = ()) -> ConfigError:
        """A ConfigError for ``key`` (and the keys in ``also``, for a rule between keys)."""
        text = f"{self.source}: {cut(key)}: {message}"
        return ConfigError(text if text.isprintable() else text.encode("unicode_escape").decode("ascii"),
                           source=self.source, keys=(key, *also), given=None if given is _UNSET else given,
                           allowed=allowed, reason=message)

    def unknown(self, key: str, given: str, valid: tuple[str, ...] | list[str], what: str = "key") -> ConfigError:
        """An unknown name, with a suggestion and the list of valid names."""
        allowed = ", ".join(valid) or "none"
        return self.fail(key, f"unknown {what} {show(given)}{suggest(given, valid)}; allowed: {allowed}",
                         given=given, allowed=allowed)

    def value(self, key: str, v: Any, p: Param) -> Any:
        """Check one value against a parameter spec and return it in its canonical type."""
        if v is None and p.optional:
            return None
        ok = {
            bool: isinstance(v, bool),
            int: isinstance(v, int) and not isinstance(v, bool),
            float: isinstance(v, (int, float)) and not isinstance(v, bool),
            str: isinstance(v, str),
        }[p.type]
        if isinstance(v, bool) and p.type is str and p.choices is not None and "true" in p.choices:
            v, ok = ("true" if v else "false"), True           # a TOML boolean for a choice of "true"/"false"
        allowed = p.allowed()
        if not ok:
            raise self.fail(key, f"got {show(v)}, expected {allowed}", given=v, allowed=allowed)
        if p.type is float:
            try:
                v = float(v)
            except OverflowError:
                v = math.inf
            if not math.isfinite(v):
                raise self.fail(key, f"got {show(v)}, expected a finite number", given=v, allowed=allowed)
        if not p.accepts(v):
            hint = suggest(v, p.choices) if p.choices is not None else ""
            raise self.fail(key, f"got {show(v)}{hint}, expected {allowed}", given=v, allowed=allowed)
        return v

    def table(self, key: str, v: Any) -> dict[str, Any]:
        """``v`` if it is a table, else a ConfigError."""
        if not isinstance(v, dict):
            raise self.fail(key, f"got {show(v)}, expected a table", given=v, allowed="a table")
        return v

    def params(self, prefix: str, raw: dict[str, Any], entry: catalog.Entry,
               fixed: tuple[str, ...] = ()) -> dict[str, Any]:
        """Check a catalog entry's parameters; fill in defaults for those not given.

        ``fixed`` are the table's own keys (``name``, ``encoder``, ...), valid beside the parameters. Of
        several unknown keys the one no entry of this kind declares is named first: it is the real problem
        (a misspelt ``name`` makes the chosen entry the default, whose parameters are then all unknown).
        """
        allowed = [*fixed, *(p.name for p in entry.params)]
        unknown = [k for k in raw if entry.param(k) is None]
        owners = {k: [e.name for e in catalog.entries(entry.kind) if e.param(k) is not None] for k in unknown}
        for k in sorted(unknown, key=lambda k: bool(owners[k])):
            what = f"parameter of {entry.kind} {entry.name!r}"
            if owners[k] and _NAME_KEY.get(entry.kind):
                name_key = _NAME_KEY[entry.kind]
                raise self.fail(f"{prefix}.{k}", f"is a parameter of {entry.kind} {show(owners[k][0])}, not of "
                                f"{entry.name!r} (set {name_key} to choose the {entry.kind}); allowed: "
                                f"{', '.join(allowed) or 'none'}", given=k, allowed=", ".join(allowed) or "none",
                                also=(name_key,))
            raise self.unknown(f"{prefix}.{k}", k, allowed, what)
        return {p.name: self.value(f"{prefix}.{p.name}", raw.get(p.name, p.default), p) for p in entry.params}


_NAME_KEY = {"objective": "objective.name", "encoder": "model.encoder", "dataset": "data.dataset"}

MAX_DEPTH = 4
"""The deepest nesting an experiment has: ``augment.NAME.param`` is three tables, plus room for a value
that is wrongly a list (refused by the value's check with a clearer message)."""


def too_deep(raw: dict[str, Any], limit: int = MAX_DEPTH) -> list[str] | None:
    """The key path of the first value nested more than ``limit`` tables or arrays deep, or None.

    Iterative, so a document nested thousands of levels deep is refused without a RecursionError.
    """
    stack: list[tuple[list[str], Any]] = [([], raw)]
    while stack:
        path, node = stack.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in children:
            if isinstance(v, (dict, list)):
                if len(path) + 1 >= limit:
                    return [*path, str(k)]
                stack.append(([*path, str(k)], v))
    return None


def depth_error(source: str, path: list[str]) -> ConfigError:
    """The one-line error for a value nested deeper than an experiment allows."""
    key = cut(".".join(path))
    reason = f"nested too deeply: an experiment nests at most {MAX_DEPTH - 1} tables (augment.NAME.param)"
    return ConfigError(f"{source}: {key}: {reason}", source=source, keys=(key,), allowed="at most 3 nested tables",
                       reason=reason)
