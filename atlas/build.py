"""Index-time conductor: walk → parse pool → tantivy writer (+ signals) → published generation.

`build_index` updates the live generation incrementally when it can (same format and
settings): only new and changed files are parsed, removed ones deleted, git history mined
from the last mined commit. Either way the result is a new generation published atomically,
so a crash at any moment leaves the previous one intact and searchable.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from atlas import __version__
from atlas.config import FORMAT_VERSION, PARSE_VERSION, IndexConfig
from atlas.errors import AtlasError, IndexCorrupt, InputError, removed_while_building, storage_error
from atlas.ignore_stamps import still_recorded
from atlas.index import store
from atlas.index.layout import Segment, plan_rewrites, segment_bytes
from atlas.index.lock import index_lock
from atlas.index.segments import segment_documents
from atlas.index.writer import FileTable, GenerationWriter
from atlas.parse import ParseOptions
from atlas.parse.pool import ParsePool, content_hashes, parse_workers
from atlas.partition import ShardSpec, content_digest
from atlas.progress import Progress, log
from atlas.records import FileEntry, ParsedFile, Skipped, SkipReason, Unchanged
from atlas.signals.attributes import linguist_marks
from atlas.signals.compute import HistoryJob, compute_store, load_history, save_history, start_history
from atlas.signals.store import check_sizes, load_store, write_store
from atlas.status import TreeDiff, diff_tree, read_failed
from atlas.walk import WalkOptions, refuse_root_without_source, walk

MAX_TOMBSTONE_RATIO = 0.25
ReadAgain = tuple[FileEntry, ParsedFile | Skipped | Unchanged]
"""A file whose read failed last time, and what the parser made of it now (`_read_again`)."""
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class IndexReport:
    """What an index run did."""

    root: str
    index_dir: str
    mode: str = "full"
    reason: str = ""
    files_indexed: int = 0
    bytes_indexed: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    rewritten: int = 0
    """Unchanged files indexed again to rewrite the segments an update deleted documents from (`atlas.index.layout`)."""
    deleted_documents: int = 0
    """Deleted documents the index's segments still count in BM25's statistics: 0 unless a segment an update deleted
    from was over `atlas.index.layout.REWRITE_LIMIT_BYTES` to rewrite."""
    skipped: dict[str, int] = field(default_factory=dict)
    parse_errors: int = 0
    symbols: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    index_bytes: int = 0
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    parse_error_examples: list[str] = field(default_factory=list)
    """The first files (5 at most) indexed without their definitions: their grammar failed, hung or crashed."""
    signals: dict[str, dict[str, object]] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    walk_started_ns: int = 0
    shard: dict[str, Any] | None = None
    """For a shard build: which shard (index, count) and its content hash; None otherwise."""
    notes: list[str] = field(default_factory=list)
    """What the files indexed may lack, and why (git could not list the ignored files it tracks), with a hint."""
    ignore_files: dict[str, Any] | None = None
    """The stamps of the ignore files the walk read (`atlas.ignore_stamps`), for the manifest; None when no stamp can
    tell a search that the rules moved (a sparse checkout)."""

    def phase(self, name: str, since: float) -> float:
        """Record that phase `name` ran from `since` until now; returns now."""
        now = time.monotonic()
        self.phases[name] = round(self.phases.get(name, 0.0) + now - since, 4)
        return now


def build_index(
    config: IndexConfig,
    show_progress: bool = True,
    rebuild: bool = False,
    shard: ShardSpec | None = None,
    lock_wait: float = 0.0,
) -> IndexReport:
    """Bring the index of `config.root` up to date (incrementally unless `rebuild`) and publish it.

    Another process updating the index is waited for up to `lock_wait` seconds (then IndexBusy); the update then
    starts from what that process published.

    With `shard`, only that shard's files are indexed, without the repository-wide signals (import
    graph, git history): `atlas.shards.assemble_shards` computes those once over all the shards.

    A disk that refuses the writes (read-only, permissions, full) is an AtlasError saying so; what
    was written is removed and the previous index, if any, stays live.
    """
    if not config.root.is_dir():
        raise InputError(f"{config.root}: not a directory", "pass the repository root with --repo or as PATH")
    refuse_root_without_source(config.root)
    try:
        return _build(config, show_progress, rebuild, shard, lock_wait)
    except (OSError, ValueError) as err:
        problem = storage_error(err, config.index_dir) or removed_while_building(err, config.index_dir)
        if problem is None:
            raise
        raise problem from err


def _build(
    config: IndexConfig, show_progress: bool, rebuild: bool, shard: ShardSpec | None = None, lock_wait: float = 0.0
) -> IndexReport:
    started = time.monotonic()
    report = IndexReport(root=str(config.root), index_dir=str(config.index_dir))
    report.shard = shard.as_dict() if shard else None
    if shard is not None:
        refuse_whole_index(config.index_dir, shard)
    ensured = store.ensure_index_dir(config.index_dir, config.root)
    entries = _walk(config, report)
    report.phase("walk", started)
    workers = parse_workers(config.workers, len(entries))
    # The pool forks before the lock is taken: forked workers would inherit the lock's file
    # descriptor and, outliving a SIGKILLed parent, keep the index locked.
    waits: list[str] = []
    waiting = partial(_say_waiting, lock_wait=lock_wait, show_progress=show_progress, waits=waits)
    with (
        ParsePool(workers, _parse_options(config), show_progress) as pool,
        index_lock(config.index_dir, lock_wait, waiting, expected=ensured),
        store.swap_blamed(config.index_dir),
    ):
        if waits:  # the tree may have changed while another run held the index: index it as it is now
            walked_again = time.monotonic()
            entries = _walk(config, report)
            report.phase("walk", walked_again)
        store.remove_abandoned(config.index_dir)
        previous = None if rebuild else _reusable_generation(config, report)
        if rebuild:
            report.reason = "--rebuild"
        # Threads start only after the pool has forked its workers: forking a threaded parent deadlocks.
        history = load_history(previous.generation) if previous else None
        mined = config if shard is None else replace(config, git_history=False)
        history_job = start_history(mined, history, pool.runner(), show_progress)
        progress = Progress("indexing", show_progress)
        if previous is None:
            generation = _full(config, pool, entries, history_job, report, progress, started)
        else:
            generation = _incremental(config, pool, entries, previous, history_job, report, progress, started)
    report.index_bytes = _dir_size(generation)
    report.seconds = time.monotonic() - started
    return report


def _say_waiting(why: str, lock_wait: float, show_progress: bool, waits: list[str]) -> None:
    waits.append(why)
    log(f"atlas: {why}; waiting for it (at most {lock_wait:.0f} s)", show_progress)


@dataclass(frozen=True, slots=True)
class _Previous:
    """The live generation an update starts from, with its manifest and file table read once."""

    generation: Path
    manifest: dict[str, Any]
    table: FileTable


def _reusable_generation(config: IndexConfig, report: IndexReport) -> _Previous | None:
    """The live generation if an update can start from it; else None, with the reason in `report`.

    The generation is opened the way a search opens it (tantivy index, side store) and its
    document count checked against its file table, so a damaged index gets a full build.
    """
    from atlas.index.reader import check_file_table, manifest_problem
    from atlas.status import rebuild_reason

    generation = store.current_generation(config.index_dir)
    if generation is None:
        damaged = (config.index_dir / store.CURRENT).exists()
        report.reason = "CURRENT names no generation; rebuilt" if damaged else "no index yet"
        return None
    if not store.is_generation_dir(generation):
        report.reason = f"CURRENT names {generation.name}, which is missing or a link; rebuilt"
        return None
    try:
        manifest = orjson.loads(store.read_index_file(generation / store.MANIFEST))
        if not isinstance(manifest, dict):
            raise IndexCorrupt(f"{store.MANIFEST} is not a JSON object")
        if problem := manifest_problem(manifest):
            raise IndexCorrupt(f"{store.MANIFEST} is malformed ({problem})")
        # An index of another format or other settings is rebuilt for that reason, before it is read.
        report.reason = rebuild_reason(config, manifest) or _other_shard(manifest, report)
        if report.reason:
            return None
        check_file_table(generation, manifest)  # as every search checks it
        table = FileTable.from_json(store.read_index_file(generation / store.FILES))
        _check_readable(generation, table)
    except (AtlasError, OSError, ValueError, KeyError, TypeError) as err:
        detail = err.message if isinstance(err, AtlasError) else f"{type(err).__name__}: {err}"
        report.reason = f"the previous index is damaged ({' '.join(detail.split())[:200]}); rebuilt"
        return None
    return _Previous(generation, manifest, table)


def refuse_whole_index(
    index_dir: Path,
    shard: ShardSpec,
    doing: str = "building",
    hint: str = "give --out a directory of its own for the shard",
) -> None:
    """InputError (with `hint`) if `index_dir` holds a whole index, which building (or importing) a shard there would
    replace: `--out .atlas` by mistake would otherwise cost the repository its index. A shard's directory may hold
    another shard (it is rebuilt), and a damaged or unreadable index is left to the build's own checks."""
    generation = store.current_generation(index_dir)
    if generation is None:
        return
    try:
        manifest = orjson.loads(store.read_index_file(generation / store.MANIFEST))
    except (AtlasError, OSError, ValueError):
        return
    if isinstance(manifest, dict) and not manifest.get("shard"):
        raise InputError(f"{index_dir} holds a whole index, which {doing} shard {shard} there would replace", hint)


