"""perf/warm_issues.py end to end on a generated git repository, in both of its modes, so the script never rots.

Timings are only checked to be present and positive; the report's counts are checked exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import init_repo, write_tree

SCRIPT = Path(__file__).resolve().parent.parent / "perf" / "warm_issues.py"
FILES = {
    **{f"app/module_{i}.py": f"def handle_request_{i}(payload):\n    return payload\n" for i in range(6)},
    "app/settings_loader.py": "def load_settings(path):\n    return open(path).read()\n",
}
ISSUES = [
    "Settings are not loaded\n\nload_settings fails when the path holds a space",
    "handle_request_3 drops the payload",
]


def _run(*args: str) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=True, timeout=300)
    return json.loads(done.stdout)


def test_warm_issues_reports_latency_on_one_tree_and_per_issue(tmp_path: Path) -> None:
    tree = tmp_path / "owner+demo" / "abc123-git"
    write_tree(tree, FILES)
    init_repo(tree)
    bench = tmp_path / "bench.jsonl"
    rows = [{"id": f"demo-{n}", "repo": "owner/demo", "base_commit": "abc123", "query": text}
            for n, text in enumerate(ISSUES)]  # fmt: skip
    bench.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    one_tree = _run(str(bench), "--tree", str(tree), "--index-dir", str(tmp_path / "idx"), "--repeat", "1")
    assert one_tree["queries"] == 2 and not one_tree["per_issue_index"]
    assert one_tree["p90_ms"] >= one_tree["p50_ms"] > 0

    for row in rows:  # perf/fit.py --index-root lays the indexes out as ROOT/ID
        index_dir = str(tmp_path / "root" / row["id"])
        subprocess.run([sys.executable, "-m", "atlas", "-q", "index", str(tree), "--index-dir", index_dir], check=True)
    per_issue = _run(str(bench), "--index-root", str(tmp_path / "root"), "--trees", str(tmp_path), "--no-lines")
    assert per_issue["queries"] == 2 and per_issue["per_issue_index"] and not per_issue["lines"]
    assert per_issue["p50_ms"] > 0
