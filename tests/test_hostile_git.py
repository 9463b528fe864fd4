"""Hostile git repositories and git environments: what a repository's objects, a git binary or the user's shell
hold never crashes, hangs or misleads an index run; history degrades to what could be mined, with the reason.

Every case builds a real repository with the real git (commits crafted with `git hash-object --literally`
where git itself would refuse to write them) and runs the real miner or the real `atlas index`.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.signals.git import BACKENDS, HistoryOptions, head_commit, is_ancestor, mine_history
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



def test_new_commits_that_cannot_be_mined_are_reported_and_mined_by_the_next_update(tmp_path: Path) -> None:
    # The update kept the old history and said nothing: its reason was empty, its HEAD the old one.
    repo = _shop(tmp_path / "r")
    first = _index_json(repo)["signals"]["git"]
    write_tree(repo, {"shop/tax/rates.py": "def vat(amount):\n    return amount\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tax: rates")
    (repo / "shop/cart.py").write_text(SHOP["shop/cart.py"] + "# vat\n")
    git(repo, "commit", "-q", "-am", "cart: vat")
    tree = git(repo, "rev-parse", "HEAD~1:shop/tax").decode().strip()
    lost = repo / ".git" / "objects" / tree[:2] / tree[2:]
    kept = lost.read_bytes()
    lost.unlink()

    stuck = _index_json(repo)["signals"]["git"]

    assert stuck["available"] is True and stuck["head"] == first["head"]
    assert stuck["reason"].startswith(f"the commits after {first['head'][:12]} could not be mined, so the history ends")
    assert stuck["commits_mined"] == 1
    assert _status(repo)["fresh"] is True  # it knows it ends early: not stale for it, or the MCP server would loop
    lost.write_bytes(kept)
    again = _index_json(repo)["signals"]["git"]
    assert again["reason"] == "" and again["head"] == head_commit(repo) and again["commits_mined"] == 3


def _status(repo: Path) -> dict:
    result = CliRunner().invoke(cli, ["-q", "status", "--root", str(repo)])
    assert result.exit_code in (0, 7), result.output
    return orjson.loads(result.stdout)


def test_a_commit_that_changes_no_indexed_file_makes_the_index_stale_until_it_is_mined(tmp_path: Path) -> None:
    # Files edited and indexed, then committed: the tree matched the index, so `status` said fresh and `quick` and
    # the MCP server kept the new commit out of recency and co-change until some file changed.
    repo = _shop(tmp_path / "r")
    (repo / "shop/cart.py").write_text(SHOP["shop/cart.py"] + "# coupons\n")
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 1
    git(repo, "commit", "-q", "-am", "cart: coupons")
    head = head_commit(repo)
    assert head is not None

    stale = _status(repo)

    assert stale["fresh"] is False and (stale["changed"], stale["added"], stale["removed"]) == ([], [], [])
    assert stale["reason"] == f"new commits since the index was built: HEAD was {stale['commit'][:12]}, is {head[:12]}"
    quick = CliRunner().invoke(cli, ["-q", "quick", "--root", str(repo), "coupons", "--format", "json"])
    assert quick.exit_code == 0, quick.output
    after = _status(repo)
    assert (after["fresh"], after["commit"]) == (True, head)
    assert _index_json(repo)["mode"] == "unchanged"


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


def _rename_payment(repo: Path) -> None:
    """Commit payment.py renamed to billing.py with an edit: rename detection must read both blobs."""
    git(repo, "mv", "shop/payment.py", "shop/billing.py")
    (repo / "shop/billing.py").write_text(SHOP["shop/payment.py"] + "\ndef refund(card, amount):\n    return -amount\n")
    git(repo, "commit", "-q", "-am", "rename payment to billing")


def _fifo_object(repo: Path, spec: str) -> None:
    """Put a FIFO in place of the loose object `spec` names: git opening it waits for a writer forever."""
    sha = git(repo, "rev-parse", spec).decode().strip()
    path = repo / ".git" / "objects" / sha[:2] / sha[2:]
    path.unlink()
    os.mkfifo(path)


@pytest.fixture
def short_git_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("atlas.signals.git.GIT_TIMEOUT_SECONDS", 1)


def test_git_stuck_reading_a_fifo_in_the_object_store_times_out_instead_of_hanging_the_index(
    tmp_path: Path, short_git_timeout: None
) -> None:
    repo = _shop(tmp_path / "r")
    _fifo_object(repo, "HEAD^{tree}")

    started = time.monotonic()
    history = mine_history(repo)

    assert time.monotonic() - started < 20
    assert not history.available
    assert history.reason == "git cannot list the files of HEAD: git ls-tree did not finish within 1 s"


def test_git_log_stuck_on_a_blob_rename_detection_reads_is_read_again_without_renames(
    tmp_path: Path, short_git_timeout: None
) -> None:
    repo = _shop(tmp_path / "r")
    _rename_payment(repo)
    _fifo_object(repo, "HEAD~1:shop/payment.py")

    started = time.monotonic()
    history = mine_history(repo)

    assert time.monotonic() - started < 20
    assert history.available
    assert history.reason == "renames not followed (git log stalled: no output for 1 s)"
    assert history.commits_mined == 2


def test_the_pydriller_backend_stuck_on_a_fifo_blob_times_out_and_leaves_no_process(
    tmp_path: Path, short_git_timeout: None
) -> None:
    # GitPython waited forever on the git reading the FIFO: the index run hung with the pydriller backend.
    repo = _shop(tmp_path / "r")
    (repo / "shop/cart.py").write_text(SHOP["shop/cart.py"] + "# discounts\n")
    git(repo, "commit", "-q", "-am", "cart: discounts")
    _fifo_object(repo, "HEAD~1:shop/cart.py")

    started = time.monotonic()
    history = mine_history(repo, HistoryOptions(backend="pydriller"))

    assert time.monotonic() - started < 30
    assert not history.available
    assert history.reason == "pydriller stalled: no output for 1 s"
    # the gits GitPython started, stuck on the FIFO, were killed too (SIGKILL lands at once, but a loaded machine may
    # take a moment to end a process, which its parent, gone, no longer waits for)
    deadline = time.monotonic() + 10
    while _processes_working_in(repo) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_working_in(repo) == []


def _processes_working_in(directory: Path) -> list[str]:
    """Command lines of the processes whose working directory is `directory` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == directory.resolve():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_a_git_that_never_answers_gives_no_history_with_the_reason(
    tmp_path: Path, short_git_timeout: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _shop(tmp_path / "r")
    _fake_git(tmp_path, monkeypatch, "exec sleep 600")

    started = time.monotonic()
    history = mine_history(repo)

    assert time.monotonic() - started < 20
    assert (history.available, history.reason) == (False, "git rev-parse did not finish within 1 s")
    assert head_commit(repo) is None
    assert not is_ancestor(repo, "HEAD")


@pytest.mark.parametrize("backend", BACKENDS)
def test_git_variables_of_the_callers_shell_or_hook_do_not_point_atlas_at_another_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    repo = _shop(tmp_path / "r")
    write_tree(repo, {".gitignore": "*.log\n", "audit.log": "def audit_trail():\n    pass\n"})
    git(repo, "add", "-f", ".gitignore", "audit.log")
    git(repo, "commit", "-q", "-m", "audit trail")
    other = _shop(tmp_path / "other")
    git(other, "commit", "-q", "--allow-empty", "-m", "another project")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git/index"))

    report = _index_json(repo, "--history-backend", backend)

    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          env={**git_env(), "GIT_DIR": str(repo / ".git")}, check=True).stdout.strip()  # fmt: skip
    assert report["signals"]["git"]["head"] == head
    assert report["signals"]["git"]["commits_mined"] == 2
    assert report["files_indexed"] == 4  # the tracked audit.log too, though a rule ignores it
    assert head_commit(repo) == head


