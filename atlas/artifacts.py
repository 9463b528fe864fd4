"""Portable index artifacts for CI caches: export/import archives and cache keys.

An index holds only repository-relative paths, so a generation copied to another machine and
path works as is; `atlas index` there updates it incrementally (new mtimes cost one hash per
file, not a parse). An archive is a gzip'd tar whose first member, `atlas-export.json`, lists
every file with its SHA-256; `import_index` checks each one, and that every path the index holds
is a clean repository-relative path, before publishing the generation.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import stat
import tarfile
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import orjson

from atlas.config import FORMAT_VERSION, PARSE_VERSION, IndexConfig
from atlas.errors import AtlasError, IndexCorrupt, InputError, UsageError, storage_error
from atlas.index import store
from atlas.index.lock import index_lock, rerun_hint
from atlas.safe_read import quoted_value, visible

EXPORT_MANIFEST = "atlas-export.json"
MEMBER_ROOT = "generation"
MAX_HEADER_BYTES = 16 << 20
"""The largest file list an import reads (it is read whole): an index's holds a line per file of its generation,
~100 bytes each."""
COMPRESS_LEVEL = 1
DEFLATE_MAX_RATIO = 1032
"""The most bytes deflate unpacks from one (a 258-byte match coded in two bits): an archive of N bytes holds at most
N * 1032 bytes of tar, so members claiming more have headers that lie (crafted or damaged), whatever the disk holds."""


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """What an export wrote or an import restored."""

    archive: str
    sha256: str
    files: int
    bytes: int
    seconds: float
    generation: str


def cache_key(config: IndexConfig) -> tuple[str, str]:
    """(key, restore prefix): what makes an index reusable, then the same without the commit.

    Outside git (or before a first commit) there is no commit to name: the key names the tree's contents
    instead (every file the walk takes, read and hashed), so a changed tree gets a new key."""
    from atlas.signals.git import head_commit

    prefix = reuse_prefix(config)
    commit = head_commit(config.root)
    return prefix + (commit or f"tree-{tree_digest(config)}"), prefix


def tree_digest(config: IndexConfig, holds: Callable[[str], bool] = lambda path: True) -> str:
    """The digest of the contents of the files of `config`'s tree the walk takes (those `holds` keeps): their
    paths and content hashes, read from the tree (no more of each than the index would read: its size cap), in
    worker processes. AtlasError naming a file whose read did not return within their deadline: a key that took it
    as unreadable would name contents nobody read."""
    from atlas.parse.pool import content_hashes
    from atlas.partition import content_digest
    from atlas.status import current_entries

    entries = [entry for path, entry in current_entries(config).items() if holds(path)]
    hashes, unanswered = content_hashes(entries, config.max_file_bytes)
    if unanswered:
        path, why = min(unanswered.items())
        hint = "make the file readable, or leave it out of the index (.gitignore), and run again"
        raise AtlasError(f"cannot make the cache key: {visible(path)}: {why}", hint)
    return content_digest(hashes.items())


def reuse_prefix(config: IndexConfig) -> str:
    """What an index built for `config` by this Atlas shares with any other it could reuse: the index format,
    the parsers, tantivy's version and the index settings."""
    from atlas.index.writer import tantivy_version

    return f"atlas-f{FORMAT_VERSION}p{PARSE_VERSION}-tantivy{tantivy_version()}-{config.index_hash()}-"


EXPORT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class _Member:
    """One open file of the generation being exported."""

    name: str  # its path inside the generation, `/`-separated
    handle: BinaryIO
    size: int
    mtime: int


def export_index(config: IndexConfig, archive: Path) -> ArchiveInfo:
    """Pack the live generation of `config`'s index into `archive`.

    Every file of the generation is opened before one is read, so an `atlas index` that publishes meanwhile (and
    deletes older generations) cannot take a file from under the export; a generation that goes while its files
    are being opened is left for the one CURRENT names then."""
    started = time.monotonic()
    from atlas.index.reader import live_generation, read_manifest

    _refuse_inside(archive, config.index_dir)
    _refuse_in_index_parts(archive)
    for _ in range(EXPORT_ATTEMPTS):
        generation = live_generation(config.index_dir, missing="no index to export")
        read_manifest(generation)  # IndexCorrupt for a manifest no import would take: a cache of it would only fail
        members = _open_members(generation)
        if members is None:
            continue
        try:
            if not _sound_or_replaced(config.index_dir, generation):
                continue
            digest = _write_archive(members, store.replacement_target(archive))
        finally:
            _close(members)
        size = sum(member.size for member in members)
        return ArchiveInfo(str(archive), digest, len(members), size, time.monotonic() - started, generation.name)
    raise AtlasError(
        f"{config.index_dir}: the index was replaced {EXPORT_ATTEMPTS} times while its files were being opened",
        "export again once `atlas index` has finished",
    )


