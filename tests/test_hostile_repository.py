"""A repository is data, never code or a place to write: what its git config names is never run, and an index
directory that holds something other than an Atlas index is refused before anything in it is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, init_repo, write_tree
from tests.test_hostile_process import SHOP, run_atlas

COMMANDS = [
    ("index", "--history-backend", "git"),
    ("index", "--rebuild", "--history-backend", "pydriller"),
    ("search", "refund"),
    ("query", "refund"),
    ("query", "--preset", "fast", "refund"),
    ("quick", "--preset", "fast", "refund"),
    ("explain", "--preset", "fast", "refund"),
    ("status",),
    ("verify",),
]


@pytest.fixture
def booby_trapped(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose `.git/config` names a command as its file-system monitor, and the file that command
    would write."""
    root = tmp_path / "shop"
    root.mkdir()
    write_tree(root, SHOP)
    init_repo(root)
    marker = tmp_path / "ran"
    git(root, "config", "core.fsmonitor", f"touch {marker}; false")
    return root, marker


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_command_the_repository_configures_is_never_run(booby_trapped: tuple[Path, Path], command: tuple) -> None:
    root, marker = booby_trapped
    if command[0] != "index":
        assert run_atlas("-q", "index", str(root)).returncode == 0
    where = (str(root),) if command[0] == "index" else ("--repo", str(root))
    result = run_atlas("-q", command[0], *where, *command[1:])
    assert result.returncode in (0, 1), result.stderr
    assert not marker.exists(), f"atlas {' '.join(command)} ran the repository's core.fsmonitor"
