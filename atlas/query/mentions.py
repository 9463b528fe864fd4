"""What a bug report names exactly: file paths, dotted module names, traceback frames, identifiers.

People and agents paste tracebacks and code; a path or a function name there is a far stronger
hint than any bag of words. This module finds them in the query text (pure, no I/O); the engine
matches them against the indexed paths (`atlas.query.paths`) and symbol names.

Stack frames of Python, Go, Java/Kotlin, Rust, JavaScript/TypeScript, C/C++ (sanitizers, gdb), Ruby and
PHP name a function and often its type: `pkg.(*Cart).AddItem`, `at com.acme.Invoice.total(`,
`3: shop::ledger::Book::post`, `#0 0x4f5e in Json::Reader::parse(`, `user.rb:12:in 'User#save'`,
`#0 /app/Kernel.php(42): App\\Http\\Kernel->handle(`. Each qualified frame becomes a
(container, function) pair, and `::` paths become module mentions without their crate root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from atlas.terms import MAX_TOKEN_LEN

MAX_PATHS = 40
MAX_IDENTIFIERS = 60
MAX_NAMED_LINES = 200

SOURCE_EXTENSIONS = (
    "py|pyi|pyx|js|jsx|mjs|cjs|ts|tsx|go|rs|java|kt|kts|scala|c|h|cc|cpp|cxx|hpp|hh|cs|rb|php|swift|sh|bash"
    "|m|mm|lua|pl|pm|r|dart|ex|exs|erl|hs|ml|clj|jl|zig|vue|svelte|css|scss|html|md|rst|txt|toml|yaml|yml|json"
    "|ini|cfg|xml|sql|proto|gradle|cmake|mk|R|rake|erb|hrl|mli|cljs|cljc|groovy|sol|fs|fsi|fsx|f90|ps1|psm1|nim|cu"
    "|cuh|graphql|gql"
)
_EXTENSION_NAMES = frozenset(SOURCE_EXTENSIONS.split("|"))
_FILE_PATH = re.compile(rf"(?<![\w.-])(/?(?:[\w.-]+/)*[\w.-]*\w\.(?:{SOURCE_EXTENSIONS}))\b")
_PATH_RUN = re.compile(r"[\w./-]+")
_DOUBLE_SLASH = re.compile(r"(?<=/)(?=/)")
_LAST_FILE_NAME = re.compile(rf".*\w\.(?:{SOURCE_EXTENSIONS})\b", re.S)
_DOTTED = re.compile(r"(?<![\w./])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*){1,8})(?![\w(])")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
# snake_case, camelCase, or an acronym before a word (`IOError`, `HTTPServer`; not a plural `URLs`).
_COMPOUND = re.compile(r"[A-Za-z0-9]_+[A-Za-z0-9]|[a-z0-9][A-Z]|[A-Z]{2}[a-z]{2}")
_INSTALL_DIRS = frozenset({"site-packages", "dist-packages", "node_modules", "vendor"})
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]]{1,500}")
_CODE_LINK_MARK = re.compile(r"/(?:blob|blame|src)/")
# `line 12 of x.py` from its `ine `: a pattern that starts with a literal is searched for at C speed, and this one
# is searched for in every bug report (`_lines_of` checks the `L` or `l` before it).
_LINE_OF = re.compile(r"ine (\d{1,7}) (?:of|in) [`'\"]?([\w./-]{1,500})")
# What follows a path to name a line of it: Python's `", line 12`, most tools' `:12`, PHP's `(12)` and `on line 12`.
_LINE_AFTER_PATH = re.compile(r"(?:\"?, line |:| on line |\()(\d{1,7})(?!\d)")
# The end of a file name that one of those follows: where a path naming a line ends (its start is looked for
# backwards, at most MAX_PATH_CHARS away).
_NAME_BEFORE_LINE = re.compile(rf"\w\.(?:{SOURCE_EXTENSIONS})(?=(?:\"?, line |:| on line |\()\d)")
MAX_PATH_CHARS = 500
# The anchor of a code host's link to a line: GitHub, GitLab and Gitea `#L12`, Bitbucket `#lines-12`.
_LINK_ANCHOR = re.compile(r"#(?:L|lines-)(\d{1,7})(?!\d)")

_QUALIFIED = r"[A-Za-z_$][\w$]*(?:(?:::|\.)~?[A-Za-z_$][\w$]*)*"
# One alternative per frame syntax, each capturing the frame's qualified function name.
_FRAMES = re.compile(
    rf"^[ \t]*at (?:async |new )?(?:[\w.]+/)?({_QUALIFIED})(?:\.<\w+>)?[ (]"  # Java, Kotlin, JS/TS
    rf"|^[ \t]*#\d+ +0x[0-9a-fA-F]+ in ({_QUALIFIED})"  # sanitizers, gdb
    rf"|^[ \t]*\d+: +(?:0x[0-9a-fA-F]+ - )?({_QUALIFIED})"  # Rust backtraces
    r"|^(?:[\w.-]+/)*[\w.-]+\.((?:\(\*?\w+\)\.)?\w+)\("  # Go: path/pkg.(*Type).Method(
    rf"|:\d+:in [`'](?:block (?:\(\d+ levels\) )?in )?((?:{_QUALIFIED}[#.])?[\w?!]+)'"  # Ruby: x.rb:12:in `m'
    r"|^[ \t]*#\d+ [^\n(]*\(\d+\): ([\w\\]+(?:->|::)\w+)\("  # PHP: #0 /x/K.php(128): App\K->handle(
    r"|^#\d+ +([\w$]+(?:\.[\w$<>]+)*) \((?:package|file|dart):",  # Dart: #0  Client.send (package:http/…
    re.MULTILINE,
)
# A Dart `package:name/x.dart` URI is the file `lib/x.dart` of the package `name`.
_DART_PACKAGE = re.compile(r"\bpackage:([\w.]+)/")
_FRAME_PARTS = re.compile(r"::|->|\.|#|\\|\(\*?|\)")
_SCOPED = re.compile(r"(?<![\w:])([A-Za-z_]\w*(?:::~?[A-Za-z_]\w*){1,8})(?![\w:])")
MAX_FRAMES = 40


@dataclass(frozen=True, slots=True)
class Mentions:
    """Exact names found in a query: path suffixes to look up and identifiers to match to symbols."""

    paths: tuple[str, ...]
    modules: tuple[str, ...]
    identifiers: tuple[str, ...]
    frames: tuple[tuple[str, str], ...] = ()
    """(container, function) of each qualified stack frame (`(*Cart).AddItem` → ("Cart", "AddItem")) and of each
    member the text names through its class (`Coordinates.to_index()` → ("Coordinates", "to_index"); a name's
    owner counts when it is capitalised, as classes are and modules (`np.float32`) are not)."""
    linked: tuple[str, ...] = ()
    """Paths the text points at as the place to look: a code host's link to a file (`…/blob/main/src/x.py#L12`)
    or `line 12 of src/x.py`; each also among `paths`."""

    @property
    def is_empty(self) -> bool:
        """True when the query names nothing exactly."""
        return not (self.paths or self.modules or self.identifiers or self.frames)


def find_mentions(text: str) -> Mentions:
    """Paths, dotted module names and compound identifiers named in `text`, first seen first."""
    paths = _unique(_clean_path(m) for m in file_paths(_DART_PACKAGE.sub(r"\1/lib/", text.replace("\\", "/"))))
    scoped = [_scoped_modules(name) for name in _SCOPED.findall(text)] if "::" in text else []
    dotted = [m for m in _DOTTED.findall(text) if _looks_like_module(m)]
    modules = _unique([*dotted, *(m for forms in scoped for m in forms if _looks_like_module(m))])
    frames = [parts for parts in map(_frame_parts, _frame_names(text)) if parts]
    named = [name.split(".") for name in _IDENTIFIER.findall(text)]
    names = [part for parts in named for part in parts] + [p[-1] for p in frames]
    identifiers = tuple(part for part in dict.fromkeys(names) if len(part) <= MAX_TOKEN_LEN and _COMPOUND.search(part))
    members = [parts[-2:] for parts in named if len(parts) > 1]
    pairs = _unique([*((parts[-2], parts[-1]) for parts in frames if len(parts) > 1),
                     *((owner, member) for owner, member in members if owner[:1].isupper())])  # fmt: skip
    linked = _unique(_clean_path(path) for path in linked_paths(text))
    return Mentions(paths[:MAX_PATHS], modules[:MAX_PATHS], identifiers[:MAX_IDENTIFIERS], pairs[:MAX_FRAMES],
                    linked[:MAX_PATHS])  # fmt: skip


def linked_paths(text: str) -> list[str]:
    """The file paths `text` points at: in a code host's link to a file (GitHub's and Gitea's `/blob/REF/PATH`,
    GitLab's `/-/blob/`, Bitbucket's `/src/REF/PATH`, `/blame/`), the part after the marker, the ref included (a
    look-up matches the longest suffix the repository has); and the path of `line 12 of PATH` (or `in PATH`)."""
    found = [path for url in _URL.findall(text) if (path := _link_path(url))]
    return found + [path for match in _lines_of_matches(text) for path in file_paths(match.group(2))[:1]]


def _link_path(url: str) -> str:
    """The file path of a code host's link to a file (after its `/blob/` or like marker, the ref included), or ""."""
    marker = _CODE_LINK_MARK.search(url)
    paths = file_paths(url[marker.end() :].split("#", 1)[0].split("?", 1)[0]) if marker else []
    return paths[0] if paths else ""


