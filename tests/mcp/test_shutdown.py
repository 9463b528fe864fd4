"""The server ends promptly when its client leaves or stops it, even while it builds the index."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import init_repo, write_tree
from tests.mcp.client import server_args

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}  # fmt: skip
EXIT_SECONDS = 10.0


def _repository(root: Path) -> Path:
    """A repository whose first build takes a few seconds on two cores."""
    body = "".join(f"def handler_{j}(request):\n    return request + {j}\n" for j in range(30))
    write_tree(root, {f"pkg{i % 40}/module_{i}.py": body for i in range(4000)})
    init_repo(root)
    return root


def _start_while_building(root: Path) -> subprocess.Popen[bytes]:
    """A server answering `initialize`, caught while its first build parses (its new generation exists)."""
    server = subprocess.Popen(
        [sys.executable, *server_args(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert server.stdin and server.stdout
    server.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
    server.stdin.flush()
    assert json.loads(server.stdout.readline())["id"] == 1
    deadline = time.monotonic() + 60
    while not any(".tmp-" in entry.name for entry in _entries(root / ".atlas")):
        assert time.monotonic() < deadline and server.poll() is None, "the first build never started"
        time.sleep(0.01)
    return server


def _entries(index_dir: Path) -> list[Path]:
    return list(index_dir.iterdir()) if index_dir.is_dir() else []


def _wait(server: subprocess.Popen[bytes]) -> tuple[int, str]:
    """The exit status and stderr of `server`, which must end within EXIT_SECONDS (killed otherwise)."""
    assert server.stderr
    try:
        server.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        pytest.fail(f"the server was still running {EXIT_SECONDS:g} s after it was told to stop")
    return server.returncode, server.stderr.read().decode()


def test_regression_closing_stdin_during_the_first_build_ends_the_server(tmp_path: Path) -> None:
    # The server never exited: at exit, multiprocessing stopped the parse pool and waited for its task thread,
    # which waited for the build thread to take results the stopped workers would never send.
    root = _repository(tmp_path / "repo")
    server = _start_while_building(root)
    assert server.stdin
    started = time.monotonic()
    server.stdin.close()
    code, stderr = _wait(server)
    assert time.monotonic() - started < 5, stderr
    assert code == 0 and "Traceback" not in stderr, stderr
    assert "nothing was published" in stderr and not (root / ".atlas" / "CURRENT").exists(), stderr


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_regression_a_signal_during_the_first_build_ends_the_server_at_once(
    tmp_path: Path, signum: int, code: int
) -> None:
    # The server said "nothing was published", then went on building until the index was published (or the
    # 15 s cleanup deadline passed) before it exited.
    root = _repository(tmp_path / "repo")
    server = _start_while_building(root)
    started = time.monotonic()
    server.send_signal(signum)
    status, stderr = _wait(server)
    assert status == code and "Traceback" not in stderr, stderr
    assert time.monotonic() - started < 5, stderr
    assert not (root / ".atlas" / "CURRENT").exists() and "nothing was published" in stderr, stderr


def _start_idle(root: Path) -> subprocess.Popen[bytes]:
    """A server for the indexed `root` that has answered `initialize` and waits for the next line."""
    server = subprocess.Popen(
        [sys.executable, *server_args(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert server.stdin and server.stdout
    _send(server, INITIALIZE)
    assert json.loads(server.stdout.readline())["id"] == 1
    _send(server, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    return server


def _send(server: subprocess.Popen[bytes], message: dict[str, object]) -> None:
    assert server.stdin
    server.stdin.write(json.dumps(message).encode() + b"\n")
    server.stdin.flush()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_regression_a_signal_to_an_idle_server_ends_it_at_once(tmp_path: Path, signum: int, code: int) -> None:
    # The server waited out the 15 s cleanup deadline: Python's exit waited for the transport's thread, blocked on a
    # read of stdin that only the client's next line would end.
    root = tmp_path / "repo"
    write_tree(root, {"app.py": "def main():\n    return 0\n"})
    init_repo(root)
    server = _start_idle(root)
    time.sleep(0.5)
    started = time.monotonic()
    server.send_signal(signum)
    status, stderr = _wait(server)
    assert status == code and "Traceback" not in stderr, stderr
    assert time.monotonic() - started < 3, stderr
    assert "did not finish" not in stderr, stderr


def test_regression_a_cancelled_request_does_not_hold_up_the_end_of_input(tmp_path: Path) -> None:
    # The SDK never answers a cancelled request, as MCP asks; the server still counted it as awaiting its answer
    # and, at the end of input, waited the full 60 s drain for it.
    root = tmp_path / "repo"
    write_tree(root, {"app.py": "def main():\n    return 0\n"})
    init_repo(root)
    server = _start_idle(root)
    assert server.stdin and server.stdout
    search = {"name": "search", "arguments": {"query": "main"}}
    _send(server, {"jsonrpc": "2.0", "id": "c1", "method": "tools/call", "params": search})
    _send(server, {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "c1"}})
    _send(server, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": search})
    started = time.monotonic()
    server.stdin.close()
    status, stderr = _wait(server)
    assert status == 0 and "Traceback" not in stderr, stderr
    assert time.monotonic() - started < 5, stderr
    answers = [json.loads(line) for line in server.stdout.read().splitlines()]
    assert 2 in [answer.get("id") for answer in answers]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_regression_a_signal_during_a_call_is_not_taken_for_a_client_that_left(
    tmp_path: Path, signum: int, code: int
) -> None:
    # A call waiting for the first build, stopped by ^C or SIGTERM: the SDK's answer to the cancelled call found the
    # transport closed, and the server said "the client stopped reading the answers" and exited 0.
    root = _repository(tmp_path / "repo")
    server = _start_while_building(root)
    _send(server, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    _send(server, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": "search", "arguments": {"query": "handler request"}}})  # fmt: skip
    time.sleep(0.5)
    server.send_signal(signum)
    status, stderr = _wait(server)
    assert status == code and "Traceback" not in stderr, stderr
    assert "interrupted" in stderr and "stopped reading" not in stderr, stderr
    assert "nothing was published" in stderr, stderr
