"""Which language a file is written in, from its name or its first bytes.

`detect_language` names every file the walk accepts: the 39 languages in `GRAMMAR_FOR` get symbols
from tree-sitter, the text kinds (markdown, json, make, ...) are indexed as plain text, and anything
unknown is "other". This module only maps names: it imports nothing from tree-sitter, so a worker
that merely classifies files stays cheap to start.
"""

from __future__ import annotations

import os.path
import re

# Language name → grammar name in tree-sitter-language-pack, for the languages we extract symbols from.
GRAMMAR_FOR: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "typescript",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "csharp": "csharp",
    "ruby": "ruby",
    "php": "php",
    "kotlin": "kotlin",
    "swift": "swift",
    "scala": "scala",
    "bash": "bash",
    "dart": "dart",
    "elixir": "elixir",
    "lua": "lua",
    "haskell": "haskell",
    "ocaml": "ocaml",
    "ocaml_interface": "ocaml_interface",
    "julia": "julia",
    "r": "r",
    "perl": "perl",
    "objc": "objc",
    "matlab": "matlab",
    "erlang": "erlang",
    "clojure": "clojure",
    "zig": "zig",
    "groovy": "groovy",
    "solidity": "solidity",
    "fsharp": "fsharp",
    "fortran": "fortran",
    "powershell": "powershell",
    "nim": "nim",
    "cuda": "cuda",
    "protobuf": "proto",
    "graphql": "graphql",
}

SCRIPT_HOSTS: frozenset[str] = frozenset({"vue", "svelte"})
"""Component languages whose `<script>` elements hold JavaScript or TypeScript: parsed as those, in place."""

_EXTENSIONS: dict[str, str] = {
    # Parsed languages.
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    # `.h` is shared by C, C++ and Objective-C: its first bytes tell them apart (`_header_language`).
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby", ".ru": "ruby",
    ".php": "php", ".phtml": "php",
    ".kt": "kotlin", ".kts": "kotlin",
    ".swift": "swift",
    ".scala": "scala", ".sc": "scala",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash", ".ksh": "bash",
    ".groovy": "groovy", ".sol": "solidity", ".fs": "fsharp", ".fsi": "fsharp", ".fsx": "fsharp", ".nim": "nim",
    ".f": "fortran", ".f90": "fortran", ".f95": "fortran", ".f03": "fortran", ".f08": "fortran", ".for": "fortran",
    ".cu": "cuda", ".cuh": "cuda", ".ps1": "powershell", ".psm1": "powershell",
    ".proto": "protobuf", ".graphql": "graphql", ".gql": "graphql", ".graphqls": "graphql",
    ".lua": "lua",
    ".pl": "perl", ".pm": "perl",
    ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".hrl": "erlang",
    ".hs": "haskell", ".lhs": "haskell", ".ml": "ocaml", ".mli": "ocaml_interface",
    ".clj": "clojure", ".cljs": "clojure", ".cljc": "clojure", ".edn": "clojure",
    ".jl": "julia", ".r": "r", ".m": "objc", ".mm": "objc", ".zig": "zig",
    # Components whose `<script>` elements are parsed (SCRIPT_HOSTS).
    ".vue": "vue", ".svelte": "svelte",
    # Text kinds, indexed without symbols.
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "rst",
    ".json": "json", ".jsonc": "json", ".json5": "json", ".jsonl": "json", ".ndjson": "json",
    ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".css": "css", ".scss": "css", ".sass": "css", ".less": "css",
    ".xml": "xml", ".xsd": "xml", ".xsl": "xml", ".svg": "xml", ".plist": "xml", ".pom": "xml",
    ".sql": "sql",
    ".mk": "make", ".mak": "make",
    ".dockerfile": "dockerfile",
    ".cmake": "cmake",
    ".txt": "text", ".text": "text",
    ".ini": "ini", ".cfg": "ini", ".conf": "ini",
    ".bzl": "starlark",
    # Source languages without a grammar here: indexed as text, but ranked as code (atlas.parse.roles).
    ".thrift": "thrift", ".avdl": "avro", ".capnp": "capnp", ".fbs": "flatbuffers",
    ".astro": "astro",
    ".tf": "hcl", ".hcl": "hcl", ".nix": "nix",
    ".s": "assembly", ".asm": "assembly",
    ".pyx": "cython", ".pxd": "cython", ".pxi": "cython",
    ".bat": "batch", ".cmd": "batch",
    ".awk": "awk", ".tcl": "tcl", ".elm": "elm", ".vb": "vbnet",
    ".v": "verilog", ".sv": "verilog", ".vhd": "vhdl", ".vhdl": "vhdl",
    ".glsl": "shader", ".hlsl": "shader", ".vert": "shader", ".frag": "shader", ".wgsl": "shader",
    ".coffee": "coffeescript", ".cr": "crystal", ".rkt": "racket", ".el": "lisp", ".lisp": "lisp",
    ".jinja": "template", ".jinja2": "template", ".hbs": "template", ".mustache": "template",
    ".ejs": "template", ".erb": "template", ".liquid": "template", ".twig": "template",
}

