"""The records of context selection: options in, a `Selection` out, plus the preset table.

Everything here is a plain dataclass, so orjson serialises a Selection as it is (the MCP server
returns it unchanged) and `atlas.context.records` turns it into the published JSON shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlas.config import MAX_COUNT, whole_number
from atlas.errors import UsageError
from atlas.records import ScoreTerm
from atlas.safe_read import quoted_value

STRATEGIES = ("chunks", "files")
INDEX_POLICIES = ("require", "build", "refresh")


@dataclass(frozen=True, slots=True)
class Preset:
    """Defaults of one preset. `candidates` is the default `--top` (how many ranked files to consider)."""

    name: str
    deep_index: bool
    max_bytes: int
    min_score: float
    candidates: int
    description: str


PRESETS: dict[str, Preset] = {
    "fast": Preset("fast", False, 50_000, 0.05, 50, "no index: path and file-name matches over a cheap walk"),
    "balanced": Preset("balanced", True, 100_000, 0.01, 60, "full fusion over the index (default)"),
    "deep": Preset("deep", True, 200_000, 0.005, 150, "fusion with a wider candidate pool and graph expansion"),
    "thorough": Preset("thorough", True, 500_000, 0.001, 400, "widest candidate pool and budget"),
}


def preset_for(name: str) -> Preset:
    """The preset called `name`; UsageError for an unknown one."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {quoted_value(name)}", f"use one of {', '.join(PRESETS)}")
    return PRESETS[name]


_COUNT_LIMITS: dict[str, tuple[int, int]] = {
    "max_bytes": (0, 1 << 40),  # 0: no byte budget
    "max_tokens": (1, 1_000_000_000),
    "top": (1, MAX_COUNT),
}
"""The range of each count option: budgets past a terabyte or a billion tokens mean "no budget", and `top` sizes
the ranking a selection reads, as `candidates` does."""


@dataclass(frozen=True, slots=True)
class ContextOptions:
    """How to select context for one task.

    `max_bytes` None means the preset's default byte budget, unless `max_tokens` is given (then only
    the token budget applies); 0 means no byte budget. `min_score` and `top` default to the preset's.
    `strategy` "chunks" is Atlas's selection (definitions and outlines of files that do not fit);
    "files" takes whole files in score order, each that fits (never one over the budget), as v0.3 output needs.
    `index` says what to do about the index: "require" one, "build" it when missing, or "refresh" it
    when stale. `weights` override fusion weights (see `atlas.query.fuse`).
    """

    preset: str = "balanced"
    max_bytes: int | None = None
    max_tokens: int | None = None
    min_score: float | None = None
    top: int | None = None
    strategy: str = "chunks"
    tokenizer: str = "cl100k_base"
    with_content: bool = True
    index: str = "build"
    explain: bool = False
    weights: dict[str, float] | None = None
    config_file: str | None = None

    def __post_init__(self) -> None:
        preset_for(self.preset)
        if self.strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy {quoted_value(self.strategy)}", f"use one of {', '.join(STRATEGIES)}")
        if self.index not in INDEX_POLICIES:
            raise UsageError(f"unknown index policy {quoted_value(self.index)}",
                             f"use one of {', '.join(INDEX_POLICIES)}")  # fmt: skip
        for name, (minimum, maximum) in _COUNT_LIMITS.items():
            value = getattr(self, name)
            if value is not None:
                whole_number(f"--{name.replace('_', '-')}", value, minimum, maximum)
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise UsageError("--min-score must be between 0 and 1", "scores are normalised into 0..1")


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits that apply; None means no limit of that kind."""

    max_bytes: int | None
    max_tokens: int | None

    def fits(self, tokens: int, size: int) -> bool:
        """Whether `tokens` and `size` bytes stay within both limits."""
        return (self.max_tokens is None or tokens <= self.max_tokens) and (
            self.max_bytes is None or size <= self.max_bytes
        )


def resolve_budget(options: ContextOptions) -> Budget:
    """The Budget of `options`: explicit limits, else the preset's default byte budget."""
    if options.max_bytes is None:
        max_bytes = None if options.max_tokens else preset_for(options.preset).max_bytes
    else:
        max_bytes = options.max_bytes or None
    return Budget(max_bytes=max_bytes, max_tokens=options.max_tokens)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of a file that is included: 1-based inclusive lines, its text and why it was chosen."""

    start_line: int
    end_line: int
    symbol: str
    kind: str
    text: str
    terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutlineItem:
    """A definition that is not included, shown by its first line."""

    line: int
    end_line: int
    kind: str
    name: str
    signature: str
    depth: int = 0


@dataclass(slots=True)
class Entry:
    """One selected file: whole (`mode` "whole") or its best definitions plus an outline ("chunks").

    `tokens` and `bytes` are what the entry costs in the budget (its rendered Markdown, in both
    strategies); `file_*` describe the whole file.
    """

    path: str
    rank: int
    score: float
    language: str
    role: str
    mode: str
    tokens: int
    bytes: int
    file_tokens: int
    file_bytes: int
    file_lines: int
    reason: str
    chunks: list[Chunk] = field(default_factory=list)
    outline: list[OutlineItem] = field(default_factory=list)
    omitted_definitions: int = 0
    signals: list[ScoreTerm] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Skip:
    """A ranked file that was not selected, and why."""

    path: str
    rank: int
    score: float
    reason: str
    signals: tuple[ScoreTerm, ...] = ()


@dataclass(slots=True)
class Selection:
    """The answer to one task: entries best first, what was skipped, and the totals."""

    task: str
    root: str
    preset: str
    strategy: str
    tokenizer: str
    budget: Budget
    min_score: float
    top: int
    entries: list[Entry]
    skipped: list[Skip]
    scanned_files: int
    candidates: int
    total_tokens: int
    total_bytes: int
    took_ms: float
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What was left out that the user must hear of even with `-q`, as `atlas render` warns: a file the ignore rules
    came to leave out after it was indexed."""
