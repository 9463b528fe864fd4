"""Fit the fusion's constants on a retrieval benchmark, cross-validated by repository.

    python perf/fit.py ../shared/eval/dev-large.jsonl [../shared/eval/dev.jsonl] --history [--folds 5] [--write]
                       [--check ../shared/eval/dev.jsonl] [--dump FILE]

Each instance's index is built once (as perf/quality.py does) and each query is run once through
`Engine.candidates`, which returns what fusion ranks: every candidate's raw signal values, role and
path flags (kept in --dump, so a refit takes seconds). The fusion

    fused(d) = prior(d) × Σ_signals weight_s / (rrf_k + rank_s(d))

is then recomputed offline with numpy for any constants, and coordinate ascent (restarted from a few
values of rrf_k, the best kept) maximises
    objective = mean of R@1, R@5, R@10 and MRR, half micro (per instance), half macro (per repository)
over the signal weights (bm25 fixed at 1: only ratios matter), rrf_k, the role priors and the path-flag
priors. Cross-validation holds whole repositories out: repositories are dealt into --folds groups,
each group is scored with the constants fitted on the others, and the held-out scores are reported
(micro and macro). The fit on the whole benchmark also ascends from the shipped constants (the folds do not:
they were fitted on the held-out repositories too), so a refit never ends below what ships, and rerunning it
on the same engine reproduces them. `--write` stores the constants fitted on the whole benchmark in
atlas/query/fitted.json, with the data set, date and command, where `atlas.query.fuse` reads them.
`--orders N` cross-validates N times, coordinate ascent visiting the constants in N orders (the natural one, then
shuffled with seeds 1..N-1), and prints each and their mean: a greedy ascent ends on a different ridge for each
order, and one CV run's objective moves by about ±0.01 with it, as much as most ideas gain.
`--check BENCH` scores another benchmark (never fitted on) with the defaults and the fitted constants: all of
it, its fixes of several files, and per language when its rows name one (perf/proxy_bench.py's do).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from quality import engine_for, load_bench, tree_for

from atlas.query.engine import Candidates, SearchOptions
from atlas.query.fuse import FITTED_FILE, SIGNALS, FusionWeights, weights_for
from atlas.signals.priors import EXAMPLES, FIXTURE, TRANSLATION, VENDORED

ROLES = ("impl", "build", "config", "other", "test", "docs", "generated")
FLAGS = (("vendored_prior", VENDORED), ("examples_prior", EXAMPLES), ("translation_prior", TRANSLATION),
         ("fixture_prior", FIXTURE))  # fmt: skip
KS = (1, 5, 10)
# Role priors stay >= 0.1: the benchmarks' gold files are non-test sources by construction, so a fit on
# them would bury tests, docs and configuration for every query, including the ones that ask for them.
# Signal weights stay >= 0.05 for a like reason: the benchmarks' one-file fixes barely exercise the import
# graph, which related-file and context queries rely on; the fit may make a signal small, not switch it off.
SIGNAL_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 3.0)
K_GRID = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 100.0)
MIN_GAIN = 0.002
"""A constant moves only for a gain of the objective above this (about four instance-metrics of 277): the
objective is flat, and without it coordinate ascent wanders to odd values (build files above sources)."""
RESTART_K = (3.0, 10.0, 60.0)
"""rrf_k values coordinate ascent also starts from (beside the hand-set one)."""
ORDERS = 3
"""Coordinate orders every fit ascends in (the natural one, then two shuffled): measured on the 277 issues, one
order's CV objective moved by ±0.008 with the order; the best training fit of three held out as well for the
eight signals (0.7280 against 0.7286) and kept a ninth from being stranded on a poor ridge (0.7423 against
0.7180-0.7440 over four single orders)."""
PRIOR_GRID = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)


# --- dumping what fusion ranks ------------------------------------------------------------------------


def engine_settings(spec: str) -> tuple[dict[str, float], dict[str, float]]:
    """`title_boost=2,boost.filename=3` → (weight overrides, field boosts)."""
    overrides: dict[str, float] = {}
    boosts: dict[str, float] = {}
    for pair in filter(None, spec.split(",")):
        name, _, value = pair.partition("=")
        if name.startswith("boost."):
            boosts[name.removeprefix("boost.")] = float(value)
        else:
            overrides[name] = float(value)
    return overrides, boosts


def dump(rows: list[dict], args: argparse.Namespace, specs: list[str]) -> dict[str, list[dict]]:
    """Per engine setting: one record per instance with its repository, gold files and every
    candidate's fusion inputs. Each instance's engine is opened once for all settings."""
    records: dict[str, list[dict]] = {spec: [] for spec in specs}
    for i, row in enumerate(rows, 1):
        print(f"[{i}/{len(rows)}] {row['id']}", file=sys.stderr, end="\r", flush=True)
        engine = engine_for(row, tree_for(row, args.trees, args.checkout, args.history), args.index_root)
        for spec in specs:
            overrides, boosts = engine_settings(spec)
            base = {**engine.default_boosts, **boosts}
            options = SearchOptions(limit=20, with_lines=False, weights=weights_for("balanced", overrides), boosts=base)
            records[spec].append(_record(row, engine.candidates(row["query"], options)))
    print(file=sys.stderr)
    return records


def _record(row: dict, found: Candidates) -> dict:
    candidates = [
        {"path": path, "role": found.roles.get(fid, "other"), "flags": found.flags.get(fid, 0),
         "raw": {s: values[fid] for s, values in found.raw.items() if fid in values}}
        for fid, path in found.paths.items()
    ]  # fmt: skip
    intent = {"docs": found.intent.docs, "tests": found.intent.tests}
    return {"id": row["id"], "repo": row["repo"], "gold": row["gold_files"], "intent": intent, "candidates": candidates}


# --- fusion recomputed with numpy ---------------------------------------------------------------------


@dataclass
class Table:
    """Every candidate of every instance, concatenated; `seg` is the instance index."""

    seg: np.ndarray
    ranks: np.ndarray  # (signals, candidates): rank_by of each signal, inf where absent
    role: np.ndarray
    flags: np.ndarray
    path_order: np.ndarray  # the tie-break: position of the path in sorted order
    gold: np.ndarray  # bool
    docs_intent: np.ndarray  # per candidate: its instance asks for docs
    tests_intent: np.ndarray
    n_gold: np.ndarray  # per instance
    repos: list[str]


def _rank_by(values: list[float]) -> np.ndarray:
    """1-based ranks, highest first, ties share the better rank (as atlas.query.fuse.rank_by)."""
    array = np.asarray(values, dtype=np.float64)
    order = np.argsort(-array, kind="stable")
    ranks = np.empty(len(array))
    position = np.arange(1, len(array) + 1, dtype=np.float64)
    sorted_values = array[order]
    new = np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])
    ranks[order] = np.maximum.accumulate(np.where(new, position, 0))
    return ranks


def table(records: list[dict]) -> Table:
    """Concatenate the records into arrays."""
    segs, ranks, roles, flags, orders, golds, docs, tests, n_gold = [], [], [], [], [], [], [], [], []
    for i, record in enumerate(records):
        candidates = record["candidates"]
        n = len(candidates)
        segs.append(np.full(n, i))
        block = np.full((len(SIGNALS), n), np.inf)
        for s, signal in enumerate(SIGNALS):
            have = [(j, c["raw"][signal]) for j, c in enumerate(candidates) if signal in c["raw"]]
            if have:
                block[s, [j for j, _ in have]] = _rank_by([v for _, v in have])
        ranks.append(block)
        roles.append(np.array([ROLES.index(c["role"]) if c["role"] in ROLES else 3 for c in candidates], dtype=int))
        flags.append(np.array([c["flags"] for c in candidates], dtype=int))
        paths = [c["path"] for c in candidates]
        order = np.empty(n)
        order[np.argsort(np.array(paths, dtype=object), kind="stable")] = np.arange(n)
        orders.append(order)
        gold = set(record["gold"])
        golds.append(np.array([p in gold for p in paths], dtype=bool))
        docs.append(np.full(n, record["intent"]["docs"]))
        tests.append(np.full(n, record["intent"]["tests"]))
        n_gold.append(len(gold))
    return Table(
        np.concatenate(segs), np.concatenate(ranks, axis=1), np.concatenate(roles), np.concatenate(flags),
        np.concatenate(orders), np.concatenate(golds), np.concatenate(docs), np.concatenate(tests),
        np.array(n_gold), [r["repo"] for r in records],
    )  # fmt: skip


def params_of(weights: FusionWeights) -> dict[str, float]:
    """The fitted constants of `weights`, flat: signals, rrf_k, prior.<role>, flag priors."""
    out = {signal: weights.signal_weight(signal) for signal in SIGNALS}
    out["rrf_k"] = weights.rrf_k
    out.update({f"prior.{role}": weights.role_priors.get(role, 0.5) for role in ROLES})
    out.update({name: getattr(weights, name) for name, _ in FLAGS})
    return out


def instance_ranks(t: Table, p: dict[str, float]) -> np.ndarray:
    """Per candidate: its 1-based position in its instance's fused ranking."""
    w = np.array([p[s] for s in SIGNALS])[:, None]
    total = (w / (p["rrf_k"] + t.ranks)).sum(axis=0)
    role_prior = np.array([p[f"prior.{r}"] for r in ROLES])[t.role]
    role_prior = np.where((t.role == ROLES.index("docs")) & t.docs_intent, 1.0, role_prior)
    role_prior = np.where((t.role == ROLES.index("test")) & t.tests_intent, 1.0, role_prior)
    for name, bit in FLAGS:
        factor = p[name]
        hit = (t.flags & bit) != 0
        if bit == FIXTURE:
            hit &= ~t.tests_intent
        role_prior = np.where(hit, role_prior * factor, role_prior)
    score = total * role_prior
    order = np.lexsort((t.path_order, -score, t.seg))
    position = np.empty(len(order))
    position[order] = np.arange(len(order))
    starts = np.searchsorted(t.seg[order], np.arange(t.seg.max() + 1))
    return position - starts[t.seg] + 1


