"""The repository walk against git itself: ignore rules, .atlasignore, symlinks, odd names and sizes.

git is the oracle: in a repository where nothing is committed, the files the walk yields must be
exactly `git ls-files --others --exclude-standard` (parametrized tables of ignore rules, then
hypothesis with random trees and random ignore files); with files force-added to git's index, exactly
`git ls-files --cached --others --exclude-standard` (git never ignores a file it tracks).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas.build import build_index
from atlas.config import IndexConfig
from atlas.records import FileEntry, Skipped, SkipReason
from atlas.walk import WalkOptions, display_path, fs_path, is_git_directory, walk
from tests.conftest import FileContent, Symlink, deadline, git, init_repo, write_tree
from tests.test_hostile_process import run_atlas

# ---------------------------------------------------------------------------------------------
# Helpers


def walked(root: Path, **options: object) -> list[FileEntry | Skipped]:
    """Everything the walk yields for `root`."""
    return list(walk(root, WalkOptions(**options)))  # type: ignore[arg-type]


def entry_paths(root: Path, **options: object) -> set[str]:
    """Paths of the files the walk accepts."""
    return {item.path for item in walked(root, **options) if isinstance(item, FileEntry)}


def skipped(root: Path, **options: object) -> dict[str, SkipReason]:
    """Path → reason for everything the walk skips."""
    return {item.path: item.reason for item in walked(root, **options) if isinstance(item, Skipped)}


def git_unignored(repo: Path, cwd: Path | None = None) -> set[str]:
    """Untracked files git does not ignore (relative to `cwd`, default the repo), as display paths."""
    out = git(cwd or repo, "ls-files", "--others", "--exclude-standard", "-z")
    return {display_path(os.fsdecode(raw)) for raw in out.split(b"\0") if raw}


def uncommitted_repo(
    root: Path,
    files: Mapping[str | bytes, FileContent],
    info_exclude: str | bytes | None = None,
    ignorecase: bool = False,
) -> Path:
    """A repository with `files` written and nothing committed, optionally with .git/info/exclude and
    `core.ignorecase` (as `git init` sets it on macOS and Windows)."""
    root.mkdir(parents=True, exist_ok=True)
    write_tree(root, files)
    init_repo(root, commit=False)
    if ignorecase:
        git(root, "config", "core.ignorecase", "true")
    if info_exclude is not None:
        data = info_exclude.encode() if isinstance(info_exclude, str) else info_exclude
        (root / ".git" / "info").mkdir(parents=True, exist_ok=True)
        (root / ".git" / "info" / "exclude").write_bytes(data)
    return root


def assert_matches_git(root: Path) -> None:
    """The walk yields exactly the files git does not ignore, and skips nothing."""
    items = walked(root)
    assert [i for i in items if isinstance(i, Skipped)] == []
    assert entry_paths(root) == git_unignored(root)


# ---------------------------------------------------------------------------------------------
# Ignore rules: a table checked against git

TREE = [
    "a.py", "a.log", "keep.log", "top.txt", "README.md", "docs/build", "#hash", "!bang", "trail ",
    "b.bak", "1.txt", "x.c", "ab.c", "c.c", "foo.md", "fooBARbaz", "]x", "Upper.txt",
    "src/a.py", "src/b.log", "src/top.txt", "src/build/gen.py", "src/cache/c.bin",
    "src/deep/er/x.py", "src/deep/er/cache/y.py", "src/x.tmp",
    "docs/guide.md", "docs/api/ref.md", "docs/img/logo.png",
    "build/out.o", "build/keep.txt", "build/sub/deep.o",
    "out/a/b.txt", "out/c.txt",
    "a/b", "a/x/b", "a/x/y/b", "a/x/y/c",
    "lib/secret_key", "lib/secret_ok", "secret_root",
    "sub/x.py", "sub/y.py", "sub/inner/x.py", "sub/t.txt", "sub/inner/t.txt",
]  # fmt: skip

IGNORE_CASES: list[tuple[str, dict[str, str], str | None]] = [
    ("wildcard", {".gitignore": "*.log\n"}, None),
    ("negation", {".gitignore": "*.log\n!keep.log\n"}, None),
    ("negation-order-matters", {".gitignore": "!keep.log\n*.log\n"}, None),
    ("dir-pattern-only-dirs", {".gitignore": "build/\n"}, None),
    ("no-slash-matches-files-and-dirs", {".gitignore": "build\n"}, None),
    ("anchored", {".gitignore": "/top.txt\n"}, None),
    ("middle-slash-anchors", {".gitignore": "docs/*.md\n"}, None),
    ("star-does-not-cross-slash", {".gitignore": "docs/*\n!docs/api\n"}, None),
    ("leading-double-star", {".gitignore": "**/cache\n"}, None),
    ("middle-double-star", {".gitignore": "a/**/b\n"}, None),
    ("trailing-double-star", {".gitignore": "out/**\n!out/c.txt\n"}, None),
    ("double-star-not-at-slash-is-star", {".gitignore": "foo**baz\nsrc**\n"}, None),
    ("double-star-dir-only", {".gitignore": "src/**/\n"}, None),
    ("everything-but-py", {".gitignore": "*\n!*/\n!*.py\n"}, None),
    ("cannot-reinclude-in-excluded-dir", {".gitignore": "build/\n!build/keep.txt\n"}, None),
    ("reinclude-dir-contents", {".gitignore": "build/*\n!build/keep.txt\n"}, None),
    ("subdir-gitignore-relative", {"src/.gitignore": "/top.txt\n*.tmp\nbuild/\n"}, None),
    ("subdir-middle-slash", {"src/.gitignore": "deep/er\n"}, None),
    ("deeper-negation-wins", {".gitignore": "*.txt\n", "sub/.gitignore": "!*.txt\n"}, None),
    ("deeper-ignore-wins", {".gitignore": "!*.py\n", "sub/.gitignore": "x.py\n"}, None),
    ("nested-three-levels", {".gitignore": "*.py\n", "sub/.gitignore": "!x.py\n", "sub/inner/.gitignore": "*\n"}, None),
    ("brackets", {".gitignore": "[abc].c\n[!a]*.md\n?.txt\n"}, None),
    ("bracket-classes", {".gitignore": "[[:digit:]]*\n[[:upper:]]*\n*[[:upper:]][[:upper:]]*\n"}, None),
    ("bracket-range-and-literal-bracket", {".gitignore": "[a-b].c\n[]]x\n[z-a]*\n"}, None),
    ("unclosed-bracket-never-matches", {".gitignore": "[ab\n*.log\n"}, None),
    ("escapes", {".gitignore": "\\#hash\n\\!bang\ntrail\\ \n"}, None),
    ("comments-blank-trailing-spaces", {".gitignore": "# a.py\n\n   \n*.bak   \n#*.log\n"}, None),
    ("crlf-and-bom", {".gitignore": "\ufeff*.log\r\nbuild/\r\n"}, None),
    ("info-exclude", {}, "secret*\n"),
    ("gitignore-overrides-info-exclude", {".gitignore": "!secret_ok\n"}, "secret*\n"),
    ("info-exclude-anchored", {}, "/lib/secret_key\n*.md\n"),
    ("ignore-the-gitignore", {".gitignore": ".gitignore\nsub/.gitignore\n", "sub/.gitignore": "t.txt\n"}, None),
    ("star-slash-star", {".gitignore": "*/*.py\n"}, None),
    ("backslash-trailing-never-matches", {".gitignore": "a.py\\\n*.bak\n"}, None),
    ("letter-case", {".gitignore": "UPPER.TXT\nreadme.MD\n*.PY\nSRC/B.*\n/DOCS/\n"}, "SECRET_*\n"),
    ("letter-case-in-brackets-and-escapes", {".gitignore": "[A]b.c\n[x].c\n[U]pper*\n\\Foo*\n\\readme*\n"}, None),
    ("letter-case-in-ranges-and-classes",
     {".gitignore": "[A-C].c\n[[:upper:]]*.md\n[[:lower:]]pper*\n[!B-Z]*.py\n"}, None),
]


@pytest.mark.parametrize("ignorecase", [False, True], ids=["exact-case", "ignorecase"])
@pytest.mark.parametrize(("files", "info_exclude"), [c[1:] for c in IGNORE_CASES], ids=[c[0] for c in IGNORE_CASES])
def test_ignore_rules_match_git(
    tmp_path: Path, files: dict[str, str], info_exclude: str | None, ignorecase: bool
) -> None:
    tree: dict[str | bytes, FileContent] = {path: f"content of {path}\n" for path in TREE}
    tree.update(files)
    root = uncommitted_repo(tmp_path / "repo", tree, info_exclude, ignorecase)
    assert_matches_git(root)


def test_root_inside_a_work_tree_uses_the_ignore_files_above_it(tmp_path: Path) -> None:
    files: dict[str | bytes, FileContent] = {
        ".gitignore": "*.log\nsrc/gen/\n",
        "src/.gitignore": "!keep.log\n",
        "src/pkg/a.py": "a\n",
        "src/pkg/b.log": "b\n",
        "src/pkg/keep.log": "k\n",
        "src/pkg/gen/x.py": "x\n",  # "src/gen/" is anchored to the top: not this one
        "src/gen/y.py": "y\n",
    }
    repo = uncommitted_repo(tmp_path / "repo", files, "a.py\n")
    for sub in (repo / "src", repo / "src" / "pkg"):
        assert entry_paths(sub) == git_unignored(repo, cwd=sub)
    assert entry_paths(repo / "src" / "pkg") == {"keep.log", "gen/x.py"}


def test_separate_git_dir_info_exclude(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"a.py": "a\n", "b.secret": "b\n"})
    git(root, "init", "-q", "--separate-git-dir", os.fspath(tmp_path / "gitdir"))
    (tmp_path / "gitdir" / "info" / "exclude").write_text("*.secret\n")
    assert (root / ".git").is_file()
    assert entry_paths(root) == git_unignored(root) == {"a.py"}


def test_a_linked_work_tree_reads_the_common_info_exclude(tmp_path: Path) -> None:
    main = uncommitted_repo(tmp_path / "main", {"a.py": "a\n", "b.secret": "b\n"}, "*.secret\n")
    git(main, "add", "-f", "a.py", "b.secret")
    git(main, "commit", "-q", "--no-verify", "-m", "two files")
    git(main, "worktree", "add", "-q", os.fspath(tmp_path / "linked"))
    linked = tmp_path / "linked"
    (linked / "c.secret").write_text("c\n")
    (linked / "d.py").write_text("d\n")
    assert (linked / ".git").is_file()
    assert entry_paths(linked) == {"a.py", "b.secret", "d.py"}  # b.secret is tracked
    assert git_unignored(linked) == {"d.py"}


@pytest.mark.parametrize("stray", ["empty directory", "directory without objects", "file naming nothing"])
def test_regression_a_stray_git_above_the_root_is_no_repository(tmp_path: Path, stray: str) -> None:
    # Git's discovery passes over a `.git` that is no repository; Atlas took it for the top of a work tree and
    # applied the `.gitignore` beside it (a home directory's `*`) to the project below.
    (tmp_path / ".gitignore").write_text("*\n")
    dot_git = tmp_path / ".git"
    if stray == "file naming nothing":
        dot_git.write_text("gitdir: nowhere\n")
    else:
        dot_git.mkdir()
        if stray == "directory without objects":
            (dot_git / "HEAD").write_text("ref: refs/heads/main\n")
    root = tmp_path / "project"
    write_tree(root, {"src/app.py": "a\n", "README.md": "r\n"})
    assert entry_paths(root) == {"src/app.py", "README.md"}


def test_symlinked_gitignore_is_not_read(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "repo", {"a.py": "", "rules": "*.py\n", ".gitignore": Symlink("rules")})
    assert entry_paths(root) == git_unignored(root) == {"a.py", "rules", ".gitignore"}


def test_regression_a_symlinked_ignore_file_above_the_root_is_not_read(tmp_path: Path) -> None:
    # git reads no in-tree .gitignore that is a symlink, above the root or below; following one read a file that
    # may lie anywhere, outside the root.
    outside = tmp_path / "outside"
    write_tree(outside, {"rules": "*.log\n"})
    files: dict[str | bytes, FileContent] = {".gitignore": Symlink(os.fspath(outside / "rules")),
                                             ".atlasignore": Symlink(os.fspath(outside / "rules")),
                                             "sub/a.log": "", "sub/b.py": ""}  # fmt: skip
    repo = uncommitted_repo(tmp_path / "repo", files)
    assert entry_paths(repo / "sub") == git_unignored(repo, cwd=repo / "sub") == {"a.log", "b.py"}


def test_regression_a_nul_byte_ends_an_ignore_line_as_in_git(tmp_path: Path) -> None:
    # git reads each line of an ignore file as a C string: `*.log<NUL>junk` is the pattern `*.log`.
    files: dict[str | bytes, FileContent] = {".gitignore": b"*.log\0junk\n*.tmp\n", "a.log": "", "b.py": "",
                                             "c.tmp": ""}  # fmt: skip
    root = uncommitted_repo(tmp_path / "repo", files, b"\0*.py\n")
    assert entry_paths(root) == git_unignored(root) == {".gitignore", "b.py"}


@pytest.mark.parametrize("pattern", ["x**/*", "/x**/*", "a/x**", "a/b**/c", "x**y/*", "a/**/x**/*"])
def test_a_double_star_right_after_the_literal_prefix_matches_as_git_has_it(tmp_path: Path, pattern: str) -> None:
    # git compares a path pattern's literal prefix as text and wildmatches the rest, where a `**` is at the start.
    files = {"x.py": "", "xd/a.py": "", "a/x.py": "", "a/xd/e/f.py": "", "a/b.py": "", "a/bc/c": "", "a/b/c": "",
             "xzy/k": "", "a/q/x.c": ""}  # fmt: skip
    root = uncommitted_repo(tmp_path / "repo", files, pattern + "\n")
    assert entry_paths(root) == git_unignored(root)


# ---------------------------------------------------------------------------------------------
# Ignore rules: random trees and random ignore files against git

DIR_NAMES = ["a", "B", "s b", "[x]", "*"]
FILE_NAMES = [
    "x.py", "X.py", "Y.txt", "a", "b?", "c*d", "\u00e9.c", "[a]", "-", "a b ", "\\q", "#c", "!n", "ab", ".hid",
]  # fmt: skip
SEGMENTS = [
    "a", "B", "*", "**", "***", "x.py", "*.py", "?", "[a-c]*", "[!a]", "[^B]*", "[[:alpha:]]", "[[:upper:]]*",
    "\\*", "\\?", "\\[a]", "[a]", "[]a]", "[!]]*", "*?", "a*", "\u00e9*", "??", "[[:digit:]]", "[a-]", "[-a]*",
    "c\\*d", "[x]", "a\\ ", "b?", "s b", "[[:punct:]]*", "*b", "**b", "x**", "[\\!]*", ".hid", "[ab",
    "[B]", "\\B", "[A-c]*", "y*", "[y].TXT", "X.PY", "[[:lower:]]*",  # letter case, for core.ignorecase
]  # fmt: skip


def _pattern(negate: bool, anchor: bool, segments: list[str], dir_only: bool, trailing: str) -> str:
    return "!" * negate + "/" * anchor + "/".join(segments) + "/" * dir_only + trailing


dir_paths = st.lists(st.sampled_from(DIR_NAMES), max_size=2).map(lambda parts: "".join(p + "/" for p in parts))
file_paths = st.tuples(dir_paths, st.sampled_from(FILE_NAMES)).map("".join)
patterns = st.builds(
    _pattern,
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3),
    st.booleans(),
    st.sampled_from(["", "", " ", "  "]),
)
ignore_files = st.dictionaries(dir_paths, st.lists(patterns, min_size=1, max_size=5), max_size=3)


def _without_conflicts(paths: list[str], ignorecase: bool = False) -> list[str]:
    """Drop files whose path is also needed as a directory and, with `ignorecase`, files whose path differs from
    an earlier one's only in letter case (`core.ignorecase` is set where they cannot both exist, and git then
    refuses to track both)."""
    dirs = {path[: i + 1] for path in paths for i, ch in enumerate(path) if ch == "/"}
    kept = [path for path in paths if path + "/" not in dirs]
    if not ignorecase:
        return kept
    seen: dict[str, str] = {}
    for path in kept:
        seen.setdefault(path.lower(), path)
    return [path for path in kept if seen[path.lower()] == path]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(file_paths, min_size=1, max_size=14, unique=True),
    ignores=ignore_files,
    info_exclude=st.lists(patterns, max_size=3),
    ignorecase=st.booleans(),
)
def test_random_trees_match_git(
    files: list[str], ignores: dict[str, list[str]], info_exclude: list[str], ignorecase: bool
) -> None:
    tree: dict[str | bytes, FileContent] = {path: "x\n" for path in files}
    for directory, lines in ignores.items():
        tree[directory + ".gitignore"] = "\n".join(lines) + "\n"
    kept = _without_conflicts(list(map(str, tree)), ignorecase)
    tree = {path: content for path, content in tree.items() if path in kept}
    with tempfile.TemporaryDirectory() as tmp:
        root = uncommitted_repo(Path(tmp) / "repo", tree, "\n".join(info_exclude) + "\n", ignorecase)
        assert entry_paths(root) == git_unignored(root)


# ---------------------------------------------------------------------------------------------
# Tracked files: git never ignores a file it tracks (`git add -f`), whatever the ignore rules say


def git_listed(repo: Path) -> set[str]:
    """The files git counts as the repository's: tracked ones and untracked ones it does not ignore."""
    out = git(repo, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return {display_path(os.fsdecode(raw)) for raw in out.split(b"\0") if raw}


def force_added(repo: Path, paths: list[str]) -> None:
    """`git add -f` of `paths`, each taken literally (no pathspec magic for names like `c*d` or `[a]`)."""
    if paths:
        git(repo, "--literal-pathspecs", "add", "-f", "--", *paths)


def test_tracked_files_are_walked_though_an_ignore_rule_matches_them(tmp_path: Path) -> None:
    tree: dict[str | bytes, FileContent] = {path: f"content of {path}\n" for path in TREE}
    tree[".gitignore"] = "*.log\nbuild/\nout/**\n"
    root = uncommitted_repo(tmp_path / "repo", tree)
    force_added(root, ["a.log", "build/keep.txt", "build/sub/deep.o", "out/c.txt"])
    git(root, "commit", "-q", "--no-verify", "-m", "force-added files")
    walked_paths = entry_paths(root)
    assert {"a.log", "build/keep.txt", "build/sub/deep.o", "out/c.txt"} <= walked_paths
    assert {"keep.log", "src/b.log", "build/out.o", "out/a/b.txt"}.isdisjoint(walked_paths)
    assert walked_paths == git_listed(root)


@pytest.mark.parametrize("linked", [False, True], ids=["main-work-tree", "linked-work-tree"])
def test_regression_an_ignore_file_a_sparse_checkout_leaves_out_still_applies_as_git_reads_it(
    tmp_path: Path, linked: bool
) -> None:
    # A sparse checkout of the Python files only leaves the .gitignore files out of the tree; git reads a
    # skip-worktree ignore file from its index (dir.c), so it still ignores src/x.gen.py and src/debug.log. The walk
    # read only the tree: it indexed the files git ignores.
    main = tmp_path / "repo"
    write_tree(main, {".gitignore": "*.log\n", "src/.gitignore": "*.gen.py\n", "src/a.py": "a\n", "top.py": "t\n"})
    init_repo(main)
    root = main
    if linked:
        root = tmp_path / "linked"
        git(main, "worktree", "add", "-q", os.fspath(root))
    git(root, "sparse-checkout", "set", "--no-cone", "/*.py", "/src/*.py")
    assert not (root / "src/.gitignore").exists()
    write_tree(root, {"src/x.gen.py": "generated\n", "src/y.py": "y\n", "src/debug.log": "log\n"})
    assert git_unignored(root) == {"src/y.py"}
    assert entry_paths(root) == {"src/a.py", "src/y.py", "top.py"}
    assert entry_paths(root / "src") == {"a.py", "y.py"}  # the rules of the top's .gitignore, above the root, too


@pytest.mark.parametrize("package", ["pkg", "[p]*"])
def test_a_tracked_file_in_a_subdirectory_root_is_walked(tmp_path: Path, package: str) -> None:
    files: dict[str | bytes, FileContent] = {".gitignore": "gen/\n", f"{package}/gen/schema.py": "",
                                             f"{package}/gen/tmp.py": "", "other/gen/x.py": ""}  # fmt: skip
    root = uncommitted_repo(tmp_path / "repo", files)
    force_added(root, [f"{package}/gen/schema.py", "other/gen/x.py"])
    assert entry_paths(root / package) == {"gen/schema.py"}


def test_tracked_ignored_files_with_a_newline_or_invalid_utf8_in_the_name(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "repo", {".gitignore": "*.log\n", "we\nird.log": "", b"bad\xff.log": ""})
    git(root, "add", "-f", "--", "we\nird.log", b"bad\xff.log")
    assert entry_paths(root) == git_listed(root) == {".gitignore", "we\nird.log", "bad\\xff.log"}


def test_atlasignore_still_leaves_out_a_tracked_file(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "repo", {".gitignore": "*.snap\n", ".atlasignore": "fixtures/\n", "a.snap": "", "fixtures/f.py": ""}
    )
    force_added(root, ["a.snap", "fixtures/f.py"])
    assert entry_paths(root) == {".gitignore", ".atlasignore", "a.snap"}


def test_without_git_the_ignore_rules_alone_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = uncommitted_repo(tmp_path / "repo", {".gitignore": "*.log\n", "a.log": "", "a.py": ""})
    force_added(root, ["a.log"])
    monkeypatch.setenv("PATH", os.fspath(tmp_path / "no-git-here"))
    assert entry_paths(root) == {".gitignore", "a.py"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(file_paths, min_size=1, max_size=14, unique=True),
    ignores=ignore_files,
    chosen=st.lists(st.integers(min_value=0, max_value=13), max_size=5),
    ignorecase=st.booleans(),
)
def test_random_trees_with_force_added_files_match_git(
    files: list[str], ignores: dict[str, list[str]], chosen: list[int], ignorecase: bool
) -> None:
    tree: dict[str | bytes, FileContent] = {path: "x\n" for path in files}
    for directory, lines in ignores.items():
        tree[directory + ".gitignore"] = "\n".join(lines) + "\n"
    kept = _without_conflicts(list(map(str, tree)), ignorecase)
    tree = {path: content for path, content in tree.items() if path in kept}
    with tempfile.TemporaryDirectory() as tmp:
        root = uncommitted_repo(Path(tmp) / "repo", tree, ignorecase=ignorecase)
        names = sorted(map(str, tree))
        force_added(root, sorted({names[i % len(names)] for i in chosen}))
        assert entry_paths(root) == git_listed(root)


# ---------------------------------------------------------------------------------------------
# .atlasignore


def test_atlasignore_excludes_on_top_of_gitignore(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r",
        {".gitignore": "*.log\n", ".atlasignore": "*.md\nfixtures/\n", "a.py": "", "a.log": "", "README.md": "",
         "fixtures/big.json": "", "src/fixtures/x.py": "", "src/b.py": ""},
    )  # fmt: skip
    assert entry_paths(root) == {".gitignore", ".atlasignore", "a.py", "src/b.py"}


def test_atlasignore_reincludes_a_git_ignored_file_and_directory(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r",
        {".gitignore": "*.log\ngen/\ndist\n", ".atlasignore": "!important.log\n!gen/\n", "a.log": "",
         "important.log": "", "gen/schema.py": "", "gen/deep/more.py": "", "dist/bundle.js": ""},
    )  # fmt: skip
    assert git_unignored(root) == {".gitignore", ".atlasignore"}
    assert entry_paths(root) == {".gitignore", ".atlasignore", "important.log", "gen/schema.py", "gen/deep/more.py"}


def test_atlasignore_beats_a_deeper_gitignore(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r",
        {".atlasignore": "*.snap\n!vendor/\n", "pkg/.gitignore": "!x.snap\nvendor/\n", "pkg/x.snap": "",
         "pkg/vendor/v.py": ""},
    )  # fmt: skip
    assert "pkg/x.snap" in git_unignored(root)
    assert entry_paths(root) == {".atlasignore", "pkg/.gitignore", "pkg/vendor/v.py"}


def test_nested_atlasignore(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r",
        {".gitignore": "*.gen.py\n", "sub/.atlasignore": "*.txt\n/local.py\n!*.gen.py\n", "a.txt": "",
         "a.gen.py": "", "local.py": "", "sub/a.txt": "", "sub/local.py": "", "sub/deep/local.py": "",
         "sub/deep/b.txt": "", "sub/x.gen.py": ""},
    )  # fmt: skip
    assert entry_paths(root) == {
        ".gitignore", "a.txt", "local.py", "sub/.atlasignore", "sub/deep/local.py", "sub/x.gen.py"
    }  # fmt: skip


def test_atlasignore_above_the_root_applies_inside_a_work_tree(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {".atlasignore": "*.snap\n", "pkg/a.snap": "", "pkg/a.py": ""})
    assert entry_paths(root / "pkg") == {"a.py"}


# ---------------------------------------------------------------------------------------------
# What the walk never enters, order, size


def test_never_enters_git_even_through_symlinks(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r",
        {"a.py": "", "gitlink": Symlink(".git"), "head": Symlink(".git/HEAD"), "hooks": Symlink(".git/hooks"),
         "nested/.git/config": "", "nested/b.py": ""},
    )  # fmt: skip
    items = walked(root)
    assert {i.path for i in items} == {"a.py", "nested/b.py"}


def test_never_enters_the_index_dir(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r", {"a.py": "", "idx/CURRENT": "", "idx/gen/x": "", "to_idx": Symlink("idx"),
                         "to_gen": Symlink("idx/gen")},
    )  # fmt: skip
    assert {i.path for i in walked(root, exclude_dirs=(root / "idx",))} == {"a.py"}
    assert {i.path for i in walked(root, exclude_dirs=(root / "missing",))} >= {"idx/CURRENT", "a.py"}


