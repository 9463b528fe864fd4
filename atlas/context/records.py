"""Published shapes of a Selection, and reading them back for `atlas render`.

- repo-context JSONL v0.3 (`shared/formats/repo-context-jsonl-v0.3.md`): a header, one line per file,
  a footer; PascalCase keys in the spec's order and nothing else. `Tokens` is the file's bytes // 4 as
  the spec defines it; languages use the spec's names (`bash` → `shell`, `tsx` → `typescript`).
- Atlas's `context` record (index_schema/context.v1.schema.json): everything a Selection holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from atlas.config import PRESET_NAMES
from atlas.context.model import Budget, Chunk, Entry, OutlineItem, Selection
from atlas.errors import InputError
from atlas.safe_read import quoted_value

if TYPE_CHECKING:
    from json import JSONDecodeError

V03_VERSION = "0.3"
CONTEXT_SCHEMA_VERSION = 1
SCORE_DIGITS = 4
V03_LANGUAGES = {"bash": "shell", "tsx": "typescript"}
V03_ROLES = frozenset({"impl", "test", "config", "docs", "generated", "build", "other"})


def v03_header(selection: Selection) -> dict[str, Any]:
    """The v0.3 header line: MaxBytes only when a byte budget applies; a token budget is not emitted."""
    budget = {"MaxBytes": selection.budget.max_bytes} if selection.budget.max_bytes is not None else {}
    return {
        "Version": V03_VERSION,
        "Query": selection.task,
        "Preset": selection.preset,
        "Budget": budget,
        "MinScore": float(selection.min_score),
    }


def v03_file(entry: Entry, min_score: float = 0.0) -> dict[str, Any]:
    """One v0.3 file line; true about the whole file (`Tokens` = its bytes // 4). `Score` has SCORE_DIGITS
    digits unless that would put it under `min_score`, the header's floor (`--min-score 0.340741` kept a file
    scoring 0.340741, which is 0.3407 at four digits): then it is the score unrounded."""
    score = round(float(entry.score), SCORE_DIGITS)
    return {
        "Path": entry.path,
        "Score": score if score >= min_score else float(entry.score),
        "Tokens": entry.file_bytes // 4,
        "Language": V03_LANGUAGES.get(entry.language, entry.language),
        "Role": entry.role if entry.role in V03_ROLES else "other",
    }


def v03_footer(selection: Selection) -> dict[str, Any]:
    """The v0.3 footer line."""
    return {
        "TotalFiles": len(selection.entries),
        "TotalTokens": sum(entry.file_bytes // 4 for entry in selection.entries),
        "ScannedFiles": selection.scanned_files,
    }


def v03_records(selection: Selection) -> list[dict[str, Any]]:
    """Header, file lines, footer."""
    files = [v03_file(entry, selection.min_score) for entry in selection.entries]
    return [v03_header(selection), *files, v03_footer(selection)]


def context_record(selection: Selection) -> dict[str, Any]:
    """The `context` record of `--format json` (schema: index_schema/context.v1.schema.json)."""
    return {
        "type": "context",
        "schema_version": CONTEXT_SCHEMA_VERSION,
        "task": selection.task,
        "root": selection.root,
        "preset": selection.preset,
        "strategy": selection.strategy,
        "tokenizer": selection.tokenizer,
        "budget": {"max_bytes": selection.budget.max_bytes, "max_tokens": selection.budget.max_tokens},
        "min_score": selection.min_score,
        "top": selection.top,
        "scanned_files": selection.scanned_files,
        "candidates": selection.candidates,
        "total_files": len(selection.entries),
        "total_tokens": selection.total_tokens,
        "total_bytes": selection.total_bytes,
        "took_ms": selection.took_ms,
        "notes": list(selection.notes),
        "entries": [entry_record(entry) for entry in selection.entries],
        "skipped": [asdict(skip) for skip in selection.skipped],
    }


def entry_record(entry: Entry) -> dict[str, Any]:
    """One entry of the `context` record; chunk `text` is left out when the selection has no content."""
    data = asdict(entry)
    data["chunks"] = [_chunk_record(chunk) for chunk in entry.chunks]
    data["outline"] = [asdict(item) for item in entry.outline]
    return data


def _chunk_record(chunk: Chunk) -> dict[str, Any]:
    data = {"start_line": chunk.start_line, "end_line": chunk.end_line, "symbol": chunk.symbol,
            "kind": chunk.kind, "terms": list(chunk.terms)}  # fmt: skip
    if chunk.text:
        data["text"] = chunk.text
    return data


# ------------------------------------------------------------------------------------------------
# Reading selections back (atlas render).


def read_selection(data: bytes, name: str = "-") -> Selection:
    """A Selection from the bytes of a v0.3 JSONL file or an Atlas `context` record (JSON or one JSONL line)."""
    import orjson

    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        document, whole = None, err
    else:
        whole = None  # one JSON value, but not a context record: perhaps a v0.3 file of one line
    if isinstance(document, dict) and document.get("type") == "context":
        return selection_from_context(document)
    records = _json_lines(data, name, whole)
    if len(records) == 1 and isinstance(records[0], dict) and records[0].get("type") == "context":
        return selection_from_context(records[0])
    if not all(isinstance(r, dict) for r in records):
        raise InputError(f"{name}: every line must be a JSON object")
    return selection_from_v03(records)


def _json_lines(data: bytes, name: str, whole: JSONDecodeError | None) -> list[Any]:
    """The JSON value of each line of `data` that is not blank; InputError naming the file's line and column of the
    first fault. A file whose first line is no JSON value on its own is one JSON document (`--format json` output,
    pretty-printed over many lines): its fault is `whole`'s, the document's own parse error."""
    import orjson

    records: list[Any] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as err:
            fault, where = (whole, whole.lineno) if whole is not None and not records else (err, number)
            raise InputError(f"{name}: not JSON at line {where}, column {fault.colno} ({fault.msg})",
                             "pass v0.3 JSONL or `atlas query --format json`") from fault  # fmt: skip
    return records


ENTRY_MODES = ("whole", "chunks")


def selection_from_context(data: dict[str, Any]) -> Selection:
    """A Selection from a `context` record (text missing from chunks stays empty); InputError for a record of
    another schema version, or with a value of the wrong kind."""
    version = data.get("schema_version", CONTEXT_SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= CONTEXT_SCHEMA_VERSION:
        raise InputError(
            f"a context record of schema version {quoted_value(version)}; "
            f"this Atlas reads version {CONTEXT_SCHEMA_VERSION}",
            "make the selection again with this Atlas (`atlas query --format json`), or upgrade Atlas",
        )
    try:
        entries = [_entry_from(item) for item in _tables(data, "entries", required=True)]
        budget = _table(data, "budget")
        return Selection(
            task=_text(data, "task"), root=_path(data, "root"), preset=_choice(data, "preset", PRESET_NAMES),
            strategy=_text(data, "strategy", "chunks"), tokenizer=_text(data, "tokenizer"),
            budget=Budget(_optional_whole(budget, "max_bytes"), _optional_whole(budget, "max_tokens")),
            min_score=_number(data, "min_score"), top=_whole(data, "top", 0), entries=entries, skipped=[],
            scanned_files=_whole(data, "scanned_files", 0), candidates=_whole(data, "candidates", 0),
            total_tokens=_whole(data, "total_tokens", 0), total_bytes=_whole(data, "total_bytes", 0),
            took_ms=_number(data, "took_ms"),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        hint = "pass the output of `atlas query --format json`"
        raise InputError(f"not an Atlas context record ({err})", hint) from err


def _entry_from(item: dict[str, Any]) -> Entry:
    chunks = [
        Chunk(_whole(c, "start_line"), _whole(c, "end_line"), _text(c, "symbol"), _text(c, "kind"), _text(c, "text"),
              _texts(c, "terms"))
        for c in _tables(item, "chunks")
    ]  # fmt: skip
    outline = [
        OutlineItem(_whole(o, "line"), _whole(o, "end_line", _whole(o, "line")), _text(o, "kind"), _text(o, "name"),
                    _text(o, "signature"), _whole(o, "depth", 0))
        for o in _tables(item, "outline")
    ]  # fmt: skip
    return Entry(
        path=item["path"], rank=_whole(item, "rank", 0), score=_number(item, "score"),
        language=_language(item, "language"), role=_choice(item, "role", V03_ROLES, "other"),
        mode=_mode(item), tokens=_whole(item, "tokens", 0), bytes=_whole(item, "bytes", 0),
        file_tokens=_whole(item, "file_tokens", 0), file_bytes=_whole(item, "file_bytes", 0),
        file_lines=_whole(item, "file_lines", 0), reason=_text(item, "reason"), chunks=chunks, outline=outline,
        omitted_definitions=_whole(item, "omitted_definitions", 0),
    )  # fmt: skip


_REQUIRED: Any = object()


def _whole(record: dict[str, Any], key: str, default: int = _REQUIRED) -> int:
    """`record[key]`, a line number, depth or count: a whole number of at least 0, else ValueError naming it.

    A selection file may be crafted: a line number that is text, a fraction or a bool would fail later, mid-render."""
    value = record[key] if default is _REQUIRED else record.get(key, default)
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < 0:
        raise ValueError(f"{key} must be a whole number of at least 0, not {quoted_value(value)}")
    return int(value)


def _optional_whole(record: dict[str, Any], key: str) -> int | None:
    """`record[key]`, a whole number of at least 0, or None when absent or null."""
    return None if record.get(key) is None else _whole(record, key)


def _number(record: dict[str, Any], key: str, default: float = 0.0) -> float:
    """`record[key]` (or `default` when absent), a finite JSON number, else ValueError naming it (`"nan"`, a string,
    would render as `score nan`)."""
    value = record.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, not {quoted_value(value)}")
    return float(value)


def _mode(record: dict[str, Any]) -> str:
    """An entry's `mode`, one of ENTRY_MODES (`whole` when absent), else ValueError."""
    mode = _text(record, "mode", "whole")
    if mode not in ENTRY_MODES:
        raise ValueError(f"mode must be one of {', '.join(ENTRY_MODES)}, not {quoted_value(mode)}")
    return mode


