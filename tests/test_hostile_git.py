"""Hostile git repositories and git environments: what a repository's objects, a git binary or the user's shell
hold never crashes, hangs or misleads an index run; history degrades to what could be mined, with the reason.

Every case builds a real repository with the real git (commits crafted with `git hash-object --literally`
where git itself would refuse to write them) and runs the real miner or the real `atlas index`.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.signals.git import BACKENDS, HistoryOptions, mine_history
from tests.conftest import git, git_env, init_repo, write_tree

SHOP = {
    "shop/cart.py": "class Cart:\n    def add_item(self, item):\n        return item\n",
    "shop/payment.py": "def charge(card, amount):\n    return amount\n",
}


def _shop(root: Path) -> Path:
    root.mkdir(parents=True)
    write_tree(root, SHOP)
    init_repo(root)
    return root


def _index_json(repo: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["-q", "index", str(repo), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def _crafted_commit(repo: Path, committer_date: str, message: str = "crafted") -> str:
    """Commit the work tree's edits as a commit object git would not write itself (any committer date), on HEAD."""
    git(repo, "add", "-A")
    tree = git(repo, "write-tree").decode().strip()
    parent = git(repo, "rev-parse", "HEAD").decode().strip()
    body = (
        f"tree {tree}\nparent {parent}\nauthor A <a@example.com> 1700000000 +0000\n"
        f"committer A <a@example.com> {committer_date} +0000\n\n{message}\n"
    )
    crafted = repo / ".git" / "crafted-commit"
    crafted.write_text(body)
    sha = git(repo, "hash-object", "-t", "commit", "-w", "--literally", str(crafted)).decode().strip()
    crafted.unlink()
    git(repo, "update-ref", "HEAD", sha)
    return sha


@pytest.mark.parametrize("date", ["99999999999999999999999", "18446744073709551615", "-5", "soon"])
def test_a_commit_whose_date_git_cannot_read_is_mined_at_the_epoch_as_git_shows_it(tmp_path: Path, date: str) -> None:
    repo = _shop(tmp_path / "r")
    (repo / "shop/cart.py").write_text(SHOP["shop/cart.py"] + "# discounts\n")
    _crafted_commit(repo, date, "cart: discounts")

    history = mine_history(repo)

    assert history.available, history.reason
    assert history.commits_mined == 2
    assert history.files["shop/cart.py"].commits == 2
    assert history.files["shop/payment.py"].commits == 1
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 2


def _drop_object(repo: Path, spec: str) -> None:
    """Delete the loose object `spec` names, as a damaged clone lacks it."""
    sha = git(repo, "rev-parse", spec).decode().strip()
    (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()


def _damaged_shop(root: Path, damage: str) -> Path:
    """The shop with two more commits, damaged: an old commit object lost, or a commit dated past time_t."""
    repo = _shop(root)
    for note in ("discounts", "coupons"):
        (repo / "shop/cart.py").write_text((repo / "shop/cart.py").read_text() + f"# {note}\n")
        git(repo, "commit", "-q", "-am", f"cart: {note}")
    if damage == "lost commit":
        _drop_object(repo, "HEAD~1")
    else:
        (repo / "shop/payment.py").write_text(SHOP["shop/payment.py"] + "# refunds\n")
        _crafted_commit(repo, "99999999999999999999999", "payment: refunds")
    return repo


@pytest.mark.parametrize("damage", ["lost commit", "date past time_t"])
def test_the_pydriller_backend_degrades_on_a_damaged_history_instead_of_failing_the_index(
    tmp_path: Path, damage: str
) -> None:
    repo = _damaged_shop(tmp_path / "r", damage)

    report = _index_json(repo, "--history-backend", "pydriller")

    git_signals = report["signals"]["git"]
    assert git_signals["available"] is False
    assert git_signals["reason"].startswith("git failed under pydriller: ")
    assert "\n" not in git_signals["reason"]
    assert report["files_indexed"] == 2



def _commit_days_ago(repo: Path, days: int, message: str) -> None:
    """Edit the cart and commit it, authored and committed `days` days before now."""
    (repo / "shop/cart.py").write_text((repo / "shop/cart.py").read_text() + f"# {message}\n")
    stamp = f"@{int(time.time()) - days * 86_400} +0000"
    env = {**git_env(), "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-am", message], env=env, check=True)


@pytest.mark.parametrize("since", ["2 weeks ago", "10.days", "yesterday"])
def test_the_pydriller_backend_reads_a_relative_since_date_as_the_git_backend_does(tmp_path: Path, since: str) -> None:
    repo = _shop(tmp_path / "r")
    _commit_days_ago(repo, 30, "cart: discounts")
    _commit_days_ago(repo, 0, "cart: coupons")

    mined = {backend: mine_history(repo, HistoryOptions(since=since, backend=backend)) for backend in BACKENDS}

    assert [history.commits_mined for history in mined.values()] == [1, 1]
    report = _index_json(repo, "--history-backend", "pydriller", "--since", since)
    assert report["signals"]["git"]["commits_mined"] == 1
