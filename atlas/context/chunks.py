"""Which parts of a file to include when the whole file does not fit: best definitions, then an outline.

A file is cut into units: its definitions (the tree-sitter outline stored in the index, nested
classes and methods included), the module header before the first definition, and top-level code
between definitions; a file without an outline is cut into windows of WINDOW_LINES lines. Each unit
scores the weights of the query terms it contains, and twice the weights of the terms in its name.
Units are taken best first while they fit the target (a unit inside or around one already taken
is skipped); when even the best unit is too big, the window of it around its best lines is taken.
Definitions left out are listed as an outline (their first lines), containers of the chosen chunks
and top-level definitions first, as far as OUTLINE_SHARE of the target allows.

A unit's cost is the token count of its text plus an estimate for its label and fences; windows add
up per-line counts (never below the count of the joined lines). `atlas.context.select` checks every
entry's exact rendered count.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from atlas.context.model import Chunk, OutlineItem
from atlas.context.render import outline_line
from atlas.digest import stamp_of
from atlas.safe_read import Refused, as_utf8, looks_binary, read_with_status, text_lines
from atlas.terms import tokenize

WINDOW_LINES = 40
MAX_READ_BYTES = 4 << 20
_WORDS = re.compile(r"\w+")
OUTLINE_SHARE = 0.25
MAX_SIGNATURE_CHARS = 120
NAME_BONUS = 2.0
LINE_OVERHEAD_TOKENS = 12
"""Tokens a chunk's label line and fences add, estimated (the exact count comes later)."""

Outline = tuple[tuple[str, str, int, int], ...]


@dataclass(slots=True)
class FileText:
    """A file's text split into lines (without their `\\n`), plus what the budget needs about it."""

    path: str
    lines: list[str]
    size: int
    line_tokens: list[int] = field(default_factory=list)
    line_terms: list[frozenset[str]] = field(default_factory=list)
    raw: bytes = field(default=b"", repr=False)
    """The bytes read, and their `atlas.digest.file_stamp`: to tell whether the file is as it was indexed."""
    stamp: int = 0

    @property
    def text(self) -> str:
        """The whole text, lines joined with `\\n` (a final newline kept)."""
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def read_text(root: Path, path: str) -> FileText | str:
    """The text of repository path `path`, or why it cannot be included ("unreadable file", ...).

    Reads through `atlas.safe_read`: a path that now leads outside the root (a file swapped for a
    symbolic link out of the tree, a FIFO) is not read, and the reason says so. Neither is a file over
    MAX_READ_BYTES: its first bytes would pass for the whole file. Its size is the bytes read, the whole file, not
    what its `stat` says (0 for a file that holds text, as some FUSE files say).
    """
    try:
        data, status = read_with_status(root, path, MAX_READ_BYTES + 1)
        size = status.st_size
    except Refused as err:
        return f"not read: {err.why}"
    except OSError:
        return "unreadable file"
    if max(size, len(data)) > MAX_READ_BYTES:
        return f"too large: {max(size, len(data)):,} bytes, over the {MAX_READ_BYTES >> 20} MiB a selection reads"
    text = as_utf8(data)
    if looks_binary(text):
        return "binary file"
    return FileText(path, text_lines(text), len(data), raw=data, stamp=stamp_of(status))


def prepare(file: FileText, weights: Mapping[str, float], cache: dict[str, frozenset[str]]) -> None:
    """The query terms of each line, computed once per file; `cache` maps words to their terms."""
    if file.line_terms or not file.lines:
        return
    wanted = frozenset(weights)
    empty: frozenset[str] = frozenset()
    for line in file.lines:
        found = empty
        for word in _WORDS.findall(line):
            hit = cache.get(word)
            if hit is None:
                hit = cache[word] = wanted.intersection(tokenize(word))
            if hit:
                found = found | hit
        file.line_terms.append(found)


def line_tokens(file: FileText, count: Callable[[str], int], start: int, end: int) -> list[int]:
    """Token counts of lines `start`..`end`, each with its newline (counted on first need, then kept)."""
    if not file.line_tokens:
        file.line_tokens = [-1] * len(file.lines)
    for number in range(start, end + 1):
        if file.line_tokens[number - 1] < 0:
            file.line_tokens[number - 1] = count(file.lines[number - 1] + "\n")
    return file.line_tokens[start - 1 : end]


