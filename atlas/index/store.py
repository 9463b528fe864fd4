"""Layout of an index directory and its atomic publication.

    <index_dir>/
      .gitignore         `*`: git never lists the index (written when the directory is Atlas's own)
      CURRENT            name of the live generation, replaced atomically (write + rename)
      gen-000001/        one complete generation
        manifest.json    format and tantivy versions, config hash, counts (orjson)
        files.json       per-file table aligned to the file ids
        tantivy/         the tantivy index
        signals/         side store (numpy arrays), when built
      gen-000002.tmp-<pid>/   a build in progress: never opened by readers

A build writes a new generation beside the live one and publishes it by replacing CURRENT,
so a reader sees either the old or the new generation, whole. While a process holds the index lock, its generations
are made, published and removed through the directory it locked (`atlas.index.lock.held_directory`), never through
whatever the path leads to now; a build whose directory was swapped meanwhile (for a link, or another directory) is
refused at its next commit (`refuse_replaced`). What tantivy writes by path into the build's own temporary
generation until then follows the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from atlas.config import DEFAULT_INDEX_DIRNAME, refuse_own_link_out
from atlas.errors import AtlasError, IndexCorrupt, InputError, UsageError, limit_error, read_denied
from atlas.held_signals import signals_deferred
from atlas.index.lock import (
    LOCK_FILE,
    DirectoryKey,
    current_umask,
    directory_key,
    held_directory,
    keep_owner_access,
    pid_alive,
    replaced_while_building,
)
from atlas.safe_read import Refused, display_path, open_regular_file, read_capped, read_regular_file

CURRENT = "CURRENT"
CURRENT_MAX_BYTES = 4096
"""More than CURRENT ever holds (a generation's name)."""
MANIFEST = "manifest.json"
FILES = "files.json"
TANTIVY_DIR = "tantivy"
SIGNALS_DIR = "signals"
HISTORY = "history.json"
"""The mined git history an update starts from (`atlas.signals.compute`); its size is in the manifest."""
GEN_PREFIX = "gen-"
GITIGNORE = ".gitignore"
SHARDS_DIR = "shards"
IGNORE_ALL = b"*\n"
_GENERATION_NAME = re.compile(r"gen-\d+(?:\.tmp-\d+)?")
_PUBLISHED_NAME = re.compile(r"gen-\d+")
"""The names of the generations (and builds in progress) Atlas makes: the only directories it ever deletes."""
_TEMPORARY_NAME = re.compile(r"\.[^/]+\.tmp-\d+")
"""`write_atomic`'s temporary files."""

prepared: list[Path] = []
"""The index directories this process set out to write (a build, shards, an import): an interrupt speaks of what
it left there only then (`atlas.cli`)."""
published: list[Path] = []
"""The generations this process made live, in order: an interrupt that lands after `publish` wrote CURRENT must
not say that nothing was published (`atlas.cli` reads it)."""


def writable(index_dir: Path) -> bool:
    """True unless `index_dir` is on a read-only disk or this user may not create files in it."""
    return os.access(index_dir, os.W_OK)


def ensure_index_dir(index_dir: Path, root: Path) -> DirectoryKey:
    """Create `index_dir` if needed, with a `.gitignore` of `*` so `git status` never shows it; return its key, for
    `index_lock(expected=...)` to refuse another directory put in its place meanwhile.

    Raises InputError, before anything is written, when `index_dir` is not a directory or a UTF-8 path, holds the
    repository at `root`, or holds files of its own: a build writes there and deletes the generations it replaces,
    so only an empty directory or one Atlas has written to (CURRENT, its lock or its shards) is taken.
    """
    check_index_dir(index_dir, root)
    keep_owner_access()
    index_dir.mkdir(parents=True, exist_ok=True)
    prepared.append(index_dir)
    ignore = index_dir / GITIGNORE
    if not ignore.exists():
        with contextlib.suppress(OSError):  # a read-only index has nothing new for git to see
            write_atomic(ignore, IGNORE_ALL)
    return directory_key(os.stat(index_dir))


def check_index_dir(index_dir: Path, root: Path) -> None:
    """InputError when no build of `root` may use `index_dir` (see `ensure_index_dir`); reads it, writes nothing."""
    refuse_non_directory(index_dir)
    shown = display_path(str(index_dir))
    if shown != str(index_dir):
        raise InputError(
            f"the index directory {shown} is not valid UTF-8, and tantivy opens only UTF-8 paths",
            "pass --index-dir DIR (or set ATLAS_INDEX_DIR) to put the index at a UTF-8 path",
        )
    if index_dir.resolve() in (root.resolve(), *root.resolve().parents):
        raise InputError(
            f"the index directory {index_dir} would hold the repository {root}",
            "pass a directory inside the repository (the default is .atlas) or outside it",
        )
    refuse_own_link_out(index_dir, root)
    refuse_current_directory(index_dir)
    if index_dir.is_dir() and not _is_atlas_own(index_dir):
        raise InputError(
            f"{index_dir} holds files that are not an Atlas index, and building there would replace them",
            "pass an empty directory, or a path that does not exist yet, as the index directory",
        )


def refuse_current_directory(index_dir: Path) -> None:
    """IndexCorrupt when `index_dir`'s CURRENT is a directory: readers call that index damaged, but a build cannot
    replace it by the file naming its generation (a rename onto a directory fails), and it only ever deletes the
    directories it made (generations), never one that may hold someone's files. Without this, a build wrote a whole
    generation, then failed on CURRENT with an unexpected error."""
    current = index_dir / CURRENT
    with contextlib.suppress(OSError):  # not there, or not to be looked at: the build's own steps say so
        if stat.S_ISDIR(os.lstat(current).st_mode):
            raise IndexCorrupt(
                f"the index is damaged: {current} is a directory, not the file naming the live generation",
                f"remove {current} (Atlas does not delete a directory it did not make), then run `atlas index`",
            )


_KINDS = {stat.S_IFREG: "a regular file", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
          stat.S_IFSOCK: "a socket"}  # fmt: skip
_ELSEWHERE = "pass --index-dir DIR (or set ATLAS_INDEX_DIR) to keep the index in another directory"


def refuse_non_directory(index_dir: Path) -> None:
    """InputError when `index_dir`, or the nearest of its parents that is there, is no directory: a file, a FIFO, a
    device, or a symbolic link to one of those or to nothing. Every command says so alike (exit 2): readers took such
    a path for one holding no index and told the user to build one, which `atlas index` then refused. Only `stat` is
    used: nothing there is opened, so a FIFO is never waited on. A path this user may not look at is left to the
    checks that follow (`refuse_unreadable`), which say so."""
    for path in (index_dir, *index_dir.parents):
        try:
            mode = os.stat(path).st_mode
        except OSError as err:
            if err.errno == errno.ELOOP or (err.errno == errno.ENOENT and os.path.islink(path)):
                raise InputError(f"{path} is a symbolic link that leads to no directory (it dangles, or loops)",
                                 f"remove the link or point it at a directory, or {_ELSEWHERE}") from err  # fmt: skip
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                continue  # not there yet: a build makes it, unless a parent is no directory
            return
        if stat.S_ISDIR(mode):
            return
        kind = _KINDS.get(stat.S_IFMT(mode), "no directory")
        kind = f"a symbolic link to {kind}" if os.path.islink(path) else kind
        if path == index_dir:
            problem = f"the index directory {index_dir} is not a directory but {kind}"
        else:
            problem = f"the index directory {index_dir} cannot be made: {path} is {kind}, not a directory"
        raise InputError(problem, f"remove {path}, or {_ELSEWHERE}")


def _is_atlas_own(index_dir: Path) -> bool:
    """Whether `index_dir` is empty or Atlas has written to it: its CURRENT, lock or shards are there, or all it
    holds is what a first build interrupted early leaves (the `.gitignore`, a generation, temporary files)."""
    if any((index_dir / name).exists() for name in (CURRENT, LOCK_FILE, SHARDS_DIR)):
        return True
    return all(_is_atlas_entry(entry) for entry in index_dir.iterdir())


def holds_index_files(directory: Path) -> bool:
    """Whether `directory` holds an index, or one a build began: a live one, or a lock beside nothing but what Atlas
    writes in an index directory (its `.gitignore`, generations, temporary files). A shard whose first build was
    killed holds no CURRENT, yet is no repository; a repository holds its own files (its `.git`)."""
    if live_manifest(directory) is not None:
        return True
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    atlas_own = (name == LOCK_FILE or _is_atlas_entry(directory / name) for name in names)
    return LOCK_FILE in names and all(atlas_own)


def refuse_output_in_index_parts(index_dir: Path, option: str = "--out") -> None:
    """UsageError when `index_dir`, the directory a command writes an index to (given as `option`), is inside an
    index directory's `shards/` (`.atlas/shards/0000-of-0002`, or `shards/` itself: `atlas index --shards N` of that
    index deletes everything there but its own shards of N) or inside a generation of an index (which then holds
    files its manifest does not list)."""
    found = index_part(index_dir)
    if found is not None:
        part, why = found
        raise UsageError(f"{index_dir} is inside {part}, {why}", f"give {option} a directory outside {part}")


def index_part(path: Path) -> tuple[Path, str] | None:
    """(the `shards/` or generation of an index that `path` is or is inside, why nothing else may be written there),
    or None."""
    if shards := enclosing_shards_dir(path):
        return shards, "where `atlas index --shards N` keeps its own shards and deletes the rest"
    if generation := enclosing_generation_dir(path):
        return generation, f"a generation of the index in {generation.parent}, which holds only the files it lists"
    return None


def enclosing_shards_dir(path: Path) -> Path | None:
    """The index directory's `shards/` that `path` is or is inside, or None. A path that cannot be resolved (a loop
    of links) is left to `refuse_non_directory`, which says so."""
    return _enclosing(path, lambda directory: directory.name == SHARDS_DIR and is_index_dir(directory.parent))


def enclosing_generation_dir(path: Path) -> Path | None:
    """The generation (or build in progress, `gen-000002.tmp-PID`) of an index that `path` is or is inside, or None."""
    return _enclosing(
        path, lambda directory: bool(_GENERATION_NAME.fullmatch(directory.name)) and is_index_dir(directory.parent)
    )


def _enclosing(path: Path, matches: Callable[[Path], bool]) -> Path | None:
    """The first of `path` (resolved) and its parents that `matches`, or None (also when `path` cannot be resolved)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's word for a loop of links
        return None
    return next((directory for directory in (resolved, *resolved.parents) if matches(directory)), None)


def is_index_dir(directory: Path) -> bool:
    """Whether `directory` is an index directory: one named `.atlas` (the default, whose index may not be built yet)
    or one holding an index."""
    return directory.name == DEFAULT_INDEX_DIRNAME or holds_index_files(directory)


def _is_atlas_entry(entry: Path) -> bool:
    """Whether `entry` is one Atlas makes in an index directory. A `.gitignore` is Atlas's when it is a regular file
    (not a link: Atlas writes none) holding `*`; one byte more than that is read, never the whole of a huge file."""
    if entry.name == GITIGNORE:
        try:
            return read_regular_file(os.fspath(entry), len(IGNORE_ALL) + 1, follow=False) == IGNORE_ALL
        except OSError:
            return False
    return bool(_GENERATION_NAME.fullmatch(entry.name) or _TEMPORARY_NAME.fullmatch(entry.name))


def refuse_unreadable(index_dir: Path) -> None:
    """AtlasError when this user may not read the index in `index_dir`: the directory cannot be looked into, or its
    CURRENT cannot be opened (another user's index, a directory or file made mode 000). Without it, the check of
    CURRENT raised a bare PermissionError, or an unreadable CURRENT was taken for an empty one, damage. A missing
    CURRENT, or one that is not a regular file, is left to the reader's own checks. Every reader starts here, so an
    `index_dir` that is no directory is refused first, as a build refuses it (`refuse_non_directory`)."""
    refuse_non_directory(index_dir)
    current = index_dir / CURRENT
    try:
        if stat.S_ISREG(os.lstat(current).st_mode):  # a device in its place is never opened: that may act
            os.close(os.open(current, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC))
    except PermissionError as err:
        raise AtlasError(
            f"cannot read the index: {index_dir} is not readable by this user (permission denied)",
            f"check the permissions of {index_dir} and its files, or pass --index-dir DIR to use another index",
        ) from err
    except OSError:
        return


def generation_files(generation: Path) -> list[Path]:
    """Every entry of `generation` but its directories (links to directories included), sorted. A directory that
    cannot be listed raises (PermissionError for one this user may not read), where `Path.rglob` passes over it."""

    def refuse(err: OSError) -> None:
        raise err

    found: list[Path] = []
    for top, directories, files in os.walk(generation, onerror=refuse):
        found.extend(Path(top, name) for name in files)
        found.extend(Path(top, name) for name in directories if os.path.islink(os.path.join(top, name)))
    return sorted(found)


def refuse_unreadable_generation(generation: Path) -> None:
    """AtlasError when this user may not list a directory of `generation` or open one of its files: that index is
    not damaged, and rebuilding it (the hint damage gets) would not help. Other errors are left to the checks."""
    try:
        for path in generation_files(generation):
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC))
    except PermissionError as err:
        raise read_denied(err) or AtlasError(str(err)) from err
    except OSError:
        return


def current_generation(index_dir: Path, dir_fd: int | None = None) -> Path | None:
    """The live generation's directory, or None when there is none. A process without a file descriptor left to
    read CURRENT with is told so (AtlasError, see `limit_error`): the index may well be sound. With `dir_fd` (the
    index directory, open), CURRENT is read there."""
    where = CURRENT if dir_fd is not None else os.fspath(index_dir / CURRENT)
    try:
        # A FIFO or a device in CURRENT's place names nothing: it is neither waited for nor read without end.
        name = read_regular_file(where, CURRENT_MAX_BYTES, dir_fd=dir_fd).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:  # unreadable, or garbage: no generation is named
        if (limit := limit_error(err)) is not None:
            raise limit from err
        return None
    if not name.startswith(GEN_PREFIX) or "/" in name:
        return None
    return index_dir / name


def generations_without_current(index_dir: Path) -> list[str]:
    """The published generations (`gen-N`, not a build's temporary) in `index_dir` when it has no CURRENT: a
    half-copied or partly restored index, which is damaged, not absent; [] when CURRENT is there or none are."""
    if (index_dir / CURRENT).exists() or (index_dir / CURRENT).is_symlink():
        return []
    try:
        entries = list(os.scandir(index_dir))
    except OSError:
        return []
    published = [e.name for e in entries if _PUBLISHED_NAME.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    return sorted(published, key=generation_number)


def missing_current(generations: list[str]) -> str:
    """What is wrong with an index directory holding `generations` but no CURRENT."""
    verb = "is" if len(generations) == 1 else "are"
    return f"CURRENT is missing, though {' and '.join(generations[:2])} {verb} there (a half-copied index?)"


def is_generation_dir(path: Path) -> bool:
    """Whether `path` (what CURRENT names) is a directory of the index's own, not a link: an index is read from
    its own directory, as its files are (`open_index_file`), never from wherever a restored cache points."""
    return path.is_dir() and not path.is_symlink()


def refuse_linked_part(directory: Path) -> None:
    """`Refused` when `directory`, a part of a generation (its `tantivy/`, its `signals/`), is a symbolic link. Its
    files are refused as links, but a link in the directory's place led every read of them into another index (a
    restored cache or a clone's committed `.atlas` may hold one): searches answered with its file names."""
    if os.path.islink(directory):
        raise Refused(os.fspath(directory), "it is a symbolic link")


def open_index_file(path: Path) -> BinaryIO:
    """The file `path` of a generation, opened for reading; `Refused` (an OSError, which readers of an index take
    for damage) when it is a symbolic link, a FIFO, a device or a directory.

    A cache restored by other tools can hold anything: a FIFO would block its reader, a device or a link be
    read without end or out of the index.
    """
    return os.fdopen(open_regular_file(os.fspath(path), follow=False), "rb")


INDEX_FILE_MAX_BYTES = 1 << 30
"""More than any file `read_index_file` reads holds (a file table of millions of files is a few hundred MB)."""


def read_index_file(path: Path, limit: int = INDEX_FILE_MAX_BYTES) -> bytes:
    """The bytes of the generation's file `path`, opened as `open_index_file` opens it; `Refused` (an OSError, which
    readers take for damage) when it holds more than `limit` bytes: read whole, a file grown to a sparse 64 GiB asked
    for that much memory, and the command died of MemoryError instead of reporting a damaged index."""
    with open_index_file(path) as handle:
        size = os.fstat(handle.fileno()).st_size  # over the limit: refused unread, not read to the limit first
        data = b"" if size > limit else read_capped(handle, limit)
    if max(size, len(data)) > limit:
        raise Refused(str(path), f"it holds more than {limit:,} bytes, more than any index file")
    return data


def check_regular_files(directory: Path) -> None:
    """`Refused` unless every entry of `directory` is a regular file (not a link): one directory read, so a
    directory handed to tantivy holds nothing it would wait on or read without end. `directory` itself must not be a
    link (`refuse_linked_part`)."""
    refuse_linked_part(directory)
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                raise Refused(entry.path, "it is not a regular file")


def written_size(path: Path) -> int | None:
    """The size of the regular file `path` a build wrote, for its manifest; None when there is none."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def history_problem(generation: Path, manifest: dict[str, Any]) -> str:
    """What is wrong with the generation's history, told from one `lstat` against the size its manifest records
    (`history_bytes`), or "": gone, no regular file, or holding another number of bytes. Every judge checks this, as
    it checks the file table's size: `status` never looked at the history, and called an index fresh that `verify`
    and every import called damaged. A same-size garble is left to `verify`, which reads the file."""
    written = manifest.get("history_bytes")
    if not isinstance(written, int) or isinstance(written, bool):
        return ""  # none was written (no git), or the index predates the field
    try:
        status = os.lstat(generation / HISTORY)
    except FileNotFoundError:
        return f"{HISTORY} is missing ({written:,} bytes were written)"
    except OSError as err:
        return f"{HISTORY} cannot be looked at ({err.strerror})"
    if not stat.S_ISREG(status.st_mode):
        return f"{HISTORY} is not a regular file"
    if status.st_size != written:
        return f"{HISTORY} has {status.st_size:,} bytes, {written:,} were written"
    return ""


def live_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The live generation's manifest, or None when there is none or it cannot be read."""
    generation = current_generation(index_dir)
    return manifest_of(generation) if generation else None


def manifest_of(generation: Path) -> dict[str, Any] | None:
    """The manifest of the generation `generation`, or None when it cannot be read or is not a JSON object."""
    import orjson

    try:
        manifest = orjson.loads(read_index_file(generation / MANIFEST))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def generation_number(name: str) -> int:
    """The N of a generation's name (`gen-N`, or a build's `gen-N.tmp-<pid>`), -1 for any other name. Names are
    compared by it: as strings, gen-1000000 would sort before gen-999999."""
    number = name[len(GEN_PREFIX) :].split(".", 1)[0]
    return int(number) if name.startswith(GEN_PREFIX) and number.isascii() and number.isdigit() else -1


def new_generation_dir(index_dir: Path) -> tuple[Path, Path]:
    """Return (temporary dir to build in, final dir) for the next generation; the temporary one is made, empty (in
    the directory locked, when this process holds the lock: what is made inside it later never makes its parents)."""
    directory = held_directory(index_dir)
    if directory is None:
        index_dir.mkdir(parents=True, exist_ok=True)
    newest = max((generation_number(name) for name in _names(index_dir, directory)), default=0)
    final = index_dir / f"{GEN_PREFIX}{max(newest, 0) + 1:06d}"
    building = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    with _named_in(index_dir):
        os.mkdir(_at(building, directory), dir_fd=directory)
    return building, final


def refuse_replaced(index_dir: Path) -> None:
    """InputError when this process holds `index_dir` locked and the path no longer leads to the directory it locked
    (it, or a directory above it, was swapped for a link or another directory): what a build wrote by path since may
    have gone elsewhere, so it is not published. FileNotFoundError when the path leads nowhere."""
    if _leads_elsewhere(index_dir):
        raise replaced_while_building(index_dir)


@contextlib.contextmanager
def swap_blamed(index_dir: Path) -> Iterator[None]:
    """Inside (while the lock of `index_dir` is held), an error raised once the path leads to another directory than
    the one locked is reported as that swap (`refuse_replaced`): tantivy reads and writes a build by path, and met
    what the swap put there (a `meta.json` copied half-written: "unexpected error: ValueError: Data corrupted")."""
    try:
        yield
    except Exception as err:
        if isinstance(err, InputError) or not _swapped(index_dir):
            raise
        raise replaced_while_building(index_dir) from err


def _swapped(index_dir: Path) -> bool:
    """`_leads_elsewhere`, False when the path leads nowhere: removed, which the error met says (see
    `atlas.errors.removed_while_building`)."""
    try:
        return _leads_elsewhere(index_dir)
    except OSError:
        return False


def _leads_elsewhere(index_dir: Path) -> bool:
    """Whether this process holds `index_dir` locked and its path leads to another directory now; OSError when it
    leads nowhere."""
    directory = held_directory(index_dir)
    return directory is not None and directory_key(os.stat(index_dir)) != directory_key(os.fstat(directory))


def remove_generation_dir(index_dir: Path, path: Path) -> None:
    """Delete `path`, a generation (or a build's) of `index_dir`, errors ignored: in the directory locked, when this
    process holds the lock."""
    _remove_tree(path, held_directory(index_dir))


def _at(path: Path, directory: int | None) -> str | Path:
    """`path`, an entry of an index directory, as `os` functions name it: by its name inside `directory` (the index
    directory, open), or by its path when there is none."""
    return path.name if directory is not None else path


@contextlib.contextmanager
def _named_in(index_dir: Path) -> Iterator[None]:
    """An OSError raised inside names the entry of `index_dir` it is about by its path, as the messages made of it
    (`atlas.errors.storage_error`) expect, not by its bare name inside the directory's descriptor."""
    try:
        yield
    except OSError as err:
        for field in ("filename", "filename2"):
            name = getattr(err, field)
            if isinstance(name, str) and name and os.sep not in name:
                setattr(err, field, os.fspath(index_dir / name))
        raise


def _names(index_dir: Path, directory: int | None) -> list[str]:
    """The names in `index_dir`, listed through `directory` when it is open."""
    return os.listdir(directory if directory is not None else index_dir)


def replacement_target(path: Path) -> Path:
    """The file a write to the user's `path` replaces: `path` itself, or the file its symbolic link names (the
    link stays). InputError when that exists and is not a regular file: a device (`/dev/null`), a FIFO or a
    directory would be replaced by a file, which is never what a user asks for; so is a link that loops. A path
    this user cannot look at (in a directory it may not enter) is returned as it is: the write says why it cannot
    be made there."""
    try:
        linked = path.is_symlink()
    except OSError:
        return path
    target = Path(os.path.realpath(path)) if linked else path
    try:
        mode = target.stat().st_mode
    except OSError as err:  # missing (to be created), or the write itself will say why not
        if err.errno == errno.ELOOP:  # the write failed on it (exit 3), or replaced the link
            raise InputError(f"{path} is a symbolic link that leads to no file: its links go round in a circle",
                             "replace the link with a file, or pass another path") from err  # fmt: skip
        return target
    if not stat.S_ISREG(mode):
        raise InputError(f"{path} is not a regular file, and writing there would replace it with one",
                         "pass the path of a regular file, or of a new one")  # fmt: skip
    return target


def write_atomic(path: Path, data: bytes, dir_fd: int | None = None) -> None:
    """Write `data` to `path` so that readers see the old or the new content, never a mix, with the permissions
    `path` had (a 0600 file of secrets stays 0600). The temporary file is created anew, never opened through
    a link or over a file planted at its name, and removed when the write fails (a full disk). With `dir_fd` (the
    directory `path` is in, open), both files are named inside it."""
    tmp, target = _at(temporary_path(path), dir_fd), _at(path, dir_fd)
    try:
        with os.fdopen(create_new(tmp, dir_fd), "wb") as handle:
            with contextlib.suppress(OSError):  # a new file keeps the umask's permissions
                os.fchmod(handle.fileno(), stat.S_IMODE(os.stat(target, dir_fd=dir_fd).st_mode))
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    _fsync_dir(path.parent, dir_fd)


NAME_MAX = 255
"""The longest file name, in bytes, that Linux file systems take."""


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: `.NAME.tmp-PID` beside it, NAME cut short (in bytes)
    so that the temporary name is legal whenever `path`'s is: an archive named with 255 bytes was refused as "File
    name too long" for its temporary file's name."""
    suffix = f".tmp-{os.getpid()}".encode()
    name = os.fsencode(path.name)[: NAME_MAX - 1 - len(suffix)]
    return path.with_name(os.fsdecode(b"." + name + suffix))


def remove_abandoned_temporaries(path: Path) -> None:
    """Delete the temporary files (`temporary_path`) that writes of `path` by processes now dead left beside it: a
    write killed before its rename (SIGKILL, a power cut) leaves one as large as what it wrote, and a file outside
    an index directory is cleaned by no later run but one writing the same `path`."""
    ours = temporary_path(path).name
    for entry in entries_of_dead_processes(path.parent, ours[: ours.rindex("-") + 1]):
        if entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def entries_of_dead_processes(directory: Path, prefix: str, suffixed: bool = False) -> list[os.DirEntry[str]]:
    """The entries of `directory` named `<prefix><pid>` (`suffixed`: `<prefix><pid>-<anything>`, as `mkdtemp` names
    them) whose pid names a process that is gone: what it left behind. [] when `directory` cannot be listed."""
    pattern = re.compile(re.escape(prefix) + "(?P<pid>[0-9]+)" + ("-.*" if suffixed else ""), re.DOTALL)
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except OSError:
        return []
    return [entry for entry in entries if (found := pattern.fullmatch(entry.name)) and not pid_alive(found["pid"])]


def create_new(path: str | Path, dir_fd: int | None = None) -> int:
    """A descriptor of the new file `path` (inside `dir_fd`, when given): what is there already (a file a dead
    process of the same id left, or a link someone planted) is removed, not followed or written through."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o666, dir_fd=dir_fd)
    except FileExistsError:
        os.unlink(path, dir_fd=dir_fd)
        return os.open(path, flags, 0o666, dir_fd=dir_fd)


def publish(index_dir: Path, building: Path, final: Path) -> None:
    """Make the generation built in `building` the live one and drop older generations.

    ^C and SIGTERM wait until CURRENT is written and the generation is in `published`: the interrupt then
    says truthfully whether the new generation went live (`atlas.held_signals.signals_deferred`). When CURRENT
    cannot be written (a disk with room for the generation but not for it), the generation goes: left in place, it
    made a first build's directory read as a half-copied index, damaged, instead of holding none.
    """
    refuse_replaced(index_dir)
    readable_as_created(building)
    directory = held_directory(index_dir)
    with signals_deferred(), _named_in(index_dir):
        os.replace(_at(building, directory), _at(final, directory), src_dir_fd=directory, dst_dir_fd=directory)
        _fsync_dir(index_dir, directory)
        previous = current_generation(index_dir, directory)
        try:
            write_atomic(index_dir / CURRENT, final.name.encode(), directory)
        except BaseException:
            _remove_tree(final, directory)
            raise
        published.append(final)
    remove_stale(index_dir, keep={final.name, previous.name if previous else ""})


def readable_as_created(generation: Path) -> None:
    """Give every file of `generation` the permissions a file Atlas creates gets (0666 less the umask): tantivy
    writes meta.json and .managed.json through temporary files, 0600, so an index built by one user (a CI job,
    a container's) and shared or restored for another could not be opened by it, though every other file could."""
    wanted = 0o666 & ~current_umask()
    for directory, _, names in os.walk(generation):
        for name in names:
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):  # another user's file linked in (a shard's): readable as it is
                status = os.lstat(path)
                if stat.S_ISREG(status.st_mode) and stat.S_IMODE(status.st_mode) & wanted != wanted:
                    os.chmod(path, stat.S_IMODE(status.st_mode) | wanted)


def remove_stale(index_dir: Path, keep: set[str]) -> None:
    """Delete generations not in `keep` and abandoned temporary builds of dead processes.

    The generation published just before the live one is kept too: a reader that read CURRENT
    a moment before the switch can still open it.
    """
    directory = held_directory(index_dir)
    for name in _names(index_dir, directory):
        if not _GENERATION_NAME.fullmatch(name) or name in keep:
            continue
        if ".tmp-" in name and pid_alive(name.rsplit("-", 1)[-1]):
            continue
        _remove_tree(index_dir / name, directory)


def remove_abandoned(index_dir: Path) -> None:
    """Delete what builds killed mid-way left behind: `gen-*.tmp-<pid>` dirs and `.*.tmp-<pid>` files, a generation
    never published, and the generations a run stopped after it published had still to remove (`remove_stale`).

    Call it only while holding the index lock: then no other process is building, so every
    temporary entry that is not this process's own is abandoned, even if its pid was reused.
    """
    mine = f".tmp-{os.getpid()}"
    directory = held_directory(index_dir)
    for name in _names(index_dir, directory):
        if ".tmp-" not in name or name.endswith(mine):
            continue
        entry = index_dir / name
        if _GENERATION_NAME.fullmatch(name) and _is_dir(entry, directory):
            _remove_tree(entry, directory)
        elif _TEMPORARY_NAME.fullmatch(name) and not _is_dir(entry, directory):
            with contextlib.suppress(FileNotFoundError), _named_in(index_dir):
                os.unlink(_at(entry, directory), dir_fd=directory)
    _remove_unpublished(index_dir, directory)
    _remove_superseded(index_dir, directory)


def _remove_unpublished(index_dir: Path, directory: int | None) -> None:
    """Delete finished generations newer than the live one: a build killed between renaming its
    generation into place and writing CURRENT left it, and no later run would ever publish it."""
    live = current_generation(index_dir, directory)
    if live is None:
        return
    for name in _names(index_dir, directory):
        newer = generation_number(name) > generation_number(live.name)
        if _PUBLISHED_NAME.fullmatch(name) and newer and _is_dir(index_dir / name, directory):
            _remove_tree(index_dir / name, directory)


def _remove_superseded(index_dir: Path, directory: int | None) -> None:
    """Delete the published generations older than the one before the live one, which `remove_stale` keeps for the
    readers that read CURRENT a moment before the switch: a run stopped while it removed them (^C, SIGKILL) left
    them, a whole index each, and a run with nothing to publish kept them."""
    live = current_generation(index_dir, directory)
    if live is None:
        return
    older = [
        name
        for name in _names(index_dir, directory)
        if _PUBLISHED_NAME.fullmatch(name)
        and generation_number(name) < generation_number(live.name)
        and _is_dir(index_dir / name, directory)
    ]
    for name in sorted(older, key=generation_number)[:-1]:
        _remove_tree(index_dir / name, directory)


def _is_dir(path: Path, directory: int | None) -> bool:
    """Whether `path`, an entry of an index directory (open as `directory`, when given), is a directory or a link to
    one, as `Path.is_dir` says."""
    try:
        return stat.S_ISDIR(os.stat(_at(path, directory), dir_fd=directory).st_mode)
    except OSError:
        return False


def _fsync_dir(path: Path, directory: int | None = None) -> None:
    """fsync the directory `path`, or `directory` (it, open) when given; errors ignored."""
    if directory is not None:
        with contextlib.suppress(OSError):
            os.fsync(directory)
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_tree(path: Path, directory: int | None = None) -> None:
    """shutil.rmtree of `path` (inside `directory`, the index directory open, when given), errors ignored; shutil is
    imported here, not at every search's start."""
    import shutil

    shutil.rmtree(_at(path, directory), ignore_errors=True, dir_fd=directory)
