"""Incremental indexing: a per-file manifest decides what changed, and the result equals a rebuild.

Every test builds in-process with `--jobs 1` (no forked pool) on a small real git repository.
The file table (`files.json`) and `IndexReport` counts say what a run did; searches and
`verify` check that what it did is right. `atlas status` is driven through the CLI for its exit
codes and JSON.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from atlas.api import index_config, index_repo, open_engine, verify_index
from atlas.build import IndexReport
from atlas.cli import cli
from atlas.config import DEFAULT_MAX_FILE_BYTES, IndexConfig
from atlas.index import layout, store
from atlas.index.segments import segment_documents
from atlas.index.writer import FileTable
from atlas.query.engine import Engine, SearchOptions
from atlas.query.fuse import weights_for
from atlas.signals.store import load_store
from atlas.status import load_table
from tests.conftest import git, git_env, write_tree

FILES: dict[str, str] = {
    "README.md": "# Depot\n\nA generated tree for incremental indexing tests.\n",
    "depot/__init__.py": "",
    "depot/ledger.py": (
        "from depot.money import Money\n\n\ndef post_ledger_entry(book, amount):\n"
        '    """Post one ledger entry."""\n    return book.append(Money(amount))\n'
    ),
    "depot/money.py": "class Money:\n    def __init__(self, cents):\n        self.cents = cents\n",
    "depot/shipping.py": "def schedule_shipment(order):\n    return {'order': order, 'carrier': 'parcel'}\n",
    "depot/refunds.py": "def issue_refund(order):\n    return {'refund': order}\n",
    "web/router.ts": "export function routeRequest(path: string): string {\n  return path;\n}\n",
    "native/crc.c": "unsigned crc32_update(unsigned crc, const char *buf, int len) { return crc ^ len; }\n",
}


def config(root: Path, index_dir: Path | None = None, **settings: object) -> IndexConfig:
    return index_config(root, index_dir, jobs=1, **settings)


def build(root: Path, rebuild: bool = False, index_dir: Path | None = None, **settings: object) -> IndexReport:
    return index_repo(config(root, index_dir, **settings), show_progress=False, rebuild=rebuild)


def top(root: Path, query: str, limit: int = 3, index_dir: Path | None = None) -> list[str]:
    engine = open_engine(config(root, index_dir), build_if_missing=False)
    return [hit.path for hit in engine.search(query, SearchOptions(limit=limit, with_lines=False)).hits]


def live_table(root: Path, index_dir: Path | None = None) -> dict[str, str]:
    """path → content hash of the live generation's file table (tombstones left out)."""
    generation = store.current_generation(config(root, index_dir).index_dir)
    assert generation is not None
    table = load_table(generation)
    return {path: digest for path, digest in zip(table.paths, table.hashes, strict=True) if path}


def current(root: Path) -> str:
    return (root / ".atlas" / store.CURRENT).read_text()


