"""Write a generation: tantivy documents, the per-file table and the manifest.

One `IndexWriter` lives in the parent process and is fed `ParsedFile`s by the parse pool.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
import tantivy

from atlas import native_stderr
from atlas.errors import IndexCorrupt, is_native_panic
from atlas.index import store
from atlas.index.layout import Segment
from atlas.index.schema import SCHEMA_VERSION, build_schema
from atlas.index.segments import segment_documents
from atlas.records import FileEntry, ParsedFile, Skipped, SkipReason
from atlas.safe_read import bad_path

WRITER_THREADS = 1
"""One indexing thread: its segments are twice as large as two threads' and need fewer merges. On the
kernel this cut the parent's CPU from 87 to 62 s and the build from ~142 to ~125 s (2 cores, 2 workers)."""
MIN_HEAP_PER_THREAD = 16 << 20
MAX_HEAP_PER_THREAD = 4000 << 20
"""tantivy's writer refuses a heap of 4,293,967,295 bytes or more per thread (u32::MAX less a 1 MB margin): a large
budget (`--memory 32G`) gives it this much, and the rest is left to the parse workers."""
HEAP_SHARE = 5
"""tantivy's indexing heap gets 1/HEAP_SHARE of the memory budget; the parse workers (~140 MiB each on the
kernel), the parent's tables and tantivy's merges take the rest."""


SkipRecord = tuple[int, int, str, int, bool]
"""A file the parser left out: (size, mtime, SkipReason value, ctime, retry); see `FileTable.skipped`."""


@dataclass(slots=True)
class FileTable:
    """Per-file facts aligned to file ids: what signals and incremental updates need."""

    paths: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    ctimes: list[int] = field(default_factory=list)
    """Inode change times: an edit that keeps the size and puts the mtime back still moves it (0: unknown)."""
    hashes: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    imports: list[list[str]] = field(default_factory=list)
    symbols: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Why each file was indexed without its definitions (its parse error), "" when it was not: a later update counts
    the files it keeps as the run that parsed them did."""
    skipped: dict[str, SkipRecord] = field(default_factory=dict)
    """Files the parser left out by path → (size, mtime, SkipReason value, ctime, retry): not new next time unless
    that stat moved or, with `retry` (`Skipped.retry`: their read failed), an update reads them now; still counted in
    the summaries of later runs."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "paths", "languages", "roles", "sizes", "mtimes", "ctimes", "hashes", "lines", "imports", "symbols",
        "errors",
    )  # fmt: skip

    def append(self, parsed: ParsedFile) -> int:
        """Add a file and return its id."""
        for name in self.COLUMNS:
            getattr(self, name).append(None)
        fid = len(self.paths) - 1
        self.set(fid, parsed)
        return fid

    def set(self, fid: int, parsed: ParsedFile) -> None:
        """Replace the facts of file `fid`."""
        self.paths[fid] = parsed.path
        self.languages[fid] = parsed.language
        self.roles[fid] = str(parsed.role)
        self.sizes[fid] = parsed.size
        self.mtimes[fid] = parsed.mtime_ns
        self.ctimes[fid] = parsed.ctime_ns
        self.hashes[fid] = parsed.content_hash
        self.lines[fid] = parsed.line_count
        self.imports[fid] = list(parsed.imports)
        self.symbols[fid] = len(parsed.symbols)
        self.errors[fid] = parsed.parse_error

    def skip(self, entry: FileEntry, skipped: Skipped) -> None:
        """Record that the parser left `entry` out (`skipped` says why), with the stat that tells a later run it
        changed."""
        self.skipped[entry.path] = (entry.size, entry.mtime_ns, str(skipped.reason), entry.ctime_ns, skipped.retry)

    def tombstone(self, fid: int) -> None:
        """Mark file `fid` removed; its id is not reused until the next full build."""
        self.paths[fid] = ""
        self.languages[fid] = "other"
        self.roles[fid] = "other"
        self.sizes[fid] = self.mtimes[fid] = self.ctimes[fid] = self.lines[fid] = self.symbols[fid] = 0
        self.hashes[fid] = self.errors[fid] = ""
        self.imports[fid] = []

    def fids(self) -> dict[str, int]:
        """path → file id for live files."""
        return {path: fid for fid, path in enumerate(self.paths) if path}

    @property
    def live(self) -> int:
        """Files that are not tombstones."""
        return sum(1 for path in self.paths if path)

    def to_json(self) -> bytes:
        """Serialise the table (column-wise, compact)."""
        return orjson.dumps({**{name: getattr(self, name) for name in self.COLUMNS}, "skipped": self.skipped})

    @classmethod
    def from_json(cls, data: bytes) -> FileTable:
        """Inverse of `to_json`; IndexCorrupt when a path is not a clean repository-relative path."""
        raw = orjson.loads(data)
        if not isinstance(raw, dict) or not isinstance(raw.get("skipped"), dict):
            # Read as a map, another value failed verify, export and every update with an AttributeError (exit 3).
            raise IndexCorrupt("the index's file table is no JSON object with a map of skipped files: a crafted or "
                               "corrupt index")  # fmt: skip
        if "ctimes" not in raw:  # a table written before ctimes were recorded
            raw["ctimes"] = [0] * len(raw.get("paths") or ())
        if "errors" not in raw:  # one written before parse errors were recorded: none known
            raw["errors"] = [""] * len(raw.get("paths") or ())
        skipped = {path: _skip_record(seen) for path, seen in raw["skipped"].items()}
        table = cls(**{name: raw[name] for name in cls.COLUMNS}, skipped=skipped)
        lengths = {name: len(getattr(table, name)) for name in cls.COLUMNS}
        if len(set(lengths.values())) > 1:
            raise IndexCorrupt(f"the index's file table has columns of unequal lengths ({lengths}): a crafted or "
                               "corrupt index")  # fmt: skip
        problem = bad_path(table.paths, allow_empty=True) or bad_path(table.skipped)
        if problem:
            raise IndexCorrupt(f"the index's file table {problem}: a crafted or corrupt index")
        return table


