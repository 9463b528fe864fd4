"""Open the live generation and answer BM25 queries over it.

Opening checks the manifest first, so a missing, half-written or foreign index becomes an
`IndexMissing` / `IndexCorrupt` error with the fix, never a traceback. Reading needs no write
access: an index on a read-only volume is opened through a temporary directory (see `open_tantivy`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import tantivy

from atlas import native_stderr
from atlas.config import FORMAT_VERSION
from atlas.errors import AtlasError, IndexCorrupt, IndexMissing, InputError, damage, is_native_panic
from atlas.ignore_stamps import record_problem
from atlas.index import store
from atlas.index.schema import SCHEMA_VERSION
from atlas.safe_read import bad_path


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """The stored fields of one indexed file."""

    fid: int
    path: str
    language: str
    role: str
    outline: tuple[tuple[str, str, int, int], ...]


class IndexReader:
    """A searchable generation: its manifest, tantivy index and searcher."""

    def __init__(self, generation: Path, manifest: dict[str, Any], index: tantivy.Index) -> None:
        self.generation = generation
        self.manifest = manifest
        self.index = index
        self.schema = index.schema
        self.searcher = index.searcher()
        self._guard = TantivyDamage(generation)
        self._mapped = mapped_files(generation / store.TANTIVY_DIR)

    def rewritten_in_place(self) -> str:
        """The name of a segment file changed in place since the index was opened (its inode kept, its size or times
        moved), or "". Tantivy maps its segment files: a page of a map past a truncated file's end is a SIGBUS at its
        next touch, which kills the process without an exception to catch (a `cp` of another index over the live
        one truncates every file it overwrites). A file replaced or removed is not one: its map keeps the old inode.
        """
        now = mapped_files(self.generation / store.TANTIVY_DIR)
        for name, (inode, *then) in self._mapped.items():
            found = now.get(name)
            if found is not None and found[0] == inode and found[1:] != tuple(then):
                return name
        return ""

    def search(self, query: tantivy.Query, limit: int) -> list[tuple[float, tantivy.DocAddress]]:
        """Top `limit` (score, address) pairs for `query`; IndexCorrupt when tantivy finds its files damaged."""
        with self._guard:
            return self.searcher.search(query, limit, count=False).hits

    def fids(self, hits: list[tuple[float, tantivy.DocAddress]]) -> list[int]:
        """The file ids of `hits` (from `search`), in their order, read from the `fid` fast field."""
        with self._guard:
            return list(self.searcher.fast_field_values("fid", [address for _, address in hits]))

    def doc(self, address: tantivy.DocAddress) -> StoredDoc:
        """The stored fields of the document at `address`."""
        with self._guard:
            fields = self.searcher.doc(address).to_dict()
        problem = bad_path(fields.get("path") or [""])
        if problem or len(fields["path"]) != 1:
            problem = problem or f"names {len(fields['path'])} paths for one file"
            raise IndexCorrupt(f"{self.generation}: the index {problem}: a crafted or corrupt index")
        outline = orjson.loads(fields["outline"][0]) if fields.get("outline") else []
        return StoredDoc(
            fid=fields["fid"][0],
            path=fields["path"][0],
            language=fields["language"][0],
            role=fields["role"][0],
            outline=tuple(tuple(item) for item in outline),
        )

    def doc_freq(self, field: str, term: str) -> int:
        """How many documents contain `term` in `field`."""
        with self._guard:
            return self.searcher.doc_freq(field, term)

    def doc_freqs(self, field: str, terms: Iterable[str]) -> dict[str, int]:
        """`doc_freq` of each of `terms` (a long query has hundreds), under one guard."""
        doc_freq = self.searcher.doc_freq
        with self._guard:
            return {term: doc_freq(field, term) for term in terms}

    @property
    def num_docs(self) -> int:
        """Documents in the index."""
        return self.searcher.num_docs


def read_manifest(generation: Path) -> dict[str, Any]:
    """Load and check a generation's manifest."""
    try:
        manifest = orjson.loads(store.read_index_file(generation / store.MANIFEST))
    except FileNotFoundError as err:
        raise IndexCorrupt(f"{generation}: the index has no manifest (an interrupted build?)") from err
    except (OSError, orjson.JSONDecodeError) as err:
        raise damage(f"{generation}: the index manifest is unreadable ({err})", err) from err
    if not isinstance(manifest, dict):
        raise IndexCorrupt(f"{generation}: the index manifest is not a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{generation}: the index was built by another Atlas format "
            f"({manifest.get('format_version')}, this Atlas reads {FORMAT_VERSION})"
        )
    if problem := manifest_problem(manifest):
        raise IndexCorrupt(f"{generation}: the index manifest is malformed ({problem})")
    return manifest


