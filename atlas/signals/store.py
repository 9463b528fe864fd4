"""The side store: per-file numeric signals as `.npy` arrays aligned to file ids.

    signals/
      params.json      what was computed, from what, and why something is absent (orjson)
      paths.nul        file id → path, each path's bytes followed by a NUL (a path can hold any other byte,
                       newlines included; tombstones are empty), for path look-ups without tantivy
      <name>.npy       one array per signal, row = file id; CSR triples for pair signals

Arrays are written once per generation and read whole at query time, never memory-mapped: a map of a file that
another process truncates in place (a `cp` of a cached index over the live one) kills its reader with SIGBUS, without
a word, at the next touch of a page past the file's new end. Read, the arrays are the process's own; the store is
small (7 MB for ansible's 18,000 files) and reading it costs less than a millisecond or two per open.
"""

from __future__ import annotations

import ast
import io
import math
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from atlas.errors import IndexCorrupt, damage
from atlas.index.store import SIGNALS_DIR, open_index_file, read_index_file, refuse_linked_part, write_atomic

if TYPE_CHECKING:
    import numpy as np

STORE_VERSION = 2
"""1: paths.txt, newline-separated (a name holding a newline shifted every row). 2: paths.nul."""
PARAMS = "params.json"
PATHS = "paths.nul"


@dataclass(slots=True)
class SideStore:
    """Arrays by name plus their parameters; `paths[i]` is file id i."""

    params: dict[str, Any]
    paths: list[str]
    arrays: dict[str, np.ndarray | memoryview] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict)
    """Values computed from the arrays once per loaded store, for the searches that follow (query-time caches)."""

    def get(self, name: str) -> np.ndarray | memoryview | None:
        """The array `name`, or None when that signal was not computed.

        Loaded stores hold read-only memory views (index and len like 1-D arrays; `numpy.asarray`
        turns one into an array without a copy): queries never import numpy.
        """
        return self.arrays.get(name)

    def holds_text(self, fid: int, data: bytes, stamp: int) -> bool | None:
        """Whether file `fid`, now `data` with the `atlas.digest.file_stamp` `stamp`, is as it was indexed: by its
        stamp when that has not moved, else by its content hash. None when the store does not record them (an
        index written before it did)."""
        digests, stamps = self.arrays.get("content_digest"), self.arrays.get("file_stamp")
        if digests is None or stamps is None or not 0 <= fid < min(len(digests), len(stamps)) or not digests[fid]:
            return None
        if stamp and stamps[fid] == stamp:
            return True
        from atlas.digest import content_hash, digest_number

        return int(digests[fid]) == digest_number(content_hash(data))


def write_store(generation: Path, store: SideStore) -> None:
    """Write `store` into `generation/signals/`."""
    import numpy as np

    directory = generation / SIGNALS_DIR
    directory.mkdir(exist_ok=True)  # never its parents: a generation's path that leads nowhere now is not made anew
    checksums, dtypes = {}, {}
    for name, array in store.arrays.items():
        contiguous = np.ascontiguousarray(array)
        _write_new(directory / f"{name}.npy", _npy_bytes(contiguous))
        checksums[f"{name}.npy"] = file_digest(directory / f"{name}.npy")
        dtypes[name] = contiguous.dtype.str
    write_atomic(directory / PATHS, encode_paths(store.paths))
    checksums[PATHS] = file_digest(directory / PATHS)
    sizes = {name: (directory / name).stat().st_size for name in checksums}
    params = {**store.params, "store_version": STORE_VERSION, "arrays": sorted(store.arrays), "checksums": checksums,
              "sizes": sizes, "dtypes": dtypes}  # fmt: skip
    write_atomic(directory / PARAMS, orjson.dumps(params, option=orjson.OPT_INDENT_2))


