"""Retrieval quality on a benchmark of the format of shared/eval/dev.jsonl: recall@1/5/10, MRR, ranks.

    python perf/quality.py ../shared/eval/dev.jsonl [--preset balanced] [--set bm25=1.0 ...]
                           [--ablation] [--per-instance out.jsonl]

Trees come from $EVAL_TREES (default $TMPDIR/atlas-eval-trees), checked out with the benchmark's
checkout.sh when missing (needs $MIRROR_ROOT). Each tree is indexed once into --index-root and
reused; queries run in-process through `atlas.api.open_engine`, so a whole ablation table takes
seconds. `shared/eval/score.py` measures the same thing through the CLI, index build included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from atlas.api import index_config, index_repo, open_engine
from atlas.query.engine import Engine, SearchOptions
from atlas.query.fuse import FusionWeights, weights_for

KS = (1, 5, 10)
NO_PRIORS = {f"prior.{role}": 1.0 for role in ("impl", "build", "config", "other", "test", "docs", "generated")} | {
    "vendored_prior": 1.0, "examples_prior": 1.0, "translation_prior": 1.0, "fixture_prior": 1.0,
}  # fmt: skip
PLAIN_QUERY = {"title_boost": 1.0, "common_term_share": 2.0}
"""Switches off the query-side weighting (issue title terms, common words kept out of file names)."""
ABLATION: list[tuple[str, tuple[str, ...] | None, bool, dict[str, float]]] = [
    ("BM25 alone", ("bm25",), False, PLAIN_QUERY),
    ("+ query weighting", ("bm25",), False, {}),
    ("+ roles", ("bm25",), True, {}),
    ("+ symbols/paths", ("bm25", "path_mention", "symbol_mention"), True, {}),
    ("+ git", ("bm25", "path_mention", "symbol_mention", "cochange", "recency"), True, {}),
    ("+ import graph (full fusion)", None, True, {}),
]


def load_bench(path: Path) -> list[dict]:
    """Benchmark rows: id, repo, base_commit, query, gold_files."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tree_for(row: dict, trees: Path, checkout: Path, history: bool = False) -> Path:
    """The work tree of `row`, checked out if missing; with `history`, a git work tree as score.py --history."""
    dest = trees / row["repo"].replace("/", "+") / (row["base_commit"] + ("-git" if history else ""))
    if not dest.is_dir():
        env = {**os.environ, "CHECKOUT_HISTORY": "1" if history else ""}
        subprocess.run([str(checkout), row["repo"], row["base_commit"], str(dest)], check=True, env=env)
    return dest


def engine_for(row: dict, tree: Path, index_root: Path) -> Engine:
    """An engine over the tree's index, built into `index_root/<id>` on first use."""
    config = index_config(tree, index_root / row["id"], jobs=os.cpu_count() or 2)
    if not (config.index_dir / "CURRENT").exists():
        index_repo(config, show_progress=False)
    return open_engine(config, build_if_missing=False, show_progress=False)


def metrics(ranking: list[str], gold: list[str]) -> dict[str, float]:
    """recall@k and reciprocal rank of the first gold file."""
    wanted = set(gold)
    out = {f"R@{k}": len(wanted & set(ranking[:k])) / len(wanted) for k in KS}
    first = next((i for i, path in enumerate(ranking, 1) if path in wanted), None)
    out["MRR"] = 1.0 / first if first else 0.0
    out["rank"] = first or 0
    return out


def evaluate(engines: list[tuple[dict, Engine]], weights: FusionWeights, signals: tuple[str, ...] | None,
             limit: int) -> tuple[dict[str, float], list[dict]]:  # fmt: skip
    """Average metrics and per-instance results for one configuration."""
    per_instance = []
    times = []
    for row, engine in engines:
        options = SearchOptions(limit=limit, with_lines=False, weights=weights, signals=signals)
        started = time.perf_counter()
        hits = engine.search(row["query"], options).hits
        times.append((time.perf_counter() - started) * 1000)
        ranking = [hit.path for hit in hits]
        per_instance.append({"id": row["id"], **metrics(ranking, row["gold_files"]), "top": ranking[:5]})
    summary = averages(per_instance, [row["repo"] for row, _ in engines])
    summary["p50_ms"] = statistics.median(times)
    return summary, per_instance


def averages(per_instance: list[dict], repos: list[str]) -> dict[str, float]:
    """Micro averages (over instances) and macro ones (`macro R@1`...: the mean of per-repository means)."""
    keys = ("R@1", "R@5", "R@10", "MRR")
    summary = {key: statistics.mean(r[key] for r in per_instance) for key in keys}
    by_repo: dict[str, list[dict]] = {}
    for record, repo in zip(per_instance, repos, strict=True):
        by_repo.setdefault(repo, []).append(record)
    for key in keys:
        summary[f"macro {key}"] = statistics.mean(statistics.mean(r[key] for r in rs) for rs in by_repo.values())
    return summary


def _with(weights: FusionWeights, overrides: dict[str, float]) -> FusionWeights:
    return replace(weights, **overrides)


def parse_overrides(pairs: list[str]) -> dict[str, float]:
    """`name=value` pairs → overrides for weights_for."""
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out[name] = float(value)
    return out


def main() -> None:
    """Command-line entry point."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", type=Path)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    parser.add_argument("--trees", type=Path, default=Path(os.environ.get("EVAL_TREES", tmp / "atlas-eval-trees")))
    parser.add_argument("--index-root", type=Path, default=tmp / "atlas-eval-index")
    parser.add_argument("--checkout", type=Path, default=here.parent.parent / "shared" / "eval" / "checkout.sh")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="weight=value")
    parser.add_argument("--ablation", action="store_true", help="print the ablation table")
    parser.add_argument("--per-instance", type=Path)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--history", action="store_true", help="git work trees (score.py --history): git signals on")
    args = parser.parse_args()

    rows = load_bench(args.bench)
    engines = []
    for i, row in enumerate(rows, 1):
        print(f"[{i}/{len(rows)}] {row['id']}", file=sys.stderr, end="\r", flush=True)
        tree = tree_for(row, args.trees, args.checkout, args.history)
        engines.append((row, engine_for(row, tree, args.index_root)))
    print(file=sys.stderr)
    weights = weights_for(args.preset, parse_overrides(args.overrides))
    configs = [("full fusion", weights, None)]
    if args.ablation:
        no_priors = weights_for(args.preset, {**parse_overrides(args.overrides), **NO_PRIORS})
        configs = [
            (name, _with(weights if use_priors else no_priors, overrides), signals)
            for name, signals, use_priors, overrides in ABLATION
        ]
    columns = ("R@1", "R@5", "R@10", "MRR", "macro R@1", "macro R@5", "macro R@10")
    print(f"{'configuration':<30} " + " ".join(f"{c.removeprefix('macro '):>6}" for c in columns)
          + f" {'p50 ms':>7}   (n={len(rows)}; last three: macro)")  # fmt: skip
    for name, config_weights, signals in configs:
        summary, per_instance = evaluate(engines, config_weights, signals, args.limit)
        print(f"{name:<30} " + " ".join(f"{summary[k]:>6.3f}" for k in columns) + f" {summary['p50_ms']:>7.1f}")
    if args.per_instance:
        with args.per_instance.open("w", encoding="utf-8") as out:
            for record in per_instance:
                out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
