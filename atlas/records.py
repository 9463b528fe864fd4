"""Small immutable records passed between stages: walk → parse → index → query.

Every stage speaks in these types, so no stage needs to import another's internals.
orjson serialises the dataclasses natively.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any


class SkipReason(enum.StrEnum):
    """Why a file was left out of the index. The values appear in manifests and summaries."""

    BINARY = "binary"
    TOO_LARGE = "too_large"
    MINIFIED = "minified"
    UNREADABLE = "unreadable"
    SYMLINK_OUTSIDE = "symlink_outside"
    SYMLINK_LOOP = "symlink_loop"
    DUPLICATE = "duplicate"  # a link to a directory walked by its own path, or a name that reads as another's
    SPECIAL = "special"
    UNPARSABLE = "unparsable"  # its parse hung or crashed its worker, even without a grammar
    LFS_POINTER = "lfs_pointer"  # a Git LFS pointer: the file's content is not in this checkout


class Role(enum.StrEnum):
    """What a file is for; drives priors at query time."""

    IMPL = "impl"
    TEST = "test"
    CONFIG = "config"
    DOCS = "docs"
    GENERATED = "generated"
    BUILD = "build"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file the walk accepted: `path` is relative to `root` with `/` separators. Readers open it with
    `atlas.safe_read.open_in_root(root, path)`, never by `abs_path`: the tree may change after the walk."""

    path: str
    abs_path: str
    size: int
    mtime_ns: int
    root: str
    known_hash: str = ""
    ctime_ns: int = 0


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file the walk or the parser left out, and why."""

    path: str
    reason: SkipReason
    detail: str = ""
    retry: bool = False
    """A read that failed (permission denied, an I/O error): it may read next time with nothing about the file
    changed (another user's run, a group joined, a passing disk error), so later updates read it again."""


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A file whose contents still hash to `FileEntry.known_hash`: only its mtime (or ctime) moved."""

    path: str
    mtime_ns: int
    ctime_ns: int = 0


@dataclass(frozen=True, slots=True)
class Hashed:
    """A file's content hash (`atlas.partition.file_content_hash`), read in a worker for the parent."""

    path: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Symbol:
    """A definition found by tree-sitter. Lines are 1-based and inclusive."""

    name: str
    kind: str
    start_line: int
    end_line: int

    def __reduce__(self) -> tuple[type[Symbol], tuple[str, str, int, int]]:
        return Symbol, (self.name, self.kind, self.start_line, self.end_line)


SAME_PACKAGE = "="
"""Prefix of an import string that names a class of the file's own package (`=Cart` in `shop/Order.java`):
Java and Kotlin use those without an import."""


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Everything the index needs from one file, computed in a worker process.

    The `*_terms` fields are already tokenised by `atlas.terms` (space-joined), so the
    parent only hands them to tantivy.
    """

    path: str
    language: str
    role: Role
    size: int
    mtime_ns: int
    line_count: int
    symbols: tuple[Symbol, ...]
    imports: tuple[str, ...]
    filename_terms: str
    symbol_terms: str
    content_terms: str
    parse_error: str = ""
    content_hash: str = ""
    ctime_ns: int = 0

    def __reduce__(self) -> tuple[type[ParsedFile], tuple[Any, ...]]:
        # Workers send these to the parent by the thousand: the constructor and a tuple pickle at a third
        # of the cost of the generated __getstate__/__setstate__, which look the fields up every time.
        return ParsedFile, _parsed_fields(self)


_parsed_fields = attrgetter(*(f.name for f in fields(ParsedFile)))


@dataclass(frozen=True, slots=True)
class LineRange:
    """A span of a file worth showing: 1-based inclusive lines and their text."""

    start_line: int
    end_line: int
    text: str
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class ScoreTerm:
    """One signal's contribution to a fused score, for --explain."""

    signal: str
    raw: float
    rank: int | None
    weight: float
    contribution: float


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked file in a search result."""

    path: str
    score: float
    rank: int
    language: str
    role: str
    symbols: tuple[str, ...] = ()
    lines: tuple[LineRange, ...] = ()
    explain: tuple[ScoreTerm, ...] = field(default=())
    symbols_omitted: int = 0  # matched definitions left out of `symbols` (capped per hit)
    repository: str = ""  # the repository's name in a search over several indexes, else empty
