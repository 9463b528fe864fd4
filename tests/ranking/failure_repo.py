"""A generated repository for the query classes Atlas used to rank badly, one directory per class.

Each `Case` names the file a fix would touch; the distractors beside it share the query's plain
words, so only the mechanism under test (acronym identifiers, stems, CJK bigrams, stack frames)
lifts the target to the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.conftest import init_repo, write_tree

ACRONYMS: dict[str, str] = {
    "netkit/server.py": (
        '"""Server helpers: the server loop, server options and server shutdown for the http server."""\n\n\n'
        "def serve_forever(server, options):\n    # the server loop of an http server: accept, read, respond\n"
        "    while server.running:\n        server.accept()  # http connection for the server\n"
    ),
    "netkit/http.py": (
        '"""HTTP status codes and http headers for the server."""\n\n'
        "STATUS = {200: 'ok', 500: 'server error'}  # http status sent by the server\n\n\n"
        "def http_date(stamp):\n    # an http date header for a server response\n    return str(stamp)\n"
    ),
    "netkit/socket.py": (
        '"""Socket helpers: close a socket, detect a leaked socket, raise on a closed socket."""\n\n\n'
        "def close_socket(sock):\n    # close the socket; a socket left open leaks; close raises on a closed socket\n"
        "    sock.close()  # the server socket close\n"
    ),
    "netkit/listener.py": (
        "class HTTPServer:\n    def close(self):\n        self.sock.close()\n\n\n"
        "class IOError(Exception):\n    pass\n"
        + "".join(f"\n\ndef {verb}_{noun}(request):\n    return request.{noun}_{verb}()\n"
                  for verb in ("parse", "route", "match", "render", "encode", "decode")
                  for noun in ("headers", "cookies", "query", "body", "form", "path"))
    ),
}


@dataclass(frozen=True, slots=True)
class Case:
    """A query and the file a fix for it touches."""

    name: str
    query: str
    target: str
    top: int = 1


CASES: tuple[Case, ...] = (
    Case(
        "acronym_identifier",
        "HTTPServer leaks its socket on close\n\nWhen the server closes, the socket stays open; close raises IOError.",
        "netkit/listener.py",
    ),
)

FILES: dict[str, str] = {**ACRONYMS}


def make_failure_repo(root: Path) -> Path:
    """Write FILES under `root` and commit them."""
    root.mkdir(parents=True, exist_ok=True)
    write_tree(root, FILES)
    init_repo(root)
    return root
