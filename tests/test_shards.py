"""Sharded indexes: shards built apart and assembled search exactly like a single index of the same tree.

Real git repositories, real tree-sitter and tantivy, the real CLI (in process, and as a subprocess
for the kill test).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.index import store
from atlas.partition import shard_of
from tests.conftest import git, init_repo, write_tree
from tests.generated_repo import FILES as SHOP_FILES

VOCABULARY = (
    "invoice ledger refund payment gateway cart discount coupon shipping parcel courier warehouse stock "
    "inventory order customer account session token cache retry backoff queue worker scheduler cron "
    "report export import parser lexer token grammar render template widget layout theme color font "
    "metric counter gauge histogram trace span logger audit policy quota limit throttle"
)
WORDS = VOCABULARY.split()

QUERIES = [
    "invoice refund", "payment gateway", "shopping cart total", "discount coupon", "warehouse stock",
    "retry backoff queue", "parser lexer grammar", "render template widget", "metric histogram",
    "audit policy", "throttle quota limit", "courier parcel shipping", "session token cache",
    "scheduler cron worker", "apply_discount", "ShoppingCart", "verify webhook signature", "logger trace span",
    "customer account order", "export report", "theme color font", "inventory ledger", "refund_payment",
    "routeRequest invoice", "gauge counter",
]  # fmt: skip


def generated_files(count: int = 90, seed: int = 7) -> dict[str, str]:
    """The shop repository plus `count` Python modules of mixed vocabulary importing one another."""
    rng = random.Random(seed)
    files: dict[str, str] = dict(SHOP_FILES)
    packages = ["billing", "fulfilment", "platform", "reports", "ui"]
    names = []
    for i in range(count):
        package = packages[i % len(packages)]
        words = rng.sample(WORDS, 3)
        name = f"{package}/{'_'.join(words[:2])}_{i}.py"
        others = rng.sample(names, min(2, len(names)))
        imports = "".join(f"from {other[:-3].replace('/', '.')} import *\n" for other in others)
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
        files[name] = (
            f'"""{" ".join(words)} module."""\n{imports}\n\n'
            f"def {words[0]}_{words[1]}(value):\n    # {body}\n    return value\n\n\n"
            f"class {words[2].title()}{words[0].title()}:\n    \"\"\"{' '.join(rng.sample(WORDS, 5))}.\"\"\"\n"
        )
        names.append(name)
    return files


def run(*args: str) -> Any:
    """`atlas *args` through the real CLI in process; returns the click result (exit code asserted by callers)."""
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def ok(*args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result.output + (result.stderr if result.stderr_bytes else "")
    return result


def top(root: Path, index_dir: Path, query: str, limit: int = 10) -> list[tuple[str, float, float]]:
    """(path, fused score, BM25 raw) of the top hits of `query`."""
    result = run("search", "--repo", str(root), "--index-dir", str(index_dir), "--format", "jsonl", "--explain",
                 "--no-lines", "-n", str(limit), query)  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    hits = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    hits = [hit for hit in hits if hit.get("type") == "hit"]
    bm25 = [next((t["raw"] for t in hit["explain"] if t["signal"] == "bm25"), None) for hit in hits]
    return [(hit["path"], hit["score"], raw) for hit, raw in zip(hits, bm25, strict=True)]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_tree(root, generated_files())
    init_repo(root)
    return root


def manifest(index_dir: Path) -> dict[str, Any]:
    found = store.live_manifest(index_dir)
    assert found is not None
    return found


def test_sharded_index_gives_the_single_index_top10_with_equal_bm25(repo: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    ok("index", str(repo), "--out", str(single), "--format", "json")
    ok("index", str(repo), "--shards", "3", "--format", "json")
    sharded = repo / ".atlas"
    assert [s["index"] for s in manifest(sharded)["shards"]] == [0, 1, 2]
    assert manifest(sharded)["files_indexed"] == manifest(single)["files_indexed"]
    assert manifest(sharded)["signals"]["graph"]["edges"] == manifest(single)["signals"]["graph"]["edges"] > 0
    compared = 0
    for query in QUERIES:
        expected = top(repo, single, query)
        assert top(repo, sharded, query) == expected, query
        compared += bool(expected)
    assert compared >= 20


def test_bm25_statistics_are_global_not_per_shard(repo: Path, tmp_path: Path) -> None:
    import tantivy

    single = tmp_path / "single"
    ok("index", str(repo), "--out", str(single), "--format", "json")
    ok("index", str(repo), "--shards", "3", "--format", "json")

    def searcher(index_dir: Path) -> Any:
        generation = store.current_generation(index_dir)
        assert generation is not None
        return tantivy.Index.open(str(generation / store.TANTIVY_DIR)).searcher()

    whole, assembled = searcher(single), searcher(repo / ".atlas")
    shard = searcher(repo / ".atlas" / "shards" / "0000-of-0003")
    assert assembled.num_docs == whole.num_docs > shard.num_docs
    for term in ("invoice", "refund", "queue", "parser"):
        assert assembled.doc_freq("content", term) == whole.doc_freq("content", term) > shard.doc_freq("content", term)


def test_shards_built_apart_and_assembled_match_the_single_index(repo: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    ok("index", str(repo), "--out", str(single), "--format", "json")
    dirs = [tmp_path / f"shard{i}" for i in range(4)]
    for i, directory in enumerate(dirs):
        report = orjson.loads(ok("index", str(repo), "--shard", f"{i}/4", "--out", str(directory),
                                 "--format", "json").stdout)  # fmt: skip
        assert report["shard"]["index"] == i and len(report["shard"]["content_hash"]) == 64
    ok("index", str(repo), "--assemble", *map(str, reversed(dirs)), "--format", "json")
    listed = manifest(repo / ".atlas")["shards"]
    assert [s["content_hash"] for s in listed] == [manifest(d)["shard"]["content_hash"] for d in dirs]
    for query in QUERIES[:10]:
        assert top(repo, repo / ".atlas", query) == top(repo, single, query), query


def test_one_file_edit_rebuilds_one_shard_and_changes_one_cache_key(repo: Path, tmp_path: Path) -> None:
    """The edited shard is updated incrementally, as a single index would be: tantivy counts a replaced
    document in its statistics until segments merge, in both, so both still give the same results."""
    single = tmp_path / "single"
    ok("index", str(repo), "--out", str(single), "--format", "json")
    ok("index", str(repo), "--shards", "3", "--format", "json")
    keys = [ok("cache-key", "--repo", str(repo), "--shard", f"{i}/3").stdout.split()[0] for i in range(3)]
    hashes = [s["content_hash"] for s in manifest(repo / ".atlas")["shards"]]
    assert [key.rsplit("-", 1)[1] for key in keys] == hashes

    edited = "billing/" + next(p.name for p in (repo / "billing").iterdir())
    (repo / edited).write_text('"""zebra quagga okapi."""\n', encoding="utf-8")
    git(repo, "commit", "-qam", "edit one file")
    report = orjson.loads(ok("index", str(repo), "--format", "json").stdout)
    assert report["mode"] == "assembled" and report["changed"] == 1, report
    assert report["reason"] == "1 of 3 shards built"

    after = [ok("cache-key", "--repo", str(repo), "--shard", f"{i}/3").stdout.split()[0] for i in range(3)]
    changed = [i for i in range(3) if after[i] != keys[i]]
    assert changed == [shard_of(edited, 3)]
    assert top(repo, repo / ".atlas", "zebra okapi")[0][0] == edited

    assert orjson.loads(ok("index", str(repo), "--out", str(single), "--format", "json").stdout)["changed"] == 1
    for query in QUERIES[:8]:
        assert top(repo, repo / ".atlas", query) == top(repo, single, query), query
    again = orjson.loads(ok("index", str(repo), "--format", "json").stdout)
    assert again["mode"] == "unchanged"


def _atlas(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "atlas", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, **kwargs)  # fmt: skip


def test_a_killed_shard_build_publishes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "big"
    write_tree(root, generated_files(count=2500, seed=3))
    init_repo(root)
    out = tmp_path / "shard"
    ok("index", str(root), "--shard", "0/2", "--out", str(out), "--format", "json")
    live = (out / store.CURRENT).read_text()
    before = manifest(out)["shard"]["content_hash"]
    child = _atlas("index", str(root), "--shard", "0/2", "--out", str(out), "--rebuild", "-j", "1")
    deadline = time.monotonic() + 60
    while not any(".tmp-" in p.name for p in out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)  # the build's generation is being written; on an idle machine it publishes ~0.4 s later
    # Frozen first, so that what is checked is the state the kill hits (a build that had already published
    # could otherwise pass the poll and be killed in its last milliseconds).
    child.send_signal(signal.SIGSTOP)
    try:
        assert child.poll() is None, "the build ended before it could be killed"
        assert (out / store.CURRENT).read_text() == live, "the build published before it could be stopped"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert (out / store.CURRENT).read_text() == live
    assert manifest(out)["shard"]["content_hash"] == before
    report = orjson.loads(ok("index", str(root), "--shard", "0/2", "--out", str(out), "--format", "json").stdout)
    assert report["mode"] == "unchanged"
    assert not any(".tmp-" in p.name for p in out.iterdir())


def test_a_terminated_sharded_build_leaves_the_previous_index(tmp_path: Path) -> None:
    root = tmp_path / "big"
    write_tree(root, generated_files(count=2500, seed=5))
    init_repo(root)
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    live = (root / ".atlas" / store.CURRENT).read_text()
    child = _atlas("index", str(root), "--rebuild", "--no-history")
    shards = root / ".atlas" / "shards"
    deadline = time.monotonic() + 60
    while not any(".tmp-" in p.name for d in shards.iterdir() for p in d.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 143, err
    assert (root / ".atlas" / store.CURRENT).read_text() == live
    assert top(root, root / ".atlas", "invoice refund")
    builders = [int(p.name.rsplit("-", 1)[1]) for d in shards.iterdir() for p in d.iterdir() if ".tmp-" in p.name]
    assert not [pid for pid in builders if _alive(pid)], "a shard build outlived SIGTERM"
    ok("index", str(root), "--no-history", "--format", "json")
    assert not any(".tmp-" in p.name for d in shards.iterdir() for p in d.iterdir())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _shards(repo: Path, tmp_path: Path, count: int, *extra: str) -> list[Path]:
    dirs = [tmp_path / f"s{i}of{count}{''.join(extra)}" for i in range(count)]
    for i, directory in enumerate(dirs):
        ok("index", str(repo), "--shard", f"{i}/{count}", "--out", str(directory), *extra, "--format", "json")
    return dirs


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "shard 1/3 is missing"),
        ("counts", "but"),
        ("twice", "is also in"),
        ("settings", "does not match this index"),
        ("tree", "files this tree does not have"),
        ("not a shard", "an index, but not a shard"),
    ],
)
def test_assembling_wrong_shards_is_exit_2_naming_the_shard(
    repo: Path, tmp_path: Path, case: str, message: str
) -> None:
    three = _shards(repo, tmp_path, 3)
    given = {
        "missing": [three[0], three[2]],
        "twice": [three[0], three[1], three[1], three[2]],
    }.get(case, three)
    if case == "counts":
        given = [*three[:2], _shards(repo, tmp_path, 2)[1]]
    elif case == "settings":
        given = [*three[:2], _shards(repo, tmp_path, 3, "--max-file-size", "5000")[2]]
    elif case == "tree":
        other = tmp_path / "other"
        write_tree(other, generated_files(seed=11))
        init_repo(other)
        given = [*three[:2], _shards(other, tmp_path / "o", 3)[2]]
    elif case == "not a shard":
        ok("index", str(repo), "--out", str(tmp_path / "plain"), "--format", "json")
        given = [*three[:2], tmp_path / "plain"]
    before = store.live_manifest(repo / ".atlas")
    result = run("index", str(repo), "--assemble", *map(str, given))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "hint:" in result.stderr
    if case in ("counts", "settings", "tree", "not a shard"):
        assert str(given[-1]) in result.stderr
    assert store.live_manifest(repo / ".atlas") == before


def test_export_and_import_of_a_shard_and_of_a_sharded_index(repo: Path, tmp_path: Path) -> None:
    dirs = _shards(repo, tmp_path, 2)
    archive = tmp_path / "shard1.tar.gz"
    ok("export", str(archive), "--repo", str(repo), "--index-dir", str(dirs[1]))
    restored = tmp_path / "restored1"
    ok("import", str(archive), "--repo", str(repo), "--index-dir", str(restored))
    assert manifest(restored)["shard"] == manifest(dirs[1])["shard"]
    report = orjson.loads(ok("index", str(repo), "--shard", "1/2", "--out", str(restored), "--format", "json").stdout)
    assert report["mode"] == "unchanged"
    ok("index", str(repo), "--assemble", str(dirs[0]), str(restored), "--format", "json")
    single = tmp_path / "single"
    ok("index", str(repo), "--out", str(single), "--format", "json")
    for query in QUERIES[:6]:
        assert top(repo, repo / ".atlas", query) == top(repo, single, query), query

    whole = tmp_path / "whole.tar.gz"
    ok("export", str(whole), "--repo", str(repo))
    elsewhere = tmp_path / "elsewhere"
    ok("import", str(whole), "--repo", str(repo), "--index-dir", str(elsewhere))
    assert manifest(elsewhere)["shards"] == manifest(repo / ".atlas")["shards"]
    for query in QUERIES[:6]:
        assert top(repo, elsewhere, query) == top(repo, single, query), query

    # A shard's archive imported over the whole index replaced it (exit 0), and every search after said to
    # assemble the shards: refused as building a shard there is, the index kept.
    before = store.current_generation(repo / ".atlas")
    refused = run("import", str(archive), "--repo", str(repo))
    assert refused.exit_code == 2 and "holds a whole index, which importing shard 1/2 there" in refused.stderr
    assert store.current_generation(repo / ".atlas") == before
    assert top(repo, repo / ".atlas", QUERIES[0]) == top(repo, single, QUERIES[0])


def test_shard_options_are_checked(repo: Path) -> None:
    for args, message in [
        (["--shard", "3/3", "--out", "x"], "I must be 0 to N-1"),
        (["--shard", "3/3", "--out", "x"], "hint: the shards of 3 are 0/3 to 2/3"),  # was "0/N to N-1/N"
        (["--shard", "1of3", "--out", "x"], "is not I/N"),
        (["--shard", "²/3", "--out", "x"], "is not I/N"),
        (["--shard", "0/99999999999999999999", "--out", "x"], "N must be 1 to 4096"),
        (["--shard", "0/1000000000", "--out", "x"], "N must be 1 to 4096"),
        (["--shards", "²"], "is not a shard count"),
        (["--shard", "0/3"], "--shard needs --out"),
        (["--shards", "zero"], "is not a shard count"),
        (["--shards", "2.5"], "is not a shard count"),
        (["--shard", "0.5/3", "--out", "x"], "is not I/N"),
        (["--shards", "2", "--shard", "0/2", "--out", "x"], "do not go together"),
        (["--executor", "nope", "--shards", "2"], "is not an executor"),
    ]:
        result = run("index", str(repo), *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)


def test_a_whole_shard_count_written_as_a_float_counts(tmp_path: Path) -> None:
    # "counts whole (5.0 counts as 5)", as for every other count: --shards 2.0 and --shard 0/2.0 were refused.
    root = _small_repo(tmp_path / "small")
    assert ok("index", str(root), "--shards", "2.0", "--format", "json").exit_code == 0
    assert len(manifest(root / ".atlas")["shards"]) == 2
    shard = ok("index", str(root), "--shard", "1.0/2.0", "--out", str(tmp_path / "s1"), "--format", "json")
    assert shard.exit_code == 0


def _small_repo(root: Path) -> Path:
    write_tree(root, {"a.py": "def invoice():\n    return 1\n", "b.py": "def refund():\n    return 2\n",
                      "c.py": "def invoice_total():\n    return 3\n"})  # fmt: skip
    init_repo(root)
    return root


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("b.py", "whose contents differ from this tree's"),
        ("new.py", "lacks 1 files of this tree"),
    ],
)
def test_shards_of_another_commit_are_refused_naming_the_shard(tmp_path: Path, edit: str, message: str) -> None:
    """Shards built before a commit that edits or adds a file were assembled as if current: the index held
    the old contents (and lacked the new file) while search read line ranges from the new ones."""
    root = _small_repo(tmp_path / "small")
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, directory in enumerate(dirs):
        ok("index", str(root), "--shard", f"{i}/2", "--out", str(directory), "--format", "json")
    (root / edit).write_text("def zanzibar_quokka():\n    return 'zanzibar'\n\n\ndef refund():\n    return 2\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "edit")
    stale = dirs[shard_of(edit, 2)]
    result = run("index", str(root), "--assemble", *map(str, dirs))
    assert result.exit_code == 2, result.output
    assert str(stale) in result.stderr and message in result.stderr and edit in result.stderr
    assert f"--shard {shard_of(edit, 2)}/2 --out {stale}" in result.stderr
    assert not (root / ".atlas" / "CURRENT").exists()
    ok("index", str(root), "--shard", f"{shard_of(edit, 2)}/2", "--out", str(stale), "--format", "json")
    ok("index", str(root), "--assemble", *map(str, dirs), "--format", "json")
    assert top(root, root / ".atlas", "zanzibar quokka")[0][0] == edit


def test_assembling_into_one_of_the_shards_is_refused_and_keeps_it(tmp_path: Path) -> None:
    """`--out` naming one of the shards made the assembled index live in place of that shard: gone as a shard."""
    root = _small_repo(tmp_path / "small")
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, directory in enumerate(dirs):
        ok("index", str(root), "--shard", f"{i}/2", "--out", str(directory), "--format", "json")
    before = manifest(dirs[0])
    result = run("index", str(root), "--out", str(tmp_path / "." / "s0"), "--assemble", *map(str, dirs))
    assert result.exit_code == 2, result.output
    assert "is one of the shards" in result.stderr and "hint:" in result.stderr
    assert manifest(dirs[0]) == before
    ok("index", str(root), "--assemble", *map(str, dirs), "--format", "json")


def test_building_a_shard_into_a_whole_index_is_refused_and_keeps_it(tmp_path: Path) -> None:
    """`--shard 0/2 --out .atlas` replaced the repository's whole index by one shard of it, which no search
    answers from: the index was lost to a mistyped --out. Another shard's directory is still rebuilt."""
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--format", "json")
    before = manifest(root / ".atlas")
    for extra in ([], ["--rebuild"]):
        result = run("index", str(root), "--shard", "0/2", "--out", str(root / ".atlas"), *extra)
        assert result.exit_code == 2, result.output
        assert "holds a whole index" in result.stderr and "hint: give --out a directory" in result.stderr
    assert manifest(root / ".atlas") == before
    assert top(root, root / ".atlas", "refund")[0][0] == "b.py"
    shard = tmp_path / "s"
    ok("index", str(root), "--shard", "0/2", "--out", str(shard), "--format", "json")
    ok("index", str(root), "--shard", "1/2", "--out", str(shard), "--format", "json")
    assert manifest(shard)["shard"]["index"] == 1


