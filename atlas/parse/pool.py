"""Parse many files on every core: a `multiprocessing` pool over `parse_entry`.

Results come back as they finish (not in walk order): the index does not care about order,
and waiting for a slow file would stall the writer. At most INFLIGHT_PER_WORKER files per worker
are queued or waiting to be consumed, so a slow consumer bounds memory instead of piling up results.
Workers import only `atlas.parse`, `atlas.terms` and `atlas.records`, so they start fast.

Start the pool before any thread-owning library (tantivy's writer) in the parent: the
workers are forked on Linux. A consumer that stops early (^C, SIGTERM, an error) never hangs
the pool: leaving it stops feeding the workers, lets the files they hold come back unparsed,
then stops them.

A grammar that never returns (an external scanner spinning in C holds the GIL and ignores signals, so
tree-sitter's own deadline cannot stop it) or that crashes its process would hang the run for good, the pool
waiting for the lost task: a watchdog thread in the parent kills a worker that spends over FILE_DEADLINE_SECONDS
on one file and notices one that died on a file, and that task is run again, the file indexed as text (and left
out as unparsable, should even that fail). A worker that dies between files (the OOM killer) may have taken a task
or a lock of the pool's pipes with it, which no one can tell: a run still waiting on the pool stops with WorkerLost
(exit 3, nothing published), and the pool is stopped without waiting for those locks.

Workers write their stderr through a pipe of the parent's (see `_StderrRelay`), never to the caller's own: a worker
stuck on a read that never returns, left behind, would keep a caller reading atlas's stderr to its end waiting.

The same pool hashes files for the parent (`content_hashes`: `atlas status`, `atlas cache-key`, a shard's content
hash), so that a read the file system never answers ends under the same watchdog instead of hanging the parent.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import multiprocessing.pool
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from types import TracebackType
from typing import Any, NamedTuple

from atlas.errors import WorkerLost
from atlas.held_signals import HELD_SIGNALS, signals_deferred, signals_held
from atlas.index.lock import forget_inherited_locks
from atlas.parse import ParseOptions, parse_entry
from atlas.parse.languages import detect_language
from atlas.records import FileEntry, Hashed, ParsedFile, Skipped, SkipReason, Unchanged
from atlas.safe_read import on_disk, on_local_filesystem, visible

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

FILE_DEADLINE_SECONDS = 60.0
"""The longest a worker may spend on one file (tree-sitter gives up on its own after 5 s; tokenising the largest
file indexed, 1 MiB by default, takes a tenth of a second) before the watchdog kills it."""
LOSSES_PER_GRAMMAR = 2
"""Files one language's grammar may hang or crash on before the run indexes its other files as text: a tree of
crafted inputs (a fuzzing corpus) would otherwise cost a deadline per file."""
STOPPING_FILE_SECONDS = 1.0
"""The file deadline once the run is stopping (^C): the files still being parsed are waited for (a worker killed
while it writes its result would leave the pool's pipe locked), but one stuck in a grammar is not."""
HANDLER_SECONDS = 5.0
"""The longest a pool a worker died in waits for each of its threads to end (see `ParsePool._stop_hard`)."""
WORKER_DIED_HINT = (
    "the index was left as it was; run `atlas index` again, and if it happens again the system may be short of "
    "memory (see `dmesg`): `--jobs 1` needs less"
)
WATCH_COLUMNS = 5
"""A worker's row in the watch table: its pid, the task number, the file's position in the task, when it started
on that file (monotonic ns, the same clock in every process; 0 between files), and when the process started (its
`/proc` start time: a pid the system gave to another process since is not the worker's)."""

SIDE_JOB = -1
"""The file position in a watch row whose worker runs a job other than a parse task (git history): such a worker
is watched for a crash, not timed (the job has its own limits)."""

_cancelled: Any = None  # in a worker: the pool's shared "stop parsing" flag
_watch: Any = None  # in a worker: the pool's watch table
_watch_row = -1  # in a worker: its row there (-1: none was free, the worker goes unwatched)
log = logging.getLogger(__name__)


class _Task(NamedTuple):
    """Files for one worker round trip. A task run again after its worker was lost names the file it was lost on:
    indexed as text (`as_text`, path → why), or left out (`left_out`, path → why) when it was lost that way too, or
    at once (`unreadable`) when its read never returned."""

    number: int
    entries: list[FileEntry]
    as_text: dict[str, str]
    left_out: dict[str, str]
    unreadable: dict[str, str] = {}  # noqa: RUF012 - never changed in place: `_replace` makes a new one
    """Files whose read never returned in a worker lost on them (path → why): not read again."""


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


def _worker_setup(
    cancelled: Any, parent: int, watch: Any, watch_lock: Any, creator: int, stderr_pipe: tuple[int, int] | None = None
) -> None:
    """Workers die with the parent (a SIGKILLed `atlas index` leaves none behind) and leave ^C and SIGTERM to it.

    A SIGTERM to the whole process group (`timeout`, systemd, `kill -TERM -PGID`) would kill a worker where it
    stands, and an idle worker stands holding the task queue's lock, which `terminate` then waits for forever.
    Ignored, the parent stops the workers as on ^C: the queued files are skipped, the results due are read,
    and the pool's `terminate` kills the workers (SIGKILL: see `_Pool.Process`). Both signals were blocked across
    the fork (see `atlas.held_signals`), so one sent to a worker still starting is ignored here too, instead
    of run by the parent's handler.
    """
    global _cancelled, _watch, _watch_row
    _cancelled, _watch = cancelled, watch
    _watch_row = _claim_watch_row(watch, watch_lock)
    forget_inherited_locks()
    _let_go_of_stdout()
    _write_stderr_to(stderr_pipe)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
    if threading.get_ident() != creator:
        # Forked by the pool's worker-handler thread, in place of a worker that died: a death signal would come
        # when that thread ends, at `terminate`, and could kill this worker while it holds the task queue's lock
        # (an idle worker waits for tasks holding it), which `terminate` then waits for forever.
        # Under a limit on processes and threads the thread may be refused: the worker works without it (the parent
        # stops its workers however it ends, SIGKILL aside), where failing would have the pool fork it again, and
        # again, for as long as the limit holds.
        with contextlib.suppress(RuntimeError):
            threading.Thread(target=_exit_when_orphaned, args=(parent,), name="atlas-orphan-check", daemon=True).start()
    elif sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        # The parent died between the fork and the line above: no death signal will ever come, and
        # the worker would wait on its task queue forever (the kill loop's rare orphan).
        os._exit(0)


def _let_go_of_stdout() -> None:
    """Point this worker's standard output at /dev/null: workers write no data (the parent writes the report), and
    a worker stuck on a read that never returns (see `ParsePool._abandon`) outlives `atlas index`, holding what
    it inherited open: `atlas index --format json | jq` would wait for the end of its input as long."""
    with contextlib.suppress(OSError):  # what the parent had not flushed at the fork goes there too, not twice out
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)