_LANGUAGE_NAME = re.compile(r"[A-Za-z0-9_+#.-]{1,64}")
"""A language's name as a selection may give it (`python`, `c++`, `c#`, `objective-c`): it is printed in the
bundle's lines and as a code fence's info string, where a newline, a backtick or an escape would end the fence
early or drive the terminal."""


def _language(record: dict[str, Any], key: str) -> str:
    """`record[key]` (`other` when absent), a language's name (see `_LANGUAGE_NAME`), else ValueError naming it."""
    value = _text(record, key, "other")
    if not _LANGUAGE_NAME.fullmatch(value):
        raise ValueError(f"{key} must be a language's name (letters, digits, _ + # . -), not {quoted_value(value)}")
    return value


def _choice(record: dict[str, Any], key: str, allowed: Iterable[str], default: str = "") -> str:
    """`record[key]`, one of `allowed` (`default` when absent), else ValueError naming it: a role or preset is
    printed in the bundle, and one a record made up could hold a newline or an escape sequence."""
    if key not in record:
        return default
    value = _text(record, key)
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(sorted(allowed))}, not {quoted_value(value)}")
    return value


def _texts(record: dict[str, Any], key: str) -> tuple[str, ...]:
    """`record[key]` (empty when absent), a list of strings, else ValueError naming it."""
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key} must be a list of strings, not {quoted_value(value)}")
    return tuple(value)


