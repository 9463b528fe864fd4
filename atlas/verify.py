"""`atlas verify`: check an index against its manifest, the checksums of its tantivy segments and side store,
and the tree.

Every problem becomes one line of a report; nothing here raises for a damaged index. A missing one
(no CURRENT file) is `IndexMissing`, as for `atlas status`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from atlas.config import IndexConfig
from atlas.errors import AtlasError, IndexCorrupt, IndexMissing, is_native_panic
from atlas.index import store
from atlas.index.writer import FileTable
from atlas.safe_read import quoted_value
from atlas.signals.store import PARAMS, file_digest, load_store, params_problem, size_problem

MAX_LISTED = 20


@dataclass(slots=True)
class VerifyReport:
    """Problems found, split by whether the index is damaged or only out of date."""

    index_dir: str
    generation: str = ""
    damaged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    checked_files: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is off."""
        return not (self.damaged or self.stale)


def verify_index(config: IndexConfig) -> VerifyReport:
    """Check the live generation of `config`'s index; see VerifyReport."""
    report = VerifyReport(index_dir=str(config.index_dir))
    store.refuse_unreadable(config.index_dir)
    generation = store.current_generation(config.index_dir)
    if not (config.index_dir / store.CURRENT).exists():
        if orphans := store.generations_without_current(config.index_dir):
            report.damaged.append(store.missing_current(orphans))
            return report
        raise IndexMissing(f"{config.index_dir}: no index")
    if generation is None or not store.is_generation_dir(generation):
        report.damaged.append("no live generation (CURRENT names no generation directory)")
        return report
    report.generation = generation.name
    store.refuse_unreadable_generation(generation)
    checked = _check_generation(generation, report)
    if checked is not None:
        _check_tree(config, *checked, report)
    return report


def generation_damage(generation: Path) -> list[str]:
    """What `atlas verify` finds damaged in the generation directory `generation`, the tree aside: an import
    checks an archive's index with it before publishing it."""
    report = VerifyReport(index_dir=str(generation.parent))
    _check_generation(generation, report)
    return report.damaged


def refuse_damaged(generation: Path, what: str, hint: str | None = None) -> None:
    """IndexCorrupt saying "`what` is damaged" and the first problem when `generation_damage` finds any: export and
    import take no index that `atlas verify` calls damaged."""
    damage = generation_damage(generation)
    if damage:
        more = f" (and {len(damage) - 1} more problem{'s' if len(damage) > 2 else ''})" if len(damage) > 1 else ""
        raise IndexCorrupt(f"{what} is damaged: {damage[0]}{more}", hint)


def _check_generation(generation: Path, report: VerifyReport) -> tuple[FileTable, dict[str, Any]] | None:
    """The generation's own parts against each other; its file table and manifest when those could be read."""
    checked = _check_files_table(generation, report)
    if checked is not None:
        _check_tantivy(generation, checked[0], report)
        _check_side_store(generation, checked[0], report)
        _check_history(generation, checked[1], report)
    return checked


def _check_files_table(generation: Path, report: VerifyReport) -> tuple[FileTable, dict[str, Any]] | None:
    from atlas.index.reader import check_file_table, read_manifest

    try:
        manifest = read_manifest(generation)
        check_file_table(generation, manifest)
        return FileTable.from_json(store.read_index_file(generation / store.FILES)), manifest
    except AtlasError as err:
        report.damaged.append(err.message)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as err:
        report.damaged.append(f"{store.FILES}: unreadable ({type(err).__name__}: {err})")
    return None


def _check_tantivy(generation: Path, table: FileTable, report: VerifyReport) -> None:
    import tantivy

    from atlas.index.reader import TantivyDamage, open_tantivy

    try:
        index = open_tantivy(generation / store.TANTIVY_DIR)
        searcher, schema = index.searcher(), index.schema
        live = [path for path in table.paths if path]
        if searcher.num_docs != len(live):
            report.damaged.append(f"tantivy holds {searcher.num_docs} documents for {len(live)} files")
        # doc_freq would count deleted documents too; a counting search sees only live ones.
        with TantivyDamage(generation, reads=False):  # a panic in tantivy: damage it does not check for
            missing = [
                path for path in live
                if searcher.search(tantivy.Query.term_query(schema, "path", path), 1, count=True).count != 1
            ]  # fmt: skip
        report.checked_files = len(live)
    except (IndexCorrupt, ValueError, OSError) as err:
        cause = err.__cause__ or err
        said = f"it panicked: {cause}" if is_native_panic(cause) else str(cause)  # Rust's own lines are off stderr
        report.damaged.append(f"tantivy cannot read the index ({said})")
        return
    _listed(report.damaged, "indexed file without exactly one document", missing)
    _check_segment_checksums(generation / store.TANTIVY_DIR, report)


