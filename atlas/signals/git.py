"""Per-file change history and co-change pairs, mined from a repository's git history.

This module owns everything Atlas learns from git. `mine_history` runs ONE streaming
`git log --no-merges --topo-order -M --name-status -z` and folds the commits, newest first, into a
`History`: per file, how often and how recently it changed (a half-life decayed count), and which
files change together with it. Renames are followed to today's path; files that are not at HEAD
are left out. The words of each commit's message are counted for the files it touched (commits touching
at most `max_message_files`): what a project calls a change is how its issues describe it. It hands the
`History` on to `build`; nothing here imports other Atlas layers (only the tokenizer, `atlas.terms`).

A repository that cannot be mined (git missing, not a repository, no commits) gives
`History(available=False, reason=...)`, never an exception. History is an input to ranking, not a
precondition: when git fails half-way (objects missing from a partial or damaged clone) the log is
read again without rename detection (which is what reads file contents), and if that fails too the
commits read before the failure are kept, with `reason` saying what happened. Such a history is mined whole again
by the next update (`read_in_part`): once more at its HEAD, then at each new HEAD.

The `pydriller` backend computes the same `History` through pydriller's Repository API. It is about
100x slower and exists as the test oracle. `merge_histories` and `is_ancestor` support incremental
mining: mine `since_commit..HEAD` and merge it into the previous `History`.
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from heapq import nsmallest
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, NamedTuple

from atlas.errors import SignalError
from atlas.safe_read import fs_path, quoted_value, visible
from atlas.terms import tokenize
from atlas.walk import GIT_NOT_RUN, GIT_SAFETY_OPTIONS, GIT_TIMEOUT_SECONDS, git_environment, git_run, repository_top

if TYPE_CHECKING:
    from pydriller import ModifiedFile

log = logging.getLogger(__name__)

DAY: Final = 86_400
BACKENDS: Final = ("git", "pydriller")
PROGRESS_EVERY: Final = 5000  # commits between two progress reports of mine_history

# Every commit header starts with \x01. Status tokens never do, and paths are consumed by count
# (one, or two after R/C), so a path that starts with \x01 cannot be mistaken for a header.
_HEADER: Final = b"\x01"
_LOG_FORMAT: Final = "--format=%x01%H %ct%x02%B"
_MESSAGE: Final = b"\x02"
MAX_MESSAGE_CHARS: Final = 2000  # of a commit message, for its words: squashed merges list whole changelogs
_CHUNK: Final = 1 << 16
_MAX_TOKEN: Final = 1 << 20  # bytes of one token `_tokens` keeps: no path is as long, a message's words are first
_OBJECT_ID: Final = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256
_STATUS_LETTERS: Final = frozenset(bytes([letter]) for letter in b"ACDMRTUXB")
_MAX_TIME_DIGITS: Final = 18  # a committer time of more digits could overflow int64
# Pin every setting that changes what `git log` prints, whatever the user's config says.
_LOG_CONFIG: Final = (
    *("-c", "core.quotepath=off"),
    *("-c", "log.showRoot=true"),
    *("-c", "log.showSignature=false"),
    *("-c", "diff.relative=false"),
    *("-c", "color.ui=never"),
    *("-c", "i18n.logOutputEncoding=UTF-8"),  # UTF-16 would put NULs in messages, and -z splits on them
)
_PYDRILLER_KINDS: Final = {"ADD": "A", "DELETE": "D", "RENAME": "R", "COPY": "C", "MODIFY": "M"}


@dataclass(frozen=True, slots=True)
class FileHistory:
    """How often and how recently one file changed inside the mined window."""

    commits: int  # commits that touched the file (non-merge, inside the window)
    last_change: int  # unix time (committer time) of the newest such commit
    decayed: float  # sum of 0.5 ** (age_days / half_life_days), age relative to History.newest_time


@dataclass(frozen=True, slots=True)
class CoChange:
    """A file that changed together with the source file."""

    path: str
    support: int  # commits touching both files
    confidence: float  # support / commits of the source file


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """What to mine and how to weigh it. Invalid values raise ValueError."""

    max_commits: int | None = 10_000
    since: str | None = None  # passed to git as --since
    half_life_days: float = 90.0
    max_commit_files: int = 50  # commits touching more files are left out of co-change
    max_message_files: int = 8  # commits touching more files lend their message's words to none
    top_k: int = 20  # co-change partners kept per file
    backend: str = "git"  # "git" (streaming git log) or "pydriller" (slow, the test oracle)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days}")
        counts = {"max_commits": self.max_commits or 0, "max_commit_files": self.max_commit_files,
                  "max_message_files": self.max_message_files}  # fmt: skip
        for name, value in (*counts.items(), ("top_k", self.top_k)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")


DEFAULT_OPTIONS: Final = HistoryOptions()


@dataclass(frozen=True, slots=True)
class History:
    """What git says about the files of one root. Paths are relative to the root, `/`-separated.

    `files` holds only files at HEAD that some mined commit touched; `cochange` holds only files
    with at least one partner. `tracked` and `moved` let `merge_histories` re-key an older History:
    `tracked` is every path at HEAD, `moved` maps a path seen in a mined commit to the path its file
    has today (None: the file is gone) for every path a mined commit renamed.
    """

    available: bool
    reason: str  # why unavailable ("not a git repository", "no commits"), or what limits an available one, or ""
    head: str | None  # HEAD commit sha that was mined
    newest_time: int  # committer time of the newest mined commit (0 when none was mined)
    commits_mined: int
    files: dict[str, FileHistory]  # keyed by today's path (renames followed)
    cochange: dict[str, tuple[CoChange, ...]]  # top_k partners per path: support desc, then path
    tracked: frozenset[str] = frozenset()
    moved: dict[str, str | None] = field(default_factory=dict)
    words: dict[str, dict[str, int]] = field(default_factory=dict)  # path → word → count in its commits' messages


class _Change(NamedTuple):
    """One line of `--name-status`: kind is the status letter; source differs from path for R and C."""

    kind: str
    source: str
    path: str


class _Commit(NamedTuple):
    sha: str
    time: int  # committer time
    changes: tuple[_Change, ...]
    message: str = ""


@dataclass(frozen=True, slots=True)
class _Repo:
    git: str  # the git executable
    root: Path
    prefix: str  # the root's path inside the repository: "" or "sub/dir/"
    head: str
    keys: dict[str, str]  # repository path at HEAD under the root → path relative to the root


def mine_history(
    root: Path,
    options: HistoryOptions = DEFAULT_OPTIONS,
    since_commit: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> History:
    """Mine the git history of `root` (a work tree, a subdirectory of one, or a bare repository).

    `since_commit` mines only `since_commit..HEAD`, for `merge_histories`; check `is_ancestor`
    first, since a rewritten history needs a full mine. `max_commits` still applies, so a window
    that comes back with `commits_mined == max_commits` may be cut: mine in full then.

    Never raises for git's sake: a missing git, a directory that is not a repository (or that git
    refuses to read) or a repository without commits give `available=False` and a reason; git
    failing part-way gives what could be read, with `reason` naming the failure (see the module doc).
    `progress(n)` is called after every PROGRESS_EVERY commits read.
    """
    started = time.perf_counter()
    repo = _open_repo(Path(root))
    if isinstance(repo, str):
        return _unavailable(repo)
    history = _mine(repo, options, since_commit, progress)
    elapsed = time.perf_counter() - started
    log.debug("git: mined %d commits of %s in %.2fs", history.commits_mined, root, elapsed)
    return history


def _mine(
    repo: _Repo, options: HistoryOptions, since_commit: str | None, progress: Callable[[int], None] | None
) -> History:
    """Fold the commits into a History; on a git failure retry without renames, then keep what was read."""
    folder, failure = _fold(repo, options, since_commit, True, progress)
    if failure is None:
        return _noted(folder.history(repo, options), _reasons(_shallow_note(repo), _replaced_note(repo)))
    # A quiet run (no progress callback: `-q`, the MCP server) says it only in the history's reason.
    warn = log.warning if progress is not None else log.debug
    warn("git: %s; reading the history again without rename detection", failure)
    plain, plain_failure = _fold(repo, options, since_commit, False, progress)
    if plain_failure is None:
        return _noted(plain.history(repo, options), f"{_NO_RENAMES}({failure})")
    best = max((folder, plain), key=lambda side: side.commits)
    if not best.commits and options.backend == "git":
        # Topological order walks the whole graph before the first commit comes out: a lost old commit object
        # fails it with nothing read. Date order streams, so the commits newer than the loss are still read.
        best, _ = _fold(repo, options, since_commit, False, progress, topo=False)
    if not best.commits:
        return _unavailable(failure)
    return _noted(best.history(repo, options), f"{_ONLY_NEWEST}{best.commits} commits could be read ({failure})")


def _fold(
    repo: _Repo,
    options: HistoryOptions,
    since_commit: str | None,
    renames: bool,
    progress: Callable[[int], None] | None,
    topo: bool = True,
) -> tuple[_Folder, str | None]:
    """The commits folded until the end of the log or git's failure, and that failure's description."""
    folder = _Folder(repo.keys, options.max_commit_files, options.max_message_files)
    commits = _BACKEND_COMMITS[options.backend](repo, options, since_commit, renames, topo)
    try:
        for count, commit in enumerate(commits, 1):
            folder.add(commit)
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(count)
    except SignalError as error:
        return folder, error.message
    return folder, None


def _noted(history: History, note: str) -> History:
    return replace(history, reason=note) if note else history


_NO_RENAMES: Final = "renames not followed "
_ONLY_NEWEST: Final = "only the newest "
READ_AGAIN_NOTE: Final = "the same when read again"


def read_in_part(history: History) -> bool:
    """Whether git failed part-way through mining `history` (`_mine` kept what it could read): a failure that may
    not last (a stalled or killed git, objects a later fetch brings), so an update mines it again."""
    return history.available and any(
        part.startswith((_NO_RENAMES, _ONLY_NEWEST)) for part in history.reason.split("; ")
    )


def read_again(previous: History, again: History) -> History:
    """`again`, the history of `previous`'s HEAD mined a second time; noted when git failed the same way, so that
    updates at this HEAD keep it instead of mining it a third time."""
    if read_in_part(again) and again.head == previous.head and READ_AGAIN_NOTE not in again.reason:
        return replace(again, reason=_reasons(again.reason, READ_AGAIN_NOTE))
    return again


SHALLOW_NOTE: Final = "shallow clone: only the fetched part of the history was mined"


def _shallow_note(repo: _Repo) -> str:
    shallow = _git_output(repo.git, repo.root, "rev-parse", "--is-shallow-repository")
    return SHALLOW_NOTE if shallow == b"true\n" else ""


REPLACED_NOTE: Final = "commits replaced or grafted (git replace): the history is mined as git log shows it"


def _replaced_note(repo: _Repo) -> str:
    return REPLACED_NOTE if has_replacements(repo.root) else ""


def has_replacements(root: Path) -> bool:
    """Whether the repository holds `git replace` refs (grafts too), which change the history git log shows."""
    git = shutil.which("git")
    out = _git_output(git, Path(root), "for-each-ref", "--count=1", "--format=x", "refs/replace/") if git else None
    return bool(out and out.strip())


def commits_to_mine(root: Path, commit: str, options: HistoryOptions = DEFAULT_OPTIONS) -> int | None:
    """How many commits a full mine at `commit` reads (`--no-merges`, within `max_commits` and `since`), counted
    by `git rev-list`; None when git cannot tell. A shallow clone counts as far as it was fetched."""
    git = shutil.which("git")
    if git is None or not commit or commit.startswith("-"):
        return None
    window = [f"--max-count={options.max_commits}"] if options.max_commits is not None else []
    window += [f"--since={options.since}"] if options.since else []
    out = _git_output(git, Path(root), "rev-list", "--count", "--no-merges", *window, "--end-of-options", commit, "--")
    text = (out or b"").strip()
    return int(text) if text.isdigit() else None


def head_commit(root: Path) -> str | None:
    """The sha of HEAD, or None when `root` is not a git repository with commits (or git is missing)."""
    git = shutil.which("git")
    if git is None or _work_tree_elsewhere(root):
        return None
    return _object_id(_git_output(git, Path(root), "rev-parse", "--verify", "--quiet", "HEAD^{commit}"))


def named_head(root: Path) -> str | None:
    """The sha HEAD names, or None (no commits, not a repository, no git). Its commit object is not read: a check
    run before every MCP answer never waits on a damaged object store (a FIFO in place of the object)."""
    git = shutil.which("git")
    if git is None or _work_tree_elsewhere(root):
        return None
    return _object_id(_git_output(git, Path(root), "rev-parse", "--verify", "--quiet", "HEAD"))


def _work_tree_elsewhere(root: Path) -> str:
    """Why git's history is not `root`'s, when its repository keeps its files elsewhere (`core.worktree`); else ""."""
    return repository_top(root)[1]


def is_ancestor(root: Path, commit: str) -> bool:
    """True if `commit` is HEAD or an ancestor of HEAD, so `since_commit=commit` mining is valid.

    False when the history was rewritten, the commit is unknown (or cut off by a shallow clone),
    or git cannot be run at all.
    """
    git = shutil.which("git")
    if git is None or not commit or commit.startswith("-"):
        return False
    return _git_run(git, Path(root), "merge-base", "--is-ancestor", commit, "HEAD").returncode == 0


def merge_histories(old: History, new: History, options: HistoryOptions = DEFAULT_OPTIONS) -> History:
    """Combine a History with the History of the commits mined after it (`since_commit=old.head`).

    Counts and supports add up; decayed counts are rescaled to the newer newest_time; old paths
    follow the renames and deletions of the new window; what limits either side (a shallow clone, renames not
    followed) still limits the whole, so both reasons are kept. Exact except for two losses: co-change
    partners that fell out of either side's top_k, and the old history of a path that was not at
    the old HEAD but exists again today (`atlas.signals.compute` mines the whole history again in both cases).
    """
    if not new.available:
        return _unmined_after(old, new.reason) if old.available else old
    if not old.available:
        return new
    newest = max(old.newest_time, new.newest_time)
    rekey = _rekeyer(new)
    files = _merge_files(old, new, newest, rekey, options.half_life_days)
    rows = _merge_supports(old, new, rekey)
    return History(
        available=True,
        reason=_reasons(new.reason, *(r for r in old.reason.split("; ") if not r.startswith(_UNMINED))),
        head=new.head,
        newest_time=newest,
        commits_mined=old.commits_mined + new.commits_mined,
        files=files,
        cochange=_cochange(rows, files, options.top_k),
        tracked=new.tracked,
        moved=_merge_moved(old, new, rekey),
        words=_merge_words(old, new, rekey),
    )


_UNMINED = "the commits after "


def _unmined_after(old: History, why: str) -> History:
    """`old`, saying that the commits after its HEAD could not be mined (`why`): its HEAD stays, so the next
    update mines them again, and a merge that manages it drops the note."""
    note = f"{_UNMINED}{(old.head or '')[:12]} could not be mined, so the history ends there ({why.replace(';', ',')})"
    kept = (r for r in old.reason.split("; ") if not r.startswith(_UNMINED))
    return replace(old, reason=_reasons(note, *kept))


def ends_before_head(reason: str) -> bool:
    """Whether a history's `reason` says that the commits after its HEAD could not be mined (`history_not_mined`):
    it knows it is behind, and the next update mines them again."""
    return any(part.startswith(_UNMINED) for part in reason.split("; "))


def history_not_mined(previous: History | None, why: str) -> History:
    """The history to go on with when mining failed as a whole (`why`): `previous`, noted as ending at its HEAD so
    that the next update mines the rest, or an unavailable one."""
    if previous is not None and previous.available:
        return _unmined_after(previous, why)
    return _unavailable(why)


def _reasons(*reasons: str) -> str:
    return "; ".join(dict.fromkeys(reason for reason in reasons if reason))


# --- opening the repository -------------------------------------------------------------------


def _unavailable(reason: str) -> History:
    return History(False, reason, None, 0, 0, {}, {})


def _path(raw: bytes) -> str:
    """A path as git printed it, in the walk's form (`atlas.walk.display_path`): bytes that are not
    UTF-8 become `\\xNN` escapes, so keys match the walk's paths and serialise as JSON."""
    return raw.decode("utf-8", "backslashreplace")


