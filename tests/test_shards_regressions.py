"""Sharded builds in a hostile world: read-only disks, half-written shards, misplaced paths.

Real git repositories, tantivy and the real CLI (in process), as in tests/test_shards.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from atlas.errors import IndexCorrupt
from atlas.index import store
from atlas.index.lock import lock_holders
from atlas.shards import _shard_locks
from tests.conftest import init_repo, write_tree
from tests.mounts import read_only_view
from tests.test_shards import _small_repo, generated_files, manifest, ok, run, top


def _built_shards(root: Path, parent: Path, count: int) -> list[Path]:
    """Shards 0 … count-1 of `root`, each built into a directory of its own under `parent`."""
    dirs = [parent / f"s{i}" for i in range(count)]
    for i, directory in enumerate(dirs):
        ok("index", str(root), "--shard", f"{i}/{count}", "--out", str(directory), "--format", "json")
    return dirs


@pytest.mark.parametrize("how", ["assemble", "shards"])
def test_regression_an_index_dir_to_create_on_a_read_only_disk_is_one_sentence(tmp_path: Path, how: str) -> None:
    # `--assemble` and `--shards N` with --out a directory still to be made on a read-only disk were "unexpected
    # error: OSError: [Errno 30] Read-only file system ... report it" (exit 3), where `atlas index` says the disk
    # refuses the index; `--shards N` into such a directory that was there blamed `shards/`, "check its permissions".
    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path, 2)
    args = ["--assemble", *map(str, dirs)] if how == "assemble" else ["--shards", "2", "--no-history"]
    (tmp_path / "disk" / "there").mkdir(parents=True)
    with read_only_view(tmp_path / "disk", tmp_path / "read-only") as disk:
        for index_dir in (disk / "new", disk / "there"):
            result = run("index", str(root), "--out", str(index_dir), *args)
            assert result.exit_code == 3, result.output
            assert f"cannot write the index: {index_dir} is on a read-only file system" in result.stderr, result.stderr
            assert "hint: pass --index-dir DIR" in result.stderr and "unexpected" not in result.stderr
    assert sorted(os.listdir(tmp_path / "disk")) == ["there"] and not os.listdir(tmp_path / "disk" / "there")


def test_regression_a_half_written_shard_given_first_is_not_taken_for_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PATH, the first directory after --assemble is the repository unless it holds a shard: a shard whose
    # build was killed (no CURRENT yet) was taken for the repository, and the good shard after it was blamed, "holds
    # 2 files this tree does not have", with the hint to build the tree in the half-written shard's directory.
    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path, 2)
    generation = store.current_generation(dirs[0])
    assert generation is not None
    (dirs[0] / store.CURRENT).unlink()
    generation.rename(dirs[0] / f"{generation.name}.tmp-99999")  # what a SIGKILLed first build leaves
    monkeypatch.chdir(root)
    result = run("index", "--assemble", *map(str, dirs))
    assert result.exit_code == 2, result.output
    assert f"{dirs[0]}: no built shard there" in result.stderr and str(dirs[1]) not in result.stderr, result.stderr
    assert "hint: build it with `atlas index --shard I/N --out DIR`" in result.stderr
    assert not (root / ".atlas").exists()


@pytest.mark.parametrize("place", ["/proc", ".git"])
def test_regression_assembling_for_a_root_without_source_is_refused_as_index_refuses_it(
    tmp_path: Path, place: str
) -> None:
    # `atlas index /proc --assemble …` (or the repository's .git) blamed the shards, "holds 2 files this tree does not
    # have", with the hint `atlas index /proc --shard 0/2 …`, where every other `atlas index` refuses such a root.
    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path, 2)
    given = Path(place) if place == "/proc" else root / place
    result = run("index", str(given), "--out", str(tmp_path / "index"), "--assemble", *map(str, dirs))
    assert result.exit_code == 2, result.output
    assert result.stderr == run("index", str(given), "--out", str(tmp_path / "index")).stderr, result.stderr
    assert not (tmp_path / "index").exists()


def test_regression_a_file_named_in_bytes_that_are_not_utf8_does_not_foreign_its_shard(tmp_path: Path) -> None:
    # A file whose name is not UTF-8 is held under its display path (`caf\xe9.py`); the assembler looked for that
    # text on disk, found no such file, and refused the shard just built: `--shards N` and `--assemble` were exit 2,
    # "holds 1 files this tree does not have (caf\xe9.py)", for any repository holding such a name.
    root = tmp_path / "latin1"
    files = {b"caf\xe9.py": "def zqxjk_latin():\n    return 1\n", "a.py": "def invoice():\n    return 2\n",
             "b.py": "def refund():\n    return 3\n", "c.py": "def zqxjk_plain():\n    return 4\n"}  # fmt: skip
    write_tree(root, files)
    init_repo(root)
    ok("index", str(root), "--shards", "2", "--format", "json")
    assert "caf\\xe9.py" in {hit[0] for hit in top(root, root / ".atlas", "zqxjk")}
    dirs = _built_shards(root, tmp_path, 3)
    ok("index", str(root), "--out", str(tmp_path / "assembled"), "--assemble", *map(str, dirs), "--format", "json")
    assert top(root, tmp_path / "assembled", "zqxjk") == top(root, root / ".atlas", "zqxjk")


def test_regression_a_sharded_build_of_another_count_waits_its_turn_and_clears_no_shard_in_use(
    tmp_path: Path,
) -> None:
    # Two `atlas index --shards` runs of one repository at once (two CI jobs, a terminal and an editor's refresh):
    # the index directory was locked only while assembling, so `--shards 2`, clearing the shards of every other
    # count, deleted the shards `--shards 3` had just built, and that run failed, "no built shard there" with the
    # hint to run `atlas index --shard I/N --out DIR`. The second run is now busy (exit 5), as two builds are.
    root = tmp_path / "repo"
    write_tree(root, generated_files(count=600, seed=13))
    init_repo(root)
    first = subprocess.Popen(
        [sys.executable, "-m", "atlas", "-q", "index", str(root), "--shards", "3", "--no-history", "-j", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (root / ".atlas" / store.SHARDS_DIR).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)  # held mid-run: its shard builds go on, it assembles once let go
        assert first.poll() is None, "the first build ended before the second could start"
        second = run("index", str(root), "--shards", "2", "--no-history")
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()
    assert second.exit_code == 5, second.output
    assert "is being updated by process" in second.stderr and "hint:" in second.stderr, second.stderr
    shards = (store.live_manifest(root / ".atlas") or {}).get("shards") or []
    assert [shard["count"] for shard in shards] == [3, 3, 3]
    assert top(root, root / ".atlas", "invoice refund")


@pytest.mark.parametrize("listing", [7, True, "ab", [1, 2], [{}] * 5000])
def test_regression_a_manifest_listing_no_shards_as_atlas_writes_them_is_not_built_from(
    tmp_path: Path, listing: object
) -> None:
    # A sharded index's manifest lists its shards; one damaged or crafted (a clone's committed .atlas, a restored
    # cache) made every `atlas index` an "unexpected error" (TypeError: object of type 'int' has no len(),
    # AttributeError: 'str' object has no attribute 'get'), and a list of 5,000 records built 5,000 shards, over the
    # 4,096 any count may be. A listing that is not 1 to 4,096 shard records names no shard count.
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    record = orjson.loads((generation / store.MANIFEST).read_bytes())
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**record, "shards": listing}))
    ok("index", str(root), "--no-history", "--format", "json")
    assert sorted(os.listdir(root / ".atlas" / store.SHARDS_DIR)) == ["0000-of-0002", "0001-of-0002"]
    assert top(root, root / ".atlas", "refund")[0][0] == "b.py"
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**record, "shards": listing}))
    report = orjson.loads(ok("index", str(root), "--shards", "2", "--no-history", "--format", "json").stdout)
    assert report["mode"] == "assembled" and len(manifest(root / ".atlas")["shards"]) == 2


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_regression_a_shards_directory_that_is_no_directory_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    # Making `shards/` in the parent (so that a read-only disk is told as such) met a file or a FIFO in its place
    # with "unexpected error: FileExistsError" (exit 3); it is refused as any index directory that is none.
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    shards = root / ".atlas" / store.SHARDS_DIR
    shutil.rmtree(shards)
    if kind == "fifo":
        os.mkfifo(shards)
    else:
        shards.write_text("junk\n")
    before = manifest(root / ".atlas")
    result = run("index", str(root), "--rebuild", "--no-history")
    assert result.exit_code == 2, result.output
    assert f"{shards} is not a directory" in result.stderr and f"hint: remove {shards}" in result.stderr, result.stderr
    assert manifest(root / ".atlas") == before


def test_regression_shards_built_with_other_options_are_assembled_with_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shards built with --no-history (a CI matrix's shard.sh passes no flag to assemble.sh) were refused by an
    # assemble without it, "index settings changed (git_history False → True)", with the hint to run `atlas index
    # --shard 0/2 --out DIR --rebuild`: without the repository (run elsewhere, it indexed the working directory), and
    # a dead end: the shard remembers --no-history, so the rebuilt shard was refused the same. Options not given to
    # --assemble follow the shards', as any `atlas index` follows its index's.
    root = _small_repo(tmp_path / "small")
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, directory in enumerate(dirs):
        ok("index", str(root), "--shard", f"{i}/2", "--out", str(directory), "--no-history", "--format", "json")
    monkeypatch.chdir(tmp_path)
    refused = run("index", str(root), "--out", str(tmp_path / "index"), "--history", "5", "--assemble", *map(str, dirs))
    assert refused.exit_code == 2, refused.output
    assert f"{dirs[0]}: shard 0/2 does not match this index" in refused.stderr, refused.stderr
    assert f"`atlas index {root} --shard 0/2 --out {dirs[0]} --rebuild` and the options that differ" in refused.stderr
    assert not (tmp_path / "index").exists()
    report = orjson.loads(ok("index", str(root), "--out", str(tmp_path / "index"), "--assemble", *map(str, dirs),
                             "--format", "json").stdout)  # fmt: skip
    assert report["signals"]["git"]["reason"] == "git history disabled (--no-history)", report["signals"]
    assert top(root, tmp_path / "index", "refund")[0][0] == "b.py"


def test_a_repository_ignoring_all_but_what_it_tracks_is_still_the_path_to_assemble_for(tmp_path: Path) -> None:
    # The other side of the rule above: a root whose `.gitignore` is `*` (what git tracks is indexed all the same)
    # holds no index; given as PATH, it is the repository.
    root = _small_repo(tmp_path / "small")
    (root / ".gitignore").write_text("*\n")
    (root / "lock").write_text("held\n")
    dirs = _built_shards(root, tmp_path, 2)
    ok("index", str(root), "--out", str(tmp_path / "index"), "--assemble", *map(str, dirs), "--format", "json")
    assert top(root, tmp_path / "index", "refund")[0][0] == "b.py"


def test_regression_a_segment_swapped_for_a_link_after_the_checks_is_never_linked_from_where_it_points(
    tmp_path: Path,
) -> None:
    # The shard's files are checked (regular files, their footers) well before its segments are linked into the
    # index. A segment swapped for a symbolic link in between was hard-linked from wherever the link pointed:
    # os.link follows a link, and its fallback, shutil.copy2, too. The swap is made here between `_read_shards`
    # (the checks) and `_link_segments`, the step that links them.
    from atlas.api import index_config
    from atlas.shards import _link_segments, _read_shards

    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path, 2)
    shards = _read_shards(index_config(root, tmp_path / "index"), dirs)
    segment = next((shards[1].generation / store.TANTIVY_DIR).glob("*.store"))
    _link_segments(shards, tmp_path / "intact")
    assert os.path.samefile(tmp_path / "intact" / segment.name, segment)  # linked, not copied, on one file system
    outside = tmp_path / "outside.store"
    outside.write_bytes(b"not the shard's, and never in the index\n")
    segment.unlink()
    segment.symlink_to(outside)
    target = tmp_path / "index-tantivy"
    with pytest.raises(IndexCorrupt, match=f"{dirs[1]}: the shard's tantivy index is damaged .*symbolic link"):
        _link_segments(shards, target)
    assert all(not os.path.samefile(entry, outside) for entry in target.iterdir())


@pytest.mark.parametrize("record", ["x", [1], {"index": 1, "count": 2}])
def test_regression_an_own_shard_whose_manifest_names_no_such_shard_is_built_again(
    tmp_path: Path, record: object
) -> None:
    # A shard of `atlas index --shards N` whose manifest's shard record is damaged or crafted (a restored cache) made
    # every later `atlas index` an "unexpected error: AttributeError: 'str' object has no attribute 'get'"; one
    # naming another shard of the count was taken as up to date. It is stale: built again, then assembled.
    root, shard = _own_shard_recording(tmp_path, record)
    report = orjson.loads(ok("index", str(root), "--no-history", "--format", "json").stdout)
    assert report["mode"] == "assembled" and report["reason"] == "1 of 2 shards built", report
    assert manifest(shard)["shard"]["index"] == 0
    assert top(root, root / ".atlas", "refund")[0][0] == "b.py"


@pytest.mark.parametrize("skipped", [[1], "abc", {"binary": "nan"}, {"binary": 1e308}, {"binary": -1}, {"bin": True}])
def test_regression_a_shard_counting_its_skipped_files_in_no_numbers_is_damage_naming_it(
    tmp_path: Path, skipped: object
) -> None:
    # A shard (from another machine, a CI cache) whose manifest's skip counts are damaged or crafted was assembled up
    # to its very end, then an "unexpected error" (exit 3): AttributeError: 'list' object has no attribute 'items',
    # ValueError: invalid literal for int() with base 10: 'nan', TypeError: Integer exceeds 64-bit range.
    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path, 2)
    generation = store.current_generation(dirs[1])
    assert generation is not None
    held = orjson.loads((generation / store.MANIFEST).read_bytes())
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**held, "skipped": skipped}))
    result = run("index", str(root), "--out", str(tmp_path / "index"), "--assemble", *map(str, dirs))
    assert result.exit_code == 4, result.output
    assert f"{dirs[1]}: the shard's manifest" in result.stderr and "skipped" in result.stderr, result.stderr
    assert f"--shard 1/2 --out {dirs[1]} --rebuild" in result.stderr
    assert not (tmp_path / "index" / store.CURRENT).exists()


HOLD_LOCK = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(60)\n"
)


def test_regression_assembling_a_shard_another_process_is_building_is_busy_and_publishes_nothing(
    tmp_path: Path,
) -> None:
    # `atlas index --assemble` took no lock on the shards it read, so `atlas index --shard I/N --out DIR --rebuild` of
    # one of them, running meanwhile, replaced (and removed) the generation whose segments the assemble was linking.
    # The assemble now holds each shard's lock while it reads and links it: a shard being built is busy (exit 5).
    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path, 2)
    lock = str(dirs[1] / "lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, lock], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        pid = holder.stdout.readline().strip()
        result = run("index", str(root), "--assemble", *map(str, dirs))
    finally:
        holder.kill()
        holder.communicate()
    assert result.exit_code == 5, result.output
    assert f"{dirs[1]}: the index is being updated by process {pid}" in result.stderr, result.stderr
    assert "hint: wait for it to finish" in result.stderr and len(result.stderr.splitlines()) == 2, result.stderr
    assert not (root / ".atlas").exists()
    with _shard_locks(dirs):  # as an assemble holds them (shared: it records no pid): a rebuild of a shard is busy
        rebuilt = run("index", str(root), "--shard", "1/2", "--out", str(dirs[1]), "--rebuild")
    assert rebuilt.exit_code == 5 and f"{dirs[1]}: another process holds the index's lock" in rebuilt.stderr
    ok("index", str(root), "--assemble", *map(str, dirs), "--format", "json")
    assert top(root, root / ".atlas", "refund")[0][0] == "b.py"


def _atlas(*args: str) -> list[str]:
    """The command line of `atlas -q *args` in a process of its own."""
    return [sys.executable, "-m", "atlas", "-q", *args]


def _holds_locks(pid: int, directories: list[Path]) -> bool:
    """Whether process `pid` holds the lock of every index directory in `directories`, as /proc/locks lists them."""
    for directory in directories:
        fd = os.open(directory / "lock", os.O_RDONLY)
        try:
            holders = lock_holders(fd)
        finally:
            os.close(fd)
        if not holders or pid not in holders:
            return False
    return True


def _assembling_while_stopped(root: Path, dirs: list[Path], out: Path) -> subprocess.Popen[bytes]:
    """An `atlas index --assemble` of `dirs` into `out`, in its own process, stopped (SIGSTOP) while it holds every
    shard's lock; the test sends SIGCONT. Tried again while it ran out of its locked part before it could be stopped."""
    for _ in range(5):
        shutil.rmtree(out, ignore_errors=True)
        command = _atlas("index", str(root), "--out", str(out), "--assemble", *map(str, dirs))
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while process.poll() is None and not _holds_locks(process.pid, dirs):
            time.sleep(0.002)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGSTOP)
            if _holds_locks(process.pid, dirs):
                return process
            os.kill(process.pid, signal.SIGCONT)
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    raise AssertionError("the assemble never held its shards' locks long enough to be stopped there")


