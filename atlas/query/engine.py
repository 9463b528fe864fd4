"""Query-time conductor: syntax → BM25 and exact-name candidates → signals → weighted RRF → hits.

An `Engine` holds an open index and its side store (read into memory), so long-lived callers (the
MCP server, benchmarks) pay the open once and each search costs milliseconds.
"""

from __future__ import annotations

import functools
import heapq
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import tantivy

from atlas import native_stderr
from atlas.config import remembered_boosts
from atlas.errors import IndexCorrupt
from atlas.ignore_stamps import IgnoreStamps
from atlas.index.reader import IndexReader, StoredDoc, open_index
from atlas.index.store import current_generation
from atlas.query import ranking
from atlas.query.bm25 import build_query, pair_query, template_query
from atlas.query.boilerplate import Boilerplate, read_templates
from atlas.query.fuse import Fused, FusionWeights, Intent, detect_intent, fuse, prior, weights_for
from atlas.query.mentions import find_mentions, named_lines
from atlas.query.paths import PathIndex
from atlas.query.snippets import best_ranges, matched_symbols
from atlas.query.syntax import ParsedQuery, check_languages, check_path_filters, parse_query, searchable
from atlas.records import Hit, Role, ScoreTerm
from atlas.safe_read import in_tree, visible
from atlas.signals.store import SideStore, load_store
from atlas.terms import inflections, tokenize

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from atlas.query.symbols import Defined

ROLE_NAMES = [str(role) for role in Role]
SALIENT_DOC_SHARE = 0.05
"""A term in at most this share of files is salient enough to pick line ranges by."""
MAX_SALIENT_TERMS = 24
HELD_TERMS_A_LOOKUP = 20
"""Terms whose presence one index query tells for a search's hits (see `Engine._held_terms`): their sums of powers
of two stay exact in a 32-bit float's 24-bit significand."""
MAX_TEMPLATE_CANDIDATES = 256
"""Files whose path words look like an issue template's, read for `Engine.boilerplate` (a few in practice)."""
MAX_SYMBOLS_PER_HIT = 20
"""Matched definitions listed per hit; a generated file can define tens of thousands that match."""
MAX_POINTED_LINES = 2
"""Lines the query names in a hit (a traceback's, a link's) shown before its best-matching ones: a long
traceback through one file would leave no room for those."""


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """How to run one search."""

    limit: int = 10
    languages: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    boosts: dict[str, float] | None = None
    explain: bool = False
    with_lines: bool = True
    weights: FusionWeights = field(default_factory=weights_for)
    signals: tuple[str, ...] | None = None


@dataclass(slots=True)
class SearchResult:
    """Hits for one query plus what a caller may want to show about it."""

    query: str
    hits: list[Hit]
    took_ms: float
    documents: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """The notes a caller tells whatever it shows (the CLI on stderr, in every format): the hits are not what the tree
    holds, as when a cache restored from another commit names files deleted since."""


@dataclass(frozen=True, slots=True)
class Candidates:
    """The inputs of fusion for one query, keyed by file id."""

    paths: dict[int, str]
    raw: dict[str, dict[int, float]]  # signal → fid → raw value
    roles: dict[int, str]
    flags: dict[int, int]
    intent: Intent


