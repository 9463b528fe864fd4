"""What the ranking tests share: index a generated repository, and the paths a query ranks first."""

from __future__ import annotations

from pathlib import Path

from atlas.api import index_config, index_repo, open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from atlas.query.fuse import weights_for
from tests.conftest import init_repo, write_tree

FILLER = {
    "app/views.py": "def index(request):\n    return render('index.html')\n",
    "app/models.py": "class Account:\n    name = ''\n",
    **{f"app/page_{i}.py": f"def page_{i}(request):\n    return render('page_{i}.html')\n" for i in range(10)},
}
"""Files about something else, so that a query's words are rare enough in a small repository to weigh."""


def indexed(root: Path) -> IndexConfig:
    """Index `root` with one parse process and no progress output; its configuration."""
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    return config


def indexed_with_filler(root: Path, files: dict[str, str]) -> IndexConfig:
    """`files` and FILLER written under `root`, committed in one commit, indexed."""
    write_tree(root, {**files, **FILLER})
    init_repo(root, message="Initial import")
    return indexed(root)


def top_paths(config: IndexConfig, query: str, limit: int = 5, **overrides: float) -> list[str]:
    """The paths `query` ranks first, the balanced preset's constants with `overrides` applied."""
    engine = open_engine(config, build_if_missing=False)
    options = SearchOptions(limit=limit, with_lines=False, weights=weights_for("balanced", overrides))
    return [hit.path for hit in engine.search(query, options).hits]
