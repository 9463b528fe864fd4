"""Git failing under Atlas never fails an index: damaged clones, shallow clones, no git, foreign owners.

History is an input to ranking, not a precondition. Each case builds a real repository, damages it the
way users' clones are damaged, and runs the real `atlas index` and `atlas search`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.signals.git import mine_history
from tests.conftest import git, git_env

FILES = {
    "shop/cart.py": "class Cart:\n    def add_item(self, item):\n        return item\n",
    "shop/payment.py": "def charge(card, amount):\n    return amount\n",
    "README.md": "A shop.\n",
}


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)


def _history_repo(root: Path) -> Path:
    """Four commits, the second renames a file with an edit (rename detection must read both blobs)."""
    root.mkdir(parents=True)
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q", "-b", "main")
    _commit(root, "initial")
    old = (root / "shop/payment.py").read_text()
    (root / "shop/payment.py").unlink()
    (root / "shop/billing.py").write_text(old + "\n\ndef refund(card, amount):\n    return -amount\n")
    _commit(root, "rename payment to billing")
    (root / "shop/cart.py").write_text(FILES["shop/cart.py"] + "\n    def remove_item(self, item):\n        pass\n")
    _commit(root, "cart: remove items")
    (root / "shop/billing.py").write_text((root / "shop/billing.py").read_text() + "\n# billing fees\n")
    _commit(root, "billing: fees")
    return root


def _drop_object(repo: Path, spec: str) -> bytes:
    """Delete the loose object `spec` names, as a partial or damaged clone lacks it; its bytes, to put it back."""
    sha = git(repo, "rev-parse", spec).decode().strip()
    loose = repo / ".git" / "objects" / sha[:2] / sha[2:]
    held = loose.read_bytes()
    loose.unlink()
    return held


def _put_back(repo: Path, spec_sha: str, held: bytes) -> None:
    """Restore a dropped loose object, as a later fetch brings what a clone lacked."""
    (repo / ".git" / "objects" / spec_sha[:2] / spec_sha[2:]).write_bytes(held)


def _index_json(repo: Path) -> dict:
    result = CliRunner().invoke(cli, ["-q", "index", str(repo), "--format", "json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def _search_explain(repo: Path, query: str) -> dict:
    result = CliRunner().invoke(cli, ["search", "--repo", str(repo), "--format", "json", "--explain", query])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_a_clone_missing_the_blobs_rename_detection_reads_is_indexed_without_renames(tmp_path: Path) -> None:
    repo = _history_repo(tmp_path / "r")
    _drop_object(repo, "HEAD~3:shop/payment.py")
    failing = subprocess.run(["git", "-C", str(repo), "log", "-M", "--name-status"], capture_output=True, env=git_env())
    assert failing.returncode != 0  # the damage is real: plain `git log -M` fails here

    report = _index_json(repo)

    git_signals = report["signals"]["git"]
    assert git_signals["available"] is True
    assert git_signals["commits_mined"] == 4
    assert git_signals["reason"].startswith("renames not followed (git log failed: ")
    found = _search_explain(repo, "refund card")
    assert found["results"][0]["path"] == "shop/billing.py"
    assert any(note.startswith("git history incomplete: renames not followed") for note in found["notes"])


def test_a_history_git_read_in_part_is_mined_whole_once_the_objects_are_back(tmp_path: Path) -> None:
    # A one-off failure (a fetch that brings the missing objects, a git stalled or killed) must not leave the
    # index with the part it read until --rebuild: the next update, at the same HEAD, mines the history again.
    repo = _history_repo(tmp_path / "r")
    tree = git(repo, "rev-parse", "HEAD~3^{tree}").decode().strip()
    held = _drop_object(repo, tree)
    first = _index_json(repo)["signals"]["git"]
    assert first["reason"].startswith("only the newest ")

    _put_back(repo, tree, held)
    again = _index_json(repo)["signals"]["git"]

    assert (again["available"], again["reason"], again["commits_mined"], again["mined"]) == (True, "", 4, "full")
    assert _index_json(repo)["mode"] == "unchanged"  # whole now: not mined a third time


def test_a_history_git_keeps_failing_on_is_mined_again_once_per_head(tmp_path: Path) -> None:
    repo = _history_repo(tmp_path / "r")
    _drop_object(repo, "HEAD~3^{tree}")
    first = _index_json(repo)["signals"]["git"]

    second = _index_json(repo)["signals"]["git"]
    third = _index_json(repo)
    (repo / "shop/cart.py").write_text((repo / "shop/cart.py").read_text() + "# totals\n")
    _commit(repo, "cart: totals")
    fourth = _index_json(repo)["signals"]["git"]

    assert second["mined"] == "full"
    assert second["reason"] == f"{first['reason']}; the same when read again"
    assert third["mode"] == "unchanged"  # failed twice at this HEAD: kept, not mined a third time
    assert fourth["mined"] == "full"  # a merge would keep the part git could not read: mined whole again
    assert fourth["commits_mined"] == first["commits_mined"] + 1
    assert fourth["reason"].startswith(f"only the newest {fourth['commits_mined']} commits could be read (")


def test_a_clone_missing_an_old_tree_keeps_the_newest_commits(tmp_path: Path) -> None:
    repo = _history_repo(tmp_path / "r")
    _drop_object(repo, "HEAD~3^{tree}")

    history = mine_history(repo)

    assert history.available
    assert 1 <= history.commits_mined < 4
    assert history.reason.startswith(f"only the newest {history.commits_mined} commits could be read (git log failed")
    assert history.files["shop/cart.py"].commits >= 1
    assert _index_json(repo)["signals"]["git"]["available"] is True


def test_a_clone_whose_head_tree_is_missing_is_indexed_without_history(tmp_path: Path) -> None:
    repo = _history_repo(tmp_path / "r")
    _drop_object(repo, "HEAD^{tree}")

    report = _index_json(repo)

    assert report["signals"]["git"]["available"] is False
    assert report["signals"]["git"]["reason"].startswith("git cannot list the files of HEAD: fatal:")
    human = CliRunner().invoke(cli, ["-q", "index", str(repo), "--rebuild", "--format", "human"])
    assert human.exit_code == 0
    assert "git history not used: git cannot list the files of HEAD" in human.stdout


def test_a_shallow_clone_is_mined_and_says_so(tmp_path: Path) -> None:
    origin = _history_repo(tmp_path / "origin")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{origin}", str(clone)], check=True, env=git_env())

    report = _index_json(clone)

    assert report["signals"]["git"]["available"] is True
    assert report["signals"]["git"]["commits_mined"] == 2
    assert report["signals"]["git"]["reason"].startswith("shallow clone")
    assert _search_explain(clone, "refund")["results"][0]["path"] == "shop/billing.py"


def test_without_git_on_the_path_the_index_is_built_and_search_says_why_git_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _history_repo(tmp_path / "r")
    python_only = tmp_path / "bin"
    python_only.mkdir()
    assert shutil.which("git")
    monkeypatch.setenv("PATH", str(python_only))

    report = _index_json(repo)

    git_signals = report["signals"]["git"]
    assert (git_signals["available"], git_signals["reason"]) == (False, "git is not installed")
    assert "git signals absent: git is not installed" in _search_explain(repo, "cart")["notes"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_a_repository_owned_by_another_user_is_indexed_without_history(tmp_path: Path) -> None:
    repo = _history_repo(tmp_path / "r")
    for path in (repo / ".git", *(repo / ".git").rglob("*")):
        os.lchown(path, 65534, 65534)
    os.lchown(repo, 65534, 65534)

    report = _index_json(repo)

    assert report["signals"]["git"]["available"] is False
    assert report["signals"]["git"]["reason"].startswith("git refuses a repository owned by another user")


_INDEXING_PROCESS = os.getpid()


def _killed_while_mining(*args: object, **kwargs: object) -> None:
    """Mining whose process is killed, as the OOM killer kills one reading a huge history."""
    assert os.getpid() != _INDEXING_PROCESS, "mining ran in the indexing process, not in a worker"
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="history is mined in a worker on two cores or more")
def test_regression_a_history_miner_killed_in_its_worker_leaves_the_index_without_the_newer_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The history is mined in a parse worker. A kill of that worker (the OOM killer) hung `atlas index` for good.
    repo = _history_repo(tmp_path / "r")
    for i in range(40):  # enough files for two parse workers
        (repo / f"shop/item_{i}.py").write_text(f"def item_{i}():\n    return {i}\n")
    _commit(repo, "items")
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 5
    (repo / "shop/cart.py").write_text(FILES["shop/cart.py"] + "\n# cart totals\n")
    _commit(repo, "cart: totals")
    monkeypatch.setattr("atlas.signals.compute.mine_history", _killed_while_mining)

    report = _index_json(repo)

    git_signals = report["signals"]["git"]
    assert git_signals["available"] is True  # the last index's history, up to its HEAD
    assert git_signals["commits_mined"] == 5
    assert git_signals["reason"].startswith("the commits after ")
    assert "the process mining it died" in git_signals["reason"]
    assert _search_explain(repo, "refund")["results"][0]["path"] == "shop/billing.py"

    fresh = CliRunner().invoke(cli, ["-q", "index", str(repo), "--rebuild", "--format", "json"])
    assert fresh.exit_code == 0, fresh.output
    assert orjson.loads(fresh.stdout)["signals"]["git"]["available"] is False
    monkeypatch.undo()
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 6  # the next run mines what was missed


def test_a_head_commit_git_cannot_read_is_named_not_called_no_commits(tmp_path: Path) -> None:
    # A clone that lost the object of HEAD's commit (a packfile deleted, a disk error) said "no commits".
    repo = _history_repo(tmp_path / "r")
    head = git(repo, "rev-parse", "HEAD").decode().strip()
    _drop_object(repo, "HEAD")

    history = mine_history(repo)

    assert not history.available
    assert history.reason == f"git cannot read the commit of HEAD ({head[:12]}): its object is missing or damaged"
    report = _index_json(repo)
    assert report["files_indexed"] == 3 and report["signals"]["git"]["reason"] == history.reason
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert mine_history(empty).reason == "no commits"


def test_an_orphan_branch_in_a_repository_with_commits_is_named_not_called_no_commits(tmp_path: Path) -> None:
    # `git checkout --orphan site` (a gh-pages branch begun) in a repository with history: the history was "absent:
    # no commits", which its commits on main belie.
    repo = _history_repo(tmp_path / "r")
    git(repo, "checkout", "-q", "--orphan", "site")
    reason = "the current branch (site) has no commits yet: the commits of other branches are not mined"
    assert mine_history(repo).reason == reason
    report = _index_json(repo)
    assert report["files_indexed"] == 3 and report["signals"]["git"]["reason"] == reason
