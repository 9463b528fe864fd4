"""The parse pool: every entry comes back once, and a consumer that stops early never hangs the pool."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from atlas.held_signals import signals_deferred
from atlas.parse import ParseOptions
from atlas.parse import pool as pool_module
from atlas.parse.pool import ParsePool
from atlas.records import FileEntry, ParsedFile, Skipped, SkipReason


def entries(root: Path, count: int) -> list[FileEntry]:
    """`count` small Python files under `root`, as the walk would hand them on."""
    found = []
    for i in range(count):
        path = root / f"mod_{i:04d}.py"
        path.write_text(f"def handler_{i}(request):\n    return request\n", encoding="utf-8")
        info = path.stat()
        found.append(FileEntry(f"mod_{i:04d}.py", str(path), info.st_size, info.st_mtime_ns, str(root)))
    return found


def test_every_entry_is_parsed_once(tmp_path: Path) -> None:
    work = entries(tmp_path, 300)
    with ParsePool(2, ParseOptions()) as pool:
        results = list(pool.parse(work))
        consumed = time.monotonic()
    assert time.monotonic() - consumed < 2, "leaving a pool whose results were all consumed waits for nothing"
    assert sorted(r.path for r in results) == [e.path for e in work]
    assert all(isinstance(r, ParsedFile) and r.symbols for r in results)


class ConsumerFailed(Exception):
    pass


def test_a_consumer_raising_while_the_gate_is_full_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A gate of one chunk per worker fills at once.
    monkeypatch.setattr(pool_module, "INFLIGHT_PER_WORKER", pool_module.CHUNK_SIZE)
    hung, outcome = consume_then_raise(entries(tmp_path, 300), timeout=15)
    assert not hung, "ParsePool.__exit__ hung after the consumer raised"
    assert len(outcome) == 1 and isinstance(outcome[0], ConsumerFailed)


def consume_then_raise(work: list[FileEntry], timeout: float) -> tuple[bool, list[BaseException]]:
    """Parse `work` on two workers, raise from the consumer after its first result, once the gate is full;
    (still running after `timeout` seconds, what the consumer raised)."""
    outcome: list[BaseException] = []

    def consume() -> None:
        try:
            with ParsePool(2, ParseOptions()) as pool:
                for _ in pool.parse(work):
                    time.sleep(0.5)  # the workers fill the gate meanwhile
                    raise ConsumerFailed("the index writer failed")
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(timeout=timeout)
    return thread.is_alive(), outcome


class LosingSemaphore(threading.Semaphore):
    """A semaphore whose releases wake no waiter: the lost wake-up that a signal landing inside `release`
    can cause (a stale waiter left in its Condition's queue takes the next notify)."""

    def release(self, n: int = 1) -> None:
        with self._cond:  # type: ignore[attr-defined]
            self._value += n  # type: ignore[attr-defined]


def test_a_wake_up_lost_in_the_gate_does_not_hang_the_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen in CI: the pool's task thread blocked on the gate after the stop's release, `terminate` behind it.
    monkeypatch.setattr(pool_module, "INFLIGHT_PER_WORKER", pool_module.CHUNK_SIZE)
    monkeypatch.setattr(pool_module.threading, "Semaphore", LosingSemaphore)
    started = time.monotonic()
    hung, outcome = consume_then_raise(entries(tmp_path, 300), timeout=20)
    assert not hung, "ParsePool.__exit__ hung on a gate whose release woke nobody"
    assert time.monotonic() - started < 5, "the drain waited for a feeder that never looked at the stop"
    assert len(outcome) == 1 and isinstance(outcome[0], ConsumerFailed)


CORES = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("requested", "files", "expected"),
    [
        (1000, 5 * pool_module.CHUNK_SIZE, min(CORES, 5)),
        (1000, 100_000, CORES),
        (1, 100_000, 1),
        (8, 3, 1),
        (8, 0, 1),
    ],
)
def test_workers_are_clamped_to_the_cores_and_the_work(requested: int, files: int, expected: int) -> None:
    assert pool_module.parse_workers(requested, files) == expected


STOP_AT_ONCE = """
import signal, sys
from atlas.cli import _terminate
from atlas.held_signals import signals_deferred
from atlas.parse import ParseOptions
from atlas.parse.pool import ParsePool

signal.signal(signal.SIGTERM, _terminate)  # as `atlas` does: SIGTERM raises, like ^C
for _ in range(int(sys.argv[1])):
    with ParsePool(2, ParseOptions()):
        pass  # stopped while its workers are still starting
print("done")
"""


