"""Small modal dialogs: a yes/no confirmation, the key bindings, a line of text, picking from a list."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widgets import Input, OptionList, SelectionList, Static

HELP_WIDTH = 64  # columns inside a dialog at its widest (app.tcss: max-width 70, less border and padding)
KEY_WIDTH = 11  # columns of the keys' column of the help, with its margins


class TypesIntoInput:
    """For a screen: text keys and pastes that reach the screen while it has a place for text go there.

    Textual hands each key to the widget focused when the app reads it, and runs bindings once the key has
    bubbled back up; keys typed in one burst (fast typing, a paste) can therefore reach the screen after the
    key that opened an input, but before the input has the focus. Such a key is text: it is typed into the
    input here, and never reaches a binding (``s`` of ``/simclr`` used to ask to stop a run).
    """

    def text_input(self) -> Input | None:
        """The input that takes text typed now, if any."""
        return None

    def on_key(self, event: events.Key) -> None:
        box = self.text_input()
        if box is not None and event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            box.insert_text_at_cursor(event.character)

    def on_paste(self, event: events.Paste) -> None:
        box = self.text_input()
        if box is not None and event.text:
            event.stop()
            box.insert_text_at_cursor(event.text.splitlines()[0])


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


def keys_help(screen: Screen[Any], notes: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """What each of a screen's keys does, read from its BINDINGS, then ``notes`` (what is not a binding).

    A binding says it in its tooltip (else its footer label), under the key it shows; bindings with neither,
    and those that do not apply now (``check_action`` False: stop on an ended run), are left out.
    """
    rows: list[tuple[str, str]] = []
    for item in type(screen).BINDINGS:
        binding = item if isinstance(item, Binding) else Binding(*item)
        words = binding.tooltip or binding.description
        _, action, parameters = parse(binding.action)
        if not words or screen.check_action(action, parameters) is False:
            continue
        rows.append((binding.key_display or screen.app.get_key_display(binding), words))
    return rows + list(notes)


class HelpScreen(ModalScreen[None]):
    """Lists the keys of the screen it was opened from; any of esc, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
        # the screen's, not only the scrolling box's: keys typed right behind ? come before the box has the focus
        Binding("down,j", "scroll(1)", show=False),
        Binding("up,k", "scroll(-1)", show=False),
        Binding("pagedown,space", "scroll(10)", show=False),
        Binding("pageup", "scroll(-10)", show=False),
    ]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        lines = [Text(self.title_text, style="bold"), Text()]
        for key, what in self.keys:  # a long explanation wraps under itself, not under the keys
            first, *rest = textwrap.wrap(what, HELP_WIDTH - KEY_WIDTH, break_on_hyphens=False) or [""]
            lines.append(Text.assemble((f"{key:>{KEY_WIDTH - 2}}  ", "bold cyan"), first))
            lines += [Text(" " * KEY_WIDTH + more) for more in rest]
        body = Text("\n").join(lines)
        with Vertical(classes="dialog help"):
            with VerticalScroll(classes="help-keys", can_focus=False):  # taller than 80x24 (runs): it scrolls
                yield Static(body, classes="dialog-body")
            yield Static("esc closes · ↑ ↓ scroll", classes="dialog-keys")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, rows: int) -> None:
        box = self.query_one(".help-keys", VerticalScroll)
        box.scroll_to(y=box.scroll_target_y + rows, animate=False, immediate=True)  # the next key adds to it


class PromptScreen(TypesIntoInput, ModalScreen[str | None]):
    """Asks for one line of text: enter saves what is typed, esc leaves it as it was (None).

    Editing starts with the cursor after the current value (nothing selected: the first key adds to it).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog prompt"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-body")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input", select_on_focus=False)
            yield Static("[b]enter[/b] save    [b]esc[/b] cancel", classes="dialog-keys")

    def text_input(self) -> Input | None:
        return self.query_one(Input) if self.is_mounted else None

    def on_mount(self) -> None:
        box = self.query_one(Input)
        box.cursor_position = len(box.value)
        self.set_focus(box)  # at once: the keys behind the one that opened the prompt go into it

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CheckList(SelectionList[str]):
    """A SelectionList whose boxes hold an X only when chosen (Textual's differ by colour alone, lost in mono)."""

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        segments = list(line)
        index = self.scroll_offset.y + y
        if len(segments) < 3 or not 0 <= index < self.option_count:
            return line  # a line without a box
        box = segments[1]
        chosen = self.get_option_at_index(index).value in self.selected
        segments[1] = Segment(box.text if chosen else " " * len(box.text), box.style, box.control)
        return Strip(segments, line.cell_length)


class PickScreen(ModalScreen[list[str] | None]):
    """Picks several of a list of names (space toggles, enter applies, esc cancels)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "apply", "Apply", priority=True),
        Binding("escape,q", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, names: list[str], chosen: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.names = names
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog pick"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-body")
            yield CheckList(*((n, n, n in self.chosen) for n in self.names), id="pick-list")
            yield Static("[b]space[/b] toggle    [b]enter[/b] apply    [b]esc[/b] cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        boxes = self.query_one(CheckList)
        if self.names:
            boxes.highlighted = 0  # down then moves to the second, as it does once the list has drawn itself
        self.set_focus(boxes)  # at once: the keys typed behind the one that opened it move in it

    def action_apply(self) -> None:
        picked = self.query_one(CheckList).selected
        self.dismiss([n for n in self.names if n in picked])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseScreen(ModalScreen[str | None]):
    """Picks one of a list of names (enter chooses, esc cancels)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(self, title: str, names: list[str], current: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog pick"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-body")
            yield OptionList(*self.names, id="choose-list")
            yield Static("[b]enter[/b] choose    [b]esc[/b] cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.names:
            options.highlighted = self.names.index(self.current)
        self.set_focus(options)  # at once, as PickScreen's

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.names[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
