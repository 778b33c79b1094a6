"""Run states: one typed set and one table of what each means (active, final, resumable, colour).

Every view and every rule asks this table; no list of states is written out anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    """A run's state: a string (compares equal to, prints and serialises as its value).

    ``lost`` is never written: readers derive it (see :mod:`sslterm.store.status`).
    """

    PREPARED = "prepared"    # created by ``sslterm run --prepare``; no worker started yet
    STARTING = "starting"    # a starter holds the run's lock and is starting its worker
    RUNNING = "running"      # the worker has recorded its pid and trains
    FINISHED = "finished"    # trained every step
    STOPPED = "stopped"      # stopped on request (SIGTERM, SIGINT) after a final checkpoint
    FAILED = "failed"        # an error, recorded in ``error``
    DIVERGED = "diverged"    # a non-finite loss or metric, recorded with its step
    LOST = "lost"            # was active, but its worker is gone without recording an end

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


@dataclass(frozen=True)
class StateInfo:
    """What a state means to the rules and the views."""

    active: bool      # a worker may be writing the run: stop applies; resume and delete do not
    final: bool       # the worker recorded how the run ended
    resumable: bool   # ``sslterm resume`` continues it as it is (a finished run needs a larger step count)
    failure: bool     # ended with an error recorded in ``error``
    colour: str       # the Rich colour every view shows it in


TABLE: dict[State, StateInfo] = {
    State.PREPARED: StateInfo(active=False, final=False, resumable=True, failure=False, colour="cyan"),
    State.STARTING: StateInfo(active=True, final=False, resumable=False, failure=False, colour="cyan"),
    State.RUNNING: StateInfo(active=True, final=False, resumable=False, failure=False, colour="green"),
    State.FINISHED: StateInfo(active=False, final=True, resumable=False, failure=False, colour="blue"),
    State.STOPPED: StateInfo(active=False, final=True, resumable=True, failure=False, colour="yellow"),
    State.FAILED: StateInfo(active=False, final=True, resumable=True, failure=True, colour="red"),
    State.DIVERGED: StateInfo(active=False, final=True, resumable=True, failure=True, colour="red"),
    State.LOST: StateInfo(active=False, final=False, resumable=True, failure=False, colour="red"),
}
UNKNOWN_COLOUR = "magenta"  # a state this version does not know (a newer worker's, or "unreadable")

STATES = tuple(State)
ACTIVE = tuple(s for s in State if TABLE[s].active)
FINAL = tuple(s for s in State if TABLE[s].final)
RESUMABLE = tuple(s for s in State if TABLE[s].resumable)


def info(state: str) -> StateInfo | None:
    """The table's row for ``state`` (a State or its string), or None for a state this version does not know."""
    try:
        return TABLE[State(state)]
    except ValueError:
        return None


def is_active(state: str) -> bool:
    """Whether a worker may be writing a run in this state."""
    row = info(state)
    return row is not None and row.active


def is_final(state: str) -> bool:
    """Whether the worker recorded how the run ended."""
    row = info(state)
    return row is not None and row.final


def is_resumable(state: str) -> bool:
    """Whether ``sslterm resume`` continues a run in this state without a larger step count."""
    row = info(state)
    return row is not None and row.resumable


def is_failure(state: str) -> bool:
    """Whether the run ended with an error recorded (failed, diverged)."""
    row = info(state)
    return row is not None and row.failure


def colour(state: str) -> str:
    """The Rich colour of a state in every view."""
    row = info(state)
    return row.colour if row is not None else UNKNOWN_COLOUR


def words(states: tuple[State, ...]) -> str:
    """``stopped, failed or lost``: states for a message."""
    names = [str(s) for s in states]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
