"""The side store: per-file numeric signals as `.npy` arrays aligned to file ids.

    signals/
      params.json      what was computed, from what, and why something is absent (orjson)
      paths.txt        file id → path, one per line (for path look-ups without tantivy)
      <name>.npy       one array per signal, row = file id; CSR triples for pair signals

Arrays are written once per generation and memory-mapped at query time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from atlas.errors import IndexCorrupt
from atlas.index.store import SIGNALS_DIR, write_atomic

STORE_VERSION = 1
PARAMS = "params.json"
PATHS = "paths.txt"


@dataclass(slots=True)
class SideStore:
    """Arrays by name plus their parameters; `paths[i]` is file id i."""

    params: dict[str, Any]
    paths: list[str]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray | None:
        """The array `name`, or None when that signal was not computed."""
        return self.arrays.get(name)


def write_store(generation: Path, store: SideStore) -> None:
    """Write `store` into `generation/signals/`."""
    directory = generation / SIGNALS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name, array in store.arrays.items():
        np.save(directory / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        checksums[f"{name}.npy"] = file_digest(directory / f"{name}.npy")
    write_atomic(directory / PATHS, "\n".join(store.paths).encode("utf-8"))
    checksums[PATHS] = file_digest(directory / PATHS)
    params = {**store.params, "store_version": STORE_VERSION, "arrays": sorted(store.arrays), "checksums": checksums}
    write_atomic(directory / PARAMS, orjson.dumps(params, option=orjson.OPT_INDENT_2))


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_store(generation: Path) -> SideStore | None:
    """Memory-map the side store of `generation`; None if the generation has none."""
    directory = generation / SIGNALS_DIR
    try:
        params = orjson.loads((directory / PARAMS).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as err:
        raise IndexCorrupt(f"{directory}: the side store's parameters are unreadable ({err})") from err
    try:
        text = (directory / PATHS).read_text(encoding="utf-8")
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in params.get("arrays", [])}
    except (OSError, ValueError) as err:
        raise IndexCorrupt(f"{directory}: a side-store array is missing or damaged ({err})") from err
    paths = text.split("\n") if text else []
    for name, array in arrays.items():
        if not name.endswith(("_indices", "_data", "_indptr", "_edges")) and len(array) != len(paths):
            raise IndexCorrupt(f"{directory}: {name}.npy has {len(array)} rows for {len(paths)} files")
    return SideStore(params, paths, arrays)
