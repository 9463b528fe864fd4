"""The `fast` preset: rank files by path and file-name matches, with no index, in well under a second.

Listing: `git ls-files --cached --others --exclude-standard` when the root is inside a git work tree
(git's own ignore rules, read from its index: ~0.1 s for 78k files), less the files a sparse checkout leaves out
of the tree (a file deleted and not yet committed is left out when it would be a candidate); otherwise an
`os.scandir` walk that skips hidden directories and dependency or cache directories (DEPENDENCY_DIRS) but reads no
`.gitignore` (the full walk of `atlas.walk` takes ~1.6 s on the Linux kernel tree; this ~0.35 s).

Scoring: the task's terms (`atlas.terms`, weighted by repetition) are matched against the tokens of
each path's file name and directories. A term's weight is multiplied by its idf over the listed
paths, log(1 + N / df), so a term in many paths (`src`, `test`) counts little. A file scores
Σ weight·idf over its matched terms, with matches in the file name counting fully and matches in a
directory DIRECTORY_FACTOR; that sum is divided by Σ weight·idf over every task term that some
path matches, taking only the PATH_TERMS heaviest (a file name holds a few words, a bug report has
hundreds of terms), so 1.0 means "the file name holds the task's strongest path terms".
The role prior of the fusion (`atlas.query.fuse`) then scales it (tests and docs rank lower).
"""

from __future__ import annotations

import bisect
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from atlas.context.candidates import Candidate, Outline, Ranked
from atlas.records import ScoreTerm
from atlas.safe_read import bad_path, in_tree, path_problem, read_in_root

if TYPE_CHECKING:
    from atlas.context.chunks import FileText
    from atlas.query.syntax import ParsedQuery
from atlas.walk import git_output, list_directory, path_left_out

DIRECTORY_FACTOR = 0.5
PATH_TERMS = 4
"""Score ceiling: the PATH_TERMS heaviest task terms that paths match (a file name holds a few words)."""
GIT_TIMEOUT_S = 20
DEPENDENCY_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages", "bower_components"})
"""Never build output names such as `target` or `build`: the kernel has `drivers/target`, `tools/build`."""
_WORDS = re.compile(r"[A-Za-z0-9]+")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def list_files(root: Path) -> list[str]:
    """Repository paths under `root` (`/` separators): git's view when it is a work tree, else a walk."""
    listed = _git_files(root)
    return listed if listed is not None else _scandir_files(root)


def _git_files(root: Path) -> list[str] | None:
    if not _in_work_tree(root):
        return None
    listing = ("ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard")  # -t: `S` marks skip-worktree
    listed = git_output("git", os.fspath(root), *listing, timeout=GIT_TIMEOUT_S)
    if listed is None:
        return None
    paths = _not_left_out_by_a_sparse_checkout(root, listed.decode("utf-8", errors="surrogateescape").split("\0"))
    # A git (or a wrapper in its place) may print anything: a path that is not a clean relative one would be
    # refused when read, after taking a --top slot, so it is not a candidate at all.
    listed = [p for p in paths if p and not p.startswith(".atlas/")]
    if bad_path(listed) is not None:  # one bulk check; the rare listing with a bad path is filtered path by path
        listed = [p for p in listed if path_problem(p) is None]
    return sorted({_display(p) for p in listed})


def _not_left_out_by_a_sparse_checkout(root: Path, tagged: list[str]) -> list[str]:
    """The paths of `git ls-files -t` less the files a sparse checkout leaves out of the tree: git tracks them,
    tagged `S` (skip-worktree). A file `git update-index --skip-worktree` marks stays in the tree, so one tagged `S`
    is kept when present; one look per directory, since a sparse checkout leaves whole directories out. (A file
    deleted and not yet committed is still listed: asking git for those, `--deleted`, stats every file, which
    doubles the listing's time; a candidate is looked for instead, in `_best_with_priors`.)"""
    listed = [entry[2:] for entry in tagged if entry[1:2] == " " and entry[0] != "S"]
    skipped = [entry[2:] for entry in tagged if entry.startswith("S ")]
    directories: dict[str, bool] = {}

    def present(path: str) -> bool:
        directory = os.path.dirname(path)
        if directory not in directories:
            directories[directory] = os.path.isdir(os.path.join(root, directory))
        return directories[directory] and os.path.lexists(os.path.join(root, path))

    return listed + [path for path in skipped if present(path)]


