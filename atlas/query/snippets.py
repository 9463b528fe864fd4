"""Best matching line ranges of a file, widened to the enclosing definition when it is small.

Runs on the few files a search returns, reading them from the working tree through
`atlas.safe_read`: a file that now leads outside the root gets no ranges.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from atlas.digest import stamp_of
from atlas.records import LineRange
from atlas.safe_read import as_utf8, lines_and_text, looks_binary, read_with_status
from atlas.terms import composed, name_tokens, tokenize

MAX_RANGES = 3
CONTEXT_LINES = 2
MAX_RANGE_LINES = 40
MAX_READ_BYTES = 4 << 20
MAX_LINE_CHARS = 2000
EXACT_LINES = 20

Outline = tuple[tuple[str, str, int, int], ...]


def best_ranges(
    root: Path,
    path: str,
    terms: Mapping[str, float],
    outline: Outline,
    first: Sequence[int] = (),
    as_indexed: Callable[[bytes, int], bool | None] | None = None,
    named: Sequence[int] = (),
) -> tuple[LineRange, ...]:
    """Up to MAX_RANGES line ranges of `path` that match the query best, best first.

    `terms` maps the query's salient terms to their weights (their idf): a line scores the sum of the weights
    of the distinct terms it contains. The lines in `first` (a definition a `sym:` filter names) come before
    any, then the lines the query itself names (`named`: a traceback frame's, a link's). `outline` and `first`
    come from the index: when `as_indexed` says the file's text has changed since (None: it cannot tell), or the
    outline reaches past the file's end, they are not used, and ranges are windows around the best lines. A
    file that is binary now gets none.
    """
    if not (terms or first or named):
        return ()
    data, stamp = _read(root, path)
    text = as_utf8(data)
    if not text or looks_binary(text):
        return ()
    lines, joined = lines_and_text(text)
    outline_end = max(map(operator.itemgetter(3), outline), default=0)
    if (as_indexed is not None and as_indexed(data, stamp) is False) or outline_end > len(lines):
        outline, first = (), ()
    pinned = [(math.inf, n) for n in (*first, *named) if 1 <= n <= len(lines)]
    scored = pinned + (_score_lines(lines, terms, joined) if terms else [])
    ranges: list[LineRange] = []
    taken: list[tuple[int, int]] = []
    for _, line_no in scored:
        if any(start <= line_no <= end for start, end in taken):
            continue
        start, end, symbol = _span(line_no, len(lines), outline)
        start, end = _unshown(start, end, line_no, taken)
        taken.append((start, end))
        ranges.append(LineRange(start, end, "\n".join(lines[start - 1 : end]), symbol))
        if len(ranges) == MAX_RANGES:
            break
    return tuple(ranges)


def matched_symbols(outline: Outline, terms: set[str]) -> tuple[str, ...]:
    """Names of definitions whose tokens meet the query's terms, in file order."""
    names = dict.fromkeys(map(operator.itemgetter(0), outline))
    return tuple(name for name in names if not terms.isdisjoint(_name_token_set(name)))


@functools.lru_cache(maxsize=1 << 16)
def _name_token_set(name: str) -> frozenset[str]:
    """`name_tokens(name)` as a set, remembered: every hit's outline is matched on every search, and a warm
    server sees the same names again and again (a bug report's hits: ~1 ms of tokenising a search)."""
    return frozenset(name_tokens(name))


def _read(root: Path, path: str) -> tuple[bytes, int]:
    """The file's first MAX_READ_BYTES and its `file_stamp`; none when it cannot be read or is refused (see
    `atlas.safe_read`)."""
    try:
        data, status = read_with_status(root, path, MAX_READ_BYTES)
    except OSError:
        return b"", 0
    return data, stamp_of(status)


def _score_lines(lines: list[str], terms: Mapping[str, float], joined: str | None = None) -> list[tuple[float, int]]:
    """(score, line number) of the best lines, best first.

    A term found as a substring of a line bounds what the line can score; only the EXACT_LINES
    lines with the highest bounds are tokenised for their exact score.
    """
    bounds = sorted(((-bound, number) for number, bound in _line_bounds(lines, terms, joined).items()))
    scored = []
    for _, number in bounds[:EXACT_LINES]:
        # fsum: exact whatever the order, and a set's order changes with PYTHONHASHSEED from run to run
        score = math.fsum(terms[t] for t in set(tokenize(lines[number - 1])) if t in terms)
        if score:
            scored.append((score, number))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def _line_bounds(lines: list[str], terms: Mapping[str, float], joined: str | None = None) -> dict[int, float]:
    """Line number → the summed weight of the terms its lower-cased, composed (NFC, as `tokenize` reads it) text
    contains, for the lines shorter than MAX_LINE_CHARS that contain any: every token of a line is a substring of
    it, so no other line can match.

    Each term the text holds at all (C-speed substring search; most of a bug report's rare terms are absent
    from any one file) is found line by line with `str.find`, its offsets mapped to lines by a bisect over
    the line ends; the weights add up in the order of `terms`, so equal lines get equal bounds."""
    text = "\n".join(lines) if joined is None else joined  # `joined`: that text, as the file was read
    folded = composed(text)
    lowered = folded.lower()
    # Composing shortens a text, a letter whose lower case is two lengthens it: either moves the offsets, and
    # both together can leave the length as it was, so each is checked apart.
    if len(folded) != len(text) or len(lowered) != len(folded):
        return _line_bounds_one_by_one(lines, terms)
    bounds: dict[int, float] = {}
    present = [(term, weight) for term, weight in terms.items() if term and term in lowered]
    if not present:
        return bounds
    next_line = list(itertools.accumulate(map((1).__add__, map(len, lines))))  # offset where line i + 2 starts
    for term, weight in present:
        at = lowered.find(term)
        while at >= 0:
            index = bisect.bisect_right(next_line, at)
            if len(lines[index]) < MAX_LINE_CHARS:
                bounds[index + 1] = bounds.get(index + 1, 0) + weight
            at = lowered.find(term, next_line[index])
    return bounds


def _line_bounds_one_by_one(lines: list[str], terms: Mapping[str, float]) -> dict[int, float]:
    """`_line_bounds` for a text whose composed lower case changes its length, each line composed and lower-cased
    alone."""
    bounds: dict[int, float] = {}
    for number, line in enumerate(lines, 1):
        if len(line) < MAX_LINE_CHARS:
            lowered = composed(line).lower()
            if held := [weight for term, weight in terms.items() if term and term in lowered]:
                bounds[number] = sum(held)
    return bounds


def _unshown(start: int, end: int, line_no: int, taken: list[tuple[int, int]]) -> tuple[int, int]:
    """`start`..`end` (around `line_no`, which no taken range holds) cut short of the ranges already taken."""
    after = max((e for _, e in taken if e < line_no), default=0)
    before = min((s for s, _ in taken if s > line_no), default=end + 1)
    return max(start, after + 1), min(end, before - 1)


def _span(line_no: int, total: int, outline: Outline) -> tuple[int, int, str]:
    enclosing = [
        (end - start, start, end, name) for name, _, start, end in outline if start <= line_no <= end
    ]
    if enclosing:
        _, start, end, name = min(enclosing)
        if end - start < MAX_RANGE_LINES:
            return start, min(end, total), name
    start = max(1, line_no - CONTEXT_LINES)
    return start, min(total, line_no + CONTEXT_LINES), min(enclosing)[3] if enclosing else ""