def test_regression_never_enters_an_atlas_dir_at_any_depth_even_through_symlinks(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r",
        {"a.py": "", ".atlas/gen-000001/files.json": "{}", "sub/.atlas/CURRENT": "gen-000001",
         "sub/.atlas/notes.py": "", "sub/b.py": "", "to_nested": Symlink("sub/.atlas"),
         "notes.py": Symlink("sub/.atlas/notes.py")},
    )  # fmt: skip
    assert {i.path for i in walked(root)} == {"a.py", "sub/b.py"}


def test_order_is_sorted_and_stable(tmp_path: Path) -> None:
    names = ["b.py", "a.py", "a/z.py", "a/b/c.py", "a.txt", "A.py", "_x", "z/a", "a-b/c", "0"]
    root = uncommitted_repo(tmp_path / "r", dict.fromkeys(names, "x"))
    first = [item.path for item in walked(root)]
    assert first == [item.path for item in walked(root)]
    assert first == sorted(first, key=lambda path: path.split("/"))


@pytest.mark.parametrize(("size", "cap", "too_large"), [(100, 99, True), (100, 100, False), (0, 1, False)])
def test_size_cap(tmp_path: Path, size: int, cap: int, too_large: bool) -> None:
    root = uncommitted_repo(tmp_path / "r", {"f.txt": "x" * size})
    items = walked(root, max_file_bytes=cap)
    if too_large:
        assert items == [Skipped("f.txt", SkipReason.TOO_LARGE, f"{size} bytes")]
    else:
        assert [i.path for i in items if isinstance(i, FileEntry)] == ["f.txt"]


