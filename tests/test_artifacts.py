"""Portable indexes: `atlas index --out`, `atlas export` / `atlas import`, `atlas cache-key`.

An index holds only repository-relative paths, so it can be built in one place and used in
another; an archive carries every file's SHA-256 and is verified before it is published; a
cache key names what makes an index reusable. The commands run in-process through click's
CliRunner; the trees are real git repositories.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from atlas.api import index_config, index_repo, verify_index
from atlas.cli import cli
from atlas.config import FORMAT_VERSION
from atlas.index import store
from tests.conftest import git, init_repo, write_tree
from tests.mounts import read_only_view, small_disk

FILES: dict[str, str] = {
    "README.md": "# Kiln\n\nA generated tree for the artifact tests.\n",
    "kiln/__init__.py": "",
    "kiln/firing.py": (
        "from kiln.glaze import mix_glaze\n\n\ndef fire_pottery(batch, temperature):\n"
        '    """Fire a batch of pottery at a temperature."""\n    return [mix_glaze(p) for p in batch]\n'
    ),
    "kiln/glaze.py": "def mix_glaze(piece):\n    return {'piece': piece, 'glaze': 'celadon'}\n",
    "kiln/thermocouple.py": "def read_thermocouple(channel):\n    return 1200 + channel\n",
    "web/dashboard.ts": "export function renderDashboard(temps: number[]): string {\n  return temps.join(',');\n}\n",
    "docs/firing.md": "# Firing schedule\n\nRamp slowly through quartz inversion.\n",
}


def atlas(*args: str) -> Result:
    return CliRunner().invoke(cli, ["-q", *args])


def top_path(root: Path, query: str, index_dir: Path | None = None) -> str:
    extra = ["--index-dir", str(index_dir)] if index_dir else []
    result = atlas("search", "--repo", str(root), *extra, "--format", "jsonl", "--limit", "3", query)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[0])["path"]


def digests(generation: Path) -> dict[str, str]:
    return {
        p.relative_to(generation).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(generation.rglob("*"))
        if p.is_file()
    }


def live(index_dir: Path) -> Path:
    generation = store.current_generation(index_dir)
    assert generation is not None and generation.is_dir()
    return generation


def fresh_mtimes(root: Path) -> None:
    """Give every file a new mtime, as a checkout or a copy on another machine would."""
    later = time.time_ns() + 10_000_000_000
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, ns=(later, later))


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    root = make_repo(FILES)
    assert index_repo(index_config(root, jobs=1), show_progress=False).mode == "full"
    return root


# --- index --out: a relocatable index --------------------------------------------------------


def test_out_index_is_relocatable(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_repo(FILES, name="build-machine")
    out = tmp_path / "artifact"
    result = atlas("index", str(root), "--out", str(out), "--jobs", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert not (root / ".atlas").exists(), "--out puts the index where it is told"
    for path in out.rglob("*"):
        if path.is_file():
            assert str(root).encode() not in path.read_bytes(), f"{path.name} holds an absolute path"

    # "Another machine": the repository and the index at other absolute paths, fresh mtimes.
    elsewhere = tmp_path / "other-machine" / "checkout"
    shutil.copytree(root, elsewhere, symlinks=True)
    fresh_mtimes(elsewhere)
    restored = tmp_path / "other-machine" / "index"
    shutil.copytree(out, restored)

    assert top_path(elsewhere, "fire pottery temperature", restored) == "kiln/firing.py"
    report = index_repo(index_config(elsewhere, restored, jobs=1), show_progress=False)
    assert (report.mode, report.changed, report.added, report.removed) == ("incremental", 0, 0, 0)
    assert report.signals["git"]["mined"] == "unchanged"
    assert verify_index(index_config(elsewhere, restored)).ok
    assert index_repo(index_config(elsewhere, restored, jobs=1), show_progress=False).mode == "unchanged"


def test_regression_an_index_built_elsewhere_skips_the_default_index_dir(repo: Path, tmp_path: Path) -> None:
    # The walk skipped only the index being built, so `--out DIR` on a repository that also has
    # its default `.atlas/` indexed that index's own files (manifest, file table, paths.txt).
    out = tmp_path / "artifact"
    report = index_repo(index_config(repo, out, jobs=1), show_progress=False)
    table = json.loads((live(out) / store.FILES).read_bytes())
    assert not [path for path in table["paths"] if path.startswith(".atlas/")]
    assert report.files_indexed == len(FILES)
    status = atlas("status", "--repo", str(repo), "--index-dir", str(out))
    assert status.exit_code == 0, status.output


# --- export / import ---------------------------------------------------------------------------


def export(root: Path, archive: Path) -> dict[str, object]:
    result = atlas("export", str(archive), "--repo", str(root), "--format", "json")
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_export_import_round_trip(repo: Path, make_repo: Callable[..., Path], tmp_path: Path) -> None:
    archive = tmp_path / "index.tar.gz"
    info = export(repo, archive)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary file left"
    assert archive.is_file() and info["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert tarfile.is_tarfile(archive)
    source = digests(live(repo / ".atlas"))
    assert info["files"] == len(source)

    other = tmp_path / "restored"
    shutil.copytree(repo, other, symlinks=True, ignore=shutil.ignore_patterns(".atlas"))
    fresh_mtimes(other)
    result = atlas("import", str(archive), "--repo", str(other), "--format", "json")
    assert result.exit_code == 0, result.output
    assert digests(live(other / ".atlas")) == source, "the restored generation is byte for byte the exported one"
    assert top_path(other, "read thermocouple channel") == "kiln/thermocouple.py"
    report = index_repo(index_config(other, jobs=1), show_progress=False)
    assert (report.mode, report.changed) == ("incremental", 0)
    assert verify_index(index_config(other)).ok


def test_an_export_holds_every_file_of_its_generation_open_so_a_publish_meanwhile_takes_none(
    repo: Path, tmp_path: Path
) -> None:
    # The export read the generation's files one by one, twice (checksums, then the archive): two `atlas index`
    # runs publishing meanwhile deleted the generation under it ("unexpected error: FileNotFoundError", exit 3).
    from atlas.artifacts import _close, _open_members, _write_archive

    generation = live(repo / ".atlas")
    source = digests(generation)
    members = _open_members(generation)
    assert members is not None and len(members) == len(source)
    shutil.rmtree(generation)  # what remove_stale does once two newer generations are published
    archive = tmp_path / "index.tar.gz"
    try:
        _write_archive(members, archive)
    finally:
        _close(members)
    other = tmp_path / "restored"
    shutil.copytree(repo, other, symlinks=True, ignore=shutil.ignore_patterns(".atlas"))
    result = atlas("import", str(archive), "--repo", str(other), "--format", "json")
    assert result.exit_code == 0, result.output
    assert digests(live(other / ".atlas")) == source
    assert _open_members(generation) is None  # a generation gone before its files were opened: the next is tried


def test_import_over_an_existing_index_replaces_it(repo: Path, tmp_path: Path) -> None:
    archive = tmp_path / "index.tar.gz"
    export(repo, archive)
    before = live(repo / ".atlas").name
    assert atlas("import", str(archive), "--repo", str(repo)).exit_code == 0
    assert live(repo / ".atlas").name != before
    assert verify_index(index_config(repo)).ok


def _assert_rejected(result: Result, repo: Path, generation: str, contents: dict[str, str]) -> None:
    """Import failed with exit 4, one sentence and a hint, and the previous index is untouched."""
    assert result.exit_code == 4, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), result.stderr
    assert live(repo / ".atlas").name == generation
    assert digests(live(repo / ".atlas")) == contents
    assert [p.name for p in (repo / ".atlas").iterdir() if ".tmp-" in p.name] == []


def _flip_that_changes_the_payload(data: bytes) -> bytes:
    """`data` with one bit flipped in the deflate data of its largest gzip member, at the first offset from
    the member's middle where the flip changes what decompresses.

    A flip can be harmless even mid-stream (a Huffman code length of a symbol the block never uses), and
    an import of exactly the exported bytes is then right; this test is about a flip that is not.
    """
    members, start = [], 0
    while start < len(data):
        reader = zlib.decompressobj(16 + zlib.MAX_WBITS)
        reader.decompress(data[start:])
        end = len(data) - len(reader.unused_data)
        members.append((start, end))
        start = end
    first, last = max(members, key=lambda member: member[1] - member[0])
    header, trailer = 10, 8  # zlib's gzip header (no name, no extra fields) and the CRC-32 + size trailer
    middle = first + header + (last - first - header - trailer) // 2
    payload = gzip.decompress(data)
    for offset in range(middle, last - trailer):
        tampered = bytearray(data)
        tampered[offset] ^= 0x01
        try:
            if gzip.decompress(bytes(tampered)) != payload:
                return bytes(tampered)
        except (OSError, EOFError, zlib.error):
            return bytes(tampered)
    raise AssertionError("no flip after the middle of the largest member changes the payload")


def test_tampered_archive_byte_is_rejected_and_the_index_kept(repo: Path, tmp_path: Path) -> None:
    archive = tmp_path / "index.tar.gz"
    export(repo, archive)
    generation = live(repo / ".atlas")
    contents = digests(generation)
    archive.write_bytes(_flip_that_changes_the_payload(archive.read_bytes()))
    _assert_rejected(atlas("import", str(archive), "--repo", str(repo)), repo, generation.name, contents)


def test_every_tampered_byte_is_rejected_or_harmless(repo: Path, tmp_path: Path) -> None:
    # A flip anywhere must end in exit 4 with the index kept, or in an import of exactly the
    # exported bytes (a flip in bytes no reader checks: gzip header time, the unread trailer).
    # A flip inside the deflate stream used to escape as zlib.error: exit 3, "unexpected error".
    archive = tmp_path / "index.tar.gz"
    export(repo, archive)
    data = archive.read_bytes()
    exported = digests(live(repo / ".atlas"))
    rejected = 0
    positions = range(0, len(data), max(1, len(data) // 60))
    for position in positions:
        generation = live(repo / ".atlas")
        contents = digests(generation)
        tampered = bytearray(data)
        tampered[position] ^= 0xFF
        archive.write_bytes(bytes(tampered))
        result = atlas("import", str(archive), "--repo", str(repo))
        if result.exit_code == 0:
            assert digests(live(repo / ".atlas")) == exported, f"byte {position} changed what was imported"
        else:
            _assert_rejected(result, repo, generation.name, contents)
            rejected += 1
    assert rejected >= 0.8 * len(positions)


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated-half"),
        pytest.param(lambda data: data[:-100], id="truncated-tail"),
        pytest.param(lambda data: data[:10], id="truncated-header"),
        pytest.param(lambda data: b"this is not an archive at all\n", id="not-an-archive"),
        pytest.param(lambda data: b"", id="empty-file"),
    ],
)
def test_damaged_or_foreign_archive_is_rejected(repo: Path, tmp_path: Path, make_bad: Callable[[bytes], bytes]) -> None:
    archive = tmp_path / "index.tar.gz"
    export(repo, archive)
    archive.write_bytes(make_bad(archive.read_bytes()))
    generation = live(repo / ".atlas")
    _assert_rejected(atlas("import", str(archive), "--repo", str(repo)), repo, generation.name, digests(generation))


def _crafted_archive(path: Path, members: dict[str, bytes], listing: dict[str, str] | None = None) -> None:
    header = {"format_version": FORMAT_VERSION, "files": listing if listing is not None else {
        name.removeprefix("generation/"): hashlib.sha256(data).hexdigest() for name, data in members.items()
    }}  # fmt: skip
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {"atlas-export.json": orjson.dumps(header), **members}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("members", "listing"),
    [
        pytest.param({"generation/../escaped.txt": b"x"}, {"../escaped.txt": hashlib.sha256(b"x").hexdigest()},
                     id="dot-dot-member"),
        pytest.param({"elsewhere/file.txt": b"x"}, None, id="member-outside-generation"),
        pytest.param({"generation/files.json": b"{}"}, {"files.json": "0" * 64}, id="checksum-mismatch"),
        pytest.param({}, [], id="file-list-not-a-mapping"),
    ],
)  # fmt: skip
def test_crafted_archive_is_rejected_and_writes_nothing_outside(
    repo: Path, tmp_path: Path, members: dict[str, bytes], listing: object
) -> None:
    archive = tmp_path / "sub" / "crafted.tar.gz"
    archive.parent.mkdir()
    _crafted_archive(archive, members, listing)  # type: ignore[arg-type]
    generation = live(repo / ".atlas")
    _assert_rejected(atlas("import", str(archive), "--repo", str(repo)), repo, generation.name, digests(generation))
    assert not (repo / ".atlas" / "escaped.txt").exists()
    assert not list(tmp_path.rglob("escaped.txt"))


def _repacked(archive: Path, target: Path, change: Callable[[dict[str, bytes]], None]) -> None:
    """`archive`'s members, changed by `change` (names without `generation/`), packed again with a matching list:
    self-consistent, as a crafted or badly made archive is."""
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name.removeprefix("generation/"): tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    members.pop("atlas-export.json")
    change(members)
    _crafted_archive(target, {f"generation/{name}": data for name, data in members.items()})


def _without_signals(members: dict[str, bytes]) -> None:
    for name in [name for name in members if name.startswith("signals/")]:
        del members[name]


ARCHIVED_DAMAGE: dict[str, Callable[[dict[str, bytes]], None]] = {
    "side store array garbled": lambda members: members.update({"signals/pagerank.npy": b"xx"}),
    "no side store": _without_signals,
    "empty manifest": lambda members: members.update({"manifest.json": b"{}"}),
    "side store paths outside the root": lambda members: members.update(
        {"signals/paths.nul": b"../../../../etc/passwd\0" * members["signals/paths.nul"].count(b"\0")}
    ),
}


@pytest.mark.parametrize("damage", ARCHIVED_DAMAGE)
def test_regression_an_archive_of_a_damaged_index_is_refused_and_the_index_kept(
    repo: Path, tmp_path: Path, damage: str
) -> None:
    # The import checked the file table and tantivy only: an archive whose side store or manifest was damaged
    # (its file list matching) replaced the good index (exit 0), and every search after it failed (exit 4).
    archive, crafted = tmp_path / "good.tar.gz", tmp_path / "crafted.tar.gz"
    export(repo, archive)
    _repacked(archive, crafted, ARCHIVED_DAMAGE[damage])
    generation = live(repo / ".atlas")
    result = atlas("import", str(crafted), "--repo", str(repo))
    _assert_rejected(result, repo, generation.name, digests(generation))
    assert "damaged" in result.stderr
    assert top_path(repo, "mix glaze") == "kiln/glaze.py"


def test_a_tar_that_atlas_did_not_make_is_rejected(repo: Path, tmp_path: Path) -> None:
    archive = tmp_path / "foreign.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(repo / "README.md", arcname="README.md")
    generation = live(repo / ".atlas")
    result = atlas("import", str(archive), "--repo", str(repo))
    _assert_rejected(result, repo, generation.name, digests(generation))
    assert "not an Atlas index archive" in result.stderr


def test_import_of_a_missing_file_is_a_usage_error(repo: Path, tmp_path: Path) -> None:
    result = atlas("import", str(tmp_path / "nope.tar.gz"), "--repo", str(repo))
    assert result.exit_code == 2 and "no such archive" in result.stderr


def test_export_without_an_index_exits_3(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_repo(FILES)
    result = atlas("export", str(tmp_path / "x.tar.gz"), "--repo", str(root))
    assert result.exit_code == 3 and "no index to export" in result.stderr
    assert not (tmp_path / "x.tar.gz").exists()


@pytest.mark.parametrize("damage", ["CURRENT names nothing", "CURRENT names a gone generation", "CURRENT gone"])
def test_regression_export_of_an_index_whose_current_names_no_generation_is_damage(
    repo: Path, tmp_path: Path, damage: str
) -> None:
    # An index whose CURRENT names no generation (garbled, or naming one that is gone) or is gone beside its generation
    # (a half-copied cache) is damaged for search, status and verify (exit 4, rebuild). Export said "no index to
    # export", exit 3, as for a directory that never held an index.
    index_dir = repo / ".atlas"
    if damage == "CURRENT names nothing":
        (index_dir / store.CURRENT).write_bytes(b"gen-000001\0")
    elif damage == "CURRENT names a gone generation":
        (index_dir / store.CURRENT).write_text("gen-000009")
    else:
        (index_dir / store.CURRENT).unlink()
    assert atlas("search", "--repo", str(repo), "glaze").exit_code == 4
    result = atlas("export", str(tmp_path / "x.tar.gz"), "--repo", str(repo))
    assert result.exit_code == 4, result.stderr
    assert "no index to export" not in result.stderr and "--rebuild" in result.stderr
    assert not (tmp_path / "x.tar.gz").exists()


@pytest.mark.parametrize("where", ["missing-dir/index.tar.gz", "a-file/index.tar.gz"])
def test_regression_export_where_nothing_can_be_written(repo: Path, tmp_path: Path, where: str) -> None:
    # It was "unexpected error: FileNotFoundError ... report it" (exit 3), and PermissionError in a container.
    (tmp_path / "a-file").write_text("not a directory\n")
    export(repo, tmp_path / "first.tar.gz")
    result = atlas("export", str(tmp_path / where), "--repo", str(repo))
    assert result.exit_code == 2, result.output
    message, hint = result.stderr.splitlines()
    assert message.startswith(f"atlas: {tmp_path / where.split('/')[0]}: cannot write index.tar.gz there (")
    assert hint.startswith("  hint: pass a path in a directory you can write to")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any directory; the Docker smoke test covers uid 10001")
def test_export_into_a_read_only_directory_is_a_usage_error(repo: Path, tmp_path: Path) -> None:
    export(repo, tmp_path / "first.tar.gz")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = atlas("export", str(locked / "index.tar.gz"), "--repo", str(repo))
    assert result.exit_code == 2 and "Permission denied" in result.stderr, result.output
    assert not list(locked.iterdir())


@pytest.mark.parametrize("name", ["x" * 247 + ".tar.gz", "é" * 126 + ".gz"], ids=["ascii", "two-byte"])
def test_regression_an_archive_with_a_name_of_255_bytes_is_written(repo: Path, tmp_path: Path, name: str) -> None:
    # Its temporary file, `.NAME.tmp-PID` beside it, had a name too long for the file system: a legal name was
    # refused as "cannot write NAME there (File name too long)", with a hint about permissions.
    archive = tmp_path / name
    assert len(os.fsencode(archive.name)) in (254, 255)
    export(repo, archive)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "repo") == [name]
    assert atlas("import", str(archive), "--repo", str(repo), "--index-dir", str(tmp_path / "restored")).exit_code == 0
    store.write_atomic(tmp_path / name, b"replaced\n")  # the index's own atomic writes take such a name too
    assert (tmp_path / name).read_bytes() == b"replaced\n"


def test_regression_export_into_a_directory_this_user_may_not_enter_is_a_usage_error(
    repo: Path, tmp_path: Path
) -> None:
    # Asking whether the archive's path was a link raised PermissionError in a directory that cannot be searched
    # (mode 000, or another user's): "unexpected error", exit 3, with a bug-report hint.
    import sys

    from tests.mounts import run_with_locked_dir

    locked = tmp_path / "locked"
    command = [sys.executable, "-m", "atlas", "export", str(locked / "index.tar.gz"), "--repo", str(repo)]
    done = run_with_locked_dir(locked, command, timeout=120)
    assert done.returncode == 2, done.stderr
    message, hint = done.stderr.splitlines()
    assert message == f"atlas: {locked}: cannot write index.tar.gz there (Permission denied)", done.stderr
    assert hint.startswith("  hint: pass a path in a directory you can write to")
    assert not list(locked.iterdir())


def assert_the_disk_is_blamed(result: Result, *words: str) -> None:
    """Exit 3 with one sentence about the disk (holding `words`) and a hint: not a damaged archive, not a bug."""
    assert result.exit_code == 3, result.output
    message, hint = result.stderr.strip().splitlines()
    assert message.startswith("atlas: ") and all(word in message for word in words), result.stderr
    assert hint.startswith("  hint: ") and "damaged" not in message and "unexpected" not in message, result.stderr


def test_regression_import_onto_a_full_disk_blames_the_disk_not_the_archive(repo: Path, tmp_path: Path) -> None:
    # It was "the archive is damaged ([Errno 28] No space left on device)", exit 4, "export it again".
    archive = tmp_path / "index.tar.gz"
    export(repo, archive)
    with small_disk(tmp_path / "disk", "40k") as disk:
        index_dir = disk / "index"
        result = atlas("import", str(archive), "--repo", str(repo), "--index-dir", str(index_dir))
        assert_the_disk_is_blamed(result, "disk", str(index_dir))  # refused before the member that cannot fit
        assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "the failed import left its files"
    assert atlas("import", str(archive), "--repo", str(repo), "--index-dir", str(tmp_path / "roomy")).exit_code == 0


def test_regression_import_onto_a_read_only_disk_blames_the_disk(repo: Path, tmp_path: Path) -> None:
    # It was "the archive is damaged ([Errno 30] Read-only file system ...)" over an index, exit 4, and
    # "unexpected error: OSError" for a new index directory.
    archive = tmp_path / "index.tar.gz"
    export(repo, archive)
    shutil.copytree(repo / ".atlas", tmp_path / "disk" / "index")
    before = digests(live(tmp_path / "disk" / "index"))
    with read_only_view(tmp_path / "disk", tmp_path / "read-only") as disk:
        for index_dir in (disk / "index", disk / "new-index"):
            result = atlas("import", str(archive), "--repo", str(repo), "--index-dir", str(index_dir))
            assert_the_disk_is_blamed(result, "read-only", str(index_dir))
        assert digests(live(disk / "index")) == before


def test_regression_export_onto_a_full_disk_is_one_sentence_and_a_hint(repo: Path, tmp_path: Path) -> None:
    # It was "unexpected error: OSError: [Errno 28] No space left on device ... report it".
    with small_disk(tmp_path / "disk", "4k") as disk:
        result = atlas("export", str(disk / "index.tar.gz"), "--repo", str(repo))
        assert_the_disk_is_blamed(result, "full", str(disk))
        assert not list(disk.iterdir()), "the failed export left its temporary file"


# --- cache-key -----------------------------------------------------------------------------------


def cache_key(root: Path, *extra: str) -> tuple[str, str]:
    result = atlas("cache-key", "--repo", str(root), *extra)
    assert result.exit_code == 0, result.output
    key, prefix = result.stdout.splitlines()
    return key, prefix


def test_cache_key_is_stable_and_its_prefix_is_a_prefix(repo: Path, tmp_path: Path) -> None:
    key, prefix = cache_key(repo)
    assert key.startswith(prefix) and key != prefix
    assert git(repo, "rev-parse", "HEAD").decode().strip() in key
    assert cache_key(repo) == (key, prefix)
    assert cache_key(repo, "--index-dir", str(tmp_path / "elsewhere")) == (key, prefix), "the key names no path"
    only = atlas("cache-key", "--repo", str(repo), "--prefix")
    assert only.exit_code == 0 and only.stdout == f"{prefix}\n"
    # Settings that do not change the index bytes do not change the key.
    (repo / "atlas.toml").write_text("[index]\njobs = 3\n")
    assert cache_key(repo) == (key, prefix)


@pytest.mark.parametrize("flags", [["--no-history"], ["--max-file-size", "1000"], ["--history", "5"]])
def test_cache_key_takes_the_index_flags_and_names_the_index_they_build(
    repo: Path, tmp_path: Path, flags: list[str]
) -> None:
    # cache-key took no index flags: a CI job building with --no-history keyed its cache as the default build.
    index_dir = str(tmp_path / "idx")
    plain = cache_key(repo, "--index-dir", index_dir)
    flagged = cache_key(repo, "--index-dir", index_dir, *flags)
    assert flagged != plain and flagged[0].endswith(plain[0][-40:])
    built = atlas("index", str(repo), "--index-dir", index_dir, "--format", "json", *flags)
    assert built.exit_code == 0, built.output
    assert cache_key(repo, "--index-dir", index_dir) == flagged  # the settings the index remembers
    assert cache_key(repo, "--index-dir", index_dir, "--reset-settings") == plain


def test_cache_key_changes_with_a_commit_but_keeps_its_prefix(repo: Path) -> None:
    key, prefix = cache_key(repo)
    (repo / "kiln/glaze.py").write_text("def mix_glaze(piece):\n    return {'glaze': 'tenmoku'}\n")
    git(repo, "commit", "-qam", "tenmoku")
    new_key, new_prefix = cache_key(repo)
    assert new_key != key and new_prefix == prefix


def test_cache_key_changes_with_an_index_option(repo: Path) -> None:
    key, prefix = cache_key(repo)
    (repo / "atlas.toml").write_text("[index]\nmax_file_bytes = 4096\n")
    new_key, new_prefix = cache_key(repo)
    assert new_prefix != prefix and new_key != key
    assert new_key.startswith(new_prefix)


def test_cache_key_without_git_follows_the_contents(make_repo: Callable[..., Path]) -> None:
    # It was prefix + "nogit" whatever the files held: an exact-key cache was never refreshed.
    root = make_repo(FILES, git=False)
    key, prefix = cache_key(root)
    assert key.startswith(prefix + "tree-") and len(key) > len(prefix + "tree-") + 32
    os.utime(root / "kiln" / "glaze.py", (1, 1))
    assert cache_key(root) == (key, prefix)  # times alone are no change
    (root / "kiln" / "glaze.py").write_text("def mix_glaze(piece):\n    return 'tenmoku'\n")
    changed, same_prefix = cache_key(root)
    assert same_prefix == prefix and changed != key and changed.startswith(prefix + "tree-")


# --- restore an older index and bring it forward --------------------------------------------------


def test_index_restored_from_an_older_commit_is_updated_incrementally(
    repo: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "commit-a.tar.gz"
    export(repo, archive)  # the CI cache was saved at commit A

    (repo / "kiln/glaze.py").write_text("def mix_glaze(piece):\n    return {'piece': piece, 'glaze': 'shino'}\n")
    (repo / "kiln/cones.py").write_text("def pyrometric_cone_rating(cone):\n    return cone * 20\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "B: shino glaze, cones")
    (repo / "docs/firing.md").unlink()
    with open(repo / "kiln/thermocouple.py", "a") as handle:
        handle.write("\n\ndef calibrate_thermocouple(offset):\n    return offset\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "C: calibrate, drop the firing doc")

    checkout = tmp_path / "ci-checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))  # at C, every mtime new
    result = atlas("import", str(archive), "--repo", str(checkout))
    assert result.exit_code == 0, result.output
    assert atlas("status", "--repo", str(checkout)).exit_code == 7

    report = index_repo(index_config(checkout, jobs=1), show_progress=False)
    assert report.mode == "incremental", report.reason
    assert (report.changed, report.added, report.removed) == (2, 1, 1)
    assert report.signals["git"]["mined"] == "incremental"
    assert report.signals["git"]["commits_mined"] == 3
    assert verify_index(index_config(checkout)).ok
    assert top_path(checkout, "pyrometric cone rating") == "kiln/cones.py"
    assert top_path(checkout, "calibrate thermocouple") == "kiln/thermocouple.py"
    assert atlas("status", "--repo", str(checkout)).exit_code == 0


def test_export_onto_a_fifo_is_refused_and_through_a_link_writes_the_file(
    repo: Path, tmp_path: Path
) -> None:
    import stat

    fifo = tmp_path / "cache.tgz"
    os.mkfifo(fifo)
    result = atlas("export", str(fifo), "--repo", str(repo))
    assert result.exit_code == 2 and "not a regular file" in result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    real = tmp_path / "caches" / "atlas.tgz"
    real.parent.mkdir()
    link = tmp_path / "latest.tgz"
    link.symlink_to(real)
    export(repo, link)
    assert link.is_symlink() and real.stat().st_size > 0
    loop = tmp_path / "loop.tgz"  # a link that leads round in a circle was replaced by the archive
    loop.symlink_to("loop.tgz")
    result = atlas("export", str(loop), "--repo", str(repo))
    assert result.exit_code == 2 and "a symbolic link that leads to no file" in result.stderr
    assert loop.is_symlink()


def test_regression_an_archive_member_larger_than_the_free_space_is_refused_before_it_is_written(
    repo: Path, tmp_path: Path
) -> None:
    # 16 MiB of zeros packs into a few KB: such a member was written until the disk was full (every other writer
    # to that disk failing meanwhile) before the import gave up.
    archive = tmp_path / "bomb.tar.gz"
    _crafted_archive(archive, {"generation/tantivy/huge.store": bytes(16 << 20)})
    assert archive.stat().st_size < 1 << 20
    with small_disk(tmp_path / "disk", "1m") as disk:
        index_dir = disk / "index"
        result = atlas("import", str(archive), "--repo", str(repo), "--index-dir", str(index_dir))
        assert_the_disk_is_blamed(result, "too few for tantivy/huge.store", str(index_dir))
        assert not [p.name for p in index_dir.iterdir() if ".tmp-" in p.name], "the failed import left its files"


def _lying_archive(path: Path, real: dict[str, bytes], claims: dict[str, int]) -> None:
    """An archive holding the members `real`, then one header per member of `claims` stating that many bytes while
    none follow: the header's size field is what a crafted archive edits."""
    listing = {name: hashlib.sha256(data).hexdigest() for name, data in real.items()}
    listing |= {name: "0" * 64 for name in claims}
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _crafted_member(tar, "atlas-export.json", orjson.dumps({"format_version": FORMAT_VERSION, "files": listing}))
        for name, data in real.items():
            _crafted_member(tar, f"generation/{name}", data)
        for name, size in claims.items():
            info = tarfile.TarInfo(f"generation/{name}")
            info.size = size
            tar.fileobj.write(info.tobuf(tar.format, tar.encoding, tar.errors))  # type: ignore[union-attr]
            tar.fileobj.write(b"x" * 100)  # type: ignore[union-attr]


