"""Shared helpers for the benchmarks: machine description, timing, the results table and JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "cpu": _cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import textual

        info["textual"] = textual.__version__
    except ImportError:
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def write(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print ``rows`` as a table and save them with the machine description as JSON."""
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
        print("  ".join(c.ljust(widths[c]) for c in cols))
        for r in rows:
            print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    record = {"benchmark": name, "machine": machine(), "revision": git_revision(), "rows": rows, **(extra or {})}
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"-> {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def git_revision() -> str:
    """The checkout's short commit, ``-dirty`` after it when tracked files (but the saved results) differ from
    it (what was measured is then not that commit), else ``$SSLTERM_REVISION`` (a copy of the tree without
    .git, as on a GPU lease)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=False).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                  ":(exclude)benchmarks/results"], capture_output=True, text=True,
                                 check=False).stdout.strip()
    except OSError:
        rev = changed = ""
    return (rev + ("-dirty" if changed else "")) if rev else os.environ.get("SSLTERM_REVISION", "")


def described(m: dict[str, Any]) -> str:
    """A :func:`machine` record in one line: ``AMD EPYC, 2 cores, torch 2.13.0+cpu`` (and the GPU, if any)."""
    return (f"{m.get('cpu', 'unknown')}, {m.get('cores', '?')} cores, torch {m.get('torch', '?')}"
            + (f", {m['cuda']}" if m.get("cuda") else ""))