def _write_stderr_to(pipe: tuple[int, int] | None) -> None:
    """Point this worker's standard error (descriptor 2, and the descriptors open on the same file, such as the
    copy `atlas.native_stderr` keeps) at the write end of the parent's `pipe` (read end, write end; see
    `_StderrRelay`): a worker stuck on a read that never returns outlives `atlas index`, holding what it inherited,
    and a caller reading atlas's stderr to its end would wait as long."""
    if pipe is None:
        return
    read_end, write_end = pipe
    with contextlib.suppress(OSError):
        for fd in _aliases(2):
            os.dup2(write_end, fd, inheritable=False)
        os.dup2(write_end, 2)  # inheritable: the git that a history job runs writes there too
        os.close(write_end)
        os.close(read_end)


def _aliases(fd: int) -> list[int]:
    """This process's descriptors from 3 up open on the same file as `fd` (none when `/proc` cannot tell)."""
    try:
        target = os.fstat(fd)
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    found = []
    for other in sorted(int(name) for name in names if int(name) > 2):
        try:
            status = os.fstat(other)
        except OSError:  # the listing's own descriptor, closed since
            continue
        if (status.st_dev, status.st_ino) == (target.st_dev, target.st_ino):
            found.append(other)
    return found


class _StderrRelay:
    """A pipe the workers write their standard error to, and a thread of the parent copying it to the parent's: a
    worker left behind (stuck in the kernel, see `ParsePool._abandon`) holds only this pipe's write end, which
    nobody reads once the parent has stopped the relay, not the stderr of atlas's caller."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="atlas-worker-stderr", daemon=True)

    def start(self) -> None:
        """Start copying: once the pool has forked its first workers (a threaded parent forks at its peril)."""
        self._thread.start()

    def stop(self) -> None:
        """Copy what the workers wrote so far and close the pipe (a blocked stderr is given HANDLER_SECONDS)."""
        os.close(self.write_end)
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(HANDLER_SECONDS)
        if not self._thread.is_alive():
            os.close(self.read_end)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.read_end, select.POLLIN)
        while True:
            stopping = self._stopping.is_set()
            if not poller.poll(0 if stopping else POLL_SECONDS * 1000):
                if stopping:
                    return
                continue
            data = os.read(self.read_end, 1 << 16)
            if not data:  # every write end closed
                return
            _write_all(_stderr_fd(), data)


def _stderr_fd() -> int:
    """The descriptor of this process's stderr: the one `sys.stderr` writes to, else 2."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # None, or a stream on no descriptor (a test's capture)
        return 2