def _skip_record(seen: list[Any]) -> SkipRecord:
    """A `skipped` entry as any Atlas wrote it (the reason, the ctime and `retry` came later: a file an older Atlas
    could not read is read again, as one whose read failed)."""
    reason = seen[2] if len(seen) > 2 else ""
    retry = bool(seen[4]) if len(seen) > 4 else reason == SkipReason.UNREADABLE
    return seen[0], seen[1], reason, seen[3] if len(seen) > 3 else 0, retry


def to_document(parsed: ParsedFile, fid: int) -> tantivy.Document:
    """The tantivy document for one parsed file."""
    outline = [[s.name, s.kind, s.start_line, s.end_line] for s in parsed.symbols]
    doc = tantivy.Document(
        path=parsed.path,
        filename=parsed.filename_terms,
        symbols=parsed.symbol_terms,
        content=parsed.content_terms,
        language=parsed.language,
        role=str(parsed.role),
    )
    doc.add_unsigned("fid", fid)
    doc.add_bytes("outline", orjson.dumps(outline))
    return doc


class GenerationWriter:
    """Builds one new generation in a temporary directory and publishes it on `finish`."""

    def __init__(
        self,
        index_dir: Path,
        memory_bytes: int,
        previous: Path | None = None,
        table: FileTable | None = None,
        doc_id: Callable[[int], int] | None = None,
    ) -> None:
        """A writer for a new generation: empty, or (with `previous`) starting as a copy of it.

        `table` is `previous`'s file table when the caller has already read it; the writer updates it.
        `doc_id` maps a file id to the id its tantivy document carries (a shard's ids interleave with
        the other shards', see `atlas.partition`); by default they are equal.
        """
        self.index_dir = index_dir
        self.doc_id = doc_id or (lambda fid: fid)
        self.building, self.final = store.new_generation_dir(index_dir)
        self.dropped: set[int] = set()
        """The file ids whose document this writer deleted (edited or removed)."""
        self.pending = 0
        """Documents added since the last commit: the segment the next commit makes."""
        self.deleted_documents = 0
        """Once finished: the deleted documents its segments still count (see `atlas.index.layout`)."""
        self._committed = False
        heap = min(max(MIN_HEAP_PER_THREAD, memory_bytes // HEAP_SHARE // WRITER_THREADS), MAX_HEAP_PER_THREAD)
        self.heap_bytes = _within_address_space(heap * WRITER_THREADS)
        self.refusals_before = pids_refusals()
        try:
            with self._writing():
                self._open(previous, table)
        except BaseException:  # the caller has no writer to abandon: what was made here goes now
            self.abandon()
            raise

    def _open(self, previous: Path | None, table: FileTable | None) -> None:
        """Make the generation's tantivy index (empty, or a copy of `previous`'s), its file table and writer."""
        target = self.building / store.TANTIVY_DIR
        if previous is None:
            target.mkdir()
            self.index = tantivy.Index(build_schema(), path=str(target))
            self.table = FileTable()
        else:
            _link_copy(previous / store.TANTIVY_DIR, target)
            self.index = tantivy.Index.open(str(target))
            self.table = table or FileTable.from_json(store.read_index_file(previous / store.FILES))
        self.writer = self.index.writer(heap_size=self.heap_bytes, num_threads=WRITER_THREADS)

    @property
    def generation_dir(self) -> Path:
        """Where side data for this generation goes until it is published."""
        return self.building

    def add(self, parsed: ParsedFile) -> int:
        """Index one file; returns its file id."""
        fid = self.table.append(parsed)
        with self._writing():
            self.writer.add_document(to_document(parsed, self.doc_id(fid)))
        self.pending += 1
        return fid

    def replace(self, fid: int, parsed: ParsedFile) -> None:
        """Re-index file `fid` with new contents (same path, same id)."""
        with self._writing():
            self.writer.delete_documents_by_term("path", self.table.paths[fid])
            self.dropped.add(fid)
            self.table.set(fid, parsed)
            self.writer.add_document(to_document(parsed, self.doc_id(fid)))
        self.pending += 1

    def remove(self, fid: int) -> None:
        """Drop file `fid` from the index."""
        with self._writing():
            self.writer.delete_documents_by_term("path", self.table.paths[fid])
        self.dropped.add(fid)
        self.table.tombstone(fid)

    def segments(self) -> list[Segment]:
        """The segments of the generation this writer started from (none for a new one), in tantivy's order: the
        file ids each holds and the deleted documents it counts. Read before the first commit, which changes them."""
        if self._committed:
            raise RuntimeError("GenerationWriter.segments after a commit")
        searcher = self.index.searcher()
        if not searcher.num_docs:
            return []
        hits = searcher.search(tantivy.Query.all_query(), searcher.num_docs, count=False).hits
        fid_of = {self.doc_id(fid): fid for fid in range(len(self.table.paths))}  # tombstones too: removed since
        members: dict[int, list[int]] = {}
        for (_, address), doc in zip(hits, searcher.fast_field_values("fid", [a for _, a in hits]), strict=True):
            if (fid := fid_of.get(doc)) is not None:
                members.setdefault(address.segment_ord, []).append(fid)
        fids = [tuple(members.get(ordinal, ())) for ordinal in range(searcher.num_segments)]
        counts = segment_documents(self.building / store.TANTIVY_DIR)
        if [documents - deleted for documents, deleted in counts] != [len(held) for held in fids]:
            counts = [(len(held), 0) for held in fids]  # not the segments tantivy opened: none known to hold deletes
        return [Segment(held, deleted) for held, (_, deleted) in zip(fids, counts, strict=True)]

    def end_segment(self) -> None:
        """Commit: the documents added since the last commit make one segment, and the deletes apply (a segment
        left with no live document goes). Refused (`store.refuse_replaced`) once the index directory was swapped:
        tantivy writes by path, and would write through the link."""
        store.refuse_replaced(self.index_dir)
        with self._writing():
            self.writer.commit()
        self._committed = True
        self.pending = 0

    def finish(self, manifest: dict[str, Any]) -> Path:
        """Commit, write the manifest and file table, publish; returns the live generation dir."""
        self.end_segment()
        with self._writing():
            self.writer.wait_merging_threads()
        self.deleted_documents = sum(deleted for _, deleted in segment_documents(self.building / store.TANTIVY_DIR))
        store.refuse_replaced(self.index_dir)
        files = self.table.to_json()
        store.write_atomic(self.building / store.FILES, files)
        manifest = {
            **manifest, "schema_version": SCHEMA_VERSION, "tantivy_version": tantivy_version(),
            "files_bytes": len(files),  # lets a reader spot a truncated file table with one stat
            "history_bytes": store.written_size(self.building / store.HISTORY),  # and a damaged history
            "deleted_documents": self.deleted_documents,
        }  # fmt: skip
        store.write_atomic(self.building / store.MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        store.publish(self.index_dir, self.building, self.final)
        return self.final

    def abandon(self) -> None:
        """Drop the half-built generation (the live one is untouched). tantivy's writer and index are let go
        first, closing the files they hold: a build that ran out of file descriptors has none left to remove
        the directory with otherwise."""
        for held in ("writer", "index"):
            if hasattr(self, held):
                delattr(self, held)
        store.remove_generation_dir(self.index_dir, self.building)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Around a call into tantivy's writer: a write its indexing thread failed surfaces later as "An index
        writer was killed", with no error number. Told while the half-built generation still fills the disk (it is
        gone once abandoned), a disk without room for another segment is named: OSError(ENOSPC), as a failed
        write of Atlas's own would be, not a bare ValueError; so is a process left with (almost) no file descriptor
        under its limit, `ulimit -n`: OSError(EMFILE); one whose pids limit (a container's, a cgroup's) refused a
        process or thread since the writer opened, as Python's own refusal is: RuntimeError; and, otherwise, one
        under an address space limit (`ulimit -v`), which a thread or merge of the writer's was refused:
        MemoryError. The call runs inside
        `atlas.native_stderr.enter`/`leave`, so Rust's own lines about a panic (a thread it could not start) stay off
        stderr when the CLI asks so."""
        panic = None
        native_stderr.enter()
        try:
            yield
        except ValueError as err:
            if WRITER_KILLED in str(err) and disk_full(self.building, self.heap_bytes):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(self.building)) from err
            if WRITER_KILLED in str(err) and few_descriptors_left():
                raise OSError(errno.EMFILE, os.strerror(errno.EMFILE)) from err
            if WRITER_KILLED in str(err) and pids_refusals() > self.refusals_before:
                raise RuntimeError("can't start new thread: a limit on processes refused one of tantivy's") from err
            if WRITER_KILLED in str(err) and address_space_left() is not None:  # its threads or merges refused
                raise MemoryError("tantivy's indexing thread died under an address space limit") from err
            raise
        except BaseException as err:
            panic = str(err) if is_native_panic(err) else None
            raise
        finally:
            native_stderr.leave(panic)


WRITER_KILLED = "index writer was killed"
"""What tantivy says once its indexing thread died (an I/O error most likely), whatever that error was."""


def disk_full(directory: Path, room: int) -> bool:
    """Whether the disk holding `directory` has less than `room` bytes free, or no inode free (a tmpfs or a disk of
    many small files runs out of those first); False when it cannot be told."""
    try:
        disk = os.statvfs(directory)
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < room or (disk.f_files > 0 and disk.f_favail == 0)


def _within_address_space(heap: int) -> int:
    """`heap`, or less under an address space limit (`ulimit -v`): a quarter of the room left to map at most.
    tantivy sizes its first tables by the heap and grows into it, and a Rust allocation that fails aborts the process
    without a word (SIGABRT): under a few hundred MB the default heap (1G / HEAP_SHARE) did not fit. MemoryError
    (named as that limit) when not even the smallest heap fits."""
    room = address_space_left()
    if room is None or room >= heap * HEAP_ROOM_PER_HEAP:
        return heap
    fitted = room // HEAP_ROOM_PER_HEAP // WRITER_THREADS * WRITER_THREADS
    if fitted < MIN_HEAP_PER_THREAD * WRITER_THREADS:
        raise MemoryError(f"{room:,} bytes of address space left, too few for tantivy's writer")
    return fitted


HEAP_ROOM_PER_HEAP = 4
"""Address space left per byte of tantivy's heap, under `ulimit -v`: its segment serialisation, merges and threads
(stacks, malloc's arena) and the parent's own growth come on top of the heap."""


def address_space_left() -> int | None:
    """Bytes this process may still map under its address space limit (`ulimit -v`); None without a limit, or when
    it cannot be told (no /proc)."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm", "rb") as statm:
            mapped = int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return None
    return max(0, limit - mapped)


def pids_refusals(proc_cgroup: str = "/proc/self/cgroup", mount: str = "/sys/fs/cgroup") -> int:
    """How many times the pids limit of this process's cgroup, or of a cgroup above it, refused a process or thread
    (the `max` count of their `pids.events`, cgroup v1's `pids` hierarchy or v2's); 0 when it cannot be told."""
    try:
        with open(proc_cgroup, encoding="utf-8", errors="replace") as groups:
            entries = [parts for line in groups if len(parts := line.rstrip("\n").split(":", 2)) == 3]
    except OSError:
        return 0
    # v1: "8:pids:/docker/abc", mounted at MOUNT/pids; v2: "0::/user.slice/…", the unified tree at MOUNT
    place = next((Path(mount, "pids", path.lstrip("/")) for _, kinds, path in entries if "pids" in kinds.split(",")),
                 next((Path(mount, path.lstrip("/")) for number, kinds, path in entries if number == "0" and not kinds),
                      None))  # fmt: skip
    total = 0
    while place is not None and place.is_relative_to(mount) and place != Path(mount):
        total += _refused_count(place / "pids.events")
        place = place.parent
    return total


def _refused_count(events: Path) -> int:
    """The `max` count of a cgroup's `pids.events` (0 when it has none: no limit there, no such file)."""
    try:
        lines = events.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return 0
    return next((int(count) for name, _, count in (line.partition(" ") for line in lines)
                 if name == "max" and count.isdigit()), 0)  # fmt: skip


DESCRIPTORS_A_SEGMENT_NEEDS = 16
"""About as many files as tantivy's writer holds open at once while it writes and merges segments."""


def few_descriptors_left(spare: int = DESCRIPTORS_A_SEGMENT_NEEDS) -> bool:
    """Whether this process has fewer than `spare` file descriptors left under its limit of open files (or none to
    list them with); False when it cannot be told (no /proc)."""
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError as err:
        return err.errno == errno.EMFILE
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] - used < spare


def _link_copy(source: Path, target: Path) -> None:
    """Copy a tantivy directory cheaply: segment files are immutable, so they are hard-linked;
    the few mutable files (meta.json, .managed.json) are copied. Lock files are left behind."""
    target.mkdir()
    for entry in os.scandir(source):
        if entry.name.startswith(".tantivy") and entry.name.endswith(".lock"):
            continue
        destination = target / entry.name
        if entry.name.endswith(".json"):
            shutil.copy2(entry.path, destination)
        else:
            try:
                os.link(entry.path, destination)
            except OSError:
                shutil.copy2(entry.path, destination)


def tantivy_version() -> str:
    """The tantivy-py package version, recorded in manifests."""
    from importlib.metadata import version

    return version("tantivy")
