"""The MCP server's end of stdin: the client's lines, each read up to a cap.

`claimed_stdin` takes the client's requests (descriptor 0) for the server alone and points descriptor 0 at the null
device, as the SDK's stdio transport does for the streams it claims. `Requests` is what the server reads the lines
from (`atlas.mcp_server.read_requests`): decoded as UTF-8 (a byte that is not is U+FFFD), split as the SDK splits
them (`\\n`, `\\r\\n` or `\\r`). A line longer than MAX_LINE_CHARS is read on to its end without being kept and
handed on as an empty line, which the server answers with a parse error: the SDK read a line whole, so an endless one
(`atlas mcp < /dev/zero`, a client writing a stream that is not JSON-RPC) grew the server by gigabytes until the
machine ran out of memory.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import AsyncIterator, Iterator

import anyio.to_thread

from atlas.mcp_stdout import claimed

MAX_LINE_CHARS = 4 << 20
"""The longest line the server reads: a request is kilobytes (a `search` query holds at most 20,000 characters, some
120 KB once each is escaped as `\\uXXXX`), so this leaves room for any request and bounds what a line costs."""

SKIP_CHARS = 1 << 16
"""How much of an over-long line is read (and dropped) at a time."""

logger = logging.getLogger("atlas.mcp")


@contextlib.contextmanager
def claimed_stdin() -> Iterator[int]:
    """The client's requests, as a private descriptor (see `atlas.mcp_stdout.claimed`); while it is held, descriptor
    0 reads the null device, so nothing else in the process (a git it starts) takes the client's bytes."""
    with claimed(0, os.open(os.devnull, os.O_RDONLY)) as wire:
        yield wire


class Requests:
    """The client's lines from descriptor `fd`, each at most `limit` characters, as the SDK's stdio transport reads
    them."""

    def __init__(self, fd: int, limit: int = MAX_LINE_CHARS) -> None:
        self.text = io.TextIOWrapper(os.fdopen(fd, "rb", closefd=False), encoding="utf-8", errors="replace")
        self.limit = limit

    async def __aiter__(self) -> AsyncIterator[str]:
        while line := await anyio.to_thread.run_sync(self.readline):
            yield line

    def readline(self) -> str:
        """The next line ("" at the end of input); "\\n" in place of one longer than `limit`, read to its end."""
        line = self.text.readline(self.limit + 1)
        if len(line) <= self.limit or line.endswith("\n"):
            return line
        while (rest := self.text.readline(SKIP_CHARS)) and not rest.endswith("\n"):
            pass
        logger.warning("a line longer than %s characters was skipped (no request is that long)", f"{self.limit:,}")
        return "\n"
