"""Selection under a budget: the reference rule, and chunking when a file does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import index_config, select_context
from atlas.context.candidates import Candidate, Ranked
from atlas.context.model import ContextOptions
from atlas.context.render import render_entry, render_selection
from atlas.context.select import select
from atlas.context.tokens import token_counter
from tests.conftest import write_tree


def _ranked(paths_scores: list[tuple[str, float]]) -> Ranked:
    candidates = [Candidate(p, i, s, "text", "impl") for i, (p, s) in enumerate(paths_scores, 1)]
    return Ranked(candidates, 100, {"alpha": 1.0}, lambda file: (), [])


@pytest.fixture
def sized(tmp_path: Path) -> Path:
    """Files of known sizes: a 4 KB, b 8 KB, c 1 KB, d 1 KB."""
    write_tree(tmp_path, {name: ("alpha beta\n" * (size // 11)) for name, size in
                          {"a.txt": 4000, "b.txt": 8000, "c.txt": 1000, "d.txt": 1000}.items()})  # fmt: skip
    return tmp_path


def _paths(selection: object) -> list[str]:
    return [entry.path for entry in selection.entries]  # type: ignore[attr-defined]


def test_whole_files_skip_a_file_that_does_not_fit_and_go_on(sized: Path) -> None:
    ranked = _ranked([("a.txt", 0.9), ("b.txt", 0.8), ("c.txt", 0.7), ("d.txt", 0.6)])
    selection = select(ranked, "alpha", sized, ContextOptions(strategy="files", max_bytes=6000))
    assert _paths(selection) == ["a.txt", "c.txt"]  # b does not fit; c still does, then d does not
    reasons = {skip.path: skip.reason for skip in selection.skipped}
    assert set(reasons) == {"b.txt", "d.txt"} and "does not fit" in reasons["b.txt"]
    assert len(render_selection(selection).encode()) <= 6000


def test_whole_files_never_keep_a_file_over_the_budget(sized: Path) -> None:
    selection = select(_ranked([("b.txt", 0.9), ("a.txt", 0.8)]), "alpha", sized,
                       ContextOptions(strategy="files", max_bytes=100))  # fmt: skip
    assert _paths(selection) == [] and {skip.path for skip in selection.skipped} == {"a.txt", "b.txt"}


def test_whole_files_cost_their_rendered_tokens(sized: Path) -> None:
    count = token_counter().count
    tokens_a = count((sized / "a.txt").read_text())
    ranked = _ranked([("a.txt", 0.9), ("c.txt", 0.8), ("d.txt", 0.7)])
    selection = select(ranked, "alpha", sized, ContextOptions(strategy="files", max_tokens=tokens_a + 60))
    assert _paths(selection) == ["a.txt"]
    entry = selection.entries[0]
    assert entry.tokens == count(render_entry(entry)) > entry.file_tokens == tokens_a
    assert count(render_selection(selection)) <= tokens_a + 60


def test_min_score_then_top_are_applied_before_the_budget(sized: Path) -> None:
    ranked = _ranked([("a.txt", 0.9), ("b.txt", 0.005), ("c.txt", 0.7), ("d.txt", 0.6)])
    selection = select(ranked, "alpha", sized, ContextOptions(strategy="files", min_score=0.01, top=2, max_bytes=0))
    assert _paths(selection) == ["a.txt", "c.txt"]
    reasons = {skip.path: skip.reason for skip in selection.skipped}
    assert "min-score" in reasons["b.txt"] and "--top 2" in reasons["d.txt"]


def test_chunks_strategy_never_exceeds_the_token_budget_and_renders_within_it(sized: Path) -> None:
    ranked = _ranked([("b.txt", 0.9), ("a.txt", 0.8), ("c.txt", 0.7), ("d.txt", 0.6)])
    count = token_counter().count
    for budget in (300, 700, 1500, 3000, 6000):
        selection = select(ranked, "alpha", sized, ContextOptions(max_tokens=budget))
        assert selection.entries and selection.total_tokens <= budget
        assert count(render_selection(selection)) <= budget


def test_a_file_that_does_not_fit_gives_its_relevant_definition_and_an_outline(billing: Path) -> None:
    config = index_config(billing)
    options = ContextOptions(max_tokens=1200, index="require")
    selection = select_context(config, "where is the invoice total parsed", options)
    entry = next(e for e in selection.entries if e.path == "billing/invoices.py")
    assert entry.mode == "chunks" and entry.tokens < entry.file_tokens
    assert any(chunk.symbol == "parse_invoice_total" for chunk in entry.chunks)
    assert "invoice" in " ".join(t for c in entry.chunks for t in c.terms)
    outlined = {item.name for item in entry.outline}
    assert outlined and "parse_invoice_total" not in outlined
    assert entry.omitted_definitions + len(outlined) + len(entry.chunks) >= 60
    assert "more than its share" in entry.reason and "parse_invoice_total" in entry.reason
    assert selection.total_tokens <= 1200
    text = "\n".join(entry.chunks[0].text.splitlines()[:1])
    assert text.strip()


def test_whole_files_when_the_budget_allows(billing: Path) -> None:
    selection = select_context(index_config(billing), "invoice total", ContextOptions(max_tokens=50_000))
    modes = {e.path: e.mode for e in selection.entries}
    assert modes["billing/invoices.py"] == "whole"
    assert all(mode == "whole" for mode in modes.values())


def test_byte_budget_is_respected_by_the_chunks_strategy(billing: Path) -> None:
    selection = select_context(index_config(billing), "invoice total", ContextOptions(max_bytes=3000))
    assert selection.entries and selection.total_bytes <= 3000 and selection.budget.max_tokens is None


def test_scores_are_normalised_and_the_selection_serialises(billing: Path) -> None:
    import orjson

    selection = select_context(index_config(billing), "invoice total", ContextOptions(max_tokens=2000))
    assert all(0.0 <= e.score <= 1.0 for e in selection.entries)
    data = orjson.loads(orjson.dumps(selection))
    assert data["entries"][0]["path"] == selection.entries[0].path


def test_chunks_strategy_selects_nothing_when_nothing_fits(sized: Path) -> None:
    ranked = _ranked([("a.txt", 0.9), ("c.txt", 0.8)])
    selection = select(ranked, "alpha", sized, ContextOptions(max_tokens=10))
    assert _paths(selection) == [] and {skip.path for skip in selection.skipped} == {"a.txt", "c.txt"}
