"""The MCP server: a stdio shell over `atlas.api` that keeps one index open for a coding agent.

A tool call goes: JSON Schema check of the arguments → `Session.ready()` (freshness) → one `atlas.api`
call → compact JSON under the tool's byte cap, paths relative to the root. What this module owns:

- Tools `search`, `context`, `symbols`, `related`, `index`, `status`. A bad argument is a tool error
  (`isError`) that says what to fix, never a crash; so is a path that leaves the root (`..`, absolute,
  symbolic links out; refused by the api). The server writes nothing but the index, through the api.
- The index directory is looked at (one `lstat`) before each call: swapped under the server for a file or a
  symbolic link, or reached through a directory above it swapped for one (its device and inode, then its real path,
  are not those the server started with), it is refused as the CLI refuses it at its start
  (`refuse_swapped_index_dir`); removed, it is rebuilt.
- Bounds: when an answer would pass its cap, trailing results are dropped and it says `"truncated"`.
- Freshness: at most every `check_interval` seconds it compares the tree with the index (walk + stat).
  A small change is indexed before answering; a large or slow one on a background thread, while
  answers come from the old index and say `"stale"` with counts.
- stdout carries protocol messages only: while it serves, fd 1 points at stderr (`mcp_stdout.claimed_stdout`),
  and logging goes to stderr. Answers are written whole; a client that closes its end of stdout ends the server
  at once (exit 0), one that reads nothing of an answer for `write_timeout` seconds ends it with exit 3. A request
  line is read up to a cap (`mcp_stdin.MAX_LINE_CHARS`): a longer one gets a parse error.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import signal
import stat
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import anyio
import anyio.to_thread
import jsonschema
import mcp_types as types
import orjson
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from atlas import __version__, api
from atlas.config import IndexConfig, refuse_own_link_out
from atlas.errors import (
    AtlasError,
    IndexBusy,
    IndexCorrupt,
    IndexMissing,
    InputError,
    UsageError,
    is_native_panic,
    limit_error,
    shown_to_user,
)
from atlas.mcp_stdin import Requests, claimed_stdin
from atlas.mcp_stdout import GONE, WRITE_TIMEOUT, Wire, claimed_stdout
from atlas.native_stderr import stderr_fd
from atlas.output import hit_record, output_error
from atlas.safe_read import quoted_value

if TYPE_CHECKING:
    from atlas.query.engine import Engine, SearchOptions

logger = logging.getLogger("atlas.mcp")

CHECK_INTERVAL = 2.0  # seconds between two freshness checks (walk + stat of the tree)
STATUS_SHARE = 20.0  # the interval is at least this times the last check's duration: checks cost <= 5%
MAX_SYNC_FILES = 200  # refresh before answering only when at most this many files changed ...
MAX_SYNC_SECONDS = 3.0  # ... and the refresh should take at most this long; else refresh in the background
FULL_BUILD_FILES_PER_SECOND = 500.0  # a refresh's cost before one was timed (a full build on 2 cores)
FIRST_BUILD_WAIT = 30.0  # how long a call waits for the first build before saying it still runs
DRAIN_SECONDS = 60.0  # at the end of input, how long the requests still running get to send their answers
MAX_QUERY_CHARS = 20_000
MAX_SNIPPET_LINES = 15
MAX_LINE_CHARS = 240
MAX_SYMBOLS_PER_HIT = 12
MAX_EXAMPLES = 10
CONTEXT_CAP = 100_000
"""The most bytes of a `context` answer: 16,000 tokens of code, JSON-escaped, with room to spare."""
STATUS_CAP = 8_000


Lists = str | tuple[str, ...] | None
"""The list of an answer that may be cut to fit its cap, or the lists, in the order they are cut."""


def bounded(payload: dict[str, Any], key: Lists, cap: int, hint: str = "narrow the request") -> str:
    """`payload` as JSON of at most `cap` bytes, dropping trailing items of `payload[key]` if needed (of each list
    `key` names in turn, when it names several: `related` cuts its co-change partners, then its imports).

    Sets `truncated` (and `omitted`, and `hint`) when items were dropped here; keeps a `truncated` already set.
    """
    keys = (key,) if isinstance(key, str) else key or ()
    if keys:
        payload.setdefault("truncated", False)
    data = orjson.dumps(payload)
    omitted = 0
    for name in keys:
        if len(data) <= cap:
            break
        if not payload.get(name):
            continue
        items = payload[name]
        keep = _fitting_count(payload, name, cap, hint, omitted)
        omitted += len(items) - keep
        payload = {**payload, name: items[:keep], "truncated": True, "omitted": omitted, "hint": hint}
        data = orjson.dumps(payload)
    if len(data) > cap:
        too_big = {"error": f"the answer was over {cap} bytes and could not be shortened", "truncated": True}
        return orjson.dumps(too_big).decode()
    return data.decode()


def _fitting_count(payload: dict[str, Any], key: str, cap: int, hint: str, omitted: int = 0) -> int:
    """The largest n such that `payload` with the first n items of `payload[key]` fits in `cap` bytes (`omitted`:
    the items already dropped from the lists cut before it)."""
    items, low, high = payload[key], 0, len(payload[key])
    while low < high:
        middle = (low + high + 1) // 2
        dropped = omitted + len(items) - middle
        trial = {**payload, key: items[:middle], "truncated": True, "omitted": dropped, "hint": hint}
        if len(orjson.dumps(trial)) <= cap:
            low = middle
        else:
            high = middle - 1
    return low


def clip_text(text: str, max_lines: int = MAX_SNIPPET_LINES, max_chars: int = MAX_LINE_CHARS) -> str:
    """At most `max_lines` lines of at most `max_chars` characters, saying how much was left out."""
    lines = text.split("\n")
    kept = [line if len(line) <= max_chars else line[:max_chars] + "…" for line in lines[:max_lines]]
    if len(lines) > max_lines:
        kept.append(f"… ({len(lines) - max_lines} more lines)")
    return "\n".join(kept)


class Session:
    """One open index and the policy that keeps it fresh; tool calls run one at a time."""

    def __init__(self, config: IndexConfig, config_file: Path | None = None, check_interval: float = CHECK_INTERVAL):
        self.config, self.config_file = config, config_file
        self.base_interval = self.interval = check_interval
        self.engine: Engine | None = None
        self.base_options: SearchOptions = api.search_options(config.root, config_file)
        self.refresh_lock, self.call_lock = threading.Lock(), threading.Lock()
        self.built = threading.Event()
        self.checked_at = float("-inf")
        self.stale: dict[str, Any] | None = None
        self.removed: frozenset[str] = frozenset()  # indexed files the last check found the walk without
        self.refresh_seconds: float | None = None
        self.last_error = self.last_hint = ""
        self.damaged = ""  # why the index could not be opened; the next refresh rebuilds it from scratch
        self.published_before = 0  # generations this process had published when the last refresh started
        self.blocked = False  # the last refresh failed on another process's lock: the next call tries again
        self.limited: AtlasError | None = None  # why the index could not be opened, when no fault of the index
        self.index_pin = DirectoryPin.taken(config.index_dir)

    def refuse_swapped_index_dir(self) -> None:
        """InputError when the index directory was swapped under the server for one it may not use; see
        `refuse_swapped_index_dir`. Called before each call reads or writes the index."""
        refuse_swapped_index_dir(self.config, self.index_pin)

    def start(self) -> None:
        """Open the index; build it in the background when there is none, rebuild it when it is damaged."""
        try:
            self.engine = api.open_engine(self.config, build_if_missing=False, show_progress=False)
            self.built.set()
        except IndexMissing:
            logger.warning("no index for %s yet; building one in the background", self.config.root)
            self.stale = {"building": True}
            self.start_background()
        except Exception as err:  # IndexCorrupt, or anything else an unreadable index raises: never fatal
            if (limit := limit_error(err)) is not None:  # out of descriptors: the index is not at fault
                self._cannot_open(limit)
                return
            self.damaged = _describe(err)
            logger.warning("the index of %s is damaged (%s); rebuilding it in the background", self.config.root,
                           self.damaged)  # fmt: skip
            self.stale = {"building": True, "reason": f"the index was damaged ({self.damaged}); rebuilding it"}
            self.start_background()

    def _cannot_open(self, limit: AtlasError) -> None:
        """The index could not be opened for want of a resource of the process (file descriptors): not damage, so
        nothing is rebuilt; each call tries to open it again, and says why it could not."""
        logger.warning("cannot open the index of %s: %s", self.config.root, limit.message)
        self.limited = limit
        self.built.set()

    def ready(self) -> tuple[Engine, dict[str, Any] | None]:
        """The engine to answer from, after a freshness check, and a staleness note (None when fresh)."""
        self.refuse_swapped_index_dir()
        if self.built.wait(FIRST_BUILD_WAIT) and self.engine is None:
            self._recover()
        if self.engine is None:
            raise self._not_ready()
        note = self.check()
        self._reopen_if_rewritten()
        assert self.engine is not None
        return self.engine, note

    def _reopen_if_rewritten(self) -> None:
        """Open the index again when a segment file the engine maps was changed in place under the server (a `cp` of
        another index over the live one): the next touch of a page past a truncated file's end killed the server
        with SIGBUS. When the generation no longer opens, it is damaged: rebuilt in the background, as at start, and
        this call says so. Costs a directory read and a `stat` per segment file."""
        assert self.engine is not None
        changed = self.engine.reader.rewritten_in_place()
        if not changed:
            return
        logger.warning("%s: %s was changed in place under the server; opening the index again",
                       self.config.index_dir, changed)  # fmt: skip
        self.engine = None
        self.start()
        if self.engine is None:
            raise IndexCorrupt(
                f"the index of {self.config.root} was changed in place under the server ({changed}) and no longer "
                f"opens ({self.damaged}); it is being rebuilt",
                "call again shortly; restore a cached index with `atlas import`, or while no Atlas serves it",
            )

    def _recover(self) -> None:
        """After a first build (or rebuild) that failed: answer from what another process published since, else,
        when another process's lock stopped it, build again and wait for it as for the first. Another failure (a
        read-only or full disk) is reported as it is: building again at once would only meet it again."""
        from atlas.index.store import current_generation

        if current_generation(self.config.index_dir) is not None:
            self._follow_published()
        if self.engine is not None:
            self.damaged = self.last_error = self.last_hint = ""
            self.limited = None
        elif self.blocked and self.refresh_lock.acquire(timeout=FIRST_BUILD_WAIT):  # the failed build may hold it
            if self.engine is not None:
                self.refresh_lock.release()
                return
            self.built.clear()
            threading.Thread(target=self._background, name="atlas-refresh", daemon=True).start()
            self.built.wait(FIRST_BUILD_WAIT)

    def _not_ready(self) -> AtlasError:
        """Why there is no index to answer from yet, and what to do about it."""
        root = self.config.root
        if self.limited is not None:
            return self.limited
        if not self.built.is_set() or not self.last_error:
            return IndexMissing(f"the index of {root} is still being built", "call again shortly")
        if self.damaged:
            return IndexCorrupt(
                f"the index of {root} is damaged ({self.damaged}) and rebuilding it failed: {self.last_error}",
                f"{self.last_hint or 'fix that'}; then call the `index` tool, or run `atlas index --rebuild {root}`",
            )
        again = "call again (each call tries again)" if self.blocked else "call the `index` tool"
        return IndexMissing(
            f"building the index of {root} failed: {self.last_error}",
            f"{self.last_hint or 'fix that'}; then {again}, or run `atlas index {root}`",
        )

    def check(self) -> dict[str, Any] | None:
        """Notice changed files (at most every `interval` seconds) and refresh now or in the background."""
        if self.refresh_lock.locked():
            return self.stale
        if time.monotonic() - self.checked_at < self.interval:
            return self.stale
        started = time.monotonic()
        status = self.index_status()
        self.checked_at, self.removed = time.monotonic(), frozenset(status.removed)
        if self.base_interval > 0:  # 0 means "check before every call", whatever it costs
            self.interval = max(self.base_interval, (self.checked_at - started) * STATUS_SHARE)
        self._follow_published()
        if status.fresh:
            self.stale = None
            self.forget_errors()
        elif self._refresh_now(status):
            self._refresh_or_lag(status)
        else:
            self.stale = stale_note(status)
            self.start_background()
        return self.stale

    def forget_errors(self) -> None:
        """The index is fresh, whoever brought it up to date (this server, `atlas index`, another server): an
        earlier refresh's failure no longer says anything about it."""
        self.last_error = self.last_hint = ""

    def _refresh_or_lag(self, status: Any) -> None:
        """Refresh now; when that fails (a read-only or full disk), answer from the index in hand and say why."""
        try:
            self.refresh()
        except Exception as err:
            logger.error("refresh failed: %s", _describe(err))
            self.stale = {**stale_note(status), "refreshing": False, "refresh_error": self.last_error,
                          "note": REFRESH_FAILED}  # fmt: skip

    def _follow_published(self) -> None:
        """Answer from the live generation when another process (`atlas index`, another server) published one."""
        try:
            self._open_live()
        except Exception as err:  # the generation open keeps answering; the next refresh reports the damage
            logger.warning("could not open the index generation published for %s: %s", self.config.root,
                           _describe(err))  # fmt: skip

    def _open_live(self) -> None:
        """Open the live generation unless the engine already answers from it."""
        from atlas.index.store import current_generation

        live = current_generation(self.config.index_dir)
        if self.engine is None or live != self.engine.reader.generation:
            self.engine = api.open_engine(self.config, build_if_missing=False, show_progress=False)

    def _refresh_now(self, status: Any) -> bool:
        pending = len(status.changed) + len(status.added) + len(status.removed)
        estimate = status.files / FULL_BUILD_FILES_PER_SECOND if self.refresh_seconds is None else self.refresh_seconds
        return status.exists and not status.reason and pending <= MAX_SYNC_FILES and estimate <= MAX_SYNC_SECONDS

    def refresh(self) -> Any:
        """Bring the index up to date now (waiting for a background refresh first); the IndexReport or None."""
        with self.refresh_lock:
            return self._refresh_locked()

    def start_background(self) -> None:
        """Refresh on a thread unless a refresh already runs."""
        if self.refresh_lock.acquire(blocking=False):
            threading.Thread(target=self._background, name="atlas-refresh", daemon=True).start()

    def _background(self) -> None:
        try:
            self._refresh_locked()
        except Exception as err:  # reported in `stale` and `status`; the old index keeps answering
            logger.error("background refresh failed: %s", err)
        finally:
            self.refresh_lock.release()

    def _refresh_locked(self) -> Any:
        from atlas.index import store

        started = time.monotonic()
        self.published_before = len(store.published)
        try:
            self.refuse_swapped_index_dir()
            if self.damaged:
                report = api.index_repo(self.config, show_progress=False, rebuild=True)
            else:
                report = api.refresh_index(self.config, show_progress=False)
            self._open_live()
        except Exception as err:
            self.last_error = _describe(err)
            self.last_hint = err.hint if isinstance(err, AtlasError) and err.hint != AtlasError.default_hint else ""
            self.blocked = isinstance(err, IndexBusy)
            if self.stale is not None:  # a background refresh: its note said "being updated"
                self.stale = {**self.stale, "refreshing": False, "refresh_error": self.last_error,
                              "note": REFRESH_FAILED}  # fmt: skip
            raise
        finally:
            self.built.set()
        self.refresh_seconds = time.monotonic() - started
        self.last_error, self.damaged, self.stale, self.checked_at = "", "", None, time.monotonic()
        self.removed = frozenset()
        return report

    def index_status(self) -> Any:
        """`api.index_status` of the session's index (files the parser skipped are not new: the index records them)."""
        self.refuse_swapped_index_dir()
        return api.index_status(self.config)

    def search_options(self, **settings: Any) -> SearchOptions:
        """The session's search options (config file, preset) with `settings` applied."""
        return replace(self.base_options, **settings)


