"""A query whose words are all too short or too long for the index: a usage error that says so, from the CLI's
`search` and `query` (every preset) and the MCP tools alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas import mcp_server
from atlas.api import index_config
from atlas.cli import cli
from atlas.errors import UsageError
from atlas.query.syntax import drop_html_comments, parse_query, searchable
from atlas.terms import MAX_TOKEN_LEN
from tests.conftest import indexed_repo

LONG_WORD = "a" * (MAX_TOKEN_LEN + 1)
UNSEARCHABLE = ["x", "5", "a b c", "é", "x, y; z!", LONG_WORD, f"{LONG_WORD} q"]
SAID = "too short or too long"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return indexed_repo(tmp_path_factory.mktemp("words") / "repo", {"x.py": "x = 5\ndef parse_config(): pass\n"})


@pytest.mark.parametrize("text", UNSEARCHABLE)
@pytest.mark.parametrize(
    "command", [["search"], ["query"], ["query", "--preset", "fast"]], ids=["search", "query", "query-fast"]
)
def test_regression_words_the_index_cannot_hold_are_named_not_called_no_letters(
    repo: Path, command: list[str], text: str
) -> None:
    # `atlas search x` said "the query has no searchable words", hint "use letters or digits": it had one.
    result = CliRunner().invoke(cli, ["-q", *command, "--root", str(repo), "--format", "jsonl", "--", text])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    first, hint = result.stderr.splitlines()
    assert SAID in first and "letters or digits" not in hint, result.stderr


@pytest.mark.parametrize(("tool", "key"), [("search", "query"), ("context", "task")])
def test_regression_the_mcp_tools_name_words_the_index_cannot_hold(repo: Path, tool: str, key: str) -> None:
    session = mcp_server.Session(index_config(repo), check_interval=0)
    session.start()
    for text in UNSEARCHABLE:
        answer, error = mcp_server.call_tool(session, tool, {key: text})
        assert error and SAID in answer, answer
    for text in ("!!! ???", "<!-- an issue template's hint -->"):
        answer, error = mcp_server.call_tool(session, tool, {key: text})
        assert error and "no searchable words" in answer, answer
    answer, error = mcp_server.call_tool(session, "search", {"query": "parse_config"})
    assert not error and json.loads(answer)


@settings(max_examples=200)
@given(st.text(st.characters(codec="utf-8"), max_size=40))
def test_a_query_is_refused_only_when_it_has_nothing_to_search(text: str) -> None:
    parsed = parse_query(text)
    try:
        searchable(parsed)
    except UsageError as err:
        assert parsed.is_empty or "filter" in err.message
        if parsed.is_empty and SAID in err.message:
            assert any(char.isalnum() for char in drop_html_comments(text))
    else:
        assert not parsed.is_empty
