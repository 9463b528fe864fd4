"""Find definitions by name: the `symbols` field picks the files, their stored outlines the definitions.

The `symbols` field holds the `atlas.terms` tokens of every definition's name, so a term query
for the tokens of the wanted name finds every file that may define it; the stored outline
(name, kind, lines) of each such file then keeps the definitions whose name really matches.
A qualified name (`QuerySet.filter`, `Stack::push`) matches a definition named by its last part
that lies inside a definition named by the part before it. Reads stored fields only, never the
working tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import tantivy

from atlas.errors import UsageError
from atlas.index.reader import IndexReader, StoredDoc
from atlas.query.bm25 import path_filter_query
from atlas.query.syntax import check_path_wildcards
from atlas.safe_read import quoted_value
from atlas.signals.store import SideStore
from atlas.terms import name_tokens, unique

KINDS = (
    "class", "constant", "enum", "function", "interface", "macro", "method", "module", "struct", "trait", "type",
    "variable",
)  # fmt: skip
"""Definition kinds the parsers emit (the `@definition.<kind>` captures of `atlas/parse/queries`)."""

MAX_FILES = 2000
"""Candidate files read at most per look-up; beyond it the result says it is incomplete."""

MAX_NAME_CHARS = 200
_QUALIFIER = re.compile(r"::|\.|#|->")
_ROLE_ORDER = {"impl": 0, "build": 1, "config": 2, "other": 3, "test": 4, "docs": 5, "generated": 6}
_KIND_ORDER = {kind: i for i, kind in enumerate(("class", "struct", "interface", "trait", "enum", "type"))}


@dataclass(frozen=True, slots=True)
class SymbolMatch:
    """One definition: its name as written, kind, file and 1-based inclusive lines."""

    name: str
    kind: str
    path: str
    start_line: int
    end_line: int
    language: str
    role: str
    container: str = ""


@dataclass(slots=True)
class SymbolResult:
    """The definitions found for a name, best first, and whether the look-up was cut short."""

    name: str
    matches: list[SymbolMatch] = field(default_factory=list)
    total: int = 0
    files_searched: int = 0
    incomplete: bool = False


@dataclass(frozen=True, slots=True)
class SymbolQuery:
    """A parsed look-up: the name, its optional container, and the filters."""

    name: str
    container: str = ""
    kind: str | None = None
    case_sensitive: bool = False
    paths: tuple[str, ...] = ()


def parse_symbol_query(
    name: str, kind: str | None = None, case_sensitive: bool = False, paths: tuple[str, ...] = ()
) -> SymbolQuery:
    """Split `Container.name` (or `::`, `#`, `->`) and check the arguments; raises UsageError."""
    text = " ".join(name.split())
    if not text:
        raise UsageError("the symbol name is empty", "pass a definition name such as ShoppingCart or add_item")
    if len(text) > MAX_NAME_CHARS:
        raise UsageError(f"the symbol name is over {MAX_NAME_CHARS} characters", "pass one definition name")
    check_path_wildcards(paths)
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown symbol kind {quoted_value(kind)}", f"use one of {', '.join(KINDS)}")
    parts = _parts(text)
    if not parts:
        raise UsageError(f"{quoted_value(text)} names no definition", "pass a definition name such as ShoppingCart")
    container = parts[-2] if len(parts) > 1 else ""
    return SymbolQuery(parts[-1], container, kind, case_sensitive, tuple(paths))


def find_symbols(
    reader: IndexReader, query: SymbolQuery, limit: int = 50, store: SideStore | None = None
) -> SymbolResult:
    """Definitions matching `query` in the index of `reader`, best first, at most `limit`.

    Order: exact-case matches first, then implementation before tests and docs, files outside
    vendored/example/translation/fixture directories, types before other kinds, then (with the
    side `store`) files more central in the import graph, then path and line.
    """
    result = SymbolResult(name=query.name if not query.container else f"{query.container}.{query.name}")
    docs = _candidate_docs(reader, query)
    result.files_searched, result.incomplete = len(docs), len(docs) >= MAX_FILES
    weight = _file_weights(store)
    found = [(match, weight(doc.fid)) for doc in docs for match in _matches(doc, query)]
    found.sort(key=lambda item: _order(item[0], query.name, item[1]))
    result.total = len(found)
    result.matches = [match for match, _ in found[:limit]]
    return result


@dataclass(frozen=True, slots=True)
class Defined:
    """How a file defines a looked-up name: in the same case or not, and the first line of each definition."""

    same_case: bool
    lines: tuple[int, ...]


def definitions(docs: Iterable[StoredDoc], name: str) -> dict[int, Defined]:
    """File id → its definitions of `name` (`Name`, `Container.name`), case aside, for each of `docs` that has
    one; empty when `name` names nothing that can be looked up (see `parse_symbol_query`)."""
    try:
        query = parse_symbol_query(name)
    except UsageError:
        return {}
    found: dict[int, Defined] = {}
    for doc in docs:
        if matches := _matches(doc, query):
            same_case = any(_named_exactly(match, query.name) for match in matches)
            found[doc.fid] = Defined(same_case, tuple(match.start_line for match in matches))
    return found


def name_token(name: str) -> str | None:
    """The token a definition named `name` (its last part when qualified) holds whole in the `symbols` field."""
    try:
        tokens = name_tokens(parse_symbol_query(name).name)
    except UsageError:
        return None
    return tokens[0] if tokens else None


def _file_weights(store: SideStore | None) -> Callable[[int], tuple[int, float]]:
    """fid → (has a path flag, -PageRank); (0, 0.0) for every file without a side store."""
    flags = store.get("path_flags") if store is not None else None
    rank = store.get("pagerank") if store is not None else None

    def weight(fid: int) -> tuple[int, float]:
        flagged = int(flags[fid]) != 0 if flags is not None and fid < len(flags) else False
        central = -float(rank[fid]) if rank is not None and fid < len(rank) else 0.0
        return int(flagged), central

    return weight


def _candidate_docs(reader: IndexReader, query: SymbolQuery) -> list[StoredDoc]:
    """Stored documents of the files whose `symbols` field holds every token of the name."""
    terms = unique(name_tokens(query.name))
    if not terms:
        raise UsageError(
            f"{quoted_value(query.name)} has no letter or digit to look up",
            "pass a definition name such as ShoppingCart or Q",
        )
    clauses = [(tantivy.Occur.Must, tantivy.Query.term_query(reader.schema, "symbols", t)) for t in terms]
    clauses += _path_clauses(reader, query.paths)
    hits = reader.search(tantivy.Query.boolean_query(clauses), MAX_FILES)
    return [reader.doc(address) for _, address in hits]


def _path_clauses(reader: IndexReader, paths: tuple[str, ...]) -> list[tuple[tantivy.Occur, tantivy.Query]]:
    """One Must clause: the path matches any of the globs (none when no glob is given), as a search's `path:` filter
    does (a glob tantivy cannot compile is a UsageError)."""
    if not paths:
        return []
    return [(tantivy.Occur.Must, path_filter_query(reader.schema, paths))]


def _matches(doc: StoredDoc, query: SymbolQuery) -> list[SymbolMatch]:
    """The definitions of `doc` that `query` names. A definition named with its qualifier (Elixir's
    `defmodule Phoenix.Endpoint`, Ruby's `class A::B`, TypeScript's `namespace A.B`) is named by its last part,
    inside the part before it."""
    same = _same_name(query.case_sensitive)
    named = []
    for name, kind, start, end in doc.outline:
        qualifier, last = _split_qualified(name)
        if same(last, query.name) and not (query.kind and kind != query.kind):
            own = bool(qualifier) and (not query.container or same(qualifier, query.container))
            named.append((name, kind, start, end, qualifier if own else None))
    enclosing = _enclosing(doc.outline, {(start, end) for _, _, start, end, own in named if own is None})
    out = []
    for name, kind, start, end, own in named:
        container = own if own is not None else _container(enclosing[start, end], query)
        if query.container and container is None:
            continue
        out.append(SymbolMatch(name, kind, doc.path, start, end, doc.language, doc.role, container or ""))
    return out


def _enclosing(
    outline: tuple[tuple[str, str, int, int], ...], spans: set[tuple[int, int]]
) -> dict[tuple[int, int], list[tuple[int, str]]]:
    """For each (start, end) of `spans`, the (length, name) of every definition of `outline` whose lines hold those
    lines (one of the same lines aside), innermost first.

    In one sweep down the file: a definition that ends before a span starts holds none of the later ones, so each
    span is compared with the definitions around its first line only. Comparing each with the whole outline was
    quadratic: 40,000 `def get()` in a generated file made `sym:get` take 36 s.
    """
    if not spans:
        return {}
    definitions = sorted((start, end, name) for name, _, start, end in outline)
    found: dict[tuple[int, int], list[tuple[int, str]]] = {}
    around: list[tuple[int, int, str]] = []
    taken = 0
    for start, end in sorted(spans):
        while taken < len(definitions) and definitions[taken][0] <= start:
            around.append(definitions[taken])
            taken += 1
        around = [definition for definition in around if definition[1] >= start]
        found[start, end] = sorted((e - s, name) for s, e, name in around if end <= e and (s, e) != (start, end))
    return found


def _split_qualified(name: str) -> tuple[str, str]:
    """`Phoenix.Endpoint` → ("Phoenix", "Endpoint"), `A::B::C` → ("B", "C"); ("", name) for a plain name."""
    parts = _parts(name)
    if len(parts) < 2:
        return "", name
    return parts[-2], parts[-1]


def _parts(name: str) -> list[str]:
    """The non-empty parts of a name between qualifiers (`::`, `.`, `#`, `->`)."""
    return [part for part in _QUALIFIER.split(name) if part]


def _named_exactly(match: SymbolMatch, wanted: str) -> bool:
    """Whether `match` is named `wanted` exactly, its qualifier aside."""
    return _split_qualified(match.name)[1] == wanted


def _container(enclosing: list[tuple[int, str]], query: SymbolQuery) -> str | None:
    """The name of the innermost of the `enclosing` definitions (see `_enclosing`) that the query's container names
    (by its last part when qualified: `Phoenix.Endpoint.init` is `init` inside `defmodule Phoenix.Endpoint`).

    Without a container in the query: the innermost enclosing definition's name, or "".
    """
    if not query.container:
        return enclosing[0][1] if enclosing else ""
    same = _same_name(query.case_sensitive)
    return next((name for _, name in enclosing if same(_split_qualified(name)[1], query.container)), None)


def _same_name(case_sensitive: bool) -> Callable[[str, str], bool]:
    if case_sensitive:
        return str.__eq__
    return lambda a, b: a.casefold() == b.casefold()


def _order(match: SymbolMatch, wanted: str, weight: tuple[int, float]) -> tuple[object, ...]:
    flagged, central = weight
    return (
        not _named_exactly(match, wanted),
        _ROLE_ORDER.get(match.role, 3),
        flagged,
        _KIND_ORDER.get(match.kind, len(_KIND_ORDER)),
        central,
        match.path,
        match.start_line,
    )
