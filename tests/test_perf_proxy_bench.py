"""perf/proxy_bench.py on a real git history: which fix commits become instances, and their queries."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import git, git_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def proxy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("proxy_bench", ROOT / "perf" / "proxy_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").decode().strip()


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("proxy") / "work"
    work.mkdir()
    git(work, "init", "-q")
    shas = {
        "base": commit(
            work, "Initial import", {"cart/cart.go": "package cart\n", "cart/cart_test.go": "package cart\n"}
        )
    }
    shas["fix"] = commit(
        work,
        "cart: fix a crash when the cart is empty (#12)\n\nAdding to an empty cart dereferenced a nil map.\n\n"
        "Signed-off-by: Dev <dev@example.com>\n",
        {"cart/cart.go": "package cart\n\nfunc Add() {}\n", "cart/cart_test.go": "package cart\n\n// test\n"},
    )
    shas["docs"] = commit(
        work, "docs: fix the wording of the cart guide in the readme file", {"cart/cart.go": "package cart\n// x\n"}
    )
    shas["added"] = commit(
        work, "Fix checkout by adding a payment module for the cart", {"pay/pay.go": "package pay\n"}
    )
    shas["tests_only"] = commit(
        work, "Fix the flaky cart test that fails on slow machines", {"cart/cart_test.go": "package cart\n// y\n"}
    )
    root = work.parent / "mirrors"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(root / "acme+shop" / "repo")], check=True, env=git_env()
    )
    return root, shas


def test_only_a_fix_of_existing_sources_becomes_an_instance(
    proxy: ModuleType, mirror_root: tuple[Path, dict[str, str]]
) -> None:
    root, shas = mirror_root
    found = proxy.qualifying(root / "acme+shop" / "repo", proxy.EXTENSIONS["go"], min_history=1)
    assert [(sha, parent, gold) for sha, parent, _, gold in found] == [(shas["fix"], shas["base"], ["cart/cart.go"])]
    query = found[0][2]
    assert query.startswith("cart: fix a crash when the cart is empty")
    assert "#12" not in query and "Signed-off-by" not in query and "nil map" in query


def test_the_history_floor_keeps_early_commits_out(proxy: ModuleType, mirror_root: tuple[Path, dict[str, str]]) -> None:
    root, _ = mirror_root
    assert proxy.qualifying(root / "acme+shop" / "repo", proxy.EXTENSIONS["go"], min_history=2) == []


def test_rows_have_the_benchmark_format(mirror_root: tuple[Path, dict[str, str]]) -> None:
    root, shas = mirror_root
    out = subprocess.run(
        [sys.executable, str(ROOT / "perf" / "proxy_bench.py"), "--mirror-root", str(root), "--repo", "acme/shop=go",
         "--min-history", "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert row["repo"] == "acme/shop" and row["base_commit"] == shas["base"] and row["fix_commit"] == shas["fix"]
    assert (
        row["gold_files"] == ["cart/cart.go"]
        and row["language"] == "go"
        and row["id"] == f"acme__shop-{shas['fix'][:10]}"
    )
    assert "1 qualifying commits, 1 taken" in out.stderr


def test_evenly_spreads_over_the_list(proxy: ModuleType) -> None:
    assert proxy.evenly(list(range(10)), 3) == [0, 4, 9]  # round(4.5) is 4: Python rounds halves to even
    assert proxy.evenly([1, 2], 5) == [1, 2]


@pytest.mark.parametrize(
    ("language", "path", "source"),
    [
        ("ruby", "lib/sinatra/base.rb", True),
        ("ruby", "lib/sinatra/base_spec.rb", False),
        ("ruby", "spec/routing_spec.rb", False),
        ("typescript", "src/types.ts", True),
        ("typescript", "src/index.d.ts", False),
        ("typescript", "src/parse.test.ts", False),
        ("typescript", "src/__tests__/string.test.ts", False),
        ("php", "Slim/App.php", True),
        ("php", "tests/AppTest.php", False),
        ("kotlin", "moshi/src/main/java/com/squareup/moshi/Moshi.kt", True),
        ("kotlin", "moshi/src/main/java/com/squareup/moshi/MoshiTest.kt", False),
        ("javascript", "lib/router.js", True),
        ("javascript", "lib/router.test.js", False),
        ("python", "src/flask/cli.py", True),
        ("python", "sympy/core/tests/test_basic.py", False),
        ("python", "xarray/core/dataset_test.py", False),
        ("python", "src/conftest.py", False),
        ("python", "docs/conf.py", False),
        ("kotlin", "okio/src/jvmTest/kotlin/okio/TestUtil.kt", False),
        ("java", "app/src/androidTest/java/shop/ActivityRule.java", False),
        ("java", "test-shrinker/src/main/java/Main.java", False),
        ("java", "src/main/java/org/apache/commons/lang3/text/StrLookup.java", True),
        ("java", "src/main/java/com/squareup/javapoet/TypeSpec.java", True),
        ("csharp", "src/Polly.Core/Retry/RetryHelper.cs", True),
        ("csharp", "src/Polly.Specs/Caching/CacheSpecs.cs", False),
        ("csharp", "src/Newtonsoft.Json.Tests/Issues/Issue1962.cs", False),
        ("swift", "Source/Core/Session.swift", True),
        ("swift", "Tests/SessionTests.swift", False),
        ("scala", "core/src/main/scala/cats/Functor.scala", True),
        ("scala", "core/src/main/scala/cats/FunctorSuite.scala", False),
        ("dart", "pkgs/http/lib/src/client.dart", True),
        ("dart", "pkgs/http/lib/src/client_test.dart", False),
        ("elixir", "lib/ecto/changeset.ex", True),
        ("lua", "lua/telescope/pickers.lua", True),
        ("lua", "lua/telescope/pickers_spec.lua", False),
        ("haskell", "src/ShellCheck/Analytics.hs", True),
        ("haskell", "src/ShellCheck/AnalyticsSpec.hs", False),
        ("haskell", "test/Spec.hs", False),
        ("ocaml", "lib/Fmt_ast.ml", True),
        ("ocaml", "lib/Conf.mli", True),
        ("ocaml", "test/unit/test_fmt.ml", False),
        ("ocaml", "vendor/parser-standard/parser.ml", False),
        ("julia", "src/abstractdataframe/reshape.jl", True),
        ("julia", "runtests.jl", False),
        ("julia", "test/reshape.jl", False),
        ("r", "R/mutate.R", True),
        ("r", "R/translate-sql-base.r", True),
        ("r", "R/RcppExports.R", False),
        ("r", "tests/testthat/test-mutate.R", False),
        ("r", "inst/tinytest/test-mutate.R", False),
        ("perl", "lib/Mojo/Promise.pm", True),
        ("perl", "script/mojo.pl", True),
        ("perl", "t/mojolicious/lib/MojoliciousTest/Foo.pm", False),
        ("perl", "t/mojolicious/external/myapp.pl", False),
        ("perl", "xt/author/pod.pl", False),
        ("go", "internal/t/t.go", True),
        ("objc", "SDWebImage/Core/SDImageCache.m", True),
        ("objc", "SDWebImage/Core/SDImageCache.h", True),
        ("objc", "SDWebImage/Core/SDImageCacheTests.m", False),
        ("objc", "Tests/Tests/SDMockFileManager.h", False),
        ("c", "src/parser_tests.c", True),
        ("erlang", "src/cowboy_http.erl", True),
        ("erlang", "include/cowboy.hrl", True),
        ("erlang", "src/cowboy_http_SUITE.erl", False),
        ("erlang", "src/cowboy_router_tests.erl", False),
        ("clojure", "src/clj_kondo/impl/analyzer.clj", True),
        ("clojure", "src/clj_kondo/impl/analyzer_test.cljc", False),
        ("clojure", "corpus/inline_def.clj", False),
        ("python", "nltk/corpus/reader/api.py", True),
        ("zig", "src/analysis.zig", True),
        ("zig", "tests/lsp_features/completion.zig", False),
        ("groovy", "job-dsl-core/src/main/groovy/javaposse/jobdsl/dsl/Job.groovy", True),
        ("groovy", "job-dsl-core/src/main/groovy/javaposse/jobdsl/dsl/JobTest.groovy", False),
        ("groovy", "job-dsl-core/src/test/groovy/javaposse/jobdsl/dsl/JobSpec.groovy", False),
        ("groovy", "src/functionalTest/groovy/PluginSpec.groovy", False),
    ],
)
def test_sources_of_each_language_exclude_tests_and_declarations(
    proxy: ModuleType, language: str, path: str, source: bool
) -> None:
    assert proxy.is_source(path, proxy.EXTENSIONS[language]) is source


def test_the_query_drops_trailers_urls_and_issue_numbers(proxy: ModuleType) -> None:
    message = (
        "Fix padding overflow (#123)\n\nSee https://example.org/x for details.\n\n"
        "git-svn-id: https://svn.apache.org/repos/asf/commons/proper/lang/trunk@1 13f79535-47bb\n"
        "Signed-off-by: A Dev <a@example.org>\n"
    )
    assert proxy.query_of(message) == "Fix padding overflow\n\nSee  for details."