def test_searching_one_shard_says_to_assemble_the_shards(tmp_path: Path) -> None:
    """A shard alone holds a share of the files under ids interleaved with the others': searching it was an
    IndexError (whether as --index-dir, as the repository's own index, or as one of several --index)."""
    root = _small_repo(tmp_path / "small")
    shard = tmp_path / "s1"
    ok("index", str(root), "--shard", "1/2", "--out", str(shard), "--format", "json")
    ok("index", str(root), "--shard", "0/2", "--out", str(root / ".atlas"), "--format", "json")
    for args in (["--repo", str(root), "--index-dir", str(shard)], ["--repo", str(root)], ["--index", str(root)]):
        result = run("search", *args, "invoice")
        assert result.exit_code == 2, (args, result.output)
        assert "searched only once assembled" in result.stderr and "hint: assemble" in result.stderr, args
        assert result.stdout == ""
    assert manifest(root / ".atlas")["shard"]["index"] == 0  # not rebuilt as a whole index behind the user's back


@pytest.mark.parametrize("count", [0, 1_000_000_000, True, "2"])
def test_a_shard_manifest_naming_an_impossible_count_is_damage(tmp_path: Path, count: object) -> None:
    """A crafted shard count is refused before the assembler sizes anything by it (10**9 ran it out of memory)."""
    root = _small_repo(tmp_path / "small")
    shard = tmp_path / "s0"
    ok("index", str(root), "--shard", "0/1", "--out", str(shard), "--format", "json")
    generation = store.current_generation(shard)
    assert generation is not None
    record = manifest(shard)
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**record, "shard": {**record["shard"], "count": count}}))
    result = run("index", str(root), "--assemble", str(shard))
    assert result.exit_code == 4, result.output
    assert str(shard) in result.stderr and "names no shard" in result.stderr and "hint:" in result.stderr
    assert not (root / ".atlas" / "CURRENT").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ({"tantivy/meta.json": b"not json"}, "tantivy index is damaged"),
        ({"tantivy/meta.json": b'{"segments": 5}'}, "tantivy index is damaged"),
        ({"files.json": "short column"}, "unequal lengths"),
    ],
)
def test_a_damaged_shard_is_damage_naming_it(tmp_path: Path, damage: dict[str, Any], message: str) -> None:
    """A shard's meta.json or file table that is not as Atlas writes it: exit 4 naming the shard, not a KeyError,
    a JSONDecodeError or an IndexError."""
    root = _small_repo(tmp_path / "small")
    shard = tmp_path / "s0"
    ok("index", str(root), "--shard", "0/1", "--out", str(shard), "--format", "json")
    generation = store.current_generation(shard)
    assert generation is not None
    for name, content in damage.items():
        if content == "short column":
            table = orjson.loads((generation / name).read_bytes())
            content = orjson.dumps({**table, "hashes": table["hashes"][:-1]})
        (generation / name).write_bytes(content)
    result = run("index", str(root), "--assemble", str(shard))
    assert result.exit_code == 4, result.output
    assert str(shard) in result.stderr and message in result.stderr and "--rebuild" in result.stderr
    assert not (root / ".atlas" / "CURRENT").exists()


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


