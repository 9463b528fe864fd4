"""Options and helpers shared by every command (click and the standard library only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

repo_option = click.option(
    "--repo", "--root", "repo", type=click.Path(file_okay=False, path_type=Path), envvar="ATLAS_ROOT",
    help="Repository root (default: the enclosing repository of the working directory).",
)  # fmt: skip
index_dir_option = click.option(
    "--index-dir", type=click.Path(file_okay=False, path_type=Path), envvar="ATLAS_INDEX_DIR",
    help="Where the index lives (default: <repo>/.atlas).",
)  # fmt: skip


def config_from(obj: dict[str, Any] | None, repo: Path | None, index_dir: Path | None, **settings: Any) -> Any:
    """The IndexConfig for a command: root found from `repo`, the config file from the global --config."""
    from atlas.api import find_root, index_config

    return index_config(find_root(repo), index_dir, (obj or {}).get("config"), **settings)
