"""Parse many files on every core: a `multiprocessing` pool over `parse_entry`.

Results come back as they finish (not in walk order): the index does not care about order,
and waiting for a slow file would stall the writer. At most INFLIGHT_PER_WORKER files per worker
are queued or waiting to be consumed, so a slow consumer bounds memory instead of piling up results.
Workers import only `atlas.parse`, `atlas.terms` and `atlas.records`, so they start fast.

Start the pool before any thread-owning library (tantivy's writer) in the parent: the
workers are forked on Linux. A consumer that stops early (^C, SIGTERM, an error) never hangs
the pool: leaving it stops feeding the workers, lets the files they hold come back unparsed,
then stops them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from types import TracebackType
from typing import Any

from atlas.held_signals import HELD_SIGNALS, signals_deferred, signals_held
from atlas.index.lock import forget_inherited_locks
from atlas.parse import ParseOptions, parse_entry
from atlas.records import FileEntry, ParsedFile, Skipped, Unchanged

PR_SET_PDEATHSIG = 1
CHUNK_SIZE = 32
"""Files per task at most. Each task costs a round of pickling, pipe locks and thread wake-ups on both sides:
on Django, 32 files a task took ~0.3 s of CPU off the parent and as much off the workers, against 8."""
CHUNK_BYTES = 1 << 20
"""Bytes of source per task at most (a task of one larger file aside): a task's results travel as one message,
so 32 large generated headers side by side (the kernel's) would hold ~100 MiB in a worker at once."""
INFLIGHT_PER_WORKER = 64
DRAIN_SECONDS = 10.0  # the most a stopped consumer waits for the files being parsed to come back
POLL_SECONDS = 0.1  # the longest a ^C waits while the consumer waits for the pool's next result

_cancelled: Any = None  # in a worker: the pool's shared "stop parsing" flag


def parse_workers(requested: int, files: int) -> int:
    """Worker processes worth starting for `files` files: at most `requested`, one per usable core
    (more cannot parse faster) and one per CHUNK_SIZE files (a worker gets files a chunk at a time)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(requested, cores, -(-files // CHUNK_SIZE)))


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _next_result(results: Any) -> Any:
    """The pool iterator's next result (StopIteration at the end), with ^C and SIGTERM acted on between
    waits of at most POLL_SECONDS, never inside the iterator (see `signals_deferred`)."""
    while True:
        with signals_deferred():
            try:
                return results.next(timeout=POLL_SECONDS)
            except multiprocessing.TimeoutError:
                pass


def _wait_for(result: multiprocessing.pool.ApplyResult) -> Any:
    """`result.get()`, with ^C and SIGTERM acted on between waits, never inside it (see `signals_deferred`)."""
    while True:
        with signals_deferred():
            result.wait(POLL_SECONDS)
            if result.ready():
                return result.get()


def _worker_setup(cancelled: Any, parent: int) -> None:
    """Workers die with the parent (a SIGKILLed `atlas index` leaves none behind) and leave ^C to it.

    SIGTERM gets its default action back: the pool stops workers with it, and a handler the parent
    installed (the CLI turns SIGTERM into an exception) would make each one print a traceback. Both
    signals were blocked across the fork (see `atlas.held_signals`), so one sent to a worker still starting
    is acted on here, as the worker would now act on it, instead of lost to the parent's handler.
    """
    global _cancelled
    _cancelled = cancelled
    forget_inherited_locks()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        # The parent died between the fork and the line above: no death signal will ever come, and
        # the worker would wait on its task queue forever (the kill loop's rare orphan).
        os._exit(0)


def _parse_chunk(chunk: list[FileEntry], options: ParseOptions) -> list[ParsedFile | Skipped | Unchanged]:
    """`parse_entry` over a chunk, in a worker; stops at once, without reading more files, once the
    pool is stopping (the rest of the chunk is left out: nobody waits for it)."""
    results = []
    for entry in chunk:
        if _cancelled is not None and _cancelled.value:
            break
        results.append(parse_entry(entry, options))
    return results


def _chunks(entries: Iterable[FileEntry], size: int, max_bytes: int = CHUNK_BYTES) -> Iterator[list[FileEntry]]:
    """`entries` in lists of at most `size` files and, unless one file is larger, at most `max_bytes` bytes."""
    chunk: list[FileEntry] = []
    total = 0
    for entry in entries:
        if chunk and total + entry.size > max_bytes:
            yield chunk
            chunk, total = [], 0
        chunk.append(entry)
        total += entry.size
        if len(chunk) == size:
            yield chunk
            chunk, total = [], 0
    if chunk:
        yield chunk


class _Pool(multiprocessing.pool.Pool):
    """A process pool whose worker-handler thread wakes for worker exits and pool state changes only.

    The stock pool's handler also waits on the result pipe (since Python 3.8, bpo-35493): while results
    sit there unread it returns from `wait()` at once, again and again, holding the GIL; on Django that
    spinning was a third of the parent's CPU. A pool without `maxtasksperchild` starts no worker after a
    task, so the handler has nothing to do for a result; a worker's exit still wakes it (its sentinel is
    waited on as before). This is what `multiprocessing.pool.ThreadPool` already does.
    """

    def _get_sentinels(self) -> list[Any]:
        return [self._change_notifier._reader]  # type: ignore[attr-defined]


class ParsePool:
    """A context manager owning the worker processes (none when `workers` is 1).

    Leaving it stops the workers; when the consumer stopped early (^C, an exception) it first lets
    the files already handed to workers come back, skipped at once, so that no worker is killed
    while it writes a result: the pool would wait forever for the lock that worker held.
    """

    def __init__(self, workers: int, options: ParseOptions) -> None:
        self.workers = max(1, workers)
        self.options = options
        self.pool: multiprocessing.pool.Pool | None = None
        self._closing = threading.Event()
        self._cancelled: Any = None
        self._gate: threading.Semaphore | None = None
        self._results: Any = None

    def __enter__(self) -> ParsePool:
        if self.workers > 1:
            context = _context()
            self._cancelled = context.RawValue(ctypes.c_bool, False)
            # A worker starts with its parent's handlers: a SIGTERM from `terminate()` arriving before
            # `_worker_setup` would run the parent's handler and be dropped, leaving a worker `join()` waits for.
            with signals_held():
                setup = (self._cancelled, os.getpid())
                self.pool = _Pool(self.workers, initializer=_worker_setup, initargs=setup, context=context)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.pool is None:
            return
        self._stop_feeding()
        self._drain()
        self.pool.terminate()
        self.pool.join()

    def _stop_feeding(self) -> None:
        """No more files to the workers, and the queued ones skipped.

        The pool's task-handler thread may be blocked on the gate, which a consumer that stopped no
        longer releases, and `terminate` waits for that thread: one release lets it see `_closing`.
        """
        self._closing.set()
        self._cancelled.value = True
        if self._gate is not None:
            with signals_deferred():
                self._gate.release()

    def _drain(self) -> None:
        """Wait (at most DRAIN_SECONDS) for the results still due to the stopped consumer."""
        if self._results is None:
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                with signals_deferred():  # in steps, so that a second ^C still ends the wait soon
                    self._results.next(timeout=min(left, POLL_SECONDS))
            except StopIteration:
                return
            except Exception:  # a step's timeout, or one file's error: the consumer has stopped anyway
                continue

    def runner(self) -> Callable[..., Callable[[], Any]] | None:
        """Runs a picklable `fn(*args)` in a worker process, ahead of queued parse tasks; None without
        workers. The returned function waits for the result (re-raising the worker's exception)."""
        if self.pool is None:
            return None
        pool = self.pool

        def run(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
            return partial(_wait_for, pool.apply_async(fn, args))

        return run

    def parse(self, entries: Iterable[FileEntry]) -> Iterator[ParsedFile | Skipped | Unchanged]:
        """Yield a result for every entry, in completion order."""
        if self.pool is None:
            yield from (parse_entry(entry, self.options) for entry in entries)
            return
        # Chunks are made here, not by the pool, so that the pool's result iterator is its own
        # (the one with `next(timeout)`, which `_drain` needs) and the gate counts chunks.
        gate = self._gate = threading.Semaphore(max(1, self.workers * INFLIGHT_PER_WORKER // CHUNK_SIZE))

        def gated() -> Iterator[list[FileEntry]]:
            for chunk in _chunks(entries, CHUNK_SIZE):
                # In steps, looking at `_closing` between them: a wake-up lost to a signal in the consumer's
                # `release` (an exception between its Condition's notify and its bookkeeping leaves a stale
                # waiter in the queue, which the next notify wakes instead of this one) would otherwise
                # block the pool's task thread here, and `terminate` behind it, for good.
                while not gate.acquire(timeout=POLL_SECONDS):
                    if self._closing.is_set():
                        return
                if self._closing.is_set():
                    return
                yield chunk

        self._results = self.pool.imap_unordered(partial(_parse_chunk, options=self.options), gated())
        while True:
            try:
                results = _next_result(self._results)
            except StopIteration:
                return
            with signals_deferred():  # no ^C inside the semaphore's bookkeeping (see `gated`)
                gate.release()
            yield from results
