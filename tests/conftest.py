"""Shared test fixtures: real git repositories in temporary directories, and a clean environment.

`make_repo(files)` writes a tree and (by default) runs `git init`, `git add -A` and `git commit`
with a fixed author, date and an isolated git configuration, so commits are reproducible and the
user's own git settings (global excludes, hooks, signing) never leak into a test. The module-level
helpers `write_tree`, `init_repo` and `git` do the same without fixtures, for hypothesis tests
(which cannot take function-scoped fixtures) and for building repositories step by step.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge correctness, not speed (perf/ measures speed): a loaded CI machine must not fail them on a
# deadline or a "too slow" health check. Each test's own @settings still sets how many examples it tries.
settings.register_profile("atlas", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("atlas")

# A runner started in the background by a shell without job control (`nohup …`, `cmd &` in a script)
# ignores SIGINT, and every process it starts inherits that, as `nohup` intends: the ^C tests would see
# atlas ignore their SIGINT. They test what a terminal's ^C does, so the runner takes a terminal's default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

GIT_DATE = "2024-01-01T00:00:00+00:00"
_EMPTY_CONFIG_HOME = "/nonexistent-atlas-test-config"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Atlas Test",
    "GIT_AUTHOR_EMAIL": "atlas@example.com",
    "GIT_AUTHOR_DATE": GIT_DATE,
    "GIT_COMMITTER_NAME": "Atlas Test",
    "GIT_COMMITTER_EMAIL": "atlas@example.com",
    "GIT_COMMITTER_DATE": GIT_DATE,
    # No system or global config, no user-level excludes file ($XDG_CONFIG_HOME/git/ignore).
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "XDG_CONFIG_HOME": _EMPTY_CONFIG_HOME,
    "GIT_TERMINAL_PROMPT": "0",
}
"""Environment overrides for every git command run by the tests."""


@dataclass(frozen=True, slots=True)
class Symlink:
    """A `files` value that makes a symbolic link pointing at `target` (written as given)."""

    target: str


FileContent = str | bytes | Symlink
"""What a `files` mapping holds: text (written as UTF-8), raw bytes, or a symlink."""


def git_env() -> dict[str, str]:
    """`os.environ` with `GIT_ENV` applied: the environment for git subprocesses in tests."""
    return {**os.environ, **GIT_ENV}


def git(repo: Path, *args: str | bytes) -> bytes:
    """Run `git -C repo *args` with the test environment; return stdout, raise on failure."""
    result = subprocess.run(["git", "-C", os.fspath(repo), *args], env=git_env(), capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {args!r} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result.stdout


def write_tree(root: Path, files: Mapping[str | bytes, FileContent]) -> None:
    """Write `files` under `root`: keys are `/`-separated relative paths, as str or bytes.

    Bytes keys allow names that are not valid UTF-8 (`b"bad\\xff.py"`). Parent directories are
    created; a key ending in `/` makes an empty directory.
    """
    base = os.fsencode(root)
    for name, content in files.items():
        rel = os.fsencode(name)
        path = os.path.join(base, *rel.rstrip(b"/").split(b"/"))
        if rel.endswith(b"/"):
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, Symlink):
            os.symlink(content.target, path)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(path, "wb") as handle:
                handle.write(data)


def init_repo(root: Path, commit: bool = True, message: str = "initial") -> None:
    """`git init` at `root` (branch `main`); with `commit`, add everything and commit it."""
    git(root, "init", "-q", "-b", "main")
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)


def indexed_repo(root: Path, files: Mapping[str | bytes, FileContent]) -> Path:
    """Write `files` under `root`, commit them, and index them with the real CLI; returns `root`."""
    from click.testing import CliRunner

    from atlas.cli import cli

    write_tree(root, files)
    init_repo(root)
    result = CliRunner().invoke(cli, ["-q", "index", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory fixture: `make_repo(files, git=True, commit=True, name="repo") -> Path`.

    Writes `files` (see `write_tree`) into `tmp_path / name`, then, with `git`, initialises a
    repository and, with `commit`, commits everything with a fixed author and date. Returns the
    repository root. Call it more than once with different names for several repositories.
    """

    def make(
        files: Mapping[str | bytes, FileContent] | None = None,
        git: bool = True,
        commit: bool = True,
        name: str = "repo",
    ) -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        write_tree(root, files or {})
        if git:
            init_repo(root, commit=commit)
        return root

    return make


@pytest.fixture(autouse=True)
def _clean_atlas_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the caller's ATLAS_* settings (index dir, root, ...)."""
    for name in list(os.environ):
        if name.startswith("ATLAS_"):
            monkeypatch.delenv(name)


class Overrun(BaseException):
    """A block still running at its `deadline`. Not an `OSError` (as `TimeoutError` is) nor an `Exception`: the code
    under test, which skips a file it cannot read (`except OSError`), would take it for an unreadable file and pass."""


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail with `Overrun`, instead of hanging the test run, when the block is still running after `seconds`
    (a read that blocks on a FIFO is interrupted: Python runs the handler and raises; so is a regex that
    backtracks, as `re` looks for signals while it matches)."""

    def expired(signum: int, frame: object) -> None:
        raise Overrun(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
