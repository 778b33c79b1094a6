"""Durations and measured values in the words every view uses (the CLI and the app share it; no torch, no UI)."""

from __future__ import annotations

import math

UNITS = ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s"))  # (unit, name, next unit, its name)


def fmt_duration(seconds: float | None, short: bool = False) -> str:
    """A duration as ``1h02m``, ``3m05s`` or ``12s``; ``-`` when unknown.

    ``short`` leaves out a second unit that is zero (``1h``, ``2m``, ``1h01m``), as the chart's time axis does.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = round(seconds) if short else int(seconds)
    for unit, name, small, small_name in UNITS:
        if s >= unit:
            whole, rest = divmod(s, unit)
            part = rest // small
            return f"{whole}{name}" if short and not part else f"{whole}{name}{part:02d}{small_name}"
    return f"{s}s"


def fmt_value(value: float, digits: int = 3) -> str:
    """A measured value in ``digits`` significant digits: ``0.550``, ``0.000412``, ``2.27``, ``1.20e+03``; never
    ``0.000`` for a value that is not 0 (a fixed number of decimals hid a collapsing spread)."""
    return f"{value:#.{digits}g}"
