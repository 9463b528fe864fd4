"""The repository's `linguist-vendored` and `linguist-generated` attributes, read through git as GitHub reads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atlas.safe_read import display_path
from atlas.signals.attributes import NO_MARKS, linguist_marks

RULES = (
    "third/** linguist-vendored\n"
    "vendor/** -linguist-vendored\n"
    "*.gen.py linguist-generated=true\n"
    "keep.min.js linguist-generated=false\n"
    "other.py linguist-language=Python\n"
)


def test_set_and_unset_attributes_are_marks_and_others_are_not(make_repo: Callable[..., Path]) -> None:
    names = ["third/lib.py", "vendor/own.py", "api.gen.py", "keep.min.js", "other.py", "plain.py"]
    root = make_repo({".gitattributes": RULES, **{name: "x = 1\n" for name in names}})

    marks = linguist_marks(root, ["", ".gitattributes", *names])

    assert marks.vendored == {"third/lib.py": True, "vendor/own.py": False}
    assert marks.generated == {"api.gen.py": True, "keep.min.js": False}


def test_rules_above_a_subdirectory_root_apply_to_it(make_repo: Callable[..., Path]) -> None:
    root = make_repo({".gitattributes": "**/third/** linguist-vendored\n", "pkg/third/lib.py": "x = 1\n",
                      "pkg/.gitattributes": "a.py linguist-generated\n", "pkg/a.py": "x = 1\n"})  # fmt: skip

    marks = linguist_marks(root / "pkg", ["third/lib.py", "a.py"])

    assert marks.vendored == {"third/lib.py": True} and marks.generated == {"a.py": True}


def test_odd_names_are_marked_by_their_own_name(make_repo: Callable[..., Path]) -> None:
    odd = [b"third/new\nline.py", b"third/caf\xe9.py", b"third/sp ace.py"]
    root = make_repo({".gitattributes": "third/** linguist-vendored\n", **{name: "x = 1\n" for name in odd}})
    shown = [display_path(name.decode("utf-8", "surrogateescape")) for name in odd]

    assert linguist_marks(root, [".gitattributes", *shown]).vendored == dict.fromkeys(shown, True)


def test_no_git_or_no_linguist_rules_give_no_marks(make_repo: Callable[..., Path]) -> None:
    files = {".gitattributes": "third/** linguist-vendored\n", "third/lib.py": "x = 1\n"}
    listed = [".gitattributes", "third/lib.py"]
    assert linguist_marks(make_repo(files, git=False, name="plain"), listed) == NO_MARKS
    other = make_repo({".gitattributes": "*.py text eol=lf\n", "third/lib.py": "x = 1\n"}, name="other")
    assert linguist_marks(other, listed) == NO_MARKS


def test_rules_in_the_repositorys_info_attributes_count_too(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"third/lib.py": "x = 1\n"})
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "attributes").write_text("third/** linguist-vendored\n")

    assert linguist_marks(root, ["third/lib.py"]).vendored == {"third/lib.py": True}
