"""Index-time signal computation: roles, path priors, import graph and git history → side store.

Git mining is a subprocess plus parsing, so `start_history` runs it on a thread while the
parse pool works; `compute_store` then gathers everything aligned to the file ids. Both can
start from the previous generation: history is mined only after the commit it stopped at, and
when the set of files did not change only the edited files' imports are resolved again.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from atlas.config import IndexConfig
from atlas.digest import content_hash, digest_number, file_stamp
from atlas.errors import WorkerLost
from atlas.index.store import HISTORY, read_index_file, write_atomic
from atlas.index.writer import FileTable
from atlas.progress import log
from atlas.records import Role
from atlas.signals.attributes import NO_MARKS, Marks
from atlas.signals.git import (
    READ_AGAIN_NOTE,
    REPLACED_NOTE,
    SHALLOW_NOTE,
    CoChange,
    FileHistory,
    History,
    HistoryOptions,
    commits_to_mine,
    has_replacements,
    head_commit,
    history_not_mined,
    is_ancestor,
    merge_histories,
    mine_history,
    read_again,
    read_in_part,
    touched_by_then,
)  # fmt: skip
from atlas.signals.graph import build_import_graph, in_degree, neighbours, pagerank
from atlas.signals.priors import VENDORED, path_flags
from atlas.signals.store import SideStore
from atlas.terms import word_hash

ROLE_CODES: dict[str, int] = {str(role): code for code, role in enumerate(Role)}
HISTORY_FILE = HISTORY
_log = logging.getLogger(__name__)


def history_options(config: IndexConfig) -> HistoryOptions:
    """HistoryOptions from an IndexConfig."""
    return HistoryOptions(
        max_commits=config.history_commits,
        since=config.history_since,
        half_life_days=config.history_half_life_days,
        max_commit_files=config.cochange_max_files,
        backend=config.history_backend,
    )


Runner = Callable[..., Callable[[], Any]]
"""Starts `fn(*args)` somewhere else and returns a function that waits for its result."""


@dataclass(slots=True)
class HistoryJob:
    """Git history being mined elsewhere: in a parse worker process, or on a thread."""

    waiter: Callable[[], tuple[History, str, float]] | None = None
    mode: list[str] = field(default_factory=list)
    result: list[History] = field(default_factory=list)
    seconds: float = 0.0

    def wait(self) -> History | None:
        """The mined history, or None when mining was off; re-raises a mining crash."""
        if self.waiter is None:
            return None
        if not self.result:
            history, mode, self.seconds = self.waiter()
            self.result.append(history)
            self.mode.append(mode)
        return self.result[0]


def start_history(
    config: IndexConfig, previous: History | None = None, runner: Runner | None = None, show_progress: bool = False
) -> HistoryJob:
    """Start mining git history for `config.root` (from where `previous` stopped, when it can).

    With `show_progress`, a long mine says on stderr how many commits it has read.

    With a `runner` (the parse pool's) it runs in a worker process: parsing the log on a thread of
    the indexing process would fight the ingest loop for the GIL (measured: 0.5 s of mining took
    1.5 s of the build's time on sphinx).
    """
    if not config.git_history:
        return HistoryJob()
    if runner is not None:
        in_worker = runner(update_history, config, previous, show_progress)
        return HistoryJob(waiter=_outliving_the_worker(in_worker, previous))
    return HistoryJob(waiter=_on_thread(update_history, config, previous, show_progress))


def _outliving_the_worker(
    wait: Callable[[], tuple[History, str, float]], previous: History | None
) -> Callable[[], tuple[History, str, float]]:
    """`wait`, but a worker that died mining (the OOM killer on a huge history) leaves the build without the newer
    history, as a failing git does, instead of failing it."""

    def wait_or_go_without() -> tuple[History, str, float]:
        started = time.monotonic()
        try:
            return wait()
        except WorkerLost as lost:
            why = f"the process mining it died: {lost.message}"
            _log.warning("git: %s; this index goes without the newer history", why)
            return history_not_mined(previous, why), "failed", time.monotonic() - started

    return wait_or_go_without


def _on_thread(fn: Callable[..., tuple[History, str, float]], *args: Any) -> Callable[[], tuple[History, str, float]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, fn(*args)))
        except BaseException as err:  # handed to the caller by the waiter
            outcome.append((False, err))

    thread = threading.Thread(target=run, name="atlas-git-history", daemon=True)
    thread.start()

    def wait() -> tuple[History, str, float]:
        thread.join()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    return wait


def update_history(
    config: IndexConfig, previous: History | None, show_progress: bool = False
) -> tuple[History, str, float]:
    """History for HEAD, how it was obtained ("unchanged", "incremental" or "full"), and seconds spent."""
    started = time.monotonic()
    mine = partial(mine_history, progress=_progress_line(started) if show_progress else None)
    history, mode = _update_history(config, previous, mine)
    return history, mode, time.monotonic() - started


def _progress_line(started: float) -> Callable[[int], None]:
    """A `mine_history` progress callback: one stderr line per report."""

    def report(commits: int) -> None:
        log(f"atlas: git history: {commits} commits read ({time.monotonic() - started:.0f}s)")

    return report


def _update_history(
    config: IndexConfig, previous: History | None, mine: Callable[..., History] = mine_history
) -> tuple[History, str]:
    options = history_options(config)
    if previous is not None and not previous.available:
        again = mine(config.root, options)  # answers at once when git still cannot mine here
        same = not again.available and again.reason == previous.reason
        return again, "unchanged" if same else "full"
    if previous is None or not previous.head or _reshaped(config.root, options, previous):
        return mine(config.root, options), "full"
    head = head_commit(config.root)
    if read_in_part(previous) and (head != previous.head or READ_AGAIN_NOTE not in previous.reason):
        # git failed part-way last time: mined whole again, since a merge would keep what that run could not read
        return read_again(previous, mine(config.root, options)), "full"
    # A --since window ("90 days ago") moves with the clock: mined again whole, commits that left it leave the
    # history, where a merge would keep them until --rebuild. The window bounds what that costs.
    sliding = options.since is not None
    if head == previous.head:
        return _window_again(config.root, options, previous, mine) if sliding else (previous, "unchanged")
    window_full = options.max_commits is not None and previous.commits_mined >= options.max_commits
    if head is None or window_full or sliding or not is_ancestor(config.root, previous.head):
        return mine(config.root, options), "full"
    newer = mine(config.root, options, since_commit=previous.head)
    if _merge_would_differ(config.root, options, previous, newer):
        return mine(config.root, options), "full"
    return merge_histories(previous, newer, options), "incremental"


def _window_again(
    root: Path, options: HistoryOptions, previous: History, mine: Callable[..., History]
) -> tuple[History, str]:
    """The --since window at the HEAD `previous` was mined at, mined again: the commits that left it since leave the
    history (they stayed, at an unchanged HEAD, until --rebuild). `previous`, "unchanged" when none left: at one HEAD
    a window only loses commits, so the same count is the same commits."""
    again = mine(root, options)
    if again.available and again.head == previous.head and again.commits_mined == previous.commits_mined:
        return previous, "unchanged"
    return again, "full"


def _reshaped(root: Path, options: HistoryOptions, previous: History) -> bool:
    """Whether the history behind `previous.head` now holds other commits than were mined from it: a shallow clone
    deepened (`git fetch --deepen`, `--unshallow`), commits replaced or grafted (`git replace`), or replacements
    deleted. Those commits are not after `previous.head`, so no update mines them: the history stayed as mined, its
    note saying shallow, until --rebuild. Only a full mine reads them; it is counted where it can have changed."""
    watched = SHALLOW_NOTE in previous.reason or REPLACED_NOTE in previous.reason or has_replacements(root)
    if not watched or previous.head is None:
        return False
    count = commits_to_mine(root, previous.head, options)
    return count is not None and count != previous.commits_mined


def _merge_would_differ(root: Path, options: HistoryOptions, previous: History, newer: History) -> bool:
    """Whether merging `newer` into `previous` would give another history than mining it whole: more commits
    than the --history window holds, a file changed again whose co-change partners either side may have cut at
    top_k (the partners past the cut cannot be added up), or a file back at HEAD with commits from before
    `previous`'s HEAD. Mining whole costs at most the window's commits, which the streaming miner reads fast."""
    if not newer.available:
        return False
    if options.max_commits is not None and previous.commits_mined + newer.commits_mined > options.max_commits:
        return True
    if any(len(row) >= options.top_k for row in newer.cochange.values()):
        return True
    changed = set(newer.files) | set(newer.moved)
    if any(len(previous.cochange.get(path, ())) >= options.top_k for path in changed):
        return True
    back = newer.tracked - previous.tracked - set(newer.moved.values())
    return bool(back) and touched_by_then(root, previous.head, back)


def save_history(generation: Path, history: History | None) -> None:
    """Persist `history` in `generation` so the next update can mine only newer commits."""
    if history is None:
        return
    data = asdict(history)
    data["tracked"] = sorted(history.tracked)
    write_atomic(generation / HISTORY_FILE, orjson.dumps(data))


def load_history(generation: Path) -> History | None:
    """The history saved by `save_history`, or None when absent or unreadable: not JSON, or a field not of its type
    and range (`_well_formed`)."""
    try:
        data = orjson.loads(read_index_file(generation / HISTORY_FILE))
        data["files"] = {path: FileHistory(**info) for path, info in data["files"].items()}
        data["cochange"] = {
            path: tuple(CoChange(**partner) for partner in partners) for path, partners in data["cochange"].items()
        }
        data["tracked"] = frozenset(data["tracked"])
        history = History(**data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return history if _well_formed(history) else None


_OBJECT_ID: Final = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256
_INT64: Final = 1 << 63
_INT32: Final = 1 << 31


def _well_formed(history: History) -> bool:
    """Whether every field of a loaded history has the type and range `save_history` writes. A count written as text
    or past int64 (a hand edit, another writer) failed the next update deep in the merge or the side store. JSON
    keys are strings; the values are checked by type sets where there are many (the words of every file)."""
    return (
        type(history.available) is bool and type(history.reason) is str
        and (history.head is None or (type(history.head) is str and _OBJECT_ID.fullmatch(history.head) is not None))
        and _whole(history.newest_time, -_INT64, _INT64) and _whole(history.commits_mined, 0, _INT32)
        and set(map(type, history.tracked)) <= {str}
        and type(history.moved) is dict and type(history.words) is dict  # read as maps: an AttributeError otherwise
        and set(map(type, history.moved.values())) <= {str, type(None)}
        and all(map(_file_ok, history.files.values()))
        and all(_partner_ok(partner) for row in history.cochange.values() for partner in row)
        and all(map(_counts_ok, history.words.values()))
    )  # fmt: skip


def _counts_ok(row: object) -> bool:
    if type(row) is not dict:
        return False
    counts = row.values()
    return not counts or (set(map(type, counts)) == {int} and min(counts) >= 0 and max(counts) < _INT32)


def _whole(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value < high


def _marked_role(role: str, generated: bool | None) -> str:
    """`role`, unless the repository's attributes say the file is generated (or, of one the parser took for
    generated, that it is not: then it is code)."""
    if generated is None:
        return role
    if generated:
        return str(Role.GENERATED)
    return str(Role.IMPL) if role == Role.GENERATED else role


def _marked_flags(flags: int, vendored: bool | None) -> int:
    """`flags` with VENDORED as the repository's attributes say, where they say it."""
    if vendored is None:
        return flags
    return flags | VENDORED if vendored else flags & ~VENDORED


def _file_ok(entry: FileHistory) -> bool:
    decayed = entry.decayed
    return (
        _whole(entry.commits, 0, _INT32) and _whole(entry.last_change, -_INT64, _INT64)
        and type(decayed) in (int, float) and math.isfinite(decayed) and decayed >= 0
    )  # fmt: skip


def _partner_ok(partner: CoChange) -> bool:
    confidence = partner.confidence
    return (
        type(partner.path) is str and _whole(partner.support, 0, _INT32)
        and type(confidence) in (int, float) and math.isfinite(confidence)
    )  # fmt: skip


def compute_store(
    table: FileTable,
    history: History | None,
    previous: SideStore | None = None,
    edited: Collection[int] | None = None,
    with_graph: bool = True,
    marks: Marks = NO_MARKS,
) -> SideStore:
    """All per-file signals for the files of `table`, in file-id order.

    With `previous` and `edited` (ids whose contents changed, the set of paths being the same),
    import edges of the other files are reused from `previous`. Without `with_graph` (a shard, whose
    imports resolve only against all the shards) the import graph is left out. `marks` (the repository's
    `linguist-vendored` and `linguist-generated` attributes) override what paths and contents suggest.
    """
    store = SideStore(params={"files": table.live}, paths=list(table.paths))
    store.arrays["role"], store.arrays["path_flags"] = marked_roles_and_flags(table, marks)
    store.arrays["lines"] = np.array(table.lines, dtype=np.int32)
    store.arrays["content_digest"] = np.array([digest_number(h or "") for h in table.hashes], dtype=np.uint64)
    stamps = [file_stamp(*facts) for facts in zip(table.sizes, table.mtimes, table.ctimes, strict=True)]
    store.arrays["file_stamp"] = np.array(stamps, dtype=np.uint64)
    languages = sorted(set(table.languages))
    code = {language: i for i, language in enumerate(languages)}
    store.params["languages"] = languages
    store.arrays["language"] = np.array([code[lang] for lang in table.languages], dtype=np.uint16)
    if with_graph:
        _add_graph(store, table, previous, edited)
    _add_history(store, table, history)
    return store


def marked_roles_and_flags(table: FileTable, marks: Marks) -> tuple[np.ndarray, np.ndarray]:
    """The side store's `role` and `path_flags` arrays for the files of `table`, as the repository's attributes
    (`marks`) override what the parser and the paths say."""
    roles = [_marked_role(role, marks.generated.get(path)) for path, role in zip(table.paths, table.roles, strict=True)]
    flags = [_marked_flags(path_flags(path), marks.vendored.get(path)) for path in table.paths]
    codes = [ROLE_CODES.get(role, ROLE_CODES["other"]) for role in roles]
    return np.array(codes, dtype=np.uint8), np.array(flags, dtype=np.uint8)


def marks_moved(store: SideStore | None, table: FileTable, marks: Marks) -> bool:
    """Whether `marks` give the files of `table` other roles or path flags than `store` (their generation's side
    store) holds: attributes no file of the tree holds (`.git/info/attributes`, `core.attributesFile`, a
    `.gitattributes` above the root or left out of the index) changed. True when `store` is missing or holds no
    such rows."""
    held_roles, held_flags = (store.get(name) if store else None for name in ("role", "path_flags"))
    if held_roles is None or held_flags is None:
        return True
    roles, flags = marked_roles_and_flags(table, marks)
    return not (np.array_equal(roles, np.asarray(held_roles)) and np.array_equal(flags, np.asarray(held_flags)))


def _add_graph(store: SideStore, table: FileTable, previous: SideStore | None, edited: Collection[int] | None) -> None:
    files = list(zip(table.paths, table.languages, table.imports, strict=True))
    go_imports = _go_imports_digest(table)
    store.params["graph_go_imports"] = go_imports
    old_edges = _reusable_edges(previous, table, go_imports) if edited is not None else None
    reuse = old_edges is not None
    graph = build_import_graph(files, only=set(edited) if reuse else None)
    edges = graph.edges
    unresolved = np.array(graph.unresolved_by_file, dtype=np.int32).reshape(-1)
    if reuse:
        kept = old_edges[~np.isin(old_edges[:, 0], list(edited))]
        edges = np.unique(np.vstack([kept, edges]).astype(np.int32), axis=0) if len(edges) else kept
        others = np.ones(len(unresolved), dtype=bool)
        others[list(edited)] = False
        unresolved[others] = np.asarray(previous.get("unresolved_imports"), dtype=np.int32)[others]
        store.params["graph_mode"] = "incremental"
    live = np.array([bool(p) for p in table.paths], dtype=bool)
    edges = edges[live[edges[:, 0]] & live[edges[:, 1]]] if len(edges) else edges.reshape(0, 2)
    n = len(table.paths)
    store.arrays["import_edges"] = edges.astype(np.int32)
    store.arrays["pagerank"] = pagerank(n, edges, live=live).astype(np.float32)
    store.arrays["indegree"] = in_degree(n, edges)
    indptr, indices = neighbours(type(graph)(graph.paths, edges, graph.unresolved))
    store.arrays["imports_indptr"] = indptr.astype(np.int64)
    store.arrays["imports_indices"] = indices.astype(np.int32)
    store.arrays["unresolved_imports"] = unresolved
    store.params["graph"] = {"edges": len(edges), "unresolved_imports": int(unresolved[live].sum())}


def _reusable_edges(previous: SideStore | None, table: FileTable, go_imports: str) -> np.ndarray | None:
    """The previous generation's import edges, when they fit `table`: the same live paths (a file skipped now,
    a tombstone, may have been an import's target), every endpoint a file id, the same Go imports (from which
    the Go module paths are guessed, and every Go file's edges with them), and per-file counts of unresolved
    imports to carry over. A damaged `import_edges.npy` (an odd count, an id past the last file) is not reused:
    every file's imports are resolved again, where it made the update crash with an IndexError.
    """
    stored = previous.get("import_edges") if previous is not None else None
    if stored is None or len(previous.paths) != len(table.paths):
        return None
    unresolved = previous.get("unresolved_imports")
    if unresolved is None or len(unresolved) != len(table.paths):
        return None
    if previous.params.get("graph_go_imports") != go_imports:
        return None
    if any(path != before for path, before in zip(table.paths, previous.paths, strict=True)):
        return None
    flat = np.asarray(stored, dtype=np.int64).reshape(-1)
    if flat.size % 2 or (flat.size and (flat.min() < 0 or flat.max() >= len(table.paths))):
        return None
    return flat.reshape(-1, 2).astype(np.int32)


def _go_imports_digest(table: FileTable) -> str:
    """A digest of every Go import string of the tree ("" when there is none)."""
    specs = sorted({spec for language, imports in zip(table.languages, table.imports, strict=True)
                    if language == "go" for spec in imports})  # fmt: skip
    return content_hash("\n".join(specs).encode("utf-8", "surrogateescape")) if specs else ""


def _add_history(store: SideStore, table: FileTable, history: History | None) -> None:
    if history is None:
        store.params["git"] = {"available": False, "reason": "git history disabled (--no-history)"}
        return
    store.params["git"] = _history_params(history)
    if not history.available:
        return
    fid = table.fids()
    n = len(table.paths)
    commits, last, decayed = np.zeros(n, np.int32), np.zeros(n, np.int64), np.zeros(n, np.float32)
    for path, info in history.files.items():
        row = fid.get(path)
        if row is not None:
            commits[row], last[row], decayed[row] = info.commits, info.last_change, info.decayed
    store.arrays.update(git_commits=commits, git_last_change=last, git_decayed=decayed)
    store.arrays.update(_cochange_csr(history, fid, n))
    _add_commit_words(store, history, fid, n)


def _add_commit_words(store: SideStore, history: History, fid: dict[str, int], n: int) -> None:
    """The words of each file's commit messages as postings: for every word (by `word_hash`, sorted in
    `commit_vocab_indices`), the files whose messages use it (`commit_postings_indices`, file ids in order)
    and how often (`commit_postings_data`); `commit_words_length` is each file's total."""
    hashes, fids, counts = [], [], []
    lengths = np.zeros(n, dtype=np.float32)
    for path, words in history.words.items():
        row = fid.get(path)
        if row is not None and words:
            hashes.extend(word_hash(word) for word in words)
            fids.extend([row] * len(words))
            counts.extend(words.values())
            lengths[row] = sum(words.values())
    word = np.array(hashes, dtype=np.uint32)
    file = np.array(fids, dtype=np.int32)
    order = np.lexsort((file, word))
    vocab, starts = np.unique(word[order], return_index=True)
    store.arrays.update(
        commit_vocab_indices=vocab.astype(np.uint32),
        commit_postings_indptr=np.append(starts, len(order)).astype(np.int64),
        commit_postings_indices=file[order],
        commit_postings_data=np.array(counts, dtype=np.int32)[order],
        commit_words_length=lengths,
    )
    described = int(np.count_nonzero(lengths))
    store.params["commit_words"] = {"files": described, "average_length": float(lengths.sum() / max(1, described))}




def _cochange_csr(history: History, fid: dict[str, int], n: int) -> dict[str, np.ndarray]:
    rows: list[list[tuple[int, int, float]]] = [[] for _ in range(n)]
    for path, row in fid.items():
        for partner in history.cochange.get(path, ()):
            other = fid.get(partner.path)
            if other is not None:
                rows[row].append((other, partner.support, partner.confidence))
    counts = np.array([len(r) for r in rows], dtype=np.int64)
    flat = [item for r in rows for item in r]
    return {
        "cochange_indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "cochange_indices": np.array([i for i, _, _ in flat], np.int32),
        "cochange_data": np.array([s for _, s, _ in flat], np.int32),
        "cochange_confidence_data": np.array([c for _, _, c in flat], np.float32),
    }


def _history_params(history: History) -> dict[str, Any]:
    return {
        "available": history.available,
        "reason": history.reason,
        "head": history.head,
        "newest_time": history.newest_time,
        "commits_mined": history.commits_mined,
    }
