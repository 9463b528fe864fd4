"""Repository walk: which files get indexed.

The walk owns ignore rules and everything decidable from a directory entry and `stat`:
`.gitignore` at every level, `.git/info/exclude`, and `.atlasignore` files (same syntax,
higher precedence, so `!pattern` there re-includes what git ignores). Patterns follow
gitignore(5) as git applies them (its `dir.c` and `wildmatch.c`, matching bytes, not
characters), so a file is ignored exactly when git would ignore it; tests/test_walk.py checks
this against `git ls-files --others --exclude-standard`. As in git, a file git tracks is never ignored
(`git add -f` of a file a rule matches): the first time a rule of git's leaves something out, git is
asked once which tracked files the rules match (`git ls-files --cached --ignored --exclude-standard`),
and those files, and the directories on their way, are walked; without git, or where it fails, the rules
alone decide. A `.gitignore` a sparse checkout leaves out of the tree applies as git reads it, from its index.
Differences from git, on purpose: the
user's global excludes file is not read, `.gitignore` files apply outside a git repository
too, and nested repositories are walked into. When the root lies inside a git work tree, the
ignore files between the top of the work tree and the root apply, as they do for git. A `.git` whose
`core.worktree` names a directory other than its own and the root's keeps git's files there: the root is then walked
as plain files, with a note (`repository_top`), and nothing of git's applies to it.

It never enters `.git`, a `.atlas` directory (the default index directory, at any depth: a nested
project's index is not source) or the index directory (not even through a symlink), follows symlinks
only while they stay inside the root, skips a directory symlink that leads back to a directory
it is inside (a loop) or to one already walked (a duplicate; real directories are always walked), and skips special
files and files over the size cap. Each directory is opened once (below the root, without following a link), listed
and its ignore files read through that descriptor, so a directory swapped for a link mid-walk lends neither
names nor rules from outside the root. The walk is iterative, so the depth of the tree is not
limited by Python's recursion limit.

It yields `FileEntry` for files to parse and `Skipped` for files left out, both with display
paths (valid UTF-8); content checks (binary, minified, unreadable) happen in the parse
workers, which read the file anyway.
"""

from __future__ import annotations

import enum
import errno
import functools
import os
import re
import stat
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from atlas.errors import InputError
from atlas.ignore_stamps import ATLASIGNORE, GITIGNORE, IGNORE_FILES, Stamp, recorded_stamp, stamp_of
from atlas.records import FileEntry, Skipped, SkipReason
from atlas.safe_read import (
    NEVER_ENTER,
    display_path,
    fs_path,
    on_disk,
    pseudo_filesystem_of,
    quoted_value,
    read_regular_file,
    visible,
)

if TYPE_CHECKING:
    import subprocess

_Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class WalkOptions:
    """What the walk needs besides the root."""

    max_file_bytes: int = 1 << 20
    exclude_dirs: tuple[Path, ...] = ()


# ---------------------------------------------------------------------------------------------
# Ignore patterns: gitignore(5) as git's dir.c (parsing, precedence) and wildmatch.c (globs) do it.
# Paths and patterns are matched as bytes, like git: `?` is one byte, not one character.

_GLOB_SPECIAL = b"*?[\\"
_CLASSES: dict[bytes, frozenset[int]] = {
    name: frozenset(chars)
    for name, chars in {
        b"alnum": b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        b"alpha": b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        b"blank": b" \t",
        b"cntrl": bytes([*range(32), 127]),
        b"digit": b"0123456789",
        b"graph": bytes(range(33, 127)),
        b"lower": b"abcdefghijklmnopqrstuvwxyz",
        b"print": bytes(range(32, 127)),
        b"punct": b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        b"space": b" \t\n\r",
        b"upper": b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        b"xdigit": b"0123456789ABCDEFabcdef",
    }.items()
}


class _BadGlob(ValueError):
    """A pattern wildmatch would abort on (unclosed `[`, unknown class, trailing `\\`): it never matches."""


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One gitignore line, compiled."""

    negative: bool
    dir_only: bool
    basename: bool
    """No slash in the pattern: it is matched against the last path component at any depth."""
    literal: bytes | None
    regex: re.Pattern[bytes] | None


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive patterns of one polarity, merged: any match in the run decides the same way.

    Literal names and paths become set look-ups, the rest one regex alternation each for
    basename and path patterns, kept apart for files (no `dir/`-only patterns) and directories.
    """

    negative: bool
    fold: bool
    """`core.ignorecase`: the literal sets hold lower-case names, looked up in lower case."""
    names: tuple[frozenset[bytes], frozenset[bytes]]
    paths: tuple[frozenset[bytes], frozenset[bytes]]
    name_regex: tuple[re.Pattern[bytes] | None, re.Pattern[bytes] | None]
    path_regex: tuple[re.Pattern[bytes] | None, re.Pattern[bytes] | None]

    def matches(self, path: bytes, name: bytes, is_dir: bool) -> bool:
        """Whether some pattern of the run matches (index 1 of each pair: directories)."""
        i = int(is_dir)
        if self.fold:
            if name.lower() in self.names[i] or path.lower() in self.paths[i]:
                return True
        elif name in self.names[i] or path in self.paths[i]:
            return True
        name_regex, path_regex = self.name_regex[i], self.path_regex[i]
        return bool(
            (name_regex is not None and name_regex.fullmatch(name))
            or (path_regex is not None and path_regex.fullmatch(path))
        )

    @classmethod
    def of(cls, patterns: list[_Pattern], fold: bool = False) -> _Run:
        """Merge `patterns` (all of one polarity, compiled with the same `fold`)."""
        files = [p for p in patterns if not p.dir_only]
        return cls(
            negative=patterns[0].negative,
            fold=fold,
            names=(_literals(files, True), _literals(patterns, True)),
            paths=(_literals(files, False), _literals(patterns, False)),
            name_regex=(_alternation(files, True, fold), _alternation(patterns, True, fold)),
            path_regex=(_alternation(files, False, fold), _alternation(patterns, False, fold)),
        )


def _literals(patterns: list[_Pattern], basename: bool) -> frozenset[bytes]:
    return frozenset(p.literal for p in patterns if p.basename == basename and p.literal is not None)


def _alternation(patterns: list[_Pattern], basename: bool, fold: bool = False) -> re.Pattern[bytes] | None:
    regexes = [p.regex.pattern for p in patterns if p.basename == basename and p.literal is None and p.regex]
    if not regexes:
        return None
    return re.compile(b"|".join(b"(?:" + regex + b")" for regex in regexes), _flags(fold))


def _flags(fold: bool) -> re.RegexFlag:
    """A pattern's regex flags: bytes regexes fold ASCII letters only, as git's `tolower` does."""
    return re.DOTALL | re.IGNORECASE if fold else re.DOTALL


