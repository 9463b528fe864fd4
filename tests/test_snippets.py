"""Line ranges: chosen the same way in every run (scores must not depend on PYTHONHASHSEED), never overlapping."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from atlas.query.snippets import MAX_LINE_CHARS, _line_bounds, _score_lines, _Text, best_ranges
from atlas.terms import composed

LINES = ["alpha beta gamma", "delta epsilon"]
TERMS = {"alpha": 0.1, "beta": 0.2, "gamma": 0.3, "delta": 0.25, "epsilon": 0.35}


def test_equal_scores_are_exactly_equal_and_tie_by_line_number() -> None:
    assert _score_lines(_Text("\n".join(LINES)), TERMS) == [(0.6, 1), (0.6, 2)]


def test_line_scores_do_not_change_with_the_hash_seed() -> None:
    text = "\n".join(LINES)
    code = f"from atlas.query.snippets import _score_lines, _Text\nprint(_score_lines(_Text({text!r}), {TERMS!r}))"
    def run(seed: int) -> str:
        env = {"PYTHONHASHSEED": str(seed)}
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout

    outputs = {run(seed) for seed in range(8)}
    assert len(outputs) == 1, outputs


# Lines as `splitlines` leaves them (no line breaks inside), with letters whose lower case is longer
# (`İ`) or depends on context (`Σ`) and a combining accent that composes (`e` + U+0301 is `é`), and terms as the
# query side makes them (lower case, composed, no spaces).
_LINE = st.text(st.sampled_from("abcxyz_-. Σİ\té\u0301"), max_size=30)
_TERM = st.text(st.sampled_from("abcxyz_-.σi̇é"), min_size=1, max_size=4)


_WEIGHTS = st.dictionaries(_TERM, st.sampled_from([0.1, 0.2, 0.7]), min_size=1, max_size=6)


@given(lines=st.lists(_LINE, max_size=12), weights=_WEIGHTS)
@example(lines=["a\u0301", "a\u0301", "a\u0301", "İİ", "aa\u0301İİ"], weights={"a": 0.1})  # NFC −4, lower +4
def test_line_bounds_sum_the_weights_of_the_terms_each_line_contains(
    lines: list[str], weights: dict[str, float]
) -> None:
    expected = {
        n: sum(w for t, w in weights.items() if t in composed(line).lower())
        for n, line in enumerate(lines, 1)
        if any(t in composed(line).lower() for t in weights)
    }
    assert _line_bounds(_Text("\n".join(lines)), weights) == expected


def test_line_bounds_leave_out_overlong_lines() -> None:
    lines = ["retry " * (MAX_LINE_CHARS // 6 + 1), "retry once", "nothing"]
    assert _line_bounds(_Text("\n".join(lines)), {"retry": 1.0}) == {2: 1.0}


def test_ranges_never_show_a_line_twice(tmp_path: Path) -> None:
    # matches on lines 10 and 13: their ±2 contexts (8-12, 11-15) would share lines 11-12
    lines = [f"filler line {i}" for i in range(1, 31)]
    lines[9], lines[12] = "retry budget", "retry again"
    (tmp_path / "m.txt").write_text("\n".join(lines) + "\n")
    ranges = best_ranges(tmp_path, "m.txt", {"retry": 2.0, "budget": 3.0}, ())
    assert [(r.start_line, r.end_line) for r in ranges] == [(8, 12), (13, 15)]
    assert ranges[1].text.splitlines()[0] == "retry again"


@given(st.lists(st.sampled_from(["a b", "alpha", "beta gamma", "x", "alpha beta", ""]), min_size=1, max_size=40))
def test_ranges_are_disjoint_and_hold_their_line(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    root = tmp_path_factory.mktemp("disjoint")
    (root / "f.txt").write_text("\n".join(lines) + "\n")
    ranges = best_ranges(root, "f.txt", {"alpha": 1.0, "beta": 2.0, "gamma": 0.5}, ())
    spans = sorted((r.start_line, r.end_line) for r in ranges)
    assert all(end < next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert all(start <= end for start, end in spans)


def test_a_form_feed_or_a_lone_carriage_return_does_not_shift_line_ranges(tmp_path: Path) -> None:
    # Line ranges cut the file with `str.splitlines`, which also breaks at a form feed, a lone `\r` and U+2028,
    # while definitions are numbered by `\n` alone (tree-sitter's rows): the range "lines 4-5" showed a blank line.
    import json

    from click.testing import CliRunner

    from atlas.cli import cli
    from atlas.safe_read import text_lines

    source = "import os\n\x0c\n# section\u2028 two\r\ndef beta_refund():\n    return 'beta refund'\n"
    (tmp_path / "pay.py").write_text(source, encoding="utf-8", newline="")
    assert text_lines(source.encode())[3] == "def beta_refund():"
    index = CliRunner().invoke(cli, ["-q", "index", str(tmp_path), "--no-history", "--format", "json"])
    assert index.exit_code == 0, index.output
    found = CliRunner().invoke(cli, ["-q", "search", "--repo", str(tmp_path), "--format", "json", "beta refund"])
    assert found.exit_code == 0, found.output
    lines = json.loads(found.stdout)["results"][0]["lines"]
    assert [(r["start"], r["end"], r["text"].splitlines()[0]) for r in lines] == [(4, 5, "def beta_refund():")]


def _first_hit_lines(root: Path, *query: str) -> list[dict[str, object]]:
    """The line ranges of the first hit of `atlas search QUERY` in ROOT."""
    import json

    from click.testing import CliRunner

    from atlas.cli import cli

    found = CliRunner().invoke(cli, ["-q", "search", "--repo", str(root), "--format", "json", *query])
    assert found.exit_code == 0, found.output
    return json.loads(found.stdout)["results"][0]["lines"]


def _build(root: Path) -> None:
    from click.testing import CliRunner

    from atlas.cli import cli

    built = CliRunner().invoke(cli, ["-q", "index", str(root), "--no-history", "--format", "json"])
    assert built.exit_code == 0, built.output


def test_regression_a_file_that_shrank_since_indexing_gets_ranges_within_it(tmp_path: Path) -> None:
    # The stored outline was used as it was: a file cut to one line got "lines 1-4 (gizmo_handler_0)", a definition
    # that no longer exists, past the file's end.
    (tmp_path / "app.py").write_text("".join(f"def gizmo_handler_{i}(request):\n    return {i}\n\n" for i in range(9)))
    _build(tmp_path)
    (tmp_path / "app.py").write_text("gizmo = 1\n")
    assert _first_hit_lines(tmp_path, "gizmo", "handler") == [
        {"start": 1, "end": 1, "symbol": "", "text": "gizmo = 1"}
    ]


def test_regression_a_file_edited_to_the_same_size_is_not_cut_by_its_old_outline(tmp_path: Path) -> None:
    old = "def alpha_refund():\n    return 1\n\n\ndef beta_refund():\n    return 2\n"
    new = "def beta_refund():\n    return 2\n\n\ndef alpha_refund():\n    return 1\n"
    assert len(old) == len(new) and old.count("\n") == new.count("\n")
    (tmp_path / "pay.py").write_text(old)
    _build(tmp_path)
    (tmp_path / "pay.py").write_text(new)
    ranges = _first_hit_lines(tmp_path, "beta_refund")
    assert ranges[0]["start"] <= 1 <= ranges[0]["end"] and ranges[0]["symbol"] != "alpha_refund"
    assert all(r["symbol"] == "" for r in ranges)  # the stored definitions are not the file's any more


def test_regression_a_file_that_became_binary_gets_no_ranges(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def gizmo_handler(request):\n    return request.value\n")
    _build(tmp_path)
    (tmp_path / "app.py").write_bytes(b"\0\1\2gizmo handler\0\xff\xfe blob\0\n")
    assert _first_hit_lines(tmp_path, "gizmo", "handler") == []


@given(
    lines=st.lists(st.text(st.sampled_from("ab \t\r"), max_size=5), min_size=1, max_size=30),
    asked=st.lists(st.integers(min_value=1, max_value=30), max_size=12),
    counted=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
)
def test_a_text_finds_each_line_as_splitting_it_would(lines: list[str], asked: list[int], counted: list[int]) -> None:
    text = _Text("\n".join(lines))
    assert text.count == len(lines)
    starts = sorted({len("\n".join(lines[: n - 1])) + (n > 1) for n in counted if n <= len(lines)})
    numbers = text.numbers(starts)  # known starts, in any order with the lines asked before and after
    assert all(text.line(numbers[start]) == lines[numbers[start] - 1] for start in starts)
    for number in asked:
        if number <= len(lines):
            assert text.line(number) == lines[number - 1]
            first = max(1, number - 3)
            assert text.span(first, number) == "\n".join(lines[first - 1 : number])
