"""Sharded build by the Ray executor against a single build of the same tree: time, top-10 and latency.

    python perf/scale_out.py TREE [--shards 8] [--work DIR] [--repeat 5] [--json]

Builds TREE once as a single index and once as SHARDS shards by `atlas index --executor ray` (a local
Ray cluster started for the run, loopback only), times the assemble step on its own (`atlas index
--assemble` of the same shards into a third directory), then runs bench.py's ~20 built-in queries on
both indexes: identical top-10 (paths and scores) and warm in-process latency (per query the median
of `--repeat` runs after one warm-up pass; then the median and p90 over the queries).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import builtin_queries, corpus_kind, machine_info, percentile

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def timed(args: list[str]) -> tuple[float, dict[str, Any]]:
    """Run `python -m atlas ARGS --format json`; wall seconds and the JSON report."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "atlas", *args, "--format", "json"], capture_output=True, text=True,
                          env={**os.environ, **LOOPBACK}, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"atlas {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return time.perf_counter() - started, json.loads(done.stdout)


def search_all(tree: Path, index_dir: Path, texts: list[str], repeat: int) -> tuple[list[list[Any]], list[float]]:
    """Top-10 (path, score) per query, and each query's median warm latency in ms over `repeat` runs."""
    from atlas.api import index_config, open_engine
    from atlas.query.engine import SearchOptions

    engine = open_engine(index_config(tree, index_dir), build_if_missing=False, show_progress=False)
    options = SearchOptions(limit=10, with_lines=False)
    for text in texts:  # warm: the first search of an index reads its files from disk
        engine.search(text, options)
    tops, medians = [], []
    for text in texts:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = engine.search(text, options)
            times.append((time.perf_counter() - started) * 1000)
        tops.append([(hit.path, hit.score) for hit in result.hits])
        medians.append(statistics.median(times))
    return tops, medians


def main() -> None:
    """Measure and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path("/tmp/atlas-scale-out"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tree, work = args.tree.resolve(), args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    single_dir, sharded_dir, assembled_dir = work / "single", work / "sharded", work / "assembled"
    single_s, single = timed(["index", str(tree), "--out", str(single_dir)])
    ray_s, sharded = timed(["index", str(tree), "--out", str(sharded_dir), "--shards", str(args.shards),
                            "--executor", "ray"])  # fmt: skip
    shard_dirs = sorted(str(p) for p in (sharded_dir / "shards").iterdir())
    assemble_s, _ = timed(["index", str(tree), "--out", str(assembled_dir), "--assemble", *shard_dirs])
    texts = [query.text for query in builtin_queries(tree, corpus_kind(tree))]
    single_top, single_ms = search_all(tree, single_dir, texts, args.repeat)
    sharded_top, sharded_ms = search_all(tree, sharded_dir, texts, args.repeat)
    same = [a == b for a, b in zip(single_top, sharded_top, strict=True)]
    same_paths = [[p for p, _ in a] == [p for p, _ in b] for a, b in zip(single_top, sharded_top, strict=True)]
    record = {
        "machine": machine_info(), "tree": str(tree), "files": single["files_indexed"], "shards": args.shards,
        "single_build_s": round(single_s, 1), "ray_build_and_assemble_s": round(ray_s, 1),
        "assemble_s": round(assemble_s, 1), "assemble_share_of_single": round(assemble_s / single_s, 3),
        "queries": len(texts), "identical_top10": sum(same), "identical_top10_paths": sum(same_paths),
        "differing": [texts[i][:60] for i, ok in enumerate(same_paths) if not ok],
        "latency_ms": {
            "single": {"median": round(statistics.median(single_ms), 2), "p90": round(percentile(single_ms, 90), 2)},
            "sharded": {"median": round(statistics.median(sharded_ms), 2),
                        "p90": round(percentile(sharded_ms, 90), 2)},
        },
        "latency_ratio_median": round(statistics.median(sharded_ms) / statistics.median(single_ms), 3),
        "index_files_equal": single["files_indexed"] == sharded["files_indexed"],
    }  # fmt: skip
    print(json.dumps(record, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in record.items()))


if __name__ == "__main__":
    main()
