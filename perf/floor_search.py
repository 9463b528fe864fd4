"""The floor of a cold search: a bare Python process that opens an Atlas index's tantivy index and runs one query.

    python perf/floor_search.py [--import MODULE ...] INDEX_DIR QUERY

Opens the live generation's tantivy index (`INDEX_DIR/CURRENT` names it), parses QUERY over the
file-name, symbol and content fields, takes the top 10 and prints their stored paths, one a line.
Nothing else: no ranking signals, no line ranges, no CLI. `perf/bench.py --floor` divides a cold
`atlas search` process by this one, in CPU and wall time.

`--import MODULE` (repeatable) imports MODULE first and uses nothing of it: the floor of any search
process that must load those libraries. `perf/bench.py --floor` runs it with the libraries the design
requires of Atlas's command line (`click` for arguments, `orjson` for output), which shows how much of
the cold-search budget they take before Atlas does anything.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

FIELDS = ["filename", "symbols", "content"]
LIMIT = 10


def search(index_dir: Path, query: str) -> list[str]:
    """The stored paths of the top LIMIT documents for `query` in the live generation of `index_dir`."""
    import tantivy

    generation = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    index = tantivy.Index.open(str(index_dir / generation / "tantivy"))
    searcher = index.searcher()
    parsed, _errors = index.parse_query_lenient(query.lower(), FIELDS)
    return [searcher.doc(address)["path"][0] for _score, address in searcher.search(parsed, LIMIT).hits]


def main(argv: list[str] | None = None) -> int:
    """Print the paths `search` finds; exit 2 on a usage error."""
    args = sys.argv[1:] if argv is None else list(argv)
    while len(args) > 2 and args[0] == "--import":
        importlib.import_module(args[1])
        del args[:2]
    if len(args) != 2 or args[0] == "--import":
        sys.stderr.write("usage: python perf/floor_search.py [--import MODULE ...] INDEX_DIR QUERY\n")
        return 2
    sys.stdout.write("".join(f"{path}\n" for path in search(Path(args[0]), args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
