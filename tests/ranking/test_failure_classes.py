"""Query classes Atlas used to rank badly: the file a fix touches must now come first (or as high as each case says).

Each case failed before the mechanism it names existed; see `failure_repo.py` for the repository.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.api import open_engine
from atlas.cli import cli
from atlas.config import IndexConfig
from atlas.query.engine import Engine, SearchOptions
from tests.conftest import init_repo, write_tree
from tests.ranking.failure_repo import CASES, LONG_REPORT, LONG_REPORT_CASE, Case, make_failure_repo
from tests.ranking.searching import indexed, top_paths


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return indexed(make_failure_repo(Path(tmp_path_factory.mktemp("failures")) / "repo"))


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
    config = indexed(root)
    assert top_paths(config, LONG_REPORT_CASE.query)[0] == LONG_REPORT_CASE.target
    every_word = top_paths(config, LONG_REPORT_CASE.query, query_terms=400, proximity=0)
    assert every_word[0] == "desk/everything.py"  # every word kept: the common ones win
