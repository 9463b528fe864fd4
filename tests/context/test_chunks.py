"""Chunk planning's bookkeeping: what it must compute once, and the span look-ups that replaced linear scans."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atlas.context.chunks import FileText, Unit, _Spans, prepare, score_units

Spans = list[tuple[int, int]]


@st.composite
def disjoint_spans_and_probes(draw: st.DrawFn) -> tuple[Spans, Spans]:
    cuts = sorted(draw(st.sets(st.integers(1, 200), max_size=30)))
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if draw(st.booleans())]
    probes = [tuple(sorted(draw(st.tuples(st.integers(1, 200), st.integers(1, 200))))) for _ in range(20)]
    return spans, probes  # type: ignore[return-value]


@given(disjoint_spans_and_probes())
def test_span_look_ups_answer_as_the_scans_they_replaced(case: tuple[Spans, Spans]) -> None:
    spans, probes = case
    held = _Spans(Unit(a, b, "", "code", 0) for a, b in spans)
    for start, end in probes:
        unit = Unit(start, end, "", "code", 0)
        assert held.overlaps(unit) == any(start <= b and a <= end for a, b in spans)
        assert held.hold(unit) == any(a <= start and end <= b for a, b in spans)
        assert held.inside(unit) == any(start <= a and b <= end for a, b in spans)


def test_units_on_the_same_lines_count_their_text_once() -> None:
    # A minified bundle: thousands of definitions on line 1, each once counted the whole line (defs × size).
    line = ";".join(f"function pay{i}(a){{return a+{i}}}" for i in range(2000))
    file = FileText("static/payments.min.js", [line], len(line))
    units = [Unit(1, 1, f"pay{i}", "function", 0) for i in range(2000)]
    counted: list[int] = []

    def count(text: str) -> int:
        counted.append(len(text))
        return len(text) // 4

    prepare(file, {"pay": 1.0}, {})
    score_units(file, units, {"pay": 1.0}, count)
    assert sum(1 for size in counted if size > len(line)) == 1
    assert len({unit.cost for unit in units}) == 1
