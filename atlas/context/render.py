"""A selection as Markdown, ready to paste into a prompt: one section per file, fenced code, line ranges.

    # Context: <first line of the task>
    3 files · 2,345 tokens (cl100k_base) · preset balanced

    ## src/auth/middleware.py
    python · impl · score 0.82 · whole file, 120 lines
    ```python
    ...
    ```

A file given in parts shows each chunk under a `lines a-b · name` label, then an outline of the
definitions left out (line number and first line). Budgets count entries exactly as rendered here.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from atlas.context.model import Budget, Chunk, Entry, OutlineItem, Selection
from atlas.safe_read import path_problem, quoted_path, quoted_value, visible

if TYPE_CHECKING:
    from atlas.context.chunks import FileText
    from atlas.context.tokens import TokenCounter

MAX_TITLE_CHARS = 200
MAX_INDENT = 32
"""Outline items nested deeper are indented as this deep: a selection file claiming a depth of 10**11 renders
in a line, not in terabytes."""
_FENCE_LANGUAGE = {"other": "", "make": "makefile", "shell": "bash", "starlark": "python", "gomod": "", "gosum": ""}
_BACKTICKS = re.compile(r"`{3,}")
LEFT_OUT_BY_RULES = "the ignore rules leave it out of the index, so its text is not served"


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks inside `text` (at least three)."""
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=2)
    return "`" * max(3, longest + 1)


def outline_line(item: OutlineItem) -> str:
    """One outline line: line number, indentation by nesting depth (at most MAX_INDENT levels), first line of the
    definition."""
    return f"{item.line:>6}: {'    ' * min(item.depth, MAX_INDENT)}{item.signature}\n"


def heading(task: str, files: int, tokens: int, tokenizer: str, preset: str) -> str:
    """The bundle's title (the task's first line, its control characters as escapes: a pasted log's colours or a
    terminal's title sequence would act on the terminal the bundle is printed to) and summary line, then a blank
    line."""
    first = visible(next((line.strip() for line in task.splitlines() if line.strip()), ""))
    if len(first) > MAX_TITLE_CHARS:
        first = first[: MAX_TITLE_CHARS - 1] + "…"
    plural = "s" if files != 1 else ""
    return f"# Context: {first}\n{files} file{plural} · {tokens:,} tokens ({tokenizer}) · preset {preset}\n\n"


def title(selection: Selection) -> str:
    """The heading of `selection`."""
    return heading(
        selection.task, len(selection.entries), selection.total_tokens, selection.tokenizer, selection.preset
    )


def render_entry(entry: Entry) -> str:
    """One file's section (ends with a blank line). A path holding a newline or an escape is quoted, as git
    quotes it, so a file's name can neither forge a section of the bundle nor drive a terminal."""
    language = _FENCE_LANGUAGE.get(entry.language, entry.language)
    summary = f"{entry.language} · {entry.role} · score {entry.score:.2f} · {_coverage(entry)}\n"
    parts = [f"## {quoted_path(entry.path)}\n", summary]
    for chunk in entry.chunks:
        if entry.mode != "whole":
            parts.append(f"`{_chunk_label(chunk)}`\n")
        fence = fence_for(chunk.text)
        parts.append(f"{fence}{language}\n{chunk.text}\n{fence}\n")
    if entry.outline or entry.omitted_definitions:
        parts.append(_outline_block(entry))
    return "".join(parts) + "\n"


def render_selection(selection: Selection) -> str:
    """The whole bundle: heading, then every entry in selection order."""
    return title(selection) + "".join(render_entry(entry) for entry in selection.entries)


def _coverage(entry: Entry) -> str:
    if entry.mode == "whole":
        return f"whole file, {entry.file_lines:,} lines"
    spans = ", ".join(f"{c.start_line}-{c.end_line}" for c in entry.chunks) or "none"
    left = len(entry.outline) + entry.omitted_definitions
    rest = f" · outline of {left} more definition{'s' if left != 1 else ''}" if left else ""
    return f"lines {spans} of {entry.file_lines:,}{rest}"


