"""`atlas search` on an index built before an ignore rule came to leave a file out: the file is not served.

The build records the stamps of the ignore files its walk read (`atlas.ignore_stamps`); a search compares those on
its hits' way and asks the rules of its hits only when one moved (`atlas.query.left_out`). Real git repositories,
real indexes, the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from atlas.api import index_config, index_repo, open_engine
from atlas.build import IndexReport
from atlas.ignore_stamps import IgnoreStamps
from atlas.index import store
from tests.conftest import git, init_repo, write_tree

SECRET = "vault_token = 'hunter2-7f3a'\n"
QUERY = "vault token hunter2"
FILES = {
    "lib/vault.py": "def vault_open():\n    return 'vault'\n",
    "lib/.gitignore": "*.log\n",
    "README.md": "The vault.\n",
}


def atlas(*args: str) -> subprocess.CompletedProcess[str]:
    """`atlas -q *args` in a process of its own, as a user runs it (a process reads git's index afresh)."""
    return subprocess.run([sys.executable, "-m", "atlas", "-q", *args], capture_output=True, text=True, check=False)


def settled_index(root: Path) -> IndexReport:
    """Index `root` as `atlas index` does."""
    return index_repo(index_config(root), show_progress=False)


def searched(root: Path, query: str, *args: str) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    result = atlas("search", "--repo", str(root), "--format", "jsonl", *args, query)
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["path"] for line in result.stdout.splitlines()], result


def _atlasignore(root: Path) -> None:
    (root / ".atlasignore").write_text("lib/vault_token.py\n")


def _gitignore_edited(root: Path) -> None:
    (root / "lib/.gitignore").write_text("*.log\nvault_token.py\n")


def _info_exclude(root: Path) -> None:
    with open(root / ".git/info/exclude", "a") as exclude:
        exclude.write("lib/vault_token.py\n")


def _untracked(root: Path) -> None:  # the file was indexed because git tracks it; no ignore file moves
    git(root, "rm", "-q", "--cached", "lib/vault_token.py")


@pytest.mark.parametrize("leave_out", [_atlasignore, _gitignore_edited, _info_exclude, _untracked])
def test_regression_search_leaves_out_a_file_an_ignore_rule_came_to_leave_out(
    tmp_path: Path, leave_out: Callable[[Path], None]
) -> None:
    # `atlas search` on the index not yet updated ranked the newly ignored file and printed its lines, where `query`,
    # `context`, `render` and the MCP server's search left it out.
    root = tmp_path / "repo"
    write_tree(root, FILES)
    init_repo(root)
    write_tree(root, {"lib/vault_token.py": SECRET})
    if leave_out is _untracked:
        write_tree(root, {"lib/.gitignore": "*.log\nvault_token.py\n"})
        git(root, "add", "-f", "lib/vault_token.py", "lib/.gitignore")
        git(root, "commit", "-q", "-m", "tracked though ignored")
    settled_index(root)
    assert searched(root, QUERY)[0][:2] == ["lib/vault_token.py", "lib/vault.py"]
    leave_out(root)
    paths, result = searched(root, QUERY)
    assert "lib/vault_token.py" not in paths and "lib/vault.py" in paths, result.stdout
    assert "hunter2" not in result.stdout
    assert "atlas: left out lib/vault_token.py: the ignore rules leave it out" in result.stderr, result.stderr
    assert "`atlas index` drops it" in result.stderr
    top, _ = searched(root, QUERY, "--limit", "1")  # it ranked first: the one hit asked for is the next
    assert top == ["lib/vault.py"]


def test_regression_search_leaves_out_a_file_a_gitignore_above_the_root_came_to_leave_out(tmp_path: Path) -> None:
    # The root is a directory of a larger work tree: the ignore files above it rule it too.
    top = tmp_path / "repo"
    write_tree(top, {".gitignore": "*.log\n", **{f"app/{path}": text for path, text in FILES.items()}})
    init_repo(top)
    root = top / "app"
    write_tree(root, {"lib/vault_token.py": SECRET})
    settled_index(root)
    assert "lib/vault_token.py" in searched(root, QUERY)[0]
    (top / ".gitignore").write_text("*.log\nvault_token.py\n")
    paths, result = searched(root, QUERY)
    assert "lib/vault_token.py" not in paths and "left out lib/vault_token.py" in result.stderr