def _npy_bytes(array: np.ndarray) -> bytes:
    """`array` as the bytes of a `.npy` file. Written by Atlas, not by numpy: `np.save` to a file writes with
    `tofile`, whose error on a disk that fills part-way carries no error number ("3000 requested and 992 written"),
    so a full disk was reported as an unexpected error."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _write_new(path: Path, data: bytes) -> None:
    """Write `data` to the new file `path` of a generation being built (no reader sees it before it is published)."""
    with open(path, "wb") as handle:
        handle.write(data)


_STRUCT_FORMAT = {
    "|u1": "B", "|i1": "b", "|b1": "?", "<u2": "H", "<i2": "h", "<u4": "I", "<i4": "i", "<u8": "Q", "<i8": "q",
    "<f4": "f", "<f8": "d",
}  # fmt: skip


NPY_HEAD_BYTES = 1 << 16
"""Room for a `.npy` file's magic and header (numpy writes a few hundred bytes; a longer one is not Atlas's)."""


def size_problem(size: int, written: object) -> str:
    """How a side-store file of `size` bytes differs from the `written` bytes its `params.json` records ("" when it
    does not, or when none are recorded: a store written before they were)."""
    if not isinstance(written, int) or isinstance(written, bool) or size == written:
        return ""
    return f"has {size:,} bytes, {written:,} were written"


def check_sizes(generation: Path, side: SideStore) -> None:
    """IndexCorrupt when a file of the side store holds another number of bytes than was written (`size_problem`),
    told by one `lstat` each: `status` and a build judge the store by it as `verify` does. A search reads only the
    bytes an array's header names and answers from such a store, but bytes appended to a file (a bad copy, a restore
    over a longer file) were damage to `verify` alone: `status` called the index fresh and `atlas index` had nothing
    to do, so it stayed damaged (and refused by every import) for good. Names that are no plain file name are left to
    `verify`, which reports them."""
    sizes = side.params.get("sizes")
    for name, written in sizes.items() if isinstance(sizes, dict) else ():
        if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
            continue
        try:
            size = os.lstat(generation / SIGNALS_DIR / name).st_size
        except OSError:
            continue  # gone: the load found that, or the store does not read it
        if problem := size_problem(size, written):
            raise IndexCorrupt(f"{generation / SIGNALS_DIR}: side store file {name} {problem}")


def read_npy(path: Path) -> memoryview:
    """Read a little-endian C-order `.npy` file as a typed, shaped, read-only memoryview: its header, then the bytes
    the header says its values take, no more (trailing bytes, a sparse file's gigabytes of zeros, are never read); a
    file holding fewer is cut short, a ValueError.

    Just enough of the .npy format for the side store, so a query need not import numpy (which
    costs more than the rest of a cold `atlas search`).
    """
    with open_index_file(path) as handle:
        fmt, shape, data_start = _npy_header(handle.read(NPY_HEAD_BYTES), path.name)
        length = math.prod(shape) * struct.calcsize(fmt)
        held = os.fstat(handle.fileno()).st_size - data_start
        if held < length:  # a half-written copy, a partial restore (checked first: the read allocates `length`)
            raise ValueError(f"{path.name}: {max(held, 0)} bytes of data for {length}: the file is cut short")
        handle.seek(data_start)
        body = memoryview(handle.read(length))
    if len(body) != length:
        raise ValueError(f"{path.name}: {len(body)} bytes of data for {length}: the file is cut short")
    if not length:
        return memoryview(b"").cast(fmt)
    return body.cast(fmt, shape) if len(shape) > 1 else body.cast(fmt)


def _npy_header(head: bytes, name: str) -> tuple[str, tuple[int, ...], int]:
    """(struct format, shape, offset of the values) from the first bytes of a `.npy` file."""
    if head[:6] != b"\x93NUMPY" or len(head) < 10:
        raise ValueError(f"{name}: not a .npy file")
    length_bytes = 2 if head[6] == 1 else 4
    header_start = 8 + length_bytes
    data_start = header_start + int.from_bytes(head[8:header_start], "little")
    if data_start > len(head):
        raise ValueError(f"{name}: its .npy header is cut short or longer than {NPY_HEAD_BYTES} bytes")
    header = ast.literal_eval(head[header_start:data_start].decode("latin-1"))
    if header["fortran_order"]:
        raise ValueError(f"{name}: Fortran order is not supported")
    return _STRUCT_FORMAT[header["descr"]], tuple(header["shape"]), data_start


def encode_paths(paths: list[str]) -> bytes:
    """The bytes of `paths.nul`: every path's file-system bytes, each followed by a NUL."""
    return b"".join(os.fsencode(path) + b"\0" for path in paths)


def decode_paths(data: bytes) -> list[str]:
    """Inverse of `encode_paths`; IndexCorrupt when the data does not end with a NUL."""
    if data and not data.endswith(b"\0"):
        raise IndexCorrupt(f"{PATHS} is truncated (it does not end with a NUL)")
    if not data:
        return []
    # One decode for all: os.fsdecode per path, without a call per path (NUL is a character of its own).
    return data[:-1].decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()).split("\0")


