"""One writer per index directory: an advisory `flock` that dies with its process.

A writer holds it exclusively; a reader that must not see a generation replaced under it (an assemble reading its
shards) holds it shared, with other such readers. A lock held by a dead process is released by the kernel, so a
stale lock never needs cleanup. While it holds the lock, a process also holds the index directory open
(`held_directory`): `atlas.index.store` makes, publishes and removes generations through that descriptor, so a
directory swapped for a link while a build runs gets no generation published, and none removed, through the link.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from atlas.errors import IndexBusy, InputError

LOCK_FILE = "lock"
_HELD: set[int] = set()
"""Descriptors of the locks this process holds, for `forget_inherited_locks` in a forked child."""
_DIRECTORIES: dict[Path, int] = {}
"""The index directories this process holds locked, each open as the descriptor its lock was taken through."""

DirectoryKey = tuple[int, int]
"""A directory's (device, inode): what it is, whatever path leads to it."""


@contextmanager
def index_lock(
    index_dir: Path,
    wait_seconds: float = 0.0,
    waiting: Callable[[str], None] | None = None,
    expected: DirectoryKey | None = None,
    shared: bool = False,
) -> Iterator[None]:
    """Hold the index directory's write lock; raise IndexBusy if another process keeps it longer than
    `wait_seconds`. `waiting(why)` is called once when the lock is busy at first and a wait begins. `shared`: hold
    it as a reader, alongside other readers, while no writer holds it; a reader leaves the recorded pid alone.

    The directory is opened once and the lock file opened inside it; the descriptor is `held_directory(index_dir)`
    until the lock is let go. With `expected` (the directory's key when the caller checked it, before a long walk),
    a directory replaced since (a parent or itself swapped for a link) is refused, InputError, before it is locked."""
    keep_owner_access()
    if expected is None:  # else it was there: one gone since is not made anew, wherever its path leads now
        index_dir.mkdir(parents=True, exist_ok=True)
    directory = os.open(index_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if expected is not None and directory_key(os.fstat(directory)) != expected:
            raise replaced_while_building(index_dir)
        fd = _open_lock_file(index_dir / LOCK_FILE, directory)
    except BaseException:
        os.close(directory)
        raise
    try:
        _acquire(fd, index_dir, wait_seconds, waiting, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        _HELD.add(fd)
        _DIRECTORIES[index_dir] = directory
        if not shared:
            with suppress(OSError):  # a read-only lock file keeps its old pid: only the message reads it
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        if _DIRECTORIES.get(index_dir) == directory:
            del _DIRECTORIES[index_dir]
        _HELD.discard(fd)
        os.close(fd)
        os.close(directory)


def held_directory(index_dir: Path) -> int | None:
    """The descriptor of `index_dir` while this process holds its lock (`index_lock`), else None."""
    return _DIRECTORIES.get(index_dir)


def directory_key(found: os.stat_result) -> DirectoryKey:
    """The (device, inode) of what `found` describes."""
    return (found.st_dev, found.st_ino)


def replaced_while_building(index_dir: Path) -> InputError:
    """The error of an index directory that no longer is the one a build locked: it, or a directory above it, was
    replaced (by a symbolic link, another directory) while the index was being built."""
    return InputError(
        f"the index directory {index_dir} was replaced (it, or a directory above it, by a symbolic link or another "
        "directory) while the index was being built; nothing was published or removed there",
        "put the directory back, or remove what replaced it to have the index rebuilt; then run `atlas index` again",
    )


def keep_owner_access() -> None:
    """Clear the owner's bits of this process's umask, keeping the group's and others': under `umask 277` every
    directory Atlas (or tantivy) made would be read-only to its owner, and the next write into it refused. The
    umask is read from /proc where it can be, so other threads never create a file under a zero umask."""
    mask = current_umask()
    if mask & 0o700:
        os.umask(mask & 0o077)


def current_umask() -> int:
    """This process's umask, without changing it where Linux tells it (/proc/self/status, since Linux 4.7)."""
    with suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii", errors="replace") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _open_lock_file(path: Path, directory: int) -> int:
    """The lock file, open for writing; read-only when it exists on a disk or in a directory Atlas cannot write
    (a restored cache): a flock needs no write access, and a run with nothing to change writes nothing else.
    Where it cannot even be created there (a cache restored without it), the directory itself is locked.

    The lock is never opened through a link, and must be a regular file: a cloned repository may ship
    `.atlas/lock` as a link to any file of the user's, which opening it to write the pid would truncate (or,
    dangling, create). InputError then, with nothing written. It is opened inside `directory` (the index directory,
    open), `path` names it in messages."""
    try:
        return _checked(os.open(path.name, os.O_RDWR | os.O_CREAT | _LOCK_FLAGS, 0o644, dir_fd=directory), path)
    except OSError as err:
        _refuse_odd_lock(err, path)
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    try:
        return _checked(os.open(path.name, os.O_RDONLY | _LOCK_FLAGS, dir_fd=directory), path)
    except FileNotFoundError:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
    except OSError as err:
        _refuse_odd_lock(err, path)
        raise


_LOCK_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""No link followed, and no wait on a FIFO in the lock's place."""


def _checked(fd: int, path: Path) -> int:
    """`fd`, the lock file just opened, when it is a regular file; else closed, and InputError."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_a_lock(path, "is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_odd_lock(err: OSError, path: Path) -> None:
    """InputError when opening the lock file failed because it is a symbolic link or a directory."""
    if err.errno == errno.ELOOP:
        raise _not_a_lock(path, "is a symbolic link") from err
    if err.errno == errno.EISDIR:
        raise _not_a_lock(path, "is a directory") from err


def _not_a_lock(path: Path, what: str) -> InputError:
    return InputError(f"the index's lock {path} {what}, which Atlas never writes through",
                      f"remove {path}, or pass --index-dir DIR to put the index elsewhere")  # fmt: skip


def forget_inherited_locks() -> None:
    """In a child forked while a lock was held: close its copies of the lock descriptors.

    A `flock` belongs to the open file, which a fork shares, so a worker that outlives a SIGKILLed parent
    by a few milliseconds would keep the index locked, and the user's next run would find it busy. Closing
    (never unlocking, which would unlock the parent too) leaves the lock to the parent alone.
    """
    for fd in [*_HELD, *_DIRECTORIES.values()]:
        with suppress(OSError):
            os.close(fd)
    _HELD.clear()
    _DIRECTORIES.clear()


ORPHAN_WAIT_SECONDS = 10.0
"""How long to wait for a lock whose recorded holder is dead: its last children (parse workers between their
fork and `forget_inherited_locks`, a process between fork and exec) exit within moments of it."""


def _acquire(fd: int, index_dir: Path, wait_seconds: float, waiting: Callable[[str], None] | None, mode: int) -> None:
    deadline = time.monotonic() + wait_seconds
    orphaned_deadline: float | None = None
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if waiting is not None and now < deadline:
                waiting(_busy(index_dir, _holder(fd), lock_holders(fd)).message)
                waiting = None
            if now >= deadline:
                recorded, holders = _holder(fd), lock_holders(fd)
                if orphaned_deadline is None and _orphaned(recorded, holders):
                    orphaned_deadline = now + ORPHAN_WAIT_SECONDS
                if orphaned_deadline is None or now >= orphaned_deadline:
                    raise _busy(index_dir, recorded, holders) from None
            time.sleep(0.1)


def _orphaned(recorded: str, holders: set[int] | None) -> bool:
    """Whether the lock looks kept by the last children of a dead holder, worth waiting for: no process that the
    system lists as its holder lives (a child holds it under its parent's pid); where the system lists no locks,
    the process recorded in the lock file is dead."""
    if holders is None:
        return recorded.isdigit() and not pid_alive(recorded)
    return not any(pid_alive(str(pid)) for pid in holders)


@contextmanager
def rerun_hint(command: str) -> Iterator[None]:
    """IndexBusy raised inside says to run `command` again once the other process is done, not `atlas index` (which
    a command that imports an archive, or answers from the index, did not ask for)."""
    try:
        yield
    except IndexBusy as err:
        raise IndexBusy(err.message, _rerun(command)) from err


def _rerun(command: str) -> str:
    return f"wait for it to finish, then run {command} again"


def _busy(index_dir: Path, recorded: str, holders: set[int] | None) -> IndexBusy:
    """IndexBusy naming the process recorded in the lock file only when it lives and holds the lock (an Atlas run
    long dead, or a pid reused since, or a process that is not Atlas holding the lock, is no one to name)."""
    hint = _rerun("`atlas index`")
    if pid_alive(recorded) and (holders is None or int(recorded) in holders):
        return IndexBusy(f"{index_dir}: the index is being updated by process {recorded}", hint)
    return IndexBusy(f"{index_dir}: another process holds the index's lock", hint)


def _holder(fd: int) -> str:
    """The pid the lock's last Atlas holder wrote (it may have died since), or "" (a locked directory holds none)."""
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def lock_holders(fd: int) -> set[int] | None:
    """The pids that /proc/locks lists as holding a `flock` on the file open as `fd`: each the process that took
    it, so a child holding a lock it inherited is listed under its parent's pid, alive or not. None where the
    system lists no locks (not Linux); empty when the holders are out of sight (another pid namespace)."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as listing:
            lines = listing.read().splitlines()
        status = os.fstat(fd)
    except OSError:
        return None
    device, inode = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}", str(status.st_ino)
    same_file: set[int] = set()
    same_inode: set[int] = set()  # a file system whose stat names another device than its locks (btrfs)
    for line in lines:
        fields = line.split()  # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2263403 0 EOF"; a waiter's has "->" first
        if len(fields) < 6 or fields[1] != "FLOCK" or not fields[4].isdigit():
            continue
        where_device, _, where_inode = fields[5].rpartition(":")
        if where_inode == inode:
            (same_file if where_device == device else same_inode).add(int(fields[4]))
    return same_file or same_inode


def pid_alive(pid_text: str) -> bool:
    """Whether the process whose id is `pid_text` exists (False when the text is no process id)."""
    if not pid_text.isascii() or not pid_text.isdigit() or int(pid_text) == 0:  # kill(0) is the process group
        return False
    try:
        os.kill(int(pid_text), 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: digits past any pid, from a garbled file
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