def _chunk_label(chunk: Chunk) -> str:
    label = f"lines {chunk.start_line}-{chunk.end_line}"
    return f"{label} · {visible(chunk.symbol)}" if chunk.symbol else label


def _outline_block(entry: Entry) -> str:
    body = "".join(outline_line(item) for item in entry.outline)
    if entry.omitted_definitions:
        body += f"… {entry.omitted_definitions} more definitions\n"
    fence = fence_for(body)
    return f"Outline of the rest (line: first line of each definition):\n{fence}text\n{body}{fence}\n"


def bundle(selection: Selection, root: Path, tokenizer: str) -> tuple[str, list[str]]:
    """The Markdown of `selection`, its text read from the files under `root`; also warnings for stderr.

    A selection file may come from anywhere, and the files may have changed since it was made: an entry whose path
    is not a clean relative path (absolute, `..`, not normalised) is dropped, files are read through
    `atlas.safe_read`, so nothing outside `root` is read, and every chunk and outline line is the file's as it is
    now, never text the selection carries (a chunk whose text differs is named in a warning). The selection's budget
    still holds, heading included, counted as the selection counted it: an entry that no longer fits (its file grew)
    is left out. Token totals are recounted with `tokenizer` on the rendered entries.
    """
    from atlas.context.tokens import token_counter

    counter = token_counter(tokenizer)
    budget = selection.budget
    room = _Spent(budget, _budget_counter(selection, counter), selection)
    kept: list[Entry] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for entry in selection.entries:
        problem = path_problem(entry.path)
        if problem:
            warnings.append(f"left out {entry.path}: not a relative path inside the repository (the path {problem})")
            continue
        if entry.path in seen:
            warnings.append(f"left out {entry.path}: listed again; only its first entry is considered")
            continue
        seen.add(entry.path)
        if entry.mode != "whole":
            entry.chunks, repeated = _disjoint(entry.chunks)
            if repeated:
                warnings.append(f"{entry.path}: {repeated:,} of its line ranges repeat lines of another; "
                                "each line is shown once")  # fmt: skip
        carried = _carried(entry)
        filled = _with_text(entry, read_walked(root, entry.path))
        if isinstance(filled, str):
            warnings.append(f"left out {entry.path}: {filled}")
            continue
        if carried is not None and carried != _carried(filled):
            warnings.append(f"{entry.path}: changed since the selection was made; rendered as it is now")
        rendered = render_entry(filled)
        filled.tokens, filled.bytes = counter.count(rendered), len(rendered.encode("utf-8"))
        if not room.take(rendered, filled.tokens if room.counter is counter else None, filled.bytes):
            warnings.append(f"left out {entry.path}: it no longer fits the selection's budget, as it is now")
            continue
        kept.append(filled)
    selection.entries, selection.tokenizer = kept, counter.name
    selection.total_tokens = sum(e.tokens for e in kept)
    selection.total_bytes = sum(e.bytes for e in kept)
    return render_selection(selection), warnings


def read_walked(root: Path, path: str) -> FileText | str:
    """`read_text` of `path` (through the guarded open, which says why a link out, a FIFO or a kernel file is not
    read), or why it is not served: LEFT_OUT_BY_RULES for a file the walk's ignore rules leave out now. A crafted
    selection may name `.env`, a file in an ignored directory or one `.atlasignore` leaves out, and a stale index
    may hold a file the rules came to leave out after it was indexed (a secrets file just excluded)."""
    from atlas.context.chunks import read_text
    from atlas.safe_read import fs_path
    from atlas.walk import file_left_out

    text = read_text(root, path)
    if isinstance(text, str):
        return text
    if file_left_out(root, os.path.join(os.path.realpath(root), os.fsdecode(fs_path(path)))):
        return LEFT_OUT_BY_RULES
    return text