def _other_shard(manifest: dict[str, Any], report: IndexReport) -> str:
    """Why the index holds other files than this build wants (another shard, or not a shard); "" if not."""
    held = manifest.get("shard")
    held = {"index": held.get("index"), "count": held.get("count")} if isinstance(held, dict) else None
    wanted = _shard(report)
    if held == (wanted.as_dict() if wanted else None):
        return ""
    if wanted is None:
        return "the index holds one shard; rebuilt whole"
    what = f"shard {held['index']}/{held['count']}" if held else "no shard"
    return f"the index holds {what}, not shard {wanted}; rebuilt"


def _shard(report: IndexReport) -> ShardSpec | None:
    return ShardSpec(report.shard["index"], report.shard["count"]) if report.shard else None


def _check_readable(generation: Path, table: FileTable) -> None:
    """Raise IndexCorrupt (or the reader's own error) unless tantivy and the side store open and agree (a
    generation on a read-only disk opens as a search opens it)."""
    from atlas.index.reader import open_tantivy

    documents = open_tantivy(generation / store.TANTIVY_DIR).searcher().num_docs
    if documents != table.live:
        raise IndexCorrupt(f"tantivy holds {documents} documents for {table.live} files")
    side = load_store(generation)
    if side is None or side.params.get("files") != table.live or side.paths != table.paths:
        raise IndexCorrupt("the side store is missing or covers other files")
    check_sizes(generation, side)