def metrics(t: Table, p: dict[str, float]) -> np.ndarray:
    """Per instance: R@1, R@5, R@10, MRR (rows: instances)."""
    rank = instance_ranks(t, p)
    n = len(t.n_gold)
    out = np.zeros((n, 4))
    gold_seg, gold_rank = t.seg[t.gold], rank[t.gold]
    for col, k in enumerate(KS):
        out[:, col] = np.bincount(gold_seg, weights=(gold_rank <= k), minlength=n) / t.n_gold
    best = np.full(n, np.inf)
    np.minimum.at(best, gold_seg, gold_rank)
    out[:, 3] = np.where(np.isfinite(best), 1.0 / best, 0.0)
    return out


def summary(values: np.ndarray, repos: list[str]) -> dict[str, float]:
    """Micro and macro (per repository) means of the metric columns."""
    names = ("R@1", "R@5", "R@10", "MRR")
    out = {name: float(values[:, i].mean()) for i, name in enumerate(names)}
    by_repo = sorted(set(repos))
    index = np.array([by_repo.index(r) for r in repos])
    per_repo = np.array([values[index == r].mean(axis=0) for r in range(len(by_repo))])
    out.update({f"macro {name}": float(per_repo[:, i].mean()) for i, name in enumerate(names)})
    return out


