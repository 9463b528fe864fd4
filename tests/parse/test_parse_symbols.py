"""extract() on one realistic fixture per language: key definitions with their lines, exact imports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas.parse.languages import GRAMMAR_FOR
from atlas.parse.symbols import ExtractionError, extract, load_query_source
from atlas.records import Symbol

FIXTURES = Path(__file__).parent / "fixtures"

# (language, fixture file, key symbols as (name, kind, start_line, end_line), exact imports)
CASES: list[tuple[str, str, list[tuple[str, str, int, int]], list[str]]] = [
    (
        "python",
        "python/sample.py",
        [
            ("MAX_ENTRIES", "constant", 11, 11),
            ("default_ttl", "variable", 12, 12),
            ("LRUCache", "class", 15, 35),
            ("__init__", "method", 20, 22),
            ("size", "method", 24, 26),  # the decorator line counts
            ("Stats", "class", 34, 35),
            ("make_cache", "function", 38, 42),
            ("_clamp", "function", 39, 40),
            ("warm", "function", 45, 48),
        ],
        ["os", "collections.abc", "typing.Any", "typing.Optional", ".helpers", "..pkg.mod.loader", ".util"],
    ),
    (
        "javascript",
        "javascript/sample.js",
        [
            ("MAX_LISTENERS", "constant", 8, 8),
            ("EventBus", "class", 10, 25),
            ("on", "method", 16, 20),
            ("create", "method", 22, 24),
            ("emit", "function", 27, 31),
            ("format", "function", 33, 35),
            ("loadPlugin", "function", 37, 40),
        ],
        ["react", "./utils/timing", "../styles/bus.css", "./helper", "path", "./plugins/loader"],
    ),
    (
        "typescript",
        "typescript/sample.ts",
        [
            ("Repository", "interface", 6, 9),
            ("UserId", "type", 11, 11),
            ("Role", "enum", 13, 16),
            ("UserRepository", "class", 19, 29),
            ("find", "method", 22, 24),
            ("area", "method", 32, 32),
            ("createRepository", "function", 35, 37),
            ("Validation", "module", 39, 41),
            ("isAdmin", "function", 43, 43),
        ],
        ["@angular/core", "./models/user", "../db"],
    ),
    (
        "tsx",
        "tsx/sample.tsx",
        [
            ("CounterProps", "interface", 5, 8),
            ("Theme", "type", 10, 10),
            ("Counter", "function", 12, 20),
            ("Panel", "class", 22, 26),
            ("render", "method", 23, 25),
            ("Badge", "function", 28, 28),
        ],
        ["react", "./components/Button"],
    ),
    (
        "go",
        "go/sample.go",
        [
            ("MaxKeys", "constant", 13, 13),
            ("ErrNotFound", "variable", 15, 15),
            ("Key", "type", 17, 17),
            ("Store", "struct", 20, 23),
            ("Getter", "interface", 26, 28),
            ("New", "function", 31, 33),
            ("Get", "method", 36, 45),
        ],
        ["errors", "fmt", "github.com/sirupsen/logrus", "sync"],
    ),
    (
        "rust",
        "rust/sample.rs",
        [
            ("MAX_TOKENS", "constant", 9, 9),
            ("Token", "struct", 13, 16),
            ("Kind", "enum", 18, 21),
            ("Visitor", "trait", 23, 25),
            ("visit", "method", 24, 24),
            ("Table", "type", 27, 27),
            ("new", "method", 30, 32),
            ("token", "macro", 39, 43),
            ("tokenize", "function", 45, 47),
            ("tests", "module", 49, 51),
        ],
        [
            "mod:lexer",
            "mod:span",
            "std::collections::HashMap",
            "crate::span::Span",
            "crate::span::Position",
            "super::errors::Error",
            "self::lexer",
            "super",
        ],
    ),
    (
        "java",
        "java/sample.java",
        [
            ("OrderService", "class", 9, 28),
            ("MAX_ORDERS", "constant", 10, 10),
            ("OrderService", "method", 13, 14),
            ("add", "method", 16, 18),
            ("Status", "enum", 24, 27),
            ("Service", "interface", 30, 32),
            ("Order", "class", 34, 34),
            ("Audited", "interface", 36, 38),
        ],
        ["java.util.ArrayList", "java.util.List", "com.example.common.*", "org.junit.Assert"],
    ),
    (
        "c",
        "c/sample.c",
        [
            ("RING_CAPACITY", "macro", 6, 6),
            ("RING_MASK", "macro", 7, 7),
            ("ring", "struct", 9, 13),
            ("ring_t", "type", 9, 13),
            ("ring_state", "enum", 15, 18),
            ("ring_count", "variable", 25, 25),
            ("ring_push", "function", 27, 31),
            ("ring_peek", "function", 33, 36),
            ("ring_size", "function", 38, 38),
        ],
        ["<stdio.h>", "<stdlib.h>", "ring/buffer.h"],
    ),
    (
        "cpp",
        "cpp/sample.cpp",
        [
            ("geo", "module", 6, 42),
            ("Shape", "class", 10, 14),
            ("~Shape", "method", 12, 12),
            ("area", "method", 13, 13),
            ("Circle", "method", 18, 18),
            ("Box", "struct", 25, 27),
            ("clamp", "function", 30, 32),
            ("perimeter", "method", 34, 36),
            ("Color", "enum", 38, 38),
            ("ShapeList", "type", 40, 40),
        ],
        ["<vector>", "<memory>", "geometry/point.hpp"],
    ),
    (
        "csharp",
        "csharp/sample.cs",
        [
            ("Shop.Inventory", "module", 7, 38),
            ("IStock", "interface", 9, 12),
            ("Unit", "enum", 14, 14),
            ("Money", "struct", 16, 19),
            ("Stock", "class", 21, 33),
            ("Count", "method", 27, 30),
            ("Item", "class", 35, 35),
        ],
        ["System", "System.Collections.Generic", "System.Math", "Newtonsoft.Json"],
    ),
    (
        "ruby",
        "ruby/sample.rb",
        [
            ("Jobs", "module", 6, 28),
            ("MAX_RETRIES", "constant", 7, 7),
            ("Queue", "class", 9, 23),
            ("initialize", "method", 12, 14),
            ("default", "method", 20, 22),
            ("enqueue", "method", 25, 27),
            ("log_job", "function", 30, 32),
        ],
        ["json", "net/http", "./queue/worker"],
    ),
    (
        "php",
        "php/sample.php",
        [
            ("VERSION", "constant", 10, 10),
            ("Renderable", "interface", 12, 15),
            ("Greets", "trait", 17, 23),
            ("UserController", "class", 25, 37),
            ("__construct", "method", 29, 31),
            ("Status", "enum", 39, 42),
            ("helper", "function", 44, 47),
        ],
        ["App\\Models\\User", "Psr\\Log\\LoggerInterface", "vendor/autoload.php", "helpers.php"],
    ),
    (
        "kotlin",
        "kotlin/sample.kt",
        [
            ("TIMEOUT_MS", "constant", 8, 8),
            ("Clock", "interface", 10, 12),
            ("Session", "class", 14, 14),
            ("State", "enum", 16, 16),
            ("SessionManager", "class", 18, 35),
            ("expire", "method", 27, 30),
            ("create", "method", 33, 33),
            ("SystemClock", "class", 37, 39),
            ("Sessions", "type", 41, 41),
            ("describe", "function", 43, 43),
        ],
        ["kotlinx.coroutines.delay", "java.time.Instant", "com.example.auth.*"],
    ),
    (
        "swift",
        "swift/sample.swift",
        [
            ("maxConcurrent", "variable", 5, 5),
            ("Downloadable", "interface", 7, 10),
            ("Download", "struct", 12, 18),
            ("start", "method", 15, 17),
            ("Priority", "enum", 20, 22),
            ("DownloadQueue", "class", 24, 32),
            ("init", "method", 27, 27),
            ("drain", "method", 35, 37),
            ("Queue", "type", 40, 40),
            ("makeQueue", "function", 42, 44),
        ],
        ["Foundation", "UIKit"],
    ),
    (
        "scala",
        "scala/sample.scala",
        [
            ("Limiter", "trait", 8, 10),
            ("Window", "class", 12, 12),
            ("FixedWindow", "class", 14, 22),
            ("allow", "method", 17, 21),
            ("FixedWindow", "class", 24, 27),
            ("apply", "method", 26, 26),
            ("helper", "function", 29, 29),
        ],
        [
            "scala.concurrent.duration.*",
            "java.time.Instant",
            "com.example.metrics.Counter",
            "com.example.metrics.Gauge",
        ],
    ),
    (
        "bash",
        "bash/sample.sh",
        [
            ("DEPLOY_ENV", "constant", 8, 8),
            ("log", "function", 10, 12),
            ("build_image", "function", 14, 16),
            ("main", "function", 18, 21),
        ],
        ["./lib/common.sh", "$HOME/.deployrc"],
    ),
    (
        "dart",
        "dart/sample.dart",
        [
            ("RetryClient", "class", 5, 16),
            ("send", "method", 10, 13),  # the signature and its body, sibling nodes
            ("attempts", "method", 15, 15),
            ("Backoff", "enum", 18, 18),
            ("Logging", "class", 20, 24),
            ("log", "method", 21, 23),
            ("Predicate", "type", 26, 26),
            ("isTransient", "function", 28, 30),
        ],
        ["package:http/http.dart", "src/base_client.dart"],
    ),
    (
        "elixir",
        "elixir/sample.ex",
        [
            ("Shop.Cart", "module", 1, 21),
            ("add", "function", 8, 10),
            ("total", "function", 12, 12),  # a guard: `def total(cart) when ...`
            ("prices", "function", 14, 16),
            ("with_cart", "function", 18, 20),
            ("Shop.Priced", "module", 23, 25),
            ("price", "function", 24, 24),
        ],
        ["Shop.Item", "Ecto.Query"],
    ),
    (
        "lua",
        "lua/sample.lua",
        [
            ("clamp", "function", 5, 7),
            ("add", "function", 9, 11),
            ("total", "method", 13, 15),
            ("reset", "function", 17, 19),
        ],
        ["shop.utils"],
    ),
    (
        "haskell",
        "haskell/Widget.hs",
        [
            ("Widget", "type", 5, 5),
            ("Id", "type", 6, 6),
            ("Name", "type", 7, 7),
            ("Shape", "class", 8, 9),
            ("area", "method", 9, 9),
            ("render", "function", 13, 14),  # the signature and the equation, one definition
            ("helper", "function", 16, 18),
        ],
        ["Data.Map", "Data.List"],
    ),
    (
        "ocaml",
        "ocaml/widget.ml",
        [
            ("Widget", "module", 2, 6),
            ("t", "type", 3, 3),
            ("create", "function", 4, 4),
            ("SHAPE", "interface", 7, 9),
            ("Bad_input", "class", 10, 10),
            ("fib", "function", 11, 11),
            ("helper", "function", 12, 12),  # `let rec fib ... and helper`
            ("limit", "variable", 13, 13),
            ("counter", "class", 14, 17),
            ("incr", "method", 16, 16),
            ("color", "type", 18, 18),
        ],
        [],
    ),
    (
        "ocaml_interface",
        "ocaml_interface/widget.mli",
        [("t", "type", 1, 1), ("create", "function", 2, 2), ("Sub", "module", 4, 6), ("x", "function", 5, 5)],
        [],
    ),
    (
        "julia",
        "julia/frames.jl",
        [
            ("Frames", "module", 1, 25),
            ("AbstractFrame", "type", 6, 6),
            ("DataFrame", "struct", 7, 9),
            ("Index", "struct", 10, 12),
            ("nrow", "function", 13, 15),
            ("show", "function", 16, 16),  # `Base.show(io, df) = ...`
            ("ncol", "function", 17, 17),
            ("check", "macro", 18, 20),
            ("LIMIT", "constant", 21, 21),
            ("length", "function", 22, 24),
        ],
        ["utils.jl"],
    ),
    (
        "r",
        "r/filter.R",
        [
            ("filter_rows", "function", 4, 6),
            ("summarise_all", "function", 7, 7),
            ("MAX_ROWS", "constant", 8, 8),
            ("Widget", "variable", 12, 14),
        ],
        ["utils.R"],
    ),
    (
        "perl",
        "perl/Widget.pm",
        [
            ("Mojo::Widget", "module", 1, 1),
            ("new", "function", 7, 10),
            ("_render", "function", 11, 11),
            ("Mojo::Other", "module", 12, 14),
            ("inner", "function", 13, 13),
        ],
        ["strict", "Mojo::Base", "constant", "Carp"],
    ),
    (
        "objc",
        "objc/SDImageCache.m",
        [
            ("SDImageCache", "class", 3, 6),
            ("SDImageCache", "class", 7, 15),
            ("initWithNamespace", "method", 8, 10),  # the selector's first part
            ("sharedImageCache", "method", 11, 13),
            ("helper", "function", 16, 16),
            ("SDWebImageOperation", "interface", 18, 20),
            ("cancel", "method", 19, 19),
        ],
        ["SDImageCache.h", "<Foundation/Foundation.h>"],
    ),
    (
        "matlab",
        "matlab/Widget.m",
        [("Widget", "class", 1, 13), ("Widget", "method", 6, 8), ("render", "method", 9, 11)],
        [],
    ),
    (
        "erlang",
        "erlang/cowboy_req.erl",
        [
            ("cowboy_req", "module", 1, 1),
            ("state", "struct", 4, 4),
            ("TIMEOUT", "macro", 5, 5),
            ("req", "type", 6, 6),
            ("method", "function", 7, 7),
            ("parse_qs", "function", 8, 10),  # two clauses, one definition
        ],
        ["cowboy.hrl"],
    ),
    (
        "clojure",
        "clojure/analyzer.clj",
        [
            ("clj-kondo.impl.analyzer", "module", 1, 3),
            ("max-depth", "variable", 5, 5),
            ("helper", "function", 6, 6),
            ("analyze-expression", "function", 7, 10),
            ("with-ctx", "macro", 11, 11),
            ("Shape", "interface", 12, 12),
            ("Circle", "class", 13, 13),
            ("dispatch", "function", 14, 14),
            ("dispatch", "method", 15, 15),
        ],
        ["clojure.string", "clj-kondo.impl.utils"],
    ),
    (
        "zig",
        "zig/server.zig",
        [
            ("Server", "struct", 3, 9),
            ("init", "method", 5, 7),
            ("helper", "method", 8, 8),
            ("Mode", "struct", 10, 10),
            ("main", "function", 11, 11),
        ],
        ["std", "analysis.zig"],
    ),
    (
        "groovy",
        "groovy/JobParent.groovy",
        [
            ("JobParent", "class", 8, 22),
            ("freeStyleJob", "method", 15, 17),
            ("processItem", "method", 19, 21),
            ("DslFactory", "interface", 24, 26),
            ("Mode", "enum", 28, 28),
            ("Named", "trait", 30, 32),
            ("describe", "method", 31, 31),
            ("helper", "function", 34, 36),
        ],
        ["javaposse.jobdsl.dsl.helpers.ScmContext", "java.util.Collections", "groovy.transform.*", "=NAME", "=Item",
         "=FAST", "=SLOW"],
    ),
    (
        "solidity",
        "solidity/ERC20.sol",
        [
            ("IVotes", "interface", 7, 9),
            ("getVotes", "method", 8, 8),
            ("SafeCast", "module", 11, 13),
            ("ERC20", "class", 15, 26),
            ("ERC20InsufficientBalance", "type", 16, 16),
            ("Transfer", "type", 17, 17),
            ("Checkpoint", "struct", 18, 18),
            ("Rounding", "enum", 19, 19),
            ("_totalSupply", "variable", 20, 20),
            ("onlyOwner", "method", 21, 21),
            ("transfer", "method", 23, 25),
            ("freeFunction", "function", 28, 28),
        ],
        ["./IERC20.sol", "../utils/Context.sol"],
    ),
    (
        "fsharp",
        "fsharp/Resolver.fs",
        [
            ("Paket.Resolver", "module", 1, 34),
            ("PackageName", "type", 7, 7),
            ("Resolved", "struct", 14, 17),
            ("DependencyCache", "class", 19, 24),
            ("Resolve", "method", 22, 23),
            ("Create", "method", 24, 24),
            ("helper", "function", 26, 26),
            ("Nested", "module", 31, 32),
            ("inner", "function", 32, 32),
            ("ConflictException", "class", 34, 34),
        ],
        [],
    ),
    (
        "fortran",
        "fortran/fpm_targets.f90",
        [
            ("fpm_targets", "module", 1, 32),
            ("build_target_t", "type", 10, 14),
            ("add_target", "interface", 16, 18),
            ("targets_from_sources", "function", 22, 25),
            ("get_name", "function", 27, 30),
            ("main", "module", 34, 37),
            ("fpm_targets_impl", "module", 39, 40),
        ],
        ["fpm_error", "fpm_strings", "fpm_targets"],
    ),
    (
        "powershell",
        "powershell/Mock.ps1",
        [
            ("New-Mock", "function", 4, 11),
            ("Get-Inner", "function", 10, 10),
            ("Select-Thing", "function", 13, 13),
            ("MockObject", "class", 15, 20),
            ("Invoke", "method", 18, 18),
            ("MockKind", "enum", 22, 22),
        ],
        ["./Pester.Utility.ps1", "./Pester.psd1"],
    ),
    (
        "nim",
        "nim/options.nim",
        [
            ("Options", "class", 8, 9),
            ("ActionType", "enum", 10, 11),
            ("nimbleVersion", "constant", 14, 14),
            ("defaultDir", "variable", 15, 15),
            ("parseCmdLine", "function", 17, 18),
            ("run", "method", 22, 22),
            ("withDir", "macro", 26, 26),
        ],
        ["std/os", "std/strutils", "options", "nimblepkg/version", "nimblepkg/tools", "./common", "packageinfo",
         "helpers.nim"],
    ),    (
        "cuda",
        "cuda/add.cu",
        [
            ("ops", "module", 4, 22),
            ("add_kernel", "function", 7, 10),
            ("square", "function", 12, 12),
            ("Launcher", "struct", 14, 16),
            ("launch", "method", 18, 20),
        ],
        ["kernels.cuh", "<cuda_runtime.h>"],
    ),
    (
        "protobuf",
        "protobuf/billing.proto",
        [
            ("Invoice", "struct", 7, 11),
            ("Line", "struct", 9, 9),
            ("Status", "enum", 10, 10),
            ("BillingService", "interface", 13, 15),
            ("CreateInvoice", "method", 14, 14),
        ],
        ["google/protobuf/timestamp.proto", "acme/common/money.proto"],
    ),
    (
        "graphql",
        "graphql/schema.graphql",
        [
            ("Query", "class", 1, 3),
            ("invoice", "method", 2, 2),
            ("Node", "interface", 7, 7),
            ("Status", "enum", 8, 8),
            ("InvoiceFilter", "struct", 9, 9),
            ("SearchResult", "type", 11, 11),
            ("me", "method", 12, 12),
            ("InvoiceParts", "function", 14, 14),
            ("GetInvoice", "function", 15, 15),
        ],
        [],
    ),
]


def _extract_fixture(language: str, relative: str) -> tuple[list[Symbol], list[str]]:
    return extract(language, (FIXTURES / relative).read_bytes())


def test_every_grammar_language_has_a_case() -> None:
    assert sorted(case[0] for case in CASES) == sorted(GRAMMAR_FOR)


@pytest.mark.parametrize(("language", "relative", "expected", "imports"), CASES, ids=[c[0] for c in CASES])
def test_fixture_symbols(
    language: str, relative: str, expected: list[tuple[str, str, int, int]], imports: list[str]
) -> None:
    symbols, _ = _extract_fixture(language, relative)
    found = {(s.name, s.kind, s.start_line, s.end_line) for s in symbols}
    missing = [item for item in expected if item not in found]
    assert not missing, f"missing {missing}; found {sorted(found, key=lambda s: s[2])}"


@pytest.mark.parametrize(("language", "relative", "expected", "imports"), CASES, ids=[c[0] for c in CASES])
def test_fixture_imports(
    language: str, relative: str, expected: list[tuple[str, str, int, int]], imports: list[str]
) -> None:
    _, found = _extract_fixture(language, relative)
    assert found == imports


@pytest.mark.parametrize(("language", "relative"), [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES])
def test_symbols_are_sorted_unique_and_inside_the_file(language: str, relative: str) -> None:
    source = (FIXTURES / relative).read_bytes()
    symbols, _ = extract(language, source)
    line_count = source.count(b"\n") + 1
    assert symbols == sorted(symbols, key=lambda s: (s.start_line, s.end_line, s.name, s.kind))
    assert len(set(symbols)) == len(symbols)
    for symbol in symbols:
        assert 1 <= symbol.start_line <= symbol.end_line <= line_count
        assert symbol.name and symbol.name == symbol.name.strip()


@pytest.mark.parametrize("language", sorted(GRAMMAR_FOR))
def test_queries_use_no_text_predicates(language: str) -> None:
    # Text predicates crash py-tree-sitter 0.26 on trees parsed through a read callback.
    lines = [line for line in load_query_source(language).splitlines() if not line.lstrip().startswith(";")]
    assert not re.search(r"\(#[a-z-]+[?!]", "\n".join(lines))


def test_language_without_grammar_gives_nothing() -> None:
    assert extract("markdown", b"# Title\n\nsome text\n") == ([], [])
    assert extract("other", b"\x00\x01") == ([], [])


def test_empty_source() -> None:
    for language in GRAMMAR_FOR:
        assert extract(language, b"") == ([], [])


@pytest.mark.parametrize(
    ("language", "source", "imports"),
    [
        (
            "python",
            b"import a, b.c as d\nfrom . import (x, y as z)\nfrom .. import w\n",
            ["a", "b.c", ".x", ".y", "..w"],
        ),
        ("python", b"from __future__ import annotations\nfrom . mod import q\n", [".mod.q"]),
        (
            "rust",
            b"use a::{self, b::{c, d as e}, f::*};\nuse ::std::fmt;\npub use crate::x::Y;\n",
            ["a", "a::b::c", "a::b::d", "a::f", "::std::fmt", "crate::x::Y"],
        ),
        ("rust", b"mod inline { fn f() {} }\nmod declared;\n", ["mod:declared"]),
        (
            "javascript",
            b"export * from 'star';\nimport x, {y} from 'z';\nconsole.log('no');\nfoo.require('no');\n",
            ["star", "z"],
        ),
        ("typescript", b"import fs = require('fs');\nexport type { T } from './types';\n", ["fs", "./types"]),
        ("go", b"package x\nimport `raw/path`\nimport _ \"side/effect\"\n", ["raw/path", "side/effect"]),
        ("java", b"import static a.b.C.*;\nimport static a.b.C.m;\nimport a.b.C.D;\n", ["a.b.C", "a.b.C.D"]),
        ("csharp", b"global using System.Linq;\nusing X = A.B;\n", ["System.Linq", "A.B"]),
        # A C# file names types, not files: the capitalised ones it uses become `=Name` (not System's, not its own).
        (
            "csharp",
            b"using Acme.Utilities;\nnamespace Acme {\nclass Cart : BaseCart, IOwner<Buyer> {\n"
            b"  Engine engine = new Engine(); string s; Cart next; List<Line> lines;\n"
            b"  [Obsolete] [Audited] object Total(Price p) { return MathUtils.Sum(p, (Money)p); }\n}}\n",
            ["Acme.Utilities", "=BaseCart", "=IOwner", "=Buyer", "=Engine", "=Line", "=Audited", "=Price", "=MathUtils",
             "=Money"],
        ),
        ("kotlin", b"import a.b.C as D\nimport e.f.*\n", ["a.b.C", "e.f.*"]),
        # A class of the file's own package needs no import: the names it uses become `=Name`, but not one
        # imported by name, defined in the file, from java.lang / kotlin.*, or lower-case (a variable's call).
        (
            "java",
            b"package a;\nimport b.Imported;\nclass Part extends Base implements Imported {\n"
            b"  Engine engine; Mode m = Mode.FAST; String s; Part next;\n"
            b"  int n() { return Util.count(engine) + helper.size(); }\n}\n",
            ["b.Imported", "=Base", "=Engine", "=Mode", "=Util"],
        ),
        (
            "kotlin",
            b"package a\nimport b.Imported\nclass View : Base() {\n  val e = Engine()\n  val m = Mode.FAST\n"
            b"  fun f(p: Part, i: Imported): String? = helper()\n}\n",
            ["b.Imported", "=Base", "=Engine", "=Mode", "=Part"],
        ),
        ("scala", b"import a.b.{C => D, E, _}\nimport x.y.z, p.q\n", ["a.b.C", "a.b.E", "a.b.*", "x.y.z", "p.q"]),
        ("swift", b"import struct Foo.Bar\n@testable import Qux\n", ["Foo.Bar", "Qux"]),
        # A Swift module's files see each other's types: the capitalised ones used become `=Name`.
        (
            "swift",
            b"import Foundation\nclass Session: BaseSession {\n  var adapter: RequestAdapter?\n"
            b"  func run(_ url: URL) -> DataRequest { let e = AFError.cancelled; return DataRequest(url) }\n}\n",
            ["Foundation", "=BaseSession", "=RequestAdapter", "=DataRequest", "=AFError"],
        ),
        (
            "elixir",
            b"defmodule A do\n  alias Ecto.{Query, Changeset}\n  use Phoenix.Controller\n  defstruct B.x\nend\n",
            ["Ecto.Query", "Ecto.Changeset", "Phoenix.Controller"],
        ),
        ("lua", b'local a = require "a.b"\nlocal c = require("c")\nprint("d")\nload("e")\n', ["a.b", "c"]),
        (
            "dart",
            b"import 'dart:io';\nexport 'src/x.dart' show X;\npart 'y.dart';\n",
            ["dart:io", "src/x.dart", "y.dart"],
        ),
        (
            "php",
            b"<?php\nuse A\\B\\{C, D\\E as F};\nuse \\X\\Y;\nrequire(\"y.php\");\n",
            ["A\\B\\C", "A\\B\\D\\E", "X\\Y", "y.php"],
        ),
        (
            "ruby",
            b"require File.expand_path('x')\nrequire \"#{d}/y\"\nload 'z.rb'\nrequire_relative '../up'\nputs 'hi'\n",
            ["z.rb", "../up"],
        ),
        ("bash", b"source a.sh b\n. ./x.sh\necho source\n", ["a.sh", "./x.sh"]),
        (
            "bash",
            b'source "$(dirname "$0")/lib.sh"\n. `dirname $0`/x.sh\nsource $(dirname "$0")/../y.sh\n. "$D/z.sh"\n',
            ["./lib.sh", "./x.sh", "../y.sh", "$D/z.sh"],
        ),
        ("cpp", b"#include MACRO\n#include <a/b.h>\n", ["<a/b.h>"]),
        # An alias reads as a name the file uses: `=D` finds an edge only if a D.groovy sits beside the file.
        ("groovy", b"import static a.B.*\nimport a.C as D\n", ["a.B", "a.C", "=D"]),
        ("nim", b"import a/b as c, d\nimport \"x/y\"\n", ["a/b", "d", "x/y"]),
        (
            "powershell",
            b". $PSScriptRoot\\Functions\\Get-X.ps1\n. .\\y.ps1\n& \"${PSScriptRoot}/../z.ps1\"\n"
            b"Import-Module -Name $PSScriptRoot/M.psm1\nImport-Module Pester\nGet-Item x\n",
            ["./Functions/Get-X.ps1", "./y.ps1", "./../z.ps1", "./M.psm1"],
        ),
    ],
)
def test_import_forms(language: str, source: bytes, imports: list[str]) -> None:
    assert extract(language, source)[1] == imports


def test_elixir_calls_that_do_not_define_are_no_definitions() -> None:
    source = b"defmodule A do\n  alias B.C\n  import D\n  use E\n  foo(bar)\n  def run(x), do: x\nend\n"
    symbols, _ = extract("elixir", source)
    assert [(s.name, s.kind) for s in symbols] == [("A", "module"), ("run", "function")]


@pytest.mark.parametrize(
    ("language", "relative", "expected", "imports"),
    [
        ("vue", "vue/CartButton.vue", [("CartItem", "interface", 9, 11), ("addItem", "function", 13, 15)],
         ["vue", "../utils/price"]),
        ("svelte", "svelte/Counter.svelte", [("start", "variable", 5, 5), ("increment", "function", 7, 9)],
         ["svelte", "./Button.svelte"]),
    ],
    ids=["vue", "svelte"],
)  # fmt: skip
def test_a_components_scripts_are_parsed_at_their_lines(
    language: str, relative: str, expected: list[tuple[str, str, int, int]], imports: list[str]
) -> None:
    symbols, found = _extract_fixture(language, relative)
    assert [(s.name, s.kind, s.start_line, s.end_line) for s in symbols] == expected
    assert found == imports


def test_a_component_without_a_script_defines_nothing() -> None:
    assert extract("vue", b"<template><p>hi</p></template>\n") == ([], [])
    assert extract("svelte", b"<script src='x.js'></script>\n<p>hi</p>\n") == ([], [])


def test_clojure_requires_are_the_namespaces_of_its_libspecs() -> None:
    source = b"(ns a (:require clojure.set [b.c-d :refer [x]]) (:import (java.util Date)))\n(defn f [m] (:k m))\n"
    assert extract("clojure", source)[1] == ["clojure.set", "b.c-d"]


def test_clojure_forms_that_do_not_define_are_no_definitions() -> None:
    symbols, _ = extract("clojure", b"(declare analyze)\n(helper expr)\n(defn- run [x] (str x))\n")
    assert [(s.name, s.kind) for s in symbols] == [("run", "function")]


def test_clauses_join_only_when_they_follow_each_other() -> None:
    source = b"f :: Int -> Int\nf 0 = 1\nf n = n\n\ng = 2\n\n\n\nf 9 = 3\n"
    symbols, _ = extract("haskell", source)
    assert [(s.name, s.start_line, s.end_line) for s in symbols] == [("f", 1, 3), ("g", 5, 5), ("f", 9, 9)]
    erlang = b"a(1) -> 1;\na(_) -> 0.\n\n\n\nb() -> a(2).\n"
    assert [(s.name, s.start_line, s.end_line) for s in extract("erlang", erlang)[0]] == [("a", 1, 2), ("b", 6, 6)]


def test_kinds_of_nested_definitions() -> None:
    source = b"class A:\n    def m(self):\n        def inner():\n            pass\n\ndef f():\n    pass\n"
    symbols, _ = extract("python", source)
    assert [(s.name, s.kind) for s in symbols] == [("A", "class"), ("m", "method"), ("inner", "function"),
                                                   ("f", "function")]


def test_cpp_specialisation_is_named_by_its_template() -> None:
    source = b"template <typename T>\nstruct Box<T*> {\n  T* p;\n};\nclass Vec<bool> {};\n"
    symbols, _ = extract("cpp", source)
    assert [(s.name, s.kind, s.start_line, s.end_line) for s in symbols] == [
        ("Box", "struct", 2, 4),
        ("Vec", "class", 5, 5),
    ]


def test_typescript_ambient_module_name_loses_its_quotes() -> None:
    symbols, _ = extract("typescript", b"declare module 'foo' {\n  export function f(): void;\n}\n")
    assert [(s.name, s.kind) for s in symbols] == [("foo", "module"), ("f", "function")]


def test_timeout_raises_extraction_error_and_the_parser_recovers() -> None:
    pathological = b"[{(" * 20000 + b")}]" * 20000  # minutes of error recovery for the Scala grammar
    with pytest.raises(ExtractionError, match="gave up"):
        extract("scala", pathological, timeout_s=0.05)
    symbols, _ = extract("scala", b"object A { def f = 1 }\n")
    assert [(s.name, s.kind) for s in symbols] == [("A", "class"), ("f", "method")]


def test_groovy_blocks_that_are_expressions_or_calls_are_no_definitions() -> None:
    source = (
        b"class A {\n  def run() {\n    return new Item(1) { }\n  }\n  def other() { throw make(2) { } }\n}\n"
        b"job('seed') {\n  steps { shell('make') }\n}\n"
    )
    symbols, _ = extract("groovy", source)
    assert [(s.name, s.kind) for s in symbols] == [("A", "class"), ("run", "method"), ("other", "method")]
