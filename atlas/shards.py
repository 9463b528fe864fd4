"""Sharded indexes: build shards anywhere, assemble them into one index that searches like a single one.

A shard is an ordinary index directory (generations, CURRENT, lock) holding the files
`atlas.partition.shard_of` gives it, built by `build_shard` in any process, machine or container,
without the repository-wide signals. `assemble_shards` puts every shard's tantivy segments into one
new generation (hard links: segments are immutable), so tantivy computes BM25 statistics over all
of them, as over a single index; it joins the shards' file tables (ids already interleave, see
`ShardSpec.global_fid`) and computes the import graph, PageRank and git signals once, over all the
files in walk order, exactly as a single build does. Shard builds run through a `ShardExecutor`:
`LocalExecutor` (processes on this machine) or one `executor_for` finds by name.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from atlas.build import IndexReport, _manifest, _summarise, build_index, refuse_whole_index
from atlas.config import FORMAT_VERSION, PARSE_VERSION, IndexConfig, whole_of
from atlas.errors import AtlasError, IndexCorrupt, InputError, UsageError
from atlas.index import store
from atlas.index.lock import index_lock
from atlas.index.segments import segment_faults
from atlas.index.writer import FileTable
from atlas.partition import MAX_SHARDS, ShardSpec, listed_shard_count, shard_of
from atlas.progress import log
from atlas.safe_read import Refused, in_tree, quoted_value
from atlas.signals.compute import HistoryJob

__all__ = [
    "ShardExecutor", "ShardResult", "ShardTask", "assemble_shards", "build_shard",
    "executor_for", "index_sharded", "shard_cache_key", "shard_count", "shard_of",
]  # fmt: skip

SHARDS_DIR = store.SHARDS_DIR
"""Where `atlas index --shards N` keeps its shards, inside the index directory."""
TARGET_SHARD_BYTES = 128 << 20
"""`--shards auto` makes shards of about this many bytes of source (the kernel's 0.95 GB: 8 shards)."""


@dataclass(slots=True)
class ShardTask:
    """Build shard `index` of `count` of the tree at `root` into the directory `out` (plain data: picklable)."""

    root: str
    index: int
    count: int
    out: str
    settings: dict[str, Any]


@dataclass(slots=True)
class ShardResult:
    """What a shard build produced."""

    index: int
    count: int
    out: str
    files: int
    bytes: int
    content_hash: str
    seconds: float
    mode: str = "full"


class ShardExecutor(Protocol):
    """Runs shard builds somewhere and returns their results in the order of the tasks."""

    name: str

    def run(self, tasks: Sequence[ShardTask]) -> list[ShardResult]:
        """Build every task's shard; raise an AtlasError naming the shard when one fails."""
        ...


def task_settings(config: IndexConfig, rebuild: bool = False) -> dict[str, Any]:
    """The settings a shard build needs to index as `config` does (plain JSON data)."""
    return {
        **config.settings(),
        "jobs": config.jobs,
        "memory_bytes": config.memory_bytes,
        "history_backend": config.history_backend,
        "boosts": config.boosts.as_dict(),
        "rebuild": rebuild,
    }


def task_config(task: ShardTask) -> IndexConfig:
    """The IndexConfig of a shard build."""
    from atlas.config import FieldBoosts

    settings = {key: value for key, value in task.settings.items() if key != "rebuild"}
    settings["boosts"] = FieldBoosts(**settings.get("boosts", {}))
    return IndexConfig(root=Path(task.root), index_dir=Path(task.out), **settings)


def build_shard(task: ShardTask, show_progress: bool = False) -> ShardResult:
    """Build (or bring up to date) one shard: parse, tantivy index and file table of its files only.

    Runs in any process or machine that sees the tree at `task.root`. Killed, it publishes nothing.
    """
    spec = ShardSpec(task.index, task.count)
    config = task_config(task)
    report = build_index(config, show_progress, bool(task.settings.get("rebuild")), shard=spec)
    return ShardResult(
        index=task.index, count=task.count, out=task.out, files=report.files_indexed, bytes=report.bytes_indexed,
        content_hash=(report.shard or {}).get("content_hash", ""), seconds=round(report.seconds, 3), mode=report.mode,
    )  # fmt: skip


def executor_for(name: str, **options: Any) -> ShardExecutor:
    """The executor called `name` ("local", or "ray" when `atlas[ray]` is installed), made with `options`."""
    if name == "local":
        from atlas.executors import LocalExecutor

        return LocalExecutor(**options)
    if name == "ray":
        try:
            from atlas.executor_ray import RayExecutor  # type: ignore[import-not-found,unused-ignore]
        except ImportError as err:
            raise AtlasError("the ray executor is not available here", "pip install 'atlas[ray]'") from err
        return RayExecutor(**options)  # type: ignore[no-any-return,unused-ignore]
    raise UsageError(f"--executor {quoted_value(name)} is not an executor", "use local or ray")


def __getattr__(name: str) -> Any:
    if name == "LocalExecutor":
        from atlas.executors import LocalExecutor

        return LocalExecutor
    raise AttributeError(name)


# --- the sharded build of one repository -----------------------------------------------------------


def shard_count(config: IndexConfig, requested: str | int | None) -> int:
    """How many shards: `requested` (a number or "auto", sized by bytes), else what the index has."""
    if requested is None:
        return listed_shard_count(store.live_manifest(config.index_dir)) or 1
    if requested == "auto":
        from atlas.status import current_entries

        total = sum(entry.size for entry in current_entries(config).values())
        return max(1, min(MAX_SHARDS, -(-total // TARGET_SHARD_BYTES)))
    count = whole_of(str(requested).strip())
    if count is None or not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"--shards {quoted_value(requested)} is not a shard count",
                         f"give a number from 1 to {MAX_SHARDS}, or auto")  # fmt: skip
    return count


def shard_dir(config: IndexConfig, spec: ShardSpec) -> Path:
    """Where `atlas index --shards N` keeps shard `spec`."""
    return config.index_dir / SHARDS_DIR / f"{spec.index:04d}-of-{spec.count:04d}"


def index_sharded(
    config: IndexConfig,
    count: int,
    executor: ShardExecutor,
    show_progress: bool = True,
    rebuild: bool = False,
    lock_wait: float = 0.0,
) -> IndexReport:
    """Build the index of `config` as `count` shards through `executor`, then assemble them.

    Only shards whose files changed since they were built are rebuilt (a one-file edit: one shard);
    when none did and git has no new commit, the live index is left as it is. The index directory is locked for
    the whole run, as a single build locks it: another run (whose count may differ, and which deletes the shards
    of every other count) waits up to `lock_wait` seconds, then is IndexBusy.
    """
    started = time.monotonic()
    with _disk_refusals_told(config.index_dir):
        store.ensure_index_dir(config.index_dir, config.root)  # before any shard is written into it
    with index_lock(config.index_dir, lock_wait):
        return _index_sharded_locked(config, count, executor, show_progress, rebuild, started)


def _index_sharded_locked(
    config: IndexConfig, count: int, executor: ShardExecutor, show_progress: bool, rebuild: bool, started: float
) -> IndexReport:
    """`index_sharded` once it holds the index directory's lock."""
    from atlas.signals.compute import load_history, start_history

    specs = [ShardSpec(i, count) for i in range(count)]
    _refuse_linked_shard_dirs(config, specs)
    walked: dict[str, Any] | None = None if rebuild else {}  # the ignore files' stamps, as the tree was checked
    stale = specs if rebuild else _stale_shards(config, specs, walked)
    for spec in stale:  # refused here, where the hint can name this command, not in the shard's build
        directory = shard_dir(config, spec)
        refuse_whole_index(directory, spec, hint=f"remove {directory}, then run `atlas index --shards {count}` again")
    previous = store.current_generation(config.index_dir)
    # Git is mined on a thread while the shards build, as a single build mines it while it parses.
    history = start_history(config, load_history(previous) if previous and previous.is_dir() else None)
    tasks = [ShardTask(str(config.root), s.index, s.count, str(shard_dir(config, s)), task_settings(config, rebuild))
             for s in stale]  # fmt: skip
    if tasks:
        if show_progress:
            log(f"atlas: building {len(tasks)} of {count} shards ({executor.name} executor)")
        _make_shards_dir(config)
        executor.run(tasks)
    dirs = [shard_dir(config, s) for s in specs]
    if not tasks and _assembled_from(config, dirs, walked):
        store.remove_abandoned(config.index_dir)  # what a killed assemble left: nothing is assembled to remove it
        return _unchanged_report(config, started)
    report = assemble_shards(config, dirs, show_progress, history, just_built=True, locked=True, stamps=walked)
    report.changed = len(tasks)
    report.reason = f"{len(tasks)} of {count} shards built"
    _remove_other_counts(config, count)
    report.seconds = time.monotonic() - started
    return report


def _make_shards_dir(config: IndexConfig) -> None:
    """Make the index directory's `shards/`, where the shards are built: an InputError naming it when it is no
    directory (a file, a FIFO), the disk's refusal told as the index's (each shard build would blame its parent)."""
    parent = config.index_dir / SHARDS_DIR
    store.refuse_non_directory(parent)
    with _disk_refusals_told(config.index_dir):
        parent.mkdir(exist_ok=True)


def _refuse_linked_shard_dirs(config: IndexConfig, specs: list[ShardSpec]) -> None:
    """InputError when the index directory's `shards` directory, or the directory of one of `specs`, is a symbolic
    link: shards are built into those directories, and the shards of other counts are deleted from the first, so
    a link (a cloned repository may ship `.atlas/shards` as one) would have Atlas write and delete where it points,
    outside the index directory."""
    parent = config.index_dir / SHARDS_DIR
    for directory in (parent, *(shard_dir(config, spec) for spec in specs)):
        if directory.is_symlink():
            raise InputError(
                f"{directory} is a symbolic link, and Atlas keeps its shards only in the index directory itself",
                f"remove the link {directory}, or pass --index-dir DIR to put the index elsewhere",
            )


def _stale_shards(config: IndexConfig, specs: list[ShardSpec], stamps: dict[str, Any] | None) -> list[ShardSpec]:
    """The shards whose files differ from what they hold (or that are missing, or made otherwise); `stamps`
    receives the stamps of the ignore files the walk that tells read."""
    from atlas.status import current_entries, diff_tree, load_table, rebuild_reason

    entries = current_entries(config, stamps)
    by_shard: dict[int, list[Any]] = {spec.index: [] for spec in specs}
    for path, entry in entries.items():
        by_shard[shard_of(path, len(specs))].append(entry)
    stale = []
    for spec in specs:
        directory = shard_dir(config, spec)
        if directory.is_dir():
            with index_lock(directory):
                store.remove_abandoned(directory)  # what a killed build of this shard left
        generation = None if _linked_part(directory) else store.current_generation(directory)  # a link: rebuilt
        manifest = store.manifest_of(generation) if generation else None
        held = ShardSpec.from_record(manifest.get("shard")) if manifest else None
        if generation is None or not manifest or rebuild_reason(config, manifest) or held != spec:
            stale.append(spec)
            continue
        try:
            table = load_table(generation)
        except (OSError, ValueError, KeyError, TypeError, AtlasError):
            stale.append(spec)
            continue
        if diff_tree(table, by_shard[spec.index], manifest.get("walk_started_ns", 0)):
            stale.append(spec)
    return stale


def _assembled_from(config: IndexConfig, dirs: list[Path], stamps: dict[str, Any] | None) -> bool:
    """True when the live index was assembled from exactly these shards as they are, at the same commit, and
    records the ignore files' `stamps` of the walk that found them so (an `info/exclude` edited moves no file)."""
    from atlas.ignore_stamps import still_recorded
    from atlas.signals.git import head_commit

    manifest = store.live_manifest(config.index_dir)
    if manifest is None or listed_shard_count(manifest) != len(dirs):
        return False
    if stamps is not None and not still_recorded(manifest.get("ignore_files"), stamps or None):
        return False
    hashes = [_content_hash(store.live_manifest(d)) for d in dirs]
    if [s.get("content_hash") for s in manifest["shards"]] != hashes:
        return False
    git = (manifest.get("signals") or {}).get("git") or {}
    return not config.git_history or git.get("head") == head_commit(config.root)


def _content_hash(manifest: dict[str, Any] | None) -> object:
    """The content hash a shard's manifest records, or None when it records none (no shard, a damaged record)."""
    record = (manifest or {}).get("shard")
    return record.get("content_hash") if isinstance(record, dict) else None


def _unchanged_report(config: IndexConfig, started: float) -> IndexReport:
    manifest = store.live_manifest(config.index_dir) or {}
    report = IndexReport(root=str(config.root), index_dir=str(config.index_dir), mode="unchanged")
    for key in ("files_indexed", "bytes_indexed", "symbols", "parse_errors", "skipped", "languages", "signals"):
        if key in manifest:
            setattr(report, key, manifest[key])
    generation = store.current_generation(config.index_dir)
    report.index_bytes = sum(p.stat().st_size for p in generation.rglob("*") if p.is_file()) if generation else 0
    report.seconds = time.monotonic() - started
    return report


def _remove_other_counts(config: IndexConfig, count: int) -> None:
    """Drop the shards of another shard count: the index no longer uses them."""
    suffix = f"-of-{count:04d}"
    parent = config.index_dir / SHARDS_DIR
    for entry in parent.iterdir() if parent.is_dir() else ():
        if entry.is_dir() and not entry.name.endswith(suffix):
            shutil.rmtree(entry, ignore_errors=True)


# --- assembling -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Shard:
    """A built shard as the assembler reads it."""

    directory: Path
    generation: Path
    manifest: dict[str, Any]
    table: FileTable
    spec: ShardSpec
    meta: dict[str, Any]
    """Its tantivy index's meta.json."""


def assemble_shards(
    config: IndexConfig,
    shard_dirs: Sequence[Path],
    show_progress: bool = False,
    history: HistoryJob | None = None,
    just_built: bool = False,
    locked: bool = False,
    stamps: dict[str, Any] | None = None,
) -> IndexReport:
    """Combine the built shards in `shard_dirs` (all N of one N) into the live index of `config`.

    Git history is mined here unless `history` (started earlier by the caller) is given. `locked`: the caller
    holds the index directory's lock.

    Each shard is checked first (a missing, duplicated or foreign shard, or one whose files differ from
    the tree's, is an InputError naming it; a damaged one, or one whose CURRENT, generation or files are
    symbolic links, an IndexCorrupt; `just_built`: the caller has just brought every shard up to
    date with the tree, so their files are not compared again); the new generation is published
    atomically, so a killed assemble leaves the previous index live. `stamps`: the ignore files' stamps of the
    walk that found the shards up to date ({} for none), recorded instead of the newest shard's.
    """
    from atlas.walk import refuse_root_without_source

    started = time.monotonic()
    refuse_root_without_source(config.root)  # as every build refuses it, before its shards are blamed
    dirs = [Path(d) for d in shard_dirs]
    _refuse_assembling_into_a_shard(config, dirs)
    with _shard_locks(dirs):
        shards = _read_shards(config, dirs)
        if not just_built:
            _check_contents(config, shards)
        with _disk_refusals_told(config.index_dir):
            store.ensure_index_dir(config.index_dir, config.root)
            with nullcontext() if locked else index_lock(config.index_dir):
                store.remove_abandoned(config.index_dir)
                return _assemble(config, shards, started, show_progress, history, stamps)


@contextmanager
def _shard_locks(dirs: list[Path]) -> Iterator[None]:
    """Hold the lock of each shard directory in `dirs` (once each; one that is no directory is left to the checks),
    so that no build of a shard (`atlas index --shard I/N --out DIR`) replaces the generation being read and linked:
    a shard being built is IndexBusy. The locks are shared: other assembles read the same shards meanwhile. No lock
    is waited for, so the order they are taken in cannot deadlock."""
    with ExitStack() as held:
        locked: set[Path] = set()
        for directory in dirs:
            if directory.is_dir() and directory.resolve() not in locked:
                locked.add(directory.resolve())
                held.enter_context(index_lock(directory, shared=True))
        yield


@contextmanager
def _disk_refusals_told(index_dir: Path) -> Iterator[None]:
    """An OSError (or tantivy's ValueError) raised inside that says the disk refused a write to `index_dir`
    (read-only, permissions, full) raised again as one sentence and a hint (`storage_error`)."""
    from atlas.errors import storage_error

    try:
        yield
    except (OSError, ValueError) as err:
        problem = storage_error(err, index_dir)
        if problem is None:
            raise
        raise problem from err


def _refuse_assembling_into_a_shard(config: IndexConfig, dirs: list[Path]) -> None:
    """UsageError when no shard directory is given, or when the index directory is one of them (checked before their
    locks are taken: the index's own would then be busy with this process's)."""
    if not dirs:
        raise UsageError("--assemble needs the shard directories", "pass every DIR that `atlas index --shard` built")
    target = os.path.realpath(config.index_dir)  # realpath: a loop of links is left to the shard's own checks
    into_shard = next((d for d in dirs if os.path.realpath(d) == target), None)
    if into_shard is not None:
        raise UsageError(f"{into_shard}: the index directory to assemble into is one of the shards",
                         "assemble into another directory: give another --out DIR, or none")  # fmt: skip


def _read_shards(config: IndexConfig, dirs: list[Path]) -> list[_Shard]:
    shards = [_read_shard(config, d) for d in dirs]
    count = shards[0].spec.count
    seen: dict[int, Path] = {}
    for shard in shards:
        if shard.spec.count != count:
            raise InputError(
                f"{shard.directory}: holds shard {shard.spec} but {shards[0].directory} is one of {count}",
                "assemble shards built with the same --shard …/N",
            )
        if shard.spec.index in seen:
            raise InputError(f"{shard.directory}: shard {shard.spec} is also in {seen[shard.spec.index]}",
                             "pass each shard once")  # fmt: skip
        seen[shard.spec.index] = shard.directory
    missing = [f"{i}/{count}" for i in range(count) if i not in seen]
    if missing:
        raise InputError(f"shard {missing[0]} is missing ({len(missing)} of {count} not given)",
                         f"build it with `atlas index --shard {missing[0]} --out DIR` and pass DIR too")  # fmt: skip
    _check_same_settings(shards)
    return sorted(shards, key=lambda s: s.spec.index)


def _read_shard(config: IndexConfig, directory: Path) -> _Shard:
    """One shard directory, checked: a shard, of this format and these settings, of this tree."""
    from atlas.status import load_table, rebuild_reason

    linked = _linked_part(directory)
    if linked is not None:
        raise IndexCorrupt(
            f"{directory}: the shard's {linked} is a symbolic link, and a shard is read only from its own files",
            f"copy the shard's files there, not links to them, or build it again with "
            f"`atlas index --shard I/N --out {directory} --rebuild`",
        )
    generation = store.current_generation(directory)
    manifest = store.manifest_of(generation) if generation else None
    if generation is None or manifest is None:
        raise InputError(f"{directory}: no built shard there", "build it with `atlas index --shard I/N --out DIR`")
    if "shard" not in manifest:
        raise InputError(f"{directory}: an index, but not a shard",
                         "build shards with `atlas index --shard I/N --out DIR`")  # fmt: skip
    spec = ShardSpec.from_record(manifest["shard"])
    if spec is None:
        raise IndexCorrupt(f"{directory}: the shard's manifest names no shard I/N with 0 ≤ I < N ≤ {MAX_SHARDS}",
                           "build it again with `atlas index --shard I/N --out DIR --rebuild`")  # fmt: skip
    rebuild = f"atlas index {config.root} --shard {spec} --out {directory} --rebuild"
    if _skip_counts(manifest) is None:
        raise IndexCorrupt(f"{directory}: the shard's manifest does not count its skipped files in whole numbers",
                           f"run `{rebuild}`")  # fmt: skip
    reason = rebuild_reason(config, manifest)
    if reason:
        raise InputError(f"{directory}: shard {spec} does not match this index ({reason})",
                         _mismatch_hint(manifest, rebuild))  # fmt: skip
    try:
        table = load_table(generation)
    except (OSError, ValueError, KeyError, TypeError, IndexCorrupt) as err:
        raise IndexCorrupt(f"{directory}: the shard's file table cannot be read ({err})", f"run `{rebuild}`") from err
    try:  # its files are linked into the assembled index, which tantivy opens
        store.check_regular_files(generation / store.TANTIVY_DIR)
        meta = _tantivy_meta(generation)
    except (OSError, ValueError) as err:
        raise IndexCorrupt(f"{directory}: the shard's tantivy index is damaged ({err})", f"run `{rebuild}`") from err
    faults = segment_faults(generation / store.TANTIVY_DIR)  # shards come from other machines: copies can break
    if faults:
        more = f" and {len(faults) - 1} more" if len(faults) > 1 else ""
        raise IndexCorrupt(f"{directory}: the shard's tantivy index is damaged: {faults[0]}{more}", f"run `{rebuild}`")
    _check_tree(config, directory, spec, table)
    return _Shard(directory, generation, manifest, table, spec, meta)


def _skip_counts(manifest: dict[str, Any]) -> dict[str, int] | None:
    """The files a shard skipped, by reason, as its manifest counts them; None when they are not counts (a damaged or
    crafted manifest: a list, text, "nan", a count whose sum over MAX_SHARDS shards JSON could not write again)."""
    counts = manifest.get("skipped", {})
    if not isinstance(counts, dict) or not all(type(n) is int and 0 <= n < 1 << 48 for n in counts.values()):
        return None
    return counts


def _mismatch_hint(manifest: dict[str, Any], rebuild: str) -> str:
    """How to make a shard that `rebuild_reason` refuses match: one made by another Atlas is built again; one built
    with other options remembers them, so it is built again with this run's options given, or assembled with its."""
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("parse_version", 1) != PARSE_VERSION:
        return f"build it again with this Atlas: `{rebuild}`"
    again = f"`{rebuild}` and the options that differ"
    return f"assemble with the options the shards were built with, or build it again with this run's: {again}"


SHARD_FILES = (store.MANIFEST, store.FILES, store.TANTIVY_DIR)
"""What assembling reads of a shard's generation; the tantivy directory's own entries are checked as it is read."""


def _linked_part(directory: Path) -> str | None:
    """The first of the shard's CURRENT, its generation and the generation's SHARD_FILES that is a symbolic link
    (as "CURRENT", "gen-000001" or "gen-000001/files.json"), or None.

    A shard is read only from its own files: a link, made by a restored cache or an artifact unpacked by other
    tools, would have the assembled index read, and hard-link, files from wherever it points. CURRENT is looked at
    before it is read, each generation path before anything is read through it."""
    if (directory / store.CURRENT).is_symlink():
        return store.CURRENT
    generation = store.current_generation(directory)
    if generation is None:
        return None
    parts = [generation, *(generation / name for name in SHARD_FILES)]
    return next((str(part.relative_to(directory)) for part in parts if part.is_symlink()), None)


def _tantivy_meta(generation: Path) -> dict[str, Any]:
    """The shard's tantivy meta.json, with what assembling reads of it checked; ValueError when it is not so."""
    meta = orjson.loads(store.read_index_file(generation / store.TANTIVY_DIR / "meta.json"))
    segments = meta.get("segments") if isinstance(meta, dict) else None
    if (
        not isinstance(segments, list)
        or not all(isinstance(segment, dict) and isinstance(segment.get("segment_id"), str) for segment in segments)
        or type(meta.get("opstamp")) is not int
        or not {"schema", "index_settings"} <= meta.keys()
    ):
        raise ValueError("meta.json does not list the segments as tantivy writes them")
    return meta


def _check_tree(config: IndexConfig, directory: Path, spec: ShardSpec, table: FileTable) -> None:
    """Every file the shard holds is its own by the partition rule and is in this tree."""
    paths = [path for path in table.paths if path]
    foreign = next((p for p in paths if not spec.holds(p)), None)
    if foreign is not None:
        raise InputError(f"{directory}: holds {foreign}, which is not in shard {spec}",
                         "build the shard with this Atlas: `atlas index --shard I/N --out DIR`")  # fmt: skip
    absent = [p for p in paths if not in_tree(config.root, p)]
    if absent:
        raise InputError(
            f"{directory}: shard {spec} holds {len(absent)} files this tree does not have ({absent[0]}): "
            "it was built from another tree or is out of date",
            f"build it again from this tree: `atlas index {config.root} --shard {spec} --out {directory}`",
        )


def _check_contents(config: IndexConfig, shards: list[_Shard]) -> None:
    """Every shard holds its files of this tree as they are now: none changed, added or removed since it was
    built (by size and mtime; a file whose mtime alone moved, as in another checkout, is hashed)."""
    from atlas.status import current_entries, diff_tree

    count = shards[0].spec.count
    entries: dict[int, list[Any]] = {shard.spec.index: [] for shard in shards}
    for path, entry in current_entries(config).items():
        entries[shard_of(path, count)].append(entry)
    for shard in shards:
        racy = shard.manifest.get("walk_started_ns")
        diff = diff_tree(shard.table, entries[shard.spec.index], racy if type(racy) is int else 0, hash_moved=True)
        # A file the build skipped (binary, too large) is not in its table; it was seen unless its size moved.
        added = [e.path for e in diff.added if shard.table.skipped.get(e.path, (None,))[0] != e.size]
        removed = [shard.table.paths[fid] for fid in diff.removed]
        changed = [shard.table.paths[fid] for fid in diff.changed]
        for paths, what in ((removed, "holds {} files this tree does not have"),
                            (changed, "holds {} files whose contents differ from this tree's"),
                            (added, "lacks {} files of this tree")):  # fmt: skip
            if paths:
                raise InputError(
                    f"{shard.directory}: shard {shard.spec} {what.format(len(paths))} ({paths[0]}): "
                    "it was built from another commit or tree, or is out of date",
                    f"build it again from this tree: `atlas index {config.root} --shard {shard.spec} "
                    f"--out {shard.directory}`",
                )


def _check_same_settings(shards: list[_Shard]) -> None:
    first = shards[0]
    for shard in shards[1:]:
        for key in ("config_hash", "schema_version", "tantivy_version"):
            if shard.manifest.get(key) != first.manifest.get(key):
                raise InputError(
                    f"{shard.directory}: shard {shard.spec} was built with another {key.replace('_', ' ')} "
                    f"than {first.directory}", "build every shard with the same Atlas and settings",
                )  # fmt: skip


def _assemble(
    config: IndexConfig,
    shards: list[_Shard],
    started: float,
    show_progress: bool,
    job: HistoryJob | None,
    stamps: dict[str, Any] | None = None,
) -> IndexReport:
    from atlas.signals.attributes import linguist_marks
    from atlas.signals.compute import load_history, save_history, start_history
    from atlas.signals.store import write_store

    report = IndexReport(root=str(config.root), index_dir=str(config.index_dir), mode="assembled")
    previous = store.current_generation(config.index_dir)
    building, final = store.new_generation_dir(config.index_dir)
    try:
        since = time.monotonic()
        segments = _link_segments(shards, building / store.TANTIVY_DIR)
        since = report.phase("link_segments", since)
        table, order = _joined_table(shards)
        if job is None:
            job = start_history(config, load_history(previous) if previous and previous.is_dir() else None)
        history = job.wait()
        since = report.phase("git_wait", since)
        side = _global_store(table, order, history, linguist_marks(config.root, table.paths))
        write_store(building, side)
        save_history(building, history)
        report.phase("signals", since)
        report.signals = {key: side.params[key] for key in ("git", "graph")}
        if job.mode:
            report.signals["git"] = {**report.signals["git"], "mined": job.mode[0]}
            report.phases["git_mining"] = round(job.seconds, 4)
        _summarise(report, table)
        _add_shard_counts(report, shards, stamps)
        report.seconds = time.monotonic() - started
        _finish(config, building, final, table, report, shards, segments)
    except BaseException:
        store.remove_generation_dir(config.index_dir, building)
        raise
    report.index_bytes = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    report.seconds = time.monotonic() - started
    return report


def _link_segments(shards: list[_Shard], target: Path) -> int:
    """Put every shard's live segments into `target` (hard links; copies across file systems) with one
    meta.json listing them all. Returns the number of segments."""
    target.mkdir()
    metas = [shard.meta for shard in shards]
    for shard, meta in zip(shards[1:], metas[1:], strict=True):
        if meta["schema"] != metas[0]["schema"] or meta["index_settings"] != metas[0]["index_settings"]:
            raise InputError(f"{shard.directory}: its tantivy schema differs from the other shards'",
                             "build every shard with the same Atlas")  # fmt: skip
    managed = ["meta.json"]
    directory = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for shard, meta in zip(shards, metas, strict=True):
            managed.extend(_link_shard(shard, meta, target, directory))
    finally:
        os.close(directory)
    merged = {**metas[0], "segments": [seg for meta in metas for seg in meta["segments"]],
              "opstamp": max(meta["opstamp"] for meta in metas)}  # fmt: skip
    store.write_atomic(target / ".managed.json", orjson.dumps(managed))
    store.write_atomic(target / "meta.json", orjson.dumps(merged))
    return len(merged["segments"])


def _link_shard(shard: _Shard, meta: dict[str, Any], target: Path, directory: int) -> list[str]:
    """Link the live segment files of `shard` (listed in its tantivy `meta`) into `target`, open as `directory`;
    their names. IndexCorrupt naming the shard when one was swapped for a link since the shard was checked."""
    source = shard.generation / store.TANTIVY_DIR
    ids = tuple(segment["segment_id"].replace("-", "") for segment in meta["segments"])
    linked: list[str] = []
    try:
        store.refuse_linked_part(source)
        for entry in os.scandir(source):
            if ids and entry.name.startswith(ids):
                _link(Path(entry.path), target / entry.name, directory)
                linked.append(entry.name)
    except Refused as err:
        raise IndexCorrupt(f"{shard.directory}: the shard's tantivy index is damaged ({err})",
                           f"build it again: `atlas index --shard {shard.spec} --out {shard.directory} "
                           "--rebuild`") from err  # fmt: skip
    return linked


def _link(source: Path, target: Path, directory: int) -> None:
    """Hard-link the regular file `source` as `target`, in the directory open as `directory` (a copy across file
    systems). `source` is opened first without following a link, and linked or copied through that descriptor: a
    file swapped for a link since the shard was checked is `Refused`, never linked or copied from where it points."""
    with store.open_index_file(source) as handle:
        try:  # linkat(2) with AT_SYMLINK_FOLLOW (Python asks for it only given a dir_fd) links the file open
            os.link(f"/proc/self/fd/{handle.fileno()}", target.name, dst_dir_fd=directory, follow_symlinks=True)
        except OSError:
            with open(target, "xb") as copy:
                shutil.copyfileobj(handle, copy)


def _joined_table(shards: list[_Shard]) -> tuple[FileTable, list[int]]:
    """The assembled file table (row `local * N + I` is shard I's row `local`; the rest are tombstones),
    and the live rows in walk order (the order a single build gives its file ids)."""
    count = shards[0].spec.count
    size = max(((len(s.table.paths) - 1) * count + s.spec.index + 1 for s in shards if s.table.paths), default=0)
    table = FileTable()
    for name in FileTable.COLUMNS:
        setattr(table, name, [None] * size)
    for fid in range(size):
        table.tombstone(fid)
    for shard in shards:
        for local, path in enumerate(shard.table.paths):
            fid = shard.spec.global_fid(local)
            for name in FileTable.COLUMNS:
                getattr(table, name)[fid] = getattr(shard.table, name)[local]
            if not path:
                table.tombstone(fid)
        table.skipped.update(shard.table.skipped)
    order = sorted((fid for fid, path in enumerate(table.paths) if path), key=lambda fid: table.paths[fid].split("/"))
    return table, order


def _global_store(table: FileTable, order: list[int], history: Any, marks: Any) -> Any:
    """The side store of the assembled table: computed over its live files in walk order, as a single
    build computes it (PageRank spreads over live files only; equal scores tie the same way), then
    placed at the assembled ids."""
    import numpy as np

    from atlas.signals.compute import ROLE_CODES, compute_store
    from atlas.signals.graph import ImportGraph, neighbours
    from atlas.signals.store import SideStore, is_per_file

    compact = FileTable()
    for name in FileTable.COLUMNS:
        column = getattr(table, name)
        setattr(compact, name, [column[fid] for fid in order])
    inner = compute_store(compact, history, marks=marks)
    place = np.asarray(order, dtype=np.int64)
    n = len(table.paths)
    side = SideStore(params=inner.params, paths=list(table.paths))
    for name, array in inner.arrays.items():
        if is_per_file(name):
            full = np.zeros(n, dtype=array.dtype)
            if name == "role":
                full[:] = ROLE_CODES["other"]
            full[place] = array
            side.arrays[name] = full
    edges = place[np.asarray(inner.arrays["import_edges"], dtype=np.int64).reshape(-1, 2)].astype(np.int32)
    side.arrays["import_edges"] = edges
    indptr, indices = neighbours(ImportGraph(tuple(table.paths), edges, 0))
    side.arrays["imports_indptr"], side.arrays["imports_indices"] = indptr.astype(np.int64), indices.astype(np.int32)
    if "cochange_indptr" in inner.arrays:
        side.arrays.update(_placed_csr(inner.arrays, "cochange", place, n))
    if "commit_postings_indices" in inner.arrays:
        postings = np.asarray(inner.arrays["commit_postings_indices"], dtype=np.int64)
        side.arrays.update({name: inner.arrays[name] for name in COMMIT_WORD_ARRAYS})
        side.arrays["commit_postings_indices"] = place[postings].astype(np.int32)
    return side


COMMIT_WORD_ARRAYS = ("commit_vocab_indices", "commit_postings_indptr", "commit_postings_data")
"""The commit-word postings arrays that do not name files (their file ids are in commit_postings_indices)."""


def _placed_csr(arrays: dict[str, Any], prefix: str, place: Any, n: int) -> dict[str, Any]:
    """The CSR arrays `<prefix>_*` with row r moved to row place[r] and column ids mapped through `place`."""
    import numpy as np

    indptr = np.asarray(arrays[f"{prefix}_indptr"], dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    counts[place] = np.diff(indptr)
    new_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    order = np.argsort(place, kind="stable")  # compact rows in the order of their new ids
    take = np.concatenate([np.arange(indptr[r], indptr[r + 1]) for r in order]) if len(order) else np.zeros(0, int)
    take = take.astype(np.int64)
    out = {f"{prefix}_indptr": new_indptr}
    for name, array in arrays.items():
        if name.startswith(f"{prefix}_") and name != f"{prefix}_indptr":
            values = np.asarray(array)[take]
            out[name] = place[values].astype(np.int32) if name == f"{prefix}_indices" else values
    return out


def _add_shard_counts(report: IndexReport, shards: list[_Shard], stamps: dict[str, Any] | None = None) -> None:
    """Skip counts as the shards counted them (walk skips included); parse errors are the file table's. The ignore
    files' stamps are `stamps` when given, else the newest shard's: each shard's walk reads the whole tree's, but a
    shard kept holds those of its own build, older than a changed ignore file's (a search checks they still hold)."""
    if stamps is None:
        newest = max(shards, key=lambda shard: _walk_started(shard.manifest), default=None)
        stamps = newest.manifest.get("ignore_files") if newest else None
    report.ignore_files = stamps or None
    for shard in shards:
        for reason, n in (_skip_counts(shard.manifest) or {}).items():
            report.skipped[reason] = report.skipped.get(reason, 0) + n


def _walk_started(manifest: dict[str, Any]) -> int:
    started = manifest.get("walk_started_ns", 0)
    return started if isinstance(started, int) else 0


def _finish(
    config: IndexConfig, building: Path, final: Path, table: FileTable, report: IndexReport,
    shards: list[_Shard], segments: int,
) -> None:  # fmt: skip
    """Write the file table and the manifest (listing the shards), check tantivy agrees, publish."""
    import tantivy

    from atlas.index.reader import TantivyDamage
    from atlas.index.schema import SCHEMA_VERSION
    from atlas.index.writer import tantivy_version

    with TantivyDamage(building):  # what the shards' checks let through: a damaged index, not a traceback
        documents = tantivy.Index.open(str(building / store.TANTIVY_DIR)).searcher().num_docs
    if documents != table.live:
        raise IndexCorrupt(f"the shards hold {documents} documents for {table.live} files",
                           "rebuild the shards with `atlas index --shard I/N --out DIR --rebuild`")  # fmt: skip
    files = table.to_json()
    store.write_atomic(building / store.FILES, files)
    listing = [
        {**shard.spec.as_dict(), "dir": str(shard.directory), "files": shard.table.live,
         "content_hash": (shard.manifest.get("shard") or {}).get("content_hash", "")}
        for shard in shards
    ]  # fmt: skip
    manifest = {
        **_manifest(config, report), "shards": listing, "segments": segments, "schema_version": SCHEMA_VERSION,
        "tantivy_version": tantivy_version(), "files_bytes": len(files),
        "history_bytes": store.written_size(building / store.HISTORY),
    }  # fmt: skip
    store.write_atomic(building / store.MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    store.publish(config.index_dir, building, final)


# --- CI cache keys ----------------------------------------------------------------------------------


def shard_cache_key(config: IndexConfig, spec: ShardSpec) -> tuple[str, str]:
    """(key, restore prefix) of shard `spec`: what makes it reusable, then the contents of its files.

    The contents part is the content hash the shard's manifest records once built, computed here
    from the tree (the shard's files are read and hashed; the others are only walked).
    """
    from atlas.artifacts import reuse_prefix, tree_digest

    prefix = f"{reuse_prefix(config)}shard{spec.index}of{spec.count}-"
    return prefix + tree_digest(config, spec.holds), prefix


def result_record(result: ShardResult) -> dict[str, Any]:
    """A ShardResult as plain data."""
    return asdict(result)
