"""Errors meant for the user: their message is one line naming what is wrong and what is allowed."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A bad experiment file, key or value; its message is one line meant for the user.

    Faces read the fields, never parse the message: ``source`` is the file or ``--set`` it came from,
    ``keys`` the full keys involved (two for a rule between keys, none for a file-level problem),
    ``given`` the offending value as the user wrote it (or None), ``allowed`` a short description of what
    is allowed (or None) and ``reason`` the one-line explanation without the source and key prefix.
    """

    def __init__(self, message: str, *, source: str | None = None, keys: tuple[str, ...] = (),
                 given: Any = None, allowed: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.keys = keys
        self.given = given
        self.allowed = allowed
        self.reason = reason if reason is not None else message

    @property
    def key(self) -> str:
        """The first key involved, or "" for a file-level problem."""
        return self.keys[0] if self.keys else ""