REFRESH_FAILED = "answers come from the index as it was; updating it failed"


@dataclass(slots=True)
class DirectoryPin:
    """The index directory as the server found it at its start: its real path, and the (device, inode) its path led
    to, which a directory made anew at that same real path (the index removed and rebuilt) takes over."""

    real: str
    key: tuple[int, int] | None
    """None while there is no directory (the first build makes it)."""
    linked: bool
    """The path itself is a symbolic link (a `.atlas` linked inside the repository): its target is pinned."""

    @classmethod
    def taken(cls, path: Path) -> DirectoryPin:
        """The pin of the directory at `path` now."""
        linked = os.path.islink(path)
        try:
            key = _directory_key(os.stat(path))
        except OSError:
            key = None
        return cls(os.path.realpath(path), key, linked)

    def refuse_moved(self, path: Path) -> None:
        """InputError when `path` no longer leads where it led at the start: a directory above it (the repository's
        root, for `.atlas`) was replaced by a symbolic link, so the path reaches another index, or none."""
        now = os.path.realpath(path)
        if now != self.real:
            raise _moved_by_link(path, now, self.real)


def refuse_swapped_index_dir(config: IndexConfig, pin: DirectoryPin) -> None:
    """InputError when the index directory of a running server was replaced by one no command may use: a file, a FIFO
    or a link to nothing (refused as `store.refuse_non_directory` refuses it at a command's start), a `.atlas` linked
    out of the repository (`refuse_own_link_out`), a symbolic link where the server started with a directory, or a
    path that leads elsewhere than at the start because a directory above it was replaced by a link (`pin`).
    Checked only at the start, the server followed such a link: a copy of another repository's index answered with
    that repository's files, and the `index` tool built there, replacing it. A directory removed is let through: the
    index the server holds answers while it is rebuilt, at the same real path. One `lstat` while the directory is the
    one pinned; the lstat follows the links above it, so one swapped there shows another (device, inode)."""
    path = config.index_dir
    try:
        key = _directory_key(os.stat(path) if pin.linked else os.lstat(path))
    except FileNotFoundError:
        pin.refuse_moved(path)
        return
    except OSError:
        key = None  # a parent replaced by a file, or a loop: `refuse_non_directory` says which
    if key is not None and key == pin.key:
        return
    from atlas.index.store import refuse_non_directory

    refuse_non_directory(path)
    if os.path.islink(path):
        refuse_own_link_out(path, config.root)
        if not pin.linked:
            raise _replaced_by_link(path)
    pin.refuse_moved(path)
    if key is not None:
        pin.key = key  # a directory made anew where it was: the server's own rebuild, or `atlas index`'s