def test_regression_two_assembles_of_the_same_shards_at_once_both_succeed(tmp_path: Path) -> None:
    # Each assemble took its shards' locks exclusively, as a build takes them, so two assembles of the same shards
    # (into two index directories) at once were busy with each other (exit 5). Assembles only read the shards: they
    # share their locks now, and a build of a shard is still busy while an assemble holds them.
    root = tmp_path / "repo"
    write_tree(root, generated_files(count=200))
    init_repo(root)
    dirs = _built_shards(root, tmp_path, 2)
    first = _assembling_while_stopped(root, dirs, tmp_path / "first")
    try:
        second = subprocess.run(_atlas("index", str(root), "--out", str(tmp_path / "second"), "--assemble",
                                       *map(str, dirs)), capture_output=True, text=True, timeout=120)  # fmt: skip
        rebuilt = subprocess.run(_atlas("index", str(root), "--shard", "1/2", "--out", str(dirs[1]), "--rebuild"),
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        os.kill(first.pid, signal.SIGCONT)
        _, stderr = first.communicate(timeout=120)
    assert second.returncode == 0, second.stderr
    assert rebuilt.returncode == 5 and f"{dirs[1]}: " in rebuilt.stderr, rebuilt.stderr
    assert "hint: wait for it to finish" in rebuilt.stderr and len(rebuilt.stderr.splitlines()) == 2, rebuilt.stderr
    assert first.returncode == 0, stderr
    assert top(root, tmp_path / "first", "invoice total") == top(root, tmp_path / "second", "invoice total")


@pytest.mark.parametrize("inside", ["shards", "shards/0000-of-0002", "shards/0000-of-0003", "shards/x/y"])
@pytest.mark.parametrize("how", ["shard", "assemble", "index"])
def test_regression_an_output_inside_an_index_directorys_shards_is_refused(
    tmp_path: Path, inside: str, how: str
) -> None:
    # `--out .atlas/shards/…` (or `.atlas/shards` itself) was accepted, and the next `atlas index --shards N` of the
    # repository cleared it as a shard of another count (or cleared the generations of an index built there).
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    out = root / ".atlas" / inside
    args = {"shard": ["--shard", "0/3", "--no-history"], "index": ["--no-history"],
            "assemble": ["--assemble", *map(str, _built_shards(root, tmp_path, 2))]}[how]  # fmt: skip
    before = sorted(os.listdir(root / ".atlas" / store.SHARDS_DIR))
    result = run("index", str(root), "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert f"{out} is inside {root / '.atlas' / store.SHARDS_DIR}" in result.stderr, result.stderr
    assert "hint: give --out a directory outside" in result.stderr and len(result.stderr.splitlines()) == 2
    assert sorted(os.listdir(root / ".atlas" / store.SHARDS_DIR)) == before
    elsewhere = tmp_path / "idx"
    ok("index", str(root), "--out", str(elsewhere), "--shards", "2", "--no-history", "--format", "json")
    result = run("index", str(root), "--out", str(elsewhere / store.SHARDS_DIR / "0000-of-0005"), "--shard", "0/5")
    assert result.exit_code == 2 and "is inside" in result.stderr, result.output


def test_regression_an_own_shard_holding_a_whole_index_has_a_hint_for_shards(tmp_path: Path) -> None:
    # A shard directory of `atlas index --shards N` whose manifest names no shard ("shard": null: a whole index) was
    # refused with the hint "give --out a directory of its own for the shard", an option `--shards` does not take.
    root, shard = _own_shard_recording(tmp_path, None)
    result = run("index", str(root), "--shards", "2", "--no-history")
    assert result.exit_code == 2, result.output
    assert f"{shard} holds a whole index" in result.stderr and "--out" not in result.stderr, result.stderr
    assert f"hint: remove {shard}, then run `atlas index --shards 2` again" in result.stderr, result.stderr
    shutil.rmtree(shard)
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    assert manifest(shard)["shard"]["index"] == 0


def test_shards_on_a_read_only_disk_are_assembled_with_or_without_their_lock_files(tmp_path: Path) -> None:
    # The assemble locks each shard it reads: shards restored to a read-only disk (a cache, a volume mounted
    # read-only), one of them without its lock file, are still locked (the file read-only, or the directory) and read.
    root = _small_repo(tmp_path / "small")
    dirs = _built_shards(root, tmp_path / "disk", 2)
    (dirs[0] / "lock").unlink()
    with read_only_view(tmp_path / "disk", tmp_path / "read-only") as disk:
        ok("index", str(root), "--assemble", *(str(disk / d.name) for d in dirs), "--format", "json")
    assert top(root, root / ".atlas", "refund")[0][0] == "b.py"


def _own_shard_recording(tmp_path: Path, record: object) -> tuple[Path, Path]:
    """A small repository indexed with `--shards 2`, whose first shard's manifest then records `record` as its shard;
    the repository and that shard's directory."""
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    shard = root / ".atlas" / store.SHARDS_DIR / "0000-of-0002"
    generation = store.current_generation(shard)
    assert generation is not None
    held = orjson.loads((generation / store.MANIFEST).read_bytes())
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**held, "shard": record}))
    return root, shard