def _text(record: dict[str, Any], key: str, default: str = "") -> str:
    """`record[key]` (or `default` when absent), which must be a string, else ValueError naming it."""
    value = record.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {quoted_value(value)}")
    return value


def _path(record: dict[str, Any], key: str) -> str:
    """`record[key]` (empty when absent), a string that can name a directory: one holding a NUL character cannot
    (`os.path.realpath` raised ValueError on it), else ValueError naming it."""
    value = _text(record, key)
    if "\x00" in value:
        raise ValueError(f"{key} must be a path, and a path holds no NUL character")
    return value


def _table(record: dict[str, Any], key: str) -> dict[str, Any]:
    """`record[key]` (an empty table when absent or null), which must be a JSON object, else ValueError naming it."""
    value = record.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object, not {quoted_value(value)}")
    return value


def _tables(record: dict[str, Any], key: str, required: bool = False) -> list[dict[str, Any]]:
    """`record[key]` (an empty list when absent and not `required`), which must be a list of JSON objects, else
    ValueError naming it (KeyError when a required one is absent)."""
    value = record[key] if required else record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{key} must be a list of objects")
    return value


def selection_from_v03(records: Iterable[dict[str, Any]]) -> Selection:
    """A Selection of whole files (no text yet) from v0.3 header, file and footer records."""
    records = list(records)
    if not records or records[0].get("Version") != V03_VERSION:
        raise InputError('not a repo-context v0.3 selection (the first line has no "Version":"0.3")')
    try:
        return _v03_selection(records)
    except (TypeError, ValueError) as err:
        raise InputError(f"not a repo-context v0.3 selection ({err})", "pass `atlas query --format jsonl`") from err


def _v03_selection(records: list[dict[str, Any]]) -> Selection:
    header = records[0]
    files = [r for r in records[1:] if "Path" in r]
    entries = [
        Entry(path=_text(r, "Path"), rank=rank, score=_number(r, "Score"),
              language=_atlas_language(_language(r, "Language")), role=_choice(r, "Role", V03_ROLES, "other"),
              mode="whole", tokens=0, bytes=0, file_tokens=0, file_bytes=_whole(r, "Tokens", 0) * 4,
              file_lines=0, reason="listed in the v0.3 selection")
        for rank, r in enumerate(files, 1)
    ]  # fmt: skip
    footer = next((r for r in records if "TotalFiles" in r), {})
    budget = _table(header, "Budget")
    return Selection(
        task=_text(header, "Query"), root="", preset=_choice(header, "Preset", PRESET_NAMES), strategy="files",
        tokenizer="", budget=Budget(_optional_whole(budget, "MaxBytes"), None), min_score=_number(header, "MinScore"),
        top=len(entries), entries=entries, skipped=[], scanned_files=int(footer.get("ScannedFiles", 0)),
        candidates=len(entries), total_tokens=0, total_bytes=0, took_ms=0.0,
    )  # fmt: skip


def _atlas_language(name: str) -> str:
    return {"shell": "bash"}.get(name, name)


def v03_round_trip(language: str) -> str:
    """The language an entry has after a trip through v0.3 JSONL (`tsx` comes back as `typescript`)."""
    return _atlas_language(V03_LANGUAGES.get(language, language))
