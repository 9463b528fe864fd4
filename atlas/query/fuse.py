"""Weighted Reciprocal Rank Fusion: every ranking constant of Atlas lives in this module, the fitted
ones (signal weights, RRF_K, priors) overridden by `fitted.json` beside it, which perf/fit.py writes.

    fused(d) = prior(d) × Σ_signals  weight_s / (RRF_K + rank_s(d))

over the candidates (top BM25 hits plus the co-change and import neighbours of the best of
them, plus files the query names exactly). Each signal ranks only the candidates it has an
opinion on; `prior` is a multiplier from the file's role and path flags, relaxed when the
query asks for that kind of file (docs, tests). Every contribution is returned as a
`ScoreTerm`, so `--explain` shows exactly this arithmetic.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from atlas.config import MAX_COUNT, finite_number, whole_number
from atlas.errors import UsageError
from atlas.records import ScoreTerm
from atlas.safe_read import quoted_value

RRF_K = 20.0

SIGNALS = ("bm25", "path_mention", "symbol_mention", "cochange", "imports", "pagerank", "recency", "commit_words",
           "proximity", "linked")


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """Weights and constants of one ranking preset."""

    bm25: float = 1.0
    path_mention: float = 0.5
    symbol_mention: float = 0.6
    cochange: float = 0.25
    imports: float = 0.15
    pagerank: float = 0.05
    recency: float = 0.15
    commit_words: float = 0.3
    proximity: float = 0.3
    linked: float = 0.5
    rrf_k: float = RRF_K
    title_boost: float = 3.0
    common_term_share: float = 0.3
    inflection_weight: float = 0.5
    """A query word's other forms in file text (`parser` for `parsing`) count at this share of its weight."""
    query_terms: int = 400
    candidates: int = 300
    expand_top: int = 10
    cochange_min_support: int = 2
    max_fanout: int = 200
    symbol_mention_limit: int = 50
    commit_words_limit: int = 20
    proximity_pairs: int = 48
    max_path_ambiguity: int = 8
    role_priors: Mapping[str, float] = field(
        default_factory=lambda: {
            "impl": 1.0, "build": 0.7, "config": 0.55, "other": 0.5, "test": 0.45, "docs": 0.4, "generated": 0.2,
        }
    )  # fmt: skip
    vendored_prior: float = 0.25
    examples_prior: float = 0.6
    translation_prior: float = 0.1
    fixture_prior: float = 0.7

    def signal_weight(self, signal: str) -> float:
        """The weight of `signal` (one of SIGNALS)."""
        return float(getattr(self, signal))


FITTED_FILE = Path(__file__).with_name("fitted.json")
"""Constants fitted by perf/fit.py (weights, rrf_k, priors), with the data, date and command behind them."""