def commit(root: Path, message: str, date: str) -> None:
    """Commit everything with author and committer `date` (ISO 8601)."""
    env = {**git_env(), "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(root), "add", "-A"], env=env, check=True, capture_output=True)
    subprocess.run(["git", "-C", str(root), "commit", "-q", "-m", message], env=env, check=True, capture_output=True)


def assert_verified(root: Path) -> None:
    report = verify_index(config(root))
    assert report.ok, report.damaged + report.stale


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    root = make_repo(FILES)
    first = build(root)
    assert (first.mode, first.files_indexed) == ("full", len(FILES))
    return root


def test_unchanged_tree_is_a_no_op(repo: Path) -> None:
    before = current(repo)
    generations = sorted(p.name for p in (repo / ".atlas").iterdir())
    report = build(repo)
    assert (report.mode, report.changed, report.added, report.removed) == ("unchanged", 0, 0, 0)
    assert report.files_indexed == len(FILES)
    assert current(repo) == before
    assert sorted(p.name for p in (repo / ".atlas").iterdir()) == generations
    assert set(report.phases) == {"walk"}, "nothing is parsed, mined or written"
    assert report.seconds < 2.0


def test_edit_add_remove_reparse_only_those_files(repo: Path) -> None:
    (repo / "depot/shipping.py").write_text("def schedule_shipment(order):\n    return route_via_zeppelin(order)\n")
    (repo / "depot/customs.py").write_text("def declare_customs_tariff(parcel):\n    return parcel\n")
    (repo / "depot/refunds.py").unlink()
    report = build(repo)
    assert (report.mode, report.changed, report.added, report.removed) == ("incremental", 1, 1, 1)
    assert report.files_indexed == len(FILES)
    assert top(repo, "zeppelin")[:1] == ["depot/shipping.py"]
    assert top(repo, "declare customs tariff")[:1] == ["depot/customs.py"]
    assert "depot/refunds.py" not in top(repo, "issue refund", limit=20)
    assert set(live_table(repo)) == set(FILES) - {"depot/refunds.py"} | {"depot/customs.py"}
    assert_verified(repo)


def test_touch_without_edit_reparses_nothing(repo: Path) -> None:
    later = os.stat(repo / "depot/money.py").st_mtime_ns + 5_000_000_000
    for name in ("depot/money.py", "web/router.ts"):
        os.utime(repo / name, ns=(later, later))
    report = build(repo)
    assert report.changed == report.added == report.removed == 0
    assert report.mode in ("incremental", "unchanged")
    # The new mtimes are recorded, so the run after that is a no-op.
    assert build(repo).mode == "unchanged"
    assert_verified(repo)


def test_same_size_edit_within_the_indexed_mtime_tick_is_seen(repo: Path) -> None:
    # Simulated on a coarse clock: the file's mtime is at or after the walk of the run that indexes
    # it, and the edit after that run leaves the same size and the same mtime.
    path = repo / "depot/money.py"
    tick = time.time_ns() + 60_000_000_000
    os.utime(path, ns=(tick, tick))
    build(repo)
    path.write_text(path.read_text().replace("cents", "pence"))
    os.utime(path, ns=(tick, tick))
    report = build(repo)
    assert report.changed == 1
    assert top(repo, "pence")[:1] == ["depot/money.py"]


def test_regression_files_stamped_in_the_future_are_not_read_by_every_status(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tree whose mtimes lie in the future (unpacked from an archive made where the clock ran ahead) looked
    # "racily clean" to every status: each file was hashed, so every MCP check read the whole tree.
    import atlas.partition

    future = 4_102_444_800 * 10**9  # 2100-01-01
    for path in repo.rglob("*.py"):
        os.utime(path, ns=(future, future))
    time.sleep(2.2)  # their ctimes (set now, by the kernel) are then older than the walk, beyond the racy margin
    build(repo)
    reads: list[str] = []
    real_hash = atlas.partition.file_content_hash

    def counted(root: Path, path: str, limit: int) -> str:
        reads.append(path)
        return real_hash(root, path, limit)

    monkeypatch.setattr(atlas.partition, "file_content_hash", counted)

    result = CliRunner().invoke(cli, ["status", "--repo", str(repo), "--format", "json"])

    assert json.loads(result.output)["fresh"] is True
    assert reads == []
    path = repo / "depot/money.py"
    path.write_text(path.read_text().replace("cents", "pence"))
    os.utime(path, ns=(future, future))
    result = CliRunner().invoke(cli, ["status", "--repo", str(repo), "--format", "json"])
    assert json.loads(result.output)["changed"] == ["depot/money.py"]


def test_regression_a_same_size_edit_with_its_old_mtime_put_back_is_seen(repo: Path) -> None:
    # `touch -d` (or a tool that keeps mtimes) after an edit of the same size: size and mtime matched the
    # index, so the edit was lost and status said fresh. The inode's ctime cannot be set back.
    path = repo / "depot/money.py"
    old = 1_600_000_000_000_000_000  # long before the index's walk: not "racily clean", so not hashed for that
    os.utime(path, ns=(old, old))
    build(repo)
    size = os.stat(path).st_size
    path.write_text(path.read_text().replace("cents", "pence"))
    os.utime(path, ns=(old, old))
    assert os.stat(path).st_size == size
    result = CliRunner().invoke(cli, ["status", "--repo", str(repo), "--format", "json"])
    assert json.loads(result.output)["changed"] == ["depot/money.py"]
    report = build(repo)
    assert report.changed == 1
    assert top(repo, "pence")[:1] == ["depot/money.py"]
    assert build(repo).mode == "unchanged"
    assert_verified(repo)


def test_regression_a_skipped_file_edited_to_text_with_its_old_mtime_put_back_is_indexed(repo: Path) -> None:
    # The parser skipped it as binary; the table kept only its size and mtime, so the same-size text that replaced
    # it (mtime put back) was never read: search missed it and status said fresh.
    path = repo / "assets/blob.dat"
    path.parent.mkdir()
    path.write_bytes(b"zep\x00pelin\n")
    old = 1_600_000_000_000_000_000
    os.utime(path, ns=(old, old))
    assert build(repo).skipped == {"binary": 1}
    path.write_bytes(b"zep pelin\n")
    os.utime(path, ns=(old, old))
    result = CliRunner().invoke(cli, ["status", "--repo", str(repo), "--format", "json"])
    assert json.loads(result.output)["added"] == ["assets/blob.dat"]
    report = build(repo)
    assert (report.added, report.skipped) == (1, {})
    assert top(repo, "pelin")[:1] == ["assets/blob.dat"]
    assert build(repo).mode == "unchanged"


def test_regression_a_skipped_file_that_was_deleted_is_no_longer_counted(repo: Path) -> None:
    # With nothing else changed the run said "unchanged" and kept the deleted file among the skipped, by name.
    (repo / "logo.png").write_bytes(b"\x89PNG\x00\x01")
    assert build(repo).skipped == {"binary": 1}
    (repo / "logo.png").unlink()
    report = build(repo)
    assert (report.skipped, report.skipped_examples) == ({}, {})
    assert build(repo).mode == "unchanged"


def test_a_table_written_before_failed_reads_were_marked_reads_its_unreadable_files_again() -> None:
    # An older Atlas recorded a left-out file as (size, mtime, reason, ctime), and never read an unreadable one again
    # while that stat held: an update of its index reads each again, as a file whose read failed.
    old = {"paths": [], "languages": [], "roles": [], "sizes": [], "mtimes": [], "ctimes": [], "hashes": [],
           "lines": [], "imports": [], "symbols": [], "errors": [],
           "skipped": {"locked.py": [6, 1, "unreadable", 2], "logo.png": [6, 1, "binary", 2]}}  # fmt: skip
    table = FileTable.from_json(json.dumps(old).encode())
    assert table.skipped == {"locked.py": (6, 1, "unreadable", 2, True), "logo.png": (6, 1, "binary", 2, False)}


def test_changing_an_index_option_rebuilds_with_a_reason(repo: Path) -> None:
    report = build(repo, max_file_bytes=50)
    assert report.mode == "full"
    assert "settings changed" in report.reason
    assert "\n" not in report.reason
    too_large = [path for path, text in FILES.items() if len(text.encode()) > 50]
    assert report.skipped.get("too_large") == len(too_large)
    assert report.files_indexed == len(FILES) - len(too_large)
    assert build(repo).mode == "unchanged"  # the index remembers the cap it was built with
    back = build(repo, max_file_bytes=DEFAULT_MAX_FILE_BYTES)
    assert back.mode == "full" and "max_file_bytes 50 → 1048576" in back.reason


def test_rebuild_flag_gives_its_reason(repo: Path) -> None:
    report = build(repo, rebuild=True)
    assert (report.mode, report.reason) == ("full", "--rebuild")


def test_new_commit_mines_history_incrementally_and_recency_grows(repo: Path) -> None:
    generation = store.current_generation(repo / ".atlas")
    assert generation is not None
    side = load_store(generation)
    assert side is not None
    fid = load_table(generation).paths.index("depot/ledger.py")
    before = {name: float(side.arrays[name][fid]) for name in ("git_commits", "git_last_change", "git_decayed")}

    with open(repo / "depot/ledger.py", "a") as handle:
        handle.write("\n\ndef close_ledger(book):\n    return book\n")
    commit(repo, "ledger: close", "2024-03-01T00:00:00+00:00")
    report = build(repo)
    assert report.mode == "incremental" and report.changed == 1
    assert report.signals["git"]["mined"] == "incremental"
    assert report.signals["git"]["commits_mined"] == 2

    generation = store.current_generation(repo / ".atlas")
    assert generation is not None
    side = load_store(generation)
    assert side is not None
    assert load_table(generation).paths.index("depot/ledger.py") == fid, "a changed file keeps its id"
    after = {name: float(side.arrays[name][fid]) for name in before}
    assert after["git_commits"] == before["git_commits"] + 1
    assert after["git_last_change"] > before["git_last_change"]
    assert after["git_decayed"] > before["git_decayed"]


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(["commit", "-q", "--amend", "-m", "amended"], id="amend"),
        pytest.param(["reset", "-q", "--hard", "HEAD~1"], id="reset"),
    ],
)
def test_rewritten_history_is_mined_in_full(repo: Path, rewrite: list[str]) -> None:
    (repo / "depot/money.py").write_text("class Money:\n    cents = 0\n    currency = 'EUR'\n")
    commit(repo, "money: currency", "2024-02-01T00:00:00+00:00")
    assert build(repo).signals["git"]["mined"] == "incremental"
    git(repo, *rewrite)
    report = build(repo)
    assert report.signals["git"]["mined"] == "full"
    assert_verified(repo)