def _full(
    config: IndexConfig,
    pool: ParsePool,
    entries: list[FileEntry],
    history_job: HistoryJob,
    report: IndexReport,
    progress: Progress,
    started: float,
) -> Path:
    shard = _shard(report)
    writer = GenerationWriter(config.index_dir, config.memory_bytes, doc_id=shard.global_fid if shard else None)
    try:
        since = time.monotonic()
        by_path = {entry.path: entry for entry in entries}
        # A whole index is cut into segments an update can afford to rewrite; a shard stays one segment of the
        # assembled index (its own update rewrites it whole, within the limit).
        cut = 0 if shard else segment_bytes(sum(entry.size for entry in entries))
        held = 0
        for item in _parsed(pool.parse(entries), progress, len(entries)):
            if isinstance(item, Skipped):
                writer.table.skip(by_path[item.path], item)
                continue
            writer.add(item)
            held += item.size
            if cut and held >= cut:
                writer.end_segment()
                held = 0
        report.added = writer.table.live
        report.phase("parse_and_index", since)
        return _finish(config, writer, history_job, report, started, None, None)
    except BaseException:
        writer.abandon()
        raise


def _incremental(
    config: IndexConfig,
    pool: ParsePool,
    entries: list[FileEntry],
    previous: _Previous,
    history_job: HistoryJob,
    report: IndexReport,
    progress: Progress,
    started: float,
) -> Path:
    table = previous.table
    # A restored cache on a read-only disk cannot record a fresh checkout's new mtimes: hash them instead, so an
    # unchanged tree is reported unchanged rather than failing to write a generation that would change nothing.
    read_only = not store.writable(config.index_dir)
    diff = diff_tree(table, entries, previous.manifest.get("walk_started_ns", 0), hash_moved=read_only)
    read_again = _read_again(pool, table, entries, diff)
    history = history_job.wait()
    present = {entry.path for entry in entries}
    skips_gone = any(path not in present for path in table.skipped)  # else the summary counts them on
    skips_moved = skips_gone or _skips_recounted(report, table, previous.manifest)
    history_kept = history is None or history_job.mode == ["unchanged"]
    # Stamps that moved (`info/exclude` edited, a cache restored into a fresh clone, an index from before stamps) are
    # written anew, or every search would check its hits in full until some file changed; but for a read-only index,
    # which answers right with them (in full) and could not be written.
    stamps_kept = read_only or still_recorded(previous.manifest.get("ignore_files"), report.ignore_files)
    nothing_moved = not diff and not read_again and not skips_moved and history_kept and stamps_kept
    if nothing_moved and not _marks_moved(config, previous):
        report.mode = "unchanged"
        _signals_held(report, previous.manifest, history_job)
        report.deleted_documents = sum(n for _, n in segment_documents(previous.generation / store.TANTIVY_DIR))
        if report.shard:
            report.shard = previous.manifest.get("shard", report.shard)
        _summarise(report, table)
        _count_parse_skips(report, table)
        return previous.generation
    tombstones = sum(1 for p in table.paths if not p) + len(diff.removed)
    if tombstones > MAX_TOMBSTONE_RATIO * max(1, len(table.paths)):
        report.reason = f"{tombstones} removed files since the last full build; rebuilt to reclaim their ids"
        return _full(config, pool, entries, history_job, report, progress, started)
    report.mode = "incremental"
    shard = _shard(report)
    writer = GenerationWriter(
        config.index_dir, config.memory_bytes, previous.generation, table, shard.global_fid if shard else None
    )
    try:
        since = time.monotonic()
        writer.table.skipped = {path: seen for path, seen in writer.table.skipped.items() if path in present}
        segments = writer.segments()
        edited = _apply(writer, pool, diff, report, progress, read_again)
        since = report.phase("parse_and_index", since)
        _rewrite(writer, pool, entries, segments, edited, report)
        report.phase("rewrite", since)
        reusable_edges = edited if not diff.added and not read_again and not diff.removed else None
        store_before = load_store(previous.generation)
        return _finish(config, writer, history_job, report, started, store_before, reusable_edges)
    except BaseException:
        writer.abandon()
        raise