def _directory_key(found: os.stat_result) -> tuple[int, int] | None:
    """The (device, inode) of what `found` describes when it is a directory, else None."""
    return (found.st_dev, found.st_ino) if stat.S_ISDIR(found.st_mode) else None


def _moved_by_link(index_dir: Path, now: str, then: str) -> InputError:
    """The error of an index directory reached, through a directory above it replaced by a symbolic link, elsewhere
    than where the server started."""
    return InputError(
        f"the index directory {index_dir} now leads to {now}, not to {then} where the server started: a directory "
        "above it was replaced by a symbolic link while the server ran, and the server reads and writes only the "
        "directory it started with",
        "put the directory back; restart the server to use the index the path leads to now",
    )


def _replaced_by_link(index_dir: Path) -> InputError:
    """The error of an index directory replaced by a symbolic link while the server ran."""
    target = os.path.realpath(index_dir)
    return InputError(
        f"the index directory {index_dir} was replaced by a symbolic link to {target} while the server ran, and the "
        "server reads and writes only the directory it started with",
        "put the directory back, or remove the link to have the index rebuilt; restart the server to use the index "
        "the link leads to",
    )


def _describe(err: Exception) -> str:
    """An error in one line: an AtlasError's sentence, else its type and text."""
    return clip_text(getattr(err, "message", None) or f"{type(err).__name__}: {err}", 1, 300)