SEGMENT_DAMAGE = {
    "store garbage": (".store", lambda path: path.write_bytes(b"garbage!" * 4), "(no footer)"),
    "term missing": (".term", Path.unlink, "(missing)"),
    "idx truncated": (".idx", lambda path: path.write_bytes(path.read_bytes()[:20]), "(no footer)"),
    "store byte flipped": (".store", _flip_middle_byte, "(bytes changed)"),
}


@pytest.mark.parametrize("damage", SEGMENT_DAMAGE)
def test_regression_a_shard_with_damaged_segments_is_damage_naming_it(tmp_path: Path, damage: str) -> None:
    # Shards travel between machines (CI artifacts). A garbled segment made the assembly's tantivy panic (a Rust
    # panic and a Python traceback, exit 1); a missing or truncated one was "unexpected error" (exit 3).
    suffix, spoil, said = SEGMENT_DAMAGE[damage]
    root = _small_repo(tmp_path / "small")
    shards = [tmp_path / f"s{i}" for i in range(2)]
    for i, shard in enumerate(shards):
        ok("index", str(root), "--shard", f"{i}/2", "--out", str(shard), "--format", "json")
    generation = store.current_generation(shards[1])
    assert generation is not None
    spoil(next((generation / store.TANTIVY_DIR).glob(f"*{suffix}")))
    result = run("index", str(root), "--assemble", *map(str, shards))
    assert result.exit_code == 4, result.output
    assert f"{shards[1]}: the shard's tantivy index is damaged" in result.stderr and said in result.stderr
    assert "--shard 1/2" in result.stderr and "--rebuild" in result.stderr
    assert not (root / ".atlas" / "CURRENT").exists()


