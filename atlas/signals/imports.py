"""Import resolution: the raw import strings `atlas.parse` extracted → indexed files.

One convention per language, documented on each `_resolve_*` function, using only the
repository-relative paths of the index; it reads no file. Lookup tables (path → node, directory →
files, last path component → paths for suffix matching, Python source roots, Go module paths)
are built once per `Repo`; `atlas.signals.graph` caches each (language, importing directory,
import string) resolution.

When a suffix match finds several files, the one whose directory shares the most leading
components with the importer wins, then the one with the fewest components; a tie left after
that is ambiguous and dropped.

A suffix with more components than the deepest indexed path (`Repo.depth`) matches nothing, so the
resolvers that try the trailing or leading parts of a dotted name try only those that could match:
a hostile `import a.a.a…` of 100,000 names costs what one of 20 costs, not 100,000 look-ups of
ever longer strings (minutes and gigabytes).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import TypeVar

from atlas.records import SAME_PACKAGE

_T = TypeVar("_T")

# Language name (as `atlas.parse.languages` spells it) → resolver family.
FAMILY: dict[str, str] = {
    "python": "python", "javascript": "js", "typescript": "js", "tsx": "js", "go": "go", "rust": "rust",
    "java": "jvm", "kotlin": "jvm", "scala": "jvm", "c": "c", "cpp": "c", "csharp": "csharp",
    "ruby": "ruby", "php": "php", "bash": "bash", "dart": "dart", "elixir": "elixir", "lua": "lua", "objc": "c",
    "haskell": "haskell", "perl": "perl", "julia": "beside", "zig": "beside", "erlang": "erlang", "r": "near",
    "clojure": "clojure", "vue": "js", "svelte": "js", "groovy": "jvm",
    "solidity": "solidity", "fortran": "fortran", "powershell": "beside", "nim": "nim",
    "cuda": "c", "protobuf": "c", "swift": "swift",
}

_JS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
# TypeScript written for ESM imports `./x.js` and means `./x.ts`.
_JS_SOURCE_FOR = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
_JVM_EXTS = (".java", ".kt", ".scala", ".groovy")
# `$VAR`, `${...}`, `$(...)` (one level of nesting) and quotes in front of a sourced path, and the `/` after.
_SHELL_PREFIX = re.compile(r"""^(?:\$\{[^}]*\}|\$\((?:[^()]|\([^()]*\))*\)|\$\w+|["'])+/*""")
# Directories whose direct `.rs` files are crate roots (`mod x;` resolves beside them).
_RUST_TARGET_DIRS = ("bin", "tests", "examples", "benches")


def _dirname(path: str) -> str:
    return path.rpartition("/")[0]


def _join(base: str, rel: str) -> str:
    return f"{base}/{rel}" if base and rel else base or rel


def _normjoin(here: str, rel: str) -> str | None:
    """`here/rel` normalised; None when it leaves the repository."""
    joined = posixpath.normpath(_join(here, rel)) if rel else here
    if joined == ".":
        return ""
    if joined == ".." or joined.startswith(("../", "/")):
        return None
    return joined


def _shared_depth(a: str, b: str) -> int:
    """How many leading components directories `a` and `b` have in common."""
    count = 0
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y or not x:
            break
        count += 1
    return count


def _nearness(directory: str, here: str) -> tuple[int, int]:
    """Sort key: directories sharing more leading components with `here` first, then shallower ones."""
    return -_shared_depth(directory, here), directory.count("/")


