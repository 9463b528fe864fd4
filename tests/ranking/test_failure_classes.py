"""Query classes Atlas used to rank badly: the file a fix touches must now come first (or as high as each case says).

Each case failed before the mechanism it names existed; see `failure_repo.py` for the repository.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.api import index_config, index_repo, open_engine
from atlas.cli import cli
from atlas.config import IndexConfig
from atlas.query.engine import Engine, SearchOptions
from atlas.query.fuse import weights_for
from tests.conftest import init_repo, write_tree
from tests.ranking.failure_repo import CASES, LONG_REPORT, LONG_REPORT_CASE, Case, make_failure_repo


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    root = make_failure_repo(Path(tmp_path_factory.mktemp("failures")) / "repo")
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    return config


@pytest.fixture(scope="module")
def engine(config: IndexConfig) -> Engine:
    return open_engine(config, build_if_missing=False)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_fixed_file_ranks_at_the_top(engine: Engine, case: Case) -> None:
    paths = [hit.path for hit in engine.search(case.query, SearchOptions(limit=10, with_lines=False)).hits]
    assert case.target in paths[: case.top], paths


def test_an_acronym_identifier_is_an_exact_symbol(engine: Engine) -> None:
    case = next(c for c in CASES if c.name == "acronym_identifier")
    mentioned = engine.candidates(case.query).raw["symbol_mention"]
    best = max(mentioned, key=mentioned.__getitem__)
    assert engine.store is not None and engine.store.paths[best] == case.target


def test_a_chinese_issue_finds_the_chinese_comment_on_the_command_line(config: IndexConfig) -> None:
    query = "会话过期太快"
    result = CliRunner().invoke(cli, ["search", "--repo", str(config.root), "--format", "jsonl", "--no-lines", query])
    assert result.exit_code == 0, result.output
    first = orjson.loads(result.stdout.splitlines()[0])
    assert first["path"] == "shop/session_store.py"


def test_a_long_reports_few_rare_words_outweigh_its_many_common_ones(tmp_path: Path) -> None:
    root = tmp_path / "desk"
    write_tree(root, LONG_REPORT)
    init_repo(root)
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    engine = open_engine(config, build_if_missing=False)

    def top(**overrides: float) -> list[str]:
        options = SearchOptions(limit=5, with_lines=False, weights=weights_for("balanced", overrides))
        return [hit.path for hit in engine.search(LONG_REPORT_CASE.query, options).hits]

    assert top()[0] == LONG_REPORT_CASE.target
    assert top(query_terms=400, proximity=0)[0] == "desk/everything.py"  # every word kept: the common ones win
