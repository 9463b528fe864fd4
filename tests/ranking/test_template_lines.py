"""A pasted issue's template lines: the repository's own issue template says which lines are boilerplate.

The checklist every reporter ticks names the project's configuration, cache and logs; a file about those
outranks the one the report is about, until the lines that repeat `.github/ISSUE_TEMPLATE/*` are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atlas.api import open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from tests.conftest import init_repo, write_tree
from tests.ranking.searching import indexed, top_paths

FORM = """\
name: Bug report
body:
  - type: checkboxes
    attributes:
      label: Checklist
      options:
        - label: I have searched the existing issues and read the documentation of the configuration options
        - label: I am running the latest release and I have cleared the plugin cache
        - label: I have attached the debug log written with the verbose flag
"""

ISSUE = """\
Thumbnails lose their aspect ratio
### Checklist
- [X] I have searched the existing issues and read the documentation of the configuration options
- [X] I am running the latest release and I have cleared the plugin cache
- [X] I have attached the debug log written with the verbose flag
### Description
A wide image gets a square thumbnail.
"""

FILES = {
    "media/thumbnail.py": (
        "def thumbnail(image, width):\n    '''Scale the image down to width.'''\n    return image.scale(width, width)\n"
    ),
    "core/plugins.py": (
        "class PluginCache:\n"
        "    '''Plugin cache: cleared on each release; its configuration options are in the documentation.'''\n"
        "    def clear(self, verbose):\n"
        "        '''Clear the cache; with the verbose flag, write a debug log of the plugin options.'''\n"
        "        log.debug('cleared the plugin cache', verbose=verbose)\n"
    ),
    "core/settings.py": "OPTIONS = {'theme': 'light'}\n",
    "media/image.py": "class Image:\n    def scale(self, width, height):\n        return Image()\n",
    **{f"app/page_{i}.py": f"def page_{i}(request):\n    return render('page_{i}.html')\n" for i in range(10)},
}


def _repo(root: Path, with_template: bool) -> IndexConfig:
    template = {".github/ISSUE_TEMPLATE/bug_report.yml": FORM} if with_template else {}
    write_tree(root, {**FILES, **template})
    init_repo(root, message="Initial import")
    return indexed(root)


@pytest.fixture(scope="module")
def with_template(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return _repo(Path(tmp_path_factory.mktemp("template")) / "repo", with_template=True)


@pytest.fixture(scope="module")
def without_template(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return _repo(Path(tmp_path_factory.mktemp("no_template")) / "repo", with_template=False)


def test_the_checklist_misleads_without_the_template(without_template: IndexConfig) -> None:
    assert top_paths(without_template, ISSUE, limit=1) == ["core/plugins.py"]


def test_the_templates_lines_are_dropped_and_the_report_finds_its_file(with_template: IndexConfig) -> None:
    assert top_paths(with_template, ISSUE, limit=1) == ["media/thumbnail.py"]
    engine = open_engine(with_template, build_if_missing=False)
    assert engine.without_boilerplate(ISSUE).splitlines() == [
        "Thumbnails lose their aspect ratio", "### Description", "A wide image gets a square thumbnail.",
    ]  # fmt: skip
    notes = engine.search(ISSUE, SearchOptions(limit=1, with_lines=False)).notes
    assert "left out 4 lines of the query that repeat the repository's issue templates" in notes


def test_a_one_line_query_is_never_stripped(with_template: IndexConfig) -> None:
    engine = open_engine(with_template, build_if_missing=False)
    line = "I am running the latest release and I have cleared the plugin cache"
    assert engine.without_boilerplate(line) == line


def test_a_template_swapped_for_a_link_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("Thumbnails lose their aspect ratio\nA wide image gets a square thumbnail.\n")
    config = _repo(tmp_path / "repo", with_template=True)
    template = tmp_path / "repo" / ".github" / "ISSUE_TEMPLATE" / "bug_report.yml"
    template.unlink()
    os.symlink(outside, template)
    engine = open_engine(config, build_if_missing=False)
    assert not engine.boilerplate
    assert engine.without_boilerplate(ISSUE) == ISSUE