def test_regression_status_and_verify_judge_a_shard_by_its_own_share_of_the_files(tmp_path: Path) -> None:
    # A fresh shard was "not fresh" (exit 7): the other shards' files counted as added to it.
    root = _small_repo(tmp_path / "small")
    shard = tmp_path / "s0"
    ok("index", str(root), "--shard", "0/2", "--out", str(shard), "--format", "json")
    status = run("status", "--repo", str(root), "--index-dir", str(shard), "--format", "json")
    assert status.exit_code == 0 and orjson.loads(status.stdout)["fresh"] is True, status.output
    assert run("verify", "--repo", str(root), "--index-dir", str(shard)).exit_code == 0
    mine = next(p for p in ("a.py", "b.py", "c.py") if shard_of(p, 2) == 0)
    (root / mine).write_text("def changed():\n    return 9\n")
    stale = run("status", "--repo", str(root), "--index-dir", str(shard), "--format", "json")
    assert stale.exit_code == 7 and orjson.loads(stale.stdout)["changed"] == [mine], stale.output


def test_shards_auto_sizes_by_bytes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import atlas.shards

    total = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts)
    monkeypatch.setattr(atlas.shards, "TARGET_SHARD_BYTES", total // 3)
    report = orjson.loads(ok("index", str(repo), "--shards", "auto", "--format", "json").stdout)
    assert len(manifest(repo / ".atlas")["shards"]) in (3, 4)
    assert report["files_indexed"] > 90
    assert os.path.isdir(repo / ".atlas" / "shards")


@pytest.mark.parametrize("linked", [store.CURRENT, "generation", store.MANIFEST, store.FILES, store.TANTIVY_DIR])
def test_regression_a_shard_whose_own_files_are_links_is_refused_naming_it(tmp_path: Path, linked: str) -> None:
    # A shard's generation directory that was a link (a restored cache, an artifact unpacked by other tools) was
    # assembled from wherever it pointed, outside the shard; a linked tantivy directory had its segments hard-linked
    # into the index. The shard's CURRENT, generation, manifest, file table and tantivy directory must be its own.
    root = _small_repo(tmp_path / "small")
    shard = tmp_path / "s0"
    ok("index", str(root), "--shard", "0/1", "--out", str(shard), "--format", "json")
    generation = store.current_generation(shard)
    assert generation is not None
    moved = shard / linked if linked == store.CURRENT else generation if linked == "generation" else generation / linked
    elsewhere = tmp_path / "elsewhere" / moved.name
    elsewhere.parent.mkdir()
    moved.rename(elsewhere)
    moved.symlink_to(elsewhere, target_is_directory=elsewhere.is_dir())
    result = run("index", str(root), "--assemble", str(shard))
    assert result.exit_code == 4, result.output
    assert f"{shard}: the shard's {moved.relative_to(shard)} is a symbolic link" in result.stderr, result.stderr
    assert "hint:" in result.stderr and f"--out {shard} --rebuild" in result.stderr
    assert not (root / ".atlas" / "CURRENT").exists()
    assert elsewhere.exists()  # what the link points at is left alone


def test_a_sharded_index_whose_own_shard_became_a_link_rebuilds_that_shard(tmp_path: Path) -> None:
    # `atlas index --shards N` keeps its shards in the index directory: one whose generation is a link is stale,
    # built again there, not assembled from wherever the link points nor refused as damage.
    root = _small_repo(tmp_path / "small")
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    shard = root / ".atlas" / store.SHARDS_DIR / "0001-of-0002"
    generation = store.current_generation(shard)
    assert generation is not None
    elsewhere = tmp_path / "elsewhere"
    generation.rename(elsewhere)
    generation.symlink_to(elsewhere, target_is_directory=True)
    report = orjson.loads(ok("index", str(root), "--shards", "2", "--no-history", "--format", "json").stdout)
    assert report["mode"] == "assembled" and report["reason"] == "1 of 2 shards built", report
    rebuilt = store.current_generation(shard)
    assert rebuilt is not None and store.is_generation_dir(rebuilt) and rebuilt != generation
    assert (elsewhere / store.MANIFEST).is_file()  # what the link points at is left alone
    assert top(root, root / ".atlas", "refund")[0][0] == "b.py"


@pytest.mark.parametrize("linked", [store.SHARDS_DIR, f"{store.SHARDS_DIR}/0000-of-0002"])
def test_regression_a_shards_directory_that_is_a_link_out_is_neither_written_nor_cleared(
    tmp_path: Path, linked: str
) -> None:
    # A clone shipping `.atlas/shards` as a link to a directory of the user's: `atlas index --shards 2` built its
    # shards there and, clearing the shards of other counts, deleted every other directory the link's target held.
    root = _small_repo(tmp_path / "small")
    victim = tmp_path / "victim"
    write_tree(victim, {"important/data.txt": "precious\n"})
    link = root / ".atlas" / linked
    link.parent.mkdir(parents=True)
    link.symlink_to(victim, target_is_directory=True)
    result = run("index", str(root), "--shards", "2", "--no-history")
    assert result.exit_code == 2, result.output
    assert f"{link} is a symbolic link" in result.stderr and "hint:" in result.stderr, result.stderr
    assert sorted(p.relative_to(victim).as_posix() for p in victim.rglob("*")) == ["important", "important/data.txt"]
    assert not (root / ".atlas" / store.CURRENT).exists()


_STALLED_START = """\
import os, time
if os.environ.get("ATLAS_SHARD_PARENT"):  # a shard build's process only, still starting up
    open(os.path.join(os.environ["STALL_MARKERS"], str(os.getpid())), "w").close()
    time.sleep(1)
"""


def test_regression_ctrl_c_while_a_shard_build_starts_is_one_sentence_without_a_traceback(tmp_path: Path) -> None:
    # ^C from a terminal reaches the whole process group, the shard builds' processes too: one still starting up (its
    # interpreter, its imports) printed a KeyboardInterrupt traceback under `atlas index --shards 2`'s one sentence.
    # A `sitecustomize` holds each shard process in its start-up; `atlas index` is frozen while the ^C reaches it, so
    # that it stops no shard process before that one has acted on the ^C.
    root = _small_repo(tmp_path / "small")
    hook, markers = tmp_path / "hook", tmp_path / "markers"
    write_tree(hook, {"sitecustomize.py": _STALLED_START})
    markers.mkdir()
    path = os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path, "STALL_MARKERS": str(markers)}
    child = _atlas("-q", "index", str(root), "--shards", "2", "--no-history", env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(markers.iterdir()) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1]
        time.sleep(0.01)
    builders = [int(p.name) for p in markers.iterdir()]
    child.send_signal(signal.SIGSTOP)
    try:
        os.killpg(child.pid, signal.SIGINT)
        deadline = time.monotonic() + 3
        while any(_alive(pid) for pid in builders) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGCONT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert err.decode().splitlines() == [
        "atlas: interrupted",
        "  hint: nothing was published; the previous index is intact",
    ], err.decode()
    assert not (root / ".atlas" / store.CURRENT).exists()
    assert not [p.name for p in markers.iterdir() if _alive(int(p.name))], "a shard build outlived ^C"


