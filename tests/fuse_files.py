"""Files that lie about themselves, served by a real FUSE file system spoken to over `/dev/fuse` (needs root; skips
otherwise). No library: the few requests a walk, a stat and a read make are answered here.

A `LyingFile` says one size to `stat` and reads as another: a file whose size says 100 bytes and that streams without
end (as a FUSE file system's generated files may: they are opened with `direct_io`, so the kernel reads whatever the
file system answers, whatever the size said), or one whose size says 0 and that holds text (as `/proc` files do).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_IN_HEADER = struct.Struct("<IIQQIIIHH")
_OUT_HEADER = struct.Struct("<IiQ")
_ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
_READ_IN = struct.Struct("<QQI")
_DIRENT = struct.Struct("<QQII")
_LOOKUP, _FORGET, _GETATTR, _OPEN, _READ, _STATFS, _RELEASE = 1, 2, 3, 14, 15, 17, 18
_FLUSH, _INIT, _OPENDIR, _READDIR, _RELEASEDIR, _INTERRUPT, _DESTROY, _BATCH_FORGET = 25, 26, 27, 28, 29, 36, 38, 42
_NO_REPLY = {_FORGET, _INTERRUPT, _BATCH_FORGET}
_DIRECT_IO = 1
_ROOT = 1
_MAX_WRITE = 1 << 17


@dataclass
class LyingFile:
    """A file of the mount: `size` is what `stat` says; `read(offset, size)` what a read gets (b"" is its end)."""

    size: int
    read: Callable[[int, int], bytes | None]
    mtime: int = 1_700_000_000


def streaming(line: bytes) -> Callable[[int, int], bytes]:
    """Reads of `line` repeated without end."""

    def read(offset: int, size: int) -> bytes:
        start = offset % len(line)
        return (line * (size // len(line) + 2))[start : start + size]

    return read


def holding(data: bytes) -> Callable[[int, int], bytes]:
    """Reads of `data`, then its end, whatever the file's size says."""
    return lambda offset, size: data[offset : offset + size]


def never_answered(offset: int, size: int) -> None:
    """A read the file system never answers (a network file system whose server went away): the reader waits in
    the kernel, where once the request was handed to the server not even SIGKILL ends the wait. Answered with EIO
    when the mount goes, so that the readers can end."""
    return None


class _Server:
    """Answers the kernel's requests for one flat directory of `files` (by name) until the mount goes."""

    def __init__(self, fd: int, files: dict[str, LyingFile]) -> None:
        self.fd, self.files = fd, files
        self.names = list(files)
        self.held: list[int] = []  # requests left unanswered (`never_answered`)

    def release(self) -> None:
        """Answer the requests left unanswered with EIO."""
        while self.held:
            self._reply(self.held.pop(), -errno.EIO, b"")

    def serve(self) -> None:
        while True:
            try:
                request = os.read(self.fd, _MAX_WRITE + 4096)
            except OSError as err:
                if err.errno in (errno.EINTR, errno.ENOENT):  # an interrupted request: the next one comes
                    continue
                return  # ENODEV: unmounted
            if not request:
                return
            _, opcode, unique, node, *_ = _IN_HEADER.unpack_from(request)
            if opcode in _NO_REPLY:
                continue
            body = request[_IN_HEADER.size :]
            try:
                answer = self._answer(opcode, node, body)
                if answer is None:
                    self.held.append(unique)
                else:
                    self._reply(unique, 0, answer)
            except OSError as err:
                self._reply(unique, -(err.errno or errno.EIO), b"")
            if opcode == _DESTROY:
                return

    def _reply(self, unique: int, error: int, payload: bytes) -> None:
        with contextlib.suppress(OSError):  # the request was interrupted meanwhile, or the mount went
            os.write(self.fd, _OUT_HEADER.pack(_OUT_HEADER.size + len(payload), error, unique) + payload)

    def _answer(self, opcode: int, node: int, body: bytes) -> bytes | None:
        if opcode == _INIT:
            _, minor = struct.unpack_from("<II", body)
            return struct.pack("<IIIIHHIIHHI28x", 7, min(minor, 31), 0, 0, 16, 12, _MAX_WRITE, 1, 32, 0, 0)
        if opcode == _LOOKUP:
            name = body.split(b"\0", 1)[0].decode()
            if node != _ROOT or name not in self.files:
                raise OSError(errno.ENOENT, name)
            ino = self.names.index(name) + 2
            return struct.pack("<QQQQII", ino, 0, 0, 0, 0, 0) + self._attr(ino)
        if opcode == _GETATTR:
            return struct.pack("<QII", 0, 0, 0) + self._attr(node)
        if opcode in (_OPEN, _OPENDIR):
            return struct.pack("<QII", 0, _DIRECT_IO if opcode == _OPEN else 0, 0)
        if opcode == _READ:
            _, offset, size = _READ_IN.unpack_from(body)
            return self._file(node).read(offset, size) if node != _ROOT else b""
        if opcode == _READDIR:
            _, offset, size = _READ_IN.unpack_from(body)
            return self._entries(offset, size)
        if opcode == _STATFS:
            return struct.pack("<QQQQQIIII24x", 0, 0, 0, 0, 0, 4096, 255, 4096, 0)
        if opcode in (_RELEASE, _RELEASEDIR, _FLUSH, _DESTROY):
            return b""
        raise OSError(errno.ENOSYS, "not served")

    def _file(self, node: int) -> LyingFile:
        if not 2 <= node < len(self.names) + 2:
            raise OSError(errno.ENOENT, "no such node")
        return self.files[self.names[node - 2]]

    def _attr(self, node: int) -> bytes:
        if node == _ROOT:
            mode, size, mtime = stat.S_IFDIR | 0o755, 0, 1_700_000_000
        else:
            lying = self._file(node)
            mode, size, mtime = stat.S_IFREG | 0o644, lying.size, lying.mtime
        return _ATTR.pack(node, size, 0, mtime, mtime, mtime, 0, 0, 0, mode, 1, 0, 0, 0, 4096, 0)

    def _entries(self, offset: int, size: int) -> bytes:
        listing = [(_ROOT, ".", stat.S_IFDIR), (_ROOT, "..", stat.S_IFDIR)]
        listing += [(ino, name, stat.S_IFREG) for ino, name in enumerate(self.names, start=2)]
        out = b""
        for index, (ino, name, mode) in enumerate(listing[offset:], start=offset + 1):
            raw = name.encode()
            entry = _DIRENT.pack(ino, index, len(raw), mode >> 12) + raw
            entry += b"\0" * (-len(entry) % 8)
            if len(out) + len(entry) > size:
                break
            out += entry
        return out


@contextlib.contextmanager
def lying_files(target: Path, files: dict[str, LyingFile]) -> Iterator[Path]:
    """`files` served by FUSE in the directory `target` (created); unmounted on exit. The `LyingFile`s may be
    changed meanwhile: each request reads them as they are then."""
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("mounting a FUSE file system needs root and /dev/fuse")
    target.mkdir(parents=True, exist_ok=True)
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0"
    mounted = subprocess.run(
        ["mount", "-t", "fuse", "-o", options, "atlas-lies", str(target)],
        pass_fds=[fd], capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        os.close(fd)
        pytest.skip(f"cannot mount FUSE here: {mounted.stderr.strip()}")
    server = _Server(fd, files)
    thread = threading.Thread(target=server.serve, name="fuse", daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.release()
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
        thread.join(5)
        os.close(fd)
