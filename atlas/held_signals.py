"""^C and SIGTERM kept out of a block that must not be cut in two.

`signals_held` blocks the two signals in the calling thread (and in processes it forks): a signal sent meanwhile
stays pending and is delivered as soon as the block ends. `signals_deferred` is what a critical section of the main
thread needs: Python runs signal handlers in the main thread whichever thread the signal reached (tantivy's and the
process pool's threads do not block it), so it swaps the handlers for recorders and runs the first signal's
handler after the block, where an exception it raises can do no harm.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread (and in processes it forks) until the block ends; platforms
    without `pthread_sigmask` run the block unprotected."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[tuple[int, Any]]]:
    """Run the Python handlers of ^C and SIGTERM when the block ends instead of where the signal lands.

    The block gets the list of the signals held back so far (`with signals_deferred() as caught:`), so that work
    that can stop early (a parse) stops once one came.

    Uses: the process pool's result objects guard their state with a lock taken in a `with` statement, which an
    exception raised just after it was taken leaves held (bpo-29988), hanging the pool's cleanup; publishing a
    generation must end with CURRENT written or not written, so that an interrupt can say which. Only the main
    thread runs signal handlers; elsewhere this does nothing.
    """
    caught: list[tuple[int, Any]] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def record(signum: int, frame: Any) -> None:
        caught.append((signum, frame))

    previous: dict[int, Any] = {}
    try:
        with signals_held():  # so that no signal finds one handler swapped and the other not
            for signum in HELD_SIGNALS:
                previous[signum] = signal.signal(signum, record)
        yield caught
    finally:
        with signals_held():
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if caught:
            _deliver(*caught[0], previous[caught[0][0]])


def _deliver(signum: int, frame: Any, handler: Any) -> None:
    """Act on a signal held back by `signals_deferred` as its handler would have."""
    if callable(handler):
        handler(signum, frame)
    elif handler in (signal.SIG_DFL, None):
        signal.raise_signal(signum)
