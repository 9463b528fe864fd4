"""What people and tools read about a selection besides the bundle: tables, explanations, capabilities.

- `human_selection`: the table `atlas query` prints on a terminal (rank, score, cost, what, why).
- `explain_record` / `human_explain`: every ranked file with its signal breakdown and the decision
  the budget made about it (`atlas explain`).
- `describe`: the capabilities record (`atlas describe`), built from the same tables the code uses.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from atlas.context.model import PRESETS, STRATEGIES, Entry, Selection
from atlas.context.records import CONTEXT_SCHEMA_VERSION, V03_VERSION
from atlas.records import ScoreTerm
from atlas.safe_read import visible

MAX_REASON_CHARS = 160
EXIT_CODES = {
    "0": "selection made", "1": "nothing selected", "2": "usage or input error",
    "3": "other failure (no index: run `atlas quick`)", "4": "corrupt index", "5": "index busy", "6": "signal failure",
}  # fmt: skip
SCHEMAS = (
    "context.v1.schema.json", "context_explain.v1.schema.json", "context_describe.v1.schema.json",
    "context_jsonl_v0.3.schema.json",
)  # fmt: skip


def human_selection(selection: Selection, color: bool = False) -> str:
    """A table of the entries, each with why it is there, then the totals."""
    lines = [f"{'rank':>4} {'score':>6} {'tokens':>7}  {'included':<26} path"]
    for entry in selection.entries:
        path = f"\033[1;36m{visible(entry.path)}\033[0m" if color else visible(entry.path)
        lines.append(f"{entry.rank:>4} {entry.score:>6.3f} {entry.tokens:>7,}  {_included(entry):<26} {path}")
        lines.append(f"{'':>20}why: {visible(_short(entry.reason))}")
    lines.append(_totals(selection))
    return "\n".join(lines) + "\n"


def _included(entry: Entry) -> str:
    if entry.mode == "whole":
        return f"whole ({entry.file_lines:,} lines)"
    outline = " + outline" if entry.outline or entry.omitted_definitions else ""
    return f"{len(entry.chunks)} part{'s' if len(entry.chunks) != 1 else ''}{outline}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _totals(selection: Selection) -> str:
    limits = []
    if selection.budget.max_tokens is not None:
        limits.append(f"{selection.budget.max_tokens:,} tokens")
    if selection.budget.max_bytes is not None:
        limits.append(f"{selection.budget.max_bytes:,} bytes")
    budget = " and ".join(limits) or "no limit"
    return (
        f"{len(selection.entries)} files · {selection.total_tokens:,} tokens ({selection.tokenizer}) · "
        f"{selection.total_bytes:,} bytes · budget {budget} · {selection.scanned_files:,} files scanned · "
        f"preset {selection.preset} · {selection.took_ms:.0f} ms"
    )


def explain_rows(selection: Selection) -> list[dict[str, Any]]:
    """Every ranked file the selection saw, by rank: score, signal terms, and what the budget decided."""
    rows = [
        {"rank": e.rank, "path": e.path, "score": e.score, "decision": e.mode, "reason": e.reason,
         "tokens": e.tokens, "signals": [asdict(t) for t in e.signals]}
        for e in selection.entries
    ]  # fmt: skip
    rows += [
        {"rank": s.rank, "path": s.path, "score": s.score, "decision": "skipped", "reason": s.reason, "tokens": 0,
         "signals": [asdict(t) for t in s.signals]}
        for s in selection.skipped
    ]  # fmt: skip
    return sorted(rows, key=lambda row: (row["rank"], row["path"]))


def explain_record(selection: Selection) -> dict[str, Any]:
    """The `context_explain` record (schema: index_schema/context_explain.v1.schema.json)."""
    return {
        "type": "context_explain",
        "schema_version": CONTEXT_SCHEMA_VERSION,
        "task": selection.task,
        "preset": selection.preset,
        "strategy": selection.strategy,
        "tokenizer": selection.tokenizer,
        "min_score": selection.min_score,
        "top": selection.top,
        "total_tokens": selection.total_tokens,
        "notes": list(selection.notes),
        "files": explain_rows(selection),
    }


def human_explain(selection: Selection, color: bool = False) -> str:
    """Each file's score terms (signal, raw value, rank, weight, contribution), then the decision."""
    out: list[str] = [f"note: {visible(note)}" for note in selection.notes]
    for row in explain_rows(selection):
        path = f"\033[1;36m{visible(row['path'])}\033[0m" if color else visible(row["path"])
        out.append(f"{row['rank']:>4}. {path}  score {row['score']:.3f}")
        for term in row["signals"]:
            out.append(_term_line(ScoreTerm(**term)))
        out.append(f"        {row['decision']}: {visible(_short(row['reason']))}")
    out.append(_totals(selection))
    return "\n".join(out) + "\n"


