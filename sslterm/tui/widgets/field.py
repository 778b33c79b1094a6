"""One row of the launcher's form: a parameter's name and value, edited in place, with its problem or notes under it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import events
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

    async def on_mount(self) -> None:
        if isinstance(self.parent, Field):
            await self.parent.editor_mounted(self)

    def on_key(self, event: events.Key) -> None:
        if isinstance(self.parent, Field):  # tells the row that this key came to the editor (see Field.on_key)
            self.parent._through_editor[id(event)] = event


JUMPS = ("home", "end", "pageup", "pagedown")
"""Keys that move the focus over many rows: to the first or last row, or PAGE rows up or down."""
PAGE = 10


class Field(Widget, can_focus=True):
    """A focusable form row drawn as one line (and one per problem or note); a line editor exists only while editing.

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
        """The user typed a new value (or, ``sweep``, the list or range of values to sweep) and applied it."""

        field: Field
        text: str
        sweep: bool = False

    @dataclass
    class Typed(Message):
        """The text in the editor changed (``text``), or the editor closed without applying it (None)."""

        field: Field
        text: str | None

    def __init__(self, spec: FieldSpec, value: Any) -> None:
        super().__init__(classes=f"field kind-{spec.kind}")
        self.spec = spec
        self.value = value
        self.error: str | None = None
        self.notes: tuple[str, ...] = ()  # allowed, but probably not meant: shown under the row, never blocking
        self.checked: str | None = None  # while editing: "" when the typed value is accepted, else why not
        self.swept: str | None = None  # the list or range of values this field is swept over (sweep mode)
        self.sweep_count = 0  # how many values that is
        self.sweeping = False  # the editor open is for the list or range, not one value
        self._editor: FieldEditor | None = None
        self._pending: list[events.Key] = []  # keys typed while the editor opens
        self._typing = False
        self._through_editor: dict[int, events.Key] = {}  # keys the editor has seen, by id
        self._held: list[events.Key] | None = None  # keys typed after enter on a choice: for the list it opens

    def render(self) -> Text:
        indent = " " * self.spec.indent
        name = self.spec.key.rsplit(".", 1)[-1]
        if self._editor is not None and self.checked is not None:  # the editor covers the value; ✓ or ✗ after it
            line = Text(f"{indent}    {name}".ljust(max(LABEL_WIDTH, self.size.width - 1)))
            line.append("✓", style="bold green") if not self.checked else line.append("✗", style="bold red")
            if self.checked:
                line.append(f"\n{indent}    ✗ {self.checked}", style="bold red")
            return line
        if self.spec.kind == "augmentation":
            line = Text(f"{indent}[{'x' if self.value else ' '}] {name}".ljust(LABEL_WIDTH), style="bold")
            line.append(self.spec.param.help, style="dim")
        elif self.swept is not None:  # sweep mode: the list or range, and how many values it gives
            line = Text(f"{indent}  ⋯ {name}".ljust(LABEL_WIDTH))
            line.append(self.swept, style="bold magenta")
            line.append(f"  ({self.sweep_count} values)", style="dim")
        else:
            line = Text(f"{indent}    {name}".ljust(LABEL_WIDTH))
            line.append(value_text(self.spec, self.value), style="bold")
            if self.spec.kind == "choice":
                line.append(" ▾", style="dim")
        if self.error is not None:
            line.append(f"\n{indent}    ✗ {self.error}", style="bold red")
        for note in self.notes:
            line.append(f"\n{indent}    {note}", style="yellow")
        return line

    def check_typed(self, problem: str | None) -> None:
        """Show whether the text in the editor would be accepted: ``problem`` None (✓) or the reason (✗)."""
        checked = problem or ""
        if self._editor is not None and checked != self.checked:
            if bool(checked) != bool(self.checked):  # a row with an editor is as tall as the editor and its margin
                self._editor.styles.margin = (0, 2, 1 if checked else 0, LABEL_WIDTH)
            self.checked = checked
            self.refresh()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._editor is not None and event.input is self._editor:
            self.post_message(self.Typed(self, event.value))

    def show(self, value: Any, error: str | None, notes: tuple[str, ...] = (), swept: str | None = None,
             count: int = 0) -> None:
        """Show a new value (or the list or range ``swept`` over, of ``count`` values), problem and notes; redraws
        only on a change."""
        changed = value != self.value or type(value) is not type(self.value) or (swept, count) != (
            self.swept, self.sweep_count)
        if changed or (error, notes) != (self.error, self.notes):
            grows = (error is None) != (self.error is None) or len(notes) != len(self.notes)
            self.value, self.error, self.notes, self.swept, self.sweep_count = value, error, notes, swept, count
            self.refresh(layout=grows)

    def action_activate(self) -> None:
        if self._editor is not None:
            return  # its editor is already open
        if self.swept is not None:
            self.edit(sweep=True)  # a swept field's list is edited as text, whatever its kind
        elif self.spec.kind in ("flag", "augmentation", "choice"):
            self.post_message(self.Activated(self))
        else:
            self.edit()

    def action_switch(self) -> None:
        if self.spec.kind in ("flag", "augmentation") and self.swept is None:
            self.post_message(self.Activated(self))

    def jump(self, key: str) -> None:
        """Focus the first (home) or last (end) row of the form, or the row PAGE rows up or down."""
        rows = [f for f in self.screen.query(Field) if f.focusable]
        if self not in rows:
            return
        here, last = rows.index(self), len(rows) - 1
        target = {"home": 0, "end": last, "pageup": max(0, here - PAGE), "pagedown": min(last, here + PAGE)}[key]
        rows[target].focus()

    async def on_key(self, event: events.Key) -> None:
        """Keys typed fast (or pasted) are taken in the order they were typed.

        Textual hands each key to the widget focused when it arrives, and runs bindings only once the key has
        bubbled up to the app: after enter, the keys typed before the editor is mounted and focused reach
        this row, and were lost (a second enter opened a second editor, which then ignored enter and esc).
        So enter opens the editor here, the keys that reach the row meanwhile are typed into it once it is
        mounted, and up and down move the focus here, handing the keys behind them on to the row focused.
        """
        if self._held is not None:
            event.stop()
            event.prevent_default()
            self._held.append(event)
        elif self._editor is not None:
            if self._through_editor.pop(id(event), None) is event:
                return  # bubbled up from the editor: its bindings (enter, esc, ctrl+u...) apply as usual
            event.stop()
            event.prevent_default()
            self._pending.append(event)
            if self._editor.is_mounted:
                await self._type_pending()
        elif self._row_key(event):
            event.stop()
            event.prevent_default()

    def _row_key(self, event: events.Key) -> bool:
        """Act on a key that reached this row while it has no editor; whether it was taken."""
        focused = self.screen.focused
        row = focused.parent if isinstance(focused, FieldEditor) else focused
        if row is not self and isinstance(row, Field) and self.screen is self.app.screen:
            # an earlier key of the same burst moved the focus on: this one belongs to the row focused now
            row.post_message(events.Key(event.key, event.character))
        elif event.key in ("down", "up"):
            self.screen.focus_next() if event.key == "down" else self.screen.focus_previous()
        elif event.key in JUMPS:
            self.jump(event.key)
        elif event.key == "enter" and (self.swept is not None or self.spec.kind not in ("flag", "augmentation",
                                                                                       "choice")):
            self.edit(sweep=self.swept is not None)
        elif event.key == "enter" and self.spec.kind == "choice":
            self._held = []  # the keys behind it belong to the list that opens: held until it is shown
            self.post_message(self.Activated(self))
        else:
            return False
        return True

    async def _type_pending(self) -> None:
        """Hand the keys that reached this row while its editor opened on to the editor, in order."""
        if self._typing:
            return  # the loop already running takes the new key too
        self._typing = True
        try:
            while self._pending:
                editor, event = self._editor, self._pending.pop(0)
                if editor is None:  # closed by an earlier key: the rest act on the form
                    self._row_key(event)
                elif event.is_printable and event.character is not None:
                    editor.replace(event.character, *editor.selection)  # typing over the value replaces it
                elif event.key == "enter":
                    sweeping = self.sweeping
                    self._apply(self.stop_editing(), sweeping)
                elif event.key == "escape":
                    self.stop_editing()
                else:
                    for binding in editor._bindings.get_bindings_for_key(event.key):
                        await editor.run_action(binding.action)  # ctrl+u, backspace, arrows...
                        break
        finally:
            self._typing = False

    def release_held(self) -> list[events.Key]:
        """The keys typed after enter on a choice (to be handed to the list it opened); the row takes keys again."""
        held, self._held = self._held or [], None
        return held

    def _apply(self, text: str | None, sweeping: bool = False) -> None:
        if text is not None and text != self._shown_text(sweeping):
            self.post_message(self.Submitted(self, text, sweeping))

    def _shown_text(self, sweeping: bool) -> str:
        if sweeping and self.swept is not None:
            return self.swept
        return value_text(self.spec, self.value) if self.value is not None else ""

    def edit(self, sweep: bool = False) -> None:
        """Open the line editor on the current value (``sweep``: on the list or range of values to sweep over),
        selected: typing replaces it, an arrow key keeps it. The keys typed until the editor has the focus are
        typed into it."""
        if self._editor is not None:
            return
        self.sweeping = sweep
        text = self._shown_text(sweep)
        self._editor = FieldEditor(text, compact=True, select_on_focus=False, classes="field-editor")
        self._editor.styles.margin = (0, 2, 0, LABEL_WIDTH)  # the row's ✓ or ✗ shows after it
        self.mount(self._editor)

    async def editor_mounted(self, editor: FieldEditor) -> None:
        if editor is not self._editor:
            return
        self.screen.set_focus(editor)
        editor.select_all()  # here, not on focus: the focus event comes after the keys typed meanwhile
        await self._type_pending()

    def stop_editing(self) -> str | None:
        """Close the line editor and focus the row again; what was typed, or None if nothing was open."""
        editor, self._editor = self._editor, None
        self._through_editor.clear()
        if editor is None:
            return None
        self._closed_editor()
        self.screen.set_focus(self)  # at once, so that the next keys reach this row, not the editor going away
        editor.can_focus = False  # and so that a down typed next skips it while it is being removed
        editor.remove()
        return editor.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        sweeping = self.sweeping
        self._apply(self.stop_editing(), sweeping)

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        """Leaving the editor for another field applies what was typed, as enter would."""
        if self._editor is not None and self.screen.focused is not self._editor:
            editor, self._editor = self._editor, None
            self._closed_editor()
            editor.remove()
            if editor.value != self._shown_text(self.sweeping):
                self.post_message(self.Submitted(self, editor.value, self.sweeping))

    def _closed_editor(self) -> None:
        """The editor went: the row shows its value and problem again (the form is told, to show the others')."""
        grows = bool(self.checked)
        self.checked = None
        self.refresh(layout=grows)
        self.post_message(self.Typed(self, None))
