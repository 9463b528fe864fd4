"""Speak MCP to `atlas mcp` in a container the way an agent does: the SDK's stdio client over `docker run -i`.

    python docker/mcp_smoke.py -- docker run --rm -i --network none -v REPO:/repo:ro -v VOL:/index IMAGE mcp

Used by docker/smoke-test.sh on the repository it makes; exits 1 with the reason when an answer is wrong.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TIMEOUT = 120.0
TOOLS = {"search", "context", "symbols", "related", "index", "status"}


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    """The parsed JSON answer of a tool call that must succeed."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    if result.is_error:
        raise AssertionError(f"{tool} answered a tool error: {text}")
    return json.loads(text)


async def scenario(command: list[str]) -> None:
    """List the tools, search, look up a symbol and ask for the status through one session."""
    params = StdioServerParameters(command=command[0], args=command[1:])
    with anyio.fail_after(TIMEOUT):
        async with stdio_client(params, errlog=sys.stderr) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert tools >= TOOLS, f"tools offered: {sorted(tools)}"
            found = await call(session, "search", {"query": "verify webhook signature", "limit": 3})
            assert found["results"][0]["path"] == "shop/payments/gateway.py", found
            symbols = await call(session, "symbols", {"name": "Cart"})
            assert any(hit["path"] == "shop/cart/cart.py" for hit in symbols["matches"]), symbols
            status = await call(session, "status", {})
            assert status["fresh"] is True, status


def main() -> None:
    """Run the scenario against the server command given after `--`."""
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    if not command:
        sys.exit("usage: mcp_smoke.py -- COMMAND [ARG...]")
    try:
        anyio.run(scenario, command)
    except AssertionError as err:
        sys.exit(f"mcp: {err}")
    print("mcp: tools listed; search, symbols and status answered", file=sys.stderr)


if __name__ == "__main__":
    main()