def objective(values: np.ndarray, repos: list[str]) -> float:
    return summary_objective(summary(values, repos))


def summary_objective(s: dict[str, float]) -> float:
    """The fit's objective from a `summary`: R@1, R@5, R@10 and MRR, each half micro, half macro."""
    return sum(0.5 * s[k] + 0.5 * s[f"macro {k}"] for k in ("R@1", "R@5", "R@10", "MRR")) / 4


def subset(t: Table, keep: np.ndarray) -> Table:
    """The instances where `keep` (per instance) is true, renumbered."""
    rows = keep[t.seg]
    renumber = np.cumsum(keep) - 1
    return Table(
        renumber[t.seg[rows]], t.ranks[:, rows], t.role[rows], t.flags[rows], t.path_order[rows], t.gold[rows],
        t.docs_intent[rows], t.tests_intent[rows], t.n_gold[keep], [r for r, k in zip(t.repos, keep, strict=True) if k],
    )  # fmt: skip


def grid_for(name: str) -> tuple[float, ...]:
    if name == "rrf_k":
        return K_GRID
    if name in SIGNALS:
        return SIGNAL_GRID
    return PRIOR_GRID


def fit(t: Table, start: dict[str, float], sweeps: int = 4, warm: dict[str, float] | None = None) -> dict[str, float]:
    """The best (training objective) of coordinate ascents from `start` and from `start` with each of
    RESTART_K as rrf_k, each in ORDERS coordinate orders: one greedy ascent stops on the first ridge it
    meets, and k and the order it visits the constants in decide which. With `warm` (the shipped constants),
    one more ascent starts there: only for the fit on all the data, never in cross-validation, whose held-out
    folds the shipped constants were fitted on."""
    by_k = [start] + [{**start, "rrf_k": k} for k in RESTART_K if k != start["rrf_k"]]
    fitted = [ascend(t, reordered(s, seed), sweeps) for seed in range(ORDERS) for s in by_k]
    if warm is not None:
        fitted.append(ascend(t, {name: warm[name] for name in start}, sweeps))
    best = max(fitted, key=lambda p: objective(metrics(t, p), t.repos))
    return {name: best[name] for name in start}


