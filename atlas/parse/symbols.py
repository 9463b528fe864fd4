"""Definitions and imports of one source file, found with tree-sitter.

`extract(language, source)` parses the bytes with the bundled grammar of tree-sitter-language-pack and
runs the language's query from `queries/<lang>.scm`. It hands back `Symbol` records (name, kind,
1-based inclusive lines) and import strings in the conventions the import resolver expects. It reads
no files but the queries and never touches the network.

Query captures (see any .scm file):
  @definition.<kind>  the whole definition; its lines become the symbol's range
  @name               the name node of that definition
  @import             a node whose text, cleaned by the language's import handler, gives import strings
  @keyword            (Elixir, Clojure) the name of the call or form that makes the definition; the match
                      counts only for one of the language's `_DEFINING_CALLS` (`def`, `defmodule`, `defn`, ...),
                      which may also name the definition's kind
  @reference          (Java, Kotlin) a type name the file uses: one of its own package's classes needs no
                      import, so each capitalised name not imported by name becomes the import string
                      `SAME_PACKAGE + name` (`atlas.records`), which the resolver looks up beside the file

When several patterns capture the same name node (a def inside a class is both a function and a
method), the most specific kind wins and the line range is the union of the definition nodes.

The queries use no text predicates (#eq?, #match?, #any-of?): trees are parsed through a read
callback (so a parse can be given a deadline) and such trees hold no text, which makes py-tree-sitter
0.26 crash when a predicate reads it. Handlers filter by text in Python instead.

Parsers, compiled queries and the read buffer are cached per process: the first call for a language
pays for loading the grammar and compiling the query (1-160 ms), later calls only parse and match.
That state is not shared safely between threads: call `extract` from one thread per process (the
parse pool uses processes).
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

from atlas.held_signals import HELD_SIGNALS, signals_deferred
from atlas.parse.languages import GRAMMAR_FOR, SCRIPT_HOSTS
from atlas.records import SAME_PACKAGE, Symbol

MAX_SAME_PACKAGE_NAMES = 200
_JAVA_LANG = frozenset({
    "Object", "String", "StringBuilder", "Integer", "Long", "Short", "Byte", "Double", "Float", "Boolean",
    "Character", "Number", "Void", "Math", "System", "Class", "Enum", "Record", "Iterable", "Comparable",
    "Runnable", "Thread", "Throwable", "Exception", "Error", "RuntimeException", "Override", "Deprecated",
    "SuppressWarnings", "FunctionalInterface", "SafeVarargs", "CharSequence", "AutoCloseable", "Cloneable",
    "IllegalArgumentException", "IllegalStateException", "NullPointerException",
    "UnsupportedOperationException", "IndexOutOfBoundsException", "ClassCastException", "ArithmeticException",
    "InterruptedException"
})  # fmt: skip
_DOTNET_SYSTEM = frozenset({
    "Object", "String", "Int32", "Int64", "Boolean", "Double", "Decimal", "Char", "Byte", "DateTime", "TimeSpan",
    "Guid", "Type", "Array", "Enum", "Math", "Console", "Convert", "Environment", "Exception", "Attribute",
    "ArgumentException", "ArgumentNullException", "ArgumentOutOfRangeException", "InvalidOperationException",
    "NotSupportedException", "NotImplementedException", "FormatException", "IDisposable", "IEquatable",
    "IComparable", "Func", "Action", "Task", "ValueTask", "CancellationToken", "List", "Dictionary", "HashSet",
    "IList", "IDictionary", "IEnumerable", "IEnumerator", "ICollection", "IReadOnlyList", "IReadOnlyDictionary",
    "KeyValuePair", "Nullable", "Lazy", "Tuple", "StringBuilder", "Encoding", "Stream", "TextReader", "TextWriter",
    "Regex", "CultureInfo", "Debug", "Trace", "Obsolete", "Serializable", "Flags", "Fact", "Theory", "Test",
})  # fmt: skip
"""`System` types (and the test attributes) a C# file names without a file of the repository behind them."""
_SWIFT_STANDARD = frozenset({
    "String", "Substring", "Character", "Int", "Int32", "Int64", "UInt", "UInt8", "Double", "Float", "Bool", "Array",
    "Dictionary", "Set", "Optional", "Result", "Error", "Never", "Void", "Any", "AnyObject", "Self", "Range",
    "Sequence", "Collection", "Equatable", "Hashable", "Comparable", "Codable", "Decodable", "Encodable", "Sendable",
    "CustomStringConvertible", "Identifiable", "Data", "Date", "URL", "UUID", "URLRequest", "URLResponse",
    "HTTPURLResponse", "URLSession", "URLComponents", "URLQueryItem", "JSONDecoder", "JSONEncoder", "NSObject",
    "NSError", "NSLock", "DispatchQueue", "OperationQueue", "Operation", "Notification", "NotificationCenter",
    "Bundle", "FileManager", "ProcessInfo", "Thread", "Timer", "TimeInterval", "CGFloat", "CGSize", "CGRect",
    "Task", "MainActor", "XCTestCase", "XCTAssertEqual",
})  # fmt: skip
"""The standard library's and Foundation's types a Swift file names without a file of the repository behind them."""
_IMPLICITLY_IMPORTED = {
    "csharp": _DOTNET_SYSTEM,
    "swift": _SWIFT_STANDARD,
    "java": _JAVA_LANG,
    "kotlin": _JAVA_LANG | {
        "Any", "Unit", "Nothing", "Int", "UInt", "Char", "Array", "List", "MutableList", "Map", "MutableMap",
        "Set", "MutableSet", "Collection", "Sequence", "Pair", "Triple", "Result", "Regex", "Lazy",
        "Comparator", "JvmStatic", "JvmField", "JvmOverloads", "JvmName", "Throws", "Suppress", "Volatile",
        "Synchronized"
    },
    "groovy": _JAVA_LANG | {
        "Closure", "Script", "Binding", "GString", "List", "Map", "Set", "Collection", "Date", "File", "URL",
        "BigDecimal", "BigInteger", "Delegate", "DelegatesTo", "Canonical", "CompileStatic", "TypeChecked",
        "ToString", "EqualsAndHashCode", "Immutable", "Slf4j", "Field"
    },
}  # fmt: skip
"""Names a Java, Kotlin or Groovy file uses without an import that are never its package's (java.lang, kotlin.*,
groovy.lang, and Groovy's default imports java.util.*, java.io.*, java.net.*, groovy.transform.*)."""

