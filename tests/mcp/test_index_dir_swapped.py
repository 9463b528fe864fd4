"""The index directory swapped under a running server (between two tool calls): replaced by a symbolic link (to a
copy of another repository's index, or to an empty directory outside the repository), by a regular file, removed,
or a part of its live generation (`tantivy/`, `signals/`) replaced by a link to a copy elsewhere.

Each call then gets a correct answer from the index the server holds, or a tool error of one sentence and a hint,
never an answer read from another repository's index; and once the directory is back (restored, or rebuilt), the
server answers as before. The CLI refuses such a directory at its start (`store.refuse_non_directory`,
`config.refuse_own_link_out`, `store.refuse_linked_part`); the server checked only at its own start.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession

from atlas.api import index_config, index_repo
from atlas.index import store
from tests.generated_repo import FILES, git, make_shop_repo, write_files
from tests.mcp.client import call, run
from tests.mcp.conftest import build_index

INTERVAL = 0.3
"""The servers' check interval: a call right after a swap meets the held index, one after a pause the check too."""
OTHER = {
    "billing/ledger_cart.py": "class ShoppingCart:\n    def ledger_cart_total(self):\n        return 0\n",
    "billing/invoice_cart.py": "def cart_invoice_lines(cart):\n    return [cart]\n",
}
"""Another repository: its `ShoppingCart` and its cart files are found only in its own index."""
FOREIGN = "billing/"
ZOO = {"shop/zoo.py": "def feed_zebrafish(tank):\n    return tank\n"}
"""A file added to the shop while a part of its generation is a link."""
SHOP_PATHS = {*FILES, *ZOO}
TOOLS: dict[str, dict[str, Any]] = {
    "search": {"query": "shopping cart add item"},
    "symbols": {"name": "ShoppingCart"},
    "related": {"path": "shop/cart.py"},
    "context": {"task": "add an item to the shopping cart", "max_tokens": 1000},
    "status": {},
}


@pytest.fixture
def other_index(tmp_path: Path) -> Path:
    return copy_of_another_index(tmp_path)


def copy_of_another_index(tmp_path: Path) -> Path:
    """A copy, outside the shop, of another repository's index; its live generation is not the shop's (gen-2)."""
    root = tmp_path / "other"
    write_files(root, OTHER)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "other")
    config = index_config(root)
    index_repo(config, show_progress=False)
    index_repo(config, show_progress=False, rebuild=True)
    copy = tmp_path / "elsewhere" / "other-index"
    shutil.copytree(config.index_dir, copy, symlinks=True)
    return copy


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under `directory`: another index must be left as it was."""
    return {str(path.relative_to(directory)): (path.lstat().st_size, path.lstat().st_mtime_ns)
            for path in sorted(directory.rglob("*"))}  # fmt: skip


def _empty_outside(tmp_path: Path) -> Path:
    empty = tmp_path / "elsewhere" / "empty"
    empty.mkdir(parents=True)
    return empty


def _check_answer(tool: str, found: Any, error: bool) -> None:
    """A correct answer from the shop's index, or a tool error of one sentence and a hint; nothing foreign."""
    text = found if error else json.dumps(found)
    assert FOREIGN not in text, text
    if error:
        assert text.startswith("error: ") and text.count("\nhint: ") == 1, text
        assert "unexpected error" not in text and "Traceback" not in text, text
        return
    if tool == "search":
        assert found["results"] and found["results"][0]["path"] == "shop/cart.py", found
        assert {hit["path"] for hit in found["results"]} <= SHOP_PATHS, found
    elif tool == "symbols":
        assert [match["path"] for match in found["matches"]] == ["shop/cart.py"], found
    elif tool == "context":
        assert found["entries"] and {entry["path"] for entry in found["entries"]} <= SHOP_PATHS, found
    elif tool == "status":
        assert found["root"].endswith("shop") and (found["files"] == 0 or found["files"] >= len(FILES)), found


Answer = tuple[str, Any, bool]
"""A tool's name, its answer (parsed JSON, or the error's text) and whether it is a tool error."""


async def _every_tool(session: ClientSession) -> list[Answer]:
    """Each reading tool's answer, checked by `_check_answer`."""
    answers = []
    for tool, arguments in TOOLS.items():
        found, error = await call(session, tool, arguments)
        _check_answer(tool, found, error)
        answers.append((tool, found, error))
    return answers


