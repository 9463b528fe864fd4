"""detect_language: names, extensions, shebangs; GRAMMAR_FOR names real grammars."""

from __future__ import annotations

import subprocess
import sys

import pytest

from atlas.parse.languages import GRAMMAR_FOR, detect_language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.py", "python"),
        ("stubs/mod.pyi", "python"),
        ("web/index.js", "javascript"),
        ("web/App.jsx", "javascript"),
        ("lib/x.mjs", "javascript"),
        ("lib/x.cjs", "javascript"),
        ("src/a.ts", "typescript"),
        ("src/a.mts", "typescript"),
        ("src/a.cts", "typescript"),
        ("src/App.tsx", "tsx"),
        ("cmd/main.go", "go"),
        ("src/lib.rs", "rust"),
        ("Main.java", "java"),
        ("ring.c", "c"),
        ("ring.h", "c"),
        ("shape.hpp", "cpp"),
        ("shape.hh", "cpp"),
        ("shape.cc", "cpp"),
        ("shape.cxx", "cpp"),
        ("shape.cpp", "cpp"),
        ("Stock.cs", "csharp"),
        ("job.rb", "ruby"),
        ("index.php", "php"),
        ("Main.kt", "kotlin"),
        ("build.gradle.kts", "kotlin"),
        ("Queue.swift", "swift"),
        ("Limits.scala", "scala"),
        ("deploy.sh", "bash"),
        ("deploy.bash", "bash"),
        ("README.md", "markdown"),
        ("docs/index.rst", "rst"),
        ("package.json", "json"),
        (".github/workflows/ci.yml", "yaml"),
        ("config.yaml", "yaml"),
        ("pyproject.toml", "toml"),
        ("page.html", "html"),
        ("style.css", "css"),
        ("pom.xml", "xml"),
        ("schema.sql", "sql"),
        ("notes.txt", "text"),
        ("SRC/APP.PY", "python"),
        ("data.unknownext", "other"),
        ("noextension", "other"),
    ],
)
def test_by_extension(path: str, language: str) -> None:
    assert detect_language(path, b"") == language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("Makefile", "make"),
        ("sub/GNUmakefile", "make"),
        ("rules.mk", "make"),
        ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.prod", "dockerfile"),
        ("CMakeLists.txt", "cmake"),
        ("cmake/FindFoo.cmake", "cmake"),
        ("Gemfile", "ruby"),
        ("Rakefile", "ruby"),
        ("BUILD", "starlark"),
        ("pkg/BUILD.bazel", "starlark"),
        ("go.mod", "gomod"),
        ("requirements.txt", "text"),
        ("setup.py.in", "python"),
    ],
)
def test_well_known_file_names(path: str, language: str) -> None:
    assert detect_language(path, b"") == language


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (b"#!/usr/bin/env python3\nprint(1)\n", "python"),
        (b"#!/usr/bin/python3.11 -u\n", "python"),
        (b"#!/bin/bash\nset -e\n", "bash"),
        (b"#!/bin/sh\n", "bash"),
        (b"#!/usr/bin/env -S bash -eu\n", "bash"),
        (b"#! /usr/bin/env zsh\n", "bash"),
        (b"#!/usr/bin/env ruby\n", "ruby"),
        (b"#!/usr/bin/env node\n", "javascript"),
        (b"#!/usr/bin/perl -w\n", "perl"),
        (b"#!/usr/bin/env php\n", "php"),
        (b"#!/usr/bin/env FOO=1 python\n", "python"),
        (b"#!/usr/bin/env\n", "other"),
        (b"#!/opt/weird/interpreter\n", "other"),
        (b"no shebang here\n", "other"),
        (b"", "other"),
        (b"\xff\xfe#!/bin/sh\n", "other"),
    ],
)
def test_shebang(head: bytes, language: str) -> None:
    assert detect_language("bin/tool", head) == language


def test_name_wins_over_shebang() -> None:
    assert detect_language("tool.py", b"#!/bin/sh\n") == "python"