def _term_line(term: ScoreTerm) -> str:
    rank = "-" if term.rank is None else str(term.rank)
    return (
        f"        {term.signal:<14} raw {term.raw:<10.4g} rank {rank:<5} weight {term.weight:<5.3g} "
        f"→ {term.contribution:+.5f}"
    )


def describe(version: str) -> dict[str, Any]:
    """The `context_describe` record: commands, presets, formats, tokenizers, budgets, exit codes."""
    from atlas.context.tokens import DEFAULT_TOKENIZER, TOKENIZERS

    return {
        "type": "context_describe",
        "schema_version": CONTEXT_SCHEMA_VERSION,
        "name": "atlas",
        "version": version,
        "commands": {
            "query": "select context for a task from the index (needs one: see quick)",
            "quick": "index if needed (or refresh a stale index), then query",
            "explain": "every ranked file with its signal breakdown and the budget's decision",
            "render": "turn a selection (v0.3 JSONL or Atlas JSON) into a Markdown bundle",
            "describe": "this record",
        },
        "presets": [_preset(name) for name in PRESETS],
        "default_preset": "balanced",
        "strategies": dict(zip(STRATEGIES, _STRATEGY_DOC, strict=True)),
        "formats": {
            "jsonl": f"repo-context JSONL v{V03_VERSION}: header, one line per file, footer (files strategy)",
            "json": "Atlas context record v1 (index_schema/context.v1.schema.json); the default when piped",
            "human": "a table for people",
            "markdown": "atlas render",
        },
        "jsonl_compat": V03_VERSION,
        "tokenizers": [_tokenizer(name, name == DEFAULT_TOKENIZER) for name in TOKENIZERS],
        "budget": {
            "max_bytes": "default: the preset's, unless --max-tokens is given; 0: no byte limit",
            "max_tokens": "tokens of the chosen tokenizer; the chunks strategy counts the rendered Markdown",
            "min_score": "scores are normalised into 0..1 (1 = first on every signal of the preset)",
        },
        "exit_codes": EXIT_CODES,
        "schemas": list(SCHEMAS),
    }


_STRATEGY_DOC = (
    "whole files when they fit, else their best definitions and an outline of the rest (default)",
    "whole files in score order, each that fits the budget, never one over it (--whole-files; v0.3 output)",
)


def _preset(name: str) -> dict[str, Any]:
    from atlas.query.fuse import PRESETS as FUSION
    from atlas.query.fuse import SIGNALS

    preset = PRESETS[name]
    weights = FUSION[name]
    signals = ["filename", "directory"] if name == "fast" else [s for s in SIGNALS if weights.signal_weight(s) > 0]
    return {
        "name": name, "deep_index": preset.deep_index, "default_max_bytes": preset.max_bytes,
        "default_min_score": preset.min_score, "default_top": preset.candidates,
        "fusion_candidates": weights.candidates if preset.deep_index else 0,
        "signals": signals, "description": preset.description,
    }  # fmt: skip


def _tokenizer(name: str, default: bool) -> dict[str, Any]:
    """A tokenizer's entry: `exact` when its counts are the real encoding's (offline, vocabulary embedded)."""
    from atlas.context.tokens import ESTIMATE, token_counter

    return {"name": name, "default": default, "offline": True, "exact": token_counter(name).name == name != ESTIMATE}
