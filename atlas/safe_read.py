"""Reading repository files at query time without ever leaving the root.

The index names files by repository-relative path; by the time a search, a context selection or
`atlas render` reads one, the tree may have changed: a file swapped for a symbolic link to
`/etc/passwd`, a directory swapped for a link out of the tree, a file swapped for a FIFO. And an
index or a selection file may be crafted. An index run meets the same changes between its walk and its
reads. Every read of a repository file goes through `open_in_root` (or `read_in_root`):

1. the path must be clean (`path_problem`): relative, `/`-separated, normalised, no `..`, no NUL, and
   outside `.git` and `.atlas` (which the walk never enters);
2. it is opened component by component from a descriptor of the root with `O_NOFOLLOW`, so no link
   is followed; the last open adds `O_NONBLOCK` (a FIFO does not block) and the result must be a
   regular file;
3. when a link is on the way (one inside the root that the walk followed), the path is resolved
   (`realpath`), must land inside the real root, outside `.git` and `.atlas`, and its resolved
   components are opened as in step 2, so a link swapped in meanwhile fails the open instead of
   being followed; nor may it land on a file the ignore rules leave out (`config.txt -> .env`: git
   tracks a link's text, never the ignored file).

A refused read raises `Refused` (an `OSError`), so callers that skip unreadable files skip these too.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

NEVER_ENTER = frozenset({".git", ".atlas"})
"""Never walked, at any depth: git's directory and Atlas index directories (nested ones too). Defined here,
not in `atlas.walk`, so a search's reads do not import the walk."""

