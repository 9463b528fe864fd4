"""Gather candidates and raw signal values for fusion from the index and the side store.

The engine calls `collect`; everything here works on file ids (rows of the side store).
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tantivy

from atlas.errors import IndexCorrupt
from atlas.index.reader import IndexReader, StoredDoc
from atlas.query.bm25 import path_filter_query
from atlas.query.fuse import FusionWeights
from atlas.query.mentions import Mentions
from atlas.query.paths import PathIndex
from atlas.query.syntax import ParsedQuery
from atlas.signals.store import SideStore, csr_file_id, csr_row
from atlas.terms import word_hash


@dataclass(slots=True)
class Signals:
    """Raw values per signal (signal → fid → value), where BM25 found each file, and the stored documents the
    search has read so far (a `sym:` search reads every candidate's, the hits read theirs again otherwise)."""

    raw: dict[str, dict[int, float]] = field(default_factory=dict)
    addresses: dict[int, tantivy.DocAddress] = field(default_factory=dict)
    docs: dict[int, StoredDoc] = field(default_factory=dict)

    def candidates(self) -> list[int]:
        """Every file some signal has an opinion on."""
        seen: dict[int, None] = {}
        for values in self.raw.values():
            seen.update(dict.fromkeys(values))
        return list(seen)


TIE_MARGIN = 32
"""Hits fetched past a search's limit to find those tied with its last one (see `top_hits`)."""


def top_hits(reader: IndexReader, query: tantivy.Query, limit: int) -> list[tuple[float, tantivy.DocAddress]]:
    """The top `limit` hits of `query`, and the hits tied with the last of them (up to TIE_MARGIN more).

    tantivy keeps the tied documents at the cut that lie first in its segments, and an updated index lays them out
    otherwise than a rebuild of the same tree: keeping the whole tie makes both keep the same files.
    """
    hits = reader.search(query, limit + TIE_MARGIN)
    if len(hits) <= limit:
        return hits
    last = hits[limit - 1][0]
    return hits[:limit] + [hit for hit in hits[limit:] if hit[0] == last]


def bm25_signal(reader: IndexReader, query: tantivy.Query, limit: int, signals: Signals) -> None:
    """Top `limit` BM25 hits (and those tied with the last, see `top_hits`) as the `bm25` signal."""
    hits = top_hits(reader, query, limit)
    fids = reader.fids(hits)
    signals.raw["bm25"] = {fid: score for fid, (score, _) in zip(fids, hits, strict=True)}
    signals.addresses = {fid: address for fid, (_, address) in zip(fids, hits, strict=True)}


def path_mention_signal(paths: PathIndex, mentions: Mentions, weights: FusionWeights, signals: Signals) -> None:
    """Files named by path or module: Σ over mentions of matched-suffix length / ambiguity."""
    scores: dict[int, float] = defaultdict(float)
    lookups = [paths.find_path(p) for p in mentions.paths] + [paths.find_module(m) for m in mentions.modules]
    for fids, length in lookups:
        if fids and len(fids) <= weights.max_path_ambiguity:
            for fid in fids:
                scores[fid] += length / len(fids)
    signals.raw["path_mention"] = dict(scores)


def linked_signal(paths: PathIndex, mentions: Mentions, weights: FusionWeights, signals: Signals) -> None:
    """Files the query links to (`Mentions.linked`: a code host's link to the file, `line 12 of x.py`): the reporter
    points at the place, which a path merely named (a traceback's outer frames, a module imported) does not. A link
    counts when the repository has all of its path but the two first parts (a ref, `branch/main`): a link into
    another project (`…/blob/main/src/util/io.py`) is not a link to a file that only shares its name."""
    scores: dict[int, float] = defaultdict(float)
    for mention in mentions.linked:
        fids, length = paths.find_path(mention)
        if fids and length >= mention.count("/") - 1 and len(fids) <= weights.max_path_ambiguity:
            for fid in fids:
                scores[fid] += 1.0 / len(fids)
    signals.raw["linked"] = dict(scores)


def symbol_mention_signal(reader: IndexReader, mentions: Mentions, limit: int, signals: Signals) -> None:
    """Files defining identifiers the query names exactly, scored by BM25 on the symbols field.

    A stack frame's (container, function) pair counts for files defining both names.
    """
    terms = list(dict.fromkeys(_symbol_term(name) for name in mentions.identifiers))
    pairs = [(_symbol_term(container), _symbol_term(function)) for container, function in mentions.frames]
    if not terms and not pairs:
        return
    term = tantivy.Query.term_query
    clauses = [(tantivy.Occur.Should, term(reader.schema, "symbols", t)) for t in terms]
    clauses += [
        (tantivy.Occur.Should, tantivy.Query.boolean_query([(tantivy.Occur.Must, term(reader.schema, "symbols", name))
                                                            for name in pair]))
        for pair in dict.fromkeys(pairs)
    ]  # fmt: skip
    hits = top_hits(reader, tantivy.Query.boolean_query(clauses), limit)
    fids = reader.fids(hits)
    signals.raw["symbol_mention"] = {fid: score for fid, (score, _) in zip(fids, hits, strict=True)}
    for fid, (_, address) in zip(fids, hits, strict=True):
        signals.addresses.setdefault(fid, address)


def _symbol_term(name: str) -> str:
    return name.lower().strip("_")


def neighbour_signals(store: SideStore, weights: FusionWeights, signals: Signals) -> None:
    """Co-change partners and import neighbours of the best files, weighted by 1/rank of the source.

    A co-change pair counts only with at least `cochange_min_support` shared commits: one
    shared commit (often a bulk import) is no evidence.
    """
    seeds = _seeds(signals, weights.expand_top, store.paths)
    if not seeds:
        return
    if _has_csr(store, "cochange"):
        confidence, support = store.get("cochange_confidence_data"), store.get("cochange_data")
        signals.raw["cochange"] = _spread(
            store, "cochange", seeds, weights.max_fanout,
            lambda offset: float(confidence[offset]) if support[offset] >= weights.cochange_min_support else 0.0,
        )  # fmt: skip
    if _has_csr(store, "imports"):
        signals.raw["imports"] = _spread(store, "imports", seeds, weights.max_fanout, lambda offset: 1.0)


def _has_csr(store: SideStore, name: str) -> bool:
    indptr, indices = store.get(f"{name}_indptr"), store.get(f"{name}_indices")
    return indptr is not None and indices is not None and len(indptr) > 1


def _spread(
    store: SideStore, name: str, seeds: list[int], max_fanout: int, strength: Callable[[int], float]
) -> dict[int, float]:
    """Scores of the CSR neighbours (`name_*` arrays) of `seeds`; IndexCorrupt when a row is damaged."""
    scores: dict[int, float] = defaultdict(float)
    for rank, fid in enumerate(seeds, 1):
        offsets = csr_row(store, name, fid)
        if offsets is None or len(offsets) > max_fanout:
            continue  # a hub (a header everything includes) says nothing about any one neighbour
        for offset in offsets:
            partner, value = csr_file_id(store, name, offset), strength(offset)
            if partner != fid and value > 0:
                scores[partner] += value / rank
    return dict(scores)


def _seeds(signals: Signals, top: int, paths: Sequence[str]) -> list[int]:
    """The best files by BM25 and by path mention; equal scores in path order, not file-id order, so
    that indexes of one tree whose ids differ (updated, rebuilt, assembled from shards) agree."""
    if top <= 0:
        return []
    bm25 = sorted(signals.raw.get("bm25", {}).items(), key=lambda kv: (-kv[1], paths[kv[0]]))
    named = sorted(signals.raw.get("path_mention", {}).items(), key=lambda kv: (-kv[1], paths[kv[0]]))
    return list(dict.fromkeys(fid for fid, _ in named[:top] + bm25[:top]))


def proximity_signal(
    reader: IndexReader, query: tantivy.Query, limit: int, candidates: list[int], signals: Signals
) -> None:
    """The candidates among the top `limit` hits of `query` (the query's word pairs as phrases) as the
    `proximity` signal: it reorders candidates and brings none."""
    hits = top_hits(reader, query, limit)
    fids = reader.fids(hits)
    kept = set(candidates)
    signals.raw["proximity"] = {fid: score for fid, (score, _) in zip(fids, hits, strict=True) if fid in kept}


def static_signals(store: SideStore, candidates: list[int], signals: Signals) -> None:
    """Query-independent signals (PageRank, git recency) for the candidates."""
    for name, array_name in (("pagerank", "pagerank"), ("recency", "git_decayed")):
        array = store.get(array_name)
        if array is not None:
            values = {fid: float(array[fid]) for fid in candidates}
            signals.raw[name] = {fid: value for fid, value in values.items() if value > 0}


COMMIT_WORDS_K1 = 1.2
COMMIT_WORDS_B = 0.75
COMMON_WORD_SHARE = 0.25


def commit_words_signal(store: SideStore, terms: Sequence[tuple[str, float]], limit: int, signals: Signals) -> None:
    """BM25 of the query's words against each file's commit messages (`commit_words`): the words a project
    used for the changes that touched a file, which an issue about it tends to use again. Scores every file
    the words find and keeps the candidates' scores and its `limit` best files (new candidates). Words used for
    more than COMMON_WORD_SHARE of the described files ("fix", "the") are left out: they weigh little and
    cost most."""
    postings = commit_postings(store, terms)
    if postings is None:
        return
    many = postings.count >= VECTOR_POSTINGS or "numpy" in sys.modules
    summed = summed_by_numpy if many else summed_in_python
    signals.raw["commit_words"] = summed(store, postings, set(signals.candidates()), limit)


VECTOR_POSTINGS = 100_000
"""Commit-word postings a search reads past which numpy sums them (imported then, once: 50-100 ms, about what a
Python loop over this many takes); in a process that has numpy already, always. Both give the same floats: each
file's words add up in the same order, each in double precision."""


@dataclass(frozen=True, slots=True)
class CommitPostings:
    """What `commit_words_signal` sums: each query word's span of the postings, with its weight × idf part."""

    spans: list[tuple[int, int, float]]
    files: Sequence[int]
    counts: Sequence[int]
    lengths: Sequence[float]
    average: float

    @property
    def count(self) -> int:
        """How many postings the spans hold."""
        return sum(end - start for start, end, _ in self.spans)


def commit_postings(store: SideStore, terms: Sequence[tuple[str, float]]) -> CommitPostings | None:
    """The postings of the query's words that `commit_words_signal` sums (None: the store has no commit words)."""
    vocab, indptr = store.get("commit_vocab_indices"), store.get("commit_postings_indptr")
    files, counts = store.get("commit_postings_indices"), store.get("commit_postings_data")
    lengths = store.get("commit_words_length")
    if vocab is None or indptr is None or files is None or counts is None or lengths is None or not len(vocab):
        return None
    stats = store.params.get("commit_words", {})
    described, average = max(1, int(stats.get("files", 1))), float(stats.get("average_length", 1.0)) or 1.0
    most = COMMON_WORD_SHARE * described
    spans = []
    for term, weight in terms:
        key = word_hash(term)
        at = bisect.bisect_left(vocab, key)
        if at == len(vocab) or vocab[at] != key:
            continue
        start, end = int(indptr[at]), int(indptr[at + 1])
        if end - start > most:
            continue
        idf = math.log(1 + (described - (end - start) + 0.5) / (end - start + 0.5))
        spans.append((start, end, weight * ((COMMIT_WORDS_K1 + 1) * idf)))
    return CommitPostings(spans, files, counts, lengths, average)


def summed_in_python(store: SideStore, postings: CommitPostings, kept: set[int], limit: int) -> dict[int, float]:
    """`commit_words_signal`'s scores of the `kept` files and of the `limit` best, summed in Python."""
    files, counts, lengths = postings.files, postings.counts, postings.lengths
    norms = _commit_words_norms(store, lengths, postings.average)
    scores: dict[int, float] = defaultdict(float)
    for start, end, weight in postings.spans:
        fids = files[start:end].tolist()
        if fids and not 0 <= min(fids) <= max(fids) < len(lengths):
            raise IndexCorrupt(f"commit_postings_indices.npy: entries {start}-{end} name a file outside {len(lengths)}")
        for fid, tf in zip(fids, counts[start:end].tolist(), strict=True):
            scores[fid] += weight * tf / (tf + norms[fid])
    best = heapq.nsmallest(limit, scores, key=lambda fid: (-scores[fid], store.paths[fid]))  # ties: by path, not id
    kept = kept.union(best)
    return {fid: score for fid, score in scores.items() if fid in kept}


def summed_by_numpy(store: SideStore, postings: CommitPostings, kept: set[int], limit: int) -> dict[int, float]:
    """`summed_in_python` with numpy: a monorepo's words reach hundreds of thousands of postings (300,000: 200 ms in
    Python, 3 ms here). The same files and floats; in file id order (fusion never reads the order)."""
    import numpy as np

    spans, lengths = postings.spans, postings.lengths
    if not spans:
        return {}
    files, counts = np.asarray(postings.files), np.asarray(postings.counts)
    fids = np.concatenate([files[start:end] for start, end, _ in spans]).astype(np.int64)
    if len(fids) and not 0 <= int(fids.min()) <= int(fids.max()) < len(lengths):
        raise IndexCorrupt(f"commit_postings_indices.npy: an entry names a file outside {len(lengths)}")
    tfs = np.concatenate([counts[start:end] for start, end, _ in spans]).astype(np.float64)
    weights = np.concatenate([np.full(end - start, weight) for start, end, weight in spans])
    norms = store.derived.get("commit_words_norms_array")
    if norms is None:  # from the very floats `summed_in_python` uses
        norms = np.asarray(_commit_words_norms(store, lengths, postings.average), dtype=np.float64)
        store.derived["commit_words_norms_array"] = norms
    sums = np.bincount(fids, weights * tfs / (tfs + norms[fids]), minlength=len(lengths))  # adds in input order
    touched = np.zeros(len(lengths), dtype=bool)
    touched[fids] = True
    scored = np.flatnonzero(touched) if limit > 0 else np.zeros(0, dtype=np.int64)
    if len(scored) > limit:  # the `limit` best and every file tied with the last of them, ordered in Python
        least = np.partition(sums[scored], len(scored) - limit)[len(scored) - limit]
        scored = scored[sums[scored] >= least]
    values = {int(fid): float(sums[fid]) for fid in scored}
    wanted = kept.union(heapq.nsmallest(limit, values, key=lambda fid: (-values[fid], store.paths[fid])))
    return {fid: float(sums[fid]) for fid in sorted(wanted) if 0 <= fid < len(lengths) and touched[fid]}


def _commit_words_norms(store: SideStore, lengths: Sequence[float], average: float) -> list[float]:
    """Each file's BM25 length norm for `commit_words_signal`, computed once per loaded store."""
    norms = store.derived.get("commit_words_norms")
    if norms is None:
        k1, b = COMMIT_WORDS_K1, COMMIT_WORDS_B
        norms = store.derived["commit_words_norms"] = [k1 * (1 - b + b * length / average) for length in lengths]
    return norms


def filter_candidates(
    reader: IndexReader, store: SideStore, parsed: ParsedQuery, signals: Signals, candidates: list[int]
) -> list[int]:
    """Apply lang:/path:/sym: filters to candidates that did not come through the filtered BM25 query."""
    if not parsed.has_filters:
        return candidates
    bm25 = signals.raw.get("bm25", {})
    if parsed.symbols:
        return [fid for fid in candidates if fid in bm25]
    languages = store.params.get("languages", [])
    language_codes = store.get("language")
    wanted = {languages.index(lang) for lang in parsed.languages if lang in languages}
    others = [
        fid for fid in candidates
        if fid not in bm25
        and not (parsed.languages and (language_codes is None or int(language_codes[fid]) not in wanted))
    ]  # fmt: skip
    if parsed.paths:
        others = _with_matching_paths(reader, parsed.paths, others)
    kept = set(others)
    return [fid for fid in candidates if fid in bm25 or fid in kept]


def _with_matching_paths(reader: IndexReader, patterns: Sequence[str], fids: list[int]) -> list[int]:
    """The files of `fids` whose path matches one of the `path:` `patterns`, matched by tantivy as the BM25
    query's filter is (see `path_filter_query`)."""
    if not fids:
        return []
    among = ids_query(reader.schema, fids)
    query = tantivy.Query.boolean_query(
        [(tantivy.Occur.Must, path_filter_query(reader.schema, patterns)), (tantivy.Occur.Must, among)]
    )
    hits = reader.search(query, len(fids))
    return list(reader.fids(hits))


IDS_AS_TERMS = 256
"""Up to this many file ids, `ids_query` asks for each id's term (5 µs an id); past it, for the set (tantivy's
term_set_query, 300-550 µs whatever its size)."""


def ids_query(schema: tantivy.Schema, fids: Sequence[int]) -> tantivy.Query:
    """A query matching the documents of files `fids`."""
    if len(fids) > IDS_AS_TERMS:
        return tantivy.Query.term_set_query(schema, "fid", list(fids))
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(schema, "fid", fid))
                                        for fid in fids])  # fmt: skip