def _sound_or_replaced(index_dir: Path, generation: Path) -> bool:
    """True when `generation` is sound as `atlas verify` judges it (an import refuses any other: the export said ok
    and the CI job restoring the cache failed); False when it was replaced meanwhile (a publish deleted files from
    under the check: the next attempt exports the new one); IndexCorrupt when it is live and damaged."""
    from atlas.verify import refuse_damaged

    try:
        refuse_damaged(generation, f"the index {generation}")
    except IndexCorrupt:
        if store.current_generation(index_dir) != generation:
            return False
        raise
    return True


def _refuse_inside(archive: Path, index_dir: Path) -> None:
    """InputError when the archive (or the file its link names) would be written inside the index directory: it
    would replace a file of the index it packs (`CURRENT`, a manifest) and break that index."""
    target = Path(os.path.realpath(archive))
    home = Path(os.path.realpath(index_dir))
    if target == home or home in target.parents:
        raise InputError(
            f"{archive} is inside the index directory {index_dir}, and writing there would break the index",
            "write the archive somewhere else, e.g. `atlas export index.tar.gz`",
        )


def _refuse_in_index_parts(archive: Path) -> None:
    """UsageError when the archive (or the file its link names) would be written inside any index directory's
    `shards/` or generation (`store.index_part`), or at the top level of one, where only Atlas's files belong: the
    archive could take the place of one (`CURRENT`, the lock, the `.gitignore` that keeps the index out of git), a
    build of that index deletes the archive's temporary file (`.NAME.tmp-PID`) as abandoned, and a build refuses an
    index directory not built yet that holds other files. `_refuse_inside` refuses the exported index's own
    directory whole."""
    found = store.index_part(archive)
    if found is None and store.is_index_dir(top := Path(os.path.realpath(archive)).parent):
        found = top, "an index directory, whose own files an archive there can replace or a build delete"
    if found is None:
        return
    part, why = found
    raise UsageError(f"{archive} is inside {part}, {why}",
                     f"write the archive outside {part}, e.g. `atlas export index.tar.gz`")  # fmt: skip


def _open_members(generation: Path) -> list[_Member] | None:
    """Every file of `generation`, open, sorted by name; None when the generation went (or lost files) meanwhile.
    IndexCorrupt when one is not a regular file: a FIFO would block the export, a link pack what it names."""
    opened: list[_Member] = []
    try:
        for path in store.generation_files(generation):
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise IndexCorrupt(f"{generation}: {path.relative_to(generation)} is not a regular file")
            handle = store.open_index_file(path)
            info = os.fstat(handle.fileno())
            opened.append(_Member(path.relative_to(generation).as_posix(), handle, info.st_size, int(info.st_mtime)))
        listed = {path.relative_to(generation).as_posix() for path in store.generation_files(generation)}
        if opened and listed == {member.name for member in opened}:
            return opened
    except FileNotFoundError:
        pass
    except BaseException:
        _close(opened)
        raise
    _close(opened)
    return None


def _close(members: list[_Member]) -> None:
    for member in members:
        member.handle.close()


def _write_archive(members: list[_Member], archive: Path) -> str:
    """Write `members` as the archive (a temporary file renamed into place); its SHA-256."""
    listing = {member.name: _sha256_of(member.handle) for member in members}
    header = {"format_version": FORMAT_VERSION, "created_at": int(time.time()), "files": listing}
    tmp = store.temporary_path(archive)
    store.remove_abandoned_temporaries(archive)
    try:
        with _create(tmp, archive) as raw, _ParallelGzip(raw) as packed, tarfile.open(fileobj=packed, mode="w|") as tar:
            _add_bytes(tar, EXPORT_MANIFEST, orjson.dumps(header))
            for member in members:
                info = tarfile.TarInfo(f"{MEMBER_ROOT}/{member.name}")
                info.size, info.mtime, info.mode = member.size, member.mtime, 0o644
                member.handle.seek(0)
                tar.addfile(info, member.handle)
        os.replace(tmp, archive)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise AtlasError(
                f"cannot write {archive.name}: {archive.parent} is on a full disk ({err.strerror})",
                "free some space, or pass a path on another disk",
            ) from err
        raise
    return packed.sha256


def _create(tmp: Path, archive: Path) -> BinaryIO:
    """Open the archive's temporary file, created anew (never written through a link planted at its name); a directory
    that cannot take it is the user's to fix."""
    try:
        return os.fdopen(store.create_new(tmp), "wb")
    except OSError as err:
        raise InputError(
            f"{archive.parent}: cannot write {archive.name} there ({err.strerror})",
            "pass a path in a directory you can write to (in a container: mount one writable by its user, "
            "e.g. with docker run --user or chown)",
        ) from err


