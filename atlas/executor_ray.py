"""Shard builds as Ray tasks (`atlas index --executor ray`): the only module of Atlas that imports ray.

The driver (the `atlas index` process) connects to a Ray cluster (`--ray-address ADDR`, else
`RAY_ADDRESS`, else a cluster started on this machine for the run) and submits one task per shard.
A task runs `build_shard` on a worker, which reads the repository at the driver's path: every node
must see the tree there (a shared volume mounted at the same path, or the same commit checked out
at that path) and have the same version of Atlas installed. The worker builds into a private
temporary directory and hands the shard back through Ray's object store as a tar archive, which the
driver unpacks into the task's `out` directory; so the workers need no shared output volume, and a
shard appears in `out` whole or not at all. The driver then assembles the shards as for any executor.

A failed task stops the run: the other tasks are cancelled and an AtlasError names the shard and the
cause (exit 3). ^C (or SIGTERM) cancels every task, force-stopping their workers, and publishes
nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from atlas import __version__
from atlas.errors import AtlasError, InputError, UsageError
from atlas.progress import log
from atlas.safe_read import quoted_value
from atlas.shards import ShardResult, ShardTask, build_shard

TREE_HINT = (
    "Ray workers read the repository at the driver's path: mount it there on every node "
    "(or check out the same commit there), with the same atlas installed"
)


class RayExecutor:
    """Runs shard builds as Ray tasks and collects the built shards on the driver."""

    name = "ray"

    def __init__(
        self, address: str | None = None, jobs: int = 0, max_retries: int = 2, show_progress: bool = False
    ) -> None:
        """`address`: a running cluster (`ray start --head` prints it), None for RAY_ADDRESS or a local
        cluster. Each shard build reserves `jobs` CPUs (0: one) and parses with as many processes; Ray
        runs as many at once as the cluster has CPUs for. A task whose worker or node dies is retried
        `max_retries` times (a build has no effect until the driver collects it); an error raised by
        the build itself is not retried. An AtlasError when ray is not installed."""
        _import_ray()  # before the run writes anything
        self.address = address
        self.cpus_per_task = max(1, jobs)
        self.max_retries = max_retries
        self.show_progress = show_progress

    def run(self, tasks: Sequence[ShardTask]) -> list[ShardResult]:
        """Build every task's shard on the cluster into its `out`; results in task order."""
        ray = _import_ray()
        started_here = _connect(ray, self.address)
        try:
            remote = ray.remote(_build_on_worker).options(num_cpus=self.cpus_per_task, max_retries=self.max_retries)
            pending = {remote.remote(self._for_worker(task), __version__): task for task in tasks}
            results = self._collect(ray, pending)
        finally:
            if started_here:
                ray.shutdown()
        return sorted(results, key=lambda result: result.index)

    def _for_worker(self, task: ShardTask) -> ShardTask:
        """`task` as a worker runs it: as many parse processes as the CPUs its task reserved."""
        return replace(task, settings={**task.settings, "jobs": self.cpus_per_task})

    def _collect(self, ray: Any, pending: dict[Any, ShardTask]) -> list[ShardResult]:
        """Unpack each shard as its task finishes; on a failure or ^C, cancel the tasks still running."""
        results = []
        try:
            while pending:
                # A bounded wait, so ^C is seen at once.
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                if not done:
                    continue
                task = pending.pop(done[0])
                result, archive = _result_of(ray, done[0], task)
                _unpack(archive, Path(task.out))
                results.append(result)
                log(f"atlas: shard {task.index}/{task.count} built on Ray: {result.files} files in "
                    f"{result.seconds:.1f}s", self.show_progress)  # fmt: skip
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
        return results


