"""The MCP server's end of stdout: answers written whole, and an end for a client that no longer reads them.

`claimed_stdout` takes the wire (descriptor 1) for the server alone and points descriptor 1 at stderr, as the SDK's
stdio transport does for the streams it claims. `Wire` is what the SDK's transport writes the answers to:

- A slow client gets every answer whole: a line is written until its last byte, however long that takes, as long
  as the client reads some of it within `timeout` seconds.
- A client that reads nothing for `timeout` seconds (its end of the pipe full, the client hung or gone without
  closing it) ends the server: no answer could reach it, and the server would stay blocked for ever.
- A client that closed its end of stdout ends the server at once, even while no answer is being written: it can
  read no answer again (`watch`).

What ending means is the caller's (`end(why, code)`), which must not return.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from typing import NoReturn

import anyio.to_thread

WRITE_TIMEOUT = 300.0
"""Seconds a client may read none of an answer before the server gives up on it: generous, for a client that is
only busy (a slow machine, a debugger's pause); a client that reads keeps the server waiting as long as it reads."""

CHUNK = select.PIPE_BUF
"""The most bytes one write sends: after a poll says the wire has room, a write this small does not block on a
pipe or a socket, even with the wire left blocking, so a write never outlives the deadline by more than a poll."""

MAX_POLL_SECONDS = 60.0
"""The longest single wait for room on the wire: `poll` takes at most 2**31 - 1 ms (24.8 days), and a longer
timeout (`--write-timeout 1e9` or `1e308`: "never") raised OverflowError at the first answer, which ended the server."""

GONE = "the client stopped reading the answers (its end of stdout is closed)"

End = Callable[[str, int], NoReturn]


@contextlib.contextmanager
def claimed_stdout() -> Iterator[int]:
    """The wire to the client, as a private descriptor (see `claimed`); while it is held, descriptor 1 points at
    stderr (or the null device), so nothing else in the process can write to the wire by mistake."""
    sys.stdout.flush()
    try:
        diversion = os.dup(2)
    except OSError:
        diversion = os.open(os.devnull, os.O_WRONLY)
    with claimed(1, diversion) as wire:
        try:
            yield wire
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()  # what was printed while serving belongs to stderr, not to the wire


@contextlib.contextmanager
def claimed(fd: int, stand_in: int) -> Iterator[int]:
    """Standard descriptor `fd` as a private descriptor for the server alone, while `stand_in` (taken over) holds
    its number; `fd` is put back on exit. The private descriptor is never closed: a thread may still be reading,
    writing or watching it when the server ends."""
    wire = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.dup2(stand_in, fd)
    os.close(stand_in)
    try:
        yield wire
    finally:
        os.dup2(wire, fd)


class Wire:
    """The answers' way to the client over descriptor `fd`, for the SDK's stdio transport (its `stdout`)."""

    def __init__(self, fd: int, end: End, timeout: float = WRITE_TIMEOUT) -> None:
        self.fd, self.end, self.timeout = fd, end, timeout

    async def write(self, text: str) -> None:
        """Write `text` whole, in a worker thread (see `write_all`)."""
        await anyio.to_thread.run_sync(self.write_all, text.encode("utf-8"))

    async def flush(self) -> None:
        """Nothing to do: `write` returns once every byte is on the wire."""

    def write_all(self, data: bytes) -> None:
        """Write `data` to the wire whole; end the server when the client closed its end, or read none of it for
        `timeout` seconds. Another failure (a full disk, an I/O error) is raised as OSError."""
        view = memoryview(data)
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        progress_at = time.monotonic()
        while view:
            left = self.timeout - (time.monotonic() - progress_at)
            # A wire with room is written to, however short the timeout; a wait is cut to what poll takes.
            if not poller.poll(math.ceil(min(max(left, 0), MAX_POLL_SECONDS) * 1000)):
                if left <= 0:
                    self._stalled(len(data) - len(view), len(data))
                continue
            written = self._write_some(view[:CHUNK])
            if written:
                view = view[written:]
                progress_at = time.monotonic()

    def _write_some(self, chunk: memoryview) -> int:
        """Bytes of `chunk` written (0 when the wire had no room after all: it was left non-blocking)."""
        try:
            return os.write(self.fd, chunk)
        except BlockingIOError:
            return 0
        except BrokenPipeError:
            self.end(GONE, 0)

    def _stalled(self, written: int, total: int) -> NoReturn:
        self.end(
            f"the client read nothing of an answer for {self.timeout:g} s ({written} of its {total} bytes written; "
            "its end of stdout is full, so the client is hung or no longer reads); stopping\n"
            "  hint: a client must keep reading the server's stdout; for one that pauses longer, raise "
            "--write-timeout (ATLAS_MCP_WRITE_TIMEOUT)",
            3,
        )

    def watch(self) -> None:
        """Until the client closes its end of the wire, then end the server at once (exit 0): run on a daemon
        thread. A pipe whose reader is gone reports POLLERR and a socket POLLHUP, whatever events were asked for;
        a file or a terminal never does, and this waits for ever."""
        poller = select.poll()
        poller.register(self.fd, 0)
        while True:
            events = sum(mask for _, mask in poller.poll())
            if events & select.POLLNVAL:
                return
            if events & (select.POLLERR | select.POLLHUP):
                self.end(GONE, 0)
