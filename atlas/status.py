"""Is the index fresh? Compare the working tree (walk + stat, no reads) with the index's file table.

Cheap enough to run before every MCP answer on a large repository: one walk with `stat` per
file, no file contents read. The only files opened are those whose read failed when last indexed
(`read_failed`), each for one byte: one that reads now is new to the index, as the next update reads it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from atlas.config import DEFAULT_INDEX_DIRNAME, FORMAT_VERSION, PARSE_VERSION, IndexConfig
from atlas.errors import IndexCorrupt, read_denied
from atlas.index import store
from atlas.index.writer import FileTable, SkipRecord
from atlas.records import FileEntry
from atlas.safe_read import open_in_root, visible
from atlas.signals.git import ends_before_head, head_commit, is_ancestor, named_head, named_no_commit, unborn_branch
from atlas.walk import WalkOptions, walk

log = logging.getLogger(__name__)

RACY_MARGIN_NS = 2_000_000_000
"""mtime clocks tick coarsely (and FAT's by 2 s): a file this close to the last walk is hashed."""


@dataclass(slots=True)
class IndexStatus:
    """How the index relates to the working tree."""

    root: str
    index_dir: str
    exists: bool
    fresh: bool = False
    damaged: bool = False
    reason: str = ""
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files: int = 0
    commit: str | None = None
    format_version: int | None = None
    built_at: int | None = None
    index_bytes: int = 0


def index_dirs(config: IndexConfig) -> tuple[Path, ...]:
    """Directories a walk must skip: this index, and `<root>/.atlas` even when the index is elsewhere
    (an index built with --out must not index the files of the repository's default index)."""
    return (config.index_dir, config.root / DEFAULT_INDEX_DIRNAME)


def current_entries(config: IndexConfig, ignore_files: dict[str, Any] | None = None) -> dict[str, FileEntry]:
    """The files the next build would index, by path (walk only: stat, no reads); `ignore_files`, when given,
    receives the stamps of the ignore files the walk read (see `atlas.walk.walk`)."""
    options = WalkOptions(max_file_bytes=config.max_file_bytes, exclude_dirs=index_dirs(config))
    return {item.path: item for item in walk(config.root, options, None, ignore_files) if isinstance(item, FileEntry)}


def entries_held(config: IndexConfig, manifest: dict[str, Any]) -> list[FileEntry]:
    """The files of the tree the index of `manifest` should hold: all of them, or a shard's share."""
    from atlas.partition import ShardSpec

    entries = current_entries(config).values()
    spec = ShardSpec.from_record(manifest.get("shard"))
    return [entry for entry in entries if spec.holds(entry.path)] if spec else list(entries)


def load_table(generation: Path) -> FileTable:
    """The file table of a generation."""
    return FileTable.from_json(store.read_index_file(generation / store.FILES))


def index_status(config: IndexConfig, hash_moved: bool = False) -> IndexStatus:
    """Compare the index of `config` with the working tree.

    With `hash_moved`, a file whose size matches but whose mtime moved (a fresh clone, a restored
    cache, a `touch`) is hashed and counts as changed only if its contents did change.
    """
    status = IndexStatus(root=str(config.root), index_dir=str(config.index_dir), exists=False)
    store.refuse_unreadable(config.index_dir)
    generation = store.current_generation(config.index_dir)
    if generation is None or not store.is_generation_dir(generation):
        # CURRENT naming nothing is a damaged index, as a search and `verify` find it; no CURRENT is none at all.
        if (config.index_dir / store.CURRENT).exists():
            what = f"names {generation.name}, missing or a link" if generation else "is empty or names no generation"
            status.reason = f"the index is damaged (CURRENT {what})"
            status.damaged = True
        elif orphans := store.generations_without_current(config.index_dir):
            status.reason = f"the index is damaged ({store.missing_current(orphans)})"
            status.damaged = True
        else:
            status.reason = "no index"
        return status
    try:
        manifest = _manifest(generation)
        table = load_table(generation)
        _describe(status, manifest, generation)
        reason = rebuild_reason(config, manifest)
        if not reason:  # an index of another format is read by none of this Atlas
            _opens_as_a_search_does(generation, manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexCorrupt) as err:  # orjson's: ValueError
        if denied := read_denied(err):  # not damage: a rebuild would not help
            raise denied from err
        status.reason = f"the index is damaged ({err.message if isinstance(err, IndexCorrupt) else err})"
        status.damaged = True
        return status
    status.exists = True
    status.reason = reason or _new_commits(config, manifest)
    entries = entries_held(config, manifest)
    diff = diff_tree(table, entries, manifest.get("walk_started_ns", 0), hash_moved, try_failed_reads=True)
    _record_diff(status, table, diff)
    status.fresh = not (status.reason or status.changed or status.added or status.removed)
    return status


def _new_commits(config: IndexConfig, manifest: dict[str, Any]) -> str:
    """Why the index's git history is behind HEAD, or "" (it is not, or git cannot tell). A commit of files already
    indexed changes no file, so the tree alone looked fresh: `quick` and the MCP server kept the newest commits out
    of recency and co-change until some file changed. An index whose git reason says it ends before HEAD (commits
    git could not mine) is not stale for it: every update tries them again anyway."""
    mined = manifest.get("signals", {}).get("git") or {}
    head = mined.get("head")
    if not config.git_history:
        return ""
    if not mined.get("available"):
        return _first_commit(config, str(mined.get("reason", "")))
    if not isinstance(head, str):
        return ""
    if ends_before_head(str(mined.get("reason", ""))):
        return ""
    now = named_head(config.root)
    if now is None:
        branch = unborn_branch(config.root)  # `git checkout --orphan`: the history mined is another branch's
        mined_at = f"the index's history was mined at {head[:12]}"
        return f"the current branch ({branch}) has no commits yet: {mined_at}" if branch else ""
    if now == head:
        return ""
    # HEAD may name a tag object (written by hand or by another tool): its commit is what was mined. Objects are read
    # only now that HEAD names another object than the commit mined, which an update reads anyway.
    commit = head_commit(config.root)
    if commit == head:
        return ""
    moves = f"HEAD was {head[:12]}, is {(commit or now)[:12]}"
    if is_ancestor(config.root, head):
        return f"new commits since the index was built: {moves}"
    return f"HEAD moved since the index was built (another branch or an older commit): {moves}"


def _first_commit(config: IndexConfig, reason: str) -> str:
    """Why an index built without history, since HEAD named no commit then (`named_no_commit`), is behind HEAD: it
    names one now (a first commit, `git init` and a commit, git installed or trusting the repository), or ""."""
    now = named_head(config.root) if named_no_commit(reason) else None
    return f"HEAD names a commit ({now[:12]}) since the index was built without history ({reason})" if now else ""


def rebuild_reason(config: IndexConfig, manifest: dict[str, Any]) -> str:
    """Why the index cannot be updated incrementally ("" when it can)."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"the index is in format {manifest.get('format_version')}, this Atlas writes format {FORMAT_VERSION}"
    parsed_by = manifest.get("parse_version", 1)
    if parsed_by != PARSE_VERSION:
        # A restored cache may come from a newer Atlas as well as from an older one.
        what = "parses more" if isinstance(parsed_by, int) and parsed_by < PARSE_VERSION else "parses differently"
        return f"the index was parsed by parse version {parsed_by}; this Atlas {what} (version {PARSE_VERSION})"
    if manifest.get("config_hash") != config.index_hash():
        return f"index settings changed ({_changed_settings(config, manifest)})"
    return ""


def _changed_settings(config: IndexConfig, manifest: dict[str, Any]) -> str:
    """Which settings differ from the ones the index was built with, as `name old → new`."""
    before = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
    after = config.settings()
    changed = [f"{name} {before.get(name)} → {value}" for name, value in after.items() if before.get(name) != value]
    if manifest.get("boosts") not in (None, config.boosts.as_dict()):
        changed.append("boosts")
    return ", ".join(changed) or "size cap, boosts or history options"


def _manifest(generation: Path) -> dict[str, Any]:
    """The generation's manifest; ValueError when it is not one, or when a part of the index it needs is gone (a
    quick look, by name: `atlas verify` reads every file)."""
    manifest = orjson.loads(store.read_index_file(generation / store.MANIFEST))
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise ValueError(f"{store.MANIFEST} is not an index manifest")
    for part in (store.TANTIVY_DIR, store.SIGNALS_DIR):
        if not (generation / part).is_dir():
            raise ValueError(f"its {part} directory is missing")
    from atlas.index.reader import manifest_problem

    if problem := store.history_problem(generation, manifest) or manifest_problem(manifest):
        raise ValueError(problem)
    return manifest


def _opens_as_a_search_does(generation: Path, manifest: dict[str, Any]) -> None:
    """IndexCorrupt when a search could not open the generation: tantivy's files and the side store are opened and
    checked as a search opens them, and the store's file sizes as `verify` checks them (no file is read whole:
    `atlas verify` does that)."""
    from atlas.index.reader import check_file_table, open_tantivy
    from atlas.signals.store import check_sizes, load_store

    check_file_table(generation, manifest)
    open_tantivy(generation / store.TANTIVY_DIR).searcher()
    check_sizes(generation, load_store(generation))


def _describe(status: IndexStatus, manifest: dict[str, Any], generation: Path) -> None:
    """What the manifest says of the index; ValueError, TypeError or AttributeError when a field is malformed."""
    status.files = manifest.get("files_indexed", 0)  # a count: manifest_problem checked it
    status.format_version = manifest.get("format_version")
    status.built_at = manifest.get("created_at")
    status.commit = (manifest.get("signals", {}).get("git") or {}).get("head")
    status.index_bytes = sum(p.stat().st_size for p in generation.rglob("*") if p.is_file())


@dataclass(slots=True)
class TreeDiff:
    """How the working tree differs from a file table: by file id for known files."""

    changed: dict[int, FileEntry] = field(default_factory=dict)
    added: list[FileEntry] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)


def diff_tree(
    table: FileTable,
    entries: Iterable[FileEntry],
    racy_since_ns: int = 0,
    hash_moved: bool = False,
    try_failed_reads: bool = False,
) -> TreeDiff:
    """Compare walked `entries` with `table` by size and mtime (and, with `hash_moved`, contents).

    A file whose size and mtime match but whose mtime is not older than the previous walk
    (`racy_since_ns`, minus a margin) may have been edited again within the same clock tick; it
    is hashed, as git does for "racily clean" entries. With `hash_moved`, a file of the same size
    whose mtime moved is hashed too, and is changed only if its contents differ. A moved ctime counts as a
    moved mtime: an edit that keeps the size and sets the mtime back (`touch -d`) cannot set it back. Files the parser
    skipped last time and that did not change are neither new nor changed (an update reads again those whose read
    failed: `atlas.build._read_again`); with `try_failed_reads`, one whose read failed and that reads now (a cheap
    probe of those few files, one byte each) is new, as that update adds it: `status` and the MCP server's check
    then find the index stale.
    """
    known = table.fids()
    diff = TreeDiff()
    to_hash: dict[int, FileEntry] = {}
    for entry in entries:
        fid = known.pop(entry.path, None)
        if fid is None:
            seen = table.skipped.get(entry.path)
            if _skipped_moved(seen, entry) or (try_failed_reads and read_failed(seen) and _reads(entry)):
                diff.added.append(entry)
        elif table.sizes[fid] != entry.size:
            diff.changed[fid] = entry
        elif table.mtimes[fid] != entry.mtime_ns or _ctime_moved(table, fid, entry):
            diff.changed[fid] = entry
            if hash_moved:
                to_hash[fid] = entry
        elif _racy(entry, racy_since_ns):
            diff.changed[fid] = entry
            to_hash[fid] = entry
    for fid in _unedited(table, to_hash):
        del diff.changed[fid]
    diff.removed = sorted(known.values())
    return diff


def _skipped_moved(seen: SkipRecord | None, entry: FileEntry) -> bool:
    """Whether a file the parser left out (`seen`: its table entry) is new or changed since."""
    if seen is None or seen[:2] != (entry.size, entry.mtime_ns):
        return True
    return bool(seen[3] and entry.ctime_ns) and seen[3] != entry.ctime_ns


def read_failed(seen: SkipRecord | None) -> bool:
    """Whether a file the parser left out (`seen`: its table entry) was left out because its read failed (`retry`):
    it may read now with nothing about it changed."""
    return seen is not None and seen[4]


def _reads(entry: FileEntry) -> bool:
    """Whether the file reads now, as the parse opens and reads it (`open_in_root`, non-blocking), asked for one byte:
    a file that opens but whose read fails (an I/O error) would be stale at every check, each update leaving it out
    again."""
    try:
        fd = open_in_root(entry.root, entry.path)
    except OSError:  # Refused too
        return False
    try:
        os.read(fd, 1)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _ctime_moved(table: FileTable, fid: int, entry: FileEntry) -> bool:
    return bool(table.ctimes[fid] and entry.ctime_ns) and table.ctimes[fid] != entry.ctime_ns


def _racy(entry: FileEntry, racy_since_ns: int) -> bool:
    """Whether a file whose stamp matches the table may have been edited again within the clock tick of the walk that
    took it, and is hashed to tell: when it changed near or after that walk. Its ctime says when, where the system
    keeps one: the kernel sets it, so it is never in the future, while an mtime is whatever `touch -d` or an archive
    says. Files stamped in the future (a tarball from a machine whose clock ran ahead) were all hashed by every status
    and MCP check."""
    changed_at = entry.ctime_ns or entry.mtime_ns
    return bool(racy_since_ns) and changed_at >= racy_since_ns - RACY_MARGIN_NS


def _unedited(table: FileTable, candidates: dict[int, FileEntry]) -> list[int]:
    """The file ids of `candidates` whose contents still hash to what the table holds. Each is read up to the size
    the walk found, which is the table's (a file holding more than that has changed since, and is not read further),
    in worker processes: a file whose read does not return within their deadline counts as edited, with a warning."""
    if not candidates:
        return []
    from atlas.parse.pool import content_hashes

    hashes, unanswered = content_hashes(list(candidates.values()))
    for path, why in unanswered.items():
        log.warning("%s: %s; counted as changed", visible(path), why)
    return [fid for fid, entry in candidates.items() if hashes[entry.path] == table.hashes[fid]]


def _record_diff(status: IndexStatus, table: FileTable, diff: TreeDiff) -> None:
    status.changed = sorted(table.paths[fid] for fid in diff.changed)
    status.added = [entry.path for entry in diff.added]
    status.removed = [table.paths[fid] for fid in diff.removed]


__all__ = [
    "IndexStatus", "TreeDiff", "current_entries", "diff_tree", "index_dirs", "index_status", "load_table",
    "read_failed", "rebuild_reason",
]
