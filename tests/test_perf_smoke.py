"""perf/bench.py end to end on a generated 20-file git repository, so the script never rots.

Runs its real build (subprocess, phase timers, memory sampler), warm and cold queries and the git
miner, then checks the report's fields and counts. Timings are only checked to be present.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import init_repo, write_tree

BENCH = Path(__file__).resolve().parent.parent / "perf" / "bench.py"
FILES: dict[str, str | bytes] = {
    **{f"app/module_{i}.py": f'"""Module {i}."""\n\n\ndef handle_request_{i}(payload):\n    return payload\n'
       for i in range(12)},
    "app/__init__.py": "",
    "app/settings_loader.py": "import os\n\n\ndef load_settings(path):\n    return open(path).read()\n",
    "lib/ring_buffer.c": "#include <string.h>\n\nint ring_buffer_push(char *buf, int len) { return len; }\n",
    "lib/ring_buffer.h": "int ring_buffer_push(char *buf, int len);\n",
    "docs/guide.md": "# Guide\n\nHow the settings are loaded and requests handled.\n",
    "README.md": "# Demo\n\nA generated tree for the perf smoke test.\n",
    "config.toml": "[server]\nport = 8080\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00",
}  # fmt: skip
TEXT_FILES = len(FILES) - 1


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("atlas_perf_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("perf") / "tree"
    write_tree(root, FILES)
    init_repo(root)
    return root


@pytest.fixture(scope="module")
def report(bench: ModuleType, tree: Path) -> dict[str, Any]:
    argv = [str(tree), "--jobs", "2", "--repeat", "1", "--cold-runs", "2", "--history-baseline"]
    argv += ["--mine", str(tree), "--commits", "50"]
    return bench.run(bench.parse_args(argv), argv)


def test_tree_has_twenty_files() -> None:
    assert len(FILES) == 20


def test_build_fields(report: dict[str, Any]) -> None:
    build = report["build"]
    assert build["files_indexed"] == TEXT_FILES
    assert build["skipped"] == {"binary": 1}
    assert build["parse_errors"] == 0 and build["symbols"] >= 14
    assert build["phases_missing"] == [], "a hook in PHASE_HOOKS no longer exists in atlas/"
    assert {"walk", "parse_and_index", "add_documents", "signals", "commit", "git_mining"} <= set(build["phases"])
    assert build["mode"] == "full"
    assert build["git"]["available"] and build["git"]["commits_mined"] == 1
    for key in ("wall_s", "files_per_s", "index_bytes", "peak_rss_bytes", "peak_anon_bytes", "parent_maxrss_bytes"):
        assert build[key] > 0, key
    assert build["mb_per_s"] >= 0 and 0 <= build["signals_share"] < 1
    assert build["command"].startswith("atlas -q index ") and "--jobs 2 --rebuild" in build["command"]
    history = build["history"]  # --history-baseline: one --no-history build beside the full one
    assert len(history["no_history_wall_s_runs"]) == 1 and history["cpu_full_s"] > 0
    assert "signals_share_vs_no_history" in history


def test_query_fields(report: dict[str, Any]) -> None:
    queries = report["queries"]
    assert queries["queries"] >= 10
    assert queries["queries_with_hits"] == queries["queries"]
    assert [s["kind"] for s in queries["samples"]] == ["short", "question", "long"]
    assert all(s["top"] and s["hits"] >= 1 for s in queries["samples"])
    for label in ("with_lines", "without_lines"):
        assert {"short", "question", "long", "all"} <= set(queries[label])
        assert queries[label]["all"]["n"] == queries["queries"]  # --repeat 1
    assert len(queries["per_query"]) == queries["queries"]
    assert all(row["p50_ms_lines"] is not None and row["hits"] >= 1 for row in queries["per_query"])


def test_cold_fields(report: dict[str, Any]) -> None:
    cold = report["cold"]
    assert cold["runs"] == 2 and cold["runs_with_hits"] == 2
    assert cold["p50_ms"] > 0 and cold["version_p50_ms"] > 0
    assert "--format jsonl -n 10" in cold["command"]


def test_mine_fields(report: dict[str, Any]) -> None:
    (mined,) = report["mine"]
    assert mined["available"] and mined["commits_mined"] == 1
    assert mined["files_with_history"] == len(FILES)
    assert len(mined["runs_s"]) == 3


def test_report_header_and_checks(report: dict[str, Any]) -> None:
    assert report["corpus"]["kind"] == "generic" and report["corpus"]["files"] == len(FILES)
    assert report["machine"]["cores"] >= 1 and report["machine"]["tantivy"]
    assert report["checkout"]["commit"]
    assert {c["check"] for c in report["checks"]} >= {"warm short p50 ms", "cold CLI p50 ms", "mine_history s"}
    assert all(isinstance(c["ok"], bool) for c in report["checks"])


def test_human_table_names_every_section(bench: ModuleType, report: dict[str, Any]) -> None:
    text = bench.human(report)
    for needle in ("build ", "peak memory", "phases", "warm queries", "hits: ", "cold CLI", "mine_history", "✓"):
        assert needle in text, needle


def test_main_json_is_one_object(bench: ModuleType, tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--mine", str(tree), "--commits", "5", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mine"][0]["commits_mined"] == 1 and "build" not in printed


def test_builtin_long_query_is_a_bug_report(bench: ModuleType, tmp_path: Path) -> None:
    for kind in ("django", "linux", "generic"):
        queries = bench.builtin_queries(tmp_path, kind)
        (long,) = [q for q in queries if q.kind == "long"]
        assert 3000 <= len(long.text) <= 4000, (kind, len(long.text))


def test_query_files(bench: ModuleType, tmp_path: Path) -> None:
    text = tmp_path / "q.txt"
    text.write_text("# comment\nkmalloc\nhow does the scheduler pick a task\n\n", encoding="utf-8")
    assert [(q.text, q.kind) for q in bench.load_queries(text)] == [
        ("kmalloc", "short"), ("how does the scheduler pick a task", "question")
    ]  # fmt: skip
    rows = tmp_path / "q.jsonl"
    rows.write_text(json.dumps({"query": "a\nb", "kind": "long"}) + "\n", encoding="utf-8")
    assert [(q.text, q.kind) for q in bench.load_queries(rows)] == [("a\nb", "long")]
