"""What the ranking tests share: index a generated repository, and the paths a query ranks first."""

from __future__ import annotations

from pathlib import Path

from atlas.api import index_config, index_repo, open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from atlas.query.fuse import weights_for


def indexed(root: Path) -> IndexConfig:
    """Index `root` with one parse process and no progress output; its configuration."""
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    return config


def top_paths(config: IndexConfig, query: str, limit: int = 5, **overrides: float) -> list[str]:
    """The paths `query` ranks first, the balanced preset's constants with `overrides` applied."""
    engine = open_engine(config, build_if_missing=False)
    options = SearchOptions(limit=limit, with_lines=False, weights=weights_for("balanced", overrides))
    return [hit.path for hit in engine.search(query, options).hits]
