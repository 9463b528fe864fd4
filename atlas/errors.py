"""The Atlas error tree. Each error knows its exit code and a hint; the shells catch AtlasError once.

    AtlasError (3)
    ├── UsageError (2)          bad flags, bad query file, bad option values
    ├── InputError (2)          a path that is not there or not a directory
    ├── IndexMissing (3)        no index where one is needed
    ├── IndexCorrupt (4)        an index that cannot be opened or fails its checks
    ├── IndexBusy (5)           another process holds the index lock
    ├── SignalError (6)         git or another signal source failed in a way that matters
    └── WorkerLost (3)          a worker process died on a job (a crash in C, the OOM killer)

"No results" is not an error: the CLI exits 1 for it.
"""

from __future__ import annotations

import errno
import os
import re
import resource  # imported with the module: when it is needed, no descriptor may be left to load it
from pathlib import Path
from typing import ClassVar, Final


class AtlasError(Exception):
    """An error Atlas can show to a user: one sentence plus a hint."""

    exit_code: ClassVar[int] = 3
    default_hint: ClassVar[str] = "run with -v for details, or report a bug"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint


class UsageError(AtlasError):
    exit_code = 2
    default_hint = "see `atlas --help`"


class InputError(AtlasError):
    exit_code = 2
    default_hint = "check the path and try again"


class IndexMissing(AtlasError):
    exit_code = 3
    default_hint = "build one with `atlas index`"


class IndexCorrupt(AtlasError):
    exit_code = 4
    default_hint = "rebuild it with `atlas index --rebuild`"


class IndexBusy(AtlasError):
    exit_code = 5
    default_hint = "wait for the other `atlas index` to finish, then run it again"


class SignalError(AtlasError):
    exit_code = 6


def is_native_panic(err: BaseException) -> bool:
    """Whether `err` is pyo3's PanicException: a panic in a native library (tantivy), raised as a BaseException that
    no `except Exception` stops."""
    return type(err).__name__ == "PanicException"


class WorkerLost(AtlasError):
    default_hint = "run again; if it happens again, the system may be short of memory (see `dmesg`)"


_STORAGE_PROBLEMS = {
    errno.EROFS: ("is on a read-only file system", "writable"),
    errno.EACCES: ("is not writable (permission denied)", "writable"),
    errno.EPERM: ("is not writable (operation not permitted)", "writable"),
    errno.ENOSPC: ("is on a full disk", "space"),
    errno.EDQUOT: ("is over its disk quota", "space"),
    errno.ENAMETOOLONG: ("is too deep: its files' paths would be too long for the system", "shorter"),
}
_HINTS = {
    "writable": "pass --index-dir DIR (or set ATLAS_INDEX_DIR) to put the index on a writable disk",
    "space": "free some space, or pass --index-dir DIR to put the index on another disk",
    "shorter": "pass --index-dir DIR (or set ATLAS_INDEX_DIR) to put the index at a shorter path",
}
_TANTIVY_OS_ERROR = re.compile(r"\(os error (\d+)\)|code: (\d+)")


def error_number(err: BaseException) -> int | None:
    """The system's error number `err` carries: an OSError's, or the one in tantivy's "(os error N)" texts (its
    ValueErrors' and its panics')."""
    code = getattr(err, "errno", None)
    if code is None and (isinstance(err, ValueError) or is_native_panic(err)):
        found = _TANTIVY_OS_ERROR.search(str(err))
        code = int(found.group(1) or found.group(2)) if found else None
    return code if isinstance(code, int) else None


def storage_error(err: BaseException, index_dir: Path) -> AtlasError | None:
    """`err` as one sentence and a hint when it says the disk refused a write (read-only, permissions,
    full); None for any other error. Understands OSError and tantivy's "(os error N)" messages."""
    code = error_number(err)
    if code not in _STORAGE_PROBLEMS:
        return None
    reason, kind = _STORAGE_PROBLEMS[code]
    filename = getattr(err, "filename", None)
    elsewhere = bool(filename) and not Path(os.fsdecode(filename)).is_relative_to(index_dir)
    if elsewhere and kind == "writable":
        return AtlasError(f"cannot access {os.fsdecode(filename)}: {os.strerror(code)}", "check its permissions")
    if elsewhere and kind == "shorter":  # a long name met outside the index: not the index's depth
        return None
    return AtlasError(f"cannot write the index: {index_dir} {reason}", _HINTS[kind])


_LIMITS = {
    errno.EMFILE: ("this process has as many files open as it may (its limit, `ulimit -n`, is {nofile})",
                   "raise the limit of open files (e.g. `ulimit -n 4096`) and run it again"),
    errno.ENFILE: ("the system has as many files open as it allows",
                   "close some programs (or raise the kernel's fs.file-max) and run it again"),
    errno.EFBIG: ("a file would pass this process's file size limit (`ulimit -f`: {fsize})",
                  "raise the limit (e.g. `ulimit -f unlimited`) and run it again"),
    errno.ENOMEM: ("this process ran out of memory (its address space limit, `ulimit -v`: {memory})",
                   "raise the limit, or give the indexer less with `atlas index --memory` (default 1G)"),
}  # fmt: skip
_THREAD_REFUSED = (
    "the system refused this process a new thread ({text})",
    "check the limits on processes and memory (`ulimit -u`, `ulimit -v`, a container's pids limit) and "
    "RUST_MIN_STACK, then run it again",
)


