"""Errors meant for the user: their message is one line naming what is wrong and what is allowed."""


class ConfigError(ValueError):
    """A bad experiment file, key or value; its message is one line meant for the user."""
