"""Query parsing: filters, phrases, weights; total on any input."""

from __future__ import annotations

import math
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas.errors import UsageError
from atlas.query.bm25 import path_regex
from atlas.query.syntax import MAX_TERMS, drop_html_comments, parse_query, searchable, split_code
from atlas.terms import tokenize


def test_filters_are_taken_out_of_the_text() -> None:
    parsed = parse_query('path:src/ lang:Python sym:"fooBar" handle request')
    assert parsed.paths == ("src/",)
    assert parsed.languages == ("python",)
    assert parsed.symbols == ("fooBar",)
    assert [t for t, _ in parsed.terms] == ["handle", "request"]


def test_balanced_quotes_make_phrases_and_their_words_stay_terms() -> None:
    parsed = parse_query('the "connection reset" error')
    assert parsed.phrases == (("connection", "reset"),)
    assert "connection" in dict(parsed.terms)


def test_unbalanced_quotes_and_brackets_are_plain_text() -> None:
    parsed = parse_query('"foo (bar [baz')
    assert [t for t, _ in parsed.terms] == ["foo", "bar", "baz"]
    assert parsed.phrases == ()


def test_punctuation_only_is_empty() -> None:
    assert parse_query("!!! ??? (((").is_empty


def test_repeated_words_weigh_more() -> None:
    weights = dict(parse_query("cache cache cache miss").terms)
    assert weights["cache"] > weights["miss"]


def test_a_long_text_keeps_at_most_max_terms() -> None:
    text = " ".join(f"word{i:05d}x" for i in range(5000))
    assert len(parse_query(text).terms) == MAX_TERMS


def test_filter_needs_a_word_boundary() -> None:
    assert parse_query("mypath:x").paths == ()


@pytest.mark.parametrize(
    ("text", "name"),
    [("lang:", "lang"), ("path:", "path"), ("sym:", "sym"), ("lang: python", "lang"),
     ("volumes:\n  path:\n    - src", "path"), ("retry budget sym:", "sym")],
)  # fmt: skip
def test_a_filter_name_with_nothing_after_its_colon_is_a_word(text: str, name: str) -> None:
    # By design: pasted issues are full of `path:` keys (YAML, logs), and any text must search.
    parsed = searchable(parse_query(text))
    assert not parsed.has_filters
    assert name in dict(parsed.terms)


@pytest.mark.parametrize(
    ("text", "kind"), [('lang:""', "lang"), ('retry path:""', "path"), ('sym:"" retry', "sym"), ('lang:"" x', "lang")]
)
def test_an_empty_filter_value_is_a_usage_error_naming_the_filter(text: str, kind: str) -> None:
    parsed = parse_query(text)  # parsing never raises; searching refuses, as it refuses `--lang ''`
    with pytest.raises(UsageError, match=f"^a {kind}: filter is empty$") as raised:
        searchable(parsed)
    assert "leave it out" in raised.value.hint


_FILTER_PIECES = st.sampled_from(["lang:", "path:", "sym:", '""', '"src/"', "python", "x", " ", "\n", ":"])


@given(st.lists(_FILTER_PIECES, max_size=12).map("".join))
def test_a_query_is_refused_for_an_empty_filter_exactly_when_it_has_one(text: str) -> None:
    empty = re.search(r'(?<!\S)(?:path|lang|sym):""', text) is not None
    try:
        searchable(parse_query(text))
    except UsageError as err:
        assert ("filter is empty" in err.message) == empty, (text, err.message)
    else:
        assert not empty, text


@given(st.text(max_size=2000))
def test_any_text_parses(text: str) -> None:
    parsed = parse_query(text)
    assert parsed.text == text
    assert len(parsed.terms) <= MAX_TERMS
    assert all(weight >= 1.0 for _, weight in parsed.terms)


@given(st.text(max_size=2000))
def test_word_pairs_are_distinct_pairs_of_the_texts_own_tokens(text: str) -> None:
    pairs = parse_query(text).pairs
    tokens = tokenize(text)
    assert len(set(pairs)) == len(pairs) <= max(0, len(tokens) - 1)
    assert all(a != b and a in tokens and b in tokens for a, b in pairs)


def test_word_pairs_follow_the_text_across_punctuation_and_compounds() -> None:
    assert parse_query("Retry budget: rateLimit!").pairs == (
        ("retry", "budget"), ("budget", "ratelimit"), ("ratelimit", "rate"), ("rate", "limit"),
    )  # fmt: skip


