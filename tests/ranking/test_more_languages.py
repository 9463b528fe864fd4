"""Languages parsed since the twelfth ranking pass: each file's definitions are found by `sym:`, by `symbols()`
and shown in its hit, on a real index of a generated repository (the sources are the parse fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import find_symbols, open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from tests.ranking.searching import indexed_with_filler

FIXTURES = Path(__file__).parent.parent / "parse" / "fixtures"
SOURCES = {
    "src/Data/Widget.hs": "haskell/Widget.hs",
    "lib/widget.ml": "ocaml/widget.ml",
    "lib/widget.mli": "ocaml_interface/widget.mli",
    "src/frames.jl": "julia/frames.jl",
    "R/filter.R": "r/filter.R",
    "lib/Mojo/Widget.pm": "perl/Widget.pm",
    "SDWebImage/Core/SDImageCache.m": "objc/SDImageCache.m",
    "toolbox/Widget.m": "matlab/Widget.m",
    "src/cowboy_req.erl": "erlang/cowboy_req.erl",
    "src/clj_kondo/impl/analyzer.clj": "clojure/analyzer.clj",
    "src/server.zig": "zig/server.zig",
    "src/main/groovy/javaposse/jobdsl/dsl/JobParent.groovy": "groovy/JobParent.groovy",
    "contracts/token/ERC20.sol": "solidity/ERC20.sol",
    "src/Paket.Core/Resolver.fs": "fsharp/Resolver.fs",
    "src/fpm_targets.f90": "fortran/fpm_targets.f90",
    "src/functions/Mock.ps1": "powershell/Mock.ps1",
    "src/nimblepkg/options.nim": "nim/options.nim",
    "csrc/ops/add.cu": "cuda/add.cu",
    "proto/acme/billing/v1/billing.proto": "protobuf/billing.proto",
    "web/schema/schema.graphql": "graphql/schema.graphql",
    "web/components/CartButton.vue": "vue/CartButton.vue",
    "web/components/Counter.svelte": "svelte/Counter.svelte",
}

# (a definition's name, the file that defines it, the kind it has there)
DEFINITIONS = [
    ("Id", "src/Data/Widget.hs", "type"),
    ("counter", "lib/widget.ml", "class"),
    ("create", "lib/widget.mli", "function"),
    ("nrow", "src/frames.jl", "function"),
    ("filter_rows", "R/filter.R", "function"),
    ("Mojo::Other", "lib/Mojo/Widget.pm", "module"),
    ("sharedImageCache", "SDWebImage/Core/SDImageCache.m", "method"),
    ("render", "toolbox/Widget.m", "method"),
    ("parse_qs", "src/cowboy_req.erl", "function"),
    ("analyze-expression", "src/clj_kondo/impl/analyzer.clj", "function"),
    ("Server", "src/server.zig", "struct"),
    ("freeStyleJob", "src/main/groovy/javaposse/jobdsl/dsl/JobParent.groovy", "method"),
    ("onlyOwner", "contracts/token/ERC20.sol", "method"),
    ("DependencyCache", "src/Paket.Core/Resolver.fs", "class"),
    ("targets_from_sources", "src/fpm_targets.f90", "function"),
    ("New-Mock", "src/functions/Mock.ps1", "function"),
    ("parseCmdLine", "src/nimblepkg/options.nim", "function"),
    ("add_kernel", "csrc/ops/add.cu", "function"),
    ("BillingService", "proto/acme/billing/v1/billing.proto", "interface"),
    ("InvoiceFilter", "web/schema/schema.graphql", "struct"),
    ("CartItem", "web/components/CartButton.vue", "interface"),
    ("increment", "web/components/Counter.svelte", "function"),
]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    files = {path: (FIXTURES / fixture).read_text() for path, fixture in SOURCES.items()}
    return indexed_with_filler(Path(tmp_path_factory.mktemp("languages")) / "repo", files)


@pytest.mark.parametrize(("name", "path", "kind"), DEFINITIONS, ids=[d[1].rsplit(".", 1)[-1] for d in DEFINITIONS])
def test_the_definition_is_found_and_shown(config: IndexConfig, name: str, path: str, kind: str) -> None:
    engine = open_engine(config, build_if_missing=False)
    found = [(m.name, m.path, m.kind) for m in find_symbols(engine, name).matches]
    assert (name, path, kind) in found
    hit = engine.search(f"sym:{name}", SearchOptions(limit=5, with_lines=True)).hits[0]
    assert hit.path == path
    assert name in hit.symbols


def test_matlab_and_objective_c_files_of_one_extension_are_told_apart(config: IndexConfig) -> None:
    engine = open_engine(config, build_if_missing=False)
    languages = {hit.path: hit.language for hit in engine.search("Widget SDImageCache", SearchOptions(limit=20)).hits}
    assert languages["toolbox/Widget.m"] == "matlab"
    assert languages["SDWebImage/Core/SDImageCache.m"] == "objc"