async def _answers_again(session: ClientSession, tries: int = 150) -> None:
    """Wait until every reading tool answers correctly again (a rebuild may run in the background)."""
    for _ in range(tries):
        answers = await _every_tool(session)
        status = next(found for tool, found, error in answers if tool == "status" and not error)
        if not any(error for *_, error in answers) and status["fresh"] and not status["last_error"]:
            return
        await anyio.sleep(0.1)
    raise AssertionError(f"the server did not answer again: {answers}")


async def _through_the_swap(session: ClientSession) -> list[Answer]:
    """The answers right after a swap and after a pause (the freshness check ran too), then the `index` tool's."""
    answers = await _every_tool(session)
    await anyio.sleep(INTERVAL * 2)
    answers += await _every_tool(session)
    found, error = await call(session, "index")
    _check_answer("index", found, error)
    return [*answers, ("index", found, error)]


def _assert_refused(answers: list[Answer], refusal: str | None) -> None:
    """With `refusal`, every call was a tool error saying it; else none was (the held index answered)."""
    if refusal is None:
        assert not [answer for answer in answers if answer[2] and answer[0] != "index"], answers
    else:
        assert all(error and refusal in found for _, found, error in answers), answers


def _no_traceback(root: Path) -> None:
    log = (root.parent / "mcp-stderr.log").read_text()
    assert "Traceback" not in log, log


def _swap_scenario(index_dir: Path, swap: Callable[[Path], object], refusal: str | None,
                   ) -> Callable[[ClientSession], Any]:  # fmt: skip
    """Answer, move `index_dir` aside and `swap` something into its place, answer again (see `_assert_refused`),
    put the directory back, answer correctly again."""
    saved = index_dir.with_name(index_dir.name + ".saved")

    async def scenario(session: ClientSession) -> None:
        await _answers_again(session)
        index_dir.rename(saved)
        swap(index_dir)
        _assert_refused(await _through_the_swap(session), refusal)
        _remove(index_dir)
        saved.rename(index_dir)
        await _answers_again(session)

    return scenario


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _file(path: Path) -> None:
    path.write_text("not an index\n")


def test_regression_a_default_index_directory_replaced_by_a_link_to_another_repositorys_index_is_refused(
    shop: Path, other_index: Path
) -> None:
    # Once the freshness check ran, the server opened the generation CURRENT named through the link: search, symbols
    # and context answered with the other repository's files, `related` called the shop's files not indexed, and
    # `status` described the other index. Now every call is refused as the CLI refuses `.atlas` linked out.
    before = _snapshot(other_index)
    scenario = _swap_scenario(shop / ".atlas", lambda path: path.symlink_to(other_index), "symbolic link")
    run(shop, scenario, "--check-interval", str(INTERVAL))
    assert _snapshot(other_index) == before
    _no_traceback(shop)


def test_regression_a_default_index_directory_replaced_by_a_link_to_an_empty_directory_is_refused(
    shop: Path, tmp_path: Path
) -> None:
    # `status` looked through the link and said "no index"; the rest answered from the held index until the link went.
    empty = _empty_outside(tmp_path)
    scenario = _swap_scenario(shop / ".atlas", lambda path: path.symlink_to(empty), "symbolic link")
    run(shop, scenario, "--check-interval", str(INTERVAL))
    assert list(empty.iterdir()) == []  # nothing was built there
    _no_traceback(shop)


def test_regression_a_given_index_directory_replaced_by_a_link_to_another_repositorys_index_is_refused(
    tmp_path: Path, other_index: Path
) -> None:
    # `status` described the other index, and the `index` tool rebuilt the shop's index in the other repository's
    # index directory, through the link, replacing its generations.
    index_dir = tmp_path / "index"
    shop = build_index(make_shop_repo(tmp_path / "shop"), index_dir)
    before = _snapshot(other_index)
    scenario = _swap_scenario(index_dir, lambda path: path.symlink_to(other_index), "symbolic link")
    run(shop, scenario, "--check-interval", str(INTERVAL), "--index-dir", str(index_dir))
    assert _snapshot(other_index) == before
    _no_traceback(shop)


def test_regression_a_given_index_directory_replaced_by_a_link_to_an_empty_directory_is_refused(
    tmp_path: Path,
) -> None:
    # The `index` tool built an index in the directory the link led to, outside any directory the server was given.
    index_dir = tmp_path / "index"
    shop = build_index(make_shop_repo(tmp_path / "shop"), index_dir)
    empty = _empty_outside(tmp_path)
    scenario = _swap_scenario(index_dir, lambda path: path.symlink_to(empty), "symbolic link")
    run(shop, scenario, "--check-interval", str(INTERVAL), "--index-dir", str(index_dir))
    assert list(empty.iterdir()) == []
    _no_traceback(shop)