def _write_all(fd: int, data: bytes) -> None:
    """Write `data` to `fd`, dropping it should `fd` refuse (closed, a broken pipe)."""
    view = memoryview(data)
    with contextlib.suppress(OSError):
        while view:
            view = view[os.write(fd, view) :]


def _exit_when_orphaned(parent: int) -> None:
    """End this worker once `parent` is gone (a worker without a death signal)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _claim_watch_row(watch: Any, lock: Any) -> int:
    """The first free row of the watch table, now this process's; -1 when none is free."""
    pid = os.getpid()
    with lock:
        for row in range(len(watch) // WATCH_COLUMNS):
            if watch[row * WATCH_COLUMNS] == 0:
                watch[row * WATCH_COLUMNS + 4] = _birth(pid) or 0
                watch[row * WATCH_COLUMNS] = pid  # last: the watchdog reads a row with a pid as whole
                return row
    return -1


def _stat_fields(pid: int) -> list[bytes]:
    """The fields of `/proc/PID/stat` after the command name (which may hold spaces and parentheses): the first is
    the state, field N of proc(5) is at N - 3. OSError when there is no such file."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rpartition(b")")[2].split()


def _birth(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from `/proc`); 0 when there is no such process, None when
    that cannot be told (no procfs, out of file descriptors): a worker is never taken for dead on a failed read."""
    try:
        return int(_stat_fields(pid)[19])  # field 22 of proc(5)
    except FileNotFoundError:
        return 0 if os.path.isdir("/proc/self") else None
    except (OSError, IndexError, ValueError):
        return None


Result = ParsedFile | Skipped | Unchanged | Hashed
Work = Callable[[FileEntry, ParseOptions, str], Result]
"""What a worker does with one file: `parse_entry`, or `hash_entry` for `content_hashes`."""


def _parse_chunk(task: _Task, options: ParseOptions, work: Work = parse_entry) -> tuple[int, list[Result]]:
    """`work` (`parse_entry`) over a task's files, in a worker, each file watched; stops at once, without reading
    more files, once the pool is stopping (the rest of the task is left out: nobody waits for it)."""
    results: list[Result] = []
    for position, entry in enumerate(task.entries):
        if _cancelled is not None and _cancelled.value:
            break
        if entry.path in task.left_out:
            results.append(Skipped(entry.path, SkipReason.UNPARSABLE, task.left_out[entry.path]))
            continue
        if entry.path in task.unreadable:
            results.append(Skipped(entry.path, SkipReason.UNREADABLE, task.unreadable[entry.path]))
            continue
        started = _watch_file(task.number, position)
        try:
            results.append(work(entry, options, task.as_text.get(entry.path, "")))
        finally:
            if started:
                _watch[started] = 0
    return task.number, results


def _side_job(number: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """`fn(*args)` in a worker, its row marked (job `number`, position SIDE_JOB) so that the watchdog notices should
    the process die on it."""
    started = _watch_file(number, SIDE_JOB)
    try:
        return fn(*args)
    finally:
        if started:
            _watch[started] = 0


def _watch_file(task: int, position: int) -> int:
    """Tell the watchdog this worker starts on a file; the index of the cell to clear when it is done (0: none)."""
    if _watch is None or _watch_row < 0:
        return 0
    base = _watch_row * WATCH_COLUMNS
    _watch[base + 1] = task
    _watch[base + 2] = position
    _watch[base + 3] = time.monotonic_ns()  # last: the row reads as busy only once it names the file
    return base + 3


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._stop_half_started()
            raise

    def _stop_half_started(self) -> None:
        """Stop what a constructor that failed part-way started (one of its threads refused under a limit on
        processes and threads): its worker handler first, which would fork workers again in place of those killed,
        then the workers, which multiprocessing would wait for at exit, for ever. The stock pool stops its workers
        only when a fork fails."""
        handler = getattr(self, "_worker_handler", None)
        if handler is not None and handler.is_alive():
            handler._state = multiprocessing.pool.TERMINATE
            self._change_notifier.put(None)  # type: ignore[attr-defined]
            handler.join()
        for worker in getattr(self, "_pool", []):
            worker.kill()
            worker.join()

    def _setup_queues(self) -> None:
        super()._setup_queues()
        self.broken: BaseException | None = None
        """Why the result pipe could not be read on (see `_received`); None while it can."""
        self.spill = bytearray(1 << 16)  # made now: `_received` drops bytes through it when memory has run out
        self._quick_get = partial(_received, self._quick_get, self)

    def _get_sentinels(self) -> list[Any]:
        return [self._change_notifier._reader]  # type: ignore[attr-defined]

    @staticmethod
    def _help_stuff_finish(inqueue: Any, task_handler: threading.Thread, size: int) -> None:
        """The stock step of `terminate` that takes the task queue's lock and drains the queue for the task thread,
        which may be blocked writing to it; but it waits for that lock HANDLER_SECONDS at most, not for ever: a
        worker killed as it waited for a task (holding the lock) holds it for good. The workers are killed next."""
        inqueue._rlock.acquire(timeout=HANDLER_SECONDS)
        while task_handler.is_alive() and inqueue._reader.poll():
            inqueue._reader.recv()
            time.sleep(0)

    @staticmethod
    def Process(ctx: Any, *args: Any, **kwargs: Any) -> Any:  # the stock pool's name for its worker factory
        """A worker that `terminate` kills: workers ignore SIGTERM (see `_worker_setup`)."""
        worker = ctx.Process(*args, **kwargs)
        worker.terminate = worker.kill
        return worker


def _received(receive: Callable[[], Any], pool: _Pool) -> Any:
    """The next message on the workers' result pipe, for the pool's result-handler thread.

    A result that cannot be read (a MemoryError making the bytes or the objects of a large one under `ulimit -v`)
    killed that thread, and with it every result to come: the consumer waited for them forever, and `terminate`
    failed its check that a pool with jobs has a live handler, leaving the workers running. Now every job waiting
    fails with that error and is forgotten, and the thread drops whatever the workers write until the pool is
    terminated, then ends as it does at a closed pipe: a worker writing a result holds the pipe's lock until the
    last byte is read, and `terminate` waits for that lock to write its sentinel. Bytes, not messages: one read in
    part may have left the pipe out of step."""
    try:
        return receive()
    except (OSError, EOFError):
        raise
    except Exception as err:
        pool.broken = err
        for job in list(pool._cache.values()):  # type: ignore[attr-defined]
            with contextlib.suppress(KeyError):  # wakes its waiter with `err`; an `apply_async` runs its error callback
                job._set(0, (False, err))
        pool._cache.clear()  # type: ignore[attr-defined]
        _drop_until_terminated(pool._outqueue._reader.fileno(), pool.spill)  # type: ignore[attr-defined]
        raise EOFError("the result pipe can no longer be read") from err


def _drop_until_terminated(pipe: int, spill: bytearray) -> None:
    """Read and drop the bytes on `pipe` (through `spill`: no allocation) until the pool's `terminate` marks this
    thread, the result handler, as stopping (and writes its sentinel, which ends the wait), or the pipe closes."""
    thread = threading.current_thread()
    while thread._state == multiprocessing.pool.RUN:  # type: ignore[attr-defined]
        try:
            if not os.readv(pipe, [spill]):
                return
        except OSError:
            return


class _Watchdog:
    """A thread of the parent that looks at the workers' rows twice a second (or more often for a short deadline)
    and hands (task number, position, why) of a file whose worker is lost to `on_lost`: a worker busy on one file
    for over `deadline` seconds is killed; a worker that died on a file (a crash in its grammar, the OOM killer) is
    found by its row, which still names that file. Either way the pool alone would wait for that task forever.

    A busy worker is stopped (SIGSTOP) before it is killed, and killed only if its row still names the same file:
    a worker that finished the file meanwhile may be writing its result, and killing it then would leave the
    pool's result pipe locked for good. A worker is signalled only once its start time shows the pid is still its.
    One that cannot be stopped, waiting in the kernel on a read that never returns, cannot be killed either (its
    SIGKILL waits with it): it is handed to `on_stuck` too, for the pool to go on without it.

    A worker that died between files (its row names none) is handed to `on_died`: it may have held a task no row
    names (one it was sending back, or had just taken) or the task queue's lock (which an idle worker holds while it
    waits), and neither can be told after its death.
    """

    def __init__(
        self,
        watch: Any,
        deadline: float,
        on_lost: Callable[[int, int, str], None],
        on_stuck: Callable[[int], None] = lambda pid: None,
        on_died: Callable[[int], None] = lambda pid: None,
    ) -> None:
        self.watch = watch
        self.on_stuck = on_stuck
        self.on_died = on_died
        self.deadline_ns = int(deadline * 1e9)
        self.period = min(0.5, deadline / 4)
        self.on_lost = on_lost
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="atlas-parse-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hurry(self, deadline: float) -> None:
        """From now on, kill a worker busy on one file for over `deadline` seconds."""
        self.deadline_ns = min(self.deadline_ns, int(deadline * 1e9))

    def stop(self) -> None:
        """End the thread, after a last look for workers that died since its last round: the pool's `terminate`
        would wait for ever for a lock a worker that died between files may have held."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        for row in range(len(self.watch) // WATCH_COLUMNS):
            base = row * WATCH_COLUMNS
            seen = tuple(self.watch[base : base + WATCH_COLUMNS])
            if seen[0]:
                self._gone(base, seen)

    def _run(self) -> None:
        while not self._stopping.wait(self.period):
            for row in range(len(self.watch) // WATCH_COLUMNS):
                self._look_at(row)

    def _look_at(self, row: int) -> None:
        base = row * WATCH_COLUMNS
        seen = tuple(self.watch[base : base + WATCH_COLUMNS])
        pid, task, position, started, birth = seen
        if not pid or self._gone(base, seen):
            return
        if not started or position == SIDE_JOB or time.monotonic_ns() - started < self.deadline_ns:
            return
        unchanged = lambda: tuple(self.watch[base : base + WATCH_COLUMNS]) == seen and _birth(pid) == birth  # noqa: E731
        how = _kill_if_still(pid, unchanged)
        if how:
            self._free(base)
            if how == "stuck":
                self.on_stuck(pid)
            self.on_lost(task, position, how)

    def _gone(self, base: int, seen: tuple[int, ...]) -> bool:
        """Whether the worker of the row at `base` (as `seen`) is gone, and its row was never cleared: then the row
        is freed and the loss handed on. A zombie is gone too (the pool's worker handler may not have reaped it)."""
        pid, task, position, started, birth = seen
        now = _birth(pid)
        if not birth or now is None or (now == birth and _state(pid) != b"Z"):
            return False
        self._free(base)
        if started:
            self.on_lost(task, position, "crashed")
        else:
            self.on_died(pid)
        return True

    def _free(self, base: int) -> None:
        """The row is free for the worker the pool starts in place of the lost one."""
        self.watch[base + 3] = 0
        self.watch[base] = 0


def _kill_if_still(pid: int, still: Callable[[], bool]) -> str:
    """SIGKILL process `pid` if, once it is stopped, `still()` holds; else let it go on. "hung" if it was killed,
    "stuck" if it could not even be stopped, waiting in the kernel ("D": a read a FUSE or network file system never
    answers), and was sent SIGKILL, which takes effect only once that wait ends; "" if it went on.

    Through a pidfd where the system has them: the process checked is then the one signalled, even should its pid
    be given to another process in between."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    try:
        if not still():
            return ""
        _signal(pid, handle, signal.SIGSTOP)
        if _stopped(pid) and still():
            _signal(pid, handle, signal.SIGKILL)
            return "hung"
        if _state(pid) == b"D" and still():
            _signal(pid, handle, signal.SIGKILL)
            return "stuck"
        _signal(pid, handle, signal.SIGCONT)
    except ProcessLookupError:
        pass
    finally:
        if handle is not None:
            os.close(handle)
    return ""


def _state(pid: int) -> bytes:
    """Process `pid`'s state letter in `/proc` (b"" when it cannot be read)."""
    try:
        return _stat_fields(pid)[0]
    except (OSError, IndexError):
        return b""


def _signal(pid: int, handle: int | None, signum: int) -> None:
    if handle is None:
        os.kill(pid, signum)
    else:
        signal.pidfd_send_signal(handle, signum)


def _stopped(pid: int, wait: float = 1.0) -> bool:
    """Whether process `pid` has stopped within `wait` seconds (a stop signal takes effect asynchronously)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = _stat_fields(pid)[0]
        except (OSError, IndexError):  # no procfs: give the signal a moment
            time.sleep(0.05)
            return True
        if state in (b"T", b"t"):
            return True
        time.sleep(0.005)
    return False


class ParsePool:
    """A context manager owning the worker processes (one at least: a file that hangs its grammar in the
    parent could not be stopped).

    Leaving it stops the workers; when the consumer stopped early (^C, an exception) it first lets
    the files already handed to workers come back, skipped at once, so that no worker is killed
    while it writes a result: the pool would wait forever for the lock that worker held.
    """

    def __init__(self, workers: int, options: ParseOptions, warn: bool = True, work: Work | None = None) -> None:
        self.workers = max(1, workers)
        self.options = options
        self.work = work or parse_entry  # looked up now: a test wraps the module's parse_entry before the pool forks
        self._warn = log.warning if warn else log.debug  # a file its worker was lost on
        self.pool: multiprocessing.pool.Pool | None = None
        self.lost: list[str] = []
        """Files a worker was lost on: killed when it hung on one, or dead (a crash in the grammar)."""
        self._closing = threading.Event()
        self._cancelled: Any = None
        self._gate: threading.Semaphore | None = None
        self._results: Any = None
        self._watch: Any = None
        self._watchdog: _Watchdog | None = None
        self._tasks: dict[int, _Task] = {}  # sent to a worker, their results not yet back
        self._side_jobs: dict[int, multiprocessing.pool.ApplyResult] = {}  # `runner` jobs, by (negative) number
        self._side_numbers = itertools.count(-1, -1)
        self._runs_again: set[int] = set()  # tasks run again after a kill, which hold no place at the gate
        self._numbers = itertools.count()
        self._losses: collections.Counter[str] = collections.Counter()  # files a worker was lost on, per language
        self._grammars_off: dict[str, str] = {}  # language → why its grammar is not run any more
        self._died: WorkerLost | None = None  # why the pool cannot go on: a worker died between files
        self._relay: _StderrRelay | None = None

    def __enter__(self) -> ParsePool:
        context = _context()
        self._cancelled = context.RawValue(ctypes.c_bool, False)
        # Twice the workers: a killed worker's row is freed before the pool starts another in its place, but a
        # spare row spares that race.
        self._watch = context.RawArray(ctypes.c_int64, 2 * self.workers * WATCH_COLUMNS)
        # A worker starts with its parent's handlers: a SIGTERM from `terminate()` arriving before
        # `_worker_setup` would run the parent's handler and be dropped, leaving a worker `join()` waits for.
        relay = _StderrRelay() if context.get_start_method() == "fork" else None
        pipe = (relay.read_end, relay.write_end) if relay else None
        try:
            with signals_held():
                setup = (self._cancelled, os.getpid(), self._watch, context.Lock(), threading.get_ident(), pipe)
                self.pool = _Pool(self.workers, initializer=_worker_setup, initargs=setup, context=context)
            if relay is not None:
                relay.start()  # may be the thread a limit refuses: `__exit__` is not run when `__enter__` raises
        except BaseException:
            if self.pool is not None:
                self.pool.terminate()
                self.pool = None
            if relay is not None:
                relay.stop()
            raise
        self._relay = relay
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self.pool is None:
            return
        try:
            self._stop_feeding()
            self._drain()
            if self._watchdog is not None:
                self._watchdog.stop()  # before `terminate`: a worker it has stopped is killed or goes on first
            if self._died is not None:
                self._stop_hard()
                return
            self.pool.terminate()
            self.pool.join()
        finally:
            if self._relay is not None:
                self._relay.stop()

    def _stop_feeding(self) -> None:
        """No more files to the workers, and the queued ones skipped.

        The pool's task-handler thread may be blocked on the gate, which a consumer that stopped no
        longer releases, and `terminate` waits for that thread: one release lets it see `_closing`.
        """
        self._closing.set()
        self._cancelled.value = True
        if self._watchdog is not None:
            self._watchdog.hurry(STOPPING_FILE_SECONDS)
        if self._gate is not None:
            with signals_deferred():
                self._gate.release()

    def _drain(self) -> None:
        """Wait (at most DRAIN_SECONDS) for the results still due to the stopped consumer."""
        if self._results is None or self._died is not None or getattr(self.pool, "broken", None) is not None:
            return  # no result will come
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
        """Runs a picklable `fn(*args)` in a worker process, ahead of queued parse tasks; None with one
        worker, which the parse needs. The returned function waits for the result (re-raising the worker's
        exception, or WorkerLost should the worker die on the job)."""
        if self.pool is None or self.workers == 1:
            return None
        pool = self.pool
        self._start_watchdog()

        def run(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
            number = next(self._side_numbers)
            result = pool.apply_async(_side_job, (number, fn, args))
            self._side_jobs[number] = result
            if self._died is not None:  # looked at once the job is in the pool's cache, which `_lose_pool` fails
                with contextlib.suppress(KeyError):
                    result._set(0, (False, self._died))
            return partial(_wait_for, result)

        return run

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = _Watchdog(
                self._watch, FILE_DEADLINE_SECONDS, self._run_again, self._abandon, self._lose_pool
            )
            self._watchdog.start()

    def parse(self, entries: Iterable[FileEntry]) -> Iterator[Result]:
        """Yield a result for every entry, in completion order."""
        if self.pool is None:
            raise RuntimeError("ParsePool.parse outside its `with` block")
        # Chunks are made here, not by the pool, so that the pool's result iterator is its own
        # (the one with `next(timeout)`, which `_drain` needs) and the gate counts chunks.
        gate = self._gate = threading.Semaphore(max(1, self.workers * INFLIGHT_PER_WORKER // CHUNK_SIZE))

        def gated() -> Iterator[_Task]:
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
                task = _Task(next(self._numbers), chunk, self._grammars_off_for(chunk), {})
                self._tasks[task.number] = task
                yield task

        self._results = self.pool.imap_unordered(partial(_parse_chunk, options=self.options, work=self.work), gated())
        self._start_watchdog()
        while True:
            if self._died is not None:  # looked at once the job is in the pool's cache, which `_lose_pool` fails
                raise self._died
            try:
                number, results = _next_result(self._results)
            except StopIteration:
                return
            except multiprocessing.pool.MaybeEncodingError as err:  # its results' repr is in `err`: not shown
                why = f"a parse worker could not send its results back ({err.exc}), so the build stopped"
                raise WorkerLost(why, WORKER_DIED_HINT) from err
            self._tasks.pop(number, None)
            if number in self._runs_again:
                self._runs_again.discard(number)
            else:
                with signals_deferred():  # no ^C inside the semaphore's bookkeeping (see `gated`)
                    gate.release()
            yield from results

    def _run_again(self, number: int, position: int, how: str) -> None:
        """Run task `number` again, its worker lost (`how`: "hung", killed; "crashed", dead) on the file at
        `position`: that file as text, or left out if it was lost as text too. The result takes the lost one's
        place in the pool's result iterator."""
        if number in self._side_jobs:
            self._lose_side_job(number)
            return
        lost = self._tasks.pop(number, None)
        if lost is None:  # its result came back after all: nothing was lost
            return
        if self._closing.is_set() or self.pool is None:  # nobody waits for the files of a stopped run
            self._deliver((True, (lost.number, [])))
            return
        path = lost.entries[position].path
        self.lost.append(path)
        what = f"did not finish in {FILE_DEADLINE_SECONDS:g} s" if how == "hung" else "crashed its worker"
        if how == "stuck":  # read again, it would take another worker with it
            why = f"its read did not return in {FILE_DEADLINE_SECONDS:g} s (a file system that does not answer)"
            self._warn("%s: %s; left out of the index", visible(path), why)
            task = lost._replace(number=next(self._numbers), unreadable={**lost.unreadable, path: why})
        elif path in lost.as_text:
            why = f"its parse {what}, even as text"
            self._warn("%s: %s; left out of the index", visible(path), why)
            task = lost._replace(number=next(self._numbers), left_out={**lost.left_out, path: why})
        else:
            why = f"tree-sitter {what}; indexed as text"
            self._warn("%s: tree-sitter %s; indexed without its definitions", visible(path), what)
            self._count_loss(path)  # the grammar's doing: a file lost as text counts against no grammar
            task = lost._replace(number=next(self._numbers), as_text={**lost.as_text, path: why})
        self._tasks[task.number] = task
        if lost.number in self._runs_again:
            self._runs_again.discard(lost.number)
        elif self._gate is not None:
            # The pool's task thread sends a task run again only once it has handed out every file: the lost task
            # gives up its place now, or lost tasks filling the gate would wait on it for good.
            self._gate.release()
        self._runs_again.add(task.number)
        self.pool.apply_async(
            _parse_chunk,
            (task, self.options, self.work),
            callback=lambda value: self._deliver((True, value)),
            error_callback=lambda err: self._deliver((False, err)),
        )

    def _abandon(self, pid: int) -> None:
        """Go on without worker `pid`, stuck in the kernel on a read and sent SIGKILL, which ends it only when the read
        returns (maybe never): it is marked as ended by that SIGKILL, so that the pool's worker handler, which starts
        workers only in place of ended ones, starts another in its place (a pool of one worker waited for good), and
        neither `terminate` nor multiprocessing's exit waits for it. It ends once the read returns (the file system
        answers, or its mount is aborted)."""
        pool = self.pool
        if pool is None:
            return
        for worker in list(pool._pool):  # type: ignore[attr-defined]
            if worker.pid == pid and worker._popen is not None:
                worker._popen.returncode = -signal.SIGKILL  # what `exitcode` and `join` report from now on
                multiprocessing.process._children.discard(worker)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError, ValueError):
            pool._change_notifier.put(None)  # type: ignore[attr-defined]  # the worker handler starts its successor

    def _lose_pool(self, pid: int) -> None:
        """Fail every job waiting on the pool: worker `pid` died between files, and may have taken with it a task
        (one it was sending back, or had just taken) or a lock of the pool's pipes, which would hang the run."""
        pool = self.pool
        if pool is None or self._died is not None:
            return
        why = f"parse worker {pid} died between files (killed by the system, or out of memory), so the build stopped"
        self._died = WorkerLost(why, WORKER_DIED_HINT)
        for job in list(pool._cache.values()):  # type: ignore[attr-defined]
            with contextlib.suppress(KeyError):  # wakes its waiter with the error
                job._set(0, (False, self._died))

    def _stop_hard(self) -> None:
        """Stop a pool a worker died in without `terminate`, which would wait for ever for a lock the dead worker may
        have held (the task queue's, or the result pipe's with a result half written): the pool's own finalizer is
        dropped, its worker handler told to start no more workers, its workers killed and waited for (one stuck in
        the kernel is left behind, as by `_abandon`). Its task and result threads may stay blocked on the pipes:
        daemon threads, they end with the process."""
        pool = self.pool
        if pool is None:
            return
        pool._state = multiprocessing.pool.TERMINATE  # type: ignore[attr-defined]
        pool._terminate.cancel()  # type: ignore[attr-defined]
        handler = pool._worker_handler  # type: ignore[attr-defined]
        handler._state = multiprocessing.pool.TERMINATE
        with contextlib.suppress(OSError, ValueError):
            pool._change_notifier.put(None)  # type: ignore[attr-defined]
        handler.join(HANDLER_SECONDS)
        workers = list(pool._pool)  # type: ignore[attr-defined]
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.join(STOPPING_FILE_SECONDS)
            if worker.exitcode is None:  # stuck in the kernel: its SIGKILL waits with it
                multiprocessing.process._children.discard(worker)  # type: ignore[attr-defined]
        pool._task_handler._state = multiprocessing.pool.TERMINATE  # type: ignore[attr-defined]
        pool._result_handler._state = multiprocessing.pool.TERMINATE  # type: ignore[attr-defined]

    def _lose_side_job(self, number: int) -> None:
        """Fail the `runner` job `number`, whose worker died on it (the pool would wait for its result forever)."""
        result = self._side_jobs.pop(number)
        if not result.ready():
            result._set(0, (False, WorkerLost("the worker process running it died (a crash, or the OOM killer)")))

    def _count_loss(self, path: str) -> None:
        """Count a file a worker was lost on; at LOSSES_PER_GRAMMAR, its grammar is not run again this run."""
        language = detect_language(path, b"")
        self._losses[language] += 1
        if self._losses[language] == LOSSES_PER_GRAMMAR:
            why = f"the {language} grammar hung or crashed on {LOSSES_PER_GRAMMAR} files of this run; indexed as text"
            self._warn("%s; the other %s files of this run are indexed as text", why.partition(";")[0], language)
            self._grammars_off[language] = why

    def _grammars_off_for(self, chunk: list[FileEntry]) -> dict[str, str]:
        """The files of `chunk` in a language whose grammar is not run any more, with why."""
        if not self._grammars_off:
            return {}
        reasons = ((entry.path, self._grammars_off.get(detect_language(entry.path, b""))) for entry in chunk)
        return {path: why for path, why in reasons if why}

    def _deliver(self, outcome: tuple[bool, Any]) -> None:
        """Hand the result iterator the outcome of a task run again, in place of the killed one's (the pool has no
        idea a task was lost, and its iterator waits for one outcome per task)."""
        self._results._set(0, outcome)


def hash_entry(entry: FileEntry, options: ParseOptions, grammar_failed: str = "") -> Hashed:
    """The `atlas.partition.file_content_hash` of a walked file, read up to `options.max_file_bytes` (or, when that
    is 0, up to the size the walk found): the work of `content_hashes`' workers."""
    from atlas.partition import file_content_hash

    return Hashed(entry.path, file_content_hash(entry.root, entry.path, options.max_file_bytes or entry.size))


def content_hashes(entries: Sequence[FileEntry], limit: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """The content hash of each of `entries` by path (`hash_entry`: up to `limit` bytes, or with 0 up to the size
    the walk found), and the files whose read did not return within FILE_DEADLINE_SECONDS (path → why; their hash
    is UNREADABLE). A read the file system never answers (FUSE, a network file system) would hang the parent for
    good: files not on a local disk are read in worker processes, whose watchdog leaves a stuck worker behind as
    it does in a parse; the others are read here, sparing a status check the ~50 ms a pool costs."""
    from atlas.partition import UNREADABLE

    options = ParseOptions(max_file_bytes=limit)
    hashes = {entry.path: hash_entry(entry, options).content_hash for entry in entries if _on_local_disk(entry)}
    unanswered: dict[str, str] = {}
    far = [entry for entry in entries if entry.path not in hashes]
    if not far:
        return hashes, unanswered
    with ParsePool(parse_workers(2, len(far)), options, False, hash_entry) as pool:
        for result in pool.parse(far):
            if isinstance(result, Hashed):
                hashes[result.path] = result.content_hash
            elif isinstance(result, Skipped):  # its worker was lost on it: stuck on the read, or killed there twice
                hashes[result.path] = UNREADABLE
                unanswered[result.path] = result.detail
    return hashes, unanswered


def _on_local_disk(entry: FileEntry) -> bool:
    """Whether the file `entry` names (a link followed) is on a local file system (`on_local_filesystem`); False
    when that cannot be told."""
    try:
        where = os.stat(on_disk(entry.root, entry.path))
    except (OSError, ValueError):
        return False
    return on_local_filesystem(where.st_dev)
