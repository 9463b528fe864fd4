"""Mentions: what a query names exactly (paths, modules, identifiers)."""

from __future__ import annotations

import pytest

from atlas.query.mentions import find_mentions

ACRONYM_NAMES = ["HTTPServer", "JSONDecoder", "XMLParser", "IOError", "SSLError", "getHTTPResponseCode"]


@pytest.mark.parametrize("name", ACRONYM_NAMES)
def test_acronym_identifiers_are_mentions(name: str) -> None:
    assert find_mentions(f"the {name} fails").identifiers == (name,)


@pytest.mark.parametrize("word", ["URLs", "APIs", "PRs", "IDs", "HTTP", "Server"])
def test_plural_acronyms_and_plain_words_are_not(word: str) -> None:
    assert find_mentions(f"the {word} fail").identifiers == ()