def _git_args(git: str, root: Path, *args: str | bytes) -> list[str | bytes]:
    return [git, "-C", str(root), *GIT_SAFETY_OPTIONS, *_LOG_CONFIG, *args]


def _git_output(git: str, root: Path, *args: str) -> bytes | None:
    """Stdout of a short git command, or None if it failed."""
    proc = _git_run(git, root, *args)
    return proc.stdout if proc.returncode == 0 else None


PATHSPEC_BATCH = 200


def touched_by_then(root: Path, commit: str, paths: Collection[str]) -> bool:
    """Whether `commit` or a commit before it touched any of `paths` (relative to `root`): a file deleted before
    an older HEAD and added again since has a history a merge cannot bring back. True when git cannot tell."""
    git = shutil.which("git")
    if git is None or not commit or commit.startswith("-"):
        return True
    listed = sorted(paths)
    for at in range(0, len(listed), PATHSPEC_BATCH):
        specs = [spec for path in listed[at : at + PATHSPEC_BATCH] for spec in _literal_pathspecs(path)]
        done = _git_run(git, root, "log", "-1", "--format=%H", commit, "--", *specs)
        if done.returncode != 0 or done.stdout.strip():
            return True
    return False


def _literal_pathspecs(path: str) -> list[str | bytes]:
    """Pathspecs naming the file whose walk name is `path`: that name, and when it holds `\\xNN` escapes, the name
    on disk (`fs_path`: the bytes a name that is not UTF-8 has). Git matches bytes, and a display name with a
    backslash names no file that is not UTF-8; a name that merely holds the text `\\xe9` is matched by the first."""
    raw = fs_path(path)
    specs: list[str | bytes] = [f":(literal){path}"]
    if isinstance(raw, bytes):
        specs.append(b":(literal)" + raw)
    return specs