def _closest(candidates: Sequence[_T], dir_of: Callable[[_T], str], here: str) -> _T | None:
    """The candidate nearest to directory `here` by `_nearness`; None if empty or tied."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    ordered = sorted(candidates, key=lambda item: _nearness(dir_of(item), here))
    first, second = (_nearness(dir_of(item), here) for item in ordered[:2])
    return None if first == second else ordered[0]


def _tail_index(items: Iterable[str]) -> dict[str, list[str]]:
    """Paths keyed by their last component and by their last two, for `_ending`.

    Two levels keep suffix lookups short where one file name repeats in every directory
    (`__init__.py`, `index.ts`, `mod.rs`): a key with a `/` is always a two-component one.
    """
    index: dict[str, list[str]] = defaultdict(list)
    for item in items:
        head, _, name = item.rpartition("/")
        index[name].append(item)
        if head:
            index[f"{head.rpartition('/')[2]}/{name}"].append(item)
    return dict(index)


def _ending(index: Mapping[str, Sequence[str]], suffix: str) -> list[str]:
    """Entries of a `_tail_index` equal to `suffix` or ending in `/suffix`."""
    head, _, name = suffix.rpartition("/")
    key = f"{head.rpartition('/')[2]}/{name}" if head else name
    tail = "/" + suffix
    return [item for item in index.get(key, ()) if item == suffix or item.endswith(tail)]


# ---------------------------------------------------------------------------------------------
# Lookup tables


class Repo:
    """Lookup tables over the indexed paths; per-language tables are built on first use.

    An empty path (the row an update keeps for a removed file) is no file: it is in no table. Taken for a file at
    the root, it was what `import ... from "."` or `#include ""` resolved to, ahead of the root's `index.js`."""

    def __init__(self, paths: tuple[str, ...], go_specs: set[str]) -> None:
        self.paths = paths
        self.dirs = [_dirname(path) for path in paths]
        self.node: dict[str, int] = {}
        self.files_in: dict[str, list[int]] = defaultdict(list)
        for i, path in enumerate(paths):
            if not path:
                continue
            self.node.setdefault(path, i)
            self.files_in[self.dirs[i]].append(i)
        self._go_specs = go_specs
        self._ending_cache: dict[str, list[int]] = {}

    @cached_property
    def depth(self) -> int:
        """Components of the deepest indexed path: no suffix with more can match a file."""
        return max((path.count("/") + 1 for path in self.node), default=0)

    @cached_property
    def by_tail(self) -> dict[str, list[str]]:
        """Indexed paths for suffix matching."""
        return _tail_index(self.node)

    @cached_property
    def dirs_by_tail(self) -> dict[str, list[str]]:
        """Directories that hold files, for suffix matching."""
        return _tail_index(d for d in self.files_in if d)

    @cached_property
    def python(self) -> _PythonTables:
        """Source roots and top-level names for Python."""
        return _PythonTables(self)

    @cached_property
    def js_packages(self) -> dict[str, list[str]]:
        """Directories holding a `package.json`, by their name: a JS/TS monorepo's workspace packages."""
        found: dict[str, list[str]] = defaultdict(list)
        for path, directory in zip(self.paths, self.dirs, strict=True):
            if directory and path.endswith("/package.json"):
                found[directory.rpartition("/")[2]].append(directory)
        return dict(found)

    @cached_property
    def go(self) -> _GoTables:
        """Package directories and module paths for Go."""
        return _GoTables(self, self._go_specs)

    def first(self, candidates: Iterable[str]) -> tuple[int, ...]:
        """The first candidate path that is indexed, as a 1-tuple; () if none is."""
        for candidate in candidates:
            i = self.node.get(candidate)
            if i is not None:
                return (i,)
        return ()

    def files_ending(self, suffix: str) -> list[int]:
        """Nodes whose path is `suffix` or ends with `/suffix` (component-aligned)."""
        found = self._ending_cache.get(suffix)
        if found is None:
            found = self._ending_cache[suffix] = [self.node[p] for p in _ending(self.by_tail, suffix)]
        return found

    def pick_ending(self, suffix: str, here: str) -> tuple[int, ...]:
        """The file ending with `suffix` nearest to `here` (see the module docstring)."""
        best = _closest(self.files_ending(suffix), self.dirs.__getitem__, here)
        return () if best is None else (best,)

    def pick_first_ending(self, stems: Iterable[str], extensions: tuple[str, ...], here: str) -> tuple[int, ...]:
        """`pick_ending` of each stem with each extension in turn: the first that finds a file."""
        candidates = (stem + ext for stem in stems for ext in extensions)
        return next((found for path in candidates if (found := self.pick_ending(path, here))), ())

    def files_with_ext(self, directory: str, extensions: tuple[str, ...]) -> tuple[int, ...]:
        """Nodes directly inside `directory` whose name ends with one of `extensions`."""
        return tuple(i for i in self.files_in.get(directory, ()) if self.paths[i].endswith(extensions))