def _in_work_tree(root: Path) -> bool:
    here = root.resolve()
    return any((directory / ".git").exists() for directory in (here, *here.parents))


def _scandir_files(root: Path) -> list[str]:
    """The files under `root`, hidden and dependency directories left out. Each directory is listed as the index's
    walk lists one: opened without following a link and checked to be the directory its parent's listing saw, so
    one swapped for a link out of the root meanwhile lends no names."""
    found: list[str] = []
    stack: list[tuple[str, tuple[int, int] | None]] = [("", None)]
    while stack:
        rel, expected = stack.pop()
        try:
            # `rel` without its "/": a path ending in one follows a link, O_NOFOLLOW or not
            entries = list_directory(os.path.join(root, rel[:-1]) if rel else os.fspath(root), expected)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                found_stat = entry.stat(follow_symlinks=False)
                is_dir = stat.S_ISDIR(found_stat.st_mode)
                if stat.S_ISLNK(found_stat.st_mode):  # by path: the listing's descriptor is closed
                    is_file = stat.S_ISREG(os.stat(os.path.join(root, rel, name)).st_mode)  # a loop: ELOOP
                else:
                    is_file = stat.S_ISREG(found_stat.st_mode)
            except OSError:
                continue
            if is_dir:
                if not name.startswith(".") and name not in DEPENDENCY_DIRS:
                    stack.append((f"{rel}{name}/", (found_stat.st_dev, found_stat.st_ino)))
            elif is_file:
                found.append(_display(rel + name))
    found.sort()
    return found


def _display(path: str) -> str:
    """A path as Atlas shows it: names that are not UTF-8 get `\\xNN` escapes (see atlas.walk)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        from atlas.walk import display_path

        return display_path(path)
    return path


class _Matcher:
    """Query terms found in words of paths, cached by word (names repeat across the tree)."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = frozenset(terms)
        self.cache: dict[str, frozenset[str]] = {}

    def match(self, text: str) -> frozenset[str]:
        """The query terms among the tokens of the words of `text`."""
        found: frozenset[str] = frozenset()
        for word in _WORDS.findall(text):
            hit = self.cache.get(word)
            if hit is None:
                # atlas.terms' tokens of an alphanumeric word: the word lower-cased, then its camel/digit parts.
                hit = self.cache[word] = self.terms.intersection([word.lower(), *map(str.lower, _PARTS.findall(word))])
            if hit:
                found = found | hit
        return found