@dataclass(frozen=True, slots=True)
class _Rules:
    """The patterns of one ignore file, last line first; `base` is its directory ("" or "a/b/")."""

    base: bytes
    runs: tuple[_Run, ...]

    @classmethod
    def of(cls, base: bytes, patterns: tuple[_Pattern, ...], fold: bool = False) -> _Rules:
        """Rules with their patterns grouped into runs of one polarity, last line first."""
        runs: list[list[_Pattern]] = []
        for pattern in patterns:
            if runs and runs[-1][0].negative == pattern.negative:
                runs[-1].append(pattern)
            else:
                runs.append([pattern])
        return cls(base, tuple(_Run.of(run, fold) for run in runs))

    def decide(self, path: bytes, name: bytes, is_dir: bool) -> bool | None:
        """True if the last matching line ignores `path`, False if it re-includes it, None if none match."""
        if not path.startswith(self.base):
            return None
        rest = path[len(self.base) :]
        for run in self.runs:
            if run.matches(rest, name, is_dir):
                return not run.negative
        return None


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Drop trailing spaces unless escaped with a backslash (dir.c `trim_trailing_spaces`)."""
    last_space: int | None = None
    i = 0
    while i < len(line):
        char = line[i]
        if char == 0x20:
            if last_space is None:
                last_space = i
        elif char == 0x5C:
            i += 1
            if i == len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


COMPILED_PATTERNS_KEPT = 8192
"""Ignore-file lines whose compiled pattern is kept: `file_left_out` reads a tree's ignore files again for each
path it is asked about (the fast preset: each candidate), and compiling their globs was nearly all its time."""


@functools.lru_cache(maxsize=COMPILED_PATTERNS_KEPT)
def _compile_pattern(line: bytes, fold: bool = False) -> _Pattern | None:
    """Compile one line of an ignore file; None for blanks, comments and patterns that never match.

    With `fold` (`core.ignorecase`), matching ignores the case of ASCII letters as git's does, quirks included:
    git lower-cases the path and the pattern's plain letters, but not an escaped letter or one inside brackets,
    so `\\A` and `[A]` match neither `A` nor `a`, while `[a]` matches both."""
    if not line or line.startswith(b"#"):
        return None
    line = _trim_trailing_spaces(line)
    negative = line.startswith(b"!")
    if negative:
        line = line[1:]
    dir_only = line.endswith(b"/")
    if dir_only:
        line = line[:-1]
    basename = b"/" not in line
    if not basename and line.startswith(b"/"):
        line = line[1:]
    if not line:
        return None
    if not any(char in _GLOB_SPECIAL for char in line):
        return _Pattern(negative, dir_only, basename, line.lower() if fold else line, None)
    try:
        prefix = 0 if basename else _literal_prefix(line)
        regex = re.compile(_translate(line, literal_prefix=prefix, fold=fold), _flags(fold))
    except _BadGlob:
        return None
    return _Pattern(negative, dir_only, basename, None, regex)


def _literal_prefix(glob: bytes) -> int:
    """How many bytes `glob` starts with before its first wildcard or escape."""
    return next((i for i, char in enumerate(glob) if char in _GLOB_SPECIAL), len(glob))


def _translate(glob: bytes, literal_prefix: int = 0, fold: bool = False) -> bytes:
    """A regex (for `fullmatch`) equivalent to wildmatch(glob) with WM_PATHNAME, as git applies a path pattern:
    git compares the `literal_prefix` bytes as a string and wildmatches the rest, so a `**` right after them
    counts as at the start (`x**/*` ignores `x.py`, as `**/*` would after the `x`)."""
    pieces: list[tuple[str, bytes]] = []  # (kind, regex): "star" ([^/]*), "any" (a `**` form), "one" (one byte)
    i, size = 0, len(glob)
    while i < size:
        char = glob[i : i + 1]
        if char == b"*":
            end = i
            while end < size and glob[end : end + 1] == b"*":
                end += 1
            after_slash = i in (0, literal_prefix) or glob[i - 1 : i] == b"/"
            before_slash = end == size or glob[end : end + 1] == b"/"
            if end - i >= 2 and after_slash and before_slash:
                if end == size:
                    pieces.append(("any", b".*"))  # trailing "**": everything inside
                else:
                    pieces.append(("any", b"(?:.*/)?"))  # "**/": zero or more directories
                    end += 1
            else:
                pieces.append(("star", b"[^/]*"))
            i = end
        elif char == b"?":
            pieces.append(("one", b"[^/]"))
            i += 1
        elif char == b"[":
            members, i = _bracket(glob, i + 1, fold)
            pieces.append(("one", _byte_class(members)))
        elif char == b"\\":
            if i + 1 == size:
                raise _BadGlob("trailing backslash")
            escaped = glob[i + 1 : i + 2]
            pieces.append(("one", b"(?!)" if fold and escaped.isupper() else re.escape(escaped)))  # compared unfolded
            i += 2
        else:
            pieces.append(("slash" if char == b"/" else "one", re.escape(char)))
            i += 1
    return _without_backtracking(pieces)


def _without_backtracking(pieces: list[tuple[str, bytes]]) -> bytes:
    """The regex of `pieces`, each `*` that a fixed run of bytes and another `*` follow (`*a*`) made atomic: it
    takes the first place its run matches, and is never tried again at a later one.

    A regex engine tries every place for every `*`, and `*a*a*a*a*a*a*a*a*a*a*b` against a long name of `a`s takes
    minutes; git's wildmatch gives up early and answers at once. The first place is enough: the run holds no `/`
    and the next `*` takes any bytes but `/`, so whatever follows a later place also follows from the first.

    The `**` forms get the same treatment (`_without_double_star_backtracking`)."""
    out: list[tuple[str, bytes]] = []
    i = 0
    while i < len(pieces):
        kind, regex = pieces[i]
        end = i + 1
        while end < len(pieces) and pieces[end][0] == "one":
            end += 1
        run = b"".join(piece for _, piece in pieces[i + 1 : end])
        if kind == "star" and run and end < len(pieces) and pieces[end][0] == "star":
            out.append(("one", b"(?>[^/]*?" + run + b")"))
            i = end
        else:
            out.append((kind, regex))
            i += 1
    return _without_double_star_backtracking(out)


def _without_double_star_backtracking(pieces: list[tuple[str, bytes]]) -> bytes:
    """The regex of `pieces`, `**` forms in a row merged (`**/**/` is `**/`, `**/**` is `**`) and each `**/` that
    a run of whole directories and another `**` follow (`**/a/*/**/`) made atomic: it takes the first directory
    from which the run matches, and is never tried at a later one.

    Each `(?:.*/)?` may end at any `/` of the path, and a regex engine tries every combination: twelve `**/` (or
    ten `**/a/`) against a path 30 directories deep took minutes. The first place is enough: the run starts and
    ends at a directory boundary (`**/` follows a `/`), so from its end the next `**` can skip to wherever a later
    place's run ends, and match what that would."""
    out: list[bytes] = []
    i = 0
    while i < len(pieces):
        kind, regex = pieces[i]
        while kind == "any" and i + 1 < len(pieces) and pieces[i + 1][0] == "any":
            i += 1
            regex = pieces[i][1]  # `(?:.*/)?` then `.*` is `.*`; two `(?:.*/)?` are one
        end = i + 1
        while end < len(pieces) and pieces[end][0] != "any":
            end += 1
        if kind == "any" and regex == b"(?:.*/)?" and end < len(pieces):
            out.append(b"(?>(?:.*?/)??" + b"".join(piece for _, piece in pieces[i + 1 : end]) + b")")
            i = end
        else:
            out.append(regex)
            i += 1
    return b"".join(out)