def test_special_files(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {"a.py": ""})
    os.mkfifo(root / "pipe")
    os.mkfifo(root / "ignored.pipe")
    (root / ".gitignore").write_text("*.pipe\n!pipe\n")
    assert skipped(root) == {"pipe": SkipReason.SPECIAL}


def test_regression_deep_tree_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    # The walk was recursive generators: ~330 nested directories raised RecursionError.
    deep = "/".join(["d"] * 600)
    root = uncommitted_repo(tmp_path / "r", {f"{deep}/leaf.py": "x\n"})
    assert entry_paths(root) == {f"{deep}/leaf.py"}


# ---------------------------------------------------------------------------------------------
# Symlinks


def test_file_symlink_inside_root_is_followed(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {"real.py": "def f(): pass\n", "link.py": Symlink("real.py")})
    entries = {i.path: i for i in walked(root) if isinstance(i, FileEntry)}
    assert set(entries) == {"real.py", "link.py"}
    assert Path(entries["link.py"].abs_path).read_text() == "def f(): pass\n"
    assert entries["link.py"].size == len("def f(): pass\n")


def test_symlinks_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text("x\n")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "y.py").write_text("y\n")
    root = uncommitted_repo(
        tmp_path / "r",
        {"a.py": "", "f": Symlink("../outside.py"), "d": Symlink("../outdir"), "abs": Symlink(os.fspath(tmp_path)),
         "dev": Symlink("/dev/null")},
    )  # fmt: skip
    assert skipped(root) == dict.fromkeys(["abs", "d", "dev", "f"], SkipReason.SYMLINK_OUTSIDE)


