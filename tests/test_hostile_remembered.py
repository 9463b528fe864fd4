"""Remembered settings and restored caches in a hostile world: what an index remembers (`settings` in its manifest)
is read back as untrusted input, and a cache restored read-only, with its mtimes reset, into a moved repository or
from another commit, answers correctly or says why it cannot.

Every test runs the real CLI in its own process on a real git repository.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import git, git_env, init_repo, write_tree

FILES = {"billing/invoice.py": "def invoice_total(lines):\n    return sum(lines)\n", "README.md": "# Billing\n"}


CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, PR_CAPBSET_DROP = 1, 2, 3, 24  # linux/capability.h, prctl.h


def atlas(cwd: Path, *args: str, as_other_user: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `python -m atlas *args` in `cwd`: the exit code, stdout and stderr. With `as_other_user`, root without the
    capabilities that override permissions: the index's files read as another user reads them."""
    return subprocess.run([sys.executable, "-m", "atlas", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120,
                          preexec_fn=_without_permission_override if as_other_user else None)  # fmt: skip


def _without_permission_override() -> None:
    """`preexec_fn`: the child, still uid 0 (its Python may live under /root), obeys file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def built(root: Path, *flags: str) -> Path:
    """A committed repository at `root` holding FILES, indexed with `flags`."""
    write_tree(root, FILES)
    init_repo(root)
    done = atlas(root, "-q", "index", *flags)
    assert done.returncode == 0, done.stderr
    return root


def edit_manifest(root: Path, **settings: Any) -> None:
    """Write `settings` into the live index's remembered settings, as a hand edit (or an older Atlas) would."""
    generation = root / ".atlas" / (root / ".atlas" / "CURRENT").read_text().strip()
    manifest = orjson.loads((generation / "manifest.json").read_bytes())
    manifest["settings"].update(settings)
    (generation / "manifest.json").write_bytes(orjson.dumps(manifest))


@pytest.mark.parametrize(
    ("built_with", "remembered"),
    [
        # '56 years ago' remembered, a year on: git would read it as the far future and mine nothing
        (["--since", "50 years ago"], {"history_since": "57 years ago"}),
        (["--max-file-size", "5000"], {"max_file_bytes": "big"}),
        (["--max-file-size", "5000"], {"max_file_bytes": -1}),
        (["--half-life", "30"], {"history_half_life_days": 0}),
        (["--history", "20"], {"history_commits": True}),
        (["--history", "20"], {"history_commits": 1e300}),
        (["--no-history"], {"git_history": "no"}),
        ([], {"cochange_max_files": [50]}),
    ],
)
def test_a_remembered_setting_no_longer_valid_is_not_remembered(
    tmp_path: Path, built_with: list[str], remembered: dict[str, Any]
) -> None:
    """A remembered value its rule refuses today made every command (search, status, verify, index) exit 2 naming
    an 'index setting' the user never gave; now the search answers, status calls the index out of date naming the
    setting when its value was not the default, and `atlas index` rebuilds it with the value the flags,
    atlas.toml or the default give."""
    root = built(tmp_path / "repo", *built_with)
    edit_manifest(root, **remembered)
    name = next(iter(remembered))
    searched = atlas(root, "search", "invoice total", "--format", "jsonl")
    assert searched.returncode == 0, searched.stderr
    assert "billing/invoice.py" in searched.stdout
    status = atlas(root, "status", "--format", "human")
    assert status.returncode == (7 if built_with else 0), status.stderr
    assert (f"index settings changed ({name}" in status.stdout) == bool(built_with)
    assert atlas(root, "verify").returncode == 0
    rebuilt = atlas(root, "index", "--format", "human")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert atlas(root, "status").returncode == 0


def cache_of_older_commit(tmp_path: Path) -> Path:
    """A CI restore: FILES committed and indexed, then a commit deleting `billing/invoice.py`; a fresh clone of it
    elsewhere gets the first commit's `.atlas` back through tar with every mtime reset (`tar --touch`)."""
    source = built(tmp_path / "source")
    git(source, "rm", "-q", "billing/invoice.py")
    git(source, "commit", "-q", "-m", "drop the invoices")
    archive = tmp_path / "cache.tar"
    subprocess.run(["tar", "-C", source, "-cf", archive, ".atlas"], check=True)
    clone = tmp_path / "moved" / "clone"
    subprocess.run(["git", "clone", "-q", source, clone], check=True, env=git_env())
    subprocess.run(["tar", "--touch", "-C", clone, "-xf", archive], check=True)
    return clone


@pytest.mark.parametrize("output", [["-l"], ["--format", "jsonl"], ["--format", "human"]])
def test_a_cache_of_an_older_commit_says_its_hits_name_deleted_files(tmp_path: Path, output: list[str]) -> None:
    """A search of a cache restored from the commit before a deletion served the deleted file first and said
    nothing on stderr in the default formats (the note was in --format json and --explain only); now stderr says
    the index is older than the tree, stdout stays the hits, and after `atlas index` the file is gone."""
    clone = cache_of_older_commit(tmp_path)
    searched = atlas(clone, "search", "invoice_total", *output)
    assert searched.returncode == 0, searched.stderr
    assert "billing/invoice.py" in searched.stdout
    assert "no longer in the work tree (billing/invoice.py)" in searched.stderr
    assert "run `atlas index`" in searched.stderr
    assert atlas(clone, "status").returncode == 7
    assert atlas(clone, "-q", "index").returncode == 0
    again = atlas(clone, "search", "invoice_total", *output)
    assert "billing/invoice.py" not in again.stdout and "no longer in the work tree" not in again.stderr


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="another user's files need root to make")


