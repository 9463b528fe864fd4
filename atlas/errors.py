"""The Atlas error tree. Each error knows its exit code and a hint; the shells catch AtlasError once.

    AtlasError (3)
    ├── UsageError (2)          bad flags, bad query file, bad option values
    ├── InputError (2)          a path that is not there or not a directory
    ├── IndexMissing (3)        no index where one is needed
    ├── IndexCorrupt (4)        an index that cannot be opened or fails its checks
    ├── IndexBusy (5)           another process holds the index lock
    └── SignalError (6)         git or another signal source failed in a way that matters

"No results" is not an error: the CLI exits 1 for it.
"""

from __future__ import annotations

from typing import ClassVar


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
