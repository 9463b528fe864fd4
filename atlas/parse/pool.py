"""Parse many files on every core: a `multiprocessing` pool over `parse_entry`.

Results come back as they finish (not in walk order): the index does not care about order,
and waiting for a slow file would stall the writer. At most `max_inflight` files are queued
or waiting to be consumed, so a slow consumer bounds memory instead of piling up results.
Workers import only `atlas.parse`, `atlas.terms` and `atlas.records`, so they start fast.

Start the pool before any thread-owning library (tantivy's writer) in the parent: the
workers are forked on Linux.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.pool
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from types import TracebackType
from typing import Any

from atlas.parse import ParseOptions, parse_entry
from atlas.records import FileEntry, ParsedFile, Skipped, Unchanged

PR_SET_PDEATHSIG = 1
CHUNK_SIZE = 8
INFLIGHT_PER_WORKER = 64


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _worker_setup() -> None:
    """Workers die with the parent (a SIGKILLed `atlas index` leaves none behind) and leave ^C to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


class ParsePool:
    """A context manager owning the worker processes (none when `workers` is 1)."""

    def __init__(self, workers: int, options: ParseOptions) -> None:
        self.workers = max(1, workers)
        self.work = partial(parse_entry, options=options)
        self.pool: multiprocessing.pool.Pool | None = None

    def __enter__(self) -> ParsePool:
        if self.workers > 1:
            self.pool = _context().Pool(self.workers, initializer=_worker_setup)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def runner(self) -> Callable[..., Callable[[], Any]] | None:
        """Runs a picklable `fn(*args)` in a worker process, ahead of queued parse tasks; None without
        workers. The returned function waits for the result (re-raising the worker's exception)."""
        if self.pool is None:
            return None
        pool = self.pool

        def run(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
            return pool.apply_async(fn, args).get

        return run

    def parse(self, entries: Iterable[FileEntry]) -> Iterator[ParsedFile | Skipped | Unchanged]:
        """Yield a result for every entry, in completion order."""
        if self.pool is None:
            yield from map(self.work, entries)
            return
        gate = threading.Semaphore(self.workers * INFLIGHT_PER_WORKER)

        def gated() -> Iterator[FileEntry]:
            for entry in entries:
                gate.acquire()
                yield entry

        for result in self.pool.imap_unordered(self.work, gated(), chunksize=CHUNK_SIZE):
            gate.release()
            yield result