def _crafted_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("real", "claimed", "words"),
    [
        pytest.param({}, 1 << 60, "claims 1,152,921,504,606,846,976 bytes, more than gzip", id="exabyte"),
        pytest.param({}, 1 << 44, "claims 17,592,186,044,416 bytes, more than gzip", id="16-tib"),
        # 64 MiB of zeros packs into ~65 KB: 60 MiB more is within what that unpacks to, 124 MiB in all is not.
        pytest.param({"tantivy/zeros.store": bytes(64 << 20)}, 60 << 20, "(130,023,424 with the members before it)",
                     id="with-the-members-before-it"),
    ],
)  # fmt: skip
def test_regression_an_archive_member_claiming_more_than_the_archive_unpacks_to_is_a_damaged_archive(
    repo: Path, tmp_path: Path, real: dict[str, bytes], claimed: int, words: str
) -> None:
    # A header claiming exabytes was taken at its word: "cannot write the index: ... too few for tantivy/huge.store",
    # exit 3, "free some space", blaming the disk for a crafted archive.
    archive = tmp_path / "liar.tar.gz"
    _lying_archive(archive, real, {"tantivy/huge.store": claimed})
    generation = live(repo / ".atlas")
    result = atlas("import", str(archive), "--repo", str(repo))
    _assert_rejected(result, repo, generation.name, digests(generation))
    assert "'generation/tantivy/huge.store'" in result.stderr and words in result.stderr, result.stderr
    assert f"an archive of {archive.stat().st_size:,} bytes" in result.stderr
    assert "free" not in result.stderr and "disk" not in result.stderr