class Engine:
    """Searches one open index rooted at `root`."""

    def __init__(self, root: Path, reader: IndexReader) -> None:
        self.root = root
        self._open(reader)

    def _open(self, reader: IndexReader) -> None:
        self.reader = reader
        self.default_boosts: dict[str, float] = remembered_boosts(reader.manifest.get("boosts"))
        self.store: SideStore | None = load_store(reader.generation)
        self.ignore_stamps = IgnoreStamps.of(reader.manifest.get("ignore_files"))
        """The stamps of the ignore files the build read; None for an index built without (`atlas.query.left_out`)."""
        self._paths: PathIndex | None = None
        self._boilerplate: Boilerplate | None = None

    def check_index(self) -> None:
        """Make sure no file the engine maps was changed in place since it opened the index (a `cp` of a cached
        index over the live one): the next touch of a page past a truncated file's end would kill the process with
        SIGBUS. Such an engine opens the index CURRENT names when that is another generation (published whole), and
        raises IndexCorrupt otherwise. Costs a directory read and a `stat` per segment file; called by every search.
        A file truncated while a search runs is not caught: the map is read without a check."""
        changed = self.reader.rewritten_in_place()
        if not changed:
            return
        generation = self.reader.generation
        live = current_generation(generation.parent)
        if live is None or live.name == generation.name:
            raise IndexCorrupt(
                f"{generation}: {changed} was changed in place while this engine held the index open",
                "re-run `atlas index` (with --rebuild if it fails), then search again",
            )
        self._open(open_index(generation.parent))

    @property
    def path_index(self) -> PathIndex:
        """Suffix tables over the indexed paths, built on first use."""
        if self._paths is None:
            self._paths = PathIndex(self.store.paths if self.store else [])
        return self._paths

    @property
    def boilerplate(self) -> Boilerplate:
        """The repository's issue and pull-request templates (indexed files, read on first use)."""
        if self._boilerplate is None:
            found = self.reader.search(template_query(self.reader.schema), MAX_TEMPLATE_CANDIDATES)
            paths = sorted(self.reader.doc(address).path for _, address in found)
            self._boilerplate = read_templates(self.root, paths)
        return self._boilerplate

    def without_boilerplate(self, text: str) -> str:
        """`text` without the lines that repeat the repository's issue templates (see `atlas.query.boilerplate`)."""
        return self.boilerplate.without_repeats(text) if "\n" in text else text

    @native_stderr.held()  # one hold of stderr for the search's hundreds of tantivy calls (see atlas.native_stderr)
    def search(self, text: str, options: SearchOptions | None = None) -> SearchResult:
        """Run `text` as a query; raises UsageError when it has nothing searchable."""
        options = options or SearchOptions()
        started = time.perf_counter()
        self.check_index()
        query = self.without_boilerplate(text)
        parsed, doc_freqs, signals, forms = self._gather(query, options)
        defined = self._named_definitions(parsed, signals)
        ranked = self._rank(parsed, signals, options, {fid: int(not d.same_case) for fid, d in defined.items()})
        ranked = ranked[: options.limit]
        named = self._named_symbols(parsed)
        salient: dict[str, float] = {}
        if options.with_lines and ranked:
            salient = self._salient_terms(doc_freqs, forms, options.weights.inflection_weight)
            salient |= {t: _idf(self.reader.doc_freq("content", t), self.reader.num_docs) for t in named}
        terms = {t for t, _ in parsed.terms}.union(named, *forms.values())
        held = self._held_terms([item.fid for item in ranked], salient)
        pointed = self._named_lines(parsed.text, ranked) if options.with_lines else {}
        hits = [
            self._hit(terms, item, rank, signals, options, salient, defined.get(item.fid), held.get(item.fid, set()),
                      pointed.get(item.fid, ()))
            for rank, item in enumerate(ranked, 1)
        ]  # fmt: skip
        took = (time.perf_counter() - started) * 1000
        warnings = _gone_note(self.root, hits)
        notes = self.notes() + _template_note(text, query) + warnings
        return SearchResult(text, hits, took, self.reader.num_docs, notes, warnings)

    @native_stderr.held()
    def candidates(self, text: str, options: SearchOptions | None = None) -> Candidates:
        """What fusion ranks for `text`: every candidate's raw signal values, role and path flags.

        `search` fuses exactly these; perf/fit.py fits the fusion's constants on them offline.
        """
        self.check_index()
        parsed, _, signals, _ = self._gather(self.without_boilerplate(text), options or SearchOptions())
        fids = signals.candidates()
        roles, flags = (self.store.get("role"), self.store.get("path_flags")) if self.store else (None, None)
        return Candidates(
            paths={fid: self.store.paths[fid] if self.store else self._doc(fid, signals).path for fid in fids},
            raw=signals.raw,
            roles={fid: ROLE_NAMES[int(roles[fid])] for fid in fids} if roles is not None else {},
            flags={fid: int(flags[fid]) for fid in fids} if flags is not None else {},
            intent=detect_intent([t for t, _ in parsed.terms]),
        )

    def _gather(
        self, text: str, options: SearchOptions
    ) -> tuple[ParsedQuery, dict[str, int], ranking.Signals, dict[str, tuple[str, ...]]]:
        """The parsed query, its terms' document frequencies, every signal's raw values, and the other
        forms of its terms that matched for them (see `_inflected`)."""
        parsed = _parse(text, options)
        check_path_filters(str(self.root), parsed.paths)
        self._check_languages(parsed.languages)
        doc_freqs = self.reader.doc_freqs("content", (t for t, _ in parsed.terms))
        signals, forms = self._signals(parsed, options, doc_freqs)
        return parsed, doc_freqs, signals, forms

    def _check_languages(self, languages: tuple[str, ...]) -> None:
        """UsageError naming the known languages when a `lang:` filter asks for one Atlas never detects."""
        check_languages(languages, self.store.params.get("languages", []) if self.store else [])

    def notes(self) -> list[str]:
        """Why some signals are absent from this index, if they are."""
        if self.store is None:
            return ["this index has no side store: ranking is BM25 only (rebuild with `atlas index --rebuild`)"]
        git = self.store.params.get("git", {})
        if not git.get("available"):
            return [f"git signals absent: {git.get('reason') or 'unknown reason'}"]
        return [f"git history incomplete: {git['reason']}"] if git.get("reason") else []

    def _signals(
        self, parsed: ParsedQuery, options: SearchOptions, doc_freqs: dict[str, int]
    ) -> tuple[ranking.Signals, dict[str, tuple[str, ...]]]:
        """Every signal's raw values for `parsed`, and the other forms its words matched by."""
        weights = options.weights
        signals = ranking.Signals()
        limit = weights.common_term_share * self.reader.num_docs
        common = frozenset(t for t, df in doc_freqs.items() if df > limit)
        boosts = options.boosts or self.default_boosts
        weighted = _most_telling(_title_weighted(parsed, weights.title_boost), doc_freqs, self.reader.num_docs,
                                 weights.query_terms)  # fmt: skip
        forms = self._inflected(weighted, common) if weights.inflection_weight > 0 else {}
        query = build_query(self.reader.schema, weighted, boosts, common, forms, weights.inflection_weight)
        ranking.bm25_signal(self.reader, query, max(options.limit, weights.candidates), signals)
        if self.store is None:
            return signals, forms
        mentions = find_mentions(parsed.text)
        if weights.path_mention > 0 and (mentions.paths or mentions.modules):
            ranking.path_mention_signal(self.path_index, mentions, weights, signals)
        if weights.linked > 0 and mentions.linked:
            ranking.linked_signal(self.path_index, mentions, weights, signals)
        if weights.symbol_mention > 0:
            ranking.symbol_mention_signal(self.reader, mentions, weights.symbol_mention_limit, signals)
        ranking.neighbour_signals(self.store, weights, signals)
        if weights.commit_words > 0:
            ranking.commit_words_signal(self.store, weighted.terms, weights.commit_words_limit, signals)
        _drop_disabled(signals, options)
        candidates = ranking.filter_candidates(self.reader, self.store, parsed, signals, signals.candidates())
        if _enabled("proximity", options) and (
            pairs := _telling_pairs(weighted, doc_freqs, common, self.reader.num_docs, weights.proximity_pairs)
        ):
            query = pair_query(self.reader.schema, pairs)
            ranking.proximity_signal(self.reader, query, max(options.limit, weights.candidates), candidates, signals)
        ranking.static_signals(self.store, candidates, signals)
        _drop_disabled(signals, options)
        kept = set(candidates)
        signals.raw = {name: {f: v for f, v in values.items() if f in kept} for name, values in signals.raw.items()}
        return signals, forms

    def _inflected(self, parsed: ParsedQuery, common: frozenset[str]) -> dict[str, tuple[str, ...]]:
        """Per query term but the common ones, its other forms that some file's text holds (`parsing` →
        parse, parser): the content field holds words as written, without stems."""
        forms = {term: inflections(term) for term, _ in parsed.terms if term not in common}
        counts = self.reader.doc_freqs("content", {form: None for each in forms.values() for form in each})
        return {term: present for term, each in forms.items() if (present := tuple(f for f in each if counts[f]))}

    def _held_terms(self, fids: list[int], terms: dict[str, float]) -> dict[int, set[str]]:
        """Which of `terms` each of `fids` holds in its text, from the index, HELD_TERMS_A_LOOKUP terms a query:
        each term scores its own power of two, so a file's score spells which it holds (tantivy's f32 scores add
        such sums exactly). Searching each file's text for each term costs ten times more (most are absent), and
        a query per term costs 25 µs a term."""
        if not fids or not terms:
            return {}
        schema, query = self.reader.schema, tantivy.Query
        among = query.const_score_query(ranking.ids_query(schema, fids), 0.0)
        listed = list(terms)
        held: dict[int, set[str]] = {}
        for at in range(0, len(listed), HELD_TERMS_A_LOOKUP):
            some = listed[at : at + HELD_TERMS_A_LOOKUP]
            spelled = [(tantivy.Occur.Must, among)] + [
                (tantivy.Occur.Should, query.const_score_query(query.term_query(schema, "content", term), 2.0**bit))
                for bit, term in enumerate(some)
            ]
            hits = self.reader.search(query.boolean_query(spelled), len(fids))
            for fid, (score, _) in zip(self.reader.fids(hits), hits, strict=True):
                bits = round(score)
                if bits:
                    held.setdefault(fid, set()).update(term for bit, term in enumerate(some) if bits >> bit & 1)
        return held

    def _named_lines(self, text: str, ranked: list[Fused]) -> dict[int, tuple[int, ...]]:
        """Per hit, the lines `text` names in it (a traceback frame's, a link's `#L12`, `line 12 of x.py`), first
        named first, at most MAX_POINTED_LINES: only where the named path denotes that one file."""
        wanted = {item.fid for item in ranked}
        pointed: dict[int, list[int]] = {}
        for mention in named_lines(text):
            found, length = self.path_index.find_path(mention.path)
            if len(found) == 1 and length >= mention.parts and found[0] in wanted:
                lines = pointed.setdefault(found[0], [])
                if mention.line not in lines and len(lines) < MAX_POINTED_LINES:
                    lines.append(mention.line)
        return {fid: tuple(lines) for fid, lines in pointed.items()}

    def _named_symbols(self, parsed: ParsedQuery) -> set[str]:
        """The whole-name tokens of the query's `sym:` filters (`Exists` → exists), which a hit's definitions
        and line ranges show."""
        if not parsed.symbols:
            return set()
        from atlas.query.symbols import name_token  # only `sym:` queries pay for its import (~2 ms)

        return {token for name in parsed.symbols if (token := name_token(name))}

    def _named_definitions(self, parsed: ParsedQuery, signals: ranking.Signals) -> dict[int, Defined]:
        """For a query with `sym:` filters, the candidates defining a filter's name, and where. The filter
        itself only asks for the name's word among a file's definition names (`exists` of `key_exists`), where
        BM25 favours files that define few names; these files rank first, those with the name's case before
        the others, and their hits show the definitions first."""
        if not parsed.symbols:
            return {}
        from atlas.query.symbols import Defined, definitions

        docs = [self._doc(fid, signals) for fid in signals.candidates()]
        defined: dict[int, Defined] = {}
        for name in parsed.symbols:
            for fid, found in definitions(docs, name).items():
                if fid in defined:
                    before = defined[fid]
                    found = Defined(before.same_case or found.same_case, before.lines + found.lines)
                defined[fid] = found
        return defined

    def _rank(
        self, parsed: ParsedQuery, signals: ranking.Signals, options: SearchOptions, tiers: dict[int, int]
    ) -> list[Fused]:
        """Fused candidates, best first; the files in `tiers` (fid → tier) first, by tier."""
        candidates = signals.candidates()
        if self.store is None:
            return fuse(candidates, signals.raw, {}, options.weights, tiers=tiers, limit=options.limit)
        intent = detect_intent([t for t, _ in parsed.terms])
        roles, flags = self.store.get("role"), self.store.get("path_flags")
        have_priors = roles is not None and flags is not None
        priors = _priors(candidates, roles, flags, options.weights, intent) if have_priors else {}
        paths = self.store.paths
        return fuse(candidates, signals.raw, priors, options.weights, paths.__getitem__, tiers, options.limit)

    def _salient_terms(
        self, doc_freqs: dict[str, int], forms: dict[str, tuple[str, ...]], form_share: float
    ) -> dict[str, float]:
        """The query terms worth highlighting, with their idf: rare ones (or the rarest few), at most
        MAX_SALIENT_TERMS; a query with fewer fills the rest with their other `forms` that are rare too, the
        rarest first, at `form_share` of their idf (where a file says "parse" for the query's "parsing").
        Terms no file holds (a link's `blob`, a reporter's paths) are the rarest of all and mark no line."""
        rare_idf = math.log(1 + 1 / SALIENT_DOC_SHARE)
        idf = {t: _idf(df, self.reader.num_docs) for t, df in doc_freqs.items()}
        held = {t: w for t, w in idf.items() if doc_freqs[t]}
        rare = {t: w for t, w in held.items() if w >= rare_idf}
        chosen = dict(sorted((rare or held).items(), key=lambda kv: -kv[1])[:MAX_SALIENT_TERMS])
        least = rare_idf if max(idf.values(), default=0.0) >= rare_idf else 0.0
        other: dict[str, float] = {}
        for term in sorted(idf, key=idf.__getitem__, reverse=True)[:MAX_SALIENT_TERMS]:
            for form in forms.get(term, ()):
                form_idf = _idf(self.reader.doc_freq("content", form), self.reader.num_docs)
                if form_idf >= least and form not in chosen:
                    other[form] = form_idf * form_share
        room = MAX_SALIENT_TERMS - len(chosen)
        return chosen | dict(sorted(other.items(), key=lambda kv: -kv[1])[: max(0, room)])

    def _hit(
        self,
        terms: set[str],
        item: Fused,
        rank: int,
        signals: ranking.Signals,
        options: SearchOptions,
        salient: dict[str, float],
        defined: Defined | None,
        held: set[str],
        pointed: Sequence[int] = (),
    ) -> Hit:
        doc = self._doc(item.fid, signals)
        first = defined.lines if defined else ()
        in_file = {term: weight for term, weight in salient.items() if term in held}
        as_indexed = functools.partial(self.store.holds_text, doc.fid) if self.store is not None else None
        lines = ()
        if options.with_lines:
            lines = best_ranges(self.root, doc.path, in_file, doc.outline, first, as_indexed, pointed)
        symbols, omitted = best_symbols(matched_symbols(doc.outline, terms), terms)
        return Hit(
            path=doc.path,
            score=round(item.score, 6),
            rank=rank,
            language=doc.language,
            role=doc.role,
            symbols=symbols,
            symbols_omitted=omitted,
            lines=lines,
            explain=tuple(item.terms) if options.explain else (),
        )

    def _doc(self, fid: int, signals: ranking.Signals) -> StoredDoc:
        doc = signals.docs.get(fid)
        if doc is not None:
            return doc
        address = signals.addresses.get(fid)
        if address is None:
            query = tantivy.Query.term_query(self.reader.schema, "fid", fid)
            address = self.reader.search(query, 1)[0][1]
        doc = signals.docs[fid] = self.reader.doc(address)
        return doc


