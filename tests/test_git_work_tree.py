"""A `.git` whose config sets `core.worktree`: git's files are in that work tree, not in the directory holding it.

Atlas follows git only where git's work tree is the directory holding `.git`; anywhere else the directory asked
for is indexed as plain files (its own `.gitignore` files apply, nothing of `.git` does), with a note, and no
path outside it is read or served. Real repositories, real git, the real CLI.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.api import index_config, open_engine, related_files
from atlas.cli import cli
from tests.conftest import git, write_tree

OWN = {
    "own.py": "def own_handler(request):\n    return request\n",
    "shared.py": "def shared_helper():\n    return 'root copy'\n",
    "build.py": "def build_step():\n    return 1\n",
}
THEIRS = {
    "theirs.py": "def zebrafish_handler():\n    return 'only in the other work tree'\n",
    "shared.py": "def shared_helper():\n    return 'zebrafish copy'\n",
    "ignored.py": "def quokka():\n    return 1\n",
}


def _repository(root: Path, work_tree: Path, setting: str) -> None:
    """`root/.git` whose `core.worktree` is `setting` (git's work tree `work_tree`), with two commits there, in
    which `theirs.py` and `shared.py` change together; `info/exclude` leaves out `build.py`."""
    write_tree(root, OWN)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "core.worktree", setting)
    (root / ".git" / "info" / "exclude").write_text("build.py\n")
    write_tree(work_tree, {**THEIRS, ".gitignore": "ignored.py\n"})
    git(root, "add", "-A")
    git(root, "add", "-f", ":(top)ignored.py")
    git(root, "commit", "-q", "-m", "zebrafish first")
    write_tree(work_tree, {name: text + "# again\n" for name, text in THEIRS.items() if name != "ignored.py"})
    git(root, "commit", "-q", "-a", "-m", "zebrafish again")


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-q", *args])
    return result.exit_code, result.stdout


def _paths(root: Path, query: str) -> list[str]:
    code, out = _run("search", "--root", str(root), "--format", "json", query)
    assert code in (0, 1), out
    return [hit["path"] for hit in orjson.loads(out)["results"]] if code == 0 else []


@pytest.mark.parametrize("where", ["outside", "parent", "inside"])
def test_regression_core_worktree_elsewhere_indexes_the_directory_as_plain_files(tmp_path: Path, where: str) -> None:
    # The directory's own files were indexed with git's history and ignore rules of another work tree: `build.py`
    # was left out by info/exclude, and `shared.py` got the history of the other work tree's `shared.py`.
    root = tmp_path / "project" / "root"
    work_tree = {"outside": tmp_path / "elsewhere", "parent": tmp_path / "project", "inside": root / "sub"}[where]
    _repository(root, work_tree, str(work_tree))
    code, out = _run("index", str(root), "--format", "json")
    assert code == 0, out
    report = orjson.loads(out)
    history = report["signals"]["git"]
    assert not history["available"] and "core.worktree" in history["reason"], history
    assert any("core.worktree" in note and str(work_tree) in note for note in report["notes"]), report["notes"]
    assert (where == "inside") == any("to follow git" in note for note in report["notes"])
    assert set(_paths(root, "build_step")) == {"build.py"}  # info/exclude is git's, for its own work tree
    for query in ("zebrafish", "quokka", "shared_helper", "own_handler"):
        assert all((root / path).is_file() for path in _paths(root, query)), query
    assert "theirs.py" not in _paths(root, "zebrafish")
    related = related_files(open_engine(index_config(root), build_if_missing=False, show_progress=False), "shared.py")
    assert related.cochange == [] and any("no co-change data" in note for note in related.notes), related


@pytest.mark.parametrize("where", ["itself", "below"])
def test_core_worktree_naming_the_directory_indexed_follows_git(tmp_path: Path, where: str) -> None:
    # `core.worktree` naming the directory that holds `.git` is git's usual layout (`--separate-git-dir`,
    # submodules); naming a directory below it, indexing that directory follows git there: its history, its
    # info/exclude and the files it tracks although ignored (`ignored.py`) apply.
    holder = tmp_path / "root"
    work_tree = holder if where == "itself" else holder / "sub"
    _repository(holder, work_tree, str(work_tree))
    code, out = _run("index", str(work_tree), "--format", "json")
    assert code == 0, out
    report = orjson.loads(out)
    assert report["signals"]["git"]["available"] and report["signals"]["git"]["commits_mined"] == 2, report
    assert not report["notes"]
    assert _paths(work_tree, "build_step") == []  # left out by info/exclude, or not in git's work tree
    assert _paths(work_tree, "quokka") == ["ignored.py"]
