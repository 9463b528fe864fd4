"""perf/line_quality.py end to end on a generated repository with a real fix commit, so the script never rots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, init_repo, write_tree

SCRIPT = Path(__file__).resolve().parent.parent / "perf" / "line_quality.py"
PRICING = (
    "def rounded(amount):\n    return round(amount, 2)\n\n\n"
    "def apply_discount(total, rate):\n    return rounded(total * (1 - rate))\n\n\n"
    "def tax(total):\n    return total * 0.2\n"
)
FILLER = {f"app/page_{i}.py": f"def page_{i}(request):\n    return render('page_{i}.html')\n" for i in range(8)}


def test_line_quality_counts_the_gold_hits_whose_ranges_hold_the_fixed_line(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_tree(work, {"shop/pricing.py": PRICING, **FILLER})
    init_repo(work)
    base = git(work, "rev-parse", "HEAD").decode().strip()
    write_tree(work, {"shop/pricing.py": PRICING.replace("(1 - rate)", "(1 - rate / 100)")})
    git(work, "commit", "-q", "-am", "Discount rates are percentages")
    fix = git(work, "rev-parse", "HEAD").decode().strip()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "mirror" / "owner+shop" / "repo")],
                   check=True)  # fmt: skip
    tree = tmp_path / "trees" / "owner+shop" / f"{base}-git"
    subprocess.run(["git", "clone", "-q", str(work), str(tree)], check=True)
    git(tree, "reset", "-q", "--hard", base)
    bench = tmp_path / "bench.jsonl"
    rows = [
        {"id": "shop-1", "repo": "owner/shop", "base_commit": base, "query": "apply_discount takes 10 as 1000%",
         "gold_files": ["shop/pricing.py"], "fix_child": fix},
        {"id": "shop-2", "repo": "owner/shop", "base_commit": base, "query": "no fix known",
         "gold_files": ["shop/pricing.py"]},
    ]  # fmt: skip
    bench.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(bench), "--index-root", str(tmp_path / "idx"), "--trees",
         str(tmp_path / "trees"), "--history", "--per-instance", str(tmp_path / "per.jsonl")],
        capture_output=True, text=True, check=True, timeout=300,
        env={**os.environ, "MIRROR_ROOT": str(tmp_path / "mirror")},
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["gold_hits"] == 1 and report["with_ranges"] == 1
    assert report["changed_line_in_first_range"] == 1 and report["changed_line_in_a_range"] == 1
    (record,) = map(json.loads, (tmp_path / "per.jsonl").read_text().splitlines())
    assert record["id"] == "shop-1" and record["rank"] == 1 and record["first"] == 0
