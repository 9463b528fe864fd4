"""Index a generated multi-language git repository and check that obvious queries rank right."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import index_config, index_repo, open_engine
from atlas.query.engine import Engine, SearchOptions
from tests.generated_repo import OBVIOUS_ANSWERS, make_shop_repo


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = make_shop_repo(tmp_path_factory.mktemp("shop"))
    config = index_config(root, jobs=2)
    report = index_repo(config, show_progress=False)
    assert report.files_indexed == 14
    assert report.parse_errors == 0
    return open_engine(config, build_if_missing=False)


@pytest.mark.parametrize(("query", "expected"), OBVIOUS_ANSWERS)
def test_obvious_file_ranks_first(engine: Engine, query: str, expected: str) -> None:
    hits = engine.search(query).hits
    assert hits and hits[0].path == expected, [h.path for h in hits[:5]]


def test_hits_carry_language_role_symbols_and_lines(engine: Engine) -> None:
    hit = engine.search("verify webhook signature").hits[0]
    assert (hit.language, hit.role) == ("python", "impl")
    assert "verify_webhook_signature" in hit.symbols
    best = hit.lines[0]
    assert best.symbol == "verify_webhook_signature"
    assert "def verify_webhook_signature" in best.text
    assert best.start_line <= 12 <= best.end_line


def test_filters_restrict_results(engine: Engine) -> None:
    assert {h.language for h in engine.search("invoice lang:typescript").hits} == {"typescript"}
    assert all(h.path.startswith("shop/") for h in engine.search("payment path:shop/").hits)
    hits = engine.search("sym:ShoppingCart").hits
    assert [h.path for h in hits] == ["shop/cart.py"]


def test_cli_options_filter_like_query_syntax(engine: Engine) -> None:
    hits = engine.search("invoice", SearchOptions(languages=("TypeScript",), paths=("web/**",))).hits
    assert hits and all(h.path.startswith("web/") for h in hits)


def test_phrase_boosts_exact_sequence(engine: Engine) -> None:
    hits = engine.search('"payment gateway"').hits
    assert hits[0].path in {"docs/payments.md", "shop/payments/gateway.py"}


def test_index_lives_in_dot_atlas_and_is_ignored_by_the_walk(engine: Engine) -> None:
    assert (engine.root / ".atlas" / "CURRENT").is_file()
    assert all(not h.path.startswith(".atlas") for h in engine.search("manifest format version").hits)


def test_rebuild_publishes_a_new_generation_and_keeps_one_previous(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "repo")
    config = index_config(root, jobs=1)
    names = []
    for _ in range(3):
        index_repo(config, show_progress=False, rebuild=True)
        names.append((config.index_dir / "CURRENT").read_text())
    assert len(set(names)) == 3
    assert sorted(p.name for p in config.index_dir.iterdir() if p.name.startswith("gen-")) == names[1:]


def test_hits_whose_files_left_the_work_tree_are_named_in_a_note(tmp_path: Path) -> None:
    # An index older than the tree (a file deleted, a checkout since): the hit came back without lines and nothing
    # said why; its path is the index's, and the file is gone.
    root = make_shop_repo(tmp_path / "shop")
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    engine = open_engine(config, build_if_missing=False)
    found = engine.search("cart", SearchOptions(limit=5))
    assert not [note for note in found.notes if "no longer in the work tree" in note]
    gone = found.hits[0].path
    (root / gone).unlink()

    again = engine.search("cart", SearchOptions(limit=5))

    assert again.hits[0].path == gone and not again.hits[0].lines
    assert f"a hit names a file no longer in the work tree ({gone}): the index is older than the tree; " \
        "run `atlas index`" in again.notes