def _skips_recounted(report: IndexReport, table: FileTable, manifest: dict[str, Any]) -> bool:
    """Whether the files left out now are counted otherwise than the live manifest counts them. The walk's own skips
    (a file over the size cap, a link out of the tree) are in no file table: one added or gone changes no file the
    table holds, and the live generation was kept with its old counts. `report` holds this run's walk skips."""
    counts = Counter(report.skipped)
    counts.update(reason for _, _, reason, _, _ in table.skipped.values() if reason)
    return dict(counts) != manifest.get("skipped")


def _marks_moved(config: IndexConfig, previous: _Previous) -> bool:
    """Whether the repository's linguist attributes now mark the files of the live generation otherwise than its
    side store holds (see `atlas.signals.compute.marks_moved`)."""
    from atlas.signals.compute import marks_moved

    table = previous.table
    return marks_moved(load_store(previous.generation), table, linguist_marks(config.root, table.paths))


def _signals_held(report: IndexReport, manifest: dict[str, Any], history_job: HistoryJob) -> None:
    """Report the signals of the live generation, which a run with nothing to do keeps: its summary says what a
    rebuild's would (the git line, the graph), not nothing."""
    held = manifest.get("signals")
    if not isinstance(held, dict):
        return
    report.signals = {key: dict(value) for key, value in held.items() if isinstance(value, dict)}
    if history_job.mode and "git" in report.signals:
        report.signals["git"]["mined"] = history_job.mode[0]


def _read_again(pool: ParsePool, table: FileTable, entries: list[FileEntry], diff: TreeDiff) -> list[ReadAgain]:
    """The files whose read failed last time and whose stat has not moved since (`diff` holds those whose stat
    moved), read again, with what the parser makes of each now; those whose read fails as before are left out.

    A read fails for reasons a file's stat does not show (another user's run, a group joined, a passing disk error),
    and a rebuild reads the file: so does every update. One that still fails changes nothing, so an update with
    nothing else to do keeps the live generation."""
    moved = {entry.path for entry in diff.added}
    due = {e.path: e for e in entries if e.path not in moved and read_failed(table.skipped.get(e.path))}
    if not due:
        return []
    results = pool.parse(list(due.values()))
    return [(due[item.path], item) for item in results if not (isinstance(item, Skipped) and item.retry)]


