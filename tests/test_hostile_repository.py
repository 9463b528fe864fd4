"""A repository is data, never code or a place to write: what its git config names is never run, and an index
directory that holds something other than an Atlas index is refused before anything in it is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import atlas
from atlas.errors import InputError
from atlas.index import store
from tests.conftest import git, git_env, init_repo, write_tree
from tests.test_hostile_process import SHOP, atlas_command, run_atlas

COMMANDS = [
    ("index", "--history-backend", "git"),
    ("index", "--rebuild", "--history-backend", "pydriller"),
    ("search", "refund"),
    ("query", "refund"),
    ("query", "--preset", "fast", "refund"),
    ("quick", "--preset", "fast", "refund"),
    ("explain", "--preset", "fast", "refund"),
    ("status",),
    ("verify",),
]


def _shop(tmp_path: Path, files: dict[str, str] = SHOP) -> Path:
    """A committed repository of `files` (the shop's by default) at `tmp_path / "shop"`."""
    root = tmp_path / "shop"
    root.mkdir()
    write_tree(root, files)
    init_repo(root)
    return root


@pytest.fixture
def booby_trapped(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose `.git/config` names a command as its file-system monitor, and the file that command
    would write."""
    root = _shop(tmp_path)
    marker = tmp_path / "ran"
    git(root, "config", "core.fsmonitor", f"touch {marker}; false")
    return root, marker


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_command_the_repository_configures_is_never_run(booby_trapped: tuple[Path, Path], command: tuple) -> None:
    root, marker = booby_trapped
    if command[0] != "index":
        assert run_atlas("-q", "index", str(root)).returncode == 0
    where = (str(root),) if command[0] == "index" else ("--repo", str(root))
    result = run_atlas("-q", command[0], *where, *command[1:])
    assert result.returncode in (0, 1), result.stderr
    assert not marker.exists(), f"atlas {' '.join(command)} ran the repository's core.fsmonitor"


def test_an_index_directory_holding_other_files_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    elsewhere = tmp_path / "reports"
    write_tree(elsewhere, {"gen-reports/q3.txt": "Q3 numbers\n", "notes.txt": "keep\n"})
    result = run_atlas("-q", "index", str(root), "--index-dir", str(elsewhere))
    assert result.returncode == 2
    assert "not an Atlas index" in result.stderr and "hint:" in result.stderr
    assert sorted(p.relative_to(elsewhere).as_posix() for p in elsewhere.rglob("*")) == [
        "gen-reports", "gen-reports/q3.txt", "notes.txt",
    ]  # fmt: skip


def test_the_repository_itself_or_a_file_is_no_index_directory(tmp_path: Path) -> None:
    root = _shop(tmp_path, {**SHOP, "gen-protos/cart.proto": "message Cart {}\n"})
    for index_dir, words in ((root, "would hold the repository"), (tmp_path, "would hold the repository"),
                             (Path("/dev/null"), "is not a directory")):  # fmt: skip
        result = run_atlas("-q", "index", str(root), "--index-dir", str(index_dir))
        assert result.returncode == 2 and words in result.stderr, result.stderr
    assert git(root, "status", "--porcelain") == b""


def test_regression_an_index_directory_that_is_a_dangling_or_looping_link_is_a_usage_error(tmp_path: Path) -> None:
    # `.atlas` as a dangling link was "unexpected error: FileExistsError" (mkdir), a loop "RuntimeError: Symlink
    # loop" (resolve), both exit 3 with "report it".
    root = _shop(tmp_path)
    (root / ".atlas").symlink_to(tmp_path / "nowhere")
    for command in (("index", str(root)), ("search", "--repo", str(root), "cart")):
        result = run_atlas("-q", *command)
        assert result.returncode == 2, result.stderr
        assert "is a symbolic link that leads to no directory" in result.stderr and "hint:" in result.stderr
    (root / ".atlas").unlink()
    (root / ".atlas").symlink_to(root / ".atlas")
    assert "leads to no directory" in run_atlas("-q", "index", str(root)).stderr
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    result = run_atlas("-q", "index", str(root), "--index-dir", str(tmp_path / "loop1"))
    assert result.returncode == 2 and "cannot be resolved" in result.stderr, result.stderr
    assert "unexpected error" not in result.stderr


def test_an_empty_or_atlas_written_index_directory_is_taken_and_only_atlas_generations_are_replaced(
    tmp_path: Path,
) -> None:
    root = _shop(tmp_path)
    index_dir = tmp_path / "empty"
    index_dir.mkdir()
    assert run_atlas("-q", "index", str(root), "--index-dir", str(index_dir)).returncode == 0
    (index_dir / "gen-notes").mkdir()  # a name of the generations' prefix that Atlas never makes
    assert run_atlas("-q", "index", str(root), "--index-dir", str(index_dir), "--rebuild").returncode == 0
    assert run_atlas("-q", "index", str(root), "--index-dir", str(index_dir), "--rebuild").returncode == 0
    names = sorted(p.name for p in index_dir.iterdir())
    assert "gen-notes" in names and "gen-000001" not in names and "gen-000003" in names


# --- numbers and streams a user (or a repository's atlas.toml) can give ----------------------------

HUGE = "99999999999999999999999"


@pytest.fixture(scope="module")
def indexed_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("numbers") / "shop"
    root.mkdir()
    write_tree(root, SHOP)
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    return root


@pytest.mark.parametrize(
    "args",
    [
        ("search", "--weight", "candidates=1e10", "refund"),
        ("search", "--weight", "candidates=1e308", "refund"),
        ("search", "--weight", "bm25=1e300", "refund"),
        ("query", "--weight", "query_terms=4294967296", "refund"),
        ("query", "--top", "4294967296", "refund"),
        ("explain", "--top", HUGE, "refund"),
        ("query", "--max-tokens", HUGE, "refund"),
        ("quick", "--max-bytes", HUGE, "refund"),
        ("index", "--history", HUGE),
        ("index", "--max-file-size", "9223372036854775807"),
        ("index", "--jobs", HUGE),
    ],
    ids=lambda args: " ".join(args[:3]),
)
def test_a_number_too_large_for_what_it_sizes_is_a_usage_error(indexed_shop: Path, args: tuple[str, ...]) -> None:
    where = (str(indexed_shop),) if args[0] == "index" else ("--repo", str(indexed_shop))
    result = run_atlas("-q", args[0], *where, *args[1:], timeout=60)
    assert result.returncode == 2, result.stderr
    assert "at most" in result.stderr and "hint:" in result.stderr and "Traceback" not in result.stderr


def test_a_repository_setting_too_large_stops_the_mcp_server_at_its_start_with_the_reason(tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    root = _shop(tmp_path, {**SHOP, "atlas.toml": "[search.weights]\ncandidates = 1e10\n"})
    result = run_atlas("mcp", "--repo", str(root), timeout=60)
    assert result.returncode == 2
    assert "candidates" in result.stderr and "at most" in result.stderr


@pytest.mark.parametrize("command", ["search", "query"])
def test_an_endless_query_stream_ends_in_a_usage_error_not_in_exhausted_memory(
    indexed_shop: Path, command: str
) -> None:
    with open("/dev/zero", "rb") as endless:
        result = subprocess.run(
            atlas_command("-q", command, "--repo", str(indexed_shop)), stdin=endless, capture_output=True,
            text=True, timeout=60, env=git_env(),
        )  # fmt: skip
    assert result.returncode == 2 and "longer than" in result.stderr
    file_flag = "--query-file" if command == "search" else "--task-file"
    result = run_atlas("-q", command, "--repo", str(indexed_shop), file_flag, "/dev/zero", timeout=60)
    assert result.returncode == 2 and "longer than" in result.stderr
    rendered = run_atlas("-q", "render", "/dev/zero", "--repo", str(indexed_shop), timeout=60)
    assert rendered.returncode == 2 and "larger than" in rendered.stderr


def test_an_index_directory_a_first_build_left_early_is_taken_again(tmp_path: Path) -> None:
    # ^C in the walk of a first build leaves `.atlas/` with the `.gitignore` Atlas wrote (and maybe a temporary
    # generation): the next run takes it as its own.
    root = _shop(tmp_path)
    (root / ".atlas").mkdir()
    (root / ".atlas" / ".gitignore").write_bytes(b"*\n")
    (root / ".atlas" / "gen-000001.tmp-999999").mkdir()
    assert run_atlas("-q", "index", str(root)).returncode == 0
    assert run_atlas("-q", "search", "--repo", str(root), "refund").returncode == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".gitignore").write_bytes(b"*.log\n")  # a user's own ignore file: not Atlas's
    assert run_atlas("-q", "index", str(root), "--index-dir", str(tmp_path / "mine")).returncode == 2


# --- the files the walk reads beside the repository's: ignore files and git's pointers ------------------

def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _zero(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/zero")


TRAPS = {
    ".gitignore is a FIFO": lambda root: _fifo(root / ".gitignore"),
    ".atlasignore is a FIFO": lambda root: _fifo(root / ".atlasignore"),
    "info/exclude is a FIFO": lambda root: _fifo(root / ".git" / "info" / "exclude"),
    "info/exclude is /dev/zero": lambda root: _zero(root / ".git" / "info" / "exclude"),
    "a parent's .gitignore is /dev/zero": lambda root: _zero(root / ".gitignore"),
}


@pytest.mark.parametrize("trap", list(TRAPS), ids=list(TRAPS))
def test_an_ignore_file_that_is_a_fifo_or_a_device_is_not_waited_for_or_read_without_end(
    tmp_path: Path, trap: str
) -> None:
    root = _shop(tmp_path)
    (root / ".git" / "info").mkdir(exist_ok=True)
    TRAPS[trap](root)
    target = root / "shop" if trap.startswith("a parent") else root  # a sub-directory reads its parents' rules
    result = run_atlas("-q", "index", str(target), "--format", "json", timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files_indexed"] >= 2


def test_a_git_file_that_is_a_fifo_is_not_waited_for(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    write_tree(root, SHOP)
    os.mkfifo(root / ".git")
    result = run_atlas("-q", "index", str(root), "--format", "json", timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files_indexed"] == len(SHOP)


def test_an_index_directory_is_no_repository_and_a_device_no_config_file(tmp_path: Path) -> None:
    root = _shop(tmp_path)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    inside = run_atlas("-q", "search", "--repo", str(root / ".atlas"), "refund")
    assert inside.returncode == 2 and "inside an Atlas index directory" in inside.stderr
    assert not (root / ".atlas" / ".atlas").exists()
    from_inside = subprocess.run(atlas_command("-q", "search", "-l", "refunds"), cwd=root / ".atlas",
                                 capture_output=True, text=True, timeout=60, env=git_env())  # fmt: skip
    assert from_inside.stdout == "docs/payments.md\n"  # the repository above the index is searched
    device = run_atlas("-q", "--config", "/dev/zero", "search", "--repo", str(root), "refund")
    assert device.returncode == 2 and "not a regular file" in device.stderr


@pytest.mark.parametrize("trap", [_fifo, _zero], ids=["a FIFO", "/dev/zero"])
def test_regression_an_index_whose_current_file_is_a_fifo_or_a_device_is_damaged_not_waited_for(
    tmp_path: Path, trap: Callable[[Path], None]
) -> None:
    # Every command hung reading CURRENT (a FIFO), or read /dev/zero until memory ran out.
    root = _shop(tmp_path)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    trap(root / ".atlas" / "CURRENT")
    search = run_atlas("-q", "search", "--repo", str(root), "refund", timeout=60)
    assert search.returncode == 4 and "CURRENT" in search.stderr, search.stderr
    assert run_atlas("-q", "status", "--repo", str(root), timeout=60).returncode != 0
    assert run_atlas("-q", "verify", "--repo", str(root), timeout=60).returncode == 4
    rebuilt = run_atlas("-q", "index", str(root), "--format", "json", timeout=60)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "CURRENT" in json.loads(rebuilt.stdout)["reason"]
    assert run_atlas("-q", "search", "--repo", str(root), "-l", "refunds").stdout == "docs/payments.md\n"


INDEX_FILE_TRAPS = {
    "manifest.json is a FIFO": ("manifest.json", _fifo),
    "files.json is /dev/zero": ("files.json", _zero),
    "signals/params.json is a FIFO": ("signals/params.json", _fifo),
    "a side-store array is a FIFO": ("signals/pagerank.npy", _fifo),
    "a side-store array is /dev/zero": ("signals/pagerank.npy", _zero),
    "tantivy/meta.json is a FIFO": ("tantivy/meta.json", _fifo),
    "tantivy/meta.json is /dev/zero": ("tantivy/meta.json", _zero),
}


@pytest.mark.parametrize("trap", list(INDEX_FILE_TRAPS), ids=list(INDEX_FILE_TRAPS))
def test_regression_an_index_file_that_is_a_fifo_or_a_device_is_damaged_not_waited_for(
    tmp_path: Path, trap: str
) -> None:
    # A cache restored by a user's own tooling can hold anything: every command hung on a FIFO in a generation
    # (one in tantivy's place, inside tantivy, ignoring SIGTERM); the timeouts make a regression fail, not hang.
    root = _shop(tmp_path)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    name, make = INDEX_FILE_TRAPS[trap]
    generation = root / ".atlas" / (root / ".atlas" / "CURRENT").read_text()
    make(generation / name)
    search = run_atlas("-q", "search", "--repo", str(root), "refund", timeout=30)
    assert search.returncode == 4 and "hint: rebuild it with `atlas index --rebuild`" in search.stderr, search.stderr
    assert name.rsplit("/", 1)[-1] in search.stderr and "Traceback" not in search.stderr, search.stderr
    assert run_atlas("-q", "status", "--repo", str(root), timeout=30).returncode in (0, 4)  # status reads less
    assert run_atlas("-q", "verify", "--repo", str(root), timeout=30).returncode == 4
    exported = run_atlas("-q", "export", str(tmp_path / "index.tar.gz"), "--repo", str(root), timeout=30)
    assert exported.returncode == 4 and "not a regular file" in exported.stderr, exported.stderr
    rebuilt = run_atlas("-q", "index", str(root), "--format", "json", timeout=30)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "damaged" in json.loads(rebuilt.stdout)["reason"]
    assert run_atlas("-q", "search", "--repo", str(root), "-l", "refunds", timeout=30).stdout == "docs/payments.md\n"


def test_a_side_store_listing_a_file_outside_it_is_damage_and_that_file_is_not_read(tmp_path: Path) -> None:
    # The checksums in a crafted params.json name files to hash: one outside the index is never opened.
    root = _shop(tmp_path)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    outside = tmp_path / "outside.fifo"
    _fifo(outside)
    generation = root / ".atlas" / (root / ".atlas" / "CURRENT").read_text()
    params_path = generation / "signals" / "params.json"
    params = json.loads(params_path.read_text())
    params["checksums"]["../../../../outside.fifo"] = "0" * 64
    params_path.write_text(json.dumps(params))
    verified = run_atlas("-q", "verify", "--repo", str(root), "--format", "json", timeout=30)
    assert verified.returncode == 4, verified.stderr
    assert any("not a file of its own directory" in line for line in json.loads(verified.stdout)["damaged"])


def test_a_repository_atlas_toml_linking_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    """A cloned repository's atlas.toml that is a link to a file outside it was read and applied."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.toml").write_text("[index]\nmax_file_bytes = 7\n")
    root = tmp_path / "shop"
    root.mkdir()
    write_tree(root, {**SHOP, "conf/atlas.toml": "[index]\nmax_file_bytes = 8\n"})
    (root / "atlas.toml").symlink_to("../outside/secret.toml")
    init_repo(root)
    result = run_atlas("-q", "index", str(root), "--format", "json", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "atlas.toml" in result.stderr and "outside the repository" in result.stderr and "hint:" in result.stderr
    assert not (root / ".atlas" / "CURRENT").exists()
    (root / "atlas.toml").unlink()
    (root / "atlas.toml").symlink_to("conf/atlas.toml")  # a link that stays inside is read as the file
    done = run_atlas("-q", "index", str(root), "--format", "json", timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["skipped"].get("too_large")


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_regression_a_lock_file_the_repository_ships_as_a_link_is_not_written_through(
    tmp_path: Path, dangling: bool
) -> None:
    """A clone whose `.atlas/lock` is a link: `atlas index` truncated the file it names (anywhere on the disk) and
    wrote its pid there, or, for a dangling link, created the file the link names."""
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("precious\n")
    root = tmp_path / "shop"
    root.mkdir()
    write_tree(root, SHOP)
    (root / ".atlas").mkdir()
    (root / ".atlas" / "lock").symlink_to(victim)
    init_repo(root)
    for command in (("index", str(root)), ("search", "--repo", str(root), "refund")):
        result = run_atlas("-q", *command, timeout=120)
        assert result.returncode == 2, result.stderr
        assert ".atlas" in result.stderr and "hint:" in result.stderr and "Traceback" not in result.stderr
        assert dangling or "lock is a symbolic link" in result.stderr
    assert (victim.read_text() == "precious\n") if not dangling else not victim.exists()
    assert not (root / ".atlas" / "CURRENT").exists()


def test_regression_an_index_directory_gitignore_is_not_read_whole_or_through_a_link(tmp_path: Path) -> None:
    """A `.gitignore` in the index directory was read whole, through a link too, to tell whether Atlas wrote it: a
    clone shipping `.atlas/.gitignore` as a link to a 3 GB file cost `atlas index` 25 s and 3 GB of memory, and one
    linking to a file of the user's holding `*` had it taken for Atlas's own."""
    root = _shop(tmp_path)
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: no disk space
    index_dir = root / ".atlas"
    index_dir.mkdir()
    (index_dir / ".gitignore").symlink_to(huge)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="not an Atlas index"):
            store.ensure_index_dir(index_dir, root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated to judge the index directory"
    (index_dir / ".gitignore").unlink()
    (tmp_path / "star").write_bytes(store.IGNORE_ALL)
    (index_dir / ".gitignore").symlink_to(tmp_path / "star")
    result = run_atlas("-q", "index", str(root), timeout=120)
    assert result.returncode == 2 and "not an Atlas index" in result.stderr, result.stderr
    assert not (index_dir / store.CURRENT).exists()


def test_regression_a_repository_atlas_dir_linking_out_of_it_is_not_written_through(tmp_path: Path) -> None:
    """A clone shipping `.atlas` as a link to another repository's index directory: `atlas index` in the clone
    replaced that index with its own (the other repository's searches then found none of its files)."""
    other = _shop(tmp_path)
    assert run_atlas("-q", "index", str(other)).returncode == 0
    live = (other / ".atlas" / store.CURRENT).read_text()
    root = tmp_path / "clone"
    root.mkdir()
    write_tree(root, {"a.py": "def attacker(): pass\n"})
    (root / ".atlas").symlink_to("../shop/.atlas", target_is_directory=True)
    init_repo(root)
    result = run_atlas("-q", "index", str(root))
    assert result.returncode == 2, result.stderr
    assert "symbolic link" in result.stderr and "outside the repository" in result.stderr and "hint:" in result.stderr
    assert (other / ".atlas" / store.CURRENT).read_text() == live
    assert sorted(p.name for p in (other / ".atlas").iterdir()) == [".gitignore", store.CURRENT, live, "lock"]
    (root / ".atlas").unlink()
    (root / "build").mkdir()
    (root / ".atlas").symlink_to("build", target_is_directory=True)  # a link that stays inside is the index's place
    assert run_atlas("-q", "index", str(root)).returncode == 0
    assert (root / "build" / store.CURRENT).is_file()


@pytest.mark.parametrize(
    "command",
    [("search", "cart"), ("search", "-l", "cart"), ("status",), ("verify",), ("explain", "cart"),
     ("export", "{archive}"), ("cache-key",)],
)  # fmt: skip
def test_regression_a_repository_atlas_dir_linking_out_of_it_is_not_read_through(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # A clone shipping `.atlas` as a link to another repository's index directory was refused by `atlas index`, but
    # a search in the clone answered from the other repository's index: its file names and definitions (an agent's
    # MCP answers too), and `export` packed it. An index elsewhere is named with --index-dir, never by the tree.
    other = _shop(tmp_path)
    assert run_atlas("-q", "index", str(other)).returncode == 0
    root = tmp_path / "clone"
    root.mkdir()
    write_tree(root, {"a.py": "def attacker(): pass\n"})
    (root / ".atlas").symlink_to("../shop/.atlas", target_is_directory=True)
    init_repo(root)
    archive = tmp_path / "index.tar.gz"
    args = [part.format(archive=archive) for part in command]
    result = subprocess.run(atlas_command(args[0], "--repo", str(root), *args[1:]), capture_output=True, text=True,
                            timeout=120, env=git_env())  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "symbolic link" in result.stderr and "outside the repository" in result.stderr and "hint:" in result.stderr
    assert "cart" not in result.stdout.lower() and not archive.exists()
    elsewhere = run_atlas("search", "--repo", str(root), "--index-dir", str(other / ".atlas"), "-l", "cart")
    assert elsewhere.returncode == 0 and "shop/cart.py" in elsewhere.stdout, elsewhere.stderr


@pytest.mark.parametrize("backend", ["git", "pydriller"])
def test_regression_git_never_reads_the_callers_stdin(tmp_path: Path, backend: str) -> None:
    # git reads whatever its stdin holds when a repository's `.git/config` includes /dev/stdin, and every git Atlas
    # started inherited Atlas's own: `atlas index` on a terminal, or fed by a pipe that stays open (the MCP server's
    # requests), waited a minute per git command, swallowing what arrived there as configuration.
    root = _shop(tmp_path)
    with open(root / ".git" / "config", "a") as config:
        config.write("[include]\n\tpath = /dev/stdin\n")
    out, err = tmp_path / "out", tmp_path / "err"
    command = atlas_command("index", str(root), "--format", "json", "--history-backend", backend)
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, env=git_env())
        try:
            assert proc.wait(timeout=40) == 0, err.read_text()
        finally:
            proc.kill()
            proc.stdin.close()  # type: ignore[union-attr]
    if backend == "git":  # pydriller's own gits read their batch requests as configuration: it goes without history
        assert json.loads(out.read_text())["signals"]["git"]["available"] is True, out.read_text()


def test_regression_a_sharded_build_runs_no_code_of_a_repository_holding_an_atlas_package(tmp_path: Path) -> None:
    # Each shard was built by a child `python -m atlas.executors`, which puts the working directory first on the module
    # path: `atlas index --shards 2` run in a repository holding an `atlas/` package (a fork of Atlas, or a clone
    # made to look like one) imported and ran that package's code instead of Atlas's.
    marker = tmp_path / "ran"
    planted = f"open({str(marker)!r}, 'w').close()\n"
    root = _shop(tmp_path, {**SHOP, "atlas/__init__.py": planted, "atlas/executors.py": planted})
    package = Path(atlas.__file__).parents[1]
    # Started as the installed `atlas` command starts: the working directory is not on its own module path.
    command = [sys.executable, "-P", "-m", "atlas", "-q", "index", "--shards", "2", "--format", "json"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=180,
                          env={**git_env(), "PYTHONPATH": str(package)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "a shard build ran the repository's own atlas package"
    assert json.loads(done.stdout)["files_indexed"] == len(SHOP) + 2


@pytest.mark.parametrize("part", [store.TANTIVY_DIR, store.SIGNALS_DIR])
def test_regression_a_generation_directory_linking_into_another_index_is_damage_not_read(
    tmp_path: Path, part: str
) -> None:
    # A restored cache (or a clone's committed .atlas) whose generation holds `tantivy/` as a link to another
    # repository's index: the file checks refused links among the files, not the directory holding them, so search
    # answered from the other index (its file names and definitions), status said fresh and `atlas index` kept it
    # as unchanged. `signals/` as a link lent another index's side store. Both are damage, as a linked file is.
    other = _shop(tmp_path)
    assert run_atlas("-q", "index", str(other)).returncode == 0
    root = tmp_path / "clone"
    root.mkdir()
    write_tree(root, {"a.py": "def victim(): pass\n"})
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    live = root / ".atlas" / (root / ".atlas" / store.CURRENT).read_text()
    elsewhere = other / ".atlas" / (other / ".atlas" / store.CURRENT).read_text() / part
    subprocess.run(["rm", "-rf", str(live / part)], check=True)
    (live / part).symlink_to(elsewhere, target_is_directory=True)
    for command in (("search", "cart"), ("search", "victim"), ("query", "cart"), ("explain", "cart")):
        result = run_atlas("-q", command[0], "--repo", str(root), *command[1:], timeout=60)
        assert result.returncode == 4 and "symbolic link" in result.stderr, (command, result.stderr)
        assert "cart" not in result.stdout.lower(), (command, result.stdout)
    status = run_atlas("-q", "status", "--repo", str(root), timeout=60)
    assert status.returncode == 4 and "damaged" in status.stderr and "symbolic link" in status.stderr, status.stderr
    assert run_atlas("-q", "verify", "--repo", str(root), timeout=60).returncode == 4
    rebuilt = run_atlas("-q", "index", str(root), "--format", "json", timeout=60)
    assert rebuilt.returncode == 0 and "damaged" in json.loads(rebuilt.stdout)["reason"], rebuilt.stdout
    assert run_atlas("-q", "search", "--repo", str(root), "-l", "victim").stdout == "a.py\n"
    assert run_atlas("-q", "search", "--repo", str(root), "-l", "cart").returncode == 1
