"""Reading experiment files and applying command-line overrides (``--set table.key=value``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sslterm import tomlio
from sslterm.checker import cut, depth_error, too_deep
from sslterm.errors import ConfigError


def _set_error(text: str, reason: str, *, key: str = "", given: Any = None, allowed: str | None = None) -> ConfigError:
    source = f"--set {cut(text)}"
    message = f"{source}: {reason}"
    return ConfigError(message if message.isprintable() else message.encode("unicode_escape").decode("ascii"),
                       source=source, keys=(key,) if key else (), given=given, allowed=allowed, reason=reason)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``table.key=value`` into a key path and a TOML value (bare words are strings)."""
    if "=" not in text:
        raise _set_error(text, "expected table.key=value, for example --set train.lr=0.001", given=text,
                         allowed="table.key=value")
    key, _, value = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not all(path):
        raise _set_error(text, f"the key {cut(key)!r} is empty or has an empty part", key=key.strip(),
                         given=key, allowed="dot-separated names, none empty")
    try:
        parsed = tomlio.loads(f"v = {value.strip()}")["v"]
    except tomlio.NestingError as e:
        raise _set_error(text, str(e), key=".".join(path), given=value.strip(),
                         allowed="a single value") from None
    except tomlio.TOMLDecodeError:
        parsed = value.strip()
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``table.key=value`` override applied."""
    deep = too_deep(raw)
    if deep is not None:
        raise depth_error("<config>", deep)
    out: dict[str, Any] = _deep_copy(raw)
    for text in overrides:
        path, value = parse_override(text)
        deep = too_deep({"v": value}, 2) if len(path) > 3 or isinstance(value, (dict, list)) else None
        if len(path) > 3 or deep is not None:
            raise _set_error(text, "nested too deeply: an experiment nests at most 3 tables (augment.NAME.param)",
                             key=cut(".".join(path)), given=value, allowed="a single value")
        node = out
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise _set_error(text, f"{cut(part)!r} is a value, not a table", key=".".join(path), given=nxt,
                                 allowed="a table")
            node = nxt
        node[path[-1]] = value
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every I/O or syntax problem into a one-line ConfigError."""
    p = Path(path)

    def error(reason: str, allowed: str = "a UTF-8 TOML experiment file") -> ConfigError:
        return ConfigError(f"{p}: {reason}", source=str(p), allowed=allowed, reason=reason)

    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("no such file") from None
    except IsADirectoryError:
        raise error("is a directory, expected a .toml experiment file") from None
    except UnicodeDecodeError:
        raise error("not a text file (expected UTF-8 TOML)") from None
    except OSError as e:
        raise error(f"cannot read ({e.strerror})") from None
    try:
        raw = tomlio.loads(text)
    except tomlio.NestingError as e:
        raise error(str(e)) from None
    except tomlio.TOMLDecodeError as e:
        raise error(f"invalid TOML: {cut(str(e), 200)}") from None
    deep = too_deep(raw)
    if deep is not None:
        raise depth_error(str(p), deep)
    if not raw:
        raise error("is empty; an experiment file needs at least a [data] or [objective] table "
                    "(see experiments/ for examples)")
    return raw