def _apply(
    writer: GenerationWriter,
    pool: ParsePool,
    diff: TreeDiff,
    report: IndexReport,
    progress: Progress,
    read_again: list[ReadAgain],
) -> set[int]:
    """Apply `diff`, and the files read again (`_read_again`), to the writer; returns the ids whose contents really
    changed."""
    table = writer.table
    fid_of = {entry.path: fid for fid, entry in diff.changed.items()}
    work = [*(replace(e, known_hash=table.hashes[fid]) for fid, e in diff.changed.items()), *diff.added]
    entry_of = {entry.path: entry for entry in [*work, *(entry for entry, _ in read_again)]}
    total = len(work) + len(read_again)
    edited: set[int] = set()
    for item in chain(pool.parse(work), (item for _, item in read_again)):
        fid = fid_of.get(item.path)
        table.skipped.pop(item.path, None)
        if isinstance(item, Unchanged):  # its stamp moved, the size the walk found too (an older table's, a read's)
            table.mtimes[fid], table.ctimes[fid] = item.mtime_ns, item.ctime_ns  # type: ignore[index]
            table.sizes[fid] = entry_of[item.path].size  # type: ignore[index]
        elif isinstance(item, Skipped):
            table.skip(entry_of[item.path], item)
            if fid is not None:
                writer.remove(fid)
                report.removed += 1
        elif fid is None:
            writer.add(item)
            report.added += 1
        else:
            writer.replace(fid, item)
            edited.add(fid)
            report.changed += 1
        progress.update(report.added + report.changed, total, "changed files")
    for fid in diff.removed:
        writer.remove(fid)
        report.removed += 1
    progress.done()
    return edited


def _rewrite(
    writer: GenerationWriter,
    pool: ParsePool,
    entries: list[FileEntry],
    segments: list[Segment],
    edited: set[int],
    report: IndexReport,
) -> None:
    """Index again the other files of each segment `writer` deleted documents from (within the limit), so that the
    old segment goes whole and BM25 counts no deleted document (`atlas.index.layout`). One commit per segment: the
    segments keep their sizes. A file found edited since the walk joins `edited`."""
    table = writer.table
    by_path = {entry.path: entry for entry in entries}
    for group in plan_rewrites(segments, table.sizes, writer.dropped, writer.pending > 0):
        fid_of = {table.paths[fid]: fid for fid in group}
        for item in pool.parse([by_path[path] for path in fid_of if path in by_path]):
            fid = fid_of[item.path]
            if isinstance(item, Skipped):
                table.skip(by_path[item.path], item)
                writer.remove(fid)
                report.removed += 1
            elif isinstance(item, ParsedFile):
                if item.content_hash == table.hashes[fid]:
                    report.rewritten += 1
                else:  # edited since the walk
                    edited.add(fid)
                    report.changed += 1
                writer.replace(fid, item)
        writer.end_segment()


def _finish(
    config: IndexConfig,
    writer: GenerationWriter,
    history_job: HistoryJob,
    report: IndexReport,
    started: float,
    previous_store: object,
    edited: set[int] | None,
) -> Path:
    since = time.monotonic()
    history = history_job.wait()
    since = report.phase("git_wait", since)
    graph = _shard(report) is None  # a shard's imports resolve only against all the shards: at assemble
    marks = linguist_marks(config.root, writer.table.paths)
    side = compute_store(writer.table, history, previous_store, edited, graph, marks)  # type: ignore[arg-type]
    store.refuse_replaced(config.index_dir)  # the side store is written by path, as tantivy writes
    write_store(writer.generation_dir, side)
    save_history(writer.generation_dir, history)
    since = report.phase("signals", since)
    report.signals = {key: side.params[key] for key in ("git", "graph") if key in side.params}
    if report.shard:
        report.shard = {**report.shard, "content_hash": _content_hash(config, writer.table)}
    if history_job.mode:
        report.signals["git"] = {**report.signals["git"], "mined": history_job.mode[0]}
        report.phases["git_mining"] = round(history_job.seconds, 4)
    _summarise(report, writer.table)
    _count_parse_skips(report, writer.table)
    report.seconds = time.monotonic() - started
    generation = writer.finish(_manifest(config, report))
    report.deleted_documents = writer.deleted_documents
    report.phase("commit", since)
    return generation


