"""Hostile import statements and damaged side stores: indexing stays fast, bounded and crash-free."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from atlas.api import index_config, index_repo, open_engine, related_files
from atlas.config import IndexConfig
from tests.conftest import git, write_tree

pytest.importorskip("tree_sitter_language_pack")


def _go_imports(count: int, depth: int) -> str:
    lines = "\n".join(f'\t"example.com/m{i}/' + "a/" * depth + 'b"' for i in range(count))
    return f"package x\n\nimport (\n{lines}\n)\n"


def test_dotted_imports_of_thousands_of_names_resolve_in_time_and_memory(tmp_path: Path) -> None:
    # Each resolver tried every leading (JVM) or trailing (C#, Go) part of the name as a path suffix, building and
    # caching ever longer strings: 20,000 names took seconds and over a gigabyte per import, a megabyte of such
    # imports hours and more memory than the machine has. A suffix longer than the deepest path cannot match.
    names = 20_000
    long_name = "a\n." * names + "B"  # a Java name may span lines: 20,000 names in 60 kB of short lines
    write_tree(tmp_path, {
        "src/shop/Cart.java": f"package shop;\nimport {long_name};\nimport shop.util.Price;\nclass Cart {{}}\n",
        "src/shop/util/Price.java": "package shop.util;\nclass Price {}\n",
        "cs/Mailer.cs": "using " + "A\n." * names + "B;\nclass Mailer {}\n",
        "go/x.go": _go_imports(100, 1_900),
    })  # fmt: skip
    config = index_config(tmp_path, jobs=1, git_history=False)
    report = index_repo(config, show_progress=False)
    assert report.phases["signals"] < 1.5
    engine = open_engine(config, build_if_missing=False, show_progress=False)
    assert related_files(engine, "src/shop/Cart.java").imports == ["src/shop/util/Price.java"]


LEDGER = {
    "pkg/__init__.py": "",
    "pkg/ledger.py": "from pkg import money\n\n\ndef post_ledger_entry(amount):\n    return money.cents(amount)\n",
    "pkg/money.py": "def cents(amount):\n    return round(amount * 100)\n",
}
"""A package whose ledger imports its money module: every side-store array has rows for it."""


def _indexed(root: Path, files: dict[str, str]) -> tuple[IndexConfig, Path]:
    """`files` written under `root` and indexed without history: the config and the live side store's directory."""
    write_tree(root, files)
    config = index_config(root, jobs=1, git_history=False)
    index_repo(config, show_progress=False)
    return config, config.index_dir / (config.index_dir / "CURRENT").read_text().strip() / "signals"


def _damage(signals: Path, name: str, value: int, inner_only: bool = False) -> None:
    """Overwrite every entry (or the last but one) of the side store's array `name` with `value` (size and header
    kept)."""
    import numpy as np

    array = np.load(signals / f"{name}.npy")
    array[-2 if inner_only else ...] = value
    np.save(signals / f"{name}.npy", array)


def test_an_update_after_import_edges_were_damaged_resolves_every_file_again(tmp_path: Path) -> None:
    config, signals = _indexed(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "VALUE = 1\n",
        "main.py": "import pkg.a\n",
    })  # fmt: skip
    _damage(signals, "import_edges", 99_999)  # a file id past the last file
    (tmp_path / "pkg/b.py").write_text("VALUE = 2\n")
    report = index_repo(config, show_progress=False)
    assert report.mode == "incremental"
    engine = open_engine(config, build_if_missing=False, show_progress=False)
    assert set(related_files(engine, "pkg/a.py").imports) == {"pkg/b.py", "main.py"}


@pytest.mark.parametrize("array", ["imports_indices", "imports_indptr"])
def test_a_damaged_neighbour_row_is_a_corrupt_index_for_search_and_related_files(tmp_path: Path, array: str) -> None:
    # Opening the side store checks its arrays' types, lengths and end points, not every entry: a file id past the
    # last file, or an inner row's bounds outside the array, made `atlas search` and related files fail with an
    # IndexError.
    from click.testing import CliRunner

    from atlas.cli import cli
    from atlas.errors import IndexCorrupt

    config, signals = _indexed(tmp_path, LEDGER)
    _damage(signals, array, 99_999, inner_only=array.endswith("_indptr"))  # an inner row runs past
    result = CliRunner().invoke(cli, ["search", "--root", str(tmp_path), "money", "cents", "round", "-l"])
    assert result.exit_code == 4, result.output
    assert f"{array}.npy" in result.output
    engine = open_engine(config, build_if_missing=False, show_progress=False)
    assert engine.store is not None
    with pytest.raises(IndexCorrupt, match=array):
        related_files(engine, engine.store.paths[-1])


def _rewrite(signals: Path, name: str, change: str) -> None:
    """Save the side store's array `name` again, changed: as floats, one entry short, or reshaped."""
    import numpy as np

    array = np.load(signals / f"{name}.npy")
    changed = {"floats": lambda: np.full(array.shape, np.nan), "short": lambda: array[:-1],
               "flat": lambda: array.reshape(-1)}[change]()  # fmt: skip
    np.save(signals / f"{name}.npy", changed)


@pytest.mark.parametrize(("array", "change"), [
    ("role", "floats"), ("path_flags", "floats"), ("cochange_indices", "floats"), ("cochange_data", "short"),
    ("cochange_confidence_data", "short"), ("commit_postings_indptr", "short"), ("commit_vocab_indices", "short"),
    ("import_edges", "flat"), ("imports_indices", "short"),
])  # fmt: skip
def test_a_side_store_array_of_the_wrong_type_or_length_is_a_corrupt_index(
    make_repo: Callable[..., Path], array: str, change: str
) -> None:
    # A well-formed .npy of the wrong type or length passed the checks made when the store is opened: `atlas search`
    # failed with "cannot convert float NaN to integer" or an IndexError (exit 3), or ranked with what it held.
    from click.testing import CliRunner

    from atlas.cli import cli

    root = make_repo(LEDGER)
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    signals = config.index_dir / (config.index_dir / "CURRENT").read_text().strip() / "signals"
    _rewrite(signals, array, change)
    result = CliRunner().invoke(cli, ["search", "--root", str(root), "ledger", "money", "cents"])
    assert result.exit_code == 4, result.output
    assert f"{array}.npy" in result.output


def test_commit_words_naming_a_file_past_the_last_is_a_corrupt_index(make_repo: Callable[..., Path]) -> None:
    from click.testing import CliRunner

    from atlas.cli import cli

    root = make_repo({f"other{i}.py": f"VALUE = {i}\n" for i in range(4)})
    write_tree(root, {"ledger.py": "def post_ledger_entry(amount):\n    return amount\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Round ledger entries")
    config = index_config(root, jobs=1)
    index_repo(config, show_progress=False)
    signals = config.index_dir / (config.index_dir / "CURRENT").read_text().strip() / "signals"
    _damage(signals, "commit_postings_indices", 99_999)
    result = CliRunner().invoke(cli, ["search", "--root", str(root), "round", "ledger"])
    assert result.exit_code == 4, result.output
    assert "commit_postings_indices.npy" in result.output
