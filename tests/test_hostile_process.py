"""Hostile processes and environments, end to end: signals mid-build, read-only and full filesystems.

Each case runs the real `atlas` command in a subprocess on a real git repository and checks what
a user would see: the exit code, one sentence plus a hint on stderr, no process left behind and
the previous index still searchable.
"""

from __future__ import annotations

import collections
import compileall
import contextlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import atlas
from atlas.index import store
from tests.conftest import git, git_env, init_repo, write_tree
from tests.mounts import immutable, pids_limited, read_only_view, small_disk, without_temporary_directory
from tests.test_crash_safety import generated_files

INTERRUPT_DEADLINE = 5.0  # seconds from the signal to the exit of `atlas`


def atlas_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "atlas", *args]


def run_atlas(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(atlas_command(*args), capture_output=True, text=True, timeout=timeout, env=git_env())


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes in process group `pgid`, as "pid command" strings."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(f"{entry.name} {stat.split(' ', 1)[1].split(')')[0]})")
    return members


def wait_for_no_members(pgid: int, timeout: float = 3.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed repository whose parse phase takes seconds (3,000 files of 40 definitions each)."""
    root = tmp_path_factory.mktemp("hostile") / "big"
    root.mkdir()
    write_tree(root, generated_files(3000, seed=7, functions=40))
    init_repo(root)
    return root


def start_in_parse(args: list[str], index_dir: Path) -> subprocess.Popen[str]:
    """Start `atlas *args` in its own process group; return once its new generation is being written."""
    proc = subprocess.Popen(
        atlas_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**git_env(), "PYTHONFAULTHANDLER": "1"},  # a cleanup cut short by its grace dumps its stacks
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if index_dir.is_dir() and any(p.name.endswith(f".tmp-{proc.pid}") for p in index_dir.iterdir()):
            time.sleep(0.3)  # well inside the parse phase, which takes seconds here
            assert proc.poll() is None, "atlas finished before it could be interrupted; the repository is too small"
            return proc
        assert proc.poll() is None, f"atlas exited ({proc.returncode}) before parsing: {proc.communicate()[1]}"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("atlas never started writing a generation")


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[None]:
    """Kill what is left of `proc`'s process group however the test ends."""
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def interrupt(proc: subprocess.Popen[str], signum: int) -> tuple[int, str, float]:
    """Send `signum` to `proc` alone; (exit code, stderr, seconds until it exited). Fails on a hang."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"atlas hung after signal {signum}: still running 30 s later")
    return proc.returncode, stderr, time.monotonic() - sent


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_parse_exits_promptly_and_keeps_the_previous_index(
    big_repo: Path, signum: int, code: int
) -> None:
    index_dir = big_repo / ".atlas"
    if not (index_dir / store.CURRENT).exists():
        assert run_atlas("-q", "index", str(big_repo), "--no-history").returncode == 0
    live = (index_dir / store.CURRENT).read_text()
    proc = start_in_parse(["index", str(big_repo), "--rebuild", "--no-history"], index_dir)
    with reaped(proc):
        returncode, stderr, seconds = interrupt(proc, signum)
        assert returncode == code, stderr
        assert seconds < INTERRUPT_DEADLINE, f"took {seconds:.1f}s to exit: {stderr}"
        assert wait_for_no_members(proc.pid) == [], "worker processes outlived `atlas index`"
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("indexing:")]
    assert len(lines) == 2 and "interrupted" in lines[0] and "hint:" in lines[1], stderr
    assert "Traceback" not in stderr
    assert (index_dir / store.CURRENT).read_text() == live, "an interrupted build published a generation"
    found = run_atlas("search", "--repo", str(big_repo), "--format", "json", "handle")
    assert found.returncode == 0, found.stderr


def test_interrupting_a_first_search_publishes_nothing(big_repo: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    proc = start_in_parse(["search", "--repo", str(big_repo), "--index-dir", str(index_dir), "handle"], index_dir)
    with reaped(proc):
        returncode, stderr, seconds = interrupt(proc, signal.SIGINT)
        assert returncode == 130, stderr
        assert seconds < INTERRUPT_DEADLINE, f"took {seconds:.1f}s to exit: {stderr}"
        assert wait_for_no_members(proc.pid) == [], "worker processes outlived `atlas search`"
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not (index_dir / store.CURRENT).exists()


def assert_one_sentence_and_hint(stderr: str, *words: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("atlas: no index")]
    assert len(lines) == 2 and lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), stderr
    assert all(word in lines[0] for word in words), stderr
    assert "unexpected error" not in stderr and "Traceback" not in stderr


SHOP = {
    "shop/cart.py": "class ShoppingCart:\n    def add_item(self, sku):\n        return sku\n",
    "shop/pricing.py": "def apply_discount(amount):\n    return amount * 0.9\n",
    "docs/payments.md": "# Payments\n\nRefunds go through the payment gateway.\n",
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    write_tree(root, SHOP)
    init_repo(root)
    return root


def test_a_read_only_index_and_repository_can_be_searched(shop: Path, tmp_path: Path) -> None:
    assert run_atlas("-q", "index", str(shop)).returncode == 0
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with read_only_view(shop, tmp_path / "ro") as view:
        env = {**git_env(), "TMPDIR": str(temporary)}
        for args in (["search", "--repo", str(view), "shopping cart"], ["status", "--repo", str(view)],
                     ["verify", "--repo", str(view)], ["query", "--root", str(view), "apply discount"]):  # fmt: skip
            done = subprocess.run(atlas_command(*args, "--format", "json"), capture_output=True, text=True, env=env)
            assert done.returncode == 0, (args, done.stderr)
            assert done.stderr == "", (args, done.stderr)
        found = subprocess.run(atlas_command("search", "--repo", str(view), "--format", "jsonl", "shopping cart"),
                               capture_output=True, text=True, env=env)  # fmt: skip
        assert found.stdout.splitlines()[0].find('"path":"shop/cart.py"') > 0, found.stdout
    assert list(temporary.iterdir()) == [], "opening the read-only index left files behind"


def test_regression_a_read_only_search_removes_the_links_a_killed_one_left(shop: Path, tmp_path: Path) -> None:
    # A read-only index is opened through a directory of links in TMPDIR, removed once open: a process killed in
    # those milliseconds (SIGKILL, the OOM killer) left `atlas-readonly-XXXXXXXX` there for ever, named for no one.
    # Now it is named for its process, and a later read-only open removes those of processes that are gone.
    assert run_atlas("-q", "index", str(shop)).returncode == 0
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()
    abandoned = temporary / f"atlas-readonly-{finished.pid}-k1ll3d00"
    running = temporary / f"atlas-readonly-{os.getpid()}-r4nn1ng0"
    for leftover in (abandoned, running):
        leftover.mkdir()
        (leftover / "meta.json").symlink_to(shop / "shop" / "cart.py")
    with read_only_view(shop, tmp_path / "ro") as view:
        done = subprocess.run(atlas_command("search", "--repo", str(view), "shopping cart"), capture_output=True,
                              text=True, env={**git_env(), "TMPDIR": str(temporary)})  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in temporary.iterdir()) == [running.name]
    assert (shop / "shop" / "cart.py").is_file()


def test_regression_a_read_only_index_with_a_full_temporary_disk_is_not_called_damaged(
    shop: Path, tmp_path: Path
) -> None:
    # A read-only index is opened through links made in TMPDIR; a TMPDIR without room for them (here: out of inodes)
    # had search, status and verify call the index damaged, exit 4, "rebuild it", which a read-only disk cannot.
    assert run_atlas("-q", "index", str(shop)).returncode == 0
    with read_only_view(shop, tmp_path / "ro") as view, small_disk(tmp_path / "tmp", "1m", inodes=3) as temporary:
        (temporary / "taken").mkdir()  # the root and this: one inode left, for mkdtemp's directory alone
        env = {**git_env(), "TMPDIR": str(temporary)}
        for args in (["search", "--repo", str(view), "shopping cart"], ["status", "--repo", str(view)],
                     ["verify", "--repo", str(view)]):  # fmt: skip
            done = subprocess.run(atlas_command(*args), capture_output=True, text=True, env=env)
            assert done.returncode == 3, (args, done.stderr)
            assert_one_sentence_and_hint(done.stderr, "temporary directory", "read-only")
            assert "TMPDIR" in done.stderr and "damaged" not in done.stderr, done.stderr
        assert [p.name for p in temporary.iterdir()] == ["taken"], "opening the read-only index left files behind"


def test_indexing_a_read_only_repository_is_one_sentence_and_a_hint(shop: Path, tmp_path: Path) -> None:
    with read_only_view(shop, tmp_path / "ro") as view:
        for args in (["index", str(view)], ["search", "--repo", str(view), "cart"]):
            done = run_atlas(*args)
            assert done.returncode == 3, done.stderr
            assert_one_sentence_and_hint(done.stderr, "read-only")
            assert "--index-dir" in done.stderr
        elsewhere = run_atlas("-q", "index", str(view), "--index-dir", str(tmp_path / "index"))
        assert elsewhere.returncode == 0, elsewhere.stderr


def test_a_full_disk_during_indexing_keeps_the_previous_index(shop: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "320k") as disk:
        index_dir = disk / "index"
        assert run_atlas("-q", "index", str(shop), "--index-dir", str(index_dir)).returncode == 0
        live = (index_dir / store.CURRENT).read_text()
        write_tree(shop, generated_files(600, seed=3, functions=8))
        done = run_atlas("index", str(shop), "--index-dir", str(index_dir))
        assert done.returncode == 3, done.stderr
        assert_one_sentence_and_hint(done.stderr, "full disk", str(index_dir))
        assert (index_dir / store.CURRENT).read_text() == live
        assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "the failed build left its files"
        found = run_atlas("search", "--repo", str(shop), "--index-dir", str(index_dir), "--format", "json", "cart")
        assert found.returncode == 0, found.stderr


@pytest.mark.parametrize("inodes", [10, 14])
def test_regression_a_disk_out_of_inodes_during_indexing_is_a_full_disk(tmp_path: Path, inodes: int) -> None:
    # A disk that ran out of room while tantivy's indexing thread wrote a segment (here: out of inodes, as a
    # tmpfs or a disk of many small files runs out) killed the thread, and tantivy's "An index writer was
    # killed" carries no error number: the build ended in "unexpected error: ValueError", with a bug-report hint.
    root = tmp_path / "repo"
    root.mkdir()
    write_tree(root, generated_files(600, seed=3, functions=8))
    init_repo(root)
    with small_disk(tmp_path / "disk", "20m", inodes=inodes) as disk:
        index_dir = disk / "index"
        done = run_atlas("index", str(root), "--index-dir", str(index_dir), "--no-history")
        assert done.returncode == 3, done.stderr
        assert_one_sentence_and_hint(done.stderr, "full disk", str(index_dir))
        assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "the failed build left its files"


def test_regression_a_disk_that_fills_while_the_side_store_is_written_is_a_full_disk(tmp_path: Path) -> None:
    # numpy's `save` writes an array with `tofile`, whose error on a disk that fills part-way through carries no error
    # number ("3000 requested and 992 written"): the build ended in "unexpected error: OSError" and a bug-report hint.
    # Three commits of 50 files each make co-change arrays of a few pages; the disks below fill during the side store.
    root = tmp_path / "repo"
    root.mkdir()
    init_repo(root, commit=False)
    for commit in range(3):
        write_tree(root, {f"pkg/m{commit}_{i}.py": f"def f{commit}_{i}():\n    pass\n" for i in range(50)})
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"batch {commit}")
    for kib in range(64, 132, 4):
        with small_disk(tmp_path / f"disk{kib}", f"{kib}k") as disk:
            index_dir = disk / "index"
            done = run_atlas("index", str(root), "--index-dir", str(index_dir))
            if done.returncode == 0:
                continue
            assert done.returncode == 3, (kib, done.stderr)
            assert_one_sentence_and_hint(done.stderr, "full disk", str(index_dir))
            assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], (kib, "the failed build left files")


@pytest.mark.parametrize("backend", ["git", "pydriller"])
def test_regression_a_system_without_a_writable_temporary_directory_indexes_with_history(
    shop: Path, tmp_path: Path, backend: str
) -> None:
    # In a container whose root file system is read-only (/tmp, /var/tmp and the working directory too), git's
    # errors had no temporary file to go to: `atlas index` ended in "unexpected error: FileNotFoundError: No usable
    # temporary directory found", though git history is never a precondition of an index.
    writable = tmp_path / "writable"
    writable.mkdir()
    package = Path(atlas.__file__).parents[1]
    index = [sys.executable, "-m", "atlas", "index", str(shop), "--index-dir", str(writable / "index")]
    command = without_temporary_directory([*index, "--history-backend", backend, "--format", "json"], writable, shop)
    env = {**git_env(), "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["signals"]["git"]["available"] is True, done.stdout


def test_regression_a_first_build_that_cannot_write_current_leaves_no_generation(shop: Path, tmp_path: Path) -> None:
    # A disk with room for the whole generation but not for CURRENT (here: one inode short): the generation was left
    # renamed into place without CURRENT, and the next search called the index damaged ("CURRENT is missing, though
    # gen-000001 is there (a half-copied index?)", exit 4) instead of finding none and building one.
    with small_disk(tmp_path / "roomy", "20m") as roomy:
        assert run_atlas("-q", "index", str(shop), "--index-dir", str(roomy / "index")).returncode == 0
        needed = sum(1 for _ in roomy.rglob("*")) + 1  # and the file system's root
    for inodes in range(needed - 3, needed):
        with small_disk(tmp_path / f"disk{inodes}", "20m", inodes=inodes) as disk:
            index_dir = disk / "index"
            done = run_atlas("index", str(shop), "--index-dir", str(index_dir))
            assert done.returncode == 3, (inodes, done.stderr)
            assert_one_sentence_and_hint(done.stderr, "full disk", str(index_dir))
            assert not [p.name for p in index_dir.iterdir() if p.name.startswith("gen-")], inodes
            found = run_atlas("status", "--repo", str(shop), "--index-dir", str(index_dir))
            assert found.returncode == 3 and "no index" in found.stderr, (inodes, found.stderr)


def test_regression_a_root_whose_index_paths_pass_path_max_is_one_sentence_and_a_hint(tmp_path: Path) -> None:
    # A repository this deep (its path 4,040 bytes, its files' within PATH_MAX) has index files whose paths are not:
    # the build ended in "unexpected error: OSError: [Errno 36] File name too long" and a bug-report hint.
    depth = (4040 - len(os.fsencode(tmp_path))) // 251
    deep = tmp_path.joinpath(*["d" * 250] * depth, "e" * (4040 - len(os.fsencode(tmp_path)) - 251 * depth - 1))
    deep.mkdir(parents=True)
    write_tree(deep, SHOP)
    init_repo(deep)
    done = run_atlas("index", str(deep), "--no-history")
    assert done.returncode == 3, done.stderr
    assert_one_sentence_and_hint(done.stderr, "too long", str(deep / ".atlas"))
    assert "--index-dir" in done.stderr
    assert not [p.name for p in (deep / ".atlas").iterdir() if ".tmp-" in p.name], "the failed build left its files"
    elsewhere = tmp_path / "index"
    assert run_atlas("-q", "index", str(deep), "--index-dir", str(elsewhere), "--no-history").returncode == 0
    found = run_atlas("search", "--repo", str(deep), "--index-dir", str(elsewhere), "--format", "json", "cart")
    assert found.returncode == 0, found.stderr


def test_a_file_with_fifty_thousand_matching_definitions_gives_a_small_hit(tmp_path: Path) -> None:
    from tests.test_cli import _validator

    root = tmp_path / "many"
    root.mkdir()
    write_tree(root, {
        "defs.py": "".join(f"def parse_item_{i}(x):\n    return x\n" for i in range(50_000)),
        "other.py": "def parse_item(x):\n    return x\n",
    })  # fmt: skip
    init_repo(root)
    assert run_atlas("-q", "index", str(root), "--max-file-size", "4000000", "--no-history").returncode == 0
    found = run_atlas("search", "--repo", str(root), "--format", "jsonl", "--no-lines", "parse item")
    assert found.returncode == 0, found.stderr
    assert len(found.stdout) < 10_000, f"{len(found.stdout)} bytes of hits"
    hits = {hit["path"]: hit for hit in map(json.loads, found.stdout.splitlines())}
    for hit in hits.values():
        _validator("hit.v1.schema.json").validate(hit)
    assert len(hits["defs.py"]["symbols"]) == 20 and hits["defs.py"]["symbols_omitted"] == 49_980
    assert hits["other.py"]["symbols"] == ["parse_item"] and "symbols_omitted" not in hits["other.py"]


def test_jobs_far_beyond_the_work_start_only_the_workers_it_needs(tmp_path: Path) -> None:
    root = tmp_path / "small"
    root.mkdir()
    write_tree(root, generated_files(40, seed=5))
    init_repo(root)
    proc = subprocess.Popen(
        atlas_command("-q", "index", str(root), "--jobs", "1000", "--no-history"), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=git_env(), start_new_session=True,
    )  # fmt: skip
    samples: list[list[str]] = []
    with reaped(proc):
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            samples.append(group_members(proc.pid))
            time.sleep(0.002)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    # The short git commands the build runs beside its workers (attributes, the listing) are not workers, nor is
    # one of them seen between its fork and its exec, still named python: a member counts when it is never seen as
    # git and is seen in three samples at least (a worker lives through the build).
    pids = collections.Counter(member.split()[0] for sample in samples for member in sample)
    ever_git = {member.split()[0] for sample in samples for member in sample if member.endswith("(git)")}
    lasting = {pid for pid, seen in pids.items() if seen >= 3 and pid not in ever_git}
    most = max((len([m for m in sample if m.split()[0] in lasting]) for sample in samples), default=0)
    cores = len(os.sched_getaffinity(0))
    assert 1 <= most <= 1 + min(cores, 40 // 8), f"{most} processes for 40 files on {cores} cores"


def test_a_bare_repository_is_refused_not_indexed_as_git_internals(shop: Path, tmp_path: Path) -> None:
    bare = tmp_path / "shop.git"
    git(tmp_path, "clone", "-q", "--bare", str(shop), str(bare))
    inside = ["index", str(shop / ".git" / "hooks")]
    cache_key = ["cache-key", "--repo", str(bare)]  # it keyed an index no build can make
    for args in (["index", str(bare)], ["search", "--repo", str(bare), "cart"], ["index", str(shop / ".git")], inside,
                 cache_key):  # fmt: skip
        done = run_atlas(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert_one_sentence_and_hint(done.stderr, "bare repository", "no work tree")
    assert not (bare / ".atlas").exists()


SOURCELESS_COMMANDS = [["status"], ["verify"], ["export", "{tmp}/out.tgz"], ["query", "cart"], ["explain", "cart"],
                       ["search", "cart"], ["query", "--preset", "fast", "cart"]]  # fmt: skip


@pytest.mark.parametrize(
    "command", SOURCELESS_COMMANDS, ids=lambda command: " ".join(command[:-1] if command[-1] == "cart" else command[:1])
)
@pytest.mark.parametrize("where", ["git-directory", "proc"])
def test_regression_a_root_without_source_is_refused_by_every_command_not_called_unindexed(
    shop: Path, tmp_path: Path, command: list[str], where: str
) -> None:
    # `status`, `verify`, `export` and `query` said "no index; build one with `atlas index`" (exit 3) of a `.git` or
    # /proc, where `atlas index` refuses to build one (exit 2); `search` said it was building one, then refused.
    root = shop / ".git" if where == "git-directory" else Path("/proc")
    args = [arg.format(tmp=tmp_path) for arg in command]
    done = run_atlas(args[0], "--repo", str(root), *args[1:])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith("  hint: "), done.stderr
    assert ("bare repository" if where == "git-directory" else "not source code") in lines[0], done.stderr
    assert not (root / ".atlas").exists() and not (tmp_path / "out.tgz").exists()


@pytest.mark.parametrize("where", ["git-directory", "proc"])
def test_regression_mcp_refuses_a_root_without_source_at_start(shop: Path, where: str) -> None:
    # The server started "building an index in the background", answered every call with a tool error and exited
    # 0, where `atlas index` and `atlas search` refuse such a root (exit 2).
    pytest.importorskip("mcp")
    root = shop / ".git" if where == "git-directory" else Path("/proc")
    done = subprocess.run(atlas_command("mcp", "--root", str(root)), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, env=git_env())  # fmt: skip
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert_one_sentence_and_hint(done.stderr, "bare repository" if where == "git-directory" else "not source code")
    assert not (root / ".atlas").exists()


@pytest.mark.parametrize("where", ["the-repository", "a-directory-of-other-files"])
def test_regression_mcp_refuses_an_index_directory_no_build_can_use_at_start(
    shop: Path, tmp_path: Path, where: str
) -> None:
    # As for a root without source: a server whose every call said the build failed, then exit 0.
    pytest.importorskip("mcp")
    index_dir = {"the-repository": shop, "a-directory-of-other-files": shop / "shop"}
    before = sorted(p.name for p in (shop / "shop").iterdir())
    command = atlas_command("mcp", "--root", str(shop), "--index-dir", str(index_dir[where]))
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=git_env())
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert_one_sentence_and_hint(done.stderr)
    assert sorted(p.name for p in (shop / "shop").iterdir()) == before


def test_an_index_directory_nothing_can_be_written_to_is_one_sentence_and_a_hint(shop: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    assert run_atlas("-q", "index", str(shop), "--index-dir", str(index_dir)).returncode == 0
    (index_dir / "lock").unlink()
    with immutable(index_dir):
        done = run_atlas("index", str(shop), "--index-dir", str(index_dir), "--rebuild")
        assert done.returncode == 3, done.stderr
        assert_one_sentence_and_hint(done.stderr, str(index_dir), "not writable")
        found = run_atlas("search", "--repo", str(shop), "--index-dir", str(index_dir), "--format", "json", "cart")
        assert found.returncode == 0, found.stderr


STALLED_CLEANUP = """
import os, signal, time
import atlas.cli
atlas.cli.CLEANUP_GRACE = 0.5
atlas.cli.install_signal_handlers()
try:
    os.kill(os.getpid(), signal.{name})
    time.sleep(10)
except KeyboardInterrupt:
    time.sleep(60)  # a cleanup that stalls (a pool that never joins, a lock never released)
"""


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stalled_cleanup_still_ends_the_process_after_the_grace(name: str, code: int) -> None:
    started = time.monotonic()
    done = _stalled(name, {})
    assert done.returncode == code, done.stderr
    assert time.monotonic() - started < 10
    assert_one_sentence_and_hint(done.stderr, "interrupted", "did not finish")


def test_a_stalled_cleanup_shows_where_it_stalled_when_asked() -> None:
    done = _stalled("SIGINT", {"PYTHONFAULTHANDLER": "1"})
    assert done.returncode == 130, done.stderr
    assert "did not finish" in done.stderr and "time.sleep" not in done.stderr  # stacks name files and lines
    assert 'File "<string>", line 10' in done.stderr, done.stderr


def _stalled(name: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"} | extra_env
    code = STALLED_CLEANUP.format(name=name)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)


def test_an_ignored_interrupt_stays_ignored() -> None:
    # A background job of a shell without job control starts with ^C ignored: Atlas keeps it so.
    code = (
        "import signal, atlas.cli\natlas.cli.install_signal_handlers()\n"
        "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    assert done.stdout.strip() == "True", done.stderr


def test_an_unchanged_index_on_a_read_only_disk_is_reported_unchanged(shop: Path, tmp_path: Path) -> None:
    assert run_atlas("-q", "index", str(shop)).returncode == 0
    with read_only_view(shop, tmp_path / "ro") as view:
        done = run_atlas("-q", "index", str(view), "--format", "json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["mode"] == "unchanged"


def _limited(limit: int, soft: int) -> Callable[[], None]:
    """A preexec_fn that lowers the soft limit `limit` (resource.RLIMIT_*) of the child to `soft`."""

    def lower() -> None:
        resource.setrlimit(limit, (soft, resource.getrlimit(limit)[1]))

    return lower


def _run_limited(limit: int, soft: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(atlas_command(*args), capture_output=True, text=True, timeout=180, env=git_env(),
                          preexec_fn=_limited(limit, soft))  # fmt: skip


@pytest.fixture(scope="module")
def indexed_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An indexed repository of 300 files: its index's files pass 20 KB, and the build opens dozens of files."""
    root = tmp_path_factory.mktemp("limits") / "repo"
    root.mkdir()
    write_tree(root, generated_files(300, seed=11, functions=4))
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    return root


def test_regression_too_few_file_descriptors_to_index_is_one_sentence_and_a_hint(indexed_300: Path) -> None:
    # `ulimit -n` a few dozen: the build ran out of descriptors forking the parse pool (OSError EMFILE), opening
    # tantivy's meta.json or in tantivy's indexing thread ("An index writer was killed"): "unexpected error ...
    # report it".
    index_dir = indexed_300 / ".atlas"
    live = (index_dir / store.CURRENT).read_text()
    failed = 0
    for soft in range(12, 32, 2):
        done = _run_limited(resource.RLIMIT_NOFILE, soft, "index", str(indexed_300), "--rebuild", "--jobs", "2")
        assert done.returncode in (0, 3), (soft, done.stderr)
        if done.returncode == 3:
            failed += 1
            assert_one_sentence_and_hint(done.stderr, "files open", f"`ulimit -n`, is {soft}")
            assert (index_dir / store.CURRENT).read_text() == live, soft
        live = (index_dir / store.CURRENT).read_text()
    assert failed, "no limit was low enough to fail the build"
    # A build out of descriptors may have none left to remove its half-built generation with: the next run does.
    assert run_atlas("-q", "index", str(indexed_300), "--rebuild").returncode == 0
    assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "a half-built generation was left"


def test_regression_too_few_file_descriptors_to_search_is_not_a_damaged_index(indexed_300: Path) -> None:
    # `ulimit -n` a few dozen: loading the side store failed with EMFILE, and search called the index damaged
    # (exit 4, "rebuild it with `atlas index --rebuild`"), which would not help: the index is sound. Read, not
    # mapped (a map holds a descriptor per array), the side store now needs none kept open, so the search fails
    # only a few descriptors above the standard streams.
    failed = 0
    for soft in range(5, 30):
        done = _run_limited(resource.RLIMIT_NOFILE, soft, "search", "--repo", str(indexed_300), "handle")
        assert done.returncode in (0, 3), (soft, done.stderr)
        if done.returncode == 3:
            failed += 1
            assert_one_sentence_and_hint(done.stderr, "files open", f"`ulimit -n`, is {soft}")
    assert failed, "no limit was low enough to fail the search"
    assert run_atlas("-q", "verify", "--repo", str(indexed_300)).returncode == 0


def test_regression_a_file_size_limit_while_indexing_or_exporting_is_one_sentence_and_a_hint(
    indexed_300: Path, tmp_path: Path
) -> None:
    # `ulimit -f` (RLIMIT_FSIZE) below an index file's size: Python ignores SIGXFSZ, so the write fails with EFBIG,
    # and index and export ended in "unexpected error: OSError: [Errno 27] File too large ... report it".
    index_dir = indexed_300 / ".atlas"
    live = (index_dir / store.CURRENT).read_text()
    done = _run_limited(resource.RLIMIT_FSIZE, 20_000, "index", str(indexed_300), "--rebuild")
    assert done.returncode == 3, done.stderr
    assert_one_sentence_and_hint(done.stderr, "file size limit", "20,000 bytes")
    assert (index_dir / store.CURRENT).read_text() == live
    assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "the failed build left its files"
    archive = tmp_path / "index.tgz"
    done = _run_limited(resource.RLIMIT_FSIZE, 20_000, "export", "--repo", str(indexed_300), str(archive))
    assert done.returncode == 3, done.stderr
    assert_one_sentence_and_hint(done.stderr, "file size limit")
    assert list(tmp_path.iterdir()) == [], "the failed export left its file"


@pytest.mark.parametrize("command", ["index", "search", "status"])
def test_regression_a_thread_tantivy_cannot_start_is_one_sentence_and_a_hint(shop: Path, command: str) -> None:
    # Rust gives each thread it starts RUST_MIN_STACK bytes of stack; when the system refuses one (that variable
    # huge, a tight `ulimit -v` or `ulimit -u`), tantivy panics. `atlas index` printed Rust's panic lines and a
    # Python traceback and exited 1 ("no results"); search and status called the sound index damaged (exit 4).
    assert run_atlas("-q", "index", str(shop)).returncode == 0
    index_dir = shop / ".atlas"
    live = (index_dir / store.CURRENT).read_text()
    args = {"index": ["index", str(shop), "--rebuild"], "search": ["search", "--repo", str(shop), "cart"],
            "status": ["status", "--repo", str(shop)]}[command]  # fmt: skip
    done = subprocess.run(atlas_command(*args), capture_output=True, text=True, timeout=180,
                          env={**git_env(), "RUST_MIN_STACK": str(1 << 46)})  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert_one_sentence_and_hint(done.stderr, "refused this process a new thread")
    assert "damaged" not in done.stderr and "panicked at" not in done.stderr, done.stderr
    assert (index_dir / store.CURRENT).read_text() == live
    assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "the failed build left its files"
    assert run_atlas("-q", "verify", "--repo", str(shop)).returncode == 0


@pytest.mark.parametrize("most", [4, 6, 8, 12, 16])
def test_regression_a_limit_on_processes_and_threads_is_one_sentence_and_a_hint(indexed_300: Path, most: int) -> None:
    # Under a pids limit (a container's, or `ulimit -u` for a user), the pool's threads or tantivy's could not start:
    # "unexpected error: RuntimeError: can't start new thread" or "ValueError: ... Failed to spawn segment merging
    # thread"; when a thread of the pool failed after its workers were forked, atlas hung at exit for ever, waiting
    # for workers nobody would stop.
    index_dir = indexed_300 / ".atlas"
    live = (index_dir / store.CURRENT).read_text()
    with pids_limited(f"atlas-test-{os.getpid()}-{most}", most) as enter:
        proc = subprocess.Popen(atlas_command("index", str(indexed_300), "--rebuild", "--jobs", "2"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=git_env(),
                                preexec_fn=enter, start_new_session=True)  # fmt: skip
        with reaped(proc):
            try:
                _, stderr = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                pytest.fail(f"atlas hung under a limit of {most} processes and threads")
            assert proc.returncode in (0, 3), stderr
            if proc.returncode == 3:
                assert_one_sentence_and_hint(stderr, "refused this process a new thread")
                assert (index_dir / store.CURRENT).read_text() == live
            assert wait_for_no_members(proc.pid) == [], "worker processes outlived `atlas index`"


def test_regression_running_out_of_memory_while_indexing_is_never_an_unexpected_error(indexed_300: Path) -> None:
    # Under a tight `ulimit -v` (RLIMIT_AS), Python's MemoryError ended the build in "unexpected error: MemoryError:
    # ... report it". Now it names the limit. What no Python code can catch is left as it is: Rust aborts on a failed
    # allocation (SIGABRT), OpenBLAS exits when its buffers cannot be allocated at numpy's import.
    index_dir = indexed_300 / ".atlas"
    live = (index_dir / store.CURRENT).read_text()
    # Compiled first: CPython's parser short of memory reports a SyntaxError (PYTHONDONTWRITEBYTECODE, a fresh tree),
    # which is the interpreter's failure, not Atlas's.
    compileall.compile_dir(Path(atlas.__file__).parent, quiet=1)
    for megabytes in range(150, 205, 10):  # here: numpy's OpenBLAS, MemoryError, then threads refused
        done = _run_limited(resource.RLIMIT_AS, megabytes * 1_000_000, "index", str(indexed_300), "--rebuild")
        assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr, (megabytes, done.stderr)
        if "ran out of memory" in done.stderr:
            assert done.returncode == 3 and "`ulimit -v`" in done.stderr, done.stderr
        live = (index_dir / store.CURRENT).read_text() if done.returncode == 0 else live
        assert (index_dir / store.CURRENT).read_text() == live


def _strict_umask_without_read_override() -> None:
    """`preexec_fn`: umask 277 (files and directories read-only to their owner), and for root the capabilities
    that let it write anywhere dropped, so the modes apply."""
    from tests.test_bad_input import _without_read_override

    if os.geteuid() == 0:
        _without_read_override()
    os.umask(0o277)


def test_a_umask_that_takes_the_owners_write_bit_leaves_a_usable_index(tmp_path: Path) -> None:
    """Under `umask 277` the first `atlas index` made `.atlas` read-only to its owner and then could not write
    into it (exit 3), and neither could any later run. Atlas keeps its owner's bits, and the group's and others'
    bits stay as the umask says."""
    root = tmp_path / "repo"
    write_tree(root, {"fine.py": "def fine(): pass\n"})
    init_repo(root)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(atlas_command("-q", *args), capture_output=True, text=True, timeout=120,
                                  env=git_env(), preexec_fn=_strict_umask_without_read_override)  # fmt: skip
        except subprocess.SubprocessError as err:
            pytest.skip(f"cannot drop the capabilities that let root write anywhere: {err}")

    assert run("index", str(root)).returncode == 0
    (root / "other.py").write_text("def other(): pass\n")
    updated = run("index", str(root))
    assert updated.returncode == 0, updated.stderr
    found = run("search", "--repo", str(root), "--format", "jsonl", "other")
    assert found.returncode == 0 and json.loads(found.stdout.splitlines()[0])["path"] == "other.py"
    assert stat.S_IMODE((root / ".atlas").stat().st_mode) == 0o700


def test_regression_a_build_under_an_address_space_limit_ends_in_an_index_or_a_sentence_never_an_abort(
    indexed_300: Path,
) -> None:
    # From ~200 MB to 1 GB of `ulimit -v`, one limit in three killed `atlas index` with SIGABRT: a Rust allocation
    # in tantivy's writer failed ("memory allocation of 4194304 bytes failed", Python's fault handler's stacks, no
    # sentence), or was "unexpected error: ValueError ... (os error 11)". glibc's malloc reserved 64 MiB of the
    # limit per thread's arena, and tantivy's heap (1G / 5) did not fit the room left.
    index_dir = indexed_300 / ".atlas"
    outcomes = set()
    for megabytes in range(200, 1000, 20):
        done = _run_limited(resource.RLIMIT_AS, megabytes * 1_000_000, "-q", "index", str(indexed_300), "--rebuild")
        assert done.returncode in (0, 3), (megabytes, done.returncode, done.stderr)
        if done.returncode == 3:
            assert_one_sentence_and_hint(done.stderr)
            assert "`ulimit -v`" in done.stderr, (megabytes, done.stderr)
        outcomes.add(done.returncode)
    assert outcomes == {0, 3}, "no limit was low enough to fail the build, or none high enough to build it"
    assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "a failed build left its files"


@pytest.fixture(scope="module")
def large_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository of 80 files of ~0.5 MB: each parse result the workers send back is as large."""
    root = tmp_path_factory.mktemp("large") / "repo"
    files: dict[str | bytes, str | bytes] = {}
    for i in range(40):
        files[f"m{i}.py"] = "".join(f"def f{i}_{j}(a, b):\n    return [a, b, {j}, 'x{j}']\n\n" for j in range(12000))
        files[f"j{i}.js"] = "".join(f"function g{i}_{j}(a) {{ return a * {j}; }}\n" for j in range(12000))
    write_tree(root, files)
    init_repo(root)
    return root


@pytest.mark.slow
def test_regression_a_result_the_parent_has_no_memory_to_read_ends_the_build_instead_of_hanging_it(
    large_results: Path,
) -> None:
    # Under `ulimit -v` a few hundred MB, reading a large parse result back (its bytes, then its objects) raised
    # MemoryError in the pool's result-handler thread, which died: every result after it never came and `atlas
    # index` hung for good (at 280 and 360 MB here, one run in two). Once its jobs were failed, `terminate` still
    # hung: a worker writing its result held the pipe's lock, which the pool's sentinel waits for. (A whole build
    # of this repository takes ~30 s on two cores: 150 s is a hang.)
    for megabytes in (280, 360):  # where it hung, one run in two; every 20 MB from 260 to 400 in the hunt
        try:
            done = _run_limited_for(150, resource.RLIMIT_AS, megabytes * 1_000_000, "-q", "index", str(large_results),
                                    "--rebuild")  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"`atlas index` hung under `ulimit -v` {megabytes} MB")
        assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr, (megabytes, done.stderr)
        if done.returncode == 3 and "ran out of memory" in done.stderr:
            assert_one_sentence_and_hint(done.stderr, "`ulimit -v`")


def _run_limited_for(timeout: float, limit: int, soft: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`atlas *args` under the soft limit `soft` of `limit`, its process group killed after `timeout` seconds
    (TimeoutExpired): its workers would keep the output pipes open."""
    proc = subprocess.Popen(atlas_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=git_env(), preexec_fn=_limited(limit, soft), start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


_REFUSED_WRITER = """
import sys, threading, time
from pathlib import Path
from atlas.errors import limit_error
from atlas.index.writer import GenerationWriter, pids_refusals

writer = GenerationWriter(Path(sys.argv[1]), 64 << 20)
before = pids_refusals()
stop, threads = threading.Event(), []
try:
    while len(threads) < 200:
        thread = threading.Thread(target=stop.wait)
        thread.start()
        threads.append(thread)
except RuntimeError:
    pass
stop.set()
for thread in threads:
    thread.join()
try:
    with writer._writing():  # what tantivy says once a thread of its writer could not start
        raise ValueError("An error occurred in a thread: 'An index writer was killed.. A worker thread encountered "
                         "an error (io::Error most likely) or panicked.'")
except RuntimeError as err:
    print(before, pids_refusals(), limit_error(err))
writer.abandon()
"""


def test_regression_a_writer_killed_after_a_pids_limit_refused_a_thread_names_the_limit(tmp_path: Path) -> None:
    # Under a pids limit, tantivy's indexing thread died when a thread it needed was refused; tantivy said only "An
    # index writer was killed", which ended the build in "unexpected error: ValueError: … report it" (seen in a full
    # run of test_regression_a_limit_on_processes_and_threads_is_one_sentence_and_a_hint). The cgroup's count of
    # refusals (`pids.events`) since the writer opened now names the limit.
    with pids_limited(f"atlas-test-{os.getpid()}-refusals", 40) as enter:
        proc = subprocess.run([sys.executable, "-c", _REFUSED_WRITER, str(tmp_path / "index")], capture_output=True,
                              text=True, timeout=60, preexec_fn=enter, env=git_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    before, after, message = proc.stdout.split(" ", 2)
    assert int(before) == 0 and int(after) >= 1
    assert "refused this process a new thread" in message, message


def test_pids_refusals_reads_the_cgroup_and_those_above_it(tmp_path: Path) -> None:
    from atlas.index.writer import pids_refusals

    groups = tmp_path / "proc-cgroup"
    for place, count in (("pids/outer", 2), ("pids/outer/inner", 3), ("outer", 5), ("outer/inner", 7)):
        (tmp_path / place).mkdir(parents=True, exist_ok=True)
        (tmp_path / place / "pids.events").write_text(f"max {count}\n")
    groups.write_text("9:cpu:/elsewhere\n8:pids:/outer/inner\n0::/outer/inner\n")
    assert pids_refusals(str(groups), str(tmp_path)) == 5  # cgroup v1's pids hierarchy
    groups.write_text("0::/outer/inner\nmalformed\n")
    assert pids_refusals(str(groups), str(tmp_path)) == 12  # v2's unified tree
    groups.write_text("0::/nowhere\n")
    assert pids_refusals(str(groups), str(tmp_path)) == 0
    assert pids_refusals(str(tmp_path / "absent"), str(tmp_path)) == 0