def _bracket(glob: bytes, i: int, fold: bool = False) -> tuple[frozenset[int], int]:
    """The bytes a `[...]` starting after `[` at `i` matches, and the index after its `]`."""
    size = len(glob)
    negated = i < size and glob[i] in b"!^"
    if negated:
        i += 1
    literals: set[int] = set()
    ranges: list[tuple[int, int]] = []
    classes: list[bytes] = []
    prev: int | None = None
    close = -1
    first = True
    while first or (i < size and glob[i] != 0x5D):
        first = False
        if i >= size:
            raise _BadGlob("unclosed [")
        char = glob[i]
        if char == 0x5C:
            i += 1
            if i >= size:
                raise _BadGlob("unclosed [")
            char = glob[i]
            literals.add(char)
        elif char == 0x2D and prev is not None and i + 1 < size and glob[i + 1] != 0x5D:
            i += 1
            high = glob[i]
            if high == 0x5C:
                i += 1
                if i >= size:
                    raise _BadGlob("unclosed [")
                high = glob[i]
            ranges.append((prev, high))
            char = -1
        elif char == 0x5B and i + 1 < size and glob[i + 1] == 0x3A:
            if close < i + 2:  # else the `]` found for an earlier `[:` is this one's too: a search each was quadratic
                close = glob.find(b"]", i + 2)
            if close < 0:
                raise _BadGlob("unclosed [")
            if close - (i + 2) < 1 or glob[close - 1] != 0x3A:
                literals.add(char)  # no ":]": an ordinary "["
            else:
                name = glob[i + 2 : close - 1]
                if name not in _CLASSES:
                    raise _BadGlob(f"unknown class {quoted_value(name)}")
                classes.append(name)
                i = close
                char = -1
        else:
            literals.add(char)
        prev = char if char >= 0 else None
        if prev == 0:
            prev = None
        i += 1
    if i >= size:
        raise _BadGlob("unclosed [")
    members = _bracket_members(literals, ranges, classes, fold)
    chosen = frozenset(range(256)) - members if negated else members
    return chosen - {0x2F}, i + 1


_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")


def _bracket_members(
    literals: set[int], ranges: list[tuple[int, int]], classes: list[bytes], fold: bool
) -> frozenset[int]:
    """The bytes a bracket's members match (wildmatch.c). With `fold`, git tests the path's byte lower-cased:
    against a literal as it is written (so an upper-case one never matches), against a range in either case,
    and `[:upper:]` and `[:lower:]` both take any letter."""
    if not fold:
        members = set(literals)
        for low, high in ranges:
            members.update(range(low, high + 1))
        for name in classes:
            members.update(_CLASSES[name])
        return frozenset(members)
    matched = set()
    for byte in range(256):
        lower = byte + 32 if 0x41 <= byte <= 0x5A else byte
        other = lower - 32 if lower in _LOWER else lower
        if (
            lower in literals
            or any(low <= lower <= high or low <= other <= high for low, high in ranges)
            or any(lower in _CLASSES[name] or (name == b"upper" and lower in _LOWER) for name in classes)
        ):
            matched.add(byte)
    return frozenset(matched)


def _byte_class(members: frozenset[int]) -> bytes:
    if not members:
        return b"(?!)"
    return b"[" + b"".join(b"\\x%02x" % byte for byte in sorted(members)) + b"]"


MAX_IGNORE_FILE_BYTES = 1 << 24
"""How much of an ignore file is read (git's own refuse 100 MB attribute files; no real one nears 16 MB)."""


def _read_rules(
    path: str, base: bytes, follow: bool = True, fold: bool = False, dir_fd: int | None = None
) -> _Rules | None:
    """The rules of the ignore file at `path` (relative to the directory `dir_fd`, when given); without `follow`,
    a symlink is not read (git does not read an in-tree `.gitignore` that is a symlink)."""
    try:
        data = read_regular_file(path, MAX_IGNORE_FILE_BYTES, follow=follow, dir_fd=dir_fd)
    except OSError:  # missing, unreadable, a link not followed, a FIFO or a device
        return None
    return _rules_of(data, base, fold)


def _rules_of(data: bytes, base: bytes, fold: bool = False) -> _Rules | None:
    """The rules of an ignore file holding `data`, in the directory `base`; None when it holds no pattern."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    # git reads each line as a C string: a NUL byte ends it (`*.log<NUL>x` is `*.log`).
    lines = [line.removesuffix(b"\r").partition(b"\0")[0] for line in data.split(b"\n")]
    patterns = [p for p in (_compile_pattern(line, fold) for line in lines) if p is not None]
    if not patterns:
        return None
    return _Rules.of(base, tuple(reversed(patterns)), fold)


# ---------------------------------------------------------------------------------------------
# Where the root sits in a git work tree.


@dataclass(frozen=True, slots=True)
class _Outer:
    """Rules that apply from outside the root: info/exclude and the ignore files above it."""

    prefix: str
    """The root's path relative to the top of its work tree ("" or "a/b/")."""
    git_rules: tuple[_Rules, ...] = ()
    atlas_rules: tuple[_Rules, ...] = ()
    top: str | None = None
    """The top of the work tree, when the root lies in one."""
    fold: bool = False
    """Its `core.ignorecase`: ignore rules match paths whatever the case of their ASCII letters."""
    sparse_ignores: Mapping[bytes, bytes] = field(default_factory=dict)
    """The `.gitignore` files a sparse checkout leaves out of the tree, by directory ("" or "a/b/" from the top),
    with their text in git's index, which git applies for them (`_sparse_ignore_files`)."""


def _work_tree_top(real_root: str) -> str | None:
    """The nearest directory at or above `real_root` holding a `.git` that git would take for a repository (a
    stray `.git`, an empty directory or a file naming nothing, is passed over, as git's discovery passes it)."""
    here = real_root
    while True:
        if os.path.lexists(os.path.join(here, ".git")) and _is_repository(here):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _is_repository(top: str) -> bool:
    """Whether `top/.git` is a git directory, or a file pointing at one (a linked work tree's: its common
    directory, where `_git_dir` leads, holds the objects and refs)."""
    return is_git_directory(Path(_git_dir(top)))


def _git_dir(top: str) -> str:
    """The git directory of the work tree at `top` (`.git`, or where a `.git` file points; for a linked work tree,
    the common directory its `commondir` names)."""
    git_dir = _own_git_dir(top)
    if os.path.isdir(os.path.join(top, ".git")):
        return git_dir
    try:
        return os.path.join(git_dir, _first_line(os.path.join(git_dir, "commondir")))
    except OSError:
        return git_dir


