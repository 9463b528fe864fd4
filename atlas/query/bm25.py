"""ParsedQuery → tantivy query: per-field boosted term queries plus filters (BM25F-like).

tantivy scores each (field, term) with BM25; boosting the field's clauses weighs the fields,
which is the usual approximation of BM25F. Terms are already tokens (`atlas.terms`), so the
queries are built directly and no user input ever reaches tantivy's query parser.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

import tantivy

from atlas.errors import UsageError
from atlas.query.syntax import ParsedQuery
from atlas.terms import STEMMED_FIELDS, stem

PHRASE_BOOST = 3.0
SYMBOL_FILTER_BOOST = 2.0
STEM_BOOST = 0.5
"""A query term's stem (`parsing` → `pars`) matches file names and symbols at this share of its weight.

The term and its stem are one disjunction-max clause: a file matching both counts once, at the exact weight.
"""

PAIR_SLOP = 2
"""Slop of a `proximity` pair's phrase: with 2 the words may stand up to two words apart in order, or swapped
side by side. Measured: 2 held out as well as 0 (objective 0.7389 against 0.7372, one coordinate order)."""

Occur = tantivy.Occur
Query = tantivy.Query


def build_query(
    schema: tantivy.Schema,
    parsed: ParsedQuery,
    boosts: dict[str, float],
    content_only: frozenset[str] = frozenset(),
    inflected: Mapping[str, Sequence[str]] | None = None,
    inflection_weight: float = 0.0,
) -> tantivy.Query:
    """The tantivy query for `parsed` with field `boosts` (field name → weight).

    Terms in `content_only` (words many files contain: "the", "how") are not matched against
    file names, where their rarity would make them look decisive (`the_nilfs.h` for "how does
    the scheduler pick the next task"). Symbol names keep them: `main`, `run` are real names.
    In the fields that hold no stems, a term's `inflected` forms (`parser`, `parse` for `parsing`) match
    for it at `inflection_weight` × its weight.
    """
    should = _term_clauses(schema, parsed, boosts, content_only, inflected or {}, inflection_weight)
    should += _phrase_clauses(schema, parsed, boosts)
    must = _filter_clauses(schema, parsed)
    if not should:
        if not must:
            return Query.empty_query()
        return Query.boolean_query([(Occur.Must, q) for q in must])
    text_query = Query.boolean_query([(Occur.Should, q) for q in should])
    if not must:
        return text_query
    return Query.boolean_query([(Occur.Must, text_query)] + [(Occur.Must, q) for q in must])


def _term_clauses(
    schema: tantivy.Schema,
    parsed: ParsedQuery,
    boosts: dict[str, float],
    content_only: frozenset[str],
    inflected: Mapping[str, Sequence[str]],
    inflection_weight: float,
) -> list[Query]:
    clauses = []
    for field_name, field_boost in boosts.items():
        if field_boost <= 0:
            continue
        stemmed = field_name in STEMMED_FIELDS
        for term, weight in parsed.terms:
            if field_name == "filename" and term in content_only:
                continue
            boost = field_boost * weight
            others: Sequence[tuple[str, float]] = ()
            if stemmed and (root := stem(term)) != term and term not in content_only:
                others = [(root, boost * STEM_BOOST)]
            elif not stemmed and inflection_weight > 0:
                others = [(form, boost * inflection_weight) for form in inflected.get(term, ())]
            clause = Query.boost_query(Query.term_query(schema, field_name, term), boost)
            if others:
                variants = [Query.boost_query(Query.term_query(schema, field_name, t), b) for t, b in others]
                clause = Query.disjunction_max_query([clause, *variants])
            clauses.append(clause)
    return clauses


def _phrase_clauses(schema: tantivy.Schema, parsed: ParsedQuery, boosts: dict[str, float]) -> list[Query]:
    boost = PHRASE_BOOST * boosts.get("content", 1.0)
    return [
        Query.boost_query(Query.phrase_query(schema, "content", list(phrase)), boost)
        for phrase in parsed.phrases
    ]


def pair_query(schema: tantivy.Schema, pairs: Sequence[tuple[tuple[str, str], float]]) -> tantivy.Query:
    """Any of the word `pairs` (each with its weight) as a phrase of the content field: BM25 of the
    query's adjacent words met together, the sequential-dependence part of a query."""
    return Query.boolean_query([
        (Occur.Should, Query.boost_query(Query.phrase_query(schema, "content", list(pair), PAIR_SLOP), weight))
        for pair, weight in pairs
    ])  # fmt: skip


def _filter_clauses(schema: tantivy.Schema, parsed: ParsedQuery) -> list[Query]:
    clauses = []
    if parsed.languages:
        clauses.append(_any_of([Query.term_query(schema, "language", lang) for lang in parsed.languages]))
    if parsed.paths:
        clauses.append(path_filter_query(schema, parsed.paths))
    if parsed.symbols:
        from atlas.query.symbols import name_token  # only for `sym:`: a search without one stays lean

        for name in parsed.symbols:  # `Container.name`: the files defining `name` (its type may be elsewhere)
            token = name_token(name)
            if token:
                clauses.append(Query.boost_query(Query.term_query(schema, "symbols", token), SYMBOL_FILTER_BOOST))
            else:
                clauses.append(Query.empty_query())
    return clauses


def path_filter_query(schema: tantivy.Schema, patterns: Sequence[str]) -> Query:
    """The documents whose path matches any of the `path:` `patterns` (see `path_regex`).

    tantivy runs the regex with Rust's engine, in time linear in the path: Python's `re` backtracks, and
    `*a*a*a*a*a*a*b` against a long name of a's takes it years.
    """
    return _any_of([_path_query(schema, p) for p in patterns])


def paths_matching(paths: Sequence[str], patterns: Sequence[str]) -> set[str]:
    """The `paths` that match any of the `path:` `patterns`, as a search filters an index: through an index of
    the paths alone, in memory, so the patterns run in tantivy's linear-time regex engine (see
    `path_filter_query`). For a search without an index (the fast preset)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", tokenizer_name="raw", stored=True)
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for path in paths:
        writer.add_document(tantivy.Document(path=path))
    writer.commit()
    index.reload()
    searcher = index.searcher()
    found = searcher.search(path_filter_query(schema, patterns), max(len(paths), 1))
    return {searcher.doc(address)["path"][0] for _, address in found.hits}


def _path_query(schema: tantivy.Schema, pattern: str) -> Query:
    try:
        return Query.regex_query(schema, "path", path_regex(pattern))
    except ValueError as err:
        raise UsageError(f"path:{pattern[:80]} is not a usable pattern", "use a glob such as src/**/*.py") from err


def _any_of(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Should, q) for q in queries])


MAX_PATH_FILTER_CHARS = 1000
_REGEX_META = frozenset(".^$*+?()[]{}|\\-&~#")


def _escape(text: str) -> str:
    """Escape regex metacharacters only (Python's re.escape also escapes spaces, which Rust rejects)."""
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


def _literal(text: str) -> str:
    """A regex matching `text` (composed, NFC) as written in either Unicode normal form: a name made on macOS may be
    decomposed (NFD, `e` and a combining accent), where the glob is typed composed, or the other way round."""
    if text.isascii():
        return _escape(text)
    out = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        out.append(_escape(ch) if decomposed == ch else f"(?:{_escape(ch)}|{_escape(decomposed)})")
    return "".join(out)


def path_regex(pattern: str) -> str:
    """tantivy regex (whole-term match) for a `path:` value.

    A value with glob characters (`*`, `?`, `[...]`) is a glob over the path: `*` stays within
    a directory, `**` crosses them (`**/` any directories, `src/**.py` any `.py` below `src/`), and a glob
    ending in `/` names a directory, every file below it. A plain value matches paths containing it. A leading
    `/` anchors either kind at the repository root. The result uses only syntax that Python's `re` and
    tantivy's (Rust) regex engine read alike, under `(?s)`: a path may hold a newline (`new\nline.py`, or in a
    directory's name), which a plain `.` matches in neither engine, so `**`, `src/` and `line` missed such files.
    """
    if len(pattern) > MAX_PATH_FILTER_CHARS:
        raise UsageError(f"a path: filter is over {MAX_PATH_FILTER_CHARS} characters", "use a shorter glob")
    anchored = pattern.startswith("/")
    pattern = unicodedata.normalize("NFC", pattern.lstrip("/"))
    if not any(ch in pattern for ch in "*?["):
        return "(?s)" + ("" if anchored else ".*") + _literal(pattern) + ".*"
    translated = "".join(_GLOBSTARS.get(part) or _glob_piece(part) for part in re.split(r"(\*\*/?)", pattern))
    if pattern.endswith("/"):
        translated += ".*"
    return "(?s)" + (translated if anchored else "(.*/)?" + translated)


_GLOBSTARS = {"**/": "(.*/)?", "**": ".*"}
"""`**/`: any directories, none too; `**` elsewhere: anything, across directories."""


_MARKS: Final = "[\u0300-\u036f]*"
"""The combining accents that follow a letter written decomposed (NFD: `e` then U+0301): `?` and `[!...]` take them
with the letter they match, so one accented letter of a name made on macOS is one character to a glob."""


def _glob_piece(piece: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(piece):
        ch = piece[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]" + _MARKS)
        elif ch == "[" and (end := _class_end(piece, i)) > 0:
            out.append(_char_class(piece[i + 1 : end]))
            i = end
        else:
            out.append(_literal(ch))
        i += 1
    return "".join(out)


def _class_end(piece: str, start: int) -> int:
    end = piece.find("]", start + 2)
    return end if end > 0 else -1


def _char_class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    body = body[1:] if negate else body
    items: list[str] = []
    singles: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-" and body[i] <= body[i + 2]:
            items.append(f"{_escape(body[i])}-{_escape(body[i + 2])}")
            i += 3
        else:
            items.append(_escape(body[i]))
            singles.append(body[i])
            i += 1
    if not items:
        return "[^/]" if negate else "(?:[^\\s\\S])"
    if negate:
        return _not_listed(items, singles)
    listed = "[" + "".join(items) + "]"
    # A listed letter a name may hold decomposed (macOS): its decomposed form too, as `_literal` matches letters.
    decomposed = [_escape(form) for ch in body if (form := unicodedata.normalize("NFD", ch)) != ch]
    return "(?:" + "|".join([listed, *decomposed]) + ")" if decomposed else listed


def _not_listed(items: list[str], singles: list[str]) -> str:
    """A regex for one character of a name that a negated class (`[!...]`: its `items` escaped, its `singles` the
    characters listed alone) takes. A name may hold a letter decomposed (`é` as `e` and U+0301, as macOS writes
    names): a listed `é` is refused written either way, and a listed `e` refuses only `e` itself, not `é` written
    decomposed. So each listed character's base letter is taken only with runs of accents that no listed character
    has. Neither engine has lookahead: the runs allowed are spelled out from a trie of the listed ones. (A range
    still refuses a base letter it holds, whatever its accents.)"""
    accents: dict[str, list[str]] = {}
    for ch in singles:
        decomposed = unicodedata.normalize("NFD", ch)
        accents.setdefault(decomposed[0], []).append(decomposed[1:])
    plain = "[^/" + "".join(items) + "".join(_escape(base) for base in accents if base != "/") + "]" + _MARKS
    ranges = [item for item in items if len(item) > 1 and "-" in item[1:]]
    in_range = re.compile("[" + "".join(ranges) + "]") if ranges else None
    bases = [
        _escape(base) + _other_accents(runs)
        for base, runs in accents.items()
        if base != "/" and not (in_range and in_range.fullmatch(base))
    ]
    return "(?:" + "|".join([plain, *bases]) + ")" if bases else plain


def _other_accents(listed: list[str]) -> str:
    """A regex for the runs of combining accents (`_MARKS`, none too) that are none of the `listed` runs."""
    trie: dict[str, Any] = {}
    for run in listed:
        node = trie
        for mark in run:
            node = node.setdefault(mark, {})
        node[""] = {}  # the run ends here: a name's run that ends here too is a listed character

    def below(node: dict[str, Any]) -> str:
        children = sorted(mark for mark in node if mark)
        options = [_accents_but(children) + _MARKS, *(_escape(mark) + below(node[mark]) for mark in children)]
        body = "(?:" + "|".join(options) + ")"
        return body if "" in node else body + "?"

    return below(trie)


def _accents_but(marks: list[str]) -> str:
    """A class of one combining accent (U+0300-U+036F) other than `marks`, as ranges both engines read."""
    start, ranges = 0x300, []
    for code in [*sorted(map(ord, marks)), 0x370]:
        if code > start:
            ranges.append(chr(start) if code - 1 == start else f"{chr(start)}-{chr(code - 1)}")
        start = code + 1
    return "[" + "".join(ranges) + "]" if ranges else "(?:[^\\s\\S])"


def template_query(schema: tantivy.Schema) -> tantivy.Query:
    """Files whose path has the words of an issue or merge-request template (`ISSUE_TEMPLATE/bug.yml`,
    `pull_request_template.md`): a superset of `atlas.query.boilerplate.is_template`, found without a walk
    over every path."""
    kinds = [(Occur.Should, Query.term_query(schema, "filename", stem(word))) for word in ("issue", "request")]
    return Query.boolean_query([
        (Occur.Must, Query.term_query(schema, "filename", stem("template"))),
        (Occur.Must, Query.boolean_query(kinds)),
    ])  # fmt: skip
