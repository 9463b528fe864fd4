"""Is the index fresh? Compare the working tree (walk + stat, no reads) with the index's file table.

Cheap enough to run before every MCP answer on a large repository: one walk with `stat` per
file, no file contents read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from atlas.config import DEFAULT_INDEX_DIRNAME, FORMAT_VERSION, IndexConfig
from atlas.errors import AtlasError
from atlas.index import store
from atlas.index.writer import FileTable
from atlas.records import FileEntry
from atlas.walk import WalkOptions, walk


@dataclass(slots=True)
class IndexStatus:
    """How the index relates to the working tree."""

    root: str
    index_dir: str
    exists: bool
    fresh: bool = False
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


def current_entries(config: IndexConfig) -> dict[str, FileEntry]:
    """The files the next build would index, by path (walk only: stat, no reads)."""
    options = WalkOptions(max_file_bytes=config.max_file_bytes, exclude_dirs=index_dirs(config))
    return {item.path: item for item in walk(config.root, options) if isinstance(item, FileEntry)}


def load_table(generation: Path) -> FileTable:
    """The file table of a generation."""
    return FileTable.from_json((generation / store.FILES).read_bytes())


def index_status(config: IndexConfig) -> IndexStatus:
    """Compare the index of `config` with the working tree."""
    status = IndexStatus(root=str(config.root), index_dir=str(config.index_dir), exists=False)
    generation = store.current_generation(config.index_dir)
    if generation is None or not generation.is_dir():
        status.reason = "no index"
        return status
    try:
        manifest: dict[str, Any] = orjson.loads((generation / store.MANIFEST).read_bytes())
        table = load_table(generation)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as err:
        status.reason = f"the index is damaged ({err})"
        return status
    status.exists = True
    _describe(status, manifest, generation)
    status.reason = rebuild_reason(config, manifest)
    _diff(status, table, current_entries(config))
    status.fresh = not (status.reason or status.changed or status.added or status.removed)
    return status


def rebuild_reason(config: IndexConfig, manifest: dict[str, Any]) -> str:
    """Why the index cannot be updated incrementally ("" when it can)."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"index format {manifest.get('format_version')} differs from {FORMAT_VERSION}"
    if manifest.get("config_hash") != config.index_hash():
        return "index settings changed (size cap, boosts, history options or format)"
    return ""


def _describe(status: IndexStatus, manifest: dict[str, Any], generation: Path) -> None:
    status.files = int(manifest.get("files_indexed", 0))
    status.format_version = manifest.get("format_version")
    status.built_at = manifest.get("created_at")
    status.commit = (manifest.get("signals", {}).get("git") or {}).get("head")
    status.index_bytes = sum(p.stat().st_size for p in generation.rglob("*") if p.is_file())


def _diff(status: IndexStatus, table: FileTable, entries: dict[str, FileEntry]) -> None:
    # Removed files stay in the table as tombstones (path "") until the next full build: skip them.
    indexed = {
        path: (size, mtime)
        for path, size, mtime in zip(table.paths, table.sizes, table.mtimes, strict=True)
        if path
    }
    for path, entry in entries.items():
        known = indexed.get(path)
        if known is None:
            status.added.append(path)
        elif known != (entry.size, entry.mtime_ns):
            status.changed.append(path)
    status.removed = [path for path in indexed if path not in entries]


__all__ = [
    "AtlasError", "IndexStatus", "current_entries", "index_dirs", "index_status", "load_table", "rebuild_reason",
]
