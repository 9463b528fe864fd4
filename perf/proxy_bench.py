"""A retrieval benchmark in other languages, made from fix commits: the commit's message is the query, the
source files it modified are the gold files, the tree is the commit's parent with its history.

    python perf/proxy_bench.py --mirror-root /work/.mirror [--per-repo 30] [--repo owner/name=language ...] > B.jsonl
    EVAL_TREES=T MIRROR_ROOT=/work/.mirror python perf/fit.py ../shared/eval/dev-large.jsonl ../shared/eval/dev.jsonl \
        --history --check B.jsonl

The rows have the format of `shared/eval/dev.jsonl` (plus `language` and `fix_commit`), so `perf/fit.py --check`
and `perf/quality.py` score them with `shared/eval/checkout.sh` trees. It is a proxy: a commit message is
shorter and more technical than an issue and resembles the history the git signals mine, so its figures say
whether a change holds up in other languages and repositories, not what an issue tracker would see.

Deterministic: per repository, the qualifying commits (newest first, at least MIN_HISTORY commits before them)
are listed and `--per-repo` of them taken evenly spaced over the list. A commit qualifies when it has one
parent, cites an issue or starts with a fix word, and modifies 1-4 existing source files of the repository's
language that are not tests (and adds, removes or renames none). Issue numbers, URLs and trailers are removed
from the query, which must keep MIN_WORDS words.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

EXTENSIONS = {
    "go": (".go",), "rust": (".rs",), "java": (".java",), "javascript": (".js", ".mjs", ".cjs"),
    "c": (".c", ".h"), "cpp": (".cc", ".cpp", ".cxx", ".h", ".hpp"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"), "ruby": (".rb",), "php": (".php",), "kotlin": (".kt",),
    "python": (".py", ".pyi"), "csharp": (".cs",), "swift": (".swift",), "scala": (".scala",), "dart": (".dart",),
    "elixir": (".ex",), "lua": (".lua",), "haskell": (".hs",), "ocaml": (".ml", ".mli"), "julia": (".jl",),
    "r": (".R", ".r"), "perl": (".pm", ".pl"), "objc": (".m", ".h"), "erlang": (".erl", ".hrl"),
    "clojure": (".clj", ".cljs", ".cljc"), "zig": (".zig",), "groovy": (".groovy",),
    "vue": (".vue", ".js", ".ts"), "svelte": (".svelte", ".js", ".ts"), "solidity": (".sol",),
    "fsharp": (".fs", ".fsi"), "fortran": (".f90", ".F90", ".f", ".F", ".f95"), "powershell": (".ps1", ".psm1"),
    "nim": (".nim",), "hcl": (".tf",),
}  # fmt: skip
"""A component project's sources are its components and the scripts beside them."""
DEFAULT_REPOS = ("gin-gonic/gin=go", "BurntSushi/ripgrep=rust", "google/gson=java", "expressjs/express=javascript",
                 "jqlang/jq=c", "fmtlib/fmt=cpp")  # fmt: skip
MIN_HISTORY = 150
MIN_WORDS = 8
MAX_GOLD = 4
TEST_DIRS = frozenset({"test", "tests", "tst", "testing", "spec", "specs", "__tests__", "testdata", "fixtures",
                       "test-data", "benches", "bench", "benchmarks", "benchsuite", "examples", "example",
                       "fuzz"})  # fmt: skip
OTHER_DIRS = frozenset({"vendor", "vendored", "third_party", "thirdparty", "deps", "node_modules", "modules", "doc",
                        "docs", "support", ".github", "build", "scripts", "ci"})  # fmt: skip
