"""Best matching line ranges of a file, widened to the enclosing definition when it is small.

Runs on the few files a search returns, reading them from the working tree through
`atlas.safe_read`: a file that now leads outside the root gets no ranges.
"""

from __future__ import annotations

import bisect
import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from atlas.digest import stamp_of
from atlas.records import LineRange
from atlas.safe_read import as_utf8, joined_lines, looks_binary, read_with_status
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
    if len(data) > MAX_READ_BYTES:
        text = _whole_lines(text)
    if not text or looks_binary(text):
        return ()
    lines = _Text(joined_lines(text))
    outline_end = max(map(operator.itemgetter(3), outline), default=0)
    if (as_indexed is not None and as_indexed(data, stamp) is False) or outline_end > lines.count:
        outline, first = (), ()
    pinned = [(math.inf, n) for n in (*first, *named) if 1 <= n <= lines.count]
    scored = pinned + (_score_lines(lines, terms) if terms else [])
    ranges: list[LineRange] = []
    taken: list[tuple[int, int]] = []
    for _, line_no in scored:
        if any(start <= line_no <= end for start, end in taken):
            continue
        start, end, symbol = _span(line_no, lines.count, outline)
        start, end = _unshown(start, end, line_no, taken)
        taken.append((start, end))
        ranges.append(LineRange(start, end, lines.span(start, end), symbol))
        if len(ranges) == MAX_RANGES:
            break
    return tuple(ranges)


class _Text:
    """A file's lines (`atlas.safe_read.text_lines`) joined by `\n`, each line found by its offset when a search
    asks for it: splitting every line of every hit, and mapping offsets to lines through all of them, cost more
    than choosing the hit's ranges."""

    def __init__(self, joined: str | None) -> None:
        """`joined` as `atlas.safe_read.joined_lines` gives it: None for a file without lines."""
        self.joined = joined or ""
        self.count = 0 if joined is None else joined.count("\n") + 1
        self._numbers = [1]  # line numbers whose start is known, ascending, and their starts
        self._starts = [0]

    def line(self, number: int) -> str:
        """Line `number` (from 1, at most `count`)."""
        return self.span(number, number)

    def span(self, first: int, last: int) -> str:
        """Lines `first` to `last` joined by `\n`."""
        end = self.joined.find("\n", self.start(last))
        return self.joined[self.start(first) : end if end >= 0 else len(self.joined)]

    def start(self, number: int) -> int:
        """The offset where line `number` starts, walked to from the nearest line whose start is known."""
        index = bisect.bisect_right(self._numbers, number) - 1
        known, at = self._numbers[index], self._starts[index]
        if known == number:
            return at
        if index + 1 < len(self._numbers) and self._numbers[index + 1] - number < number - known:
            known, at = self._numbers[index + 1], self._starts[index + 1]
            while known > number:
                at = self.joined.rfind("\n", 0, at - 1) + 1
                known -= 1
        else:
            while known < number:
                at = self.joined.find("\n", at) + 1
                known += 1
        self._numbers.insert(index + 1, number)
        self._starts.insert(index + 1, at)
        return at

    def numbers(self, starts: Sequence[int]) -> dict[int, int]:
        """Line start offset → line number for each of `starts` (ascending), counted newline by newline between
        them, and remembered."""
        numbers: dict[int, int] = {}
        number, at = 1, 0
        for start in starts:
            number += self.joined.count("\n", at, start)
            numbers[start] = number
            at = start
        known = dict(zip(self._numbers, self._starts, strict=True)) | {n: s for s, n in numbers.items()}
        self._numbers = sorted(known)
        self._starts = [known[n] for n in self._numbers]
        return numbers


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
    """The file's first MAX_READ_BYTES, and one byte more when it holds more, and its `file_stamp`; none when it
    cannot be read or is refused (see `atlas.safe_read`)."""
    try:
        data, status = read_with_status(root, path, MAX_READ_BYTES + 1)
    except OSError:
        return b"", 0
    return data, stamp_of(status)


def _whole_lines(text: bytes) -> bytes:
    """`text`, the start of a longer file, up to its last newline: the line after it goes on past what was read, and
    a range shows a line whole or not at all."""
    return text[: text.rfind(b"\n") + 1]


def _score_lines(text: _Text, terms: Mapping[str, float]) -> list[tuple[float, int]]:
    """(score, line number) of the best lines, best first.

    A term found as a substring of a line bounds what the line can score; only the EXACT_LINES
    lines with the highest bounds are tokenised for their exact score.
    """
    bounds = sorted(((-bound, number) for number, bound in _line_bounds(text, terms).items()))
    scored = []
    for _, number in bounds[:EXACT_LINES]:
        # fsum: exact whatever the order, and a set's order changes with PYTHONHASHSEED from run to run
        score = math.fsum(terms[t] for t in set(tokenize(text.line(number))) if t in terms)
        if score:
            scored.append((score, number))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def _line_bounds(text: _Text, terms: Mapping[str, float]) -> dict[int, float]:
    """Line number → the summed weight of the terms its lower-cased, composed (NFC, as `tokenize` reads it) text
    contains, for the lines shorter than MAX_LINE_CHARS that contain any: every token of a line is a substring of
    it, so no other line can match.

    Each term is found in the whole text with `str.find` (C speed; most of a bug report's rare terms are absent
    from any one file), once per line that holds it; the lines are then numbered by counting the newlines
    between them. The weights add up in the order of `terms`, so equal lines get equal bounds."""
    folded = composed(text.joined)
    lowered = folded.lower()
    # Composing shortens a text, a letter whose lower case is two lengthens it: either moves the offsets, and
    # both together can leave the length as it was, so each is checked apart.
    if len(folded) != len(text.joined) or len(lowered) != len(folded):
        return _line_bounds_one_by_one(text.joined.split("\n") if text.count else [], terms)
    found: list[tuple[int, float]] = []  # (where a line holding a term starts, the term's weight), terms in order
    for term, weight in terms.items():
        at = lowered.find(term) if term else -1
        while at >= 0:
            start = lowered.rfind("\n", 0, at) + 1
            end = lowered.find("\n", at)
            end = end if end >= 0 else len(lowered)
            if end - start < MAX_LINE_CHARS:
                found.append((start, weight))
            at = lowered.find(term, end + 1)
    numbers = text.numbers(sorted({start for start, _ in found}))
    bounds: dict[int, float] = {}
    for start, weight in found:
        bounds[numbers[start]] = bounds.get(numbers[start], 0) + weight
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
    enclosing = [(end - start, start, end, name) for name, _, start, end in outline if start <= line_no <= end]
    if enclosing:
        _, start, end, name = min(enclosing)
        if end - start < MAX_RANGE_LINES:
            return start, min(end, total), name
    start = max(1, line_no - CONTEXT_LINES)
    return start, min(total, line_no + CONTEXT_LINES), min(enclosing)[3] if enclosing else ""
