"""Index-time signal computation: roles, path priors, import graph and git history → side store.

Git mining is a subprocess plus parsing, so `start_history` runs it on a thread while the
parse pool works; `compute_store` then gathers everything aligned to the file ids.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atlas.config import IndexConfig
from atlas.index.writer import FileTable
from atlas.records import Role
from atlas.signals.git import History, HistoryOptions, mine_history
from atlas.signals.graph import build_import_graph, in_degree, neighbours, pagerank
from atlas.signals.priors import path_flags
from atlas.signals.store import SideStore

ROLE_CODES: dict[str, int] = {str(role): code for code, role in enumerate(Role)}


def history_options(config: IndexConfig) -> HistoryOptions:
    """HistoryOptions from an IndexConfig."""
    return HistoryOptions(
        max_commits=config.history_commits,
        since=config.history_since,
        half_life_days=config.history_half_life_days,
        max_commit_files=config.cochange_max_files,
        backend=config.history_backend,
    )


@dataclass(slots=True)
class HistoryJob:
    """Git history mined on a background thread."""

    thread: threading.Thread | None = None
    result: list[History] = field(default_factory=list)
    error: list[BaseException] = field(default_factory=list)

    def wait(self) -> History | None:
        """The mined history, or None when mining was off; re-raises a mining crash."""
        if self.thread is None:
            return None
        self.thread.join()
        if self.error:
            raise self.error[0]
        return self.result[0]


def start_history(config: IndexConfig) -> HistoryJob:
    """Start mining git history for `config.root` unless history is disabled."""
    job = HistoryJob()
    if not config.git_history:
        return job

    def run() -> None:
        try:
            job.result.append(mine_history(config.root, history_options(config)))
        except BaseException as err:  # handed to the caller by wait()
            job.error.append(err)

    job.thread = threading.Thread(target=run, name="atlas-git-history", daemon=True)
    job.thread.start()
    return job


def compute_store(table: FileTable, history: History | None) -> SideStore:
    """All per-file signals for the files of `table`, in file-id order."""
    store = SideStore(params={"files": len(table.paths)}, paths=list(table.paths))
    store.arrays["role"] = np.array([ROLE_CODES.get(r, ROLE_CODES["other"]) for r in table.roles], dtype=np.uint8)
    store.arrays["path_flags"] = np.array([path_flags(p) for p in table.paths], dtype=np.uint8)
    store.arrays["lines"] = np.array(table.lines, dtype=np.int32)
    languages = sorted(set(table.languages))
    code = {language: i for i, language in enumerate(languages)}
    store.params["languages"] = languages
    store.arrays["language"] = np.array([code[lang] for lang in table.languages], dtype=np.uint16)
    _add_graph(store, table)
    _add_history(store, table, history)
    return store


def _add_graph(store: SideStore, table: FileTable) -> None:
    graph = build_import_graph(list(zip(table.paths, table.languages, table.imports, strict=True)))
    n = len(table.paths)
    store.arrays["pagerank"] = pagerank(n, graph.edges).astype(np.float32)
    store.arrays["indegree"] = in_degree(n, graph.edges)
    indptr, indices = neighbours(graph)
    store.arrays["imports_indptr"] = indptr.astype(np.int64)
    store.arrays["imports_indices"] = indices.astype(np.int32)
    store.params["graph"] = {"edges": len(graph.edges), "unresolved_imports": graph.unresolved}


def _add_history(store: SideStore, table: FileTable, history: History | None) -> None:
    if history is None:
        store.params["git"] = {"available": False, "reason": "git history disabled (--no-history)"}
        return
    store.params["git"] = _history_params(history)
    if not history.available:
        return
    fid = {path: i for i, path in enumerate(table.paths)}
    n = len(table.paths)
    commits, last, decayed = np.zeros(n, np.int32), np.zeros(n, np.int64), np.zeros(n, np.float32)
    for path, info in history.files.items():
        row = fid.get(path)
        if row is not None:
            commits[row], last[row], decayed[row] = info.commits, info.last_change, info.decayed
    store.arrays.update(git_commits=commits, git_last_change=last, git_decayed=decayed)
    store.arrays.update(_cochange_csr(history, fid, n))


def _cochange_csr(history: History, fid: dict[str, int], n: int) -> dict[str, np.ndarray]:
    indptr = np.zeros(n + 1, np.int64)
    indices: list[int] = []
    support: list[int] = []
    confidence: list[float] = []
    for row, path in enumerate(fid):
        for partner in history.cochange.get(path, ()):
            other = fid.get(partner.path)
            if other is not None:
                indices.append(other)
                support.append(partner.support)
                confidence.append(partner.confidence)
        indptr[row + 1] = len(indices)
    return {
        "cochange_indptr": indptr,
        "cochange_indices": np.array(indices, np.int32),
        "cochange_data": np.array(support, np.int32),
        "cochange_confidence_data": np.array(confidence, np.float32),
    }


def _history_params(history: History) -> dict[str, Any]:
    return {
        "available": history.available,
        "reason": history.reason,
        "head": history.head,
        "newest_time": history.newest_time,
        "commits_mined": history.commits_mined,
    }

