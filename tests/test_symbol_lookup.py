"""Definitions found by name in a file's stored outline (`atlas.query.symbols`): what `sym:` and the MCP `symbols`
tool read, in time that grows with the definitions asked for and their nesting, not with the square of a file's
definitions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atlas.index.reader import StoredDoc
from atlas.query.symbols import SymbolMatch, SymbolQuery, _matches, _same_name, _split_qualified, definitions
from tests.conftest import deadline


def reference_matches(doc: StoredDoc, query: SymbolQuery) -> list[SymbolMatch]:
    """`_matches` as it was: every enclosing definition looked for over the whole outline, for each match."""
    same = _same_name(query.case_sensitive)

    def container_of(start: int, end: int) -> str | None:
        enclosing = sorted(
            (e - s, name) for name, _, s, e in doc.outline if s <= start and end <= e and (s, e) != (start, end)
        )
        if not query.container:
            return enclosing[0][1] if enclosing else ""
        return next((name for _, name in enclosing if same(_split_qualified(name)[1], query.container)), None)

    out = []
    for name, kind, start, end in doc.outline:
        qualifier, last = _split_qualified(name)
        if not same(last, query.name) or (query.kind and kind != query.kind):
            continue
        if qualifier and (not query.container or same(qualifier, query.container)):
            container: str | None = qualifier
        else:
            container = container_of(start, end)
        if query.container and container is None:
            continue
        out.append(SymbolMatch(name, kind, doc.path, start, end, doc.language, doc.role, container or ""))
    return out


def outline_of(items: list[tuple[str, str, int, int]]) -> tuple[tuple[str, str, int, int], ...]:
    return tuple((name, kind, min(a, b), max(a, b)) for name, kind, a, b in items)


NAMES = st.sampled_from(["get", "Get", "Cart", "cart", "Cart.get", "A::Cart", "Other", "Cart#get"])
LINES = st.integers(1, 12)
OUTLINES = st.lists(st.tuples(NAMES, st.sampled_from(["class", "method", "function"]), LINES, LINES), max_size=25)
QUERIES = st.builds(
    SymbolQuery, st.sampled_from(["get", "Cart", "GET"]), st.sampled_from(["", "Cart", "cart", "Other"]),
    st.sampled_from([None, "method", "class"]), st.booleans(),
)  # fmt: skip


@given(OUTLINES.map(outline_of), QUERIES)
def test_definitions_and_their_containers_are_the_ones_a_scan_of_the_whole_outline_finds(
    outline: tuple[tuple[str, str, int, int], ...], query: SymbolQuery
) -> None:
    doc = StoredDoc(fid=1, path="a.py", language="python", role="impl", outline=outline)
    assert _matches(doc, query) == reference_matches(doc, query)


def test_regression_a_file_of_many_definitions_of_one_name_is_read_in_linear_time() -> None:
    # Each definition's container was looked for over the file's whole outline: 20,000 `def get()` in a generated
    # file made `sym:get` take 9 s, 40,000 (a megabyte) 36 s, and the MCP `symbols` tool as long.
    flat = tuple(("get", "function", 2 * i + 1, 2 * i + 2) for i in range(40_000))
    nested = (("Cart", "class", 1, 200_001), *(("get", "method", i + 2, i + 2) for i in range(40_000)))
    with deadline(10):
        for outline in (flat, nested):
            doc = StoredDoc(fid=1, path="gen.py", language="python", role="generated", outline=outline)
            assert len(definitions([doc], "get")[1].lines) == 40_000
            assert len(_matches(doc, SymbolQuery("get", "Cart"))) == (40_000 if outline is nested else 0)
