"""Files that lie about themselves, and files changed under a running Atlas.

A file's `stat` is a promise its reads need not keep: it grows (or is made a 64 GiB sparse file) between the walk
that took its size and the read that hashes it, a FUSE file may say 100 bytes and stream without end, or say 0 bytes
and hold text, as `/proc`'s files do (`tests.fuse_files` serves such files from a real FUSE mount). Atlas reads no
more of a file than it would index, and judges freshness by what `stat` says, compared with what `stat` said. Every
tree is a real git repository; every index a real one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from atlas.api import index_config, index_repo
from atlas.artifacts import tree_digest
from atlas.config import CONFIG_MAX_BYTES
from atlas.index import store
from atlas.partition import OVER_LIMIT, file_content_hash
from atlas.safe_read import LOCAL_FILESYSTEMS, mounted_filesystems, on_local_filesystem
from atlas.status import current_entries, diff_tree, load_table
from tests.conftest import deadline
from tests.fuse_files import LyingFile, holding, lying_files, never_answered, streaming

SPARSE_BYTES = 64 << 30
"""A file this size is hashed in about a minute and a half: reading it whole is a hang to a user."""

FILES = {"app/main.py": "def main():\n    return serve()\n", "app/serve.py": "def serve():\n    return 1\n"}


def atlas_process(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m atlas -q ...` in `root` (the FUSE server answers from this process's thread); a hang times out."""
    command = [sys.executable, "-m", "atlas", "-q", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout, check=False)


def test_a_content_hash_reads_no_more_than_its_limit(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES)
    os.truncate(root / "app/main.py", SPARSE_BYTES)
    with deadline(10):
        assert file_content_hash(root, "app/main.py", 1 << 20) == OVER_LIMIT
    assert file_content_hash(root, "app/serve.py", 1 << 20) == file_content_hash(root, "app/serve.py", 26)
    assert file_content_hash(root, "app/serve.py", 25) == OVER_LIMIT


def test_status_hashes_no_more_of_a_file_than_its_size_said(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES)
    config = index_config(root)
    index_repo(config, show_progress=False)
    table = load_table(store.current_generation(config.index_dir))  # type: ignore[arg-type]
    os.utime(root / "app/main.py", ns=(1, 1))  # a moved mtime, the same size: hashed to tell
    entries = list(current_entries(config).values())
    os.truncate(root / "app/main.py", SPARSE_BYTES)  # after the walk took its size: a file that lies
    with deadline(10):
        diff = diff_tree(table, entries, hash_moved=True)
    assert [table.paths[fid] for fid in diff.changed] == ["app/main.py"]


def test_the_tree_key_reads_no_more_of_a_file_than_the_index_would(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES, git=False)
    config = index_config(root)
    before = tree_digest(config)

    def grown_after_the_walk(path: str) -> bool:
        if path == "app/main.py":
            os.truncate(root / path, SPARSE_BYTES)
        return True

    with deadline(10):
        after = tree_digest(config, grown_after_the_walk)
    assert after != before


# --- index files changed in place under a running Atlas --------------------------------------------------------------

TRUNCATE_UNDER_A_SEARCH = """
import os, sys
from pathlib import Path

import pytest
from atlas.api import index_config, open_engine
engine = open_engine(index_config(Path(sys.argv[1])), build_if_missing=False, show_progress=False)
engine.search("serve main")
for name in sys.argv[2:]:
    os.truncate(name, 0)  # another process, in place: a cp over the live index, a restore, a clean-up
print(len(engine.search("serve main the retry").hits))
"""