def _priors(
    candidates: list[int],
    roles: np.ndarray | memoryview,
    flags: np.ndarray | memoryview,
    weights: FusionWeights,
    intent: Intent,
) -> dict[int, float]:
    """Each candidate's prior (see `prior`), computed once per distinct role and path flags."""
    keys = [(int(roles[fid]), int(flags[fid])) for fid in candidates]
    table = {key: prior(weights, ROLE_NAMES[key[0]], key[1], intent) for key in set(keys)}
    return {fid: table[key] for fid, key in zip(candidates, keys, strict=True)}


def _parse(text: str, options: SearchOptions) -> ParsedQuery:
    return searchable(_with_cli_filters(parse_query(text), options))


def _template_note(text: str, query: str) -> list[str]:
    """A note saying how many lines of `text` were left out as template lines, if any were."""
    dropped = len(text.splitlines()) - len(query.splitlines())
    if not dropped:
        return []
    lines = f"{dropped} line{'s' if dropped > 1 else ''}"
    return [f"left out {lines} of the query that repeat the repository's issue templates"]


def _gone_note(root: Path, hits: list[Hit]) -> list[str]:
    """A note naming the hits whose files are no longer in the work tree (deleted, or a checkout since the index
    was built), if any are: their paths come from the index, and nothing else says it is behind the tree."""
    gone = [hit.path for hit in hits if not in_tree(root, hit.path)]
    if not gone:
        return []
    which = f"{len(gone)} of the hits name files" if len(gone) > 1 else "a hit names a file"
    return [f"{which} no longer in the work tree ({visible(gone[0])}{', ...' if len(gone) > 1 else ''}): "
            "the index is older than the tree; run `atlas index`"]