if TYPE_CHECKING:
    from tree_sitter import Node, Parser, Query, Tree

__all__ = ["DEFAULT_TIMEOUT_S", "ExtractionError", "extract", "load_query_source", "prepare"]

# Seconds one parse may take. A 1 MiB source file parses in well under a second.
DEFAULT_TIMEOUT_S = 5.0
# Bytes handed to tree-sitter per read; small, because error recovery re-reads from many offsets.
_READ_CHUNK = 1 << 14
_READ_BUFFER = bytearray()


class ExtractionError(Exception):
    """tree-sitter could not parse or query a file; index it without symbols."""


# The query files of languages whose query is another's, or built on another's: the TSX grammar extends
# TypeScript's, CUDA's C++'s, Objective-C's C's, and an OCaml implementation holds all an interface declares,
# and more.
_QUERY_FILES_FOR: dict[str, tuple[str, ...]] = {
    "tsx": ("typescript",), "objc": ("c", "objc"), "ocaml": ("ocaml_interface", "ocaml"), "cuda": ("cpp",),
}  # fmt: skip

# Kinds that a more specific pattern may override for the same name (a function in a class body is a
# method; a Kotlin class with the `interface` keyword is an interface; a Go type of struct type is a
# struct).
_GENERIC_KIND_RANK: dict[str, int] = {"variable": 0, "function": 1, "class": 1, "type": 1}
_SPECIFIC_RANK = 2

_PARSERS: dict[str, Parser] = {}
_QUERIES: dict[str, Query] = {}

_Match = tuple[int, dict[str, list["Node"]]]
_ImportHandler = Callable[["Node", bytes], Iterable[str]]