@dataclass(slots=True)
class Unit:
    """A candidate chunk: lines `start`..`end` (1-based, inclusive)."""

    start: int
    end: int
    name: str
    kind: str
    depth: int
    terms: frozenset[str] = frozenset()
    score: float = 0.0
    cost: int = 0
    outline_cost: int = 0


@dataclass(slots=True)
class Plan:
    """What to include of a file: its chunks, the outline of the rest, and the estimated cost."""

    chunks: list[Chunk]
    outline: list[OutlineItem]
    omitted: int
    cost: int


def units_of(file: FileText, outline: Outline) -> list[Unit]:
    """Definitions (with nesting depth), the module header and top-level gaps, or fixed windows."""
    total = len(file.lines)
    defs = sorted(
        {(max(1, start), min(end, total), name, kind) for name, kind, start, end in outline if start <= total},
        key=lambda d: (d[0], -d[1]),
    )
    if not defs:
        return [Unit(s, min(s + WINDOW_LINES - 1, total), "", "lines", 0) for s in range(1, total + 1, WINDOW_LINES)]
    units: list[Unit] = []
    open_ends: list[int] = []
    for start, end, name, kind in defs:
        while open_ends and open_ends[-1] < start:
            open_ends.pop()
        units.append(Unit(start, end, name, kind, len(open_ends)))
        open_ends.append(end)
    return units + _gaps(units, total)


def _gaps(units: list[Unit], total: int) -> list[Unit]:
    """Top-level code outside every definition: the module header and what lies between definitions."""
    gaps: list[Unit] = []
    line = 1
    for unit in sorted((u for u in units if u.depth == 0), key=lambda u: u.start):
        if unit.start > line:
            gaps.append(Unit(line, unit.start - 1, "", "header" if line == 1 else "code", 0))
        line = max(line, unit.end + 1)
    if line <= total:
        gaps.append(Unit(line, total, "", "code", 0))
    return gaps


def score_units(file: FileText, units: list[Unit], weights: Mapping[str, float], count: Callable[[str], int]) -> None:
    """Set each unit's matched terms, score and cost (its text's tokens plus the label's estimate).

    Units spanning the same lines share their text's count: every definition of a minified one-line bundle
    spans line 1, and counting the whole line once per definition made the work definitions × file size."""
    costs: dict[tuple[int, int], int] = {}
    for unit in units:
        terms = frozenset().union(*file.line_terms[unit.start - 1 : unit.end])
        named = weights.keys() & set(tokenize(unit.name)) if unit.name else set()
        unit.terms = terms | named
        unit.score = sum(weights[t] for t in terms) + NAME_BONUS * sum(weights[t] for t in named)
        span = (unit.start, unit.end)
        if span not in costs:
            costs[span] = count("\n".join(file.lines[unit.start - 1 : unit.end]) + "\n")
        unit.cost = costs[span] + LINE_OVERHEAD_TOKENS
        if unit.name:
            unit.outline_cost = count(outline_line(_item(file, unit)))


def plan_chunks(
    file: FileText, units: list[Unit], target: int, count: Callable[[str], int], weights: Mapping[str, float]
) -> Plan:
    """The best units that fit `target` tokens, and an outline of the definitions left out."""
    chosen = _choose(file, units, target * (1 - OUTLINE_SHARE), count)
    spent = sum(u.cost for u in chosen)
    items, outline_cost, omitted = _outline(file, units, chosen, max(target - spent, 0))
    chunks = [_chunk(file, u, weights) for u in sorted(chosen, key=lambda u: u.start)]
    return Plan(chunks, items, omitted, spent + outline_cost)


def _choose(file: FileText, units: list[Unit], room: float, count: Callable[[str], int]) -> list[Unit]:
    """Units best first while they fit; a unit too big is passed over (its parts compete on their own).

    When nothing fits, the window of the best unit around its best lines, or the file's first lines.
    """
    ranked = sorted((u for u in units if u.score > 0), key=lambda u: (-u.score, u.cost, u.start))
    chosen: list[Unit] = []
    taken = _Spans()
    spent = 0
    for unit in ranked:
        if spent + unit.cost <= room and not taken.overlaps(unit):
            chosen.append(unit)
            taken.add(unit)
            spent += unit.cost
    if chosen or not units:
        return chosen
    best = ranked[0] if ranked else min(units, key=lambda u: u.start)
    window = _window(file, best, room, line_tokens(file, count, best.start, best.end))
    return [window] if window else []