def file_digest(path: Path) -> str:
    """SHA-256 of a file of the index, hex; opened as `open_index_file` opens it."""
    import hashlib

    with open_index_file(path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_store(generation: Path) -> SideStore:
    """Read the side store of `generation`. Every build writes one, so one without its parameters is damage, as
    `verify` says: read as none, searches ranked without signals and `status` called the index fresh."""
    directory = generation / SIGNALS_DIR
    try:
        refuse_linked_part(directory)
        params = orjson.loads(read_index_file(directory / PARAMS))
    except FileNotFoundError as err:
        raise IndexCorrupt(f"{directory}: the side store has no {PARAMS}") from err
    except (OSError, orjson.JSONDecodeError) as err:
        raise damage(f"{directory}: the side store's parameters are unreadable ({err})", err) from err
    if not isinstance(params, dict) or params.get("store_version") != STORE_VERSION:
        version = params.get("store_version") if isinstance(params, dict) else None
        raise IndexCorrupt(f"{directory}: side store version {version}, this Atlas reads {STORE_VERSION}")
    if problem := params_problem(params):
        raise IndexCorrupt(f"{directory}: the side store's parameters are malformed ({problem})")
    try:
        paths = decode_paths(read_index_file(directory / PATHS))
        arrays = {name: read_npy(directory / f"{name}.npy") for name in params.get("arrays", [])}
    except (OSError, ValueError, SyntaxError, KeyError, TypeError) as err:
        raise damage(f"{directory}: a side-store array is missing or damaged ({err})", err) from err
    problem = _layout_problem(arrays, params.get("dtypes"), len(paths))
    if problem:
        raise IndexCorrupt(f"{directory}: {problem}")
    return SideStore(params, paths, arrays)


_PARAM_MAPS = ("git", "graph", "commit_words", "checksums", "sizes", "dtypes")
"""The parameters `write_store` writes as JSON objects; searches, `verify` and `export` read them as maps."""


def params_problem(params: dict[str, Any]) -> str:
    """What in the side store's `params` is not of the type `write_store` writes ("" when all is): read as maps,
    numbers or type names, a field of another type failed searches, `verify` or `export` with an AttributeError or
    TypeError ("unexpected error", exit 3), and a build kept the store, so it never mended."""
    for name in _PARAM_MAPS:
        if name in params and not isinstance(params[name], dict):
            return f"{name} is {type(params[name]).__name__}, not an object"
    for name in ("checksums", "dtypes"):
        if not all(isinstance(value, str) for value in params.get(name, {}).values()):
            return f"{name} holds a value that is not text"
    words = params.get("commit_words", {})
    for name in ("files", "average_length"):
        value = words.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"commit_words.{name} is {type(value).__name__}, not a number"
    arrays = params.get("arrays", [])
    if not isinstance(arrays, list) or not all(isinstance(name, str) for name in arrays):
        return "arrays is not a list of names"
    return ""


def _layout_problem(arrays: dict[str, memoryview], dtypes: object, files: int) -> str | None:
    """What makes the arrays unusable together (a wrong type, row count or CSR bounds), or None.

    Checks headers and end points only, so a query's load stays O(arrays); a row's own bounds and file ids
    are checked when the row is read (`csr_row`, `csr_file_id`). Stores written before the types were
    recorded are checked for shape alone.
    """
    for name, array in arrays.items():
        recorded = dtypes.get(name) if isinstance(dtypes, dict) else None
        if recorded is not None and _STRUCT_FORMAT.get(recorded) != array.format:
            return f"{name}.npy holds {array.format!r} values where {recorded} was written"
        if is_per_file(name) and len(array) != files:
            return f"{name}.npy has {len(array)} rows for {files} files"
        if name.endswith("_edges") and len(array) and (array.ndim != 2 or array.shape[1] != 2):
            return f"{name}.npy has shape {array.shape}, not (n, 2)"
    for name, indptr in arrays.items():
        if not name.endswith("_indptr"):
            continue
        prefix = name.removesuffix("_indptr")
        indices = arrays.get(f"{prefix}_indices")
        if indices is None or not len(indptr) or indptr[0] != 0 or indptr[-1] != len(indices):
            return f"{name}.npy does not span {prefix}_indices.npy"
        rows_name = CSR_ROWS.get(prefix)
        rows, of = (len(arrays[rows_name]), f"entries of {rows_name}.npy") if rows_name in arrays else (files, "files")
        if len(indptr) != rows + 1:
            return f"{name}.npy has {len(indptr) - 1} rows for {rows} {of}"
        for other, values in arrays.items():
            if other.startswith(f"{prefix}_") and other.endswith("_data") and len(values) != len(indices):
                return f"{other}.npy has {len(values)} entries for {len(indices)} in {prefix}_indices.npy"
    return None


def csr_row(store: SideStore, name: str, fid: int) -> range | None:
    """Offsets of row `fid` in the CSR arrays `name_indptr` / `name_indices`; None when the store has none.

    IndexCorrupt when the row's bounds do not lie within `name_indices` (a damaged `name_indptr.npy`).
    """
    indptr, indices = store.get(f"{name}_indptr"), store.get(f"{name}_indices")
    if indptr is None or indices is None or not 0 <= fid < len(indptr) - 1:
        return None
    start, end = int(indptr[fid]), int(indptr[fid + 1])
    if not 0 <= start <= end <= len(indices):
        raise IndexCorrupt(f"{name}_indptr.npy: row {fid} spans [{start}, {end}), outside {len(indices)} entries")
    return range(start, end)


def csr_file_id(store: SideStore, name: str, offset: int) -> int:
    """The file id at `offset` of `name_indices`; IndexCorrupt when it names no file (a damaged array)."""
    fid = int(store.arrays[f"{name}_indices"][offset])
    if not 0 <= fid < len(store.paths):
        raise IndexCorrupt(f"{name}_indices.npy: entry {offset} is file id {fid}, outside {len(store.paths)} files")
    return fid


CSR_ROWS = {"commit_postings": "commit_vocab_indices"}
"""CSR matrices whose rows are not file ids: the array whose entries the rows stand for."""


def is_per_file(name: str) -> bool:
    """True for arrays with one row per file id (not the parts of a CSR matrix or an edge list)."""
    return not name.endswith(("_indices", "_data", "_indptr", "_edges"))
