"""Selection under a budget: ranked candidates → Selection.

Two strategies:

- `files` (`--whole-files`, and what v0.3 output can describe): drop files under the min score, cut
  to `top`, then walk in score order adding each whole file that still fits; one that does not is
  skipped. Unlike the reference tools, no file is ever kept over the budget (they keep the first).
- `chunks`, Atlas's selection.

In both an entry costs its rendered Markdown (`atlas.context.render`), counted exactly, and the
bundle's heading is reserved first, so what `atlas render` prints fits the budget; when nothing fits,
nothing is selected. In `chunks`, phase 1 covers as many files as it can: a file is taken whole when
it is small (at most max(DIGEST_TOKENS, WHOLE_SHARE × budget)), else as a digest of about
DIGEST_TOKENS: its best definitions and an outline of the rest; phase 1 stops once COVER_SHARE of
the budget is spent. Phase 2 grows the entries in score order, each to the whole file if it fits,
else to more definitions. Whatever is left then goes to further files.

A byte budget is turned into a token target at BYTES_PER_TOKEN for planning; every entry is then
checked against the exact bytes and tokens it renders to, and shrunk until it fits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from atlas.context import chunks as chunking
from atlas.context.candidates import Candidate, Ranked
from atlas.context.model import Budget, Chunk, ContextOptions, Entry, Selection, Skip, preset_for, resolve_budget
from atlas.context.render import LEFT_OUT_BY_RULES, heading, read_walked, render_entry
from atlas.context.tokens import TokenCounter, token_counter

DIGEST_TOKENS = 400
WHOLE_SHARE = 0.2
COVER_SHARE = 0.4
BYTES_PER_TOKEN = 4
MIN_TARGET_TOKENS = 40
MIN_COVER_TOKENS = 150
"""Covering stops when less than this is left: a smaller digest is rarely worth its heading."""
SHRINK = 0.8
MAX_SKIPS = 100
HEADING_FILES, HEADING_TOKENS = 9_999, 99_999_999
"""Placeholders as wide as real totals: the heading's cost is reserved before any entry."""


@dataclass(slots=True)
class _Room:
    """What is left of the budget."""

    tokens: float
    bytes: float

    def fits(self, tokens: int, size: int) -> bool:
        """Whether `tokens` and `size` bytes are still available."""
        return tokens <= self.tokens and size <= self.bytes

    def take(self, tokens: int, size: int) -> None:
        """Spend `tokens` and `size` bytes."""
        self.tokens -= tokens
        self.bytes -= size

    @property
    def target(self) -> float:
        """The token target a new entry may aim at."""
        return min(self.tokens, self.bytes / BYTES_PER_TOKEN)


@dataclass(slots=True)
class _File:
    """A candidate whose text has been read; units and outline are filled on first need."""

    candidate: Candidate
    text: chunking.FileText
    file_tokens: int
    units: list[chunking.Unit] | None = None


@dataclass(slots=True)
class _Run:
    """The state of one selection."""

    root: Path
    counter: TokenCounter
    ranked: Ranked
    with_content: bool
    explain: bool = False
    entries: list[Entry] = field(default_factory=list)
    files: dict[str, _File] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    word_terms: dict[str, frozenset[str]] = field(default_factory=dict)

    def skip(self, candidate: Candidate, reason: str) -> None:
        """Record that `candidate` is left out, and why (the first MAX_SKIPS only)."""
        if len(self.skipped) < MAX_SKIPS:
            signals = candidate.signals if self.explain else ()
            self.skipped.append(Skip(candidate.path, candidate.rank, candidate.score, reason, signals))


def select(ranked: Ranked, task: str, root: Path, options: ContextOptions) -> Selection:
    """Select context for `task` from `ranked` under the budget of `options`."""
    started = time.perf_counter()
    preset = preset_for(options.preset)
    budget = resolve_budget(options)
    min_score = preset.min_score if options.min_score is None else abs(options.min_score)  # -0.0 is written 0.0
    top = options.top or preset.candidates
    counter = token_counter(options.tokenizer)
    run = _Run(root, counter, ranked, options.with_content, options.explain)
    eligible = _eligible(run, min_score, top)
    room = _room(budget, task, options, counter)
    if options.strategy == "files":
        _select_files(run, eligible, room)
    else:
        _select_chunks(run, eligible, room)
    if not options.with_content:
        _drop_text(run.entries)
    notes = [*ranked.notes, *([counter.note] if counter.note else [])]
    return Selection(
        task=task, root=str(root), preset=options.preset, strategy=options.strategy, tokenizer=counter.name,
        budget=budget, min_score=min_score, top=top, entries=run.entries, skipped=run.skipped,
        scanned_files=ranked.scanned_files, candidates=len(ranked.candidates),
        total_tokens=sum(e.tokens for e in run.entries), total_bytes=sum(e.bytes for e in run.entries),
        took_ms=round((time.perf_counter() - started) * 1000, 3), notes=notes, warnings=run.warnings,
    )  # fmt: skip