def _refused_a_thread(err: BaseException) -> bool:
    """Whether `err` says a thread could not be started (clone(2) or the mmap of its stack refused): Python's
    RuntimeError, tantivy's ValueError ("Failed to spawn segment merging thread", or an IO error with EAGAIN when
    its writer starts its threads under `ulimit -v`) or its panic (with EAGAIN or ENOMEM in the text)."""
    text = str(err).lower()
    if isinstance(err, RuntimeError) and not is_native_panic(err):
        return "can't start new thread" in text
    if isinstance(err, ValueError):  # EAGAIN: what clone(2) says; tantivy's files are never non-blocking
        return ("spawn" in text and "thread" in text) or error_number(err) == errno.EAGAIN
    return is_native_panic(err) and "spawn" in text and error_number(err) in (errno.EAGAIN, errno.ENOMEM)


def limit_error(err: BaseException | None) -> AtlasError | None:
    """`err`, or an error it was raised from, as one sentence and a hint when it says the process reached a limit
    the system sets it (open files, file size, memory, threads: `ulimit -n`, `-f`, `-v`, `-u`); None for any other
    error. Such an error is neither the index's fault nor the repository's: an index that cannot be opened for want
    of a file descriptor is not damaged."""
    while err is not None:
        code = errno.ENOMEM if isinstance(err, MemoryError) else error_number(err)
        if code in _LIMITS:
            reason, hint = _LIMITS[code]
            return AtlasError(f"cannot go on: {reason.format(**_limits())}", hint)
        if _refused_a_thread(err):
            reason, hint = _THREAD_REFUSED
            return AtlasError(f"cannot go on: {reason.format(text=' '.join(str(err).split())[:160])}", hint)
        err = err.__cause__
    return None


def _limits() -> dict[str, str]:
    """This process's soft limits of open files, file size and address space, as a user reads them."""
    limits = (resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE, resource.RLIMIT_AS)
    nofile, fsize, memory = (resource.getrlimit(limit)[0] for limit in limits)
    unlimited = resource.RLIM_INFINITY
    return {
        "nofile": "unlimited" if nofile == unlimited else str(nofile),
        "fsize": "unlimited" if fsize == unlimited else f"{fsize:,} bytes",
        "memory": "unlimited" if memory == unlimited else f"{memory >> 20:,} MiB",
    }


def damage(message: str, err: BaseException) -> AtlasError:
    """IndexCorrupt(`message`) for an index that `err` kept from being read, unless `err` says a limit of the
    process was reached or this user may not read it (then that error, see `limit_error` and `read_denied`): the
    index is not at fault, and rebuilding it would not help."""
    return not_the_index(err) or IndexCorrupt(message)


def removed_while_building(err: BaseException, index_dir: Path) -> AtlasError | None:
    """`err` as one sentence and a hint when it says a file of the index directory vanished while Atlas wrote it
    (another program removed it: `git clean -fdx`, a cache step); None for any other error."""
    filename = getattr(err, "filename", None)
    if isinstance(err, OSError) and err.errno == errno.ENOENT and filename is not None:
        inside = Path(os.fsdecode(filename)).is_relative_to(index_dir)
    elif isinstance(err, ValueError):
        inside = "FileDoesNotExist" in str(err) and str(index_dir) in str(err)
    else:
        inside = False
    if not inside:
        return None
    return AtlasError(
        f"files of the index directory {index_dir} were removed while the index was being built; nothing was published",
        "run `atlas index` again, with nothing else cleaning that directory",
    )


_DENIED: Final = (errno.EACCES, errno.EPERM)


def read_denied(err: BaseException) -> AtlasError | None:
    """`err` as one sentence and a hint when it, or an error it was raised from, is this user refused a file or
    directory it reads (mode 000, another user's files); None otherwise. The readers of an index take any OSError
    for damage, whose hint, a rebuild, would not help here (or would replace another user's index)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in _DENIED and cause.filename:
            name = os.fsdecode(cause.filename)
            return AtlasError(
                f"cannot read {name}: this user is not allowed to ({os.strerror(cause.errno)})",
                "check the permissions of it and of the directories above it, or run as the user who owns it",
            )
        cause = cause.__cause__ or cause.__context__
    return None


def shown_to_user(err: BaseException) -> AtlasError | None:
    """The error a shell shows for `err`: an AtlasError as it is, unless it blames damage on a read this user was
    refused or on a limit of the process (open files, file size); any other exception only when it is such a
    refusal or limit (None: an unexpected error)."""
    if isinstance(err, AtlasError) and not isinstance(err, IndexCorrupt):
        return err
    return not_the_index(err) or (err if isinstance(err, AtlasError) else None)


def not_the_index(err: BaseException) -> AtlasError | None:
    """`err` as the error to show when it says what keeps an index from being read is not the index: a limit of the
    process (`limit_error`) or a read this user was refused (`read_denied`); None otherwise."""
    return limit_error(err) or read_denied(err)
