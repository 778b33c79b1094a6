"""One row of the launcher's form: a parameter's name and value, edited in place, with its problem under it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import DescendantBlur
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from sslterm.tui.draft import FieldSpec

LABEL_WIDTH = 28  # columns of the name; the value (and the line editor) start after it


def value_text(spec: FieldSpec, value: Any) -> str:
    """A value as the form shows it: as TOML writes it, strings bare where a string belongs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if spec.param.type is str else f'"{value}"'
    if isinstance(value, float):
        short = repr(value)
        return short if len(short) <= 10 else f"{value:.6g}"  # 4/3 shows as 1.33333
    return str(value)


class FieldEditor(Input):
    """The line a field's value is typed into, laid over the value: enter applies, esc puts the old value back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        if isinstance(self.parent, Field):
            self.parent.stop_editing()


class Field(Widget, can_focus=True):
    """A focusable form row drawn as one line (two with a problem); a line editor is mounted only while editing.

    Posts Activated on enter (and on space for on/off fields) and Submitted when a typed value is applied.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "activate", "Edit"),
        Binding("space", "switch", "Switch", key_display="space", show=False),
        Binding("down", "app.focus_next", show=False),
        Binding("up", "app.focus_previous", show=False),
    ]

    @dataclass
    class Activated(Message):
        """The user pressed enter (or space on an on/off field)."""

        field: Field

    @dataclass
    class Submitted(Message):
        """The user typed a new value and applied it."""

        field: Field
        text: str

    def __init__(self, spec: FieldSpec, value: Any) -> None:
        super().__init__(classes=f"field kind-{spec.kind}")
        self.spec = spec
        self.value = value
        self.error: str | None = None
        self._editor: FieldEditor | None = None

    def render(self) -> Text:
        indent = " " * self.spec.indent
        name = self.spec.key.rsplit(".", 1)[-1]
        if self.spec.kind == "augmentation":
            line = Text(f"{indent}[{'x' if self.value else ' '}] {name}".ljust(LABEL_WIDTH), style="bold")
            line.append(self.spec.param.help, style="dim")
        else:
            line = Text(f"{indent}    {name}".ljust(LABEL_WIDTH))
            line.append(value_text(self.spec, self.value), style="bold")
            if self.spec.kind == "choice":
                line.append(" ▾", style="dim")
        if self.error is not None:
            line.append(f"\n{indent}    ✗ {self.error}", style="bold red")
        return line

    def show(self, value: Any, error: str | None) -> None:
        """Show a new value and problem; redraws only on a change."""
        if value != self.value or type(value) is not type(self.value) or error != self.error:
            grows = (error is None) != (self.error is None)
            self.value, self.error = value, error
            self.refresh(layout=grows)

    def action_activate(self) -> None:
        self.post_message(self.Activated(self))

    def action_switch(self) -> None:
        if self.spec.kind in ("flag", "augmentation"):
            self.post_message(self.Activated(self))

    async def edit(self) -> None:
        """Open the line editor on the current value."""
        text = value_text(self.spec, self.value) if self.value is not None else ""
        self._editor = FieldEditor(text, compact=True, select_on_focus=False, classes="field-editor")
        self._editor.styles.margin = (0, 0, 0, LABEL_WIDTH)
        await self.mount(self._editor)
        self._editor.focus()

    def stop_editing(self) -> str | None:
        """Close the line editor and focus the row again; what was typed, or None if nothing was open."""
        editor, self._editor = self._editor, None
        if editor is None:
            return None
        editor.remove()
        self.focus()
        return editor.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.stop_editing()
        if text is not None and text != value_text(self.spec, self.value):
            self.post_message(self.Submitted(self, text))

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        """Leaving the editor for another field applies what was typed, as enter would."""
        if self._editor is not None and self.screen.focused is not self._editor:
            editor, self._editor = self._editor, None
            editor.remove()
            if editor.value != value_text(self.spec, self.value):
                self.post_message(self.Submitted(self, editor.value))
