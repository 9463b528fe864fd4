"""The index write lock: busy while its holder lives; briefly awaited when only a dead holder's children keep it.

Every lock here is a real `flock` held by another process: Atlas's own pattern (a Python process), a process that
took the lock and died leaving a forked child holding it (`kill -9 atlas` with parse workers), or util-linux's
`flock` command, which is not Atlas and writes no pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from atlas.errors import IndexBusy
from atlas.index import lock
from atlas.index.lock import LOCK_FILE, index_lock
from tests.conftest import init_repo, write_tree

HOLD = (
    "import fcntl, os, sys, time\n"
    "path, recorded, seconds, forked = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == 'forked'\n"
    "fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "os.ftruncate(fd, 0); os.write(fd, (str(os.getpid()) if recorded == 'self' else recorded).encode())\n"
    "if forked and os.fork():\n"
    "    os._exit(0)  # the process that took the lock ends; its child keeps it\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(seconds)\n"
)


def _hold(index_dir: Path, recorded: str, seconds: float, forked: bool = False) -> int:
    """The pid of a process that holds the lock for `seconds`, with `recorded` written as its holder (`self`: its
    own pid); `forked`: a child of the process that took the lock and wrote its own pid there, then exited."""
    index_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(index_dir / LOCK_FILE), recorded, str(seconds), "forked" if forked else ""],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    holder = int(proc.stdout.readline())
    proc.stdout.close()
    if forked:
        proc.wait()  # reaped: a zombie would still answer kill(pid, 0)
    return holder


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while lock.pid_alive(str(pid)) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # a forked holder is init's child, reaped there
            time.sleep(0.02)


def _dead_pid() -> str:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return str(proc.pid)


def test_a_living_holder_is_named(tmp_path: Path) -> None:
    holder = _hold(tmp_path / ".atlas", "self", 30)
    try:
        with pytest.raises(IndexBusy, match=rf"being updated by process {holder}$"), index_lock(tmp_path / ".atlas"):
            pass
    finally:
        _stop(holder)


@pytest.mark.parametrize("recorded", ["dead", "alive"])
def test_a_holder_other_than_the_recorded_process_is_not_named(tmp_path: Path, recorded: str) -> None:
    # The lock file names an Atlas run long dead, or a living process that holds no lock (a pid reused since): the
    # message named it, after waiting 10 s for the dead one's children, while some other process held the lock.
    named = _dead_pid() if recorded == "dead" else str(os.getpid())
    holder = _hold(tmp_path / ".atlas", named, 30)
    started = time.monotonic()
    try:
        with pytest.raises(IndexBusy) as raised, index_lock(tmp_path / ".atlas"):
            pass
    finally:
        _stop(holder)
    assert raised.value.message.endswith(": another process holds the index's lock"), raised.value.message
    assert named not in raised.value.message and str(holder) not in raised.value.message
    assert raised.value.hint == "wait for it to finish, then run `atlas index` again"
    assert time.monotonic() - started < 2  # a living holder is not a dead one's child: nothing to wait for


def test_a_dead_holders_lingering_child_is_waited_for(tmp_path: Path) -> None:
    # As after `kill -9 atlas`: the lock file names the dead process, a child forked a moment before still
    # holds the lock and exits on its own.
    _hold(tmp_path / ".atlas", "self", 1.0, forked=True)
    started = time.monotonic()
    with index_lock(tmp_path / ".atlas"):
        waited = time.monotonic() - started
    assert 0.3 < waited < lock.ORPHAN_WAIT_SECONDS


def test_a_dead_holders_child_that_stays_is_reported_busy_without_the_dead_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock, "ORPHAN_WAIT_SECONDS", 0.5)
    holder = _hold(tmp_path / ".atlas", "self", 30, forked=True)
    dead = (tmp_path / ".atlas" / LOCK_FILE).read_text()
    assert dead.isdigit() and not lock.pid_alive(dead)
    try:
        with pytest.raises(IndexBusy) as raised, index_lock(tmp_path / ".atlas"):
            pass
    finally:
        _stop(holder)
    assert raised.value.message.endswith(": another process holds the index's lock"), raised.value.message
    assert dead not in raised.value.message


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs util-linux's flock command")
def test_atlas_index_under_a_foreign_flock_names_no_pid(tmp_path: Path) -> None:
    # A process that is not Atlas holds `.atlas/lock`, which still names the Atlas run that built the index:
    # `atlas index` waited 10 s, then said the index was being updated by that long-dead run (exit 5).
    root = tmp_path / "repo"
    write_tree(root, {"a.py": "def parse_token(text):\n    return text\n"})
    init_repo(root)
    atlas = [sys.executable, "-m", "atlas", "-q", "index", str(root)]
    assert subprocess.run(atlas, capture_output=True, check=False).returncode == 0
    recorded = (root / ".atlas" / LOCK_FILE).read_text()
    assert recorded.isdigit() and not lock.pid_alive(recorded)
    foreign = subprocess.Popen(
        ["flock", str(root / ".atlas" / LOCK_FILE), "-c", "echo locked; exec sleep 60"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert foreign.stdout is not None and foreign.stdout.readline() == "locked\n"
        started = time.monotonic()
        done = subprocess.run([*atlas, "--rebuild"], capture_output=True, text=True, check=False)
        took = time.monotonic() - started
    finally:
        os.killpg(foreign.pid, signal.SIGKILL)
        foreign.wait()
    assert done.returncode == 5, done.stderr
    assert done.stderr.splitlines() == [
        f"atlas: {root / '.atlas'}: another process holds the index's lock",
        "  hint: wait for it to finish, then run `atlas index` again",
    ]
    assert took < lock.ORPHAN_WAIT_SECONDS


def _shop(root: Path) -> Path:
    write_tree(root, {"shop/cart.py": "def add_item(cart, item):\n    return cart\n", "shop/tax.py": "RATE = 2\n"})
    init_repo(root)
    return root


@pytest.mark.parametrize("command", ["search", "quick"])
def test_a_command_that_indexes_on_its_way_waits_for_another_update_instead_of_failing_busy(
    tmp_path: Path, command: str
) -> None:
    # A first `search` (no index yet) or a `quick` over a stale index while another `atlas index` ran: exit 5 and
    # "run `atlas index` again", so of several searches started on a repository without an index all but one failed.
    root = _shop(tmp_path / "repo")
    atlas = [sys.executable, "-m", "atlas", "--no-color"]
    if command == "quick":
        assert subprocess.run([*atlas, "-q", "index", str(root)], capture_output=True, check=False).returncode == 0
        (root / "shop/cart.py").write_text("def add_item(cart, item):\n    return cart + [item]\n")
    holder = _hold(root / ".atlas", "self", 2.0)
    try:
        started = time.monotonic()
        asked = [command, "--root", str(root), "add item cart", "--format", "json"]
        done = subprocess.run([*atlas, *asked], capture_output=True, text=True, check=False)
        took = time.monotonic() - started
    finally:
        _stop(holder)
    assert done.returncode == 0, done.stderr
    assert "shop/cart.py" in done.stdout
    assert f"the index is being updated by process {holder}; waiting for it" in done.stderr
    assert took > 1.0


def test_a_command_that_waited_for_another_update_indexes_the_tree_as_it_is_after_the_wait(tmp_path: Path) -> None:
    # The tree was walked before the wait and that walk published after it: a file written while another update
    # held the index was missing from the index this command built and searched.
    root = _shop(tmp_path / "repo")
    holder = _hold(root / ".atlas", "self", 30)
    command = [
        sys.executable,
        "-m",
        "atlas",
        "--no-color",
        "search",
        "--root",
        str(root),
        "refund order",
        "--format",
        "json",
    ]
    searching = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert searching.stderr is not None
        while "waiting for it" not in (line := searching.stderr.readline()):
            assert line, "the search ended without waiting for the lock"
        (root / "shop/refund.py").write_text("def refund_order(order):\n    return -order.total\n")
    finally:
        _stop(holder)
    out, err = searching.communicate(timeout=120)
    assert searching.returncode == 0, err
    assert orjson.loads(out)["results"][0]["path"] == "shop/refund.py"


def test_a_wait_for_another_update_that_runs_out_is_busy_with_a_hint_for_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from atlas.cli import cli

    monkeypatch.setattr("atlas.api.IMPLICIT_INDEX_WAIT_SECONDS", 0.5)
    root = _shop(tmp_path / "repo")
    holder = _hold(root / ".atlas", "self", 30)
    try:
        done = CliRunner().invoke(cli, ["-q", "search", "--root", str(root), "add item"])
    finally:
        _stop(holder)
    assert done.exit_code == 5, done.output
    assert done.stderr.splitlines() == [
        f"atlas: {root / '.atlas'}: the index is being updated by process {holder}",
        "  hint: wait for it to finish, then run this command again",
    ]


def test_regression_an_import_while_another_process_holds_the_lock_names_import_in_its_hint(tmp_path: Path) -> None:
    # The hint said "then run `atlas index` again": a CI job restoring its cached index rebuilt it instead.
    root = _shop(tmp_path / "repo")
    atlas = [sys.executable, "-m", "atlas", "--no-color", "-q"]
    archive = tmp_path / "index.tar.gz"
    assert subprocess.run([*atlas, "index", str(root)], capture_output=True, check=False).returncode == 0
    assert subprocess.run([*atlas, "export", str(archive), "--repo", str(root)], capture_output=True).returncode == 0
    live = (root / ".atlas" / "CURRENT").read_text()
    holder = _hold(root / ".atlas", "self", 30)
    try:
        done = subprocess.run([*atlas, "import", str(archive), "--repo", str(root)], capture_output=True, text=True)
    finally:
        _stop(holder)
    assert done.returncode == 5 and done.stdout == "", done.stderr
    assert done.stderr.splitlines() == [
        f"atlas: {root / '.atlas'}: the index is being updated by process {holder}",
        "  hint: wait for it to finish, then run `atlas import` again",
    ]
    assert (root / ".atlas" / "CURRENT").read_text() == live
    assert sorted(path.name for path in (root / ".atlas").iterdir()) == [".gitignore", "CURRENT", live, "lock"]
