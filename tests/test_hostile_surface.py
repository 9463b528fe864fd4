"""The user-facing surface under hostile input: bytes that are not UTF-8 in a query, crafted selection files,
output that cannot be written, file names that would drive a terminal.

Each case ends in a clear outcome: results, or one `atlas: ...` sentence plus a hint on stderr with the
documented exit code, never a traceback or an "unexpected error".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import indexed_repo, init_repo, write_tree

CART = {
    "src/cart.py": "class ShoppingCart:\n    def add_item(self, sku):\n        return sku\n",
    "docs/notes.md": "# Notes\n\nthe shopping cart keeps items\n",
}


def run_atlas(*args: str | bytes, input: bytes | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    """`python -m atlas *args` in a separate process: arguments may be bytes, as a shell passes them."""
    return subprocess.run(
        [sys.executable, "-m", "atlas", *args], input=input, capture_output=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_clean_failure(result: subprocess.CompletedProcess[bytes], code: int, *fragments: str) -> None:
    """Exit `code` with one `atlas:` sentence and one hint on stderr, naming `fragments`."""
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == code, stderr
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), stderr
    assert "unexpected error" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


@pytest.fixture
def cart(tmp_path: Path) -> Path:
    """A small indexed repository."""
    return indexed_repo(tmp_path / "cart", CART)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "human"])
def test_a_query_argument_that_is_not_utf8_is_searched_by_its_valid_words(cart: Path, fmt: str) -> None:
    result = run_atlas("-q", "search", "--repo", str(cart), "--format", fmt, b"shopping caf\xe9")
    assert result.returncode == 0, result.stderr.decode()
    assert b"src/cart.py" in result.stdout
    if fmt == "json":
        assert json.loads(result.stdout)["query"] == "shopping caf\ufffd"


def test_a_piped_query_that_is_not_utf8_is_searched_by_its_valid_words(cart: Path) -> None:
    result = run_atlas("-q", "search", "--repo", str(cart), "--format", "json", input=b"shopping caf\xe9 \xff\n")
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["query"] == "shopping caf\ufffd \ufffd\n"


def test_a_piped_query_is_read_as_utf8_whatever_the_locale_says(cart: Path) -> None:
    for env in ({"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "POSIX", "LANG": "C"}):
        result = run_atlas("-q", "search", "--repo", str(cart), "--format", "json", input="shopping café".encode(),
                           env=env)  # fmt: skip
        assert result.returncode == 0, (env, result.stderr.decode())
        assert json.loads(result.stdout)["query"] == "shopping café"


@pytest.mark.parametrize("command", ["query", "quick", "explain"])
def test_a_task_that_is_not_utf8_selects_by_its_valid_words(cart: Path, command: str) -> None:
    result = run_atlas("-q", command, "--repo", str(cart), "--format", "json", b"shopping cart caf\xe9")
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["task"] == "shopping cart caf\ufffd"


def _context(entry: dict[str, Any], **fields: Any) -> str:
    """A `context` record holding one entry for src/cart.py."""
    return json.dumps({"type": "context", "entries": [{"path": "src/cart.py", **entry}], **fields})


CRAFTED_SELECTIONS = {
    "line-as-text": _context({"mode": "chunks", "chunks": [{"start_line": "1", "end_line": 3}]}),
    "line-as-fraction": _context({"mode": "chunks", "chunks": [{"start_line": 1.5, "end_line": 3}]}),
    "line-as-bool": _context({"mode": "chunks", "chunks": [{"start_line": True, "end_line": 3}]}),
    "text-as-number": _context({"mode": "chunks", "chunks": [{"start_line": 1, "end_line": 2, "text": 5}]}),
    "chunk-as-null": _context({"mode": "chunks", "chunks": [None]}),
    "outline-line-as-text": _context(
        {"mode": "chunks", "chunks": [{"start_line": 1, "end_line": 2, "text": "x"}], "outline": [{"line": "x"}]}
    ),
    "language-as-object": _context({"language": {"a": 1}}),
    "entries-as-text": json.dumps({"type": "context", "entries": "src/cart.py"}),
    "entries-as-object": json.dumps({"type": "context", "entries": {"src/cart.py": {}}}),
    "entry-as-number": json.dumps({"type": "context", "entries": [5]}),
    "chunks-as-text": _context({"mode": "chunks", "chunks": "1-3"}),
    "budget-as-list": _context({}, budget=[1]),
    "root-with-a-nul": _context({}, root="/tmp/\x00x"),  # without --root: "unexpected error: ValueError: embedded null"
    "v03-tokens-as-text": '{"Version": "0.3"}\n{"Path": "src/cart.py", "Tokens": "x"}\n',
    "v03-budget-as-list": '{"Version": "0.3", "Budget": [1]}\n{"Path": "src/cart.py"}\n',
    "v03-language-as-object": '{"Version": "0.3"}\n{"Path": "src/cart.py", "Language": {"a": 1}}\n',
}


@pytest.mark.parametrize("text", CRAFTED_SELECTIONS.values(), ids=CRAFTED_SELECTIONS.keys())
def test_render_refuses_a_selection_with_values_of_the_wrong_type(cart: Path, tmp_path: Path, text: str) -> None:
    selection = tmp_path / "selection.json"
    selection.write_text(text, encoding="utf-8")
    result = run_atlas("render", "--root", str(cart), str(selection))
    assert_clean_failure(result, 2)
    assert result.stdout == b""


DAMAGED_SELECTIONS = {  # the text, and where its fault is: the file's line and column
    "json-record-with-nan": (json.dumps({"type": "context", "task": "cart", "entries": []}, indent=2).replace(
        '"task": "cart"', '"task": NaN'), "line 3, column 11"),
    "json-record-cut-short": ('{\n  "type": "context",\n  "entries": [\n', "line 4, column 1"),
    "jsonl-third-line": ('{"Version": "0.3"}\n{"Path": "src/cart.py"}\n{"Path": "x", "Score": Infinity}\n',
                         "line 3, column 24"),
}


@pytest.mark.parametrize("text, where", DAMAGED_SELECTIONS.values(), ids=DAMAGED_SELECTIONS.keys())
def test_regression_render_names_the_line_of_a_selection_that_is_not_json(
    cart: Path, tmp_path: Path, text: str, where: str
) -> None:
    # Each line was parsed on its own and the fault given at its place in that line: a pretty-printed record damaged
    # at line 26 was "not JSON lines (unexpected end of data: line 1 column 2)", a third JSONL line's fault "line 1".
    selection = tmp_path / "selection.json"
    selection.write_text(text, encoding="utf-8")
    result = run_atlas("render", "--root", str(cart), str(selection))
    assert_clean_failure(result, 2, where)
    assert result.stdout == b""


def test_render_of_an_outline_claiming_absurd_nesting_stays_small(cart: Path, tmp_path: Path) -> None:
    item = {"line": 1, "end_line": 3, "kind": "class", "name": "ShoppingCart", "signature": "class ShoppingCart:"}
    chunk = {"start_line": 2, "end_line": 3, "symbol": "add_item", "kind": "method", "text": "    def add_item"}
    selection = tmp_path / "selection.json"
    selection.write_text(_context({"mode": "chunks", "chunks": [chunk], "outline": [{**item, "depth": 10**11}]}))
    result = run_atlas("render", "--root", str(cart), str(selection))
    assert result.returncode == 0, result.stderr.decode()
    assert b"class ShoppingCart:" in result.stdout and len(result.stdout) < 2000


@pytest.mark.parametrize(
    "args",
    [
        ("search", "shopping", "cart", "--format", "jsonl"),
        ("search", "shopping", "cart", "--format", "human"),
        ("query", "shopping", "cart", "--format", "json"),
        ("status", "--format", "json"),
        ("--help",),
        ("search", "--help"),
        ("--version",),
    ],
    ids=["jsonl", "human", "query", "status", "help", "search-help", "version"],
)
def test_output_to_a_full_disk_is_one_sentence_and_a_hint(cart: Path, args: tuple[str, ...]) -> None:
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [sys.executable, "-m", "atlas", "-q", *args], cwd=cart, stdout=full, stderr=subprocess.PIPE, timeout=120,
            check=False,
        )  # fmt: skip
    result.stdout = b""
    assert_clean_failure(result, 3, "cannot write", "No space left on device")


def test_a_closed_stdout_is_one_sentence_and_a_hint(cart: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "atlas", "-q", "search", "shopping", "cart"], cwd=cart, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, timeout=120, check=False, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    result.stdout = b""
    assert_clean_failure(result, 3, "standard output is closed")


@pytest.mark.parametrize(
    "args",
    [("search", "shopping", "cart"), ("--help",), ("search", "--help"), ("mcp", "install", "--help"), ("--version",)],
    ids=["search", "help", "search-help", "mcp-install-help", "version"],
)
def test_regression_help_or_version_to_a_reader_that_went_away_is_success(cart: Path, args: tuple[str, ...]) -> None:
    # `atlas --help | true`: the reader closed the pipe before Atlas wrote. A search's results exited 0, as a broken
    # pipe should; `--help` and `--version` exited 1 (no results) without a word, a subcommand's help exited 3 with
    # "cannot write the output: Broken pipe".
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "atlas", "-q", *args], cwd=cart, stdout=write_end, stderr=subprocess.PIPE,
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, b"")


@pytest.mark.parametrize("command", [("search",), ("search", "--query-file", "-"), ("query",), ("render", "-")])
def test_regression_a_closed_stdin_reads_as_empty_input(cart: Path, command: tuple[str, ...]) -> None:
    # It was "unexpected error: AttributeError: 'NoneType' object has no attribute 'isatty'" (exit 3), or click's
    # "Was not able to determine binary stream for sys.stdin".
    result = subprocess.run(
        [sys.executable, "-m", "atlas", "-q", *command], cwd=cart, stdin=subprocess.DEVNULL, capture_output=True,
        timeout=120, check=False, preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert result.stdout == b""
    assert_clean_failure(result, 2)


def test_regression_a_closed_stderr_takes_no_file_atlas_opens(tmp_path: Path) -> None:
    # With descriptor 2 closed, the first file opened took its number: a build's messages, and what its git and
    # parse workers wrote to their stderr, went into that file. The search answers; its messages go nowhere.
    root = tmp_path / "repo"
    write_tree(root, CART)
    init_repo(root)
    result = subprocess.run(
        [sys.executable, "-m", "atlas", "search", "--format", "jsonl", "shopping", "cart"], cwd=root,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120, check=False, preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert result.returncode == 0 and b'"path":"src/cart.py"' in result.stdout
    checked = subprocess.run([sys.executable, "-m", "atlas", "-q", "verify", "--repo", str(root)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("command", [("index",), ("status",), ("verify",), ("search", "cart"), ("query", "cart")])
def test_regression_a_removed_working_directory_is_one_sentence_and_a_hint(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # `os.getcwd()` raised FileNotFoundError: "unexpected error ... report it" (exit 3) for every command.
    result = _run_in_a_removed_directory(tmp_path / "gone", list(command))
    assert_clean_failure(result, 2, "the working directory no longer exists")


def _run_in_a_removed_directory(gone: Path, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """`atlas -q ARGS` started in the directory `gone`, made and removed by the child before it runs Atlas."""
    gone.mkdir()

    def enter_and_remove() -> None:
        os.chdir(gone)
        os.rmdir(gone)

    script = Path(sys.executable).with_name("atlas")  # `python -m` itself cannot start there: sys.path needs the cwd
    if not script.exists():
        pytest.skip("the atlas script is not installed beside this Python")
    return subprocess.run(
        [str(script), "-q", *args], capture_output=True, timeout=120, check=False, preexec_fn=enter_and_remove
    )


@pytest.mark.parametrize(
    "command",
    [("search", "--repo", "../repo", "cart"), ("index", "../repo"), ("status", "--repo", "../repo"),
     ("search", "--repo", "PLACE", "--index-dir", "../repo/.atlas", "cart"), ("export", "--repo", "PLACE", "x.tgz"),
     ("--config", "../repo/atlas.toml", "status", "--repo", "PLACE")],
)  # fmt: skip
def test_regression_a_relative_path_from_a_removed_working_directory_is_one_sentence_and_a_hint(
    cart: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    # The kernel still resolves `../repo` from a removed directory, so the path passed its checks, and making it
    # absolute (os.getcwd) raised FileNotFoundError: "unexpected error ... report it" (exit 3).
    (cart / "atlas.toml").write_text("")
    (tmp_path / "repo").symlink_to(cart)
    args = [str(cart) if arg == "PLACE" else arg for arg in command]
    result = _run_in_a_removed_directory(tmp_path / "gone", args)
    assert_clean_failure(result, 2, "is relative", "the working directory no longer exists")
    assert not (cart / "x.tgz").exists()



TOO_LONG = "n" * 300
"""A name longer than any Linux file system takes (255 bytes)."""


@pytest.mark.parametrize(
    ("command", "env"),
    [(("search", "--repo", TOO_LONG, "cart"), {}), (("index", "/tmp/" + TOO_LONG), {}),
     (("search", "--repo", "PLACE", "--index-dir", "/tmp/" + TOO_LONG + "/x", "cart"), {}),
     (("export", "--repo", "PLACE", "/tmp/" + TOO_LONG + ".tgz"), {}),
     (("status", "--repo", "PLACE"), {"ATLAS_CONFIG": "a" * 5000}), (("status",), {"ATLAS_ROOT": "/" + "r" * 5000}),
     (("status", "--repo", "PLACE"), {"ATLAS_INDEX_DIR": "/tmp/" + TOO_LONG})],
)  # fmt: skip
def test_regression_a_path_the_system_calls_too_long_is_one_sentence_and_a_hint(
    cart: Path, command: tuple[str, ...], env: dict[str, str]
) -> None:
    # A given path with a name over 255 bytes (a flag, or ATLAS_ROOT / ATLAS_CONFIG / ATLAS_INDEX_DIR holding a
    # garbled value) passed the option's checks and failed at its first use: "unexpected error: OSError: [Errno 36]
    # File name too long ... report it" (exit 3).
    args = [str(cart) if arg == "PLACE" else arg for arg in command]
    result = run_atlas("-q", *args, env=env)
    assert_clean_failure(result, 2, "longer than the system allows")
    assert len(result.stderr) < 400, result.stderr



@pytest.mark.parametrize(
    ("command", "code"),
    [(("search", "cart"), 0), (("status",), 7), (("query", "cart"), 0), (("search", "--repo", "..", "cart"), 2),
     (("index", "../src"), 2)],
)  # fmt: skip
def test_regression_a_working_directory_this_user_may_not_enter_is_no_unexpected_error(
    cart: Path, command: tuple[str, ...], code: int
) -> None:
    # Run from a directory of the repository this user may not look into (mode 000): looking for `.atlas` in it
    # raised PermissionError, and a relative path through it could not be looked up: "unexpected error ... report
    # it" (exit 3). The repository is found above it (status: stale, as src/ cannot be read); a relative path through
    # it is one sentence and a hint.
    from tests.test_bad_input import _without_read_override

    locked = cart / "src"
    locked.chmod(0)

    def enter_locked() -> None:
        os.chdir(locked)
        if os.geteuid() == 0:
            _without_read_override()

    try:
        result = subprocess.run([sys.executable, "-m", "atlas", "-q", *command, "--format", "json"],
                                capture_output=True, timeout=120, check=False, preexec_fn=enter_locked)  # fmt: skip
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop the capabilities that let root enter any directory: {err}")
    finally:
        locked.chmod(0o755)
    if code == 2:
        assert_clean_failure(result, code, "cannot be entered", str(locked))
    else:
        assert result.returncode == code, result.stderr.decode()
        assert result.stdout.startswith(b"{") and b"unexpected" not in result.stderr


LONG_NAME = "a" * 60 + ".py"
BACKTRACKING_GLOB = "*a" * 12 + "*b"
"""Against a name of 60 a's, a backtracking regex engine tries ~60**12 ways to place the stars."""


@pytest.mark.parametrize("where", ["query", "option"])
def test_a_glob_that_makes_regexes_backtrack_filters_at_once(tmp_path: Path, where: str) -> None:
    root = indexed_repo(tmp_path / "repo", {LONG_NAME: "def see(): pass\n", "b.py": "see it\n"})
    mention = f"see {LONG_NAME}"  # the file is a candidate by its mention, not only by BM25
    for glob, code in ((BACKTRACKING_GLOB, 1), ("*a" * 12 + "*.py", 0)):
        args = [f"path:{glob} {mention}"] if where == "query" else ["--path", glob, mention]
        result = run_atlas("-q", "search", "--repo", str(root), "--format", "jsonl", "-l", *args, timeout=30)
        assert result.returncode == code, result.stderr.decode()
        assert result.stdout.decode().splitlines() == ([LONG_NAME] if code == 0 else [])
