"""Progress and log messages, always on stderr (stdout carries data only)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import TextIO

from atlas.safe_read import visible


class Progress:
    """Throttled progress for long runs: a rewritten line on a terminal, sparse lines otherwise (also on a
    terminal that says it is `TERM=dumb`: it cannot clear a line)."""

    def __init__(self, label: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.interval = 0.2 if self.tty else 5.0
        self.started = time.monotonic()
        self.last = self.started
        self.shown = False

    def update(self, done: int, total: int | None = None, detail: str = "") -> None:
        """Report `done` of `total` items, at most every `interval` seconds."""
        now = time.monotonic()
        if not self.enabled or now - self.last < self.interval:
            return
        self.last = now
        of_total = f"/{total}" if total else ""
        line = f"{self.label}: {done}{of_total} {detail} ({now - self.started:.0f}s)"
        self._write(line)

    def _write(self, text: str) -> None:
        if self._put("\r\033[K" + text if self.tty else text + "\n"):
            self.shown = True

    def done(self) -> None:
        """End the progress line (on a terminal, clear it)."""
        if self.enabled and self.shown and self.tty:
            self._put("\r\033[K")

    def _put(self, text: str) -> bool:
        """Write `text`; on a stream that cannot be written (a full disk, a reader gone), stop showing progress and
        go on: an index build died at its first progress line, exit 3, when stderr went to a full disk."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:
            self.enabled = False
            if self.stream is sys.stderr:
                _discard_stderr()
            return False
        return True


def log(message: str, enabled: bool = True) -> None:
    """One line for people, on stderr."""
    if enabled:
        tell(visible(message))


def tell(text: str) -> None:
    """Write `text` and a newline to stderr, if it can be written: every message for people goes through here.

    A stderr on a full disk, or a pipe whose reader is gone, loses the message but never the run or its exit status:
    the OSError of the write (or of Python's last flush of stderr) made every error exit 1, which reads as "no
    results", or 120, and a note turned a good answer into "cannot write the output" (exit 3)."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except OSError:
        _discard_stderr()


def _discard_stderr() -> None:
    """Point stderr's descriptor at /dev/null once a write failed: what is left in its buffer then goes nowhere,
    quietly, and Python's last flush at exit cannot fail (it would make the exit status 120)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)
