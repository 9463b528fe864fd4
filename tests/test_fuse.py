"""Fusion arithmetic, presets, priors, and exact-name extraction from bug reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas.errors import UsageError
from atlas.query.fuse import (
    FITTED,
    PRESETS,
    SIGNALS,
    FusionWeights,
    Intent,
    detect_intent,
    fitted_record,
    fuse,
    prior,
    rank_by,
    weights_for,
)
from atlas.query.mentions import find_mentions
from atlas.query.paths import PathIndex
from atlas.signals.priors import EXAMPLES, TRANSLATION, VENDORED, path_flags


def reference_rrf(raw: dict[str, dict[int, float]], weights: FusionWeights) -> dict[int, float]:
    """Textbook weighted RRF, written independently: rank = 1 + number of strictly better values."""
    scores: dict[int, float] = {}
    for signal, values in raw.items():
        for fid, value in values.items():
            rank = 1 + sum(1 for other in values.values() if other > value)
            scores[fid] = scores.get(fid, 0.0) + weights.signal_weight(signal) / (weights.rrf_k + rank)
    return scores


signal_values = st.dictionaries(st.integers(0, 30), st.floats(0.01, 100, allow_nan=False), max_size=12)


@given(st.fixed_dictionaries({s: signal_values for s in SIGNALS[:4]}))
def test_fuse_matches_a_reference_rrf(raw: dict[str, dict[int, float]]) -> None:
    weights = FusionWeights()
    candidates = sorted({fid for values in raw.values() for fid in values})
    fused = {f.fid: f.score for f in fuse(candidates, raw, {}, weights)}
    expected = reference_rrf(raw, weights)
    assert fused.keys() == expected.keys()
    for fid, score in expected.items():
        assert fused[fid] == pytest.approx(score)


def test_fuse_orders_by_score_and_explains_each_term() -> None:
    raw = {"bm25": {1: 9.0, 2: 5.0}, "pagerank": {2: 0.5}}
    fused = fuse([1, 2], raw, {1: 0.5}, FusionWeights())
    assert [f.fid for f in fused] == [2, 1]
    terms = {t.signal: t for t in fused[1].terms}
    assert terms["bm25"].rank == 1 and terms["prior"].raw == 0.5
    assert sum(t.contribution for t in fused[1].terms) == pytest.approx(fused[1].score)


def test_rank_by_gives_ties_the_same_rank() -> None:
    assert rank_by({1: 3.0, 2: 3.0, 3: 1.0}) == {1: 1, 2: 1, 3: 3}


def test_presets_and_overrides() -> None:
    assert weights_for("deep").candidates > weights_for("balanced").candidates > weights_for("fast").candidates
    tuned = weights_for("balanced", {"bm25": 2, "prior.test": 1, "candidates": 50})
    assert tuned.bm25 == 2.0 and tuned.role_priors["test"] == 1.0 and tuned.candidates == 50
    assert PRESETS["balanced"].role_priors["test"] < 1.0
    with pytest.raises(UsageError):
        weights_for("balanced", {"nonsense": 1})
    with pytest.raises(UsageError):
        weights_for("turbo")


def test_priors_relax_when_the_query_asks_for_docs_or_tests() -> None:
    weights = FusionWeights()
    assert prior(weights, "docs", 0, Intent()) < prior(weights, "docs", 0, Intent(docs=True)) == 1.0
    assert prior(weights, "test", 0, Intent()) < prior(weights, "test", 0, Intent(tests=True))
    assert prior(weights, "impl", VENDORED, Intent()) < prior(weights, "impl", 0, Intent())
    assert detect_intent(["where", "are", "the", "docs"]).docs
    assert not detect_intent(["test"] * 40).tests  # a long report mentions tests in passing


@pytest.mark.parametrize(
    ("path", "flag"),
    [
        ("vendor/lib/x.go", VENDORED),
        ("static/jquery-3.5.1.js", VENDORED),
        ("sklearn/externals/_packaging/version.py", VENDORED),
        ("3rdparty/libpng/png.c", VENDORED),
        ("deps/jemalloc/src/arena.c", VENDORED),
        ("examples/demo.py", EXAMPLES),
        ("sphinx/locale/de/LC_MESSAGES/sphinx.po", TRANSLATION),
    ],
)
def test_path_flags(path: str, flag: int) -> None:
    assert path_flags(path) & flag
    assert path_flags("src/app/main.py") == 0
    assert path_flags("src/deps/resolver.py") == 0  # a project's own `deps` module below the top


def test_mentions_in_a_traceback() -> None:
    report = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/site-packages/_pytest/assertion/rewrite.py", line 10, in rewrite_asserts\n'
        "    from sphinx.ext.autodoc import ClassDocumenter\n"
        "AttributeError: 'NoneType' object has no attribute 'get_real_modname'\n"
    )
    mentions = find_mentions(report)
    assert "_pytest/assertion/rewrite.py" in mentions.paths
    assert "sphinx.ext.autodoc" in mentions.modules
    assert {"rewrite_asserts", "ClassDocumenter", "AttributeError", "get_real_modname"} <= set(mentions.identifiers)
    assert "NoneType" in mentions.identifiers
    assert "object" not in mentions.identifiers


def test_path_index_prefers_the_longest_suffix_and_resolves_modules() -> None:
    paths = [
        "src/_pytest/assertion/rewrite.py", "src/_pytest/python.py", "doc/python.py", "sphinx/ext/autodoc/__init__.py",
    ]  # fmt: skip
    index = PathIndex(paths)
    assert index.find_path("site/_pytest/python.py") == ([1], 2)
    assert sorted(index.find_path("python.py")[0]) == [1, 2]
    assert index.find_module("sphinx.ext.autodoc.ClassDocumenter") == ([3], 3)
    assert index.find_module("_pytest.assertion.rewrite") == ([0], 3)
    assert index.find_module("nothing.here") == ([], 0)


def test_the_readme_ranking_table_shows_the_shipped_weights() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([\d.]+) \|$", readme, re.M)
    shipped = weights_for("balanced")
    assert {name for name, _ in rows} == set(SIGNALS)
    for name, weight in rows:
        assert float(weight) == shipped.signal_weight(name), name
    assert f"Σ weight / ({shipped.rrf_k:g} + rank)" in readme


def test_the_fitted_constants_say_where_they_come_from() -> None:
    record = fitted_record()
    assert {"constants", "data", "date", "command"} <= set(record)
    assert "python perf/fit.py " in record["command"]
    assert weights_for("balanced") == FITTED