class _ParallelGzip(io.RawIOBase):
    """A write-only stream that gzips in blocks on every core, each block a gzip member.

    Concatenated gzip members are one valid gzip file (RFC 1952), which `tarfile`/`gzip` read
    back as a whole; zlib releases the GIL, so blocks compress in parallel. The SHA-256 of the
    bytes written is kept as they go.
    """

    BLOCK = 8 << 20

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self.out = out
        self.buffer = bytearray()
        self.pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        self.pending: deque[Future[bytes]] = deque()
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        self.buffer += data
        while len(self.buffer) >= self.BLOCK:
            self._submit(bytes(self.buffer[: self.BLOCK]))
            del self.buffer[: self.BLOCK]
        return len(data)

    def _submit(self, block: bytes) -> None:
        self.pending.append(self.pool.submit(_gzip_member, block))
        while len(self.pending) > 2 * (os.cpu_count() or 2):
            self._drain_one()

    def _drain_one(self) -> None:
        packed = self.pending.popleft().result()
        self.digest.update(packed)
        self.out.write(packed)

    def close(self) -> None:
        if not self.closed:
            if self.buffer:
                self._submit(bytes(self.buffer))
                self.buffer.clear()
            while self.pending:
                self._drain_one()
            self.pool.shutdown()
        super().close()

    @property
    def sha256(self) -> str:
        """SHA-256 of everything written so far (the whole archive once closed)."""
        return self.digest.hexdigest()


def _gzip_member(block: bytes) -> bytes:
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(block) + compressor.flush()


def import_index(config: IndexConfig, archive: Path) -> ArchiveInfo:
    """Verify `archive` and publish it as the live generation of `config`'s index."""
    started = time.monotonic()
    store.refuse_output_in_index_parts(config.index_dir, "--index-dir")
    if not archive.is_file():
        what = "is not a regular file" if archive.exists() else "no such archive"
        raise InputError(f"{archive}: {what}", "pass a file made by `atlas export`")
    try:
        count, size, final = _import(config, archive)
    except OSError as err:  # the disk refused a write (read-only, full): not the archive's fault
        problem = storage_error(err, config.index_dir)
        if problem is None:
            raise
        raise problem from err
    return ArchiveInfo(str(archive), _sha256(archive), count, size, time.monotonic() - started, final.name)


def _import(config: IndexConfig, archive: Path) -> tuple[int, int, Path]:
    store.ensure_index_dir(config.index_dir, config.root)
    with rerun_hint("`atlas import`"), index_lock(config.index_dir):
        store.remove_abandoned(config.index_dir)  # what a killed import or build left, as a build removes it
        building, final = store.new_generation_dir(config.index_dir)
        try:
            header, count, size = _extract(archive, building)
            _check_format(header, archive)
            _check_paths(building, archive)
            _refuse_shard_over_whole_index(building, config.index_dir)
            store.publish(config.index_dir, building, final)
        except BaseException:
            store.remove_generation_dir(config.index_dir, building)
            raise
    return count, size, final


def _extract(archive: Path, building: Path) -> tuple[dict[str, Any], int, int]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != EXPORT_MANIFEST or not first.isfile():
                raise IndexCorrupt(f"{archive}: not an Atlas index archive", "make one with `atlas export`")
            if first.size > MAX_HEADER_BYTES:
                raise IndexCorrupt(
                    f"{archive}: the archive's file list is {first.size:,} bytes, more than an index has",
                    "export it again",
                )
            header = orjson.loads(tar.extractfile(first).read())  # type: ignore[union-attr]
            if not isinstance(header, dict) or not isinstance(header.get("files"), dict):
                raise IndexCorrupt(f"{archive}: the archive's file list is malformed", "export it again")
            count, size = _extract_members(tar, building, header["files"], archive, os.stat(archive).st_size)
            _read_to_the_end(tar)
    # zlib.error is what a flipped byte inside the deflate stream raises from a member's read.
    except (tarfile.TarError, OSError, EOFError, zlib.error, orjson.JSONDecodeError, KeyError) as err:
        if isinstance(err, OSError) and storage_error(err, building.parent) is not None:
            raise  # a write refused by the disk, or an archive that cannot be read: `import_index` says which
        raise IndexCorrupt(f"{archive}: the archive is damaged ({err})", "export it again") from err
    missing = set(header["files"]) - {p.relative_to(building).as_posix() for p in building.rglob("*") if p.is_file()}
    if missing:
        raise IndexCorrupt(f"{archive}: {len(missing)} listed files are missing", "export it again")
    return header, count, size