def ascend(t: Table, start: dict[str, float], sweeps: int = 4) -> dict[str, float]:
    """Coordinate ascent over every constant but bm25 (fixed at 1), each on its grid, from `start`."""
    best = dict(start)
    best_score = objective(metrics(t, best), t.repos)
    names = [n for n in best if n != "bm25"]
    for _ in range(sweeps):
        improved = False
        for name in names:
            for value in grid_for(name):
                trial = {**best, name: value}
                score = objective(metrics(t, trial), t.repos)
                if score > best_score + MIN_GAIN:
                    best, best_score, improved = trial, score, True
        if not improved:
            break
    return best


def folds_of(repos: list[str], count: int) -> dict[str, int]:
    """Deal repositories into `count` folds by a stable hash of the name, then balance by order."""
    names = sorted(set(repos), key=lambda r: hashlib.sha256(r.encode()).hexdigest())
    return {name: i % count for i, name in enumerate(names)}


def cross_validate(t: Table, start: dict[str, float], count: int) -> np.ndarray:
    """Held-out metrics per instance: each fold scored with constants fitted on the other folds."""
    fold = folds_of(t.repos, count)
    instance_fold = np.array([fold[r] for r in t.repos])
    held_out = np.zeros((len(t.repos), 4))
    for f in range(count):
        test = instance_fold == f
        fitted = fit(subset(t, ~test), start)
        held_out[test] = metrics(subset(t, test), fitted)
        print(f"fold {f}: held out {sorted({r for r, k in zip(t.repos, test, strict=True) if k})}", file=sys.stderr)
    return held_out


def reordered(params: dict[str, float], seed: int) -> dict[str, float]:
    """`params` with its names shuffled (seed 0: as they are): coordinate ascent visits them in this order."""
    names = list(params)
    if seed:
        random.Random(seed).shuffle(names)
    return {name: params[name] for name in names}


def report_orders(t: Table, start: dict[str, float], folds: int, orders: int, label: str) -> None:
    """Cross-validate from `start` with each of `orders` coordinate orders; print each run and their mean."""
    runs = []
    for seed in range(orders):
        held_out = cross_validate(t, reordered(start, seed), folds)
        runs.append(summary(held_out, t.repos))
        score = summary_objective(runs[-1])
        print(line(f"{label}: held out, coordinate order {seed}", runs[-1]), f"objective {score:.4f}")
    mean = {name: float(np.mean([run[name] for run in runs])) for name in runs[0]}
    objectives = [summary_objective(run) for run in runs]
    spread = f"objective {np.mean(objectives):.4f} (min {min(objectives):.4f}, max {max(objectives):.4f})"
    print(line(f"{label}: held out, mean of {orders} coordinate orders", mean), spread)


def report_other(name: str, t: Table, languages: list[str], constants: dict[str, dict[str, float]]) -> None:
    """Score a benchmark never fitted on with each set of `constants`: all of it, its fixes of several files,
    and each language its rows name (`language`, as perf/proxy_bench.py writes)."""
    parts = [("", np.ones(len(t.repos), dtype=bool))]
    several = t.n_gold >= 2
    if several.any():
        parts.append((f", fixes of several files (n = {several.sum()})", several))
    for language in sorted(set(languages) - {""}):
        keep = np.array([other == language for other in languages])
        parts.append((f", {language} (n = {keep.sum()})", keep))
    for suffix, keep in parts:
        part = subset(t, keep)
        for label, params in constants.items():
            print(line(f"{name}: {label}{suffix}", summary(metrics(part, params), part.repos)))


def line(name: str, s: dict[str, float]) -> str:
    cols = ("R@1", "R@5", "R@10", "MRR", "macro R@1", "macro R@5", "macro R@10", "macro MRR")
    return f"| {name} | " + " | ".join(f"{s[c]:.3f}" for c in cols) + " |"


def load_or_dump(bench: Path, args: argparse.Namespace, specs: list[str]) -> dict[str, list[dict]]:
    """The fusion inputs of `bench` per engine setting, from the --dump cache when it has them."""
    def cache(spec: str) -> Path | None:
        tag = hashlib.sha256(spec.encode()).hexdigest()[:8]
        return args.dump.with_name(f"{args.dump.name.split('.')[0]}-{bench.stem}-{tag}.json.gz") if args.dump else None

    missing = [spec for spec in specs if args.redump or not (cache(spec) and cache(spec).exists())]
    records = dump(load_bench(bench), args, missing) if missing else {}
    for spec in specs:
        path = cache(spec)
        if spec in records and path:
            path.write_bytes(gzip.compress(json.dumps(records[spec]).encode()))
        elif spec not in records and path:
            records[spec] = json.loads(gzip.decompress(path.read_bytes()))
    return records


