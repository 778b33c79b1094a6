"""Small modal dialogs: a yes/no confirmation and the list of key bindings."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks a yes/no question; dismisses with True only for ``y``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape,q", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-body")
            yield Static("[b]y[/b] yes    [b]n[/b]/esc no", classes="dialog-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """Lists the keys of the screen it was opened from; any of esc, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        lines = [Text(self.title_text, style="bold"), Text()]
        lines += [Text.assemble((f"  {key:>7}  ", "bold cyan"), what) for key, what in self.keys]
        body = Text("\n").join(lines)
        with Vertical(classes="dialog"):
            yield Static(body, classes="dialog-body")
            yield Static("esc closes", classes="dialog-keys")

    def action_close(self) -> None:
        self.dismiss(None)