class _PythonTables:
    """Python source roots, and which roots hold each top-level module or package name."""

    def __init__(self, repo: Repo) -> None:
        names = ("__init__.py", "__init__.pyi")
        self.packages = {d for d, p in zip(repo.dirs, repo.paths, strict=True) if p.rpartition("/")[2] in names}
        self.roots = _python_roots(self.packages)
        tops: dict[str, set[str]] = defaultdict(set)
        self.names: set[str] = set()  # every Python module, package and directory, without suffix
        for path in repo.paths:
            if path.endswith((".py", ".pyi")):
                parts = path.rpartition(".")[0].split("/")
                self.names.update("/".join(parts[: k + 1]) for k in range(len(parts)))
                for root, top in _python_tops(parts, self.roots):
                    tops[top].add(root)
        self.tops = dict(tops)

    def bases(self, top: str, here: str) -> list[str]:
        """Directories to resolve an absolute import starting with `top` from, in order.

        A file outside any package runs as a script or test with its own directory on the path,
        so that directory comes first if it holds `top`; then the source roots holding `top`,
        nearest first.
        """
        roots = sorted(self.tops.get(top, ()), key=lambda root: (*_nearness(root, here), root))
        if here in self.packages or _join(here, top) not in self.names:
            return roots
        return [here, *roots]


def _python_roots(packages: set[str]) -> set[str]:
    """The repo root, `src`, `lib`, and the parent of every topmost package directory."""
    roots = {"", "src", "lib"}
    for package in packages:
        top = package
        while top and _dirname(top) in packages:
            top = _dirname(top)
        if top:
            roots.add(_dirname(top))
    return roots


def _python_tops(parts: list[str], roots: set[str]) -> Iterable[tuple[str, str]]:
    """(root, top-level name) for every source root above a Python file (`parts`, no suffix)."""
    for depth in range(len(parts) - 1, -1, -1):
        root = "/".join(parts[:depth])
        if root in roots:
            yield root, parts[depth]


class _GoTables:
    """Go package directories (non-test `.go` files) and the module path learnt for each go.mod."""

    def __init__(self, repo: Repo, specs: set[str]) -> None:
        self.files = {d: t for d in repo.files_in if (t := _go_package_files(repo, d))}
        self.depth = repo.depth
        self.by_tail = _tail_index(d for d in self.files if d)
        mod_dirs = {repo.dirs[i] for i, p in enumerate(repo.paths) if p.rpartition("/")[2] == "go.mod"}
        self.roots = mod_dirs or {""}
        self.modules = _learn_go_modules(self, specs)
        self._root_of: dict[str, str] = {}
        for module, root in self.modules:
            self._root_of.setdefault(module, root)
        self._lengths = {len(module) for module in self._root_of}

    def module_of(self, spec: str) -> tuple[str, str] | None:
        """The longest learnt (module path, root) that is `spec` or a `/`-bounded prefix of it.

        Looked up by the spec's own prefixes, not by trying every module: a repository with a thousand
        go.mod files and tens of thousands of imports took seconds to minutes.
        """
        ends = [i for i, char in enumerate(spec) if char == "/" and i in self._lengths]
        for end in reversed([*ends, len(spec)] if len(spec) in self._lengths else ends):
            root = self._root_of.get(spec[:end])
            if root is not None:
                return spec[:end], root
        return None

    def package(self, directory: str) -> tuple[int, ...]:
        """The non-test Go files of `directory`."""
        return self.files.get(directory, ())


def _go_package_files(repo: Repo, directory: str) -> tuple[int, ...]:
    files = repo.files_with_ext(directory, (".go",))
    return tuple(i for i in files if not repo.paths[i].endswith("_test.go"))


def _learn_go_modules(go: _GoTables, specs: set[str]) -> list[tuple[str, str]]:
    """Guess each go.mod's module path from the imports: (module path, root dir), longest first.

    We see paths, not go.mod contents. An import `M/rest` where `root/rest` is a package votes for
    module `M` at `root` (longest `rest` only); the clear winner per root is kept, which lets the
    module's own root package (`import "M"`) resolve too. The package directories ending with each
    `rest` are looked up, not every root tried for every import: with a go.mod in each of a
    thousand directories, that took minutes.
    """
    votes: Counter[tuple[str, str]] = Counter()
    for spec in specs:
        parts = spec.split("/")
        if "." not in parts[0]:
            continue
        for module, root in _go_module_votes(go, parts):
            votes[(module, root)] += 1
    by_root: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (module, root), count in votes.items():
        by_root[root].append((count, module))
    winners = (_go_vote_winner(by_root.get(root, []), root) for root in go.roots)
    return sorted(((module, root) for module, root in winners if module), key=lambda m: -len(m[0]))


