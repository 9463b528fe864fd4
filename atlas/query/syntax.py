"""Query text → `ParsedQuery`: terms, phrases and `path:` / `lang:` / `sym:` filters.

Pure and total: any string parses (a whole bug report with tracebacks included); what is
not a filter or a balanced quoted phrase is free text; HTML comments outside code blocks (an issue
template's instructions) are dropped. Unbalanced quotes and brackets are
ordinary characters. No I/O but `check_path_filters` reading where the root really is.

A filter's value follows its colon: a word up to the next space, or a quoted value. `path:`, `lang:` or `sym:`
with nothing after it (a space, the end) is the plain word, by design: pasted text is full of `path:` keys (YAML,
logs) and must never fail a search. An explicitly empty value (`lang:""`) is kept, for `searchable` to refuse,
as it refuses `--lang ''`.

Fenced code blocks and stack traces weigh by what they name, not by how often they repeat it:
a term counts at most once per block, so `at`, `java`, `lang`, `runtime` written in every frame
of a trace weigh as if written once (the frames' paths and names are `mentions`).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from atlas.errors import UsageError
from atlas.terms import MAX_TOKEN_LEN, MIN_TOKEN_LEN, tokenize

MAX_TERMS = 400
MAX_PHRASES = 8
MAX_PHRASE_CHARS = 200
MAX_FILTERS = 100
"""The most distinct `path:`, `lang:` or `sym:` filters of one kind a query takes (repeats count once): each is a
clause of the query, a path glob an automaton, so a text of thousands (5,000 `path:` globs: 18 s, 2.7 GB) had
a search exhaust the machine."""
MAX_PATH_WILDCARDS = 64
"""The most wildcards (`*`, `?`, `[`) a query's `path:` filters hold in all. Each glob is an automaton whose size
grows steeply with its wildcards, built in up to 0.2 s (to tantivy's cap), so 100 globs of 40 took 21 s; 64 in
all take under a second, and twenty `**/*.py` fit."""

_FILTER = re.compile(r'(?<!\S)(path|lang|sym):(?:"([^"\n]*)"|(\S+))')
_PHRASE = re.compile(rf'"([^"\n]{{1,{MAX_PHRASE_CHARS}}})"')
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_TRACE_LINE = re.compile(
    r"[ \t]*(?:"
    r"at (?=.*\)[ \t]*\Z)\S+ ?\(.*\)|at \S+:\d+(?::\d+)?"  # Java, Kotlin, JS/TS, Rust `at` lines
    r'|File ".*", line \d+.*'  # Python
    r"|#\d+ +0x[0-9a-fA-F]+ .*"  # sanitizers, gdb
    r"|\d+: +(?:0x[0-9a-fA-F]+ - )?[\w:<>$.]+"  # Rust backtraces
    r"|[\w./-]+\.(?:\(\*?\w+\)\.)?\w+\(.*\)"  # Go function lines
    r"|\S+\.\w+:\d+(?::\d+)?(?: \+0x[0-9a-fA-F]+)?"  # file:line locations
    r"|Traceback \(most recent call last\):|goroutine \d+ \[.*|stack backtrace:|\.\.\. \d+ more"
    r")[ \t]*"
)
r"""A stack frame line (matched whole). An `at …(…)` line must end in `)` (the lookahead checks that first): else
`\S+` gave back each `(` of the line in turn and `.*\)` rescanned the rest, quadratic (`at ((((…`: 1 MiB, minutes)."""


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query split into what each part of the engine needs."""

    text: str
    terms: tuple[tuple[str, float], ...]
    phrases: tuple[tuple[str, ...], ...]
    paths: tuple[str, ...]
    languages: tuple[str, ...]
    symbols: tuple[str, ...]
    title_terms: frozenset[str] = frozenset()
    pairs: tuple[tuple[str, str], ...] = ()
    """Adjacent tokens of the text that are both among its terms, first seen first, without repeats: the
    `proximity` signal's phrases (which take only pairs of the terms a search keeps)."""

    @property
    def has_filters(self) -> bool:
        """True if any `path:`, `lang:` or `sym:` filter was given."""
        return bool(self.paths or self.languages or self.symbols)

    @property
    def is_empty(self) -> bool:
        """True if nothing in the query can match anything."""
        return not (self.terms or self.phrases or self.has_filters)


def searchable(parsed: ParsedQuery) -> ParsedQuery:
    """`parsed`, or a UsageError when nothing in it can match anything (an empty or punctuation-only query)."""
    if parsed.is_empty and any(char.isalnum() for char in drop_html_comments(parsed.text)):
        # `x`, `5` or a 70-letter hash: the index holds no word that short or that long (atlas.terms).
        raise UsageError(
            f"the query's words are all too short or too long to search (under {MIN_TOKEN_LEN} characters or over "
            f"{MAX_TOKEN_LEN})",
            "use whole words or identifiers, a quoted phrase, or a path:/lang:/sym: filter",
        )
    if parsed.is_empty:
        raise UsageError(
            "the query has no searchable words",
            "use letters or digits, a quoted phrase, or a path:/lang:/sym: filter",
        )
    for kind, values in (("path", parsed.paths), ("lang", parsed.languages), ("sym", parsed.symbols)):
        if "" in values:
            raise UsageError(f"a {kind}: filter is empty", f"give it {_EXAMPLES[kind]}, or leave it out")
        if len(values) > MAX_FILTERS:
            raise UsageError(f"the query has {len(values):,} different {kind}: filters, more than {MAX_FILTERS}",
                             "use fewer filters: one path: glob matches many files (src/**/*.py)")  # fmt: skip
    check_path_wildcards(parsed.paths)
    return parsed


def check_path_wildcards(globs: Iterable[str]) -> None:
    """UsageError when the path `globs` hold more than MAX_PATH_WILDCARDS wildcards in all."""
    wildcards = sum(glob.count("*") + glob.count("?") + glob.count("[") for glob in globs)
    if wildcards > MAX_PATH_WILDCARDS:
        raise UsageError(
            f"the path filters hold {wildcards:,} wildcards (*, ? and [), more than {MAX_PATH_WILDCARDS} in all",
            "use fewer or simpler globs: src/**/*.py holds three",
        )


def check_path_filters(root: str, patterns: Iterable[str]) -> None:
    """UsageError for a path filter that can name nothing inside `root`: one holding a NUL character or a `..`
    component, or an absolute path into the root (`/repo/src`, which anchors at the root as `repo/src`: no
    results, where the user meant `src`). The one I/O here: the root's real location, for that prefix."""
    for pattern in patterns:
        if "\x00" in pattern:
            raise UsageError("a path filter contains a NUL character", "filters match paths inside the root")
        if ".." in pattern.split("/"):
            raise UsageError(f"{pattern}: path filters may not contain '..'", "filters match paths inside the root")
        for prefix in {str(root).rstrip("/") + "/", os.path.realpath(root).rstrip("/") + "/"}:
            if pattern.startswith(prefix):
                from atlas.safe_read import quoted_value

                raise UsageError(f"{pattern}: path filters are relative to the root",
                                 f"use {quoted_value(pattern[len(prefix) :])}")  # fmt: skip


_EXAMPLES = {
    "path": "a glob or part of a path (path:src/, --path '*.py')",
    "lang": "a language (lang:python, --lang python)",
    "sym": "a definition's name (sym:ClassName)",
}


def check_languages(languages: Sequence[str], indexed: Sequence[str] = ()) -> None:
    """UsageError naming the known languages when a `lang:` filter asks for one Atlas never detects (`indexed`:
    the languages an index holds beside the parsers' own)."""
    if not languages:
        return  # before the import: the parsers' tables cost a cold search ~4 ms
    from atlas.parse.languages import KNOWN_LANGUAGES

    known = KNOWN_LANGUAGES.union(indexed)
    unknown = [lang for lang in dict.fromkeys(languages) if lang not in known]
    if unknown:
        from atlas.safe_read import quoted_value  # only for the message: a search imports it later, if at all

        raise UsageError(
            f"unknown language {', '.join(map(quoted_value, unknown))} in a lang: filter",
            f"known languages: {', '.join(sorted(known))}",
        )


def parse_query(text: str) -> ParsedQuery:
    """Parse `text`; never raises (an empty filter, `lang:""`, is kept as "" for `searchable` to refuse)."""
    filters: dict[str, list[str]] = {"path": [], "lang": [], "sym": []}

    def take_filter(match: re.Match[str]) -> str:
        filters[match.group(1)].append(match.group(2) if match.group(2) is not None else match.group(3))
        return " "

    rest = _FILTER.sub(take_filter, text)
    phrases = _phrases(rest)
    prose, blocks = split_code(rest)
    visible = drop_html_comments(rest)
    tokens = tokenize(rest)
    visible_tokens = tokens if visible == rest else tokenize(visible)
    terms = _terms(prose, blocks, tokens, visible_tokens)
    return ParsedQuery(
        text=text,
        terms=terms,
        phrases=phrases,
        paths=tuple(dict.fromkeys(filters["path"])),
        languages=tuple(dict.fromkeys(v.lower() for v in filters["lang"])),
        symbols=tuple(dict.fromkeys(filters["sym"])),
        title_terms=frozenset(tokenize(_title(visible))),
        pairs=word_pairs(visible_tokens, {term for term, _ in terms}),
    )


def _terms(
    prose: str, blocks: list[str], tokens: list[str], visible_tokens: list[str]
) -> tuple[tuple[str, float], ...]:
    """`weighted_terms` of the `prose` and code `blocks` of a text whose tokens are `tokens`, in their order.

    Without blocks the prose is the visible text with its line breaks made `\\n`, which tokenise alike, so its
    tokens are `visible_tokens`; and when those are `tokens` too, they are already in the order wanted. Each
    pass over the tokens counts for a long text (a megabyte of Chinese is a million bigrams).
    """
    if blocks:
        return weighted_terms(tokenize(drop_html_comments(prose)), [tokenize(block) for block in blocks], tokens)
    return weighted_terms(visible_tokens, order=None if visible_tokens is tokens else tokens)


def drop_html_comments(text: str) -> str:
    """`text` with each HTML comment (`<!-- … -->`, as `re.sub(r"<!--.*?-->", " ", text, flags=re.S)` finds them)
    as a space: issue templates' instructions, invisible on the rendered page, the same in every issue of a project.

    In linear time: that regex rescans the rest of the text from every `<!--` that no `-->` follows."""
    kept, start = [], 0
    while (opening := text.find("<!--", start)) >= 0 and (closing := text.find("-->", opening + 4)) >= 0:
        kept += [text[start:opening], " "]
        start = closing + 3
    return "".join(kept) + text[start:]


def word_pairs(tokens: list[str], among: Container[str] | None = None) -> tuple[tuple[str, str], ...]:
    """Each two adjacent `tokens` (a token and its repeat aside), first seen first, without repeats; with
    `among`, only those whose two tokens are both in it (a long text's million pairs held 150 MB).

    Compound identifiers are tokens followed by their parts, so `rate_limit` gives (rate, limit), as does
    "rate limit" in prose: a pair meets the identifier in code, its words in a comment, or both.
    """
    pairs: Iterable[tuple[str, str]] = itertools.pairwise(tokens)
    if among is not None:
        pairs = (pair for pair in pairs if pair[0] in among and pair[1] in among)
    return tuple(pair for pair in dict.fromkeys(pairs) if pair[0] != pair[1])


def _title(text: str) -> str:
    """The first non-empty line of a multi-line text (an issue's summary), else nothing."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) > 1 else ""


def _phrases(text: str) -> tuple[tuple[str, ...], ...]:
    found: list[tuple[str, ...]] = []
    for match in _PHRASE.finditer(text):
        tokens = tuple(tokenize(match.group(1)))
        if len(tokens) > 1 and tokens not in found:
            found.append(tokens)
        if len(found) == MAX_PHRASES:
            break
    return tuple(found)


def split_code(text: str) -> tuple[str, list[str]]:
    """`text` without its fenced code blocks and stack traces, and those blocks, in order.

    A trace is a run of frame lines (`at …(File.java:12)`, `File "x.py", line 3`, `#0 0x… in f`,
    `file.go:12 +0x1d`, …) with the indented source lines between them.
    """
    prose: list[str] = []
    blocks: list[list[str]] = []
    fence: str | None = None
    in_trace = False
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1).startswith(fence):
                fence = None
            else:
                blocks[-1].append(line)
        elif opening:
            fence = opening.group(1)
            blocks.append([])
        elif _TRACE_LINE.fullmatch(line) or (in_trace and line[:1] in (" ", "\t")):
            if not in_trace:
                blocks.append([])
            blocks[-1].append(line)
            in_trace = True
            continue
        else:
            prose.append(line)
        in_trace = False
    return "\n".join(prose), ["\n".join(block) for block in blocks]


def weighted_terms(
    tokens: list[str], blocks: list[list[str]] | None = None, order: list[str] | None = None
) -> tuple[tuple[str, float], ...]:
    """Unique tokens with a weight growing with their repetition (1 + ln tf), first seen first.

    Tokens of code `blocks` count once per block. `order` (all tokens in text order) fixes the
    order of the result; by default prose tokens come first. At most MAX_TERMS are kept, the most
    repeated ones when a long text has more.
    """
    counts = Counter(tokens)
    for block in blocks or ():
        counts.update(dict.fromkeys(block, 1))
    if order is None:
        ordered: list[str] = list(counts)
    else:
        # `order` may hold tokens that neither prose nor blocks has (a fence line's language name).
        placed = dict.fromkeys(order)
        ordered = [t for t in placed if t in counts] + [t for t in counts if t not in placed]
    if len(ordered) > MAX_TERMS:
        # `nlargest` keeps the first of equals, as a stable sort does.
        keep = set(heapq.nlargest(MAX_TERMS, ordered, key=counts.__getitem__))
        ordered = [t for t in ordered if t in keep]
    return tuple((t, 1.0 + math.log(counts[t])) for t in ordered)
