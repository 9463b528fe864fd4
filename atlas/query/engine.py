"""Query-time conductor: syntax → tantivy BM25 candidates → ranking → hits with lines.

An `Engine` holds an open index, so long-lived callers (the MCP server, benchmarks) pay the
open once and each search costs milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from atlas.errors import UsageError
from atlas.index.reader import IndexReader, StoredDoc
from atlas.query.bm25 import build_query
from atlas.query.snippets import best_ranges, matched_symbols
from atlas.query.syntax import ParsedQuery, parse_query
from atlas.records import Hit, ScoreTerm

DEFAULT_CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """How to run one search."""

    limit: int = 10
    languages: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    boosts: dict[str, float] | None = None
    explain: bool = False
    with_lines: bool = True
    candidates: int = DEFAULT_CANDIDATES


@dataclass(slots=True)
class SearchResult:
    """Hits for one query plus what a caller may want to show about it."""

    query: str
    hits: list[Hit]
    took_ms: float
    documents: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A BM25 hit before final ranking."""

    doc: StoredDoc
    bm25: float
    bm25_rank: int


class Engine:
    """Searches one open index rooted at `root`."""

    def __init__(self, root: Path, reader: IndexReader) -> None:
        self.root = root
        self.reader = reader
        self.default_boosts: dict[str, float] = dict(reader.manifest.get("boosts") or {})

    def search(self, text: str, options: SearchOptions | None = None) -> SearchResult:
        """Run `text` as a query; raises UsageError when it has nothing searchable."""
        options = options or SearchOptions()
        started = time.perf_counter()
        parsed = _with_cli_filters(parse_query(text), options)
        if parsed.is_empty:
            raise UsageError(
                "the query has no searchable words",
                "use letters or digits, a quoted phrase, or a path:/lang:/sym: filter",
            )
        candidates = self.candidates(parsed, options)
        ranked = candidates[: options.limit]
        hits = [self._hit(parsed, c, rank, options) for rank, c in enumerate(ranked, 1)]
        took = (time.perf_counter() - started) * 1000
        return SearchResult(text, hits, took, self.reader.num_docs)

    def candidates(self, parsed: ParsedQuery, options: SearchOptions) -> list[Candidate]:
        """BM25 candidates for `parsed`, best first."""
        boosts = options.boosts or self.default_boosts
        query = build_query(self.reader.schema, parsed, boosts)
        limit = max(options.limit, options.candidates)
        return [
            Candidate(self.reader.doc(address), score, rank)
            for rank, (score, address) in enumerate(self.reader.search(query, limit), 1)
        ]

    def _hit(self, parsed: ParsedQuery, candidate: Candidate, rank: int, options: SearchOptions) -> Hit:
        doc = candidate.doc
        terms = {t for t, _ in parsed.terms}
        lines = best_ranges(self.root, doc.path, terms, doc.outline) if options.with_lines else ()
        explain = (
            (ScoreTerm("bm25", candidate.bm25, candidate.bm25_rank, 1.0, candidate.bm25),)
            if options.explain
            else ()
        )
        return Hit(
            path=doc.path,
            score=round(candidate.bm25, 6),
            rank=rank,
            language=doc.language,
            role=doc.role,
            symbols=matched_symbols(doc.outline, terms),
            lines=lines,
            explain=explain,
        )


def _with_cli_filters(parsed: ParsedQuery, options: SearchOptions) -> ParsedQuery:
    return replace(
        parsed,
        languages=parsed.languages + tuple(lang.lower() for lang in options.languages),
        paths=parsed.paths + options.paths,
    )
