"""Real read-only and tiny file systems for tests, made with `mount` (needs root; skips otherwise).

Tests run as root, and root ignores permission bits, so `chmod` cannot make a directory read-only
for them: a read-only bind mount can. A small tmpfs makes a disk that fills up.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
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


def run_with_locked_dir(locked: Path, command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `command` while `locked` is a new directory this user may not enter (mode 0; as root, with the
    capabilities that let root read and enter anything dropped), then give it back its mode. Skips the test when
    those capabilities cannot be dropped."""
    from tests.test_bad_input import _without_read_override

    locked.mkdir(mode=0)
    popen = {"preexec_fn": _without_read_override} if os.geteuid() == 0 else {}
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **popen)
    except subprocess.SubprocessError as err:
        pytest.skip(f"cannot drop the capabilities that let root enter any directory: {err}")
    finally:
        locked.chmod(0o755)


@contextmanager
def pids_limited(name: str, most: int) -> Iterator[Callable[[], None]]:
    """A new cgroup of the pids controller allowing at most `most` processes and threads, as a container's pids limit
    does (root is exempt from `ulimit -u`, a cgroup is not); yields a `preexec_fn` that moves the child into it.
    Removed on exit, once its processes are gone. Skips where no pids controller can be written."""
    base = next((Path(p) for p in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup") if Path(p, "cgroup.procs").exists()
                 and (Path(p).name == "pids" or "pids" in _read(Path(p, "cgroup.controllers")))), None)  # fmt: skip
    group = base / name if base else None
    try:
        assert group is not None
        group.mkdir()
        (group / "pids.max").write_text(str(most))
    except (AssertionError, OSError) as err:
        pytest.skip(f"cannot make a pids cgroup here ({err})")

    def enter() -> None:
        (group / "cgroup.procs").write_text(str(os.getpid()))

    try:
        yield enter
    finally:
        for _ in range(100):
            with contextlib.suppress(OSError):
                group.rmdir()
                break
            time.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def without_temporary_directory(command: list[str], writable: Path, cwd: Path) -> list[str]:
    """`command`, run in a mount namespace of its own where no temporary directory can be written (as in a container
    whose root file system is read-only): /tmp and /var/tmp are read-only, TMPDIR unset, and `cwd` (the last place
    `tempfile` looks) must be read-only there too, by lying under /tmp; a new tmpfs at `writable` (an existing
    directory) is the one place to write. Skips where mount namespaces cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("mount namespaces need root")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here ({probe.stderr.decode(errors='replace').strip()})")
    read_only = " && ".join(f"mount --bind {d} {d} && mount -o remount,ro,bind {d}" for d in ("/tmp", "/var/tmp"))
    script = f'{read_only} && mount -t tmpfs tmpfs "$1" && cd "$2" && unset TMPDIR TEMP TMP && shift 2 && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", os.fspath(writable), os.fspath(cwd), *command]