def test_many_removals_trigger_a_full_rebuild_with_a_reason(make_repo: Callable[..., Path]) -> None:
    files = {f"pkg/module_{i:02d}.py": f"def handler_{i}(x):\n    return x + {i}\n" for i in range(20)}
    root = make_repo(files)
    build(root)
    for i in range(8):  # 8 of 20 is over the 25% tombstone ratio
        (root / f"pkg/module_{i:02d}.py").unlink()
    report = build(root)
    assert report.mode == "full"
    assert "removed files" in report.reason
    assert report.files_indexed == 12
    table = load_table(store.current_generation(root / ".atlas"))  # type: ignore[arg-type]
    assert "" not in table.paths, "a full build reclaims the tombstoned ids"
    assert_verified(root)


def test_a_few_removals_stay_incremental(make_repo: Callable[..., Path]) -> None:
    files = {f"pkg/module_{i:02d}.py": f"def handler_{i}(x):\n    return x + {i}\n" for i in range(20)}
    root = make_repo(files)
    build(root)
    (root / "pkg/module_03.py").unlink()
    report = build(root)
    assert (report.mode, report.removed, report.files_indexed) == ("incremental", 1, 19)
    assert_verified(root)


# --- equivalence with a rebuild --------------------------------------------------------------
#
# After random edits (edit, add, remove, rename, touch, some committed), the incrementally updated
# index must hold what a `--rebuild` of the same tree holds: the same files with the same facts,
# the same documents, the same side-store rows (matched by path, since file ids differ) and the
# same answers. The tree stays under 21 files: `merge_histories` documents that co-change partners
# beyond its top 20 per file are lost when histories are merged, and that loss is by design.

_VOCABULARY = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt cobalt dune ember "
    "fjord glacier harbor iris jasper kelp lagoon meadow nectar onyx prairie quartz reef summit tundra"
)
WORDS = tuple(_VOCABULARY.split())


def _module(rng: random.Random, name: str) -> str:
    words = rng.sample(WORDS, 6)
    functions = "".join(
        f"def {words[i]}_{words[i + 1]}(value):\n    # {' '.join(rng.choices(WORDS, k=8))}\n    return value\n\n\n"
        for i in range(0, 6, 2)
    )
    imports = f"from pkg.{rng.choice(['core', 'util'])} import helper\n\n\n" if rng.random() < 0.5 else ""
    return f'"""Module {name}."""\n\n{imports}{functions}'