# --- a cache restored read-only ------------------------------------------------------------------


def test_regression_a_read_only_restore_with_new_mtimes_is_unchanged(repo: Path, tmp_path: Path) -> None:
    # It was exit 3 "cannot write the index: ... read-only file system" while `status` said fresh: a fresh
    # clone's new mtimes made `atlas index` want to record them in a new generation it could not write.
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    shutil.copytree(repo / ".atlas", checkout / ".atlas")
    fresh_mtimes(checkout)
    with read_only_view(checkout, tmp_path / "read-only") as view:
        result = atlas("index", str(view), "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["mode"] == "unchanged"
        assert atlas("status", "--repo", str(view)).exit_code == 0
    (checkout / ".atlas" / "lock").unlink()  # a cache packed without its lock file
    with read_only_view(checkout, tmp_path / "read-only") as view:
        result = atlas("index", str(view), "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["mode"] == "unchanged"
    (checkout / "kiln/glaze.py").write_text("def mix_glaze(piece):\n    return {'glaze': 'shino'}\n")
    with read_only_view(checkout, tmp_path / "read-only") as view:
        result = atlas("index", str(view))
        assert result.exit_code == 3, result.output
        assert "read-only" in result.stderr and "--index-dir" in result.stderr


@pytest.mark.parametrize("inside", ["CURRENT", "{generation}/manifest.json", "new.tar.gz"])
def test_regression_an_export_into_its_own_index_directory_is_refused(repo: Path, inside: str) -> None:
    # The archive replaced the index's own CURRENT (or a manifest), and the index it was to save was broken.
    generation = live(repo / ".atlas")
    before = digests(generation)
    target = repo / ".atlas" / inside.format(generation=generation.name)
    result = atlas("export", str(target), "--repo", str(repo))
    assert result.exit_code == 2, result.output
    assert "is inside the index directory" in result.stderr
    assert "hint: write the archive somewhere else" in result.stderr
    assert live(repo / ".atlas") == generation and digests(generation) == before
    assert not (repo / ".atlas" / "new.tar.gz").exists()
    assert top_path(repo, "fire pottery") == "kiln/firing.py"


def test_regression_an_export_through_a_link_into_the_index_directory_is_refused(repo: Path, tmp_path: Path) -> None:
    link = tmp_path / "backup.tar.gz"
    link.symlink_to(repo / ".atlas" / "CURRENT")
    result = atlas("export", str(link), "--repo", str(repo))
    assert result.exit_code == 2 and "is inside the index directory" in result.stderr
    assert top_path(repo, "fire pottery") == "kiln/firing.py"


@pytest.mark.parametrize("inside", ["shards", "generation"])
def test_regression_an_export_into_another_index_s_shards_or_generation_is_refused(
    repo: Path, tmp_path: Path, inside: str
) -> None:
    # Only the exported index's own directory was refused: a shard exported beside its siblings in `.atlas/shards/`
    # was deleted by the next `atlas index --shards N`, and an archive written into another index's generation
    # became a file of that index that its manifest does not list.
    if inside == "shards":
        assert atlas("index", str(repo), "--shards", "2", "--format", "json").exit_code == 0
        shards = repo / ".atlas" / store.SHARDS_DIR
        index_dir, target, spoiled = sorted(shards.iterdir())[0], shards / "backup.tar.gz", repo / ".atlas"
    else:
        spoiled = tmp_path / "other"
        assert atlas("index", str(repo), "--out", str(spoiled), "--format", "json").exit_code == 0
        index_dir, target = repo / ".atlas", live(spoiled) / "backup.tar.gz"
    before = digests(spoiled)
    result = atlas("export", str(target), "--repo", str(repo), "--index-dir", str(index_dir))
    assert result.exit_code == 2, result.output
    assert f"{target} is inside " in result.stderr and "hint: write the archive outside" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2, result.stderr
    assert not target.exists() and digests(spoiled) == before


@pytest.mark.parametrize("name", ["backup.tar.gz", store.CURRENT, store.GITIGNORE, "lock"])
def test_regression_an_export_into_another_index_directory_s_top_level_is_refused(
    repo: Path, tmp_path: Path, name: str
) -> None:
    # Its shards/ and generations were refused, its top level not: `other/.atlas/CURRENT` made that index damaged
    # (exit 4), `.gitignore` put it in its repository's `git status`, and any archive's temporary file there
    # (`.backup.tar.gz.tmp-PID`) is one a build of that index deletes as abandoned.
    other = tmp_path / "other"
    assert atlas("index", str(repo), "--out", str(other), "--format", "json").exit_code == 0
    target = other / name
    before = {entry.name: entry.read_bytes() for entry in other.iterdir() if entry.is_file()}
    result = atlas("export", str(target), "--repo", str(repo))
    assert result.exit_code == 2, result.output
    assert f"{target} is inside {other}, an index directory" in result.stderr, result.stderr
    assert "hint: write the archive outside" in result.stderr and len(result.stderr.strip().splitlines()) == 2
    assert {entry.name: entry.read_bytes() for entry in other.iterdir() if entry.is_file()} == before
    assert atlas("export", str(tmp_path / name), "--repo", str(repo)).exit_code == 0


def test_regression_an_archive_whose_file_list_is_a_directory_is_rejected(repo: Path, tmp_path: Path) -> None:
    # tarfile hands no reader for a directory: it was "unexpected error: AttributeError" (exit 3).
    archive = tmp_path / "dir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("atlas-export.json")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    generation = live(repo / ".atlas")
    result = atlas("import", str(archive), "--repo", str(repo))
    _assert_rejected(result, repo, generation.name, digests(generation))
    assert "not an Atlas index archive" in result.stderr


def test_regression_an_archive_whose_file_list_is_huge_is_rejected_before_it_is_read(
    repo: Path, tmp_path: Path
) -> None:
    # The file list is read whole: a 1 MB archive holding a 1 GiB list took 2 GB of memory before it failed.
    archive = tmp_path / "bomb.tar.gz"
    size = 64 << 20
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("atlas-export.json")
        info.size = size
        tar.addfile(info, io.BytesIO(b" " * size))
    generation = live(repo / ".atlas")
    result = atlas("import", str(archive), "--repo", str(repo))
    _assert_rejected(result, repo, generation.name, digests(generation))
    assert "the archive's file list is 67,108,864 bytes, more than an index has" in result.stderr


@pytest.mark.parametrize("manifest", [b'{"format_version": ', b"[]", b'{"format_version": 999}'])
def test_an_index_whose_manifest_no_import_takes_is_not_exported(repo: Path, tmp_path: Path, manifest: bytes) -> None:
    # The export exited 0 and the archive failed only at import, in the CI job that restored the cache.
    (live(repo / ".atlas") / store.MANIFEST).write_bytes(manifest)
    result = atlas("export", str(tmp_path / "index.tar.gz"), "--repo", str(repo))
    assert result.exit_code == 4, result.output
    assert "manifest" in result.stderr or "format" in result.stderr
    assert "hint: rebuild it with `atlas index --rebuild`" in result.stderr
    assert not (tmp_path / "index.tar.gz").exists()


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))


