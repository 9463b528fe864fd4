"""The local shard executor: shard builds as processes on this machine, as many at once as there are cores.

Each shard is built by a child running `main` (`_CHILD`) that reads its ShardTask as JSON on stdin
and writes its ShardResult (or its error) as JSON on stdout: the same `build_shard` a Ray task or a
CI job runs. Children die with the parent (a killed `atlas index` leaves no build behind) and, on
^C or SIGTERM, stop without publishing their shard.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO

import orjson

from atlas.errors import AtlasError, IndexBusy, IndexCorrupt, IndexMissing, InputError, SignalError
from atlas.held_signals import HELD_SIGNALS, signals_held
from atlas.progress import log
from atlas.shards import ShardResult, ShardTask

PR_SET_PDEATHSIG = 1
PARENT_ENV = "ATLAS_SHARD_PARENT"
_ERRORS = (InputError, IndexMissing, IndexCorrupt, IndexBusy, SignalError)


class LocalExecutor:
    """Builds shards in child processes on this machine, `parallel` at a time, using every core."""

    name = "local"

    def __init__(self, jobs: int = 0, show_progress: bool = False) -> None:
        """`jobs`: cores to use (0: all of them); with `show_progress`, a line per finished shard."""
        self.cores = jobs or _cores()
        self.show_progress = show_progress

    def run(self, tasks: Sequence[ShardTask]) -> list[ShardResult]:
        """Build every task's shard; the first failure stops the others and is raised naming its shard."""
        parallel = max(1, min(self.cores, len(tasks)))
        # Each child parses with cores // parallel workers, so the machine is busy but not oversubscribed.
        per_child = max(1, self.cores // parallel)
        pending = [replace(task, settings={**task.settings, "jobs": per_child}) for task in tasks]
        pending.reverse()
        running: dict[int, tuple[subprocess.Popen[bytes], ShardTask, float]] = {}
        results: dict[int, ShardResult] = {}
        try:
            while pending or running:
                while pending and len(running) < parallel:
                    task = pending.pop()
                    running[task.index] = (_start(task), task, time.monotonic())
                results.update(self._reap(running))
        except BaseException:
            _stop([child for child, _, _ in running.values()])
            raise
        return [results[task.index] for task in tasks]

    def _reap(self, running: dict[int, tuple[subprocess.Popen[bytes], ShardTask, float]]) -> dict[int, ShardResult]:
        """Wait until a child ends; return the results of those that ended."""
        while True:
            done = {index: entry for index, entry in running.items() if entry[0].poll() is not None}
            if done:
                break
            time.sleep(0.05)
        finished = {}
        for index, (child, task, started) in done.items():
            del running[index]
            result = _outcome(child, task)
            if self.show_progress:
                log(f"atlas: shard {task.index}/{task.count}: {result.files} files, {result.mode}, "
                    f"{time.monotonic() - started:.1f}s")  # fmt: skip
            finished[index] = result
        return finished


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, which a shard build treats as ^C. Set here, not in a
    preexec_fn (unsafe while the parent mines git on a thread); a parent already gone means exit now."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if str(os.getppid()) != os.environ.get(PARENT_ENV, str(os.getppid())):
        sys.exit(143)


_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from atlas.executors import main; main()"
"""The child's program, run with `-P`: the working directory is not on its path (`python -m atlas.executors` put it
first, and imported and ran a repository's own `atlas/` package), and this Atlas's own package comes first."""


def _start(task: ShardTask) -> subprocess.Popen[bytes]:
    """Start the child building `task`'s shard. It starts with ^C and SIGTERM blocked, which it keeps across its exec:
    a ^C from a terminal reaches the whole process group, and one that struck the child while its interpreter started
    and its modules loaded printed a KeyboardInterrupt traceback (`main` then ignores ^C and handles SIGTERM)."""
    with signals_held():
        child = subprocess.Popen(
            [sys.executable, "-P", "-c", _CHILD, str(Path(__file__).parents[1])], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env={**os.environ, PARENT_ENV: str(os.getpid())},
        )  # fmt: skip
    assert child.stdin is not None
    child.stdin.write(orjson.dumps(asdict(task)))
    child.stdin.close()
    return child


def _outcome(child: subprocess.Popen[bytes], task: ShardTask) -> ShardResult:
    """The child's ShardResult, or its error raised again (same exit code) with the shard named."""
    out: IO[bytes] | None = child.stdout
    data = out.read() if out else b""
    try:
        record = orjson.loads(data) if data.strip() else {}
    except orjson.JSONDecodeError:
        record = {}
    if child.returncode == 0 and "result" in record:
        return ShardResult(**record["result"])
    shard = f"shard {task.index}/{task.count}"
    if "error" in record:
        kind = next((k for k in _ERRORS if k.exit_code == record.get("exit_code")), AtlasError)
        raise kind(f"{shard}: {record['error']}", record.get("hint"))
    raise AtlasError(f"{shard}: its build process ended with status {child.returncode}",
                     "see the messages above; rerun with -v for details")  # fmt: skip


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """Ask running builds to stop (they publish nothing), then make sure they are gone."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class _Stopped(KeyboardInterrupt):
    """SIGTERM in a shard build: raised where ^C would be, so the half-built shard is removed."""


def _on_term(signum: int, frame: object) -> None:
    raise _Stopped()


def _unblock_held_signals() -> None:
    """Unblock ^C and SIGTERM, which `_start` blocked across the exec; a SIGTERM pending meanwhile is delivered."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)


def main() -> None:
    """Child entry point: one ShardTask (JSON, stdin) → one ShardResult or error (JSON, stdout)."""
    from atlas.shards import build_shard

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C reaches the whole process group: the parent stops the builds
    signal.signal(signal.SIGTERM, _on_term)
    _die_with_parent()
    out = sys.stdout.buffer
    try:
        _unblock_held_signals()  # a SIGTERM sent while this process started is raised here, as _Stopped
        task = ShardTask(**orjson.loads(sys.stdin.buffer.read()))
        result = build_shard(task)
    except AtlasError as err:
        out.write(orjson.dumps({"error": err.message, "hint": err.hint, "exit_code": err.exit_code}))
        sys.exit(err.exit_code)
    except KeyboardInterrupt as err:
        sys.exit(143 if isinstance(err, _Stopped) else 130)
    out.write(orjson.dumps({"result": asdict(result)}))


if __name__ == "__main__":
    main()