def manifest_problem(manifest: dict[str, Any]) -> str:
    """What in `manifest` is not of the type a build writes and a judge computes with ("" when all is): every reader
    of a manifest checks it (searches, `verify` and `export` here; `status` and a build on their own reads).
    `walk_started_ns` is compared with each file's stamp: another value failed `status` and every update with an
    unexpected TypeError (exit 3), so nothing mended the index; a file count, signals or schema version of another
    type was damage to some judges and sound to others."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        return f"its schema version is {manifest.get('schema_version')!r}, this Atlas reads {SCHEMA_VERSION}"
    for name, what in (("walk_started_ns", "walk_started_ns is {!r}, not a time"),
                       ("files_indexed", "file count is {!r}, not a count")):  # fmt: skip
        value = manifest.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
            return "its " + what.format(value)
    signals = manifest.get("signals", {})
    if not isinstance(signals, dict) or not isinstance(signals.get("git") or {}, dict):
        return "its signals are not an object naming the git history's"
    return record_problem(manifest.get("ignore_files"))


def open_index(index_dir: Path) -> IndexReader:
    """Open the live generation under `index_dir`."""
    generation = live_generation(index_dir)
    manifest = read_manifest(generation)
    _refuse_shard(index_dir, manifest)
    check_file_table(generation, manifest)
    return IndexReader(generation, manifest, open_tantivy(generation / store.TANTIVY_DIR))


def live_generation(index_dir: Path, missing: str = "no index here") -> Path:
    """The directory of the live generation under `index_dir`. IndexMissing (with `missing`) when the directory holds
    no index; IndexCorrupt when CURRENT names no generation directory, or is gone beside generations."""
    store.refuse_unreadable(index_dir)
    generation = store.current_generation(index_dir)
    if generation is None:
        if (index_dir / store.CURRENT).exists():
            raise IndexCorrupt(f"{index_dir}: CURRENT is empty or names no generation")
        if orphans := store.generations_without_current(index_dir):
            raise IndexCorrupt(f"{index_dir}: {store.missing_current(orphans)}")
        raise IndexMissing(f"{index_dir}: {missing}")
    if not store.is_generation_dir(generation):
        what = "is a symbolic link" if generation.is_symlink() else "does not exist"
        raise IndexCorrupt(f"{index_dir}: CURRENT names {generation.name}, which {what}")
    return generation


def mapped_files(directory: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime) of the segment files of the tantivy index in `directory`: its files but its JSON metadata
    (read once, at open) and lock files. One directory read and a `stat` per file: a few microseconds each. Not the
    change time: a build's hard links of the live generation's segments into the next one move it. A `directory`
    that became a symbolic link is not followed (its files are outside the index): {} then."""
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        with os.scandir(handle) as entries:
            found = [entry for entry in entries if not entry.name.startswith(".") and not entry.name.endswith(".json")]
            return {entry.name: _stamp(entry.stat(follow_symlinks=False)) for entry in found}
    except OSError:
        return {}
    finally:
        os.close(handle)