NEVER_READ = frozenset(map(os.fsencode, NEVER_ENTER))
"""Directories the walk never enters (`.git`, `.atlas`); a path resolving into one is not a repository file."""

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIR_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Refused(OSError):
    """A read that would leave the root, or that names something other than a repository file."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def path_problem(path: object, allow_empty: bool = False) -> str | None:
    """Why `path` is not a clean repository-relative path, or None when it is.

    Clean: a non-empty `str` of `/`-separated components, none of them empty, `.` or `..`, not
    starting with `/`, without NUL. `allow_empty` accepts "" (a removed file in the file table).
    """
    if not isinstance(path, str):
        return "is not a string"
    if not path:
        return None if allow_empty else "is empty"
    if "\0" in path:
        return "holds a NUL character"
    if path.startswith("/"):
        return "is absolute"
    parts = path.split("/")
    if ".." in parts:
        return "climbs out with '..'"
    if "" in parts or "." in parts:
        return "is not normalised"
    return None


def bad_path(paths: Iterable[object], allow_empty: bool = False) -> str | None:
    """The first path of `paths` that is not clean, as "names the path 'x', which ...", or None.

    Fast on large tables: one pass of C-level substring searches over all the paths at once; the
    per-path check runs only to name the culprit.
    """
    paths = list(paths)
    try:
        live = [p for p in paths if p] if allow_empty else paths
        framed = "/" + "/\0/".join(live) + "/"  # type: ignore[arg-type]
    except TypeError:
        framed = ""
    clean = framed.count("\0") == max(len(live) - 1, 0) and not any(s in framed for s in ("//", "/./", "/../"))
    if framed and clean:
        return None
    for path in paths:
        problem = path_problem(path, allow_empty)
        if problem:
            return f"names the path {quoted_value(path)}, which {problem}"
    return None


SNIFF_BYTES = 8192


_UTF8_MARK = b"\xef\xbb\xbf"
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_LE_MARK = b"\xff\xfe\x00\x00"


def as_utf8(data: bytes) -> bytes:
    """`data` as UTF-8 text: a file that starts with a UTF-16 byte order mark (Windows tools write them: PowerShell
    scripts, Visual Studio's resource and project files, sources saved as "Unicode") decoded by it, without the
    mark, and code units that do not pair as U+FFFD; any other file as it is. Its NULs made every such file
    "binary". A UTF-32 file (its mark begins as UTF-16's) stays as it is, binary, as git shows it."""
    if data[:2] not in _UTF16_MARKS or data.startswith(_UTF32_LE_MARK):
        return data
    return data.decode("utf-16", errors="replace").encode("utf-8")


def looks_binary(data: bytes) -> bool:
    """Whether a file starting with `data` is binary: a NUL byte in its first SNIFF_BYTES."""
    return b"\0" in data[:SNIFF_BYTES]


def text_lines(data: bytes) -> list[str]:
    """A file's lines as Atlas numbers them, the way tree-sitter counts rows: only `\n` ends a line (a `\r` before
    it is dropped; a form feed, a lone `\r` or U+2028 stays inside its line, where `str.splitlines` would cut),
    a UTF-8 byte order mark is not text, and bytes that are not UTF-8 become U+FFFD."""
    return lines_and_text(data)[0]


def lines_and_text(data: bytes) -> tuple[list[str], str]:
    """`text_lines(data)`, and those lines joined by `\n` (the text without its last newline), made at once."""
    joined = joined_lines(data)
    return ([], "") if joined is None else (joined.split("\n"), joined)


def joined_lines(data: bytes) -> str | None:
    """`text_lines(data)` joined by `\n` (the text without its last newline), without making each line a string;
    None when the file has no lines (an empty file; one newline is one empty line)."""
    text = data.removeprefix(_UTF8_MARK).decode("utf-8", errors="replace").replace("\r\n", "\n")
    if not text:
        return None
    return text[:-1] if text.endswith("\n") else text


def read_capped(handle: BinaryIO, cap: int) -> bytes:
    """At most `cap + 1` bytes of the open file (one more than the cap tells a file over it), asking for no more
    than its size first: a read allocates what it asks for, and the cap may be a gigabyte. A file whose size says
    less than it holds (it grew since; a FUSE file's size may say 0) is read on, up to the cap."""
    first = min(cap, os.fstat(handle.fileno()).st_size) + 1
    data = handle.read(first)
    if len(data) == first and first <= cap:  # the file holds more than its size said
        data += handle.read(cap + 1 - first)
    return data


def read_in_root(root: Path, path: str, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of repository file `path` under `root`, and the file's size.

    Raises `Refused` when the path is not clean, resolves outside the root (or into `.git` or
    `.atlas`), changes into a link while being opened, or is not a regular file; `OSError` when
    it cannot be read for another reason (gone, permissions).
    """
    data, status = read_with_status(root, path, limit)
    return data, status.st_size


def read_with_status(root: Path, path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """`read_in_root`, with the file's whole `stat` instead of its size. A file on a file system that may never
    answer (not LOCAL_FILESYSTEMS: FUSE, NFS...) is read under READ_DEADLINE_SECONDS: past it, or when such a
    read of the file already stuck, OSError (ETIMEDOUT)."""
    return _read_open_file(open_in_root(root, path), limit, path)


def _read_open_file(fd: int, limit: int, name: str) -> tuple[bytes, os.stat_result]:
    """Up to `limit` bytes of the open file `fd` (closed), and its `stat`; under READ_DEADLINE_SECONDS when the file
    is not on a local disk."""
    try:
        status = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if on_local_filesystem(status.st_dev):
        try:
            return _read_fd(fd, limit, status.st_size), status
        finally:
            os.close(fd)
    return _read_with_deadline(fd, limit, name, (status.st_dev, status.st_ino)), status


READ_DEADLINE_SECONDS = 10.0
_stuck_reads: set[tuple[int, int]] = set()
"""(device, inode) of the files whose read passed its deadline: asked again, they fail at once."""


READ_CHUNK = 1 << 16
"""What a read asks for past the size a file's `stat` gave (it grew since; /proc's and FUSE's files say 0)."""


def _read_fd(fd: int, limit: int, size: int | None = None) -> bytes:
    """Up to `limit` bytes of `fd` from its offset, asking for no more than its size (`size`, else its `fstat`'s)
    first: a read allocates what it asks for, and a buffered read of a 30 KB file with a 4 MiB limit cost 130 µs
    where this costs 11."""
    size = os.fstat(fd).st_size if size is None else size
    chunks: list[bytes] = []
    got, ask = 0, min(limit, size + 1 if size > 0 else READ_CHUNK)  # one byte more: tells a file that grew
    while got < limit:
        chunk = os.read(fd, ask)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
        ask = min(limit - got, READ_CHUNK)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_with_deadline(fd: int, limit: int, path: str, file_id: tuple[int, int]) -> bytes:
    """`limit` bytes of `fd` (closed), copied by a `head -c` child that reads it as its stdin. A read the file
    system never answers leaves that child waiting in the kernel, where not even SIGKILL ends it, instead of this
    process: a thread of ours in that wait would keep the whole process from exiting."""
    import shutil
    import subprocess

    try:
        head = shutil.which("head")
        if file_id in _stuck_reads:
            raise OSError(errno.ETIMEDOUT, f"{visible(path)}: an earlier read of it did not return")
        if head is None:  # no coreutils: read it here, as on a local disk
            return _read_fd(fd, limit)
        child = subprocess.Popen([head, "-c", str(limit)], stdin=fd, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    finally:
        os.close(fd)
    try:
        data, _ = child.communicate(timeout=READ_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()  # takes effect when the read returns; the child is not waited for
        child.stdout.close()  # type: ignore[union-attr]
        _stuck_reads.add(file_id)
        why = f"{visible(path)}: its read did not return in {READ_DEADLINE_SECONDS:g} s"
        raise OSError(errno.ETIMEDOUT, why) from None
    if child.returncode != 0:
        raise OSError(errno.EIO, f"{visible(path)}: it could not be read")
    return data


def open_in_root(root: str | os.PathLike[str], path: str) -> int:
    """A read-only descriptor of the regular file `path` under `root`, opened as `read_in_root` opens it (the
    caller closes it); raises `Refused` or `OSError` as `read_in_root` does.

    The index run reads files through it too: a file the walk accepted may have been swapped for a link out
    of the root or for a FIFO by the time it is parsed or hashed.
    """
    problem = path_problem(path)
    if problem:
        raise Refused(path, f"the path {problem}")
    parts = os.fsencode(fs_path(path)).split(b"/")
    if NEVER_READ.intersection(parts):
        raise Refused(path, "it is inside .git or .atlas, which Atlas never indexes")
    try:  # the common case, a path without links: opened as it is, at a few system calls' cost
        return _open_beneath(os.open(os.fsencode(root), _ROOT_FLAGS), parts, path)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            raise
    # A link on the way (the walk follows those that stay inside the root), or a name holding an escape's text.
    real_root = os.path.realpath(os.fsencode(root))
    try:
        parts = _resolved_parts(real_root, path)
        _refuse_left_out(real_root, parts, path)
        return _open_beneath(os.open(real_root, _DIR_FLAGS), parts, path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Refused(path, "it changed into a symbolic link while being read") from err
        raise


def _open_beneath(fd: int, parts: list[bytes], path: str) -> int:
    """Open `parts` below the directory `fd` (which it takes over), following no link; the last must be a
    regular file, and not one of the kernel's (a pseudo-filesystem mounted in the tree since the walk)."""
    try:
        for part in parts[:-1]:
            fd = _step(fd, part, _DIR_FLAGS)
        fd = _step(fd, parts[-1], _FILE_FLAGS)
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise Refused(path, "it is not a regular file")
        kind = pseudo_filesystem_of(found.st_dev)
        if kind:
            raise Refused(path, f"it is on the kernel's {kind} filesystem")
    except BaseException:
        os.close(fd)
        raise
    return fd


PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
    "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc", "autofs", "efivarfs", "nsfs", "rpc_pipefs",
    "selinuxfs",
})  # fmt: skip
"""The kernel's views of itself, never source: a read may block for good (`/proc/kmsg`) or never end."""

_device_kinds: dict[int, str] = {}
"""Devices met by `pseudo_filesystem_of`: their pseudo-filesystem type, or "" for an ordinary filesystem."""


def pseudo_filesystem_of(device: int) -> str:
    """The pseudo-filesystem type of `device` (an `st_dev`), or "": the mount table is read again only for a
    device not met before, so a mount made since is seen and a read costs a dictionary look-up."""
    kind = _device_kinds.get(device)
    if kind is None:
        _device_kinds.update(dict.fromkeys(_device_kinds, ""))
        _device_kinds.update(pseudo_filesystems())
        kind = _device_kinds.setdefault(device, "")
    return kind


def pseudo_filesystems() -> dict[int, str]:
    """The devices (`st_dev`) of the pseudo-filesystems mounted here, with their types; empty where the mount
    table cannot be read (not Linux)."""
    return {device: kind for device, kind in mounted_filesystems().items() if kind in PSEUDO_FILESYSTEMS}


def mounted_filesystems() -> dict[int, str]:
    """The devices (`st_dev`) of the file systems mounted here, with their types; empty where the mount table
    cannot be read (not Linux)."""
    try:
        fd = open_regular_file("/proc/self/mountinfo")  # not read_regular_file: it asks this table of /proc
        try:
            table = _read_fd(fd, 1 << 22)
        finally:
            os.close(fd)
    except OSError:
        return {}
    found = {}
    for line in table.splitlines():
        fields, _, rest = line.partition(b" - ")  # the optional fields before " - " vary in number
        parts, kind = fields.split(), rest.split()[:1]
        if len(parts) < 3 or not kind:
            continue
        major, _, minor = parts[2].partition(b":")
        if major.isdigit() and minor.isdigit():
            found[os.makedev(int(major), int(minor))] = kind[0].decode(errors="replace")
    return found


LOCAL_FILESYSTEMS = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "zfs", "f2fs", "jfs", "reiserfs", "tmpfs", "ramfs",
    "vfat", "exfat", "ntfs3", "hfsplus", "overlay",
})  # fmt: skip
"""File systems on a local disk or in memory, whose reads return. A file on any other (FUSE, NFS, SMB, one not known)
may be served by a process or a server that never answers: `atlas.parse.pool.content_hashes` reads those in workers
under a deadline."""

_device_types: dict[int, str] = {}
"""Devices met by `on_local_filesystem`: their file system's type ("" when the mount table does not name it)."""


def on_local_filesystem(device: int) -> bool:
    """Whether `device` (an `st_dev`) is a file system of LOCAL_FILESYSTEMS; the mount table is read again only for
    a device not met before."""
    kind = _device_types.get(device)
    if kind is None:
        _device_types.update(mounted_filesystems())
        kind = _device_types.setdefault(device, "")
    return kind in LOCAL_FILESYSTEMS


def read_regular_file(path: str | bytes, limit: int, follow: bool = True, dir_fd: int | None = None) -> bytes:
    """Up to `limit` bytes of the regular file at `path` (a symlink is followed only with `follow`); with `dir_fd`,
    `path` is relative to that directory descriptor, as `os.open` takes it.

    For the files the walk reads beside the repository's (ignore files, `.git` files): a FIFO, a device or a
    directory in their place raises `Refused` at once instead of blocking, or of reading without end; a read that
    does not return (see `read_with_status`), OSError.
    """
    fd = open_regular_file(path, follow, dir_fd)
    return _read_open_file(fd, limit, os.fsdecode(path))[0]


def open_regular_file(path: str | bytes, follow: bool = True, dir_fd: int | None = None) -> int:
    """A read-only descriptor of the regular file at `path` (the caller closes it), opened as `read_regular_file`
    opens it: `Refused` for a FIFO, a device or a directory, and, without `follow`, for a symbolic link."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP and not follow:
            raise Refused(os.fsdecode(path), "it is a symbolic link") from err
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(os.fsdecode(path), "it is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _resolved_parts(real_root: bytes, path: str) -> list[bytes]:
    """The components of `path`'s real location, relative to `real_root`."""
    problem = path_problem(path)
    if problem:
        raise Refused(path, f"the path {problem}")
    on_disk = os.path.join(real_root, os.fsencode(fs_path(path)))
    if not os.path.lexists(on_disk):  # no name with the bytes: a name holding the escape's text, as it is
        on_disk = os.path.join(real_root, os.fsencode(path))
    real = os.path.realpath(on_disk)
    base = real_root.rstrip(b"/") + b"/"
    if not real.startswith(base):
        raise Refused(path, "it resolves outside the repository root")
    parts = real[len(base) :].split(b"/")
    if NEVER_READ.intersection(parts):
        raise Refused(path, "it resolves into .git or .atlas, which Atlas never indexes")
    return parts


def _refuse_left_out(real_root: bytes, parts: list[bytes], path: str) -> None:
    """`Refused` when a link on `path`'s way (its resolved components: `parts`) leads to a file the walk leaves out by
    the ignore rules: git tracks a link's text only, so `config.txt -> .env`, indexed while it led to another file
    (or retargeted by a pull since), would serve the ignored `.env`. The rules are read only when a link was followed
    (`atlas.walk`, imported then: a search without links never loads the walk)."""
    if parts == os.fsencode(fs_path(path)).split(b"/"):
        return
    from atlas.walk import file_left_out

    if file_left_out(os.fsdecode(real_root), os.fsdecode(os.path.join(real_root, *parts))):
        raise Refused(path, "it leads through a symbolic link to a file the ignore rules leave out")


def _step(fd: int, name: bytes, flags: int) -> int:
    """Open `name` inside directory `fd` without following a link; `fd` is closed once that worked."""
    opened = os.open(name, flags, dir_fd=fd)
    os.close(fd)
    return opened


# --- display paths: the walk names files with them, reads undo them --------------------------------------


def display_path(rel: str) -> str:
    """A valid-UTF-8 form of a path: undecodable bytes become `\\xNN` escapes, never lost."""
    if rel.isascii():
        return rel
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


_ESCAPED_BYTE = re.compile(rb"\\x([89a-f][0-9a-f])")


def on_disk(root: str | os.PathLike[str], path: str) -> bytes:
    """The name on disk of repository path `path` under `root`: `path` as Atlas shows it (`display_path`: a byte that
    is not UTF-8 as a `\\xNN` escape), made bytes again, joined to the root."""
    return os.path.join(os.fsencode(root), os.fsencode(fs_path(path)))


def in_tree(root: str | os.PathLike[str], path: str) -> bool:
    """Whether repository path `path` (as Atlas shows it) names something under `root` now, a link or not."""
    return os.path.lexists(on_disk(root, path))


def fs_path(display: str) -> str | bytes:
    """Inverse of `display_path`: the name to open on disk (bytes when it is not valid UTF-8).

    Only escapes `display_path` could have made are undone (`\\xNN` for a byte 0x80-0xff that is
    not part of valid UTF-8), so a name that merely contains the text `\\x41` or `\\xc3\\xa9`
    stays as it is. A name holding the text `\\xff` and one holding the byte 0xff share a display
    path; the byte wins (a read finds the text's name when no name with the byte exists).
    """
    if "\\x" not in display:
        return display
    raw = _ESCAPED_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), display.encode("utf-8"))
    if raw == display.encode("utf-8") or display_path(os.fsdecode(raw)) != display:
        return display
    return raw


