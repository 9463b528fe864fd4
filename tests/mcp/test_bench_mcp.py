"""perf/bench_mcp.py runs end to end on a small tree and reports what it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "perf" / "bench_mcp.py"


def test_bench_mcp_smoke(shop: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), str(shop), "--index-dir", str(tmp_path / "index"), "--repeat", "1", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["search"]["all"]["n"] > 0 and report["search_no_lines"]["all"]["n"] > 0
    assert report["search"]["queries_with_hits"].split("/")[1] != "0"
    for tool in ("symbols", "related", "status"):
        assert report[tool]["n"] > 0 and report[tool]["errors"] == 0, tool
    assert report["target_met"] == (report["search"]["all"]["p50_ms"] <= 20.0)
    assert report["machine"]["cores"] and report["checkout"]["commit"]
