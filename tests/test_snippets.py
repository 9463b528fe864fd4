"""Line ranges are chosen the same way in every run: scores must not depend on PYTHONHASHSEED."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from atlas.query.snippets import _candidate_lines, _score_lines

LINES = ["alpha beta gamma", "delta epsilon"]
TERMS = {"alpha": 0.1, "beta": 0.2, "gamma": 0.3, "delta": 0.25, "epsilon": 0.35}


def test_equal_scores_are_exactly_equal_and_tie_by_line_number() -> None:
    assert _score_lines(LINES, TERMS) == [(0.6, 1), (0.6, 2)]


def test_line_scores_do_not_change_with_the_hash_seed() -> None:
    code = f"from atlas.query.snippets import _score_lines\nprint(_score_lines({LINES!r}, {TERMS!r}))"
    def run(seed: int) -> str:
        env = {"PYTHONHASHSEED": str(seed)}
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout

    outputs = {run(seed) for seed in range(8)}
    assert len(outputs) == 1, outputs


# Lines as `splitlines` leaves them (no line breaks inside), with letters whose lower case is longer
# (`İ`) or depends on context (`Σ`), and terms as the query side makes them (lower case, no spaces).
_LINE = st.text(st.sampled_from("abcxyz_-. Σİ\t"), max_size=30)
_TERM = st.text(st.sampled_from("abcxyz_-.σi̇"), min_size=1, max_size=4)


@given(lines=st.lists(_LINE, max_size=12), terms=st.lists(_TERM, min_size=1, max_size=6))
def test_candidate_lines_are_the_lines_containing_a_term(lines: list[str], terms: list[str]) -> None:
    weights = dict.fromkeys(terms, 1.0)
    expected = [n for n, line in enumerate(lines, 1) if any(t in line.lower() for t in terms)]
    assert _candidate_lines(lines, weights) == expected