def test_directory_symlink_loop_terminates(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {"a/x.py": "", "a/loop": Symlink(".."), "a/b/up": Symlink("../..")})
    items = walked(root)
    assert {i.path for i in items if isinstance(i, FileEntry)} == {"a/x.py"}
    assert skipped(root) == {"a/loop": SkipReason.SYMLINK_LOOP, "a/b/up": SkipReason.SYMLINK_LOOP}


def test_self_referencing_symlink_is_a_loop(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {"me": Symlink("me"), "ping": Symlink("pong"), "pong": Symlink("ping")})
    assert skipped(root) == dict.fromkeys(["me", "ping", "pong"], SkipReason.SYMLINK_LOOP)


def test_dangling_symlink_is_counted(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {"a.py": "", "gone": Symlink("nowhere"), "gone.log": Symlink("x")})
    (root / ".gitignore").write_text("*.log\n")
    items = walked(root)
    dangling = [i for i in items if isinstance(i, Skipped)]
    assert dangling == [Skipped("gone", SkipReason.UNREADABLE, "dangling symlink (No such file or directory)")]


def test_real_directories_win_over_links_to_them(tmp_path: Path) -> None:
    # A link sorted before its target used to take the target's place: the real directory was
    # reported as a symlink loop and its files appeared only under the link's name.
    root = uncommitted_repo(
        tmp_path / "r", {"zdir/x.py": "", "0link": Symlink("zdir"), "lib/y.py": "", "lib64": Symlink("lib")}
    )
    assert entry_paths(root) == {"zdir/x.py", "lib/y.py"}
    assert skipped(root) == {"0link": SkipReason.DUPLICATE, "lib64": SkipReason.DUPLICATE}


