"""`atlas mcp` end to end: a real server process and the SDK's stdio client, as an agent runs it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from tests.conftest import Symlink, git, write_tree
from tests.mcp.client import call, call_text, run
from tests.mcp.conftest import build_index

TOOLS = {"search", "context", "symbols", "related", "index", "status"}


def test_lists_every_tool_with_a_strict_schema(shop: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(listed) >= TOOLS
        for tool in listed.values():
            assert tool.description and len(tool.description) > 100, tool.name
            schema = tool.input_schema
            assert schema["type"] == "object" and schema["additionalProperties"] is False
            for name, prop in schema["properties"].items():
                assert prop.get("description"), f"{tool.name}.{name} has no description"
        assert listed["search"].input_schema["required"] == ["query"]
        assert listed["symbols"].input_schema["required"] == ["name"]
        assert listed["related"].input_schema["required"] == ["path"]
        assert listed["search"].annotations.read_only_hint is True
        assert listed["index"].annotations.read_only_hint is False

    run(shop, scenario)


def test_search_returns_ranked_relative_paths_with_lines(shop: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        answer, error = await call(session, "search", {"query": "shopping cart add item", "limit": 3})
        assert not error
        assert answer["results"][0]["path"] == "shop/cart.py"
        assert len(answer["results"]) <= 3 and answer["truncated"] is False
        first = answer["results"][0]
        assert {"ShoppingCart", "add_item"} <= set(first["symbols"])
        assert any("def add_item" in lines["text"] for lines in first["lines"])
        for hit in answer["results"]:
            assert not hit["path"].startswith("/") and not os.path.isabs(hit["path"])
        filtered, _ = await call(session, "search", {"query": "refund payment", "paths": ["shop/payments/"]})
        assert [hit["path"] for hit in filtered["results"]] == ["shop/payments/gateway.py"]
        bare, _ = await call(session, "search", {"query": "verify webhook signature", "lines": False})
        assert bare["results"][0]["lines"] == []
        nothing, error = await call(session, "search", {"query": "zzqqxxv"})
        assert not error and nothing["results"] == []

    run(shop, scenario)


def test_context_selects_code_for_a_task_within_the_budget(shop: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        task = "Orders over the threshold should get a bigger discount in the shopping cart total"
        answer, error = await call(session, "context", {"task": task, "max_tokens": 1000})
        assert not error
        paths = [entry["path"] for entry in answer["entries"]]
        assert "shop/pricing.py" in paths[:3] and "shop/cart.py" in paths[:3]
        assert 0 < answer["total_tokens"] <= 1000 and answer["truncated"] is False
        assert all(not path.startswith("/") for path in paths)
        pricing = answer["entries"][paths.index("shop/pricing.py")]
        assert any("def apply_discount" in chunk["text"] for chunk in pricing["chunks"])
        text, error = await call_text(session, "context", {"task": task, "max_tokens": 100})
        assert error and "max_tokens is under the minimum 500" in text

    run(shop, scenario)


def test_regression_a_context_whose_json_outgrows_the_cap_is_selected_smaller_not_emptied(tmp_path: Path) -> None:
    # Tabs (2 bytes each in JSON, ~100 to a token) made a selection within max_tokens over the 100 KB answer cap:
    # the answer dropped its only entry and still said total_tokens 14128, with a hint naming a `limit` the tool
    # does not have.
    root = tmp_path / "repo"
    write_tree(root, {"tabs.py": "".join("zebrafrob = 1" + "\t" * 3000 + "\n" for _ in range(200))})
    git(root, "init", "-q")
    build_index(root)

    async def scenario(session: ClientSession) -> None:
        answer, error = await call(session, "context", {"task": "zebrafrob", "max_tokens": 16000})
        assert not error, answer
        assert [entry["path"] for entry in answer["entries"]] == ["tabs.py"] and answer["truncated"] is False
        assert answer["total_tokens"] == sum(entry["tokens"] for entry in answer["entries"]) > 0

    run(root, scenario)


def test_symbols_finds_definitions_by_name_kind_and_container(shop: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        found, _ = await call(session, "symbols", {"name": "shoppingcart"})
        assert [(m["path"], m["kind"], m["start_line"]) for m in found["matches"]] == [("shop/cart.py", "class", 6)]
        exact, _ = await call(session, "symbols", {"name": "shoppingcart", "case_sensitive": True})
        assert exact["matches"] == [] and exact["total"] == 0
        member, _ = await call(session, "symbols", {"name": "ShoppingCart.add_item"})
        assert [(m["name"], m["container"], m["start_line"]) for m in member["matches"]] == [
            ("add_item", "ShoppingCart", 10)
        ]
        wrong_kind, _ = await call(session, "symbols", {"name": "ShoppingCart", "kind": "function"})
        assert wrong_kind["matches"] == []
        go, _ = await call(session, "symbols", {"name": "Reserve", "paths": ["*.go"]})
        assert [m["path"] for m in go["matches"]] == ["services/inventory/stock.go"]
        one_letter, _ = await call(session, "symbols", {"name": "x"})  # a name like Django's `Q` can be looked up
        assert one_letter["matches"] == []
        text, error = await call_text(session, "symbols", {"name": "_"})
        assert error and "no letter or digit" in text

    run(shop, scenario)


def test_related_lists_cochange_partners_and_import_neighbours(tmp_path: Path) -> None:
    root = _repo_with_history(tmp_path / "repo")

    async def scenario(session: ClientSession) -> None:
        answer, error = await call(session, "related", {"path": "shop/cart.py"})
        assert not error
        assert answer["cochange"][0] == {"path": "tests/test_cart.py", "commits": 3, "confidence": 1.0}
        assert "shop/pricing.py" not in [p["path"] for p in answer["cochange"]]  # one shared commit only
        assert set(answer["imports"]) == {"shop/pricing.py", "tests/test_cart.py"}
        loose, _ = await call(session, "related", {"path": "./shop//cart.py", "min_commits": 1, "limit": 1})
        assert loose["path"] == "shop/cart.py" and len(loose["cochange"]) == 1 and loose["truncated"] is True
        missing, error = await call_text(session, "related", {"path": "shop/nothing.py"})
        assert error and "not an indexed file" in missing

    run(root, scenario)


def _repo_with_history(root: Path) -> Path:
    write_tree(root, {
        "shop/__init__.py": "", "shop/pricing.py": "def apply_discount(amount):\n    return amount\n",
        "shop/cart.py": "from shop.pricing import apply_discount\n\n\nclass ShoppingCart:\n    pass\n",
        "tests/test_cart.py": "from shop.cart import ShoppingCart\n\n\ndef test_cart():\n    ShoppingCart()\n",
    })  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    for step in range(3):
        if step:
            with (root / "shop/cart.py").open("a") as handle:
                handle.write(f"# change {step}\n")
            with (root / "tests/test_cart.py").open("a") as handle:
                handle.write(f"# change {step}\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"step {step}")
    return build_index(root)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search", {}, "'query' is a required property"),
        ("search", {"query": 42}, "query must be of type string"),
        ("search", {"query": "cart", "limit": 0}, "limit is under the minimum 1"),
        ("search", {"query": "cart", "limit": 51}, "limit is over the maximum 50"),
        ("search", {"query": "cart", "colour": "red"}, "'colour' was unexpected"),
        ("search", {"query": "cart", "paths": "shop/"}, "paths must be of type array"),
        ("search", {"query": "!!! ???"}, "no searchable words"),
        ("symbols", {"name": "Cart", "kind": "klass"}, "kind must be one of class"),
        ("related", {"path": ""}, "path is shorter than 1 characters"),
        ("no_such_tool", {}, "unknown tool 'no_such_tool'"),
    ],
)
def test_bad_arguments_are_tool_errors_that_say_what_to_fix(
    shop: Path, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async def scenario(session: ClientSession) -> None:
        text, error = await call_text(session, tool, arguments)
        assert error and message in text and "hint:" in text
        still, error = await call(session, "status", {})
        assert not error and still["exists"]

    run(shop, scenario)


def test_paths_that_leave_the_root_are_refused(shop: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_tree(outside, {"secret.py": "def secret_token():\n    return 1\n"})
    write_tree(shop, {"escape": Symlink(str(outside)), "inside_link": Symlink("shop")})
    refused = [
        ("../outside/secret.py", "leaves the repository root"),
        ("shop/../../outside/secret.py", "leaves the repository root"),
        ("/etc/passwd", "absolute paths are refused"),
        (str(shop / "shop/cart.py"), "relative to the repository root: shop/cart.py"),
        ("~/secret.py", "absolute paths are refused"),
        ("escape/secret.py", "resolves outside the repository root"),
        ("shop/cart.py\x00.txt", "NUL"),
    ]

    async def scenario(session: ClientSession) -> None:
        for path, message in refused:
            text, error = await call_text(session, "related", {"path": path})
            assert error and message in text, (path, text)
        text, error = await call_text(session, "search", {"query": "cart", "paths": ["../outside/**"]})
        assert error and "may not contain '..'" in text
        text, error = await call_text(session, "search", {"query": "cart", "paths": [f"{shop}/shop/*.py"]})
        assert error and "'shop/*.py'" in text
        inside, error = await call(session, "related", {"path": "shop/./cart.py"})
        assert not error and inside["path"] == "shop/cart.py"

    run(shop, scenario)


def test_huge_queries_get_bounded_answers(shop: Path) -> None:
    report = "Traceback (most recent call last):\n" + "  File 'shop/cart.py', line 12, in total\n" * 400
    async def scenario(session: ClientSession) -> None:
        text, error = await call_text(session, "search", {"query": report[:19_999]})
        assert not error and len(text.encode()) <= 32_000
        text, error = await call_text(session, "search", {"query": "cart " * 200_000})
        assert error and "longer than 20000 characters" in text and len(text) < 500
        text, error = await call_text(session, "symbols", {"name": "A" * 10_000})
        assert error and len(text) < 500

    run(shop, scenario)


def test_every_answer_stays_under_its_cap_and_says_when_cut(tmp_path: Path) -> None:
    line = "widget_frame = render_widget(widget, frame, widget_options)  # widget " + "x" * 200 + "\n"
    files = {f"pkg/widget_{i:02}.py": f"def render_widget_{i}(widget):\n" + line * 60 for i in range(60)}
    write_tree(tmp_path / "big", files)
    root = build_index(tmp_path / "big")

    async def scenario(session: ClientSession) -> None:
        text, error = await call_text(session, "search", {"query": "render widget frame", "limit": 50})
        assert not error and len(text.encode()) <= 32_000
        answer = __import__("json").loads(text)
        assert answer["truncated"] is True and answer["omitted"] > 0
        assert len(answer["results"]) + answer["omitted"] == 50
        snippet = answer["results"][0]["lines"][0]["text"]
        assert snippet.count("\n") <= 15 and "…" in snippet

    run(root, scenario)


def test_regression_status_and_related_of_long_paths_cut_their_lists_to_fit(tmp_path: Path) -> None:
    # Paths of ~300 characters (a deep Java or monorepo tree): `status` with its examples of changed, added and
    # removed files, and `related` with 100 importers, answered {"error": "the answer was over N bytes and could not
    # be shortened"}: only the co-change list could be cut.
    deep = "/".join(f"segment_directory_name_{i:02}" for i in range(10))
    files = {"core.py": "def core():\n    return 1\n"}
    files.update({f"{deep}/importer_module_{i}.py": f"import core\n\ndef f_{i}():\n    return core.core()\n"
                  for i in range(100)})  # fmt: skip
    files.update({f"{deep}/removed_module_{i}.py": f"y = {i}\n" for i in range(12)})
    write_tree(tmp_path / "deep", files)
    git(tmp_path / "deep", "init", "-q")
    root = build_index(tmp_path / "deep")
    for i in range(12):
        (root / deep / f"importer_module_{i}.py").write_text(f"import core\n\ndef g_{i}():\n    return {i}\n")
        (root / deep / f"added_module_{i}.py").write_text(f"z = {i}\n")
        (root / deep / f"removed_module_{i}.py").unlink()

    async def scenario(session: ClientSession) -> None:
        status, error = await call(session, "status")
        assert not error and "error" not in status, status
        assert status["changed"] == status["added"] == status["removed"] == 12 and status["truncated"] is True
        assert 0 < len(status["examples"]["changed"]) < 12
        related, error = await call(session, "related", {"path": "core.py", "limit": 100})
        assert not error and "error" not in related, related
        assert related["truncated"] is True and 0 < len(related["imports"]) < related["imports_total"]

    run(root, scenario, "--check-interval", "3600")
