"""Crash safety: SIGKILL at random moments, searches during an update, two writers, damaged files.

The kill loop runs the real command (`atlas -q index ROOT`) in a subprocess and SIGKILLs it after
a seeded random delay spread over a typical run, on a generated 150-file git repository edited
between iterations, so full builds, incremental updates and `--rebuild`s are all interrupted.
After every kill the previous index must still be searchable and undamaged, and the next plain
run must finish, leave `verify` clean and clean up what the killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.api import index_config, index_repo, open_engine, verify_index
from atlas.cli import cli
from atlas.config import IndexConfig
from atlas.errors import IndexBusy
from atlas.index import store
from atlas.index.lock import LOCK_FILE, index_lock
from atlas.query.engine import SearchOptions
from tests.conftest import git, git_env, init_repo, write_tree

_VOCABULARY = (
    "invoice payment refund ledger cart discount shipment parcel carrier customs warehouse stock "
    "session token cookie header router request response cache eviction window buffer stream "
    "socket retry backoff timeout schedule cron queue worker thread pool lock mutex signal"
)
TOPICS = tuple(_VOCABULARY.split())


def generated_files(count: int, seed: int, functions: int = 4) -> dict[str | bytes, str | bytes]:
    """`count` small source files (Python, TypeScript, Go, Markdown) that import each other."""
    rng = random.Random(seed)
    files: dict[str | bytes, str | bytes] = {}
    for i in range(count):
        words = rng.sample(TOPICS, 3)
        kind = i % 4
        if kind == 0:
            imports = f"from app.mod_{rng.randrange(max(1, i)):04d} import handler\n\n\n" if i else ""
            body = "".join(
                f"def handle_{words[j % 3]}_{i}_{j}(request):\n    # {' '.join(rng.choices(TOPICS, k=6))}\n"
                f"    return request\n\n\n"
                for j in range(functions)
            )
            files[f"app/mod_{i:04d}.py"] = f'"""Handler module {i}: {" ".join(words)}."""\n\n{imports}{body}'
        elif kind == 1:
            body = "".join(
                f"export function {words[j % 3]}Handler{i}x{j}(input: string): string {{\n"
                f"  // {' '.join(rng.choices(TOPICS, k=6))}\n  return input;\n}}\n\n"
                for j in range(functions)
            )
            files[f"web/src/view_{i:04d}.ts"] = body
        elif kind == 2:
            body = "".join(
                f"// {' '.join(rng.choices(TOPICS, k=6))}\nfunc Handle{words[j % 3].title()}{i}x{j}(n int) int {{\n"
                f"\treturn n\n}}\n\n"
                for j in range(functions)
            )
            files[f"svc/pkg{i % 7}/unit_{i:04d}.go"] = f"package pkg{i % 7}\n\n{body}"
        else:
            files[f"docs/note_{i:04d}.md"] = f"# Note {i}: {' '.join(words)}\n\n{' '.join(rng.choices(TOPICS, k=40))}\n"
    return files


def run_atlas(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas", *args], capture_output=True, text=True, timeout=timeout, env=git_env()
    )


def start_atlas(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "atlas", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=git_env()
    )


def config(root: Path) -> IndexConfig:
    return index_config(root, jobs=1)


def temporary_entries(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if ".tmp-" in p.name) if index_dir.is_dir() else []


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(store.GEN_PREFIX) and ".tmp-" not in p.name)


def wait_for_lock_holder(index_dir: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Return once `proc` holds the index lock (it writes its pid into the lock file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (index_dir / LOCK_FILE).read_text().strip() == str(proc.pid):
                return
        except OSError:
            pass
        assert proc.poll() is None, f"atlas index exited ({proc.returncode}) before taking the lock"
        time.sleep(0.005)
    raise AssertionError("atlas index never took the lock")


def assert_one_sentence_and_hint(stderr: str, hint: str) -> None:
    lines = stderr.strip("\n").splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 2, stderr
    assert lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), stderr
    assert hint in lines[1], stderr


# --- the kill loop ---------------------------------------------------------------------------

KILLS = 50


def _edit(rng: random.Random, root: Path, iteration: int) -> None:
    paths = sorted(p for p in (root / "app").glob("*.py"))
    for _ in range(rng.randint(1, 3)):
        action = rng.choice(["edit", "edit", "add", "remove"])
        target = rng.choice(paths)
        if action == "edit" and target.exists():
            with open(target, "a") as handle:
                handle.write(f"\n\ndef handle_edit_{iteration}(request):\n    return request\n")
        elif action == "add":
            (root / f"app/added_{iteration}_{rng.randrange(100)}.py").write_text(
                f"def handle_added_{iteration}(request):\n    return request\n"
            )
        elif action == "remove" and target.exists() and len(paths) > 20:
            target.unlink()
    if iteration % 6 == 5:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"iteration {iteration}")


def _check_after_kill(root: Path, pid: int) -> bool:
    """The index as the killed run left it: searchable and undamaged if there is one. True if there is."""
    index_dir = root / ".atlas"
    leftovers = temporary_entries(index_dir)
    assert all(name.endswith(f".tmp-{pid}") for name in leftovers), leftovers
    assert len(leftovers) <= 1, leftovers
    if store.current_generation(index_dir) is None:
        return False
    hits = open_engine(config(root), build_if_missing=False).search("handle request", SearchOptions(limit=5)).hits
    assert hits
    report = verify_index(config(root))
    assert report.damaged == [], report.damaged
    return True


def _recover(root: Path) -> None:
    """A plain run after the kill finishes, leaves verify clean and nothing of the killed run."""
    index_repo(config(root), show_progress=False)
    report = verify_index(config(root))
    assert report.ok, report.damaged + report.stale
    index_dir = root / ".atlas"
    assert temporary_entries(index_dir) == []
    assert len(generations(index_dir)) <= 3, generations(index_dir)
    assert {p.name for p in index_dir.iterdir()} <= {store.CURRENT, store.GITIGNORE, LOCK_FILE, *generations(index_dir)}


def test_kill_loop(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, generated_files(150, seed=5, functions=16))
    init_repo(root)
    # A typical run, measured on a copy: a full build in a subprocess, start-up included, and the
    # moment it takes the lock (before that it only imports modules: kills there prove little).
    probe = tmp_path / "probe"
    shutil.copytree(root, probe)
    started = time.monotonic()
    proc = start_atlas("-q", "index", str(probe), "--jobs", "2")
    wait_for_lock_holder(probe / ".atlas", proc)
    locked = time.monotonic() - started
    assert proc.wait(timeout=60) == 0
    typical = time.monotonic() - started
    shutil.rmtree(probe)

    rng = random.Random(20240101)
    kills = with_index = rebuild_kills = mid_build = 0
    loop_started = time.monotonic()
    for iteration in range(KILLS * 3):
        if kills >= KILLS:
            break
        if iteration and rng.random() < 0.8:  # some runs find nothing to do (unless --rebuild)
            _edit(rng, root, iteration)
        if iteration % 10 == 9:
            shutil.rmtree(root / ".atlas")  # a first build again
        args = ["-q", "index", str(root), "--jobs", str(1 + iteration % 2)]
        rebuild = iteration % 5 == 3
        had_index = store.current_generation(root / ".atlas") is not None
        proc = start_atlas(*args, *(["--rebuild"] if rebuild else []))
        time.sleep(rng.uniform(0.0 if rng.random() < 0.5 else locked, 0.85 * typical))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
            with_index += had_index
            rebuild_kills += rebuild
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL)
        mid_build += bool(temporary_entries(root / ".atlas"))
        _check_after_kill(root, proc.pid)
        _recover(root)
    elapsed = time.monotonic() - loop_started
    assert kills >= KILLS, f"only {kills} runs were still going when their kill came (typical run {typical:.2f}s)"
    # The kills landed everywhere: before any index existed, during updates and rebuilds, mid-build.
    assert 0 < with_index < kills and rebuild_kills >= 3 and mid_build >= 5, (with_index, rebuild_kills, mid_build)
    assert elapsed < 150, f"the kill loop took {elapsed:.0f}s"


# --- searches during an update, two writers, stale locks ------------------------------------


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated repository big enough that a rebuild takes a second or more, already indexed."""
    root = tmp_path_factory.mktemp("big") / "repo"
    write_tree(root, generated_files(900, seed=9, functions=30))
    init_repo(root)
    assert index_repo(index_config(root, jobs=2), show_progress=False).mode == "full"
    return root


