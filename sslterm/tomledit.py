"""Edit a TOML text in place so that it reads as a given document, keeping its comments, blank lines and order.

``update_toml(text, doc)`` rewrites only what differs: a changed value is rewritten on its own line (the
line's trailing comment kept), a new key goes at the end of its table, a removed key or table goes with
its lines, a new table goes after its nearest sibling. Everything else is left byte for byte. Dotted keys
and inline tables are edited as whole values; arrays of tables (``[[x]]``) are not supported. The result
is checked by parsing it back: anything that would not read as ``doc`` raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslterm import tomlio

Key = tuple[str, ...]


@dataclass
class _Assignment:
    """One ``key = value`` in the text: where it is, the table it is written in and the value it holds."""

    path: Key
    table: Key
    start: int
    end: int
    value: Any
    head: str
    """The first line up to the value: indentation, key, ``=`` and the spaces after it."""
    tail: str
    """The last line's trailing comment with the spaces before it ('' when none)."""


@dataclass
class _Header:
    """One ``[table]`` line; ``last`` is the last line of its last assignment (or the header itself)."""

    path: Key
    line: int
    last: int


def _value_text(v: Any) -> str:
    """``v`` written as tomlio writes a value (inline tables included)."""
    return tomlio.value_text(v)


def _key_text(k: str) -> str:
    """``k`` written as tomlio writes a key (bare when it can be, quoted otherwise)."""
    return tomlio.key_text(k)


def _dotted(path: Key) -> str:
    return ".".join(_key_text(k) for k in path)


def _parse(text: str) -> dict[str, Any] | None:
    try:
        return tomlio.loads(text)
    except tomlio.TOMLDecodeError:
        return None


def _single_path(tree: Any) -> Key:
    """The keys down a chain of one-key tables, as parsing ``a.b.c = 0`` or ``[a.b]`` gives."""
    path: list[str] = []
    while isinstance(tree, dict) and len(tree) == 1:
        (k, tree), = tree.items()
        path.append(k)
    return tuple(path)


