"""The one catalog of modalities, datasets, objectives, augmentations and encoders.

Declarations live in one module per modality (``catalog/image.py``, ...) plus
``catalog/objectives.py``; this module holds the types and the look-ups.

Every choice a user can make is declared here once, with its parameters (type, default,
allowed range, help) and the modalities it fits. Config validation, ``sslterm catalog``,
the app's launcher and the docs all read this module; the torch implementations are
looked up by the same names (a test checks that both sides list the same names).
This module imports nothing heavier than the standard library.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from sslterm import formats

KINDS = ("modality", "dataset", "objective", "augmentation", "encoder")


def plural(kind: str) -> str:
    """The plural of a catalog kind, as headings print it (modality -> modalities)."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"

INT_MAX = 2**63 - 1
"""The largest integer torch accepts (int64): the upper bound of every integer without a smaller one."""


def _num(v: float) -> str:
    """A bound as people write it: 2000000 → 2,000,000; 0.01 stays 0.01; the int64 limit is 2^63 - 1."""
    if v == INT_MAX:
        return "2^63 - 1"
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True)
class Param:
    """One named parameter: its type, default, allowed range or choices, and help."""

    name: str
    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        if self.type is int and self.high is None and self.choices is None:
            object.__setattr__(self, "high", INT_MAX)   # torch takes no larger integer

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and docs."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[
            self.type
        ]
        if self.low is not None and self.high is not None:
            op = "<" if self.low_open else "≤"
            return f"{kind} with {_num(self.low)} {op} value ≤ {_num(self.high)}"
        if self.low is not None:
            op = ">" if self.low_open else "≥"
            return f"{kind} {op} {_num(self.low)}"
        return kind

    def accepts(self, v: Any) -> bool:
        """Whether ``v`` lies in this parameter's range or choices (its type is the caller's concern)."""
        if self.choices is not None:
            return v in self.choices
        if v != v:                                   # NaN lies in no range
            return False
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        return self.high is None or v <= self.high

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of this parameter."""
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "help": self.help,
            "allowed": self.allowed(),
            **({"low": self.low} if self.low is not None else {}),
            **({"high": self.high} if self.high is not None else {}),
            **({"choices": list(self.choices)} if self.choices is not None else {}),
        }


@dataclass(frozen=True)
class Entry:
    """A catalog entry: one modality, dataset, objective, augmentation or encoder."""

    kind: str
    name: str
    help: str
    modalities: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    impl: str = ""
    """Where the implementation lives, ``"module:attribute"``; imported only when it is used."""
    extra: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        """The parameter called ``name``, or None."""
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of this entry."""
        return {
            "name": self.name,
            "help": self.help,
            "modalities": list(self.modalities),
            "params": [p.to_dict() for p in self.params],
            **{k: list(v) if isinstance(v, tuple) else v for k, v in self.extra.items()},
        }


def P(name: str, type_: type, default: Any, help: str, **kw: Any) -> Param:
    """Shorthand constructor for :class:`Param`, used by the declarations below."""
    return Param(name=name, type=type_, default=default, help=help, **kw)


def format_param(modality: str) -> Param:
    """The ``format`` parameter of a modality's files dataset: ``auto`` (detected from the path) or a format name."""
    return P("format", str, formats.AUTO, "The data format of path: auto detects it from the path (see sslterm "
             "catalog's FORMATS); name one to override.", choices=formats.choices(modality))


_MODULES = ("image", "text", "audio", "video", "graph", "objectives")


def _collect() -> tuple[Entry, ...]:
    found: tuple[Entry, ...] = ()
    for name in _MODULES:
        found += importlib.import_module(f"sslterm.catalog.{name}").ENTRIES
    seen: set[tuple[str, str]] = set()
    for e in found:
        if (e.kind, e.name) in seen:
            raise RuntimeError(f"catalog declares {e.kind} {e.name!r} twice")
        seen.add((e.kind, e.name))
    return found


_CACHE: list[tuple[Entry, ...]] = []


def _all() -> tuple[Entry, ...]:
    if not _CACHE:
        _CACHE.append(_collect())
    return _CACHE[0]


def entries(kind: str, modality: str | None = None) -> tuple[Entry, ...]:
    """All entries of one kind, optionally only those that fit ``modality``."""
    if kind not in KINDS:
        raise KeyError(f"unknown catalog kind {kind!r}; expected one of {', '.join(KINDS)}")
    found = tuple(e for e in _all() if e.kind == kind)
    if modality is not None and kind != "modality":
        found = tuple(e for e in found if modality in e.modalities)
    return found


def names(kind: str, modality: str | None = None) -> tuple[str, ...]:
    """The names of all entries of one kind, optionally filtered by modality."""
    return tuple(e.name for e in entries(kind, modality))


def check_args(kind: str, name: str, **values: Any) -> None:
    """ValueError for an argument outside the range its catalog entry declares: the Python API's check,
    from the same declaration config validation reads."""
    entry = get(kind, name)
    for key, v in values.items():
        p = entry.param(key)
        if p is None:
            raise KeyError(f"{kind} {name!r} declares no parameter {key!r}")
        if not p.accepts(v):
            raise ValueError(f"{key} must be {p.allowed()}, got {v!r}")


def default(kind: str, modality: str | None = None, needs: tuple[str, ...] = ()) -> str:
    """The default choice of one kind: the first entry declared that fits ``modality`` and has every
    capability in ``needs`` (the declaration order is the catalog's order of preference)."""
    for e in entries(kind, modality):
        if all(e.extra.get(n) for n in needs):
            return e.name
    fits = names(kind, modality)
    if not fits:
        raise KeyError(f"no {kind} declared{f' for {modality}' if modality else ''}")
    return fits[0]


def suggest(name: str, options: tuple[str, ...] | list[str]) -> str:
    """' (did you mean X?)' for a close match of ``name`` among ``options``, else ''."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    if not close:  # a name that extends or shortens an option at a word boundary: lr_max -> lr
        close = sorted((o for o in options if name.startswith(f"{o}_") or o.startswith(f"{name}_")),
                       key=len, reverse=True)[:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def get(kind: str, name: str) -> Entry:
    """The entry called ``name``; KeyError with the valid names and a suggestion if absent."""
    for e in entries(kind):
        if e.name == name:
            return e
    valid = names(kind)
    raise KeyError(f"unknown {kind} {name!r}{suggest(name, valid)}; allowed: {', '.join(valid)}")


def implementation(kind: str, name: str) -> Any:
    """Import and return the implementation of an entry (this is where torch gets imported)."""
    entry = get(kind, name)
    if not entry.impl:
        raise KeyError(f"{kind} {name!r} declares no implementation")
    module, _, attr = entry.impl.partition(":")
    return getattr(importlib.import_module(module), attr)


def as_dict() -> dict[str, Any]:
    """The whole catalog as plain data (for ``sslterm catalog --json`` and the docs)."""
    out: dict[str, Any] = {f"{k}s": [e.to_dict() for e in entries(k)] for k in KINDS}
    out["compatibility"] = {m: list(names("objective", m)) for m in names("modality")}
    out["formats"] = {m: [{"format": f.format.value, "what": f.what, "detected": f.detected, "extra": f.extra}
                          for f in formats.table(m)] for m in names("modality") if m in formats.MODALITY_FORMATS}
    return out
