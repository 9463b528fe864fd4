"""Query text → `ParsedQuery`: terms, phrases and `path:` / `lang:` / `sym:` filters.

Pure and total: any string parses (a whole bug report with tracebacks included); what is
not a filter or a balanced quoted phrase is free text. Unbalanced quotes and brackets are
ordinary characters. No I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from atlas.terms import tokenize

MAX_TERMS = 400
MAX_PHRASES = 8
MAX_PHRASE_CHARS = 200

_FILTER = re.compile(r'(?<!\S)(path|lang|sym):(?:"([^"\n]*)"|(\S+))')
_PHRASE = re.compile(rf'"([^"\n]{{1,{MAX_PHRASE_CHARS}}})"')


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query split into what each part of the engine needs."""

    text: str
    terms: tuple[tuple[str, float], ...]
    phrases: tuple[tuple[str, ...], ...]
    paths: tuple[str, ...]
    languages: tuple[str, ...]
    symbols: tuple[str, ...]
    title_terms: frozenset[str] = frozenset()

    @property
    def has_filters(self) -> bool:
        """True if any `path:`, `lang:` or `sym:` filter was given."""
        return bool(self.paths or self.languages or self.symbols)

    @property
    def is_empty(self) -> bool:
        """True if nothing in the query can match anything."""
        return not (self.terms or self.phrases or self.has_filters)


def parse_query(text: str) -> ParsedQuery:
    """Parse `text`; never raises."""
    filters: dict[str, list[str]] = {"path": [], "lang": [], "sym": []}

    def take_filter(match: re.Match[str]) -> str:
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if value:
            filters[match.group(1)].append(value)
        return " "

    rest = _FILTER.sub(take_filter, text)
    phrases = _phrases(rest)
    return ParsedQuery(
        text=text,
        terms=weighted_terms(tokenize(rest)),
        phrases=phrases,
        paths=tuple(filters["path"]),
        languages=tuple(v.lower() for v in filters["lang"]),
        symbols=tuple(filters["sym"]),
        title_terms=frozenset(tokenize(_title(rest))),
    )


def _title(text: str) -> str:
    """The first non-empty line of a multi-line text (an issue's summary), else nothing."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) > 1 else ""


def _phrases(text: str) -> tuple[tuple[str, ...], ...]:
    found: list[tuple[str, ...]] = []
    for match in _PHRASE.finditer(text):
        tokens = tuple(tokenize(match.group(1)))
        if len(tokens) > 1 and tokens not in found:
            found.append(tokens)
        if len(found) == MAX_PHRASES:
            break
    return tuple(found)


def weighted_terms(tokens: list[str]) -> tuple[tuple[str, float], ...]:
    """Unique tokens with a weight growing with their repetition (1 + ln tf), first seen first.

    At most MAX_TERMS are kept, the most repeated ones when a long text has more.
    """
    counts = Counter(tokens)
    order = list(counts)
    if len(order) > MAX_TERMS:
        keep = set(sorted(order, key=lambda t: -counts[t])[:MAX_TERMS])
        order = [t for t in order if t in keep]
    return tuple((t, 1.0 + math.log(counts[t])) for t in order)
