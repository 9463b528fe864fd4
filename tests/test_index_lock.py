"""The index write lock: busy while its holder lives; briefly awaited when only a dead holder's children keep it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas.errors import IndexBusy
from atlas.index import lock
from atlas.index.lock import LOCK_FILE, index_lock

HOLD = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "os.ftruncate(fd, 0); os.write(fd, sys.argv[2].encode())\n"
    "print('locked', flush=True)\n"
    "time.sleep(float(sys.argv[3]))\n"
)


def _hold(index_dir: Path, recorded_pid: str, seconds: float) -> subprocess.Popen[str]:
    """A process that holds the lock for `seconds`, with `recorded_pid` written as its holder."""
    index_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(index_dir / LOCK_FILE), recorded_pid, str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def _dead_pid() -> str:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return str(proc.pid)


def test_a_living_holder_keeps_the_index_busy(tmp_path: Path) -> None:
    holder = _hold(tmp_path / ".atlas", "", 30)
    try:
        with pytest.raises(IndexBusy, match="being updated by process"), index_lock(tmp_path / ".atlas"):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_holders_lingering_child_is_waited_for(tmp_path: Path) -> None:
    # As after `kill -9 atlas`: the lock file names the dead process, a child forked a moment before still
    # holds the lock and exits on its own.
    holder = _hold(tmp_path / ".atlas", _dead_pid(), 1.0)
    started = time.monotonic()
    with index_lock(tmp_path / ".atlas"):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.3 < waited < lock.ORPHAN_WAIT_SECONDS


def test_a_dead_holders_child_that_stays_is_reported_busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock, "ORPHAN_WAIT_SECONDS", 0.5)
    holder = _hold(tmp_path / ".atlas", _dead_pid(), 30)
    try:
        with pytest.raises(IndexBusy), index_lock(tmp_path / ".atlas"):
            pass
    finally:
        holder.kill()
        holder.wait()