def _own_git_dir(top: str) -> str:
    """The work tree's own git directory: `.git`, or where a `.git` file points (a linked work tree's holds its
    index and its sparse-checkout patterns)."""
    dot_git = os.path.join(top, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    try:
        line = _first_line(dot_git)
    except OSError:
        return dot_git
    return os.path.join(top, line.removeprefix("gitdir:").strip())


def _first_line(path: str) -> str:
    """The first line of a small git file (`.git`, `commondir`), stripped; OSError if it is no regular file."""
    data = read_regular_file(path, 4096)
    return data.split(b"\n", 1)[0].decode("utf-8", "surrogateescape").strip()


_SETS_WORK_TREE = re.compile(rb"^[ \t]*(worktree[ \t]*=|\[[ \t]*include)", re.IGNORECASE | re.MULTILINE)
"""A config line that may set `core.worktree`: the key itself, or an include that may hold it."""


def repository_top(root: str | os.PathLike[str]) -> tuple[str | None, str]:
    """The top of the git work tree `root` lies in, as the walk, git's history and git's attributes take it, and "";
    or None and a note for people when the repository found at or above `root` keeps its files elsewhere: its config
    sets `core.worktree` to another directory than the one holding `.git` and than `root` (a dotfiles setup). Git's
    history, ignore rules and attributes are then about those files, not `root`'s, which is taken as plain files;
    nothing of that other work tree is read. Git is asked only when the repository's config may set a work tree."""
    top, _, note = _repository(os.path.realpath(root))
    return top, note


def _repository(real_root: str) -> tuple[str | None, str | None, str]:
    """(top of git's work tree, directory holding `.git`, note) for `real_root`, as `repository_top` says: the
    top is the holder, or, when `core.worktree` names `real_root` itself, `real_root` (git finds the holder above
    it); None for both, with the note, when git's work tree is anywhere else."""
    holder = _work_tree_top(real_root)
    if holder is None or not _may_set_work_tree(holder):
        return holder, holder, ""
    work_tree = _git_work_tree(holder)
    if work_tree in (holder, real_root):
        return work_tree, holder, ""
    follow = f"; index {visible(work_tree)} to follow git" if _inside(work_tree, real_root) else ""
    return (
        None,
        None,
        (
            f"{visible(os.path.join(holder, '.git'))} sets core.worktree: git's files are in {visible(work_tree)}, "
            f"not in {visible(holder)}; {visible(real_root)} is indexed as plain files, without git's history, "
            f"ignore rules (info/exclude) or attributes{follow}"
        ),
    )


def _may_set_work_tree(top: str) -> bool:
    """Whether the config of the repository at `top` (or its work tree's own `config.worktree`) may set
    `core.worktree`: most repositories' does not, and then git need not be asked."""
    for config in (os.path.join(_git_dir(top), "config"), os.path.join(_own_git_dir(top), "config.worktree")):
        try:
            if _SETS_WORK_TREE.search(read_regular_file(config, MAX_IGNORE_FILE_BYTES)):
                return True
        except OSError:
            continue
    return False


def _git_work_tree(top: str) -> str:
    """The real path of the work tree git uses for the repository at `top`, or why git cannot name one."""
    import shutil

    git = shutil.which("git")
    if git is None:
        return "a directory git is not installed to name"
    done = git_run(git, top, "rev-parse", "--show-toplevel")
    if done.returncode != 0 or not done.stdout.strip():
        return f"a directory git cannot use ({_git_error(done)})"
    return os.path.realpath(os.fsdecode(done.stdout.removesuffix(b"\n")))


def _outer_rules(real_root: str, top: str | None, holder: str | None) -> _Outer:
    """The rules from outside `real_root` in the work tree at `top`, whose `.git` is in `holder` (`_repository`)."""
    if top is None or holder is None:
        return _Outer("")
    git_rules: list[_Rules] = []
    atlas_rules: list[_Rules] = []
    fold = _ignores_case(top)
    sparse = _sparse_ignore_files(top, holder)
    exclude = _read_rules(os.path.join(_git_dir(holder), "info", "exclude"), b"", fold=fold)
    if exclude:
        git_rules.append(exclude)
    parts = [] if top == real_root else os.path.relpath(real_root, top).split(os.sep)
    for depth in range(len(parts)):
        directory = os.path.join(top, *parts[:depth])
        base = os.fsencode("".join(part + "/" for part in parts[:depth]))
        for name, rules in ((GITIGNORE, git_rules), (ATLASIGNORE, atlas_rules)):
            found = _read_rules(os.path.join(directory, name), base, follow=False, fold=fold)  # in-tree, as below
            if found is None and name == GITIGNORE:
                found = _left_out_rules(sparse, directory, base, fold)
            if found:
                rules.insert(0, found)
    prefix = "".join(part + "/" for part in parts)
    return _Outer(prefix, tuple(git_rules), tuple(atlas_rules), top, fold, sparse)


def _whole_tree_stamps(real_root: str, top: str | None, holder: str | None) -> dict[str, Stamp | None]:
    """The stamps of the files whose rules apply to the whole tree of `real_root` (see `_outer_rules`), by their path
    from the root, None for one absent: `info/exclude` and the ignore files from the top of the work tree down to
    the root; outside a repository, `.git`, absent (`git init` brings git's rules in)."""
    if top is None or holder is None:
        return {} if os.path.lexists(os.path.join(real_root, ".git")) else {".git": None}
    exclude = os.path.join(os.path.realpath(os.path.join(_git_dir(holder), "info")), "exclude")
    paths = [exclude]
    parts = [] if top == real_root else os.path.relpath(real_root, top).split(os.sep)
    for depth in range(len(parts)):
        paths.extend(os.path.join(top, *parts[:depth], name) for name in IGNORE_FILES)
    return {display_path(os.path.relpath(path, real_root)): recorded_stamp(path) for path in paths}


def _sparse_ignore_files(top: str, holder: str) -> dict[bytes, bytes]:
    """The `.gitignore` files a sparse checkout of the work tree at `top` (its `.git` in `holder`) leaves out
    (skip-worktree), by directory ("" or "a/b/"), with their text in git's index: git reads such a file from its
    index when it is not in the tree (dir.c, `read_skip_worktree_file_from_index`), so its rules still apply. Asked
    of git only where a sparse checkout was set up (`info/sparse-checkout`); nothing without git or when it fails."""
    if not os.path.exists(os.path.join(_own_git_dir(holder), "info", "sparse-checkout")):
        return {}
    import shutil

    git = shutil.which("git")
    listed = git_output(git, top, "ls-files", "-z", "-t", "--", ":(glob)**/.gitignore") if git else None
    paths = [entry[2:] for entry in (listed or b"").split(b"\0") if entry.startswith(b"S ") and b"\n" not in entry]
    if git is None or not paths:
        return {}
    found = git_output(git, top, "cat-file", "--batch", input=b"".join(b":" + path + b"\n" for path in paths))
    texts = _batch_blobs(found or b"", len(paths))
    return {path[: -len(GITIGNORE)]: text for path, text in zip(paths, texts, strict=False) if text is not None}


def _left_out_rules(sparse: Mapping[bytes, bytes], directory: str, base: bytes, fold: bool) -> _Rules | None:
    """The rules of the `.gitignore` of `directory` (`base` from the top) that a sparse checkout left out of the
    tree, as git reads them from its index; None when there is none, or when a file of that name is there."""
    text = sparse.get(base)
    if text is None or os.path.lexists(os.path.join(directory, GITIGNORE)):
        return None
    return _rules_of(text, base, fold)


def _batch_blobs(output: bytes, count: int) -> list[bytes | None]:
    """The contents `git cat-file --batch` printed for `count` requests in order (None for one it lacks: `missing`,
    or a blob over MAX_IGNORE_FILE_BYTES); fewer when the output ends early."""
    blobs: list[bytes | None] = []
    at = 0
    while len(blobs) < count:
        end = output.find(b"\n", at)
        if end < 0:
            break
        header = output[at:end].split(b" ")
        if len(header) != 3 or not header[2].isdigit():  # `<name> missing` or `ambiguous`
            blobs.append(None)
            at = end + 1
            continue
        size = int(header[2])
        wanted = header[1] == b"blob" and size <= MAX_IGNORE_FILE_BYTES
        blobs.append(output[end + 1 : end + 1 + size] if wanted else None)
        at = end + 1 + size + 1
    return blobs


def _ignores_case(top: str) -> bool:
    """The work tree's `core.ignorecase` as git reads it (set by `git init` and `git clone` on a file system that
    ignores case: macOS's and Windows' by default); false without git."""
    import shutil

    git = shutil.which("git")
    return git is not None and git_output(git, top, "config", "--bool", "core.ignorecase") == b"true\n"


@dataclass(frozen=True, slots=True)
class _Tracked:
    """Files git tracks although an ignore rule matches them (`git add -f`), and the directories above
    them: git never ignores a tracked file. Paths from the top of the work tree, as bytes."""

    files: frozenset[bytes] = frozenset()
    dirs: frozenset[bytes] = frozenset()
    problem: str = ""
    """Why git could not list them, as a note for people (with what was done instead, and a hint); "" when it could
    (or there is no git, or no repository: then no file is tracked)."""


GIT_TIMEOUT_SECONDS = 60
GIT_NOT_RUN = -1
"""The returncode `git_run` gives a git command that could not start or did not finish."""
GIT_SAFETY_OPTIONS = ("-c", "core.fsmonitor=false")
"""Options for every git command Atlas runs in a repository: its `.git/config` may name a command as
`core.fsmonitor`, which commands that read the index (ls-files, status) run; a repository is data, never code."""
_REPOSITORY_VARIABLES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE", "GIT_REPLACE_REF_BASE", "GIT_NO_REPLACE_OBJECTS",
    "GIT_IMPLICIT_WORK_TREE", "GIT_PREFIX", "GIT_NAMESPACE",
    # How git reads pathspecs: each command Atlas runs says it (`--literal-pathspecs`, `:(literal)`), and these
    # turn the magic into file names (LITERAL) or refuse `--literal-pathspecs` outright (GLOB, ICASE).
    "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS",
)  # fmt: skip


