"""Hostile query text end to end: what a pasted bug report of up to a megabyte can hold (long runs of one
character, tracebacks, text in scripts without spaces) is read in time linear in its length, through the real
CLI on a real index, and the same text inside an indexed file does not stall indexing either.

Each case here once made a regular expression or a loop go quadratic; the bounds are generous (the slow
versions took minutes to hours on these sizes).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from atlas.cli import cli
from atlas.query.syntax import _TRACE_LINE, MAX_TERMS, drop_html_comments, parse_query, split_code
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


# --- a megabyte of Chinese ----------------------------------------------------------------------------------


def sorted_weighted_terms(
    tokens: list[str], blocks: list[list[str]], order: list[str]
) -> tuple[tuple[str, float], ...]:
    """`weighted_terms` as it was: first-seen order, then a full sort to keep the MAX_TERMS most repeated."""
    counts = Counter(tokens)
    for block in blocks:
        counts.update(dict.fromkeys(block, 1))
    order = [t for t in dict.fromkeys(order) if t in counts]
    placed = set(order)
    order += [t for t in counts if t not in placed]
    if len(order) > MAX_TERMS:
        keep = set(sorted(order, key=lambda t: -counts[t])[:MAX_TERMS])
        order = [t for t in order if t in keep]
    return tuple((t, 1.0 + math.log(counts[t])) for t in order)


def assert_parsed_as_before(text: str) -> None:
    """`parse_query(text)` has the terms it had when each of prose, code and visible text was tokenised on its
    own, and the pairs it had among those terms."""
    rest = text  # the texts below hold no path:, lang: or sym: filters
    prose, blocks = split_code(rest)
    terms = sorted_weighted_terms(tokenize(drop_html_comments(prose)), [tokenize(b) for b in blocks], tokenize(rest))
    kept = {term for term, _ in terms}
    pairs = dict.fromkeys((a, b) for a, b in itertools.pairwise(tokenize(drop_html_comments(rest))) if a != b)
    parsed = parse_query(text)
    assert parsed.terms == terms
    assert parsed.pairs == tuple((a, b) for a, b in pairs if a in kept and b in kept)


REPORT_PIECES = st.sampled_from(
    ["```", "```python", "~~~", "\n", "\r\n", "\u2028", "\x85", "\x0c", " ", "<!--", "-->", "word", "parse_args",
     "  at a.B.c(B.java:3)", 'File "x.py", line 3, in f', "    retry()", "会话过期", "HTTPServer", "-", "_", "«"]
)  # fmt: skip


@given(st.lists(REPORT_PIECES, max_size=40).map("".join))
def test_bug_report_shapes_parse_as_before(text: str) -> None:
    assert_parsed_as_before(text)


def test_long_texts_keep_the_terms_they_kept() -> None:
    rng = random.Random(7)
    vocabulary = [f"w{i}x" for i in range(1_500)]
    for blocks in ("", "\n```\nw1x w2x w3x\n```\n<!-- w4x -->\n  at a.B.c(B.java:3)\n"):
        assert_parsed_as_before(" ".join(rng.choice(vocabulary) for _ in range(6_000)) + blocks)


def test_a_megabyte_of_chinese_is_parsed_without_holding_its_million_bigrams() -> None:
    rng = random.Random(1)
    text = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(1 << 20))
    tracemalloc.start()
    try:
        parsed = parse_query(text)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(parsed.terms) == MAX_TERMS
    assert held < 32 << 20  # its million word pairs and their tokens: 151 MB
    assert peak < 170 << 20  # three tokenisations of the text and the pairs: 199 MB


def test_a_megabyte_of_chinese_is_searched(shop: Path) -> None:
    rng = random.Random(2)
    seconds, _ = timed_search(shop, "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(1 << 20)))
    assert seconds < SECONDS
