"""How the app draws on this terminal: theme, colour system, frame rate, decided from the environment (no UI).

Textual reads ``TEXTUAL_COLOR_SYSTEM`` and ``TEXTUAL_FPS`` once, when it is imported, so the command line
settles them before it imports the app, and hands them to the processes it starts (``sslterm serve``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sslterm.tui.pace import REMOTE_FPS

THEMES = ("dark", "mono")  # mono: no colour at all; shapes and shades carry what colours carry in dark
THEME_VARIABLE = "SSLTERM_THEME"
FEW_COLOURS = ("linux", "vt100", "vt102", "vt220", "ansi", "cons25")  # terminals with 8 or 16 colours


def resolve_theme(flag: str | None, environ: Mapping[str, str]) -> str:
    """The theme: ``--theme``, else ``$SSLTERM_THEME``, else mono where ``NO_COLOR`` is set, else dark.

    ValueError names where an unknown theme came from and the themes there are.
    """
    if flag is not None:
        theme, source = flag, "--theme"
    elif environ.get(THEME_VARIABLE):
        theme, source = environ[THEME_VARIABLE], THEME_VARIABLE
    else:
        return "mono" if environ.get("NO_COLOR") else "dark"
    if theme not in THEMES:
        raise ValueError(f"{source}: got {theme!r}, expected {' or '.join(THEMES)}")
    return theme


def color_system(environ: Mapping[str, str]) -> str | None:
    """The colour system for Textual, or None to leave its own choice (``TEXTUAL_COLOR_SYSTEM`` set, no TERM).

    Truecolor where ``COLORTERM`` says so; otherwise 256 colours, which every terminal and multiplexer
    in use draws, rather than the 16 that Rich falls back to when SSH did not forward ``COLORTERM``;
    16 only on terminals known to have no more.
    """
    term = environ.get("TERM", "")
    if environ.get("TEXTUAL_COLOR_SYSTEM") or not term or term == "dumb":
        return None
    if environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    if term in FEW_COLOURS or term.endswith(("-8color", "-16color")):
        return "standard"
    return "256"


def terminal_environment(flag: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set before the app is imported: ``--theme`` if given, the colour system if decided,
    and over SSH a lower cap on frames per second (unless ``TEXTUAL_FPS`` says otherwise).

    ValueError for an unknown theme, from the flag or from ``$SSLTERM_THEME``.
    """
    theme = resolve_theme(flag, environ)
    out = {THEME_VARIABLE: theme} if flag is not None else {}
    system = color_system(environ)
    if system is not None:
        out["TEXTUAL_COLOR_SYSTEM"] = system
    if environ.get("SSH_CONNECTION") and not environ.get("TEXTUAL_FPS"):
        out["TEXTUAL_FPS"] = str(REMOTE_FPS)
    return out