@dataclass(frozen=True, slots=True)
class NamedLine:
    """A line the text names in a file: a frame's `x.py", line 12` or `x.go:12`, a link's `…/blob/main/x.py#L12`,
    `line 12 of x.py`."""

    path: str
    line: int
    parts: int
    """How many of the path's last parts a file's path must end with to be the file meant: all of a relative
    path's (up to two), all of a link's but its ref; two of an absolute path's (`/home/me/app/x.py`, where
    only the end can be the repository's)."""


def named_lines(text: str) -> tuple[NamedLine, ...]:
    """The lines `text` names in files, in the order it names them (at most MAX_NAMED_LINES), in time linear
    in `text`."""
    text = text.replace("\\", "/")
    found = [*_linked_lines(text), *_lines_of(text), *_lines_after_paths(text)]
    return _unique(found)[:MAX_NAMED_LINES]


def _linked_lines(text: str) -> list[NamedLine]:
    found = []
    for url in _URL.findall(text):
        anchor = _LINK_ANCHOR.search(url)
        if anchor and (path := _link_path(url)):
            cleaned = _clean_path(path)
            found.append(NamedLine(cleaned, int(anchor.group(1)), max(1, cleaned.count("/") - 1)))
    return found


def _lines_of(text: str) -> list[NamedLine]:
    return [_named(path, int(match.group(1))) for match in _lines_of_matches(text)
            for path in file_paths(match.group(2))[:1]]  # fmt: skip