# --- text for a terminal: names and file text may hold control characters ------------------------------

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
"""Unicode's bidirectional formatting characters: invisible, they reorder the text around them on a terminal, so a
name or a line of code can read as other than it is (CVE-2021-42574, "Trojan Source")."""
_CONTROL = re.compile(rf"[\x00-\x08\x0a-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def visible(text: str) -> str:
    """`text` with its control characters (but tab) written as escapes (`\\n`, `\\x1b`, `\\x07`), and its bidirectional
    formatting characters too (`\\u202e`): a file's name or text printed to a terminal can neither break a line nor
    move the cursor, recolour or clear the screen, nor read in another order than it is. A byte
    of an argument that is not UTF-8 (Python holds it as a lone surrogate) is written `\\xNN`, as `display_path`
    writes it in a name, not `\\udcNN`."""
    text = _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text
    return _SURROGATE.sub(_escape_surrogate, text) if _SURROGATE.search(text) else text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def quoted_value(value: object) -> str:
    """`value` for a message that names what someone gave (an option's value, a setting): in quotes with escapes, as
    `repr` writes it, but a byte that is not UTF-8 written `\\xNN`, as `visible` writes it, not `\\udcNN` (the lone
    surrogate Python holds it as)."""
    return bytes_in_reprs(repr(value))


_REPR_SURROGATE = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")
"""repr's escape of a byte that is not UTF-8 (`\\udcff`), after an even run of backslashes: an escaped backslash
followed by the text `udcff` is no escape."""


def bytes_in_reprs(text: str) -> str:
    """`text` holding reprs (click's messages quote the value given that way) with each byte that is not UTF-8
    written as `quoted_value` writes it."""
    return _REPR_SURROGATE.sub(r"\1\\x\2", text) if "\\udc" in text else text


def quoted_path(path: str) -> str:
    """`path` for a list of one path per line: as it is, or, when it holds a control character or starts with
    a double quote, in double quotes with C escapes (as git quotes such names), so every line is one path."""
    if not _CONTROL.search(path) and "\t" not in path and not path.startswith('"'):
        return path
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{visible(escaped)}"'
