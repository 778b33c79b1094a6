"""A live preview of an experiment's augmentations: a few examples and two views of each, redrawn as they change.

The pictures come from the preview server, a child process (:mod:`sslterm.tui.preview_client`),
so the app never imports torch; :mod:`sslterm.tui.widgets.preview_draw` draws its answers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from sslterm.tui.preview_client import PreviewClient
from sslterm.tui.widgets.preview_draw import answer_text

DEBOUNCE_SECONDS = 0.25
LOADING = "loading preview…"


class AugmentationPreview(Widget):
    """Shows what an experiment's augmentations do; :meth:`show_experiment` with each edited document."""

    DEFAULT_CSS = "AugmentationPreview { height: 1fr; }"

    @dataclass
    class Answered(Message):
        """The preview server answered a request (posted from its reader thread)."""

        answer: dict[str, Any]
        bubble: ClassVar[bool] = False

    @dataclass
    class Exited(Message):
        """The preview server could not start or has exited."""

        reason: str
        bubble: ClassVar[bool] = False

    answer: reactive[dict[str, Any] | None] = reactive(None)  # the last answer drawn
    problem: reactive[str | None] = reactive(None)  # why there is no preview server
    busy: reactive[bool] = reactive(False)  # a request is in flight

    def __init__(self, samples: int = 3, seed: int = 0, *, id: str | None = None,
                 name: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, name=name, classes=classes)
        self.samples = samples
        self.seed = seed
        self.client: PreviewClient | None = None
        self.pending: dict[str, Any] | None = None  # the latest document, not yet sent
        self.in_flight: int | None = None  # id of the request the server is working on
        self.last_id = 0
        self.timer: Timer | None = None
        self.drawn: tuple[tuple[int, int, int, bool], Text] | None = None  # the last drawing and what it drew

    def on_mount(self) -> None:
        self.client = PreviewClient(lambda a: self.post_message(self.Answered(a)),
                                    lambda r: self.post_message(self.Exited(r)))
        self.client.start()

    def on_unmount(self) -> None:
        if self.client is not None:
            self.client.close()

    def show_experiment(self, doc: dict[str, Any]) -> None:
        """Preview ``doc`` (the tables of an experiment file) after a short pause; the latest one wins."""
        self.pending = copy.deepcopy(doc)
        if self.timer is not None:
            self.timer.stop()
        self.timer = self.set_timer(DEBOUNCE_SECONDS, self.send_pending)

    def send_pending(self) -> None:
        """Send the latest document unless a request is in flight (its answer sends it then)."""
        if self.pending is None or self.in_flight is not None or self.client is None:
            return
        self.last_id += 1
        request = {"id": self.last_id, "experiment": self.pending, "samples": self.samples, "seed": self.seed}
        if self.client.send(request):
            self.pending, self.in_flight, self.busy = None, self.last_id, True

    def on_augmentation_preview_answered(self, message: Answered) -> None:
        if message.answer.get("id") != self.in_flight:
            return  # an answer to a request this widget no longer waits for
        self.in_flight, self.busy = None, False
        self.answer = message.answer
        self.send_pending()

    def on_augmentation_preview_exited(self, message: Exited) -> None:
        self.problem, self.busy, self.in_flight = message.reason, False, None

    def render(self) -> Text:
        if self.problem is not None:
            return Text(self.problem, style="bold red")
        if self.answer is None:
            return Text(LOADING, style="dim")
        width, height = self.content_size
        key = (id(self.answer), width, height, self.app.no_color)
        if self.drawn is None or self.drawn[0] != key:
            try:
                self.drawn = key, answer_text(self.answer, width, height, self.app.no_color)
            except (KeyError, TypeError, ValueError, IndexError) as e:  # an answer of another shape: say so
                return Text(f"preview: unreadable answer from the preview server ({type(e).__name__}: {e})",
                            style="bold red", no_wrap=True, overflow="ellipsis")
        text = self.drawn[1]
        if self.busy:
            text = Text.assemble(Text("↻ ", style="dim"), text, no_wrap=True, overflow="crop")
        return text
