"""One line on what the worker process costs here: CPU, memory and, on a GPU, its utilisation and memory."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sslterm.tui.sysinfo import SystemSample


def fmt_bytes(n: float) -> str:
    """``812M``, ``1.2G``: a byte count in a few characters (binary units)."""
    for scale, suffix in ((1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")):
        if n >= scale:
            v = n / scale
            return f"{v:.1f}{suffix}" if v < 10 else f"{v:.0f}{suffix}"
    return f"{n:.0f}B"


def system_text(sample: SystemSample | None, pid: int | None) -> Text:
    """``worker 1234  cpu 98%  mem 1.2G  gpu0 87%  3.1G/80G (worker 2.9G)``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"worker {pid}" if pid else "worker", style="dim")
    if sample is None:
        return text
    text.append("  cpu ", style="dim").append(f"{sample.cpu_pct:.0f}%" if sample.cpu_pct is not None else "…")
    if sample.rss_bytes is not None:
        text.append("  mem ", style="dim").append(fmt_bytes(sample.rss_bytes))
    gpu = sample.gpu
    if gpu is not None:
        text.append(f"  gpu{gpu.index} ", style="dim").append(f"{gpu.util_pct:.0f}%", style="bold")
        text.append(f"  {fmt_bytes(gpu.used_mib * (1 << 20))}/{fmt_bytes(gpu.total_mib * (1 << 20))}")
        if gpu.proc_mib is not None:
            text.append(" (worker ", style="dim").append(fmt_bytes(gpu.proc_mib * (1 << 20))).append(")", style="dim")
    return text


def rounded(sample: SystemSample) -> SystemSample:
    """The sample at the precision shown, so that an unchanged line compares equal and is not redrawn."""
    cpu = round(sample.cpu_pct) if sample.cpu_pct is not None else None
    rss = round(sample.rss_bytes, -6) if sample.rss_bytes is not None else None
    return SystemSample(float(cpu) if cpu is not None else None, rss, sample.gpu)


class SystemLine(Widget):
    """Shows :func:`system_text`; the dashboard hides it when the worker is not on this host or has ended."""

    sample: reactive[SystemSample | None] = reactive(None)
    pid: reactive[int | None] = reactive(None)

    def render(self) -> Text:
        return system_text(self.sample, self.pid)
