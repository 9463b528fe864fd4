"""An index directory that is no directory (a FIFO, a file, a link to one or to nothing, a path under a file) is
refused alike by every command that reads or writes an index: exit 2, naming it, with a hint to remove it or pass
--index-dir. Readers took it for a directory holding no index (exit 3, "build one with `atlas index`"), which
`atlas index` then refused (exit 2). Nothing opens it: a FIFO would block its reader."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import git_env, init_repo, write_tree
from tests.test_hostile_process import SHOP, atlas_command

COMMANDS = {
    "index": lambda root, tmp: ("index", str(root)),
    "search": lambda root, tmp: ("search", "--repo", str(root), "cart"),
    "status": lambda root, tmp: ("status", "--repo", str(root)),
    "verify": lambda root, tmp: ("verify", "--repo", str(root)),
    "query": lambda root, tmp: ("query", "--repo", str(root), "cart"),
    "quick": lambda root, tmp: ("quick", "--repo", str(root), "cart"),
    "explain": lambda root, tmp: ("explain", "--repo", str(root), "cart"),
    "export": lambda root, tmp: ("export", "--repo", str(root), str(tmp / "out.tar.gz")),
    "import": lambda root, tmp: ("import", "--repo", str(root), str(tmp / "in.tar.gz")),
    "cache-key": lambda root, tmp: ("cache-key", "--repo", str(root)),
    "mcp": lambda root, tmp: ("mcp", "--repo", str(root)),
}


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _file(path: Path) -> Path:
    path.write_text("not an index\n")
    return path


def _dangling_link(path: Path) -> Path:
    path.symlink_to(path.parent / "nowhere")
    return path


def _link_to_file(path: Path) -> Path:
    path.symlink_to(_file(path.parent / "notes.txt"))
    return path


def _link_to_fifo(path: Path) -> Path:
    path.symlink_to(_fifo(path.parent / "pipe"))
    return path


def _under_a_file(path: Path) -> Path:
    return _file(path) / "index"


KINDS: dict[str, Callable[[Path], Path]] = {
    "fifo": _fifo, "file": _file, "dangling link": _dangling_link, "link to a file": _link_to_file,
    "link to a fifo": _link_to_fifo,
}  # fmt: skip


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    write_tree(root, SHOP)
    init_repo(root)
    (tmp_path / "in.tar.gz").write_bytes(b"an archive the import never reaches")
    return root


def _run(args: tuple[str, ...], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A FIFO opened for reading would wait for a writer: the timeout fails the test instead of hanging it.
    return subprocess.run(atlas_command("-q", *args), capture_output=True, text=True, timeout=60, input="",
                          env={**git_env(), **(env or {})})  # fmt: skip


def _assert_refused(result: subprocess.CompletedProcess[str], named: Path) -> None:
    assert result.returncode == 2, result.stderr
    assert str(named) in result.stderr and "hint:" in result.stderr, result.stderr
    assert "not a directory" in result.stderr or "leads to no directory" in result.stderr, result.stderr
    assert "--index-dir" in result.stderr and "atlas index`" not in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_repository_index_directory_that_is_no_directory_is_refused_alike(
    shop: Path, tmp_path: Path, kind: str, command: str
) -> None:
    index_dir = KINDS[kind](shop / ".atlas")
    _assert_refused(_run(COMMANDS[command](shop, tmp_path)), index_dir)
    assert os.path.lexists(index_dir) and not index_dir.is_dir()  # left as it was
    assert not (tmp_path / "out.tar.gz").exists()


GIVEN = ["--index-dir fifo", "ATLAS_INDEX_DIR link to a fifo", "ATLAS_INDEX_DIR under a file"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("given", GIVEN)
def test_an_index_directory_given_that_is_no_directory_is_refused_alike(
    shop: Path, tmp_path: Path, given: str, command: str
) -> None:
    how, what = given.split(" ", 1)
    made = {"fifo": _fifo, "link to a fifo": _link_to_fifo, "under a file": _under_a_file}[what](tmp_path / "index")
    args = COMMANDS[command](shop, tmp_path)
    if how == "--index-dir":
        result = _run((*args, "--index-dir", str(made)))
    else:
        result = _run(args, {"ATLAS_INDEX_DIR": str(made)})
    # The option's path is resolved: a link is named by what it leads to.
    _assert_refused(result, made.parent / "pipe" if what == "link to a fifo" else made)
    assert not (tmp_path / "out.tar.gz").exists()
