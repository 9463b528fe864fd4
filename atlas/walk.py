"""Repository walk: which files get indexed.

The walk owns ignore rules and everything decidable from a directory entry and `stat`:
`.gitignore` at every level, `.git/info/exclude`, and `.atlasignore` files (same syntax,
higher precedence, so `!pattern` there re-includes what git ignores). It never enters `.git`
or the index directory, follows symlinks only while they stay inside the root and do not
revisit a directory, and skips special files and files over the size cap.

It yields `FileEntry` for files to parse and `Skipped` for files left out; content checks
(binary, minified, unreadable) happen in the parse workers, which read the file anyway.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from atlas.records import FileEntry, Skipped, SkipReason

GITIGNORE = ".gitignore"
ATLASIGNORE = ".atlasignore"
NEVER_ENTER = frozenset({".git"})


@dataclass(frozen=True, slots=True)
class _Rules:
    """Ignore patterns read from one file, relative to `base` ("" for the root, else "dir/")."""

    base: str
    spec: pathspec.GitIgnoreSpec


@dataclass(frozen=True, slots=True)
class WalkOptions:
    """What the walk needs besides the root."""

    max_file_bytes: int = 1 << 20
    exclude_dirs: tuple[Path, ...] = ()


def _read_rules(path: Path, base: str) -> _Rules | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    lines = [line for line in lines if line.strip() and not line.startswith("#")]
    if not lines:
        return None
    return _Rules(base, pathspec.GitIgnoreSpec.from_lines(lines))


def _decide(rules: list[_Rules], rel: str) -> bool | None:
    """True if ignored, False if explicitly re-included, None if no rule speaks.

    `rules` is ordered from highest precedence (deepest, .atlasignore) to lowest.
    """
    for rule in rules:
        if not rel.startswith(rule.base):
            continue
        result = rule.spec.check_file(rel[len(rule.base) :])
        if result.include is not None:
            return result.include
    return None


class _Walker:
    def __init__(self, root: Path, options: WalkOptions) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.options = options
        self.excluded_real = {os.path.realpath(p) for p in options.exclude_dirs}
        self.visited: set[tuple[int, int]] = set()

    def walk(self) -> Iterator[FileEntry | Skipped]:
        root_rules: list[_Rules] = []
        exclude = _read_rules(self.root / ".git" / "info" / "exclude", "")
        if exclude:
            root_rules.append(exclude)
        try:
            st = os.stat(self.root)
        except OSError:
            return
        self.visited.add((st.st_dev, st.st_ino))
        yield from self._walk_dir(self.root, "", root_rules, [])

    def _walk_dir(
        self, directory: Path, rel_dir: str, git_rules: list[_Rules], atlas_rules: list[_Rules]
    ) -> Iterator[FileEntry | Skipped]:
        git_rules = self._with_rules(directory / GITIGNORE, rel_dir, git_rules)
        atlas_rules = self._with_rules(directory / ATLASIGNORE, rel_dir, atlas_rules)
        rules = atlas_rules + git_rules
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as err:
            yield Skipped(rel_dir.rstrip("/") or ".", SkipReason.UNREADABLE, err.strerror or str(err))
            return
        for entry in entries:
            rel = rel_dir + entry.name
            if entry.name in NEVER_ENTER:
                continue
            yield from self._visit(entry, rel, rules, git_rules, atlas_rules)

    def _with_rules(self, path: Path, rel_dir: str, rules: list[_Rules]) -> list[_Rules]:
        found = _read_rules(path, rel_dir)
        return [found, *rules] if found else rules

    def _visit(
        self,
        entry: os.DirEntry[str],
        rel: str,
        rules: list[_Rules],
        git_rules: list[_Rules],
        atlas_rules: list[_Rules],
    ) -> Iterator[FileEntry | Skipped]:
        try:
            is_link = entry.is_symlink()
            st = os.stat(entry.path) if is_link else entry.stat(follow_symlinks=False)
        except OSError as err:
            reason = SkipReason.SYMLINK_LOOP if getattr(err, "errno", 0) == 40 else SkipReason.UNREADABLE
            if not _decide(rules, rel):
                yield Skipped(rel, reason, err.strerror or str(err))
            return
        if stat.S_ISDIR(st.st_mode):
            if _decide(rules, rel + "/"):
                return
            yield from self._enter(entry, rel, st, is_link, git_rules, atlas_rules)
        elif _decide(rules, rel):
            return
        elif not stat.S_ISREG(st.st_mode):
            yield Skipped(rel, SkipReason.SPECIAL)
        elif is_link and not self._inside_root(entry.path):
            yield Skipped(rel, SkipReason.SYMLINK_OUTSIDE)
        elif st.st_size > self.options.max_file_bytes:
            yield Skipped(rel, SkipReason.TOO_LARGE, f"{st.st_size} bytes")
        else:
            yield FileEntry(display_path(rel), entry.path, st.st_size, st.st_mtime_ns)

    def _enter(
        self,
        entry: os.DirEntry[str],
        rel: str,
        st: os.stat_result,
        is_link: bool,
        git_rules: list[_Rules],
        atlas_rules: list[_Rules],
    ) -> Iterator[FileEntry | Skipped]:
        real = os.path.realpath(entry.path)
        if real in self.excluded_real:
            return
        if is_link and not self._inside_root(entry.path):
            yield Skipped(rel, SkipReason.SYMLINK_OUTSIDE)
            return
        key = (st.st_dev, st.st_ino)
        if key in self.visited:
            yield Skipped(rel, SkipReason.SYMLINK_LOOP)
            return
        self.visited.add(key)
        yield from self._walk_dir(Path(entry.path), rel + "/", git_rules, atlas_rules)

    def _inside_root(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)


def display_path(rel: str) -> str:
    """A valid-UTF-8 form of a path: undecodable bytes become `\\xNN` escapes, never lost."""
    if rel.isascii():
        return rel
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def walk(root: Path, options: WalkOptions | None = None) -> Iterator[FileEntry | Skipped]:
    """Yield every file under `root` as a `FileEntry` to index or a `Skipped` with its reason.

    Paths are relative to `root`, `/`-separated, in a stable (sorted) order. Ignored files
    are not reported at all: they are not part of the repository as Atlas sees it.
    """
    yield from _Walker(root, options or WalkOptions()).walk()
