"""Names and file text printed for people or one per line: control characters never reach the terminal raw."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from atlas.safe_read import quoted_path, quoted_value, visible
from tests.conftest import init_repo, write_tree
from tests.test_hostile_process import run_atlas

BIDI = {chr(c) for c in [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
CONTROL = {chr(c) for c in [*range(0, 9), *range(10, 32), *range(127, 160)]} | BIDI


@given(st.text() | st.text(st.sampled_from([*BIDI, "a", "\n", "\x1b"])))
def test_visible_text_holds_no_control_character_but_tab(text: str) -> None:
    shown = visible(text)
    assert not CONTROL.intersection(shown)
    if not CONTROL.intersection(text):
        assert shown == text


@given(st.text(min_size=1))
def test_a_quoted_path_is_one_line_and_reads_back_as_the_name(path: str) -> None:
    quoted = quoted_path(path)
    assert not CONTROL.intersection(quoted)
    if quoted == path:
        assert not CONTROL.intersection(path) and not path.startswith('"')
    else:
        assert ast.literal_eval(quoted) == path  # C escapes, as a Python string literal reads them


UNDECODABLE = st.sampled_from([chr(0xDC00 + byte) for byte in range(0x80, 0x100)])
"""The lone surrogates Python reads a byte that is not UTF-8 of an argument or a name as."""


@given(st.text(st.sampled_from(["a", "\\", "u", "d", "c", "f", "'", '"', "\n"]) | UNDECODABLE))
def test_a_quoted_value_shows_each_byte_that_is_not_utf8_as_x_escapes_and_reads_back(value: str) -> None:
    quoted = quoted_value(value)
    read_back = ast.literal_eval(quoted)  # repr's quotes and escapes, each such byte as `\xNN`: the byte as a character
    assert read_back == "".join(chr(ord(c) - 0xDC00) if "\udc80" <= c <= "\udcff" else c for c in value)
    if not any("\udc80" <= c <= "\udcff" for c in value):
        assert quoted == repr(value)  # the text `\udcff`, typed as such, stays as repr writes it


def test_names_with_a_newline_or_escape_sequences_print_as_one_harmless_line(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"evil\nREADME.md": "def parsnip_loader(): pass\n",
                      "esc\x1b[2Jred.py": "def turnip_render(): pass\n", "README.md": "# readme\n"})  # fmt: skip
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    listed = run_atlas("-q", "search", "--repo", str(root), "-l", "parsnip_loader")
    assert listed.stdout == '"evil\\nREADME.md"\n'
    human = run_atlas("-q", "search", "--repo", str(root), "--format", "human", "turnip_render")
    assert human.returncode == 0 and "\x1b" not in human.stdout and "esc\\x1b[2Jred.py" in human.stdout


def test_verify_lists_names_with_a_newline_or_escape_sequences_as_harmless_text(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"README.md": "# readme\n"})
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    write_tree(root, {"evil\nREADME.md": "added\n", "esc\x1b[2Jred\x07.py": "added\n"})
    human = run_atlas("-q", "verify", "--repo", str(root), "--format", "human")
    assert human.returncode == 7
    assert not CONTROL.intersection(human.stdout.replace("\n", "")) and len(human.stdout.splitlines()) == 1
    assert "esc\\x1b[2Jred\\x07.py" in human.stdout and "evil\\nREADME.md" in human.stdout


def test_regression_a_name_holding_a_tab_is_listed_quoted_as_git_does(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"tab\there.py": "def parsnip_loader(): pass\n", "README.md": "# readme\n"})
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    listed = run_atlas("-q", "search", "--repo", str(root), "-l", "parsnip_loader")
    assert listed.stdout == '"tab\\there.py"\n'


def test_regression_the_human_table_numbers_lines_as_the_file_does(tmp_path: Path) -> None:
    # The table cut a range's text with str.splitlines, which also breaks at a form feed, a lone CR and U+2028:
    # the rows after one were numbered past the range, and a CR printed as a line break instead of `\r`.
    root = tmp_path / "repo"
    write_tree(root, {"evil.py": 'def evil_func():\n    a = 1  # page:\f here\n    b = "cr\r in\u2028side"\n'
                                 "    return a + b\n"})  # fmt: skip
    init_repo(root)
    human = run_atlas("-q", "search", "--repo", str(root), "--format", "human", "evil_func")
    assert human.returncode == 0, human.stderr
    rows = [line.split("│", 1) for line in human.stdout.split("\n") if "│" in line]
    assert [int(number) for number, _ in rows] == [1, 2, 3, 4]
    assert rows[2][1].strip().startswith('b = "cr\\r in') and rows[3][1].strip() == "return a + b"


def test_bidirectional_controls_in_names_and_text_print_as_escapes(tmp_path: Path) -> None:
    # "Trojan Source" (CVE-2021-42574): U+202E and its kin are invisible and reorder what follows on a terminal, so a
    # name or a line printed raw can read as other than it is; they print as `\u202e`, as the other controls do.
    root = tmp_path / "repo"
    write_tree(root, {"invoice\u202etxt.py": "def turnip_total():\n    access = 'user\u202e \u2066# admin\u2069'\n",
                      "README.md": "# readme\n"})  # fmt: skip
    init_repo(root)
    assert run_atlas("-q", "index", str(root)).returncode == 0
    human = run_atlas("-q", "search", "--repo", str(root), "--format", "human", "turnip_total")
    assert human.returncode == 0, human.stderr
    assert not BIDI.intersection(human.stdout)
    assert "invoice\\u202etxt.py" in human.stdout and "\\u2066# admin\\u2069" in human.stdout
    listed = run_atlas("-q", "search", "--repo", str(root), "-l", "turnip_total")
    assert listed.stdout == '"invoice\\u202etxt.py"\n'
