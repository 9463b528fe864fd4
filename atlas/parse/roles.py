"""File roles from the path (and the first bytes): impl, test, config, docs, generated, build, other.

Cheap and deterministic; runs in the parse workers so the role is an indexed field.
"""

from __future__ import annotations

import re

from atlas.records import Role

CODE_LANGUAGES = frozenset(
    {
        "python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "csharp",
        "ruby", "php", "kotlin", "swift", "scala", "bash", "perl", "lua", "r", "dart", "elixir",
        "erlang", "haskell", "ocaml", "ocaml_interface", "clojure", "julia", "objc", "matlab", "zig", "nim", "sql",
        "protobuf", "graphql", "groovy", "solidity", "fortran", "cuda", "powershell", "fsharp", "vue", "svelte",
        # Without a grammar here (no symbols), but a project's sources all the same.
        "thrift", "avro", "capnp", "flatbuffers", "astro", "hcl", "nix", "assembly", "cython", "batch", "awk", "tcl",
        "elm", "vbnet", "verilog", "vhdl", "shader", "coffeescript", "crystal", "racket", "lisp", "template",
        "starlark",
    }
)  # fmt: skip
DOC_LANGUAGES = frozenset({"markdown", "rst", "text", "asciidoc", "tex", "org"})
CONFIG_LANGUAGES = frozenset({"json", "yaml", "toml", "ini", "xml", "properties"})

_TEST_DIRS = frozenset(
    {"test", "tests", "tst", "t", "__tests__", "spec", "specs", "testing", "testdata", "e2e", "__mocks__",
     "testutil", "testutils", "test_util", "test_utils", "testhelpers", "test_helpers", "testsupport", "test_support"}
)  # fmt: skip
"""`t` is where Perl distributions and git keep their tests (`t/basic.t`, `t/t0001-init.sh`)."""
# Directories named as a test source set or project: `jvmTest`, `androidTest`, `testFixtures` (Gradle, Kotlin
# Multiplatform), `Shop.Tests`, `Shop.Specs`, `Shop.SharedSpecs` (.NET), `integration_tests`, `integrationtests`,
# `unittests`, `test-jpms`; not `_pytest`, `unittest`, `test_state`.
_TEST_DIR_NAME = re.compile(
    r"[a-z0-9]Tests?$|[._-][Tt]ests?$|^[Tt]est(?:[A-Z]|-)|[a-z0-9]Specs$|[._-][Ss]pecs$"
    r"|^(?i:unit|integration|functional|acceptance|system|regression|smoke|end2end|component)tests$"
)
_DOC_DIRS = frozenset({"doc", "docs", "documentation", "man"})
# A file named `…Spec` is no test by its name alone: JavaPoet's `TypeSpec.java` and Kubernetes' `V1PodSpec.java`
# are the project's code, and Spock, ScalaTest, Kotest and Quick specs live in test directories.
_TEST_NAME = re.compile(
    r"(^test_.*|.*_test|.*_tests|.*\.test|.*\.spec|.*Test|.*Tests|^conftest"
    r"|^(?i:test_?utils?|test_?helpers?|test_?support)|.*_testutils?)\.[A-Za-z0-9]+$"
)
"""Test files, and the helpers only tests use: Rust's `testutil.rs`, Java's `TestUtils.java`, Go's `x_testutil.go`."""
_GENERATED_NAME = re.compile(
    r".*(_pb2\.py|_pb2_grpc\.py|\.pb\.go|\.pb\.cc|\.pb\.h|\.min\.js|\.min\.css|\.generated\.\w+|\.g\.dart"
    r"|\.designer\.cs|\.min\.mjs|[.-]bundle\.m?js|\.umd\.js|\.chunk\.js|\.bundle\.css)$"
    r"|^.*amalgamation.*\.[ch]$"
)
# Build output committed to the repository: a bundle in `dist/` is generated from the sources beside it.
_BUNDLE_DIRS = frozenset({"dist", "bundle", "bundles"})
_BUNDLE_LANGUAGES = frozenset({"javascript", "typescript", "css"})
_LOCKFILES = frozenset(
    {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock", "Pipfile.lock",
     "go.sum", "composer.lock", "Gemfile.lock", "uv.lock"}
)  # fmt: skip
_BUILD_NAMES = frozenset(
    {"Makefile", "makefile", "GNUmakefile", "CMakeLists.txt", "setup.py", "setup.cfg", "pyproject.toml",
     "BUILD", "BUILD.bazel", "WORKSPACE", "Dockerfile", "Cargo.toml", "go.mod", "pom.xml",
     "build.gradle", "build.gradle.kts", "settings.gradle", "meson.build", "Kbuild", "Kconfig",
     "package.json", "tox.ini", "noxfile.py", "Rakefile", "Gemfile", "configure.ac", "Makefile.am", "configure",
     "gradlew", "gradlew.bat", "mvnw", "mvnw.cmd"}
)  # fmt: skip
_BUILD_SCRIPT = re.compile(r"^(?:build\.(?:sh|bash|ps1|psm1|cmd|bat|cake|fsx)|make\.(?:bat|cmd))$", re.IGNORECASE)
"""A project's build script (`build.ps1`, `build.cake`, `build.fsx`, `build.sh`, Sphinx's `make.bat`), unless a test or
documentation directory holds it: a release touches it every time, which made it a hub of recency."""
_DOC_NAMES = re.compile(r"^(README|CHANGELOG|CHANGES|HISTORY|NEWS|LICENSE|COPYING|AUTHORS|CONTRIBUTING)\b", re.I)
_GENERATED_MARK = re.compile(rb"@generated|Code generated .* DO NOT EDIT|auto-?generated", re.I)


def classify(path: str, language: str, head: bytes = b"") -> Role:
    """Return the role of the file at repository path `path` written in `language`."""
    name = path.rsplit("/", 1)[-1]
    directories = path.split("/")[:-1]
    if name in _LOCKFILES or _GENERATED_NAME.match(name) or _GENERATED_MARK.search(head[:512]):
        return Role.GENERATED
    if language in _BUNDLE_LANGUAGES and any(d in _BUNDLE_DIRS for d in directories):
        return Role.GENERATED
    if name in _BUILD_NAMES or name.endswith((".mk", ".cmake", ".bzl", ".gradle")):
        return Role.BUILD
    if _TEST_NAME.match(name) or any(d.lower() in _TEST_DIRS or _TEST_DIR_NAME.search(d) for d in directories):
        return Role.TEST
    if language in DOC_LANGUAGES or _DOC_NAMES.match(name) or any(d in _DOC_DIRS for d in directories):
        return Role.DOCS
    if language in CONFIG_LANGUAGES or name.startswith(".") or name.endswith((".cfg", ".conf", ".env")):
        return Role.CONFIG
    if _BUILD_SCRIPT.match(name):
        return Role.BUILD
    if language in CODE_LANGUAGES:
        return Role.IMPL
    return Role.OTHER
