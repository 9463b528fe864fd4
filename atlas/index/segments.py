"""tantivy's own integrity data, read without tantivy: the segments `meta.json` lists, and the CRC-32 footer
that ends every segment file (JSON holding the checksum of the bytes before it, then its length and a magic
number, both u32 little-endian).

A segment file whose bytes changed but kept their size passes an open; a search then panics, fails on the
damaged part or serves it. `atlas verify` and the assembly of shards (which come from other machines) check
every file here first.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import orjson

from atlas.index.store import open_index_file, read_index_file

SEGMENT_FILE = re.compile(r"[0-9a-f]{32}\.")
COMPONENTS = ("idx", "pos", "term", "store", "fast", "fieldnorm")
"""The files every segment of Atlas's schema has, beside its deletions (`<id>.<opstamp>.del`)."""
FOOTER_MAGIC = 1337
CHUNK = 1 << 20


def segment_faults(directory: Path) -> list[str]:
    """What is wrong with the segment files of the tantivy index in `directory`, one "name (fault)" per file: a
    file `meta.json` needs that is missing, or one whose bytes do not match its footer. Empty when all is well;
    an unreadable `meta.json` is for the caller's open to report."""
    meta = _meta(directory)
    if meta is None:
        return []
    present = _segment_files(directory)
    faults = [f"{name} (missing)" for name in _needed(meta) if name not in present]
    for name in sorted(present):
        fault = footer_fault(Path(present[name]))
        if fault:
            faults.append(f"{name} ({fault})")
    return faults


def missing_segment_files(directory: Path) -> list[str]:
    """The files that the segments `meta.json` lists need and `directory` lacks (one directory read, no file read):
    tantivy opens some of them (a segment's positions) only when a query reads them, so an open does not find them
    gone. Empty when `meta.json` cannot be read, which the caller's open reports."""
    meta = _meta(directory)
    if meta is None:
        return []
    present = _segment_files(directory)
    return [name for name in _needed(meta) if name not in present]


def _meta(directory: Path) -> object | None:
    """The tantivy index's `meta.json` in `directory`, parsed; None when it cannot be read."""
    try:
        return orjson.loads(read_index_file(directory / "meta.json"))
    except (OSError, orjson.JSONDecodeError):
        return None


def _needed(meta: object) -> list[str]:
    return [name for segment in _segments(meta) for name in _files_of(segment)]


def _segment_files(directory: Path) -> dict[str, str]:
    with os.scandir(directory) as entries:
        return {entry.name: entry.path for entry in entries if SEGMENT_FILE.match(entry.name)}


def segment_documents(directory: Path) -> list[tuple[int, int]]:
    """Per segment of the tantivy index in `directory`, in `meta.json`'s order (the order tantivy opens them in, so
    their ordinals), its documents and how many of them are deleted: BM25's statistics count both (see
    `atlas.index.layout`)."""
    meta = orjson.loads(read_index_file(directory / "meta.json"))
    counts = []
    for segment in _segments(meta):
        documents, deletes = segment.get("max_doc"), segment.get("deletes")
        deleted = deletes.get("num_deleted_docs") if isinstance(deletes, dict) else 0
        counts.append((documents if isinstance(documents, int) else 0, deleted if isinstance(deleted, int) else 0))
    return counts


def _segments(meta: object) -> list[dict[str, object]]:
    segments = meta.get("segments") if isinstance(meta, dict) else None
    return [s for s in segments if isinstance(s, dict)] if isinstance(segments, list) else []


def _files_of(segment: dict[str, object]) -> list[str]:
    """The file names segment `segment` (a `meta.json` entry) needs."""
    ident = str(segment.get("segment_id", "")).replace("-", "")
    names = [f"{ident}.{component}" for component in COMPONENTS]
    deletes = segment.get("deletes")
    if isinstance(deletes, dict) and isinstance(deletes.get("opstamp"), int):
        names.append(f"{ident}.{deletes['opstamp']}.del")
    return names


def footer_fault(path: Path) -> str:
    """What is wrong with `path`'s tantivy footer, or "" when the bytes before it match its checksum."""
    try:
        with open_index_file(path) as file:  # a link, a FIFO or a device: refused, never followed or waited on
            size = os.fstat(file.fileno()).st_size
            if size < 8:
                return "too short for a footer"
            file.seek(size - 8)
            length, magic = struct.unpack("<II", file.read(8))
            if magic != FOOTER_MAGIC or length > size - 8:
                return "no footer"
            file.seek(size - 8 - length)
            footer = orjson.loads(file.read(length))
            expected = footer.get("crc") if isinstance(footer, dict) else None
            if not isinstance(expected, int):
                return "no checksum in the footer"
            file.seek(0)
            crc, left = 0, size - 8 - length
            while left > 0:
                chunk = file.read(min(CHUNK, left))
                if not chunk:
                    return "cut short"
                crc, left = zlib.crc32(chunk, crc), left - len(chunk)
    except orjson.JSONDecodeError:
        return "unreadable footer"
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    return "" if crc == expected else "bytes changed"
