"""Index-time conductor: walk → parse pool → tantivy writer (+ signals) → published generation."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from atlas import __version__
from atlas.config import FORMAT_VERSION, IndexConfig
from atlas.errors import InputError
from atlas.index.lock import index_lock
from atlas.index.writer import GenerationWriter
from atlas.parse import ParseOptions
from atlas.parse.pool import ParsePool
from atlas.progress import Progress
from atlas.records import FileEntry, ParsedFile, Skipped
from atlas.signals.compute import HistoryJob, compute_store, start_history
from atlas.signals.store import write_store
from atlas.walk import WalkOptions, walk


@dataclass(slots=True)
class IndexReport:
    """What an index run did."""

    root: str
    index_dir: str
    files_indexed: int = 0
    bytes_indexed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    parse_errors: int = 0
    symbols: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    index_bytes: int = 0
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    signals: dict[str, dict[str, object]] = field(default_factory=dict)


def build_index(config: IndexConfig, show_progress: bool = True) -> IndexReport:
    """Build a fresh generation of the index for `config.root` and publish it."""
    root = config.root
    if not root.is_dir():
        raise InputError(f"{root}: not a directory", "pass the repository root with --repo or as PATH")
    started = time.monotonic()
    report = IndexReport(root=str(root), index_dir=str(config.index_dir))
    config.index_dir.mkdir(parents=True, exist_ok=True)
    with index_lock(config.index_dir), ParsePool(config.workers, _parse_options(config)) as pool:
        # Threads start only after the pool has forked its workers: forking a threaded parent deadlocks.
        history_job = start_history(config)
        entries = _walk(config, report)
        generation = _write_generation(config, pool, entries, history_job, report, show_progress, started)
    report.index_bytes = _dir_size(generation)
    report.seconds = time.monotonic() - started
    return report


def _write_generation(
    config: IndexConfig,
    pool: ParsePool,
    entries: list[FileEntry],
    history_job: HistoryJob,
    report: IndexReport,
    show_progress: bool,
    started: float,
) -> Path:
    writer = GenerationWriter(config.index_dir, config.memory_bytes)
    try:
        progress = Progress("indexing", show_progress)
        _ingest(pool.parse(entries), writer, report, progress, len(entries))
        _write_signals(writer, history_job, report)
        report.seconds = time.monotonic() - started
        return writer.finish(_manifest(config, report))
    except BaseException:
        writer.abandon()
        raise


def _write_signals(writer: GenerationWriter, history_job: HistoryJob, report: IndexReport) -> None:
    store = compute_store(writer.table, history_job.wait())
    write_store(writer.generation_dir, store)
    report.signals = {key: store.params[key] for key in ("git", "graph")}


def _parse_options(config: IndexConfig) -> ParseOptions:
    return ParseOptions(max_file_bytes=config.max_file_bytes, max_line_length=config.max_line_length)


def _walk(config: IndexConfig, report: IndexReport) -> list[FileEntry]:
    options = WalkOptions(max_file_bytes=config.max_file_bytes, exclude_dirs=(config.index_dir,))
    entries: list[FileEntry] = []
    for item in walk(config.root, options):
        if isinstance(item, Skipped):
            _count_skip(report, item)
        else:
            entries.append(item)
    return entries


def _count_skip(report: IndexReport, skipped: Skipped) -> None:
    reason = str(skipped.reason)
    report.skipped[reason] = report.skipped.get(reason, 0) + 1
    examples = report.skipped_examples.setdefault(reason, [])
    if len(examples) < 5:
        examples.append(skipped.path)


def _ingest(
    results: Iterable[ParsedFile | Skipped],
    writer: GenerationWriter,
    report: IndexReport,
    progress: Progress,
    total: int,
) -> None:
    languages: Counter[str] = Counter()
    for done, item in enumerate(results, 1):
        if isinstance(item, Skipped):
            _count_skip(report, item)
        else:
            writer.add(item)
            report.files_indexed += 1
            report.bytes_indexed += item.size
            report.symbols += len(item.symbols)
            report.parse_errors += bool(item.parse_error)
            languages[item.language] += 1
        progress.update(done, total, f"files, {report.bytes_indexed / 1e6:.0f} MB")
    progress.done()
    report.languages = dict(languages.most_common())


def _manifest(config: IndexConfig, report: IndexReport) -> dict[str, object]:
    return {
        "format_version": FORMAT_VERSION,
        "atlas_version": __version__,
        "config_hash": config.index_hash(),
        "boosts": config.boosts.as_dict(),
        "created_at": int(time.time()),
        "files_indexed": report.files_indexed,
        "bytes_indexed": report.bytes_indexed,
        "symbols": report.symbols,
        "parse_errors": report.parse_errors,
        "skipped": report.skipped,
        "languages": report.languages,
        "build_seconds": round(report.seconds, 3),
        "signals": report.signals,
    }


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