# Exact file names, matched before extensions (so `CMakeLists.txt` is cmake, not text).
_FILE_NAMES: dict[str, str] = {
    "makefile": "make", "gnumakefile": "make",
    "dockerfile": "dockerfile", "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "gemfile": "ruby", "rakefile": "ruby", "guardfile": "ruby", "podfile": "ruby",
    "vagrantfile": "ruby", "brewfile": "ruby",
    "build": "starlark", "build.bazel": "starlark", "workspace": "starlark",
    "workspace.bazel": "starlark", "module.bazel": "starlark",
    "go.mod": "gomod", "go.sum": "gosum",
    "cargo.lock": "toml", "pipfile": "toml", "poetry.lock": "toml",
    "jenkinsfile": "groovy",
    ".bashrc": "bash", ".bash_profile": "bash", ".profile": "bash", ".zshrc": "bash",
    "pkgbuild": "bash", "apkbuild": "bash",
    "readme": "markdown", "license": "text", "copying": "text", "authors": "text",
    "requirements.txt": "text",
}

# Interpreter (basename from a shebang, version digits stripped) → language.
_INTERPRETERS: dict[str, str] = {
    "python": "python", "pypy": "python",
    "bash": "bash", "sh": "bash", "dash": "bash", "zsh": "bash", "ksh": "bash", "ash": "bash",
    "ruby": "ruby",
    "node": "javascript", "nodejs": "javascript", "deno": "typescript", "bun": "javascript",
    "ts-node": "typescript", "tsx": "typescript",
    "perl": "perl",
    "php": "php",
    "lua": "lua",
    "make": "make",
    "scala": "scala",
    "kotlin": "kotlin",
    "swift": "swift",
}

KNOWN_LANGUAGES: frozenset[str] = frozenset(
    {*GRAMMAR_FOR, *_EXTENSIONS.values(), *_FILE_NAMES.values(), *_INTERPRETERS.values(), "dockerfile", "make", "other"}
)
"""Every name `detect_language` can give: what a `lang:` filter may ask for."""

_SHEBANG = re.compile(rb"^#![ \t]*(\S+)(?:[ \t]+(.*))?")
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def detect_language(path: str, head: bytes) -> str:
    """Return the lower-case language of the file at `path`.

    `path` may be relative or absolute, with `/` separators. `head` is the start of the file (HEAD_BYTES; it may
    be empty): it is read only for a shebang when the name says nothing, and to tell a `.m` file's Objective-C from
    MATLAB or a `.h` file's C from C++ and Objective-C. Unknown files are "other".
    """
    name = os.path.basename(path).lower()
    by_name = _FILE_NAMES.get(name)
    if by_name is not None:
        return by_name
    by_ext = _by_extension(name)
    if by_ext == "objc" and name.endswith(".m") and not _looks_like_objc(head):
        return "matlab"
    if by_ext == "c" and name.endswith(".h"):
        return _header_language(head)
    if by_ext is not None:
        return by_ext
    return _by_shebang(head) or "other"


