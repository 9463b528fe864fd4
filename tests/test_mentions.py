"""Mentions: what a query names exactly (paths, modules, identifiers)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas.query.mentions import _FILE_PATH, NamedLine, file_paths, find_mentions, named_lines

ACRONYM_NAMES = ["HTTPServer", "JSONDecoder", "XMLParser", "IOError", "SSLError", "getHTTPResponseCode"]


@pytest.mark.parametrize("name", ACRONYM_NAMES)
def test_acronym_identifiers_are_mentions(name: str) -> None:
    assert find_mentions(f"the {name} fails").identifiers == (name,)


@pytest.mark.parametrize("word", ["URLs", "APIs", "PRs", "IDs", "HTTP", "Server"])
def test_plural_acronyms_and_plain_words_are_not(word: str) -> None:
    assert find_mentions(f"the {word} fail").identifiers == ()


FRAMES = {
    "go": (
        "goroutine 1 [running]:\n"
        "github.com/acme/shop/internal/cart.(*Cart).AddItem(0x0, {0x5f1e20, 0x3})\n"
        "\t/home/dev/go/src/github.com/acme/shop/internal/cart/cart.go:42 +0x1d\n"
        "net/http.HandlerFunc.ServeHTTP(0x1, 0x2)\n\t/usr/local/go/src/net/http/server.go:2136 +0x29\n",
        "home/dev/go/src/github.com/acme/shop/internal/cart/cart.go",
        ("Cart", "AddItem"),
    ),
    "java": (
        'Exception in thread "main" java.lang.IllegalStateException: closed\n'
        "\tat com.acme.billing.InvoiceService.total(InvoiceService.java:42)\n"
        "Caused by: java.io.IOException: stream closed\n"
        "\tat java.base/java.io.BufferedReader.ensureOpen(BufferedReader.java:122)\n",
        "InvoiceService.java",
        ("InvoiceService", "total"),
    ),
    "kotlin": ("\tat com.acme.billing.Ledger.post(Ledger.kt:12)\n", "Ledger.kt", ("Ledger", "post")),
    "rust": (
        "thread 'main' panicked at src/ledger/book.rs:88:14:\nstack backtrace:\n"
        "   3: shop::ledger::book::Book::post\n             at ./src/ledger/book.rs:88:14\n",
        "src/ledger/book.rs",
        ("Book", "post"),
    ),
    "javascript": (
        "TypeError: Cannot read properties of undefined\n    at Table.render (/app/src/components/table.js:14:22)\n"
        "    at /app/src/index.ts:3:1\n",
        "app/src/components/table.js",
        ("Table", "render"),
    ),
    "ruby": (
        "NoMethodError: undefined method `total' for nil\n"
        "  app/models/invoice.rb:42:in `Billing::Invoice#total'\n"
        "  lib/tasks/report.rake:5:in `block (2 levels) in <top>'\n",
        "app/models/invoice.rb",
        ("Invoice", "total"),
    ),
    "ruby-3.4": (
        "lib/jekyll/utils.rb:10:in 'Jekyll::Utils.parse_date': invalid date (ArgumentError)\n",
        "lib/jekyll/utils.rb",
        ("Utils", "parse_date"),
    ),
    "php": (
        "PHP Fatal error:  Uncaught TypeError in /var/www/src/Billing/Invoice.php:42\nStack trace:\n"
        "#0 /var/www/src/Http/Kernel.php(128): App\\Billing\\Invoice->total(Object(App\\Cart))\n#1 {main}\n",
        "var/www/src/Billing/Invoice.php",
        ("Invoice", "total"),
    ),
    "dart": (
        "Unhandled exception:\nClientException: Connection closed\n"
        "#0      IOClient.send (package:http/src/io_client.dart:90:5)\n#1      main (file:///home/u/app/bin/app.dart:7:3)\n",
        "http/lib/src/io_client.dart",
        ("IOClient", "send"),
    ),
    "sanitizer": (
        "==1==ERROR: AddressSanitizer: heap-buffer-overflow\n"
        "    #0 0x4f5e3a in Json::Reader::parse(std::string const&) /src/app/json/reader.cpp:77:3\n",
        "src/app/json/reader.cpp",
        ("Reader", "parse"),
    ),
}


@pytest.mark.parametrize(("trace", "path", "frame"), FRAMES.values(), ids=list(FRAMES))
def test_stack_frames_name_their_file_and_function(trace: str, path: str, frame: tuple[str, str]) -> None:
    mentions = find_mentions(trace)
    assert path in mentions.paths
    assert frame in mentions.frames


def test_a_compiler_error_names_its_file() -> None:
    assert find_mentions("src/net/http.c:120:9: error: 'len' undeclared").paths == ("src/net/http.c",)


def test_scoped_names_are_modules_with_and_without_their_root() -> None:
    modules = find_mentions("   3: ledgerd::ledger::accounts::Book::post").modules
    assert {"ledgerd.ledger.accounts.Book.post", "ledger.accounts.Book.post"} <= set(modules)


def test_go_package_paths_are_not_python_modules() -> None:
    assert find_mentions("net/http.HandlerFunc.ServeHTTP(0x1)").modules == ()


def test_go_method_frames_name_the_method() -> None:
    assert "AddItem" in find_mentions("github.com/acme/cart.(*Cart).AddItem(0x0)").identifiers


def test_a_long_run_of_path_like_text_is_read_in_linear_time() -> None:
    started = time.monotonic()
    for text in ("a/" * 500_000, "see x.py/" + "a/" * 200_000, ("b" * 300 + "/") * 3_000 + "c.p",
                 "a/" * 300_000 + "/x.py"):  # fmt: skip
        find_mentions(text)  # a megabyte each: the path regex used to restart after every '/'
    assert time.monotonic() - started < 5


def test_deep_paths_and_urls_are_still_mentions() -> None:
    deep = "/".join(f"d{i}" for i in range(100)) + "/shop/cart.py"
    assert find_mentions(f"crash in {deep} on save").paths == (deep,)
    assert find_mentions("crash in /srv/app/site-packages/shop/cart.py:12").paths == ("shop/cart.py",)
    assert find_mentions("see https://example.com/acme/blob/main/shop/cart.py#L3").paths == (
        "example.com/acme/blob/main/shop/cart.py",
    )


@given(st.text(alphabet="a/.py -:\\", max_size=40))
def test_file_paths_finds_what_the_path_regex_finds(text: str) -> None:
    assert file_paths(text) == _FILE_PATH.findall(text)


def test_sources_of_every_parsed_language_are_path_mentions() -> None:
    text = "see R/filter.R, lib/tasks/report.rake, src/Job.groovy, contracts/Token.sol, src/fpm.f90 and ops/add.cu"
    assert find_mentions(text).paths == (
        "R/filter.R", "lib/tasks/report.rake", "src/Job.groovy", "contracts/Token.sol", "src/fpm.f90", "ops/add.cu",
    )  # fmt: skip


@pytest.mark.parametrize(("text", "linked"), [
    ("bug here: https://github.com/psf/requests/blob/main/requests/models.py#L871", "main/requests/models.py"),
    ("https://github.com/o/r/blame/4f2a9c1e/src/lib.rs#L10-L20", "4f2a9c1e/src/lib.rs"),
    ("(https://gitlab.com/g/p/-/blob/v1.2/pkg/x.go?ref_type=heads#L3)", "v1.2/pkg/x.go"),
    ("https://bitbucket.org/o/r/src/abc123/lib/y.rb", "abc123/lib/y.rb"),
    ("https://gitea.example/o/r/src/branch/main/app/z.ts#L1", "branch/main/app/z.ts"),
    ("the check at line 326 of astropy/wcs/wcsapi/fitswcs.py fails", "astropy/wcs/wcsapi/fitswcs.py"),
    ("Line 12 in `src/parser.c` reads past the end", "src/parser.c"),
])  # fmt: skip
def test_links_to_a_file_are_linked_mentions(text: str, linked: str) -> None:
    assert find_mentions(text).linked == (linked,)


@pytest.mark.parametrize("text", [
    "see https://github.com/o/r/issues/12 and https://github.com/o/r/tree/main/docs",
    "https://example.com/blob/",
    "the error is on line 12",
    "File \"src/x.py\", line 12, in main",
])  # fmt: skip
def test_urls_without_a_file_and_tracebacks_are_not_linked(text: str) -> None:
    assert find_mentions(text).linked == ()


@pytest.mark.parametrize("text", ["https://" * 20_000, "https://h/blob/" + "a/" * 100_000, "line 1 of " + "a/" * 9_999])
def test_links_are_read_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    find_mentions(text)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('  File "/home/me/app/src/shop/cart.py", line 12, in add', NamedLine("home/me/app/src/shop/cart.py", 12, 2)),
        ('File "/v/lib/python3.12/site-packages/shop/cart.py", line 9', NamedLine("shop/cart.py", 9, 2)),
        ('File "C:\\Users\\me\\app\\shop\\cart.py", line 3, in add', NamedLine("Users/me/app/shop/cart.py", 3, 2)),
        ("panic: oops\n\tshop/cart.go:45 +0x1d", NamedLine("shop/cart.go", 45, 2)),
        ("error[E0308]: --> src/cart.rs:10:5", NamedLine("src/cart.rs", 10, 2)),
        ("    at add (web/cart.js:1:2)", NamedLine("web/cart.js", 1, 2)),
        ("\tat shop.Cart.add(Cart.java:77)", NamedLine("Cart.java", 77, 1)),
        ("#0 /srv/app/Kernel.php(128): App\\Kernel->handle()", NamedLine("srv/app/Kernel.php", 128, 2)),
        ("Fatal error in /srv/app/Cart.php on line 7", NamedLine("srv/app/Cart.php", 7, 2)),
        ("see line 326 of astropy/wcs/fitswcs.py", NamedLine("astropy/wcs/fitswcs.py", 326, 2)),
        ("https://github.com/o/r/blob/main/lib/x/y.py#L1442-L1445", NamedLine("main/lib/x/y.py", 1442, 2)),
        ("https://bitbucket.org/o/r/src/main/y.py#lines-3", NamedLine("main/y.py", 3, 1)),
    ],
)
def test_the_lines_a_report_names_in_files_are_found(text: str, expected: NamedLine) -> None:
    assert named_lines(text) == (expected,)


@pytest.mark.parametrize(
    "text",
    ["at 10:30:22 it failed", "http://localhost:8080/cart", "https://github.com/o/r/blob/main/y.py", "cart.py: 12"],
)
def test_times_ports_links_without_a_line_and_loose_colons_name_no_line(text: str) -> None:
    assert named_lines(text) == ()


def test_named_lines_take_time_linear_in_the_text() -> None:
    started = time.perf_counter()
    named_lines("a/" * 200_000 + "x.py:1 " + "b.py:2 " * 100_000)
    assert time.perf_counter() - started < 5
