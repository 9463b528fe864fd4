"""Frozen, validated configuration shared by the CLI, the MCP server and the library.

`IndexConfig.index_hash()` covers only what changes the bytes of an index, so a changed
hash means a rebuild and anything else does not.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from atlas.errors import UsageError

FORMAT_VERSION = 2
"""On-disk index format (see index_schema/README.md). 1: tantivy fields path/fid/filename/symbols/content/
language/role + side store. 2: NUL-separated side-store paths, skip reasons and settings remembered."""

DEFAULT_INDEX_DIRNAME = ".atlas"
DEFAULT_MAX_FILE_BYTES = 1 << 20
DEFAULT_MAX_LINE_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class FieldBoosts:
    """Per-field query boosts (BM25F-like). Stored with the index as its default."""

    filename: float = 5.0
    symbols: float = 3.0
    content: float = 1.0

    def as_dict(self) -> dict[str, float]:
        """Return the boosts keyed by tantivy field name."""
        return {"filename": self.filename, "symbols": self.symbols, "content": self.content}


REMEMBERED_SETTINGS = (
    "max_file_bytes", "max_line_length", "git_history", "history_commits", "history_since",
    "history_half_life_days", "cochange_max_files",
)  # fmt: skip
"""IndexConfig fields that change what is indexed: an index remembers them, later runs reuse them."""


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """What an index build needs to know."""

    root: Path
    index_dir: Path
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH
    jobs: int = 0
    boosts: FieldBoosts = field(default_factory=FieldBoosts)
    git_history: bool = True
    history_commits: int | None = 10_000
    history_since: str | None = None
    history_half_life_days: float = 90.0
    history_backend: str = "git"
    cochange_max_files: int = 50
    memory_bytes: int = 1 << 30
    file_settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The config file's [index] values this config was made from; the manifest keeps them (see `atlas.api`)."""
    explicit: frozenset[str] | None = field(default=None, compare=False)
    """Settings given as flags, which the index's remembered settings never replace; None: all of them."""

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise UsageError("--max-file-size must be a positive number of bytes")
        if self.jobs < 0:
            raise UsageError("--jobs must be 0 (all cores) or a positive number")
        if self.history_backend not in ("git", "pydriller"):
            raise UsageError(f"unknown history backend {self.history_backend!r}", "use git or pydriller")

    @property
    def workers(self) -> int:
        """Parse processes to start: --jobs, or every core."""
        return self.jobs or os.cpu_count() or 1

    def settings(self) -> dict[str, Any]:
        """The settings that shape the index (REMEMBERED_SETTINGS) by name: what its manifest remembers."""
        return {name: getattr(self, name) for name in REMEMBERED_SETTINGS}

    def index_hash(self) -> str:
        """Hash of the settings that change what is indexed; a change forces a rebuild."""
        relevant = {"format": FORMAT_VERSION, "boosts": asdict(self.boosts), **self.settings()}
        return hashlib.sha256(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def resolve_index_dir(root: Path, index_dir: str | Path | None) -> Path:
    """The index directory: explicit value, else $ATLAS_INDEX_DIR, else `<root>/.atlas`."""
    chosen = index_dir or os.environ.get("ATLAS_INDEX_DIR")
    if chosen:
        return Path(chosen).expanduser().resolve()
    return root / DEFAULT_INDEX_DIRNAME


CONFIG_FILENAME = "atlas.toml"


def load_config_file(root: Path, explicit: str | Path | None = None) -> dict[str, dict[str, object]]:
    """Settings from `--config FILE`, $ATLAS_CONFIG, or `<root>/atlas.toml` (first found; {} if none).

    Sections: `[index]` (IndexConfig fields), `[search]` (preset, limit) and `[search.weights]`
    (FusionWeights fields, `prior.<role>`). Command-line flags override the file.
    """
    import tomllib

    chosen = explicit or os.environ.get("ATLAS_CONFIG")
    path = Path(chosen).expanduser() if chosen else root / CONFIG_FILENAME
    if not path.is_file():
        if chosen:
            raise UsageError(f"{path}: config file not found", "pass an existing file with --config")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: the config file is not valid TOML ({err})", "fix or remove it") from err
    unknown = set(data) - {"index", "search"}
    if unknown:
        raise UsageError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}", "use [index] and [search]")
    return data