def _git_run(git: str, root: Path, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    """`atlas.walk.git_run` with the settings that pin what `git log` prints (_LOG_CONFIG)."""
    return git_run(git, str(root), *_LOG_CONFIG, *args, timeout=GIT_TIMEOUT_SECONDS)


def _open_repo(root: Path) -> _Repo | str:
    """The repository at `root`, or the reason it cannot be mined."""
    git = shutil.which("git")
    if git is None:
        return "git is not installed"
    if elsewhere := _work_tree_elsewhere(root):
        return elsewhere
    where = _git_run(git, root, "rev-parse", "--show-prefix")
    if where.returncode != 0:
        return _not_a_repository(where)
    head = _git_output(git, root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if head is None:
        return _no_head_commit(git, root)
    sha = _object_id(head)
    if sha is None:
        return f"git printed {quoted_value(head[:40])} for the commit of HEAD"
    listing = _git_run(git, root, "ls-tree", "-r", "--full-tree", "--name-only", "-z", sha)
    if listing.returncode != 0:
        return f"git cannot list the files of HEAD: {_first_stderr_line(listing.stderr)}"
    under = _path(where.stdout).removesuffix("\n")
    return _Repo(git, root, under, sha, _tracked_keys(listing.stdout, under))


def _no_head_commit(git: str, root: Path) -> str:
    """Why HEAD names no commit to mine: none was made yet, or HEAD names one git cannot read (a damaged clone: a
    packfile or loose object lost), which was said as "no commits" of a repository with thousands."""
    named = _object_id(_git_output(git, root, "rev-parse", "--verify", "--quiet", "HEAD"))
    if named is None:
        return _unborn_branch(git, root)
    return f"git cannot read the commit of HEAD ({named[:12]}): its object is missing or damaged"


_NO_COMMIT_NAMED: Final = ("git is not installed", "not a git repository", "git refuses a repository", "no commits")


def named_no_commit(reason: str) -> bool:
    """Whether a history is unavailable (`reason`) because HEAD named no commit that git would read when it was
    mined: git missing or refusing the repository, no repository yet, or no commit yet on the current branch. A
    commit that HEAD names since is mined by the next update."""
    unborn = reason.startswith("the current branch (") and " has no commits yet: " in reason
    return unborn or reason.startswith(_NO_COMMIT_NAMED)


def _unborn_branch(git: str, root: Path) -> str:
    """Why HEAD names no commit when none was made on its branch: "no commits" in a repository without any, else the
    branch (`git checkout --orphan`) is named, since the repository's other branches have commits."""
    branch = unborn_branch(root)
    elsewhere = _git_output(git, root, "for-each-ref", "--count=1", "--format=x", "refs/")
    if not branch or not elsewhere or not elsewhere.strip():
        return "no commits"
    return f"the current branch ({branch}) has no commits yet: the commits of other branches are not mined"


def unborn_branch(root: Path) -> str | None:
    """The branch HEAD names when no commit was made on it yet (`git init`, `git checkout --orphan`), as shown
    (`visible`); None when HEAD names a commit, or git cannot tell."""
    git = shutil.which("git")
    if git is None or named_head(root) is not None:
        return None
    branch = _git_output(git, Path(root), "symbolic-ref", "--quiet", "--short", "HEAD")
    return visible(_path(branch).strip()) if branch and branch.strip() else None


def _object_id(out: bytes | None) -> str | None:
    """The object id a `git rev-parse` printed, or None for anything else (a git wrapper printing garbage)."""
    text = (out or b"").strip()
    return text.decode("ascii") if _OBJECT_ID.fullmatch(text) else None


def _not_a_repository(failed: subprocess.CompletedProcess[bytes]) -> str:
    if failed.returncode == GIT_NOT_RUN:
        return _first_stderr_line(failed.stderr)
    if b"safe.directory" in failed.stderr:  # git >= 2.35.2 refuses repositories owned by another user
        return "git refuses a repository owned by another user (see `git config safe.directory`)"
    return "not a git repository"


def _tracked_keys(listing: bytes, prefix: str) -> dict[str, str]:
    """Map each path at HEAD under `prefix` to its path relative to the root."""
    paths = (_path(path) for path in listing.split(b"\0") if path)
    return {path: path[len(prefix) :] for path in paths if path.startswith(prefix)}


# --- the git backend: one streaming `git log` ---------------------------------------------------


def _log_args(
    repo: _Repo, options: HistoryOptions, since_commit: str | None, renames: bool = True, topo: bool = True
) -> list[str | bytes]:
    # --topo-order puts children before parents, which following renames needs (date order does
    # not, under clock skew). It costs one walk of the commit graph before the first commit comes
    # out: 0.09 s on pytest, 0.3 s for 100k commits without a commit-graph file.
    follow = "-M" if renames else "--no-renames"
    order = ("--topo-order",) if topo else ()
    args = ["log", "--no-merges", *order, follow, "--name-status", "-z", "--no-color", _LOG_FORMAT]
    if options.max_commits is not None:
        args.append(f"--max-count={options.max_commits}")
    if options.since:
        args.append(f"--since={options.since}")
    window = f"{since_commit}..{repo.head}" if since_commit else repo.head
    return _git_args(repo.git, repo.root, *args, "--end-of-options", window, "--")


def _git_commits(
    repo: _Repo, options: HistoryOptions, since_commit: str | None, renames: bool = True, topo: bool = True
) -> Iterator[_Commit]:
    """Commits newest first (children before parents; without `topo`, by commit date), parsed from the pipe as git
    writes them.

    Raises `SignalError` when git exits with an error (after the commits it did print)."""
    args = _log_args(repo, options, since_commit, renames, topo)
    with (
        _error_file() as errors,
        subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, bufsize=0, env=git_environment()
        ) as proc,
    ):
        assert proc.stdout is not None
        finished = False
        try:
            yield from _parse_log(_tokens(proc.stdout, stall=GIT_TIMEOUT_SECONDS))
            finished = True
        finally:
            if not finished:  # the consumer stopped early: do not wait for git to finish
                proc.kill()
        if proc.wait() != 0:
            raise SignalError(f"git log failed: {_first_line(errors)}")


def _error_file() -> IO[bytes]:
    """A file for a child's stderr, read once it exits: in memory where the system allows (`memfd_create`), else a
    temporary file. A container whose root file system is read-only may have no temporary directory to write in, and
    `tempfile` then raised FileNotFoundError: the whole `atlas index` failed for want of a place for git's errors."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("atlas-git-stderr", os.MFD_CLOEXEC), "w+b")
    return tempfile.TemporaryFile()


def _first_line(stream: IO[bytes]) -> str:
    stream.seek(0)
    return _first_stderr_line(stream.read(4096))


def _first_stderr_line(stderr: bytes) -> str:
    """The first line of git's message; bytes that are not UTF-8 (a Latin-1 locale's) become `\\xNN`, as in paths,
    and control characters escapes (`\\x1b`): the message reaches terminals as a note and a warning."""
    return visible(stderr[:4096].decode("utf-8", "backslashreplace").strip().partition("\n")[0]) or "no message"


def _tokens(
    stream: IO[bytes], chunk: int = _CHUNK, stall: float | None = None, what: str = "git log"
) -> Iterator[bytes]:
    """Split a NUL-separated stream into tokens without reading it all.

    A token longer than _MAX_TOKEN bytes keeps its first _MAX_TOKEN (to a chunk more) and the rest is skipped: only a
    commit message grows so long (a pasted changelog), of which the first MAX_MESSAGE_CHARS are read, and joining
    every read to all of an unfinished token made a 100 MB message take 79 s to mine (a GB, hours).

    With `stall` (seconds; `stream` must then be an unbuffered pipe), a stream that gives nothing for that long
    raises SignalError: git waiting forever (on a FIFO put in place of an object) never hangs the index."""
    rest = b""
    with selectors.DefaultSelector() as waiting:
        if stall is not None:  # epoll or poll: a process holding over 1024 files has descriptors select() refuses
            waiting.register(stream, selectors.EVENT_READ)
        while data := _read(stream, chunk, waiting, stall, what):
            parts = data.split(b"\0")
            if rest:
                parts[0] = rest + parts[0] if len(rest) < _MAX_TOKEN else rest
            rest = parts.pop()
            yield from parts
    if rest:
        yield rest


def _read(stream: IO[bytes], chunk: int, waiting: selectors.BaseSelector, stall: float | None, what: str) -> bytes:
    if stall is not None and not waiting.select(stall):
        raise SignalError(f"{what} stalled: no output for {stall:g} s")
    return stream.read(chunk)


def _parse_log(tokens: Iterator[bytes]) -> Iterator[_Commit]:
    """Turn `git log -z --name-status` tokens into commits.

    A commit is a header token `\\x01<sha> <time>\\x02<message>` followed by status tokens, each followed by its
    path (two paths for R and C). The first status token of a commit starts with a newline.
    """
    sha, when, message = "", 0, ""
    changes: list[_Change] = []
    for token in tokens:
        status = token.lstrip(b"\n")
        if status.startswith(_HEADER):
            if sha:
                yield _Commit(sha, when, tuple(changes), message)
            (sha, when, message), changes = _header(status), []
        elif status:
            changes.append(_read_change(status, tokens))
    if sha:
        yield _Commit(sha, when, tuple(changes), message)


def _header(token: bytes) -> tuple[str, int, str]:
    """`\\x01<sha> <time>\\x02<message>` → sha, time, message (a message holds no NUL, so no token ends in it).

    The message starts at its first word: one padded with blank lines (`git commit --cleanup=verbatim`) would fill
    the MAX_MESSAGE_CHARS read for words with them (lstrip copies nothing when there is nothing to strip)."""
    stamp, _, message = token[1:].partition(_MESSAGE)
    sha, _, when = stamp.partition(b" ")
    if not _OBJECT_ID.fullmatch(sha):
        raise SignalError(f"git printed {quoted_value(token[:40])} where git log prints a commit")
    text = message.lstrip()[: MAX_MESSAGE_CHARS * 4].decode("utf-8", "replace").lstrip()
    return sha.decode("ascii"), _commit_time(when), text


def _commit_time(when: bytes) -> int:
    """`%ct` as git reads it: a date that is missing, negative or overflows (a crafted or damaged commit;
    git prints it as written) is the epoch, as `git log` shows such a date."""
    return int(when) if when.isdigit() and len(when) <= _MAX_TIME_DIGITS else 0


def _read_change(status: bytes, tokens: Iterator[bytes]) -> _Change:
    if status[:1] not in _STATUS_LETTERS:
        raise SignalError(f"git printed {quoted_value(status[:40])} where git log prints a file's status")
    kind = status[:1].decode("ascii")
    source = _path(next(tokens, b""))
    path = _path(next(tokens, b"")) if kind in "RC" else source
    return _Change(kind, source, path)


# --- the pydriller backend: the test oracle -----------------------------------------------------


def _pydriller_commits(
    repo: _Repo, options: HistoryOptions, since_commit: str | None, renames: bool = True, topo: bool = True
) -> Iterator[_Commit]:
    """The same commits as `_git_commits`, in the same order, read through pydriller.

    pydriller always follows renames, in its own order (`renames` and `topo` are ignored). It runs in a process of
    its own (`atlas.signals.pydriller_child`), read through the same stall watch as `git log`: GitPython waits
    forever on a git that waits forever (a FIFO in place of an object), and only a process can be stopped. Whatever
    its traversal raises on a damaged history becomes `SignalError`."""
    since = _since_time(repo, options.since) if options.since else None
    args = [
        sys.executable, "-I", "-c", _CHILD, str(Path(__file__).parents[2]), str(_toplevel(repo)), repo.head or "",
        since_commit or "", str(int(since.timestamp())) if since else "", str(options.max_commits or 0),
    ]  # fmt: skip
    with (
        _error_file() as errors,
        subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, bufsize=0,
            env=pydriller_environment(), start_new_session=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        finished = False
        try:
            yield from _read_walk(_tokens(proc.stdout, stall=GIT_TIMEOUT_SECONDS, what="pydriller"))
            finished = True
        finally:
            if not finished:  # stalled, or the consumer stopped early: stop pydriller and the gits it started
                _kill_session(proc)
        if proc.wait() != 0:
            raise SignalError(f"git failed under pydriller: {_first_line(errors)}")


_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); from atlas.signals.pydriller_child import main; "
    "sys.exit(main(sys.argv[2:]))"
)
"""The child's program: isolated (`-I`), so neither the working directory (a repository's own `atlas/` or
`git.py`) nor PYTHON* variables choose what it imports, with this Atlas's own package first on its path."""


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def pydriller_walk(
    top: str,
    head: str | None,
    since_commit: str | None,
    since: datetime | None,
    max_commits: int | None,
    alive: Callable[[], None] = lambda: None,
) -> Iterator[_Commit]:
    """Commits of `top` up to `head` and after `since_commit`, newest first, through pydriller's Repository API (the
    pydriller child's work; its process environment must be `pydriller_environment()`). `alive` is called every
    1,000 commits listed before the first is yielded: a long history is not a stall."""
    from pydriller import Repository

    _without_config_writes()
    kwargs: dict[str, Any] = {"only_no_merge": True, "order": "topo-order", "to_commit": head}
    if since is not None:
        kwargs["since"] = since
    newest_first = _listed(Repository(top, **kwargs).traverse_commits(), alive)[::-1]
    excluded: set[str] = set()
    if since_commit is not None:  # the commit and its ancestors: what `since_commit..HEAD` leaves out
        excluded = {old.hash for old in _listed(Repository(top, to_commit=since_commit).traverse_commits(), alive)}
    kept = [commit for commit in newest_first if commit.hash not in excluded][:max_commits]
    for commit in kept:
        changes = tuple(_pydriller_change(modified) for modified in commit.modified_files)
        yield _Commit(commit.hash, int(commit.committer_date.timestamp()), changes, _pydriller_message(commit))


