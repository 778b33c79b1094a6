"""Read TOML (tomllib, or tomli before Python 3.11) and write the small subset sslterm saves."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

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


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps(doc: dict[str, Any], header: str = "") -> str:
    """Write a document of scalars, lists and up to two levels of tables as TOML."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    scalars = {k: v for k, v in doc.items() if v is not None and not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]

    def table(prefix: str, body: dict[str, Any]) -> None:
        leaves = {k: v for k, v in body.items() if v is not None and not isinstance(v, dict)}
        subs = {k: v for k, v in body.items() if isinstance(v, dict)}
        if leaves or not subs:
            lines.append("")
            lines.append(f"[{prefix}]")
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in leaves.items())
        for k, v in subs.items():
            table(f"{prefix}.{_key(k)}", v)

    for name, body in tables.items():
        table(_key(name), body)
    return "\n".join(lines).lstrip("\n") + "\n"
