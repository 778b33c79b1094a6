"""Durations in the words every view uses (the CLI and the app share it; no torch, no UI)."""

from __future__ import annotations

import math


def fmt_duration(seconds: float | None) -> str:
    """A duration as ``1h02m``, ``3m05s`` or ``12s``; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
