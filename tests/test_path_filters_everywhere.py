"""A path filter that can name nothing inside the root (`..`, a NUL, an absolute path into the root) is a usage
error naming the fix, however it comes: `--path`, `path:` in a search or a task (every preset), or the MCP tools'
`paths` and `query` arguments. Before, only the MCP `paths` argument was checked; the rest said "no results"."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas import mcp_server
from atlas.api import index_config
from atlas.cli import cli
from tests.conftest import indexed_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return indexed_repo(tmp_path_factory.mktemp("filters") / "repo", {"src/config.py": "def parse_config(): pass\n"})


def _cases(root: Path) -> list[tuple[str, str]]:
    """(filter, what the error says)."""
    return [
        (f"{root}/src", "use 'src'"),
        (f"{root}/src/config.py", "use 'src/config.py'"),
        ("../repo/src", "may not contain '..'"),
        ("src/../../x", "may not contain '..'"),
    ]


@pytest.mark.parametrize("how", ["flag", "search-text", "query-text", "query-fast-text"])
def test_regression_a_path_filter_outside_the_root_is_a_usage_error_from_the_cli(repo: Path, how: str) -> None:
    for pattern, said in _cases(repo):
        args = {
            "flag": ["search", "parse_config", "--path", pattern],
            "search-text": ["search", f"parse_config path:{pattern}"],
            "query-text": ["query", f"parse_config path:{pattern}"],
            "query-fast-text": ["query", "--preset", "fast", f"parse_config path:{pattern}"],
        }[how]
        result = CliRunner().invoke(cli, ["-q", *args, "--root", str(repo), "--format", "jsonl"])
        assert result.exit_code == 2, (pattern, result.output)
        assert result.stdout == "" and said in result.stderr, result.stderr
    result = CliRunner().invoke(cli, ["-q", "search", "parse_config", "--path", "/src", "--root", str(repo)])
    assert result.exit_code == 0, result.output  # a leading `/` anchors at the root, as before


def test_regression_the_mcp_tools_check_path_filters_in_the_query_too(repo: Path) -> None:
    session = mcp_server.Session(index_config(repo), check_interval=0)
    session.start()
    for pattern, said in _cases(repo):
        for tool, arguments in [
            ("search", {"query": f"parse_config path:{pattern}"}),
            ("search", {"query": "parse_config", "paths": [pattern]}),
            ("context", {"task": f"parse_config path:{pattern}"}),
            ("symbols", {"name": "parse_config", "paths": [pattern]}),
        ]:
            answer, error = mcp_server.call_tool(session, tool, arguments)
            assert error and said in answer, (tool, arguments, answer)
    answer, error = mcp_server.call_tool(session, "search", {"query": "parse_config", "paths": ["/src/**/*.py"]})
    assert not error and "src/config.py" in answer