def owned_by_another_user(root: Path) -> None:
    """Hand the index at `root` to uid 65534 (nobody), as a cache restored from another job's user is."""
    for directory, names, files in os.walk(root / ".atlas"):
        for name in [directory, *(os.path.join(directory, n) for n in names + files)]:
            os.lchown(name, 65534, 65534)


@needs_root
def test_an_index_built_by_another_user_is_searched(tmp_path: Path) -> None:
    """tantivy writes meta.json and .managed.json 0600: an index built by one user (a CI job's, a container's uid
    10001) and restored or shared for another was 'damaged' (exit 4, 'rebuild it') to every search, though the
    README promises a shared directory works as is. A generation's files now get the umask's permissions."""
    root = built(tmp_path / "repo")
    owned_by_another_user(root)
    searched = atlas(root, "search", "invoice total", "-l", as_other_user=True)
    assert searched.returncode == 0, searched.stderr
    assert "billing/invoice.py" in searched.stdout
    assert atlas(root, "status", as_other_user=True).returncode == 0
    assert atlas(root, "verify", as_other_user=True).returncode == 0


@needs_root
@pytest.mark.parametrize("command", [["search", "invoice"], ["status"], ["verify"], ["query", "invoice"]])
def test_an_index_file_this_user_may_not_read_is_not_called_damaged(tmp_path: Path, command: list[str]) -> None:
    """An index file another user keeps to itself (mode 0600) made search and status call the index damaged (exit
    4) with a hint to rebuild it, which this user cannot do; now every command names the file and the permission,
    exit 3, as verify did."""
    root = built(tmp_path / "repo")
    generation = root / ".atlas" / (root / ".atlas" / "CURRENT").read_text().strip()
    (generation / "tantivy" / "meta.json").chmod(0o600)
    owned_by_another_user(root)
    done = atlas(root, *command, as_other_user=True)
    assert done.returncode == 3, done.stderr
    assert "meta.json: this user is not allowed to (Permission denied)" in done.stderr
    assert "damaged" not in done.stderr and "--rebuild" not in done.stderr


def edit_manifest_field(root: Path, name: str, value: Any) -> None:
    """Set the live index's manifest field `name` to `value` (None removes it), as a hand edit would."""
    generation = root / ".atlas" / (root / ".atlas" / "CURRENT").read_text().strip()
    manifest = orjson.loads((generation / "manifest.json").read_bytes())
    manifest.pop(name) if value is None else manifest.update({name: value})
    (generation / "manifest.json").write_bytes(orjson.dumps(manifest))


@pytest.mark.parametrize("boosts", [None, {}, "x", {"path": 2}, {"filename": "x", "symbols": [], "content": -1}])
def test_a_manifest_whose_boosts_are_missing_or_wrong_searches_with_the_defaults(tmp_path: Path, boosts: Any) -> None:
    """The index's default field boosts come from its manifest: missing, they made every search match no field
    ('no results' from an index status called fresh); naming another field or holding text, an unexpected error.
    Each boost that is missing or fails is now the default."""
    root = built(tmp_path / "repo")
    before = atlas(root, "search", "invoice total", "--format", "jsonl", "--no-lines").stdout
    edit_manifest_field(root, "boosts", boosts)
    after = atlas(root, "search", "invoice total", "--format", "jsonl", "--no-lines")
    assert after.returncode == 0, after.stderr
    assert [orjson.loads(line)["path"] for line in after.stdout.splitlines()] == [
        orjson.loads(line)["path"] for line in before.splitlines()
    ]


@pytest.mark.parametrize("count", [1e308, -1, "many", [2]])
def test_a_manifest_file_count_that_is_no_count_is_damage(tmp_path: Path, count: Any) -> None:
    """status read the manifest's `files_indexed` through `int`: 1e308 became a 309-digit number the JSON output
    could not write (exit 3, 'unexpected error'), -1 was shown as it was. Both are damage now, as text was."""
    root = built(tmp_path / "repo")
    edit_manifest_field(root, "files_indexed", count)
    done = atlas(root, "status", "--format", "json")
    assert done.returncode == 4, done.stderr
    assert "the index is damaged (its file count is" in done.stderr and "unexpected" not in done.stderr