LIVE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "file table gone": lambda generation: (generation / store.FILES).unlink(),
    "side store array gone": lambda generation: (generation / store.SIGNALS_DIR / "pagerank.npy").unlink(),
    "history garbled": lambda generation: (generation / "history.json").write_bytes(b"{"),
    "segment byte flipped": lambda generation: _flip_middle_byte(
        max((generation / store.TANTIVY_DIR).glob("*.store"), key=lambda path: path.stat().st_size)
    ),
}


@pytest.mark.parametrize("damage", LIVE_DAMAGE)
def test_regression_an_index_verify_calls_damaged_is_not_exported(repo: Path, tmp_path: Path, damage: str) -> None:
    # Export checked the manifest only: a damaged index was packed (exit 0) into a cache that every import refused,
    # as `atlas verify` (exit 4) would have said.
    LIVE_DAMAGE[damage](live(repo / ".atlas"))
    assert atlas("verify", "--repo", str(repo)).exit_code == 4
    result = atlas("export", str(tmp_path / "index.tar.gz"), "--repo", str(repo))
    assert result.exit_code == 4, result.output
    assert "damaged" in result.stderr and "hint: rebuild it with `atlas index --rebuild`" in result.stderr
    assert not (tmp_path / "index.tar.gz").exists()


@pytest.mark.parametrize("command", ["export", "import"])
def test_a_dash_is_not_taken_for_an_archive_path(repo: Path, command: str) -> None:
    # `atlas export -` wrote a file named "-" into the working directory, where `-` means standard output.
    result = atlas(command, "-", "--repo", str(repo))
    assert result.exit_code == 2 and "is not an archive path" in result.stderr, result.output
    assert not (repo / "-").exists() and not Path("-").exists()