def stale_note(status: Any) -> dict[str, Any]:
    """What an answer says about an index that lags the working tree."""
    counts = {name: len(getattr(status, name)) for name in ("changed", "added", "removed")}
    reason = status.reason or "files changed since the index was built"
    note = "answers come from the index as it was; it is being updated in the background"
    return {**counts, "reason": reason, "refreshing": True, "note": note}


def run_search(session: Session, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The `search` tool: ranked files for a query."""
    options = session.search_options(
        limit=args.get("limit", 10),
        languages=tuple(args.get("languages", ())),
        paths=tuple(args.get("paths", ())),
        with_lines=args.get("lines", True),
    )
    engine, stale = session.ready()
    result = api.search_leaving_out(engine, args["query"], options, session.removed)
    payload: dict[str, Any] = {"query": clip_text(result.query, 3, 200), "results": [_hit(h) for h in result.hits]}
    payload.update(took_ms=round(result.took_ms, 1), documents=result.documents)
    return _with_notes(payload, result.notes, stale), "results"


def _hit(hit: Any) -> dict[str, Any]:
    record = hit_record(hit)
    del record["type"], record["schema_version"]
    omitted = record.get("symbols_omitted", 0) + max(0, len(record["symbols"]) - MAX_SYMBOLS_PER_HIT)
    record["symbols"] = record["symbols"][:MAX_SYMBOLS_PER_HIT]
    record.update({"symbols_omitted": omitted} if omitted else {})
    for lines in record["lines"]:
        lines["text"] = clip_text(lines["text"])
    return record


def run_symbols(session: Session, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The `symbols` tool: definitions by name."""
    paths = tuple(args.get("paths", ()))
    engine, stale = session.ready()
    found = api.find_symbols(
        engine, args["name"], args.get("kind"), args.get("case_sensitive", False), paths, args.get("limit", 30)
    )
    left_out = _left_out(session, engine, [m.path for m in found.matches])
    kept = [m for m in found.matches if m.path not in left_out]
    matches = [{k: v for k, v in asdict(m).items() if v != ""} for m in kept]
    total = found.total - (len(found.matches) - len(kept))
    payload = {"name": found.name, "matches": matches, "total": total, "files_searched": found.files_searched}
    payload["truncated"] = total > len(matches) or found.incomplete
    notes = [f"only the first {found.files_searched} files defining the name were read"] if found.incomplete else []
    return _with_notes(payload, notes + _left_out_notes(left_out), stale), "matches"


def run_related(session: Session, args: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The `related` tool: co-change partners and import neighbours of a file."""
    engine, stale = session.ready()
    found = api.related_files(engine, args["path"], args.get("limit", 20), args.get("min_commits", 2))
    left_out = _left_out(session, engine, [p.path for p in found.cochange] + found.imports)
    cochange = [p for p in found.cochange if p.path not in left_out]
    imports = [path for path in found.imports if path not in left_out]
    cochange_total = found.cochange_total - (len(found.cochange) - len(cochange))
    imports_total = found.imports_total - (len(found.imports) - len(imports))
    payload: dict[str, Any] = {"path": found.path, "cochange": [asdict(p) for p in cochange]}
    payload.update(cochange_total=cochange_total, imports=imports, imports_total=imports_total)
    payload["truncated"] = cochange_total > len(cochange) or imports_total > len(imports)
    return _with_notes(payload, found.notes + _left_out_notes(left_out), stale), ("cochange", "imports")


def _left_out(session: Session, engine: Engine, paths: list[str]) -> set[str]:
    """Which of `paths` the ignore rules leave out now (`api.left_out_now`; the last check's missing files asked)."""
    return set(api.left_out_now(engine, list(dict.fromkeys(paths)), session.removed))


def _left_out_notes(left_out: set[str]) -> list[str]:
    return [api.left_out_note(path) for path in sorted(left_out)]


def run_context(session: Session, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The `context` tool: the code to read for a task, within a token budget."""
    from atlas.context import ContextOptions  # the options record of api.select_context

    config_file = str(session.config_file) if session.config_file else None
    options = ContextOptions(
        preset=args.get("preset", "balanced"), max_tokens=args.get("max_tokens", 6000), index="require",
        config_file=config_file,
    )  # fmt: skip
    engine, stale = session.ready()
    selection = api.select_context(session.config, args["task"], options, engine=engine)
    payload = _context_payload(selection, stale)
    size = len(orjson.dumps(payload))
    if size > CONTEXT_CAP and selection.total_bytes:
        # Text that JSON escapes heavily (tabs, control characters) can overflow the answer within the token
        # budget: select again within the bytes that fit, rather than dropping whole entries afterwards.
        fitting = int(selection.total_bytes * CONTEXT_CAP * 0.9 / size)
        selection = api.select_context(session.config, args["task"], replace(options, max_bytes=max(fitting, 1)),
                                       engine=engine)  # fmt: skip
        payload = _context_payload(selection, stale)
    return payload, "entries"


def _context_payload(selection: Any, stale: dict[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"task": clip_text(selection.task, 3, 200), "total_tokens": selection.total_tokens}
    payload["entries"] = [_entry(entry) for entry in selection.entries]
    payload["skipped"] = [{"path": s.path, "reason": s.reason} for s in selection.skipped[:MAX_EXAMPLES]]
    payload["skipped_total"] = len(selection.skipped)
    return _with_notes(payload, selection.notes, stale)


def _entry(entry: Any) -> dict[str, Any]:
    record = asdict(entry)
    for name in ("signals", "bytes", "file_bytes", "file_tokens"):
        record.pop(name, None)
    for chunk in record["chunks"]:
        chunk.pop("terms", None)
    return record


def run_index(session: Session, args: dict[str, Any]) -> tuple[dict[str, Any], None]:
    """The `index` tool: bring the index up to date now."""
    started = time.monotonic()
    report = session.refresh()
    payload: dict[str, Any] = {"refreshed": report is not None, "seconds": round(time.monotonic() - started, 3)}
    if report is not None:
        fields = ("mode", "files_indexed", "changed", "added", "removed", "parse_errors", "symbols")
        payload.update({name: getattr(report, name) for name in fields if hasattr(report, name)})
    return payload, None


def run_status(session: Session, args: dict[str, Any]) -> tuple[dict[str, Any], None]:
    """The `status` tool: how the index relates to the working tree, and what the server is doing."""
    status = session.index_status()
    if status.fresh:
        session.forget_errors()
    payload: dict[str, Any] = {
        "root": str(session.config.root), "index_dir": str(session.config.index_dir), "exists": status.exists,
        "fresh": status.fresh, "reason": status.reason, "files": status.files, "commit": status.commit,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(status.built_at)) if status.built_at else None,
        "index_bytes": status.index_bytes,
        "changed": len(status.changed), "added": len(status.added), "removed": len(status.removed),
        "examples": {name: getattr(status, name)[:MAX_EXAMPLES] for name in ("changed", "added", "removed")},
        "refreshing": session.refresh_lock.locked(), "last_refresh_seconds": session.refresh_seconds,
        "last_error": session.last_error, "damaged": session.damaged or (status.reason if status.damaged else ""),
        "check_interval_seconds": round(session.interval, 2),
        "atlas_version": __version__,
    }  # fmt: skip
    return _examples_that_fit(payload, STATUS_CAP), None


def _examples_that_fit(payload: dict[str, Any], cap: int) -> dict[str, Any]:
    """`payload` (a `status` answer) with as many of its example paths as fit in `cap` bytes, `truncated` when some
    were left out: ten of each of three lists of long paths (a deep tree's 300 characters) did not fit."""
    examples = payload["examples"]
    for count in range(MAX_EXAMPLES, -1, -1):
        shown = {name: paths[:count] for name, paths in examples.items()}
        cut = shown != examples
        trial = {**payload, "examples": shown, **({"truncated": True} if cut else {})}
        if len(orjson.dumps(trial)) <= cap:
            return trial
    return payload


def _with_notes(payload: dict[str, Any], notes: list[str], stale: dict[str, Any] | None) -> dict[str, Any]:
    payload.update({"notes": notes} if notes else {})
    payload.update({"stale": stale} if stale else {})
    return payload


_GLOBS = {
    "type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 300},
    "description": (
        "Keep only files whose repository-relative path matches one of these: a glob (`src/**/*.py`, `*.ts`; "
        "`*` stays within a directory, `**` crosses them) or a plain substring (`payments/`). A leading `/` "
        "anchors at the repository root."
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: what the agent sees (name, description, JSON Schema) and how it runs."""

    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[Session, dict[str, Any]], tuple[dict[str, Any], Lists]]
    cap: int
    read_only: bool = True
    shorten: str = "ask for fewer results (limit) or narrow the request"
    """The hint of an answer cut to fit `cap`."""

    def as_tool(self) -> types.Tool:
        """The MCP `Tool` record."""
        hints = types.ToolAnnotations(
            read_only_hint=self.read_only, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        )
        return types.Tool(name=self.name, description=self.description, input_schema=self.schema, annotations=hints)


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


SEARCH = ToolSpec(
    name="search",
    description=(
        "Find the files of this repository that matter for a question, feature, error message or whole bug "
        "report, best first. Ranking fuses BM25 over file names, definition names and contents with exact "
        "path/identifier mentions, the import graph and git history. Each result has the path (relative to the "
        "repository root), language, role (impl, test, docs, config, ...), the definitions that matched and up "
        "to 3 best-matching line ranges with their text (clipped to 15 lines; read the file for more). Use it "
        "first to locate code before opening files. Query syntax: free words and identifiers (camelCase and "
        'snake_case are split and matched whole), "quoted phrases", and filters path:GLOB, lang:NAME, sym:NAME.'
    ),
    schema=_object(
        {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS,
                      "description": "What to look for: words, identifiers, a question or pasted error text."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10,
                      "description": "How many files to return (default 10)."},
            "paths": _GLOBS,
            "languages": {"type": "array", "maxItems": 10, "items": {"type": "string", "minLength": 1, "maxLength": 40},
                          "description": "Keep only these languages, lower-case (python, typescript, go, rust, ...)."},
            "lines": {"type": "boolean", "default": True,
                      "description": "Include the best-matching line ranges with their text (default true)."},
        },
        ("query",),
    ),
    run=run_search,
    cap=32_000,
)  # fmt: skip

SYMBOLS = ToolSpec(
    name="symbols",
    description=(
        "Find where a class, function, method, type, constant or other definition is defined, by name. "
        "Returns each definition's kind, file path (relative to the repository root), 1-based start and end "
        "line and the enclosing definition (`container`), best first: exact-case matches, implementation "
        "before tests, central files first. Matching ignores case unless case_sensitive is true. Qualify "
        "a member with its container to narrow it: `QuerySet.filter`, `Stack::push`. Names only, no wildcards."
    ),
    schema=_object(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200,
                     "description": "The definition's name, optionally qualified: `ShoppingCart`, `Cart.add_item`."},
            "kind": {"type": "string", "enum": list(api.symbol_kinds()),
                     "description": "Keep only definitions of this kind."},
            "case_sensitive": {"type": "boolean", "default": False,
                               "description": "Match the name's case exactly (default false)."},
            "paths": _GLOBS,
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 30,
                      "description": "How many definitions to return (default 30)."},
        },
        ("name",),
    ),
    run=run_symbols,
    cap=24_000,
)  # fmt: skip

RELATED = ToolSpec(
    name="related",
    description=(
        "List the files related to one file: files that changed in the same git commits (`cochange`, with "
        "the number of shared commits and the share of the file's commits that also touched the partner) and "
        "files it imports or that import it (`imports`, most central first). Use it to find the tests, "
        "callers, configuration and companion files to read or update along with a file."
    ),
    schema=_object(
        {
            "path": {"type": "string", "minLength": 1, "maxLength": 1000,
                     "description": "A file path relative to the repository root, as search returns it."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20,
                      "description": "At most this many files per list (default 20)."},
            "min_commits": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 2,
                            "description": "Co-change partners need at least this many shared commits (default 2)."},
        },
        ("path",),
    ),
    run=run_related,
    cap=16_000,
)  # fmt: skip

INDEX = ToolSpec(
    name="index",
    description=(
        "Update the search index now with the files changed, added or removed since it was built. The server "
        "already does this before answering when few files changed; call it after large edits, a branch switch "
        "or when an answer says `stale`. Returns whether anything changed and how long it took."
    ),
    schema=_object({}),
    run=run_index,
    cap=8_000,
    read_only=False,
)

CONTEXT = ToolSpec(
    name="context",
    description=(
        "Select the code to read for a task, within a token budget: the most relevant files, whole when they fit, "
        "otherwise their best-matching definitions plus an outline (line number and first line) of the rest. "
        "Each entry has the path (relative to the repository root), why it was chosen and the code with its "
        "line numbers. Use it at the start of a task to load the relevant code in one call instead of "
        "searching and opening files one by one; `search` is cheaper when you only need locations."
    ),
    schema=_object(
        {
            "task": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS,
                     "description": "The task, question, issue or bug report, in natural language."},
            "max_tokens": {"type": "integer", "minimum": 500, "maximum": 16_000, "default": 6000,
                           "description": "Token budget (cl100k) for the selected code (default 6000)."},
            "preset": {"type": "string", "enum": ["balanced", "deep", "thorough"], "default": "balanced",
                       "description": "How widely to look: balanced (default), deep or thorough (slower)."},
        },
        ("task",),
    ),
    run=run_context,
    cap=CONTEXT_CAP,
    shorten="lower max_tokens or narrow the task",
)  # fmt: skip

STATUS = ToolSpec(
    name="status",
    description=(
        "Report the index: repository root, files indexed, whether it matches the working tree (with counts and "
        "examples of changed, added and removed files), when it was built, and whether a refresh is running."
    ),
    schema=_object({}),
    run=run_status,
    cap=STATUS_CAP,
)

TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in (SEARCH, CONTEXT, SYMBOLS, RELATED, INDEX, STATUS)}
_VALIDATORS = {name: jsonschema.Draft202012Validator(spec.schema) for name, spec in TOOLS.items()}


def argument_problem(tool: str, arguments: dict[str, Any]) -> str | None:
    """What is wrong with `arguments` for `tool`, in one short sentence; None when they are valid."""
    error = jsonschema.exceptions.best_match(_VALIDATORS[tool].iter_errors(arguments))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path) or "arguments"
    limit = error.validator_value
    explained = {
        "maxLength": f"is longer than {limit} characters", "minLength": f"is shorter than {limit} characters",
        "maximum": f"is over the maximum {limit}", "minimum": f"is under the minimum {limit}",
        "maxItems": f"has more than {limit} items", "type": f"must be of type {limit}",
        "enum": f"must be one of {', '.join(map(str, limit))}" if isinstance(limit, list) else "",
    }.get(str(error.validator))  # fmt: skip
    return f"{where} {explained}" if explained else clip_text(error.message, 1, 300)


def with_integers(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` with integral floats (5.0, which JSON Schema counts as an integer) made ints where the
    schema asks for an integer, so `limit: 5.0` means 5."""
    properties = schema.get("properties", {})
    return {
        key: int(value) if isinstance(value, float) and properties.get(key, {}).get("type") == "integer" else value
        for key, value in arguments.items()
    }


def call_tool(session: Session, name: str, arguments: dict[str, Any] | None) -> tuple[str, bool]:
    """Run tool `name`; (JSON text or error text, whether it is an error). Never raises.

    Lone surrogates in `name` and `arguments` are read as U+FFFD, as the stdio transport reads them
    (`_read_as_json_does`): a caller in-process gets the same answer, and no text JSON cannot carry."""
    try:
        name, arguments = _replaced(name), _replaced(arguments or {})
        spec = TOOLS.get(name)
        problem = None if spec is None else argument_problem(name, arguments)
    except RecursionError:  # only in-process: the transport refuses JSON nested past ~200 levels
        deep = f"{clip_text(name, 1, 80)}: the arguments are nested too deeply"
        return _error(UsageError(deep, "see the tool's input schema"))
    if spec is None:
        unknown = quoted_value(clip_text(name, 1, 80))
        return _error(UsageError(f"unknown tool {unknown}", f"the tools are {', '.join(TOOLS)}"))
    if problem is not None:
        return _error(UsageError(f"{name}: {problem}", "see the tool's input schema"))
    try:
        with session.call_lock:
            payload, key = spec.run(session, with_integers(spec.schema, arguments))
    except Exception as err:
        shown = shown_to_user(err)
        if shown is not None:
            return _error(shown)
        logger.exception("tool %s failed", name)
        return _error(AtlasError(f"unexpected error: {type(err).__name__}: {clip_text(str(err), 1, 300)}"))
    except BaseException as err:
        if not is_native_panic(err):
            raise
        logger.error("tool %s failed: a native library panicked: %s", name, err)
        return _error(AtlasError(f"unexpected error: a native library panicked: {clip_text(str(err), 1, 300)}"))
    return bounded(payload, key, spec.cap, spec.shorten), False


def _error(err: AtlasError) -> tuple[str, bool]:
    return f"error: {clip_text(err.message, 3, 500)}\nhint: {err.hint}", True


INSTRUCTIONS = (
    "Atlas indexes the repository at {root} and answers in milliseconds. Use `search` to find the files for a "
    "task, question or error (ranked, with the best line ranges), `context` to load the code a task needs within "
    "a token budget, `symbols` to jump to a definition by name, `related` for the files that change with or "
    "import a file (tests, callers), `status`/`index` to check or update the index. Paths in and out are "
    "relative to the repository root."
)


def build_server(session: Session) -> Server:
    """The MCP server object with Atlas's tools, bound to `session`."""
    tools = [spec.as_tool() for spec in TOOLS.values()]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        text, is_error = await anyio.to_thread.run_sync(call_tool, session, params.name, params.arguments)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=is_error)

    return Server(
        "atlas", version=__version__, instructions=INSTRUCTIONS.format(root=session.config.root),
        on_list_tools=list_tools, on_call_tool=on_call_tool,
    )  # fmt: skip


def serve(config: IndexConfig, config_file: Path | None = None, check_interval: float = CHECK_INTERVAL,
          write_timeout: float = WRITE_TIMEOUT) -> None:  # fmt: skip
    """Serve MCP on stdin/stdout until the client closes stdin or a signal (^C, SIGTERM) stops the server; or
    until the client closes its end of stdout, or reads nothing of an answer for `write_timeout` seconds."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="atlas mcp: %(levelname)s: %(message)s")
    api.refuse_unindexable(config)  # exit 2, as `atlas index` would, rather than a server answering only errors
    session = Session(config, config_file, check_interval)  # a bad setting ends the start with its UsageError
    blocking_stdio()
    _noting_stop_signals()
    try:
        with claimed_stdout() as fd, claimed_stdin() as requests_fd:
            wire = Wire(fd, lambda why, code: _end(session, why, code), write_timeout)
            threading.Thread(target=wire.watch, name="atlas-stdout-watch", daemon=True).start()
            anyio.run(_serve, session, Requests(requests_fd), wire)
    except KeyboardInterrupt as err:
        if session.refresh_lock.locked():
            _end_now(session, "interrupted", getattr(err, "exit_code", 130))
        # Idle, nothing is left to finish; Python's own exit would wait for the transport's thread, which waits on
        # a read of stdin that only the client's next line or EOF ends.
        _exit_at_once("interrupted", getattr(err, "exit_code", 130))
    except BaseExceptionGroup as group:
        if group.subgroup(lambda err: isinstance(err, _LOST_CLIENT)):
            _client_gone(session)
        if _stopped_by:  # the signal's own KeyboardInterrupt comes alone; this is in case it comes in a group
            _end(session, "interrupted", _stopped_by[0])
        failed = transport_failure(group)
        if failed is None:
            raise
        # At once: Python's own exit would wait for the transport's thread, blocked on a read of stdin.
        if session.refresh_lock.locked():
            _end_now(session, failed.message, failed.exit_code)
        _exit_at_once(f"{failed.message}\n  hint: {failed.hint}", failed.exit_code)
    if session.refresh_lock.locked():
        _end_now(session, "the client closed the connection", 0)


def transport_failure(group: BaseExceptionGroup) -> AtlasError | None:
    """The error to report when the transport's reading of stdin or writing of stdout failed (`group` holds its
    OSError: stdout on a full disk, an I/O error), else None. It ended the server as "unexpected error:
    ExceptionGroup … report it"; a tool's own failures are tool errors and never reach here."""
    failed = group.subgroup(lambda err: isinstance(err, OSError))
    if failed is None:
        return None
    while isinstance(failed, BaseExceptionGroup):
        failed = failed.exceptions[0]
    if not isinstance(failed, OSError):
        return None
    if "stdout_writer" in {frame.f_code.co_name for frame, _ in traceback.walk_tb(failed.__traceback__)}:
        return output_error(failed)  # the SDK's task that writes the answers
    return AtlasError(f"cannot read the client's requests: {failed.strerror or failed}", "check what stdin is")


def blocking_stdio() -> None:
    """Make stdin and stdout blocking, as the SDK's transport expects them: a client may start the server with pipes
    left non-blocking, and then an answer larger than the pipe's room (a `context` of 100 KB) raised BlockingIOError
    in the transport's writer, which ended the server (exit 3) with the answer cut. The flag belongs to the pipe's
    end the server holds, so the client's end is left as it is."""
    for fd in (0, 1):
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)


_LOST_CLIENT = (BrokenPipeError, anyio.BrokenResourceError, anyio.ClosedResourceError)
"""What writing an answer raises once the client has closed its end of stdout (the SDK's writer task dies)."""


def _client_gone(session: Session) -> None:
    """End now: the client stopped reading, so no answer can reach it (and its requests would pile up). Unless a
    signal is stopping the server: the answers of the calls it cancels find the server's own end closed."""
    if not _stopped_by:
        _end(session, GONE, 0)


_stopped_by: list[int] = []
"""The exit code of the ^C (130) or SIGTERM (143) that is stopping the server, once one arrived."""


def _noting_stop_signals() -> None:
    """Have ^C and SIGTERM note their exit code in `_stopped_by`, then do as their handlers do (raise, as `atlas.cli`
    installed them). A call they cancel was answered with the transport closed, which ended the server as a client
    that left: "the client stopped reading the answers", exit 0."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
            signal.signal(signum, functools.partial(_stop_signal, handler))


def _stop_signal(handler: Callable[[int, Any], object], signum: int, frame: Any) -> None:
    _stopped_by.append(128 + signum)
    handler(signum, frame)


def _end(session: Session, why: str, code: int) -> NoReturn:
    """End the process now, saying `why`, and what became of an index update under way."""
    if session.refresh_lock.locked():
        _end_now(session, why, code)
    _exit_at_once(why, code)


def _exit_at_once(why: str, code: int) -> NoReturn:
    """End the process now: streams flushed, `atlas mcp: {why}` on stderr, then `os._exit`."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.write(stderr_fd(), f"atlas mcp: {why}\n".encode())  # the real stderr: a tool call may hold descriptor 2
    os._exit(code)


def _end_now(session: Session, why: str, code: int) -> NoReturn:
    """End the process without waiting for the index update under way, as a SIGKILL would (the next build removes
    what it left; the parse workers die with the process). Python's own exit would wait for the update, or hang:
    multiprocessing stops the parse pool at exit and waits for its feeder, which waits for the update's thread."""
    from atlas.index import store

    if len(store.published) > session.published_before:
        left = f"the new index ({store.published[-1].name}) was already published and is complete"
    else:
        left = "nothing was published: the index update under way was stopped; the previous index, if any, is intact"
    _exit_at_once(f"{why}\n  hint: {left}", code)


async def _serve(session: Session, requests: Requests, wire: Wire) -> None:
    # The SDK's transport writes the answers; Atlas reads the requests (`read_requests`), so that what it answers
    # is decided on the client's line as sent: the SDK's reading drops an `id` it refuses.
    async with stdio_server(stdin=cast(Any, _NoLines()), stdout=cast(Any, wire)) as (_, write_stream):
        # Inside the transport: fd 1 now points at stderr, so nothing below can write to the wire by mistake.
        await anyio.to_thread.run_sync(session.start)
        server = build_server(session)
        sink, messages = anyio.create_memory_object_stream[Any](0)
        replies = AnswerLedger(write_stream, lambda: _client_gone(session))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read_requests, requests, sink, replies)
            await server.run(messages, replies, server.create_initialization_options())
            tasks.cancel_scope.cancel()


class _NoLines:
    """The SDK transport's stdin: no line, so its reader ends at once (a value that is false would have it read the
    process's own stdin)."""

    def __aiter__(self) -> _NoLines:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration


class AnswerLedger:
    """The server's write stream, noting which requests are still unanswered: at the end of input (a client, or
    `printf … | atlas mcp`, that closed stdin after its last request) the server waits for their answers, at most
    DRAIN_SECONDS, before it stops; the SDK alone would cancel them unanswered."""

    def __init__(self, inner: Any, on_lost: Callable[[], object] = lambda: None) -> None:
        self.inner = inner
        self.on_lost = on_lost
        """Called when an answer cannot be written: the client closed its end of stdout."""
        self.pending: set[str | int] = set()
        self.answered = anyio.Event()

    def expect(self, item: Any) -> None:
        """Note the request in `item` (a SessionMessage), if it is one, as awaiting its answer; a request the client
        cancels (`notifications/cancelled`) awaits none: the SDK never answers it, as MCP asks."""
        message = _message_of(item)
        if isinstance(message, types.JSONRPCRequest):
            self.pending.add(message.id)
        elif isinstance(message, types.JSONRPCNotification) and message.method == "notifications/cancelled":
            cancelled = (message.params or {}).get("requestId")
            if isinstance(cancelled, str | int) and not isinstance(cancelled, bool):
                # The SDK takes the ids 7 and "7" for one another.
                self.pending = {pending for pending in self.pending if str(pending) != str(cancelled)}
                self.answered.set()

    async def drained(self, seconds: float = DRAIN_SECONDS) -> None:
        """Return once every expected request has its answer, or after `seconds`."""
        with anyio.move_on_after(seconds):
            while self.pending:
                await self.answered.wait()
                self.answered = anyio.Event()

    async def send(self, item: Any, /) -> None:
        try:
            await self.inner.send(item)
        except _LOST_CLIENT:
            self.on_lost()
            raise
        message = _message_of(item)
        if isinstance(message, types.JSONRPCResponse | types.JSONRPCError) and message.id in self.pending:
            self.pending.discard(message.id)
            self.answered.set()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> AnswerLedger:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _message_of(item: Any) -> Any:
    message = getattr(item, "message", None)
    return getattr(message, "root", message)


def _request_without_valid_id(item: Any) -> bool:
    """Whether `item` is a 'notification' whose method is a request's (its id was dropped as invalid)."""
    message = _message_of(item)
    return isinstance(message, types.JSONRPCNotification) and not message.method.startswith("notifications/")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""After `json.loads`, a surrogate left in a string is a lone one: a pair decodes to its character."""


def _read_as_json_does(error: Exception) -> SessionMessage | None:
    """The message of a line the SDK refused though it is JSON, read as JSON reads it; None for any other fault.
    The SDK's parser refuses a lone UTF-16 surrogate (`"\\ud800"`, half of an emoji a client cut in two; each one
    is replaced by U+FFFD here) and nesting past ~200 levels, and its parse error (id null) would leave the client
    waiting for its answer: read, the request gets its own answer (a tool error, for arguments it refuses)."""
    import json

    failures = getattr(error, "errors", list)()
    line = failures[0].get("input") if len(failures) == 1 and failures[0].get("type") == "json_invalid" else None
    if not isinstance(line, str):  # the SDK hands on the line it decoded
        return None
    try:
        message = _replaced(json.loads(line))
        return SessionMessage(types.jsonrpc_message_adapter.validate_python(message, by_name=False))
    except (ValueError, RecursionError):
        return None


def _replaced(value: Any) -> Any:
    """`value` (JSON as Python holds it) with each lone surrogate of its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    if isinstance(value, dict):
        return {_replaced(key): _replaced(item) for key, item in value.items()}
    return value


async def read_requests(lines: AsyncIterable[str], sink: Any, replies: AnswerLedger) -> None:
    """Read the client's messages from `lines` as the SDK's stdio transport reads them, and pass them to `sink`;
    answer a line that is not JSON with a parse error (-32700) and JSON that is not a JSON-RPC message with an
    invalid request (-32600), id null, as JSON-RPC 2.0 asks. The SDK's transport hands such lines on as exceptions,
    which its server only logs, and reads a request whose id is neither a string nor a number (`"id": {}`) as a
    notification, which gets no answer: every MCP notification's method starts with `notifications/`, so any other
    is such a request, answered the same way. A notification as sent (no `id`) gets no answer, whatever its method
    or params: JSON-RPC answers none."""
    async with sink:
        async for line in lines:
            item = _read_line(line)
            if isinstance(item, SessionMessage) and not _request_without_valid_id(item):
                replies.expect(item)
                await sink.send(item)
            elif (method := _notification_method(line)) is not None:
                why = "malformed" if isinstance(item, Exception) else "no notification this server takes"
                logger.warning("dropped %s: %s; a notification (no id) gets no answer",
                               quoted_value(clip_text(method, 1, 80)), why)  # fmt: skip
            else:
                await replies.send(_error_answer(item))
        await replies.drained()


def _read_line(line: str) -> SessionMessage | Exception:
    """The message on the client's `line`, as the SDK's stdio transport reads one, or why it is none."""
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except Exception as err:  # what the transport hands on, as its reader does
        return _read_as_json_does(err) or err


def _notification_method(line: str) -> str | None:
    """The method of the JSON-RPC notification on `line` (an object with a string `method` and no `id`), else None."""
    import json

    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or "id" in message or not isinstance(message.get("method"), str):
        return None
    return message["method"]


def _error_answer(item: SessionMessage | Exception) -> SessionMessage:
    """The parse error or invalid request that answers the line read as `item`."""
    kinds = {error.get("type") for error in getattr(item, "errors", list)()}
    parse = "json_invalid" in kinds
    code, text = (types.PARSE_ERROR, "Parse error") if parse else (types.INVALID_REQUEST, "Invalid Request")
    data = types.ErrorData(code=code, message=text)
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=_request_id(item), error=data))


def _request_id(item: Any) -> str | int | None:
    """The id of the request the SDK refused in `item` (its validation error), when it has a usable one; else None.

    JSON-RPC answers an invalid request with id null only when its id cannot be told: a request whose id is fine
    but whose other members are not (`"params": [1, 2]`, `"jsonrpc": "1.0"`) gets its own id back, or its client
    waits for that answer forever. The SDK's error holds the whole message as the input of a member it misses."""
    for error in getattr(item, "errors", list)():
        message = error.get("input")
        if isinstance(message, dict) and "method" in message:
            found = message.get("id")
            return found if isinstance(found, str | int) and not isinstance(found, bool) else None
    return None
