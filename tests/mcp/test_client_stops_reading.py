"""A client that stops reading stdout: hung, it ends the server after the write timeout; gone, at once; slow, it
still gets every answer whole. Real servers over real pipes, which the test reads slowly or not at all."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import init_repo, write_tree
from tests.mcp.client import server_args
from tests.mcp.conftest import build_index

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}  # fmt: skip
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
EXIT_SECONDS = 30.0
SMALL_PIPE = 16_384
"""The client's pipe: four pages, so that a client reading a little at a time frees a page every few reads."""


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """An indexed repository of one 38 KB file, which a `context` call answers with about 42 KB."""
    root = tmp_path / "ledger"
    body = "".join(f"def ledger_entry_{i}(invoice):\n    return invoice.total + {i}\n\n" for i in range(600))
    write_tree(root, {"ledger.py": body})
    init_repo(root)
    return build_index(root)


def _start(root: Path, stderr: IO[bytes], write_timeout: float) -> subprocess.Popen[bytes]:
    """A server for `root` that has answered `initialize`, its write timeout `write_timeout` seconds, its stdout a
    pipe of SMALL_PIPE bytes."""
    environment = {**os.environ, "ATLAS_MCP_WRITE_TIMEOUT": f"{write_timeout:g}"}
    server = subprocess.Popen([sys.executable, *server_args(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=stderr, env=environment)  # fmt: skip
    assert server.stdin and server.stdout
    fcntl.fcntl(server.stdout.fileno(), fcntl.F_SETPIPE_SZ, SMALL_PIPE)
    _send(server, INITIALIZE)
    assert json.loads(server.stdout.readline())["id"] == 1
    _send(server, INITIALIZED)
    return server


def _send(server: subprocess.Popen[bytes], *messages: dict[str, object]) -> None:
    assert server.stdin
    server.stdin.write(b"".join(json.dumps(message).encode() + b"\n" for message in messages))
    server.stdin.flush()


def _context(number: int) -> dict[str, object]:
    """A `context` call answered with more than twice SMALL_PIPE bytes."""
    params = {"name": "context", "arguments": {"task": "ledger entry invoice total", "max_tokens": 16_000}}
    return {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}


def _ended(server: subprocess.Popen[bytes], stderr: Path) -> tuple[int, str]:
    """The exit status and stderr of `server`, which must end within EXIT_SECONDS (killed otherwise)."""
    try:
        server.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        pytest.fail(f"the server was still running {EXIT_SECONDS:g} s later")
    return server.returncode, stderr.read_text()


def test_regression_a_client_that_reads_nothing_more_ends_the_server_after_the_write_timeout(
    ledger: Path, tmp_path: Path
) -> None:
    # The server blocked for ever writing an answer to a full pipe: a hung client left it running.
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        server = _start(ledger, stderr, write_timeout=2)
        try:
            _send(server, _context(2))
            started = time.monotonic()
            code, said = _ended(server, log)
        finally:
            server.kill()
    assert code == 3, said
    assert time.monotonic() - started >= 2
    assert "the client read nothing of an answer for 2 s" in said and "--write-timeout" in said, said
    assert "Traceback" not in said


def test_regression_a_client_that_closes_stdout_ends_an_idle_server_at_once(ledger: Path, tmp_path: Path) -> None:
    # The server noticed only when it wrote its next answer: at the client's next line, which may never come.
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        server = _start(ledger, stderr, write_timeout=600)
        try:
            assert server.stdout
            server.stdout.close()  # stdin stays open, and silent
            code, said = _ended(server, log)
        finally:
            server.kill()
    assert code == 0 and "the client stopped reading the answers" in said, said
    assert "Traceback" not in said


def test_a_slow_client_gets_every_answer_whole(ledger: Path, tmp_path: Path) -> None:
    # Each answer is read a little at a time (a page freed every 0.4 s), over longer than the write timeout.
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        server = _start(ledger, stderr, write_timeout=1.5)
        try:
            assert server.stdout and server.stdin
            numbers = range(2, 4)
            _send(server, *(_context(number) for number in numbers))
            started = time.monotonic()
            received = _read_slowly(server.stdout, len(numbers), chunk=1024, pause=0.1)
            assert time.monotonic() - started > 3  # twice the write timeout
            server.stdin.close()
            code, said = _ended(server, log)
        finally:
            server.kill()
    answers = [json.loads(line) for line in received.splitlines()]
    # The SDK handles requests as concurrent tasks (their calls then take turns): answers may come in either order,
    # as JSON-RPC allows; each must come, whole.
    assert sorted(answer["id"] for answer in answers) == list(numbers)
    assert all(not answer["result"]["isError"] for answer in answers)
    assert all(len(line) > 2 * SMALL_PIPE for line in received.splitlines())
    assert code == 0, said


def _read_slowly(stdout: IO[bytes], lines: int, chunk: int, pause: float) -> bytes:
    """`lines` whole lines from `stdout`, read `chunk` bytes at a time with a `pause` between reads."""
    received = b""
    while received.count(b"\n") < lines:
        time.sleep(pause)
        data = os.read(stdout.fileno(), chunk)
        assert data, f"stdout ended after {len(received.splitlines())} answers"
        received += data
    return received


STATUS = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "status", "arguments": {}}}


@pytest.mark.parametrize(
    ("write_timeout", "request_"),
    [(1e9, _context(2)), (1e308, _context(2)), (1e-9, STATUS)],
    ids=["decades", "the-largest", "a-nanosecond"],
)
def test_regression_a_write_timeout_of_any_size_lets_a_reading_client_have_its_answer(
    ledger: Path, tmp_path: Path, write_timeout: float, request_: dict[str, object]
) -> None:
    # Past 2**31 ms (24.8 days, the most `poll` waits), the first answer ended the server: "unexpected error:
    # ExceptionGroup" (an OverflowError); one shorter than the way to the first write stopped it at `initialize`,
    # saying the client read nothing and its end of stdout was full, while the pipe was empty.
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen([sys.executable, *server_args(ledger, "--write-timeout", f"{write_timeout:g}")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)  # fmt: skip
        try:
            assert server.stdin and server.stdout
            _send(server, INITIALIZE, INITIALIZED, request_)
            answers = [json.loads(server.stdout.readline() or "null") for _ in range(2)]
            server.stdin.close()
            code, said = _ended(server, log)
        finally:
            server.kill()
    assert answers[0] and answers[1], said
    assert [answer["id"] for answer in answers] == [1, 2] and not answers[1]["result"]["isError"], said
    assert code == 0, said