TEST_NAME = re.compile(
    r"_test\.go$|Tests?\.(java|kt|php|cs|swift|scala|m|groovy)$|IT\.(java|kt|groovy)$|(Spec|Suite)\.scala$|"
    r"Spec\.hs$|\.(test|spec)\.[mc]?[jt]sx?$|^test_|[_-]test\.(c|cc|cpp|h|rs|rb|py|dart)$|_test\.exs$|"
    r"_spec\.(rb|lua)$|\.Tests\.ps1$|^conftest\.py$|_(SUITE|tests)\.erl$|_test\.clj[cs]?$|^runtests\.jl$|^test-.+\.[Rr]$"
)
"""Among them: JUnit, XCTest (Swift and Objective-C) and PHPUnit `FooTest(s)`, Hspec `FooSpec.hs` (a Spock or
ScalaTest `FooSpec` lives in a test directory), Common Test `foo_SUITE.erl` and EUnit `foo_tests.erl`, clojure.test
`foo_test.clj`, Julia's `runtests.jl`, testthat and tinytest `test-foo.R`."""
TEST_SOURCE_SET = re.compile(
    r"[a-z0-9]Tests?$|[._-][Tt]ests?$|^[Tt]est(?:[A-Z]|-)|[a-z0-9]Specs$|[._-][Ss]pecs$"
    r"|^(?i:unit|integration|functional|acceptance|system|regression|smoke|end2end|component)tests$"
)
"""`jvmTest`, `androidTest`, `testFixtures`, `Shop.Tests`, `Shop.Specs`, `integration_tests`, `integrationtests`,
`test-jpms` (as
atlas.parse.roles)."""
LANGUAGE_TEST_DIRS = (
    ((".pm", ".pl", ".t"), frozenset({"t", "xt"})), ((".clj", ".cljs", ".cljc"), frozenset({"corpus"})),
)  # fmt: skip
"""Test directories of one language's files only: Perl's `t/` (`t/basic.t`, `t/lib/Helper.pm`) and `xt/`, and the
linted `corpus/` of a Clojure linter (clj-kondo); another language's `t` or `corpus` can be its code (`nltk/corpus`)."""
GENERATED_NAME = re.compile(r"^RcppExports\.R$")
"""Written by `Rcpp::compileAttributes()`."""
TRAILER = re.compile(
    r"^\s*(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|suggested-by|helped-by|cc|"
    r"change-id|pr-url|pr|closes|close|fixes|fix|resolves|ref|refs|see|issue|git-svn-id)\s*:.*$", re.I | re.M,
)  # fmt: skip
URL = re.compile(r"https?://\S+|\bwww\.\S+")
ISSUE_NUMBER = re.compile(r"(?<![\w&])(?:[\w.-]+/[\w.-]+)?#\d+\b|\bGH-\d+\b", re.I)
CITES_ISSUE = re.compile(r"(?<![\w&])#\d+\b|github\.com/\S+/(issues|pull)/\d+|\bGH-\d+\b", re.I)
FIX_SUBJECT = re.compile(r"^\s*(?:[\w./-]+:\s*)?(fix|fixes|fixed|fixing|bug|bugfix|handles?|handling|supports?|"
                         r"corrects?|prevent|avoid)\b", re.I)  # fmt: skip
OTHER_SUBJECT = re.compile(r"^\s*(docs?|chore|refactor|style|ci|build|tests?|release|bump|revert|merge|version)\b\s*"
                           r"[(:!]|^\s*(revert|merge|release|bump|update version|prepare)\b", re.I)  # fmt: skip
LEFTOVER = re.compile(
    r"^\s*((fixes|fixed|closes|closed|close|fix|pr|ref|refs|see|resolves|and)[\s,.:;]*)+$", re.I | re.M
)


def is_test(path: str) -> bool:
    """Whether `path` is a test, a fixture, an example or a benchmark."""
    directories = path.split("/")[:-1]
    return (
        bool(TEST_DIRS.intersection(d.lower() for d in directories))
        or any(TEST_SOURCE_SET.search(d) for d in directories)
        or bool(TEST_NAME.search(path.rsplit("/", 1)[-1]))
        or any(path.endswith(files) and not dirs.isdisjoint(directories) for files, dirs in LANGUAGE_TEST_DIRS)
    )