# --- killed exports and imports --------------------------------------------------------------


def _start_atlas(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "atlas", "-q", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip


def _kill_once_it_writes(child: subprocess.Popen[bytes], directory: Path) -> str:
    """SIGKILL `child` as soon as `directory` holds an entry of its own temporary name (`.tmp-PID`); that name."""
    mine = f".tmp-{child.pid}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        written = [p.name for p in directory.iterdir() if p.name.endswith(mine)] if directory.is_dir() else []
        if written:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return written[0]
        assert child.poll() is None, child.communicate()[1]
        time.sleep(0.002)
    raise AssertionError(f"{child.args} never wrote into {directory}")


@pytest.fixture
def big_repo(tmp_path: Path) -> Path:
    """A 600-file repository, indexed: its export and import take long enough to be killed while they write."""
    from tests.test_crash_safety import generated_files

    root = tmp_path / "big"
    write_tree(root, generated_files(600, seed=13, functions=16))
    init_repo(root)
    assert index_repo(index_config(root, jobs=2), show_progress=False).mode == "full"
    return root


def test_regression_imports_killed_one_after_another_leave_one_unpacked_generation_at_most(
    big_repo: Path, tmp_path: Path
) -> None:
    # An import never removed what a killed import (or build) had left: each SIGKILLed `atlas import` added its
    # half-unpacked `gen-N.tmp-PID` to the index directory until a run succeeded, and the temporary files of a write
    # cut short (`.CURRENT.tmp-PID`, `..gitignore.tmp-PID`) stayed even then.
    big_archive = tmp_path / "big.tgz"
    assert atlas("export", "--repo", str(big_repo), str(big_archive)).exit_code == 0
    index_dir = tmp_path / "restored"
    assert atlas("import", "--index-dir", str(index_dir), str(big_archive)).exit_code == 0
    live_before = live(index_dir)
    (index_dir / f".{store.CURRENT}.tmp-4194301").write_bytes(b"gen-0")  # a write of CURRENT cut short
    left = [_kill_once_it_writes(_start_atlas("import", "--index-dir", str(index_dir), str(big_archive)), index_dir)
            for _ in range(2)]  # fmt: skip
    assert left[0] != left[1] and all(name.startswith(store.GEN_PREFIX) for name in left), left
    assert sorted(p.name for p in index_dir.iterdir() if ".tmp-" in p.name) == [left[1]]
    assert live(index_dir) == live_before
    assert atlas("import", "--index-dir", str(index_dir), str(big_archive)).exit_code == 0
    assert [p.name for p in index_dir.iterdir() if ".tmp-" in p.name] == []


def test_regression_exports_killed_one_after_another_leave_one_temporary_archive_at_most(
    big_repo: Path, tmp_path: Path
) -> None:
    # A SIGKILLed `atlas export` leaves its archive half-written as `.NAME.tmp-PID` beside the archive; no later
    # export removed it, so each killed run of a CI cache step added one, as large as the archive, for good.
    out = tmp_path / "out"
    out.mkdir()
    archive = out / "index.tgz"
    left = [_kill_once_it_writes(_start_atlas("export", "--repo", str(big_repo), str(archive)), out) for _ in range(2)]
    assert left[0] != left[1], left
    assert sorted(p.name for p in out.iterdir()) == [left[1]]
    (out / ".other.tgz.tmp-4194301").write_bytes(b"another archive's")  # not this archive's: kept
    assert atlas("export", "--repo", str(big_repo), str(archive)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [".other.tgz.tmp-4194301", "index.tgz"]
