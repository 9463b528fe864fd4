"""Files related to one file: its git co-change partners and its import-graph neighbours.

Reads the side store's CSR arrays (`cochange_indptr/indices/data/confidence_data`,
`imports_indptr/indices`) for the file's row; no tantivy query, no file reads. The import
graph is stored undirected, so a neighbour is a file the given file imports or one that
imports it. `confine_path` turns a path a user (or an agent) gave into an indexed path, refusing
any that would leave the repository root.
"""

from __future__ import annotations

import os
import posixpath
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from atlas.errors import InputError
from atlas.signals.store import SideStore, csr_file_id, csr_row


@dataclass(frozen=True, slots=True)
class CoChangePartner:
    """A file changed in the same commits as the given file: how many, and P(partner | file)."""

    path: str
    commits: int
    confidence: float


@dataclass(slots=True)
class Related:
    """What the side store knows about the neighbourhood of `path`."""

    path: str
    cochange: list[CoChangePartner] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    cochange_total: int = 0
    imports_total: int = 0
    notes: list[str] = field(default_factory=list)


def related_files(store: SideStore | None, path: str, limit: int = 20, min_commits: int = 2) -> Related:
    """Co-change partners (at least `min_commits` shared commits) and import neighbours of `path`.

    `path` is repository-relative as indexed. Partners come most shared commits first; import
    neighbours most central (PageRank) first. Each list holds at most `limit` entries.
    Raises InputError when `path` is not an indexed file.
    """
    if store is None:
        return Related(path, notes=["this index has no side store (rebuild with `atlas index --rebuild`)"])
    fid, path = _file_id(store, path)
    related = Related(path)
    _add_cochange(related, store, fid, limit, min_commits)
    _add_imports(related, store, fid, limit)
    return related


def confine_path(root: Path, path: str) -> str:
    """A user-given `path` as a normalised path relative to `root`; InputError when it would leave the root.

    Refused: absolute paths, `..` that climbs above the root, and paths whose real location (symbolic
    links resolved) lies outside the real root.
    """
    if "\x00" in path:
        raise InputError("the path contains a NUL character")
    real_root = os.path.realpath(root)
    if os.path.isabs(path) or os.path.expanduser(path) != path:  # `~/x`, `~user/x`; a file named `~notes.md` is not
        raise InputError(f"{path}: absolute paths are refused", _relative_hint(real_root, path))
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise InputError(f"{path}: the path leaves the repository root", f"give a path inside {root}")
    real = os.path.realpath(os.path.join(real_root, normal))
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise InputError(f"{path}: the path resolves outside the repository root", "a symbolic link leaves it")
    return "" if normal == "." else normal


def _relative_hint(real_root: str, path: str) -> str:
    real = os.path.realpath(os.path.expanduser(path))
    if real.startswith(real_root.rstrip(os.sep) + os.sep):
        return f"give it relative to the repository root: {os.path.relpath(real, real_root)}"
    return f"give a path relative to the repository root {real_root}"


def _file_id(store: SideStore, path: str) -> tuple[int, str]:
    """The row of `path` and the name it is indexed under (tombstoned rows have an empty path, so "" never matches).

    The name is `path`, or `path` in the other Unicode normal form: an agent retyping `café.py` writes it composed
    (NFC), and a name made on macOS may be decomposed (NFD), so the file it had just been given was "not indexed"."""
    forms = (path, unicodedata.normalize("NFC", path), unicodedata.normalize("NFD", path)) if path else ()
    for name in dict.fromkeys(forms):
        try:
            return store.paths.index(name), name
        except ValueError:
            continue
    raise InputError(
        f"{path or '(empty path)'}: not an indexed file",
        "give a file path relative to the repository root, as search returns it",
    )


def _add_cochange(related: Related, store: SideStore, fid: int, limit: int, min_commits: int) -> None:
    offsets = csr_row(store, "cochange", fid)
    if offsets is None:
        git = store.params.get("git", {})
        related.notes.append(f"no co-change data: {git.get('reason') or 'git history was not mined'}")
        return
    support, confidence = store.get("cochange_data"), store.get("cochange_confidence_data")
    partners = []
    for offset in offsets:
        other, commits = csr_file_id(store, "cochange", offset), int(support[offset])
        if commits >= min_commits and other != fid and store.paths[other]:
            share = round(float(confidence[offset]), 4) if confidence is not None else 0.0
            partners.append(CoChangePartner(store.paths[other], commits, share))
    partners.sort(key=lambda p: (-p.commits, -p.confidence, p.path))
    related.cochange_total = len(partners)
    related.cochange = partners[:limit]


def _add_imports(related: Related, store: SideStore, fid: int, limit: int) -> None:
    offsets = csr_row(store, "imports", fid)
    if offsets is None:
        related.notes.append("no import graph in this index")
        return
    rank = store.get("pagerank")
    ids = (csr_file_id(store, "imports", offset) for offset in offsets)
    neighbours = [other for other in ids if other != fid and store.paths[other]]
    score = (lambda n: -float(rank[n])) if rank is not None else (lambda n: 0.0)
    neighbours.sort(key=lambda n: (score(n), store.paths[n]))
    related.imports_total = len(neighbours)
    related.imports = [store.paths[n] for n in neighbours[:limit]]
