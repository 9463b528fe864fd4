"""Stamps of the ignore files a walk read, so that a search can tell cheaply whether the rules may have moved since.

A build records, in its generation's manifest (`ignore_files`), the stamp (mtime, ctime, size, inode) of each
`.gitignore` and `.atlasignore` the walk found in a directory it entered (`directories`, keyed by the file's
repository path), of the files that rule the whole tree (`whole_tree`: `info/exclude`, the ignore files above the
root inside its work tree, keyed by their path from the root; null for one absent), and the files it took only
because git tracks them though a rule leaves them out (`tracked`: untracking one leaves it out, and no ignore file
moves). A directory the walk entered without an ignore file had none: one there now is a change.

At search time `IgnoreStamps.moved` takes a stat of the ignore files on the way to each hit (two a directory), and
of the whole tree's, and compares; ~1 µs a stat, so ten hits cost tens of microseconds. Only when a stamp moved
does the caller run the full rule check (`atlas.walk.path_left_out`, which reads every ignore file and may ask git).
This module imports no walk code (nor git): a search pays for those only once a stamp moved.

Not stamped: the user's global excludes file (the walk does not read it), `core.ignorecase` (in git's config), and
the `.gitignore` files git reads from its index for a sparse checkout (a walk that meets them records no stamps,
and every search then checks its hits in full).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from stat import S_ISLNK
from typing import Any

GITIGNORE = ".gitignore"
ATLASIGNORE = ".atlasignore"
IGNORE_FILES = (GITIGNORE, ATLASIGNORE)
Stamp = list[int]
_UNKNOWN = object()
"""What a stat that failed otherwise than "no such file" gives (EACCES, ELOOP, ENOTDIR): equal to no stamp."""


def stamp_of(found: os.stat_result) -> Stamp:
    """The stamp of a file whose stat is `found`.

    Its times tick every few milliseconds: a rewrite in place (same inode) of as many bytes within the tick of the
    write before, just as the walk read the file, would keep its stamp (git's "racy" files). Marking the stamps of
    files that recent as matching nothing cost every search after a build made right after a checkout (CI, scripts)
    the full check; no editor rewrites an ignore file that fast."""
    return [found.st_mtime_ns, found.st_ctime_ns, found.st_size, found.st_ino]


def recorded_stamp(path: str) -> Stamp | None:
    """The stamp recorded for the file at `path` (a symbolic link followed): None when there is none, one that
    matches nothing when its stat fails otherwise."""
    found = stamp_now(path, follow=True)
    return found if found is None or isinstance(found, list) else []


def stamp_now(path: str | bytes, follow: bool = False) -> object:
    """The stamp of the file at `path` now (following a final symbolic link with `follow`); None when there is none,
    `_UNKNOWN` when its stat fails otherwise."""
    try:
        found = os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return None
    except OSError:
        return _UNKNOWN
    return stamp_of(found)


@dataclass(frozen=True, slots=True)
class IgnoreStamps:
    """The ignore files' stamps a generation's manifest records (see the module docstring)."""

    directories: Mapping[str, Any]
    whole_tree: Mapping[str, Any]
    tracked: frozenset[str]

    @classmethod
    def of(cls, record: object) -> IgnoreStamps | None:
        """The stamps of a manifest's `ignore_files`; None when it has none (a build before stamps, a sparse
        checkout's) or they are not of the shape a build writes. A stamp of another shape matches nothing."""
        if not isinstance(record, dict):
            return None
        directories, whole_tree, tracked = (record.get(key) for key in ("directories", "whole_tree", "tracked"))
        if not isinstance(directories, dict) or not isinstance(whole_tree, dict) or not isinstance(tracked, list):
            return None
        return cls(directories, whole_tree, frozenset(path for path in tracked if isinstance(path, str)))

    def moved(self, root: str, paths: Sequence[str]) -> bool:
        """Whether an ignore file that rules any of `paths` (repository paths under `root`) may differ from what the
        build read: its stamp moved, one appeared where there was none, or a stat on the way fails.

        An ignore file that should be absent is looked for with `access` (~1 µs, where a stat that fails costs 2.5
        µs: Python makes an exception of it), which cannot tell "absent" from "a directory on the way cannot be
        searched" (EACCES, ELOOP): a last look at each of `paths` tells, as those directories are its way too."""
        return self._rules_moved(root, paths) or any(_mode(_joined(_prefix(root), path)) is None for path in paths)

    def asked(self, root: str, paths: Sequence[str]) -> Sequence[str]:
        """Which of `paths` to ask of the rules: all of them when `moved`, else those the walk took only because git
        tracks them and those that are symbolic links now: no stamp covers the way to the file a link names
        (`lib/key.txt -> ../secrets/key.txt`, then `secrets/.atlasignore` comes to leave `key.txt` out)."""
        if self._rules_moved(root, paths):
            return paths
        modes = [_mode(_joined(_prefix(root), path)) for path in paths]
        if None in modes:
            return paths
        return [path for path, mode in zip(paths, modes, strict=True) if path in self.tracked or S_ISLNK(mode or 0)]

    def _rules_moved(self, root: str, paths: Sequence[str]) -> bool:
        """Whether an ignore file that rules any of `paths` moved (see `moved`), the paths themselves not looked at."""
        prefix = _prefix(root)
        for key, recorded in self.whole_tree.items():
            if stamp_now(_joined(prefix, key), follow=True) != recorded:
                return True
        recorded = self.directories
        for directory in directories_above(paths):
            for name in IGNORE_FILES:
                key = directory + name
                if key in recorded:
                    if stamp_now(_joined(prefix, key)) != recorded[key]:
                        return True
                elif _exists(_joined(prefix, key)):
                    return True
        return False


_WHOLE_TREE_KEY = re.compile(r"(\.\./)*\.(git|atlas)ignore|.*info/exclude|\.git")
"""A key of `whole_tree` as a build writes one: an ignore file above the root, `info/exclude`, or `.git`."""


def record_problem(record: object) -> str:
    """What in a manifest's `ignore_files` is not of the shape a build writes ("" when all is, or there is none): a
    search stats the paths it names, so a damaged one could have it stat paths out of the tree or fail (a NUL)."""
    if record is None:
        return ""
    if not isinstance(record, dict) or record.keys() != {"directories", "whole_tree", "tracked"}:
        return "its ignore_files are not the stamps of ignore files"
    directories, whole_tree, tracked = record["directories"], record["whole_tree"], record["tracked"]
    if not isinstance(tracked, list) or not all(isinstance(path, str) for path in tracked):
        return "its ignore_files track other than paths"
    for part, stamps, fits in (("directories", directories, _directory_key), ("whole_tree", whole_tree, _outer_key)):
        if not isinstance(stamps, dict):
            return f"its ignore_files' {part} are not stamps by path"
        for key, stamp in stamps.items():
            if not fits(key) or not _stamp_shaped(stamp, part == "whole_tree"):
                return f"its ignore_files' {part} hold {key[:200]!r}: {str(stamp)[:200]}, not an ignore file's stamp"
    return ""


def _directory_key(key: str) -> bool:
    parts = key.split("/")
    return "\0" not in key and parts[-1] in IGNORE_FILES and not {"", ".", ".."} & set(parts)


def _outer_key(key: str) -> bool:
    return "\0" not in key and not key.startswith("/") and _WHOLE_TREE_KEY.fullmatch(key) is not None


def _stamp_shaped(stamp: object, absent: bool) -> bool:
    if stamp is None:
        return absent
    return isinstance(stamp, list) and len(stamp) in (0, 4) and all(type(n) is int for n in stamp)


def still_recorded(recorded: object, walked: Mapping[str, Any] | None) -> bool:
    """Whether a generation whose manifest records the stamps `recorded` may keep them for a walk that found
    `walked` (an update with nothing else to do then keeps the generation): the same files, the same stamps, where a
    stamp recorded to match nothing (unstatable) may be readable since: keeping it costs searches the full check until
    the next generation."""
    if walked is None or not isinstance(recorded, dict):
        return walked is None and recorded is None
    if sorted(recorded.get("tracked") or ()) != sorted(walked["tracked"]):
        return False
    return all(_kept(recorded.get(part), walked[part]) for part in ("directories", "whole_tree"))


def _kept(recorded: object, walked: Mapping[str, Any]) -> bool:
    if not isinstance(recorded, dict) or recorded.keys() != walked.keys():
        return False
    return all(stamp == walked[key] or stamp == [] for key, stamp in recorded.items())


def directories_above(paths: Iterable[str]) -> set[str]:
    """The directories holding each of `paths` and those above them, each "" (the root) or ending in `/`."""
    found = {""}
    for path in paths:
        directory = path[: path.rfind("/") + 1]
        while directory not in found:
            found.add(directory)
            directory = directory[: directory.rfind("/", 0, -1) + 1]
    return found


def _exists(path: str | bytes) -> bool:
    """Whether there is an entry at `path` (a final symbolic link not followed); false too when a directory on the
    way cannot be searched or loops."""
    return os.access(path, os.F_OK, follow_symlinks=False)


def _mode(path: str | bytes) -> int | None:
    """The mode of the entry at `path` (a final symbolic link not followed), 0 when it is gone since the build (the
    search's note names it); None when a directory on the way cannot be searched or loops, where an ignore file
    would not be seen."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0
    except OSError:
        return None


def _prefix(root: str) -> str:
    return root.rstrip("/") + "/"


def _joined(prefix: str, key: str) -> str | bytes:
    """The path on disk of `key` under the root `prefix` (ending in `/`); a key holding a `\\x` escape (a name that
    is not UTF-8) is made bytes again, as `atlas.safe_read.on_disk` does."""
    if "\\x" not in key:
        return prefix + key
    from atlas.safe_read import on_disk

    return on_disk(prefix, key)
