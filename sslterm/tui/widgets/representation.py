"""One line on the representation: kNN and probe accuracy, effective rank, spread, collapse warnings."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sslterm.health import representation_warning
from sslterm.humanize import fmt_value

NARROW = "narrow, normal here"
"""Said after the spread in place of a collapse warning for objectives whose targets are their input
(next-token, masked, inpainting): they cannot collapse, and their pooled features are often narrow while
they learn; kNN and the probe tell what they are worth. Short: the line fits 80 columns."""
SHOWN = ("knn_acc", "probe_acc", "rankme", "emb_std", "emb_dim")  # the metrics the line is made of


def diagnostics(latest: dict[str, Any], collapse: bool = True) -> dict[str, Any]:
    """What the line shows of the newest metrics, with its warning (equal dicts draw the same line).

    The warning reads the loss too (a low spread while the loss tells the examples apart is only at risk);
    ``collapse`` false (objectives whose targets are their input, :func:`health.collapse_applies`) has none,
    only :data:`NARROW` where it would have had one.
    """
    shown = {k: latest[k] for k in SHOWN if k in latest}
    warning = representation_warning(latest)
    shown["warning"] = warning if collapse else None
    shown["note"] = NARROW if warning and not collapse else None
    return shown


def representation_text(latest: dict[str, Any]) -> Text:
    """The line for :func:`diagnostics` of the newest logged evaluation (or a hint that none has happened yet)."""
    if "emb_std" not in latest:
        return Text("representation: measured at the first evaluation ([eval] every)", style="dim")
    text = Text()
    for key, label in (("knn_acc", "kNN"), ("probe_acc", "probe")):
        if key in latest:
            text.append(f"{label} ", style="dim").append(f"{fmt_value(latest[key])}  ", style="bold")
    if "rankme" in latest:
        text.append("rank ", style="dim").append(f"{latest['rankme']:.1f}  ")
    if "emb_dim" in latest:
        spread, isotropic = fmt_value(latest["emb_std"]), fmt_value(latest["emb_dim"] ** -0.5)
        text.append("spread ", style="dim").append(f"{spread}/{isotropic}  ")
    warning = latest["warning"] if "warning" in latest else representation_warning(latest)
    if latest.get("note"):
        text.append(str(latest["note"]), style="dim")
    if warning:
        text.append(f"⚠ {warning}", style="bold red" if warning.startswith("collapsing") else "yellow")
    return text


class RepresentationLine(Widget):
    """Shows :func:`representation_text` of the newest metrics; redrawn only when they change."""

    latest: reactive[dict[str, Any]] = reactive(dict, always_update=False)

    def render(self) -> Text:
        return representation_text(self.latest)
