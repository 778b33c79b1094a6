"""Edit a TOML text so that it reads as a given document, keeping its comments, blank lines and order (tomlkit).

``update_toml(text, doc)`` changes only what differs: a changed value is rewritten in its place (its
trailing comment kept), a removed key or table goes (comments that lead into the next table stay),
a new key or table is added to its table, and tables keep the order ``doc`` gives them (augmentations
apply in file order). An unchanged document gives the text back byte for byte. tomlkit is imported
only when a file is saved. The result is checked by parsing it back: anything that would not read as
``doc`` raises ValueError.
"""

from __future__ import annotations

from typing import Any

from sslterm import tomlio


def _same(a: Any, b: Any) -> bool:
    """Equal as TOML values: same types all the way down (1 is not 1.0, true is not 1), same order of lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _tables(d: Any) -> list[str]:
    """The keys of a table that hold tables, in order (the order of tables can matter: augmentations)."""
    return [k for k in d if isinstance(d[k], dict)]


def _plain(item: Any) -> Any:
    """A tomlkit item as plain Python data."""
    return item.unwrap() if hasattr(item, "unwrap") else item


def _leading_comments(table: Any) -> str:
    """The comment lines at the end of a table's body: they lead into the table after it (tomlkit files them here)."""
    from tomlkit.items import Comment, Table

    if not isinstance(table, Table):
        return ""
    body = table.value.body
    i = len(body)
    while i and body[i - 1][0] is None:
        i -= 1
    tail = [item for _, item in body[i:]]
    return "".join(item.as_string() for item in tail) if any(isinstance(x, Comment) for x in tail) else ""


def _delete(node: Any, key: str) -> None:
    """Delete ``key`` from a tomlkit container; comments leading into the next table move onto it."""
    from tomlkit.items import Table

    keys = list(node)
    lead = _leading_comments(node[key])
    after = keys[keys.index(key) + 1] if keys.index(key) + 1 < len(keys) else None
    del node[key]
    if lead and after is not None and isinstance(node[after], Table):
        node[after].trivia.indent = lead.lstrip("\n") if not node[after].trivia.indent else (
            lead + node[after].trivia.indent)


def _headless(node: Any, key: str) -> bool:
    """Whether the table at ``key`` has no header of its own: written only through its sub-tables' headers
    (``[a.b]`` without ``[a]``) or through dotted keys (``a.b = 1``). Emptied, such a table would vanish."""
    from tomlkit.items import Table

    item = node[key]
    if not isinstance(item, Table):
        return False
    body = node.value.body if isinstance(node, Table) else node.body
    dotted = any(k is not None and k.key == key and k.is_dotted() for k, _ in body)
    return bool(item.is_super_table()) or dotted


def _empty_table() -> Any:
    import tomlkit

    return tomlkit.table()


def _new(value: Any, inline: bool) -> Any:
    """A value for tomlkit to write; tables inline (``x = {}``) where a header cannot go or could vanish."""
    import tomlkit

    if not isinstance(value, dict):
        return value
    inline = inline or not value
    table = tomlkit.inline_table() if inline else tomlkit.table()
    for k, v in value.items():
        table[k] = _new(v, inline)
    return table


def _inline(node: Any) -> bool:
    """Whether tables added to ``node`` must be inline: inside an inline table or one written with dotted keys."""
    from tomlkit.items import InlineTable, Table

    return isinstance(node, InlineTable) or (isinstance(node, Table) and node.is_super_table() and not any(
        isinstance(v, Table) for v in node.values()))


def _has_tables(node: Any) -> bool:
    """Whether ``node`` holds tables written with headers of their own."""
    from tomlkit.items import Table

    return any(isinstance(v, Table) for v in node.values())


def _add(node: Any, key: str, item: Any) -> None:
    """Add ``key`` at the end of a table's keys: before the comments that close its body (they lead into the
    next table), not after them."""
    from tomlkit.items import Table

    body = node.value.body if isinstance(node, Table) else None
    tail: list[Any] = []
    while body and body[-1][0] is None:
        tail.insert(0, body.pop())
    node[key] = item
    if body is not None:
        body.extend(tail)


def _sync(node: Any, target: dict[str, Any]) -> None:
    """Make the tomlkit table (or document) ``node`` hold ``target``, touching only what differs."""
    for key in [k for k in node if k not in target]:
        _delete(node, key)
    for key, value in target.items():
        if key in node and isinstance(value, dict) and isinstance(node[key], dict):
            _sync(node[key], value)
            if not value and _headless(node, key):  # no header left: an empty table must still be written
                _delete(node, key)
                node[key] = _empty_table()
        elif key in node and not _same(_plain(node[key]), value):
            node[key] = _new(value, _inline(node))
        elif key not in node and value == {} and not _inline(node) and _has_tables(node):
            _add(node, key, _empty_table())  # `k = {}` among [node.x] headers would land in the last of them
        elif key not in node:
            _add(node, key, _new(value, _inline(node)))
    if _tables(node) != _tables(target):  # a table switched on again goes back to its place
        items = [(k, node[k]) for k in _tables(target)]
        for key, _ in items:
            del node[key]
        for key, item in items:
            node[key] = item


def update_toml(text: str, doc: dict[str, Any]) -> str:
    """``text`` edited so that it parses to ``doc``; comments and layout of what stays are kept.

    Raises ValueError when ``text`` is not TOML or cannot be edited into ``doc``.
    """
    import tomlkit  # only when saving: the app does not load it at start-up
    from tomlkit.exceptions import TOMLKitError

    try:
        document = tomlkit.parse(text)
    except TOMLKitError as e:
        raise ValueError(f"not valid TOML: {e}") from None
    try:
        _sync(document, doc)
        out = tomlkit.dumps(document)
    except (TOMLKitError, TypeError, ValueError, KeyError) as e:
        raise ValueError(f"the file cannot be edited in place into this experiment ({e})") from None
    try:
        parsed: Any = tomlio.loads(out)
    except tomlio.TOMLDecodeError:
        parsed = None
    augment = (parsed or {}).get("augment"), doc.get("augment")
    in_order = not all(isinstance(a, dict) for a in augment) or _tables(augment[0]) == _tables(augment[1])
    if parsed is None or not _same(parsed, doc) or not in_order:  # augmentations apply in file order
        raise ValueError("the file cannot be edited in place into this experiment (it uses TOML that cannot be "
                         "rewritten to match)")
    return out