def _build_on_worker(task: ShardTask, driver_version: str) -> tuple[ShardResult, bytes]:
    """On a Ray worker: build `task`'s shard in a private directory; the result and the shard as a tar archive."""
    if __version__ != driver_version:
        raise AtlasError(
            f"this node has atlas {__version__}, the driver {driver_version}",
            "install the same atlas version on every node",
        )
    if not Path(task.root).is_dir():
        raise InputError(f"{task.root}: the repository is not at this path on this node", TREE_HINT)
    sweep_abandoned_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as scratch:
        built = Path(scratch) / SCRATCH_BUILD
        result = build_shard(replace(task, out=str(built)))
        return replace(result, out=task.out), _pack(built)


SCRATCH_PREFIX = "atlas-ray-scratch-"


def sweep_abandoned_scratch(directory: Path | None = None) -> None:
    """Remove the scratch directories (`atlas-ray-scratch-<pid>-*` in the temporary directory) of this user's
    workers that are gone: a task cancelled with force, or a worker killed, never ran its cleanup. Only what a
    worker makes is removed: a directory holding nothing but its `shard` build, so a user's own directory of a
    like name stays."""
    directory = directory or Path(tempfile.gettempdir())
    try:
        entries = list(directory.glob(f"{SCRATCH_PREFIX}*-*"))
    except OSError:
        return
    for entry in entries:
        pid = _SCRATCH_PID.match(entry.name.removeprefix(SCRATCH_PREFIX))
        try:
            if pid is None or entry.lstat().st_uid != os.getuid() or _alive(int(pid.group(1))):
                continue
            if not {child.name for child in entry.iterdir()} <= {SCRATCH_BUILD}:
                continue
        except OSError:
            continue
        shutil.rmtree(entry, ignore_errors=True)


_SCRATCH_PID = re.compile(r"([0-9]{1,9})-", re.ASCII)
"""The pid in a scratch directory's name after the prefix (pids stay under 2**22, and `os.kill` takes a C int)."""
SCRATCH_BUILD = "shard"
"""The one entry of a worker's scratch directory: the shard it builds."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _pack(directory: Path) -> bytes:
    """`directory`'s files as an uncompressed tar archive (index files compress poorly)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(directory, arcname=".")
    return buffer.getvalue()


def _unpack(data: bytes, out: Path) -> None:
    """Unpack a shard archive as `out`, replacing the shard there: whole or not at all. Killed between
    the two renames, `out` is missing, and the next run rebuilds that shard."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial, old = (out.parent / f".{out.name}.{os.getpid()}.{end}" for end in ("partial", "old"))
    try:
        partial.mkdir()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
            archive.extractall(partial, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        if out.exists():
            os.rename(out, old)
        os.rename(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _result_of(ray: Any, ref: Any, task: ShardTask) -> tuple[ShardResult, bytes]:
    """The finished task's value, or an AtlasError naming the shard and why it failed."""
    where = f"shard {task.index}/{task.count}"
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = err.cause if isinstance(err.cause, BaseException) else err
        if isinstance(cause, AtlasError):
            raise AtlasError(f"{where} failed on Ray: {cause.message}", cause.hint) from err
        raise AtlasError(
            f"{where} failed on Ray: {type(cause).__name__}: {_first_line(cause)}",
            "rerun with -v for the worker's traceback; shards already built are kept in their --out directories",
        ) from err
    except ray.exceptions.RayError as err:
        first_sentence = _first_line(err).split(". ")[0].rstrip(".") + "."
        raise AtlasError(
            f"{where} failed on Ray: {type(err).__name__}: {first_sentence}",
            "a worker or node was lost (memory, a stopped node): check the cluster (`ray status`) and rerun",
        ) from err


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _import_ray() -> Any:
    """The ray module, or an AtlasError with the install hint when the `ray` extra is missing (exit 3: the
    command is right, this installation lacks what it needs)."""
    try:
        import ray
    except ModuleNotFoundError as err:
        raise AtlasError(
            f"--executor ray needs the optional `ray` package ({err.name} is not installed)",
            "pip install 'atlas[ray]'",
        ) from err
    return ray