def extract(
    language: str, source: bytes, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[list[Symbol], list[str]]:
    """Return the definitions (sorted by line, without duplicates) and imports of `source`.

    `language` is a name from `detect_language`; a language without a grammar gives ([], []); a Vue or Svelte
    component gives what its `<script>` elements define and import, at their lines in the file.
    `timeout_s` bounds the parse: tree-sitter's error recovery can take minutes on pathological input
    (a megabyte of brackets, a deeply indented file parsed as the wrong language).
    Raises ExtractionError, and nothing else, when tree-sitter fails or runs out of time on the file.
    """
    if language in SCRIPT_HOSTS:
        return _scripts(source, timeout_s)
    if language not in GRAMMAR_FOR:
        return [], []
    try:
        parser, query = _tools(language)
    except Exception as exc:  # a grammar or query that does not load: same contract for the caller
        raise ExtractionError(f"{language}: cannot load grammar or query: {exc}") from exc
    if language in _ENDS_WITH_NEWLINE and not source.endswith(b"\n"):
        source += b"\n"
    try:
        with _shielded() as interrupted:
            tree = _parse(parser, source, timeout_s, interrupted)
        matches = _run_query(query, tree.root_node, source)
        symbols, imports = _symbols(matches, source, language), _imports(language, matches, source)
        return symbols, imports + _same_package(language, matches, source, imports, symbols)
    except Exception as exc:  # tree-sitter, or a handler meeting a tree it did not expect
        parser.reset()
        raise ExtractionError(f"{language}: {_describe(exc)}") from exc


def prepare(language: str) -> None:
    """Load the grammar and query `extract` needs for `language` now (a component's: JavaScript's and TypeScript's),
    so that a process forked later starts with them; a failure to load is left for `extract` to report."""
    for needed in ("javascript", "typescript") if language in SCRIPT_HOSTS else (language,):
        if needed in GRAMMAR_FOR:
            with contextlib.suppress(Exception):
                _tools(needed)


_ENDS_WITH_NEWLINE = frozenset({"perl"})
"""Grammars whose external scanner never returns at an end of file inside a comment after a bareword (`foo #`,
two bytes `h#` do it: tree-sitter-perl spins in C, where neither the parse deadline nor a signal reaches it, and
the index run hangs for good). A final newline ends the comment and moves no line or byte before it."""

_SCRIPT_OPEN = re.compile(rb"<script\b", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(rb"</script\s*>", re.IGNORECASE)
_TYPESCRIPT_ATTRIBUTE = re.compile(rb"""\blang\s*=\s*["']?(?:ts|typescript)\b""", re.IGNORECASE)


def script_elements(source: bytes) -> Iterator[tuple[bytes, int, int]]:
    r"""The attributes, and where the text starts and ends, of each `<script …>…</script>` element of `source`: what
    `re.finditer(rb"<script\b([^>]*)>(.*?)</script\s*>", source, re.DOTALL | re.IGNORECASE)` finds, in linear time.

    That regex rescans the rest of the text from every `<script` that no `</script>` (or no `>`) follows: a
    component of a megabyte of `<script>` took minutes. No later element can end where this one found no end.
    """
    position = 0
    while opening := _SCRIPT_OPEN.search(source, position):
        tag_end = source.find(b">", opening.end())
        closing = _SCRIPT_CLOSE.search(source, tag_end + 1) if tag_end >= 0 else None
        if closing is None:
            return
        yield source[opening.end() : tag_end], tag_end + 1, closing.start()
        position = closing.end()


def _scripts(source: bytes, timeout_s: float) -> tuple[list[Symbol], list[str]]:
    """The definitions and imports of a component's `<script>` elements (`lang="ts"`: TypeScript), their lines
    counted from the top of the file."""
    symbols: list[Symbol] = []
    imports: dict[str, None] = {}
    before = counted = 0
    for attributes, start, end in script_elements(source):
        language = "typescript" if _TYPESCRIPT_ATTRIBUTE.search(attributes) else "javascript"
        found, uses = extract(language, source[start:end], timeout_s=timeout_s)
        before += source.count(b"\n", counted, start)  # from the last element on: each count from the top was quadratic
        counted = start
        symbols += [Symbol(s.name, s.kind, s.start_line + before, s.end_line + before) for s in found]
        imports.update(dict.fromkeys(uses))
    return sorted(symbols, key=lambda s: (s.start_line, s.end_line, s.name, s.kind)), list(imports)


def _describe(exc: Exception) -> str:
    """A short, one-line reason for an ExtractionError message."""
    text = str(exc) if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:200]


def _tools(language: str) -> tuple[Parser, Query]:
    """The cached parser and compiled query for `language`, created on first use."""
    parser = _PARSERS.get(language)
    query = _QUERIES.get(language)
    if parser is None or query is None:
        from tree_sitter import Parser, Query
        from tree_sitter_language_pack import get_language

        grammar = get_language(GRAMMAR_FOR[language])  # type: ignore[arg-type]
        query = Query(grammar, load_query_source(language))
        _learn_kinds(query)
        parser = Parser(grammar)
        _PARSERS[language], _QUERIES[language] = parser, query
    return parser, query


def load_query_source(language: str) -> str:
    """The text of the .scm query used for `language` (its files' texts, one after the other)."""
    folder = resources.files("atlas.parse").joinpath("queries")
    names = _QUERY_FILES_FOR.get(language, (language,))
    return "\n".join(folder.joinpath(f"{name}.scm").read_text("utf-8") for name in names)


def _shielded() -> contextlib.AbstractContextManager[list[Any]]:
    """Keep ^C and SIGTERM out of tree-sitter's callbacks (read, progress) until the block ends.

    An exception raised in a callback makes py-tree-sitter 0.26.1 go on with a NULL result: a SystemError that
    `extract` would take for the file's parse error, losing the ^C, or a crash. Only the main thread runs signal
    handlers, and only Python handlers raise: a parse worker (^C ignored, SIGTERM's default action) needs no
    shield, which costs ~60 us a file. The block gets the list of the signals held back, which stop the parse.
    """
    if threading.current_thread() is threading.main_thread() and any(
        callable(signal.getsignal(signum)) for signum in HELD_SIGNALS
    ):
        return signals_deferred()
    return contextlib.nullcontext([])


def _parse(parser: Parser, source: bytes, timeout_s: float, interrupted: list[Any]) -> Tree:
    """Parse `source`, giving up after `timeout_s` seconds, or at once when `interrupted` holds a signal.

    A deadline needs the read-callback form of `Parser.parse`, and py-tree-sitter 0.26.1 keeps one
    reference to every object that callback returns, forever. Error recovery re-reads the input
    thousands of times, so returning fresh slices leaked megabytes per hostile file (and returning
    memoryviews pinned every source). The callback therefore always returns the same per-process
    bytearray, refilled with the requested chunk: the leak is a reference count, not memory.
    The parser only reads a chunk until its next call to the callback.
    """
    deadline = time.monotonic() + timeout_s
    size = len(source)
    chunk = _READ_BUFFER

    with memoryview(source) as view:

        def read(offset: int, _point: object) -> bytes | bytearray:
            if offset >= size:
                return b""
            chunk[:] = view[offset : offset + _READ_CHUNK]
            return chunk

        def expired(_offset: int, _has_error: bool) -> bool:
            return bool(interrupted) or time.monotonic() > deadline

        try:
            tree = parser.parse(read, progress_callback=expired)
        except ValueError as exc:  # py-tree-sitter reports a cancelled parse as "Parsing failed"
            # A cancelled parser resumes the old parse on its next call unless it is reset.
            parser.reset()
            if time.monotonic() > deadline:
                raise TimeoutError(f"parse gave up after {timeout_s:g}s") from exc
            raise
    if tree is None:
        raise ValueError("the parser returned no tree")
    return tree


MAX_OPEN_RUN = 10_000
"""The longest run of opening brackets (`(`, `[`, `{`, spaces between) a file that does not parse may hold.

Left unclosed, such a run makes tree-sitter's query cursor quadratic: each bracket is an unnamed child of one
ERROR node, and the cursor looks through every later sibling of each for a named one (py-tree-sitter 0.26.1:
10,000 brackets 0.09 s, 40,000 0.9 s, 200,000 19 s in Python, 37 s in Fortran; a megabyte, minutes). The parse
deadline does not cover the query, and a progress callback on the query crashes the process."""

_OPEN_RUN = re.compile(rb"[(\[{][(\[{\s]*")

MAX_QUERY_DEPTH = 10_000
"""The deepest tree level at which the query starts a match: definitions nested deeper are not read.

Past 65,535 levels (tree-sitter keeps a match's start depth in 16 bits) the query cursor goes quadratic: JavaScript
functions nested 40,000 deep (80,000 levels) took 4.7 s, 60,000 deep (a 960 KB file, under the size limit) 37 s,
for a query the parse deadline does not cover. Real code nests a few hundred levels at most."""


def _run_query(query: Query, root: Node, source: bytes) -> list[_Match]:
    """All matches of `query` under `root` starting at most MAX_QUERY_DEPTH levels down; ValueError for a tree whose
    query would take minutes (MAX_OPEN_RUN).

    No progress callback here: with one, QueryCursor.matches crashes the process in py-tree-sitter 0.26.1.
    Matching is linear in the tree otherwise, so the parse deadline bounds it well enough.
    """
    from tree_sitter import QueryCursor

    if root.has_error and (run := _longest_open_run(source)) > MAX_OPEN_RUN:
        raise ValueError(f"a run of {run:,} opening brackets, over the {MAX_OPEN_RUN:,} its definitions are read in")
    cursor = QueryCursor(query)
    cursor.set_max_start_depth(MAX_QUERY_DEPTH)
    return cursor.matches(root)


def _longest_open_run(source: bytes) -> int:
    """How many opening brackets the longest run of them in `source` holds (whitespace between them allowed)."""
    longest = 0
    for run in _OPEN_RUN.finditer(source):
        if len(run.group()) > longest:
            text = run.group()
            longest = max(longest, text.count(b"(") + text.count(b"[") + text.count(b"{"))
    return longest


# --- definitions -------------------------------------------------------------------------------------


_FOUND_KIND, _FOUND_RANK, _FOUND_START, _FOUND_END, _FOUND_NAME = range(5)
"""The fields of a definition seen so far for one name node, merged over all the patterns that captured it
(a list per name node: thousands are made per file, and a list is the cheapest record to make and update)."""

_DEFINITION_KINDS: dict[str, tuple[str, int]] = {}
"""Capture name `definition.<kind>` → (kind, rank), for the captures of every query compiled so far."""

_DEFINING_CALLS: dict[str, dict[str, str | None]] = {
    "elixir": dict.fromkeys(("defmodule", "defprotocol", "defimpl", "def", "defp", "defmacro", "defmacrop",
                             "defguard", "defguardp", "defdelegate", "defexception")),
    "clojure": {
        "ns": "module", "def": "variable", "defonce": "variable", "defn": "function", "defn-": "function",
        "defmulti": "function", "defmethod": "method", "defmacro": "macro", "defprotocol": "interface",
        "definterface": "interface", "defrecord": "class", "deftype": "class", "defstruct": "struct",
    },
    "groovy": {"class": "class", "interface": "interface", "enum": "enum", "trait": "trait"},
}  # fmt: skip
"""Where definitions are calls (Elixir), forms (Clojure) or declarations read as words (Groovy), the ones that
define, each with the kind it gives (None: the pattern's kind). A match whose @keyword capture is another call
(`alias Ecto.Query`, `(helper x)`) or another word is no definition."""

_NOT_DEFINING_AFTER: dict[str, frozenset[str]] = {
    "groovy": frozenset({"new", "return", "throw", "else", "yield", "case", "assert", "="}),
}
"""Words that make what follows an expression, not a definition (`new Item() { }` is an anonymous class): a
match whose @after capture is one of them is dropped."""

_CLAUSE_LANGUAGES = frozenset({"haskell", "erlang"})
"""Languages that write one function as consecutive clauses, each its own node (Haskell's equations and type
signature, Erlang's clauses): `_symbols` joins them into one definition."""


def _learn_kinds(query: Query) -> None:
    """Add the `@definition.<kind>` captures of `query` to _DEFINITION_KINDS."""
    for index in range(query.capture_count):
        key = query.capture_name(index)
        if key.startswith("definition."):
            kind = key[11:]
            _DEFINITION_KINDS[key] = (kind, _GENERIC_KIND_RANK.get(kind, _SPECIFIC_RANK))


def _symbols(matches: list[_Match], source: bytes, language: str) -> list[Symbol]:
    """One Symbol per captured name node, sorted by start line."""
    found: dict[int, list[Any]] = {}  # keyed by the name node's start byte
    defining = _DEFINING_CALLS.get(language, {})
    not_after = _NOT_DEFINING_AFTER.get(language, frozenset())
    for _, captures in matches:
        names = captures.get("name")
        if not names:
            continue
        after = captures.get("after")
        if after and _text(after[0], source) in not_after:
            continue
        keyword_kind = None
        keyword = captures.get("keyword")
        if keyword:
            word = _text(keyword[0], source)
            if word not in defining:
                continue
            keyword_kind = defining[word]
        for key, nodes in captures.items():
            spec = _DEFINITION_KINDS.get(key)
            if spec is not None:
                if keyword_kind is not None:
                    spec = (keyword_kind, _SPECIFIC_RANK)
                for node in nodes:  # Dart: a signature and its body, sibling nodes
                    _merge(found, spec, node, names[0], source)
    symbols = {_to_symbol(entry, source) for entry in found.values()}
    # Error recovery can insert a zero-width MISSING name: such a definition has no name to index.
    ordered = sorted((s for s in symbols if s.name), key=lambda s: (s.start_line, s.end_line, s.name, s.kind))
    return _join_clauses(ordered) if language in _CLAUSE_LANGUAGES else ordered


def _join_clauses(symbols: list[Symbol]) -> list[Symbol]:
    """Join each run of definitions of one name and kind that follow each other (at most one line apart)."""
    joined: list[Symbol] = []
    for symbol in symbols:
        last = joined[-1] if joined else None
        if last and (last.name, last.kind) == (symbol.name, symbol.kind) and symbol.start_line <= last.end_line + 2:
            joined[-1] = Symbol(last.name, last.kind, last.start_line, max(last.end_line, symbol.end_line))
        else:
            joined.append(symbol)
    return joined


def _merge(found: dict[int, list[Any]], spec: tuple[str, int], definition: Node, name: Node, source: bytes) -> None:
    """Record one (definition, name) capture, keeping the most specific kind and the widest lines."""
    start_point, end_point = definition.start_point, definition.end_point
    start, end = start_point.row, end_point.row
    if end_point.column == 0 and end > start:  # a node ending at column 0 ends before its trailing line breaks
        end = max(start, end - _trailing_line_breaks(source, definition.start_byte, definition.end_byte))
    key = name.start_byte
    entry = found.get(key)
    if entry is None:
        found[key] = [spec[0], spec[1], start, end, name]
        return
    if spec[1] > entry[_FOUND_RANK]:
        entry[_FOUND_KIND], entry[_FOUND_RANK] = spec
    if start < entry[_FOUND_START]:
        entry[_FOUND_START] = start
    if end > entry[_FOUND_END]:
        entry[_FOUND_END] = end


def _trailing_line_breaks(source: bytes, start: int, end: int) -> int:
    """How many line breaks the whitespace at the end of `source[start:end]` holds."""
    body = source[start:end]
    return body.count(b"\n", len(body.rstrip()))


def _to_symbol(entry: list[Any], source: bytes) -> Symbol:
    """Build a Symbol from a merged entry; UPPER_CASE variables are constants."""
    node = entry[_FOUND_NAME]
    name = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
    if not name.isidentifier():
        # One line, no quotes: `declare module "foo"` is named foo, `operator\n  int` is `operator int`.
        name = " ".join(name.split()).strip("\"'")
    kind = entry[_FOUND_KIND]
    if kind == "variable" and name.isupper():
        kind = "constant"
    return Symbol(name, kind, entry[_FOUND_START] + 1, entry[_FOUND_END] + 1)


def _text(node: Node, source: bytes) -> str:
    """The source text of `node`, decoded leniently."""
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _compact(node: Node, source: bytes) -> str:
    """The text of `node` without any whitespace (`a . b` → `a.b`)."""
    return "".join(_text(node, source).split())


# --- imports -----------------------------------------------------------------------------------------


def _imports(language: str, matches: list[_Match], source: bytes) -> list[str]:
    """Import strings in source order, without duplicates or empty strings."""
    handler = _IMPORT_HANDLERS.get(language, _quoted)
    nodes = {node.start_byte: node for _, captures in matches for node in captures.get("import", ())}
    seen: dict[str, None] = {}
    for start in sorted(nodes):
        for item in handler(nodes[start], source):
            if item:
                seen.setdefault(item, None)
    return list(seen)


def _same_package(
    language: str, matches: list[_Match], source: bytes, imports: list[str], symbols: list[Symbol]
) -> list[str]:
    """`SAME_PACKAGE + name` for each capitalised type name the file uses but neither imports by name nor
    defines (Java, Kotlin, Groovy: a class of the file's own package; C#: a type of a namespace it uses; Swift: a
    type of its module), first seen first, at most MAX_SAME_PACKAGE_NAMES."""
    implicit = _IMPLICITLY_IMPORTED.get(language)
    if implicit is None:
        return []
    known = implicit.union((spec.rpartition(".")[2] for spec in imports), (symbol.name for symbol in symbols))
    used = dict.fromkeys(_text(node, source) for _, captures in matches for node in captures.get("reference", ()))
    names = [name for name in used if name[:1].isupper() and name not in known]
    return [SAME_PACKAGE + name for name in names[:MAX_SAME_PACKAGE_NAMES]]


def _quoted(node: Node, source: bytes) -> list[str]:
    """The node's text without surrounding quotes (angle brackets are kept: `<stdio.h>`)."""
    return [_text(node, source).strip().strip("\"'`")]


def _python(node: Node, source: bytes) -> list[str]:
    """`import a.b as c` → a.b; `from ..m import x, y` → ..m.x, ..m.y; `from .m import *` → .m."""
    if node.type == "import_statement":
        return [_python_name(child, source) for child in node.children_by_field_name("name")]
    module_node = node.child_by_field_name("module_name")
    if module_node is None:
        return []
    module = _compact(module_node, source)
    names = [_python_name(child, source) for child in node.children_by_field_name("name")]
    if not names:  # wildcard import
        return [module]
    joiner = "" if module.endswith(".") else "."
    return [f"{module}{joiner}{name}" for name in names]


def _python_name(node: Node, source: bytes) -> str:
    """The dotted name of a `dotted_name` or of the imported side of an `aliased_import`."""
    if node.type == "aliased_import":
        inner = node.child_by_field_name("name")
        return _compact(inner, source) if inner is not None else ""
    return _compact(node, source)


def _rust(node: Node, source: bytes) -> list[str]:
    """`mod foo;` → mod:foo; `use a::{b, c::d as e}` → a::b, a::c::d; `use a::b::*` → a::b."""
    if node.type == "mod_item":
        name = node.child_by_field_name("name")
        return [f"mod:{_text(name, source)}"] if name is not None else []
    argument = node.child_by_field_name("argument")
    return _rust_paths(argument, "", source) if argument is not None else []


MAX_USE_DEPTH = 64
"""The deepest nesting of `{…}` lists in a Rust use tree whose paths are read. Real code nests a few; a hostile
file nests thousands, which ran `_rust_paths` out of Python's recursion limit and cost the file its definitions."""


def _rust_paths(node: Node, prefix: str, source: bytes, depth: int = 0) -> list[str]:
    """Expand one use tree under `prefix` (which ends with `::` when not empty); lists nested deeper than
    MAX_USE_DEPTH give nothing."""
    kind = node.type
    if kind == "use_as_clause":
        path = node.child_by_field_name("path")
        return _rust_paths(path, prefix, source, depth) if path is not None else []
    if kind == "use_wildcard":
        inner = [child for child in node.named_children if child.type != "comment"]
        return _rust_paths(inner[0], prefix, source, depth) if inner else [prefix.removesuffix("::")]
    if kind == "scoped_use_list":
        path = node.child_by_field_name("path")
        items = node.child_by_field_name("list")
        head = f"{prefix}{_compact(path, source)}::" if path is not None else prefix
        return _rust_paths(items, head, source, depth) if items is not None else []
    if kind == "use_list":
        if depth >= MAX_USE_DEPTH:
            return []
        return [p for child in node.named_children for p in _rust_paths(child, prefix, source, depth + 1)]
    if kind == "comment":
        return []
    if kind == "self" and prefix:  # `use a::{self, b}` imports `a` itself
        return [prefix.removesuffix("::")]
    return [prefix + _compact(node, source)]


def _java(node: Node, source: bytes) -> list[str]:
    """`import a.B;` → a.B; `import a.*;` → a.*; `import static a.B.m;` → a.B; `static a.B.*` → a.B."""
    path = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
    if path is None:
        return []
    text = _compact(path, source)
    is_static = any(child.type == "static" for child in node.children)
    has_star = any(child.type == "asterisk" for child in node.children)
    if is_static:
        return [text if has_star else text.rpartition(".")[0] or text]
    return [f"{text}.*" if has_star else text]


def _csharp(node: Node, source: bytes) -> list[str]:
    """`using A.B;`, `using static A.B;` and `using X = A.B;` → A.B."""
    target = None
    for index, child in enumerate(node.children):
        if child.is_named and child.type != "comment" and node.field_name_for_child(index) != "name":
            target = child
    return [_compact(target, source)] if target is not None else []


def _kotlin(node: Node, source: bytes) -> list[str]:
    """`import a.b.C` and `import a.b.C as D` → a.b.C; `import a.b.*` → a.b.*."""
    path = next((c for c in node.named_children if c.type == "identifier"), None)
    if path is None:
        return []
    text = _compact(path, source)
    has_star = any(c.type == "wildcard_import" for c in node.children)
    return [f"{text}.*" if has_star else text]


def _scala(node: Node, source: bytes) -> list[str]:
    """`import a.b.C` → a.b.C; `import a.{B, C => D}` → a.B, a.C; `import a._` / `a.*` → a.*."""
    results: list[str] = []
    parts: list[str] = []
    expanded = False
    for child in [*node.children, None]:
        if child is None or child.type == ",":  # `import a.b, c.d` holds two paths
            if parts and not expanded:
                results.append(".".join(parts))
            parts, expanded = [], False
        elif child.type == "identifier":
            parts.append(_compact(child, source))
        elif child.is_named and child.type != "comment":
            results.extend(".".join([*parts, name]) for name in _scala_names(child, source))
            expanded = True
    return results


def _scala_names(node: Node, source: bytes) -> list[str]:
    """What follows an import path: selectors, a wildcard (`*`), or a renamed name (its original)."""
    kind = node.type
    if kind == "namespace_selectors":
        return [name for child in node.named_children for name in _scala_names(child, source)]
    if kind == "namespace_wildcard":
        return ["*"]
    if kind in ("arrow_renamed_identifier", "as_renamed_identifier"):
        original = node.child_by_field_name("name")
        return [_compact(original, source)] if original is not None else []
    return [_compact(node, source)] if kind == "identifier" else []


def _php(node: Node, source: bytes) -> list[str]:
    """`use A\\B\\C as D;` → A\\B\\C; `use A\\{B, C\\D};` → A\\B, A\\C\\D; `require 'x.php'` → x.php."""
    if node.type != "namespace_use_declaration":
        return _quoted(node, source)
    prefix = ""
    results: list[str] = []
    for child in node.named_children:
        if child.type in ("namespace_name", "qualified_name", "name") and not results:
            prefix = _compact(child, source).strip("\\") + "\\"
        elif child.type == "namespace_use_clause":
            results.append(_php_clause(child, "", source))
        elif child.type == "namespace_use_group":
            results.extend(
                _php_clause(clause, prefix, source)
                for clause in child.named_children
                if clause.type in ("namespace_use_clause", "namespace_use_group_clause")
            )
    return results


def _php_clause(node: Node, prefix: str, source: bytes) -> str:
    """The imported name of one use clause, without its alias."""
    target = next((c for c in node.named_children if c.type in ("qualified_name", "namespace_name", "name")),
                  None)
    if target is None:
        return ""
    return prefix + _compact(target, source).lstrip("\\")


def _javascript(node: Node, source: bytes) -> list[str]:
    """A module specifier as written; for a call node, only `require("x")` counts."""
    if node.type != "call_expression":
        return _quoted(node, source)
    callee = node.child_by_field_name("function")
    arguments = node.child_by_field_name("arguments")
    if callee is None or arguments is None or _text(callee, source) != "require":
        return []
    string = next((c for c in arguments.named_children if c.type == "string"), None)
    return _quoted(string, source) if string is not None else []


_RUBY_LOADERS = frozenset({"require", "require_relative", "load"})


def _ruby(node: Node, source: bytes) -> list[str]:
    """`require 'x'` → x; `require_relative 'y'` → ./y (kept as is when it starts with . or /)."""
    method = node.child_by_field_name("method")
    arguments = node.child_by_field_name("arguments")
    if method is None or arguments is None or node.child_by_field_name("receiver") is not None:
        return []
    name = _text(method, source)
    string = next((c for c in arguments.named_children if c.type == "string"), None)
    if name not in _RUBY_LOADERS or string is None or _has_child(string, "interpolation"):
        return []
    path = _quoted(string, source)[0]
    if name == "require_relative" and not path.startswith((".", "/")):
        path = f"./{path}"
    return [path]


def _path_call(callees: frozenset[str]) -> _ImportHandler:
    """A handler for a call of one of `callees` whose argument names a file or module in a string (Lua's
    `require("a.b")` and `require "a.b"`, Julia's `include("x.jl")`, R's `source("R/x.R")`, Zig's
    `@import("x.zig")`): the string's content; any other call gives nothing."""

    def handler(node: Node, source: bytes) -> list[str]:
        callee = node.named_children[0] if node.named_children else None
        if callee is None or _text(callee, source) not in callees:
            return []
        string = _first_string(node)
        if string is None:
            return []
        content = string.child_by_field_name("content")  # where the grammar names it: Lua's [[long]] strings
        return [_text(content, source)] if content is not None else _quoted(string, source)

    return handler


def _first_string(node: Node) -> Node | None:
    """The first string literal below `node`, breadth first (grammars name them `string`, `string_literal`,
    `STRINGLITERALSINGLE`, ...)."""
    queue = list(node.named_children)
    while queue:
        child = queue.pop(0)
        if "string" in child.type.lower() and "content" not in child.type:
            return child
        queue.extend(child.named_children)
    return None


_CLOJURE_LOADERS = frozenset({":require", ":use"})


def _clojure(node: Node, source: bytes) -> list[str]:
    """`(:require [clj-kondo.impl.utils :as u] clojure.set)` in an `ns` form → clj-kondo.impl.utils, clojure.set;
    `(:use ...)` too; other lists that start with a keyword (`(:import ...)`, `(:k m)`) → nothing."""
    items = node.named_children
    if not items or _text(items[0], source) not in _CLOJURE_LOADERS:
        return []
    names = []
    for item in items[1:]:
        head = item.named_children[0] if item.type in ("vec_lit", "list_lit") and item.named_children else item
        if head.type == "sym_lit":
            names.append(_text(head, source))
    return names


_ELIXIR_LOADERS = frozenset({"alias", "import", "use", "require"})


def _elixir(node: Node, source: bytes) -> list[str]:
    """`alias Ecto.Changeset` (or import, use, require) → Ecto.Changeset; `alias Ecto.{Query, Changeset}` →
    Ecto.Query, Ecto.Changeset; other calls → nothing."""
    target = node.child_by_field_name("target")
    arguments = node.named_children[1] if node.named_child_count > 1 else None
    if target is None or arguments is None or _text(target, source) not in _ELIXIR_LOADERS:
        return []
    first = arguments.named_children[0]
    if first.type == "alias":
        return [_compact(first, source)]
    left, right = first.child_by_field_name("left"), first.child_by_field_name("right")
    if left is None or right is None:
        return []
    base = _compact(left, source)
    return [f"{base}.{_compact(child, source)}" for child in right.named_children if child.type == "alias"]


# `$(dirname "$0")/`, `` `dirname $0`/ ``, `$(dirname "${BASH_SOURCE[0]}")/`: "next to this script".
_SCRIPT_DIR_PREFIX = re.compile(r"""^(?:\$\(\s*dirname\b[^)]*\)|`\s*dirname\b[^`]*`)/""")


def _bash(node: Node, source: bytes) -> list[str]:
    """`source x.sh` and `. x.sh` → x.sh; a `$(dirname "$0")/` prefix becomes `./`.

    Quotes are dropped; other expansions (`$LIB/x.sh`) are kept as written.
    """
    name = node.child_by_field_name("name")
    argument = node.child_by_field_name("argument")
    if name is None or argument is None or _text(name, source) not in ("source", "."):
        return []
    path = _text(argument, source).strip().strip("\"'")
    path = _SCRIPT_DIR_PREFIX.sub("./", path)
    return [path[2:] if path.startswith("./../") else path]


_GROOVY_IMPORT = re.compile(r"^[ \t]*import[ \t]+(static[ \t]+)?(\w+(?:\.\w+)*(?:\.\*)?)", re.MULTILINE)


def _groovy(node: Node, source: bytes) -> list[str]:
    """As Java's: `import a.B` (`as C` too) → a.B; `import a.*` → a.*; `import static a.B.m` and `static a.B.*`
    → a.B. Read from the text: the grammar's error recovery can fold the next lines into the same command."""
    text = _text(node, source)
    if not text.startswith("import"):
        return []
    found = []
    for is_static, path in _GROOVY_IMPORT.findall(text):
        if is_static:
            path = path[:-2] if path.endswith(".*") else path.rpartition(".")[0] or path
        found.append(path)
    return found


_POWERSHELL_SCRIPT = re.compile(
    r"""^(?:\.|&|Import-Module(?:\s+-Name)?)\s+["']?(?:\$PSScriptRoot|\$\{PSScriptRoot\}|(\.\.?))[\\/]([^"'\s]+)""",
    re.IGNORECASE,
)


def _powershell(node: Node, source: bytes) -> list[str]:
    """`. "$PSScriptRoot/x.ps1"`, `. .\\x.ps1`, `& $PSScriptRoot\\x.ps1` and `Import-Module $PSScriptRoot/x.psm1`
    → a path beside the script (`./x.ps1`, `../x.ps1`); other commands import nothing."""
    match = _POWERSHELL_SCRIPT.match(_text(node, source))
    if match is None:
        return []
    up, rest = match.groups()
    return [f"{up or '.'}/{rest.replace(chr(92), '/')}"]


def _nim(node: Node, source: bytes) -> list[str]:
    """`import a/b, c` → a/b, c; `import a/[b, c]` → a/b, a/c; `import ./x`, `from a/b import y` → ./x, a/b;
    `include "x.nim"` → x.nim. `as` aliases are dropped."""
    if node.type == "import_from_statement":
        module = node.child_by_field_name("module")
        return [_compact(module, source)] if module is not None else []
    found = []
    for item in (c for part in node.named_children if part.type == "expression_list" for c in part.named_children):
        operator = item.child_by_field_name("operator")
        if operator is not None and _text(operator, source) == "as":
            item = item.child_by_field_name("left") or item
        head, bracket, names = _compact(item, source).strip('"').partition("/[")
        found.extend([f"{head}/{name}" for name in names.rstrip("]").split(",") if name] if bracket else [head])
    return found


def _has_child(node: Node, kind: str) -> bool:
    """Whether `node` has a named child of type `kind`."""
    return any(child.type == kind for child in node.named_children)


_IMPORT_HANDLERS: dict[str, _ImportHandler] = {
    "python": _python,
    "javascript": _javascript,
    "typescript": _javascript,
    "tsx": _javascript,
    "bash": _bash,
    "rust": _rust,
    "java": _java,
    "csharp": _csharp,
    "kotlin": _kotlin,
    "scala": _scala,
    "php": _php,
    "ruby": _ruby,
    "lua": _path_call(frozenset({"require"})),
    "elixir": _elixir,
    "clojure": _clojure,
    "julia": _path_call(frozenset({"include"})),
    "r": _path_call(frozenset({"source", "sys.source"})),
    "zig": _path_call(frozenset({"@import"})),
    "groovy": _groovy,
    "powershell": _powershell,
    "nim": _nim,
}
