"""perf/floor.py end to end on a tiny generated tree: what it indexes, what it skips, what it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tantivy

from tests.conftest import write_tree

FLOOR = Path(__file__).resolve().parent.parent / "perf" / "floor.py"
FILES: dict[str, str | bytes] = {
    "app/__init__.py": "",
    "app/server.py": "class RequestRouter:\n    def dispatch_request(self):\n        return 1\n",
    "app/util.py": "def load_settings(path):\n    return path\n",
    "docs/guide.md": "# Guide\n\nHow settings are loaded.\n",
    "README.md": "# Demo\n",
    "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00",  # binary: skipped
    "big/huge.txt": "x" * ((1 << 20) + 1),  # over the 1 MiB cap: skipped
    ".git/config": "[core]\n",  # skipped directory
    ".atlas/notes.md": "# old index\n",  # skipped directory
}
INDEXED = ["README.md", "app/__init__.py", "app/server.py", "app/util.py", "docs/guide.md"]


def test_floor_indexes_text_files_and_python_names(tmp_path: Path) -> None:
    tree, index_dir = tmp_path / "tree", tmp_path / "index"
    write_tree(tree, FILES)
    proc = subprocess.run([sys.executable, str(FLOOR), str(tree), "--jobs", "2", "--index-dir", str(index_dir)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["files"] == len(INDEXED)
    assert report["bytes"] == sum(len(FILES[p]) for p in INDEXED)
    assert (report["python_files"], report["names"]) == (3, 3)  # RequestRouter, dispatch_request, load_settings
    assert report["wall_s"] > 0 and report["cpu_s"] >= report["cpu_children_s"] > 0
    index = tantivy.Index.open(str(index_dir))
    searcher = index.searcher()
    assert searcher.num_docs == len(INDEXED)
    everything = searcher.search(tantivy.Query.all_query(), 10).hits
    assert sorted(searcher.doc(address)["path"][0] for _, address in everything) == INDEXED
    hits = searcher.search(index.parse_query("dispatch_request", ["symbols"]), 10).hits
    assert [searcher.doc(address)["path"][0] for _, address in hits] == ["app/server.py"]


def test_floor_refuses_an_index_dir_in_use(tmp_path: Path) -> None:
    write_tree(tmp_path, {"tree/a.py": "x = 1\n", "index/meta.json": "{}"})
    proc = subprocess.run([sys.executable, str(FLOOR), str(tmp_path / "tree"), "--index-dir", str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and "not empty" in proc.stderr