def test_regression_a_shard_directory_given_as_a_loop_of_links_is_no_shard(tmp_path: Path) -> None:
    # `--assemble LOOP` was "unexpected error: RuntimeError: Symlink loop" (exit 3) from the check that the index is
    # not assembled into one of its shards.
    root = _small_repo(tmp_path / "small")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    result = run("index", str(root), "--assemble", str(tmp_path / "loop1"))
    assert result.exit_code == 2, result.output
    assert "no built shard there" in result.stderr and "unexpected" not in result.stderr, result.stderr


def _tree(directory: Path) -> list[str]:
    """Every path under `directory`, relative to it, sorted."""
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


@pytest.mark.parametrize("inside", ["shards", "shards/0000-of-0002", "shards/0000-of-0003", "shards/x/y"])
def test_regression_an_import_inside_an_index_directorys_shards_is_refused(tmp_path: Path, inside: str) -> None:
    # `atlas import FILE --index-dir .atlas/shards/…` was accepted, where `atlas index --out` there is refused: the
    # next `atlas index --shards N` deleted the imported index as a shard of another count, or refused its own shard
    # directory for holding a whole index.
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    archive = tmp_path / "index.tgz"
    ok("export", str(archive), "--repo", str(root), "--format", "json")
    shards = root / ".atlas" / store.SHARDS_DIR
    before = _tree(shards)
    out = root / ".atlas" / inside
    result = run("import", str(archive), "--repo", str(root), "--index-dir", str(out))
    assert result.exit_code == 2, result.output
    assert f"{out} is inside {shards}, where `atlas index --shards N` keeps" in result.stderr, result.stderr
    assert f"hint: give --index-dir a directory outside {shards}" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 2, result.stderr
    assert _tree(shards) == before
    ok("import", str(archive), "--repo", str(root), "--index-dir", str(tmp_path / "elsewhere"), "--format", "json")
    assert top(root, tmp_path / "elsewhere", "refund")[0][0] == "b.py"