HEAD_BYTES = 4096
"""How much of a file `detect_language` is given to read a shebang, tell Objective-C from MATLAB, or a header's
C from C++ (past a licence comment and the includes, a C++ header shows its namespace or first class)."""


def needs_head(path: str) -> bool:
    """Whether the language of the file at `path` may depend on its first bytes: a `.m` file (Objective-C or
    MATLAB), a `.h` file (C, C++ or Objective-C), or one whose name says nothing (a shebang may). Callers that know
    only paths read HEAD_BYTES for those, so they name languages as the index does."""
    language, name = detect_language(path, b""), path.lower()
    return language == "other" or (language == "objc" and name.endswith(".m")) or name.endswith(".h")


HEAD_DECIDES: frozenset[str] = frozenset({*_INTERPRETERS.values(), "objc", "matlab", "c", "cpp", "other"})
"""Every language a file's first bytes can give where its name does not decide."""


def _by_extension(name: str) -> str | None:
    """Language from the extension of a lower-cased base name, with a few name-pattern rules."""
    if name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    if name.startswith("makefile.") or name.endswith(".makefile"):
        return "make"
    _, ext = os.path.splitext(name)
    if ext in (".in", ".orig", ".bak", ".tmpl", ".j2") and name.count(".") >= 2:
        # `foo.py.in`, `setup.cfg.bak`: the real kind is the inner extension.
        return _by_extension(name[: -len(ext)])
    return _EXTENSIONS.get(ext)


def _looks_like_objc(head: bytes) -> bool:
    """Whether a `.m` file starts as Objective-C does (a comment, `#import`, `@interface`) and not as MATLAB
    (`%` comments, `function`, `classdef`, plain statements). An empty head counts as Objective-C."""
    for line in head[:1024].splitlines():
        stripped = line.strip()
        if stripped:
            return stripped.startswith((b"//", b"/*", b"#", b"@"))
    return True


_CPP_HEADER = re.compile(
    rb"^[ \t]*(?:namespace[ \t]+[\w:]*[ \t]*\{|template[ \t]*<|class[ \t]+\w|(?:public|private|protected)[ \t]*:"
    rb"|using[ \t]+namespace\b|enum[ \t]+(?:class|struct)\b|#[ \t]*include[ \t]*<[\w/]+>)|\bstd::\w",
    re.M,
)
"""What no C header holds: a namespace, a template, a class, an access label, `enum class`, a standard header
included without an extension (`<vector>`; C's all end in `.h`), `std::`."""
_OBJC_HEADER = re.compile(rb"^[ \t]*(?:@(?:interface|protocol|class)\b|#import\b)", re.M)


def _header_language(head: bytes) -> str:
    """A `.h` file's language from its first bytes: Objective-C for `@interface`, `@protocol` or `#import`, C++ for
    what no C header holds (_CPP_HEADER), else C."""
    if _OBJC_HEADER.search(head):
        return "objc"
    return "cpp" if _CPP_HEADER.search(head) else "c"


def _by_shebang(head: bytes) -> str | None:
    """Language named by a `#!` line at the very start of `head`, if any."""
    first_line = head[:256].split(b"\n", 1)[0]
    match = _SHEBANG.match(first_line)
    if match is None:
        return None
    program = _interpreter_name(match.group(1))
    if program == "env" and match.group(2):
        # `#!/usr/bin/env -S python3 -u`: the first argument that is not a flag.
        args = [a for a in match.group(2).split() if not a.startswith(b"-") and b"=" not in a]
        program = _interpreter_name(args[0]) if args else ""
    return _INTERPRETERS.get(program)


def _interpreter_name(raw: bytes) -> str:
    """`/usr/bin/python3.11` → `python`."""
    base = raw.decode("latin-1").rsplit("/", 1)[-1].lower()
    return _VERSION_SUFFIX.sub("", base) or base