def test_a_pool_stopped_while_its_workers_start_does_not_hang() -> None:
    # A SIGTERM from terminate() reaching a worker before its setup ran was lost (the parent's
    # handler was still installed), and the pool waited for that worker forever.
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", STOP_AT_ONCE, "150"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a pool stopped at once hung")
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


LEAVE_EARLY = """
import sys
from pathlib import Path
from atlas.held_signals import signals_deferred
from atlas.parse import ParseOptions
from atlas.parse.pool import ParsePool
from atlas.records import FileEntry

root = Path(sys.argv[2])
text = "\\n".join(f"word{i} value{i}" for i in range(12000))  # tokenised, not parsed: quick, large results
work = []
for i in range(200):
    path = root / f"f{i}.txt"
    path.write_text(text)  # a large result: sending it takes many writes, holding the queue's lock
    work.append(FileEntry(path.name, str(path), len(text), 0, str(root)))
for _ in range(int(sys.argv[1])):
    with ParsePool(2, ParseOptions()) as pool:
        for _ in pool.parse(work):
            break  # the workers are busy sending results back
print("done")
"""


def test_leaving_while_workers_send_results_does_not_hang(tmp_path: Path) -> None:
    # Stopping a worker while it writes a result leaves the result queue's lock taken for good,
    # and the pool's own threads wait for that lock forever: the pool lets those results come back first.
    import subprocess
    import sys

    try:
        done = subprocess.run(
            [sys.executable, "-c", LEAVE_EARLY, "30", str(tmp_path)], capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a pool left while its workers sent results hung")
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]


GROUP_TERM = """
import os, signal, sys, time
from pathlib import Path
from atlas.cli import _terminate
from atlas.parse import ParseOptions
from atlas.parse.pool import ParsePool
from atlas.records import FileEntry

signal.signal(signal.SIGTERM, _terminate)  # as `atlas` does: SIGTERM raises, like ^C
root = Path(sys.argv[1])
(root / "a.txt").write_text("alpha beta\\n")
work = [FileEntry("a.txt", str(root / "a.txt"), 11, 0, str(root))]
try:
    with ParsePool(2, ParseOptions()) as pool:
        assert len(list(pool.parse(work))) == 1
        time.sleep(0.5)  # both workers idle, one of them waiting for a task holding the task queue's lock
        os.killpg(0, signal.SIGTERM)  # as `timeout`, systemd or `kill -TERM -PGID` send it: to every process
        time.sleep(5)
except KeyboardInterrupt as stop:
    print("stopped", type(stop).__name__)
"""


def test_regression_a_sigterm_to_the_process_group_stops_the_pool_at_once(tmp_path: Path) -> None:
    # Workers took SIGTERM's default action: an idle one died holding the task queue's lock, and the pool's
    # `terminate` waited for that lock forever (the CLI gave up after its 15 s grace, leaving workers behind).
    # Workers now leave SIGTERM to the parent, which stops them.
    import subprocess
    import sys
    import time

    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", GROUP_TERM, str(tmp_path)], capture_output=True, text=True,
                              timeout=30, start_new_session=True)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("a pool stopped by a SIGTERM to its process group hung")
    assert done.stdout.strip() == "stopped Terminated", done.stderr[-2000:]
    assert time.monotonic() - started < 10
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


def watch_table() -> tuple[object, object]:
    """A watch table of one row and its lock, as a pool hands them to its workers."""
    import ctypes
    import multiprocessing

    return multiprocessing.RawArray(ctypes.c_int64, pool_module.WATCH_COLUMNS), multiprocessing.Lock()