def test_grammar_for_covers_the_parsed_languages() -> None:
    from tree_sitter_language_pack import get_language

    assert set(GRAMMAR_FOR) == {
        "python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp",
        "csharp", "ruby", "php", "kotlin", "swift", "scala", "bash", "dart", "elixir", "lua", "haskell", "ocaml",
        "ocaml_interface", "julia", "r", "perl", "objc", "matlab", "erlang", "clojure", "zig", "groovy",
        "solidity", "fsharp", "fortran", "powershell", "nim", "cuda", "protobuf", "graphql",
    }
    for grammar in GRAMMAR_FOR.values():
        assert get_language(grammar) is not None  # type: ignore[arg-type]


def test_importing_languages_does_not_load_tree_sitter() -> None:
    code = "import sys, atlas.parse.languages; print('tree_sitter' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (b"//\n//  SDImageCache.m\n", "objc"),
        (b"/* Copyright */\n#import <Foundation/Foundation.h>\n", "objc"),
        (b"\n\n#import \"A.h\"\n", "objc"),
        (b"@implementation A\n@end\n", "objc"),
        (b"", "objc"),
        (b"function y = smooth(x)\n% SMOOTH\n", "matlab"),
        (b"% a script\nx = 1;\n", "matlab"),
        (b"classdef Widget < handle\n", "matlab"),
        (b"  \n\tx = zeros(3);\n", "matlab"),
    ],
)
def test_dot_m_is_objective_c_or_matlab_by_its_first_line(head: bytes, language: str) -> None:
    assert detect_language("src/A.m", head) == language
    assert detect_language("src/A.mm", head) == "objc"


def test_ocaml_interfaces_have_their_own_grammar() -> None:
    assert detect_language("lib/widget.mli", b"") == "ocaml_interface"
    assert detect_language("lib/widget.ml", b"") == "ocaml"


LICENCE = b"/*\n" + b" * Licensed under the Apache License; see LICENSE for the classes of use.\n" * 20 + b" */\n"


@pytest.mark.parametrize(
    ("head", "language"),
    [
        (b"#pragma once\n#include <string>\nnamespace ui {\nclass Widget;\n}\n", "cpp"),
        (LICENCE + b"#include <vector>\n\ntemplate <typename T>\nstruct Box { T value; };\n", "cpp"),
        (b"#ifndef W_H\n#define W_H\nclass Widget : public Base {\n public:\n  void Render();\n};\n#endif\n", "cpp"),
        (b"#include <cstddef>\nstd::size_t count(const char* s);\n", "cpp"),
        (b"#include \"fmt/format.h\"\nFMT_BEGIN_NAMESPACE\nenum class emphasis : uint8_t { bold = 1 };\n", "cpp"),
        (LICENCE + b"#include <cstddef>\n#include <memory>\n", "cpp"),
        (b"#import <Foundation/Foundation.h>\n@interface Widget : NSObject\n@end\n", "objc"),
        (b"@protocol Drawing\n- (void)draw;\n@end\n", "objc"),
        (b"#ifndef PLAIN_H\n#define PLAIN_H\ntypedef struct node { int v; } node_t;\nint add(int a, int b);\n#endif\n",
         "c"),
        # C headers that only mention C++ in comments, or guard for it, stay C
        (LICENCE + b"#ifdef __cplusplus\nextern \"C\" {\n#endif\nint add(int a, int b);\n", "c"),
        (b"/* a class of devices; the public: API below */\nstruct dev;\n", "c"),
        (b"#include <stdio.h>\n#include <linux/types.h>\n#include \"list.h\"\nenum color { RED };\n", "c"),
        (b"", "c"),
    ],
)
def test_a_dot_h_header_is_c_cpp_or_objective_c_by_its_first_bytes(head: bytes, language: str) -> None:
    assert detect_language("include/widget.h", head) == language
    assert detect_language("include/widget.hpp", head) == "cpp"