_NO_TRANSPORT = {"GIT_ALLOW_PROTOCOL": "", "GIT_NO_LAZY_FETCH": "1"}
"""A partial clone fetches the objects it lacks from its promisor remote, through whatever its config names
(`core.sshCommand`, `core.gitProxy`, a credential helper): git reads, never fetches. An empty protocol allow list
overrides every `protocol.*.allow` setting; git >= 2.44 also knows GIT_NO_LAZY_FETCH."""


def git_environment() -> dict[str, str]:
    """The environment for every git command Atlas runs in a repository: this process's, without the variables
    that point git at another repository's files (`GIT_DIR`, `GIT_INDEX_FILE`..., set by a shell or by the git
    hook that runs Atlas, as `git rev-parse --local-env-vars` lists them): `git -C ROOT` alone names the one read;
    nor those that change how git reads the pathspecs Atlas gives it (`GIT_LITERAL_PATHSPECS`...).
    And no transport: see _NO_TRANSPORT."""
    kept = {name: value for name, value in os.environ.items() if name not in _REPOSITORY_VARIABLES}
    return {**kept, **_NO_TRANSPORT}


def git_output(
    git: str, top: str, *args: str, timeout: float = GIT_TIMEOUT_SECONDS, input: bytes | None = None
) -> bytes | None:
    """Stdout of the short git command `args` in the work tree `top` (`git_run`), or None when it cannot start,
    fails or does not finish within `timeout` seconds."""
    done = git_run(git, top, *args, timeout=timeout, input=input)
    return done.stdout if done.returncode == 0 else None


