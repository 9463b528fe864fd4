"""Ranked candidate files for a task, with scores normalised into 0..1, from the fusion engine.

Fused scores are weighted reciprocal-rank sums (`atlas.query.fuse`), so their scale depends on the
preset's weights. A score here is the fused score divided by its ceiling, the score of a file that
every enabled signal ranks first and whose prior is 1: Σ_signals weight / (RRF_K + 1). So 1.0 means
"best possible on every signal", and `--min-score 0.05` keeps files with at least 5% of that.
The same ceiling is used whatever the index holds, so a score means the same thing in every repo.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atlas.records import ScoreTerm

if TYPE_CHECKING:
    from atlas.context.chunks import FileText
    from atlas.index.reader import IndexReader
    from atlas.query.engine import Engine, SearchOptions
    from atlas.query.fuse import FusionWeights
    from atlas.signals.store import SideStore

Outline = tuple[tuple[str, str, int, int], ...]


@dataclass(slots=True)
class Candidate:
    """A ranked file: normalised score, what it is, and the score terms behind its rank."""

    path: str
    rank: int
    score: float
    language: str
    role: str
    signals: tuple[ScoreTerm, ...] = ()


@dataclass(slots=True)
class Ranked:
    """Candidates best first, the files considered, query-term weights and how to get a file's outline."""

    candidates: list[Candidate]
    scanned_files: int
    term_weights: dict[str, float]
    outline_for: Callable[[FileText], Outline]
    """The outline of a file as read now."""
    notes: list[str] = field(default_factory=list)


def score_ceiling(weights: FusionWeights) -> float:
    """The fused score of a file ranked first by every enabled signal, with prior 1."""
    from atlas.query.fuse import SIGNALS

    return sum(max(weights.signal_weight(s), 0.0) for s in SIGNALS) / (weights.rrf_k + 1.0)


def rank_with_engine(engine: Engine, task: str, options: SearchOptions) -> Ranked:
    """Search `task` with `options` (explain on, no line ranges) and normalise the scores."""
    from dataclasses import replace

    result = engine.search(task, replace(options, explain=True, with_lines=False))
    ceiling = score_ceiling(options.weights) or 1.0
    candidates = [
        Candidate(hit.path, hit.rank, round(min(1.0, hit.score / ceiling), 6), hit.language, hit.role, hit.explain)
        for hit in result.hits
    ]
    weights = term_weights(engine.reader, engine.without_boilerplate(task), options.weights.title_boost)
    outline = _stored_outline(engine.reader, engine.store)
    return Ranked(candidates, engine.reader.num_docs, weights, outline, list(result.notes))


def term_weights(reader: IndexReader, task: str, title_boost: float = 1.0) -> dict[str, float]:
    """Query term → weight for chunk scoring: repetition weight × BM25 idf over file contents.

    Terms no file contains are left out; issue-title terms weigh `title_boost` times more.
    """
    from atlas.query.syntax import parse_query

    parsed = parse_query(task)
    total = max(reader.num_docs, 1)
    weights: dict[str, float] = {}
    doc_freqs = reader.doc_freqs("content", (term for term, _ in parsed.terms))
    for term, weight in parsed.terms:
        df = doc_freqs[term]
        if df:
            boost = title_boost if term in parsed.title_terms else 1.0
            weights[term] = weight * boost * math.log(1.0 + (total - df + 0.5) / (df + 0.5))
    return weights


def _stored_outline(reader: IndexReader, side: SideStore | None) -> Callable[[FileText], Outline]:
    """A look-up of a file's outline: the one stored in the index while the file is as it was when indexed, else
    the file parsed on the spot (an edit since indexing moved its definitions, and the stored ranges would cut
    the text in the wrong places); empty when the index does not know the file. An index that records no
    content digests is trusted while the file has as many lines as it had."""
    import tantivy

    indexed_lines = side.get("lines") if side else None

    def outline(file: FileText) -> Outline:
        """The outline of `file`."""
        query = tantivy.Query.term_query(reader.schema, "path", file.path)
        hits = reader.search(query, 1)
        if not hits:
            return ()
        doc = reader.doc(hits[0][1])
        as_indexed = side.holds_text(doc.fid, file.raw, file.stamp) if side else None
        if as_indexed is None:
            as_indexed = indexed_lines is not None and doc.fid < len(indexed_lines)
            as_indexed = as_indexed and indexed_lines[doc.fid] == len(file.lines)
        if as_indexed:
            return doc.outline
        from atlas.context.fast import parse_outline

        return parse_outline(file.path, file.text.encode("utf-8", "replace"))

    return outline