def test_searches_keep_working_while_an_update_runs(big_repo: Path) -> None:
    index_dir = big_repo / ".atlas"
    before = (index_dir / store.CURRENT).read_text()
    proc = start_atlas("-q", "index", str(big_repo), "--rebuild", "--jobs", "2")
    cli_results: list[subprocess.CompletedProcess[str]] = []

    def cli_searches() -> None:
        while proc.poll() is None:
            args = ("-v", "-q", "search", "--repo", str(big_repo), "invoice handler", "--format", "json")
            cli_results.append(run_atlas(*args))

    searcher = threading.Thread(target=cli_searches)
    searcher.start()
    in_process = 0
    generations_seen = []
    try:
        while True:
            running = proc.poll() is None
            engine = open_engine(config(big_repo), build_if_missing=False)  # reopened every time
            generations_seen.append(engine.reader.generation.name)
            assert engine.search("refund payment handler", SearchOptions(limit=5)).hits
            in_process += 1
            if not running:
                break
    finally:
        searcher.join()
    assert proc.wait() == 0
    after = (index_dir / store.CURRENT).read_text()
    assert after != before
    assert generations_seen[0] == before and generations_seen[-1] == after, "searches ran across the switch"
    assert in_process >= 10
    assert cli_results, "no CLI search ran during the update"
    for result in cli_results:
        assert result.returncode == 0, result.stderr
        assert orjson.loads(result.stdout)["type"] == "search"


