"""Turn one file into a `ParsedFile` (or a `Skipped`): read, sniff, decode, parse, tokenise.

`parse_entry` runs in worker processes and never raises on bad input: a file that cannot be
read or is not text becomes `Skipped`; a file whose tree-sitter parse fails is still indexed,
without symbols, with `parse_error` set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from atlas.digest import content_hash
from atlas.parse.languages import GRAMMAR_FOR, HEAD_BYTES, SCRIPT_HOSTS, detect_language
from atlas.parse.roles import classify
from atlas.records import FileEntry, ParsedFile, Skipped, SkipReason, Symbol, Unchanged
from atlas.safe_read import as_utf8, looks_binary, open_in_root, read_capped
from atlas.terms import path_terms, symbol_terms, tokens_text_bytes

MINIFIED_MIN_BYTES = 2048


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """Per-file limits applied by the workers."""

    max_file_bytes: int = 1 << 20
    max_line_length: int = 4000


def parse_entry(entry: FileEntry, options: ParseOptions, grammar_failed: str = "") -> ParsedFile | Skipped | Unchanged:
    """Read and parse one walked file; see the module docstring for the failure contract.

    An entry with a `known_hash` that still matches comes back as `Unchanged`, unparsed: an
    index restored on another machine (new mtimes, same contents) is checked at hashing speed.
    With `grammar_failed` (why), the file is indexed as text, its grammar not run.
    """
    try:
        with os.fdopen(open_in_root(entry.root, entry.path), "rb") as handle:
            data = read_capped(handle, options.max_file_bytes)
    except OSError as err:
        return Skipped(entry.path, SkipReason.UNREADABLE, err.strerror or str(err), retry=True)
    if entry.known_hash and content_hash(data) == entry.known_hash:
        return Unchanged(entry.path, entry.mtime_ns, entry.ctime_ns)
    rejected = _reject(entry.path, data, options)
    if rejected:
        return rejected
    return parse_bytes(entry.path, data, entry.mtime_ns, entry.ctime_ns, grammar_failed, entry.size)


def _reject(path: str, data: bytes, options: ParseOptions) -> Skipped | None:
    if len(data) > options.max_file_bytes:
        return Skipped(path, SkipReason.TOO_LARGE, f"over {options.max_file_bytes} bytes")
    text = as_utf8(data)
    if looks_binary(text):
        return Skipped(path, SkipReason.BINARY)
    if is_lfs_pointer(data):
        return Skipped(path, SkipReason.LFS_POINTER, "its content is in Git LFS, not in this checkout")
    if len(text) >= MINIFIED_MIN_BYTES and max(map(len, text.split(b"\n"))) > options.max_line_length:
        return Skipped(path, SkipReason.MINIFIED, f"a line over {options.max_line_length} characters")
    return None


LFS_POINTER_MAX_BYTES = 1024
"""Git LFS's own bound on a pointer file's size (its specification: "less than 1024 bytes")."""
_LFS_VERSIONS = (b"version https://git-lfs.github.com/spec/", b"version https://hawser.github.com/spec/")


def is_lfs_pointer(data: bytes) -> bool:
    """Whether `data` is a Git LFS pointer file (a checkout without `git lfs pull`, or with LFS not installed): a few
    `key value` lines naming the real content's hash and size, whose words ("version", "oid", "size") only match
    queries by chance."""
    return len(data) < LFS_POINTER_MAX_BYTES and data.startswith(_LFS_VERSIONS) and b"\noid sha256:" in data


def parse_bytes(
    path: str, data: bytes, mtime_ns: int = 0, ctime_ns: int = 0, grammar_failed: str = "", size: int | None = None
) -> ParsedFile:
    """Parse file contents already in memory (used by `parse_entry` and by tests); with `grammar_failed`, the
    grammar is not run and the reason becomes the file's parse error.

    `size` is the file's size as its walk's `stat` found it (default: the length of `data`): freshness checks
    compare it with what `stat` says later, so it must be what `stat` said, not what a read got. A file whose size
    is not its length (0 for one that holds text, as `/proc`'s files and some FUSE files do) was otherwise stale
    for ever: every `atlas status` said so, and every `atlas index` parsed it again and published a generation.

    A UTF-16 file is parsed as its UTF-8 text (`as_utf8`); its hash and size stay those of its bytes, which
    freshness checks read."""
    raw, data = data, as_utf8(data)
    language = detect_language(path, data[:HEAD_BYTES])
    symbols, imports, error = ([], [], grammar_failed) if grammar_failed else _extract(language, data)
    return ParsedFile(
        path=path,
        language=language,
        role=classify(path, language, data[:512]),
        size=len(raw) if size is None else size,
        mtime_ns=mtime_ns,
        line_count=data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0),
        symbols=tuple(symbols),
        imports=tuple(imports),
        filename_terms=path_terms(path),
        symbol_terms=symbol_terms(s.name for s in symbols),
        content_terms=tokens_text_bytes(data),
        parse_error=error,
        content_hash=content_hash(raw),
        ctime_ns=ctime_ns,
    )


def _extract(language: str, data: bytes) -> tuple[list[Symbol], list[str], str]:
    if language not in GRAMMAR_FOR and language not in SCRIPT_HOSTS:
        return [], [], ""
    from atlas.parse.symbols import ExtractionError, extract

    try:
        symbols, imports = extract(language, data)
    except ExtractionError as err:
        return [], [], str(err)
    return symbols, imports, ""
