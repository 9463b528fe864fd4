"""Progress and log messages, always on stderr (stdout carries data only)."""

from __future__ import annotations

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

    def _write(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        """End the progress line (on a terminal, clear it)."""
        if self.enabled and self.shown and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def log(message: str, enabled: bool = True) -> None:
    """One line for people, on stderr."""
    if enabled:
        print(visible(message), file=sys.stderr, flush=True)