def _drop_disabled(signals: ranking.Signals, options: SearchOptions) -> None:
    """Remove signals switched off by `options.signals` or a zero weight, candidates they brought included."""
    signals.raw = {name: values for name, values in signals.raw.items() if _enabled(name, options)}


def _enabled(signal: str, options: SearchOptions) -> bool:
    """True unless `options.signals` leaves `signal` out or its weight is zero."""
    return (options.signals is None or signal in options.signals) and options.weights.signal_weight(signal) > 0


def _title_weighted(parsed: ParsedQuery, boost: float) -> ParsedQuery:
    """Terms of an issue's summary line weigh `boost` times more than the body's."""
    if boost == 1.0 or not parsed.title_terms:
        return parsed
    terms = tuple((t, w * boost if t in parsed.title_terms else w) for t, w in parsed.terms)
    return replace(parsed, terms=terms)


def _most_telling(parsed: ParsedQuery, doc_freqs: dict[str, int], documents: int, limit: int) -> ParsedQuery:
    """`parsed` with only its `limit` terms of highest weight × idf (all of a shorter query's).

    A long bug report names a few rare things among hundreds of common words; each common word adds a
    little to every large file that contains it, and together they outvote the rare ones. Terms no file
    contains rank last.
    """
    if len(parsed.terms) <= limit:
        return parsed

    def telling(item: tuple[str, float]) -> float:
        df = doc_freqs.get(item[0], 0)
        return item[1] * _idf(df, documents) if df else 0.0

    kept = {term for term, _ in heapq.nlargest(limit, parsed.terms, key=telling)}
    return replace(parsed, terms=tuple(item for item in parsed.terms if item[0] in kept))


