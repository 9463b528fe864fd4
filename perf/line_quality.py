"""Line ranges against the lines a fix changed: does a hit's range show where the issue was fixed?

    MIRROR_ROOT=DIR python perf/line_quality.py BENCH.jsonl --index-root DIR [--trees DIR] [--history]
                                                [--manifest FIXES.jsonl] [--per-instance OUT.jsonl]

For every instance with a fix commit (the row's `fix_child`, or `fix_commit` in `--manifest` by id), the lines
the fix changed in each gold file are read from the repository's git directory under $MIRROR_ROOT
(`git diff -U0 BASE FIX`: the old side's lines; an insertion counts the lines on either side of it). Each query
runs once on its tree's index (built into `--index-root/ID` when missing, as `perf/fit.py` builds them) with
the CLI's defaults (limit 10, line ranges on). For each gold file among the hits: does it have ranges, does its
first range hold a changed line, does any? Prints one JSON line of counts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from atlas.query.engine import SearchOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit import engine_for
from quality import load_bench, tree_for

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? ", re.MULTILINE)


def changed_lines(git_dir: Path, base: str, fix: str, path: str) -> set[int]:
    """The lines of `path` at `base` that the commit `fix` changed (either side of an insertion)."""
    diff = subprocess.run(["git", "--git-dir", str(git_dir), "diff", "-U0", base, fix, "--", path],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    lines: set[int] = set()
    for hunk in HUNK.finditer(diff):
        start, count = int(hunk.group(1)), int(hunk.group(2) or 1)
        lines |= set(range(start, start + count)) if count else {start, start + 1}
    return lines


def judge(row: dict, fix: str, args: argparse.Namespace) -> list[dict]:
    """One record per gold file among the instance's hits: its rank, range count, and the first range (0-based)
    that holds a changed line (None: none does)."""
    git_dir = Path(os.environ["MIRROR_ROOT"]) / row["repo"].replace("/", "+") / "repo"
    changed = {path: lines for path in row["gold_files"]
               if (lines := changed_lines(git_dir, row["base_commit"], fix, path))}  # fmt: skip
    if not changed:
        return []
    engine = engine_for(row, tree_for(row, args.trees, args.checkout, args.history), args.index_root)
    records = []
    for hit in engine.search(row["query"], SearchOptions(limit=10)).hits:
        if hit.path in changed:
            spans = [(r.start_line, r.end_line) for r in hit.lines]
            first = next((i for i, (a, b) in enumerate(spans) if any(a <= n <= b for n in changed[hit.path])), None)
            records.append({"id": row["id"], "path": hit.path, "rank": hit.rank, "ranges": len(spans), "first": first})
    return records


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("--index-root", type=Path, required=True)
    parser.add_argument("--trees", type=Path, default=Path(os.environ.get("EVAL_TREES", "/tmp/atlas-eval-trees")))
    parser.add_argument("--checkout", type=Path, default=here.parent.parent / "shared" / "eval" / "checkout.sh")
    parser.add_argument("--history", action="store_true", help="git work trees (score.py --history)")
    parser.add_argument("--manifest", type=Path, help="rows with id and fix_commit, for benches without fix_child")
    parser.add_argument("--per-instance", type=Path)
    args = parser.parse_args()
    fixes = {row["id"]: row["fix_commit"] for row in load_bench(args.manifest)} if args.manifest else {}
    records = []
    for row in load_bench(args.bench):
        fix = row.get("fix_child") or fixes.get(row["id"])
        if fix:
            records += judge(row, fix, args)
    if args.per_instance:
        args.per_instance.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(json.dumps({
        "gold_hits": len(records),
        "with_ranges": sum(r["ranges"] > 0 for r in records),
        "changed_line_in_first_range": sum(r["first"] == 0 for r in records),
        "changed_line_in_a_range": sum(r["first"] is not None for r in records),
        "bench": str(args.bench),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
