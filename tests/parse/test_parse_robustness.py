"""extract() on hostile input: it returns a result or raises ExtractionError, nothing else, never hangs."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas.parse.languages import GRAMMAR_FOR
from atlas.parse.symbols import MAX_QUERY_DEPTH, MAX_USE_DEPTH, ExtractionError, extract, script_elements
from atlas.records import Symbol
from tests.conftest import deadline, write_tree

LANGUAGES = sorted(GRAMMAR_FOR)

HOSTILE: dict[str, bytes] = {
    "random": random.Random(7).randbytes(20_000),
    "parens": b"(" * 5_000,
    "nested_brackets": b"[{(" * 2_000 + b")}]" * 2_000,
    "braces": b"{" * 5_000,
    "angles": b"<" * 5_000,
    "quotes": b'"' * 5_001,
    "invalid_utf8": b"def f\xff\xfe(x):\n    return '\xc3\x28'\nclass \x80A:\n    pass\n" * 50,
    "nul_bytes": b"\x00" * 1_000 + b"def f(): pass\n",
    "lone_surrogates": "x = '\ud800'\n".encode("utf-8", "surrogatepass") * 20,
    "deep_indent": b"".join(b"  " * i + b"def f%d():\n" % i for i in range(300)),
    "unclosed_classes": b"class A {" * 500,
    "crlf_only": b"\r\n" * 1_000,
    "long_line": b"a" * 200_000,
}


def _check(language: str, source: bytes) -> None:
    try:
        symbols, imports = extract(language, source, timeout_s=2.0)
    except ExtractionError as exc:
        assert str(exc)
        return
    assert all(isinstance(s, Symbol) and s.start_line <= s.end_line for s in symbols)
    assert all(isinstance(i, str) and i for i in imports)


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("language", LANGUAGES)
def test_hostile_input(language: str, name: str) -> None:
    _check(language, HOSTILE[name])


def test_invalid_utf8_does_not_hide_definitions() -> None:
    source = b"# caf\xe9 \xff\xfe\n\ndef good():\n    return '\xc3\x28'\n\ndef caf\xe9():\n    pass\n"
    symbols, _ = extract("python", source)
    assert (symbols[0].name, symbols[0].start_line, symbols[0].end_line) == ("good", 3, 4)
    assert all(isinstance(s.name, str) for s in symbols)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(language=st.sampled_from(LANGUAGES), source=st.binary(max_size=2_000))
def test_random_bytes(language: str, source: bytes) -> None:
    _check(language, source)


_CODEISH = st.text(alphabet="(){}[]<>\"'`;:.,=#/\\ \n\tabcXYZ_0 defclassimportusefnuse$@!*&|", max_size=800)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(language=st.sampled_from(LANGUAGES), text=_CODEISH)
def test_random_code_like_text(language: str, text: str) -> None:
    _check(language, text.encode())


def test_wrong_argument_type_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError):
        extract("python", "not bytes")  # type: ignore[arg-type]


def test_multibyte_characters_across_read_chunks() -> None:
    # Sources reach tree-sitter in chunks; a character split between two must not shift anything.
    for pad in range(1, 8):
        source = b"#" + b"x" * (16_384 - pad) + b"\n" + "def café_ü():\n    return '😀'\n".encode() * 3
        symbols, _ = extract("python", source)
        assert [(s.name, s.start_line) for s in symbols] == [("café_ü", 2), ("café_ü", 4), ("café_ü", 6)]


def test_hostile_input_does_not_leak_memory() -> None:
    # py-tree-sitter keeps a reference to every chunk the read callback returns; error recovery on
    # this input asks for thousands of chunks, which once leaked about 2 MB per parse.
    import tracemalloc

    hostile = b"[{(" * 300 + b")}]" * 300
    extract("scala", hostile)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            extract("scala", hostile)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000


def test_regression_a_ctrl_c_during_a_parse_in_the_main_process_interrupts_it_cleanly() -> None:
    # A repository of at most 32 files is parsed in the indexing process itself. A ^C landing in tree-sitter's
    # progress callback made py-tree-sitter read a NULL result: a SystemError (or a crash) that `extract` turned
    # into one file's parse error, the ^C lost. It is acted on when the parse stops, which it does at once.
    import os
    import signal
    import threading
    import time

    hostile = b"[{(" * 20_000 + b")}]" * 20_000  # Scala's error recovery: far longer than the deadline
    extract("scala", b"object A\n")  # the grammar loaded before the timer starts
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            extract("scala", hostile, timeout_s=20.0)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5.0
    assert extract("python", b"def f():\n    pass\n")[0][0].name == "f"  # the parser still works


@pytest.mark.parametrize("language", ["python", "fortran", "java"])
def test_a_long_run_of_unclosed_brackets_is_a_parse_error_at_once_not_minutes_of_query(language: str) -> None:
    # tree-sitter parsed it in milliseconds, then its query cursor went quadratic over the ERROR node's bracket
    # children: 200,000 of them took 19 s (Python) to 37 s (Fortran), a megabyte minutes, past the parse deadline.
    import time

    hostile = b"x = 1\n" + b"( " * 200_000 + b"\n"
    started = time.monotonic()
    with pytest.raises(ExtractionError, match="opening brackets"):
        extract(language, hostile)
    assert time.monotonic() - started < 5
    balanced = b"x = f(" + b"(" * 300 + b")" * 301 + b"\n"  # deep but closed: read as usual
    extract(language, balanced)


@pytest.mark.parametrize(("language", "opening", "closing"), [
    ("javascript", b"function a(){\n", b"}\n"),
    ("ruby", b"def a\n", b"end\n"),
])  # fmt: skip
def test_definitions_nested_sixty_thousand_deep_are_read_in_linear_time(
    language: str, opening: bytes, closing: bytes
) -> None:
    # Past 65,535 tree levels tree-sitter's query cursor went quadratic: 60,000 nested JavaScript functions (960 KB,
    # under the size limit) took 37 s of query after a 0.1 s parse; now 0.4 s.
    import time

    depth = 60_000
    started = time.process_time()
    symbols, _ = extract(language, opening * depth + closing * depth)
    assert time.process_time() - started < 10.0
    assert 0 < len(symbols) <= MAX_QUERY_DEPTH  # the outer ones; those deeper than MAX_QUERY_DEPTH levels are not read
    assert symbols[0].start_line == 1


def test_an_index_run_counts_the_bracket_file_and_still_finds_its_words(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from atlas.cli import cli

    (tmp_path / "ok.py").write_text("def fine_function():\n    return 1\n")
    (tmp_path / "noise.py").write_bytes(b"zanzibar_marker = 1\n" + b"(\n" * 50_000)
    done = CliRunner().invoke(cli, ["-q", "index", str(tmp_path), "--no-history", "--format", "json", "-j", "1"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["files_indexed"] == 2 and report["parse_errors"] == 1
    found = CliRunner().invoke(cli, ["-q", "search", "--repo", str(tmp_path), "--format", "jsonl", "zanzibar marker"])
    assert found.exit_code == 0 and json.loads(found.stdout.splitlines()[0])["path"] == "noise.py"


@pytest.mark.parametrize("source", [b"h#", b"foo # done", b"x#y", b"use strict;\nexit # bye", b"h#!"])
def test_a_perl_file_ending_in_a_comment_after_a_bareword_parses_in_time(source: bytes) -> None:
    # tree-sitter-perl's scanner spun forever at such an end of file, inside C: the parse deadline never fired,
    # ^C and SIGTERM were never handled, and `atlas index` hung for good on a two-byte file. In a child process,
    # so that a regression fails this test instead of hanging the suite.
    code = ("import sys; from atlas.parse.symbols import extract; "
            "print(extract('perl', sys.stdin.buffer.read(), timeout_s=2.0))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], input=source, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_an_index_run_over_such_a_perl_file_ends(tmp_path: Path) -> None:
    write_tree(tmp_path, {"tool.pl": b"use strict;\nrun_all # last line, no newline", "lib/ok.pm": "sub ok { 1 }\n"})
    done = subprocess.run([sys.executable, "-m", "atlas", "-q", "index", str(tmp_path), "--no-history", "--jobs", "1"],
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["files_indexed"] == 2


@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_regression_a_deeply_nested_rust_use_tree_keeps_the_files_definitions(newline: bytes) -> None:
    """`use a::{b::{b::{…c}}}` 3,000 deep ran the import handler out of Python's recursion limit, and the whole
    file lost its definitions to a parse error. Lists nested past MAX_USE_DEPTH now give no import; the rest stays."""
    deep = b"use a::" + (b"{b::" + newline) * 3_000 + b"c" + (b"}" + newline) * 3_000 + b";\n"
    symbols, imports = extract("rust", deep + b"use x::{y, z::{w}};\nfn after() {}\n")
    assert [s.name for s in symbols] == ["after"]
    assert imports == ["x::y", "x::z::w"]
    depth = MAX_USE_DEPTH
    shallow = b"use a::" + b"{b::" * depth + b"c" + b"}" * depth + b";\n"
    assert extract("rust", shallow)[1] == ["a::" + "b::" * depth + "c"]


# --- the `<script>` elements of Vue and Svelte components ----------------------------------------------------

SCRIPT_ELEMENT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
"""The pattern the elements were found by, before it had to find a closing tag to go on."""
SCRIPT_PIECES = st.sampled_from(
    [b"<script", b"<SCRIPT", b"<scripts", b">", b" ", b"\n", b'lang="ts"', b"</script", b"</script >", b"</Script>",
     b"<", b"/", b"x", b"const a = 1;", b"\t"]
)  # fmt: skip


@given(st.lists(SCRIPT_PIECES, max_size=30).map(b"".join))
def test_script_elements_are_the_ones_the_regex_found(source: bytes) -> None:
    expected = [(m.group(1), m.start(2), m.end(2)) for m in SCRIPT_ELEMENT.finditer(source)]
    assert list(script_elements(source)) == expected


@pytest.mark.parametrize("unit", [b"<script>", b"<script", b"<script x", b"<script></script>\n"])
@pytest.mark.parametrize("language", ["vue", "svelte"])
def test_a_component_of_many_script_tags_is_read_in_linear_time(language: str, unit: bytes) -> None:
    # Each `<script>` that no `</script>` follows rescanned the rest of the file: a 64 KB component took 2 s, a
    # megabyte (the size cap) minutes, past the parse deadline: the watchdog killed the worker after 60 s.
    source = b"<script>\nfunction first() {}\n</script>\n" + unit * ((1 << 20) // len(unit))
    with deadline(20):
        symbols, _ = extract(language, source)
    assert [s.name for s in symbols][:1] == ["first"]