def _check_segment_checksums(directory: Path, report: VerifyReport) -> None:
    """Every segment file present and matching its checksum: damage that keeps a file's size and its structure
    (bit rot, a bad copy) is found only here; a search would serve it, or fail on the damaged part."""
    from atlas.index.segments import segment_faults

    _listed(report.damaged, "tantivy segment files missing or failing their checksum", segment_faults(directory))


def _is_plain_name(name: object) -> bool:
    """Whether `name` names a file directly inside a directory (no separator, not `.` or `..`)."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\0" not in name


def _check_side_store(generation: Path, table: FileTable, report: VerifyReport) -> None:
    directory = generation / store.SIGNALS_DIR
    try:
        params = orjson.loads(store.read_index_file(directory / PARAMS))
    except (OSError, orjson.JSONDecodeError) as err:
        report.damaged.append(f"side store parameters unreadable ({err})")
        return
    if problem := params_problem(params) if isinstance(params, dict) else "not an object":
        report.damaged.append(f"side store parameters malformed ({problem})")
        return
    sizes = params.get("sizes") if isinstance(params.get("sizes"), dict) else {}
    for name, expected in params.get("checksums", {}).items():
        if not _is_plain_name(name):
            report.damaged.append(f"side store lists {quoted_value(name)}, which is not a file of its own directory")
            continue
        resized = _resized(directory / name, sizes.get(name))
        if resized:
            report.damaged.append(f"side store file {name} {resized}")
            continue
        try:
            actual = file_digest(directory / name)
        except FileNotFoundError:
            report.damaged.append(f"side store file {name} is missing")
            continue
        except OSError as err:
            report.damaged.append(f"side store file {name} is unreadable ({err})")
            continue
        if actual != expected:
            report.damaged.append(f"side store file {name} fails its checksum")
    if params.get("files") != table.live:
        report.damaged.append(f"side store covers {params.get('files')} files, the index {table.live}")
    _check_side_rows(generation, table, report)


def _resized(path: Path, written: object) -> str:
    """How the regular file `path` differs in size from the `written` bytes its store records ("" when it does not,
    or when the store records none: one written before it did): told from a `stat`, before the file is hashed, which
    took minutes for an array grown to a sparse 64 GiB. Anything but a regular file is left to the hashing's report."""
    try:
        status = os.lstat(path)
    except OSError:
        return ""
    return size_problem(status.st_size, written) if stat.S_ISREG(status.st_mode) else ""


def _check_history(generation: Path, manifest: dict[str, Any], report: VerifyReport) -> None:
    """The mined history an update starts from: absent is fine when none was written (no git, or none mined); gone,
    resized (`store.history_problem`, as `status` checks it) or unreadable is damage."""
    from atlas.signals.compute import HISTORY_FILE, load_history

    again = "the next `atlas index` mines the history again"
    if problem := store.history_problem(generation, manifest):
        report.damaged.append(f"{problem} ({again})")
    elif os.path.lexists(generation / HISTORY_FILE) and load_history(generation) is None:
        report.damaged.append(f"{HISTORY_FILE} is unreadable ({again})")


def _check_side_rows(generation: Path, table: FileTable, report: VerifyReport) -> None:
    """The side store's rows must be the file table's ids: same paths, one row per file in each array."""
    try:
        side = load_store(generation)
    except AtlasError as err:
        report.damaged.append(err.message)
        return
    if side is None:
        return
    if len(side.paths) != len(table.paths):
        report.damaged.append(f"side store has {len(side.paths)} rows, the file table {len(table.paths)}")
        return
    differ = [table.paths[fid] or f"#{fid}" for fid, path in enumerate(side.paths) if path != table.paths[fid]]
    _listed(report.damaged, "side store rows naming another file than the file table", differ)


def _check_tree(config: IndexConfig, table: FileTable, manifest: dict[str, Any], report: VerifyReport) -> None:
    from atlas.status import diff_tree, entries_held

    diff = diff_tree(table, entries_held(config, manifest), hash_moved=True, try_failed_reads=True)
    _listed(report.stale, "changed since indexing", sorted(table.paths[fid] for fid in diff.changed))
    _listed(report.stale, "missing from the index", [entry.path for entry in diff.added])
    _listed(report.stale, "indexed but gone from the tree", [table.paths[fid] for fid in diff.removed])


def _listed(out: list[str], what: str, paths: list[str]) -> None:
    if paths:
        more = f" (+{len(paths) - MAX_LISTED} more)" if len(paths) > MAX_LISTED else ""
        out.append(f"{len(paths)} {what}: {', '.join(paths[:MAX_LISTED])}{more}")