def fitted_record() -> dict[str, Any]:
    """FITTED_FILE's contents: `constants` (flat names as `weights_for` takes them), `data`, `date`,
    `command`; {} when there is none."""
    try:
        return dict(json.loads(FITTED_FILE.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def _fitted(weights: FusionWeights, constants: Mapping[str, float]) -> FusionWeights:
    priors = dict(weights.role_priors)
    plain: dict[str, float] = {}
    for name, value in constants.items():
        if name.startswith("prior."):
            priors[name.removeprefix("prior.")] = float(value)
        elif not name.startswith("boost."):  # field boosts are index settings (atlas.config.FieldBoosts)
            plain[name] = type(getattr(weights, name))(value)
    return replace(weights, role_priors=priors, **plain)


_RECORD = fitted_record()
FITTED = _fitted(FusionWeights(), _RECORD.get("constants", {}))
WEIGHTS_SOURCE = (
    f"ranking constants fitted by perf/fit.py on {_RECORD['data']} ({_RECORD['date']})"
    if _RECORD
    else "ranking constants: hand-set defaults"
)
"""Where the balanced preset's constants come from; `--explain` says it."""


def describe_weights(weights: FusionWeights) -> str:
    """The fusion's constants as `search --explain` notes them, and where the balanced preset's come from."""
    signals = ", ".join(f"{s} {weights.signal_weight(s):g}" for s in SIGNALS)
    priors = ", ".join(f"{role} {value:g}" for role, value in weights.role_priors.items())
    source = WEIGHTS_SOURCE if weights == FITTED else "ranking constants: a preset or overrides"
    return f"{source}: weights {signals}; rrf_k {weights.rrf_k:g}; role priors {priors}"
PRESETS: dict[str, FusionWeights] = {
    "fast": replace(FITTED, candidates=100, expand_top=0, cochange=0.0, imports=0.0),
    "balanced": FITTED,
    "deep": replace(FITTED, candidates=1000, expand_top=30),
}
PRESETS["thorough"] = replace(PRESETS["deep"], candidates=3000, expand_top=60)

_NUMERIC = {f.name for f in fields(FusionWeights) if f.name != "role_priors"}
MAX_WEIGHT = 1_000_000.0
"""The largest weight or prior: they only matter relative to each other, and sums of larger ones overflow."""
_AT_LEAST_ONE = frozenset({"candidates", "rrf_k", "query_terms"})
"""Settings that must stay above 0: a ranking needs candidates and a query words, and RRF divides by k + rank."""


def weights_for(preset: str = "balanced", overrides: Mapping[str, float] | None = None) -> FusionWeights:
    """The preset's weights with `overrides` (field name → value, or `prior.<role>`) applied.

    Every value is checked here, for the CLI, the config file and MCP alike: weights and priors are
    finite numbers ≥ 0, counts whole numbers (5.0 is 5), `candidates` ≥ 1 and `rrf_k` > 0; an unknown
    name or a bad value is a UsageError naming it.
    """
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {quoted_value(preset)}", f"use one of {', '.join(PRESETS)}")
    weights = PRESETS[preset]
    priors = dict(weights.role_priors)
    plain: dict[str, float] = {}
    for name, value in (overrides or {}).items():
        role = name.removeprefix("prior.")
        if name.startswith("prior.") and role in priors:
            priors[role] = finite_number(f"ranking weight {name}", value, maximum=MAX_WEIGHT)
        elif name in _NUMERIC:
            plain[name] = _checked_weight(name, value, getattr(weights, name))
        else:
            known = [*sorted(_NUMERIC), *(f"prior.{role}" for role in sorted(priors))]
            raise UsageError(f"unknown ranking weight {quoted_value(name)}", f"known: {', '.join(known)}")
    return replace(weights, role_priors=priors, **plain)


def _checked_weight(name: str, value: object, default: float) -> float:
    what = f"ranking weight {name}"
    if isinstance(default, int):
        return whole_number(what, value, 1 if name in _AT_LEAST_ONE else 0, MAX_COUNT)
    return finite_number(what, value, 0.0, above=name in _AT_LEAST_ONE, maximum=MAX_WEIGHT)


@dataclass(frozen=True, slots=True)
class Intent:
    """What kind of file the query asks for, which relaxes the matching priors."""

    docs: bool = False
    tests: bool = False


DOC_WORDS = frozenset({"doc", "docs", "documentation", "readme", "changelog", "tutorial", "guide", "manual"})
TEST_WORDS = frozenset({"test", "tests", "testing", "spec", "specs", "fixture", "fixtures", "unittest"})
SHORT_QUERY_TERMS = 12


def detect_intent(terms: list[str]) -> Intent:
    """Docs or tests intent from the words of a short query (long reports mention tests in passing)."""
    if len(terms) > SHORT_QUERY_TERMS:
        return Intent()
    words = set(terms)
    return Intent(docs=bool(words & DOC_WORDS), tests=bool(words & TEST_WORDS))


def prior(weights: FusionWeights, role: str, flags: int, intent: Intent) -> float:
    """Multiplier for a file of `role` with path `flags` (see atlas.signals.priors)."""
    from atlas.signals.priors import EXAMPLES, FIXTURE, TRANSLATION, VENDORED

    if (role == "docs" and intent.docs) or (role == "test" and intent.tests):
        value = 1.0
    else:
        value = weights.role_priors.get(role, weights.role_priors.get("other", 0.5))
    for flag, factor in (
        (VENDORED, weights.vendored_prior),
        (EXAMPLES, weights.examples_prior),
        (TRANSLATION, weights.translation_prior),
        (FIXTURE, weights.fixture_prior if not intent.tests else 1.0),
    ):
        if flags & flag:
            value *= factor
    return value


def rank_by(values: Mapping[int, float]) -> dict[int, int]:
    """1-based ranks of the keys by value, highest first; ties share the better rank."""
    ranks: dict[int, int] = {}
    previous: float | None = None
    current = 0
    for position, (key, value) in enumerate(sorted(values.items(), key=lambda kv: -kv[1]), 1):
        if value != previous:
            current, previous = position, value
        ranks[key] = current
    return ranks


@dataclass(slots=True)
class Fused:
    """One candidate's fused score and its terms."""

    fid: int
    score: float
    terms: list[ScoreTerm]


def fuse(
    candidates: list[int],
    raw: Mapping[str, Mapping[int, float]],
    priors: Mapping[int, float],
    weights: FusionWeights,
    tiebreak: Callable[[int], Any] | None = None,
    tiers: Mapping[int, int] | None = None,
    limit: int | None = None,
) -> list[Fused]:
    """Weighted RRF of the `raw` signal values (signal → fid → value) over `candidates`, best first; the first
    `limit` of them only, when given.

    With `tiers` (fid → tier, lower first; fids not in it come last), the tiers order before the score does:
    the files defining a `sym:` filter's name come before the files that only hold its word; their explanation
    ends with a `definition` term whose raw value is the tier (0: the name's own case).

    Ties are broken by `tiebreak(fid)` (the path, so that an updated index and a rebuilt one, whose
    file ids differ, order ties alike), else by file id. ScoreTerms are built for the returned results only: the
    arithmetic is the same for every candidate, the records are not.
    """
    ranks = {signal: rank_by(values) for signal, values in raw.items() if values}
    signal_weights = {signal: weights.signal_weight(signal) for signal in ranks}
    totals = dict.fromkeys(candidates, 0.0)
    for signal, signal_ranks in ranks.items():
        weight = signal_weights[signal]
        if weight <= 0:
            continue
        for fid, rank in signal_ranks.items():
            if fid in totals:
                totals[fid] += weight / (weights.rrf_k + rank)
    last = max(tiers.values(), default=0) + 1 if tiers else 0

    def key(fid: int) -> tuple[int, float, Any]:
        tier = tiers.get(fid, last) if tiers else 0
        return tier, -totals[fid] * priors.get(fid, 1.0), tiebreak(fid) if tiebreak else fid

    order = sorted(totals, key=key) if limit is None else heapq.nsmallest(limit, totals, key=key)
    fused = [Fused(fid, totals[fid] * priors.get(fid, 1.0), []) for fid in order]
    for item in fused:
        item.terms = _terms(item.fid, raw, ranks, signal_weights, totals[item.fid], priors.get(item.fid, 1.0), weights)
        if tiers and item.fid in tiers:  # why it comes before higher scores: it defines the `sym:` name
            item.terms.append(ScoreTerm("definition", float(tiers[item.fid]), None, 0.0, 0.0))
    return fused


def _terms(
    fid: int,
    raw: Mapping[str, Mapping[int, float]],
    ranks: Mapping[str, Mapping[int, int]],
    signal_weights: Mapping[str, float],
    total: float,
    factor: float,
    weights: FusionWeights,
) -> list[ScoreTerm]:
    terms = [
        ScoreTerm(signal, float(raw[signal][fid]), rank, signal_weights[signal],
                  signal_weights[signal] / (weights.rrf_k + rank))
        for signal, signal_ranks in ranks.items()
        if (rank := signal_ranks.get(fid)) is not None and signal_weights[signal] > 0
    ]  # fmt: skip
    terms.append(ScoreTerm("prior", factor, None, factor, total * factor - total))
    return terms
