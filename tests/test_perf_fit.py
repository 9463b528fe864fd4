"""perf/fit.py's scoring of a benchmark it never fitted on: overall, fixes of several files, per language."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from atlas.query.fuse import FusionWeights

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fit() -> ModuleType:
    sys.path.insert(0, str(ROOT / "perf"))  # fit.py imports its sibling quality.py
    try:
        spec = importlib.util.spec_from_file_location("fit", ROOT / "perf" / "fit.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["fit"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "perf"))


def record(repo: str, gold: list[str], bm25: dict[str, float]) -> dict:
    candidates = [{"path": path, "role": "impl", "flags": 0, "raw": {"bm25": score}} for path, score in bm25.items()]
    return {"id": repo, "repo": repo, "gold": gold, "intent": {"docs": False, "tests": False}, "candidates": candidates}


def test_other_benchmark_is_scored_whole_by_fix_size_and_by_language(
    fit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        record("acme/go", ["a.go"], {"a.go": 3.0, "b.go": 2.0}),  # gold first
        record("acme/rust", ["x.rs", "y.rs"], {"z.rs": 3.0, "x.rs": 2.0, "y.rs": 1.0}),  # two gold files, after z
    ]
    fit.report_other("bench", fit.table(records), ["go", "rust"], {"fitted": fit.params_of(FusionWeights())})
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:4] for line in capsys.readouterr().out.splitlines()}
    assert rows["bench: fitted"] == ["0.500", "1.000", "1.000"]
    assert rows["bench: fitted, fixes of several files (n = 1)"] == ["0.000", "1.000", "1.000"]
    assert rows["bench: fitted, go (n = 1)"] == ["1.000", "1.000", "1.000"]
    assert rows["bench: fitted, rust (n = 1)"] == ["0.000", "1.000", "1.000"]


def test_coordinate_orders_keep_the_constants_and_shuffle_reproducibly(fit: ModuleType) -> None:
    start = fit.params_of(FusionWeights())
    assert list(fit.reordered(start, 0)) == list(start)
    shuffled = fit.reordered(start, 1)
    assert shuffled == start and list(shuffled) != list(start)
    assert list(fit.reordered(start, 1)) == list(shuffled)


def test_orders_are_cross_validated_each_and_averaged(fit: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        record(f"acme/r{i}", ["a.py"], {"a.py": 3.0, "b.py": 2.0} if i % 2 else {"b.py": 3.0, "a.py": 2.0})
        for i in range(6)
    ]
    fit.report_orders(fit.table(records), fit.params_of(FusionWeights()), 3, 2, "toy")
    out = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| toy")]
    assert [line.split(" | ")[0] for line in out] == [
        "| toy: held out, coordinate order 0", "| toy: held out, coordinate order 1",
        "| toy: held out, mean of 2 coordinate orders",
    ]  # fmt: skip
    assert all(line.split(" | ")[1] == "0.500" for line in out)  # bm25 alone decides: half the gold files first
    assert "objective" in out[-1] and "min" in out[-1]


def test_the_fit_on_all_data_keeps_the_shipped_constants_when_they_score_best(fit: ModuleType) -> None:
    def candidate(bm25: float, recency: float) -> dict:
        return {"bm25": bm25, "recency": recency}

    records = []
    for i in range(4):  # the gold file is second by BM25 and first by recency
        row = record(f"acme/r{i}", ["a.py"], {})
        row["candidates"] = [
            {"path": path, "role": "impl", "flags": 0, "raw": raw}
            for path, raw in (("a.py", candidate(2.0, 5.0)), ("b.py", candidate(3.0, 1.0)))
        ]
        records.append(row)
    t = fit.table(records)
    start = {**fit.params_of(FusionWeights()), "recency": 0.1}
    shipped = {**start, "recency": 3.0}
    assert fit.fit(t, start, sweeps=0) != shipped  # no move allowed: the starts themselves
    assert fit.fit(t, start, sweeps=0, warm=shipped) == shipped
    assert list(fit.fit(t, start, sweeps=0, warm=shipped)) == list(start)
