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

_JOURNAL = "// Post each entry to the ledger book: a posted entry is final; a closed book panics on post.\n"
_SPRING = "".join(
    f"\tat org.springframework.web.servlet.{cls}.{method}({cls}.java:{line})\n"
    for cls, method, line in [
        ("FrameworkServlet", "service", 897), ("FrameworkServlet", "processRequest", 1014),
        ("DispatcherServlet", "doService", 964), ("DispatcherServlet", "doDispatch", 1067),
        ("mvc.method.annotation.RequestMappingHandlerAdapter", "handleInternal", 808),
        ("mvc.method.annotation.ServletInvocableHandlerMethod", "invokeAndHandle", 117),
        ("mvc.method.AbstractHandlerMethodAdapter", "handle", 87),
    ]
)  # fmt: skip
_GO_HTTP = "".join(
    f"net/http.{fn}\n\t/usr/local/go/src/net/http/server.go:{line} +0x{line:x}\n"
    for fn, line in [("HandlerFunc.ServeHTTP", 2136), ("(*ServeMux).ServeHTTP", 2514),
                     ("serverHandler.ServeHTTP", 2938), ("(*conn).serve", 2009)]
)  # fmt: skip

TRACES: dict[str, str] = {
    "ledgerd/src/report/book.rs": (
        "// Prints the book: one line per posted entry, the book's balance at the end.\n"
        "pub fn print_book(entries: &[Entry]) {\n"
        "    for entry in entries {\n        println!(\"{}\", entry);\n    }\n}\n"
    ),
    "ledgerd/src/ledger/accounts.rs": (
        "pub struct Book {\n    entries: Vec<Entry>,\n    closed: bool,\n}\n\nimpl Book {\n"
        "    pub fn post(&mut self, entry: Entry) {\n        self.entries.last().unwrap();\n"
        "        self.entries.push(entry);\n    }\n}\n"
    ),
    "ledgerd/src/ledger/journal.rs": _JOURNAL * 4 + (
        "pub fn post_all(book: &mut Book, entries: &[Entry]) {\n"
        "    for entry in entries {\n        book.post(entry.clone());  // the book panics when closed\n    }\n}\n"
    ),
    "ledgerd/src/main.rs": "mod ledger;\n\nfn main() {\n    ledger::run();\n}\n",
    "jsonlib/src/json/reader.cpp": (
        "namespace Json {\nclass Reader {\n public:\n  bool parse(const std::string& doc);\n"
        "  Value root;\n};\nbool Reader::parse(const std::string& doc) { return doc.size() > 0; }\n}\n"
    ),
    "jsonlib/src/json/writer.cpp": (
        "// Writes JSON: the inverse of parsing. A buffer overflow here corrupts the heap of the JSON writer.\n"
        "namespace Json {\nstd::string write(const Value& v) { return v.str(); }  // JSON text\n}\n"
    ),
    "jsonlib/src/json/value.cpp": "namespace Json {\nint Value::size() const { return 0; }\n}\n",
    "shopgo/internal/cart/cart.go": (
        "package cart\n\ntype Cart struct{ items []Item }\n\n"
        "func (c *Cart) Add(item Item) {\n\tc.items = append(c.items, item)\n}\n"
    ),
    "shopgo/internal/web/server.go": (
        "package web\n\n// Server wraps net/http: the http server serves the handler; ServeHTTP recovers panics.\n"
        "func Serve(handler http.Handler) error {\n"
        "\treturn http.ListenAndServe(\":8080\", handler)  // http server\n}\n"
    ),
    "billing/src/main/java/com/acme/billing/InvoiceService.java": (
        "package com.acme.billing;\n\npublic class InvoiceService {\n"
        "    public long total(Invoice invoice) {\n        return invoice.lines().sum();\n    }\n}\n"
    ),
    "billing/src/main/java/com/acme/web/WebConfig.java": (
        "package com.acme.web;\n\nimport org.springframework.web.servlet.DispatcherServlet;\n"
        "import org.springframework.web.servlet.FrameworkServlet;\n\n"
        "// Configures the DispatcherServlet and FrameworkServlet of the web servlet: request handling, dispatch.\n"
        "public class WebConfig {\n"
        "    public DispatcherServlet dispatcherServlet() { return new DispatcherServlet(); }\n}\n"
    ),
    "storefront/app/models/order.rb": (
        "module Store\n  class Order < ApplicationRecord\n    def total\n      line_items.sum(&:price)\n"
        "    end\n  end\nend\n"
    ),
    "storefront/app/views/orders/show.rb": (
        "# Shows an order: its line items, their prices and the order total, or nothing for a nil order.\n"
        "module Views\n  class OrderPage\n    def render(order)\n      order&.total\n    end\n  end\nend\n"
    ),
    "ledger-php/src/Billing/Statement.php": (
        "<?php\nnamespace App\\Billing;\n\nclass Statement\n{\n    public function balance(array $lines): int\n"
        "    {\n        return array_sum($lines);\n    }\n}\n"
    ),
    "ledger-php/src/Http/StatementController.php": (
        "<?php\nnamespace App\\Http;\n\n// Renders a statement's balance as JSON; a type error here means bad lines.\n"
        "class StatementController\n{\n    public function show($statement) { return $statement->balance([]); }\n}\n"
    ),
    "billing-legacy/src/main/java/com/acme/billing/InvoiceService.java": (
        "package com.acme.billing;\n\n// Legacy billing, kept for the old reports: null when there is no invoice.\n"
        "public class InvoiceService {\n    public Long amount(Invoice invoice) {\n"
        "        return invoice == null ? null : invoice.amount();\n    }\n}\n"
    ),
}


