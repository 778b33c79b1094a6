"""Keys in the order they were typed: an app hands a key on only once the one before it has been dealt with."""

from __future__ import annotations

import time
from collections import deque

from textual import events
from textual.app import App
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

STALE = 0.5  # seconds after which a key still in flight no longer holds the next ones back
UNREADY = 5.0  # seconds a screen still being made (``takes_keys`` False) may hold the keys typed for it


class KeyDone(Message, bubble=True):
    """Sent after a key to the widget the key was given to: it bubbles up behind the key (each message pump
    is first in, first out), so when it reaches the app the key has been handled, its bindings run included.
    It is then sent once more through the widget focused now, behind the messages those bindings posted there
    (a list's space posts the message that ticks the box), and the key is done when it comes back."""

    def __init__(self, number: int, last: bool = False) -> None:
        super().__init__()
        self.number = number  # which key: one given up on as stale may still come back
        self.last = last  # the second time through


class KeysInOrder(App[None]):
    """An app whose keys (and pastes) are dealt with one at a time, as a person typing means them.

    Textual gives each key to the widget focused when the app reads it, and runs bindings once the key has
    bubbled back to the app; meanwhile the next keys of a burst (fast typing, a paste) have been given to
    the widget focused *then*. A key that opens an input (``/``, ``n``) therefore lost the keys typed behind
    it to the list, where they ran as commands (``/simclr`` asked to stop a run). Here the next key waits
    until :class:`KeyDone` says the one before has come back, so it reaches whatever the one before focused.
    A key whose widget went away meanwhile (its KeyDone lost) holds the others back for :data:`STALE` at most.
    """

    def __init__(self) -> None:
        super().__init__()
        self._held: deque[events.Event] = deque()
        self._in_flight_since: float | None = None
        self._stale_timer: Timer | None = None
        self._number = 0  # of the key in flight
        self._in_flight_target: Widget | None = None
        self._unready_since: float | None = None  # when keys began to wait for the screen on top to be made

    async def on_event(self, event: events.Event) -> None:
        typed = isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
        if not typed:
            await super().on_event(event)
            return
        target = self._in_flight_target
        if self._in_flight_since is not None and target is not None and not target.is_attached:
            self._in_flight_since = None  # its widget went away (a dialog closed by it): its KeyDone never comes
        if self._in_flight_since is not None or self._held or not self._screen_takes_keys():
            self._held.append(event)
            if self._stale_timer is None:
                self._stale_timer = self.set_timer(STALE, self._release_stale)
            return
        await self._hand_on(event)

    def _screen_takes_keys(self) -> bool:
        """Whether the screen on top is ready for keys: one still being made (a form being filled in) says
        so with ``takes_keys = False``, and the keys typed meanwhile wait for it (for :data:`UNREADY` at most)."""
        if getattr(self.screen, "takes_keys", True):
            self._unready_since = None
            return True
        if self._unready_since is None:
            self._unready_since = time.monotonic()
        return time.monotonic() - self._unready_since >= UNREADY

    def screen_ready(self) -> None:
        """Called by a screen once it takes keys: the keys typed while it was being made go to it now."""
        self.call_later(self._next)

    async def _hand_on(self, event: events.Event) -> None:
        target = self.focused or self.screen  # where App.on_event gives the key (when no priority binding takes it)
        self._in_flight_since, self._in_flight_target = time.monotonic(), target
        self._number += 1
        number = self._number
        await super().on_event(event)
        if event.is_forwarded:
            target.post_message(KeyDone(number))
        else:  # a priority binding took it here: only what it posted is left to wait for
            self._settle(number)

    def _settle(self, number: int) -> None:
        target = self.focused or self.screen
        self._in_flight_target = target
        target.post_message(KeyDone(number, last=True))

    async def on_key_done(self, message: KeyDone) -> None:
        message.stop()
        if message.number != self._number:
            return
        if not message.last:
            self._settle(message.number)
            return
        self._in_flight_since = self._in_flight_target = None
        await self._next()

    async def _next(self) -> None:
        while self._held and self._in_flight_since is None and self._screen_takes_keys():
            await self._hand_on(self._held.popleft())
        if not self._held and self._stale_timer is not None:
            self._stale_timer.stop()
            self._stale_timer = None

    async def _release_stale(self) -> None:
        self._stale_timer = None
        since = self._in_flight_since
        if since is not None and time.monotonic() - since >= STALE:
            self._in_flight_since = self._in_flight_target = None
        if self._held:
            await self._next()
            if self._held and self._stale_timer is None:
                self._stale_timer = self.set_timer(STALE, self._release_stale)
