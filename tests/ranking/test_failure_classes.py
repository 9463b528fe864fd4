"""Query classes Atlas used to rank badly: the file a fix touches must now come first (or in the top 3).

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
from tests.ranking.failure_repo import CASES, Case, make_failure_repo


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


def test_a_chinese_issue_finds_the_chinese_comment_on_the_command_line(config: IndexConfig) -> None:
    query = "会话过期太快"
    result = CliRunner().invoke(cli, ["search", "--repo", str(config.root), "--format", "jsonl", "--no-lines", query])
    assert result.exit_code == 0, result.output
    first = orjson.loads(result.stdout.splitlines()[0])
    assert first["path"] == "shop/session_store.py"