_SYLLABLES = ("ka", "lo", "mi", "ne", "po", "ru", "sa", "ti", "vo", "ze", "bu", "da", "fe", "gi", "ho", "ju")
_PLAIN_WORDS = [a + b + c for a in _SYLLABLES for b in _SYLLABLES[:6] for c in _SYLLABLES[4:8]]
_PLAIN_TEXT = " ".join(_PLAIN_WORDS)
LONG_REPORT: dict[str, str] = {
    "desk/throttle.py": (
        '"""Token bucket: a burst refills the leaky bucket at the throttle rate, drip by drip."""\n\n\n'
        "def refill(bucket, burst):\n    return min(bucket.capacity, bucket.tokens + burst)\n"
    ),
    "desk/everything.py": "".join(f"# {_PLAIN_TEXT}\n" for _ in range(40)) + "def main():\n    pass\n",
    **{f"desk/module_{i}.py": f"# {' '.join(_PLAIN_WORDS[i % 2::2])}\nX = {i}\n" for i in range(30)},
}
"""A long report's plain words, each common, together outvote its few rare ones unless the query keeps only
its most telling terms (`query_terms`). A repository of its own (`LONG_REPORT_CASE`): its many files would
change the other cases' document frequencies."""

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
        # With the fitted weights (symbol_mention 0.3, proximity 0.6) the decoys whose prose says the query's
        # words in its order ("close the socket", "the http server") come first; the exact-symbol signal still
        # puts the class's file first among definitions (test_an_acronym_identifier_is_an_exact_symbol).
        top=4,
    ),
    Case(
        "plural_file_name",
        "Session expires too early\n\nAn idle session is dropped before its timeout, and the session cookie too.",
        "webapp/sessions.py",
        # proximity: `cookies.py`'s docstring says "a session cookie expires", the query's words in its order.
        top=2,
    ),
    Case("inflected_symbol", "Retry parsing ignores the limit", "webapp/policy.py"),
    Case("chinese_text", "用户登录后，会话很快就过期了，需要重新登录", "shop/session_store.py"),
    Case(
        "rust_backtrace",
        "Panic when a journal entry is posted\n\n"
        "thread 'main' panicked at 'called `Option::unwrap()` on a `None` value'\n"
        "stack backtrace:\n   0: rust_begin_unwind\n   1: core::panicking::panic\n"
        "   2: core::option::Option<T>::unwrap\n   3: ledgerd::ledger::accounts::Book::post\n   4: ledgerd::main\n",
        "ledgerd/src/ledger/accounts.rs",
    ),
    Case(
        "cpp_sanitizer",
        "heap-buffer-overflow while parsing JSON\n\n==1==ERROR: AddressSanitizer: heap-buffer-overflow\n"
        "    #0 0x4f5e3a in Json::Reader::parse(std::string const&) (/out/fuzz+0x4f5e3a)\n"
        "    #1 0x4f6012 in LLVMFuzzerTestOneInput (/out/fuzz+0x4f6012)\n",
        "jsonlib/src/json/reader.cpp",
    ),
    Case(
        "go_panic",
        "http server panics when adding an item\n\n"
        "panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 7 [running]:\n"
        "github.com/acme/shopgo/internal/cart.(*Cart).Add(0x0, {0x5f1e20, 0x3})\n"
        "\t/home/ci/src/github.com/acme/shopgo/internal/cart/cart.go:6 +0x1d\n" + _GO_HTTP,
        "shopgo/internal/cart/cart.go",
        # proximity: the title's "http server" is the web server's docstring; the trace's frame is a close second.
        top=2,
    ),
    Case(
        "java_trace",
        "Request fails with a NullPointerException\n\n```\njava.lang.NullPointerException: null\n"
        "\tat com.acme.billing.InvoiceService.total(InvoiceService.java:5)\n" + _SPRING + "```\n",
        "billing/src/main/java/com/acme/billing/InvoiceService.java",
        # The legacy copy defines the same frame: with the fitted weights either copy may come first.
        top=2,
    ),
    Case(
        "ruby_backtrace",
        "Showing an order raises NoMethodError\n\nNoMethodError: undefined method `sum' for nil:NilClass\n"
        "  /srv/storefront/app/models/order.rb:4:in `Store::Order#total'\n"
        "  /srv/storefront/app/views/orders/show.rb:5:in `render'\n"
        "  /usr/lib/ruby/gems/3.2.0/gems/actionpack-7.1.0/lib/action_controller/metal.rb:227:in `dispatch'\n",
        "storefront/app/models/order.rb",
        # proximity: the view's comment says the title's words ("shows an order"); the innermost frame is second.
        top=2,
    ),
    Case(
        "php_stack_trace",
        "Statement balance fails with a TypeError\n\nPHP Fatal error:  Uncaught TypeError: array_sum(): Argument #1"
        " ($array) must be of type array, null given in /var/www/src/Billing/Statement.php:8\n"
        "Stack trace:\n#0 /var/www/src/Http/StatementController.php(7): App\\Billing\\Statement->balance(Array)\n"
        "#1 /var/www/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\Http\\Statement"
        "Controller->show(Object(App\\Billing\\Statement))\n#2 {main}\n",
        "ledger-php/src/Billing/Statement.php",
        # The controller is named by a path, a frame and a compound identifier (`StatementController`), and its
        # comment says "type error": either file of the trace may come first.
        top=2,
    ),
)

FILES: dict[str, str] = {**ACRONYMS, **INFLECTIONS, **CJK, **TRACES}


def make_failure_repo(root: Path) -> Path:
    """Write FILES under `root` and commit them."""
    root.mkdir(parents=True, exist_ok=True)
    write_tree(root, FILES)
    init_repo(root)
    return root


LONG_REPORT_CASE = Case(
    "long_report",
    "Burst ignored by the throttle\n\nThe leaky token bucket does not refill its capacity after a burst, "
    "not even drip by drip. " + _PLAIN_TEXT,
    "desk/throttle.py",
)