def _content_hash(config: IndexConfig, table: FileTable) -> str:
    """The shard's key by the contents of its files: those indexed (by their recorded hash) and those the
    parser left out (hashed in worker processes, up to the size cap, as `atlas.artifacts.tree_digest` hashes them).
    `atlas.shards.shard_cache_key` computes the same from the tree."""
    indexed = [(path, table.hashes[fid]) for fid, path in enumerate(table.paths) if path]
    root = str(config.root)
    left_out = [FileEntry(path, os.path.join(root, path), 0, 0, root) for path in table.skipped]
    hashes, _ = content_hashes(left_out, config.max_file_bytes)  # one whose read does not return: UNREADABLE
    return content_digest(indexed + list(hashes.items()))


def _summarise(report: IndexReport, table: FileTable) -> None:
    """Whole-index totals from the file table (not just what this run parsed); the files with parse errors named in
    path order."""
    live = [fid for fid, path in enumerate(table.paths) if path]
    report.files_indexed = len(live)
    report.bytes_indexed = sum(table.sizes[fid] for fid in live)
    report.symbols = sum(table.symbols[fid] for fid in live)
    report.languages = dict(Counter(table.languages[fid] for fid in live).most_common())
    failed = sorted(table.paths[fid] for fid in live if table.errors[fid])
    report.parse_errors, report.parse_error_examples = len(failed), failed[:5]


def _parse_options(config: IndexConfig) -> ParseOptions:
    return ParseOptions(max_file_bytes=config.max_file_bytes, max_line_length=config.max_line_length)


def _walk(config: IndexConfig, report: IndexReport) -> list[FileEntry]:
    """The files to index, with what the walk skipped and noted counted in `report` (a walk again replaces them)."""
    from atlas.status import index_dirs

    report.walk_started_ns = time.time_ns()
    report.skipped, report.skipped_examples, report.notes = {}, {}, []
    options = WalkOptions(max_file_bytes=config.max_file_bytes, exclude_dirs=index_dirs(config))
    entries: list[FileEntry] = []
    shard = _shard(report)
    ignore_files: dict[str, Any] = {}
    for item in walk(config.root, options, report.notes, ignore_files):
        if shard is not None and not shard.holds(item.path):
            continue
        if isinstance(item, Skipped):
            _count_skip(report, item)
        else:
            entries.append(item)
    report.ignore_files = ignore_files or None
    for note in report.notes:
        _log.warning("atlas: note: %s", note)
    return entries


def _count_skip(report: IndexReport, skipped: Skipped) -> None:
    reason = str(skipped.reason)
    report.skipped[reason] = report.skipped.get(reason, 0) + 1
    examples = report.skipped_examples.setdefault(reason, [])
    if len(examples) < 5:
        examples.append(skipped.path)


def _count_parse_skips(report: IndexReport, table: FileTable) -> None:
    """Count the files the parser left out, this run or an earlier one (the table keeps their reasons), in path order:
    the table holds them in the order they were met (an update's after the earlier runs', a pool's as its workers
    finished), so the summary's first five examples of a reason were not a rebuild's."""
    for path, (_, _, reason, _, _) in sorted(table.skipped.items()):
        if reason:
            _count_skip(report, Skipped(path, SkipReason(reason)))


def _parsed(
    results: Iterable[ParsedFile | Skipped | Unchanged], progress: Progress, total: int
) -> Iterable[ParsedFile | Skipped]:
    done_bytes = 0
    for done, item in enumerate(results, 1):
        if isinstance(item, Skipped):
            yield item
        elif isinstance(item, ParsedFile):
            done_bytes += item.size
            yield item
        progress.update(done, total, f"files, {done_bytes / 1e6:.0f} MB")
    progress.done()


def _manifest(config: IndexConfig, report: IndexReport) -> dict[str, object]:
    return {
        "format_version": FORMAT_VERSION,
        "parse_version": PARSE_VERSION,
        "atlas_version": __version__,
        "config_hash": config.index_hash(),
        "settings": config.settings(),
        "settings_file": config.file_settings,
        "boosts": config.boosts.as_dict(),
        "created_at": int(time.time()),
        "mode": report.mode,
        "files_indexed": report.files_indexed,
        "bytes_indexed": report.bytes_indexed,
        "symbols": report.symbols,
        "parse_errors": report.parse_errors,
        "skipped": report.skipped,
        "languages": report.languages,
        "build_seconds": round(report.seconds, 3),
        "walk_started_ns": report.walk_started_ns,
        "signals": report.signals,
        **({"shard": report.shard} if report.shard else {}),
        **({"ignore_files": report.ignore_files} if report.ignore_files is not None else {}),
    }


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
