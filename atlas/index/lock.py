"""One writer per index directory: an advisory `flock` that dies with its process.

A lock held by a dead process is released by the kernel, so a stale lock never needs cleanup.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from atlas.errors import IndexBusy

LOCK_FILE = "lock"
_HELD: set[int] = set()
"""Descriptors of the locks this process holds, for `forget_inherited_locks` in a forked child."""


@contextmanager
def index_lock(index_dir: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the index directory's write lock; raise IndexBusy if another process keeps it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = _open_lock_file(index_dir / LOCK_FILE)
    try:
        _acquire(fd, index_dir, wait_seconds)
        _HELD.add(fd)
        with suppress(OSError):  # a read-only lock file keeps its old pid: only the message reads it
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    """The lock file, open for writing; read-only when it exists on a disk or in a directory Atlas cannot write
    (a restored cache): a flock needs no write access, and a run with nothing to change writes nothing else.
    Where it cannot even be created there (a cache restored without it), the directory itself is locked."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        if path.is_file():
            return os.open(path, os.O_RDONLY)
        return os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)


def forget_inherited_locks() -> None:
    """In a child forked while a lock was held: close its copies of the lock descriptors.

    A `flock` belongs to the open file, which a fork shares, so a worker that outlives a SIGKILLed parent
    by a few milliseconds would keep the index locked, and the user's next run would find it busy. Closing
    (never unlocking, which would unlock the parent too) leaves the lock to the parent alone.
    """
    for fd in list(_HELD):
        with suppress(OSError):
            os.close(fd)
    _HELD.clear()


ORPHAN_WAIT_SECONDS = 10.0
"""How long to wait for a lock whose recorded holder is dead: its last children (parse workers between their
fork and `forget_inherited_locks`, a process between fork and exec) exit within moments of it."""


def _acquire(fd: int, index_dir: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    orphaned_deadline: float | None = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if now >= deadline:
                holder = _holder(fd)
                if orphaned_deadline is None and holder.isdigit() and not pid_alive(holder):
                    orphaned_deadline = now + ORPHAN_WAIT_SECONDS
                if orphaned_deadline is None or now >= orphaned_deadline:
                    raise IndexBusy(
                        f"{index_dir}: the index is being updated by process {holder}",
                        "wait for it to finish, then run `atlas index` again",
                    ) from None
            time.sleep(0.1)


def _holder(fd: int) -> str:
    """The pid the lock's holder wrote, or "another process" (a locked directory holds no pid)."""
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
    except OSError:
        return "another process"


def pid_alive(pid_text: str) -> bool:
    """Whether the process whose id is `pid_text` exists (False when the text is no process id)."""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