class _Spent:
    """What the rendered entries spend of a selection's budget: its heading is reserved first, as
    `atlas.context.select` reserves it, so a selection rendered from unchanged files keeps every entry."""

    def __init__(self, budget: Budget, counter: TokenCounter, selection: Selection) -> None:
        from atlas.context.select import HEADING_FILES, HEADING_TOKENS

        self.budget, self.counter = budget, counter
        self.tokens = self.bytes = 0
        if budget.max_tokens is not None or budget.max_bytes is not None:
            head = heading(selection.task, HEADING_FILES, HEADING_TOKENS, counter.name, selection.preset)
            self.tokens = counter.count(head) if budget.max_tokens is not None else 0
            self.bytes = len(head.encode("utf-8"))

    def take(self, rendered: str, tokens: int | None, size: int) -> bool:
        """Spend what `rendered` costs (`tokens` when already counted with this counter), if it fits."""
        if self.budget.max_tokens is not None and tokens is None:
            tokens = self.counter.count(rendered)
        tokens = tokens or 0
        if not self.budget.fits(self.tokens + tokens, self.bytes + size):
            return False
        self.tokens, self.bytes = self.tokens + tokens, self.bytes + size
        return True


def _budget_counter(selection: Selection, counter: TokenCounter) -> TokenCounter:
    """The counter of the selection's token budget: the tokenizer it was made with (InputError for one Atlas does
    not know), else `counter`."""
    from atlas.context.tokens import TOKENIZERS, token_counter
    from atlas.errors import InputError, UsageError

    if selection.budget.max_tokens is None or not selection.tokenizer:
        return counter
    try:
        return token_counter(selection.tokenizer)
    except UsageError as err:
        raise InputError(
            f"the selection's token budget is counted with {quoted_value(selection.tokenizer)}, "
            "a tokenizer Atlas does not know",
            f"make the selection again with one of {', '.join(TOKENIZERS)}",
        ) from err


def _carried(entry: Entry) -> tuple[list[tuple[int, int, str]], list[tuple[int, str]]] | None:
    """The chunk texts (with their lines) and outline lines a selection's entry carries; None when its chunks carry
    no text (a selection made with `--no-content`, or a v0.3 one)."""
    if not any(chunk.text for chunk in entry.chunks):
        return None
    chunks = [(c.start_line, c.end_line, c.text) for c in entry.chunks]
    return chunks, [(item.line, item.signature) for item in entry.outline]


def _with_text(entry: Entry, text: FileText | str) -> Entry | str:
    """`entry` with its chunks' text and its outline's first lines read from the file (a whole-file chunk when it
    has no chunks), or why it cannot be rendered.

    The file may have changed since the selection was made, and the selection may be crafted: each chunk is cut
    to the lines the file has (and labelled so), a chunk with none of them (or a reversed range) is left out, and
    so is an outline line past the end of the file."""
    from atlas.context.chunks import signature_of

    if isinstance(text, str):
        return text
    lines = text.lines
    if entry.mode == "whole" or not entry.chunks:
        chunks = [Chunk(1, len(lines), "", "file", "\n".join(lines))]
    else:
        chunks = [chunk for chunk in (_cut(c, lines) for c in entry.chunks) if chunk is not None]
        if not chunks:
            return f"none of its line ranges is within its {len(lines):,} lines"
    entry.outline = [
        replace(item, signature=signature_of(lines[item.line - 1]))
        for item in entry.outline
        if 1 <= item.line <= len(lines)
    ]
    entry.chunks, entry.file_lines = chunks, len(lines)
    entry.file_bytes = entry.file_bytes or text.size
    return entry


def _disjoint(chunks: list[Chunk]) -> tuple[list[Chunk], int]:
    """`chunks` in line order, less each that shares a line with one kept before it, and how many those are: the
    ranges of a selection never overlap, and a crafted one repeating a file's whole range a thousand times would have
    the bundle hold the file a thousand times over."""
    kept: list[Chunk] = []
    for chunk in sorted(chunks, key=lambda c: (c.start_line, c.end_line)):
        if not kept or chunk.start_line > kept[-1].end_line:
            kept.append(chunk)
    return kept, len(chunks) - len(kept)


def _cut(chunk: Chunk, lines: list[str]) -> Chunk | None:
    """`chunk` cut to `lines` (its range too), with their text; None when it holds none of them."""
    start, end = max(chunk.start_line, 1), min(chunk.end_line, len(lines))
    if start > end:
        return None
    return replace(chunk, start_line=start, end_line=end, text="\n".join(lines[start - 1 : end]))
