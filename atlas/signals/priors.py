"""Path priors: flags for files that are rarely what a question is about.

Roles (impl, test, docs, ...) come from the parser; these flags add what a path alone says:
vendored code, examples, translations. Both are stored per file in the side store and turned
into query-dependent multipliers by `atlas.query.fuse`.
"""

from __future__ import annotations

import re

VENDORED = 1
EXAMPLES = 2
TRANSLATION = 4
FIXTURE = 8

_VENDOR_DIRS = frozenset(
    {"vendor", "vendored", "_vendor", "third_party", "third-party", "thirdparty", "node_modules", "external",
     "extern", "externals", "3rdparty", "3rd_party", "3rd-party", "bower_components", "site-packages"}
)  # fmt: skip
_TOP_VENDOR_DIRS = frozenset({"deps"})
"""Vendored only at the repository's top (redis's, node's `deps/`): deeper, `deps` is often a project's own module."""
_EXAMPLE_DIRS = frozenset(
    {"example", "examples", "sample", "samples", "demo", "demos", "tutorial", "tutorials", "bench", "benchmarks"}
)
_LOCALE_DIRS = frozenset({"locale", "locales", "i18n", "l10n", "translations", "lang"})
_FIXTURE_DIRS = frozenset({"fixtures", "fixture", "testdata", "test-data", "roots", "snapshots", "__snapshots__"})
_TRANSLATION_EXT = (".po", ".pot", ".mo", ".xlf", ".xliff")
_VERSIONED_LIBRARY = re.compile(r"^[a-z][\w.]*[-.]\d+(\.\d+)+(\.min)?\.(js|css)$", re.I)


def path_flags(path: str) -> int:
    """Bitmask of VENDORED, EXAMPLES, TRANSLATION and FIXTURE for a repository path."""
    parts = path.lower().split("/")
    directories, name = set(parts[:-1]), parts[-1]
    flags = 0
    top_vendored = len(parts) > 1 and parts[0] in _TOP_VENDOR_DIRS
    if directories & _VENDOR_DIRS or top_vendored or _VERSIONED_LIBRARY.match(name):
        flags |= VENDORED
    if directories & _EXAMPLE_DIRS:
        flags |= EXAMPLES
    if name.endswith(_TRANSLATION_EXT) or (directories & _LOCALE_DIRS and not name.endswith((".py", ".js", ".ts"))):
        flags |= TRANSLATION
    if directories & _FIXTURE_DIRS:
        flags |= FIXTURE
    return flags