@pytest.mark.parametrize(
    "ignore",
    ["build/\n", "build/*\n!build/keep.txt\n", "/build/out/\n", "out\n"],
    ids=["dir", "contents", "deeper", "name"],
)
def test_regression_a_link_into_an_ignored_directory_brings_in_none_of_its_files(tmp_path: Path, ignore: str) -> None:
    # Git never follows links, so a file under an ignored `build/` never shows through `latest -> build/out`.
    tree: dict[str | bytes, FileContent] = {
        ".gitignore": ignore, "src/app.py": "", "build/keep.txt": "", "build/out/gen.py": "",
        "latest": Symlink("build/out"), "all": Symlink("build"),
    }  # fmt: skip
    root = uncommitted_repo(tmp_path / "r", tree)
    shown = git_unignored(root) - {"latest", "all"}  # git lists the links themselves, as links
    assert entry_paths(root) == shown
    assert not any(path.startswith(("latest/", "all/")) for path in entry_paths(root))


def test_a_link_into_a_directory_atlasignore_leaves_out_is_not_walked(tmp_path: Path) -> None:
    tree: dict[str | bytes, FileContent] = {
        ".atlasignore": "fixtures/\n", "fixtures/big.py": "", "src/app.py": "", "src/data": Symlink("../fixtures"),
    }  # fmt: skip
    root = uncommitted_repo(tmp_path / "r", tree)
    assert entry_paths(root) == {".atlasignore", "src/app.py"}
    assert skipped(root) == {}


@pytest.mark.parametrize(
    ("ignore_file", "rules", "target"),
    [(".gitignore", ".env\n", ".env"), (".gitignore", "secrets/\n", "secrets/key.txt"),
     (".gitignore", "*.pem\n", "deploy/site.pem"), (".atlasignore", "secrets/\n", "secrets/key.txt")],
    ids=["file", "directory", "glob", "atlasignore"],
)  # fmt: skip
def test_regression_a_link_to_a_file_the_rules_leave_out_brings_none_of_its_text(
    tmp_path: Path, ignore_file: str, rules: str, target: str
) -> None:
    # A committed `config.txt -> .env` had the ignored file indexed, and served, under the link's name: git tracks the
    # link's text only, and a link into an ignored directory was already left out.
    tree: dict[str | bytes, FileContent] = {
        ignore_file: rules, target: "API_KEY=s3cr3t\n", "src/app.py": "", "config.txt": Symlink(target),
        "src/key.txt": Symlink(f"../{target}"), "ok.txt": Symlink("src/app.py"),
    }  # fmt: skip
    root = uncommitted_repo(tmp_path / "r", tree)
    assert entry_paths(root) == {ignore_file, "src/app.py", "ok.txt"}
    assert skipped(root) == {}
    git(root, "add", "-f", target)  # a file git tracks is never ignored, nor a link to it
    assert entry_paths(root) == {ignore_file, "src/app.py", "ok.txt", target, "config.txt", "src/key.txt"} - (
        {target, "config.txt", "src/key.txt"} if ignore_file == ".atlasignore" else set()
    )


# ---------------------------------------------------------------------------------------------
# Names that are not valid UTF-8


