"""The floor of index building: the least work any tree-sitter + tantivy indexer of TREE must do.

    python perf/floor.py TREE [--jobs 2] [--index-dir DIR]

Walks TREE (skipping .git and .atlas directories, symbolic links, files over 1 MiB and binary files:
a NUL byte in the first 8 KiB, as Atlas does), reads every text file, parses the Python files (`.py`)
and the C files (`.c`, `.h`: the kernel's) with tree-sitter and one query each for the names of
functions and classes or structs, and adds {path, symbols, content} to a fresh tantivy index.
Reading and parsing run in --jobs worker processes (a fork pool, like Atlas's); the
parent owns the only tantivy writer. Nothing else: no signals, no stored content, no progress.
`perf/bench.py --floor` divides Atlas's build by this.

Prints one JSON object: wall seconds, CPU seconds of the whole process tree (this process and its
waited-for workers), files and bytes indexed, files parsed (Python and C) and names found. The index goes to
--index-dir (which must be missing or empty, and is kept) or to a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1 << 20  # Atlas's default size cap (atlas.config.DEFAULT_MAX_FILE_BYTES)
BINARY_PROBE = 8192
SKIP_DIRS = frozenset({".git", ".atlas"})
NAMES_QUERIES = {
    "python": """
(function_definition name: (identifier) @name)
(class_definition name: (identifier) @name)
""",
    "c": """
(function_definition declarator: (function_declarator declarator: (identifier) @name))
(struct_specifier name: (type_identifier) @name body: (field_declaration_list))
""",
}
GRAMMAR_OF = {".py": "python", ".c": "c", ".h": "c"}
CHUNK = 16

Parsed = tuple[str, str, str, int] | None  # (path, symbols, content, bytes); None: binary or unreadable

_tools: dict[str, tuple[Any, Any]] = {}  # grammar → (parser, compiled names query), per worker


def walk(tree: Path) -> Iterator[str]:
    """Paths of the regular files under `tree` within the size cap, without following links."""
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if (info.st_mode & 0o170000) == 0o100000 and info.st_size <= MAX_FILE_BYTES:
                yield full


def _init_worker() -> None:
    """Load the grammars and compile the names queries once per worker."""
    from tree_sitter import Query
    from tree_sitter_language_pack import get_language, get_parser

    for grammar, query in NAMES_QUERIES.items():
        _tools[grammar] = (get_parser(grammar), Query(get_language(grammar), query))


def read_and_parse(path: str) -> Parsed:
    """Read one file; for a Python or C file, the function and class (struct) names tree-sitter finds in it."""
    from tree_sitter import QueryCursor

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if b"\0" in data[:BINARY_PROBE]:
        return None
    symbols = ""
    grammar = GRAMMAR_OF.get(os.path.splitext(path)[1])
    if grammar is not None:
        parser, query = _tools[grammar]
        root = parser.parse(data).root_node
        nodes = QueryCursor(query).captures(root).get("name", [])
        symbols = " ".join(node.text.decode("utf-8", "replace") for node in nodes)
    return path, symbols, data.decode("utf-8", "replace"), len(data)


def new_index(directory: Path) -> Any:
    """A fresh tantivy index with path (stored), symbols and content, default tokenizer."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", stored=True)
    builder.add_text_field("symbols")
    builder.add_text_field("content")
    return tantivy.Index(builder.build(), path=str(directory))


def build(tree: Path, index_dir: Path, jobs: int) -> dict[str, Any]:
    """Index `tree` into `index_dir`; counts of what went in."""
    import multiprocessing

    import tantivy

    writer = new_index(index_dir).writer()
    files = total = parsed = names = 0
    context = multiprocessing.get_context("fork")
    pool = context.Pool(jobs, initializer=_init_worker)
    try:
        for result in pool.imap_unordered(read_and_parse, walk(tree), chunksize=CHUNK):
            if result is None:
                continue
            path, symbols, content, size = result
            rel = os.path.relpath(path, tree)
            writer.add_document(tantivy.Document(path=rel, symbols=symbols, content=content))
            files, total = files + 1, total + size
            if os.path.splitext(rel)[1] in GRAMMAR_OF:
                parsed += 1
                names += len(symbols.split())
    finally:
        pool.close()
        pool.join()  # the workers' CPU is in RUSAGE_CHILDREN only once they are reaped
    writer.commit()
    writer.wait_merging_threads()
    return {"files": files, "bytes": total, "parsed_files": parsed, "names": names}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) of this process and of its reaped children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    parent = own.ru_utime + own.ru_stime
    child = children.ru_utime + children.ru_stime
    return {"cpu_s": round(parent + child, 3), "cpu_parent_s": round(parent, 3), "cpu_children_s": round(child, 3)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path, help="source tree to index")
    parser.add_argument("--jobs", type=int, default=2, help="read-and-parse processes (default 2)")
    parser.add_argument("--index-dir", type=Path, help="where to build, kept (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not args.tree.is_dir():
        parser.error(f"{args.tree} is not a directory")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.index_dir is not None and args.index_dir.exists() and any(args.index_dir.iterdir()):
        parser.error(f"--index-dir {args.index_dir} is not empty; the floor builds a fresh index")
    return args


def main(argv: list[str] | None = None) -> int:
    """Build the floor index and print its JSON report."""
    args = parse_args(argv)
    started = time.perf_counter()
    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="atlas-floor-"))
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        counts = build(args.tree.resolve(), index_dir, args.jobs)
    finally:
        if args.index_dir is None:
            shutil.rmtree(index_dir, ignore_errors=True)
    wall = time.perf_counter() - started
    report = {"wall_s": round(wall, 3), **cpu_seconds(), **counts, "jobs": args.jobs,
              "tree": str(args.tree), "index_dir": str(args.index_dir) if args.index_dir else None}  # fmt: skip
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
