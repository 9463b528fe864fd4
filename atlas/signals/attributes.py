"""What a repository declares about its own files in `.gitattributes`: `linguist-vendored` and `linguist-generated`.

GitHub's linguist reads these to keep vendored and generated files out of a repository's language statistics and
diffs, and projects set them where a path alone does not say it (`proto/** linguist-generated`,
`lib/jquery/** linguist-vendored`, or `vendor/** -linguist-vendored` for their own code in a directory named like a
vendored one). Atlas reads them the same way, through `git check-attr`, so git's own rules decide: nested
`.gitattributes` files, `.git/info/attributes`, macros and the user's `core.attributesFile`.

A tree that is not a git work tree, a git that fails, or attributes that set neither name give no marks: the path
priors (`atlas.signals.priors`) and the parser's roles stand alone, as before.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

from atlas.safe_read import fs_path, read_with_status
from atlas.walk import git_output, repository_top

VENDORED_ATTRIBUTE: Final = "linguist-vendored"
GENERATED_ATTRIBUTE: Final = "linguist-generated"
ATTRIBUTES_FILE: Final = ".gitattributes"
MAX_ATTRIBUTES_BYTES: Final = 1 << 20
_TRUE: Final = frozenset({b"set", b"true"})
_FALSE: Final = frozenset({b"unset", b"false"})


class Marks(NamedTuple):
    """Per path: what the repository's attributes say (True, False) or None where they say nothing."""

    vendored: dict[str, bool]
    generated: dict[str, bool]


NO_MARKS: Final = Marks({}, {})


def linguist_marks(root: Path, paths: Sequence[str]) -> Marks:
    """The `linguist-vendored` and `linguist-generated` attributes git gives `paths` (relative to `root`, in the
    walk's display form; tombstones are empty and skipped), only where set or unset. NO_MARKS when no attributes
    file of the repository names either, or git cannot answer."""
    if repository_top(root)[1] or not _names_linguist(root, paths):  # git's attributes are another tree's
        return NO_MARKS
    by_name = {os.fsencode(fs_path(path)): path for path in paths if path}
    out = _git(root, "check-attr", "-z", "--stdin", VENDORED_ATTRIBUTE, GENERATED_ATTRIBUTE,
               stdin=b"".join(name + b"\0" for name in by_name))  # fmt: skip
    return _parse(out, by_name) if out is not None else NO_MARKS


def _names_linguist(root: Path, paths: Sequence[str]) -> bool:
    """Whether an attributes file git reads for `paths` may name either attribute: one of the tree's own
    `.gitattributes` files, as the walk found them; or, when `root` is a directory inside its repository, one above
    it (left to check-attr: Atlas reads nothing outside `root`); or `.git/info/attributes` or the user's
    `core.attributesFile`, when they exist. Spares a tree without such rules the check of every path (0.1 s for
    ansible's 18,000 files)."""
    if any(_names_either(root, path) for path in paths if path.rpartition("/")[2] == ATTRIBUTES_FILE):
        return True
    prefix = _git(root, "rev-parse", "--show-prefix", "--git-path", "info/attributes")
    if prefix is None:  # not a git work tree, or git cannot read it
        return False
    inside, info = (line.decode(errors="surrogateescape") for line in prefix.split(b"\n")[:2])
    configured = _git(root, "config", "--path", "core.attributesFile") or b""
    candidates = (Path(root, info), Path(os.fsdecode(configured.rstrip(b"\n"))))
    return bool(inside) or any(str(path) != "." and path.is_file() for path in candidates)


def _names_either(root: Path, path: str) -> bool:
    """Whether the tree's attributes file `path` names either attribute (read as any file of the tree is read)."""
    try:
        text, _ = read_with_status(root, path, MAX_ATTRIBUTES_BYTES)
    except OSError:
        return False
    return VENDORED_ATTRIBUTE.encode() in text or GENERATED_ATTRIBUTE.encode() in text


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    """Stdout of `git ARGS` in `root` (`atlas.walk.git_output`), or None when git is missing or fails."""
    git = shutil.which("git")
    return git_output(git, os.fspath(root), *args, input=stdin) if git else None


def _parse(out: bytes, by_name: dict[bytes, str]) -> Marks:
    """`git check-attr -z` output (path NUL attribute NUL value NUL) as Marks keyed by the paths' display form."""
    fields = out.split(b"\0")
    marks = Marks({}, {})
    by_attribute = {VENDORED_ATTRIBUTE.encode(): marks.vendored, GENERATED_ATTRIBUTE.encode(): marks.generated}
    for index in range(0, len(fields) - 2, 3):
        name, attribute, value = fields[index : index + 3]
        said = True if value in _TRUE else False if value in _FALSE else None
        held, path = by_attribute.get(attribute), by_name.get(name)
        if said is not None and held is not None and path is not None:
            held[path] = said
    return marks
