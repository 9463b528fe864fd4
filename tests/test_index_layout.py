"""Which segments an update rewrites (`atlas.index.layout`): the plan, on tables of segments.

tests/test_incremental.py checks the plan carried out on real indexes: no deleted document left, BM25 order as a
rebuild's.
"""

from __future__ import annotations

import pytest

from atlas.index.layout import (
    MAX_SEGMENTS,
    MIN_SEGMENT_BYTES,
    REWRITE_LIMIT_BYTES,
    Segment,
    plan_rewrites,
    segment_bytes,
)

KIB = 1 << 10
SIZES = [KIB] * 100  # every file id 0-99 is 1 KiB


def segments(*fids: range, deleted: dict[int, int] | None = None) -> list[Segment]:
    return [Segment(tuple(held), (deleted or {}).get(i, 0)) for i, held in enumerate(fids)]


PLANS = [
    pytest.param(segments(range(0, 4), range(4, 8)), {5}, True, 10 * KIB, [(4, 6, 7)],
                 id="the segment of an edited file, without it"),
    pytest.param(segments(range(0, 4), range(4, 8)), {1, 6}, True, 10 * KIB, [(0, 2, 3), (4, 5, 7)],
                 id="every segment deleted from, one group each"),
    pytest.param(segments(range(0, 2), range(2, 8)), {1, 6}, True, 3 * KIB, [(0,)],
                 id="a segment over the limit is left with its deleted document"),
    pytest.param(segments(range(0, 2), range(2, 8)), {0, 1}, False, 10 * KIB, [],
                 id="a segment whose files all went needs no rewrite"),
    pytest.param(segments(range(0, 4), range(4, 8), deleted={1: 2}), set(), False, 10 * KIB, [(4, 5, 6, 7)],
                 id="deleted documents from an earlier update are rewritten away"),
    pytest.param(segments(*(range(i, i + 2) for i in range(0, 14, 2))), set(), True, 10 * KIB, [(0, 1)],
                 id="new files beside 7 segments: the smallest takes them in"),
    pytest.param(segments(*(range(i, i + 2) for i in range(0, 12, 2))), set(), True, 10 * KIB, [],
                 id="new files beside 6 segments make the seventh"),
    pytest.param(segments(range(0, 1), *(range(i, i + 2) for i in range(1, 13, 2))), {0}, True, 10 * KIB, [],
                 id="a segment gone makes room for the new files"),
]  # fmt: skip


@pytest.mark.parametrize(("layout", "dropped", "new_segment", "limit", "expected"), PLANS)
def test_plan_rewrites(
    layout: list[Segment], dropped: set[int], new_segment: bool, limit: int, expected: list[tuple[int, ...]]
) -> None:
    assert plan_rewrites(layout, SIZES, dropped, new_segment, limit) == expected


def test_plan_rewrites_orders_the_groups_smallest_first() -> None:
    sizes = [KIB] * 8 + [5 * KIB]
    plan = plan_rewrites(segments(range(0, 5), range(5, 9)), sizes, {0, 5}, True, 100 * KIB)
    assert plan == [(1, 2, 3, 4), (6, 7, 8)]


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0, MIN_SEGMENT_BYTES),
        (3 * MIN_SEGMENT_BYTES, MIN_SEGMENT_BYTES),
        (MAX_SEGMENTS * MIN_SEGMENT_BYTES - 1, MIN_SEGMENT_BYTES),
        (MAX_SEGMENTS * REWRITE_LIMIT_BYTES, REWRITE_LIMIT_BYTES),
        (MAX_SEGMENTS * REWRITE_LIMIT_BYTES + 1, 0),
    ],
)
def test_segment_bytes(total: int, expected: int) -> None:
    assert segment_bytes(total) == expected