def _without_config_writes() -> None:
    """Make GitPython's `Repo.config_writer` write nothing (in the pydriller child, whose process this is): pydriller
    sets blame.markUnblamableLines in the repository's own .git/config whenever it opens it, for blames Atlas never
    asks of it, and GitPython rewrites the whole file to do so. The user's comments went and values were requoted,
    the config was locked under the user's own git commands meanwhile, and a read-only repository gave no history."""
    from git import Repo

    Repo.config_writer = lambda self, config_level="repository": _ConfigNotWritten()  # type: ignore[method-assign]


class _ConfigNotWritten:
    """What pydriller gets for `Repo.config_writer()` (`_without_config_writes`): a writer that writes nothing."""

    def set_value(self, section: str, option: str, value: object) -> _ConfigNotWritten:
        return self

    def release(self) -> None:
        return None


def _pydriller_message(commit: Any) -> str:
    """The message of a pydriller commit as `git log` prints it: decoded from the encoding its `encoding` header
    names. GitPython never reads that header (it compares 10 bytes with the 9 of `b"encoding "`), so a Latin-1
    message came out with replacement characters where the git backend had its letters."""
    raw = commit._c_object.repo.odb.stream(commit._c_object.binsha).read()
    headers, _, message = raw.partition(b"\n\n")
    encoding = "utf-8"
    for line in headers.split(b"\n"):
        if line.startswith(b"encoding "):
            encoding = line[len(b"encoding ") :].decode("ascii", "replace").strip()
    try:
        text = message.decode(encoding, "replace")
    except LookupError:  # an encoding Python does not know: git prints the bytes as they are
        text = message.decode("utf-8", "replace")
    return text.strip()


