"""perf/floor.py end to end on a tiny generated tree: what it indexes, what it skips, what it reports."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import tantivy

from tests.conftest import write_tree

PERF = Path(__file__).resolve().parent.parent / "perf"
FLOOR = PERF / "floor.py"
FILES: dict[str, str | bytes] = {
    "app/__init__.py": "",
    "app/server.py": "class RequestRouter:\n    def dispatch_request(self):\n        return 1\n",
    "app/util.py": "def load_settings(path):\n    return path\n",
    "lib/ring.c": "struct ring { int head; };\n\nint ring_push(struct ring *r, int v) { return v; }\n",
    "docs/guide.md": "# Guide\n\nHow settings are loaded.\n",
    "README.md": "# Demo\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00",  # binary: skipped
    "big/huge.txt": "x" * ((1 << 20) + 1),  # over the 1 MiB cap: skipped
    ".git/config": "[core]\n",  # skipped directory
    ".atlas/notes.md": "# old index\n",  # skipped directory
}
INDEXED = ["README.md", "app/__init__.py", "app/server.py", "app/util.py", "docs/guide.md", "lib/ring.c"]


def test_floor_indexes_text_files_and_python_names(tmp_path: Path) -> None:
    tree, index_dir = tmp_path / "tree", tmp_path / "index"
    write_tree(tree, FILES)
    proc = subprocess.run([sys.executable, str(FLOOR), str(tree), "--jobs", "2", "--index-dir", str(index_dir)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["files"] == len(INDEXED)
    assert report["bytes"] == sum(len(FILES[p]) for p in INDEXED)
    # RequestRouter, dispatch_request, load_settings; the C file's struct ring and ring_push
    assert (report["parsed_files"], report["names"]) == (4, 5)
    assert report["wall_s"] > 0 and report["cpu_s"] >= report["cpu_children_s"] > 0
    index = tantivy.Index.open(str(index_dir))
    searcher = index.searcher()
    assert searcher.num_docs == len(INDEXED)
    everything = searcher.search(tantivy.Query.all_query(), 10).hits
    assert sorted(searcher.doc(address)["path"][0] for _, address in everything) == INDEXED
    hits = searcher.search(index.parse_query("dispatch_request", ["symbols"]), 10).hits
    assert [searcher.doc(address)["path"][0] for _, address in hits] == ["app/server.py"]
    hits = searcher.search(index.parse_query("ring_push", ["symbols"]), 10).hits
    assert [searcher.doc(address)["path"][0] for _, address in hits] == ["lib/ring.c"]


def test_floor_refuses_an_index_dir_in_use(tmp_path: Path) -> None:
    write_tree(tmp_path, {"tree/a.py": "x = 1\n", "index/meta.json": "{}"})
    proc = subprocess.run([sys.executable, str(FLOOR), str(tmp_path / "tree"), "--index-dir", str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and "not empty" in proc.stderr


def test_bench_floor_reports_atlas_over_the_floor(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("atlas_perf_bench_floor", PERF / "bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(bench)
    write_tree(tmp_path, FILES)
    floor = bench.run_floor(tmp_path, 2)
    assert floor["files"] == len(INDEXED) and floor["process_wall_s"] >= floor["wall_s"] > 0
    build = {"wall_s": 4 * floor["process_wall_s"], "cpu_parent_s": floor["cpu_s"], "cpu_children_s": floor["cpu_s"]}
    ratio = bench.floor_ratio(build, floor)
    assert ratio["wall_ratio"] == 4.0
    assert ratio["cpu_ratio"] == pytest.approx(2.0, abs=0.01)
    lines = bench.human_build({**build, "floor": ratio, "phases": {}, "skipped": {}, "files_indexed": 5,
                               "files_per_s": 1, "bytes_indexed": 1, "mb_per_s": 1, "parse_errors": 0, "symbols": 3,
                               "index_bytes": 1, "peak_rss_bytes": 1, "peak_anon_bytes": 1, "peak_pss_bytes": 1,
                               "peak_processes": 3, "parent_maxrss_bytes": 1, "largest_child_maxrss_bytes": 1,
                               "signals_share": 0.0, "command": "atlas index"})  # fmt: skip
    assert "Atlas/floor: CPU 2.00x" in lines[-1] and "wall 4.00x" in lines[-1]
    with pytest.raises(SystemExit):
        bench.parse_args([str(tmp_path), "--floor", "--no-build", "--index-dir", str(tmp_path)])


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("atlas_perf_bench_cold", PERF / "bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    return bench


def _indexed_tree(tmp_path: Path) -> tuple[Path, Path]:
    """FILES written under tmp_path/tree and indexed into tmp_path/index by the CLI."""
    tree, index_dir = tmp_path / "tree", tmp_path / "index"
    write_tree(tree, FILES)
    built = subprocess.run([sys.executable, "-m", "atlas", "-q", "index", str(tree), "--index-dir", str(index_dir)],
                           capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return tree, index_dir


def _floor_search(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PERF / "floor_search.py"), *args],
                          capture_output=True, text=True, timeout=60, check=False, env=env)  # fmt: skip


def test_floor_search_and_the_cold_search_ratio(tmp_path: Path) -> None:
    tree, index_dir = _indexed_tree(tmp_path)
    proc = _floor_search(str(index_dir), "dispatch_request")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["app/server.py"]
    bench = _load_bench()
    queries = [bench.Query("dispatch_request", "short"), bench.Query("RequestRouter", "short")]
    cold = bench.cold_queries(tree, index_dir, queries, 2, floor=True)
    assert cold["runs_with_hits"] == 2 and cold["cpu_p50_ms"] > 0
    floor = cold["floor"]
    assert floor["cpu_p50_ms"] > 0
    assert floor["cpu_ratio"] == pytest.approx(cold["cpu_p50_ms"] / floor["cpu_p50_ms"], 0.01)
    libraries = floor["with_cli_libraries"]
    assert libraries["modules"] == ["click", "orjson"] and libraries["cpu_p50_ms"] > 0
    assert libraries["cpu_ratio"] == pytest.approx(libraries["cpu_p50_ms"] / floor["cpu_p50_ms"], 0.01)
    lines = bench.human_cold(cold)
    assert "Atlas/floor: CPU" in lines[-2] and "floor importing click and orjson too" in lines[-1]


def test_floor_search_imports_what_it_is_told_first(tmp_path: Path) -> None:
    """`--import MODULE` loads MODULE before the search (here one that says so) and changes nothing else."""
    _, index_dir = _indexed_tree(tmp_path)
    (tmp_path / "marker_module.py").write_text("import sys\nsys.stderr.write('marker imported\\n')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = _floor_search("--import", "marker_module", str(index_dir), "dispatch_request", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["app/server.py"] and proc.stderr == "marker imported\n"
    usage = _floor_search("--import", "marker_module", str(index_dir), env=env)
    assert usage.returncode == 2 and "usage:" in usage.stderr
