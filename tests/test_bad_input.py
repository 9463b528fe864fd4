"""Bad input end to end: hostile files, odd repositories, missing paths and malformed queries.

The contract under test: one bad file never aborts a run, and every file left out is counted
under its `SkipReason` in the IndexReport; the CLI exits 0 with results, 1 with none, 2 on a
usage or input error, and then prints one `atlas: ...` sentence plus one `  hint: ...` line on
stderr, never a traceback; stdout in `--format jsonl` (the default when piped) is clean JSONL.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from atlas.build import build_index
from atlas.cli import cli
from atlas.config import IndexConfig
from atlas.errors import InputError
from atlas.records import SkipReason
from tests.conftest import FileContent, Symlink, init_repo, write_tree

ATLAS = Path(sys.executable).with_name("atlas")
# linux/capability.h and linux/prctl.h
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
PR_CAPBSET_DROP = 24

MINIFIED_JS = "var a=1;" * 1280  # 10 KB on one line
HUGE_TEXT = "hello overflow " * 2000  # 30 KB, over the 20 KB cap used below
MAX_FILE_SIZE = "20000"

ZOO: dict[str | bytes, FileContent] = {
    "src/app.py": "def hello_world():\n    return 'greeting'\n",
    "src/util_helpers.py": "def parse_config(path):\n    return path\n",
    "web/app.js": "function helloWorld() {\n  return 1;\n}\n",
    "docs/notes.md": "# Notes\n\nhello world, a page of notes\n",
    "latin1.txt": b"caf\xe9 zanzibar \xff\xfe marmalade\n",
    "empty.py": "",
    "crlf.py": "def windows_line():\r\n    return 1\r\n",
    "blob.bin": b"\x7fELF\x00\x01\x02 zanzibar binary",
    "wide_text.txt": "hello utf sixteen".encode("utf-16"),
    "utf32.txt": "hello utf thirtytwo".encode("utf-32"),
    "huge.txt": HUGE_TEXT,
    "dist/app.min.js": MINIFIED_JS,
    "a/loop": Symlink(".."),
    "zlink": Symlink("src"),  # src/ is walked first: a duplicate
    "outside": Symlink("/etc"),
    "dangling": Symlink("nowhere"),
    b"bad\xffname.py": "def quokka_jump():\n    return 1\n",
    "assets/model.py": "version https://git-lfs.github.com/spec/v1\n"
                       "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
}
ZOO_INDEXED = {
    "src/app.py", "src/util_helpers.py", "web/app.js", "docs/notes.md", "latin1.txt", "empty.py", "crlf.py",
    "bad\\xffname.py", "wide_text.txt",
}  # fmt: skip
ZOO_SKIPPED = {
    "binary": 2, "too_large": 1, "minified": 1, "unreadable": 1, "symlink_outside": 1, "symlink_loop": 1,
    "duplicate": 1, "special": 1, "lfs_pointer": 1,
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Helpers


def invoke(*args: str, input: str | bytes | None = None) -> Result:
    """Run the CLI in-process, quietly, with stdout and stderr kept apart."""
    return CliRunner().invoke(cli, ["-q", *args], input=input, catch_exceptions=False)


def search(root: Path, *args: str, input: str | bytes | None = None) -> Result:
    """`atlas -q search --repo root --format jsonl ARGS...`."""
    return invoke("search", "--repo", str(root), "--format", "jsonl", *args, input=input)


def run_atlas(
    *args: str, input: str | None = None, cwd: Path | None = None, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run the installed `atlas` script as a separate process with pipes for all streams."""
    command = [str(ATLAS)] if ATLAS.exists() else [sys.executable, "-m", "atlas"]
    return subprocess.run(
        [*command, *args], input=input, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, **popen
    )


def jsonl(stdout: str) -> list[dict[str, Any]]:
    """Parse stdout as JSONL: every line must be one JSON object."""
    records = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def hit_paths(result: Result) -> list[str]:
    """Paths of the hits of a `--format jsonl` search, best first."""
    return [record["path"] for record in jsonl(result.stdout)]


def top_hit(result: Result) -> str:
    """The path of the best hit of a search that must have found something."""
    assert result.exit_code == 0, result.output
    return hit_paths(result)[0]


def assert_one_error(stderr: str, *fragments: str) -> None:
    """stderr holds exactly one `atlas: ...` sentence and one `  hint: ...` line, and no traceback."""
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    assert lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


def assert_no_traceback(stderr: str) -> None:
    """No Python traceback leaked to the user."""
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr


def index_report(result: Result | subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON index report printed by `atlas index --format json`."""
    code = result.returncode if isinstance(result, subprocess.CompletedProcess) else result.exit_code
    assert code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["type"] == "index_report"
    return report


def quick_config(root: Path, **settings: Any) -> IndexConfig:
    """An in-process build config: one parse process, no git history."""
    return IndexConfig(root=root, index_dir=root / ".atlas", jobs=1, git_history=False, **settings)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A repository holding one of each kind of bad file, indexed once via the CLI."""
    root = tmp_path_factory.mktemp("zoo") / "repo"
    write_tree(root, ZOO)
    os.mkfifo(root / "pipe")
    init_repo(root, commit=False)  # no history: hits come from the text alone
    result = invoke("index", str(root), "--format", "json", "--jobs", "1", "--max-file-size", MAX_FILE_SIZE)
    yield root, index_report(result)


# ---------------------------------------------------------------------------------------------
# Indexing bad files


def test_every_skip_reason_is_counted_and_nothing_aborts(zoo: tuple[Path, dict[str, Any]]) -> None:
    _, report = zoo
    # Every reason but a parse that hangs or crashes even as text (tests/parse/test_pool.py has one).
    assert set(report["skipped"]) == {reason.value for reason in SkipReason} - {"unparsable"}
    assert report["skipped"] == ZOO_SKIPPED
    assert report["files_indexed"] == len(ZOO_INDEXED)
    assert set(report["skipped_examples"]["binary"]) == {"blob.bin", "utf32.txt"}
    assert report["skipped_examples"]["minified"] == ["dist/app.min.js"]
    assert report["skipped_examples"]["too_large"] == ["huge.txt"]
    assert report["skipped_examples"]["special"] == ["pipe"]
    assert report["skipped_examples"]["symlink_loop"] == ["a/loop"]
    assert report["skipped_examples"]["duplicate"] == ["zlink"]
    assert report["skipped_examples"]["symlink_outside"] == ["outside"]
    assert report["skipped_examples"]["unreadable"] == ["dangling"]


@pytest.mark.parametrize(
    ("files", "indexed", "skipped"),
    [
        pytest.param({"bin.dat": b"abc\x00def"}, set(), {"binary": 1}, id="nul"),
        # Only the first 8 KiB are sniffed for NUL bytes.
        pytest.param({"late.txt": "hello\n" * 2000 + "\x00"}, {"late.txt"}, {}, id="nul-after-sniff"),
        pytest.param({"big.txt": "x" * 30_001}, set(), {"too_large": 1}, id="huge"),
        pytest.param({"min.js": MINIFIED_JS}, set(), {"minified": 1}, id="minified"),
        # A long line in a file under 2 KiB is not minified.
        pytest.param({"short.js": "var a=1;" * 200}, {"short.js"}, {}, id="long-line-small-file"),
        pytest.param({"bad.txt": b"\xff\xfe\xfd words \x80 here"}, {"bad.txt"}, {}, id="invalid-utf8"),
        pytest.param({"empty.txt": ""}, {"empty.txt"}, {}, id="empty"),
        pytest.param({"loop/up": Symlink("..")}, set(), {"symlink_loop": 1}, id="loop"),
        pytest.param({"gone": Symlink("missing")}, set(), {"unreadable": 1}, id="dangling"),
        pytest.param({"out": Symlink("/")}, set(), {"symlink_outside": 1}, id="outside"),
    ],
)
def test_one_bad_file_among_good_ones(
    make_repo: Any, files: dict[str, FileContent], indexed: set[str], skipped: dict[str, int]
) -> None:
    root = make_repo({"good.py": "def fine(): pass\n", **files})
    report = build_index(quick_config(root, max_file_bytes=30_000), show_progress=False)
    assert report.skipped == skipped
    assert report.files_indexed == 1 + len(indexed)


def test_invalid_utf8_content_is_searchable_by_its_valid_words(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    result = search(root, "marmalade")
    assert top_hit(result) == "latin1.txt"
    assert "marmalade" in jsonl(result.stdout)[0]["lines"][0]["text"]


UTF16_CSHARP = (
    "// Ledger\r\nnamespace Shop\r\n{\r\n    public class LedgerAccount\r\n    {\r\n"
    "        public int Balance() { return 0; }\r\n    }\r\n}\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_with_a_byte_order_mark_is_text(make_repo: Any, encoding: str) -> None:
    """Windows tools save sources as UTF-16 with a byte order mark; its NULs made every such file "binary"."""
    mark = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    root = make_repo({"src/Ledger.cs": mark + UTF16_CSHARP.encode(encoding), "src/other.py": "def other(): pass\n"})
    report = build_index(quick_config(root), show_progress=False)
    assert (report.skipped, report.files_indexed, report.languages) == ({}, 2, {"csharp": 1, "python": 1})
    (hit,) = jsonl(search(root, "LedgerAccount", "--limit", "1").stdout)
    assert (hit["path"], hit["language"], hit["symbols"][0]) == ("src/Ledger.cs", "csharp", "LedgerAccount")
    assert hit["lines"][0]["start"] == 4 and "public class LedgerAccount" in hit["lines"][0]["text"]
    again = build_index(quick_config(root), show_progress=False)  # its hash is its bytes': unchanged, not parsed
    assert (again.mode, again.changed, again.added) == ("unchanged", 0, 0)
    assert invoke("status", "--repo", str(root), "--format", "json").exit_code == 0


def test_skipped_files_are_not_searchable(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    assert "blob.bin" not in hit_paths(search(root, "zanzibar"))
    assert "huge.txt" not in hit_paths(search(root, "overflow"))
    assert "dist/app.min.js" not in hit_paths(search(root, "var"))


def test_file_with_invalid_utf8_name_is_found(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    assert top_hit(search(root, "quokka")) == "bad\\xffname.py"


def test_file_with_invalid_utf8_name_gets_line_ranges(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    (hit,) = jsonl(search(root, "quokka").stdout)
    assert hit["lines"]


def test_unreadable_file_chmod(make_repo: Any) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads mode-000 files; test_unreadable_file_and_directory_even_as_root covers this")
    root = make_repo({"ok.py": "x = 1\n", "secret.py": "y = 2\n", "locked/z.py": "z = 3\n"})
    (root / "secret.py").chmod(0)
    (root / "locked").chmod(0)
    try:
        report = build_index(quick_config(root), show_progress=False)
    finally:
        (root / "secret.py").chmod(0o644)
        (root / "locked").chmod(0o755)
    assert report.skipped == {"unreadable": 2}
    assert report.files_indexed == 1


def _without_read_override() -> None:
    """`preexec_fn` for root: the child loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH at exec.

    It stays uid 0 (so it can still run a Python installed under /root), but mode 000 now
    applies to it: dropped from the bounding set, the capabilities are not regained by execve.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unreadable_file_and_directory_even_as_root(tmp_path: Path) -> None:
    """A mode-000 file and directory, indexed by a process that cannot read them."""
    root = tmp_path / "repo"
    write_tree(root, {"ok.py": "def fine(): pass\n", "secret.py": "x = 1\n", "locked/z.py": "z = 1\n"})
    (root / "secret.py").chmod(0)
    (root / "locked").chmod(0)
    try:
        result = _index_without_read_override(root)
    finally:
        (root / "locked").chmod(0o755)
    assert_no_traceback(result.stderr)
    report = index_report(result)
    assert report["skipped"] == {"unreadable": 2}
    assert set(report["skipped_examples"]["unreadable"]) == {"secret.py", "locked"}
    assert report["files_indexed"] == 1


def test_regression_a_directory_that_cannot_be_entered_has_its_files_counted_unreadable(tmp_path: Path) -> None:
    """A directory that can be listed but not entered (mode 644: no search permission) lent its names, but no stat
    could be taken of them, and the walk dropped them as gone since the listing: the run said `skipped: {}` and the
    files were nowhere. Each is unreadable now, as a directory that cannot be listed (mode 311) is, itself; and a
    later run that can read them indexes them."""
    root = tmp_path / "repo"
    write_tree(root, {"ok.py": "def fine(): pass\n", "noexec/a.py": "def aardvark_den(): pass\n",
                      "noexec/b.py": "b = 1\n", "nolist/c.py": "def pangolin_nest(): pass\n"})  # fmt: skip
    init_repo(root)
    (root / "noexec").chmod(0o644)
    (root / "nolist").chmod(0o311)
    try:
        result = _index_without_read_override(root)
    finally:
        for name in ("noexec", "nolist"):
            (root / name).chmod(0o755)
    assert_no_traceback(result.stderr)
    report = index_report(result)
    assert (report["skipped"], report["files_indexed"]) == ({"unreadable": 3}, 1)
    assert set(report["skipped_examples"]["unreadable"]) == {"noexec/a.py", "noexec/b.py", "nolist"}
    again = index_report(run_atlas("-q", "index", str(root), "--format", "json", "--jobs", "1"))
    assert (again["mode"], again["skipped"], again["files_indexed"]) == ("incremental", {}, 4)
    assert top_hit(search(root, "aardvark_den")) == "noexec/a.py"
    assert top_hit(search(root, "pangolin_nest")) == "nolist/c.py"


def _index_locked_out(root: Path) -> dict[str, Any]:
    """`atlas index ROOT --format json` run by a process that cannot read what mode 000 forbids (as root, with its
    read override dropped); its report. Skips the test when the override stays."""
    if os.geteuid() != 0:
        pytest.skip("needs root: one run that cannot read a file and one that can, the file itself untouched")
    result = _index_without_read_override(root)
    assert_no_traceback(result.stderr)
    return index_report(result)


def _index_without_read_override(root: Path) -> subprocess.CompletedProcess[str]:
    """`atlas -q index ROOT --format json --jobs 1` run by a process that cannot read what file modes forbid (as
    root, with its read override dropped; skips the test when the override stays)."""
    popen = {"preexec_fn": _without_read_override} if os.geteuid() == 0 else {}
    try:
        return run_atlas("-q", "index", str(root), "--format", "json", "--jobs", "1", **popen)
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop the capabilities that let root read anything: {err}")


def _indexed_with_a_locked_secret(tmp_path: Path) -> Path:
    """A repository whose `secret.py` (mode 000, defining `quokka_vault`) is left out as unreadable by its index:
    built by a process that cannot read it. The caller makes the file readable again."""
    root = tmp_path / "repo"
    write_tree(root, {"ok.py": "def fine(): pass\n", "secret.py": "def quokka_vault(): pass\n"})
    init_repo(root)
    (root / "secret.py").chmod(0)
    try:
        assert _index_locked_out(root)["skipped"] == {"unreadable": 1}
    except BaseException:
        (root / "secret.py").chmod(0o644)
        raise
    return root


def test_regression_a_file_whose_read_failed_is_read_again_by_the_next_update(tmp_path: Path) -> None:
    """A read that fails for a reason the file's stat does not show (another user's run, a group joined, a disk's
    passing error) was recorded with that stat, and no later update read the file again until it changed or
    `--rebuild`: `atlas index` reported it unreadable and "unchanged" for good, and search never found it."""
    root = _indexed_with_a_locked_secret(tmp_path)
    try:
        again = _index_locked_out(root)  # still unreadable: nothing to do, no new generation
        assert (again["mode"], again["skipped"]) == ("unchanged", {"unreadable": 1})
        report = index_report(run_atlas("-q", "index", str(root), "--format", "json"))  # root reads mode 000
    finally:
        (root / "secret.py").chmod(0o644)
    assert (report["mode"], report["skipped"], report["files_indexed"]) == ("incremental", {}, 2)
    assert top_hit(search(root, "quokka_vault")) == "secret.py"


def _status(root: Path, **popen: Any) -> tuple[int, dict[str, Any]]:
    """`atlas status --repo ROOT --format json` run as a separate process: its exit code and record."""
    result = run_atlas("status", "--repo", str(root), "--format", "json", **popen)
    assert_no_traceback(result.stderr)
    return result.returncode, json.loads(result.stdout)


def test_regression_status_says_stale_when_a_file_whose_read_failed_can_be_read_now(tmp_path: Path) -> None:
    """`atlas status` and the MCP server's check compared the tree's stats only: once a file whose read failed could
    be read (its stat unmoved: another user's run, a group joined), status said fresh (exit 0) and the server never
    refreshed, although `atlas index` added the file. Only the files whose read failed are tried, one byte each."""
    from atlas.api import index_config, refresh_index

    root = _indexed_with_a_locked_secret(tmp_path)
    try:
        locked_out = _status(root, preexec_fn=_without_read_override)  # still unreadable to it: nothing to do
        readable = _status(root)  # root reads mode 000
        verified = run_atlas("verify", "--repo", str(root), "--format", "json")
        report = refresh_index(index_config(root, None, jobs=1))  # as the MCP server refreshes
    finally:
        (root / "secret.py").chmod(0o644)
    assert (locked_out[0], locked_out[1]["fresh"], locked_out[1]["added"]) == (0, True, [])
    assert (readable[0], readable[1]["fresh"], readable[1]["added"]) == (7, False, ["secret.py"])
    assert verified.returncode == 7 and "1 missing from the index: secret.py" in verified.stdout, verified.stdout
    assert report is not None and (report.added, report.skipped) == (1, {})
    assert _status(root)[0] == 0
    assert top_hit(search(root, "quokka_vault")) == "secret.py"


def _indexed_fine_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_tree(root, {"ok.py": "def fine(): pass\n"})
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    return root


def _run_locked_out_of(
    target: Path, command: tuple[str, ...], root: Path, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`atlas COMMAND --repo ROOT ...` run while `target` is mode 000 to it (root's read override dropped)."""
    mode = target.stat().st_mode & 0o777
    target.chmod(0)
    popen = {"preexec_fn": _without_read_override} if os.geteuid() == 0 else {}
    try:
        return run_atlas(command[0], "--repo", str(root), *command[1:], cwd=cwd, **popen)
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop the capabilities that let root read anything: {err}")
    finally:
        target.chmod(mode)


@pytest.mark.parametrize("locked", [".atlas", ".atlas/CURRENT"])
@pytest.mark.parametrize("command", [("search", "fine"), ("status",), ("verify",), ("export", "out.tar.gz")])
def test_regression_an_index_this_user_may_not_read_is_one_sentence_and_a_hint(
    tmp_path: Path, locked: str, command: tuple[str, ...]
) -> None:
    """An index directory (or its CURRENT) another user's permissions keep this one from reading: `Path.exists` raised
    PermissionError, and search, status and verify ended in "unexpected error" with a bug-report hint (a CURRENT
    that could not be read was "empty or names no generation", damage, exit 4)."""
    root = _indexed_fine_repo(tmp_path)
    result = _run_locked_out_of(root / locked, command, root, tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 3, result.stderr
    assert len(lines) == 2 and lines[1].startswith("  hint: "), result.stderr
    assert f"{root / '.atlas'} is not readable" in lines[0] and "permission denied" in lines[0], result.stderr
    assert "unexpected error" not in result.stderr and not result.stdout


@pytest.mark.parametrize("locked", ["", "tantivy", "signals/file_stamp.npy", "history.json"])
@pytest.mark.parametrize(
    "command", [("search", "fine"), ("query", "fine"), ("status",), ("verify",), ("export", "out.tar.gz")]
)
def test_regression_a_generation_this_user_may_not_read_is_not_called_damaged(
    tmp_path: Path, locked: str, command: tuple[str, ...]
) -> None:
    """A generation directory, or a directory or file inside it, this user may not read: each command called the
    index damaged (exit 4) with a rebuild as the fix, export failed with "unexpected error", and an export whose
    tantivy directory could not be listed packed the rest and exited 0 (`Path.rglob` passed over it)."""
    root = _indexed_fine_repo(tmp_path)
    generation = (root / ".atlas" / (root / ".atlas" / "CURRENT").read_text().strip()).resolve()
    result = _run_locked_out_of(generation / locked, command, root, tmp_path)
    if locked == "history.json" and command[0] in {"search", "query", "status"}:  # not read by these
        assert result.returncode == 0, result.stderr
        return
    lines = result.stderr.splitlines()
    assert result.returncode == 3, result.stderr
    assert len(lines) == 2 and lines[1].startswith("  hint: check the permissions"), result.stderr
    assert lines[0].startswith(f"atlas: cannot read {generation}"), result.stderr
    assert "this user is not allowed to (Permission denied)" in lines[0], result.stderr
    assert "damaged" not in result.stderr and "unexpected" not in result.stderr and not result.stdout
    assert not (tmp_path / "out.tar.gz").exists()


def test_regression_a_git_directory_this_user_may_not_read_is_no_repository(tmp_path: Path) -> None:
    """A `.git` made mode 000 (or another user's): asking whether it held `objects/` raised PermissionError, and
    status and cache-key ended in "unexpected error" (index in "cannot access .git/objects"). Git cannot read it
    either; without it the tree is indexed by its ignore files alone, without history, as when git refuses."""
    root = tmp_path / "repo"
    write_tree(root, {"ok.py": "def fine(): pass\n", ".gitignore": "build/\n", "build/out.py": "x = 1\n"})
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    (root / ".git").chmod(0)
    popen = {"preexec_fn": _without_read_override} if os.geteuid() == 0 else {}
    try:
        commands = {"status": ("--repo", str(root)), "cache-key": ("--repo", str(root)),
                    "index": (str(root), "--format", "json"), "verify": ("--repo", str(root))}  # fmt: skip
        results = {name: run_atlas(name, *args, cwd=tmp_path, **popen) for name, args in commands.items()}
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop the capabilities that let root read anything: {err}")
    finally:
        (root / ".git").chmod(0o755)
    for command, result in results.items():
        assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr, (command, result.stderr)
    assert results["status"].returncode == 0 and results["cache-key"].returncode == 0
    assert results["index"].returncode == 0 and results["verify"].returncode == 0, results["index"].stderr
    report = index_report(results["index"])
    assert report["files_indexed"] == 2 and report["signals"]["git"]["available"] is False


def test_fifo_is_special_and_does_not_block(make_repo: Any) -> None:
    root = make_repo({"a.py": "a = 1\n"}, commit=False)
    os.mkfifo(root / "pipe.py")
    report = build_index(quick_config(root), show_progress=False)
    assert report.skipped == {"special": 1}


def test_regression_a_file_that_hangs_its_grammar_costs_the_run_its_definitions_only(
    make_repo: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from atlas.parse import pool, symbols

    # tree-sitter-perl's scanner spins for good on `foo #` at the end of a file, which the parser otherwise avoids.
    monkeypatch.setattr(symbols, "_ENDS_WITH_NEWLINE", frozenset())
    monkeypatch.setattr(pool, "FILE_DEADLINE_SECONDS", 2.0)
    root = make_repo({"src/app.py": "def hello_world():\n    return 1\n", "tools/spline.pl": "reticulate #"})
    started = time.monotonic()
    report = build_index(quick_config(root), show_progress=True)
    assert time.monotonic() - started < 30
    assert report.files_indexed == 2 and report.parse_errors == 1 and report.skipped == {}
    assert report.parse_error_examples == ["tools/spline.pl"]
    assert "tools/spline.pl: tree-sitter did not finish in 2 s; indexed without its definitions" in caplog.text
    assert top_hit(search(root, "reticulate")) == "tools/spline.pl"


# ---------------------------------------------------------------------------------------------
# Odd repositories and paths


def test_empty_repo_indexes_and_search_says_no_results(make_repo: Any) -> None:
    root = make_repo({}, commit=False)
    report = index_report(invoke("index", str(root), "--format", "json"))
    assert report["files_indexed"] == 0 and report["skipped"] == {}
    result = CliRunner().invoke(cli, ["search", "--repo", str(root), "--format", "jsonl", "anything"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "atlas: no results\n"


def test_directory_that_is_not_a_git_repo(make_repo: Any) -> None:
    root = make_repo({"notes/todo.md": "remember the quince jam\n", "main.py": "import os\n"}, git=False)
    assert not (root / ".git").exists()
    report = index_report(invoke("index", str(root), "--format", "json"))
    assert report["files_indexed"] == 2
    assert top_hit(search(root, "quince")) == "notes/todo.md"


@pytest.mark.parametrize("command", [["index", "{missing}"], ["search", "--repo", "{missing}", "foo"]])
def test_missing_path_is_one_error_line_and_a_hint(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    args = [arg.format(missing=missing) for arg in command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert_one_error(result.stderr, str(missing), "no such directory")
    assert result.stdout == ""


def test_missing_path_via_the_installed_script(tmp_path: Path) -> None:
    result = run_atlas("index", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert_one_error(result.stderr, "no such directory")
    assert_no_traceback(result.stderr)


def test_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file.py").write_text("x = 1\n")
    for args in (["index", str(tmp_path / "file.py")], ["search", "--repo", str(tmp_path / "file.py"), "x"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert_no_traceback(result.stderr)
        assert result.stdout == ""


def test_build_index_rejects_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        build_index(quick_config(tmp_path / "missing"), show_progress=False)


# ---------------------------------------------------------------------------------------------
# Queries

NO_WORDS = "no searchable words"
QUERIES: list[tuple[str, str, set[int]]] = [
    ("punctuation", "!!! ??? ... --- ;;", {2}),
    ("star", "*", {2}),
    ("backslash", "\\", {2}),
    ("empty", "", {2}),
    ("whitespace", "  \t  ", {2}),
    ("parentheses-only", "((( )))", {2}),
    ("unbalanced-quote-paren", '"foo (bar', {0, 1}),
    ("tantivy-boolean", "a:b AND (c OR", {0, 1}),
    ("tantivy-range", "field:[1 TO", {0, 1}),
    ("tantivy-field", "content:hello", {0}),
    ("tantivy-fuzzy-boost", "hello~2 world^3", {0}),
    ("regex-characters", "hello.*world[", {0}),
    ("unbalanced-quote-word", 'hello "world', {0}),
    ("nul-character", "hello\x00world", {0}),
    ("lone-surrogate", "hello \udcff", {0}),
    ("unicode", "h\u00e9llo \u65e5\u672c\u8a9e \U0001f389", {0, 1}),
    ("empty-filters", "path: lang: sym:", {0, 1}),
    ("symbol-filter-punctuation", "sym:!!! hello", {1}),
]


@pytest.mark.parametrize(("query", "codes"), [q[1:] for q in QUERIES], ids=[q[0] for q in QUERIES])
def test_odd_queries(zoo: tuple[Path, dict[str, Any]], query: str, codes: set[int]) -> None:
    root, _ = zoo
    result = search(root, "--", query)
    assert result.exit_code in codes, result.output
    assert_no_traceback(result.stderr)
    jsonl(result.stdout)
    if result.exit_code == 2:
        assert_one_error(result.stderr, NO_WORDS if query.strip() else "the query is empty")
        assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (['lang:""', "hello"], "lang"),
        (['hello path:""'], "path"),
        (['sym:""'], "sym"),
        (["--lang", "", "hello"], "lang"),
        (["--path", "", "hello"], "path"),  # it filtered nothing: every path contains ""
    ],
    ids=["query-lang", "query-path", "query-sym-alone", "flag-lang", "flag-path"],
)
def test_an_empty_filter_is_a_usage_error_naming_it(
    zoo: tuple[Path, dict[str, Any]], args: list[str], kind: str
) -> None:
    # `lang:""` in a query was dropped without a word (alone: "no searchable words"), `--lang ''` was an unknown
    # language, `--path ''` kept every file; the MCP tools' schemas refuse an empty one too.
    root, _ = zoo
    result = search(root, *args)
    assert result.exit_code == 2, result.output
    assert_one_error(result.stderr, f"a {kind}: filter is empty")
    assert result.stdout == ""


def test_a_filter_name_with_nothing_after_its_colon_is_searched_as_a_word(make_repo: Any) -> None:
    # By design (README, "Syntax"): pasted text is full of `path:` and `lang:` keys, and any text searches.
    root = make_repo({"deploy.yaml": "volumes:\n  lang: en\n  path:\n    - /srv\n", "app.py": "x = 1\n"})
    assert invoke("index", str(root), "--format", "json", "--jobs", "1").exit_code == 0
    for query in ("lang:", "path:", "volumes lang:"):
        result = search(root, "--", query)
        assert result.exit_code == 0, (query, result.output)
        assert hit_paths(result) == ["deploy.yaml"], query


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("hello world " * 4300, {0}),  # 50 KB of repeated words
        (" ".join(f"word{i}" for i in range(6000)), {1}),  # 50 KB of distinct words (MAX_TERMS kept)
        ('"' + "hello world " * 4000 + '"', {0}),  # one 48 KB phrase
        ("hello " + "\u00e9" * 25_000, {0}),
    ],
    ids=["repeated", "distinct", "phrase", "non-ascii"],
)
def test_50kb_queries_are_fast(zoo: tuple[Path, dict[str, Any]], query: str, codes: set[int]) -> None:
    root, _ = zoo
    assert len(query.encode()) >= 48_000
    started = time.monotonic()
    result = search(root, "--", query)
    assert time.monotonic() - started < 5
    assert result.exit_code in codes
    assert_no_traceback(result.stderr)
    jsonl(result.stdout)


def test_50kb_query_through_the_installed_script(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    result = run_atlas("-q", "search", "--repo", str(root), "--query-file", "-", input="parse config " * 4200)
    assert result.returncode == 0
    assert jsonl(result.stdout)[0]["path"] == "src/util_helpers.py"


PYTHON_FILES = {"src/app.py", "src/util_helpers.py", "empty.py", "crlf.py", "bad\\xffname.py"}


@pytest.mark.parametrize(
    ("args", "expected", "allowed"),
    [
        (["path:src hello"], {"src/app.py"}, {"src/app.py", "src/util_helpers.py"}),
        (["path:*.py hello"], {"src/app.py"}, PYTHON_FILES),
        (["path:**/*.js hello"], {"web/app.js"}, {"web/app.js"}),
        (["path:src/ config"], {"src/util_helpers.py"}, {"src/app.py", "src/util_helpers.py"}),
        (["path:/src/*.py config"], {"src/util_helpers.py"}, {"src/app.py", "src/util_helpers.py"}),
        (['path:"docs" hello'], {"docs/notes.md"}, {"docs/notes.md"}),
        (["lang:python hello"], {"src/app.py"}, PYTHON_FILES),
        (["lang:PYTHON hello"], {"src/app.py"}, PYTHON_FILES),
        (["lang:javascript hello"], {"web/app.js"}, {"web/app.js"}),
        (["lang:python lang:javascript hello"], {"src/app.py", "web/app.js"}, {*PYTHON_FILES, "web/app.js"}),
        (["--lang", "javascript", "hello"], {"web/app.js"}, {"web/app.js"}),
        (["--path", "docs", "hello"], {"docs/notes.md"}, {"docs/notes.md"}),
        (["--path", "src/*.py", "config"], {"src/util_helpers.py"}, {"src/app.py", "src/util_helpers.py"}),
        (["path:src"], {"src/app.py", "src/util_helpers.py"}, {"src/app.py", "src/util_helpers.py"}),
        (["lang:python"], PYTHON_FILES, PYTHON_FILES),
    ],
)
def test_path_and_lang_filters(
    zoo: tuple[Path, dict[str, Any]], args: list[str], expected: set[str], allowed: set[str]
) -> None:
    root, _ = zoo
    result = search(root, *args, "--limit", "50")
    assert result.exit_code == 0, result.output
    assert expected <= set(hit_paths(result)) <= allowed


@pytest.mark.parametrize(
    "filter_value",
    [
        pytest.param("*app*", id="two-stars"),
        pytest.param("src/*_*.py", id="two-stars-in-a-name"),
        pytest.param("**/*help*", id="double-star-then-two-stars"),
        pytest.param("*[[:alpha:]]*", id="bracket-class"),
        pytest.param("[z-a]*", id="reversed-range"),
        pytest.param("a" * 50_000, id="50kb-value"),
    ],
)
def test_path_globs_never_crash(zoo: tuple[Path, dict[str, Any]], filter_value: str) -> None:
    root, _ = zoo
    result = search(root, f"path:{filter_value}", "hello")
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert_one_error(result.stderr)


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*app*", {"src/app.py", "web/app.js"}),
        ("src/*_*.py", {"src/util_helpers.py"}),
        ("**/*help*", {"src/util_helpers.py"}),
        ("*.?s", {"web/app.js"}),
    ],
)
def test_path_globs_with_several_wildcards_filter(
    zoo: tuple[Path, dict[str, Any]], glob: str, expected: set[str]
) -> None:
    root, _ = zoo
    result = search(root, f"path:{glob}", "--limit", "50")
    assert set(hit_paths(result)) == expected


def test_leading_slash_anchors_a_plain_path_filter(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    assert top_hit(search(root, "path:/src/", "config")) == "src/util_helpers.py"


def test_query_file(zoo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, _ = zoo
    query_file = tmp_path / "q.txt"
    query_file.write_bytes(b"caf\xe9 marmalade\n")  # not UTF-8: decoded with replacement
    assert top_hit(search(root, "--query-file", str(query_file))) == "latin1.txt"


def test_query_file_dash_and_piped_stdin(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    assert top_hit(search(root, "--query-file", "-", input="quokka")) == "bad\\xffname.py"
    assert top_hit(search(root, input="quokka jump\n")) == "bad\\xffname.py"


def test_piped_stdin_through_the_installed_script(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    result = run_atlas("-q", "search", "--repo", str(root), input="windows line")
    assert result.returncode == 0, result.stderr
    assert jsonl(result.stdout)[0]["path"] == "crlf.py"


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["hello", "--query-file", "-"], "world", "not both"),
        ([], "", "the query is empty"),
        ([], "!!!\n", NO_WORDS),
        (["--query-file", "-"], "   ", "the query is empty"),
    ],
    ids=["args-and-file", "empty-stdin", "punctuation-stdin", "blank-query-file"],
)
def test_query_input_errors(zoo: tuple[Path, dict[str, Any]], args: list[str], stdin: str, fragment: str) -> None:
    root, _ = zoo
    result = search(root, *args, input=stdin)
    assert result.exit_code == 2
    assert_one_error(result.stderr, fragment)
    assert result.stdout == ""


def test_an_empty_query_is_refused_before_an_index_is_built(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app.py": "def main():\n    return 1\n"})
    init_repo(tmp_path)
    result = search(tmp_path, input="\n \t\n")
    assert result.exit_code == 2
    assert_one_error(result.stderr, "the query is empty")
    assert not (tmp_path / ".atlas").exists()


def test_regression_a_query_given_as_arguments_has_the_same_length_limit(tmp_path: Path) -> None:
    # Only a query file or stdin was held to MAX_TEXT_CHARS: 1.4 M characters as arguments were searched and echoed.
    from atlas.commands.options import MAX_TEXT_CHARS

    words = ["retry " * 20_000] * (MAX_TEXT_CHARS // 120_000 + 1)
    result = invoke("search", "--repo", str(tmp_path), *words)
    assert result.exit_code == 2
    assert_one_error(result.stderr, f"the query is longer than {MAX_TEXT_CHARS:,} characters")
    assert not (tmp_path / ".atlas").exists()


def test_click_usage_errors_read_as_atlas_errors(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    for args, said, hint in (
        (["search", "--no-such-flag", "x"], "no such option '--no-such-flag'", "see 'atlas search --help'"),
        (["serch", "x"], "no such command 'serch'", "see 'atlas --help'"),
        (["search", "--limit", "many", "x"], "invalid value for '--limit'", "see 'atlas search --help'"),
    ):
        result = run_atlas(*args, cwd=root)
        assert result.returncode == 2, result.stderr
        assert_one_error(result.stderr, said)
        assert hint in result.stderr and result.stdout == ""


def test_missing_query_file_is_a_usage_error(zoo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, _ = zoo
    result = search(root, "--query-file", str(tmp_path / "nope.txt"))
    assert result.exit_code == 2
    assert_no_traceback(result.stderr)
    assert "nope.txt" in result.stderr


# ---------------------------------------------------------------------------------------------
# Output streams


def test_piped_search_output_is_clean_jsonl(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    result = run_atlas("search", "--repo", str(root), "hello", "--limit", "20")
    assert result.returncode == 0
    records = jsonl(result.stdout)
    assert {r["path"] for r in records} >= {"src/app.py", "web/app.js", "docs/notes.md"}
    assert all(r["type"] == "hit" for r in records)
    assert_no_traceback(result.stderr)


def test_no_results_keeps_stdout_empty(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    result = run_atlas("search", "--repo", str(root), "xylophonist")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "atlas: no results\n"


def test_usage_error_keeps_stdout_empty(zoo: tuple[Path, dict[str, Any]]) -> None:
    root, _ = zoo
    result = run_atlas("search", "--repo", str(root), "--", "?!")
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_error(result.stderr, NO_WORDS)


@pytest.mark.parametrize("fmt", [["--format", "jsonl"], []], ids=["jsonl", "piped-auto"])
def test_index_report_is_jsonl_when_asked_or_piped(make_repo: Any, fmt: Sequence[str]) -> None:
    root = make_repo({"a.py": "x = 1\n"})
    result = run_atlas("-q", "index", str(root), "--jobs", "1", *fmt)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["type"] == "index_report"


def test_a_kernel_pseudo_filesystem_inside_the_root_is_skipped_unread(make_repo: Any) -> None:
    # `atlas index /` would read /proc/kmsg, which blocks for good, and /proc's and /sys's endless files.
    from tests.mounts import proc_view

    root = make_repo({"src/app.py": "def hello_world():\n    return 1\n"}, commit=False)
    with proc_view(root / "kernel"):
        report = build_index(quick_config(root), show_progress=False)
    assert report.files_indexed == 1
    assert report.skipped == {"special": 1} and report.skipped_examples == {"special": ["kernel"]}


def test_regression_a_pseudo_filesystem_mounted_in_the_tree_after_indexing_is_never_served(make_repo: Any) -> None:
    # The walk skips a procfs inside the tree, but the reads of a query or a render did not look: procfs mounted
    # over an indexed directory served /proc/self/status (the process's ids, its mask) as the indexed file.
    from atlas.safe_read import Refused, read_in_root
    from tests.mounts import proc_view

    root = make_repo({"kernel/self/status": "process status name state\n", "app.py": "def state(): pass\n"})
    build_index(quick_config(root), show_progress=False)
    selection = run_atlas("-q", "query", "process status name state", "--root", str(root), "--format", "json",
                          "--no-content")  # fmt: skip
    assert selection.returncode == 0, selection.stderr
    assert "kernel/self/status" in selection.stdout
    with proc_view(root / "kernel"):
        with pytest.raises(Refused, match="kernel's proc filesystem"):
            read_in_root(root, "kernel/self/status", 1 << 16)
        chosen = run_atlas("-q", "query", "process status name state", "--root", str(root), "--format", "json")
        rendered = run_atlas("-q", "render", "-", "--root", str(root), input=selection.stdout)
        found = search(root, "process", "status", "name", "state")
    assert "Umask" not in chosen.stdout and "Umask" not in rendered.stdout, (chosen.stdout, rendered.stdout)
    assert "left out kernel/self/status: not read: it is on the kernel's proc filesystem" in rendered.stderr
    assert "Umask" not in found.stdout


def test_render_refuses_a_root_on_a_kernel_pseudo_filesystem(tmp_path: Path) -> None:
    listed = '{"Version":"0.3","Query":"x"}\n{"Path":"status","Score":0.9,"Tokens":1}\n{"TotalFiles":1}\n'
    result = run_atlas("-q", "render", "-", "--root", "/proc/self", input=listed)
    assert result.returncode == 2, result.stdout
    assert_one_error(result.stderr, "is on the kernel's proc filesystem")
    assert "Umask" not in result.stdout


@pytest.mark.parametrize("command", [("index",), ("cache-key", "--repo")])  # cache-key hashed /proc's files, exit 0
@pytest.mark.parametrize("root", ["/proc", "/proc/self/fd", "/sys"])
def test_a_root_on_a_kernel_pseudo_filesystem_is_an_input_error(root: str, command: tuple[str, ...]) -> None:
    if not Path(root).is_dir():
        pytest.skip(f"no {root} here")
    result = invoke(*command, root)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"atlas: {Path(root).resolve()} is on the kernel's ")
    assert "not source code\n  hint: index a project's directory\n" in result.stderr