def _stamp(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns


def _refuse_shard(index_dir: Path, manifest: dict[str, Any]) -> None:
    """InputError when the index is one shard (`atlas index --shard`): it holds only its share of the files, under
    ids that interleave with the other shards', and none of the signals computed over all of them."""
    held = manifest.get("shard")
    if held is not None:
        which = f"shard {held.get('index')}/{held.get('count')}" if isinstance(held, dict) else "a shard"
        raise InputError(f"{index_dir}: holds {which} of an index, which is searched only once assembled",
                         "assemble the shards with `atlas index --assemble DIR...` and search that index")  # fmt: skip


LOCK_ERROR = "Failed to acquire Lockfile"


def open_tantivy(directory: Path) -> tantivy.Index:
    """The tantivy index in `directory`, opened for searching; IndexCorrupt when it cannot be read.

    tantivy takes a lock file in the index directory even to read (tantivy#557; tantivy-py has
    no read-only mode). When it cannot (a read-only volume, a restored cache, a shared directory),
    the index is opened through a temporary directory of symbolic links to its files, which is
    removed once open: every file is open by then, and published generations never change. A FIFO, a
    device or a link among its files (tantivy would wait on it for ever) makes the index damaged.
    """
    try:
        store.check_regular_files(directory)
        _refuse_missing_segment_files(directory)
        with TantivyDamage(directory.parent, reads=False):
            index = tantivy.Index.open(str(directory))
            # Its default reader reloads when meta.json changes, from a watcher thread: a reload of segment files
            # truncated meanwhile (a `cp` of a cached index over the live one) died of SIGBUS there, where no
            # check of Atlas's runs. A generation never changes once published: nothing is to be reloaded.
            index.config_reader(reload_policy="Manual", num_warmers=0)
            return index
    except ValueError as err:
        if LOCK_ERROR not in str(err):
            raise _open_failure(directory, err) from err
    except OSError as err:
        raise _open_failure(directory, err) from err
    return _open_through_links(directory)


def _refuse_missing_segment_files(directory: Path) -> None:
    """IndexCorrupt when a file the segments of `meta.json` need is gone (one directory read): tantivy opens some
    (a segment's positions) only when a query reads them, so an open passed, `status` called the index fresh and
    only a phrase search failed, while `verify` and a build found it damaged."""
    from atlas.index.segments import missing_segment_files

    if missing := missing_segment_files(directory):
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise IndexCorrupt(f"{directory.parent}: tantivy segment files are missing: {', '.join(missing[:3])}{more}")


def _open_failure(directory: Path, err: Exception) -> AtlasError:
    """What tantivy's failure `err` to open the index in `directory` is: a file there this user may not read (an
    index built by another user, whose tantivy wrote meta.json and .managed.json for its owner alone) is that, exit
    3 (`read_denied`); anything else is damage. tantivy's error is text: the refused file is found by opening each."""
    return damage(f"{directory.parent}: tantivy cannot open the index ({err})", _refused_read(directory) or err)


def _refused_read(directory: Path) -> OSError | None:
    """The error of the first file in `directory` (or of `directory` itself) this user is refused a read of."""
    try:
        names = os.listdir(directory)
    except PermissionError as err:
        return err
    except OSError:
        return None
    for name in names:
        try:
            os.close(os.open(directory / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK))
        except PermissionError as err:
            return err
        except OSError:
            continue
    return None


class TantivyDamage:
    """`with TantivyDamage(generation):` around a call into tantivy: its report of damaged files raised as
    IndexCorrupt, anything else as it is. The report is a panic (offsets past a file's end: pyo3's PanicException,
    which no `except Exception` stops) or, with `reads`, a ValueError naming a segment file missing, cut short or
    garbled (found only when a query reads it; an open reports its own). The call runs inside
    `atlas.native_stderr.enter`/`leave`, so Rust's lines about a panic stay off stderr when the CLI asks so."""

    __slots__ = ("generation", "reads")

    def __init__(self, generation: Path, reads: bool = True) -> None:
        self.generation = generation
        self.reads = reads

    def __enter__(self) -> None:
        native_stderr.enter()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: object) -> bool:
        panicked = err is not None and is_native_panic(err)
        native_stderr.leave(str(err) if panicked else None)  # Rust's own lines about the panic: kept off stderr
        if err is None:
            return False
        text = " ".join(str(err).split())[:200]
        if panicked:
            raise damage(f"{self.generation}: tantivy finds the index damaged (it panicked: {text})", err) from err
        if self.reads and isinstance(err, ValueError) and _reports_damage(text):
            raise damage(f"{self.generation}: tantivy finds the index damaged ({text})", err) from err
        return False


def _reports_damage(text: str) -> bool:
    """Whether tantivy's error text, raised reading a committed index, reports a damaged or missing file: its
    DataCorruption, a missing file, or an I/O error (a doc store block that no longer decompresses is one)."""
    return (
        "corrupt" in text.lower() or "No such file" in text or "FileDoesNotExist" in text
        or text.startswith("An IO error occurred")
    )  # fmt: skip