def test_a_worker_whose_parent_died_before_its_setup_exits_instead_of_waiting() -> None:
    from atlas.parse.pool import _worker_setup

    child = os.fork()
    if child == 0:  # a worker forked by a parent that is gone by the time the worker sets itself up
        try:
            _worker_setup(None, os.getppid() + 1_000_000, *watch_table(), threading.get_ident())
        finally:
            os._exit(5)  # reached only if the setup let the orphan carry on
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_worker_outliving_its_parent_does_not_keep_the_index_locked(tmp_path: Path) -> None:
    """A SIGKILLed `atlas index` leaves workers for a few milliseconds; the next run must not find it busy."""
    from atlas.index.lock import index_lock
    from atlas.parse.pool import _worker_setup

    ready_read, ready_write = os.pipe()
    with index_lock(tmp_path):
        child = os.fork()
        if child == 0:  # a parse worker, forked while the parent holds the lock
            _worker_setup(None, os.getppid(), *watch_table(), threading.get_ident())
            os.write(ready_write, b"x")
            time.sleep(30)
            os._exit(0)
        os.read(ready_read, 1)
    try:
        with index_lock(tmp_path):  # the parent let go; the worker still lives
            pass
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_the_worker_handler_does_not_spin_while_results_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stock pool's worker-handler thread also waits on the result pipe, so while results sit there unread
    # (a slow consumer) it returns from wait() at once, over and over: thousands of wake-ups a second.
    import multiprocessing.pool

    wakeups = 0
    stock = multiprocessing.pool.Pool._wait_for_updates

    def counted(*args: object, **kwargs: object) -> None:
        nonlocal wakeups
        wakeups += 1
        stock(*args, **kwargs)

    monkeypatch.setattr(multiprocessing.pool.Pool, "_wait_for_updates", staticmethod(counted))
    work = entries(tmp_path, 200)
    with ParsePool(2, ParseOptions()) as pool:
        results = []
        for result in pool.parse(work):
            results.append(result)
            if len(results) % 20 == 0:
                time.sleep(0.1)  # results pile up in the pipe meanwhile
    assert len(results) == len(work)
    assert wakeups < 50, f"the worker handler woke {wakeups} times"


