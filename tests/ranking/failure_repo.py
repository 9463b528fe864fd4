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

INFLECTIONS: dict[str, str] = {
    "webapp/sessions.py": (
        "def expire(sessions, now):\n    return [s for s in sessions if s.deadline > now]\n\n\n"
        "def touch(sessions, key, now):\n    sessions[key].deadline = now + 600\n"
    ),
    "webapp/cookies.py": (
        '"""Cookies: a session cookie expires with the browser session; set the expiry of each cookie."""\n\n\n'
        "def set_cookie(response, name, value, expiry=None):\n    # a session cookie when expiry is None\n"
        "    response.headers.append((name, value, expiry))\n"
    ),
    "webapp/timeouts.py": (
        "TIMEOUT = 30  # the request timeout, not the idle timeout\n\n\n"
        "def timeout_for(route):\n    return TIMEOUT  # timeout per route\n"
    ),
    "webapp/policy.py": (
        "def parse_retries(value):\n    return max(0, int(value))\n\n\n"
        "def limited(attempts, ceiling):\n    return attempts >= ceiling\n"
    ),
    "webapp/forms.py": (
        '"""Form parsing: parsing stops at the field limit; the limit ignores empty fields."""\n\n\n'
        "def fields(body, limit=100):\n    return body.split('&')[:limit]\n"
    ),
    "webapp/headers.py": (
        '"""Header helpers: read a header, the Retry-After header, header names."""\n\n\n'
        "def header(request, name):\n    # the header value, or None when the header is missing\n"
        "    return request.headers.get(name)\n"
    ),
}

CJK: dict[str, str] = {
    "shop/session_store.py": (
        "# 会话存储：用户登录后创建会话，会话过期后需要重新登录。\n"
        "def renew(store, key):\n    store[key].ttl = 1800  # 会话有效期（秒）\n"
    ),
    "shop/cache.py": "# 缓存条目过期后删除；缓存大小有上限。\ndef evict(cache):\n    cache.clear()\n",
    "shop/payment.py": "# 支付失败时重试三次，然后通知用户。\ndef pay(order):\n    return order.charge()\n",
    "shop/README.md": "# 商店\n\n用户可以浏览商品、下单和支付。\n",
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
    Case(
        "plural_file_name",
        "Session expires too early\n\nAn idle session is dropped before its timeout, and the session cookie too.",
        "webapp/sessions.py",
    ),
    Case("inflected_symbol", "Retry parsing ignores the limit", "webapp/policy.py"),
    Case("chinese_text", "用户登录后，会话很快就过期了，需要重新登录", "shop/session_store.py"),
)

FILES: dict[str, str] = {**ACRONYMS, **INFLECTIONS, **CJK}


def make_failure_repo(root: Path) -> Path:
    """Write FILES under `root` and commit them."""
    root.mkdir(parents=True, exist_ok=True)
    write_tree(root, FILES)
    init_repo(root)
    return root