def test_a_partial_clone_never_fetches_the_blobs_it_lacks_through_the_command_its_config_names(tmp_path: Path) -> None:
    origin = _shop(tmp_path / "origin")
    _rename_payment(origin)
    git(origin, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--filter=blob:none", f"file://{origin}", str(clone)], env=git_env(),
                   check=True)  # fmt: skip
    marker = tmp_path / "ran"
    git(clone, "config", "remote.origin.url", "ssh://git.example.invalid/shop.git")
    git(clone, "config", "core.sshCommand", f"touch {marker}; false")

    report = _index_json(clone)

    assert not marker.exists(), "atlas ran the partial clone's core.sshCommand to fetch a missing blob"
    assert report["signals"]["git"]["available"] is True
    assert report["signals"]["git"]["commits_mined"] == 2
    assert report["signals"]["git"]["reason"].startswith("renames not followed")
    _index_json(clone, "--history-backend", "pydriller")
    assert not marker.exists(), "pydriller's git ran the partial clone's core.sshCommand to fetch a missing blob"
    environment = dict(os.environ)
    mine_history(clone, HistoryOptions(backend="pydriller"))
    assert dict(os.environ) == environment  # the caller's own git keeps its transports


def test_an_incremental_update_keeps_saying_what_limits_the_history(tmp_path: Path) -> None:
    origin = _shop(tmp_path / "origin")
    _commit_days_ago(origin, 2, "cart: discounts")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", origin.as_uri(), str(clone)], env=git_env(), check=True)
    shallow = "shallow clone: only the fetched part of the history was mined"
    assert _index_json(clone)["signals"]["git"]["reason"] == shallow
    _commit_days_ago(origin, 1, "cart: coupons")
    git(clone, "pull", "-q", "--ff-only")

    git_signals = _index_json(clone)["signals"]["git"]

    assert (git_signals["mined"], git_signals["commits_mined"]) == ("incremental", 2)
    assert git_signals["reason"] == shallow