_REPORT_PIECES = st.sampled_from(
    ["```", "```python", "~~~", "```rust-lang", "\n", " ", "word", "parse_args", "  at a.B.c(B.java:3)",
     'File "x.py", line 3, in f', "#0 0x1 in f x.c:2", "错误信息", "\t", "HTTPServer"]
)  # fmt: skip


@given(st.lists(_REPORT_PIECES, max_size=40).map("".join))
def test_any_bug_report_shape_parses_and_weighs_every_term(text: str) -> None:
    parsed = parse_query(text)
    assert all(weight >= 1.0 for _, weight in parsed.terms)


def test_a_fence_language_name_does_not_crash_the_term_weights() -> None:
    terms = dict(parse_query("Crash in the parser\n```python\nparse_args()\n```\n").terms)
    assert terms["parse_args"] == 1.0 and terms["crash"] == 1.0


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_path_filter_compiles_to_a_regex(pattern: str) -> None:
    re.compile(path_regex(pattern))


def test_path_globs() -> None:
    cases = [
        ("src/", "a/src/x.py", True),
        ("*.py", "a/b.py", True),
        ("*.py", "a/b.pyc", False),
        ("src/**/*.py", "src/x.py", True),
        ("src/**/*.py", "src/a/b/x.py", True),
        ("/docs/**", "x/docs/a", False),
        ("tests/test_?.py", "tests/test_a.py", True),
        # `**` beside a name crosses directories too, and a glob ending in `/` is a directory: these matched nothing.
        ("**.py", "src/pkg/orders.py", True),
        ("src/**.py", "src/pkg/orders.py", True),
        ("src/**.py", "src/top.py", True),
        ("src/**.py", "lib/top.py", False),
        ("src/**/", "src/pkg/orders.py", True),
        ("src/*/", "src/pkg/orders.py", True),
        ("src/*/", "src/top.py", False),
    ]
    for pattern, path, expected in cases:
        assert bool(re.fullmatch(path_regex(pattern), path)) is expected, (pattern, path)


def test_a_stack_trace_counts_each_term_once_per_block() -> None:
    frames = "".join(f"\tat org.framework.servlet.Servlet{i}.service(Servlet{i}.java:{i})\n" for i in range(20))
    terms = dict(parse_query(f"Invoice total is wrong\n\njava.lang.NullPointerException\n{frames}").terms)
    assert terms["servlet"] == 1.0
    assert terms["java"] == 1.0 + math.log(2)  # once in the prose line, once in the trace


def test_fenced_code_counts_each_term_once() -> None:
    terms = dict(parse_query("cache misses\n\n```\ncache.get(key)\ncache.get(key)\ncache.get(key)\n```\n").terms)
    assert terms["key"] == 1.0
    assert terms["cache"] == 1.0 + math.log(2)


def test_split_code_keeps_the_prose() -> None:
    report = 'Crash\nTraceback (most recent call last):\n  File "a.py", line 1, in f\n    f()\nKeyError: x'
    prose, blocks = split_code(report)
    assert prose == "Crash\nKeyError: x"
    assert len(blocks) == 1


def test_html_comments_of_issue_templates_are_dropped_outside_code_blocks() -> None:
    parsed = parse_query(
        "Login fails\n<!--- Verify first that your issue is not already reported -->\n"
        "the session expires\n```html\n<!-- banner -->\n```"
    )
    words = {term for term, _ in parsed.terms}
    assert {"login", "fails", "session", "expires", "banner"} <= words
    assert not {"verify", "reported", "already"} & words
    assert parsed.title_terms == {"login", "fails"}


@given(st.text(alphabet="<!->a\n", max_size=60))
def test_html_comments_are_dropped_as_the_non_greedy_regex_drops_them(text: str) -> None:
    assert drop_html_comments(text) == re.sub(r"<!--.*?-->", " ", text, flags=re.S)


def test_many_unclosed_html_comments_parse_in_linear_time() -> None:
    started = time.monotonic()
    parsed = parse_query("crash on save " + "<!--" * 250_000)  # a megabyte: every opening rescanned the rest
    assert time.monotonic() - started < 5
    assert [term for term, _ in parsed.terms] == ["crash", "on", "save"]
