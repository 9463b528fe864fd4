"""Golden ranking tests: each signal must decide the query built for it, and rankings must not drift.

Each case's golden file holds the query, its target, the target's rank with full fusion and
with the case's signal switched off, and the top 5. `pytest --update-golden` rewrites them
after an intended ranking change (review the diff); `rank_stats.json` sums them up.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from atlas.api import open_engine
from atlas.query.engine import Engine, SearchOptions
from atlas.query.fuse import SIGNALS, weights_for
from tests.ranking.history_repo import CASES, Case, make_history_repo
from tests.ranking.searching import indexed

GOLDEN = Path(__file__).parent / "golden"
LIMIT = 10
NO_PRIORS = {f"prior.{role}": 1.0 for role in ("impl", "build", "config", "other", "test", "docs", "generated")}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return open_engine(indexed(make_history_repo(tmp_path_factory.mktemp("ledger"))), build_if_missing=False)


def rank_of(engine: Engine, query: str, target: str, options: SearchOptions) -> tuple[int | None, list[str]]:
    paths = [hit.path for hit in engine.search(query, options).hits]
    return (paths.index(target) + 1 if target in paths else None), paths[:5]


def ablated(case: Case) -> SearchOptions:
    weights = weights_for("balanced", NO_PRIORS if case.without_priors else {})
    if case.needs:
        return SearchOptions(limit=LIMIT, with_lines=False, weights=weights,
                             signals=tuple(s for s in SIGNALS if s not in case.needs))  # fmt: skip
    if case.without_priors:
        return SearchOptions(limit=LIMIT, with_lines=False, weights=weights)
    return SearchOptions(limit=LIMIT, with_lines=False, weights=replace(weights, title_boost=1.0))


def outcome(engine: Engine, case: Case) -> dict[str, object]:
    full_rank, top = rank_of(engine, case.query, case.target, SearchOptions(limit=LIMIT, with_lines=False))
    without_rank, _ = rank_of(engine, case.query, case.target, ablated(case))
    return {"query": case.query, "target": case.target, "needs": list(case.needs) or ["priors"] * case.without_priors,
            "target_rank": full_rank, "rank_without": without_rank, "top5": top}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_ranking(engine: Engine, case: Case, update_golden: bool) -> None:
    actual = outcome(engine, case)
    path = GOLDEN / f"{case.name}.json"
    if update_golden:
        path.write_text(json.dumps(actual, indent=2) + "\n", encoding="utf-8")
    assert actual == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", [c for c in CASES if c.needs or c.without_priors], ids=lambda c: c.name)
def test_the_signal_decides_its_case(engine: Engine, case: Case) -> None:
    actual = outcome(engine, case)
    assert actual["target_rank"] is not None
    without = actual["rank_without"]
    assert without is None or without > actual["target_rank"], actual


def test_rank_stats(engine: Engine, update_golden: bool) -> None:
    ranks = [outcome(engine, case)["target_rank"] for case in CASES]
    stats = {
        "cases": len(ranks),
        "recall@1": sum(r == 1 for r in ranks) / len(ranks),
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / len(ranks),
        "mrr": round(sum(1 / r for r in ranks if r) / len(ranks), 6),
    }
    path = GOLDEN / "rank_stats.json"
    if update_golden:
        path.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    assert stats == json.loads(path.read_text(encoding="utf-8"))
