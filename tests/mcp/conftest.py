"""Fixtures for the MCP server tests: an indexed copy of the generated shop repository per test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the MCP server tests need the `mcp` extra")

from atlas.api import index_config, index_repo
from tests.generated_repo import make_shop_repo


def build_index(root: Path, index_dir: Path | None = None) -> Path:
    """Index `root` (quietly) and return it."""
    index_repo(index_config(root, index_dir), show_progress=False)
    return root


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The shop repository, committed and indexed into `<root>/.atlas`."""
    return build_index(make_shop_repo(tmp_path / "shop"))