def _copy_of_another_repository(tmp_path: Path) -> Path:
    """A copy, outside the shop, of another repository with its index in its `.atlas` (see `copy_of_another_index`)."""
    copy_of_another_index(tmp_path)
    copy = tmp_path / "elsewhere" / "other-repository"
    shutil.copytree(tmp_path / "other", copy, symlinks=True)
    return copy


def test_regression_the_repository_root_replaced_by_a_link_to_another_repository_is_refused(
    shop: Path, tmp_path: Path
) -> None:
    # `.atlas` is looked at by its path, whose `lstat` followed the root's new link: a directory, so the server took
    # it for its own. Once the freshness check ran, it answered from the other repository's index (its `billing/`
    # files), and `status` described that repository.
    other = _copy_of_another_repository(tmp_path)
    before = _snapshot(other / ".atlas")
    run(shop, _swap_scenario(shop, lambda path: path.symlink_to(other), "symbolic link"),
        "--check-interval", str(INTERVAL))  # fmt: skip
    assert _snapshot(other / ".atlas") == before
    _no_traceback(shop)


def test_regression_a_directory_above_a_given_index_directory_replaced_by_a_link_is_refused(
    tmp_path: Path, other_index: Path
) -> None:
    # The `index` tool rebuilt the shop's index in the other repository's index directory, through the link above it.
    index_dir = tmp_path / "indexes" / "shop"
    shop = build_index(make_shop_repo(tmp_path / "shop"), index_dir)
    elsewhere = tmp_path / "elsewhere" / "indexes"
    shutil.copytree(other_index, elsewhere / "shop", symlinks=True)  # a directory: only the link above it is new
    before = _snapshot(elsewhere / "shop")
    scenario = _swap_scenario(index_dir.parent, lambda path: path.symlink_to(elsewhere), "symbolic link")
    run(shop, scenario, "--check-interval", str(INTERVAL), "--index-dir", str(index_dir))
    assert _snapshot(elsewhere / "shop") == before
    _no_traceback(shop)


def test_a_default_index_directory_replaced_by_a_file_is_refused_at_once(shop: Path) -> None:
    # Refused as the CLI refuses it; before, only once the freshness check ran (calls until then got held answers).
    scenario = _swap_scenario(shop / ".atlas", _file, "is not a directory but a regular file")
    run(shop, scenario, "--check-interval", str(INTERVAL))
    _no_traceback(shop)


