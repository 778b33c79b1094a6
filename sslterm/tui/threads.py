"""The app's thread workers on daemon threads: quitting never waits for a read of a run directory still under way.

Textual runs ``@work(thread=True)`` workers with ``loop.run_in_executor(None, ...)``, on the event loop's
default executor. asyncio's default (a ThreadPoolExecutor) is joined twice on the way out: by
``asyncio.run`` (``shutdown_default_executor``, with no time limit before Python 3.12) and by
``concurrent.futures`` at interpreter exit. A worker blocked on I/O (a hung network filesystem, a slow
disk under load) then keeps the app's process alive after ``q``, for as long as the read takes. The app
only reads in its workers (every write is atomic, done by the CLI's functions under a lock, or by a
process of its own), so nothing is lost by leaving such a read behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import count
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonThreads(ThreadPoolExecutor):
    """An executor that runs each call on a new daemon thread and never waits for one at shutdown.

    The app's workers are few and seconds apart (a poll, a scan, a sample), so a thread per call costs
    nothing worth pooling; ``shutdown`` returns at once, and Python does not join daemon threads at exit.
    A ThreadPoolExecutor only by type (asyncio's ``set_default_executor`` takes nothing else): none of its
    pool is used.
    """

    def __init__(self, name: str = "sslterm-worker") -> None:
        super().__init__(max_workers=1)  # the pool's bookkeeping only: submit below never starts its threads
        self._name = name
        self._numbers = count(1)
        self._shut = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._shut:
            raise RuntimeError("cannot schedule new calls after shutdown")
        future: Future[T] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:  # handed to whoever awaits the future, as ThreadPoolExecutor does
                future.set_exception(e)
            else:
                future.set_result(result)

        threading.Thread(target=run, name=f"{self._name}-{next(self._numbers)}", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls; never wait for those under way (``wait`` is ignored on purpose)."""
        self._shut = True
