"""The only writer of data to stdout: JSON, JSONL (versioned records) and a human table.

Every record carries `type` and `schema_version`; their JSON Schemas live in `index_schema/`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from typing import Any, BinaryIO

import orjson

from atlas.errors import AtlasError
from atlas.records import Hit
from atlas.safe_read import display_path, visible

OUTPUT_SCHEMA_VERSION = 1


def hit_record(hit: Hit, with_explain: bool = False) -> dict[str, Any]:
    """The `hit` record for one search result."""
    record: dict[str, Any] = {
        "type": "hit",
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "rank": hit.rank,
        "path": hit.path,
        "score": hit.score,
        "language": hit.language,
        "role": hit.role,
        "symbols": list(hit.symbols),
        "lines": [
            {"start": r.start_line, "end": r.end_line, "symbol": r.symbol, "text": r.text} for r in hit.lines
        ],
    }
    if hit.symbols_omitted:
        record["symbols_omitted"] = hit.symbols_omitted
    if hit.repository:
        record["repository"] = hit.repository
    if with_explain:
        record["explain"] = [asdict(term) for term in hit.explain]
    return record


def search_record(query: str, hits: list[dict[str, Any]], took_ms: float, documents: int,
                  notes: list[str]) -> dict[str, Any]:  # fmt: skip
    """The `search` envelope used by `--format json`."""
    return {
        "type": "search",
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "query": query,
        "took_ms": round(took_ms, 3),
        "documents": documents,
        "notes": notes,
        "results": hits,
    }


def with_envelope(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A record of `kind` with the common fields first."""
    return {"type": kind, "schema_version": OUTPUT_SCHEMA_VERSION, **data}


def use_color(no_color: bool = False) -> bool:
    """Whether human output may use ANSI colour: stdout is a terminal, and neither --no-color, a non-empty
    NO_COLOR (no-color.org) nor TERM=dumb says otherwise."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _stdout() -> BinaryIO:
    return sys.stdout.buffer


def write_json(record: Any) -> None:
    """One pretty JSON document."""
    _write(_dumps(record, orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


def write_jsonl(records: Iterable[Any]) -> None:
    """One compact JSON object per line."""
    _write(b"".join(_dumps(r, orjson.OPT_APPEND_NEWLINE) for r in records))


def _dumps(record: Any, option: int) -> bytes:
    """`record` as JSON; a path that is not UTF-8 (a repository's, an archive's) is written as its display
    path, `\\xNN` for each byte that is not, as file names are. See `_escape_separators` for what else is escaped."""
    try:
        data = orjson.dumps(record, option=option)
    except TypeError:
        data = orjson.dumps(_displayed(record), option=option)
    return _escape_separators(data)


_RAW_SEPARATORS = re.compile(rb"\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")
"""UTF-8 of the C1 controls (U+0080-U+009F: NEL, and CSI, which a terminal reads as ESC [) and of the line and
paragraph separators (U+2028, U+2029). JSON may hold them raw, and orjson writes them so."""


def _escape_separators(data: bytes) -> bytes:
    """JSON `data` with each character of `_RAW_SEPARATORS` written as its `\\uXXXX` escape (the same JSON value).

    Raw, a file's text holding one broke "one record per line" for readers that split lines as Python's
    `str.splitlines` does (NEL, U+2028 and U+2029 end lines there), and a CSI drove the terminal JSON was printed
    to. In JSON text such characters can only be inside strings, so the escape is always in a string too."""
    if _RAW_SEPARATORS.search(data) is None:
        return data
    return _RAW_SEPARATORS.sub(lambda match: b"\\u%04x" % ord(match.group().decode("utf-8")), data)


def _displayed(value: Any) -> Any:
    """`value` with every string made valid UTF-8 (`display_path`), through dicts, lists and dataclasses."""
    if isinstance(value, str):
        return display_path(value)
    if isinstance(value, dict):
        return {_displayed(key): _displayed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_displayed(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _displayed(asdict(value))
    return value


def write_text(text: str) -> None:
    """Text for people (still data: it is what they asked for)."""
    _write(text.encode("utf-8", errors="replace"))


def _write(data: bytes) -> None:
    try:
        write_all(_stdout(), data)
    except BrokenPipeError:
        # The reader went away (`atlas search … | head`): that is success, not an error.
        discard_stdout()
        raise SystemExit(0) from None
    except OSError as err:
        discard_stdout()
        raise output_error(err) from None


def write_all(out: BinaryIO, data: bytes) -> None:
    """Write all of `data` to `out` and flush it, waiting whenever `out` cannot take more.

    A stdout its parent left non-blocking (a pipe whose reader is slower than Atlas: a Node or CI parent) takes only
    what fits: a buffered write then returns fewer bytes than it was given (or raises BlockingIOError), and the rest
    was dropped with exit 0, a JSON document cut at 64 KiB. Here the rest waits until the pipe has room, as on a
    blocking stdout.
    """
    view = memoryview(data)
    while view:
        try:
            written = out.write(view)
        except BlockingIOError as err:
            written = err.characters_written
        view = view[written or 0 :]
        if view:
            _wait_writable(out)
    while True:
        try:
            out.flush()
            return
        except BlockingIOError:
            _wait_writable(out)


def _wait_writable(out: BinaryIO) -> None:
    """Return once `out` (a non-blocking pipe) can take more bytes."""
    import select

    select.select([], [out], [])


def output_error(err: OSError) -> AtlasError:
    """A failed write of stdout (a full disk, an I/O error) as one sentence and a hint."""
    return AtlasError(f"cannot write the output: {err.strerror or err}", "check where stdout goes (a full disk?)")


def discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what is left finds nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def human_hits(hits: list[Hit], explain: bool = False, color: bool = False) -> str:
    """A readable listing: rank, `path:line` (the start of the best line range, so terminals and editors
    can open it there; the bare path without line ranges) after `[repository]` in a search over several
    indexes, language/role, score, symbols, the best lines."""
    out: list[str] = []
    for hit in hits:
        where = visible(f"{hit.path}:{hit.lines[0].start_line}" if hit.lines else hit.path)
        path = f"\033[1;36m{where}\033[0m" if color else where
        path = f"[{visible(hit.repository)}] {path}" if hit.repository else path
        out.append(f"{hit.rank:>3}. {path}  [{hit.language}, {hit.role}]  score {hit.score:.3f}")
        if hit.symbols:
            more = len(hit.symbols) - 8 + hit.symbols_omitted
            listed = visible(", ".join(hit.symbols[:8]))
            out.append(f"     symbols: {listed}" + (f" (+{more} more)" if more > 0 else ""))
        for term in hit.explain if explain else ():
            rank = "-" if term.rank is None else str(term.rank)
            out.append(
                f"     {term.signal:<12} raw {term.raw:<10.4g} rank {rank:<5} "
                f"weight {term.weight:<5.3g} → {term.contribution:.5f}"
            )
        for lines in hit.lines[:2]:
            label = visible(f" ({lines.symbol})") if lines.symbol else ""
            out.append(f"     lines {lines.start_line}-{lines.end_line}{label}")
            for number, text in enumerate(lines.text.split("\n")[:6], lines.start_line):  # as text_lines cut them
                out.append(f"     {number:>6} │ {visible(text[:150])}")
    return "\n".join(out) + "\n" if out else ""


def report_record(report: Any) -> dict[str, Any]:
    """The `index_report` record for an IndexReport (a dataclass)."""
    data = asdict(report)
    data["seconds"] = round(data["seconds"], 3)
    data.pop("ignore_files", None)  # for the manifest: a stamp per ignore file is nothing people or tools read
    return with_envelope("index_report", data)
