"""Look up the files a query names: path suffixes and dotted module names → file ids.

Built once per open index from the side store's path list; a look-up is a few dict probes.
Module names match case-insensitively (`Json::Reader` names `src/json/reader.cpp`); paths exactly.
"""

from __future__ import annotations

from collections import defaultdict

MAX_SUFFIX_PARTS = 4
MODULE_TRAILING_DROPS = 2


class PathIndex:
    """Suffix tables over the repository's paths."""

    def __init__(self, paths: list[str]) -> None:
        self.by_suffix: dict[str, list[int]] = defaultdict(list)
        self.by_module: dict[str, list[int]] = defaultdict(list)
        for fid, path in enumerate(paths):
            parts = path.split("/")
            for key in _suffixes(parts):
                self.by_suffix[key].append(fid)
            for key in _suffixes(_module_parts(parts)):
                self.by_module[key.lower()].append(fid)

    def find_path(self, mention: str) -> tuple[list[int], int]:
        """Files whose path ends with the longest matching suffix of `mention`, and that length."""
        return _longest(self.by_suffix, mention.split("/"))

    def find_module(self, dotted: str) -> tuple[list[int], int]:
        """Files a dotted module name denotes (dropping up to two trailing attribute names)."""
        parts = dotted.lower().split(".")
        for drop in range(min(MODULE_TRAILING_DROPS, len(parts) - 1) + 1):
            kept = parts[: len(parts) - drop]
            found = self.by_module.get("/".join(kept[-MAX_SUFFIX_PARTS:]))
            if found:
                return found, min(len(kept), MAX_SUFFIX_PARTS)
        return [], 0


def _suffixes(parts: list[str]) -> list[str]:
    return ["/".join(parts[-k:]) for k in range(1, min(MAX_SUFFIX_PARTS, len(parts)) + 1)]


def _module_parts(parts: list[str]) -> list[str]:
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    if stem == "__init__":
        return parts[:-1]
    return [*parts[:-1], stem]


def _longest(table: dict[str, list[int]], parts: list[str]) -> tuple[list[int], int]:
    for k in range(min(MAX_SUFFIX_PARTS, len(parts)), 0, -1):
        found = table.get("/".join(parts[-k:]))
        if found:
            return found, k
    return [], 0