def _telling_pairs(
    weighted: ParsedQuery, doc_freqs: dict[str, int], common: frozenset[str], documents: int, limit: int
) -> list[tuple[tuple[str, str], float]]:
    """At most `limit` of the query's word pairs whose words are both among its kept terms and not common,
    each with the lesser weight of its two words, the most telling first (weight × the two words' idf)."""
    weight = dict(weighted.terms)
    usable = [
        ((a, b), min(weight[a], weight[b]))
        for a, b in weighted.pairs
        if a in weight and b in weight and a not in common and b not in common
    ]

    def telling(item: tuple[tuple[str, str], float]) -> float:
        (a, b), pair_weight = item
        return pair_weight * (_idf(doc_freqs.get(a, 0), documents) + _idf(doc_freqs.get(b, 0), documents))

    return heapq.nlargest(limit, usable, key=telling)


def _idf(df: int, documents: int) -> float:
    """How rare a term in `df` of `documents` files is: ln(1 + N / (1 + df))."""
    return math.log(1 + max(1, documents) / (1 + df))


def _with_cli_filters(parsed: ParsedQuery, options: SearchOptions) -> ParsedQuery:
    return replace(
        parsed,
        languages=tuple(dict.fromkeys(parsed.languages + tuple(lang.lower() for lang in options.languages))),
        paths=tuple(dict.fromkeys(parsed.paths + options.paths)),
    )


def best_symbols(
    names: tuple[str, ...], terms: set[str], limit: int = MAX_SYMBOLS_PER_HIT
) -> tuple[tuple[str, ...], int]:
    """At most `limit` of the matched definitions `names` (in file order), and how many were left out.

    The kept ones meet the most query terms, then are the shortest (closest to what was asked);
    they stay in file order.
    """
    if len(names) <= limit:
        return names, 0

    def rank(item: tuple[int, str]) -> tuple[int, int, int]:
        position, name = item
        return -len(terms.intersection(tokenize(name))), len(name), position

    kept = sorted(heapq.nsmallest(limit, enumerate(names), key=rank))
    return tuple(name for _, name in kept), len(names) - limit


__all__ = ["Engine", "ScoreTerm", "SearchOptions", "SearchResult"]