def test_a_given_index_directory_replaced_by_a_file_is_refused_at_once(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shop = build_index(make_shop_repo(tmp_path / "shop"), index_dir)
    scenario = _swap_scenario(index_dir, _file, "is not a directory but a regular file")
    run(shop, scenario, "--check-interval", str(INTERVAL), "--index-dir", str(index_dir))
    _no_traceback(shop)


def _removed_scenario(index_dir: Path) -> Callable[[ClientSession], Any]:
    """Answer, remove `index_dir`, answer from the index the server holds and rebuild it (the `index` tool), then
    answer correctly."""

    async def scenario(session: ClientSession) -> None:
        await _answers_again(session)
        shutil.rmtree(index_dir)
        answers = await _through_the_swap(session)
        _assert_refused(answers, None)
        assert store.current_generation(index_dir) is not None, answers  # rebuilt, by the check or the `index` tool
        await _answers_again(session)

    return scenario


def test_a_default_index_directory_removed_is_rebuilt(shop: Path) -> None:
    run(shop, _removed_scenario(shop / ".atlas"), "--check-interval", str(INTERVAL))
    _no_traceback(shop)


def test_a_given_index_directory_removed_is_rebuilt(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shop = build_index(make_shop_repo(tmp_path / "shop"), index_dir)
    run(shop, _removed_scenario(index_dir), "--check-interval", str(INTERVAL), "--index-dir", str(index_dir))
    _no_traceback(shop)


@pytest.mark.parametrize("part", [store.TANTIVY_DIR, store.SIGNALS_DIR])
def test_a_part_of_the_live_generation_replaced_by_a_link_to_a_copy_of_another_index(
    shop: Path, other_index: Path, part: str
) -> None:
    generation = store.current_generation(shop / ".atlas")
    assert generation is not None
    copy = other_index / "gen-000002" / part
    before = _snapshot(other_index)
    scenario = _swap_scenario(generation / part, lambda path: path.symlink_to(copy), None)
    run(shop, scenario, "--check-interval", str(INTERVAL))
    assert _snapshot(other_index) == before
    _no_traceback(shop)


@pytest.mark.parametrize("part", [store.TANTIVY_DIR, store.SIGNALS_DIR])
def test_a_part_of_the_live_generation_replaced_by_a_link_is_never_read_by_a_refresh(
    shop: Path, other_index: Path, part: str
) -> None:
    # An edit after the swap: the refresh it starts must not build on the linked part (another index's segments).
    generation = store.current_generation(shop / ".atlas")
    assert generation is not None

    async def scenario(session: ClientSession) -> None:
        await _answers_again(session)
        (generation / part).rename(generation.with_name("saved-" + part))
        (generation / part).symlink_to(other_index / "gen-000002" / part)
        write_files(shop, ZOO)
        _assert_refused(await _through_the_swap(session), None)
        await _answers_again(session)
        found, error = await call(session, "symbols", {"name": "feed_zebrafish"})
        assert not error and [match["path"] for match in found["matches"]] == ["shop/zoo.py"], found

    before = _snapshot(other_index)
    run(shop, scenario, "--check-interval", str(INTERVAL))
    assert _snapshot(other_index) == before
    _no_traceback(shop)


BULK = 2000
"""Files a refresh re-reads after they are all edited: a build long enough (seconds) to swap the directory in."""


def _bulk(edit: str = "") -> dict[str, str]:
    return {f"bulk/module_{n:04d}.py": f"def compute_value_{n}(x):\n    return x * {n}\n{edit}" for n in range(BULK)}


async def _status_once_fresh(session: ClientSession, tries: int = 300) -> dict[str, Any]:
    """The `status` answer once the index is fresh and no error is left (a rebuild may run in the background)."""
    for _ in range(tries):
        found, error = await call(session, "status")
        if not error and found["fresh"] and not found["last_error"] and not found["refreshing"]:
            return found
        await anyio.sleep(0.1)
    raise AssertionError(f"the index did not become fresh again: {found}")


def _outside_builds(snapshot: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """`snapshot` without the temporary generations of builds in progress (`gen-N.tmp-PID/...`)."""
    return {path: seen for path, seen in snapshot.items() if ".tmp-" not in path.split("/")[0]}


async def _build_started(index_dir: Path, seconds: float = 60.0) -> None:
    """Return once a build's temporary generation (`gen-N.tmp-PID`) is in `index_dir`."""
    with anyio.fail_after(seconds):
        while not any(".tmp-" in name and name.startswith("gen-") for name in os.listdir(index_dir)):
            await anyio.sleep(0.01)


def test_regression_a_refresh_under_way_never_writes_through_an_index_directory_moved_and_linked(
    tmp_path: Path,
) -> None:
    # The refresh started before the swap went on by path: once `.atlas` was moved out of the repository (copied, its
    # build in progress with it) and linked back, the build wrote its segments and side store into the moved copy,
    # published its generation there (CURRENT) and removed the copy's older generations. Now it is refused at its
    # next commit, and publishes and removes only in the directory it locked, where its own temporary generation
    # goes. What tantivy itself creates by path before that commit (a new segment's files) may still land in the
    # copy of that temporary generation; nothing else there is touched.
    shop = make_shop_repo(tmp_path / "shop")
    write_files(shop, _bulk())
    git(shop, "add", "-A")
    git(shop, "commit", "-q", "-m", "bulk")
    build_index(shop)
    index_dir, moved = shop / ".atlas", tmp_path / "elsewhere" / "moved-index"
    saved = index_dir.with_name(".atlas.saved")
    answers: list[tuple[Any, bool]] = []

    async def refresh(session: ClientSession) -> None:
        answers.append(await call(session, "index"))

    async def scenario(session: ClientSession) -> None:
        await _status_once_fresh(session)
        write_files(shop, _bulk("# edited\n"))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(refresh, session)
            await _build_started(index_dir)
            shutil.copytree(index_dir, moved, symlinks=True)
            index_dir.rename(saved)
            index_dir.symlink_to(moved)
            copied = _outside_builds(_snapshot(moved))
        [(found, error)] = answers
        assert error and "was replaced" in found and found.count("\nhint: ") == 1, found
        assert _outside_builds(_snapshot(moved)) == copied
        assert not [name for name in os.listdir(saved) if ".tmp-" in name]  # the build's own temporary went
        index_dir.unlink()
        saved.rename(index_dir)
        found, error = await call(session, "index")
        assert not error and found["refreshed"], found
        await _status_once_fresh(session)
        found, error = await call(session, "symbols", {"name": "compute_value_7"})
        assert not error and [match["path"] for match in found["matches"]] == ["bulk/module_0007.py"], found

    run(shop, scenario, "--check-interval", str(INTERVAL))
    _no_traceback(shop)
