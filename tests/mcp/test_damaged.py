"""A damaged index never stops the server: it starts, rebuilds the index as `atlas index` would, and answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession

from atlas.index import store
from tests.mcp.client import call, run
from tests.mounts import read_only_view


def _generation(root: Path) -> Path:
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    return generation


def _garble_manifest(root: Path) -> None:
    (_generation(root) / store.MANIFEST).write_bytes(b'{"format_version": ')


def _drop_tantivy_meta(root: Path) -> None:
    (_generation(root) / store.TANTIVY_DIR / "meta.json").unlink()


def _truncate_file_table(root: Path) -> None:
    (_generation(root) / store.FILES).write_bytes(b"{}")


def _point_current_nowhere(root: Path) -> None:
    (root / ".atlas" / store.CURRENT).write_text("gen-999999")


def _drop_current(root: Path) -> None:
    (root / ".atlas" / store.CURRENT).unlink()  # a half-copied cache: the generation is there, CURRENT is not


def _garble_segments(root: Path, suffix: str) -> None:
    """The first bytes of each tantivy segment file ending in `suffix` overwritten, its size kept: offsets then
    point past the file's end, and tantivy panics (pyo3's PanicException, a BaseException) instead of failing."""
    for path in (_generation(root) / store.TANTIVY_DIR).glob(f"*{suffix}"):
        data = bytearray(path.read_bytes())
        data[:32] = b"\xde\xad\xbe\xef" * 8
        path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "CURRENT missing beside its generation": _drop_current,
    "fast fields garbled (tantivy panics on open)": lambda root: _garble_segments(root, ".fast"),
    "garbled manifest": _garble_manifest,
    "tantivy meta.json missing": _drop_tantivy_meta,
    "truncated file table": _truncate_file_table,
    "CURRENT names a missing generation": _point_current_nowhere,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_the_server_starts_on_a_damaged_index_and_rebuilds_it(shop: Path, damage: str) -> None:
    DAMAGE[damage](shop)

    async def scenario(session: ClientSession) -> None:
        found, error = await call(session, "symbols", {"name": "ShoppingCart"})
        assert not error, found
        assert [m["path"] for m in found["matches"]] == ["shop/cart.py"]
        status, error = await call(session, "status")
        assert not error and status["exists"] and status["fresh"] and status["last_error"] == ""

    run(shop, scenario)


def test_a_damaged_read_only_index_is_a_tool_error_naming_the_fix(shop: Path, tmp_path: Path) -> None:
    _garble_manifest(shop)
    with read_only_view(shop, tmp_path / "ro") as view:

        async def scenario(session: ClientSession) -> None:
            text, error = await call(session, "search", {"query": "cart"})
            assert error and "damaged" in text and "read-only" in text and "atlas index --rebuild" in text, text
            assert "--index-dir" in text.split("hint:")[1], text
            status, error = await call(session, "status")
            assert not error and status["damaged"] and "read-only" in status["last_error"], status

        run(view, scenario)


def test_regression_a_panic_in_tantivy_is_a_tool_error_and_the_server_goes_on(shop: Path) -> None:
    # Fast fields garbled under a running server: tantivy panicked in the search, PanicException passed every
    # `except Exception`, and the server died without an answer.

    async def scenario(session: ClientSession) -> None:
        found, error = await call(session, "search", {"query": "cart"})
        assert not error and found["results"], found
        _garble_segments(shop, ".fast")
        text, error = await call(session, "search", {"query": "cart total"})
        assert error and "tantivy finds the index damaged (it panicked" in text, text
        assert "hint: rebuild it with `atlas index --rebuild`" in text, text
        status, error = await call(session, "status")
        assert not error and status["exists"], status

    run(shop, scenario)
    log = (shop.parent / "mcp-stderr.log").read_text()  # the server's stderr: Rust's lines about the panic held
    assert "panicked at" not in log and "thread '<unnamed>'" not in log, log


def test_regression_segments_truncated_under_the_server_are_a_tool_error_and_it_rebuilds(shop: Path) -> None:
    # Tantivy maps its segment files: truncated in place between two calls (a `cp` of another index over the live
    # one), the next search touched a page past their new end, a SIGBUS in Rust that no Python code can catch, and
    # the server died without a word. It now sees the files changed under it, opens the index again, and, as that
    # fails, says so and rebuilds it.

    async def scenario(session: ClientSession) -> None:
        found, error = await call(session, "search", {"query": "cart"})
        assert not error and found["results"], found
        for path in (_generation(shop) / store.TANTIVY_DIR).iterdir():
            if not path.name.endswith((".json", ".lock")):
                os.truncate(path, 0)
        text, error = await call(session, "search", {"query": "cart total"})
        assert error and "was changed in place under the server" in text, text
        for _ in range(100):  # the rebuild runs in the background
            found, error = await call(session, "search", {"query": "cart total"})
            if not error:
                break
            await anyio.sleep(0.2)
        assert not error and found["results"], found

    run(shop, scenario)


def test_a_fatal_signal_in_the_server_is_named_on_its_stderr(shop: Path) -> None:
    # The SIGBUS of a segment truncated under a search already running cannot be caught; Python's fault handler names
    # it on the real stderr (descriptor 2 may be held while tantivy runs), where the server said nothing before.
    command = [sys.executable, "-m", "atlas", "mcp", "--root", str(shop)]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2024-11-05",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        server.stdin.write(json.dumps(hello).encode() + b"\n")  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]
        assert b'"result"' in server.stdout.readline()  # type: ignore[union-attr]
        server.send_signal(signal.SIGBUS)
        _, errors = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == -signal.SIGBUS
    assert b"Fatal Python error: Bus error" in errors, errors


REQUESTS = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "search", "arguments": {"query": "cart"}}},
]  # fmt: skip


def _answer_under_descriptor_limit(root: Path, soft: int) -> str:
    """The text of the `search` answer of a server whose limit of open files is `soft` ("" when it gave none)."""
    import json
    import os
    import resource
    import subprocess
    import sys

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    done = subprocess.run(
        [sys.executable, "-m", "atlas", "mcp", "--root", str(root)], capture_output=True, timeout=120,
        input="".join(json.dumps(request) + "\n" for request in REQUESTS).encode(), env=dict(os.environ),
        preexec_fn=lower,
    )  # fmt: skip
    for line in done.stdout.decode().splitlines():
        message = json.loads(line)
        if message.get("id") == 2:
            return str(message.get("result", message.get("error")))
    return ""


def test_regression_a_server_out_of_file_descriptors_neither_calls_the_index_damaged_nor_rebuilds_it(
    shop: Path,
) -> None:
    # Started under a low `ulimit -n`, the server could not read CURRENT or open the index, called it damaged
    # ("CURRENT is empty or names no generation") and rebuilt it in the background, which failed the same way:
    # every answer said "the index is damaged ... and rebuilding it failed".
    index_dir = shop / ".atlas"
    live = (index_dir / store.CURRENT).read_text()
    generations = sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-") and ".tmp-" not in p.name)
    limited = 0
    for soft in range(5, 40, 2):  # a read side store holds no descriptor: the limits that bite are low
        answer = _answer_under_descriptor_limit(shop, soft)
        assert "damaged" not in answer and "rebuild" not in answer, (soft, answer)
        limited += "`ulimit -n`" in answer
    assert limited, "no limit was low enough to keep the server from opening the index"
    assert (index_dir / store.CURRENT).read_text() == live
    after = sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-") and ".tmp-" not in p.name)
    assert after == generations, "the server rebuilt a sound index"
