"""Atlas: local code search and context selection for source repositories.

The library API lives in `atlas.api`; its names are re-exported here lazily so that
`import atlas` stays cheap (no tantivy, tree-sitter or numpy until they are needed).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API_NAMES = ("index_repo", "search", "status", "open_index")


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from atlas import api

        return getattr(api, name)
    raise AttributeError(f"module 'atlas' has no attribute {name!r}")
