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


PRICING = (
    "def rounded(amount):\n    return round(amount, 2)\n\n\n"
    "def apply_discount(total, rate):\n    return rounded(total * (1 - rate))\n\n\n"
    "def tax(total):\n    return total * 0.2\n"
)


def _lines_of(config: object, query: str, path: str) -> list[tuple[int, int, str]]:
    hits = open_engine(config, build_if_missing=False).search(query, SearchOptions(limit=5)).hits
    (hit,) = [hit for hit in hits if hit.path == path]
    return [(found.start_line, found.end_line, found.symbol) for found in hit.lines]


def test_the_line_a_link_names_comes_first_though_the_file_holds_none_of_the_rarest_words(tmp_path: Path) -> None:
    # The link's own words (`acme`, `blob`, `L6`) are the query's rarest; the linked file holds none of them and
    # used to come first with no line ranges at all.
    config = indexed_with_filler(tmp_path / "repo", {
        "shop/pricing.py": PRICING,
        "notes/acme.md": "# acme\n\nThe acme blob store keeps main l6 backups.\n",
    })  # fmt: skip
    query = "discount is wrong https://github.com/acme/shop/blob/main/shop/pricing.py#L6"
    lines = _lines_of(config, query, "shop/pricing.py")
    assert lines and lines[0][0] <= 6 <= lines[0][1] and lines[0][2] == "apply_discount"


def test_a_traceback_frame_s_line_comes_before_the_best_matching_lines(tmp_path: Path) -> None:
    config = indexed_with_filler(tmp_path / "repo", {"shop/pricing.py": PRICING})
    words = "tax is wrong for a total\n"
    frame = '  File "/home/me/venv/lib/python3.12/site-packages/shop/pricing.py", line 6, in apply_discount\n'
    assert _lines_of(config, words, "shop/pricing.py")[0][2] == "tax"
    traceback = f"Traceback (most recent call last):\n{frame}ZeroDivisionError\n"
    lines = _lines_of(config, words + traceback, "shop/pricing.py")
    assert lines[0][2] == "apply_discount" and lines[0][0] <= 6 <= lines[0][1]
    assert "tax" in [symbol for _, _, symbol in lines[1:]]


def test_a_named_line_counts_only_in_the_one_file_its_path_denotes(tmp_path: Path) -> None:
    # `pricing.py:9` could be either file; `/srv/other/pricing.py` shares only a file name with them.
    config = indexed_with_filler(tmp_path / "repo", {"shop/pricing.py": PRICING, "cart/pricing.py": PRICING})
    for query in ("tax is wrong in pricing.py:6", 'tax is wrong\n  File "/srv/other/pricing.py", line 6, in f'):
        lines = _lines_of(config, query, "shop/pricing.py")
        assert lines[0][2] == "tax", query


def test_a_named_line_past_the_file_s_end_is_ignored(tmp_path: Path) -> None:
    config = indexed_with_filler(tmp_path / "repo", {"shop/pricing.py": PRICING})
    lines = _lines_of(config, "tax is wrong in shop/pricing.py:900", "shop/pricing.py")
    assert lines and lines[0][2] == "tax"
