"""How files are split into shards, and how a shard's contents are summed up in one hash.

A file belongs to shard `shard_of(path, count)`: a hash of its repository-relative path, so the
rule needs no coordination between the machines building shards, an edit touches exactly the
shard of the edited file, and shards come out about the same size. A shard's file ids are
interleaved with the other shards' (`ShardSpec.global_fid`), so the shards' tantivy documents
keep their ids when their segments are put together into one index.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from atlas.config import whole_of
from atlas.errors import UsageError
from atlas.safe_read import quoted_value

MAX_SHARDS = 4096
"""The most shards an index is built as (`--shards`, `--shard I/N`, a shard's manifest)."""


def shard_of(path: str, count: int) -> int:
    """The shard (0 … count-1) that holds the file at repository-relative `path`."""
    digest = hashlib.blake2b(os.fsencode(path), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """Shard `index` of `count` (0-based)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """`I/N` as given to `--shard` (0 ≤ I < N); a UsageError otherwise."""
        left, sep, right = (part.strip() for part in text.partition("/"))
        index, count = whole_of(left), whole_of(right)
        if not sep or index is None or count is None:
            raise UsageError(f"--shard {quoted_value(text)} is not I/N",
                             "give the shard as I/N, e.g. 0/8 for the first of 8")  # fmt: skip
        if not 1 <= count <= MAX_SHARDS:
            raise UsageError(f"--shard {quoted_value(text)}: N must be 1 to {MAX_SHARDS}",
                             "give the shard count the build uses")  # fmt: skip
        spec = cls(index, count)
        if not spec.valid():
            every = f"the shards of {spec.count} are 0/{spec.count} to {spec.count - 1}/{spec.count}"
            raise UsageError(f"--shard {quoted_value(text)}: I must be 0 to N-1", every)
        return spec

    @classmethod
    def from_record(cls, record: object) -> ShardSpec | None:
        """The shard a manifest's `shard` record names, or None when it names none that can be (a crafted record)."""
        if not isinstance(record, dict):
            return None
        index, count = record.get("index"), record.get("count")
        if type(index) is not int or type(count) is not int:  # not bool either
            return None
        spec = cls(index, count)
        return spec if spec.valid() else None

    def valid(self) -> bool:
        """True when 0 ≤ index < count ≤ MAX_SHARDS."""
        return 0 <= self.index < self.count <= MAX_SHARDS

    def holds(self, path: str) -> bool:
        """True when the file at `path` belongs to this shard."""
        return shard_of(path, self.count) == self.index

    def global_fid(self, local: int) -> int:
        """The id, in the assembled index, of this shard's file `local`: shards' ids interleave."""
        return local * self.count + self.index

    def as_dict(self) -> dict[str, int]:
        """The shard as the manifest records it."""
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def listed_shard_count(manifest: dict[str, Any] | None) -> int:
    """How many shards an assembled index's manifest lists: 0 for none, and for a listing that is not 1 to MAX_SHARDS
    shard records, as a damaged or crafted manifest (a clone's committed index, a restored cache) may hold."""
    listing = (manifest or {}).get("shards")
    if not isinstance(listing, list) or not 1 <= len(listing) <= MAX_SHARDS:
        return 0
    return len(listing) if all(isinstance(record, dict) for record in listing) else 0


def content_digest(files: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over (path, content hash) pairs taken in path order: the key of a set of file contents."""
    digest = hashlib.sha256()
    for path, content in sorted(files):
        digest.update(os.fsencode(path) + b"\0" + content.encode() + b"\n")
    return digest.hexdigest()


UNREADABLE = "unreadable"
"""`file_content_hash` of a file that cannot be read."""
OVER_LIMIT = "over-limit"
"""`file_content_hash` of a file holding more than the bytes it was to be read for."""


def file_content_hash(root: str | os.PathLike[str], path: str, limit: int) -> str:
    """The content hash `atlas.parse.content_hash` gives the whole of repository file `path`, read in blocks
    (through `open_in_root`: never outside `root`); UNREADABLE when it cannot be read, OVER_LIMIT when it holds more
    than `limit` bytes.

    No more than `limit` + 1 bytes are read, as the indexer reads no more than its size cap: a file's size is a
    promise its reads need not keep (one that grew since it was walked, a FUSE file that says 100 bytes and streams
    without end), and a read to its end hung `atlas status` and `atlas cache-key`.
    """
    from atlas.safe_read import open_in_root

    digest = hashlib.blake2b(digest_size=16)
    left = limit + 1
    try:
        with os.fdopen(open_in_root(root, path), "rb") as handle:
            while left and (block := handle.read(min(left, 1 << 20))):
                digest.update(block)
                left -= len(block)
    except OSError:
        return UNREADABLE
    return digest.hexdigest() if left else OVER_LIMIT