def _equal_sign(line: str) -> int:
    """The position of the ``=`` that ends the key of ``line`` (quotes respected)."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "=":
            return i
        i += 1
    raise ValueError(f"no '=' in {line!r}")


def _scan(lines: list[str]) -> tuple[list[_Header], list[_Assignment]]:
    """Find every table header and assignment of a TOML text, split in lines."""
    headers: list[_Header] = []
    assignments: list[_Assignment] = []
    table: Key = ()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if stripped.startswith("[["):
            raise ValueError(f"line {i + 1}: arrays of tables ([[...]]) cannot be edited in place")
        if stripped.startswith("["):
            parsed = _parse(lines[i])
            if parsed is None:
                raise ValueError(f"line {i + 1}: not a TOML table header: {stripped!r}")
            table = _single_path(parsed)
            headers.append(_Header(table, i, i))
            i += 1
            continue
        end = next((j for j in range(i, len(lines)) if _parse("\n".join(lines[i : j + 1])) is not None), None)
        if end is None:
            raise ValueError(f"line {i + 1}: not a TOML key = value: {stripped!r}")
        assignments.append(_assignment(lines, i, end, table))
        if headers:
            headers[-1].last = end
        i = end + 1
    return headers, assignments


def _assignment(lines: list[str], start: int, end: int, table: Key) -> _Assignment:
    first = lines[start]
    eq = _equal_sign(first)
    key = _single_path(tomlio.loads(first[:eq] + "= 0"))
    value: Any = tomlio.loads("\n".join(lines[start : end + 1]))
    for k in key:
        value = value[k]
    rest = first[eq + 1 :]
    head = first[: eq + 1] + rest[: len(rest) - len(rest.lstrip())]
    last, before = lines[end], "\n".join(lines[start:end])
    tail = ""
    for p in (p for p, c in enumerate(last) if c == "#"):
        if _parse(f"{before}\n{last[:p]}" if before else last[:p]) is not None:
            tail = last[len(last[:p].rstrip()) :]
            break
    return _Assignment(table + key, table, start, end, value, head, tail)


_MISSING = object()


def _get(doc: dict[str, Any], path: Key) -> Any:
    node: Any = doc
    for k in path:
        if not isinstance(node, dict) or k not in node:
            return _MISSING
        node = node[k]
    return node


def _same(a: Any, b: Any) -> bool:
    """Equal as TOML values: same types all the way down (1 is not 1.0, true is not 1), same order of lists."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class _Edit:
    """The planned edit: lines replaced (an empty list deletes) and lines inserted after a line (-1: at the top)."""

    def __init__(self, lines: list[str], doc: dict[str, Any]) -> None:
        self.lines = lines
        self.doc = doc
        self.replace: dict[int, list[str]] = {}
        self.after: dict[int, list[str]] = {}
        self.headers: list[_Header] = []  # those that stay
        self.assignments: list[_Assignment] = []  # those that stay, rewritten or not
        self.written: set[Key] = set()

    def remove_and_rewrite(self, headers: list[_Header], assignments: list[_Assignment]) -> None:
        """Drop the tables and keys ``doc`` lacks; rewrite the values it changes."""
        doc = self.doc
        self.headers = [h for h in headers if isinstance(_get(doc, h.path), dict)]
        for h in headers:
            if h not in self.headers:
                self._drop_table(h)
        dropped = {i for i, new in self.replace.items() if not new}
        self.assignments = [a for a in assignments if a.start not in dropped and _get(doc, a.path) is not _MISSING]
        for a in assignments:
            if a.start in dropped:
                continue
            new = _get(doc, a.path)
            if new is _MISSING:
                self._delete(a.start, a.end)
            elif not _same(new, a.value):
                self._delete(a.start, a.end)
                self.replace[a.start] = [f"{a.head}{_value_text(new)}{a.tail}"]
        self.written = {a.path for a in self.assignments}

    def _delete(self, first: int, last: int) -> None:
        for i in range(first, last + 1):
            self.replace[i] = []

    def _drop_table(self, h: _Header) -> None:
        """Delete a header and its body up to its last assignment; comments after that stay (they lead on)."""
        self._delete(h.line, h.last)
        blank_before = h.line == 0 or not self.lines[h.line - 1].strip()
        nxt = h.last + 1
        if blank_before and nxt < len(self.lines) and not self.lines[nxt].strip():
            self.replace[nxt] = []

    def _insert(self, at: int, new: list[str]) -> None:
        self.after.setdefault(at, []).extend(new)

    # -- where things are ------------------------------------------------------------------------

    def _explicit(self, path: Key) -> _Header | None:
        return next((h for h in self.headers if h.path == path), None)

    def _region_end(self, path: Key) -> int | None:
        """The last line that writes into ``path`` or a table under it, or None if nothing does."""
        ends = [h.last for h in self.headers if h.path[: len(path)] == path]
        ends += [a.end for a in self.assignments if a.path[: len(path)] == path and len(a.path) > len(path)]
        return max(ends) if ends else None

    def _dotted_home(self, path: Key) -> _Header | None:
        """The header under which ``path`` is written with dotted keys (``[a]`` then ``b.c = 1``), if any."""
        for a in self.assignments:
            if len(a.path) > len(path) and a.path[: len(path)] == path and len(a.table) < len(path):
                return self._explicit(a.table) or _Header((), -1, self._root_end())
        return None

    def _root_end(self) -> int:
        """Where new top-level keys go: after the last top-level key, else after the file's opening comments."""
        root = [a.end for a in self.assignments if not a.table]
        if root:
            return max(root)
        first = next((i for i, line in enumerate(self.lines) if not line.lstrip().startswith("#")), len(self.lines))
        return first - 1

    # -- adding ----------------------------------------------------------------------------------

    def add_missing(self, path: Key, table: dict[str, Any]) -> None:
        """Write what ``table`` (at ``path``) holds that the text does not, then do the same for its sub-tables."""
        leaves = {k: v for k, v in table.items() if not isinstance(v, dict) and (*path, k) not in self.written}
        subs = {k: v for k, v in table.items() if isinstance(v, dict) and (*path, k) not in self.written}
        new = [f"{_key_text(k)} = {_value_text(v)}" for k, v in leaves.items()]
        home = self._explicit(path)
        if not path:
            at = self._root_end()
            if new and at + 1 < len(self.lines) and self.lines[at + 1].strip():
                new.append("")
            self._insert(at, new)
        elif home is not None:
            self._insert(home.last, new)
        elif (dotted := self._dotted_home(path)) is not None:
            rel = path[len(dotted.path) :]
            self._insert(dotted.last, [f"{_dotted((*rel, k))} = {_value_text(v)}" for k, v in table.items()
                                       if (*path, k) not in self.written and not self._written_under((*path, k))])
            subs = {k: v for k, v in subs.items() if self._written_under((*path, k))}
        elif self._region_end(path) is not None:
            if new:
                self._insert(self._before_first(path), [f"[{_dotted(path)}]", *new, ""])
        else:
            self._insert(self._new_table_anchor(path), ["", *self._render(path, table).splitlines()])
            return
        for k, sub in subs.items():
            self.add_missing((*path, k), sub)

    def _written_under(self, path: Key) -> bool:
        return any(a.path[: len(path)] == path for a in self.assignments)

    def _render(self, path: Key, table: dict[str, Any]) -> str:
        nested: dict[str, Any] = table
        for k in reversed(path):
            nested = {k: nested}
        return tomlio.dumps(nested)

    def _new_table_anchor(self, path: Key) -> int:
        """After the nearest earlier sibling that the text holds, else at the start of the parent."""
        parent, name = path[:-1], path[-1]
        siblings = list(_get(self.doc, parent))
        for sibling in reversed(siblings[: siblings.index(name)]):
            end = self._region_end((*parent, sibling))
            if end is not None and isinstance(_get(self.doc, (*parent, sibling)), dict):
                return self._block_end(end)
        if not parent:
            return self._root_end()
        home = self._explicit(parent)
        if home is not None:
            return home.last
        return self._before_first(parent)

    def _block_end(self, line: int) -> int:
        """The last key line of the table whose body holds ``line`` (a new table must not split a body)."""
        home = next((h for h in self.headers if h.line <= line <= h.last), None)
        if home is not None:
            return home.last
        first = min((h.line for h in self.headers), default=len(self.lines))
        return self._root_end() if line < first else line

    def _before_first(self, path: Key) -> int:
        """The line before the first header under ``path`` and the comment lines that lead into it."""
        at = min((h.line for h in self.headers if h.path[: len(path)] == path), default=len(self.lines)) - 1
        while at >= 0 and self.lines[at].lstrip().startswith("#"):
            at -= 1
        return at

    def result(self) -> str:
        out = list(self.after.get(-1, []))
        while out and not out[0]:
            out.pop(0)  # a table added at the very top needs no blank line above it
        for i, line in enumerate(self.lines):
            out.extend(self.replace.get(i, [line]))
            out.extend(self.after.get(i, []))
        return "\n".join(out) + "\n"


def update_toml(text: str, doc: dict[str, Any]) -> str:
    """``text`` edited in place so that it parses to ``doc``; comments and layout of what stays are kept.

    Raises ValueError when ``text`` is not TOML, holds arrays of tables, or cannot be edited into ``doc``.
    """
    try:
        tomlio.loads(text)
    except tomlio.TOMLDecodeError as e:
        raise ValueError(f"not valid TOML: {e}") from None
    lines = text.splitlines()
    edit = _Edit(lines, doc)
    edit.remove_and_rewrite(*_scan(lines))
    edit.add_missing((), doc)
    out = edit.result()
    parsed = _parse(out)
    if parsed is None or not _same(parsed, doc):
        raise ValueError("the file cannot be edited in place into this experiment (it uses TOML this editor "
                         "does not rewrite)")
    return out
