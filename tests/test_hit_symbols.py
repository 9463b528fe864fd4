"""A hit lists at most MAX_SYMBOLS_PER_HIT matched definitions: the best ones, in file order."""

from __future__ import annotations

from atlas.query.engine import MAX_SYMBOLS_PER_HIT, best_symbols


def test_few_matches_are_kept_as_they_are() -> None:
    names = ("parse_header", "parse_body")
    assert best_symbols(names, {"parse"}) == (names, 0)


def test_many_matches_keep_those_meeting_most_terms_then_the_shortest_in_file_order() -> None:
    noise = tuple(f"parse_generated_value_{i}" for i in range(500))
    names = (*noise[:250], "parse_request_body", *noise[250:], "parse_request")
    kept, omitted = best_symbols(names, {"parse", "request"})
    assert len(kept) == MAX_SYMBOLS_PER_HIT and omitted == len(names) - MAX_SYMBOLS_PER_HIT
    # Both request parsers meet two terms; of the rest, the 18 shortest names (_0 to _17) are kept.
    assert kept == (*noise[:18], "parse_request_body", "parse_request")