READ_ONLY_LINKS_PREFIX = "atlas-readonly-"
"""The temporary directory of links a read-only index is opened through: `atlas-readonly-PID-XXXXXXXX`."""


def _open_through_links(directory: Path) -> tantivy.Index:
    import shutil
    import tempfile

    try:
        links = Path(tempfile.mkdtemp(prefix=f"{READ_ONLY_LINKS_PREFIX}{os.getpid()}-"))
    except OSError as err:
        raise _no_temporary_room(directory, err) from err
    _remove_abandoned_links(links.parent)
    try:
        for entry in directory.iterdir():
            if not entry.name.endswith(".lock"):
                _link_in_temporary(entry, links / entry.name, directory)
        with TantivyDamage(directory.parent, reads=False):
            index = tantivy.Index.open(str(links))
        # A reader reloading on commits watches meta.json; removing the links would make it reload,
        # taking the lock again in the directory being removed.
        index.config_reader(reload_policy="Manual", num_warmers=0)
        return index
    except (ValueError, OSError) as err:
        raise _open_failure(directory, err) from err
    finally:
        shutil.rmtree(links, ignore_errors=True)


def _remove_abandoned_links(temporary: Path) -> None:
    """Delete the directories of links that read-only opens by processes now dead left in `temporary`: one killed
    (SIGKILL) in the milliseconds its directory lives leaves it behind, and no other run would remove it. Only the
    links go, never what they point at."""
    import shutil

    for entry in store.entries_of_dead_processes(temporary, READ_ONLY_LINKS_PREFIX, suffixed=True):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def _link_in_temporary(entry: Path, link: Path, directory: Path) -> None:
    """Make `link`, in the temporary directory, point at the index file `entry`; AtlasError (not damage: the index
    is not at fault) when the temporary directory's disk refuses it (full, out of inodes, read-only)."""
    try:
        link.symlink_to(entry.absolute())
    except OSError as err:
        raise _no_temporary_room(directory, err) from err


def _no_temporary_room(directory: Path, err: OSError) -> AtlasError:
    return AtlasError(
        f"{directory.parent}: the index is read-only and there is no writable temporary directory to open it "
        f"from ({err.strerror or err})",
        "set TMPDIR to a writable directory with free space",
    )


def check_file_table(generation: Path, manifest: dict[str, Any]) -> None:
    """A missing or truncated files.json (or anything but a regular file in its place) makes the index corrupt;
    checked by one stat, not read. Every judge (search, status, verify) checks it alike: only searches did, and
    `status` and `verify` called sound an index every search refused."""
    expected = manifest.get("files_bytes")
    try:
        status = (generation / store.FILES).lstat()
    except OSError as err:
        raise IndexCorrupt(f"{generation}: the index has no file table ({store.FILES})") from err
    if not stat.S_ISREG(status.st_mode):
        raise IndexCorrupt(f"{generation}: {store.FILES} is not a regular file")
    size = status.st_size
    if expected is not None and size != expected:
        raise IndexCorrupt(f"{generation}: {store.FILES} has {size} bytes, the manifest says {expected}")


def check_indexed_paths(generation: Path) -> None:
    """Every path `generation` holds (file table, tantivy documents) is clean; IndexCorrupt otherwise.

    Reads the whole file table and every document, so `atlas import` calls it, not each open: a
    search checks the paths of the documents it reads (`IndexReader.doc`).
    """
    from atlas.index.writer import FileTable

    try:
        FileTable.from_json(store.read_index_file(generation / store.FILES))
        store.check_regular_files(generation / store.TANTIVY_DIR)
        with TantivyDamage(generation, reads=False):
            searcher = tantivy.Index.open(str(generation / store.TANTIVY_DIR)).searcher()
            hits = searcher.search(tantivy.Query.all_query(), max(1, searcher.num_docs), count=False).hits
            paths = [searcher.doc(address)["path"] for _, address in hits]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise damage(f"the index cannot be read ({type(err).__name__}: {err})", err) from err
    problem = bad_path(path for values in paths for path in (values if len(values) == 1 else [""]))
    if problem:
        raise IndexCorrupt(f"the index {problem}: a crafted or corrupt index")
