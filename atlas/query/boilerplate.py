"""A repository's issue and pull-request templates, and the query lines that repeat them.

A pasted issue carries its template: the checklist a project makes every reporter tick ("I've
searched the bugtracker for similar issues"), the headings ("Describe the bug", "Steps to
reproduce"), the instructions left in place. Those words are the same in every issue of the
project, say nothing about this one, and weigh as much as the report's own words (more, when the
template is long: a yt-dlp report is two thirds checklist). The templates are in the repository
(`.github/ISSUE_TEMPLATE/*.yml`, `.github/ISSUE_TEMPLATE.md`, `.gitlab/issue_templates/*.md`, ...),
so a query line that repeats one of their lines is dropped before the query is parsed.

A query line is the template's when its words are exactly those of a template line (a heading, a
short label), or when it has at least `MIN_SHINGLE_LINE` words and `COVERED_SHARE` of them lie in
runs of three that a template line has too (a checklist item ticked, a sentence of instructions
with a word changed). The first line (an issue's title) is the reporter's own and always stays, and so
do code fences and lines that open or close an HTML comment (a template's ```` ```python ```` or `<!-- Paste
the log below` must not unbalance the report's blocks and comments).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from atlas.query.syntax import FENCE
from atlas.safe_read import read_in_root

TEMPLATE_MARKERS = ("issue_template", "pull_request_template", "issue_templates", "merge_request_templates")
"""A path with a component starting with one of these (lower-cased) is a template: GitHub's and GitLab's names."""
MAX_TEMPLATES = 32
MAX_TEMPLATE_BYTES = 64 * 1024
SHINGLE = 3
MIN_SHINGLE_LINE = 3
COVERED_SHARE = 0.8

_WORD = re.compile(r"[^\W_]+")
_YAML_KEY = re.compile(r"^\s*(?:-\s+)?[A-Za-z_][\w-]*:(?:\s+|$)")
_CHECKBOX = re.compile(r"^\s*(?:[-*+]\s*)?\[[ xX]?\]\s*")


def is_template(path: str) -> bool:
    """True if `path` names an issue or pull/merge-request template."""
    lowered = path.lower()
    if "template" not in lowered:
        return False
    return any(part.startswith(TEMPLATE_MARKERS) for part in lowered.split("/"))


def line_words(line: str) -> tuple[str, ...]:
    """The lower-cased words of `line` (letters and digits; `_` and punctuation split)."""
    return tuple(_WORD.findall(line.lower()))


@dataclass(frozen=True, slots=True)
class Boilerplate:
    """The lines of a repository's templates, as word sequences and their runs of three words."""

    lines: frozenset[tuple[str, ...]] = frozenset()
    shingles: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def from_templates(cls, texts: Iterable[tuple[str, str]]) -> Boilerplate:
        """From (path, text) pairs of template files; YAML forms' keys (`label:`, `description:`) are not words."""
        lines: set[tuple[str, ...]] = set()
        shingles: set[tuple[str, ...]] = set()
        for path, text in texts:
            yaml = path.lower().endswith((".yml", ".yaml"))
            for raw in text.splitlines():
                words = line_words(_YAML_KEY.sub("", raw) if yaml else _CHECKBOX.sub("", raw))
                if words:
                    lines.add(words)
                    shingles.update(words[i : i + SHINGLE] for i in range(len(words) - SHINGLE + 1))
        return cls(frozenset(lines), frozenset(shingles))

    def __bool__(self) -> bool:
        return bool(self.lines)

    def repeats(self, line: str) -> bool:
        """True if `line` of a query repeats a template line."""
        words = line_words(_CHECKBOX.sub("", line))
        if not words or FENCE.match(line) or line.count("<!--") != line.count("-->"):
            return False
        if words in self.lines:
            return True
        if len(words) < MIN_SHINGLE_LINE:
            return False
        covered = [False] * len(words)
        for i in range(len(words) - SHINGLE + 1):
            if words[i : i + SHINGLE] in self.shingles:
                covered[i : i + SHINGLE] = [True] * SHINGLE
        return sum(covered) >= COVERED_SHARE * len(words)

    def without_repeats(self, text: str) -> str:
        """`text` without the lines that repeat a template line (its first non-empty line always kept).

        Returns `text` itself when nothing repeats, or when nothing with a word would be left.
        """
        if not self or "\n" not in text:
            return text
        kept: list[str] = []
        dropped = False
        title_seen = False
        for line in text.splitlines():
            if not title_seen:
                title_seen = bool(line.strip())
                kept.append(line)
            elif self.repeats(line):
                dropped = True
            else:
                kept.append(line)
        if not dropped:
            return text
        stripped = "\n".join(kept)
        return stripped if _WORD.search(stripped) else text


def read_templates(root: Path, paths: Iterable[str]) -> Boilerplate:
    """The boilerplate of the templates among `paths` (indexed files), read under `root` (never outside it)."""
    texts: list[tuple[str, str]] = []
    for path in paths:
        if len(texts) == MAX_TEMPLATES:
            break
        if not is_template(path):
            continue
        try:
            data, _ = read_in_root(root, path, MAX_TEMPLATE_BYTES)
        except OSError:
            continue
        texts.append((path, data.decode("utf-8", errors="replace")))
    return Boilerplate.from_templates(texts)
