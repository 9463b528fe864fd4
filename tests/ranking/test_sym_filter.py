"""`sym:Name` asks where Name is defined: the files defining it come first, their hits show the definition.

The filter itself keeps every file with the name's word among its definition names (`exists` of `key_exists`,
a method `exists`), and BM25 over that field favours files defining few names, so a large module defining
the class ranked below small files with a method of the same word. Now the files defining the name (case
aside) rank first, those with the name's own case before the others, and each such hit lists the definition
and shows its lines first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import find_symbols, open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from atlas.records import Hit
from tests.ranking.searching import indexed_with_filler

EXPRESSIONS = "\n\n".join(
    [f"class Node{i}:\n    def resolve_{i}(self, query):\n        return query.node_{i}()\n" for i in range(30)]
    + ["class Exists(Node1):\n    '''True when the subquery has a row.'''\n\n    def as_sql(self, compiler):\n"
       "        return 'EXISTS(%s)' % compiler.compile(self.query)\n"]
)  # fmt: skip

SESSIONS = "class CachedStore:\n    def exists(self, key):\n        return key in self.cache\n"
STORAGE = "def file_exists(path):\n    return path.is_file()\n"
CHECKS = "def check_exists(name):\n    return name in REGISTRY\n"
ENDPOINT = "defmodule Phoenix.Endpoint do\n  def config(endpoint, key) do\n    endpoint.config(key)\n  end\nend\n"
ENDPOINT_TEST = "defmodule Phoenix.EndpointTest do\n  defmodule Endpoint do\n    use Phoenix.Endpoint\n  end\nend\n"
WIDGET = "class Acme::Widget\n  def render\n    'widget'\n  end\nend\n"
QUERY_UTILS = "class Q:\n    \"\"\"A filter of the form Q(name=value).\"\"\"\n\n\ndef combine(a, b):\n    return a\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return indexed_with_filler(Path(tmp_path_factory.mktemp("symfilter")) / "repo", {
        "db/expressions.py": EXPRESSIONS,
        "sessions/cached.py": SESSIONS,
        "files/storage.py": STORAGE,
        "core/checks.py": CHECKS,
        "db/query_utils.py": QUERY_UTILS,
        "lib/phoenix/endpoint.ex": ENDPOINT,
        "test/phoenix/endpoint_test.exs": ENDPOINT_TEST,
        "lib/acme/widget.rb": WIDGET,
    })  # fmt: skip


def hits(config: IndexConfig, query: str, with_lines: bool = False) -> list[Hit]:
    engine = open_engine(config, build_if_missing=False)
    return engine.search(query, SearchOptions(limit=10, with_lines=with_lines)).hits


def test_the_file_defining_the_class_comes_before_files_that_only_hold_its_word(config: IndexConfig) -> None:
    found = hits(config, "sym:Exists")
    assert found[0].path == "db/expressions.py"
    assert found[0].symbols == ("Exists",)
    # the filter still keeps the others: their definition names hold the word
    assert {hit.path for hit in found[1:]} == {"sessions/cached.py", "files/storage.py", "core/checks.py"}


def test_the_name_in_its_own_case_comes_before_the_same_name_in_another(config: IndexConfig) -> None:
    assert [hit.path for hit in hits(config, "sym:exists")][:2] == ["sessions/cached.py", "db/expressions.py"]
    assert hits(config, "sym:Exists")[1].path == "sessions/cached.py"


def test_the_hit_shows_the_definition_first(config: IndexConfig) -> None:
    best = hits(config, "sym:Exists", with_lines=True)[0]
    assert best.lines[0].symbol == "Exists"
    assert best.lines[0].text.startswith("class Exists(Node1):")


def test_a_qualified_name_ranks_the_file_defining_it_inside_its_container(config: IndexConfig) -> None:
    best = hits(config, "sym:CachedStore.exists", with_lines=True)[0]
    assert best.path == "sessions/cached.py"
    assert best.lines[0].text.startswith("    def exists(self, key):")


def test_other_filters_still_hold(config: IndexConfig) -> None:
    assert [hit.path for hit in hits(config, "sym:Exists path:files/")] == ["files/storage.py"]


def test_with_words_beside_the_filter_the_definer_among_the_files_holding_them_comes_first(
    config: IndexConfig,
) -> None:
    # words and filter must both match (each file here says `return`); the definers first, by case, then BM25
    found = [hit.path for hit in hits(config, "return path sym:exists")]
    assert found[:3] == ["sessions/cached.py", "db/expressions.py", "files/storage.py"]


def test_a_name_of_one_letter_is_found(config: IndexConfig) -> None:
    best = hits(config, "sym:Q", with_lines=True)[0]
    assert (best.path, best.symbols) == ("db/query_utils.py", ("Q",))
    assert best.lines[0].text.startswith("class Q:")
    engine = open_engine(config, build_if_missing=False)
    assert [(m.path, m.kind) for m in find_symbols(engine, "Q").matches] == [("db/query_utils.py", "class")]


def test_the_explanation_says_why_a_definer_comes_first(config: IndexConfig) -> None:
    engine = open_engine(config, build_if_missing=False)
    found = engine.search("sym:exists", SearchOptions(limit=3, with_lines=False, explain=True)).hits
    tiers = [[(t.signal, t.raw) for t in hit.explain if t.signal == "definition"] for hit in found]
    assert tiers == [[("definition", 0.0)], [("definition", 1.0)], []]


def test_a_definition_named_with_its_qualifier_is_found_by_its_last_part(config: IndexConfig) -> None:
    # Elixir's `defmodule Phoenix.Endpoint`, Ruby's `class Acme::Widget`: the module is Endpoint inside Phoenix
    assert [hit.path for hit in hits(config, "sym:Endpoint")][:2] == [
        "lib/phoenix/endpoint.ex", "test/phoenix/endpoint_test.exs",
    ]  # fmt: skip
    assert hits(config, "sym:Phoenix.Endpoint")[0].path == "lib/phoenix/endpoint.ex"
    engine = open_engine(config, build_if_missing=False)
    found = find_symbols(engine, "Acme::Widget").matches
    assert [(m.name, m.path, m.container) for m in found] == [("Acme::Widget", "lib/acme/widget.rb", "Acme")]
    assert [m.path for m in find_symbols(engine, "Endpoint").matches] == [
        "lib/phoenix/endpoint.ex", "test/phoenix/endpoint_test.exs",
    ]  # fmt: skip
    assert find_symbols(engine, "Other.Endpoint").matches == []
    # a definition inside a qualified one: `def config` in `defmodule Phoenix.Endpoint`
    found = find_symbols(engine, "Phoenix.Endpoint.config").matches
    assert [(m.name, m.path, m.container) for m in found] == [("config", "lib/phoenix/endpoint.ex", "Phoenix.Endpoint")]


CPP_HEADER = """// Copyright the authors.
#pragma once
#include <string>