def test_a_second_index_run_fails_busy_with_a_hint(big_repo: Path) -> None:
    index_dir = big_repo / ".atlas"
    first = start_atlas("-q", "index", str(big_repo), "--rebuild", "--jobs", "2")
    try:
        wait_for_lock_holder(index_dir, first)
        first.send_signal(signal.SIGSTOP)  # however fast this machine, the first run is still going
        second = run_atlas("-q", "index", str(big_repo))
    finally:
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=120) == 0
    assert second.returncode == 5, second.stderr
    assert second.stdout == ""
    assert_one_sentence_and_hint(second.stderr, "atlas index")
    assert f"process {first.pid}" in second.stderr
    # Every option the hint names exists.
    help_text = run_atlas("index", "--help").stdout
    for option in re.findall(r"--[a-z][a-z-]*", second.stderr):
        assert option in help_text, f"the hint names {option}, which `atlas index` does not have"


def test_lock_of_a_killed_indexer_does_not_block_the_next_run(big_repo: Path) -> None:
    index_dir = big_repo / ".atlas"
    proc = start_atlas("-q", "index", str(big_repo), "--rebuild", "--jobs", "1")
    wait_for_lock_holder(index_dir, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (index_dir / LOCK_FILE).read_text().strip() == str(proc.pid), "the dead process's lock file remains"
    result = run_atlas("-q", "index", str(big_repo), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert temporary_entries(index_dir) == []
    # A lock file naming some other, long gone process blocks nothing either.
    (index_dir / LOCK_FILE).write_text("4194301")
    assert index_repo(config(big_repo), show_progress=False).mode == "unchanged"


def _forked_workers(pid: int) -> list[int]:
    """Children of `pid` running its own command line: its forked parse workers (not git)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                same = (entry / "cmdline").read_bytes() == command
            except OSError:
                continue
            if same and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_regression_parse_workers_of_a_killed_indexer_do_not_hold_the_lock(big_repo: Path) -> None:
    # The parse pool was forked after the lock was taken, so its workers inherited the flock'd
    # descriptor: after a SIGKILL of the indexer, workers still parsing kept the index "busy".
    index_dir = big_repo / ".atlas"
    proc = start_atlas("-q", "index", str(big_repo), "--rebuild", "--jobs", "2")
    workers: list[int] = []
    try:
        wait_for_lock_holder(index_dir, proc)
        # A child forked to run git has the same command line until it execs: keep only
        # children seen twice, 50 ms apart.
        deadline = time.monotonic() + 10
        while len(workers) < 2 and time.monotonic() < deadline:
            first = _forked_workers(proc.pid)
            time.sleep(0.05)
            workers = sorted(set(first) & set(_forked_workers(proc.pid)))
        assert len(workers) >= 2, "the pool's workers never appeared"
        for worker in workers:
            os.kill(worker, signal.SIGSTOP)  # a worker busy with a slow file, frozen in place
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            with index_lock(index_dir):
                pass
        except IndexBusy as err:
            pytest.fail(f"a dead indexer's parse workers hold the lock: {err.message}")
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert index_repo(config(big_repo), show_progress=False).mode in ("unchanged", "incremental")


# --- damaged index files ---------------------------------------------------------------------


def _largest(directory: Path, pattern: str) -> Path:
    return max(directory.glob(pattern), key=lambda p: p.stat().st_size)


def _truncate_segment(generation: Path) -> None:
    target = _largest(generation / store.TANTIVY_DIR, "*.idx")
    os.truncate(target, target.stat().st_size // 2)


def _garbage_meta(generation: Path) -> None:
    (generation / store.TANTIVY_DIR / "meta.json").write_bytes(b"\x00not json{{")


def _delete_npy(generation: Path) -> None:
    (generation / store.SIGNALS_DIR / "pagerank.npy").unlink()


def _corrupt_files_json(generation: Path) -> None:
    path = generation / store.FILES
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete_positions(generation: Path) -> None:
    # tantivy opens a segment's positions only when a query reads them: an update's open did not see them gone.
    _largest(generation / store.TANTIVY_DIR, "*.pos").unlink()


def _current_names_missing_dir(generation: Path) -> None:
    (generation.parent / store.CURRENT).write_text("gen-999999")


def _empty_current(generation: Path) -> None:
    (generation.parent / store.CURRENT).write_bytes(b"")


DAMAGE: list[tuple[str, Callable[[Path], None], str]] = [
    ("truncated-segment", _truncate_segment, "tantivy cannot read the index"),
    ("garbage-meta-json", _garbage_meta, "tantivy cannot read the index"),
    ("deleted-segment-file", _delete_positions, "tantivy cannot read the index"),
    ("deleted-side-store-array", _delete_npy, "side store file pagerank.npy is missing"),
    ("corrupt-files-json", _corrupt_files_json, "files.json has"),  # its size, as a search finds it
    ("current-names-missing-dir", _current_names_missing_dir, "no live generation"),
    ("empty-current", _empty_current, "no live generation"),
]


@pytest.mark.parametrize(("damage", "verify_line"), [pytest.param(d, v, id=n) for n, d, v in DAMAGE])
def test_damaged_index_is_reported_then_rebuilt(
    make_repo: Callable[..., Path], damage: Callable[[Path], None], verify_line: str
) -> None:
    root = make_repo(generated_files(16, seed=3))
    index_repo(config(root), show_progress=False)
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    damage(generation)

    search = run_atlas("-q", "search", "--repo", str(root), "handle request")
    assert search.returncode == 4, search.stderr
    assert search.stdout == ""
    assert_one_sentence_and_hint(search.stderr, "atlas index --rebuild")

    verify = CliRunner().invoke(cli, ["verify", "--repo", str(root), "--format", "human"])
    assert verify.exit_code == 4, verify.output
    damaged = [line for line in verify.stdout.splitlines() if line.startswith("damaged: ")]
    assert damaged and verify_line in damaged[0], verify.stdout

    report = index_repo(config(root), show_progress=False)  # plain: no --rebuild
    assert report.mode == "full"
    assert "damaged" in report.reason or "CURRENT" in report.reason, report.reason
    assert "\n" not in report.reason
    assert verify_index(config(root)).ok
    assert open_engine(config(root), build_if_missing=False).search("handle request").hits


@pytest.mark.parametrize("edit", ["edited", "added"])
def test_regression_an_update_of_an_index_missing_a_segment_file_rebuilds_it(
    make_repo: Callable[..., Path], edit: str
) -> None:
    # A generation missing a segment file that tantivy opens lazily (a partial cache restore): `atlas index` kept it
    # ("unchanged", exit 0) though every search refused it; after an edit it ended in "unexpected error: ValueError:
    # Data corrupted", and after an added file it published a new generation holding the same damage.
    root = make_repo(generated_files(16, seed=3))
    index_repo(config(root), show_progress=False)
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    _delete_positions(generation)
    if edit == "edited":
        with open(root / "app/mod_0000.py", "a") as handle:
            handle.write("# edited\n")
    else:
        (root / "app/new_module.py").write_text("def handle_new_module(request):\n    return request\n")
    report = index_repo(config(root), show_progress=False)
    assert report.mode == "full" and "damaged" in report.reason, report.reason
    assert verify_index(config(root)).ok
    assert open_engine(config(root), build_if_missing=False).search("handle request").hits


def _small_indexed_repo(tmp_path: Path, seed: int) -> tuple[Path, Path, Path]:
    """A 20-file git repository indexed once: (root, index dir, live generation)."""
    root = tmp_path / "repo"
    write_tree(root, generated_files(20, seed=seed, functions=4))
    init_repo(root)
    index_repo(config(root), show_progress=False)
    live = store.current_generation(root / ".atlas")
    assert live is not None
    return root, root / ".atlas", live


@pytest.mark.parametrize("live_number", [None, 999_999], ids=["first", "the last of six digits"])
def test_a_generation_renamed_into_place_but_never_published_is_removed_by_a_run_with_nothing_to_do(
    tmp_path: Path, live_number: int | None
) -> None:
    """Generations are told apart by number: gen-1000000 is newer than gen-999999, though it sorts before it."""
    root, index_dir, live = _small_indexed_repo(tmp_path, seed=3)
    if live_number is not None:
        live = live.rename(index_dir / f"{store.GEN_PREFIX}{live_number:06d}")
        (index_dir / store.CURRENT).write_text(live.name)
    # What a build killed between `os.replace(building, final)` and writing CURRENT leaves behind.
    orphan = index_dir / f"{store.GEN_PREFIX}{int(live.name.removeprefix(store.GEN_PREFIX)) + 1:06d}"
    shutil.copytree(live, orphan)

    index_repo(config(root), show_progress=False)

    assert not orphan.exists()
    assert store.current_generation(index_dir) == live
    assert verify_index(config(root)).ok


def test_an_interrupt_during_publication_lands_after_it_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """^C between renaming the generation into place and writing CURRENT waits for CURRENT: the new generation
    is live and whole, and the CLI's hint says it was published (the old one said nothing was)."""
    from atlas.cli import _interrupted_hint

    root, index_dir, before = _small_indexed_repo(tmp_path, seed=5)
    real_write = store.write_atomic

    def interrupted_write(path: Path, data: bytes, dir_fd: int | None = None) -> None:
        if path.name == store.CURRENT:
            os.kill(os.getpid(), signal.SIGINT)  # lands mid-publication
            time.sleep(0.05)
        real_write(path, data, dir_fd)

    monkeypatch.setattr(store, "write_atomic", interrupted_write)
    monkeypatch.setattr(store, "published", [])
    assert _interrupted_hint() == "nothing was published; the previous index is intact"
    with pytest.raises(KeyboardInterrupt):
        index_repo(config(root), show_progress=False, rebuild=True)
    live = store.current_generation(index_dir)
    assert live is not None and live != before
    assert store.published == [live]
    assert _interrupted_hint() == f"the new index ({live.name}) was already published and is complete"
    monkeypatch.setattr(store, "write_atomic", real_write)
    assert verify_index(config(root)).ok


_STALLED_REMOVAL = """\
import os, re, shutil, time
_rmtree = shutil.rmtree
def _stalled(path, *args, **kwargs):
    if re.fullmatch(r"gen-\\d+", os.path.basename(path)):  # a published generation `remove_stale` removes
        open(os.environ["STALL_MARKER"], "w").close()
        time.sleep(60)
    return _rmtree(path, *args, **kwargs)
shutil.rmtree = _stalled
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_regression_a_generation_left_by_a_run_stopped_after_it_published_is_removed_by_a_run_with_nothing_to_do(
    tmp_path: Path, signum: int
) -> None:
    # A run stopped after it published, while it removed the generations the new one replaced, left the oldest: a
    # whole index more on disk, which the next runs kept whenever they had nothing to publish (and one more for each
    # such stop). A `sitecustomize` holds the run in that removal, where it is stopped.
    root, index_dir, _ = _small_indexed_repo(tmp_path, seed=7)
    oldest = store.current_generation(index_dir)
    assert index_repo(config(root), show_progress=False, rebuild=True).mode == "full"
    hook, marker = tmp_path / "hook", tmp_path / "stalled"
    write_tree(hook, {"sitecustomize.py": _STALLED_REMOVAL})
    env = {**git_env(), "PYTHONPATH": os.pathsep.join([str(hook), *sys.path]), "STALL_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "atlas", "-q", "index", str(root), "--rebuild"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.01)
        os.killpg(proc.pid, signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    live = store.current_generation(index_dir)
    assert live is not None and live.name == "gen-000003", stderr
    assert oldest is not None and oldest.is_dir()
    if signum == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert b"the new index (gen-000003) was already published" in stderr, stderr
    assert index_repo(config(root), show_progress=False).mode == "unchanged"
    assert generations(index_dir) == ["gen-000002", "gen-000003"]
    assert verify_index(config(root)).ok


@pytest.mark.parametrize(
    ("name", "prefix", "suffixed", "taken"),
    [
        (".a.tgz.tmp-{dead}", ".a.tgz.tmp-", False, True),
        (".a.tgz.tmp-{live}", ".a.tgz.tmp-", False, False),
        (".a.tgz.tmp-{dead}-x", ".a.tgz.tmp-", False, False),
        ("xa.tgz.tmp-{dead}", ".a.tgz.tmp-", False, False),
        (".a.tgz.tmp-", ".a.tgz.tmp-", False, False),
        (".a.tgz.tmp-\u0661\u0662\u0663", ".a.tgz.tmp-", False, False),
        ("atlas-readonly-{dead}-k1ll3d00", "atlas-readonly-", True, True),
        ("atlas-readonly-{dead}", "atlas-readonly-", True, False),
        ("atlas-readonly-{live}-r4nn1ng0", "atlas-readonly-", True, False),
        ("atlas-readonly-x{dead}-k1ll3d00", "atlas-readonly-", True, False),
    ],
)
def test_entries_of_dead_processes(tmp_path: Path, name: str, prefix: str, suffixed: bool, taken: bool) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    entry = tmp_path / name.format(dead=gone.pid, live=os.getpid())
    entry.touch()
    found = [found.name for found in store.entries_of_dead_processes(tmp_path, prefix, suffixed)]
    assert found == ([entry.name] if taken else [])
