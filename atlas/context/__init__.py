"""Context selection: hand an LLM the files, or the parts of files, that matter for a task, within a budget.

    candidates (fusion search, or path heuristics for `fast`) → selection under a token/byte budget
    (whole files, or the best definitions plus an outline of the rest) → Selection
    → v0.3 JSONL records (repo-context compatible), Atlas's `context` JSON, or Markdown (render)

The package owns budgets, token counts, chunking, the v0.3 records and the Markdown bundle; it
takes ranked files from `atlas.query` and never writes to stdout (the CLI shell does, through
`atlas.output`). `atlas.api.select_context` is the entry point for the CLI and the MCP server.
"""

from __future__ import annotations

from atlas.context.model import Budget, Chunk, ContextOptions, Entry, OutlineItem, Selection, Skip

__all__ = ["Budget", "Chunk", "ContextOptions", "Entry", "OutlineItem", "Selection", "Skip"]
