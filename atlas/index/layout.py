"""How the documents lie in tantivy segments, so that an updated index ranks as a rebuilt one.

tantivy counts a deleted document in BM25's statistics (the document count, each term's document frequency, each
field's average length) until its segment is merged, and tantivy-py offers no merge. An update deletes the old
document of every file it edits or removes, so it would score otherwise than a rebuild of the same tree. But a
segment all of whose documents are deleted is dropped at the commit: an update rewrites each segment it deletes
from, indexing that segment's other files again (read and parsed anew: the index does not store their text), and
the old segment goes whole. No published segment then holds a deleted document.

A rewrite costs the bytes of its segment's files, so a full build cuts them into segments of `segment_bytes`
(at most MAX_SEGMENTS of them), and an update rewrites a segment only when the files it re-reads total at most
REWRITE_LIMIT_BYTES. Past the limit (the segments of a tree over MAX_SEGMENTS times that) the deleted documents
stay counted, as tantivy leaves them, until tantivy merges their segment or a full build; there they are a small
share of the statistics. `IndexReport.deleted_documents` says how many an update left.

This module decides; `atlas.index.writer` reads and writes the segments, `atlas.build` parses the files.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

MAX_SEGMENTS = 7
"""tantivy's merge policy (LogMergePolicy: the default, and the only one tantivy-py offers) merges the segments of a
level once it holds 8 (every segment of under 10,000 documents is in the lowest level): 7 in all stay apart. A merge
keeps the statistics right (it leaves the deleted documents out), but the merged segment costs its whole size to
rewrite."""
MIN_SEGMENT_BYTES = 4 << 20
"""A full build makes no segment of less source than this: a tree of up to 4 MiB stays one segment, which an update
rewrites whole. Each segment costs every search: on pytest's 7 MB, warm bug-report searches took p50 15-18 ms in 6
segments of 1 MiB, 11-13 ms in 2 of 4 MiB, 11-12 ms in one; an update's rewrite of 4 MiB, about a second."""
REWRITE_LIMIT_BYTES = 4 << 20
"""The most source an update reads again to rewrite one segment. A full build cuts segments of at most this much
while the tree is at most MAX_SEGMENTS times as large (28 MiB), so every update of such a tree is exact."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a generation: the file ids whose documents it holds, and the deleted documents it counts."""

    fids: tuple[int, ...]
    deleted: int = 0


def segment_bytes(total_bytes: int) -> int:
    """The bytes of source a full build of `total_bytes` puts in each segment; 0 for one run that only tantivy's
    heap cuts, when MAX_SEGMENTS segments would each be over REWRITE_LIMIT_BYTES."""
    if total_bytes > MAX_SEGMENTS * REWRITE_LIMIT_BYTES:
        return 0
    return max(MIN_SEGMENT_BYTES, -(-total_bytes // MAX_SEGMENTS))


def plan_rewrites(
    segments: Sequence[Segment],
    sizes: Sequence[int],
    dropped: Set[int],
    new_segment: bool,
    limit: int | None = None,
) -> list[tuple[int, ...]]:
    """The files to index again, one tuple per segment to rewrite, smallest first.

    `segments` are the generation's before the update; `dropped` the file ids whose documents the update deleted
    (edited or removed); `sizes` the bytes of each file id; `new_segment` whether the update indexes documents
    of its own, which make a segment unless they join a rewritten one. Each segment holding a deleted document is
    rewritten (its files but the dropped ones) when they total at most `limit` bytes (REWRITE_LIMIT_BYTES). When
    the update would leave more than MAX_SEGMENTS segments (tantivy would merge them all into one), the smallest
    other segment is rewritten too, within the limit, to take the update's documents in.
    """
    limit = REWRITE_LIMIT_BYTES if limit is None else limit

    def kept(segment: Segment) -> tuple[int, ...]:
        return tuple(fid for fid in segment.fids if fid not in dropped)

    def cost(segment: Segment) -> int:
        return sum(sizes[fid] for fid in kept(segment))

    dirty = {i for i, s in enumerate(segments) if s.deleted or any(fid in dropped for fid in s.fids)}
    chosen = [segments[i] for i in sorted(dirty) if cost(segments[i]) <= limit]
    groups = [group for group in map(kept, chosen) if group]
    after = len(segments) - len(chosen) + len(groups) + (1 if new_segment and not groups else 0)
    clean = [s for i, s in enumerate(segments) if i not in dirty]
    if after > MAX_SEGMENTS and clean and cost(smallest := min(clean, key=cost)) <= limit:
        groups.append(kept(smallest))
    return sorted(groups, key=lambda group: sum(sizes[fid] for fid in group))