@pytest.mark.parametrize("command", ["search", "quick", "mcp"])
def test_regression_a_command_building_an_index_inside_an_index_directorys_shards_is_refused(
    tmp_path: Path, command: str
) -> None:
    # `atlas search` (or `quick`, or the MCP server) given an --index-dir inside `.atlas/shards/` that holds no index
    # built one there on its way to an answer, and the next `atlas index --shards N` deleted it as a shard of another
    # count. The server is refused at its start, as for every index directory no build can use.
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    shards = root / ".atlas" / store.SHARDS_DIR
    before = _tree(shards)
    out = shards / "mine"
    args = [command, "--repo", str(root), "--index-dir", str(out), *([] if command == "mcp" else ["refund"])]
    done = subprocess.run([sys.executable, "-m", "atlas", "-q", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert f"{out} is inside {shards}, where `atlas index --shards N` keeps" in done.stderr, done.stderr
    assert f"hint: give --index-dir a directory outside {shards}" in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 2, done.stderr
    assert _tree(shards) == before


COUNT_DIRECTORY_OPENS = (
    "import os, sys\n"
    "out, opened = sys.argv[1], []\n"
    "def count(event, args):\n"
    "    path, flags = (args[0], args[2]) if event == 'open' else (None, 0)\n"
    "    if isinstance(path, (str, bytes, os.PathLike)) and isinstance(flags, int) and flags & os.O_DIRECTORY:\n"
    "        opened.extend([path] if os.fsdecode(path).startswith(out) else [])\n"
    "sys.addaudithook(count)\n"
    "from atlas.cli import cli\n"
    "try:\n"
    "    cli.main(['-q', 'index', '--out', out, *sys.argv[2:]], prog_name='atlas')\n"
    "finally:\n"
    "    print(len(opened), flush=True)\n"
)
"""Run `atlas index --out OUT ARGS…` and print how many times it opened a directory under OUT with O_DIRECTORY (an
audit hook sees every `os.open`)."""


def test_assembling_opens_the_directory_segments_are_linked_into_once_per_shard(tmp_path: Path) -> None:
    # Each segment file was linked through a descriptor of the target directory opened for that file alone.
    root = tmp_path / "repo"
    write_tree(root, generated_files(count=60))
    init_repo(root)
    dirs = _built_shards(root, tmp_path, 2)
    out = tmp_path / "index"
    done = subprocess.run([sys.executable, "-c", COUNT_DIRECTORY_OPENS, str(out), str(root), "--assemble",
                           *map(str, dirs)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 1 <= int(done.stdout.splitlines()[-1]) <= len(dirs), done.stdout
    assert top(root, out, "shopping cart")[0][0] == "shop/cart.py"


@pytest.mark.parametrize("inside", ["sub", "x/y"])
def test_regression_an_index_directory_inside_another_index_s_generation_is_refused(
    tmp_path: Path, inside: str
) -> None:
    # `--out` (`--index-dir`) inside another index's shards/ was refused, inside its generation not: the index built
    # there became files of that generation its manifest does not list.
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--no-history", "--format", "json")
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    out = generation / inside
    before = sorted(os.listdir(generation))
    for option in ("--out", "--index-dir"):
        result = run("index", str(root), option, str(out), "--no-history")
        assert result.exit_code == 2, result.output
        assert f"{out} is inside {generation}, a generation of the index in {root / '.atlas'}" in result.stderr
        assert "hint: give --out a directory outside" in result.stderr and len(result.stderr.splitlines()) == 2
        assert sorted(os.listdir(generation)) == before


def test_regression_an_assembled_index_records_the_ignore_files_stamps_of_its_tree(tmp_path: Path) -> None:
    # The assembled index took the first shard's stamps: a kept shard's are older than an ignore file edited since
    # (its shard rebuilt, or none for `info/exclude`, `unchanged`), and every search checked its hits in full.
    from atlas.ignore_stamps import IgnoreStamps
    from atlas.status import load_table

    root = tmp_path / "repo"
    write_tree(root, {f"{d}/{n}.py": f"def {d}_{n}():\n    return 1\n" for d in "abcd" for n in "xyz"})
    write_tree(root, {f"{d}/.gitignore": "*.log\n" for d in "abcd"})
    init_repo(root)
    index_dir = root / ".atlas"
    ok("index", str(root), "--shards", "2")
    for edited in [".git/info/exclude", *(f"{d}/.gitignore" for d in "abcd")]:
        with open(root / edited, "a") as ignore_file:
            ignore_file.write("*.tmp\n")
        ok("index", str(root), "--shards", "2")
        held = manifest(index_dir)
        paths = [path for path in load_table(store.current_generation(index_dir)).paths if path]
        stamps = IgnoreStamps.of(held["ignore_files"])
        assert stamps is not None and not stamps.moved(str(root), paths), edited
    assert orjson.loads(ok("index", str(root), "--shards", "2", "--format", "json").stdout)["mode"] == "unchanged"