def _eligible(run: _Run, min_score: float, top: int) -> list[Candidate]:
    kept = [c for c in run.ranked.candidates if c.score >= min_score]
    for candidate in run.ranked.candidates:
        if candidate.score < min_score:
            run.skip(candidate, f"score under --min-score {min_score:g}")
    for candidate in kept[top:]:
        run.skip(candidate, f"beyond --top {top}")
    return kept[:top]


def _room(budget: Budget, task: str, options: ContextOptions, counter: TokenCounter) -> _Room:
    head = heading(task, HEADING_FILES, HEADING_TOKENS, counter.name, options.preset)
    inf = float("inf")
    tokens = inf if budget.max_tokens is None else budget.max_tokens - counter.count(head)
    size = inf if budget.max_bytes is None else budget.max_bytes - len(head.encode("utf-8"))
    return _Room(tokens, size)


def _load(run: _Run, candidate: Candidate) -> _File | None:
    """`candidate`'s text, read once; None (and why, in the skips) when it is not served.

    The index may predate the ignore rules: a file `.atlasignore` (or a `.gitignore` rule) came to leave out since,
    a secrets file just excluded, is left out with a warning, as `atlas render` leaves it out. Only the files read
    are asked, not every candidate."""
    if candidate.path in run.files:
        return run.files[candidate.path]
    text = read_walked(run.root, candidate.path)
    if isinstance(text, str):
        run.skip(candidate, text)
        if text == LEFT_OUT_BY_RULES:
            run.warnings.append(f"left out {candidate.path}: {text}")
        return None
    loaded = _File(candidate, text, run.counter.count(text.text))
    run.files[candidate.path] = loaded
    return loaded


# ------------------------------------------------------------------------------------------------
# Whole files: in score order, each that fits; never one over the budget.


def _select_files(run: _Run, eligible: list[Candidate], room: _Room) -> None:
    for candidate in eligible:
        loaded = _load(run, candidate)
        if loaded is None:
            continue
        entry = _costed_as_v03(run, _whole(loaded, "whole file, in score order"))
        if room.fits(entry.tokens, entry.bytes):
            run.entries.append(entry)
            room.take(entry.tokens, entry.bytes)
        else:
            run.skip(candidate, f"budget: the whole file ({entry.tokens:,} tokens as rendered) does not fit")


def _costed_as_v03(run: _Run, entry: Entry) -> Entry:
    """`entry` costed as `atlas render` prints it from Atlas JSON or from v0.3 JSONL, whichever is dearer
    (v0.3 names some languages differently, `tsx` as `typescript`)."""
    from dataclasses import replace

    from atlas.context.records import v03_round_trip

    _costed(run, entry)
    other = v03_round_trip(entry.language)
    if other != entry.language:
        alias = _costed(run, replace(entry, language=other))
        entry.tokens, entry.bytes = max(entry.tokens, alias.tokens), max(entry.bytes, alias.bytes)
    return entry


# ------------------------------------------------------------------------------------------------
# Atlas's rule: cover, then grow, then fill.


def _select_chunks(run: _Run, eligible: list[Candidate], room: _Room) -> None:
    total_tokens, total_bytes = room.tokens, room.bytes
    cover = _Room(total_tokens * COVER_SHARE, total_bytes * COVER_SHARE)
    scale = min(total_tokens, total_bytes / BYTES_PER_TOKEN)
    rest = _cover(run, eligible, room, cover, scale)
    _grow(run, room)
    if rest:
        _cover(run, rest, room, room, scale)
        _grow(run, room)
    _stop_reasons(run, eligible)


def _cover(run: _Run, candidates: list[Candidate], room: _Room, cover: _Room, whole_scale: float) -> list[Candidate]:
    """Add candidates whole or as digests until `cover` is spent; return those not reached."""
    small = max(DIGEST_TOKENS, WHOLE_SHARE * whole_scale)
    for position, candidate in enumerate(candidates):
        if run.entries and cover.target < MIN_COVER_TOKENS:
            return candidates[position:]
        loaded = _load(run, candidate)
        if loaded is None:
            continue
        entry = _first_entry(run, loaded, room, small)
        if entry is None:
            continue
        run.entries.append(entry)
        room.take(entry.tokens, entry.bytes)
        if cover is not room:
            cover.take(entry.tokens, entry.bytes)
    return []