def test_a_side_store_truncated_in_place_under_a_running_engine_does_not_kill_it(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(FILES)
    index_repo(index_config(root), show_progress=False)
    arrays = sorted((root / ".atlas").glob(f"gen-*/{store.SIGNALS_DIR}/*.npy"))
    command = [sys.executable, "-c", TRUNCATE_UNDER_A_SEARCH, str(root), *map(str, arrays)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert (result.returncode, result.stderr) == (0, ""), "a truncated memory map is a SIGBUS: killed without a word"
    assert int(result.stdout) == 2


RESTORE_UNDER_A_SEARCH = """
import shutil, sys
from pathlib import Path

import pytest
from atlas.api import index_config, open_engine
engine = open_engine(index_config(Path(sys.argv[1])), build_if_missing=False, show_progress=False)
engine.search("serve main")
shutil.copytree(sys.argv[2], Path(sys.argv[1]) / ".atlas", dirs_exist_ok=True)  # as `cp -r` does: in place
print(len(engine.search("serve main the retry").hits))
"""


def test_a_cache_copied_over_the_live_index_under_a_running_engine_does_not_kill_it(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo({**FILES, **{f"app/extra_{n}.py": f"def extra_{n}():\n    return {n}\n" for n in range(700)}})
    index_repo(index_config(root), show_progress=False)
    # A cache of an older tree: fewer files, arrays pages shorter (SIGBUS strikes a page wholly past the end).
    cached = make_repo(FILES, name="older")
    index_repo(index_config(cached), show_progress=False)
    command = [sys.executable, "-c", RESTORE_UNDER_A_SEARCH, str(root), str(cached / ".atlas")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert (result.returncode, result.stderr) == (0, ""), "killed by SIGBUS in the side store's memory map"
    assert int(result.stdout) > 0


# --- index files grown to sparse gigabytes ---------------------------------------------------------------------------


def test_a_side_store_array_grown_to_a_sparse_64_gib_is_read_as_its_header_says(
    make_repo: Callable[..., Path],
) -> None:
    # Read whole (by its size), each array took 64 GiB of memory, or failed to; the header says how many values it
    # holds, and no more is read: as the memory map read it, lazily, before.
    root = make_repo(FILES)
    index_repo(index_config(root), show_progress=False)
    for array in (root / ".atlas").glob(f"gen-*/{store.SIGNALS_DIR}/*.npy"):
        os.truncate(array, SPARSE_BYTES)
    result = atlas_process(root, "search", "-l", "serve")
    assert result.returncode == 0, result.stderr
    assert "app/serve.py" in result.stdout.splitlines()


@pytest.mark.parametrize("name", [store.MANIFEST, store.FILES, f"{store.SIGNALS_DIR}/params.json",
                                  f"{store.SIGNALS_DIR}/paths.nul"])  # fmt: skip
def test_an_index_file_grown_to_a_sparse_64_gib_is_damage_not_a_crash(
    make_repo: Callable[..., Path], name: str
) -> None:
    # Read whole, it asked for 64 GiB of memory: "unexpected error: MemoryError", exit 3, instead of the damage it is.
    root = make_repo(FILES)
    index_repo(index_config(root), show_progress=False)
    os.truncate(store.current_generation(root / ".atlas") / name, SPARSE_BYTES)  # type: ignore[operator]
    for command in (("search", "serve"), ("status",)):
        result = atlas_process(root, *command)
        assert result.returncode == 4, (command, result.stderr)
        assert "hint: rebuild it with `atlas index --rebuild`" in result.stderr, (command, result.stderr)


def test_verify_names_a_side_store_array_grown_to_a_sparse_64_gib_without_reading_it(
    make_repo: Callable[..., Path],
) -> None:
    # Hashed to find it fails its checksum, the array took minutes to read (30 s for 8 GiB).
    root = make_repo(FILES)
    index_repo(index_config(root), show_progress=False)
    array = store.current_generation(root / ".atlas") / store.SIGNALS_DIR / "pagerank.npy"  # type: ignore[operator]
    written = array.stat().st_size
    os.truncate(array, SPARSE_BYTES)
    result = atlas_process(root, "verify", "--format", "json", timeout=30)
    assert result.returncode == 4, result.stderr
    assert f"side store file pagerank.npy has {SPARSE_BYTES:,} bytes, {written:,} were written" in result.stdout


# --- files on a FUSE mount whose size is not their length ------------------------------------------------------------

STREAM = b"x = 1\n"
PROCFS_LIKE = b"def procfs_like_reader():\n    return 2\n"


def test_the_tree_key_of_a_file_that_streams_without_end_is_made(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES, git=False)
    with lying_files(root / "lies", {"stream.py": LyingFile(100, streaming(STREAM))}):
        key = atlas_process(root, "cache-key")
        indexed = atlas_process(root, "index", "--no-history", "--format", "json")
    assert key.returncode == 0 and "-tree-" in key.stdout, key.stderr
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["skipped_examples"] == {"too_large": ["lies/stream.py"]}


def test_status_of_a_file_that_now_streams_beyond_its_size_says_changed(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES)
    data = b"def stream():\n    return 1\n"
    lying = LyingFile(len(data), holding(data))
    with lying_files(root / "lies", {"stream.py": lying}):
        assert atlas_process(root, "index", "--no-history").returncode == 0
        lying.read, lying.mtime = streaming(STREAM), lying.mtime + 1  # the same size, a moved mtime: hashed
        status = atlas_process(root, "status", "--format", "json")
    assert status.returncode == 7, status.stderr
    assert json.loads(status.stdout)["changed"] == ["lies/stream.py"]


def test_a_file_whose_size_says_0_is_indexed_and_then_fresh(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES)
    with lying_files(root / "lies", {"status.py": LyingFile(0, holding(PROCFS_LIKE))}):
        assert atlas_process(root, "index", "--no-history").returncode == 0
        found = atlas_process(root, "search", "-l", "procfs_like_reader")
        status = atlas_process(root, "status", "--format", "json")
        again = atlas_process(root, "index", "--no-history", "--format", "json")
    assert found.stdout.splitlines() == ["lies/status.py"], found.stderr
    assert status.returncode == 0 and json.loads(status.stdout)["fresh"], status.stdout
    assert json.loads(again.stdout)["mode"] == "unchanged", again.stdout


def test_a_repository_config_whose_size_says_small_is_read_to_its_cap_not_cut_at_it(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # Its size was taken for its length: a config holding more than the cap was cut there, and read without its tail
    # (here a bad limit, which the search then never saw).
    root = make_repo(FILES)
    padding = b"#" * (CONFIG_MAX_BYTES - 1) + b"\n"
    text = padding + b"[search]\nlimit = 0\n"
    with lying_files(tmp_path / "fuse", {"atlas.toml": LyingFile(100, holding(text))}) as served:
        (root / "atlas.toml").touch()
        mounted = subprocess.run(["mount", "--bind", str(served / "atlas.toml"), str(root / "atlas.toml")], check=False)
        try:
            assert mounted.returncode == 0
            result = atlas_process(root, "search", "-l", "serve")
        finally:
            subprocess.run(["umount", "-l", str(root / "atlas.toml")], check=False)
    assert result.returncode == 2, result.stdout
    assert "the config file is over 1048576 bytes" in result.stderr, result.stderr


def test_a_selection_says_how_many_bytes_a_file_whose_size_says_0_holds(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES)
    with lying_files(root / "lies", {"status.py": LyingFile(0, holding(PROCFS_LIKE))}):
        assert atlas_process(root, "index", "--no-history").returncode == 0
        result = atlas_process(root, "query", "procfs_like_reader", "--format", "json")
    entry = next(e for e in json.loads(result.stdout)["entries"] if e["path"] == "lies/status.py")
    assert (entry["mode"], entry["file_bytes"], entry["file_lines"]) == ("whole", len(PROCFS_LIKE), 2)


WITH_A_SHORT_FILE_DEADLINE = """
import sys
from atlas import safe_read
from atlas.parse import pool
pool.FILE_DEADLINE_SECONDS = safe_read.READ_DEADLINE_SECONDS = 2.0
from atlas.cli import main
main()
"""
"""`atlas` with the parse watchdog's deadline at 2 s instead of 60 (the workers are forked with it), and the
deadline of its own reads on a file system that may never answer at 2 s instead of 10."""


def test_regression_a_file_whose_read_never_returns_is_skipped_as_unreadable_and_the_build_ends(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # A FUSE file whose read the file system never answers: the worker reading it waits in the kernel (state D),
    # where SIGSTOP cannot stop it nor SIGKILL end it. The watchdog tried to stop it every half second, for ever,
    # and `atlas index` hung. Now such a worker is sent SIGKILL (which ends it once the read returns), left behind,
    # and replaced; the file is skipped as unreadable. Its standard output goes to /dev/null: a reader of the
    # report through a pipe gets its end when `atlas index` ends (its stderr too: see the next test).
    root = make_repo({f"app/m{i}.py": f"def handler_{i}():\n    return {i}\n" for i in range(40)})
    errors = tmp_path / "stderr.txt"
    fine = holding(b"def fine_reader(): pass\n")
    served = {"stuck.py": LyingFile(100, never_answered), "fine.py": LyingFile(0, fine)}
    with lying_files(root / "lies", served), errors.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", WITH_A_SHORT_FILE_DEADLINE, "index", "--no-history", "--format",
                                 "json", str(root)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                                start_new_session=True)  # fmt: skip
        try:
            stdout, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.stdout.close()  # type: ignore[union-attr]  # a stuck worker holds its write end until released
            pytest.fail("`atlas index` hung on a file whose read never returns")
    assert proc.returncode == 0, errors.read_text()
    report = json.loads(stdout)
    assert report["skipped"] == {"unreadable": 1} and report["skipped_examples"]["unreadable"] == ["lies/stuck.py"]
    assert report["files_indexed"] == 41  # the other files of the stuck worker's chunk too
    assert "lies/stuck.py: its read did not return in 2 s" in errors.read_text()


def atlas_with_a_short_deadline(root: Path, stderr: Path, *args: str, timeout: float = 30) -> tuple[int, str]:
    """`atlas -q ARGS` with a 2 s file deadline: its exit status and standard output. Its standard error goes to the
    file `stderr`: a worker left waiting on a read holds what it inherited open until the mount goes. A hang fails
    the test (the process is killed, and ends once the mount goes and its read returns)."""
    with stderr.open("w") as errors:
        proc = subprocess.Popen([sys.executable, "-c", WITH_A_SHORT_FILE_DEADLINE, "-q", *args], cwd=root,
                                stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True)  # fmt: skip
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.stdout.close()  # type: ignore[union-attr]
            pytest.fail(f"`atlas {' '.join(args)}` hung on a file whose read never returns")
    return proc.returncode, stdout


def test_regression_status_of_a_file_whose_read_never_returns_ends_and_counts_it_changed(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # Its mtime moved, its size did not: `atlas status` hashes it to tell, in the parent, and waited for good.
    root = make_repo(FILES)
    data = b"def stuck():\n    return 1\n"
    lying = LyingFile(len(data), holding(data))
    errors = tmp_path / "stderr.txt"
    with lying_files(root / "lies", {"stuck.py": lying}):
        assert atlas_process(root, "index", "--no-history").returncode == 0
        lying.read, lying.mtime = never_answered, lying.mtime + 1
        code, stdout = atlas_with_a_short_deadline(root, errors, "status", "--format", "json")
    assert code == 7, errors.read_text()
    assert json.loads(stdout)["changed"] == ["lies/stuck.py"]
    assert "lies/stuck.py: its read did not return in 2 s" in errors.read_text()


def test_regression_the_cache_key_of_a_tree_with_a_file_whose_read_never_returns_is_an_error(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # Every file of the tree is hashed for the key, in the parent: `atlas cache-key` waited for good. A key that
    # took the file as unreadable would name a tree whose contents nobody read: an error naming the file instead.
    root = make_repo(FILES, git=False)
    errors = tmp_path / "stderr.txt"
    with lying_files(root / "lies", {"stuck.py": LyingFile(100, never_answered)}):
        code, stdout = atlas_with_a_short_deadline(root, errors, "cache-key")
    assert code == 3 and not stdout, stdout
    message = errors.read_text()
    assert "lies/stuck.py: its read did not return in 2 s" in message and "hint:" in message.lower(), message


def test_regression_a_shard_build_with_a_file_whose_read_never_returns_ends(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # The shard's content hash hashes the files the parser left out, in the parent: the file whose read never
    # returned in its worker was read again there, for good.
    root = make_repo(FILES, git=False)
    errors = tmp_path / "stderr.txt"
    with lying_files(root / "lies", {"stuck.py": LyingFile(100, never_answered)}):
        shard = ("--shard", "0/1", "--out", str(tmp_path / "shard"))
        code, stdout = atlas_with_a_short_deadline(root, errors, "index", "--no-history", *shard, "--format", "json")
    assert code == 0, errors.read_text()
    assert json.loads(stdout)["skipped_examples"]["unreadable"] == ["lies/stuck.py"]


def test_files_on_a_local_disk_are_hashed_in_the_parent_and_files_on_fuse_in_workers(tmp_path: Path) -> None:
    # A pool costs ~50 ms, which a status check before every MCP answer paid for one racily clean file: only a file a
    # process or a server may never answer for is read in a worker.
    local = tmp_path / "local.py"
    local.write_text("x = 1\n")
    if mounted_filesystems().get(local.stat().st_dev) not in LOCAL_FILESYSTEMS:
        pytest.skip("the temporary directory is not on a local disk file system")
    assert on_local_filesystem(local.stat().st_dev)
    with lying_files(tmp_path / "lies", {"far.py": LyingFile(6, holding(b"x = 1\n"))}) as served:
        assert not on_local_filesystem((served / "far.py").stat().st_dev)
        # In a process of its own, as `atlas status` runs it: in the test run's long-lived process the FUSE file's
        # worker read it `unreadable` in two full CI runs, after hundreds of other tests (not found why; see
        # perf/RESULTS.md).
        code = (
            "import json, sys\nfrom atlas.parse.pool import content_hashes\nfrom atlas.records import FileEntry\n"
            "root = sys.argv[1]\n"
            "entries = [FileEntry(p, f'{root}/{p}', 6, 0, root) for p in ('local.py', 'lies/far.py')]\n"
            "print(json.dumps(content_hashes(entries)))"
        )
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
        hashes, unanswered = json.loads(done.stdout or "null") or ({}, {"run": done.stderr})
    assert hashes["local.py"] == hashes["lies/far.py"] == file_content_hash(tmp_path, "local.py", 6)
    assert not unanswered


def test_regression_a_worker_stuck_on_a_read_does_not_hold_the_callers_stderr_open(
    make_repo: Callable[..., Path],
) -> None:
    # The stuck worker, left behind when `atlas index` ends, held the stderr it inherited: a caller reading atlas's
    # stderr to its end (`communicate()`, `2>&1 | tee`) waited as long as the read, maybe for ever. Workers now
    # write their stderr through a pipe that `atlas index` reads and copies, which ends with it.
    root = make_repo({f"app/m{i}.py": f"def handler_{i}():\n    return {i}\n" for i in range(40)})
    with lying_files(root / "lies", {"stuck.py": LyingFile(100, never_answered)}):
        proc = subprocess.Popen([sys.executable, "-c", WITH_A_SHORT_FILE_DEADLINE, "index", "--no-history", str(root)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            ended = proc.poll() is not None
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]  # a stuck worker holds its write end until released
            pytest.fail(f"atlas's stderr still open 60 s on (`atlas index` {'had ended' if ended else 'still ran'})")
    assert proc.returncode == 0, stderr
    assert "lies/stuck.py: its read did not return in 2 s" in stderr


def test_regression_a_search_whose_hit_never_answers_a_read_ends_with_the_hit_and_no_lines(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # The hit's line ranges read it in the search's own process: `atlas search` waited for ever. A thread of its own
    # would not do: a thread waiting in the kernel for a FUSE answer keeps the process from exiting. The read is a
    # child's (`head -c`), left behind, and the hit comes without lines; the search's stdout and stderr end with it.
    root = make_repo({f"app/m{i}.py": f"def handler_{i}():\n    return {i}\n" for i in range(10)})
    lying = LyingFile(36, holding(b"def stuck_reader():\n    return 1\n"))
    errors = tmp_path / "stderr.txt"
    with lying_files(root / "lies", {"stuck.py": lying}):
        assert atlas_process(root, "index", "--no-history").returncode == 0
        answered = atlas_process(root, "search", "stuck_reader", "--format", "json")  # read by a child, all the same
        (hit,) = [hit for hit in json.loads(answered.stdout)["results"] if hit["path"] == "lies/stuck.py"]
        assert hit["lines"] and "def stuck_reader():" in hit["lines"][0]["text"]
        lying.read = never_answered
        started = time.monotonic()
        code, stdout = atlas_with_a_short_deadline(root, errors, "search", "stuck_reader", "--format", "json")
        took = time.monotonic() - started
    assert code == 0, errors.read_text()
    (hit,) = [hit for hit in json.loads(stdout)["results"] if hit["path"] == "lies/stuck.py"]
    assert hit["lines"] == [] and took < 30


def test_regression_an_ignore_file_whose_read_never_returns_counts_as_unreadable_and_the_build_ends(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # The walk reads each directory's `.gitignore` in the parent: one whose read never returned hung `atlas index`.
    # It is now read as a file on such a file system is (see above): past the deadline, as if unreadable.
    root = make_repo({f"app/m{i}.py": f"def handler_{i}():\n    return {i}\n" for i in range(10)})
    served = {".gitignore": LyingFile(100, never_answered), "kept.py": LyingFile(0, holding(b"x = 1\n"))}
    errors = tmp_path / "stderr.txt"
    with lying_files(root / "lies", served):
        code, stdout = atlas_with_a_short_deadline(root, errors, "index", "--no-history", "--format", "json")
    assert code == 0, errors.read_text()
    assert json.loads(stdout)["files_indexed"] >= 11
