"""Drive `atlas mcp` the way an agent does: a subprocess spoken to over stdio with the SDK's client."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client

SESSION_TIMEOUT = 120.0


def server_environment() -> dict[str, str]:
    """The SDK's default environment for a server (PATH, HOME, ...: it drops the rest), plus PYTHONPATH when set,
    so the server runs the Atlas under test (a work tree's), not the one installed."""
    path = os.environ.get("PYTHONPATH")
    return {**get_default_environment(), **({"PYTHONPATH": path} if path else {})}


def server_args(root: Path, *extra: str) -> list[str]:
    """Arguments of `python -m atlas mcp` for `root`."""
    return ["-m", "atlas", "mcp", "--root", str(root), *extra]


@asynccontextmanager
async def connect(root: Path, *extra: str, stderr: Path | None = None) -> AsyncIterator[ClientSession]:
    """An initialised client session with a fresh `atlas mcp` server for `root`."""
    params = StdioServerParameters(
        command=sys.executable, args=server_args(root, *extra), cwd=str(root), env=server_environment()
    )
    errlog = (stderr or root.parent / "mcp-stderr.log").open("a", encoding="utf-8")
    try:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session
    finally:
        errlog.close()


async def call(session: ClientSession, tool: str, arguments: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """(parsed JSON answer, or the error text; whether the call was a tool error)."""
    result = await session.call_tool(tool, arguments or {})
    assert len(result.content) == 1 and result.content[0].type == "text"
    text = result.content[0].text
    return (text if result.is_error else json.loads(text)), bool(result.is_error)


async def call_text(session: ClientSession, tool: str, arguments: dict[str, Any] | None = None) -> tuple[str, bool]:
    """The raw text of an answer and whether it is a tool error."""
    result = await session.call_tool(tool, arguments or {})
    return result.content[0].text, bool(result.is_error)


def run(root: Path, scenario: Callable[[ClientSession], Awaitable[None]], *extra: str) -> None:
    """Start a server for `root`, run `scenario(session)` against it, stop the server."""

    async def main() -> None:
        with anyio.fail_after(SESSION_TIMEOUT):
            async with connect(root, *extra) as session:
                await scenario(session)

    anyio.run(main)