def _random_edits(rng: random.Random, root: Path, round_no: int) -> None:
    for _ in range(rng.randint(2, 5)):
        paths = sorted(p.relative_to(root).as_posix() for p in (root / "pkg").glob("[mnr]*.py"))
        action, target = rng.choice(["edit", "edit", "add", "remove", "rename", "touch"]), rng.choice(paths)
        if action == "edit":
            (root / target).write_text(_module(rng, target))
        elif action == "add":
            name = f"pkg/new_{round_no}_{rng.randrange(1000)}.py"
            (root / name).write_text(_module(rng, name))
        elif action == "remove" and len(paths) > 8:
            (root / target).unlink()
        elif action == "rename":
            (root / target).rename(root / f"pkg/renamed_{round_no}_{rng.randrange(1000)}.py")
        elif action == "touch":
            stat = os.stat(root / target)
            os.utime(root / target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _edited_tree(make_repo: Callable[..., Path], index_dir: Path, seed: int) -> tuple[Path, random.Random]:
    """A repository indexed once, then edited and updated incrementally over 4 rounds."""
    rng = random.Random(seed)
    files = {f"pkg/m{i:02d}.py": _module(rng, f"m{i:02d}") for i in range(12)}
    files |= {"pkg/core.py": "def helper():\n    pass\n", "pkg/util.py": "def helper():\n    pass\n"}
    root = make_repo(files)
    build(root, index_dir=index_dir)
    modes = set()
    for round_no in range(4):
        _random_edits(rng, root, round_no)
        if round_no % 2:
            commit(root, f"round {round_no}", f"2024-0{round_no + 2}-01T00:00:00+00:00")
        modes.add(build(root, index_dir=index_dir).mode)
    assert "incremental" in modes
    return root, rng


def _facts(root: Path, index_dir: Path) -> dict[str, object]:
    """What an index holds, keyed by path (ids differ between an updated index and a rebuild)."""
    generation = store.current_generation(index_dir)
    assert generation is not None
    table = load_table(generation)
    side = load_store(generation)
    assert side is not None
    live = [fid for fid, path in enumerate(table.paths) if path]
    paths = side.paths
    rows: dict[str, object] = {
        name: {paths[fid]: round(float(side.arrays[name][fid]), 4) for fid in live}
        for name in ("role", "path_flags", "lines", "git_commits", "git_last_change", "git_decayed")
    }
    pagerank = np.asarray(side.arrays["pagerank"], dtype=np.float64)[live]
    rows["pagerank"] = dict(zip([paths[f] for f in live], np.round(pagerank / pagerank.sum(), 5), strict=True))
    rows["language"] = {paths[fid]: side.params["languages"][int(side.arrays["language"][fid])] for fid in live}
    rows["import_edges"] = {(paths[a], paths[b]) for a, b in np.asarray(side.arrays["import_edges"])}
    indptr, indices = side.arrays["cochange_indptr"], side.arrays["cochange_indices"]
    support = side.arrays["cochange_data"]
    rows["cochange"] = {
        (paths[fid], paths[int(indices[k])], int(support[k]))
        for fid in live
        for k in range(int(indptr[fid]), int(indptr[fid + 1]))
    }
    columns = ("hashes", "sizes", "languages", "roles", "lines", "imports", "symbols")
    rows["files"] = {table.paths[fid]: tuple(str(getattr(table, c)[fid]) for c in columns) for fid in live}
    engine = open_engine(config(root, index_dir), build_if_missing=False)
    rows["documents"] = engine.reader.num_docs
    rows["outlines"] = {path: engine.reader.doc(_address(engine, path)).outline for path in rows["files"]}  # type: ignore[union-attr]
    return rows


def _address(engine: Engine, path: str) -> object:
    import tantivy

    hits = engine.reader.search(tantivy.Query.term_query(engine.reader.schema, "path", path), 2)
    assert len(hits) == 1, path
    return hits[0][1]


def _matches(root: Path, index_dir: Path, query: str) -> set[str]:
    """Every file BM25 matches for `query` (the match set does not depend on corpus statistics)."""
    engine = open_engine(config(root, index_dir), build_if_missing=False)
    options = SearchOptions(limit=100, with_lines=False, signals=("bm25",))
    return {hit.path for hit in engine.search(query, options).hits}


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_incremental_index_equals_a_rebuild(make_repo: Callable[..., Path], tmp_path: Path, seed: int) -> None:
    # Both indexes live outside the tree, so neither walk sees the other's files.
    updated, fresh = tmp_path / "updated-index", tmp_path / "fresh-index"
    root, rng = _edited_tree(make_repo, updated, seed)
    build(root, rebuild=True, index_dir=fresh)

    assert live_table(root, updated) == live_table(root, fresh)
    mine, theirs = _facts(root, updated), _facts(root, fresh)
    for name in mine:
        assert mine[name] == theirs[name], name
    for query in [" ".join(rng.sample(WORDS, 2)) for _ in range(10)] + ["helper", "value module"]:
        assert _matches(root, updated, query) == _matches(root, fresh, query), query
    # A query naming one file's functions has one clear answer in both.
    for path in sorted(mine["files"])[::3]:  # type: ignore[call-overload]
        names = " ".join(re.findall(r"def (\w+)\(value", (root / path).read_text()))
        if names:
            assert top(root, names, 1, updated) == top(root, names, 1, fresh) == [path]
    report = verify_index(config(root, updated))
    assert report.ok, report.damaged + report.stale


@pytest.mark.parametrize("seed", [53, 59, 61])
def test_incremental_top3_equals_a_rebuild_for_every_query(
    make_repo: Callable[..., Path], tmp_path: Path, seed: int
) -> None:
    updated, fresh = tmp_path / "updated-index", tmp_path / "fresh-index"
    root, rng = _edited_tree(make_repo, updated, seed)
    build(root, rebuild=True, index_dir=fresh)
    differing = [
        query
        for query in [" ".join(rng.sample(WORDS, 2)) for _ in range(12)] + ["helper", "value module"]
        if top(root, query, index_dir=updated) != top(root, query, index_dir=fresh)
    ]
    assert differing == []


# --- BM25 statistics: an update counts no deleted document --------------------------------
#
# tantivy counts a deleted document in BM25's statistics until its segment is merged, so an update rewrites the
# segments it deletes from (atlas.index.layout). These tests compare BM25's own order, which depends on them.


def _bm25_order(root: Path, index_dir: Path, query: str, limit: int = 20, **weights: float) -> list[str]:
    engine = open_engine(config(root, index_dir), build_if_missing=False)
    options = SearchOptions(limit=limit, with_lines=False, signals=("bm25",), weights=weights_for("balanced", weights))
    return [hit.path for hit in engine.search(query, options).hits]


def _segments(index_dir: Path) -> list[tuple[int, int]]:
    """(documents, deleted documents) per tantivy segment of the live generation."""
    generation = store.current_generation(index_dir)
    assert generation is not None
    return segment_documents(generation / store.TANTIVY_DIR)


def _first_of(order: list[str], *paths: str) -> str:
    return min(paths, key=order.index)


def _said_twice(word: str) -> str:
    return f"# {word} {word}\ndef keep(value):\n    return value\n"


def test_regression_an_update_ranks_by_the_document_frequencies_of_a_rebuild(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # The edits make "alpha" rare and "beta" common, so a.py (alpha twice) outranks b.py (beta twice). The updated
    # index still counted the deleted documents: alpha in 7 documents, beta in 6, and b.py stayed first.
    files = {"a.py": _said_twice("alpha"), "b.py": _said_twice("beta")}
    files |= {f"pkg/c{i}.py": f"# alpha\nVALUE = {i}\n" for i in range(6)}
    files |= {f"pkg/other{i}.py": f"def other_{i}(value):\n    return value\n" for i in range(14)}
    root = make_repo(files)
    build(root)
    updated, fresh = root / ".atlas", tmp_path / "fresh-index"
    assert _first_of(_bm25_order(root, updated, "alpha beta"), "a.py", "b.py") == "b.py"
    for i in range(5):
        (root / f"pkg/c{i}.py").write_text(f"# beta\nVALUE = {i}\n")
    (root / "pkg/c5.py").unlink()
    report = build(root)
    assert (report.mode, report.changed, report.removed, report.deleted_documents) == ("incremental", 5, 1, 0)
    build(root, rebuild=True, index_dir=fresh)
    assert _first_of(_bm25_order(root, fresh, "alpha beta"), "a.py", "b.py") == "a.py"
    assert _bm25_order(root, updated, "alpha beta") == _bm25_order(root, fresh, "alpha beta")
    assert _segments(updated) == [(len(files) - 1, 0)]
    assert_verified(root)


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full builds cut a tree of a few KiB into MAX_SEGMENTS segments, as they cut one of 7-28 MiB."""
    monkeypatch.setattr(layout, "MIN_SEGMENT_BYTES", 1)


def test_an_update_rewrites_only_the_segments_it_deleted_from(
    make_repo: Callable[..., Path], tmp_path: Path, small_segments: None
) -> None:
    rng = random.Random(5)
    files = {f"pkg/m{i:02d}.py": _module(rng, f"m{i:02d}") for i in range(28)}
    root = make_repo(files)
    build(root)
    updated, fresh = root / ".atlas", tmp_path / "fresh-index"
    assert len(_segments(updated)) == layout.MAX_SEGMENTS
    (root / "pkg/m03.py").write_text(_module(rng, "m03"))
    (root / "pkg/m20.py").unlink()
    report = build(root)
    assert (report.changed, report.removed, report.deleted_documents) == (1, 1, 0)
    assert 0 < report.rewritten <= 2 * 28 // layout.MAX_SEGMENTS, "the two segments of m03 and m20, no others"
    after = _segments(updated)
    assert len(after) == layout.MAX_SEGMENTS and sum(documents for documents, _ in after) == 27
    assert all(deleted == 0 for _, deleted in after)
    build(root, rebuild=True, index_dir=fresh)
    for query in [" ".join(rng.sample(WORDS, 2)) for _ in range(12)]:
        assert _bm25_order(root, updated, query) == _bm25_order(root, fresh, query), query
    assert_verified(root)


def test_an_update_adding_files_keeps_at_most_max_segments(
    make_repo: Callable[..., Path], small_segments: None
) -> None:
    # An eighth segment would have tantivy merge all eight into one, which an update then rewrites whole.
    rng = random.Random(6)
    root = make_repo({f"pkg/m{i:02d}.py": _module(rng, f"m{i:02d}") for i in range(28)})
    build(root)
    for round_no in range(3):
        (root / f"pkg/new_{round_no}.py").write_text(_module(rng, f"new_{round_no}"))
        report = build(root)
        assert (report.added, report.deleted_documents) == (1, 0)
        assert len(_segments(root / ".atlas")) == layout.MAX_SEGMENTS
    assert_verified(root)


def test_segments_over_the_rewrite_limit_keep_their_deleted_documents_until_one_is_within(
    make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(FILES)
    build(root)
    monkeypatch.setattr(layout, "REWRITE_LIMIT_BYTES", 10)
    (root / "depot/money.py").write_text("class Money:\n    pence = 0\n")
    report = build(root)
    assert (report.changed, report.rewritten, report.deleted_documents) == (1, 0, 1)
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    assert json.loads((generation / store.MANIFEST).read_text())["deleted_documents"] == 1
    assert build(root).deleted_documents == 1, "a run with nothing to do reports what the index holds"
    monkeypatch.undo()
    (root / "web/router.ts").write_text("export function routeRequest(path: string): string {\n  return '';\n}\n")
    report = build(root)
    assert (report.changed, report.rewritten, report.deleted_documents) == (1, len(FILES) - 2, 0)
    assert_verified(root)


def test_regression_files_tied_at_the_candidate_cut_are_kept_alike_by_an_update(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # Eight identical files score alike; asked for 3, tantivy kept the 3 that lay first in its segments. The update
    # put the edited copy first, so the updated index answered c7 where a rebuild answered c2.
    files = {f"copies/c{i}.py": "# zanzibar\n" for i in range(7)} | {"copies/c7.py": "# other\n"}
    root = make_repo(files | {f"pkg/other{i}.py": f"X = {i}\n" for i in range(4)})
    build(root)
    (root / "copies/c7.py").write_text("# zanzibar\n")
    assert build(root).mode == "incremental"
    build(root, rebuild=True, index_dir=tmp_path / "fresh-index")
    updated = _bm25_order(root, root / ".atlas", "zanzibar", limit=3, candidates=3)
    assert updated == _bm25_order(root, tmp_path / "fresh-index", "zanzibar", limit=3, candidates=3)
    assert updated == ["copies/c0.py", "copies/c1.py", "copies/c2.py"], "the whole tie is a candidate; path order"


# --- atlas status ----------------------------------------------------------------------------


def status(root: Path) -> tuple[int, dict[str, object] | None, str]:
    result = CliRunner().invoke(cli, ["status", "--repo", str(root), "--format", "json"])
    record = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, record, result.stderr


def test_status_without_an_index_exits_3(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES)
    code, record, stderr = status(root)
    assert (code, record) == (3, None)
    assert stderr.startswith("atlas: ") and "hint:" in stderr and "Traceback" not in stderr


def test_status_fresh_then_stale_with_the_changed_files(repo: Path) -> None:
    code, record, _ = status(repo)
    assert code == 0 and record is not None and record["fresh"] is True
    with open(repo / "depot/money.py", "a") as handle:
        handle.write("# rounding rules\n")
    (repo / "depot/customs.py").write_text("def declare_customs_tariff(parcel):\n    return parcel\n")
    (repo / "web/router.ts").unlink()
    code, record, _ = status(repo)
    assert code == 7 and record is not None
    assert (record["fresh"], record["changed"], record["added"], record["removed"]) == (
        False, ["depot/money.py"], ["depot/customs.py"], ["web/router.ts"],
    )  # fmt: skip
    build(repo)
    assert status(repo)[0] == 0


def test_status_reports_a_settings_change_as_stale(repo: Path) -> None:
    (repo / "atlas.toml").write_text("[index]\nmax_file_bytes = 4096\n")
    code, record, _ = status(repo)
    assert code == 7 and record is not None
    assert "settings changed" in str(record["reason"])


def test_regression_status_is_fresh_when_head_names_an_annotated_tag(repo: Path) -> None:
    # HEAD detached at a tag object (git reads such a HEAD, as another tool may write it; its own update-ref refuses
    # to); the index mines the commit it tags. Status compared the tag's object name with that commit: "new commits
    # since the index was built", exit 7, for ever, while `atlas index` found nothing to do.
    git(repo, "tag", "-a", "v1", "-m", "release v1")
    (repo / ".git" / "HEAD").write_text(git(repo, "rev-parse", "v1").decode())
    assert build(repo).mode == "unchanged"
    code, record, _ = status(repo)
    assert record is not None and record["reason"] == ""
    assert code == 0
    git(repo, "checkout", "-q", "main")
    (repo / "depot/money.py").write_text("class Money:\n    pass\n")
    commit(repo, "after the tag", "2026-01-02T00:00:00")
    code, record, _ = status(repo)
    assert code == 7 and record is not None and str(record["reason"]).startswith("new commits since the index")


def test_regression_status_says_an_orphan_branch_leaves_the_mined_history_behind(repo: Path) -> None:
    # After `git checkout --orphan site`, HEAD names no commit: status said fresh (exit 0), though `atlas index` then
    # dropped the history mined on main, and the MCP server kept answering with it.
    head = git(repo, "rev-parse", "HEAD").decode().strip()
    git(repo, "checkout", "-q", "--orphan", "site")
    code, record, _ = status(repo)
    assert code == 7 and record is not None
    mined = f"the index's history was mined at {head[:12]}"
    assert record["reason"] == f"the current branch (site) has no commits yet: {mined}"
    assert build(repo).signals["git"]["available"] is False  # type: ignore[index]
    assert status(repo)[0] == 0


@pytest.mark.parametrize("before", ["git init", "no git", "orphan branch"])
def test_regression_status_says_a_first_commit_since_an_index_built_without_one_is_unmined(
    tmp_path: Path, before: str
) -> None:
    # An index built before the repository's first commit (or before `git init`, or on a branch just made with
    # `checkout --orphan`) has no history. After the commit, status said fresh (exit 0), though `atlas index` then
    # mined it; `quick` and the MCP server, which update only a stale index, ranked without it until a file changed.
    root = tmp_path / "repo"
    root.mkdir()
    write_tree(root, FILES)
    if before != "no git":
        git(root, "init", "-q", "-b", "main")
    if before == "orphan branch":
        commit(root, "on main", "2026-01-01T00:00:00")
        git(root, "checkout", "-q", "--orphan", "site")
    assert build(root).signals["git"]["available"] is False  # type: ignore[index]
    assert status(root)[0] == 0
    if before == "no git":
        git(root, "init", "-q", "-b", "main")
    commit(root, "first", "2026-01-02T00:00:00")
    code, record, _ = status(root)
    assert code == 7 and record is not None
    head = git(root, "rev-parse", "HEAD").decode().strip()
    assert str(record["reason"]).startswith(f"HEAD names a commit ({head[:12]}) since the index was built without")
    assert build(root).signals["git"]["available"] is True  # type: ignore[index]
    assert status(root)[0] == 0


def test_regression_status_does_not_call_a_checkout_of_an_older_commit_new_commits(repo: Path) -> None:
    # `git checkout HEAD~1` (a bisect step, a look at an older release) after indexing: status said "new commits
    # since the index was built", though HEAD went back to a commit older than the one mined.
    (repo / "depot/money.py").write_text("class Money:\n    pass\n")
    commit(repo, "money", "2026-01-02T00:00:00")
    mined = git(repo, "rev-parse", "HEAD").decode().strip()
    build(repo)
    git(repo, "checkout", "-q", "HEAD~1")
    older = git(repo, "rev-parse", "HEAD").decode().strip()
    code, record, _ = status(repo)
    assert code == 7 and record is not None
    moved = "HEAD moved since the index was built (another branch or an older commit)"
    assert record["reason"] == f"{moved}: HEAD was {mined[:12]}, is {older[:12]}"


def test_regression_status_is_fresh_after_an_update_that_removed_a_file(repo: Path) -> None:
    # A removed file leaves a tombstone (path "") in files.json; status listed it as a removed
    # file named "", so the index never looked fresh again after any removal.
    (repo / "depot/refunds.py").unlink()
    assert build(repo).removed == 1
    code, record, _ = status(repo)
    assert record is not None and record["removed"] == []
    assert code == 0


def _import_edges(root: Path, index_dir: Path | None = None) -> set[tuple[str, str]]:
    """The live generation's import edges, as (importer, imported) paths."""
    generation = store.current_generation(config(root, index_dir).index_dir)
    assert generation is not None
    side = load_store(generation)
    assert side is not None
    edges = np.asarray(side.get("import_edges")).reshape(-1, 2)
    return {(side.paths[a], side.paths[b]) for a, b in edges}


def _graph(report: IndexReport) -> dict[str, int]:
    return report.signals["graph"]  # type: ignore[index]


GRAPH_EDITS: dict[str, tuple[dict[str, str | bytes], dict[str, str | bytes]]] = {
    # A Go import edited elsewhere changes the guess of the module path: every Go file's imports resolve anew.
    "go module path guessed again": (
        {"go.mod": "module example.com/m\n", "a/util/util.go": "package util\nfunc Helper() int { return 1 }\n",
         "x/a/util/util.go": "package util\nfunc Helper() int { return 3 }\n",
         "api/api.go": "package api\nfunc Serve() int { return 2 }\n",
         "x/main.go": 'package main\nimport "example.com/m/a/util"\nfunc Zanzibar() int { return util.Helper() }\n',
         "c.go": 'package main\nimport "other.org/y/api"\nfunc Other() int { return api.Serve() }\n'},
        {"c.go": 'package main\nimport "example.com/m/api"\nfunc Other() int { return api.Serve() }\n'},
    ),
    # A file now skipped (binary) was an import's target candidate: its importer resolves elsewhere.
    "import target skipped": (
        {"pkg/__init__.py": "def helper():\n    return 1\n", "pkg/b.py": "def other():\n    return 2\n",
         "a.py": "from pkg import b\n\ndef zanzibar():\n    return b.other()\n"},
        {"pkg/b.py": b"binary\0data\n"},
    ),
    # Unresolved imports of the files the update did not touch were dropped from the count.
    "unresolved imports kept": (
        {"a.py": "import missing_one\nimport missing_two\n", "b.py": "import missing_three\n", "c.py": "x = 1\n"},
        {"c.py": "x = 1\ny = 2\n"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", GRAPH_EDITS)
def test_regression_an_updated_import_graph_is_the_rebuilt_one(
    make_repo: Callable[..., Path], tmp_path: Path, case: str
) -> None:
    before, edit = GRAPH_EDITS[case]
    root = make_repo(before)
    build(root)
    for path, content in edit.items():
        target = root / path
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    updated = build(root)
    assert updated.mode == "incremental"
    rebuilt = build(root, rebuild=True, index_dir=tmp_path / "full")
    assert _import_edges(root) == _import_edges(root, tmp_path / "full")
    assert _graph(updated) == _graph(rebuilt)


def _commits_of(root: Path, path: str, index_dir: Path | None = None) -> int:
    generation = store.current_generation(config(root, index_dir).index_dir)
    assert generation is not None
    side = load_store(generation)
    assert side is not None
    return int(side.get("git_commits")[side.paths.index(path)])  # type: ignore[index]


def test_regression_a_file_added_back_keeps_its_history_from_before_it_was_deleted(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # The merge of the new commits into the saved history knew only the files at the old HEAD: a file deleted
    # before it and added back since lost its older commits (recency, co-change and commit words with them).
    root = make_repo({"f.py": "def zanzibar():\n    return 1\n", "g.py": "x = 1\n"})
    (root / "f.py").write_text("def zanzibar():\n    return 2\n")
    commit(root, "two", "2026-01-02T00:00:00")
    (root / "f.py").unlink()
    commit(root, "three", "2026-01-03T00:00:00")
    build(root)
    (root / "f.py").write_text("def zanzibar():\n    return 2\n")
    commit(root, "four", "2026-01-04T00:00:00")
    assert build(root).mode == "incremental"
    build(root, rebuild=True, index_dir=tmp_path / "full")
    assert _commits_of(root, "f.py") == _commits_of(root, "f.py", tmp_path / "full") == 4


def test_regression_an_update_keeps_the_history_window(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    # With --history 5, an update merged the new commits into the saved ones beyond the window (7 of 5).
    root = make_repo({"f.py": "def zanzibar():\n    return 1\n", "g.py": "x = 1\n"})
    for day in range(2, 4):
        (root / "f.py").write_text(f"def zanzibar():\n    return {day}\n")
        commit(root, f"day {day}", f"2026-01-0{day}T00:00:00")
    assert build(root, history_commits=5).signals["git"]["commits_mined"] == 3  # type: ignore[index]
    for day in range(4, 8):
        (root / "f.py").write_text(f"def zanzibar():\n    return {day}\n")
        commit(root, f"day {day}", f"2026-01-0{day}T00:00:00")
    updated = build(root, history_commits=5)
    assert updated.signals["git"]["commits_mined"] == 5  # type: ignore[index]
    build(root, rebuild=True, index_dir=tmp_path / "full", history_commits=5)
    assert _commits_of(root, "f.py") == _commits_of(root, "f.py", tmp_path / "full") == 5


def test_regression_co_change_partners_past_the_cut_are_not_lost_by_an_update(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # Histories merged after each kept only a file's top 20 partners: a commit of 26 files, then another of two of
    # them, left b24.py out of a.py's partners for good (a rebuild counts it twice and ranks it first).
    from atlas.api import related_files

    files = {"a.py": "def zanzibar_alpha():\n    return 1\n"} | {f"b{i:02}.py": f"v = {i}\n" for i in range(25)}
    root = make_repo(files)
    build(root)
    (root / "a.py").write_text("def zanzibar_alpha():\n    return 2\n")
    (root / "b24.py").write_text("v = 24\nw = 1\n")
    commit(root, "two", "2026-01-02T00:00:00")
    build(root)
    build(root, rebuild=True, index_dir=tmp_path / "full")

    def partners(index_dir: Path | None) -> list[tuple[str, int]]:
        engine = open_engine(config(root, index_dir), build_if_missing=False)
        return [(p.path, p.commits) for p in related_files(engine, "a.py", limit=50, min_commits=1).cochange]

    assert partners(None) == partners(tmp_path / "full")
    assert partners(None)[0] == ("b24.py", 2)


@pytest.mark.parametrize("name", [b"caf\xe9.py", b"back\\xe9.py"], ids=["latin1-name", "name-with-backslash-x"])
def test_regression_a_file_whose_name_is_not_utf8_added_back_keeps_its_history(
    make_repo: Callable[..., Path], tmp_path: Path, name: bytes
) -> None:
    # The pathspec asking git whether a file added back had older commits was its display name (`caf\xe9.py`, with
    # a backslash), which names no file: git said no, and the update merged away the file's older commits.
    root = make_repo({name: "def zanzibar():\n    return 1\n", "g.py": "x = 1\n"})
    path = os.path.join(os.fsencode(root), name)
    with open(path, "w") as handle:
        handle.write("def zanzibar():\n    return 2\n")
    commit(root, "two", "2026-01-02T00:00:00")
    os.unlink(path)
    commit(root, "three", "2026-01-03T00:00:00")
    build(root)
    with open(path, "w") as handle:
        handle.write("def zanzibar():\n    return 2\n")
    commit(root, "four", "2026-01-04T00:00:00")
    build(root)
    build(root, rebuild=True, index_dir=tmp_path / "full")
    shown = name.decode("utf-8", "backslashreplace")
    assert _commits_of(root, shown) == _commits_of(root, shown, tmp_path / "full") == 4


@pytest.mark.parametrize(
    "variable", ["GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS"]
)
def test_regression_pathspec_variables_of_the_callers_shell_change_no_answer_git_gives_atlas(
    make_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # GIT_LITERAL_PATHSPECS=1 made git read `:(literal)f.py` as a file of that name: an update merged away the older
    # commits of a file added back. GIT_GLOB_PATHSPECS=1 or GIT_ICASE_PATHSPECS=1 made the walk's
    # `git --literal-pathspecs ls-files` fail: a tracked file an ignore rule matches was dropped from the index.
    root = make_repo({"f.py": "def zanzibar():\n    return 1\n", "g.py": "x = 1\n", ".gitignore": "*.log\n"})
    (root / "audit.log").write_text("def audit_trail():\n    pass\n")
    git(root, "add", "-f", "audit.log")
    commit(root, "two", "2026-01-02T00:00:00")
    (root / "f.py").unlink()
    commit(root, "three", "2026-01-03T00:00:00")
    monkeypatch.setenv(variable, "1")
    assert build(root).files_indexed == 3  # g.py, .gitignore and the tracked audit.log
    monkeypatch.delenv(variable)
    (root / "f.py").write_text("def zanzibar():\n    return 2\n")
    commit(root, "four", "2026-01-04T00:00:00")
    monkeypatch.setenv(variable, "1")
    updated = build(root)
    assert (updated.files_indexed, updated.mode) == (4, "incremental")
    build(root, rebuild=True, index_dir=tmp_path / "full")
    assert _commits_of(root, "f.py") == _commits_of(root, "f.py", tmp_path / "full") == 3


def _explained(root: Path, query: str, index_dir: Path) -> list[dict[str, object]]:
    """`atlas search --explain --format json` of `query` over the index in `index_dir`: the hits, timing left out."""
    args = ["search", "--repo", str(root), "--index-dir", str(index_dir), "--explain", "--format", "json", query]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"]


def test_regression_after_a_checkout_that_drops_an_imported_file_explain_equals_a_rebuild(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # A branch without pkg/c.py: the update keeps the removed file's row as a tombstone, and PageRank gave it (and
    # every tombstone since) a share of the rank: every file's `pagerank` raw value under --explain was lower than
    # a rebuild's (0.332 for pkg/b.py here), until --rebuild.
    files = {f"pkg/{name}.py": f"from pkg import {after}\n\ndef {name}_retry_budget():\n    return 1\n"
             for name, after in zip("abcde", "bcdea", strict=True)}  # fmt: skip
    root = make_repo(files)
    git(root, "checkout", "-q", "-b", "slim")
    git(root, "rm", "-q", "pkg/c.py")
    commit(root, "drop c", "2024-01-02T00:00:00")
    git(root, "checkout", "-q", "main")
    updated, fresh = tmp_path / "updated-index", tmp_path / "fresh-index"
    build(root, index_dir=updated)
    git(root, "checkout", "-q", "slim")
    assert build(root, index_dir=updated).mode == "incremental"
    build(root, rebuild=True, index_dir=fresh)
    assert _explained(root, "retry budget", updated) == _explained(root, "retry budget", fresh)