class _Spans:
    """Disjoint line spans, sorted: whether a unit overlaps, lies inside or holds one, in O(log n) each (a file of
    60,000 definitions asked it of every chosen unit for every unit)."""

    def __init__(self, units: Iterable[Unit] = ()) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for unit in sorted(units, key=lambda u: u.start):
            self.add(unit)

    def add(self, unit: Unit) -> None:
        """Add `unit`'s span, which overlaps none held."""
        at = bisect.bisect_left(self.starts, unit.start)
        self.starts.insert(at, unit.start)
        self.ends.insert(at, unit.end)

    def overlaps(self, unit: Unit) -> bool:
        at = bisect.bisect_right(self.starts, unit.end) - 1  # the last span starting by unit's end
        return at >= 0 and self.ends[at] >= unit.start

    def hold(self, unit: Unit) -> bool:
        """Whether a span holds `unit` whole."""
        at = bisect.bisect_right(self.starts, unit.start) - 1
        return at >= 0 and self.ends[at] >= unit.end

    def inside(self, unit: Unit) -> bool:
        """Whether `unit` holds a span whole."""
        at = bisect.bisect_left(self.starts, unit.start)
        return at < len(self.starts) and self.ends[at] <= unit.end


def _window(file: FileText, unit: Unit, room: float, costs: list[int]) -> Unit | None:
    """The largest run of `unit`'s lines around its best line that fits `room` (its first line if no match).

    `costs` are the token counts of the unit's lines.
    """
    lines = range(unit.start, unit.end + 1)
    best = max(lines, key=lambda n: (len(file.line_terms[n - 1]), -n)) if unit.terms else unit.start
    start = end = best
    cost = costs[best - unit.start] + LINE_OVERHEAD_TOKENS
    if cost > room:
        return None
    grew = True
    while grew:
        grew = False
        for line in (start - 1, end + 1):
            if unit.start <= line <= unit.end and cost + costs[line - unit.start] <= room:
                cost += costs[line - unit.start]
                start, end = min(start, line), max(end, line)
                grew = True
    terms = frozenset().union(*file.line_terms[start - 1 : end])
    return Unit(start, end, unit.name, unit.kind, unit.depth, terms, unit.score, cost)


def _chunk(file: FileText, unit: Unit, weights: Mapping[str, float]) -> Chunk:
    text = "\n".join(file.lines[unit.start - 1 : unit.end])
    terms = tuple(sorted(unit.terms, key=lambda t: (-weights.get(t, 0.0), t)))
    return Chunk(unit.start, unit.end, unit.name, unit.kind, text, terms)


def _outline(file: FileText, units: list[Unit], chosen: list[Unit], room: int) -> tuple[list[OutlineItem], int, int]:
    """Definitions not inside a chosen chunk, the most useful first, as many as fit `room`.

    Returns the items in line order, their cost, and how many were left out.
    """
    taken = _Spans(chosen)
    left = [u for u in units if u.name and not taken.hold(u)]
    containers = {id(u) for u in left if taken.inside(u)}
    left.sort(key=lambda u: (id(u) not in containers, u.depth, -u.score, u.start))
    items: list[OutlineItem] = []
    spent = 0
    for unit in left:
        if spent + unit.outline_cost > room:
            break
        items.append(_item(file, unit))
        spent += unit.outline_cost
    items.sort(key=lambda i: i.line)
    return items, spent, len(left) - len(items)


def _item(file: FileText, unit: Unit) -> OutlineItem:
    return OutlineItem(unit.start, unit.end, unit.kind, unit.name, _signature(file, unit), unit.depth)


def _signature(file: FileText, unit: Unit) -> str:
    return signature_of(file.lines[unit.start - 1])


def signature_of(line: str) -> str:
    """How an outline shows a definition's first line: stripped, at most MAX_SIGNATURE_CHARS characters."""
    line = line.strip()
    return line if len(line) <= MAX_SIGNATURE_CHARS else line[: MAX_SIGNATURE_CHARS - 1] + "…"