def git_run(
    git: str, top: str, *args: str | bytes, timeout: float = GIT_TIMEOUT_SECONDS, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the short git command `args` in the work tree `top` with `GIT_SAFETY_OPTIONS` and `git_environment`,
    given `input` on its stdin when there is one. One that cannot start, or does not finish within `timeout`
    seconds (a hung git; git waiting on a FIFO put in `.git`), fails with returncode GIT_NOT_RUN and the reason as
    its stderr."""
    import subprocess

    command = [git, "-C", top, *GIT_SAFETY_OPTIONS, *args]
    # Never this process's own stdin: git reads it when a `.git/config` includes /dev/stdin (a terminal; the MCP
    # server's requests).
    stdin = subprocess.DEVNULL if input is None else None
    try:
        return subprocess.run(command, capture_output=True, check=False, timeout=timeout, env=git_environment(),
                              input=input, stdin=stdin)  # fmt: skip
    except subprocess.TimeoutExpired:
        why = f"git {_subcommand(args)} did not finish within {timeout:g} s"
    except (OSError, subprocess.SubprocessError) as err:
        why = f"git cannot be run: {getattr(err, 'strerror', None) or err}"
    return subprocess.CompletedProcess(command, GIT_NOT_RUN, b"", why.encode())


def _subcommand(args: tuple[str | bytes, ...]) -> str:
    """The git command `args` run (`ls-files` of `-c core.quotepath=off ls-files -z`)."""
    after_c = False
    for arg in map(os.fsdecode, args):
        if not after_c and not arg.startswith("-"):
            return arg
        after_c = arg == "-c"
    return "command"


def _tracked_but_ignored(top: str | None, prefix: str) -> _Tracked:
    """What `git ls-files --cached --ignored --exclude-standard` lists under `prefix` (the root) for the work
    tree at `top`; nothing when there is none or git is missing (the ignore rules alone decide).

    When git fails, the files are not silently dropped (a `git add -f` build output, a committed `.env.example`
    under `.env*`): with its index unreadable (corrupt, or of a newer git) the files of the last commit stand in
    for those it tracks, as `git reset` would make them; when it refuses the repository (another user's: "detected
    dubious ownership") or has no commit to read, nothing is listed. Either way `problem` says so."""
    import shutil

    git = shutil.which("git")
    if top is None or git is None:
        return _Tracked()
    done = git_run(git, top, "--literal-pathspecs", "-c", "core.quotepath=off", "ls-files", "-z", "--cached",
                    "--ignored", "--exclude-standard", "--", prefix or ".")  # fmt: skip
    if done.returncode == 0:
        return _tracked_of(done.stdout)
    if b"safe.directory" in done.stderr:  # git >= 2.35.2: "detected dubious ownership"
        return _Tracked(problem=(
            f"git refuses the repository at {visible(top)} (owned by another user), so files it tracks although "
            "ignore rules match them are left out; to index them, trust it with "
            f"`git config --global --add safe.directory {visible(top)}`"
        ))  # fmt: skip
    committed = git_run(git, top, "--literal-pathspecs", "-c", "core.quotepath=off", "ls-tree", "-r", "-z",
                         "--name-only", "HEAD", "--", prefix or ".")  # fmt: skip
    why = f"git could not read its index ({_git_error(done)})"
    if committed.returncode == 0:
        return replace(_tracked_of(committed.stdout), problem=(
            f"{why}: the files git tracks although ignore rules match them are taken from the last commit (HEAD); "
            "rebuild the index from it with `rm .git/index && git reset` (staged changes are lost)"
        ))  # fmt: skip
    return _Tracked(problem=f"{why}, so files it tracks although ignore rules match them may be left out")


def _git_error(done: subprocess.CompletedProcess[bytes]) -> str:
    """The gist of why a git command failed: its last `fatal:` line, else its last line of stderr."""
    lines = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    fatal = [line.removeprefix("fatal:").strip() for line in lines if line.startswith("fatal:")]
    return visible((fatal or lines or [f"exit status {done.returncode}"])[-1])[:200]


def _tracked_of(listed: bytes) -> _Tracked:
    """The files of a NUL-separated listing, with the directories above them."""
    files = frozenset(path for path in listed.split(b"\0") if path)
    dirs: set[bytes] = set()
    for path in files:
        end = path.rfind(b"/")
        while end > 0 and path[:end] not in dirs:  # a directory seen has its own ancestors in already
            dirs.add(path[:end])
            end = path.rfind(b"/", 0, end)
    return _Tracked(files, frozenset(dirs))


# ---------------------------------------------------------------------------------------------
# The walk.


@dataclass(slots=True)
class _Frame:
    """A directory being walked: its sorted entries and the rules in force inside it."""

    path: str
    rel: str
    entries: list[os.DirEntry[str]]
    git_rules: tuple[_Rules, ...]
    """Deepest .gitignore first, info/exclude last; .atlasignore files (`atlas_rules`) take precedence."""
    atlas_rules: tuple[_Rules, ...]
    ancestors: frozenset[_Key]
    git_excluded: bool = False
    """Git ignores this directory (entered only for files git tracks in it): git ignores what it does not track."""
    unstatable: Mapping[str, _Unstatable] = field(default_factory=dict)
    """Entries listed whose `lstat` failed (`_listing`), by name: never asked again, reported unreadable."""
    next: int = 0


def refuse_pseudo_filesystem(root: Path) -> None:
    """Raise InputError when `root` is on a pseudo-filesystem (`/proc`, `/sys`): nothing there is source."""
    try:
        device = os.stat(root).st_dev
    except OSError:
        return  # the build's own checks say what is wrong with the path
    kind = pseudo_filesystem_of(device)
    if kind:
        raise InputError(f"{root} is on the kernel's {kind} filesystem, not source code",
                         "index a project's directory")  # fmt: skip


class _Walker:
    def __init__(self, root: Path, options: WalkOptions, notes: list[str] | None = None, stamped: bool = False) -> None:
        self.root = os.fspath(root)
        self.notes = notes if notes is not None else []
        self.real_root = os.path.realpath(root)
        self.options = options
        top, holder, elsewhere = _repository(self.real_root)
        if elsewhere:
            self.notes.append(elsewhere)
        self.outer = _outer_rules(self.real_root, top, holder)
        self.stamps: dict[str, Stamp] | None = None
        """The stamps of the ignore files met in the directories walked (`atlas.ignore_stamps`), when recorded."""
        self.whole_tree: dict[str, Stamp | None] = {}
        self.kept_tracked: list[str] = []
        """Files walked only because git tracks them though a rule leaves them out (when stamps are recorded)."""
        if stamped and not self.outer.sparse_ignores:  # git reads those from its index: no stamp tells they moved
            self.stamps = {}
            self.whole_tree = _whole_tree_stamps(self.real_root, top, holder)
        self.prefix = os.fsencode(self.outer.prefix)
        self.excluded_real = tuple(os.path.realpath(p) for p in options.exclude_dirs)
        self.excluded_keys = {key for key in map(_key_of, options.exclude_dirs) if key is not None}
        self._tracked: _Tracked | None = None

    def walk(self) -> Iterator[FileEntry | Skipped]:
        key = _key_of(self.root)
        if key is None:
            return
        first = self._open(self.root, "", self.outer.git_rules, self.outer.atlas_rules, frozenset({key}), False)
        if isinstance(first, Skipped):
            yield first
            return
        stack = [first]
        while stack:
            frame = stack[-1]
            if frame.next == len(frame.entries):
                stack.pop()
                continue
            entry = frame.entries[frame.next]
            frame.next += 1
            if entry.name in NEVER_ENTER:
                continue
            result = self._visit(frame, entry)
            if isinstance(result, _Frame):
                stack.append(result)
            elif result is not None:
                yield result

    def _open(
        self,
        path: str,
        rel: str,
        git_rules: tuple[_Rules, ...],
        atlas_rules: tuple[_Rules, ...],
        ancestors: frozenset[_Key],
        git_excluded: bool,
        expected: _Key | None = None,
    ) -> _Frame | Skipped:
        try:
            fd = _open_directory(path, expected)
            try:
                entries, unstatable = _listing(fd)
                names = {entry.name: entry for entry in entries}
                git_rules, atlas_rules = self._rules_inside(fd, rel, git_rules, atlas_rules, names.keys())
                if self.stamps is not None:
                    self._stamp(rel, names, unstatable)
            finally:
                os.close(fd)
        except OSError as err:
            return Skipped(display_path(rel.rstrip("/") or "."), SkipReason.UNREADABLE, _why(err))
        return _Frame(path, rel, entries, git_rules, atlas_rules, ancestors, git_excluded, unstatable)

    def _stamp(self, rel: str, names: Mapping[str, os.DirEntry[str]], unstatable: Mapping[str, object]) -> None:
        """Record the stamps of the ignore files in the directory `rel` just listed (`names`: its entries, whose
        `lstat` the listing took); one whose `lstat` failed gets a stamp that matches nothing."""
        assert self.stamps is not None
        for name in IGNORE_FILES:
            if name in names:
                found = None if name in unstatable else names[name].stat(follow_symlinks=False)
                self.stamps[display_path(rel + name)] = stamp_of(found) if found else []

    def _rules_inside(
        self,
        fd: int,
        rel: str,
        git_rules: tuple[_Rules, ...],
        atlas_rules: tuple[_Rules, ...],
        names: Collection[str] | None = None,
    ) -> tuple[tuple[_Rules, ...], tuple[_Rules, ...]]:
        """The rules in force inside the directory open as `fd` (`rel` from the root; `names`: its entries, when
        listed), those of its parent's given.

        The ignore files are read through `fd`, never by path: a directory swapped for a link out of the root
        since it was opened cannot lend another directory's rules. As git does, an ignore file that is a link is
        not read (git >= 2.32: "unable to access '.gitignore': Too many levels of symbolic links"), nor a FIFO,
        a device or a directory in its place (git would wait on a FIFO for a writer)."""
        base, fold = self.prefix + os.fsencode(rel), self.outer.fold
        if names is None or GITIGNORE in names:
            git_rules = _pushed(_read_rules(GITIGNORE, base, False, fold, dir_fd=fd), git_rules)
        if base in self.outer.sparse_ignores and not _holds(fd, GITIGNORE, names):  # as git reads it, from its index
            git_rules = _pushed(_rules_of(self.outer.sparse_ignores[base], base, fold), git_rules)
        if names is None or ATLASIGNORE in names:
            atlas_rules = _pushed(_read_rules(ATLASIGNORE, base, False, fold, dir_fd=fd), atlas_rules)
        return git_rules, atlas_rules

    def _walks(self, real: str, is_dir: bool = True) -> bool:
        """Whether the walk enters the directory `real` (inside the root) by its own path, or, without `is_dir`,
        takes the file `real`: no rule leaves it, or a directory above it, out.

        The directories from the root down to `real` are opened one inside the other without following a link,
        and their ignore files read through them: one that changed into a link (or went) since `real` was
        resolved is not walked by its own path, and no file beyond it is read."""
        parts = [] if real == self.real_root else os.path.relpath(real, self.real_root).split(os.sep)
        try:
            fd = os.open(self.real_root, _DIRECTORY_FLAGS)
        except OSError:
            return False
        try:
            rel = ""
            rules = self._rules_inside(fd, rel, self.outer.git_rules, self.outer.atlas_rules)
            frame = _Frame(self.real_root, rel, [], *rules, frozenset())
            for depth, name in enumerate(parts, 1):
                a_file = not is_dir and depth == len(parts)
                verdict = self._verdict(frame, rel + name, name, is_dir=not a_file)
                if name in NEVER_ENTER or verdict is _Verdict.IGNORED:
                    return False
                if a_file:
                    return True
                fd = _open_child(fd, name)
                rel += name + "/"
                rules = self._rules_inside(fd, rel, frame.git_rules, frame.atlas_rules)
                frame = _Frame(os.path.join(frame.path, name), rel, [], *rules, frozenset(),
                               frame.git_excluded or verdict is _Verdict.TRACKED_ONLY)  # fmt: skip
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def _visit(self, frame: _Frame, entry: os.DirEntry[str]) -> _Frame | FileEntry | Skipped | None:
        rel = frame.rel + entry.name
        path = os.path.join(frame.path, entry.name)
        if (unstatable := frame.unstatable.get(entry.name)) is not None:
            if self._verdict(frame, rel, entry.name, unstatable.is_dir) is _Verdict.IGNORED:
                return None
            return Skipped(display_path(rel), SkipReason.UNREADABLE, _why(unstatable.error))
        is_link = False
        try:
            is_link = entry.is_symlink()
            st = os.stat(path) if is_link else entry.stat(follow_symlinks=False)
        except OSError as err:
            if self._verdict(frame, rel, entry.name, is_dir=False) is not _Verdict.WALK:
                return None
            loop = err.errno == errno.ELOOP
            detail = _why(err) if not is_link or loop else f"dangling symlink ({_why(err)})"
            return Skipped(display_path(rel), SkipReason.SYMLINK_LOOP if loop else SkipReason.UNREADABLE, detail)
        is_dir = stat.S_ISDIR(st.st_mode)
        verdict = self._verdict(frame, rel, entry.name, is_dir)
        if verdict is _Verdict.IGNORED:
            return None
        if is_link:
            try:
                real = os.path.realpath(path)
            except OSError as err:  # the link changed between its stat and this read (realpath reads it again)
                return Skipped(display_path(rel), SkipReason.UNREADABLE, _why(err))
            if not _inside(real, self.real_root):
                return Skipped(display_path(rel), SkipReason.SYMLINK_OUTSIDE, "links outside the root")
            if self._forbidden(real) or (not is_dir and not self._walks(real, is_dir=False)):
                return None  # a link to a file the rules leave out (`.env`, `secrets/`) brings none of its text
        if is_dir:
            if is_link:
                return self._link_to_directory(frame, rel, st, real)
            return self._enter(frame, path, rel, st, git_excluded=verdict is _Verdict.TRACKED_ONLY)
        if not stat.S_ISREG(st.st_mode):
            return Skipped(display_path(rel), SkipReason.SPECIAL)
        if st.st_size > self.options.max_file_bytes:
            return Skipped(display_path(rel), SkipReason.TOO_LARGE, f"{st.st_size} bytes")
        shown = display_path(rel)
        if "\\x" in shown and self._shadowed(rel, shown):
            return Skipped(shown, SkipReason.DUPLICATE, "its name reads as another's, made of bytes that are not UTF-8")
        return FileEntry(shown, path, st.st_size, st.st_mtime_ns, self.root, ctime_ns=st.st_ctime_ns)

    def _shadowed(self, rel: str, shown: str) -> bool:
        """Whether the file `rel`, whose name holds the text `\\xNN`, shares its display path with a file whose name
        holds that byte: the path names the other file (see `fs_path`), so this one could be neither read nor told
        apart."""
        other = fs_path(shown)
        if not isinstance(other, bytes) or other == os.fsencode(rel):
            return False
        return os.path.lexists(os.path.join(os.fsencode(self.root), other))

    def _enter(
        self, frame: _Frame, path: str, rel: str, st: os.stat_result, git_excluded: bool
    ) -> _Frame | Skipped | None:
        key = (st.st_dev, st.st_ino)
        if key in self.excluded_keys:
            return None
        kind = pseudo_filesystem_of(st.st_dev)
        if kind:  # `atlas index /` walks past /proc and /sys
            return Skipped(display_path(rel), SkipReason.SPECIAL, f"the kernel's {kind} filesystem")
        if key in frame.ancestors:
            return Skipped(display_path(rel), SkipReason.SYMLINK_LOOP, "leads back to an enclosing directory")
        return self._open(
            path, rel + "/", frame.git_rules, frame.atlas_rules, frame.ancestors | {key}, git_excluded, key
        )

    def _link_to_directory(self, frame: _Frame, rel: str, st: os.stat_result, real: str) -> Skipped | None:
        """A link to a directory inside the root is never walked: the walk reaches that directory by its own path,
        and git, which never follows links, shows no file through one (a link into an ignored directory, `build/`
        or `node_modules/`, would bring in the files the rules leave out). Left out silently in that case."""
        if (st.st_dev, st.st_ino) in frame.ancestors:
            return Skipped(display_path(rel), SkipReason.SYMLINK_LOOP, "leads back to an enclosing directory")
        if not self._walks(real):
            return None
        return Skipped(display_path(rel), SkipReason.DUPLICATE, "links to a directory walked by its own path")

    def _verdict(self, frame: _Frame, rel: str, name: str, is_dir: bool) -> _Verdict:
        """Whether `rel` is walked: .atlasignore rules first, then git's, under which git still walks what it
        tracks (and a directory it ignores only for the tracked files inside)."""
        path = self.prefix + os.fsencode(rel)
        name_bytes = os.fsencode(name)
        by_atlas = _decide(frame.atlas_rules, path, name_bytes, is_dir)
        if by_atlas is not None:
            return _Verdict.IGNORED if by_atlas else _Verdict.WALK
        if not frame.git_excluded and not _decide(frame.git_rules, path, name_bytes, is_dir):
            return _Verdict.WALK
        tracked = self._tracked_paths()
        if is_dir:
            return _Verdict.TRACKED_ONLY if path in tracked.dirs else _Verdict.IGNORED
        if path not in tracked.files:
            return _Verdict.IGNORED
        if self.stamps is not None:
            self.kept_tracked.append(display_path(rel))
        return _Verdict.WALK

    def _tracked_paths(self) -> _Tracked:
        """Asked of git once, the first time an ignore rule of git's leaves something out."""
        if self._tracked is None:
            self._tracked = _tracked_but_ignored(self.outer.top, self.outer.prefix)
            if self._tracked.problem:
                self.notes.append(self._tracked.problem)
        return self._tracked

    def _forbidden(self, real: str) -> bool:
        """A symlink target inside a `.git` or `.atlas` directory or an excluded directory."""
        if NEVER_ENTER.intersection(os.path.relpath(real, self.real_root).split(os.sep)):
            return True
        return any(_inside(real, excluded) for excluded in self.excluded_real)


class _Verdict(enum.Enum):
    WALK = enum.auto()
    IGNORED = enum.auto()
    TRACKED_ONLY = enum.auto()
    """A directory git ignores, walked for the files it tracks inside and nothing else."""


def _holds(fd: int, name: str, names: Collection[str] | None) -> bool:
    """Whether the directory open as `fd` holds an entry `name` (`names`: its entries, when listed)."""
    if names is not None:
        return name in names
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _decide(rules: tuple[_Rules, ...], path: bytes, name: bytes, is_dir: bool) -> bool | None:
    """Whether the first of `rules` (highest precedence first) that has an opinion ignores `path`; None when
    none has one."""
    for ruleset in rules:
        decision = ruleset.decide(path, name, is_dir)
        if decision is not None:
            return decision
    return None


def _pushed(found: _Rules | None, rules: tuple[_Rules, ...]) -> tuple[_Rules, ...]:
    return (found, *rules) if found else rules


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_directory(path: str, expected: _Key | None) -> int:
    """A descriptor of directory `path` (the caller closes it), through which the walk lists it and reads its
    ignore files.

    With `expected` (the directory's (device, inode) from the walk's `lstat`), the directory is opened without
    following a link and must be that one: a directory swapped for a link out of the root after its `lstat` is
    refused (ENOTDIR or ELOOP, ESTALE when another directory took its place), never listed. Without it (the
    root, as given), a link is followed."""
    if expected is None:
        return os.open(path, _DIRECTORY_FLAGS & ~os.O_NOFOLLOW)  # the root as given may be a link
    fd = os.open(path, _DIRECTORY_FLAGS)
    try:
        found = os.fstat(fd)
        if (found.st_dev, found.st_ino) != expected:
            raise OSError(errno.ESTALE, "the directory changed while being walked")
    except BaseException:
        os.close(fd)
        raise
    return fd


def path_left_out(root: Path, path: str) -> bool:
    """Whether the walk of `root` leaves out the repository path `path` (as the walk names it): the ignore rules leave
    it out (`.atlasignore`, which git never reads; `.gitignore` outside git), or it is a symbolic link to a file the
    walk leaves out: outside the root, in `.git` or `.atlas`, or left out by the ignore rules (a committed
    `config.txt -> .env`, or a link into `secrets/`). The walk indexes no such file (`_Walker._visit`); the fast
    preset, which lists files with git or a walk that reads no ignore file, asks this of each file it would read."""
    return file_left_out(root, os.fsdecode(os.path.realpath(on_disk(root, path))))


def file_left_out(root: str | os.PathLike[str], real: str) -> bool:
    """Whether the walk of `root` leaves out the file whose resolved path is `real`: outside the root, in `.git` or
    `.atlas`, or left out by the ignore rules (`.env`, anything in `secrets/`)."""
    walker = _walker_for(os.fspath(root))
    if not _inside(real, walker.real_root):
        return True
    return walker._forbidden(real) or not walker._walks(real, is_dir=False)


WALKER_REUSE_SECONDS = 5.0
"""How long `file_left_out` keeps a root's walker: the rules from outside the tree (`core.ignorecase`, asked of git;
`info/exclude`) and the files git tracks are read once for a run's many links, and again by a server after this.
The tree's own ignore files are read at every call."""
_walkers: dict[str, tuple[float, _Walker]] = {}


def _walker_for(root: str) -> _Walker:
    import time

    now = time.monotonic()
    made, walker = _walkers.get(root, (-WALKER_REUSE_SECONDS, None))
    if walker is None or now - made > WALKER_REUSE_SECONDS:
        walker = _Walker(Path(root), WalkOptions())
        _walkers[root] = (now, walker)
    return walker


def list_directory(path: str, expected: _Key | None = None) -> list[os.DirEntry[str]]:
    """The entries of directory `path` whose `lstat` could be taken, as the walk lists one (see `_open_directory` and
    `_listing`): with `expected`, a directory swapped since for a link, or for another directory, is refused with an
    OSError."""
    fd = _open_directory(path, expected)
    try:
        entries, unstatable = _listing(fd)
    finally:
        os.close(fd)
    return [entry for entry in entries if entry.name not in unstatable]


def _open_child(fd: int, name: str) -> int:
    """A descriptor of the directory `name` inside the directory `fd`, opened without following a link; `fd` is
    closed once that worked."""
    child = os.open(name, _DIRECTORY_FLAGS, dir_fd=fd)
    os.close(fd)
    return child


@dataclass(frozen=True, slots=True)
class _Unstatable:
    """An entry listed whose `lstat` failed for another reason than being gone: a directory that can be listed but
    not entered (mode 644, no search permission) lends its names and no stat of them."""

    error: OSError
    is_dir: bool
    """What the listing's file type says (`d_type`), for the ignore rules: false when it says nothing."""


def _listing(fd: int) -> tuple[list[os.DirEntry[str]], dict[str, _Unstatable]]:
    """The entries of the directory open as `fd`, sorted by name, each with its `lstat` taken (DirEntry keeps it),
    and those whose `lstat` failed, by name: entries are stat'ed before the descriptor closes, as asking later would
    go through a closed (or reused) descriptor. One gone since the listing (ENOENT) is left out; one that is there
    but cannot be stat'ed (EACCES) is kept, to be reported, never dropped silently."""
    with os.scandir(fd) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    kept: list[os.DirEntry[str]] = []
    unstatable: dict[str, _Unstatable] = {}
    for entry in entries:
        try:
            entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as err:
            unstatable[entry.name] = _Unstatable(err, _listed_as_directory(entry))
        kept.append(entry)
    return kept, unstatable


def _listed_as_directory(entry: os.DirEntry[str]) -> bool:
    """Whether the listing says `entry` is a directory (no `lstat`: it failed)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:  # the file system gives no type in its listing, and the lstat it falls back on fails
        return False


def _key_of(path: str | os.PathLike[str]) -> _Key | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _inside(real: str, real_dir: str) -> bool:
    return real == real_dir or real.startswith(real_dir.rstrip(os.sep) + os.sep)


def _why(err: OSError) -> str:
    return err.strerror or str(err)


_OBJECT_NAME = re.compile(rb"[0-9a-f]{40}([0-9a-f]{24})?")


def is_git_directory(root: Path) -> bool:
    """Whether `root` is a git directory: a bare repository or a `.git`, git's internals without a work tree.

    The test is git's own (`is_git_directory` in setup.c): `objects/` and `refs/` directories and a
    HEAD that is a symbolic ref or an object name. One this user may not look into (a `.git` made mode 000,
    another user's) is none, as git, which cannot read it either, finds none there.
    """
    try:
        if not (root / "objects").is_dir() or not (root / "refs").is_dir():
            return False
        return _is_head(os.fspath(root / "HEAD"))
    except OSError:
        return False


def _is_head(path: str) -> bool:
    """Whether the file at `path` is a HEAD as git's `validate_headref` takes one: a symbolic link is judged by the
    text it holds (`refs/...`), never read through (it may lead out of the tree), a file by its first line."""
    if os.path.islink(path):
        return os.readlink(path).startswith("refs/")
    head = read_regular_file(path, 256, follow=False).strip()
    return head.startswith(b"ref: refs/") or _OBJECT_NAME.fullmatch(head) is not None


def refuse_git_directory(root: Path) -> None:
    """Raise InputError when `root` is a git directory (`is_git_directory`) or inside one (`.git/hooks`): git's
    internals, no work tree."""
    absolute = Path(os.path.abspath(root))
    git_dir = next((d for d in (absolute, *absolute.parents) if is_git_directory(d)), None)
    if git_dir is None:
        return
    clone = f"git clone {git_dir} DIR`, then `atlas index DIR"
    checkout = f"atlas index {git_dir.parent}" if git_dir.name == ".git" else clone
    if git_dir == absolute:
        raise InputError(f"{root} is a bare repository (git's internals), no work tree to index", f"use `{checkout}`")
    raise InputError(f"{root} is inside {git_dir}, a bare repository (git's internals), no work tree to index",
                     f"use `{checkout}`")  # fmt: skip


def refuse_root_without_source(root: Path) -> None:
    """Raise InputError when `root` is git's internals or a kernel pseudo-filesystem: no source to walk."""
    refuse_git_directory(root)
    refuse_pseudo_filesystem(root)


def walk(
    root: Path,
    options: WalkOptions | None = None,
    notes: list[str] | None = None,
    ignore_files: dict[str, object] | None = None,
) -> Iterator[FileEntry | Skipped]:
    """Yield every file under `root` as a `FileEntry` to index or a `Skipped` with its reason.

    Paths are relative to `root`, `/`-separated, in a stable order: depth first, each
    directory's entries sorted by name. Ignored files are not reported at all: they are not
    part of the repository as Atlas sees it. `notes` receives what people should know about the walk as a whole
    (git could not say which ignored files it tracks). `ignore_files`, when given, receives once the walk is done
    the stamps of the ignore files it read (`atlas.ignore_stamps`); it stays empty when no stamp can tell a search
    that the rules moved (a sparse checkout's `.gitignore` files are read from git's index).
    """
    walker = _Walker(root, options or WalkOptions(), notes, stamped=ignore_files is not None)
    yield from walker.walk()
    if ignore_files is not None and walker.stamps is not None:
        ignore_files.update(directories=walker.stamps, whole_tree=walker.whole_tree, tracked=walker.kept_tracked)
