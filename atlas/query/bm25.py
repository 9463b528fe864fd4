"""ParsedQuery → tantivy query: per-field boosted term queries plus filters (BM25F-like).

tantivy scores each (field, term) with BM25; boosting the field's clauses weighs the fields,
which is the usual approximation of BM25F. Terms are already tokens (`atlas.terms`), so the
queries are built directly and no user input ever reaches tantivy's query parser.
"""

from __future__ import annotations

import fnmatch
import re

import tantivy

from atlas.query.syntax import ParsedQuery
from atlas.terms import tokenize

PHRASE_BOOST = 3.0
SYMBOL_FILTER_BOOST = 2.0

Occur = tantivy.Occur
Query = tantivy.Query


def build_query(schema: tantivy.Schema, parsed: ParsedQuery, boosts: dict[str, float]) -> tantivy.Query:
    """The tantivy query for `parsed` with field `boosts` (field name → weight)."""
    should = _term_clauses(schema, parsed, boosts) + _phrase_clauses(schema, parsed, boosts)
    must = _filter_clauses(schema, parsed)
    if not should:
        if not must:
            return Query.empty_query()
        return Query.boolean_query([(Occur.Must, q) for q in must])
    text_query = Query.boolean_query([(Occur.Should, q) for q in should])
    if not must:
        return text_query
    return Query.boolean_query([(Occur.Must, text_query)] + [(Occur.Must, q) for q in must])


def _term_clauses(schema: tantivy.Schema, parsed: ParsedQuery, boosts: dict[str, float]) -> list[Query]:
    clauses = []
    for field, field_boost in boosts.items():
        if field_boost <= 0:
            continue
        for term, weight in parsed.terms:
            clauses.append(Query.boost_query(Query.term_query(schema, field, term), field_boost * weight))
    return clauses


def _phrase_clauses(schema: tantivy.Schema, parsed: ParsedQuery, boosts: dict[str, float]) -> list[Query]:
    boost = PHRASE_BOOST * boosts.get("content", 1.0)
    return [
        Query.boost_query(Query.phrase_query(schema, "content", list(phrase)), boost)
        for phrase in parsed.phrases
    ]


def _filter_clauses(schema: tantivy.Schema, parsed: ParsedQuery) -> list[Query]:
    clauses = []
    if parsed.languages:
        clauses.append(_any_of([Query.term_query(schema, "language", lang) for lang in parsed.languages]))
    if parsed.paths:
        clauses.append(_any_of([Query.regex_query(schema, "path", path_regex(p)) for p in parsed.paths]))
    for name in parsed.symbols:
        tokens = tokenize(name)
        if tokens:
            clauses.append(Query.boost_query(Query.term_query(schema, "symbols", tokens[0]), SYMBOL_FILTER_BOOST))
        else:
            clauses.append(Query.empty_query())
    return clauses


def _any_of(queries: list[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Should, q) for q in queries])


def path_regex(pattern: str) -> str:
    """tantivy regex (whole-term match) for a `path:` value.

    A value with glob characters is a glob over the whole path (`*` stays within a
    directory, `**` crosses them); a plain value matches paths containing it.
    """
    if not any(ch in pattern for ch in "*?["):
        return ".*" + re.escape(pattern) + ".*"
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    pieces = re.split(r"\*\*/?", pattern)
    translated = "(.*/)?".join(_glob_part(piece) for piece in pieces)
    if pattern.endswith("**"):
        translated += ".*"
    return translated if anchored else "(.*/)?" + translated


def _glob_part(part: str) -> str:
    regex = fnmatch.translate(part)
    regex = regex.removeprefix("(?s:").removesuffix(")\\Z")
    return regex.replace(".*", "[^/]*")