def _imports_walk_searching(root: Path) -> bool:
    """Whether a fresh process searching `root` imports the walk (the full rule check)."""
    code = (
        "import sys; from pathlib import Path; from atlas import api; "
        f"api.search(api.index_config(Path({str(root)!r})), 'vault token', show_progress=False); "
        "print('atlas.walk' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


def test_a_search_of_a_tree_whose_ignore_files_did_not_move_reads_no_rule(tmp_path: Path) -> None:
    # The budget: no import of the walk, no git, a stat of two names a directory on the hits' way.
    root = tmp_path / "repo"
    write_tree(root, {**FILES, "lib/vault_token.py": SECRET})
    init_repo(root)
    settled_index(root)
    assert not _imports_walk_searching(root)
    (root / "lib/.atlasignore").write_text("nothing.py\n")  # new on the hits' way: the rules are asked
    assert _imports_walk_searching(root)


def _live_manifest(root: Path) -> Path:
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    return generation / store.MANIFEST


def test_an_index_built_without_stamps_asks_the_rules_of_every_hit_until_indexed_again(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {**FILES, "lib/vault_token.py": SECRET})
    init_repo(root)
    settled_index(root)
    manifest_path = _live_manifest(root)
    manifest = orjson.loads(manifest_path.read_bytes())
    del manifest["ignore_files"]  # as an Atlas before stamps wrote it
    manifest_path.write_bytes(orjson.dumps(manifest))
    assert _imports_walk_searching(root)
    _atlasignore(root)
    paths, result = searched(root, QUERY)
    assert "lib/vault_token.py" not in paths and "left out lib/vault_token.py" in result.stderr
    (root / ".atlasignore").unlink()
    report = index_repo(index_config(root), show_progress=False)
    assert report.mode == "incremental", report  # nothing changed but the stamps, which it records
    assert "ignore_files" in orjson.loads(_live_manifest(root).read_bytes())
    assert not _imports_walk_searching(root)


def _stamps(root: Path) -> IgnoreStamps:
    stamps = open_engine(index_config(root), build_if_missing=False).ignore_stamps
    assert stamps is not None
    return stamps


def _loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)


@pytest.mark.parametrize(
    ("change", "moved"),
    [
        (lambda root: None, False),
        (lambda root: (root / "docs/.gitignore").write_text("x\n"), False),  # not on the hit's way
        (lambda root: (root / "lib/.atlasignore").write_text("x\n"), True),  # absent stays absent
        (lambda root: (root / ".gitignore").write_text("x\n"), True),
        (lambda root: (root / "lib/.gitignore").write_text("*.log\n"), True),  # same bytes, written again
        (lambda root: (root / "lib/.gitignore").unlink(), True),
        (lambda root: _loop(root / ".git/info/exclude"), True),  # ELOOP: a stat that fails is a change
        (lambda root: (root / ".git/info/exclude").write_text("x\n"), True),
    ],
)
def test_stamps_move_with_the_ignore_files_on_the_way_to_a_hit(
    tmp_path: Path, change: Callable[[Path], object], moved: bool
) -> None:
    root = tmp_path / "repo"
    write_tree(root, {**FILES, "docs/guide.md": "Guide.\n"})
    init_repo(root)
    settled_index(root)
    change(root)
    assert _stamps(root).moved(str(root), ["lib/vault.py"]) is moved


def test_a_directory_on_the_way_that_became_a_file_is_a_change(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, FILES)
    init_repo(root)
    settled_index(root)
    stamps = _stamps(root)
    os.rename(root / "lib", tmp_path / "lib")
    (root / "lib").write_text("")
    assert stamps.moved(str(root), ["lib/vault.py"])  # ENOTDIR


def test_regression_search_leaves_out_a_link_whose_target_a_rule_came_to_leave_out(tmp_path: Path) -> None:
    # A link's stamps cover only its own way: `secrets/.atlasignore` appearing after the build left `lib/key.txt ->
    # ../secrets/key.txt` ranked and served (without its text) where `query` and `render` refuse it.
    root = tmp_path / "repo"
    write_tree(root, {**FILES, "secrets/key.txt": SECRET})
    (root / "lib/key.txt").symlink_to("../secrets/key.txt")
    init_repo(root)
    settled_index(root)
    assert "lib/key.txt" in searched(root, QUERY, "path:lib/")[0]
    (root / "secrets/.atlasignore").write_text("key.txt\n")
    paths, result = searched(root, QUERY, "path:lib/")
    assert "lib/key.txt" not in paths
    assert "left out lib/key.txt" in result.stderr


@pytest.mark.parametrize(
    "garbled",
    [
        {"directories": {}, "whole_tree": {"a\0b": None}, "tracked": []},  # a search failed: embedded null byte
        {"directories": {}, "whole_tree": {"../../../etc/passwd": None}, "tracked": []},  # stat'ed by every search
        {"directories": {"../../x/.gitignore": [1, 2, 3, 4]}, "whole_tree": {}, "tracked": []},
        {"directories": {}, "whole_tree": {}, "tracked": [1]},
        {"directories": [], "whole_tree": {}, "tracked": []},
        {"directories": {"lib/.gitignore": "x"}, "whole_tree": {}, "tracked": []},
        "x",
    ],
)
def test_a_garbled_ignore_files_record_is_damage_to_every_reader(tmp_path: Path, garbled: object) -> None:
    root = tmp_path / "repo"
    write_tree(root, FILES)
    init_repo(root)
    settled_index(root)
    manifest = _live_manifest(root)
    manifest.write_bytes(orjson.dumps({**orjson.loads(manifest.read_bytes()), "ignore_files": garbled}))
    found = atlas("search", "--repo", str(root), QUERY)
    assert found.returncode != 0 and "ignore_files" in found.stderr and "unexpected" not in found.stderr
    status = atlas("status", "--repo", str(root))
    assert '"ok": false' in status.stdout or "ignore_files" in status.stderr, status
    assert settled_index(root).mode == "full"  # the damaged index is rebuilt