def main() -> None:
    """Command-line entry point."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", type=Path, nargs="+", help="benchmarks to fit on together")
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    parser.add_argument("--trees", type=Path, default=Path(os.environ.get("EVAL_TREES", tmp / "atlas-eval-trees")))
    parser.add_argument("--index-root", type=Path, default=tmp / "atlas-eval-index")
    parser.add_argument("--checkout", type=Path, default=here.parent.parent / "shared" / "eval" / "checkout.sh")
    parser.add_argument("--history", action="store_true", help="git work trees (score.py --history)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--dump", type=Path, help="cache of the fusion inputs (FILE-<bench>.json.gz)")
    parser.add_argument("--redump", action="store_true", help="rebuild the cache")
    parser.add_argument("--check", type=Path, action="append", default=[], help="another benchmark to score")
    parser.add_argument("--orders", type=int, default=1, help="cross-validate in this many coordinate orders")
    parser.add_argument("--write", action="store_true", help="store the constants fitted on all of BENCH")
    parser.add_argument("--engine", action="append", default=[], metavar="SETTINGS",
                        help="engine-level settings to compare, e.g. title_boost=2,boost.filename=3 (repeatable)")
    args = parser.parse_args()

    specs = args.engine or [""]
    per_bench = [load_or_dump(bench, args, specs) for bench in args.bench]
    dumped = {spec: [record for records in per_bench for record in records[spec]] for spec in specs}
    default = params_of(FusionWeights())
    shipped = params_of(weights_for("balanced"))
    header = "| constants | R@1 | R@5 | R@10 | MRR | macro R@1 | macro R@5 | macro R@10 | macro MRR |"
    print(header + "\n|" + "---|" * 9)
    best: tuple[float, str, dict[str, float]] | None = None
    for spec in specs:
        t = table(dumped[spec])
        name = f"engine {spec}" if spec else "engine defaults"
        print(line(f"{name}: hand-set constants", summary(metrics(t, default), t.repos)))
        held_out = cross_validate(t, default, args.folds)
        cv = summary(held_out, t.repos)
        print(line(f"{name}: fitted, held-out repositories ({args.folds}-fold CV)", cv))
        if len(args.bench) > 1:
            start = 0
            for bench, records in zip(args.bench, per_bench, strict=True):
                part = slice(start, start + len(records[spec]))
                start = part.stop
                print(line(f"{name}: held-out, {bench.name} only", summary(held_out[part], t.repos[part])))
        several = t.n_gold >= 2
        if several.any():
            repos = [r for r, keep in zip(t.repos, several, strict=True) if keep]
            several_line = f"{name}: held-out, fixes of several files (n = {several.sum()})"
            print(line(several_line, summary(held_out[several], repos)))
        if args.orders > 1:
            report_orders(t, default, args.folds, args.orders, name)
        fitted = fit(t, default, warm=shipped)
        print(line(f"{name}: fitted on all (training fit)", summary(metrics(t, fitted), t.repos)))
        score = objective(held_out, t.repos)
        if best is None or score > best[0]:
            best = (score, spec, fitted)
    assert best is not None
    _, spec, fitted = best
    overrides, boosts = engine_settings(spec)
    print(f"best engine setting by held-out objective: {spec or 'defaults'}")
    for bench in args.check:
        records = load_or_dump(bench, args, [spec])[spec]
        language = {row["id"]: row.get("language", "") for row in load_bench(bench)}
        languages = [language.get(record["id"], "") for record in records]
        report_other(bench.name, table(records), languages, {"hand-set": default, "fitted": fitted})
    constants = {**fitted, **overrides, **{f"boost.{k}": v for k, v in boosts.items()}}
    print(json.dumps(constants, indent=1))
    if args.write:
        record = {
            "constants": constants,
            "data": f"{' + '.join(b.name for b in args.bench)} ({len(dumped[spec])} instances,"
                    f" {len({r['repo'] for r in dumped[spec]})} repositories)"
                    + (", git work trees" if args.history else ""),
            "date": time.strftime("%Y-%m-%d"),
            "command": "python perf/fit.py " + shlex.join(sys.argv[1:]),
        }  # fmt: skip
        FITTED_FILE.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {FITTED_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
