"""How often the app reads run directories and redraws: bounded everywhere, slower over SSH (no UI)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Pace:
    """Seconds between the app's periodic jobs; nothing is redrawn unless what it shows changed."""

    poll: float  # reads of the watched run directory (new metrics, snapshots, status, log)
    idle_poll: float  # the same, once the run has ended
    chart: float  # redraws of a growing chart at most
    system: float  # samples of the worker's CPU, memory and GPU
    scan: float  # listings of the runs root


# Once a second is plenty for a training curve (TensorBoard reloads every 30 s) and keeps the app's own
# cost low: each poll that finds news redraws the header, the log and the chart in one frame.
LOCAL = Pace(poll=1.0, idle_poll=2.0, chart=1.0, system=2.0, scan=2.0)
REMOTE = Pace(poll=2.0, idle_poll=3.0, chart=2.0, system=5.0, scan=5.0)  # every redraw crosses the network
REMOTE_FPS = 20  # frames per second at most over SSH, while keys scroll a table (Textual's own default: 60)


def pace(environ: Mapping[str, str] = os.environ) -> Pace:
    """:data:`REMOTE` when ``SSH_CONNECTION`` is set, else :data:`LOCAL`."""
    return REMOTE if environ.get("SSH_CONNECTION") else LOCAL