def path_matches(paths: list[str], terms: Iterable[str]) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Path → (terms matched in its file name, terms matched only in its directories), matching paths only."""
    matcher = _Matcher(terms)
    by_dir: dict[str, frozenset[str]] = {}
    out: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for path in paths:
        directory, _, name = path.rpartition("/")
        in_dir = by_dir.get(directory)
        if in_dir is None:
            in_dir = by_dir[directory] = matcher.match(directory)
        in_name = matcher.match(name)
        if in_name or in_dir:
            out[path] = (in_name, in_dir - in_name)
    return out


def rank_by_paths(root: Path, task: str, limit: int) -> Ranked:
    """The `limit` best files of `root` for `task` by path matches, scores normalised into 0..1.

    A task without searchable words is a UsageError, as in the other presets."""
    from atlas.query.syntax import check_path_filters, parse_query, searchable

    parsed = searchable(parse_query(task))
    check_path_filters(str(root), parsed.paths)
    query = dict(parsed.terms)
    paths = _filtered(root, list_files(root), parsed)
    matches = path_matches(paths, query)
    df = Counter(t for in_name, in_dir in matches.values() for t in in_name | in_dir)
    weights = {t: query[t] * math.log(1.0 + len(paths) / n) for t, n in df.items()}
    ceiling = sum(sorted(weights.values(), reverse=True)[:PATH_TERMS]) or 1.0
    raw = [
        (sum(weights[t] for t in names) / ceiling, DIRECTORY_FACTOR * sum(weights[t] for t in dirs) / ceiling, path)
        for path, (names, dirs) in matches.items()
    ]
    best = _best_with_priors(root, raw, limit, _prior_function(list(query)))
    for rank, candidate in enumerate(best, 1):
        candidate.rank = rank
    chunk_weights = {t: w for t, w in query.items() if len(t) > 2}
    return Ranked(best, len(paths), chunk_weights, _parsed_outline, [])


def _filtered(root: Path, paths: list[str], parsed: ParsedQuery) -> list[str]:
    """The `paths` that pass the query's `lang:` and `path:` filters, as the indexed presets apply them (a file whose
    language its first bytes decide is read for them only when the filter asks for such a language)."""
    if parsed.languages:
        from atlas.parse.languages import HEAD_DECIDES, detect_language
        from atlas.query.syntax import check_languages

        check_languages(parsed.languages)
        wanted = frozenset(parsed.languages)
        sniff = not wanted.isdisjoint(HEAD_DECIDES)
        paths = [path for path in paths if (language_of(root, path) if sniff else detect_language(path, b"")) in wanted]
    if parsed.paths:
        from atlas.query.bm25 import paths_matching

        matching = paths_matching(paths, parsed.paths)
        paths = [path for path in paths if path in matching]
    return paths


def _parsed_outline(file: FileText) -> Outline:
    """The outline of `file` parsed from its text now (the fast preset has no index to hold one)."""
    return parse_outline(file.path, file.text.encode("utf-8", "replace"))


def _order(candidate: Candidate) -> tuple[float, int, str]:
    return (-candidate.score, len(candidate.path), candidate.path)


def language_of(root: Path, path: str) -> str:
    """The language of repository file `path` as the index names it: from its name, or from its first bytes when
    the name does not decide (a `.m` or `.h` file, a script without an extension), read through `atlas.safe_read`."""
    from atlas.parse.languages import HEAD_BYTES, detect_language, needs_head

    if not needs_head(path):
        return detect_language(path, b"")
    try:
        head, _ = read_in_root(root, path, HEAD_BYTES)
    except OSError:
        head = b""
    return detect_language(path, head)


def _best_with_priors(
    root: Path, raw: list[tuple[float, float, str]], limit: int, prior_of: Callable[[str, str], float]
) -> list[Candidate]:
    """The `limit` best after priors. Priors are at most 1, so once a raw score falls below the
    `limit`-th adjusted score no later file can enter, and most files never need a language or role."""
    raw.sort(key=lambda r: (-(r[0] + r[1]), len(r[2]), r[2]))
    best: list[Candidate] = []
    for name_part, dir_part, path in raw:
        if len(best) >= limit and name_part + dir_part < best[limit - 1].score:
            break
        if not in_tree(root, path):  # git lists a file deleted and not yet committed
            continue
        if path_left_out(root, path):  # `.atlasignore`d, or a committed `config.txt -> .env`: git lists them
            continue
        bisect.insort(best, _candidate(root, path, name_part, dir_part, prior_of), key=_order)
    return best[:limit]


def _prior_function(terms: list[str]) -> Callable[[str, str], float]:
    """Role and path-flag prior of the fast preset, relaxed for docs or tests when the task asks for them."""
    from atlas.query.fuse import PRESETS, detect_intent, prior
    from atlas.signals.priors import path_flags

    intent = detect_intent(terms)
    return lambda path, role: prior(PRESETS["fast"], role, path_flags(path), intent)


def _candidate(
    root: Path, path: str, name_part: float, dir_part: float, prior_of: Callable[[str, str], float]
) -> Candidate:
    from atlas.parse.roles import classify

    language = language_of(root, path)
    role = str(classify(path, language))
    factor = prior_of(path, role)
    terms = (
        ScoreTerm("filename", name_part, None, 1.0, name_part),
        ScoreTerm("directory", dir_part / DIRECTORY_FACTOR, None, DIRECTORY_FACTOR, dir_part),
        ScoreTerm("prior", factor, None, factor, (name_part + dir_part) * (factor - 1.0)),
    )
    return Candidate(path, 0, round(min(1.0, (name_part + dir_part) * factor), 6), language, role, terms)


def parse_outline(path: str, data: bytes) -> Outline:
    """Definitions of a file parsed on the spot with tree-sitter (no index in the fast preset), in a child process
    (a grammar that never returns costs this file its outline, not the query its answer)."""
    from atlas.parse.isolated import extract_isolated
    from atlas.parse.languages import HEAD_BYTES, detect_language
    from atlas.parse.symbols import ExtractionError

    try:
        symbols, _ = extract_isolated(detect_language(path, data[:HEAD_BYTES]), data)
    except ExtractionError:
        return ()
    return tuple((s.name, s.kind, s.start_line, s.end_line) for s in symbols)