def _lines_of_matches(text: str) -> list[re.Match[str]]:
    """The matches of _LINE_OF that begin the word `line` or `Line`."""
    return [match for match in _LINE_OF.finditer(text) if _word_line_at(text, match.start() - 1)]


def _word_line_at(text: str, at: int) -> bool:
    before = text[at - 1] if at >= 1 else " "
    return at >= 0 and text[at] in "lL" and not (before.isalnum() or before == "_")


def _lines_after_paths(text: str) -> list[NamedLine]:
    found = []
    for name in _NAME_BEFORE_LINE.finditer(text):
        after = _LINE_AFTER_PATH.match(text, name.end())
        run = _PATH_RUN.match(text[max(0, name.end() - MAX_PATH_CHARS) : name.end()][::-1])
        if after is None or run is None:
            continue
        paths = file_paths(run.group()[::-1])
        if paths:
            found.append(_named(paths[-1], int(after.group(1))))
            if len(found) == 4 * MAX_NAMED_LINES:  # a pasted log repeating the same few
                break
    return found


def _named(path: str, line: int) -> NamedLine:
    cleaned = _clean_path(path)
    return NamedLine(cleaned, line, 2 if path.startswith("/") else min(2, cleaned.count("/") + 1))


def file_paths(text: str) -> list[str]:
    """What `_FILE_PATH.findall(text)` finds, in time linear in `text`.

    The regex alone restarts after every `/` and scans the rest of a path-like run each time: a megabyte of
    `a/a/a/…` takes hours. A match lies within a run of path characters, never across `//` (after an optional
    leading `/` every part is a non-empty name), and ends with a file name: so each such piece is cut after its
    last file name, and from there every start the regex tries matches at once.
    """
    found = []
    for run in _PATH_RUN.findall(text):
        if "." not in run:  # no file name without an extension's dot: most runs are plain words
            continue
        for piece in _DOUBLE_SLASH.split(run) if "//" in run else (run,):
            last = _LAST_FILE_NAME.match(piece)
            if last:
                found += _FILE_PATH.findall(piece[: last.end()])
    return found


def _frame_names(text: str) -> list[str]:
    """The qualified function name of every stack frame line in `text`."""
    return [next(group for group in match.groups() if group) for match in _FRAMES.finditer(text)]


def _frame_parts(name: str) -> list[str]:
    """`pkg.(*Cart).AddItem` → [pkg, Cart, AddItem]; `a::b::C::f` → [a, b, C, f]."""
    return [part.lstrip("~") for part in _FRAME_PARTS.split(name) if part.strip("~$")]


def _scoped_modules(name: str) -> tuple[str, ...]:
    """A `::` path as dotted module names: whole, and without its crate or namespace root."""
    parts = name.split("::")
    whole = ".".join(parts)
    return (whole, ".".join(parts[1:])) if len(parts) > 2 else (whole,)


def _clean_path(path: str) -> str:
    """Normalise a mentioned path; an installed copy (`…/site-packages/pkg/x.py`) becomes `pkg/x.py`.

    Other absolute prefixes stay: look-ups match the longest suffix that exists in the repository.
    """
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    installed = [i for i, part in enumerate(parts) if part in _INSTALL_DIRS]
    if installed:
        parts = parts[installed[-1] + 1 :]
    return "/".join(parts)


def _looks_like_module(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[-1] in _EXTENSION_NAMES:
        return False
    return not all(p[:1].isupper() for p in parts)


def _unique(items: object) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(item for item in items if item))  # type: ignore[attr-defined]
