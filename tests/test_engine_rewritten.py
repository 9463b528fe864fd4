"""A library Engine whose index files are rewritten in place under it.

The MCP server and other library users hold an `atlas.api` Engine open between searches. Tantivy maps its segment
files: truncated in place meanwhile (a `cp` of a cached index over the live one, a restore that rewrites files), the
next search touched a page past a file's new end and the process died of SIGBUS, which no Python code can catch.
Each search runs in a subprocess here, so that such a death is a failed test, not a dead test run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import indexed_repo

FILES = {f"app/m{i}.py": f"def handler_{i}(request):\n    return serve_{i}(request)\n" for i in range(30)}

SEARCH_AFTER_REWRITE = """
import json, os, shutil, sys, time
from pathlib import Path
from atlas.api import index_config, open_engine
from atlas.errors import AtlasError

root, how = Path(sys.argv[1]), sys.argv[2]
engine = open_engine(index_config(root), build_if_missing=False, show_progress=False)
assert engine.search("handler_3").hits
generation = engine.reader.generation
if how == "newer":  # a complete generation published beside it, named by CURRENT
    shutil.copytree(generation, generation.parent / "gen-999999")
    (generation.parent / "CURRENT.new").write_text("gen-999999")
    os.replace(generation.parent / "CURRENT.new", generation.parent / "CURRENT")
part = "signals" if how == "side-store" else "tantivy"
for path in (generation / part).iterdir():
    if not path.name.startswith(".") and not path.name.endswith(".json"):
        os.truncate(path, path.stat().st_size // 2 if how == "half" else 0)
if how == "meta-rewritten":  # what tantivy's watcher of meta.json sees as a commit: a reader reloading on one would
    meta = generation / part / "meta.json"  # open the truncated segments in its own thread
    meta.write_text(meta.read_text() + " ")
    time.sleep(1.5)
try:
    hits = [hit.path for hit in engine.search("handler_3").hits]
    print(json.dumps({"hits": hits}))
except AtlasError as err:
    print(json.dumps({"error": type(err).__name__, "message": err.message, "hint": err.hint}))
"""


def search_after_rewrite(root: Path, how: str) -> dict[str, object]:
    """What a second search of an Engine answers once its index was rewritten `how`; fails the test on a crash."""
    done = subprocess.run([sys.executable, "-c", SEARCH_AFTER_REWRITE, str(root), how],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    if done.returncode < 0:
        pytest.fail(f"the process died of {signal.Signals(-done.returncode).name}: {done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("how", ["empty", "half", "meta-rewritten"])
def test_regression_segments_truncated_under_an_engine_are_an_atlas_error(tmp_path: Path, how: str) -> None:
    root = indexed_repo(tmp_path / "repo", FILES)
    answer = search_after_rewrite(root, how)
    assert answer.get("error") == "IndexCorrupt", answer
    assert "changed in place" in str(answer["message"]) and "atlas index" in str(answer["hint"]), answer


def test_an_engine_whose_segments_are_truncated_answers_from_a_newer_complete_index(tmp_path: Path) -> None:
    root = indexed_repo(tmp_path / "repo", FILES)
    assert search_after_rewrite(root, "newer")["hits"][0] == "app/m3.py"


def test_an_engine_whose_side_store_is_truncated_answers_from_what_it_read(tmp_path: Path) -> None:
    root = indexed_repo(tmp_path / "repo", FILES)
    assert search_after_rewrite(root, "side-store")["hits"][0] == "app/m3.py"


def test_regression_the_in_place_check_never_lists_a_segment_directory_linked_out(tmp_path: Path) -> None:
    """The per-call check lists the segment files; a `tantivy/` swapped for a link to a copy elsewhere is not
    followed (nothing outside the index is read): it reports no files, and nothing rewritten in place."""
    from atlas.index.reader import mapped_files

    real = tmp_path / "real"
    real.mkdir()
    (real / "segment.idx").write_bytes(b"x" * 10)
    linked = tmp_path / "linked"
    linked.symlink_to(real, target_is_directory=True)
    assert set(mapped_files(real)) == {"segment.idx"}
    assert mapped_files(linked) == {}
