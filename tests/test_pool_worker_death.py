"""A parse worker that dies between files (the OOM killer, a MemoryError sending its result), with real processes.

Each case runs the real `atlas index` in a subprocess whose `parse_entry` is wrapped, before the workers fork, to
hold one file until the test says go (so that a worker is killed at a point the test has seen) or to make a result
that kills its worker when pickled. The build must end in bounded time, with the index whole: published, or left as
it was. The test process is the one that kills: no pool or system call is replaced.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git_env
from tests.test_crash_safety import generated_files

BOUND_SECONDS = 60.0  # the longest a run may take once its worker is killed: longer is a hang
HOOKED = """
import os, signal, sys, time
from pathlib import Path
from atlas.parse import pool

signals = Path(sys.argv.pop(1))
parse = pool.parse_entry


class Poison:
    def __init__(self, how):
        self.how = how

    def __reduce__(self):
        if self.how == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        raise MemoryError

    def __repr__(self):
        if self.how == "out of memory twice":
            raise MemoryError
        return "Poison()"


def parse_entry(entry, *args):
    if entry.path == "app/held.py":
        (signals / "held").write_text(str(os.getpid()))
        while not (signals / "go").exists():
            time.sleep(0.01)
    if entry.path == "app/poison.py" and (signals / "poison").exists():
        return Poison((signals / "poison").read_text())
    return parse(entry, *args)


pool.parse_entry = parse_entry
from atlas.cli import main
main()
"""
"""`atlas` whose workers hold `app/held.py` until the file `go` exists and fail to pickle the result of
`app/poison.py` while the file `poison` says how: "killed" (SIGKILL), "out of memory" (a MemoryError, which the pool
sends back instead) or "out of memory twice" (sending that fails too: the worker dies of it). The first argument is
the directory of those files."""


def start_atlas(signals: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", HOOKED, str(signals), "-q", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=git_env())


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The run's stdout and stderr; fails the test (killing the run) when it is still going after BOUND_SECONDS."""
    try:
        return proc.communicate(timeout=BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        for child in children(proc.pid):
            os.kill(child, signal.SIGKILL)
        proc.kill()
        proc.communicate()
        pytest.fail(f"`atlas index` still running {BOUND_SECONDS:g} s after its worker died")


def children(pid: int) -> list[int]:
    """The child processes of `pid` (the parse workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}")
        time.sleep(0.01)
    return value


def reading_its_task_queue(pid: int) -> bool:
    """Whether worker `pid` waits in a read of the task pipe: idle, holding the task queue's lock."""
    try:
        return "pipe_read" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def repo_with(make_repo: Callable[..., Path], *extra: str) -> Path:
    files = generated_files(160, seed=7)
    files.update({path: f"def {Path(path).stem}_marker():\n    return 1\n" for path in extra})
    return make_repo(files)


def search_finds(root: Path, word: str) -> bool:
    command = [sys.executable, "-m", "atlas", "-q", "search", word, "--format", "json", "--root", str(root)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=git_env(), check=False)
    return result.returncode == 0 and word in result.stdout


@pytest.mark.parametrize("release", [True, False], ids=["then-the-last-file-ends", "during-the-last-file"])
def test_regression_an_idle_worker_killed_holding_the_task_queue_lock_never_hangs_the_build(
    make_repo: Callable[..., Path], tmp_path: Path, release: bool
) -> None:
    # An idle worker waits for its next task holding the task queue's lock (a semaphore nobody releases when its
    # holder dies): SIGKILLed there, the other workers waited for that lock for ever, and so did the pool's
    # terminate at the end of the build. Killed while the other worker is still on its file, the run stops (exit 3);
    # killed once the rest is done, the build may end first, whole.
    root = repo_with(make_repo, "app/held.py")
    signals = tmp_path / "signals"
    signals.mkdir()
    proc = start_atlas(signals, "index", "--no-history", "--jobs", "2", "--format", "json", str(root))
    held = int(wait_for(lambda: (signals / "held").exists() and (signals / "held").read_text(), "the held file"))
    others = wait_for(lambda: [pid for pid in children(proc.pid) if pid != held], "a second worker")
    idle = others[0]  # type: ignore[index]
    wait_for(lambda: reading_its_task_queue(idle), "the other worker idle")
    os.kill(idle, signal.SIGKILL)
    killed = time.monotonic()
    if release:
        (signals / "go").touch()
    stdout, stderr = finish(proc)
    took = time.monotonic() - killed
    assert proc.returncode in ((0, 3) if release else (3,)), stderr
    if proc.returncode == 3:
        assert "worker" in stderr and "hint:" in stderr, stderr
    else:
        assert json.loads(stdout)["files_indexed"] == 161
    print(f"ended {took:.2f} s after the kill, exit {proc.returncode}")
    rerun = subprocess.run([sys.executable, "-m", "atlas", "-q", "index", "--no-history", str(root)],
                           capture_output=True, text=True, timeout=120, env=git_env(), check=False)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert search_finds(root, "held_marker")


@pytest.mark.parametrize("how", ["killed", "out of memory", "out of memory twice"])
def test_regression_a_worker_that_fails_sending_its_result_never_hangs_the_build(
    make_repo: Callable[..., Path], tmp_path: Path, how: str
) -> None:
    # The worker dies after its last file, while it pickles the task's result (the OOM killer, or a MemoryError
    # raised again when the pool sends the error instead): no file names it, and the pool waited for that task for
    # ever. A MemoryError the pool could send back was "unexpected error ... report it".
    root = repo_with(make_repo, "app/poison.py")
    signals = tmp_path / "signals"
    signals.mkdir()
    (signals / "poison").write_text(how)
    proc = start_atlas(signals, "index", "--no-history", "--jobs", "2", "--format", "json", str(root))
    started = time.monotonic()
    _, stderr = finish(proc)
    print(f"ended after {time.monotonic() - started:.2f} s, exit {proc.returncode}")
    assert proc.returncode == 3, stderr
    assert "worker" in stderr and "hint:" in stderr and "unexpected" not in stderr, stderr
    assert not (root / ".atlas" / "CURRENT").exists()  # nothing published, nothing half-written
    (signals / "poison").unlink()
    rerun = start_atlas(signals, "index", "--no-history", str(root))
    _, stderr = finish(rerun)
    assert rerun.returncode == 0, stderr
    assert search_finds(root, "poison_marker")