def is_source(path: str, extensions: tuple[str, ...]) -> bool:
    """Whether `path` is a project source file of the language (not a test, vendored, docs, build or generated)."""
    if not path.endswith(extensions) or path.endswith(".d.ts"):  # a declaration file is no implementation
        return False
    if GENERATED_NAME.search(path.rsplit("/", 1)[-1]):
        return False
    return not OTHER_DIRS.intersection(path.lower().split("/")[:-1]) and not is_test(path)


def query_of(message: str) -> str:
    """The commit message without trailers, URLs and issue numbers."""
    text = ISSUE_NUMBER.sub("", URL.sub("", TRAILER.sub("", message)))
    text = LEFTOVER.sub("", re.sub(r"\(\s*\)", "", text))
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip()


def commits(git_dir: Path) -> Iterator[tuple[str, list[str], str, list[tuple[str, str]]]]:
    """(sha, parents, message, [(status, path)]) of every non-merge commit of HEAD, newest first."""
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "log", "--no-merges", "--no-renames", "--name-status", "-z",
         "--format=%x01%H%x02%P%x02%B%x03", "HEAD"],
        capture_output=True, text=True, errors="replace", check=True,
    ).stdout  # fmt: skip
    for chunk in out.split("\x01")[1:]:
        head, _, listing = chunk.partition("\x03")
        sha, parents, message = head.split("\x02", 2)
        fields = [f.lstrip("\n") for f in listing.strip("\n\x00").split("\x00") if f]
        yield sha, parents.split(), message, list(zip(fields[0::2], fields[1::2], strict=False))


def qualifying(
    git_dir: Path, extensions: tuple[str, ...], min_history: int = MIN_HISTORY
) -> list[tuple[str, str, str, list[str]]]:
    """(fix commit, parent, query, gold files) of every qualifying commit, newest first."""
    history = list(commits(git_dir))
    found = []
    for position, (sha, parents, message, changes) in enumerate(history):
        sources = [(status, path) for status, path in changes if is_source(path, extensions)]
        subject = message.strip().partition("\n")[0]
        if (
            len(parents) != 1 or len(history) - position - 1 < min_history or not sources
            or any(status != "M" for status, _ in sources) or len(sources) > MAX_GOLD
            or OTHER_SUBJECT.search(subject) or not (CITES_ISSUE.search(message) or FIX_SUBJECT.search(subject))
        ):  # fmt: skip
            continue
        query = query_of(message)
        if len(re.findall(r"[A-Za-z]{2,}", query)) >= MIN_WORDS:
            found.append((sha, parents[0], query, sorted(path for _, path in sources)))
    return found


def evenly(items: list, count: int) -> list:
    """`count` items spread evenly over `items` (all of them when there are fewer)."""
    if len(items) <= count:
        return items
    return [items[i] for i in sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})]


def main() -> None:
    """Command-line entry point: the benchmark's rows on stdout, a line per repository on stderr."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror-root", type=Path, required=True, help="holds <owner>+<name>/repo git directories")
    parser.add_argument("--repo", action="append", metavar="OWNER/NAME=LANGUAGE", help=f"default: {DEFAULT_REPOS}")
    parser.add_argument("--per-repo", type=int, default=30)
    parser.add_argument("--min-history", type=int, default=MIN_HISTORY, help="commits a fix needs before it")
    args = parser.parse_args()
    for spec in args.repo or DEFAULT_REPOS:
        repo, _, language = spec.partition("=")
        found = qualifying(args.mirror_root / repo.replace("/", "+") / "repo", EXTENSIONS[language], args.min_history)
        picked = evenly(found, args.per_repo)
        print(f"{repo} ({language}): {len(found)} qualifying commits, {len(picked)} taken", file=sys.stderr)
        for sha, parent, query, gold in picked:
            row = {"id": f"{repo.replace('/', '__')}-{sha[:10]}", "repo": repo, "base_commit": parent, "query": query,
                   "gold_files": gold, "language": language, "fix_commit": sha}  # fmt: skip
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")


if __name__ == "__main__":
    main()
