"""Keep a native library's panic message off stderr: the CLI reports a damaged index in one sentence and a hint.

A panic in tantivy reaches Python as pyo3's PanicException (see `atlas.errors.is_native_panic`), but Rust's default
panic hook has already written its own lines to descriptor 2 ("thread '<unnamed>' panicked at …", the message,
"note: run with `RUST_BACKTRACE=1` …"). Nothing in Python can replace that hook: it belongs to the copy of Rust's
standard library linked into tantivy's extension, which exports no way to set it. So, once `hold_panic_messages`
is called (the CLI calls it unless `-v` is given):

- Python's own stderr (`sys.stderr`: progress, logging, click's messages) writes to a duplicate of descriptor 2,
  so nothing Python prints is ever held, delayed or reordered, whatever thread prints it;
- every call into tantivy runs between `enter()` and `leave()` (`atlas.index.reader.TantivyDamage`; a search holds
  them all, see `held`), and while one runs, descriptor 2 itself points at an anonymous file in memory. When the
  last one leaves, descriptor 2 is restored and what landed there is written to stderr, minus the panic lines of
  the PanicExceptions those calls raised. Lines that do not have the expected form (a Rust release that words
  them otherwise) are written as they are.

What else writes to descriptor 2 itself during a hold (a program another thread starts then, with the stderr it
inherits) is written out when the hold ends, or at exit; a process forked during one (the parse pool, the
query-time parse helper) gets the real stderr back. Cost: two `dup2` and an `lseek` per hold (about 2 µs), a
thread-local count per call inside one (about 0.2 µs).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

_NOTE = b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
"""Written after the first panic of a process only, in a write of its own (another writer's line may come between)."""


class _Hold:
    """Descriptor 2, redirected into `capture` while `depth` threads run native calls (a thread's calls nest)."""

    __slots__ = ("capture", "depth", "local", "lock", "panics", "replayed", "saved")

    def __init__(self) -> None:
        self.capture = _anonymous_file()
        try:
            self.saved = os.dup(2)  # the real stderr; not inherited by programs started (os.dup makes it so)
        except OSError:
            os.close(self.capture)
            raise
        self.lock = threading.Lock()
        self.local = threading.local()  # .depth: this thread's nesting
        self.depth = 0
        self.replayed = 0  # how much of `capture` was written out
        self.panics: list[str] = []

    def enter(self) -> None:
        local = self.local
        nested = getattr(local, "depth", 0)
        local.depth = nested + 1
        if nested:
            return
        with self.lock:
            self.depth += 1  # counted first: an interrupt between the two leaves stderr as it is, never held
            if self.depth == 1:
                os.dup2(self.capture, 2)

    def leave(self, panic: str | None) -> None:
        local = self.local
        nested = getattr(local, "depth", 0)
        if not nested:  # entered before this hold existed
            return
        if nested > 1:
            if panic is not None:
                with self.lock:
                    self.panics.append(panic)
            local.depth = nested - 1
            return
        with self.lock:
            if panic is not None:
                self.panics.append(panic)
            if self.depth == 1:
                os.dup2(self.saved, 2)  # restored first: an interrupt from here on leaves stderr as it is
            self.depth -= 1
            local.depth = 0
            if self.depth == 0 and os.lseek(self.capture, 0, os.SEEK_END) != self.replayed:
                self._replay()

    def _replay(self) -> None:
        """Write out what the capture holds beyond `replayed`, without the lines of the panics seen."""
        end = os.lseek(self.capture, 0, os.SEEK_END)
        data = os.pread(self.capture, end - self.replayed, self.replayed)
        self.replayed = end
        dropped = 0
        for message in self.panics:
            data, found = _panic_lines(message).subn(b"", data, count=1)
            dropped += found
        if dropped:
            data = data.replace(_NOTE, b"", 1)
        self.panics.clear()
        view = memoryview(data)
        with contextlib.suppress(OSError):  # stderr closed or a broken pipe: nobody reads it
            while view:
                view = view[os.write(self.saved, view) :]

    def release(self) -> None:
        """Descriptor 2 back on the real stderr, with what is left in the capture written out. `saved` stays open:
        `sys.stderr` writes to it until the process ends."""
        with self.lock, contextlib.suppress(OSError):
            if _same_file(2, self.capture):
                os.dup2(self.saved, 2)
            self._replay()


_hold: _Hold | None = None


def hold_panic_messages() -> None:
    """From now on, keep the panic messages of native calls (between `enter` and `leave`) off stderr, and
    `sys.stderr` on a duplicate of descriptor 2. Called once, by a program that owns its stderr (the CLI); without
    it, `enter` and `leave` do nothing."""
    global _hold
    if _hold is not None:
        return
    try:
        hold = _Hold()
    except OSError:  # no descriptor left, or no stderr: messages stay as they are
        return
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    sys.stderr = _stream_on(hold.saved, sys.stderr)
    _hold = hold
    atexit.register(_release)


def stderr_fd() -> int:
    """The descriptor of the real stderr, for a last message written with `os.write` (descriptor 2 may be held)."""
    hold = _hold
    return 2 if hold is None else hold.saved


def enter() -> None:
    """Before a call into native code that may panic; calls nest (see `held`)."""
    hold = _hold
    if hold is not None:
        hold.enter()


def leave(panic: str | None = None) -> None:
    """After that call; `panic` is the message of the PanicException it raised, whose lines are then dropped."""
    hold = _hold
    if hold is not None:
        hold.leave(panic)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Descriptor 2 held across a run of native calls made by this thread (a search makes hundreds: one
    `lseek` and two `dup2` for them all, not for each); the calls inside still name their panics to `leave`."""
    enter()
    try:
        yield
    finally:
        leave()


def _release() -> None:
    global _hold
    hold, _hold = _hold, None
    if hold is not None:
        hold.release()


def _forget_in_child() -> None:
    """In a forked child: the real stderr back on descriptor 2 should another thread of the parent hold it, and no
    hold (its lock may have been taken when the parent forked). `sys.stderr` keeps writing to `saved`."""
    global _hold
    hold, _hold = _hold, None
    if hold is None:
        return
    with contextlib.suppress(OSError):
        if hold.depth:
            os.dup2(hold.saved, 2)
        os.close(hold.capture)


os.register_at_fork(after_in_child=_forget_in_child)


def _anonymous_file() -> int:
    """A descriptor on a file in memory (else a temporary file), closed on exec, appended to: two threads writing at
    once to a memfd at its shared offset overwrite each other's bytes (it keeps no position lock)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("atlas-stderr", os.MFD_CLOEXEC)
    else:
        import tempfile

        with tempfile.TemporaryFile() as file:
            fd = os.dup(file.fileno())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
    return fd


def _stream_on(fd: int, like: TextIO) -> TextIO:
    """A text stream writing to `fd` as `like` writes (its encoding, errors and buffering: none under -u)."""
    unbuffered = isinstance(getattr(like, "buffer", None), io.RawIOBase)
    binary = open(fd, "wb", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115 - lives as sys.stderr
    return io.TextIOWrapper(
        binary, encoding=getattr(like, "encoding", None) or "utf-8", errors=getattr(like, "errors", None) or "strict",
        line_buffering=getattr(like, "line_buffering", True), write_through=getattr(like, "write_through", False),
    )  # fmt: skip


def _same_file(a: int, b: int) -> bool:
    first, second = os.fstat(a), os.fstat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _panic_lines(message: str) -> re.Pattern[bytes]:
    """What Rust's default hook writes for a panic with `message` (in one write when under 512 bytes): since Rust
    1.73 "thread 'NAME' panicked at FILE:LINE:COL:" then the message (since 1.89 with the thread's id, "'NAME'
    (ID)"), before that "panicked at 'MESSAGE', FILE:LINE:COL"."""
    text = re.escape(message.encode("utf-8", "surrogateescape"))
    head = rb"\n?thread '[^'\n]*'(?: \(\d+\))? panicked at "
    return re.compile(head + rb"(?:[^\n]*:\n" + text + rb"|'" + text + rb"', [^\n]*)\n")