@pytest.mark.parametrize("pulled", [False, True])
def test_a_shallow_clone_deepened_or_unshallowed_is_mined_again_to_its_new_depth(tmp_path: Path, pulled: bool) -> None:
    """`git fetch --deepen`/`--unshallow` adds commits before the ones mined, which an update (commits after the
    mined HEAD) never reads: the index stayed "unchanged" with the shallow history and its note until --rebuild."""
    origin = _shop(tmp_path / "origin")
    for days in (4, 3, 2):
        _commit_days_ago(origin, days, f"cart: change {days}")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", origin.as_uri(), str(clone)], env=git_env(), check=True)
    assert _index_json(clone)["signals"]["git"]["commits_mined"] == 1

    git(clone, "fetch", "-q", "--deepen", "2")
    deeper = _index_json(clone)
    assert deeper["mode"] != "unchanged"
    assert (deeper["signals"]["git"]["mined"], deeper["signals"]["git"]["commits_mined"]) == ("full", 3)
    assert _index_json(clone)["mode"] == "unchanged"  # a shallow clone as deep as mined is not mined again

    if pulled:
        _commit_days_ago(origin, 1, "cart: coupons")
    git(clone, "fetch", "-q", "--unshallow")
    git(clone, "merge", "-q", "--ff-only", "origin/HEAD")
    report = _index_json(clone)

    assert report["mode"] != "unchanged"
    whole = report["signals"]["git"]
    assert (whole["mined"], whole["commits_mined"], whole["reason"]) == ("full", 4 + pulled, "")


def test_a_graft_made_or_deleted_at_the_mined_head_is_mined_again(tmp_path: Path) -> None:
    """`git replace --graft` changes which commits lie behind HEAD without moving it: the index stayed "unchanged"
    with the history it had mined, the grafted-away commits in it or the restored ones missing, until --rebuild."""
    repo = _shop(tmp_path / "r")
    for days in (4, 3, 2):
        _commit_days_ago(repo, days, f"cart: change {days}")
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 4

    git(repo, "replace", "--graft", "HEAD~1")  # HEAD~1 becomes a root: two commits left behind HEAD
    grafted = _index_json(repo)
    assert grafted["mode"] != "unchanged"
    assert (grafted["signals"]["git"]["mined"], grafted["signals"]["git"]["commits_mined"]) == ("full", 2)
    assert grafted["signals"]["git"]["reason"].startswith("commits replaced or grafted (git replace)")
    assert _index_json(repo)["mode"] == "unchanged"

    git(repo, "replace", "-d", git(repo, "rev-parse", "HEAD~1").decode().strip())
    restored = _index_json(repo)

    assert restored["mode"] != "unchanged"
    assert (restored["signals"]["git"]["commits_mined"], restored["signals"]["git"]["reason"]) == (4, "")