def test_regression_what_a_killed_assemble_left_is_removed_by_a_run_with_nothing_to_build(tmp_path: Path) -> None:
    # `atlas index --shards 2 --rebuild` killed while it assembled left its `gen-N.tmp-PID` in the index directory;
    # the shards it had rebuilt held the same files, so every later `atlas index --shards 2` found nothing to do and
    # returned before the cleanup, keeping the leftover (one more for each such kill) until a shard's files changed.
    root = tmp_path / "repo"
    write_tree(root, generated_files(count=600, seed=11))
    init_repo(root)
    index_dir = root / ".atlas"
    ok("index", str(root), "--shards", "2", "--no-history", "--format", "json")
    live = (index_dir / store.CURRENT).read_text()
    child = _atlas("-q", "index", str(root), "--shards", "2", "--no-history", "--rebuild", start_new_session=True)
    building = f".tmp-{child.pid}"
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(building) for p in index_dir.iterdir()) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1]
        time.sleep(0.002)
    os.killpg(child.pid, signal.SIGSTOP)  # frozen first: what is checked is the state the kill hits
    try:
        assert (index_dir / store.CURRENT).read_text() == live, "the assemble published before it could be stopped"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert [p.name for p in index_dir.iterdir() if ".tmp-" in p.name] == [f"gen-000002{building}"]
    report = orjson.loads(ok("index", str(root), "--shards", "2", "--no-history", "--format", "json").stdout)
    assert report["mode"] == "unchanged", report
    assert [p.name for p in index_dir.iterdir() if ".tmp-" in p.name] == []
    assert (index_dir / store.CURRENT).read_text() == live
