"""Parses made while answering a query run in a helper process: a grammar that hangs or crashes costs one file its
outline, never the query (or the MCP server) its answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from atlas.parse import isolated, symbols
from atlas.parse.isolated import extract_isolated
from atlas.parse.symbols import ExtractionError, extract

HANGS_PERL = b"reticulate_splines #"
"""tree-sitter-perl's scanner never returns at an end of file inside a comment after a bareword (the parser adds a
final newline; the tests put the real hang back by emptying `_ENDS_WITH_NEWLINE`)."""

SOURCES = {
    "python": b"class Cart:\n    def add_item(self, item):\n        return item\n",
    "go": b"package shop\n\nfunc Charge(amount int) int { return amount }\n",
    "vue": b"<template><p/></template>\n<script lang=\"ts\">\nexport function mounted(): void {}\n</script>\n",
    "markdown": b"# Cart\n",
}


@pytest.fixture(autouse=True)
def fresh_helper() -> Iterator[None]:
    """Each test forks its own helper, with the test's patches in place."""
    _stop_helper()
    yield
    _stop_helper()


def _stop_helper() -> None:
    if isolated._helper is not None:
        isolated._helper.close()
        isolated._helper = None


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_the_helper_answers_what_the_parse_in_process_does(language: str) -> None:
    assert extract_isolated(language, SOURCES[language]) == extract(language, SOURCES[language])


def test_one_helper_serves_a_querys_files() -> None:
    extract_isolated("python", SOURCES["python"])
    helper = isolated._helper
    assert helper is not None
    for _ in range(3):
        extract_isolated("go", SOURCES["go"])
    assert isolated._helper is helper


def test_a_large_file_crosses_the_pipes_whole() -> None:
    source = b"".join(b"def handler_%d(request):\n    return request\n\n" % i for i in range(20_000))
    found, _ = extract_isolated("python", source)
    assert len(found) == 20_000
    assert found[-1].name == "handler_19999"


def test_regression_a_grammar_that_never_returns_costs_its_file_the_deadline_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(symbols, "_ENDS_WITH_NEWLINE", frozenset())  # the real hang, in C, back
    started = time.monotonic()
    with pytest.raises(ExtractionError, match="did not finish in 1 s"):
        extract_isolated("perl", HANGS_PERL, deadline=1.0)
    assert time.monotonic() - started < 3
    assert isolated._helper is None  # killed
    assert extract_isolated("python", SOURCES["python"]) == extract("python", SOURCES["python"])


def _crashes(language: str, source: bytes) -> object:
    import faulthandler

    faulthandler.disable()  # pytest's dump of the helper's stack would only clutter the log
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def test_a_grammar_that_crashes_its_process_costs_its_file_the_outline_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolated, "extract", _crashes)
    started = time.monotonic()
    with pytest.raises(ExtractionError, match="crashed its process"):
        extract_isolated("python", SOURCES["python"])
    assert time.monotonic() - started < 3
    monkeypatch.undo()
    assert extract_isolated("python", SOURCES["python"]) == extract("python", SOURCES["python"])


def _fails(language: str, source: bytes) -> object:
    raise ExtractionError(f"{language}: a tree its handler did not expect")


def test_an_extraction_error_in_the_helper_is_the_callers_and_the_helper_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(isolated, "extract", _fails)
    with pytest.raises(ExtractionError, match=r"^python: a tree its handler did not expect$"):
        extract_isolated("python", SOURCES["python"])
    helper = isolated._helper
    with pytest.raises(ExtractionError):
        extract_isolated("python", SOURCES["python"])
    assert helper is not None and isolated._helper is helper


def test_a_fork_of_the_helpers_owner_starts_its_own() -> None:
    extract_isolated("python", SOURCES["python"])
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child asks its own helper, not its parent's (whose pipes it shares)
        try:
            ok = extract_isolated("go", SOURCES["go"]) == extract("go", SOURCES["go"])
            ok = ok and isolated._helper is not None and isolated._helper.owner == os.getpid()
            os.write(writer, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    assert os.read(reader, 1) == b"1"
    os.close(reader)
    assert extract_isolated("python", SOURCES["python"]) == extract("python", SOURCES["python"])


HANGING_FAST_QUERY = """
import sys
from atlas.parse import isolated

def hangs(language, source):
    while True:
        pass

isolated.extract = hangs  # a grammar spinning in C: only a kill ends it
isolated.QUERY_PARSE_SECONDS = 1.0
from atlas.cli import main
sys.argv = ["atlas", "query", "--preset", "fast", "--repo", sys.argv[1], "--max-tokens", "1000", "--format", "json",
            "spline"]
main()
"""


def test_regression_a_fast_query_whose_grammar_hangs_answers_with_the_file_cut_in_windows(tmp_path: Path) -> None:
    # The fast preset parses its chosen files while answering: a grammar that never returned hung `atlas query`.
    lines = b"".join(b"sub reticulate_%d { return %d; }\n" % (i, i) for i in range(600))
    (tmp_path / "spline.pl").write_bytes(lines)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", HANGING_FAST_QUERY, str(tmp_path)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15
    (entry,) = orjson.loads(done.stdout)["entries"]
    assert entry["path"] == "spline.pl"
    assert entry["mode"] == "chunks"
    assert entry["chunks"] and all(chunk["symbol"] == "" for chunk in entry["chunks"])  # windows, no definitions


def test_a_helper_forked_by_a_thread_outlives_that_thread() -> None:
    # A death signal comes when the forking thread ends: the MCP server's request threads come and go.
    import threading

    thread = threading.Thread(target=extract_isolated, args=("python", SOURCES["python"]))
    thread.start()
    thread.join()
    helper = isolated._helper
    assert helper is not None
    time.sleep(0.2)
    assert extract_isolated("go", SOURCES["go"]) == extract("go", SOURCES["go"])
    assert isolated._helper is helper


def test_the_helper_ends_with_its_parent(tmp_path: Path) -> None:
    script = (
        "import os, sys\nfrom atlas.parse.isolated import extract_isolated\nfrom atlas.parse import isolated\n"
        "extract_isolated('python', b'def f():\\n    pass\\n')\nprint(isolated._helper.pid, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    helper = int(done.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{helper}") and _state(helper) != "Z":
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{helper}") or _state(helper) == "Z"


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0]
    except OSError:
        return ""