namespace ui {

class Widget : public Base {
 public:
  explicit Widget(std::string name);
  void Render(int depth) const;

 private:
  std::string name_;
};

struct Point { int x; int y; };

}  // namespace ui
"""
C_HEADER = (
    "#ifndef RING_H\n#define RING_H\ntypedef struct ring { int head; } ring_t;\n"
    "static inline int ring_size(ring_t *r) { return r->head; }\n#endif\n"
)


def test_regression_a_cpp_header_named_dot_h_has_its_classes_as_definitions(tmp_path: Path) -> None:
    # `.h` was C, always: the C grammar read a namespaced C++ header as errors and found no definition, so
    # `sym:Widget` found nothing and `lang:cpp` missed the header. Its first bytes now say C++.
    config = indexed_with_filler(tmp_path / "repo", {"include/ui/widget.h": CPP_HEADER, "src/ring.h": C_HEADER})
    found = hits(config, "sym:Widget", with_lines=True)
    assert [hit.path for hit in found] == ["include/ui/widget.h"]
    assert found[0].language == "cpp" and "Widget" in found[0].symbols
    matches = find_symbols(open_engine(config, build_if_missing=False), "Point").matches
    assert [(m.path, m.kind) for m in matches] == [("include/ui/widget.h", "struct")]
    assert [hit.path for hit in hits(config, "lang:cpp render")] == ["include/ui/widget.h"]
    assert [(hit.path, hit.language) for hit in hits(config, "sym:ring_size")] == [("src/ring.h", "c")]


def test_regression_a_glob_tantivy_cannot_compile_is_a_usage_error_in_a_symbol_look_up(config: IndexConfig) -> None:
    # The look-up built its path clauses itself, without the search's check: a glob whose automaton is over
    # tantivy's size limit raised a bare ValueError (the MCP symbols tool's "unexpected error"), where a search's
    # `path:` filter gives a usage error naming the glob.
    from atlas.errors import UsageError

    engine = open_engine(config, build_if_missing=False)
    with pytest.raises(UsageError, match="not a usable pattern"):
        find_symbols(engine, "Exists", paths=("?" * 60,))  # under the wildcard cap, over the size limit
    assert [m.path for m in find_symbols(engine, "Exists", paths=("db/**",)).matches] == ["db/expressions.py"]