def test_invalid_utf8_names_are_walked_and_escaped(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r", {b"bad\xff.py": "def zebra(): pass\n", b"d\xfe/x.py": "", b"ign\xfd.log": "",
                         ".gitignore": b"*.log\n"},
    )  # fmt: skip
    entries = {i.path: i for i in walked(root) if isinstance(i, FileEntry)}
    assert set(entries) == {"bad\\xff.py", "d\\xfe/x.py", ".gitignore"} == git_unignored(root)
    assert Path(entries["bad\\xff.py"].abs_path).read_text() == "def zebra(): pass\n"
    for path in entries:
        path.encode("utf-8")


def test_ignore_patterns_with_invalid_utf8_bytes(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r", {b"caf\xe9.txt": "", b"caf\xe9.py": "", "ok.txt": "", ".gitignore": b"caf\xe9.*\n!*.py\n?.c\n",
                         "\u00e9.c": "", "e.c": ""},
    )  # fmt: skip
    assert entry_paths(root) == git_unignored(root) == {"caf\\xe9.py", "ok.txt", ".gitignore", "\u00e9.c"}


def test_skipped_paths_with_invalid_utf8_are_escaped(tmp_path: Path) -> None:
    root = uncommitted_repo(tmp_path / "r", {b"link\xff": Symlink("/etc/hostname")})
    os.mkfifo(os.path.join(os.fsencode(root), b"pipe\xff"))
    items = walked(root)
    assert {i.path for i in items} == {"link\\xff", "pipe\\xff"}
    orjson.dumps([i.path for i in items])


def test_invalid_utf8_names_are_indexed(tmp_path: Path) -> None:
    root = uncommitted_repo(
        tmp_path / "r", {b"bad\xff.py": "def zebra_stripes():\n    pass\n", b"pipe\xfe/x.py": "ok = 1\n"}
    )
    os.mkfifo(os.path.join(os.fsencode(root), b"fifo\xff"))
    config = IndexConfig(root=root, index_dir=root / ".atlas", jobs=1, git_history=False)
    report = build_index(config, show_progress=False)
    assert report.files_indexed == 2
    assert report.skipped == {"special": 1}
    assert report.skipped_examples == {"special": ["fifo\\xff"]}


@pytest.mark.parametrize(
    "name",
    [b"bad\xff.py", b"caf\xc3\xa9.py", b"lit\\x41.py", b"lit\\xc3\\xa9.py", b"\xfe\\x41\xff", b"plain.py"],
    ids=["invalid-byte", "valid-utf8", "literal-ascii-escape", "literal-utf8-escapes", "mixed", "ascii"],
)
def test_fs_path_opens_what_the_walk_found(tmp_path: Path, name: bytes) -> None:
    # fs_path used to turn every "\\xNN" back into a byte, so a file whose name holds the text
    # "\\x41" was looked up as "A" and its hits lost their line ranges.
    root = uncommitted_repo(tmp_path / "r", {name: "kiwi\n"})
    (entry,) = walked(root)
    assert isinstance(entry, FileEntry)
    on_disk = fs_path(entry.path)
    assert os.fsencode(on_disk) == name
    assert (root / os.fsdecode(on_disk)).read_text() == "kiwi\n"


@given(st.binary(min_size=1, max_size=12).filter(lambda b: not set(b) & set(b"/\0\\")))
def test_fs_path_inverts_display_path(name: bytes) -> None:
    assert os.fsencode(fs_path(display_path(os.fsdecode(name)))) == name


# ---------------------------------------------------------------------------------------------
# Unreadable directories


