"""Read TOML (tomllib, or tomli before Python 3.11) and write it (tomli-w)."""

from __future__ import annotations

import sys
from typing import Any

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python < 3.11
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


class NestingError(ValueError):
    """A document nested deeper than the parser can follow (arrays or tables inside each other)."""


def loads(text: str) -> dict[str, Any]:
    """Parse a TOML document; NestingError for one nested too deeply to parse."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise NestingError("nested too deeply (arrays or tables hundreds of levels inside each other); "
                           "an experiment nests at most 3 tables") from None


def _drop_none(v: Any) -> Any:
    """``v`` without the None values of its tables (TOML has no null: an absent key means "not set")."""
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_drop_none(x) for x in v]
    return v


def key_text(k: str) -> str:
    """``k`` as a TOML key: bare when it can be, quoted (and escaped) otherwise."""
    return tomli_w.dumps({k: 0})[: -len(" = 0\n")]


def value_text(v: Any) -> str:
    """``v`` as an inline TOML value (lists and tables on one line), escaped as tomli-w escapes it."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key_text(k)} = {value_text(x)}" for k, x in v.items() if x is not None) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    return tomli_w.dumps({"v": v})[len("v = ") : -1]


def dumps(doc: dict[str, Any], header: str = "") -> str:
    """Write a document as TOML (tomli-w), with ``header`` as comment lines above it; None values are left out."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    body = tomli_w.dumps(_drop_none(doc))
    return "\n".join(lines) + ("\n" if lines else "") + body
