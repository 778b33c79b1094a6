"""Reading experiment files and applying command-line overrides (``--set table.key=value``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sslterm import tomlio
from sslterm.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``table.key=value`` into a key path and a TOML value (bare words are strings)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected table.key=value, for example --set train.lr=0.001")
    key, _, value = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not all(path):
        raise ConfigError(f"--set {text}: the key {key!r} is empty or has an empty part")
    try:
        parsed = tomlio.loads(f"v = {value.strip()}")["v"]
    except tomlio.TOMLDecodeError:
        parsed = value.strip()
    return path, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``table.key=value`` override applied."""
    out: dict[str, Any] = _deep_copy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {text}: {part!r} is a value, not a table")
            node = nxt
        node[path[-1]] = value
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every I/O or syntax problem into a one-line ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a .toml experiment file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file (expected UTF-8 TOML)") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from None
    try:
        return tomlio.loads(text)
    except tomlio.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