def test_parsed_files_cross_the_pipe_whole_without_per_field_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    # The generated __getstate__/__setstate__ of slotted dataclasses call dataclasses.fields() for every object.
    import dataclasses
    import pickle

    from atlas.parse import parse_bytes

    parsed = parse_bytes("pkg/server.py", b"import os\n\nclass Router:\n    def dispatch(self):\n        return os\n")
    assert parsed.symbols and parsed.imports
    calls = 0
    stock = dataclasses.fields

    def counted(*args: object) -> object:
        nonlocal calls
        calls += 1
        return stock(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(dataclasses, "fields", counted)
    copy = pickle.loads(pickle.dumps([parsed] * 3, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == [parsed] * 3 and isinstance(copy[0].symbols[0], type(parsed.symbols[0]))
    assert calls == 0


def test_tasks_are_bounded_by_files_and_by_bytes() -> None:
    def entry(i: int, size: int) -> FileEntry:
        return FileEntry(f"f{i}", f"/nowhere/f{i}", size, 0, "/nowhere")

    small = [entry(i, 100) for i in range(70)]
    assert [len(c) for c in pool_module._chunks(small, 32)] == [32, 32, 6]
    big = [entry(i, 400_000) for i in range(7)]  # three of these pass 1 MiB
    assert [len(c) for c in pool_module._chunks(big, 32, 1 << 20)] == [2, 2, 2, 1]
    huge = [entry(0, 5 << 20), entry(1, 10), entry(2, 5 << 20)]  # a file over the bound is a task of its own
    assert [[e.path for e in c] for c in pool_module._chunks(huge, 32, 1 << 20)] == [["f0"], ["f1"], ["f2"]]


class Terminated(Exception):
    pass


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@pytest.mark.parametrize(("signum", "handler", "expected"), [
    (signal.SIGINT, signal.default_int_handler, KeyboardInterrupt),
    (signal.SIGTERM, raise_terminated, Terminated),
])
def test_a_signal_inside_the_pools_waits_is_acted_on_when_they_end(
    signum: int, handler: object, expected: type[BaseException]
) -> None:
    # An exception raised inside the pool's result objects can leave their lock taken (bpo-29988), and the
    # pool's result handler, `terminate()` and the whole cleanup then wait for it forever.
    previous = signal.signal(signum, handler)  # type: ignore[arg-type]
    finished_inside = False
    try:
        with pytest.raises(expected), signals_deferred():
            os.kill(os.getpid(), signum)
            time.sleep(0.05)
            finished_inside = True
        assert finished_inside, "the signal's handler ran inside the block"
        assert signal.getsignal(signum) is handler, "the handler is put back"
    finally:
        signal.signal(signum, previous)


def test_an_ignored_signal_stays_ignored_in_the_pools_waits() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_interrupts_at_any_moment_of_a_parse_leave_the_pool_free_to_stop(tmp_path: Path) -> None:
    # ^C at random moments, mostly while the consumer waits for the workers' next results: each run ends in
    # KeyboardInterrupt within the drain's bound, and the result iterator's lock is free afterwards.
    work = entries(tmp_path, 400)
    for delay in [0.0, 0.001, 0.003, 0.006, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3]:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        pool = ParsePool(2, ParseOptions())
        with pytest.raises(KeyboardInterrupt), pool:
            timer.start()
            for _ in pool.parse(work * 5):
                pass
            timer.join()  # the whole parse beat the signal: wait for it here
            time.sleep(1)
        assert time.monotonic() - started < pool_module.DRAIN_SECONDS, f"^C after {delay} s: the pool's cleanup stalled"
        if pool._results is not None:
            assert not pool._results._cond._lock.locked(), f"^C after {delay} s left the result iterator's lock taken"


HANGS_PERL = b"reticulate_splines #"
"""tree-sitter-perl's external scanner never returns at an end of file inside a comment after a bareword: the
parser takes a final newline away, so the tests below put the real hang back (`_ENDS_WITH_NEWLINE` emptied)."""


def files_around_a_hang(root: Path) -> list[FileEntry]:
    """Python files before and after a Perl file that hangs its grammar, in one task."""
    work = entries(root, 6)
    perl = root / "spline.pl"
    perl.write_bytes(HANGS_PERL)
    hung = FileEntry("spline.pl", str(perl), len(HANGS_PERL), 0, str(root))
    return [*work[:3], hung, *work[3:]]


@pytest.fixture
def grammar_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Perl grammar's real hang back, and a watchdog deadline of two seconds (workers fork with both)."""
    from atlas.parse import symbols

    monkeypatch.setattr(symbols, "_ENDS_WITH_NEWLINE", frozenset())
    monkeypatch.setattr(pool_module, "FILE_DEADLINE_SECONDS", 2.0)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.usefixtures("grammar_hangs")
def test_regression_a_file_that_hangs_its_grammar_is_indexed_as_text_and_the_run_goes_on(
    tmp_path: Path, workers: int, caplog: pytest.LogCaptureFixture
) -> None:
    work = files_around_a_hang(tmp_path)
    started = time.monotonic()
    with ParsePool(workers, ParseOptions()) as pool:
        results = {result.path: result for result in pool.parse(work)}
        hung = list(pool.lost)
    assert time.monotonic() - started < 30
    assert sorted(results) == sorted(entry.path for entry in work)  # each file once, the hung one too
    perl = results["spline.pl"]
    assert isinstance(perl, ParsedFile) and not perl.symbols
    assert "did not finish in 2 s" in perl.parse_error and "reticulate" in perl.content_terms
    assert all(isinstance(results[e.path], ParsedFile) and results[e.path].symbols for e in work if e is not work[3])
    assert hung == ["spline.pl"]
    assert "spline.pl: tree-sitter did not finish in 2 s; indexed without its definitions" in caplog.text


@pytest.mark.usefixtures("grammar_hangs")
def test_a_file_that_hangs_even_as_text_is_left_out_as_unparsable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import atlas.parse

    tokenize = atlas.parse.tokens_text_bytes

    def stuck_on_the_spline(data: bytes) -> str:
        if data.startswith(HANGS_PERL):
            time.sleep(3600)
        return tokenize(data)

    monkeypatch.setattr(atlas.parse, "tokens_text_bytes", stuck_on_the_spline)
    work = files_around_a_hang(tmp_path)
    with ParsePool(2, ParseOptions()) as pool:
        results = {result.path: result for result in pool.parse(work)}
        hung = list(pool.lost)
    perl = results["spline.pl"]
    assert isinstance(perl, Skipped) and perl.reason is SkipReason.UNPARSABLE
    assert perl.detail == "its parse did not finish in 2 s, even as text"
    assert hung == ["spline.pl", "spline.pl"]
    assert sorted(results) == sorted(entry.path for entry in work)


def test_a_worker_that_finished_its_file_before_the_kill_goes_on() -> None:
    """The watchdog stops a worker before it kills it, and kills it only if it is still on the same file."""
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        assert not pool_module._kill_if_still(child, lambda: False)
        assert os.waitpid(child, os.WNOHANG) == (0, 0), "the worker was let go on, not killed"
        assert pool_module._kill_if_still(child, lambda: True)
    except BaseException:
        os.kill(child, signal.SIGKILL)
        raise
    finally:
        _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_a_worker_started_in_place_of_a_killed_one_exits_when_its_parent_is_gone(tmp_path: Path) -> None:
    """A worker the pool's handler thread forks gets no death signal (it would come when that thread ends, and
    could kill the worker holding the task queue's lock): it checks on its parent instead."""
    from atlas.parse.pool import _worker_setup

    read_pid, write_pid = os.pipe()
    read_ready, write_ready = os.pipe()
    middle = os.fork()
    if middle == 0:  # the indexing process, which dies with its replacement worker still there
        worker = os.fork()
        if worker == 0:
            _worker_setup(None, os.getppid(), *watch_table(), creator=-1)
            os.write(write_pid, str(os.getpid()).encode())
            os.write(write_ready, b"!")
            time.sleep(60)
            os._exit(5)
        os.read(read_ready, 1)
        os._exit(0)
    os.close(write_pid)
    os.waitpid(middle, 0)
    worker_pid = int(os.read(read_pid, 32))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{worker_pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except FileNotFoundError:
            return
        if state in (b"Z", b"X"):  # exited; reaping it is the business of whoever adopted it
            return
        time.sleep(0.1)
    os.kill(worker_pid, signal.SIGKILL)
    pytest.fail("a worker outlived its parent by 10 s")


INTERRUPTED_HANG = """
import sys
from atlas.parse import pool, symbols
symbols._ENDS_WITH_NEWLINE = frozenset()  # the Perl grammar's real hang, back
from atlas.cli import main
sys.argv = ["atlas", "index", sys.argv[1]]
main()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_a_grammar_hangs_stops_the_run_at_once(tmp_path: Path, signum: int) -> None:
    # The stopped run waits for the files being parsed, but not past STOPPING_FILE_SECONDS for one stuck in C.
    import subprocess
    import sys

    (tmp_path / "spline.pl").write_bytes(HANGS_PERL)
    (tmp_path / "app.py").write_text("def hello_world():\n    return 1\n")
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_HANG, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job's ^C is ignored
    )
    time.sleep(2.5)  # the walk is done and the worker is in the grammar for good
    sent = time.monotonic()
    child.send_signal(signum)
    try:
        _, stderr = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("an interrupted index run waited on a hung grammar")
    assert time.monotonic() - sent < 5
    assert child.returncode == 128 + signum
    assert stderr.endswith("atlas: interrupted\n  hint: nothing was published; the previous index is intact\n")
    assert not (tmp_path / ".atlas" / "CURRENT").exists()


@pytest.mark.usefixtures("grammar_hangs")
def test_a_grammar_that_hangs_twice_is_not_run_again_in_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A tree of crafted inputs (a fuzzing corpus) would cost the deadline once per file.
    monkeypatch.setattr(pool_module, "CHUNK_SIZE", 1)
    monkeypatch.setattr(pool_module, "INFLIGHT_PER_WORKER", 1)  # two tasks in flight: the hangs come first
    work = entries(tmp_path, 12)
    perl = []
    for name in ("a.pl", "b.pl", "y.pl", "z.pl"):
        (tmp_path / name).write_bytes(HANGS_PERL)
        perl.append(FileEntry(name, str(tmp_path / name), len(HANGS_PERL), 0, str(tmp_path)))
    started = time.monotonic()
    with ParsePool(2, ParseOptions()) as pool:
        results = {result.path: result for result in pool.parse([*perl[:2], *work, *perl[2:]])}
        hung = sorted(pool.lost)
    assert time.monotonic() - started < 15
    # y.pl may be handed out before b.pl's hang is seen (the watchdog looks twice a second); z.pl waits for a place
    # at the gate, which only a second kill frees.
    assert {"a.pl", "b.pl"} <= set(hung) <= {"a.pl", "b.pl", "y.pl"}
    breaker = "the perl grammar hung or crashed on 2 files of this run; the other perl files of this run are indexed"
    assert breaker in caplog.text
    late = results["z.pl"]
    assert isinstance(late, ParsedFile) and late.parse_error.startswith("the perl grammar hung or crashed on 2 files")
    assert all(isinstance(results[e.path], ParsedFile) and results[e.path].symbols for e in work)


@pytest.mark.usefixtures("grammar_hangs")
def test_regression_tasks_lost_to_hangs_never_fill_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A task run again is sent only once every file has been handed out, so lost tasks that kept their places at
    # the gate stopped the handing out for good: with two places, two hangs deadlocked the run.
    monkeypatch.setattr(pool_module, "CHUNK_SIZE", 1)
    monkeypatch.setattr(pool_module, "INFLIGHT_PER_WORKER", 1)
    monkeypatch.setattr(pool_module, "LOSSES_PER_GRAMMAR", 100)
    perl = []
    for name in ("a.pl", "b.pl", "c.pl", "d.pl"):
        (tmp_path / name).write_bytes(HANGS_PERL)
        perl.append(FileEntry(name, str(tmp_path / name), len(HANGS_PERL), 0, str(tmp_path)))
    work = [*perl, *entries(tmp_path, 6)]
    hung, outcome = [], []

    def run() -> None:
        with ParsePool(2, ParseOptions()) as pool:
            outcome.extend(pool.parse(work))
            hung.extend(pool.lost)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(40)
    assert not thread.is_alive(), "the parse deadlocked on tasks lost to hangs"
    assert sorted(hung) == ["a.pl", "b.pl", "c.pl", "d.pl"]
    assert sorted(r.path for r in outcome) == sorted(e.path for e in work)


def test_regression_a_worker_that_crashes_on_a_file_costs_the_run_that_files_definitions_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A grammar that crashes its process (a segfault in C) lost the task: the pool started another worker and
    # waited for that task's result forever. The watchdog finds the dead worker's row, which still names the file.
    import atlas.parse

    extract = atlas.parse._extract

    def crashes_on_the_spline(language: str, data: bytes) -> tuple[list[object], list[str], str]:
        if data.startswith(HANGS_PERL):
            import faulthandler

            faulthandler.disable()  # pytest's dump of the worker's stack would only clutter the log
            os.kill(os.getpid(), signal.SIGSEGV)
        return extract(language, data)

    monkeypatch.setattr(atlas.parse, "_extract", crashes_on_the_spline)
    work = files_around_a_hang(tmp_path)
    started = time.monotonic()
    with ParsePool(2, ParseOptions()) as pool:
        results = {result.path: result for result in pool.parse(work)}
        lost = list(pool.lost)
    assert time.monotonic() - started < 10
    assert sorted(results) == sorted(entry.path for entry in work)
    perl = results["spline.pl"]
    assert isinstance(perl, ParsedFile) and perl.parse_error == "tree-sitter crashed its worker; indexed as text"
    assert lost == ["spline.pl"]
    assert "spline.pl: tree-sitter crashed its worker; indexed without its definitions" in caplog.text


def test_a_process_start_time_tells_a_live_worker_from_a_pid_given_to_another() -> None:
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    assert pool_module._birth(os.getpid()) > 0
    assert pool_module._birth(child) in (0, None) or pool_module._birth(child) != pool_module._birth(os.getpid())
    assert pool_module._birth(2**22 + 12345) == 0  # above any pid_max: no such process


def _dies() -> None:
    """A job whose worker dies on it, as the OOM killer kills a process."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_regression_a_worker_that_dies_on_a_side_job_fails_that_job_instead_of_hanging(tmp_path: Path) -> None:
    # The git history is mined in a parse worker. Should that worker die (the OOM killer on a huge history), the
    # pool started another and the build waited for the lost job's result forever.
    from atlas.errors import WorkerLost

    work = entries(tmp_path, 40)
    started = time.monotonic()
    with ParsePool(2, ParseOptions()) as pool:
        run = pool.runner()
        assert run is not None
        lost, answered = run(_dies), run(divmod, 7, 2)
        with pytest.raises(WorkerLost, match="died"):
            lost()
        assert answered() == (3, 1)
        parsed = list(pool.parse(work))
    assert time.monotonic() - started < 10
    assert sorted(result.path for result in parsed) == sorted(entry.path for entry in work)
    assert all(isinstance(result, ParsedFile) and not result.parse_error for result in parsed)


def test_a_side_job_is_watched_for_a_crash_but_never_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "FILE_DEADLINE_SECONDS", 0.2)
    with ParsePool(2, ParseOptions()) as pool:
        run = pool.runner()
        assert run is not None
        assert run(_sleeps_then_answers, 1.0)() == "done"  # five deadlines long: a git log may take minutes
        assert pool.lost == []


def _sleeps_then_answers(seconds: float) -> str:
    time.sleep(seconds)
    return "done"
