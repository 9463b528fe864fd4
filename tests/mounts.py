"""Real read-only and tiny file systems for tests, made with `mount` (needs root; skips otherwise).

Tests run as root, and root ignores permission bits, so `chmod` cannot make a directory read-only
for them: a read-only bind mount can. A small tmpfs makes a disk that fills up.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(args)}: {result.stderr.strip()})")


def _unmount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


@contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """`source` mounted read-only at `target` (created); unmounted on exit."""
    if os.geteuid() != 0:
        pytest.skip("read-only bind mounts need root")
    target.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(target))
    try:
        _mount("-o", "remount,ro,bind", str(target))
        probe = target / ".atlas-write-probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("the read-only bind mount is writable here")
        yield target
    finally:
        _unmount(target)


@contextmanager
def small_disk(target: Path, size: str, inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "256k") mounted at `target` (created), with room for only `inodes` files and
    directories when given; unmounted on exit."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    target.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}" + (f",nr_inodes={inodes}" if inodes else ""), "tmpfs", str(target))
    try:
        yield target
    finally:
        _unmount(target)


@contextmanager
def immutable(directory: Path) -> Iterator[Path]:
    """`directory` made immutable with `chattr +i` (nothing can be created in it, even by root)."""
    result = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not available here ({result.stderr.strip()})")
    try:
        yield directory
    finally:
        subprocess.run(["chattr", "-i", str(directory)], capture_output=True, check=False)


@contextmanager
def proc_view(target: Path) -> Iterator[Path]:
    """The kernel's procfs mounted at `target` (created); unmounted on exit."""
    if os.geteuid() != 0:
        pytest.skip("mounting procfs needs root")
    target.mkdir(parents=True, exist_ok=True)
    _mount("-t", "proc", "proc", str(target))
    try:
        yield target
    finally:
        _unmount(target)