def walk_tokens(commit: _Commit) -> list[bytes]:
    """`commit` as the NUL-separated tokens the pydriller child writes: sha, time, message, then kind, source and
    path per change, each behind `=`, so no message or file name (`\x01` is one) reads as a mark. Text round-trips
    exactly (surrogate escapes included); git allows no NUL in any of it."""
    tokens = [commit.sha, str(commit.time), commit.message]
    for change in commit.changes:
        tokens += [change.kind, change.source, change.path]
    return [_COMMIT_MARK] + [_FIELD + token.encode("utf-8", "surrogateescape") for token in tokens]


_COMMIT_MARK = b"\x01"
_FIELD = b"="
ALIVE_MARK = b"\x02"
"""A token the pydriller child writes while it lists commits, which the parent's stall watch counts as output."""


def _read_walk(tokens: Iterator[bytes]) -> Iterator[_Commit]:
    """The commits `walk_tokens` wrote, from the child's token stream."""
    fields: list[str] = []
    for token in tokens:
        if token == ALIVE_MARK:
            continue
        if token == _COMMIT_MARK:
            if fields:
                yield _walked(fields)
            fields = []
        elif token.startswith(_FIELD):
            fields.append(token[1:].decode("utf-8", "surrogateescape"))
        else:
            raise SignalError("the pydriller child wrote a token Atlas cannot read")
    if fields:
        yield _walked(fields)


