"""What Atlas records to tell whether a file is still as it was indexed.

`content_hash` is the file's hash (BLAKE2b, 128 bits): the file table keeps it, and incremental updates and
`atlas status` compare it. The side store keeps two numbers per file for reads at query time: the hash's first
64 bits (`digest_number`) and a `file_stamp` of its size and times, which says "untouched" from a `stat` alone,
so a search hashes only a file whose stamp moved (and imports `hashlib`, a few milliseconds, only then).
"""

from __future__ import annotations

import os

_MASK = (1 << 64) - 1


def content_hash(data: bytes) -> str:
    """The hash recorded per file (BLAKE2b, 128 bits)."""
    import hashlib  # here, not above: a search that needs no hash must not pay for the import

    return hashlib.blake2b(data, digest_size=16).hexdigest()


def digest_number(hexdigest: str) -> int:
    """The first 64 bits of a `content_hash` as a number, as the side store keeps them per file (0: none)."""
    return int(hexdigest[:16], 16) if hexdigest else 0


def file_stamp(size: int, mtime_ns: int, ctime_ns: int) -> int:
    """A number that moves when a file's size, modification time or change time does; 0 when a time is unknown.
    Writing a file moves its change time, which no tool can set back: an equal stamp means the same bytes."""
    if not (mtime_ns and ctime_ns):
        return 0
    return ((size * 0x9E3779B97F4A7C15) ^ (mtime_ns * 0xC2B2AE3D27D4EB4F) ^ ctime_ns) & _MASK or 1


def stamp_of(status: os.stat_result) -> int:
    """`file_stamp` of a file's `stat`."""
    return file_stamp(status.st_size, status.st_mtime_ns, status.st_ctime_ns)
