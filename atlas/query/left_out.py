"""Answers from an index not yet updated leave out the files the ignore rules leave out now.

A user adds `secrets.env` to `.gitignore` (or `.atlasignore`) after the index was built: until `atlas index` runs,
the index still holds it. `query`, `context` and `render` ask the rules of every file they read; a search asks them
only when a stamp of the ignore files on its hits' way moved since the build (`atlas.ignore_stamps`: tens of
microseconds for ten hits), or of the hits a caller suspects (the MCP server's last freshness check found them
missing from the walk) and of those the walk took only because git tracks them. The full check reads every ignore
file on a path's way (~0.14 ms a path) and imports the walk; an index built without stamps gets it for every hit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atlas.query.engine import Engine, SearchOptions, SearchResult

LEFT_OUT_BY_RULES = "the ignore rules leave it out of the index now, so it is not served (`atlas index` drops it)"


def search_leaving_out(
    engine: Engine, text: str, options: SearchOptions | None = None, suspects: Collection[str] = frozenset()
) -> SearchResult:
    """`engine.search(text, options)` less the hits the ignore rules now leave out (see the module docstring), each
    named in a warning; searched once more for as many hits more as were left out, so a full page stays full.
    `suspects` are paths to ask the rules of whatever the stamps say."""
    from atlas.query.engine import SearchOptions

    options = options or SearchOptions()
    result = engine.search(text, options)
    left_out = left_out_now(engine, [hit.path for hit in result.hits], suspects)
    if not left_out:
        return result
    if len(result.hits) == options.limit:
        result = engine.search(text, replace(options, limit=options.limit + len(left_out)))
        left_out = left_out_now(engine, [hit.path for hit in result.hits], suspects)
    dropped = set(left_out)
    kept = [hit for hit in result.hits if hit.path not in dropped][: options.limit]
    result.hits = [replace(hit, rank=rank) for rank, hit in enumerate(kept, 1)]
    said = [left_out_note(path) for path in left_out]
    result.notes.extend(said)
    result.warnings.extend(said)
    return result


def left_out_note(path: str) -> str:
    """The warning that names a file left out of an answer because the ignore rules leave it out now."""
    return f"left out {path}: {LEFT_OUT_BY_RULES}"


def left_out_now(engine: Engine, paths: Sequence[str], suspects: Collection[str] = frozenset()) -> list[str]:
    """Which of `paths` (files the index of `engine` holds) the ignore rules leave out now: all of them are asked
    of the rules when a stamp on their way moved (or the index has none), else only those in `suspects`, those the
    walk took only because git tracks them and symbolic links (`IgnoreStamps.asked`)."""
    if not paths:
        return []
    stamps = engine.ignore_stamps
    wanted = set(paths if stamps is None else stamps.asked(str(engine.root), paths))
    asked = [path for path in paths if path in wanted or path in suspects]
    return left_out_by_rules(engine.root, asked) if asked else []


def left_out_by_rules(root: Path, paths: Sequence[str]) -> list[str]:
    """Which of `paths`, files an index holds, the walk of `root` leaves out now though they are there: a file
    `.atlasignore` (or a `.gitignore` rule) came to leave out since the index was built. Every ignore file on a
    path's way is read (~0.14 ms a path): ask it of the few files a freshness check found missing from the walk."""
    from atlas.safe_read import in_tree

    present = [path for path in paths if in_tree(root, path)]
    if not present:  # gone since the build (the search's note says so): no rule to read, no walk to import
        return []
    from atlas.walk import path_left_out

    return [path for path in present if path_left_out(root, path)]
