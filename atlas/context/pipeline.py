"""One task end to end: rank candidates (fusion engine, or path heuristics for `fast`), then select."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from atlas.context.model import ContextOptions, Selection, preset_for

if TYPE_CHECKING:
    from atlas.context.candidates import Ranked
    from atlas.query.engine import Engine, SearchOptions


def candidate_limit(options: ContextOptions) -> int:
    """How many ranked files to consider: `--top`, else the preset's default."""
    return options.top or preset_for(options.preset).candidates


def rank(
    root: Path, task: str, options: ContextOptions, engine: Engine | None = None, search: SearchOptions | None = None
) -> Ranked:
    """Ranked candidates for `task`: path heuristics for `fast` (no index), else the fusion engine."""
    if options.preset == "fast" or engine is None:
        from atlas.context.fast import rank_by_paths

        return rank_by_paths(root, task, candidate_limit(options))
    from atlas.context.candidates import rank_with_engine
    from atlas.query.engine import SearchOptions

    search = replace(search or SearchOptions(), limit=candidate_limit(options))
    return rank_with_engine(engine, task, search)


def select_for_task(
    root: Path, task: str, options: ContextOptions, engine: Engine | None = None, search: SearchOptions | None = None
) -> Selection:
    """Rank and select; `took_ms` covers both."""
    from atlas.context.select import select

    started = time.perf_counter()
    selection = select(rank(root, task, options, engine, search), task, root, options)
    selection.took_ms = round((time.perf_counter() - started) * 1000, 3)
    return selection
