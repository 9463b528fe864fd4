"""A hit's line ranges look only for the query words its file holds, as the index says.

Line ranges bound each line's score by the query words it contains as substrings, then score the best
40 lines exactly (by their tokens). A rare query word that a file holds only inside longer words
("smatch" in "mismatch") used to fill those 40 lines with lines scoring nothing, so the line that really
holds a query word went unseen and the hit showed no range.
"""

from __future__ import annotations

from pathlib import Path

from atlas.api import open_engine
from atlas.query.engine import SearchOptions
from tests.ranking.searching import indexed_with_filler

DECOYS = "".join(f'    "mismatch_{i}",\n' for i in range(45))
MODULE = f"NAMES = [\n{DECOYS}]\n\n\ndef make_loader(path):\n    return open(path)\n"


def test_the_line_holding_a_query_word_is_found_past_lines_that_only_hold_it_inside_other_words(
    tmp_path: Path,
) -> None:
    config = indexed_with_filler(tmp_path / "repo", {"app/names.py": MODULE})
    engine = open_engine(config, build_if_missing=False)
    best = engine.search("smatch loader", SearchOptions(limit=3)).hits[0]
    assert best.path == "app/names.py"
    assert best.lines and best.lines[0].symbol == "make_loader"
    assert "def make_loader(path):" in best.lines[0].text
