"""The one library API. The CLI and the MCP server call these; they hold no logic themselves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from atlas.config import DEFAULT_INDEX_DIRNAME, FieldBoosts, IndexConfig, resolve_index_dir
from atlas.errors import IndexMissing, InputError

if TYPE_CHECKING:
    from atlas.build import IndexReport
    from atlas.query.engine import Engine, SearchOptions, SearchResult

__all__ = ["find_root", "index_config", "index_repo", "open_engine", "search"]


def find_root(start: str | Path | None = None) -> Path:
    """The repository root for `start` (default: the working directory).

    The nearest ancestor holding an `.atlas` index or a `.git` entry; else `start` itself.
    """
    here = Path(start or os.getcwd()).expanduser()
    if not here.exists():
        raise InputError(f"{here}: no such directory")
    if not here.is_dir():
        raise InputError(f"{here}: not a directory", "pass the repository root, not a file")
    here = here.resolve()
    if start is not None:
        return here
    for candidate in (here, *here.parents):
        if (candidate / DEFAULT_INDEX_DIRNAME).is_dir() or (candidate / ".git").exists():
            return candidate
    return here


def index_config(root: Path, index_dir: str | Path | None = None, **settings: object) -> IndexConfig:
    """An IndexConfig for `root` with `settings` (IndexConfig field names) applied."""
    boosts = settings.pop("boosts", None) or FieldBoosts()
    clean = {key: value for key, value in settings.items() if value is not None}
    return IndexConfig(root=root, index_dir=resolve_index_dir(root, index_dir), boosts=boosts, **clean)  # type: ignore[arg-type]


def index_repo(config: IndexConfig, show_progress: bool = True) -> IndexReport:
    """Build (or rebuild) the index described by `config`; returns an IndexReport."""
    from atlas.build import build_index

    return build_index(config, show_progress=show_progress)


def open_engine(config: IndexConfig, build_if_missing: bool = True, show_progress: bool = True) -> Engine:
    """An Engine over the index of `config.root`, building the index first if there is none."""
    from atlas.index.reader import open_index
    from atlas.query.engine import Engine

    try:
        reader = open_index(config.index_dir)
    except IndexMissing:
        if not build_if_missing:
            raise
        from atlas.progress import log

        log(f"atlas: no index for {config.root} yet; building one", show_progress)
        index_repo(config, show_progress=show_progress)
        reader = open_index(config.index_dir)
    return Engine(config.root, reader)


def search(
    config: IndexConfig, query: str, options: SearchOptions | None = None, show_progress: bool = True
) -> SearchResult:
    """Search the repository of `config` for `query`; returns a SearchResult."""
    return open_engine(config, show_progress=show_progress).search(query, options)