def _read_to_the_end(tar: tarfile.TarFile) -> None:
    """Read the compressed stream past the tar's end marker, so that every gzip member's CRC is checked:
    tarfile stops at the end-of-archive blocks, and a flipped byte in the last member's padding would pass."""
    stream = tar.fileobj
    while stream is not None and stream.read(1 << 20):
        pass


def _extract_members(
    tar: tarfile.TarFile, building: Path, listing: dict[str, str], archive: Path, packed: int
) -> tuple[int, int]:
    """Write the members of `tar` (an archive of `packed` bytes) listed in `listing` into `building`, each checked
    against its checksum; their count and bytes."""
    count = size = 0
    for member in tar:
        if member.name == EXPORT_MANIFEST:
            continue
        # Only regular files strictly inside generation/: no "..", no absolute names, no links,
        # so a crafted archive cannot write outside the directory being built.
        parts = PurePosixPath(member.name).parts
        rel = "/".join(parts[1:])
        if (
            not member.isfile() or len(parts) < 2 or parts[0] != MEMBER_ROOT
            or any(part in ("..", ".", "") for part in parts) or rel not in listing
        ):  # fmt: skip
            raise IndexCorrupt(f"{archive}: unexpected member {quoted_value(member.name)}", "export it again")
        _check_claim(archive, packed, member, size + member.size)
        target = building / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_room(rel, member.size, building)
        digest = hashlib.sha256()
        with tar.extractfile(member) as source, open(target, "wb") as out:  # type: ignore[union-attr]
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != listing[rel]:
            raise IndexCorrupt(f"{archive}: {rel} fails its checksum", "export it again")
        count, size = count + 1, size + member.size
    return count, size


def _check_claim(archive: Path, packed: int, member: tarfile.TarInfo, claimed: int) -> None:
    """IndexCorrupt when `member`'s header claims more bytes than gzip can unpack from the archive's `packed` (`claimed`
    counts the members before it too): a header saying exabytes was taken at its word, and the import blamed the disk
    (too full for it) instead of the archive."""
    if claimed > packed * DEFLATE_MAX_RATIO:
        before = f" ({claimed:,} with the members before it)" if claimed != member.size else ""
        raise IndexCorrupt(
            f"{archive}: the member {quoted_value(member.name)} claims {member.size:,} bytes{before}, more than gzip "
            f"can unpack from an archive of {packed:,} bytes (a crafted or damaged header)",
            "export it again",
        )


def _check_room(rel: str, size: int, building: Path) -> None:
    """AtlasError before the member `rel` of `size` bytes is written into `building` when its disk has less free:
    a few KB of gzip unpack into gigabytes, which were written until the disk was full before the checksum failed."""
    free = shutil.disk_usage(building).free
    if size > free:
        raise AtlasError(
            f"cannot write the index: {building.parent} is on a disk with {free} bytes free, too few for {rel} "
            f"({size} bytes)",
            "free some space, or pass --index-dir DIR to put the index on another disk",
        )


def _check_format(header: dict[str, Any], archive: Path) -> None:
    if header.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{archive}: made by index format {header.get('format_version')}, this Atlas reads {FORMAT_VERSION}",
            "build the index with `atlas index --rebuild` instead",
        )


def _refuse_shard_over_whole_index(generation: Path, index_dir: Path) -> None:
    """InputError when the archived index is a shard and `index_dir` holds a whole index, which it would replace
    (every search there would then say to assemble the shards)."""
    from atlas.build import refuse_whole_index
    from atlas.partition import ShardSpec

    spec = ShardSpec.from_record(orjson.loads(store.read_index_file(generation / store.MANIFEST)).get("shard"))
    if spec is not None:
        refuse_whole_index(index_dir, spec, "importing")


def _check_paths(generation: Path, archive: Path) -> None:
    """Checksums only prove the archive is what its maker packed: a crafted index can name
    `../../etc/passwd` and be self-consistent, so every path it holds must be a clean relative one, and its
    parts must agree as `atlas verify` checks them (a damaged side store or manifest would replace a good index
    with one no search can open)."""
    from atlas.index.reader import check_indexed_paths
    from atlas.verify import refuse_damaged

    hint = "import only archives `atlas export` made from an index you trust, or build one with `atlas index`"
    try:
        check_indexed_paths(generation)
    except IndexCorrupt as err:
        raise IndexCorrupt(f"{archive}: {err.message}", hint) from err
    refuse_damaged(generation, f"{archive}: the archived index", hint)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return _sha256_of(handle)


def _sha256_of(handle: BinaryIO) -> str:
    """SHA-256 of an open file's bytes from its start."""
    handle.seek(0)
    return hashlib.file_digest(handle, "sha256").hexdigest()