def _go_module_votes(go: _GoTables, parts: list[str]) -> Iterable[tuple[str, str]]:
    """(module, root) for each root holding a package `root/rest` for the import `parts` = `module/rest`,
    with the longest such `rest` per root."""
    voted: set[str] = set()
    for k in range(max(1, len(parts) - go.depth), len(parts)):  # a longer rest names no package directory
        rest = "/".join(parts[k:])
        if rest:
            found = ((d[: len(d) - len(rest)].rstrip("/"), d) for d in _ending(go.by_tail, rest))
        else:  # `M/`: the root's own package
            found = ((root, root) for root in go.roots)
        for root, directory in found:
            if root in go.roots and directory in go.files and root not in voted:
                voted.add(root)
                yield "/".join(parts[:k]), root


def _go_vote_winner(ranked: list[tuple[int, str]], root: str) -> tuple[str, str]:
    """(module path, root) with the most (votes, module) at `root`; module "" if none or tied."""
    ranked = sorted(ranked, reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[0][0] == ranked[1][0]):
        return "", root
    return ranked[0][1], root


# ---------------------------------------------------------------------------------------------
# Resolvers: (tables, importing directory — the importing file for Rust —, import string) → nodes


def _resolve_python(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Python: "a.b" (`import a.b`), "a.b.c" (`from a.b import c`), ".x", "..pkg.mod.y".

    The longest dotted prefix that is a package (`a/b/__init__.py`, preferred as in CPython) or
    a module (`a/b.py`, then `.pyi`) wins, down to all but the last name (which may be a name
    inside a module). Absolute imports start from the bases of `_PythonTables.bases`; relative
    ones from the importer's package, one directory up per extra dot, down to the package's
    `__init__.py` itself (`from . import x` where `x` is defined there).
    """
    if spec.startswith("."):
        return _python_relative(repo, here, spec)
    parts = spec.split(".")
    for base in repo.python.bases(parts[0], here):
        found = _python_lookup(repo, base, parts, max(1, len(parts) - 1))
        if found:
            return found
    return ()


def _python_relative(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    rest = spec.lstrip(".")
    base: str | None = here
    for _ in range(len(spec) - len(rest) - 1):
        base = _dirname(base) if base else None
    if base is None:
        return ()
    parts = rest.split(".") if rest else []
    return _python_lookup(repo, base, parts, max(0, len(parts) - 1))


def _python_lookup(repo: Repo, base: str, parts: list[str], shortest: int) -> tuple[int, ...]:
    """Longest prefix of `parts` under `base` that is a package or module, down to `shortest` names."""
    names = repo.python.names
    for k in range(len(parts), shortest - 1, -1):
        stem = _join(base, "/".join(parts[:k]))
        if k and stem not in names:
            continue
        modules = (stem + ".py", stem + ".pyi") if k else ()
        found = repo.first((_join(stem, "__init__.py"), *modules, _join(stem, "__init__.pyi")))
        if found:
            return found
    return ()


def _resolve_js(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """JavaScript/TypeScript: "./foo", "../bar/baz", "." resolve; packages from outside ("react") drop.

    Tries the path as written, then each of `_JS_EXTS` appended, then the TypeScript source for
    an ESM `.js` specifier, then `index` + each extension inside the directory. The common
    `@/x` and `~/x` aliases (tsconfig `paths`, which is not read) try `src/x`, then `x`, in the
    importer's directory and then in each directory above it: the project root a monorepo's app
    has its aliases from. A bare "name/sub" (or "@scope/name/sub") is a workspace package when a
    directory `name` holds a `package.json` (the nearest one): `sub`, `src/sub`, `lib/sub` inside it,
    or without `sub` its `src`, `lib` or own index.
    """
    spec = spec.split("?", 1)[0]
    for base in _js_bases(repo, here, spec):
        found = repo.first(_js_candidates(base))
        if found:
            return found
    return ()


def _js_bases(repo: Repo, here: str, spec: str) -> list[str]:
    if spec in (".", "..") or spec.startswith(("./", "../")):
        base = _normjoin(here, spec)
        return [] if base is None else [base]
    if spec.startswith(("@/", "~/")):
        rest = spec[2:]
        return [_join(top, inner) for top in _ancestors(here) for inner in (_join("src", rest), rest)]
    return _js_package_bases(repo, here, spec)


def _ancestors(directory: str) -> list[str]:
    """`directory` and each directory above it, the repository root ("") last."""
    parts = directory.split("/") if directory else []
    return ["/".join(parts[:k]) for k in range(len(parts), -1, -1)]


def _js_package_bases(repo: Repo, here: str, spec: str) -> list[str]:
    parts = spec.split("/")
    if spec.startswith("@"):
        parts = parts[1:]  # the scope: packages live in a directory named after the package alone
    if not parts or any(part in ("", ".", "..") for part in parts):
        return []
    package = _closest(repo.js_packages.get(parts[0], ()), str, here)
    if package is None:
        return []
    sub = "/".join(parts[1:])
    if not sub:
        return [_join(package, "src"), _join(package, "lib"), package]
    return [_join(package, _join(inner, sub)) for inner in ("", "src", "lib")]


def _js_candidates(base: str) -> Iterable[str]:
    yield base
    yield from (base + ext for ext in _JS_EXTS)
    stem, ext = posixpath.splitext(base)
    yield from (stem + source for source in _JS_SOURCE_FOR.get(ext, ()))
    yield from (_join(base, "index" + ext) for ext in _JS_EXTS)


def _resolve_go(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Go: "github.com/org/repo/pkg/util" → every non-test `.go` file of that package directory.

    An import under a module path learnt by `_learn_go_modules` maps to its directory exactly.
    Otherwise the longest trailing part of the import path that names a package directory wins
    (which also finds `vendor/` copies). A one-component match must sit directly in a module
    root, and a standard-library-like path (no dot in its first component, "net/http") must
    match whole, so `errors` does not resolve to `pkg/errors`.
    """
    go = repo.go
    owner = go.module_of(spec)
    if owner is not None:
        module, root = owner
        return go.package(_join(root, spec[len(module) + 1 :]))
    parts = spec.split("/")
    shortest = 1 if "." in parts[0] else len(parts)
    for k in range(min(len(parts), repo.depth), shortest - 1, -1):
        dirs = [d for d in _ending(go.by_tail, "/".join(parts[-k:])) if k > 1 or _dirname(d) in go.roots]
        if dirs:
            best = _closest(dirs, str, here)
            return () if best is None else go.package(best)
    return ()


def _resolve_rust(repo: Repo, path: str, spec: str) -> tuple[int, ...]:
    """Rust: "mod:foo", "crate::a::b::C", "super::x", "self::y" (`here` is the importing file).

    `mod foo;` → `foo.rs` or `foo/mod.rs` in the declaring module's directory. A path walks
    down module files from its anchor (crate root = nearest directory above with `lib.rs` or
    `main.rs`; `self`/`super` = the current/parent module) as far as they exist; the deepest
    one found is the target, the anchor's own file if none is. An unanchored path ("config::X",
    2018-edition use of a local module) resolves only if its first name is a child module;
    other crates ("std::", "serde::") are dropped. `#[path]` attributes are not seen.
    """
    if spec.startswith("mod:"):
        return repo.first(_rust_children(_rust_module_dir(repo, path), spec[4:]))
    names = [name for name in spec.split("::") if name]
    if names[:1] == ["crate"]:
        start = _rust_crate_dir(repo, path)
        return () if start is None else _rust_walk(repo, start, names[1:], anchored=True)
    if names[:1] in (["self"], ["super"]):
        return _rust_relative(repo, path, names)
    return _rust_walk(repo, _rust_module_dir(repo, path), names, anchored=False)


def _rust_relative(repo: Repo, path: str, names: list[str]) -> tuple[int, ...]:
    directory: str | None = _rust_module_dir(repo, path)
    skip = 1 if names[0] == "self" else 0
    while skip < len(names) and names[skip] == "super" and directory is not None:
        directory = _dirname(directory) if directory else None
        skip += 1
    return () if directory is None else _rust_walk(repo, directory, names[skip:], anchored=True)


def _rust_children(directory: str, name: str) -> tuple[str, str]:
    return _join(directory, name + ".rs"), _join(directory, name + "/mod.rs")


def _rust_module_dir(repo: Repo, path: str) -> str:
    """Where the child modules of the module in file `path` live."""
    directory, _, name = path.rpartition("/")
    if name in ("mod.rs", "lib.rs", "main.rs") or _rust_is_target_dir(repo, directory):
        return directory
    return path.removesuffix(".rs")


def _rust_is_target_dir(repo: Repo, directory: str) -> bool:
    """`src/bin`, or `tests`/`examples`/`benches` beside a Cargo.toml: each file is a crate root."""
    parent, _, name = directory.rpartition("/")
    if name == "bin":
        return parent == "src" or parent.endswith("/src")
    return name in _RUST_TARGET_DIRS and _join(parent, "Cargo.toml") in repo.node


def _rust_crate_dir(repo: Repo, path: str) -> str | None:
    """The nearest directory above `path` holding `lib.rs` or `main.rs`."""
    for directory in _ancestors(_dirname(path)):
        if repo.first((_join(directory, "lib.rs"), _join(directory, "main.rs"))):
            return directory
    return None


def _rust_walk(repo: Repo, directory: str, names: list[str], anchored: bool) -> tuple[int, ...]:
    """Follow `names` down child module files from `directory`; the deepest file found."""
    found = _rust_module_file(repo, directory) if anchored else ()
    for name in names:
        child = repo.first(_rust_children(directory, name))
        if not child:
            break
        found, directory = child, _join(directory, name)
    return found


def _rust_module_file(repo: Repo, directory: str) -> tuple[int, ...]:
    """The file of the module whose children live in `directory`."""
    own = (directory + ".rs",) if directory else ()
    return repo.first((_join(directory, "mod.rs"), *own, _join(directory, "lib.rs"), _join(directory, "main.rs")))


def _resolve_jvm(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Java/Kotlin/Scala/Groovy: "com.x.Y" → a file ending `com/x/Y.java` (or `.kt`, `.scala`, `.groovy`); `=Y`
    (a class of the importer's own package, see `atlas.records.SAME_PACKAGE`) → `Y.java` (or `.kt`, ...) beside
    it.

    Trailing names are dropped while at least two remain (static imports, nested classes:
    "com.x.Y.Inner" → `com/x/Y.java`). "com.x.*" (Scala "com.x._") → every JVM source file of
    every directory ending `com/x` (a package split across source sets stays whole).
    """
    if spec.startswith(SAME_PACKAGE):
        return repo.first(_join(here, spec[len(SAME_PACKAGE) :] + ext) for ext in _JVM_EXTS)
    parts = spec.split(".")
    if parts[-1] in ("*", "_"):
        dirs = _ending(repo.dirs_by_tail, "/".join(parts[:-1]))
        return tuple(i for d in dirs for i in repo.files_with_ext(d, _JVM_EXTS))
    longest = min(len(parts), repo.depth)
    return repo.pick_first_ending(("/".join(parts[:k]) for k in range(longest, 1, -1)), _JVM_EXTS, here)


def _resolve_c(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """C/C++: "a/b.h" (quoted) → the includer's directory first, then a suffix match on all paths;
    "<linux/list.h>" (angle) → a suffix match only (the system header when nothing matches).
    """
    if spec.startswith("<"):
        return repo.pick_ending(_strip_up(spec.strip("<>")), here)
    name = spec.strip('"')
    return _beside(repo, here, name) or repo.pick_ending(_strip_up(name), here)


def _strip_up(path: str) -> str:
    """A path normalised, without `/`, `./` and `../` in front, for suffix matching."""
    return "/".join(p for p in posixpath.normpath(path).split("/") if p not in ("", ".", ".."))


def _beside(repo: Repo, here: str, name: str) -> tuple[int, ...]:
    """`name` relative to directory `here`; () when it leads above the root or is not indexed."""
    local = _normjoin(here, name)
    return () if local is None else repo.first((local,))


def _near(repo: Repo, here: str, name: str) -> tuple[int, ...]:
    """`name` relative to directory `here`, else relative to the repository root."""
    local = _normjoin(here, name)
    return repo.first(path for path in (local, _normjoin("", name.lstrip("/"))) if path is not None)


def _resolve_csharp(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """C#: a type the file names (`SAME_PACKAGE + "T"`) → the file named after it, `T.cs`, nearest to the
    file; a `using` of a type (`using static A.B.C`, an alias) → `…/B/C.cs`.

    A namespace `using A.B` links no file by itself: its folder holds every type of the namespace, and the
    file's edges are the ones to the types it names. A name is tried whole, then without leading segments
    (the root namespace is often the project, not a folder) while two remain; each as folders, then with a
    project folder named by its leading segments (`Src/Newtonsoft.Json/Utilities/…`: .NET names a project's
    folder after its root namespace). Framework types and namespaces find nothing.
    """
    if spec.startswith(SAME_PACKAGE):
        return repo.pick_ending(spec[len(SAME_PACKAGE) :] + ".cs", here)
    parts = spec.removeprefix("global::").split(".")
    for k in range(max(0, len(parts) - repo.depth), max(1, len(parts) - 1)):
        for suffix in _namespace_folders(parts[k:]):
            found = repo.pick_ending(suffix + ".cs", here)
            if found:
                return found
    return ()


def _resolve_swift(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Swift: a type the file names (`SAME_PACKAGE + "T"`) → the file named after it, `T.swift`, nearest to the
    file: a module's files see each other's types without an import. An `import` names a module (a framework or a
    package), which links no file."""
    if spec.startswith(SAME_PACKAGE):
        return repo.pick_ending(spec[len(SAME_PACKAGE) :] + ".swift", here)
    return ()


def _namespace_folders(parts: list[str]) -> list[str]:
    """The paths a namespace's segments may take: all folders (`A/B/C`), then a project folder named by the
    leading segments, longest first (`A.B.C`, `A.B/C`)."""
    return ["/".join(parts)] + ["/".join([".".join(parts[:m]), *parts[m:]]) for m in range(len(parts), 1, -1)]


def _resolve_ruby(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Ruby: "./y", "../y" (require_relative) → relative to the file; "x" (require) → a file
    ending `lib/x.rb`, then `spec/x.rb`, `test/x.rb` (the load paths rspec and minitest add),
    then `x.rb` at the root. Gems are dropped.
    """
    name = spec if spec.endswith(".rb") else spec + ".rb"
    if spec.startswith("."):
        return _beside(repo, here, name)
    for load_path in ("lib/", "spec/", "test/"):
        found = repo.pick_ending(load_path + name, here)
        if found:
            return found
    return repo.first((name,))


def _resolve_php(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """PHP: "x.php" (include/require) → relative to the file, then the root, then a suffix match;
    "A\\B\\C" (use) → a file ending `A/B/C.php`, dropping leading segments while two remain
    (PSR-4 maps a namespace prefix like `App\\` to a folder like `src/`).
    """
    if spec.endswith(".php") or "/" in spec:
        return _near(repo, here, spec) or repo.pick_ending(_strip_up(spec), here)
    parts = [part for part in spec.split("\\") if part]
    for k in range(max(0, len(parts) - repo.depth), max(1, len(parts) - 1)):
        found = repo.pick_ending("/".join(parts[k:]) + ".php", here)
        if found:
            return found
    return ()


def _resolve_bash(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Bash: "x.sh", "lib/x.sh" (source / .) → relative to the script, then to the root.

    A leading variable or command substitution ("$DIR/x.sh", "${BASH_SOURCE%/*}/x.sh",
    `$(dirname "$0")/x.sh`) is dropped first: such prefixes almost always name the script's
    directory or the root. A path with another `$`, or starting with `/` or `~`, is dropped.
    """
    name = _SHELL_PREFIX.sub("", spec)
    if not name or "$" in name or name.startswith(("/", "~")):
        return ()
    return _near(repo, here, name)


def _resolve_dart(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Dart: `dart:async` → nothing; `package:name/x.dart` → a file ending `name/lib/x.dart` (a package's
    directory is named as the package), else `lib/x.dart` beside a `pubspec.yaml` (the root package); any other
    URI → relative to the file. Packages the repository does not hold find nothing.
    """
    if spec.startswith("dart:"):
        return ()
    if spec.startswith("package:"):
        package, _, rest = spec.removeprefix("package:").partition("/")
        found = repo.pick_ending(f"{package}/lib/{rest}", here)
        if found or not rest:
            return found
        suffix = f"lib/{rest}"
        owned = [i for i in repo.files_ending(suffix) if repo.paths[i][: -len(suffix)] + "pubspec.yaml" in repo.node]
        best = _closest(owned, repo.dirs.__getitem__, here)
        return () if best is None else (best,)
    return _beside(repo, here, spec)


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _resolve_elixir(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Elixir: a module `Ecto.Changeset.Relation` → Mix's file for it, each segment in snake case, under a
    `lib/` (`lib/ecto/changeset/relation.ex`, umbrella apps' `apps/x/lib/` too), else anywhere for a name of
    two or more segments; Elixir's own modules (`Logger`, `Enum`) and dependencies' find nothing.
    """
    parts = [_CAMEL_BOUNDARY.sub("_", part).lower() for part in spec.split(".") if part]
    if not parts:
        return ()
    path = "/".join(parts) + ".ex"
    return repo.pick_ending(f"lib/{path}", here) or (repo.pick_ending(path, here) if len(parts) > 1 else ())


def _resolve_lua(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Lua: `require("a.b")` → a file ending `a/b.lua`, else `a/b/init.lua` (`package.path`'s two patterns,
    under any root: Neovim plugins keep theirs in `lua/`), nearest to the requirer."""
    path = spec.replace(".", "/")
    if not path or path.startswith("/"):
        return ()
    return repo.pick_ending(f"{path}.lua", here) or repo.pick_ending(f"{path}/init.lua", here)


def _resolve_haskell(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Haskell: a module `ShellCheck.Checks.Commands` → a file ending `ShellCheck/Checks/Commands.hs` (under
    `src/`, `lib/` or any source directory), nearest to the importer; `base`'s modules find nothing."""
    path = spec.replace(".", "/")
    return repo.pick_ending(f"{path}.hs", here) or repo.pick_ending(f"{path}.lhs", here) if path else ()


def _resolve_perl(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Perl: `use Mojo::Base` → a file ending `Mojo/Base.pm` (under `lib/`), nearest to the user; pragmas
    (`strict`) and CPAN's modules find nothing."""
    path = spec.replace("::", "/")
    return repo.pick_ending(f"{path}.pm", here) if path and not path.startswith("/") else ()


def _resolve_clojure(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Clojure: a namespace `clj-kondo.impl.utils` → a file ending `clj_kondo/impl/utils.clj` (or `.cljc`,
    `.cljs`; dashes are underscores in file names), nearest to the requirer; `clojure.*`'s find nothing."""
    path = spec.replace(".", "/").replace("-", "_")
    if not path or path.startswith("/"):
        return ()
    return repo.pick_first_ending((path,), (".clj", ".cljc", ".cljs"), here)


def _resolve_erlang(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Erlang: `-include("x.hrl")` beside the includer, else a file ending with the path (`include/x.hrl`, an
    `-include_lib("app/include/x.hrl")`)."""
    return _beside(repo, here, spec) or (repo.pick_ending(spec, here) if not spec.startswith("/") else ())


def _resolve_solidity(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Solidity: "./x.sol" and "../a/x.sol" beside the importer; a remapped "@scope/pkg/a/x.sol" or "pkg/a/x.sol"
    → the file ending with the path, else with the path less its leading components, while two remain (the
    remapping names the package, which a repository holds under its own folder: `contracts/a/x.sol`)."""
    if spec.startswith(("./", "../")):
        return _beside(repo, here, spec)
    parts = _strip_up(spec).split("/")
    for start in range(max(0, len(parts) - repo.depth), max(1, len(parts) - 1)):
        found = repo.pick_ending("/".join(parts[start:]), here)
        if found:
            return found
    return ()


_FORTRAN_EXTS = (".f90", ".F90", ".f", ".F", ".f95", ".f03", ".f08")


def _resolve_fortran(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Fortran: a `use`d module "a_b_c" → a file named `a_b_c.f90` (or `.F90`, `.f`, ...), else `a/b/c.f90`, the
    module's words as folders (fpm's convention); intrinsic modules (`iso_fortran_env`) find nothing."""
    name = spec.lower()
    return repo.pick_first_ending((name, name.replace("_", "/")), _FORTRAN_EXTS, here)


def _resolve_nim(repo: Repo, here: str, spec: str) -> tuple[int, ...]:
    """Nim: "./x" and "../a/x" → `x.nim` beside the importer; "a/b" or "b" → beside it, else the file ending
    `a/b.nim` nearest to it (a package's module, `src/pkg/b.nim`); the standard library's ("std/os") find nothing."""
    path = spec if spec.endswith(".nim") else spec + ".nim"
    if path.startswith(("./", "../")):
        return _beside(repo, here, path)
    return _beside(repo, here, path) or repo.pick_ending(_strip_up(path), here)


RESOLVERS: dict[str, Callable[[Repo, str, str], tuple[int, ...]]] = {
    "python": _resolve_python, "js": _resolve_js, "go": _resolve_go, "rust": _resolve_rust,
    "jvm": _resolve_jvm, "c": _resolve_c, "csharp": _resolve_csharp, "ruby": _resolve_ruby,
    "php": _resolve_php, "bash": _resolve_bash, "dart": _resolve_dart, "elixir": _resolve_elixir,
    "lua": _resolve_lua, "haskell": _resolve_haskell, "perl": _resolve_perl, "erlang": _resolve_erlang,
    "clojure": _resolve_clojure, "beside": _beside, "near": _near, "solidity": _resolve_solidity,
    "fortran": _resolve_fortran, "nim": _resolve_nim, "swift": _resolve_swift,
}