def _connect(ray: Any, address: str | None) -> bool:
    """Connect to the cluster at `address` (None: RAY_ADDRESS, else start one here); True when this call
    started Ray, so the run shuts it down after. A Ray session the caller already holds is used as it is."""
    if ray.is_initialized():
        return False
    starts_one = not (address or os.environ.get("RAY_ADDRESS"))
    where = address or os.environ.get("RAY_ADDRESS") or "this machine"
    hint = "pass the address `ray start --head` printed with --ray-address, or leave it out to run Ray here"
    if not starts_one:
        if not _well_formed(where):
            named = "--ray-address" if address else "RAY_ADDRESS"
            raise UsageError(f"{named} {quoted_value(where)} is not HOST:PORT, auto or ray://HOST:PORT", hint)
        problem = _unreachable(where)
        if problem:
            raise AtlasError(f"cannot connect to the Ray cluster at {where}: {problem}", hint)
    handlers = _signal_handlers()
    try:
        with _working_directory(NEUTRAL_DIRECTORY):
            ray.init(address=address, log_to_driver=False, logging_level="WARNING",
                     **({"include_dashboard": False} if starts_one else {}))  # fmt: skip
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as err:
        raise AtlasError(f"cannot connect to the Ray cluster at {where}: {_first_line(err)}", hint) from err
    finally:
        _restore(handlers)  # ray.init puts in its own SIGTERM handler (exit 1, a crash dump): Atlas's say what stopped
    return True


NEUTRAL_DIRECTORY = os.path.abspath(os.sep)
"""The working directory `ray.init` runs in. Ray puts the driver's working directory first on the module path of
every worker of the job: a build run in a repository had its workers import the repository's own `atlas/` package, or
an `orjson.py` at its top, instead of Atlas and its dependencies. `/` holds no modules, and only root may write there.
(A cluster started here runs there too, so its workers' working directory is no repository either.)"""


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Run the body in `path`, then go back to the working directory before, even a removed one (where Ray's own
    `os.getcwd()` failed, an unexpected error). The process's other threads (git history) use absolute paths only."""
    try:
        before = os.open(os.curdir, os.O_RDONLY | getattr(os, "O_PATH", 0) | getattr(os, "O_DIRECTORY", 0))
    except OSError as err:
        raise AtlasError(
            f"the working directory cannot be opened to start Ray from elsewhere ({err.strerror})",
            "cd to a directory that exists and that you may read, and run the command again",
        ) from err
    try:
        os.chdir(path)
        yield
    finally:
        os.fchdir(before)
        os.close(before)


def _signal_handlers() -> dict[int, Any]:
    """SIGINT's and SIGTERM's handlers now (none off the main thread, which cannot set them)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers: dict[int, Any]) -> None:
    for number, handler in handlers.items():
        if handler is not None and signal.getsignal(number) is not handler:
            signal.signal(number, handler)


CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a cluster's address to accept a connection (Ray itself retries for minutes)."""


def _well_formed(address: str) -> bool:
    """Whether `address` is a form Ray takes: `auto`, a URL (`ray://HOST:PORT`, which Ray resolves itself) or
    HOST:PORT with a port of ASCII digits. Ray retries any other for minutes, or logs a traceback."""
    if address == "auto" or "://" in address:
        return True
    host, _, port = address.rpartition(":")
    return bool(host.strip("[]")) and not any(c.isspace() for c in address) and _is_port(port)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 65536


def _unreachable(address: str) -> str:
    """Why nothing accepts connections at a cluster's `HOST:PORT` (its GCS), or "" when something does or when
    `address` is of another form (`auto`, `ray://…`), which Ray resolves itself."""
    host, _, port = address.rpartition(":")
    if "://" in address or not _is_port(port):
        return ""
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as err:
        return err.strerror or type(err).__name__
    return ""


__all__ = ["RayExecutor"]
