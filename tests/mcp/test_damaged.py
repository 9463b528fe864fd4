"""A damaged index never stops the server: it starts, rebuilds the index as `atlas index` would, and answers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

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


def test_regression_segments_truncated_under_the_server_are_named_when_they_kill_it(shop: Path) -> None:
    # Tantivy maps its segment files: truncated in place (a `cp` of another index over the live one), the next touch
    # of a page past their new end is a SIGBUS in Rust, which no Python code can catch. The server died without a
    # word; Python's fault handler now names the signal and where it struck, on the real stderr.

    async def scenario(session: ClientSession) -> None:
        found, error = await call(session, "search", {"query": "cart"})
        assert not error and found["results"], found
        for path in (_generation(shop) / store.TANTIVY_DIR).iterdir():
            if not path.name.endswith((".json", ".lock")):
                os.truncate(path, 0)
        with pytest.raises(Exception):  # the connection closes under the call  # noqa: B017
            await call(session, "search", {"query": "cart total"})

    with contextlib.suppress(BaseException):  # the SDK's task group reports the closed connection its own way
        run(shop, scenario)
    log = (shop.parent / "mcp-stderr.log").read_text()
    assert "Fatal Python error: Bus error" in log, log
    assert "atlas" in log.split("Fatal Python error: Bus error", 1)[1], "the stack names where it struck"
