"""Warm bug-report searches: the issue texts of an eval benchmark as queries, p50 and p90 of their latency.

    python perf/warm_issues.py BENCH.jsonl --index-root DIR [--trees DIR] [--limit 10] [--repeat 5] [--no-lines]
    python perf/warm_issues.py BENCH.jsonl --tree TREE --index-dir DIR [...]

With `--index-root`, each issue runs on its own work tree (`--trees`, laid out as `shared/eval/checkout.sh`
makes them: `OWNER+NAME/BASE_COMMIT-git`) and its own index (`DIR/ID`, as `perf/fit.py --index-root` builds
them); with `--tree`, every issue runs on that one tree and index (built first when missing). Each query runs
once to warm up, then `--repeat` times in one in-process `Engine` with `SearchOptions(limit=...)`; its best time
counts. Prints one JSON line: p50, p90, the number of queries and the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from atlas.api import index_config, index_repo, open_engine
from atlas.query.engine import Engine, SearchOptions


def _best_ms(engine: Engine, query: str, options: SearchOptions, repeat: int) -> float:
    engine.search(query, options)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        engine.search(query, options)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _engine(tree: Path, index_dir: Path) -> Engine:
    config = index_config(tree, index_dir=index_dir, jobs=os.cpu_count() or 1)
    if not (index_dir / "CURRENT").exists():
        index_repo(config, show_progress=False)
    return open_engine(config, build_if_missing=False)


def main() -> None:
    """Run the benchmark's queries and print their latency."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("--index-root", type=Path)
    parser.add_argument("--trees", type=Path, default=Path(os.environ.get("EVAL_TREES", "/tmp/atlas-eval-trees")))
    parser.add_argument("--tree", type=Path)
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-lines", action="store_true")
    args = parser.parse_args()
    if (args.index_root is None) == (args.tree is None):
        parser.error("give --index-root (each issue on its own tree) or --tree with --index-dir (one tree)")
    options = SearchOptions(limit=args.limit, with_lines=not args.no_lines)
    rows = [json.loads(line) for line in args.bench.read_text(encoding="utf-8").splitlines() if line.strip()]
    shared = _engine(args.tree, args.index_dir) if args.tree else None
    times = []
    for row in rows:
        if shared is None:
            tree = args.trees / row["repo"].replace("/", "+") / f"{row['base_commit']}-git"
            engine = open_engine(index_config(tree, index_dir=args.index_root / row["id"]), build_if_missing=False)
        times.append(_best_ms(shared or engine, row["query"], options, args.repeat))
    ordered = sorted(times)
    print(json.dumps({
        "queries": len(times), "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9)], 2), "limit": args.limit, "lines": not args.no_lines,
        "repeat": args.repeat, "per_issue_index": shared is None,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