def _first_entry(run: _Run, loaded: _File, room: _Room, small: float) -> Entry | None:
    whole = _costed(run, _whole(loaded, "whole file: it fits"))
    if whole.tokens <= small and room.fits(whole.tokens, whole.bytes):
        return whole
    entry = _fit_digest(run, loaded, room, min(DIGEST_TOKENS, room.target))
    if entry is None and not run.entries:
        entry = _fit_digest(run, loaded, room, room.target)
    if entry is None:
        run.skip(loaded.candidate, "budget: no room left for even a digest of it")
    return entry


def _fit_digest(run: _Run, loaded: _File, room: _Room, target: float) -> Entry | None:
    """The largest digest of `loaded` that fits `room`, starting at `target` tokens and shrinking."""
    while target >= MIN_TARGET_TOKENS:
        entry = _costed(run, _digest(run, loaded, int(target)))
        if entry.chunks and room.fits(entry.tokens, entry.bytes):
            return entry
        target *= SHRINK
    return None


def _grow(run: _Run, room: _Room) -> None:
    """Give what is left to the entries in score order: whole files where they fit, else more definitions."""
    for index, entry in enumerate(run.entries):
        if entry.mode == "whole" or room.target < MIN_TARGET_TOKENS:
            continue
        loaded = run.files[entry.path]
        extra = _Room(room.tokens + entry.tokens, room.bytes + entry.bytes)
        whole = _costed(run, _whole(loaded, "whole file: it fits once the other files had their share"))
        bigger = whole if extra.fits(whole.tokens, whole.bytes) else _fit_digest(run, loaded, extra, extra.target)
        if bigger is not None and bigger.tokens > entry.tokens:
            room.take(bigger.tokens - entry.tokens, bigger.bytes - entry.bytes)
            run.entries[index] = bigger


def _stop_reasons(run: _Run, eligible: list[Candidate]) -> None:
    chosen = {entry.path for entry in run.entries}
    seen = {skip.path for skip in run.skipped}
    for candidate in eligible:
        if candidate.path not in chosen and candidate.path not in seen:
            run.skip(candidate, "budget: spent on better-ranked files")


# ------------------------------------------------------------------------------------------------
# Entries.


def _whole(loaded: _File, reason: str) -> Entry:
    text = loaded.text
    chunk = Chunk(1, len(text.lines), "", "file", "\n".join(text.lines))
    return _entry(loaded, "whole", reason, [chunk])


def _digest(run: _Run, loaded: _File, target: int) -> Entry:
    weights = run.ranked.term_weights
    if loaded.units is None:
        chunking.prepare(loaded.text, weights, run.word_terms)
        outline = run.ranked.outline_for(loaded.text)
        loaded.units = chunking.units_of(loaded.text, outline)
        chunking.score_units(loaded.text, loaded.units, weights, run.counter.count)
    plan = chunking.plan_chunks(loaded.text, loaded.units, target, run.counter.count, weights)
    entry = _entry(loaded, "chunks", "", plan.chunks)
    entry.outline, entry.omitted_definitions = plan.outline, plan.omitted
    entry.reason = _digest_reason(loaded, plan, target, weights)
    return entry


def _digest_reason(loaded: _File, plan: chunking.Plan, target: int, weights: dict[str, float]) -> str:
    names = [c.symbol or f"lines {c.start_line}-{c.end_line}" for c in plan.chunks]
    terms = sorted({t for c in plan.chunks for t in c.terms}, key=lambda t: (-weights.get(t, 0.0), t))
    matched = f" matching {', '.join(terms[:8])}{'…' if len(terms) > 8 else ''}" if terms else ""
    left = len(plan.outline) + plan.omitted
    return (
        f"the whole file is {loaded.file_tokens:,} tokens, more than its share (~{target:,}): "
        f"{len(names)} part{'s' if len(names) != 1 else ''} ({', '.join(names[:6])}){matched}"
        + (f", outline of {left} more definitions" if left else "")
    )


def _entry(loaded: _File, mode: str, reason: str, chunks: list[Chunk]) -> Entry:
    candidate, text = loaded.candidate, loaded.text
    return Entry(
        path=candidate.path, rank=candidate.rank, score=candidate.score, language=candidate.language,
        role=candidate.role, mode=mode, tokens=0, bytes=0, file_tokens=loaded.file_tokens,
        file_bytes=text.size, file_lines=len(text.lines), reason=reason, chunks=chunks,
        signals=list(candidate.signals),
    )  # fmt: skip


def _costed(run: _Run, entry: Entry) -> Entry:
    """`entry` with its exact cost: the tokens and bytes of its rendered Markdown."""
    rendered = render_entry(entry)
    entry.tokens, entry.bytes = run.counter.count(rendered), len(rendered.encode("utf-8"))
    return entry


def _drop_text(entries: list[Entry]) -> None:
    for entry in entries:
        entry.chunks = [Chunk(c.start_line, c.end_line, c.symbol, c.kind, "", c.terms) for c in entry.chunks]
