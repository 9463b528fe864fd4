"""One ranking over several indexes (an organisation's repositories): each hit names its repository.

Scores of different indexes are not comparable. BM25 depends on each corpus (its idf and average
length), and the fused score on which signals an index has: an index built without git history has
no recency or co-change terms, so its best file scores lower whatever the query. A rank within its
own index is scale-free, so the indexes are merged by Reciprocal Rank Fusion over those ranks:
`score = 1 / (CROSS_INDEX_K + rank in its index)`. Each file lives in one index, so this interleaves
the indexes rank by rank; at equal ranks the file whose own index scored it higher comes first (more
of its signals agree), then the index named first. A search over one index ranks exactly as it does
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from atlas.records import Hit, ScoreTerm

CROSS_INDEX_K = 60.0
"""RRF's k across indexes (Cormack et al.'s 60). It sets the scale of the merged scores, not their order."""


@dataclass(frozen=True, slots=True)
class RepositoryHits:
    """One index's own ranking: its repository's name and its hits, best first (ranks from 1)."""

    repository: str
    hits: Sequence[Hit]


def merge_rankings(rankings: Sequence[RepositoryHits], limit: int, explain: bool = False) -> list[Hit]:
    """The best `limit` hits of all `rankings`, re-ranked by RRF over their ranks; each names its repository.

    With `explain`, each hit's terms end with an `index` term: its own score (raw) and rank there.
    """
    keyed = [
        (hit.rank, -hit.score, order, hit.path, ranking.repository, hit)
        for order, ranking in enumerate(rankings)
        for hit in ranking.hits
    ]
    keyed.sort(key=lambda item: item[:4])
    merged = []
    for rank, (own_rank, _, _, _, repository, hit) in enumerate(keyed[:limit], 1):
        score = 1.0 / (CROSS_INDEX_K + own_rank)
        terms = (*hit.explain, ScoreTerm("index", hit.score, own_rank, 1.0, score)) if explain else ()
        merged.append(replace(hit, rank=rank, score=round(score, 6), repository=repository, explain=terms))
    return merged


__all__ = ["CROSS_INDEX_K", "RepositoryHits", "merge_rankings"]