@pytest.mark.parametrize("encoding", ["UTF-16", "UTF-32", "latin1"])
def test_a_log_output_encoding_in_the_repository_config_does_not_garble_the_log(tmp_path: Path, encoding: str) -> None:
    repo = _shop(tmp_path / "r")
    (repo / "shop/cart.py").write_text(SHOP["shop/cart.py"] + "# café\n")
    git(repo, "commit", "-q", "-am", "cart: the café's naïve discounts")
    git(repo, "config", "i18n.logOutputEncoding", encoding)

    history = mine_history(repo)

    assert (history.available, history.reason, history.commits_mined) == (True, "", 2)
    assert {path: entry.commits for path, entry in history.files.items()} == {"shop/cart.py": 2, "shop/payment.py": 1}
    assert history.words["shop/cart.py"]["naïve"] == 1
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 2


def _fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Put a `git` running `script` (sh) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _fake_git_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str, script: str) -> None:
    """Put a `git` first on PATH that runs `script` (sh) when its arguments match the `case` `pattern` and the
    real git otherwise."""
    real_git = shutil.which("git")
    _fake_git(tmp_path, monkeypatch, f'case "$*" in {pattern}) {script};; *) exec {real_git} "$@";; esac')


@pytest.mark.parametrize(
    ("faked", "garbage"),
    [("*", b"\xf7\x90 not a commit\n"), ("*' log '*", b"\x01\xff\xfe 12\x02msg\0\n\xffM\0a.py\0")],
    ids=["every command", "git log"],
)
def test_a_git_that_prints_garbage_gives_no_history_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faked: str, garbage: bytes
) -> None:
    repo = _shop(tmp_path / "r")
    (tmp_path / "garbage").write_bytes(garbage)
    _fake_git_for(tmp_path, monkeypatch, faked, f"cat '{tmp_path / 'garbage'}'")

    history = mine_history(repo)

    assert not history.available
    assert history.reason.startswith("git printed ")
    assert (head_commit(repo) is None) == (faked == "*")
    assert _index_json(repo)["signals"]["git"]["available"] is False


def test_a_git_error_that_is_not_utf8_is_reported_with_escapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git speaks the locale's charset: under de_DE.ISO-8859-1 its messages are Latin-1."""
    repo = _shop(tmp_path / "r")
    latin1 = "printf 'fatal: konnte \\374bersicht nicht lesen\\n' >&2; exit 128"
    _fake_git_for(tmp_path, monkeypatch, '*" log "*', latin1)

    report = _index_json(repo)

    assert report["signals"]["git"]["available"] is False
    assert report["signals"]["git"]["reason"] == "git log failed: fatal: konnte \\xfcbersicht nicht lesen"


def test_a_lost_old_commit_object_still_leaves_the_newer_commits_mined(tmp_path: Path) -> None:
    # Topological order fails before printing anything; the history newer than the loss is still there to read.
    repo = _shop(tmp_path / "r")
    for note in ("discounts", "coupons", "gift cards"):
        (repo / "shop/cart.py").write_text((repo / "shop/cart.py").read_text() + f"# {note}\n")
        git(repo, "commit", "-q", "-am", f"cart: {note}")
    _drop_object(repo, "HEAD~2")  # git emits a commit once its parents are read: HEAD, not HEAD~1

    history = mine_history(repo)

    assert history.available
    assert history.commits_mined == 1
    assert history.reason.startswith("only the newest 1 commits could be read (")
    assert history.files["shop/cart.py"].commits == 1
    assert _index_json(repo)["signals"]["git"]["commits_mined"] == 1


