"""The server notices edits: small ones are indexed before answering, large ones in the background."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio
from mcp import ClientSession

from tests.conftest import write_tree
from tests.mcp.client import call, run
from tests.mcp.conftest import build_index

ALWAYS_CHECK = ("--check-interval", "0")


def test_small_edits_are_indexed_before_the_answer(shop: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        before, _ = await call(session, "search", {"query": "feed zebrafish"})
        assert before["results"] == []
        write_tree(shop, {"shop/zoo.py": "def feed_zebrafish(tank):\n    return tank\n"})
        with (shop / "shop/cart.py").open("a") as handle:
            handle.write("\n\ndef checkout_basket(cart):\n    return cart\n")
        (shop / "shop/pricing.py").unlink()
        after, _ = await call(session, "search", {"query": "feed zebrafish"})
        assert after["results"][0]["path"] == "shop/zoo.py" and "stale" not in after
        found, _ = await call(session, "symbols", {"name": "checkout_basket"})
        assert [m["path"] for m in found["matches"]] == ["shop/cart.py"]
        gone, _ = await call(session, "symbols", {"name": "apply_discount"})
        assert gone["matches"] == []
        status, _ = await call(session, "status")
        assert status["fresh"] and status["last_refresh_seconds"] is not None

    run(shop, scenario, *ALWAYS_CHECK)


def test_large_changes_are_indexed_in_the_background_and_answers_say_stale(shop: Path) -> None:
    write_count = 260  # over MAX_SYNC_FILES

    async def scenario(session: ClientSession) -> None:
        await call(session, "search", {"query": "cart"})
        bulk = {f"bulk/module_{i:03}.py": f"def bulk_handler_{i}():\n    return {i}\n" for i in range(write_count)}
        write_tree(shop, bulk)
        stale, _ = await call(session, "search", {"query": "bulk handler 7"})
        assert stale["stale"]["added"] == write_count and stale["stale"]["refreshing"] is True
        for _ in range(600):
            status, _ = await call(session, "status")
            if status["fresh"] and not status["refreshing"]:
                break
            await anyio.sleep(0.1)
        fresh, _ = await call(session, "symbols", {"name": "bulk_handler_7"})
        assert [m["path"] for m in fresh["matches"]] == ["bulk/module_007.py"] and "stale" not in fresh

    run(shop, scenario, *ALWAYS_CHECK)


def test_a_repository_without_an_index_is_indexed_on_start(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"lib/parser.py": "def parse_manifest(text):\n    return text\n"})

    async def scenario(session: ClientSession) -> None:
        answer, error = await call(session, "symbols", {"name": "parse_manifest"})
        assert not error and answer["matches"][0]["path"] == "lib/parser.py"

    run(root, scenario)
    assert (root / ".atlas").is_dir()


def test_the_server_writes_only_into_the_index_directory(shop: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "elsewhere-index"
    build_index(shop, index_dir)
    before = _snapshot(shop)

    async def scenario(session: ClientSession) -> None:
        for tool, arguments in [("search", {"query": "cart"}), ("symbols", {"name": "ShoppingCart"}),
                                ("related", {"path": "shop/cart.py"}), ("index", {}), ("status", {})]:  # fmt: skip
            _, error = await call(session, tool, arguments)
            assert not error, tool

    run(shop, scenario, "--index-dir", str(index_dir), *ALWAYS_CHECK)
    assert _snapshot(shop) == before


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and mtime."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_files_the_index_skips_do_not_keep_it_stale(make_repo: Callable[..., Path]) -> None:
    root = build_index(make_repo({"lib/alpha.py": "def alpha_handler():\n    pass\n", "logo.png": b"\x89PNG\x00\x01"}))

    async def scenario(session: ClientSession) -> None:
        await call(session, "search", {"query": "alpha handler"})  # the first check refreshes and meets logo.png
        again, _ = await call(session, "search", {"query": "alpha handler"})
        status, _ = await call(session, "status")
        assert "stale" not in again and status["fresh"] and status["added"] == 0
        (root / "logo.png").write_text("now a text file about pelicans\n")
        found, _ = await call(session, "search", {"query": "pelicans"})
        assert [hit["path"] for hit in found["results"]] == ["logo.png"]

    run(root, scenario, *ALWAYS_CHECK)


def test_regression_a_file_whose_read_failed_is_indexed_once_it_can_be_read(make_repo: Callable[..., Path]) -> None:
    # The server's check compared stats only: a file whose read failed when indexed (another user's run, a group
    # joined since) kept its stat once readable, so the index looked fresh and the server never refreshed for it.
    from tests.test_bad_input import _index_locked_out

    root = make_repo({"lib/alpha.py": "def alpha_handler():\n    pass\n", "secret.py": "def quokka_vault(): pass\n"})
    (root / "secret.py").chmod(0)

    async def scenario(session: ClientSession) -> None:
        found, _ = await call(session, "search", {"query": "quokka vault"})
        assert [hit["path"] for hit in found["results"]] == ["secret.py"] and "stale" not in found

    try:
        assert _index_locked_out(root)["skipped"] == {"unreadable": 1}  # skips unless root
        run(root, scenario, *ALWAYS_CHECK)  # as root: mode 000 reads
    finally:
        (root / "secret.py").chmod(0o644)
