"""Context selection quality: is the gold file inside the selection at a token budget?

    python perf/context_quality.py ../shared/eval/dev.jsonl [--budgets 8000,16000,32000]
                                   [--presets balanced,fast] [--per-instance out.jsonl] [--history]

For every instance and budget (cl100k tokens, no byte limit) it runs Atlas's selection (`chunks`:
whole files when they fit, else best definitions and an outline) and the reference tools' rule
(`files`: whole files in score order, stop at the first that would exceed), and counts the
instances whose gold file is in the selection: at all ("in"), and whole ("whole"). Trees come from
$EVAL_TREES (default $TMPDIR/atlas-eval-trees), checked out with the benchmark's checkout.sh when
missing; indexes are built once into --index-root and reused. Selections run in-process on an open
engine, so the timings are per selection (ranking included, index open excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from atlas.api import index_config, index_repo, open_engine, search_options
from atlas.context.model import ContextOptions, Selection
from atlas.context.pipeline import candidate_limit, select_for_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import load_bench, tree_for

STRATEGIES = ("chunks", "files")


def gold_status(selection: Selection, gold: list[str]) -> tuple[bool, bool]:
    """Whether a gold file is in the selection, and whether one is there whole."""
    modes = {entry.path: entry.mode for entry in selection.entries}
    inside = [path for path in gold if path in modes]
    return bool(inside), any(modes[path] == "whole" for path in inside)


def run_instance(row: dict, tree: Path, index_root: Path, budgets: list[int], presets: list[str]) -> list[dict]:
    """One result per preset, strategy and budget for this instance."""
    config = index_config(tree, index_root / row["id"], jobs=os.cpu_count() or 2)
    if not (config.index_dir / "CURRENT").exists():
        index_repo(config, show_progress=False)
    engine = open_engine(config, build_if_missing=False, show_progress=False)
    results = []
    for preset in presets:
        for strategy in STRATEGIES:
            for budget in budgets:
                options = ContextOptions(preset=preset, max_tokens=budget, strategy=strategy, with_content=False)
                search = search_options(tree, None, preset if preset != "fast" else "balanced",
                                        limit=candidate_limit(options))  # fmt: skip
                started = time.perf_counter()
                selection = select_for_task(tree, row["query"], options, engine, search)
                seconds = time.perf_counter() - started
                inside, whole = gold_status(selection, row["gold_files"])
                results.append({
                    "id": row["id"], "preset": preset, "strategy": strategy, "budget": budget, "in": inside,
                    "whole": whole, "tokens": selection.total_tokens, "files": len(selection.entries),
                    "seconds": seconds,
                })  # fmt: skip
    return results


def summarise(results: list[dict], budgets: list[int], presets: list[str]) -> str:
    """A Markdown table: gold in selection (and whole) per preset, strategy and budget."""
    lines = [
        "| preset | strategy | " + " | ".join(f"{b // 1000}k in / whole" for b in budgets)
        + " | mean files (16k) | mean tokens used (16k) | p50 ms |",
        "|---|---|" + "---|" * (len(budgets) + 3),
    ]  # fmt: skip
    for preset in presets:
        for strategy in STRATEGIES:
            rows = [r for r in results if r["preset"] == preset and r["strategy"] == strategy]
            cells = []
            for budget in budgets:
                at = [r for r in rows if r["budget"] == budget]
                cells.append(f"{_mean(at, 'in'):.2f} / {_mean(at, 'whole'):.2f}")
            mid = [r for r in rows if r["budget"] == (16000 if 16000 in budgets else budgets[0])]
            ms = statistics.median(r["seconds"] for r in rows) * 1000
            lines.append(
                f"| {preset} | {strategy} | " + " | ".join(cells)
                + f" | {_mean(mid, 'files'):.1f} | {_mean(mid, 'tokens'):,.0f} | {ms:.0f} |"
            )  # fmt: skip
    return "\n".join(lines)


def _mean(rows: list[dict], key: str) -> float:
    return statistics.mean(float(r[key]) for r in rows) if rows else 0.0


def main() -> None:
    """Command-line entry point."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", type=Path)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    parser.add_argument("--trees", type=Path, default=Path(os.environ.get("EVAL_TREES", tmp / "atlas-eval-trees")))
    parser.add_argument("--index-root", type=Path, default=tmp / "atlas-eval-index-ctx")
    parser.add_argument("--checkout", type=Path, default=here.parent.parent / "shared" / "eval" / "checkout.sh")
    parser.add_argument("--budgets", default="8000,16000,32000")
    parser.add_argument("--presets", default="balanced,fast")
    parser.add_argument("--per-instance", type=Path)
    parser.add_argument("--history", action="store_true", help="git work trees (score.py --history)")
    args = parser.parse_args()

    budgets = [int(b) for b in args.budgets.split(",")]
    presets = args.presets.split(",")
    rows = load_bench(args.bench)
    results: list[dict] = []
    for i, row in enumerate(rows, 1):
        print(f"[{i}/{len(rows)}] {row['id']}", file=sys.stderr, end="\r", flush=True)
        tree = tree_for(row, args.trees, args.checkout, args.history)
        results.extend(run_instance(row, tree, args.index_root, budgets, presets))
    print(file=sys.stderr)
    print(f"n={len(rows)} instances; gold file in the selection / in it whole, at each cl100k token budget")
    print(summarise(results, budgets, presets))
    if args.per_instance:
        with args.per_instance.open("w", encoding="utf-8") as out:
            for record in results:
                out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