def test_history_is_mined_by_a_process_holding_over_a_thousand_files(tmp_path: Path) -> None:
    # A long-lived process (an MCP server, a benchmark holding many indexes) gets pipe descriptors above 1024,
    # which select() refuses: the stall watch must use the system's poller.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip("this machine allows fewer than 1,200 open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    repo = _shop(tmp_path / "r")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        history = mine_history(repo)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert history.available, history.reason
    assert history.commits_mined == 1


def test_a_git_message_with_escape_sequences_reaches_a_human_report_as_harmless_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git's own words become notes (why history is missing): a terminal must not run the escapes they hold.
    repo = _shop(tmp_path / "r")
    failing_log = "printf 'fatal: \\033[2J\\033]0;owned\\007 bad object\\n' >&2; exit 128"
    _fake_git_for(tmp_path, monkeypatch, '*" log "*', failing_log)
    reason = mine_history(repo).reason
    assert "bad object" in reason and "\x1b" not in reason and "\\x1b" in reason
    _index_json(repo)
    for args in (["search", "--repo", str(repo), "--explain", "--format", "human", "cart"],
                 ["explain", "--root", str(repo), "--format", "human", "cart add"]):
        result = CliRunner().invoke(cli, ["--no-color", *args])
        assert result.exit_code == 0, result.output
        assert "bad object" in result.stdout, result.stdout
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_paths_a_fake_git_prints_outside_the_root_take_no_place_in_the_fast_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # They were ranked (their names matched the task) and took --top slots before their read was refused.
    repo = _shop(tmp_path / "r")
    paths = ("../refund/charge.py", "/etc/refund_charge.py", "shop/../refund_charge.py", "shop/payment.py")
    listing = "printf '" + "".join(f"H {path}\\0" for path in paths) + "'"  # as `git ls-files -t -z` tags them
    _fake_git_for(tmp_path, monkeypatch, "*ls-files*", listing)

    from atlas.context.fast import list_files

    assert list_files(repo) == ["shop/payment.py"]
    args = ["query", "--repo", str(repo), "--preset", "fast", "--top", "1", "--format", "json", "refund charge payment"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert [entry["path"] for entry in orjson.loads(result.stdout)["entries"]] == ["shop/payment.py"]


def test_a_quiet_index_run_says_why_history_was_read_again_only_in_its_report(tmp_path: Path) -> None:
    # "git: git log failed ...; reading the history again without rename detection" reached stderr under -q.
    repo = _shop(tmp_path / "r")
    _rename_payment(repo)
    _drop_object(repo, "HEAD~1:shop/payment.py")
    env = {**git_env(), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for flags, warned in ((["-q"], False), ([], True)):
        done = subprocess.run([sys.executable, "-m", "atlas", *flags, "index", str(repo), "--format", "json",
                               "--rebuild"], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert orjson.loads(done.stdout)["signals"]["git"]["reason"].startswith("renames not followed")
        assert ("reading the history again" in done.stderr) is warned, done.stderr
        if not warned:
            assert done.stderr == ""


def test_the_pydriller_backend_mines_a_file_and_a_message_that_look_like_its_stream_marks(tmp_path: Path) -> None:
    # The pydriller child writes each commit behind a \x01 token: a file or a message made of that byte alone must
    # still read as text, as the git backend reads it.
    repo = _shop(tmp_path / "r")
    (repo / "\x01").write_text("odd\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "\x01")

    mined = {backend: mine_history(repo, HistoryOptions(backend=backend)) for backend in BACKENDS}

    assert all(history.available for history in mined.values()), [h.reason for h in mined.values()]
    assert mined["pydriller"].files.keys() == mined["git"].files.keys() and "\x01" in mined["git"].files
    assert mined["pydriller"].commits_mined == mined["git"].commits_mined == 2


def test_a_commit_message_of_many_megabytes_is_mined_in_linear_time(tmp_path: Path) -> None:
    # Each 64 KiB read was joined to the whole unfinished token before it: a 100 MB message (a changelog pasted
    # whole, or a hostile repository's) took 79 s to mine where git prints it in 0.4 s, and a GB took hours.
    repo = _shop(tmp_path / "r")
    message = tmp_path / "message"
    message.write_bytes(b"Throttle the cart\n\n" + b"changelog entry " * 4_000_000)  # 64 MB
    (repo / "shop/cart.py").write_text("class Cart:\n    pass\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-F", str(message))
    message.unlink()

    started = time.monotonic()
    history = mine_history(repo)

    assert time.monotonic() - started < 10
    assert history.commits_mined == 2 and history.files["shop/cart.py"].commits == 2
    assert {"throttle", "cart", "changelog", "entry"} <= set(history.words["shop/cart.py"])


def _force_added(root: Path) -> Path:
    """A repository whose `keep.log` is tracked (`git add -f`) although `.gitignore` ignores `*.log`."""
    write_tree(root, {**SHOP, ".gitignore": "*.log\n", "keep.log": "the release checklist\n", "noise.log": "x\n"})
    init_repo(root, commit=False)
    git(root, "add", "-A")
    git(root, "add", "-f", "keep.log")
    git(root, "commit", "-q", "--no-verify", "-m", "initial")
    return root


def _index_process(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atlas", "-q", "index", str(repo), "--no-history", "--format", "json"],
                          capture_output=True, text=True, timeout=120, env=git_env())  # fmt: skip


def _indexed_paths(repo: Path) -> set[str]:
    from atlas.index import store
    from atlas.index.writer import FileTable

    generation = store.current_generation(repo / ".atlas")
    assert generation is not None
    return {path for path in FileTable.from_json((generation / store.FILES).read_bytes()).paths if path}


def test_regression_a_corrupt_git_index_keeps_the_ignored_files_git_tracks_and_says_so(tmp_path: Path) -> None:
    # With `.git/index` corrupt ("fatal: index file corrupt"), `git ls-files --ignored` failed and the walk fell back
    # to the ignore rules alone: `keep.log`, force-added, was silently left out. The last commit now stands in for the
    # index, and the summary and stderr say why.
    repo = _force_added(tmp_path / "repo")
    index_file = repo / ".git" / "index"
    index_file.write_bytes(b"XXXX" + index_file.read_bytes()[4:])
    assert subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, env=git_env()).returncode != 0

    done = _index_process(repo)

    assert done.returncode == 0, done.stderr
    assert _indexed_paths(repo) == {*SHOP, ".gitignore", "keep.log"}
    [note] = orjson.loads(done.stdout)["notes"]
    assert "git could not read its index (index file corrupt)" in note and "last commit" in note, note
    assert f"atlas: note: {note}" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_regression_a_repository_git_refuses_says_its_tracked_ignored_files_are_left_out_and_how_to_trust_it(
    tmp_path: Path,
) -> None:
    # A repository owned by another user: git refuses it ("detected dubious ownership"), and the walk silently left
    # out the files it tracks although ignored. Now a note names the cause and the command that trusts it.
    repo = _force_added(tmp_path / "repo")
    for path in (repo, *repo.rglob("*")):
        os.lchown(path, 65534, 65534)

    done = _index_process(repo)

    assert done.returncode == 0, done.stderr
    assert "keep.log" not in _indexed_paths(repo)
    [note] = orjson.loads(done.stdout)["notes"]
    assert "owned by another user" in note and f"git config --global --add safe.directory {repo}" in note, note
    assert f"atlas: note: {note}" in done.stderr


def test_regression_the_pydriller_backend_leaves_the_repository_git_config_as_it_was(tmp_path: Path) -> None:
    # pydriller sets blame.markUnblamableLines in the repository's own .git/config whenever it opens the repository,
    # rewriting the file through GitPython: `atlas index --history-backend pydriller` dropped the user's comments,
    # requoted values, and could lock the config under a git command of the user's; a read-only repository gave no
    # history ("git failed under pydriller: [Errno 30] Read-only file system: '.../.git/config.lock'").
    repo = _shop(tmp_path / "r")
    config = repo / ".git" / "config"
    config.write_bytes(config.read_bytes() + b"# the team's aliases\n[alias]\n\tlg = log --oneline ; short\n")
    written = config.read_bytes()

    history = mine_history(repo, HistoryOptions(backend="pydriller"))

    assert history.available, history.reason
    assert config.read_bytes() == written
