"""The fast preset: path and file-name heuristics, no index, a cheap listing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas.api import index_config, select_context
from atlas.cli import cli
from atlas.context.fast import list_files, path_matches, rank_by_paths
from atlas.context.model import ContextOptions
from tests.conftest import git, init_repo, write_tree

TREE = {
    "src/auth/middleware.py": "def check(): pass\n",
    "src/auth/tokens.py": "def issue(): pass\n",
    "src/billing/invoice.py": "def total(): pass\n",
    "tests/test_middleware.py": "def test_check(): pass\n",
    "node_modules/auth/index.js": "x\n",
    ".hidden/auth.py": "x\n",
    "build/out/auth_middleware.py": "generated\n",
    ".gitignore": "build/\n",
}


def test_scandir_listing_skips_hidden_and_dependency_directories(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    listed = list_files(tmp_path)
    assert "src/auth/middleware.py" in listed and ".gitignore" in listed
    assert not any(p.startswith(("node_modules/", ".hidden/")) for p in listed)


def test_git_listing_follows_gitignore(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    init_repo(tmp_path)
    listed = list_files(tmp_path)
    assert "src/auth/middleware.py" in listed and not any(p.startswith("build/") for p in listed)


def test_regression_the_git_listing_is_the_work_tree_not_the_files_git_tracks(tmp_path: Path) -> None:
    # `git ls-files --cached` lists what git tracks: files a sparse checkout leaves out of the tree (docs/ here) and
    # files deleted from it but not from git. The fast preset ranked them as any other (docs/engine.md first for
    # "engine docs"), then reported it as an "unreadable file", and they counted in the idf and `scanned_files`.
    write_tree(tmp_path, {"src/core/engine.py": "x = 1\n", "docs/engine.md": "# Engine\n", "old_engine.py": "y = 2\n",
                          "local.cfg": "z = 3\n"})  # fmt: skip
    init_repo(tmp_path)
    git(tmp_path, "sparse-checkout", "set", "--no-cone", "/src/", "/*.py", "/*.cfg")
    git(tmp_path, "update-index", "--skip-worktree", "local.cfg")  # kept in the tree, its local edits private
    (tmp_path / "old_engine.py").unlink()
    assert not (tmp_path / "docs").exists()
    assert list_files(tmp_path) == ["local.cfg", "old_engine.py", "src/core/engine.py"]
    ranked = rank_by_paths(tmp_path, "engine docs", 10)
    assert [c.path for c in ranked.candidates] == ["src/core/engine.py"]


def test_file_name_matches_outrank_directory_matches_and_tests_rank_lower(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    init_repo(tmp_path)  # git ignores build/, whose auth_middleware.py would otherwise come first
    ranked = rank_by_paths(tmp_path, "auth middleware", 10)
    paths = [c.path for c in ranked.candidates]
    assert paths[0] == "src/auth/middleware.py"
    assert paths.index("src/auth/tokens.py") > 0 and "src/billing/invoice.py" not in paths
    assert paths.index("tests/test_middleware.py") > paths.index("src/auth/middleware.py")
    assert all(0.0 < c.score <= 1.0 for c in ranked.candidates)
    assert {t.signal for t in ranked.candidates[0].signals} == {"filename", "directory", "prior"}


def test_path_matches_split_identifiers_like_the_index(tmp_path: Path) -> None:
    found = path_matches(["lib/HttpRequestParser.java", "lib/other.java"], ["http", "parser"])
    assert found == {"lib/HttpRequestParser.java": (frozenset({"http", "parser"}), frozenset())}


def test_fast_preset_selects_without_building_an_index(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    init_repo(tmp_path)
    options = ContextOptions(preset="fast", index="require")
    selection = select_context(index_config(tmp_path), "auth middleware", options)
    assert selection.entries[0].path == "src/auth/middleware.py"
    assert not (tmp_path / ".atlas").exists()
    assert selection.scanned_files == len(list_files(tmp_path))


def test_fast_preset_is_quick_on_many_files(tmp_path: Path) -> None:
    files = {f"drivers/group{i % 50}/unit{i}/device_{i}.c": "int x;\n" for i in range(5000)}
    files["drivers/net/ethernet/e1000e/netdev.c"] = "int netdev;\n"
    write_tree(tmp_path, files)
    started = time.process_time()
    ranked = rank_by_paths(tmp_path, "e1000e netdev transmit hang", 20)
    assert time.process_time() - started < 2.0
    assert ranked.candidates[0].path == "drivers/net/ethernet/e1000e/netdev.c"


def test_scandir_listing_keeps_links_to_files_and_leaves_out_loops(tmp_path: Path) -> None:
    write_tree(tmp_path, {"src/a.py": "x\n"})
    (tmp_path / "src" / "link.py").symlink_to("a.py")
    (tmp_path / "src" / "loop.py").symlink_to("loop.py")
    (tmp_path / "src" / "dir_link").symlink_to("../src", target_is_directory=True)
    assert list_files(tmp_path) == ["src/a.py", "src/link.py"]


def test_regression_a_directory_swapped_for_a_link_out_of_the_root_lends_no_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside git, the listing opened each directory by path: `sub`, swapped for a link out of the root after its
    # parent's listing saw a directory, was listed through the link, and the outside file names became candidates.
    import atlas.context.fast

    root, outside = tmp_path / "repo", tmp_path / "outside"
    write_tree(root, {"a.py": "x\n", "sub/b.py": "x\n"})
    write_tree(outside, {"secret_name.py": "x\n"})
    listed = atlas.context.fast.list_directory

    def swap_then_list(path: str, expected: tuple[int, int] | None = None) -> object:
        if path.endswith("sub") and not (root / "sub").is_symlink():
            (root / "sub").rename(tmp_path / "aside")
            (root / "sub").symlink_to(outside, target_is_directory=True)
        return listed(path, expected)

    monkeypatch.setattr(atlas.context.fast, "list_directory", swap_then_list)
    assert list_files(root) == ["a.py"]
    assert (root / "sub").is_symlink()  # the swap happened


def fast_languages(root: Path, *tasks: str) -> dict[str, dict[str, str]]:
    """Per task: path → language of each entry `atlas quick --preset fast` selects for it."""
    found = {}
    for task in tasks:
        args = ["quick", "--preset", "fast", "--root", str(root), "--format", "json", task]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (task, result.output)
        found[task] = {entry["path"]: entry["language"] for entry in json.loads(result.stdout)["entries"]}
    return found


def test_regression_the_fast_preset_tells_languages_by_their_first_bytes_as_the_index_does(tmp_path: Path) -> None:
    # Without an index the fast preset named languages from paths alone: a MATLAB `.m` file was `objc` (and
    # `lang:matlab` found nothing), a script without an extension was `other` (and `lang:python` missed it).
    write_tree(tmp_path, {
        "solver.m": "function x = solver_step(a)\n% solve\nx = a * 2;\nend\n",
        "Solver.m": "#import <Foundation/Foundation.h>\n@interface Solver : NSObject\n@end\n",
        "bin/solver": "#!/usr/bin/env python3\ndef solver_main():\n    pass\n",
    })  # fmt: skip
    init_repo(tmp_path)
    languages = fast_languages(tmp_path, "solver", "lang:matlab solver", "lang:python solver")
    assert languages["solver"] == {"solver.m": "matlab", "Solver.m": "objc", "bin/solver": "python"}
    assert languages["lang:matlab solver"] == {"solver.m": "matlab"}
    assert languages["lang:python solver"] == {"bin/solver": "python"}


def test_the_fast_preset_tells_a_cpp_header_from_a_c_one_as_the_index_does(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "include/widget.h": "#pragma once\nnamespace ui {\nclass Widget {\n public:\n  void draw();\n};\n}\n",
        "src/widget_c.h": "#ifndef W_H\n#define W_H\nstruct widget { int x; };\n#endif\n",
    })  # fmt: skip
    init_repo(tmp_path)
    found = fast_languages(tmp_path, "widget", "lang:cpp widget", "lang:c widget")
    assert found["widget"] == {"include/widget.h": "cpp", "src/widget_c.h": "c"}
    assert found["lang:cpp widget"] == {"include/widget.h": "cpp"}
    assert found["lang:c widget"] == {"src/widget_c.h": "c"}