def test_unreadable_directory_is_counted(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any directory; test_bad_input drops root's read override to cover it")
    root = uncommitted_repo(tmp_path / "r", {"a.py": "", "locked/x.py": ""})
    (root / "locked").chmod(0)
    try:
        assert skipped(root) == {"locked": SkipReason.UNREADABLE}
        assert entry_paths(root) == {"a.py"}
    finally:
        (root / "locked").chmod(0o755)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"HEAD": "ref: refs/heads/main\n", "objects/": "", "refs/": ""}, True),
        ({"HEAD": "0123456789abcdef0123456789abcdef01234567\n", "objects/": "", "refs/": ""}, True),
        ({"HEAD": "the head of the project\n", "objects/": "", "refs/": ""}, False),
        ({"HEAD": "ref: refs/heads/main\n", "objects/": ""}, False),
        ({"objects/": "", "refs/": ""}, False),
    ],
)
def test_git_directories_are_recognised_as_git_does(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    write_tree(tmp_path, files)
    assert is_git_directory(tmp_path) is expected


@pytest.mark.parametrize(("target", "expected"), [("refs/heads/main", True), ("../outside/HEAD", False)])
def test_regression_a_head_that_is_a_link_is_judged_by_its_text_never_read_through(
    tmp_path: Path, target: str, expected: bool
) -> None:
    # A tree may hold `objects/`, `refs/` and a `HEAD` linking out of it: telling whether it is a bare repository
    # read the link's target, outside the root. Git reads no HEAD through a link: it is one when it names `refs/`.
    write_tree(tmp_path, {"outside/HEAD": "ref: refs/heads/main\n", "tree/objects/": "", "tree/refs/heads/": ""})
    (tmp_path / "tree" / "HEAD").symlink_to(target)
    assert is_git_directory(tmp_path / "tree") is expected


def test_regression_a_tree_whose_head_links_out_is_indexed_without_reading_the_link(tmp_path: Path) -> None:
    # `atlas index` refused the tree as a bare repository because of what the file outside it held.
    write_tree(tmp_path, {"outside/HEAD": "ref: refs/heads/main\n", "tree/objects/a.py": "", "tree/refs/b.py": ""})
    (tmp_path / "tree" / "HEAD").symlink_to("../outside/HEAD")
    result = run_atlas("-q", "index", "--format", "json", str(tmp_path / "tree"))
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["skipped_examples"]["symlink_outside"] == ["HEAD"]


def test_regression_a_name_that_reads_as_an_undecodable_ones_is_left_out_as_a_duplicate(tmp_path: Path) -> None:
    # `bad\xff.py` (the text) and `bad<0xff>.py` (the byte) share a display path, which opens the byte's file: the
    # text's file was listed with the other's content and could never be found.
    root = tmp_path / "repo"
    root.mkdir()
    (root / b"bad\xff\xfe.py".decode("utf-8", "surrogateescape")).write_text("token_of_the_bytes = 1\n")
    (root / "bad\\xff\\xfe.py").write_text("token_of_the_text = 1\n")
    (root / "lone\\xff.py").write_text("token_alone = 1\n")  # no file of that byte: read by its own name
    walked = list(walk(root))
    entries = {item.path: item for item in walked if isinstance(item, FileEntry)}
    assert set(entries) == {"bad\\xff\\xfe.py", "lone\\xff.py"}
    assert entries["bad\\xff\\xfe.py"].abs_path.endswith("bad\udcff\udcfe.py")  # the bytes' file
    skipped = [item for item in walked if isinstance(item, Skipped)]
    assert [(s.path, s.reason) for s in skipped] == [("bad\\xff\\xfe.py", SkipReason.DUPLICATE)]
    assert "reads as another's" in skipped[0].detail


def test_regression_a_pattern_of_many_stars_is_matched_as_fast_as_git_matches_it(tmp_path: Path) -> None:
    # Every `*` became a backtracking `[^/]*`: against a 60-letter name, `*a*a*...*b` took minutes (a hostile
    # clone stalled `atlas index`); git answers at once. Each `*` before another now takes its run's first place.
    write_tree(
        tmp_path,
        {
            ".gitignore": "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n[xa]*?a*a*a*a*a*a*a*a*a*a*a*a*[ab]a*c*\n",
            "a" * 60: "", "a" * 59 + "b": "", "x" + "a" * 58 + "c": "", "aba" + "a" * 40 + "cz": "", "ok.py": "",
        },
    )  # fmt: skip
    init_repo(tmp_path, commit=False)
    started = time.monotonic()
    walked = {item.path for item in walk(tmp_path) if isinstance(item, FileEntry)}
    assert time.monotonic() - started < 10
    assert walked == git_unignored(tmp_path)
    assert walked == {".gitignore", "ok.py", "a" * 60}


DOUBLE_STAR_FILES = ["x", "a/x", "a/b/x", "a/a/x", "b/a/b/x", "a/b/a/b/x", "a/b/c/a/x", "c/a/b/y", "a/c/b/y", "ab/b/y"]


@pytest.mark.parametrize(
    "pattern",
    ["**/**/x", "**/**/**/a/x", "**/a/**/x", "**/a/**/b/**/x", "a/**/**/b/**", "**/*/**/x", "**/**", "**/a/**",
     "**/a*/**/b/", "**/b/**/a/**/", "**/a/b/**/y", "/**/a/**/**/x", "**/?/**/[ab]/**/x", "a/**/b/**/**/*"],
)  # fmt: skip
def test_runs_of_double_stars_match_as_git_has_it(tmp_path: Path, pattern: str) -> None:
    root = uncommitted_repo(tmp_path / "repo", dict.fromkeys(DOUBLE_STAR_FILES, ""), pattern + "\n")
    assert entry_paths(root) == git_unignored(root)


def test_regression_a_pattern_of_many_double_stars_is_matched_in_polynomial_time(tmp_path: Path) -> None:
    # Every `**/` became a backtracking `(?:.*/)?`, each free to end at any `/` of the path: against a file 30
    # directories deep, `**/**/…/x` of twelve took four minutes (ten `**/a/` eight seconds). git's own matching
    # is as slow (its `ls-files --others` runs for minutes here), so the expected files are written out.
    deep = "a/" * 30
    rules = "**/" * 12 + "x\n" + "**/a/" * 10 + "x\n" + "a/**/" * 9 + "*/**/x\n" + "**/*/" * 9 + "**/b\n"
    files = {deep + "y.py": "", deep + "x": "", "a/b": "", "a/a/q/b": "", deep + "b/c": "", deep + "q/b": ""}
    write_tree(tmp_path, {".gitignore": rules, **files})
    init_repo(tmp_path, commit=False)
    with deadline(10):
        walked = {item.path for item in walk(tmp_path) if isinstance(item, FileEntry)}
    assert walked == {".gitignore", deep + "y.py", "a/b", "a/a/q/b"}


@pytest.mark.parametrize("opens", [3, 1_000_000])
def test_regression_a_bracket_of_many_class_openings_is_read_in_linear_time(tmp_path: Path, opens: int) -> None:
    # Each `[:` inside a bracket looked for its `]` from where it stood: a line of 640,000 `[:` before `x]` took
    # 4 s to read, a 16 MiB ignore file (the most read) would take many minutes. The bracket holds `[`, `:`, `x`.
    write_tree(tmp_path, {".gitignore": "[" + "[:" * opens + "x]\n", "x": "", ":": "", "y": ""})
    init_repo(tmp_path, commit=False)
    with deadline(10):
        walked = {item.path for item in walk(tmp_path) if isinstance(item, FileEntry)}
    assert walked - {".gitignore"} == {"y"}  # the 2 MB ignore file itself is over the size cap
    if opens < 10:
        assert walked == git_unignored(tmp_path)


def test_regression_a_directory_swapped_for_a_link_out_of_the_root_mid_walk_is_not_listed(tmp_path: Path) -> None:
    # The walk listed a directory by its path after its lstat: swapped for a link meanwhile, it listed the link's
    # target outside the root (the names reached the index report). Now it lists the descriptor it opened without
    # following links, which must be the directory it saw.
    outside, root = tmp_path / "outside", tmp_path / "repo"
    write_tree(outside, {"OUTSIDE_SECRET.py": "x = 1\n"})
    write_tree(root, {"sub/a.py": "a = 1\n", "sub/zdir/f.py": "f = 1\n"})
    walked = []
    for item in walk(root):
        walked.append(item)
        if item.path == "sub/a.py":  # `sub` is listed, `sub/zdir` not yet entered
            (root / "sub" / "zdir").rename(tmp_path / "aside")
            (root / "sub" / "zdir").symlink_to(outside, target_is_directory=True)
    assert not any("OUTSIDE" in item.path for item in walked)
    skipped = [item for item in walked if isinstance(item, Skipped)]
    assert [(item.path, item.reason) for item in skipped] == [("sub/zdir", SkipReason.UNREADABLE)]


def test_opening_a_directory_by_its_identity_refuses_a_link_or_another_directory(tmp_path: Path) -> None:
    import errno

    from atlas.walk import _listing, _open_directory

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.py").write_text("x = 1\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    seen = os.lstat(tmp_path / "real")
    key = (seen.st_dev, seen.st_ino)
    fd = _open_directory(str(tmp_path / "real"), key)
    try:
        assert [entry.name for entry in _listing(fd)[0]] == ["x.py"]
    finally:
        os.close(fd)
    with pytest.raises(OSError) as through_link:
        _open_directory(str(tmp_path / "link"), key)
    assert through_link.value.errno in (errno.ELOOP, errno.ENOTDIR)  # Linux: ENOTDIR, O_DIRECTORY checked first
    with pytest.raises(OSError) as swapped:
        _open_directory(str(tmp_path / "other"), key)
    assert swapped.value.errno == errno.ESTALE


# ---------------------------------------------------------------------------------------------
# Ignore files are read from the directory the walk listed, never by a path that may lead elsewhere since.


def test_regression_a_directory_swapped_for_a_link_after_its_listing_has_its_own_ignore_files_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The walk listed a directory through a descriptor checked against its lstat, then read its .gitignore and
    # .atlasignore by path: swapped for a link out of the root in between, the outside files' rules applied (here
    # they hid sub/a.py and sub/keep.log). The swap is made at that moment, just before the rules are read.
    import atlas.walk

    outside, root = tmp_path / "outside", tmp_path / "repo"
    write_tree(outside, {".gitignore": "*.py\n", ".atlasignore": "*.log\n"})
    write_tree(root, {"sub/a.py": "", "sub/b.log": "", "sub/keep.log": "", "sub/.gitignore": "*.log\n",
                      "sub/.atlasignore": "!keep.log\n"})  # fmt: skip
    read_rules = atlas.walk._Walker._rules_inside

    def swap_then_read(walker: object, where: object, rel: str, *rest: object) -> object:
        if rel == "sub/" and not (root / "sub").is_symlink():
            (root / "sub").rename(tmp_path / "aside")
            (root / "sub").symlink_to(outside, target_is_directory=True)
        return read_rules(walker, where, rel, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(atlas.walk._Walker, "_rules_inside", swap_then_read)
    assert entry_paths(root) == {"sub/.atlasignore", "sub/.gitignore", "sub/a.py", "sub/keep.log"}
    assert (root / "sub").is_symlink()  # the swap happened


def test_regression_a_directory_swapped_for_a_link_while_judging_a_link_to_below_it_is_not_read_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # To tell whether a link to a directory of the root leads where the walk goes anyway, the walk read the ignore
    # files on the way there by path: `a` swapped for a link out of the root meanwhile, it read the outside
    # `.gitignore` (which ignores nothing, so the link was reported as a duplicate of a walked `a/b`). Now each
    # directory on the way is opened without following a link; one that changed into a link ends the question.
    import atlas.walk

    outside, root = tmp_path / "outside", tmp_path / "repo"
    write_tree(outside, {".gitignore": "# nothing ignored\n", "b/f.py": ""})
    write_tree(root, {"a/.gitignore": "b/\n", "a/b/f.py": "", "zlink": Symlink("a/b")})
    judge = atlas.walk._Walker._walks

    def swap_then_judge(walker: object, real: str) -> bool:
        if not (root / "a").is_symlink():
            (root / "a").rename(tmp_path / "aside")
            (root / "a").symlink_to(outside, target_is_directory=True)
        return judge(walker, real)  # type: ignore[arg-type]

    monkeypatch.setattr(atlas.walk._Walker, "_walks", swap_then_judge)
    items = walked(root)
    assert (root / "a").is_symlink()  # the swap happened
    assert [item.path for item in items] == ["a/.gitignore"]  # `zlink` leads into `a/b`, which a/.gitignore ignores


def test_a_fifo_in_an_ignore_file_s_place_is_not_waited_for_and_holds_no_rules_as_in_git(tmp_path: Path) -> None:
    # git opens a FIFO named .gitignore and waits for a writer; given one, it reads no rules from it (its size is 0)
    # and lists no FIFO. The walk must neither wait nor read, and must then agree with git.
    import threading

    root = uncommitted_repo(tmp_path / "repo", {".gitignore": "*.log\n", "a.py": "", "sub/b.py": "", "sub/c.log": "",
                                                "sub/d.tmp": ""})  # fmt: skip
    fifos = [root / "sub" / ".gitignore", root / "sub" / ".atlasignore"]
    for fifo in fifos:
        os.mkfifo(fifo)
    found: list[list[FileEntry | Skipped]] = []
    walker = threading.Thread(target=lambda: found.append(walked(root)), daemon=True)
    walker.start()
    walker.join(30)
    writers = [os.open(fifo, os.O_RDWR) for fifo in fifos]  # lets git (or a walk stuck in an open) go on
    try:
        assert found, "the walk waited on a FIFO"
        unignored = git_unignored(root)
    finally:
        for fd in writers:
            os.close(fd)
    assert {item.path for item in found[0] if isinstance(item, FileEntry)} == unignored
    assert unignored == {".gitignore", "a.py", "sub/b.py", "sub/d.tmp"}
    assert {item.path: item.reason for item in found[0] if isinstance(item, Skipped)} == {
        "sub/.atlasignore": SkipReason.SPECIAL, "sub/.gitignore": SkipReason.SPECIAL,
    }  # fmt: skip


def test_a_symlinked_gitignore_below_the_root_is_not_read_as_git_does_not(tmp_path: Path) -> None:
    # git >= 2.32 refuses an in-tree .gitignore that is a symbolic link ("unable to access 'sub/.gitignore': Too
    # many levels of symbolic links"), wherever it points; the walk opens it through its directory's descriptor
    # without following it.
    import subprocess

    from tests.conftest import git_env

    outside = tmp_path / "outside"
    write_tree(outside, {"rules": "*.log\n"})
    files: dict[str | bytes, FileContent] = {
        "sub/.gitignore": Symlink(os.fspath(outside / "rules")),  # out of the root
        "sub/deep/.gitignore": Symlink("../in.gitignore"),  # inside it
        "sub/in.gitignore": "*.py\n", "sub/a.log": "", "sub/deep/b.py": "", "sub/deep/c.log": "",
    }  # fmt: skip
    root = uncommitted_repo(tmp_path / "repo", files)
    paths = ["sub/a.log", "sub/deep/b.py", "sub/deep/c.log"]
    checked = subprocess.run(["git", "-C", os.fspath(root), "check-ignore", "-v", "--non-matching", *paths],
                             env=git_env(), capture_output=True, check=False)  # fmt: skip
    assert checked.stdout.decode().splitlines() == [f"::\t{path}" for path in paths]  # none ignored
    assert "unable to access 'sub/.gitignore'" in checked.stderr.decode()
    assert git_unignored(root) == {"sub/.gitignore", "sub/in.gitignore", "sub/deep/.gitignore", *paths}
    assert entry_paths(root) == git_unignored(root) - {"sub/.gitignore"}
    assert skipped(root) == {"sub/.gitignore": SkipReason.SYMLINK_OUTSIDE}  # a link out of the root: never read


def test_regression_a_file_gone_between_listing_and_lstat_is_left_out_not_stat_ed_through_a_closed_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The listing takes every entry's lstat while its directory is open. One gone in between was kept and stat'ed
    # again when visited, through the descriptor closed meanwhile: "Bad file descriptor" as an unreadable file, or,
    # the number reused by another open, a stat of a name in another directory. It is now left out, as gone.
    import atlas.walk

    root = uncommitted_repo(tmp_path / "repo", {"a.py": "", "sub/gone.py": "", "sub/kept.py": ""})
    scandir = os.scandir

    class Vanishing:
        def __init__(self, fd: object) -> None:
            self.listing = scandir(fd)  # type: ignore[call-overload]

        def __enter__(self) -> list[os.DirEntry[str]]:
            entries = list(self.listing.__enter__())
            if any(entry.name == "gone.py" for entry in entries):
                (root / "sub" / "gone.py").unlink()
            return entries

        def __exit__(self, *exc: object) -> None:
            self.listing.__exit__(*exc)

    monkeypatch.setattr(atlas.walk.os, "scandir", Vanishing)
    items = walked(root)
    assert not (root / "sub" / "gone.py").exists()  # it went after the listing
    assert [(item.path, type(item).__name__) for item in items if "sub/" in item.path] == [("sub/kept.py", "FileEntry")]
