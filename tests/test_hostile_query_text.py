"""Hostile query text end to end: what a pasted bug report of up to a megabyte can hold (long runs of one
character, tracebacks, text in scripts without spaces) is read in time linear in its length, through the real
CLI on a real index, and the same text inside an indexed file does not stall indexing either.

Each case here once made a regular expression or a loop go quadratic; the bounds are generous (the slow
versions took minutes to hours on these sizes).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from atlas.cli import cli
from atlas.query.syntax import _TRACE_LINE, parse_query
from atlas.terms import tokenize, words
from tests.conftest import indexed_repo

FILES = {
    "shop/cart.py": "class ShoppingCart:\n    def cart_total(self, prices):\n        return sum(prices)\n",
    "shop/payment.py": "def charge_card(token, amount):\n    return {'charged': amount}\n",
    "docs/notes.md": "# Notes\n\nThe cart total is the sum of the prices.\n",
}
SECONDS = 10.0
"""Budget of one search or index run below: each takes well under a second now."""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small indexed repository (module-scoped: searches do not change it)."""
    return indexed_repo(tmp_path_factory.mktemp("hostile-query") / "shop", FILES)


def search(root: Path, query: str) -> Result:
    """`atlas -q search --repo root --format jsonl --query-file -` with `query` on stdin."""
    args = ["-q", "search", "--repo", str(root), "--format", "jsonl", "--query-file", "-"]
    return CliRunner().invoke(cli, args, input=query.encode("utf-8", "surrogatepass"), catch_exceptions=False)


def timed_search(root: Path, query: str) -> tuple[float, list[dict[str, Any]]]:
    """Seconds a search for `query` took, and its hits; the search must succeed without a traceback."""
    started = time.monotonic()
    result = search(root, query)
    seconds = time.monotonic() - started
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.stderr
    return seconds, [json.loads(line) for line in result.stdout.splitlines()]


# --- underscores after a non-ASCII character -----------------------------------------------------------------

GREEDY_PLAIN_WORD = r"[^\W_]\w*(?:-[^\W\d_]\w*)*|_+[^\W_]\w*"
"""The word pattern as it was, before underscores were tried from the start of their run only."""


@given(st.text(alphabet="_a«-1 é\u200b", max_size=40))
def test_underscores_before_a_word_are_read_as_before(text: str) -> None:
    assert words(text) == re.findall(GREEDY_PLAIN_WORD, text)


def test_a_run_of_underscores_after_non_ascii_text_is_tokenised_in_linear_time() -> None:
    started = time.monotonic()
    for text in ("«" + "_" * 1_000_000, "\u200b" + "_a" * 300_000, "é " + "_" * 500_000 + "!"):
        tokenize(text)  # the word regex rescanned the run from every underscore: 64,000 took 36 s
    assert time.monotonic() - started < 5


def test_a_query_of_underscores_after_a_guillemet_is_fast(shop: Path) -> None:
    seconds, hits = timed_search(shop, "cart total «" + "_" * 200_000)
    assert seconds < SECONDS
    assert hits and hits[0]["path"] == "shop/cart.py"


def test_a_file_of_underscores_after_guillemets_indexes_fast(tmp_path: Path) -> None:
    lines = "".join("«" + "_" * (3_000 + i) + "\n" for i in range(200))  # 620 KB: 18 s to index
    started = time.monotonic()
    root = indexed_repo(tmp_path / "repo", {**FILES, "docs/rules.md": f"# Rules\n\nzanzibar\n{lines}"})
    assert time.monotonic() - started < SECONDS
    _, hits = timed_search(root, "zanzibar")
    assert [hit["path"] for hit in hits] == ["docs/rules.md"]


# --- an `at` line full of opening brackets -------------------------------------------------------------------

BACKTRACKING_TRACE_LINE = re.compile(
    r"[ \t]*(?:at \S+ ?\(.*\)|at \S+:\d+(?::\d+)?"
    r'|File ".*", line \d+.*|#\d+ +0x[0-9a-fA-F]+ .*|\d+: +(?:0x[0-9a-fA-F]+ - )?[\w:<>$.]+'
    r"|[\w./-]+\.(?:\(\*?\w+\)\.)?\w+\(.*\)|\S+\.\w+:\d+(?::\d+)?(?: \+0x[0-9a-fA-F]+)?"
    r"|Traceback \(most recent call last\):|goroutine \d+ \[.*|stack backtrace:|\.\.\. \d+ more"
    r")[ \t]*"
)
"""The stack frame line pattern as it was, before an `at …(…)` line had to end in `)` first."""


@given(st.text(alphabet="at ()x:1.\t", max_size=30))
def test_stack_frame_lines_are_the_ones_they_were(line: str) -> None:
    assert bool(_TRACE_LINE.fullmatch(line)) == bool(BACKTRACKING_TRACE_LINE.fullmatch(line))
    assert bool(_TRACE_LINE.fullmatch("at " + line)) == bool(BACKTRACKING_TRACE_LINE.fullmatch("at " + line))


def test_an_at_line_of_opening_brackets_is_read_in_linear_time() -> None:
    started = time.monotonic()
    for text in ("at " + "(" * 1_000_000, "at " + "a(" * 500_000, "  at x" + "(" * 500_000 + ") x"):
        parse_query(text)  # `\S+` gave back each `(` and `.*\)` rescanned the line: 64,000 took 1.7 s
    assert time.monotonic() - started < 5


def test_a_query_with_an_at_line_of_opening_brackets_is_fast(shop: Path) -> None:
    seconds, hits = timed_search(shop, "cart total\n  at " + "a(" * 400_000 + "\n")
    assert seconds < SECONDS
    assert hits and hits[0]["path"] == "shop/cart.py"
