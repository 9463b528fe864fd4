"""The one library API. The CLI and the MCP server call these; they hold no logic themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas.config import (
    DEFAULT_INDEX_DIRNAME,
    FieldBoosts,
    IndexConfig,
    home_expanded,
    load_config_file,
    memory_from_environment,
    resolve_index_dir,
)
from atlas.errors import IndexMissing, InputError
from atlas.query.left_out import left_out_by_rules, left_out_note, left_out_now, search_leaving_out

if TYPE_CHECKING:
    from atlas.artifacts import ArchiveInfo
    from atlas.build import IndexReport
    from atlas.context.model import ContextOptions, Selection
    from atlas.query.engine import Engine, SearchOptions, SearchResult
    from atlas.query.related import Related
    from atlas.query.symbols import SymbolResult
    from atlas.status import IndexStatus
    from atlas.verify import VerifyReport

__all__ = [
    "assemble",
    "cache_key",
    "export_index",
    "find_root",
    "find_symbols",
    "import_index",
    "index_config",
    "index_repo",
    "index_shard",
    "index_status",
    "left_out_by_rules",
    "left_out_note",
    "left_out_now",
    "open_engine",
    "refresh_index",
    "related_files",
    "search",
    "search_indexes",
    "search_leaving_out",
    "search_options",
    "select_context",
    "symbol_kinds",
    "verify_index",
    "with_remembered",
]  # fmt: skip


def find_root(start: str | Path | None = None) -> Path:
    """The repository root for `start` (default: the working directory).

    The nearest ancestor holding an `.atlas` index or a `.git` entry; else `start` itself.
    """
    here = home_expanded(start or working_directory())
    if not here.exists():
        raise InputError(f"{here}: no such directory")
    if not here.is_dir():
        raise InputError(f"{here}: not a directory", "pass the repository root, not a file")
    here = here.resolve()
    if start is not None:
        if DEFAULT_INDEX_DIRNAME in here.parts:
            raise InputError(f"{here} is inside an Atlas index directory",
                             "pass the repository root, the directory that holds .atlas")  # fmt: skip
        return here
    if DEFAULT_INDEX_DIRNAME in here.parts:  # working inside an index: its repository is above it
        here = Path(*here.parts[: here.parts.index(DEFAULT_INDEX_DIRNAME)])
    for candidate in (here, *here.parents):
        if _holds_repository(candidate):
            return candidate
    return here


def _holds_repository(directory: Path) -> bool:
    """Whether `directory` holds an `.atlas` index or a `.git` entry; False for a directory this user may not look
    into (mode 000, or no search permission: it is not the root, a parent may be)."""
    try:
        return (directory / DEFAULT_INDEX_DIRNAME).is_dir() or (directory / ".git").exists()
    except PermissionError:
        return False


def working_directory() -> str:
    """The working directory; InputError when it has been removed (a shell left in a deleted directory)."""
    try:
        return os.getcwd()
    except FileNotFoundError as err:
        raise InputError("the working directory no longer exists (it was removed)",
                         "cd to a directory that exists, or pass --repo DIR") from err  # fmt: skip


def index_config(
    root: Path,
    index_dir: str | Path | None = None,
    config_file: str | Path | None = None,
    remember: bool = True,
    **settings: object,
) -> IndexConfig:
    """An IndexConfig for `root`: defaults, then what the index remembers, then the config file, then `settings`
    (a memory budget not given: $ATLAS_MEMORY's, when set).

    The live index remembers the settings that shaped it (`REMEMBERED_SETTINGS`), so a later run
    without flags keeps them. A config file value overrides a remembered one only when the file's
    value changed since the index was built (a value removed from the file goes back to the
    default). `remember=False` ignores the index's memory. `settings` use IndexConfig field names;
    None means "not given".
    """
    from_file = dict(load_config_file(root, config_file).get("index", {}))
    boost_table = from_file.pop("boosts", None)  # the file's keys are checked by load_config_file
    boosts = settings.pop("boosts", None) or (FieldBoosts(**boost_table) if boost_table else FieldBoosts())
    if settings.get("memory_bytes") is None:
        settings["memory_bytes"] = memory_from_environment()
    given = {key: value for key, value in settings.items() if value is not None}
    config = IndexConfig(
        root=root, index_dir=resolve_index_dir(root, index_dir), boosts=boosts, file_settings=from_file,
        explicit=frozenset(given) if remember else None, **{**from_file, **given},  # type: ignore[arg-type]
    )  # fmt: skip
    return with_remembered(config)


def with_remembered(config: IndexConfig) -> IndexConfig:
    """`config` with the settings its live index was built with, for those not given explicitly.

    A long-lived caller (the MCP server) calls it again before each refresh, so an `atlas index
    --history N` run meanwhile is kept. A config made without `index_config` is returned as it is.
    """
    from atlas.config import still_valid
    from atlas.index.store import live_manifest

    if config.explicit is None:
        return config
    manifest = live_manifest(config.index_dir) or {}
    built_with, file_then = manifest.get("settings"), manifest.get("settings_file")
    if not isinstance(built_with, dict) or not isinstance(file_then, dict):
        return config
    unset = object()
    remembered = {
        name: value
        for name, value in still_valid(built_with).items()
        if name not in config.explicit and config.file_settings.get(name, unset) == file_then.get(name, unset)
    }  # fmt: skip
    return replace(config, **remembered) if remembered else config


def search_options(
    root: Path,
    config_file: str | Path | None = None,
    preset: str | None = None,
    weights: dict[str, float] | None = None,
    **settings: object,
) -> SearchOptions:
    """SearchOptions: the preset and weights of the config file's [search] section, then the arguments."""
    from atlas.query.engine import SearchOptions
    from atlas.query.fuse import weights_for

    section = dict(load_config_file(root, config_file).get("search", {}))
    file_weights = section.pop("weights", {})
    chosen_preset = preset or str(section.pop("preset", "balanced"))
    if "limit" in section and settings.get("limit") is None:
        settings["limit"] = section.pop("limit")
    fusion = weights_for(chosen_preset, {**file_weights, **(weights or {})})
    clean = {key: value for key, value in settings.items() if value is not None}
    return SearchOptions(weights=fusion, **clean)  # type: ignore[arg-type]


def index_repo(
    config: IndexConfig,
    show_progress: bool = True,
    rebuild: bool = False,
    shards: str | int | None = None,
    executor: str = "local",
    lock_wait: float = 0.0,
    **executor_options: Any,
) -> IndexReport:
    """Bring the index of `config` up to date: incrementally, or from scratch with `rebuild`.

    With `shards` (a count or "auto"), or when the index already is sharded, the index is built as
    shards through the executor named `executor` and assembled (see `atlas.shards`). An index that another process
    is updating is waited for up to `lock_wait` seconds, then updated from what it published. An index directory
    inside another index's `shards/` is a UsageError: its sharded build would delete what is built there.
    """
    from atlas.build import build_index
    from atlas.index import store
    from atlas.partition import listed_shard_count

    store.refuse_output_in_index_parts(config.index_dir, "--index-dir")
    sharded = listed_shard_count(store.live_manifest(config.index_dir)) > 0
    if shards is None and not sharded and executor == "local":
        return build_index(config, show_progress=show_progress, rebuild=rebuild, lock_wait=lock_wait)
    if shards is None and not sharded:
        shards = "auto"  # another executor builds shards: as many as the tree's size calls for
    from atlas.shards import executor_for, index_sharded, shard_count

    count = shard_count(config, shards)
    runner = executor_for(executor, **{"jobs": config.jobs, "show_progress": show_progress, **executor_options})
    return index_sharded(config, count, runner, show_progress=show_progress, rebuild=rebuild, lock_wait=lock_wait)


def index_shard(config: IndexConfig, shard: str, show_progress: bool = True, rebuild: bool = False) -> IndexReport:
    """Build shard `shard` ("I/N") of the tree into `config.index_dir`, for `assemble` to combine later."""
    from atlas.build import build_index
    from atlas.partition import ShardSpec

    return build_index(config, show_progress=show_progress, rebuild=rebuild, shard=ShardSpec.parse(shard))


def assemble(config: IndexConfig, shard_dirs: Sequence[Path], show_progress: bool = True) -> IndexReport:
    """Combine built shards (all N of one N) into the index of `config` (see `atlas.shards.assemble_shards`).

    Settings `config` was not given explicitly follow those the first shard was built with (`with_remembered`), as
    an update follows its index's: shards built with `--no-history` are assembled without history.
    """
    from atlas.shards import assemble_shards

    if shard_dirs:
        config = replace(with_remembered(replace(config, index_dir=Path(shard_dirs[0]))), index_dir=config.index_dir)
    return assemble_shards(config, shard_dirs, show_progress)


def index_status(config: IndexConfig, hash_moved: bool = False) -> IndexStatus:
    """Whether the index of `config` is fresh, and which files changed, were added or removed.

    `hash_moved` hashes files whose mtime alone moved (see `atlas.status.index_status`): exact, but
    after a fresh clone it reads every file, so a frequent check (the MCP server's) leaves it off.
    """
    from atlas.status import index_status as compute_status

    report = compute_status(with_remembered(config), hash_moved)
    if not report.exists and not report.damaged:
        refuse_unindexable(config)  # "no index" of a root no build can use would send the user to build one
    return report


def refresh_index(config: IndexConfig, show_progress: bool = False, lock_wait: float = 0.0) -> IndexReport | None:
    """Bring the index up to date with the working tree; None when it already was.

    Settings `config` was not given explicitly follow what the index remembers (`with_remembered`). Another
    process updating the index is waited for up to `lock_wait` seconds (then IndexBusy).
    """
    config = with_remembered(config)
    status = index_status(config)
    if status.fresh:
        return None
    return index_repo(config, show_progress=show_progress, lock_wait=lock_wait)


IMPLICIT_INDEX_WAIT_SECONDS = 600.0
"""How long a command that indexes on its way to an answer (a first `search`, `quick`, `explain`) waits for another
process updating the index: that run publishes what the command needs, and failing with "busy" (exit 5) made
every search but one fail when several start on a repository without an index."""


def _index_on_the_way(config: IndexConfig, show_progress: bool, refresh: bool) -> None:
    """Build the missing index (or, with `refresh`, update a stale one) for a command that answers from it, waiting
    for another process updating it; a wait that runs out is IndexBusy with a hint for this command."""
    from atlas.index.lock import rerun_hint

    with rerun_hint("this command"):
        if refresh:
            refresh_index(config, show_progress=show_progress, lock_wait=IMPLICIT_INDEX_WAIT_SECONDS)
        else:
            index_repo(config, show_progress=show_progress, lock_wait=IMPLICIT_INDEX_WAIT_SECONDS)


def verify_index(config: IndexConfig) -> VerifyReport:
    """Check the index against its manifest, side-store checksums and the working tree."""
    from atlas.verify import verify_index as run_verify

    with _refused_if_unindexable(config):
        return run_verify(config)


def export_index(config: IndexConfig, archive: Path) -> ArchiveInfo:
    """Pack the live index into one verified archive."""
    from atlas.artifacts import export_index as run_export

    with _refused_if_unindexable(config):
        return run_export(config, archive)


def import_index(config: IndexConfig, archive: Path) -> ArchiveInfo:
    """Restore an archive made by `export_index` as the live index."""
    from atlas.artifacts import import_index as run_import

    return run_import(config, archive)


def refuse_unindexable(config: IndexConfig) -> None:
    """InputError (or UsageError) when no index of `config` can ever be built, as a build would say: its root has no
    source (git's internals, /proc) or its index directory is one a build refuses (the repository itself, a directory
    of other files, a directory inside another index's `shards/`). Reads, writes nothing: a server checks this at its
    start."""
    from atlas.index.store import check_index_dir, refuse_output_in_index_parts
    from atlas.walk import refuse_root_without_source

    refuse_root_without_source(config.root)
    check_index_dir(config.index_dir, config.root)
    refuse_output_in_index_parts(config.index_dir, "--index-dir")


@contextmanager
def _refused_if_unindexable(config: IndexConfig) -> Iterator[None]:
    """Where the block finds no index of `config`, the InputError of `refuse_unindexable` when no build could make
    one (a `.git`, /proc): "no index, build one" would send the user to a build that refuses, and the input, not a
    missing index, is what is wrong."""
    try:
        yield
    except IndexMissing:
        refuse_unindexable(config)
        raise


def cache_key(config: IndexConfig, shard: str | None = None) -> tuple[str, str]:
    """The CI cache key of the index of `config` and its restore prefix; with `shard` ("I/N"), of that
    shard alone, by the contents of its files (an edit changes the key of the edited file's shard only). A root with
    no source to index (git's internals, /proc), or an index directory a build refuses (a FIFO, a file), is refused
    as a build there is: no index has that key."""
    refuse_unindexable(config)
    if shard is not None:
        from atlas.partition import ShardSpec
        from atlas.shards import shard_cache_key

        return shard_cache_key(config, ShardSpec.parse(shard))
    from atlas.artifacts import cache_key as compute_key

    return compute_key(config)


def open_engine(config: IndexConfig, build_if_missing: bool = True, show_progress: bool = True) -> Engine:
    """An Engine over the index of `config.root`, building the index first if there is none."""
    from atlas.index.reader import open_index
    from atlas.query.engine import Engine

    try:
        with _refused_if_unindexable(config):
            reader = open_index(config.index_dir)
    except IndexMissing:
        if not build_if_missing:
            raise
        from atlas.progress import log

        log(f"atlas: no index for {config.root} yet; building one", show_progress)
        _index_on_the_way(config, show_progress, refresh=False)
        reader = open_index(config.index_dir)
    return Engine(config.root, reader)


def search(
    config: IndexConfig, query: str, options: SearchOptions | None = None, show_progress: bool = True
) -> SearchResult:
    """Search the repository of `config` for `query`; returns a SearchResult. Hits the ignore rules leave out now (the
    index not yet updated since) are dropped, each named in a warning (see `search_leaving_out`)."""
    return search_leaving_out(open_engine(config, show_progress=show_progress), query, options)


def search_indexes(
    configs: Sequence[IndexConfig], query: str, options: SearchOptions | None = None
) -> SearchResult:
    """Search the indexes of several repositories as one: hits ranked together, each naming its repository.

    Each `configs[i].root` must have an index (none is built here). Repositories are named by their
    directory; two with the same name are told apart by their parent's. See `atlas.query.federated`
    for why the indexes' ranks, not their scores, are merged.
    """
    import time

    from atlas.query.engine import SearchOptions, SearchResult
    from atlas.query.federated import RepositoryHits, merge_rankings

    options = options or SearchOptions()
    started = time.perf_counter()
    rankings, notes, warnings, documents = [], [], [], 0
    for name, config in zip(repository_names([c.root for c in configs]), configs, strict=True):
        result = search_leaving_out(open_engine(config, build_if_missing=False), query, options)
        rankings.append(RepositoryHits(name, result.hits))
        notes.extend(f"{name}: {note}" for note in result.notes)
        warnings.extend(f"{name}: {warning}" for warning in result.warnings)
        documents += result.documents
    hits = merge_rankings(rankings, options.limit, options.explain)
    return SearchResult(query, hits, (time.perf_counter() - started) * 1000, documents, notes, warnings)


def repository_names(roots: Sequence[Path]) -> list[str]:
    """A short, distinct name per root: its directory name, with as many parents as tell equal ones apart.

    InputError when the same repository is given twice.
    """
    if len(set(roots)) < len(roots):
        twice = next(root for root in roots if roots.count(root) > 1)
        raise InputError(f"{twice}: the same repository is given twice", "name each repository once")
    depth = 1
    while True:
        names = ["/".join(root.parts[-depth:]) for root in roots]
        if len(set(names)) == len(names) or depth >= max(len(root.parts) for root in roots):
            return names
        depth += 1


def find_symbols(
    engine: Engine,
    name: str,
    kind: str | None = None,
    case_sensitive: bool = False,
    paths: tuple[str, ...] = (),
    limit: int = 50,
) -> SymbolResult:
    """Definitions named `name` (or `Container.name`) in the index open in `engine`, best first.

    `kind` keeps one kind (see `atlas.query.symbols.KINDS`); `paths` keeps files matching any glob.
    """
    from atlas.query.symbols import find_symbols as lookup
    from atlas.query.symbols import parse_symbol_query
    from atlas.query.syntax import check_path_filters

    check_path_filters(str(engine.root), paths)
    engine.check_index()
    return lookup(engine.reader, parse_symbol_query(name, kind, case_sensitive, paths), limit, engine.store)


def symbol_kinds() -> tuple[str, ...]:
    """The definition kinds `find_symbols` can keep (class, function, method, ...)."""
    from atlas.query.symbols import KINDS

    return KINDS


def related_files(engine: Engine, path: str, limit: int = 20, min_commits: int = 2) -> Related:
    """Files that change together with `path` in git history, and files it imports or is imported by.

    `path` is relative to the root; InputError when it is absolute or leaves the root (`..`, symbolic links).
    """
    from atlas.query.related import confine_path
    from atlas.query.related import related_files as neighbourhood

    return neighbourhood(engine.store, confine_path(engine.root, path), limit, min_commits)


def select_context(
    config: IndexConfig,
    task: str,
    options: ContextOptions | None = None,
    show_progress: bool = False,
    engine: Engine | None = None,
) -> Selection:
    """The files, or parts of files, that matter for `task`, within the budget of `options`.

    `fast` ranks by paths without an index; the other presets search the index, which
    `options.index` says to require, build when missing, or refresh when stale (see atlas.context).
    A long-lived caller (the MCP server) passes its open `engine` and keeps it fresh itself.
    """
    from atlas.context.model import ContextOptions
    from atlas.context.pipeline import candidate_limit, select_for_task

    options = options or ContextOptions()
    if options.preset == "fast":
        from atlas.walk import refuse_root_without_source

        refuse_root_without_source(config.root)
        return select_for_task(config.root, task, options)
    if engine is None:
        if options.index == "refresh":
            _index_on_the_way(config, show_progress, refresh=True)
        engine = open_engine(config, build_if_missing=options.index == "build", show_progress=show_progress)
    search = search_options(
        config.root, options.config_file, options.preset, options.weights, limit=candidate_limit(options)
    )
    return select_for_task(config.root, task, options, engine, search)
