"""stdout carries protocol messages only: every line a JSON-RPC 2.0 message, logs on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.mcp.client import server_args

CLIENT_VERSION = "2025-06-18"  # what shipping agents send today; the SDK serves several versions


def _requests() -> list[dict]:
    calls = [
        ("search", {"query": "shopping cart"}),
        ("search", {"query": 7}),
        ("symbols", {"name": "ShoppingCart"}),
        ("related", {"path": "../../etc/passwd"}),
        ("index", {}),
        ("status", {}),
    ]
    messages: list[dict] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": CLIENT_VERSION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    ]  # fmt: skip
    for number, (tool, arguments) in enumerate(calls, 3):
        messages.append(
            {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        )
    return messages


def test_every_stdout_line_is_a_protocol_message(make_repo: Callable[..., Path]) -> None:
    # No index yet: the first build runs inside the server, and its log must not reach stdout.
    root = make_repo({"shop/cart.py": "class ShoppingCart:\n    def add_item(self, sku):\n        print(sku)\n"})
    messages = _requests()
    wanted = {m["id"] for m in messages if "id" in m}
    lines, stderr = _exchange(root, [*messages, "this is not json"], wanted)
    replies = {}
    for line in lines:
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0", line
        if "id" in message:
            replies[message["id"]] = message
    wanted = {m["id"] for m in messages if "id" in m}
    assert wanted <= set(replies), (sorted(replies), stderr)
    assert replies[1]["result"]["protocolVersion"] == CLIENT_VERSION
    assert {tool["name"] for tool in replies[2]["result"]["tools"]} >= {"search", "symbols", "related"}
    assert replies[4]["result"]["isError"] and replies[6]["result"]["isError"]
    assert not replies[3]["result"].get("isError")
    assert "building one in the background" in stderr


def _exchange(root: Path, messages: list, wanted: set[int]) -> tuple[list[str], str]:
    """Send `messages` (dicts, or raw text lines), read stdout until every id in `wanted` is answered."""
    server = subprocess.Popen(
        [sys.executable, *server_args(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert server.stdin and server.stdout and server.stderr
    for message in messages:
        server.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
    server.stdin.flush()
    lines, deadline = [], time.monotonic() + 120
    while wanted - {json.loads(line).get("id") for line in lines} and time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
    server.stdin.close()
    lines += server.stdout.read().splitlines()
    server.wait(timeout=30)
    return lines, server.stderr.read()


def test_missing_sdk_is_one_sentence_with_the_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from atlas.cli import cli

    for name in [name for name in sys.modules if name == "mcp" or name.startswith("mcp.")] + ["mcp"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the `mcp` extra were not installed
    monkeypatch.delitem(sys.modules, "atlas.mcp_server", raising=False)
    result = CliRunner().invoke(cli, ["mcp", "--root", str(tmp_path)])
    assert result.exit_code == 3
    assert "pip install 'atlas[mcp]'" in result.stderr and result.stdout == ""


NOTIFICATIONS = [
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {}}},
    {"jsonrpc": "2.0", "method": "notifications/cancelled"},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": None},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": [1]},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": "x"},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "reason": 5}},
    {"jsonrpc": "2.0", "method": "notifications/initialized", "params": [1]},
    {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": {}}},
    {"jsonrpc": "2.0", "method": "notifications/no_such_thing", "params": {"a": 1}},
    {"jsonrpc": "2.0", "method": "no/such/method"},
    {"jsonrpc": "2.0", "method": "ping"},
    {"jsonrpc": "2.0", "method": "tools/call", "params": [1]},
]
"""Notifications (no `id`), malformed or of methods no one serves: JSON-RPC answers none of them."""


def test_regression_no_notification_gets_an_answer_whatever_its_params_or_method(shop: Path) -> None:
    # A notification whose params the SDK refused (a list, a string), or whose method is no notification's (`ping`
    # sent without an id), was answered with an Invalid Request error, id null: the client got an answer to a
    # message that has none, which it cannot match to any request.
    initialize, initialized = _requests()[:2]
    last = {"jsonrpc": "2.0", "id": 99, "method": "ping"}
    lines, stderr = _exchange(shop, [initialize, initialized, *NOTIFICATIONS, last], {1, 99})
    assert [json.loads(line).get("id") for line in lines] == [1, 99], (lines, stderr)
    assert "result" in json.loads(lines[1])
