"""Import resolution per language, PageRank against networkx, in-degree, CSR neighbours, speed."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    import scipy  # noqa: F401  (networkx.pagerank needs it)

    _nx_pagerank = nx.pagerank
except ImportError:  # the same algorithm in pure Python, which networkx keeps as its reference
    from networkx.algorithms.link_analysis.pagerank_alg import _pagerank_python as _nx_pagerank

from atlas.records import SAME_PACKAGE
from atlas.signals.graph import MAX_IMPORT_FANOUT, ImportGraph, build_import_graph, in_degree, neighbours, pagerank
from tests.conftest import write_tree

# ---------------------------------------------------------------------------------------------
# Resolution


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# One file set holding every language's layout; each case adds one import to one file of it.
REPO = _words("""
src/pkg/__init__.py src/pkg/mod.py src/pkg/both.py src/pkg/both/__init__.py src/pkg/stub.pyi
src/pkg/sub/__init__.py src/pkg/sub/deep.py src/pkg/sub/leaf.py
services/api/core/__init__.py services/api/core/db.py
tools/run.py tools/helper.py lib/libmod.py
web/src/app.ts web/src/util.ts web/src/types.d.ts web/src/legacy.mjs web/src/lib/esm.ts
web/src/components/index.tsx web/src/components/Button.jsx src/alias/thing.ts
apps/site/package.json apps/site/app/page.tsx apps/site/components/nav.tsx apps/site/src/lib/db.ts
packages/core/package.json packages/core/src/index.ts packages/core/src/v2/index.ts packages/core/src/util.ts
packages/ui/package.json packages/ui/index.js
go.mod root.go cmd/server/main.go cmd/other/main.go pkg/util/strings.go pkg/util/numbers.go
pkg/util/strings_test.go pkg/errors/wrap.go vendor/github.com/spf13/cobra/command.go
Cargo.toml src/lib.rs src/main.rs src/config.rs src/util.rs src/net/mod.rs src/net/tcp.rs
src/net/tcp/stream.rs src/bin/tool.rs src/bin/helper.rs tests/integration.rs tests/common/mod.rs
app/src/main/java/com/acme/App.java app/src/main/java/com/acme/core/Engine.java
app/src/main/java/com/acme/core/Part.java app/src/main/kotlin/com/acme/ui/View.kt
app/src/main/kotlin/com/acme/ui/Theme.kt app/src/main/scala/com/acme/calc/Calc.scala
include/linux/list.h src/net/sock.c src/net/sock.h src/util.h lib/util.h tools/x.cpp
cs/Acme/Services/Mailer.cs cs/Acme/Services/Queue.cs cs/Acme/Program.cs Src/Shop.Core/Orders/Cart.cs
lib/acme.rb lib/acme/widget.rb spec/spec_helper.rb spec/acme_spec.rb
index.php includes/db.php src/Models/User.php src/Http/Controller.php
scripts/build.sh scripts/lib/common.sh env.sh Sources/App/main.swift Sources/App/Session.swift
pkgs/http/pubspec.yaml pkgs/http/lib/http.dart pkgs/http/lib/src/client.dart pkgs/http/lib/src/io_client.dart
pubspec.yaml lib/app.dart lib/src/util.dart
lib/shop/cart.ex lib/shop/http_client.ex apps/billing/lib/billing/invoice.ex
lua/telescope/init.lua lua/telescope/utils.lua lua/telescope/builtin/init.lua
src/ShellCheck/Analytics.hs src/ShellCheck/AST.hs shellcheck.hs
lib/Mojo/Base.pm lib/Mojo/UserAgent.pm src/frames.jl src/utils.jl R/filter.R R/utils.R
src/server.zig src/analysis.zig src/cowboy_req.erl src/cowboy.hrl include/cowboy_stream.hrl
src/clj_kondo/impl/analyzer.clj src/clj_kondo/impl/utils.clj src/clj_kondo/hooks.cljc
web/src/components/Cart.vue web/src/components/Counter.svelte
src/main/groovy/javaposse/jobdsl/dsl/JobParent.groovy src/main/groovy/javaposse/jobdsl/dsl/helpers/ScmContext.groovy
contracts/token/ERC20/ERC20.sol contracts/token/ERC20/IERC20.sol contracts/utils/Context.sol
src/fpm_targets.f90 src/fpm/manifest/package.f90 src/functions/Mock.ps1 src/Pester.Utility.ps1
src/nimble.nim src/nimblepkg/options.nim src/nimblepkg/common.nim csrc/add.cu csrc/kernels.cuh
proto/acme/billing/v1/billing.proto proto/acme/common/money.proto
""")

# Imports every case graph carries besides the case's own (Go module paths are learnt from them).
BACKGROUND = {"cmd/other/main.go": ("go", ["github.com/acme/app/pkg/util"])}

ENGINE = "app/src/main/java/com/acme/core/Engine.java"
PART = "app/src/main/java/com/acme/core/Part.java"
APP_JAVA = "app/src/main/java/com/acme/App.java"

CASES: list[tuple[str, str, str, str | tuple[str, ...] | None]] = [
    # Python: src/ layout, packages vs modules, longest prefix, relative levels.
    ("python", "src/pkg/mod.py", "pkg.sub.deep", "src/pkg/sub/deep.py"),
    ("python", "src/pkg/mod.py", "pkg.sub", "src/pkg/sub/__init__.py"),
    ("python", "src/pkg/mod.py", "pkg.sub.deep.func", "src/pkg/sub/deep.py"),
    ("python", "src/pkg/mod.py", "pkg.sub.name_in_init", "src/pkg/sub/__init__.py"),
    ("python", "src/pkg/mod.py", "pkg.both", "src/pkg/both/__init__.py"),
    ("python", "src/pkg/mod.py", "pkg.stub", "src/pkg/stub.pyi"),
    ("python", "src/pkg/mod.py", "pkg.missing.name", None),
    ("python", "src/pkg/sub/deep.py", ".leaf", "src/pkg/sub/leaf.py"),
    ("python", "src/pkg/sub/deep.py", ".name_in_init", "src/pkg/sub/__init__.py"),
    ("python", "src/pkg/sub/deep.py", "..mod", "src/pkg/mod.py"),
    ("python", "src/pkg/sub/deep.py", "..mod.func", "src/pkg/mod.py"),
    ("python", "src/pkg/sub/deep.py", "..sub.leaf.f", "src/pkg/sub/leaf.py"),
    ("python", "src/pkg/__init__.py", ".mod", "src/pkg/mod.py"),
    ("python", "src/pkg/sub/leaf.py", "...nothing", None),
    ("python", "src/pkg/sub/leaf.py", ".....escapes", None),
    ("python", "services/api/core/db.py", "core", "services/api/core/__init__.py"),
    ("python", "tools/run.py", "core.db", "services/api/core/db.py"),
    ("python", "tools/run.py", "helper", "tools/helper.py"),
    ("python", "tools/run.py", "libmod", "lib/libmod.py"),
    ("python", "tools/run.py", "src.pkg.mod", "src/pkg/mod.py"),
    ("python", "src/pkg/mod.py", "numpy.linalg", None),
    ("python", "src/pkg/mod.py", "os", None),
    # JavaScript / TypeScript: extensions, index files, ESM `.js` → `.ts`, aliases, packages.
    ("typescript", "web/src/app.ts", "./util", "web/src/util.ts"),
    ("typescript", "web/src/app.ts", "./components", "web/src/components/index.tsx"),
    ("typescript", "web/src/app.ts", "./types", "web/src/types.d.ts"),
    ("typescript", "web/src/app.ts", "./lib/esm.js", "web/src/lib/esm.ts"),
    ("javascript", "web/src/app.ts", "./legacy.mjs", "web/src/legacy.mjs"),
    ("tsx", "web/src/components/index.tsx", "./Button", "web/src/components/Button.jsx"),
    ("javascript", "web/src/components/Button.jsx", "../util", "web/src/util.ts"),
    ("javascript", "web/src/components/Button.jsx", "..", None),
    ("typescript", "web/src/app.ts", "@/alias/thing", "src/alias/thing.ts"),
    # `@/x` from the nearest directory above the importer that has it (a monorepo app's own root).
    ("tsx", "apps/site/app/page.tsx", "@/components/nav", "apps/site/components/nav.tsx"),
    ("tsx", "apps/site/app/page.tsx", "@/lib/db", "apps/site/src/lib/db.ts"),
    ("tsx", "apps/site/app/page.tsx", "~/alias/thing", "src/alias/thing.ts"),
    ("tsx", "apps/site/app/page.tsx", "@/missing", None),
    # Workspace packages: a directory of the package's name holding a package.json.
    ("tsx", "apps/site/app/page.tsx", "core", "packages/core/src/index.ts"),
    ("tsx", "apps/site/app/page.tsx", "core/v2", "packages/core/src/v2/index.ts"),
    ("typescript", "web/src/app.ts", "@acme/core/util", "packages/core/src/util.ts"),
    ("javascript", "web/src/app.ts", "ui", "packages/ui/index.js"),
    ("typescript", "web/src/app.ts", "core/absent", None),
    ("typescript", "web/src/app.ts", "core/../ui", None),
    ("typescript", "web/src/app.ts", "react", None),
    ("typescript", "web/src/app.ts", "@scope/pkg/sub", None),
    ("typescript", "web/src/app.ts", "@", None),
    ("typescript", "web/src/app.ts", "../../../outside", None),
    # Go: package directories (no _test.go), learnt module path, vendor, standard library.
    ("go", "cmd/server/main.go", "github.com/acme/app/pkg/util", ("pkg/util/numbers.go", "pkg/util/strings.go")),
    ("go", "cmd/server/main.go", "github.com/acme/app", ("root.go",)),
    ("go", "cmd/server/main.go", "github.com/acme/app/pkg/gone", None),
    ("go", "cmd/server/main.go", "github.com/spf13/cobra", ("vendor/github.com/spf13/cobra/command.go",)),
    ("go", "cmd/server/main.go", "example.org/elsewhere/pkg/errors", ("pkg/errors/wrap.go",)),
    ("go", "cmd/server/main.go", "errors", None),
    ("go", "cmd/server/main.go", "net/http", None),
    # Rust: mod declarations, crate paths, super/self, local modules, other crates.
    ("rust", "src/lib.rs", "mod:config", "src/config.rs"),
    ("rust", "src/lib.rs", "mod:net", "src/net/mod.rs"),
    ("rust", "src/net/mod.rs", "mod:tcp", "src/net/tcp.rs"),
    ("rust", "src/net/tcp.rs", "mod:stream", "src/net/tcp/stream.rs"),
    ("rust", "src/bin/tool.rs", "mod:helper", "src/bin/helper.rs"),
    ("rust", "tests/integration.rs", "mod:common", "tests/common/mod.rs"),
    ("rust", "src/main.rs", "crate::net::tcp::Listener", "src/net/tcp.rs"),
    ("rust", "src/util.rs", "crate::config::Settings", "src/config.rs"),
    ("rust", "src/util.rs", "crate::Thing", "src/lib.rs"),
    ("rust", "src/net/tcp.rs", "super::helpers", "src/net/mod.rs"),
    ("rust", "src/net/tcp/stream.rs", "super::super::Addr", "src/net/mod.rs"),
    ("rust", "src/net/tcp/stream.rs", "super::super::super::config::X", "src/config.rs"),
    ("rust", "src/net/mod.rs", "self::tcp::Conn", "src/net/tcp.rs"),
    ("rust", "src/lib.rs", "config::Settings", "src/config.rs"),
    ("rust", "src/lib.rs", "std::collections::HashMap", None),
    ("rust", "src/lib.rs", "mod:absent", None),
    # Java / Kotlin / Scala: suffix match, nested names, wildcards, the JDK.
    ("java", APP_JAVA, "com.acme.core.Engine", ENGINE),
    ("java", APP_JAVA, "com.acme.core.Engine.Inner", ENGINE),
    ("java", APP_JAVA, "com.acme.ui.View", "app/src/main/kotlin/com/acme/ui/View.kt"),
    ("kotlin", "app/src/main/kotlin/com/acme/ui/View.kt", "com.acme.core.Engine", ENGINE),
    ("java", APP_JAVA, "com.acme.core.*", (ENGINE, PART)),
    ("scala", "app/src/main/scala/com/acme/calc/Calc.scala", "com.acme.core._", (ENGINE, PART)),
    ("java", APP_JAVA, "java.util.List", None),
    # A class of the importer's own package (`=Name`, from atlas.parse): the file of that name beside it.
    ("java", ENGINE, "=Part", PART),
    ("kotlin", "app/src/main/kotlin/com/acme/ui/View.kt", "=Theme", "app/src/main/kotlin/com/acme/ui/Theme.kt"),
    # C / C++: includer's directory, nearest suffix match, angle includes, ambiguity.
    ("c", "src/net/sock.c", "sock.h", "src/net/sock.h"),
    ("c", "src/net/sock.c", "../util.h", "src/util.h"),
    ("c", "src/net/sock.c", "util.h", "src/util.h"),
    ("cpp", "src/net/sock.c", "net/sock.h", "src/net/sock.h"),
    ("c", "src/net/sock.c", "<linux/list.h>", "include/linux/list.h"),
    ("c", "src/net/sock.c", "<stdio.h>", None),
    ("cpp", "tools/x.cpp", "util.h", None),
    # C#: namespace → folder convention.
    ("csharp", "cs/Acme/Program.cs", "Acme.Services", None),  # a namespace: its types the file names are the edges
    ("csharp", "cs/Acme/Program.cs", SAME_PACKAGE + "Mailer", "cs/Acme/Services/Mailer.cs"),
    ("csharp", "cs/Acme/Program.cs", SAME_PACKAGE + "Console", None),
    ("csharp", "cs/Acme/Program.cs", "Shop.Core.Orders.Cart", "Src/Shop.Core/Orders/Cart.cs"),  # a project folder
    ("csharp", "cs/Acme/Program.cs", "Company.Acme.Services.Mailer", "cs/Acme/Services/Mailer.cs"),
    ("csharp", "cs/Acme/Program.cs", "System.Text", None),
    # Ruby, PHP, Bash.
    ("ruby", "lib/acme.rb", "acme/widget", "lib/acme/widget.rb"),
    ("ruby", "lib/acme.rb", "./acme/widget", "lib/acme/widget.rb"),
    ("ruby", "spec/acme_spec.rb", "spec_helper", "spec/spec_helper.rb"),
    ("ruby", "spec/acme_spec.rb", "json", None),
    ("php", "src/Http/Controller.php", "App\\Models\\User", "src/Models/User.php"),
    ("php", "index.php", "includes/db.php", "includes/db.php"),
    ("php", "includes/db.php", "../index.php", "index.php"),
    ("php", "src/Http/Controller.php", "/../Models/User.php", "src/Models/User.php"),
    ("php", "index.php", "Symfony\\Component\\HttpKernel", None),
    ("bash", "scripts/build.sh", "lib/common.sh", "scripts/lib/common.sh"),
    ("bash", "scripts/build.sh", "$DIR/lib/common.sh", "scripts/lib/common.sh"),
    ("bash", "scripts/build.sh", "${BASH_SOURCE%/*}/lib/common.sh", "scripts/lib/common.sh"),
    ("bash", "scripts/build.sh", '$(cd "$(dirname "$0")" && pwd)"/lib/common.sh', "scripts/lib/common.sh"),
    ("bash", "scripts/build.sh", "./lib/common.sh", "scripts/lib/common.sh"),
    ("bash", "scripts/build.sh", "$HOME/.deployrc", None),
    ("bash", "scripts/build.sh", "lib/$NAME.sh", None),
    ("bash", "scripts/build.sh", "env.sh", "env.sh"),
    ("bash", "scripts/build.sh", "/etc/profile", None),
    # Dart: package URIs by the package's directory or the root package's lib/, relative URIs, SDK libraries.
    ("dart", "pkgs/http/lib/src/io_client.dart", "package:http/src/client.dart", "pkgs/http/lib/src/client.dart"),
    ("dart", "pkgs/http/lib/http.dart", "src/client.dart", "pkgs/http/lib/src/client.dart"),
    ("dart", "lib/app.dart", "package:app/src/util.dart", "lib/src/util.dart"),
    ("dart", "lib/app.dart", "dart:async", None),
    ("dart", "lib/app.dart", "package:flutter/material.dart", None),
    # Elixir: module names to Mix's snake-case files, umbrella apps too; Elixir's own modules find nothing.
    ("elixir", "lib/shop/cart.ex", "Shop.HTTPClient", "lib/shop/http_client.ex"),
    ("elixir", "lib/shop/cart.ex", "Billing.Invoice", "apps/billing/lib/billing/invoice.ex"),
    ("elixir", "lib/shop/cart.ex", "Logger", None),
    # Lua: `package.path`'s a/b.lua and a/b/init.lua.
    ("lua", "lua/telescope/init.lua", "telescope.utils", "lua/telescope/utils.lua"),
    ("lua", "lua/telescope/utils.lua", "telescope.builtin", "lua/telescope/builtin/init.lua"),
    ("lua", "lua/telescope/utils.lua", "plenary.path", None),
    # Haskell and Perl modules, by their path under any source directory; their libraries' find nothing.
    ("haskell", "src/ShellCheck/Analytics.hs", "ShellCheck.AST", "src/ShellCheck/AST.hs"),
    ("haskell", "shellcheck.hs", "ShellCheck.Analytics", "src/ShellCheck/Analytics.hs"),
    ("haskell", "shellcheck.hs", "Data.Map", None),
    ("perl", "lib/Mojo/UserAgent.pm", "Mojo::Base", "lib/Mojo/Base.pm"),
    ("perl", "lib/Mojo/UserAgent.pm", "strict", None),
    # Paths in strings: Julia's include and Zig's @import beside the file, R's source from the root too.
    ("julia", "src/frames.jl", "utils.jl", "src/utils.jl"),
    ("zig", "src/server.zig", "analysis.zig", "src/analysis.zig"),
    ("zig", "src/server.zig", "std", None),
    ("r", "R/filter.R", "R/utils.R", "R/utils.R"),
    ("erlang", "src/cowboy_req.erl", "cowboy.hrl", "src/cowboy.hrl"),
    ("erlang", "src/cowboy_req.erl", "cowboy/include/cowboy_stream.hrl", None),
    ("erlang", "src/cowboy_req.erl", "include/cowboy_stream.hrl", "include/cowboy_stream.hrl"),
    # Clojure namespaces: dashes are underscores in file names, .clj or .cljc.
    ("clojure", "src/clj_kondo/impl/analyzer.clj", "clj-kondo.impl.utils", "src/clj_kondo/impl/utils.clj"),
    ("clojure", "src/clj_kondo/impl/analyzer.clj", "clj-kondo.hooks", "src/clj_kondo/hooks.cljc"),
    ("clojure", "src/clj_kondo/impl/analyzer.clj", "clojure.string", None),
    # Vue and Svelte components import as JavaScript does.
    ("vue", "web/src/components/Cart.vue", "../util", "web/src/util.ts"),
    ("svelte", "web/src/components/Counter.svelte", "./Cart.vue", "web/src/components/Cart.vue"),
    # Groovy imports as Java does, and Java files import Groovy classes.
    ("groovy", "src/main/groovy/javaposse/jobdsl/dsl/JobParent.groovy", "javaposse.jobdsl.dsl.helpers.ScmContext",
     "src/main/groovy/javaposse/jobdsl/dsl/helpers/ScmContext.groovy"),
    ("java", "app/src/main/java/com/acme/App.java", "javaposse.jobdsl.dsl.JobParent",
     "src/main/groovy/javaposse/jobdsl/dsl/JobParent.groovy"),
    # Solidity: relative paths beside the importer; a remapped package path by its tail.
    ("solidity", "contracts/token/ERC20/ERC20.sol", "./IERC20.sol", "contracts/token/ERC20/IERC20.sol"),
    ("solidity", "contracts/token/ERC20/ERC20.sol", "../../utils/Context.sol", "contracts/utils/Context.sol"),
    ("solidity", "contracts/token/ERC20/ERC20.sol", "@openzeppelin/contracts/utils/Context.sol",
     "contracts/utils/Context.sol"),
    ("solidity", "contracts/token/ERC20/ERC20.sol", "forge-std/Test.sol", None),
    # Fortran modules: a file of the module's name, else its words as folders (fpm).
    ("fortran", "src/fpm/manifest/package.f90", "fpm_targets", "src/fpm_targets.f90"),
    ("fortran", "src/fpm_targets.f90", "fpm_manifest_package", "src/fpm/manifest/package.f90"),
    ("fortran", "src/fpm_targets.f90", "iso_fortran_env", None),
    # PowerShell: dot-sourced scripts beside the script.
    ("powershell", "src/functions/Mock.ps1", "./../Pester.Utility.ps1", "src/Pester.Utility.ps1"),
    # Nim: beside the importer, else a package module by its tail; the standard library finds nothing.
    ("nim", "src/nimble.nim", "nimblepkg/options", "src/nimblepkg/options.nim"),
    ("nim", "src/nimblepkg/options.nim", "./common", "src/nimblepkg/common.nim"),
    ("nim", "src/nimble.nim", "std/os", None),
    # CUDA includes as C++ does.
    ("cuda", "csrc/add.cu", "kernels.cuh", "csrc/kernels.cuh"),
    # Protocol Buffers import by the path under an include root.
    ("protobuf", "proto/acme/billing/v1/billing.proto", "acme/common/money.proto", "proto/acme/common/money.proto"),
    ("protobuf", "proto/acme/billing/v1/billing.proto", "google/protobuf/timestamp.proto", None),
    # Languages without a resolver: every import is counted as unresolved.
    ("swift", "Sources/App/main.swift", "Foundation", None),
    ("swift", "Sources/App/main.swift", SAME_PACKAGE + "Session", "Sources/App/Session.swift"),  # a module's type
]


def _graph_with(importer: str, language: str, imports: Sequence[str]) -> ImportGraph:
    """The REPO file set where only `importer` (plus BACKGROUND) imports anything."""
    files = []
    for path in REPO:
        lang, background = BACKGROUND.get(path, ("other", []))
        if path == importer:
            lang, background = language, [*background, *imports]
        files.append((path, lang, background))
    return build_import_graph(files)


def _targets(graph: ImportGraph, importer: str) -> set[str]:
    src = graph.paths.index(importer)
    return {graph.paths[dst] for s, dst in graph.edges.tolist() if s == src}


def test_a_same_package_name_without_a_file_is_no_edge_and_no_unresolved_import() -> None:
    # `=Engine` from another directory, `=String`-like names the package does not define: not imports at all
    view = "app/src/main/kotlin/com/acme/ui/View.kt"
    for importer, spec in ((APP_JAVA, "=Engine"), (ENGINE, "=Clock"), (view, "=Part")):
        graph = _graph_with(importer, "java" if importer.endswith(".java") else "kotlin", [spec])
        assert _targets(graph, importer) == set()
        assert graph.unresolved == 0


@pytest.mark.parametrize(("language", "importer", "spec", "expected"), CASES)
def test_resolution(language: str, importer: str, spec: str, expected: str | tuple[str, ...] | None) -> None:
    graph = _graph_with(importer, language, [spec])
    wanted = {expected} if isinstance(expected, str) else set(expected or ())
    assert _targets(graph, importer) == wanted
    assert graph.unresolved == (0 if expected or spec.startswith(SAME_PACKAGE) else 1)  # a name used: no import


PARSED_REPO: dict[str, str] = {
    "src/app/__init__.py": "",
    "src/app/main.py": "import os\nfrom app.models import User\nfrom . import views\nfrom .util import *\n",
    "src/app/models.py": "from ..shared import tools\n",
    "src/app/views.py": "",
    "src/app/util.py": "",
    "src/shared/tools.py": "",
    "web/index.ts": "import React from 'react'\nimport { a } from './lib'\nexport * from '../src/x.js'\n",
    "web/lib/index.tsx": "",
    "src/x.ts": "",
    "crate/src/lib.rs": "mod net;\nuse crate::net::tcp::{Conn, Listener};\nuse std::fmt;\n",
    "crate/src/net/mod.rs": "pub mod tcp;\nuse super::*;\n",
    "crate/src/net/tcp.rs": "use super::super::Thing;\n",
    "go.mod": "module github.com/acme/app\n",
    "cmd/main.go": 'package main\nimport (\n  "fmt"\n  "github.com/acme/app/pkg/util"\n)\n',
    "pkg/util/util.go": "package util\n",
    "j/com/acme/App.java": "import com.acme.core.*;\nimport static com.acme.core.Engine.run;\n",
    "j/com/acme/core/Engine.java": "",
    "j/com/acme/core/Part.java": "package com.acme.core;\nclass Part { Engine e; java.util.List<String> s; }\n",
    "c/src/main.c": '#include <stdio.h>\n#include "ring.h"\n#include <acme/list.h>\n',
    "c/src/ring.h": "",
    "c/include/acme/list.h": "",
    "d/lib/src/client.dart": "import 'dart:async';\nimport 'package:d/src/util.dart';\npart 'part.dart';\n",
    "d/lib/src/util.dart": "",
    "d/lib/src/part.dart": "",
    "d/pubspec.yaml": "name: d\n",
    "ex/lib/shop/cart.ex": "defmodule Shop.Cart do\n  alias Shop.{Item, Price}\n  require Logger\nend\n",
    "ex/lib/shop/item.ex": "",
    "ex/lib/shop/price.ex": "",
    "lua/tele/init.lua": 'local utils = require("tele.utils")\nlocal p = require "plenary.path"\nprint("x")\n',
    "lua/tele/utils.lua": "",
}

PARSED_EDGES = {
    ("src/app/main.py", "src/app/models.py"),
    ("src/app/main.py", "src/app/views.py"),
    ("src/app/main.py", "src/app/util.py"),
    ("src/app/models.py", "src/shared/tools.py"),
    ("web/index.ts", "web/lib/index.tsx"),
    ("web/index.ts", "src/x.ts"),
    ("crate/src/lib.rs", "crate/src/net/mod.rs"),
    ("crate/src/lib.rs", "crate/src/net/tcp.rs"),
    ("crate/src/net/mod.rs", "crate/src/net/tcp.rs"),
    ("crate/src/net/mod.rs", "crate/src/lib.rs"),
    ("crate/src/net/tcp.rs", "crate/src/lib.rs"),
    ("cmd/main.go", "pkg/util/util.go"),
    ("j/com/acme/App.java", "j/com/acme/core/Engine.java"),
    ("j/com/acme/App.java", "j/com/acme/core/Part.java"),  # com.acme.core.*
    ("j/com/acme/core/Part.java", "j/com/acme/core/Engine.java"),  # same package: `Engine e;`
    ("c/src/main.c", "c/src/ring.h"),
    ("c/src/main.c", "c/include/acme/list.h"),
    ("d/lib/src/client.dart", "d/lib/src/util.dart"),
    ("d/lib/src/client.dart", "d/lib/src/part.dart"),
    ("ex/lib/shop/cart.ex", "ex/lib/shop/item.ex"),
    ("ex/lib/shop/cart.ex", "ex/lib/shop/price.ex"),
    ("lua/tele/init.lua", "lua/tele/utils.lua"),
}


def test_import_strings_from_the_parser_resolve() -> None:
    """The contract with `atlas.parse`: its import strings, fed through, give the expected edges."""
    pytest.importorskip("tree_sitter_language_pack")
    from atlas.parse import parse_bytes

    parsed = [parse_bytes(path, text.encode()) for path, text in PARSED_REPO.items()]
    graph = build_import_graph([(p.path, p.language, p.imports) for p in parsed])
    edges = {(graph.paths[a], graph.paths[b]) for a, b in graph.edges.tolist()}
    assert edges == PARSED_EDGES
    # os, react, std::fmt, fmt, <stdio.h>, dart:async, Logger, plenary.path
    assert graph.unresolved == 8


def test_fixture_paths_exist() -> None:
    named = set(BACKGROUND)
    for _, importer, _, expected in CASES:
        named.add(importer)
        named.update([expected] if isinstance(expected, str) else expected or ())
    assert named <= set(REPO)


def test_edges_are_deduplicated_sorted_and_without_self_loops() -> None:
    graph = _graph_with("src/pkg/sub/deep.py", "python", ["..mod", "pkg.mod", "..mod.f", ".deep", ".leaf"])
    rows = graph.edges.tolist()
    assert graph.edges.dtype == np.int32
    assert rows == sorted(rows)
    assert len(rows) == len({tuple(row) for row in rows}) == 4  # two from deep.py, two BACKGROUND
    assert _targets(graph, "src/pkg/sub/deep.py") == {"src/pkg/mod.py", "src/pkg/sub/leaf.py"}
    assert graph.unresolved == 0


def test_same_import_string_resolves_per_directory() -> None:
    files = [
        ("a/x.ts", "typescript", ["./util"]),
        ("a/util.ts", "typescript", []),
        ("b/x.ts", "typescript", ["./util"]),
        ("b/util.ts", "typescript", []),
    ]
    graph = build_import_graph(files)
    assert graph.edges.tolist() == [[0, 1], [2, 3]]


def test_unresolved_counts_every_import_string() -> None:
    files = [("a.py", "python", ["os", "os", "sys"]), ("b.py", "python", ["a"]), ("c.txt", "text", [])]
    graph = build_import_graph(files)
    assert graph.unresolved == 3
    assert graph.edges.tolist() == [[1, 0]]


def test_empty_input() -> None:
    graph = build_import_graph([])
    assert graph.paths == ()
    assert graph.edges.shape == (0, 2)
    assert pagerank(0, graph.edges).shape == (0,)
    indptr, indices = neighbours(graph)
    assert indptr.tolist() == [0]
    assert indices.size == 0


# ---------------------------------------------------------------------------------------------
# PageRank, in-degree, neighbours against networkx


def _random_edges(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, size=(m, 2)) if a != b}
    return np.array(sorted(pairs), dtype=np.int32).reshape(-1, 2)


def _nx_graph(n: int, edges: np.ndarray) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges.tolist())
    return graph


def _assert_matches_networkx(n: int, edges: np.ndarray, damping: float = 0.85) -> None:
    expected = _nx_pagerank(_nx_graph(n, edges), alpha=damping, tol=1e-13, max_iter=1000)
    ours = pagerank(n, edges, damping=damping, tol=1e-13, max_iter=1000)
    assert ours.dtype == np.float64
    assert np.isclose(ours.sum(), 1.0)
    assert np.allclose(ours, [expected[i] for i in range(n)], rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("n", "m", "seed"),
    [(1, 0, 0), (2, 1, 1), (10, 15, 2), (50, 40, 3), (200, 600, 4), (500, 300, 5), (1000, 5000, 6)],
)
def test_pagerank_matches_networkx_on_random_graphs(n: int, m: int, seed: int) -> None:
    _assert_matches_networkx(n, _random_edges(n, m, seed))


def test_pagerank_with_dangling_and_isolated_nodes() -> None:
    # 0→1→2, 3→2, 2 dangles, 4 and 5 are isolated.
    edges = np.array([[0, 1], [1, 2], [3, 2]], dtype=np.int32)
    _assert_matches_networkx(6, edges)
    ranks = pagerank(6, edges)
    assert ranks[2] == ranks.max()
    assert ranks[4] == pytest.approx(ranks[5])


def test_pagerank_other_damping_and_no_edges() -> None:
    _assert_matches_networkx(30, _random_edges(30, 60, 7), damping=0.5)
    assert np.allclose(pagerank(4, np.zeros((0, 2), dtype=np.int32)), 0.25)


def test_pagerank_default_tolerance_is_close_to_networkx() -> None:
    edges = _random_edges(300, 900, 8)
    expected = _nx_pagerank(_nx_graph(300, edges), tol=1e-12)
    assert np.allclose(pagerank(300, edges), [expected[i] for i in range(300)], rtol=0, atol=1e-8)


def test_pagerank_of_the_live_nodes_is_that_of_the_graph_without_the_others() -> None:
    # An update's tombstones (rows of removed files) are no nodes: the live files rank as in a rebuild's graph.
    edges = _random_edges(30, 80, 12)
    live = np.ones(40, dtype=bool)
    live[30:] = False
    ranks = pagerank(40, edges, live=live)
    assert np.array_equal(ranks[30:], np.zeros(10))
    assert np.allclose(ranks[:30], pagerank(30, edges), rtol=0, atol=1e-12)


def test_pagerank_stops_at_max_iter() -> None:
    edges = _random_edges(40, 100, 11)
    assert np.allclose(pagerank(40, edges, max_iter=0), 1 / 40)
    one_step = pagerank(40, edges, tol=0.0, max_iter=1)
    assert np.isclose(one_step.sum(), 1.0)
    assert not np.allclose(one_step, pagerank(40, edges))


def test_pagerank_rejects_out_of_range_edges() -> None:
    with pytest.raises(ValueError, match="endpoints"):
        pagerank(2, np.array([[0, 2]]))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=25).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80),
        )
    ),
    st.floats(min_value=0.05, max_value=0.95),
)
def test_pagerank_property_matches_networkx(case: tuple[int, list[tuple[int, int]]], damping: float) -> None:
    n, pairs = case
    edges = np.array(sorted({(a, b) for a, b in pairs if a != b}), dtype=np.int32).reshape(-1, 2)
    _assert_matches_networkx(n, edges, damping)
    assert (pagerank(n, edges) > 0).all()


def test_in_degree_matches_networkx() -> None:
    edges = _random_edges(100, 400, 9)
    degrees = in_degree(100, edges)
    assert degrees.dtype == np.int32
    graph = _nx_graph(100, edges)
    assert degrees.tolist() == [graph.in_degree(i) for i in range(100)]


def test_neighbours_are_the_undirected_adjacency() -> None:
    n = 80
    edges = _random_edges(n, 300, 10)
    graph = ImportGraph(tuple(f"f{i}" for i in range(n)), edges, 0)
    indptr, indices = neighbours(graph)
    assert indptr.shape == (n + 1,)
    assert indices.dtype == np.int32
    undirected = _nx_graph(n, edges).to_undirected()
    for i in range(n):
        assert indices[indptr[i] : indptr[i + 1]].tolist() == sorted(undirected.neighbors(i))


# ---------------------------------------------------------------------------------------------
# Speed on a synthetic repository of 60,000 files (`-m slow -s` shows the timings). CPU time, not
# wall time, so that other work on the machine does not fail the test.


_SYNTHETIC_KINDS = {"python": "py", "typescript": "ts", "go": "go", "java": "java", "c": "c"}
_EXTERNAL = {"python": "os.path", "typescript": "react", "go": "fmt", "java": "java.util.List", "c": "<stdio.h>"}


def _synthetic_repo(n_files: int, imports_per_file: int, seed: int) -> list[tuple[str, str, list[str]]]:
    """Directories of 12 files in one of five languages under src/t0..t6; a quarter of the
    imports name external packages, the rest a random file (or package) of the same language."""
    rng = random.Random(seed)
    kinds = list(_SYNTHETIC_KINDS)
    n_dirs = n_files // 12
    by_kind = {kind: [d for d in range(n_dirs) if d % len(kinds) == k] for k, kind in enumerate(kinds)}
    files = []
    for i in range(n_files):
        d, kind = i // 12, kinds[(i // 12) % len(kinds)]
        imports = [_synthetic_import(kind, rng.choice(by_kind[kind]), rng) for _ in range(imports_per_file)]
        files.append((f"src/t{d % 7}/p{d}/m{i % 12}.{_SYNTHETIC_KINDS[kind]}", kind, imports))
    return files


def _synthetic_import(kind: str, d: int, rng: random.Random) -> str:
    if rng.random() < 0.25:
        return _EXTERNAL[kind]
    top, name = d % 7, rng.randrange(12)
    return {
        "python": f"t{top}.p{d}.m{name}.func",
        "typescript": f"../../t{top}/p{d}/m{name}",
        "go": f"github.com/acme/big/src/t{top}/p{d}",
        "java": f"t{top}.p{d}.m{name}",
        "c": f"t{top}/p{d}/m{name}.c",
    }[kind]


@pytest.mark.slow
def test_speed_on_sixty_thousand_files() -> None:
    files = _synthetic_repo(60_000, 20, seed=1)
    started = time.process_time()
    graph = build_import_graph(files)
    resolved = time.process_time() - started
    rng = np.random.default_rng(2)
    edges = np.unique(rng.integers(0, 60_000, size=(500_000, 2)), axis=0).astype(np.int32)
    started = time.process_time()
    ranks = pagerank(60_000, edges)
    ranked = time.process_time() - started
    print(f"\nresolve 60k files x 20 imports: {resolved:.2f}s, {len(graph.edges)} edges, "
          f"{graph.unresolved} unresolved; pagerank 60k/500k: {ranked * 1000:.0f} ms")
    assert len(graph.edges) > 400_000
    assert ranks.sum() == pytest.approx(1.0)
    assert resolved < 10.0
    assert ranked < 1.0


def test_related_files_of_a_java_class_include_its_package_neighbours(tmp_path: Path) -> None:
    """End to end: a real index of a Java and Kotlin tree; classes of one package use each other unimported."""
    pytest.importorskip("tree_sitter_language_pack")
    from atlas.api import index_config, index_repo, open_engine, related_files

    write_tree(tmp_path, {
        "src/main/java/shop/Order.java": "package shop;\nclass Order { Cart c; int n() { return Prices.sum(c); } }\n",
        "src/main/java/shop/Cart.java": "package shop;\nclass Cart { java.util.List<String> items; }\n",
        "src/main/java/shop/Prices.java": "package shop;\nclass Prices { static int sum(Cart c) { return 0; } }\n",
        "src/main/java/admin/Report.java": "package admin;\nclass Report { Cart notTheShopsCart; }\n",
        "src/main/kotlin/ui/Screen.kt": "package ui\nclass Screen { val theme = Theme() }\n",
        "src/main/kotlin/ui/Theme.kt": "package ui\nclass Theme\n",
    })  # fmt: skip
    config = index_config(tmp_path, jobs=1)
    index_repo(config, show_progress=False)
    engine = open_engine(config, build_if_missing=False, show_progress=False)
    assert set(related_files(engine, "src/main/java/shop/Order.java").imports) == {
        "src/main/java/shop/Cart.java", "src/main/java/shop/Prices.java",
    }  # fmt: skip
    assert set(related_files(engine, "src/main/java/shop/Cart.java").imports) == {
        "src/main/java/shop/Order.java", "src/main/java/shop/Prices.java",
    }  # fmt: skip
    assert related_files(engine, "src/main/java/admin/Report.java").imports == []
    assert related_files(engine, "src/main/kotlin/ui/Screen.kt").imports == ["src/main/kotlin/ui/Theme.kt"]


def test_a_go_monorepo_of_two_thousand_modules_resolves_in_linear_time() -> None:
    # Every import tried every learnt module path, and learning a module path tried every go.mod directory for
    # every import, then scanned every vote once per directory: 2,000 modules took seconds, 10,000 minutes.
    n = 2_000
    files: list[tuple[str, str, Sequence[str]]] = []
    for i in range(n):
        files.append((f"svc{i}/go.mod", "text", ()))
        imports = (f"example.com/svc{i}/internal/store{(i + 1) % n}", f"github.com/ext{i}/lib/v2/sub")
        files.append((f"svc{i}/internal/store{i}/store.go", "go", imports))
    started = time.process_time()
    graph = build_import_graph(files)
    assert time.process_time() - started < 1.0
    assert len(graph.edges) == n and graph.unresolved == n  # the next service's store; the outside library
    assert graph.paths[graph.edges[0][1]] == "svc1/internal/store1/store.go"


@pytest.mark.parametrize("shape", ["go", "java"])
def test_a_package_import_of_thousands_of_files_adds_no_edges(shape: str) -> None:
    # 4,000 files of package p each importing package q (4,000 files) linked importers × package files: 16 million
    # edges at n = 4,000, each doubling of n making four times the edges and time (38 s for two Java packages).
    n = 2 * MAX_IMPORT_FANOUT
    files: list[tuple[str, str, Sequence[str]]] = [("go.mod", "text", ())]
    for i in range(n):
        if shape == "go":
            files.append((f"p/f{i}.go", "go", ("example.com/m/q", "fmt")))
            files.append((f"q/g{i}.go", "go", ("example.com/m/p",)))
        else:
            files.append((f"src/com/ex/a/A{i}.java", "java", ("com.ex.b.*",)))
            files.append((f"src/com/ex/b/B{i}.java", "java", ("com.ex.a.*",)))
    small = [(f"r/h{i}.go", "go", ()) for i in range(MAX_IMPORT_FANOUT)] + [("s/main.go", "go", ("example.com/m/r",))]
    graph = build_import_graph(files + small)
    assert len(graph.edges) == MAX_IMPORT_FANOUT  # only the import of r, a package at the bound, links its files
    assert {graph.paths[dst] for _, dst in graph.edges} == {f"r/h{i}.go" for i in range(MAX_IMPORT_FANOUT)}
    assert graph.unresolved == (n if shape == "go" else 0)  # "fmt"; a too-broad import is not a missing one
