"""Issue templates: which files are templates, and which lines of a pasted issue repeat them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atlas.query.boilerplate import Boilerplate, is_template

FORM = """\
name: Bug report
description: Report a broken feature
body:
  - type: checkboxes
    id: checklist
    attributes:
      label: Checklist
      options:
        - label: I've searched the bugtracker for similar issues including closed ones
          required: true
        - label: I'm running the latest release
  - type: textarea
    attributes:
      label: Steps to reproduce
      placeholder: |
        Paste the complete verbose output here
"""

MARKDOWN = """\
**Describe the bug**

A clear and concise description of what the bug is.

```python
import mylib
```
"""

TEMPLATES = Boilerplate.from_templates([
    (".github/ISSUE_TEMPLATE/bug.yml", FORM), (".github/ISSUE_TEMPLATE.md", MARKDOWN),
])  # fmt: skip


def test_template_paths_are_github_and_gitlab_names() -> None:
    for path in (".github/ISSUE_TEMPLATE/bug.yml", ".github/ISSUE_TEMPLATE.md", ".github/pull_request_template.md",
                 "docs/ISSUE_TEMPLATE.md", ".gitlab/issue_templates/Bug.md", ".github/ISSUE_TEMPLATE_tmpl/1_broken.yml",
                 ".gitlab/merge_request_templates/Default.md"):  # fmt: skip
        assert is_template(path), path
    for path in ("src/templates/issue.html", "app/template.py", "issue_tracker/models.py", "TEMPLATE.md",
                 "devscripts/make_issue_template.py"):
        assert not is_template(path), path


def test_ticked_checklist_items_and_headings_are_dropped() -> None:
    issue = (
        "Subtitles are missing for LinkedIn posts\n"
        "### Checklist\n"
        "- [X] I've searched the bugtracker for similar issues including closed ones\n"
        "- [x] I'm running the latest release\n"
        "### Steps to reproduce\n"
        "Download a post with subtitles: none are listed.\n"
    )
    assert TEMPLATES.without_repeats(issue).splitlines() == [
        "Subtitles are missing for LinkedIn posts",
        "Download a post with subtitles: none are listed.",
    ]


def test_a_template_sentence_with_a_word_changed_is_dropped_and_a_reporters_sentence_is_kept() -> None:
    assert TEMPLATES.repeats("I've searched the bug tracker for similar issues including closed ones")
    assert TEMPLATES.repeats("**Describe the bug**")
    assert not TEMPLATES.repeats("The bug is that closed issues reopen")
    assert not TEMPLATES.repeats("Python version: 3.12")


def test_yaml_keys_are_not_words_of_the_template() -> None:
    assert TEMPLATES.repeats("Paste the complete verbose output here")
    assert not TEMPLATES.repeats("label: placeholder")


def test_title_and_code_fences_stay() -> None:
    issue = "Describe the bug\n\n```python\nimport mylib\nmylib.crash()\n```\n"
    stripped = TEMPLATES.without_repeats(issue).splitlines()
    assert stripped[0] == "Describe the bug"
    assert stripped.count("```python") == 1 and stripped.count("```") == 1
    assert "import mylib" not in stripped and "mylib.crash()" in stripped


def test_a_line_opening_or_closing_an_html_comment_stays() -> None:
    templates = Boilerplate.from_templates([("ISSUE_TEMPLATE.md", "<!-- Paste the log below\nthe complete log -->\n")])
    assert not templates.repeats("<!-- Paste the log below")
    assert not templates.repeats("the complete log -->")
    assert templates.repeats("<!-- Paste the log below -->")


def test_a_text_that_would_lose_every_word_is_kept_whole() -> None:
    issue = "---\n### Checklist\n- [X] I'm running the latest release\n"
    assert TEMPLATES.without_repeats(issue) == issue


def test_no_templates_or_one_line_change_nothing() -> None:
    two_lines = "Checklist\nI'm running the latest release"
    assert Boilerplate().without_repeats(two_lines) == two_lines
    assert TEMPLATES.without_repeats("I'm running the latest release") == "I'm running the latest release"


@given(st.lists(st.sampled_from([
    "Checklist", "- [X] I'm running the latest release", "Steps to reproduce", "```", "```python", "import mylib",
    "The export fails", "", "   ", "A clear and concise description of what the bug is.", "résumé 履歴書 parse",
]), max_size=12))  # fmt: skip
def test_stripping_keeps_a_subsequence_of_the_lines_and_is_idempotent(lines: list[str]) -> None:
    text = "\n".join(lines)
    stripped = TEMPLATES.without_repeats(text)
    kept = iter(text.splitlines())
    assert all(line in kept for line in stripped.splitlines())
    assert TEMPLATES.without_repeats(stripped) == stripped
    first = next((line for line in lines if line.strip()), None)
    if first is not None and "\n" in text:
        assert first in stripped.splitlines()