def _walked(fields: list[str]) -> _Commit:
    if len(fields) < 3 or (len(fields) - 3) % 3 or not fields[1].lstrip("-").isdigit():
        raise SignalError("the pydriller child wrote a commit Atlas cannot read")
    rest = fields[3:]
    changes = tuple(_Change(*rest[i : i + 3]) for i in range(0, len(rest), 3))
    return _Commit(fields[0], int(fields[1]), changes, fields[2])


def first_message_line(error: Exception) -> str:
    """The first line of a pydriller or GitPython error's message (git's stderr inside it), made visible."""
    text = str(error).encode("utf-8", "backslashreplace")  # GitPython keeps git's undecodable bytes as surrogates
    return _first_stderr_line(text) if text.strip() else type(error).__name__


def pydriller_environment() -> dict[str, str]:
    """The environment of the pydriller child, which the git processes GitPython starts get: `git_environment()`
    (no variable pointing git at another repository, no transport) with GIT_SAFETY_OPTIONS, as git reads
    command-line settings from the environment: GIT_CONFIG_COUNT, GIT_CONFIG_KEY_<n>, GIT_CONFIG_VALUE_<n>."""
    safe = git_environment()
    try:
        count = int(safe.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:  # git itself would refuse to run
        count = 0
    for setting in GIT_SAFETY_OPTIONS[1::2]:
        key, _, value = setting.partition("=")
        if any(safe.get(f"GIT_CONFIG_KEY_{i}") == key and safe.get(f"GIT_CONFIG_VALUE_{i}") == value
               for i in range(count)):  # fmt: skip
            continue
        safe[f"GIT_CONFIG_KEY_{count}"], safe[f"GIT_CONFIG_VALUE_{count}"] = key, value
        count += 1
    safe["GIT_CONFIG_COUNT"] = str(count)
    return safe


def _toplevel(repo: _Repo) -> Path:
    top = repo.root.resolve()
    for _ in repo.prefix.strip("/").split("/") if repo.prefix else ():
        top = top.parent
    return top


def _since_time(repo: _Repo, since: str) -> datetime:
    """`since` as the time `git log --since` reads it (relative dates too), which `git rev-parse` prints."""
    out = _git_output(repo.git, repo.root, "rev-parse", f"--since={since}") or b""
    stamp = out.decode("ascii", "replace").strip().removeprefix("--max-age=")
    if not stamp.isdigit():
        raise SignalError(f"git cannot read the date {quoted_value(since)}")
    return datetime.fromtimestamp(int(stamp), UTC)


def _listed(commits: Iterator[Any], alive: Callable[[], None]) -> list[Any]:
    """`commits` as a list, calling `alive` every 1,000."""
    listed = []
    for count, commit in enumerate(commits, 1):
        listed.append(commit)
        if count % 1000 == 0:
            alive()
    return listed


def _pydriller_change(modified: ModifiedFile) -> _Change:
    """One file of a pydriller commit, its paths in the walk's form (`_path`). pydriller's own paths are GitPython's
    decoding with replacement characters, which loses a name that is not UTF-8 (`caf\\xe9.py`); its diff keeps
    git's bytes."""
    kind = _PYDRILLER_KINDS.get(modified.change_type.name, "M")
    diff = modified._c_diff
    old = _path(diff.a_rawpath) if diff.a_rawpath else None
    new = _path(diff.b_rawpath) if diff.b_rawpath else None
    path = new or old or ""
    source = old or path
    return _Change(kind, source if kind in "RC" else path, path)


_BACKEND_COMMITS: Final[dict[str, Callable[[_Repo, HistoryOptions, str | None, bool, bool], Iterator[_Commit]]]] = {
    "git": _git_commits,
    "pydriller": _pydriller_commits,
}


# --- folding commits into a History -------------------------------------------------------------


class _Folder:
    """Folds commits, newest first, into touch times per file and co-change supports.

    Renames are followed with one map, old path → path today: a rename seen in a commit applies to
    every older commit. Paths are compared, not file identities, so a file deleted and added again
    at the same path keeps one history, as with `git log --follow -- path`. Cutting the history at
    each add instead would lose real history to reverted deletions: pytest's src/_pytest/__init__.py
    would drop from 258 commits to 58. The price: a path reused for a new file (a changelog fragment
    named after a reused issue number) inherits the old file's commits.

    A commit dated after `now` (a committer's clock years ahead, a tool writing 2106-02-07, the last second of
    32-bit time) counts as made `now`: ages are taken from the newest commit, and one such date made every real
    commit decades old, its decayed count 0 in the store's float32, so the recency of every other file was lost.
    """

    def __init__(
        self, keys: dict[str, str], max_commit_files: int, max_message_files: int = 8, now: int | None = None
    ) -> None:
        self._keys = keys
        self._now = int(time.time()) if now is None else now
        self._max_commit_files = max_commit_files
        self._max_message_files = max_message_files
        self._words: dict[str, Counter[str]] = {}
        self._moved: dict[str, str] = {}  # repository path in older commits → repository path today
        self._times: dict[str, list[int]] = {}  # key → committer times of the commits touching it
        self._pairs: dict[str, Counter[str]] = {}
        self._commits = 0
        self._newest = 0

    @property
    def commits(self) -> int:
        """How many commits were added."""
        return self._commits

    def add(self, commit: _Commit) -> None:
        """Count one commit; commits must come newest first."""
        self._commits += 1
        when = min(commit.time, self._now)
        self._newest = max(self._newest, when)
        touched = self._follow(commit.changes)
        for key in touched:
            self._times.setdefault(key, []).append(when)
        if len(commit.changes) <= self._max_commit_files:
            self._pair(touched)
        if touched and len(commit.changes) <= self._max_message_files and commit.message:
            self._count_words(touched, commit.message)

    def _count_words(self, touched: list[str], message: str) -> None:
        words = Counter(tokenize(message[:MAX_MESSAGE_CHARS]))
        for key in touched:
            row = self._words.get(key)
            if row is None:
                row = self._words[key] = Counter()
            row.update(words)

    def _follow(self, changes: Sequence[_Change]) -> list[str]:
        """Today's keys of the changed files; then record this commit's renames for older commits."""
        current = [self._moved.get(change.path, change.path) for change in changes]
        for change, now in zip(changes, current, strict=True):
            if change.kind == "R":
                self._moved[change.source] = now
        return list({self._keys[path] for path in current if path in self._keys})

    def _pair(self, touched: list[str]) -> None:
        """Count each pair of files in one commit. Rows count the file itself too: `_rows` drops it."""
        if len(touched) < 2:
            return
        for key in touched:
            row = self._pairs.get(key)
            if row is None:
                row = self._pairs[key] = Counter()
            row.update(touched)  # Counter.update counts in C: the hot loop of a long history

    def _rows(self) -> dict[str, dict[str, int]]:
        for key, row in self._pairs.items():
            row.pop(key, None)
        return dict(self._pairs)

    def history(self, repo: _Repo, options: HistoryOptions) -> History:
        """The History of everything added so far."""
        files = {
            key: _file_history(times, self._newest, options.half_life_days)
            for key, times in sorted(self._times.items())
        }
        return History(
            available=True,
            reason="",
            head=repo.head,
            newest_time=self._newest,
            commits_mined=self._commits,
            files=files,
            cochange=_cochange(self._rows(), files, options.top_k),
            tracked=frozenset(repo.keys.values()),
            moved=self._moved_keys(repo.prefix),
            words={key: dict(row) for key, row in sorted(self._words.items())},
        )

    def _moved_keys(self, prefix: str) -> dict[str, str | None]:
        return {
            old[len(prefix) :]: self._keys.get(now)
            for old, now in sorted(self._moved.items())
            if old.startswith(prefix)
        }


def _decay(seconds: float, half_life_days: float) -> float:
    return 0.5 ** (seconds / DAY / half_life_days)


def _file_history(times: list[int], newest: int, half_life_days: float) -> FileHistory:
    decayed = sum(_decay(newest - when, half_life_days) for when in times)
    return FileHistory(len(times), max(times), decayed)


def _cochange(
    rows: dict[str, dict[str, int]], files: dict[str, FileHistory], top_k: int
) -> dict[str, tuple[CoChange, ...]]:
    """Keep the top_k partners per file, by support and then path; confidence = support / commits."""
    result: dict[str, tuple[CoChange, ...]] = {}
    for key, row in sorted(rows.items()):
        best = nsmallest(top_k, row.items(), key=lambda item: (-item[1], item[0]))
        if best:
            commits = files[key].commits
            result[key] = tuple(CoChange(path, support, support / commits) for path, support in best)
    return result


# --- merging an older History with a newer one ----------------------------------------------------


def _rekeyer(new: History) -> Callable[[str], str | None]:
    """Map a path of an older History to its path after `new`'s commits, or None if it is gone."""

    def rekey(key: str) -> str | None:
        if key in new.moved:
            return new.moved[key]
        return key if key in new.tracked else None

    return rekey


def _merge_files(
    old: History, new: History, newest: int, rekey: Callable[[str], str | None], half_life_days: float
) -> dict[str, FileHistory]:
    merged: dict[str, FileHistory] = {}
    sides = ((old, rekey), (new, lambda key: key))
    for side, to_key in sides:
        scale = _decay(newest - side.newest_time, half_life_days)
        for key, entry in side.files.items():
            target = to_key(key)
            if target is not None:
                merged[target] = _combine(merged.get(target), entry, scale)
    return dict(sorted(merged.items()))


def _combine(total: FileHistory | None, entry: FileHistory, scale: float) -> FileHistory:
    scaled = replace(entry, decayed=entry.decayed * scale)
    if total is None:
        return scaled
    last = max(total.last_change, scaled.last_change)
    return FileHistory(total.commits + scaled.commits, last, total.decayed + scaled.decayed)


def _merge_supports(old: History, new: History, rekey: Callable[[str], str | None]) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    sides = ((old, rekey), (new, lambda key: key))
    for side, to_key in sides:
        for key, partners in side.cochange.items():
            source = to_key(key)
            for partner in partners:
                target = to_key(partner.path)
                if source is not None and target is not None and target != source:
                    row = rows.setdefault(source, {})
                    row[target] = row.get(target, 0) + partner.support
    return rows


def _merge_moved(old: History, new: History, rekey: Callable[[str], str | None]) -> dict[str, str | None]:
    moved = dict(new.moved)
    moved.update({key: rekey(now) if now is not None else None for key, now in old.moved.items()})
    return dict(sorted(moved.items()))


def _merge_words(old: History, new: History, rekey: Callable[[str], str | None]) -> dict[str, dict[str, int]]:
    merged: dict[str, Counter[str]] = {}
    for side, to_key in ((old, rekey), (new, lambda key: key)):
        for key, words in side.words.items():
            target = to_key(key)
            if target is not None:
                merged.setdefault(target, Counter()).update(words)
    return {key: dict(row) for key, row in sorted(merged.items())}
