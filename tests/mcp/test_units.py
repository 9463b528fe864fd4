"""The pieces under the MCP tools, in-process: output bounds, path confinement, refresh policy, look-ups."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas import mcp_server
from atlas.api import find_symbols, index_config, open_engine, related_files
from atlas.errors import InputError, UsageError
from atlas.index.lock import index_lock
from atlas.query.related import confine_path
from atlas.query.syntax import check_path_filters
from tests.conftest import FileContent, Symlink, init_repo, write_tree
from tests.mcp.conftest import build_index
from tests.mounts import read_only_view


@given(st.lists(st.text(max_size=300), max_size=80), st.integers(min_value=200, max_value=5000))
def test_bounded_answers_fit_their_cap_and_count_what_they_drop(items: list[str], cap: int) -> None:
    text = mcp_server.bounded({"results": list(items), "query": "q"}, "results", cap)
    answer = json.loads(text)
    assert len(text.encode()) <= cap
    if "error" not in answer:
        assert answer["results"] == items[: len(answer["results"])]
        assert answer["truncated"] == (len(answer["results"]) < len(items))
        assert answer.get("omitted", 0) == len(items) - len(answer["results"])


def test_clip_text_says_how_much_it_left_out() -> None:
    clipped = mcp_server.clip_text("\n".join(f"line {i} " + "x" * 500 for i in range(40)), 5, 20)
    lines = clipped.split("\n")
    assert len(lines) == 6 and lines[-1] == "… (35 more lines)" and all(len(line) <= 21 for line in lines[:5])


@pytest.mark.parametrize(
    ("path", "expected"),
    [("shop/cart.py", "shop/cart.py"), ("./shop//cart.py", "shop/cart.py"), ("shop/../shop/cart.py", "shop/cart.py"),
     ("inside/cart.py", "inside/cart.py"), (".", ""),
     ("~notes.md", "~notes.md")],  # a file named so (no user is): it was refused as an absolute path
)  # fmt: skip
def test_confine_path_normalises_paths_inside_the_root(tmp_path: Path, path: str, expected: str) -> None:
    write_tree(tmp_path, {"shop/cart.py": "", "inside": Symlink("shop")})
    assert confine_path(tmp_path, path) == expected


@pytest.mark.parametrize(
    "path", ["..", "../x", "a/../../x", "/etc/passwd", "~root/x", "~/x", "~", "out/secret", "a\x00b"]
)
def test_confine_path_refuses_everything_that_leaves_the_root(tmp_path: Path, path: str) -> None:
    root = tmp_path / "root"
    write_tree(root, {"out": Symlink(str(tmp_path))})
    with pytest.raises(InputError):
        confine_path(root, path)


@pytest.mark.parametrize("pattern", ["../**", "src/../../x", "a\x00"])
def test_path_filters_cannot_climb_out(tmp_path: Path, pattern: str) -> None:
    with pytest.raises(UsageError):
        check_path_filters(str(tmp_path), [pattern])
    check_path_filters(str(tmp_path), ["/src/**/*.py"])


def _status(files: int = 100, changed: int = 0, reason: str = "") -> SimpleNamespace:
    return SimpleNamespace(exists=True, files=files, changed=["x"] * changed, added=[], removed=[], reason=reason)


@pytest.mark.parametrize(
    ("status", "timed", "now"),
    [
        (_status(changed=3), None, True),
        (_status(changed=mcp_server.MAX_SYNC_FILES + 1), None, False),
        (_status(files=10_000_000, changed=1), None, False),  # untimed and huge: the first refresh goes background
        (_status(files=10_000_000, changed=1), 0.2, True),  # a timed, fast (incremental) refresh is done inline
        (_status(changed=1), mcp_server.MAX_SYNC_SECONDS + 1, False),
        (_status(changed=1, reason="index settings changed"), None, False),
    ],
)
def test_refresh_policy(status: SimpleNamespace, timed: float | None, now: bool) -> None:
    session = SimpleNamespace(refresh_seconds=timed)
    assert mcp_server.Session._refresh_now(session, status) is now  # type: ignore[arg-type]


def test_symbols_and_related_through_the_api(shop: Path) -> None:
    engine = open_engine(index_config(shop), build_if_missing=False, show_progress=False)
    found = find_symbols(engine, "PaymentGateway.refund_payment")
    assert [(m.path, m.container) for m in found.matches] == [("shop/payments/gateway.py", "PaymentGateway")]
    assert find_symbols(engine, "REFUND_PAYMENT").total == 1
    assert find_symbols(engine, "REFUND_PAYMENT", case_sensitive=True).total == 0
    assert [m.kind for m in find_symbols(engine, "StockLedger", kind="struct").matches] == ["struct"]
    with pytest.raises(UsageError):
        find_symbols(engine, "...")
    with pytest.raises(UsageError):
        find_symbols(engine, "ShoppingCart", kind="klass")
    neighbours = related_files(engine, "shop/pricing.py")
    assert neighbours.imports == ["shop/cart.py"] and neighbours.cochange == []
    with pytest.raises(InputError):
        related_files(engine, "../shop/pricing.py")


def test_regression_a_skipped_file_whose_name_is_not_utf8_is_noticed_when_it_changes(tmp_path: Path) -> None:
    # The session once remembered skipped files by a stat of their display path (`logo\xff.png`), which names no
    # file when the name is not UTF-8: it never noticed an edit. The index's own record of skipped files does.
    root, session = _indexed_session(
        tmp_path, {"lib/alpha.py": "def alpha_handler():\n    pass\n", b"logo\xff.png": b"\x89PNG\x00\x01"}
    )
    display = "logo\\xff.png"
    assert session.index_status().fresh
    with open(os.path.join(os.fsencode(root), b"logo\xff.png"), "wb") as handle:
        handle.write(b"now a text file about pelicans\n")
    status = session.index_status()
    assert status.added == [display] and not status.fresh
    session.ready()
    found = session.engine.search("pelicans", session.search_options()).hits  # type: ignore[union-attr]
    assert [hit.path for hit in found] == [display]


def _indexed_session(tmp_path: Path, files: Mapping[str | bytes, FileContent]) -> tuple[Path, mcp_server.Session]:
    """A committed repository of `files` at `tmp_path / "repo"`, indexed, and a started session over it that
    checks freshness before every call."""
    root = tmp_path / "repo"
    write_tree(root, files)
    init_repo(root)
    session = mcp_server.Session(index_config(build_index(root)), check_interval=0)
    session.start()
    return root, session


def test_regression_the_server_answers_from_a_generation_another_process_published(tmp_path: Path) -> None:
    # `atlas index` in a terminal (or a second server) updated the index: the status then read the new generation
    # and said fresh, and the session kept answering from the one it had opened, without the edit.
    root, session = _indexed_session(tmp_path, {
        "lib/alpha.py": "def alpha_handler():\n    pass\n", "lib/beta.py": "def beta():\n    pass\n",
    })  # fmt: skip
    (root / "lib/beta.py").write_text("def pelican_migration():\n    pass\n")
    build_index(root)
    (root / "lib/gamma.py").write_text("def gamma():\n    pass\n")
    build_index(root)
    engine, note = session.ready()
    assert note is None
    assert [hit.path for hit in engine.search("pelican migration", session.search_options()).hits] == ["lib/beta.py"]


def test_regression_an_index_on_a_read_only_disk_answers_with_a_stale_note_after_an_edit(tmp_path: Path) -> None:
    # One edited file made every answer a tool error: the refresh before answering failed on the read-only disk,
    # though the index in hand was whole and searchable.
    root = tmp_path / "repo"
    write_tree(root, {"lib/alpha.py": "def alpha():\n    pass\n", "lib/beta.py": "def beta_pelican():\n    pass\n"})
    init_repo(root)
    build_index(root)
    with read_only_view(root, tmp_path / "ro") as view:
        session = mcp_server.Session(index_config(view), check_interval=0)
        session.start()
        (root / "lib/beta.py").write_text("def beta_pelican():\n    return 'albatross'\n")
        for _ in range(2):
            text, error = mcp_server.call_tool(session, "search", {"query": "pelican"})
            answer = json.loads(text)
            assert not error and [hit["path"] for hit in answer["results"]] == ["lib/beta.py"]
            assert answer["stale"]["changed"] == 1 and "read-only" in answer["stale"]["refresh_error"], answer
            assert not answer["stale"]["refreshing"]


def test_regression_a_refresh_blocked_by_another_indexer_leaves_answers_coming_with_a_stale_note(
    tmp_path: Path,
) -> None:
    # `atlas index` in a terminal, or a second server on the same repository, held the lock: the refresh before
    # the answer failed with "the index is being updated", and so did the search.
    root, session = _indexed_session(tmp_path, {
        "lib/alpha.py": "def alpha():\n    pass\n", "lib/beta.py": "def beta_pelican():\n    pass\n",
    })  # fmt: skip
    (root / "lib/beta.py").write_text("def beta_pelican():\n    return 'albatross'\n")
    with index_lock(session.config.index_dir):
        text, error = mcp_server.call_tool(session, "search", {"query": "pelican"})
    answer = json.loads(text)
    assert not error and [hit["path"] for hit in answer["results"]] == ["lib/beta.py"], text
    assert "being updated" in answer["stale"]["refresh_error"] and not answer["stale"]["refreshing"]
    text, error = mcp_server.call_tool(session, "search", {"query": "albatross"})
    assert not error and "stale" not in json.loads(text), text


def test_regression_a_stale_index_s_search_leaves_out_files_the_ignore_rules_now_leave_out(tmp_path: Path) -> None:
    # A file indexed before `.atlasignore` (or a `.gitignore` rule, for a file git does not track) came to leave it
    # out was left out by `query` and `context`, but `search` on the index not yet updated (another indexer held the
    # lock) still ranked it and served its lines: the secrets file the user just excluded.
    root, session = _indexed_session(tmp_path, {
        "vault.py": "def vault_open():\n    return 'vault'\n",
        "vault_token.py": "def vault_token():\n    return 'atlasignored-7f3a'\n",
    })  # fmt: skip
    write_tree(root, {"vault_secret.py": "VAULT_SECRET = 'gitignored-9c2e'\n"})
    build_index(root)
    write_tree(root, {".atlasignore": "vault_token.py\n", ".gitignore": "vault_secret.py\n"})
    with index_lock(session.config.index_dir):
        text, error = mcp_server.call_tool(session, "search", {"query": "vault token secret"})
        top, _ = mcp_server.call_tool(session, "search", {"query": "vault token", "limit": 1})
    answer = json.loads(text)
    assert not error and [hit["path"] for hit in answer["results"]] == ["vault.py"], text
    assert "atlasignored-7f3a" not in text and "gitignored-9c2e" not in text
    for path in ("vault_secret.py", "vault_token.py"):
        assert f"left out {path}: the ignore rules leave it out" in " ".join(answer["notes"]), answer["notes"]
    assert "being updated" in answer["stale"]["refresh_error"]
    # vault_token.py ranked first: the one hit asked for is the next one, not none
    assert [(hit["rank"], hit["path"]) for hit in json.loads(top)["results"]] == [(1, "vault.py")], top


def test_regression_a_stale_index_s_symbols_and_related_leave_out_files_the_ignore_rules_now_leave_out(
    tmp_path: Path,
) -> None:
    # As `search` does: `symbols` listed the definitions of a file `.atlasignore` came to leave out, and `related` named
    # it among a file's co-change partners and imports, while the index was not yet updated.
    root, session = _indexed_session(tmp_path, {
        "vault.py": "import vault_token\n\ndef vault_open():\n    return vault_token.vault_token()\n",
        "vault_token.py": "def vault_token():\n    return 'atlasignored-7f3a'\n",
    })  # fmt: skip
    asked = {"path": "vault.py", "min_commits": 1}
    before = json.loads(mcp_server.call_tool(session, "related", asked)[0])
    assert [p["path"] for p in before["cochange"]] == ["vault_token.py"] and before["imports"] == ["vault_token.py"]
    write_tree(root, {".atlasignore": "vault_token.py\n"})
    with index_lock(session.config.index_dir):
        symbols, error = mcp_server.call_tool(session, "symbols", {"name": "vault_token"})
        related, related_error = mcp_server.call_tool(session, "related", asked)
    found, near = json.loads(symbols), json.loads(related)
    assert not error and found["matches"] == [] and found["total"] == 0, symbols
    assert "left out vault_token.py: the ignore rules leave it out" in " ".join(found["notes"]), symbols
    assert not related_error and near["cochange"] == [] and near["imports"] == [], related
    assert near["cochange_total"] == near["imports_total"] == 0
    assert "left out vault_token.py: the ignore rules leave it out" in " ".join(near["notes"]), related


def test_regression_a_file_created_while_the_server_refreshes_is_indexed_by_the_next_check(tmp_path: Path) -> None:
    # Files the status listed as added right after a refresh were taken for files the refresh had skipped and
    # hidden until they changed: one created after the refresh's walk was never indexed, and status said fresh.
    root, session = _indexed_session(tmp_path, {f"lib/m{i}.py": f"def handler_{i}():\n    pass\n" for i in range(20)})
    (root / "lib/m1.py").write_text("def changed():\n    pass\n")

    def create_after_the_walk() -> None:
        index_dir = root / ".atlas"
        while not any(".tmp-" in entry.name for entry in index_dir.iterdir()):  # the new generation: walk done
            time.sleep(0.0005)
        (root / "lib/zeppelin.py").write_text("def zeppelin_route():\n    pass\n")

    creator = threading.Thread(target=create_after_the_walk)
    creator.start()
    mcp_server.call_tool(session, "search", {"query": "changed"})
    creator.join(timeout=30)
    assert not session.index_status().fresh
    text, error = mcp_server.call_tool(session, "search", {"query": "zeppelin route"})
    assert not error and [hit["path"] for hit in json.loads(text)["results"]] == ["lib/zeppelin.py"], text


def _first_build_under_another_indexers_lock(tmp_path: Path) -> tuple[Path, mcp_server.Session, tuple[str, bool]]:
    """A repository without an index, a server started while another process holds the index lock, and the answer
    of its first search (which waits for the first build, which fails on the lock)."""
    root = tmp_path / "repo"
    write_tree(root, {"lib/alpha.py": "def alpha_pelican():\n    pass\n"})
    init_repo(root)
    config = index_config(root)
    config.index_dir.mkdir()
    with index_lock(config.index_dir):
        session = mcp_server.Session(config, check_interval=0)
        session.start()
        return root, session, mcp_server.call_tool(session, "search", {"query": "pelican"})


def test_regression_a_first_build_blocked_by_another_indexer_is_retried_and_follows_what_it_published(
    tmp_path: Path,
) -> None:
    # Two servers started on one repository without an index (or `atlas index` still running when the agent
    # started): the server whose first build found the lock held said "still being built" on every call, for
    # ever, even after the other process had published an index and `status` said it was fresh.
    root, session, (text, error) = _first_build_under_another_indexers_lock(tmp_path)
    assert error and "being updated by process" in text and "still being built" not in text, text
    build_index(root)  # the other indexer publishes
    text, error = mcp_server.call_tool(session, "search", {"query": "pelican"})
    assert not error and [hit["path"] for hit in json.loads(text)["results"]] == ["lib/alpha.py"], text


def test_regression_a_failed_first_build_is_retried_by_the_next_call(tmp_path: Path) -> None:
    # The hint said "call again shortly", but calling again never built anything: the server stayed without an
    # index until it was restarted.
    _, session, (text, error) = _first_build_under_another_indexers_lock(tmp_path)
    assert error and "call again" in text, text
    text, error = mcp_server.call_tool(session, "search", {"query": "pelican"})
    assert not error and [hit["path"] for hit in json.loads(text)["results"]] == ["lib/alpha.py"], text


@pytest.mark.parametrize(("request_id", "cancelled"), [("c1", "c1"), (7, 7), (7, "7"), ("7", 7)])
def test_a_cancelled_request_awaits_no_answer(request_id: str | int, cancelled: str | int) -> None:
    # The SDK never answers a request its client cancels: counted as pending, it held the end of input for 60 s.
    import anyio
    from mcp import types
    from mcp.shared.message import SessionMessage

    ledger = mcp_server.AnswerLedger(inner=None)
    request = types.JSONRPCRequest(jsonrpc="2.0", id=request_id, method="tools/call", params={"name": "status"})
    other = types.JSONRPCRequest(jsonrpc="2.0", id=99, method="tools/call", params={"name": "status"})
    for message in (request, other):
        ledger.expect(SessionMessage(message))
    assert ledger.pending == {request_id, 99}
    notice = types.JSONRPCNotification(
        jsonrpc="2.0", method="notifications/cancelled", params={"requestId": cancelled, "reason": "gone"}
    )
    ledger.expect(SessionMessage(notice))
    assert ledger.pending == {99}
    started = time.monotonic()
    anyio.run(ledger.drained, 0.5)  # 99 is still owed: the drain waits for it, as it should
    assert time.monotonic() - started >= 0.4


def test_regression_a_failed_background_refresh_says_so_and_a_fresh_index_clears_the_error(tmp_path: Path) -> None:
    # The note of a background refresh that failed on the lock still said "it is being updated in the background",
    # and once `atlas index` had brought the index up to date, status still reported the old error.
    root, session = _indexed_session(tmp_path, {f"lib/m{i}.py": f"def handler_{i}():\n    pass\n" for i in range(3)})
    many = mcp_server.MAX_SYNC_FILES + 10
    write_tree(root, {f"bulk/b{i:03}.py": f"def bulk_{i}():\n    pass\n" for i in range(many)})
    with index_lock(session.config.index_dir):
        text, _ = mcp_server.call_tool(session, "search", {"query": "bulk"})  # starts the background refresh
        assert json.loads(text)["stale"]["refreshing"] is True
        for _ in range(600):
            if not session.refresh_lock.locked():
                break
            time.sleep(0.05)
        session.interval = session.base_interval = 3600.0  # the next answer comes before the next check
        text, _ = mcp_server.call_tool(session, "search", {"query": "bulk"})
    session.interval = session.base_interval = 0.0
    stale = json.loads(text)["stale"]
    assert stale["refreshing"] is False and "being updated" in stale["refresh_error"]
    assert stale["note"] == mcp_server.REFRESH_FAILED
    build_index(root)  # `atlas index` in a terminal
    status, _ = mcp_server.call_tool(session, "status", {})
    answer = json.loads(status)
    assert answer["fresh"] and answer["last_error"] == "", answer


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("search", {"query": "pelican \udc80"}), ("context", {"task": "pelican \ud800"}),
     ("symbols", {"name": "beta\udc80"}), ("related", {"path": "lib/\udc80.py"}),
     ("search", {"query": "pelican", "paths": ["\udfff/**"]}),
     ("search", {"query": "pelican", "\udc80": 1}), ("\udc80", {})],
)  # fmt: skip
def test_regression_lone_surrogates_in_arguments_are_read_as_the_stdio_transport_reads_them(
    tmp_path: Path, tool: str, arguments: dict[str, object]
) -> None:
    # Called in-process, a query holding a lone surrogate (half of an emoji cut in two) raised from orjson, or came
    # back "unexpected error: TypeError", or as an error text no JSON-RPC answer can carry; over stdio the
    # transport had replaced it with U+FFFD first (`mcp_server._read_as_json_does`). The same answer either way.
    _, session = _indexed_session(tmp_path, {"lib/beta.py": "def beta_pelican():\n    pass\n"})
    text, error = mcp_server.call_tool(session, tool, arguments)
    text.encode("utf-8")
    expected, expected_error = mcp_server.call_tool(session, _as_read(tool), _as_read(arguments))
    assert (error, _timeless(text)) == (expected_error, _timeless(expected))


def _timeless(text: str) -> object:
    """An answer less the time it took."""
    if text.startswith("error: "):
        return text
    answer = json.loads(text)
    answer.pop("took_ms", None)
    return answer


def _as_read(value: Any) -> Any:
    """`value` with each lone surrogate replaced by U+FFFD, as the JSON the transport reads would hold it."""
    if isinstance(value, dict):
        return {_as_read(key): _as_read(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_read(item) for item in value]
    return re.sub("[\ud800-\udfff]", "\ufffd", value) if isinstance(value, str) else value


def test_arguments_nested_past_the_recursion_limit_are_a_tool_error(tmp_path: Path) -> None:
    # Only in-process (the transport refuses JSON nested past ~200 levels): the schema check raised RecursionError.
    _, session = _indexed_session(tmp_path, {"lib/beta.py": "def beta_pelican():\n    pass\n"})
    deep: object = "pelican"
    for _ in range(5000):
        deep = [deep]
    for arguments in ({"query": deep}, {"query": "pelican", "paths": deep}):
        text, error = mcp_server.call_tool(session, "search", arguments)
        assert error and text.startswith("error: search: the arguments are nested too deeply"), text
