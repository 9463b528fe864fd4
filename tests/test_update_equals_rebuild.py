"""An incremental update equals a fresh rebuild: a hypothesis state machine on a real git repository.

The machine edits a repository the way people do (add, edit, delete and rename files, `git mv` and plain `mv`,
chmod, swap a file for a symlink and back, `.gitignore` rules, commits, branches, binary, huge, minified and
invalid UTF-8 files, touches) and, now and then, brings its index up to date as `atlas index` does
(`atlas.api.index_repo`, into `<repo>/.atlas`), sometimes from a process that may not read the files `chmod` locked
(as root: one whose read override is dropped), builds a fresh index of the same tree with `--rebuild` into a
directory outside it, and compares what either holds: the files indexed and skipped (by reason), each file's
facts, documents and outline, the side store's signals by path, the saved git history, and the answers (paths,
order, scores) to searches made of the repository's words.

CI runs a small budget. A hunt runs a larger one: `ATLAS_DIFF_EXAMPLES=200 ATLAS_DIFF_STEPS=30`, and with
`ATLAS_DIFF_SHRINK=0` reports the steps of a failure without shrinking them (minutes, with a build per step).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import tantivy
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from atlas.api import index_config, index_repo, index_status, open_engine, verify_index
from atlas.build import IndexReport
from atlas.config import IndexConfig
from atlas.index import layout, store
from atlas.query.engine import SearchOptions
from atlas.signals.compute import HISTORY_FILE
from atlas.signals.store import load_store
from atlas.status import load_table
from tests.conftest import git_env

MAX_FILE_BYTES = 8192
"""A small size cap, so that a "huge" file costs little to write; a minified line (4,000 characters) fits under it."""
_VOCABULARY = (
    "amber basalt cobalt dune ember fjord glacier harbor iris jasper kelp lagoon meadow nectar onyx prairie quartz "
    "reef summit tundra umber violet willow xenon yarrow zephyr"
)
WORDS = tuple(_VOCABULARY.split())
EXTENSIONS = ("py", "js", "c", "md")
FOLDERS = ("", "src", "lib", "docs/guide")
BRANCHES = ("main", "topic", "hotfix")
RULE_FILES = (".gitignore", ".atlasignore", "docs/.gitignore", ".gitattributes", ".git/info/exclude",
              ".git/info/attributes")  # fmt: skip
PATTERNS = ("*.md", "*.c", "src/", "lib/*.js", "docs/", "*_x*")

words = st.lists(st.sampled_from(WORDS), min_size=2, max_size=6)


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> bool:
    """Run `git -C root *args`; whether it succeeded (a checkout over local edits, a commit of nothing may not)."""
    done = subprocess.run(["git", "-C", str(root), *args], env=env or git_env(), capture_output=True, check=False)
    return done.returncode == 0


def _snake(parts: list[str]) -> str:
    return "_".join(parts)


def _camel(parts: list[str]) -> str:
    return parts[0] + "".join(part.title() for part in parts[1:])


def source(extension: str, parts: list[str], partner: str | None) -> str:
    """A file of `extension` defining identifiers made of `parts`, importing `partner` (a path of the same kind)."""
    comment = " ".join(reversed(parts))
    if extension == "py":
        head = f"from {partner[:-3].replace('/', '.')} import thing\n\n\n" if partner else ""
        body = f'def {_snake(parts)}(value):\n    """{comment}"""\n    return value\n'
        return f"{head}{body}\n\nclass {_camel(parts).title()}:\n    pass\n"
    if extension == "js":
        spec = "." if partner and os.path.basename(partner) == "index.js" else f"./{os.path.basename(partner or '')}"
        head = f'import {{ thing }} from "{spec}";\n\n' if partner else ""
        return f"{head}// {comment}\nexport function {_camel(parts)}(value) {{\n  return value;\n}}\n"
    if extension == "c":
        head = f'#include "{os.path.basename(partner)}"\n\n' if partner else ""
        return f"{head}/* {comment} */\nint {_snake(parts)}(int value) {{ return value; }}\n"
    return f"# {' '.join(parts).title()}\n\n{comment}. See `{_snake(parts)}`.\n"


class UpdateEqualsRebuild(RuleBasedStateMachine):
    """A repository edited step by step; `compare` checks that its updated index equals a rebuild."""

    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp(prefix="atlas-diff-"))
        self.root = self.base / "repo"
        self.root.mkdir()
        # Full builds cut even this small tree into segments (as they cut one of 7-28 MiB), so that updates rewrite
        # some of them and add others: the layout that keeps BM25's statistics a rebuild's (atlas.index.layout).
        self.segment_bytes, layout.MIN_SEGMENT_BYTES = layout.MIN_SEGMENT_BYTES, 1
        (self.base / "outside.py").write_text(source("py", ["outside", "secret"], None))
        self.commits = 0
        self.used: set[str] = {"amber", "basalt"}
        # A dozen files to start with: an update that removes more than a quarter of them is a full build.
        for number, (folder, extension) in enumerate(zip(FOLDERS * 3, EXTENSIONS * 3, strict=True)):
            parts = [WORDS[number], WORDS[-1 - number]]
            self._write(f"{folder}/{_snake(parts)}.{extension}".lstrip("/"), source(extension, parts, None))
            self.used.update(parts)
        _run(self.root, "init", "-q", "-b", "main")
        self._commit()
        self._update()

    def teardown(self) -> None:
        try:
            self.compare()  # the last steps' edits too
        finally:
            layout.MIN_SEGMENT_BYTES = self.segment_bytes
            for path in self._paths(links=False):
                os.chmod(self.root / path, 0o644)
            shutil.rmtree(self.base, ignore_errors=True)

    # --- the tree -------------------------------------------------------------------------------

    def _paths(self, links: bool = True, extension: str | None = None) -> list[str]:
        """The work tree's files (and links, with `links`), `.git` and `.atlas` left out, sorted."""
        found = []
        for directory, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if d not in (".git", ".atlas")]
            for name in files:
                path = Path(directory, name)
                if (links or not path.is_symlink()) and (extension is None or name.endswith(f".{extension}")):
                    found.append(path.relative_to(self.root).as_posix())
        return sorted(found)

    def _regular(self) -> list[str]:
        return [path for path in self._paths(links=False) if path != ".gitignore"]

    def _write(self, path: str, data: str | bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        if isinstance(data, str):
            data = data.encode()
        target.write_bytes(data)

    def _commit(self) -> bool:
        """`git add -A && git commit`, a day after the previous commit (dates fix the recency signal)."""
        self.commits += 1
        day = 1704067200 + self.commits * 86400
        env = {**git_env(), "GIT_AUTHOR_DATE": f"@{day} +0000", "GIT_COMMITTER_DATE": f"@{day} +0000"}
        _run(self.root, "add", "-A", env=env)
        return _run(self.root, "commit", "-q", "--no-verify", "-m", f"step {self.commits} {' '.join(self.used)[:60]}",
                    env=env)  # fmt: skip

    # --- rules: edits ---------------------------------------------------------------------------

    @rule(data=st.data(), extension=st.sampled_from(EXTENSIONS), folder=st.sampled_from(FOLDERS), parts=words)
    def add_file(self, data: st.DataObject, extension: str, folder: str, parts: list[str]) -> None:
        partners = [p for p in self._paths(links=False, extension=extension) if os.path.dirname(p) == folder]
        partner = data.draw(st.sampled_from(partners)) if partners and data.draw(st.booleans()) else None
        self.used.update(parts)
        name = "index" if extension == "js" and data.draw(st.integers(0, 3)) == 0 else _snake(parts[:2])
        path = f"{folder}/{name}.{extension}".lstrip("/")
        self._write(path, source(extension, parts, partner))

    @precondition(lambda self: self._regular())
    @rule(data=st.data(), parts=words)
    def edit_file(self, data: st.DataObject, parts: list[str]) -> None:
        path = data.draw(st.sampled_from(self._regular()))
        extension = path.rsplit(".", 1)[-1]
        partners = [p for p in self._paths(links=False, extension=extension) if p != path]
        partner = data.draw(st.sampled_from(partners)) if partners and data.draw(st.booleans()) else None
        self.used.update(parts)
        self._write(path, source(extension if extension in EXTENSIONS else "md", parts, partner))

    @precondition(lambda self: self._paths())
    @rule(data=st.data())
    def delete_file(self, data: st.DataObject) -> None:
        (self.root / data.draw(st.sampled_from(self._paths()))).unlink()

    @precondition(lambda self: self._paths())
    @rule(data=st.data(), folder=st.sampled_from(FOLDERS), parts=words, with_git=st.booleans())
    def rename_file(self, data: st.DataObject, folder: str, parts: list[str], with_git: bool) -> None:
        path = data.draw(st.sampled_from(self._paths()))
        target = f"{folder}/{_snake(parts[:2])}_x.{path.rsplit('.', 1)[-1]}".lstrip("/")
        if target == path or (self.root / target).exists():
            return
        (self.root / target).parent.mkdir(parents=True, exist_ok=True)
        if not (with_git and _run(self.root, "mv", path, target)):
            os.rename(self.root / path, self.root / target)

    @precondition(lambda self: self._regular())
    @rule(data=st.data())
    def chmod(self, data: st.DataObject) -> None:
        path = self.root / data.draw(st.sampled_from(self._regular()))
        os.chmod(path, 0o644 if path.stat().st_mode & 0o777 == 0 else 0)

    @precondition(lambda self: len(self._regular()) >= 2)
    @rule(data=st.data())
    def to_symlink(self, data: st.DataObject) -> None:
        path, target = data.draw(st.lists(st.sampled_from(self._regular()), min_size=2, max_size=2, unique=True))
        (self.root / path).unlink()
        os.symlink(os.path.relpath(self.root / target, (self.root / path).parent), self.root / path)

    @precondition(lambda self: any((self.root / p).is_symlink() for p in self._paths()))
    @rule(data=st.data(), parts=words)
    def from_symlink(self, data: st.DataObject, parts: list[str]) -> None:
        path = data.draw(st.sampled_from([p for p in self._paths() if (self.root / p).is_symlink()]))
        self.used.update(parts)
        extension = path.rsplit(".", 1)[-1]
        self._write(path, source(extension if extension in EXTENSIONS else "md", parts, None))

    @precondition(lambda self: self._regular())
    @rule(data=st.data(), where=st.sampled_from(["outside", "loop", "directory"]))
    def odd_symlink(self, data: st.DataObject, where: str) -> None:
        """A link the walk leaves out (out of the tree, a loop) or does not follow (to a directory)."""
        path = self.root / data.draw(st.sampled_from(self._regular()))
        path.unlink()
        outside = os.path.relpath(self.base / "outside.py", path.parent)
        target = {"outside": outside, "loop": path.name, "directory": "."}[where]
        os.symlink(target, path)

    @rule(name=st.sampled_from(RULE_FILES), pattern=st.sampled_from(PATTERNS), add=st.booleans())
    def ignore_rule(self, name: str, pattern: str, add: bool) -> None:
        """A rule added to or removed from an ignore file, or a `linguist-generated` attribute, in the tree or in
        `.git/info` (no file of the tree)."""
        rule_file = self.root / name
        line = f"{pattern} linguist-generated" if name.endswith("attributes") else pattern
        if rule_file.is_symlink() or (rule_file.exists() and not rule_file.is_file()):
            return
        rule_file.parent.mkdir(parents=True, exist_ok=True)
        rules = rule_file.read_text(errors="replace").splitlines() if rule_file.exists() else []
        rules = [*rules, line] if add else [rule for rule in rules if rule != line]
        rule_file.write_text("".join(f"{rule}\n" for rule in rules))

    @precondition(lambda self: any(p.startswith(("src/", "lib/")) for p in self._paths()))
    @rule(folder=st.sampled_from(["src", "lib"]), to=st.sampled_from(["src2", "lib/deeper", "docs/moved"]))
    def rename_directory(self, folder: str, to: str) -> None:
        if (self.root / folder).is_dir() and not (self.root / to).exists() and not to.startswith(f"{folder}/"):
            (self.root / to).parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.root / folder, self.root / to)

    @rule(how=st.sampled_from(["reset", "amend", "merge"]), other=st.sampled_from(BRANCHES))
    def rewrite_history(self, how: str, other: str) -> None:
        """HEAD moves back (`reset --hard HEAD~1`), is rewritten (`commit --amend`), or merges another branch."""
        self.commits += 1
        day = 1704067200 + self.commits * 86400
        env = {**git_env(), "GIT_AUTHOR_DATE": f"@{day} +0000", "GIT_COMMITTER_DATE": f"@{day} +0000"}
        if how == "reset":
            _run(self.root, "reset", "-q", "--hard", "HEAD~1", env=env)
        elif how == "amend":
            _run(self.root, "add", "-A", env=env)
            _run(self.root, "commit", "-q", "--amend", "--no-verify", "-m", f"amended {self.commits}", env=env)
        else:  # a conflict leaves its markers in the tree, and the merge for the next commit
            _run(self.root, "merge", "-q", "--no-edit", other, env=env)

    @rule()
    def commit(self) -> None:
        self._commit()

    @rule(branch=st.sampled_from(BRANCHES), create=st.booleans())
    def switch_branch(self, branch: str, create: bool) -> None:
        if not (create and _run(self.root, "checkout", "-q", "-b", f"{branch}-{self.commits}")):
            _run(self.root, "checkout", "-q", branch) or _run(self.root, "checkout", "-q", "-b", branch)

    @precondition(lambda self: self._regular())
    @rule(data=st.data(), kind=st.sampled_from(["binary", "huge", "minified", "latin1", "lfs"]), parts=words)
    def odd_contents(self, data: st.DataObject, kind: str, parts: list[str]) -> None:
        path = data.draw(st.sampled_from(self._regular()))
        text = " ".join(parts)
        self.used.update(parts)
        body = {
            "binary": b"\x00\x01" + text.encode(),
            "huge": (f"# {text}\n" * (MAX_FILE_BYTES // len(text) + 2)).encode(),
            "minified": f"var {_snake(parts)}=1;{'x' * 4200}\n".encode(),
            "latin1": f"# {text} caf\xe9 na\xefve\n".encode("latin-1"),
            "lfs": b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 12\n",
        }[kind]
        self._write(path, body)

    @precondition(lambda self: self._paths(links=False))
    @rule(data=st.data(), seconds=st.sampled_from([0, 1, 3600]))
    def touch(self, data: st.DataObject, seconds: int) -> None:
        path = self.root / data.draw(st.sampled_from(self._paths(links=False)))
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))

    # --- rules: index ---------------------------------------------------------------------------

    def config(self, index_dir: Path | None = None) -> IndexConfig:
        return index_config(self.root, index_dir, jobs=1, max_file_bytes=MAX_FILE_BYTES)

    def _update(self) -> IndexReport:
        """`atlas index`: brings `<repo>/.atlas` up to date, incrementally when it can."""
        return index_repo(self.config(), show_progress=False)

    @rule()
    def update(self) -> None:
        self._update()

    @precondition(lambda self: _can_lock_out())
    @rule()
    def update_locked_out(self) -> None:
        """`atlas index` run by a process that cannot read the files `chmod` locked (another user's run): their reads
        fail, and the next update, which can read them, must read them again."""
        _update_locked_out(self.root, layout.MIN_SEGMENT_BYTES)

    @rule()
    def compare(self) -> None:
        updated = self._update()
        fresh_dir = self.base / "fresh-index"
        shutil.rmtree(fresh_dir, ignore_errors=True)
        fresh = index_repo(self.config(fresh_dir), show_progress=False, rebuild=True)
        assert _report(updated) == _report(fresh), updated.mode
        mine, theirs = snapshot(self.root, self.config()), snapshot(self.root, self.config(fresh_dir))
        for name in theirs:
            assert mine[name] == theirs[name], (name, updated.mode, updated.reason)
        queries = [*sorted(self.used)[:: max(1, len(self.used) // 6)], " ".join(sorted(self.used)[:3])]
        for query in queries:
            assert answers(self.root, self.config(), query) == answers(self.root, self.config(fresh_dir), query), query
        assert index_status(self.config()).fresh == index_status(self.config(fresh_dir)).fresh
        checked = verify_index(self.config())
        assert checked.ok, checked.damaged + checked.stale


_LOCKED_OUT_UPDATE = """
import sys
from pathlib import Path
from atlas.api import index_config, index_repo
from atlas.index import layout
layout.MIN_SEGMENT_BYTES = int(sys.argv[2])
index_repo(index_config(Path(sys.argv[1]), None, jobs=1, max_file_bytes=int(sys.argv[3])), show_progress=False)
"""


def _update_locked_out(root: Path, segment_bytes: int) -> None:
    """Update `<root>/.atlas` (as `_update` does, cutting segments at `segment_bytes`) from a process for which mode
    000 forbids reading: root's read override dropped (`tests.test_bad_input._without_read_override`)."""
    from tests.test_bad_input import _without_read_override

    command = [sys.executable, "-c", _LOCKED_OUT_UPDATE, str(root), str(segment_bytes), str(MAX_FILE_BYTES)]
    subprocess.run(command, check=True, capture_output=True, timeout=300, preexec_fn=_without_read_override)


@cache
def _can_lock_out() -> bool:
    """Whether this process is root and can start one that mode 000 keeps out (the read override dropped)."""
    from tests.test_bad_input import _without_read_override

    if os.geteuid() != 0:
        return False
    try:
        subprocess.run(["true"], check=True, timeout=30, preexec_fn=_without_read_override)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _report(report: IndexReport) -> dict[str, object]:
    """What a run's summary says of the whole index (not of the run: `mode`, `changed`, `seconds`, `phases`...)."""
    return {
        "files_indexed": report.files_indexed, "bytes_indexed": report.bytes_indexed, "symbols": report.symbols,
        "languages": report.languages, "skipped": report.skipped,
        "skipped_examples": report.skipped_examples,
        "deleted_documents": report.deleted_documents,
        "signals": {**report.signals, "git": {k: v for k, v in report.signals.get("git", {}).items() if k != "mined"}},
    }  # fmt: skip


# Manifest fields that differ by design: when and how fast the run went, what kind of run it was (`mode`), where its
# walk started, and the file table's size in bytes (an update keeps removed files' ids as empty rows until a rebuild).
_RUN_FIELDS = {"created_at", "build_seconds", "mode", "walk_started_ns", "files_bytes"}
# Side-store params that say how a value was computed, not what it is, or that describe the files on disk (whose
# sizes grow with the tombstones' rows).
_STORE_HOW = {"graph_mode", "checksums", "sizes"}


def snapshot(root: Path, config: IndexConfig) -> dict[str, Any]:
    """What the live index of `config` holds, keyed by path: file ids differ between an updated index and a rebuild
    (an update keeps a removed file's id as a tombstone, and appends new files)."""
    generation = store.current_generation(config.index_dir)
    assert generation is not None
    manifest = orjson.loads((generation / store.MANIFEST).read_bytes())
    manifest["signals"]["git"].pop("mined", None)  # "incremental" or "full": how, not what
    table = load_table(generation)
    live = [fid for fid, path in enumerate(table.paths) if path]
    columns = ("languages", "roles", "sizes", "mtimes", "ctimes", "hashes", "lines", "imports", "symbols")
    facts = {table.paths[fid]: tuple(str(getattr(table, c)[fid]) for c in columns) for fid in live}
    history = orjson.loads((generation / HISTORY_FILE).read_bytes()) if (generation / HISTORY_FILE).exists() else None
    return {
        "manifest": {k: v for k, v in manifest.items() if k not in _RUN_FIELDS},
        "files": facts,
        "skipped": dict(table.skipped),
        "documents": _documents(config),
        **_side_store(generation, table.paths, live),
        "history": _rounded(history),
    }


def _rounded(value: object) -> object:
    """`value` (JSON) with its floats to 6 significant digits: a merged history decays an older commit's weight in
    another order of operations than a whole mine (0.9847147529344313 for 0.9847147529344312), and the side store
    holds them as float32."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return _close(value) if isinstance(value, float) else value


def _documents(config: IndexConfig) -> dict[str, object]:
    """Each tantivy document's stored fields (its `fid` aside), by path; the count of live documents."""
    reader = open_engine(config, build_if_missing=False).reader
    found = reader.search(tantivy.Query.all_query(), max(1, reader.num_docs))
    docs = {}
    for _, address in found:
        doc = reader.doc(address)
        assert doc.path not in docs, f"{doc.path} has two documents"
        docs[doc.path] = (doc.language, doc.role, doc.outline)
    return {"count": reader.num_docs, "docs": docs}


_PER_FILE = {
    "role", "path_flags", "lines", "content_digest", "file_stamp", "git_commits", "git_last_change", "git_decayed",
    "indegree", "unresolved_imports", "commit_words_length", "pagerank", "language",
}  # fmt: skip
_PAIRS = {
    "cochange_indptr", "cochange_indices", "cochange_data", "cochange_confidence_data", "imports_indptr",
    "imports_indices", "import_edges", "commit_vocab_indices", "commit_postings_indptr", "commit_postings_indices",
    "commit_postings_data",
}  # fmt: skip


def _side_store(generation: Path, paths: list[str], live: list[int]) -> dict[str, Any]:
    """The side store's params and arrays by path: per-file arrays as path → value, pair arrays (CSR, edges,
    postings) as sets of path tuples."""
    side = load_store(generation)
    assert side is not None
    arrays = {name: np.asarray(value) for name, value in side.arrays.items()}
    assert set(arrays) <= _PER_FILE | _PAIRS, f"compare the new arrays too: {set(arrays) - _PER_FILE - _PAIRS}"
    per_file = {name: {paths[fid]: _close(arrays[name][fid]) for fid in live} for name in _PER_FILE & set(arrays)}
    pagerank = arrays.get("pagerank")
    if pagerank is not None:
        per_file["pagerank"] = {paths[fid]: round(float(pagerank[fid]), 6) for fid in live}
    per_file["language"] = {paths[fid]: side.params["languages"][int(arrays["language"][fid])] for fid in live}
    pairs: dict[str, object] = {}
    for prefix, data_names in (("cochange", ("cochange_data", "cochange_confidence_data")), ("imports", ())):
        indptr, indices = arrays.get(f"{prefix}_indptr"), arrays.get(f"{prefix}_indices")
        if indptr is None or indices is None:
            continue
        pairs[prefix] = {
            (paths[fid], paths[int(indices[k])], *(_close(arrays[d][k]) for d in data_names))
            for fid in live
            for k in range(int(indptr[fid]), int(indptr[fid + 1]))
        }
    if "import_edges" in arrays:
        pairs["import_edges"] = {(paths[a], paths[b]) for a, b in arrays["import_edges"].reshape(-1, 2)}
    if "commit_vocab_indices" in arrays:
        vocab, indptr = arrays["commit_vocab_indices"], arrays["commit_postings_indptr"]
        files, counts = arrays["commit_postings_indices"], arrays["commit_postings_data"]
        pairs["commit_postings"] = {
            (int(vocab[w]), paths[int(files[k])], int(counts[k]))
            for w in range(len(vocab))
            for k in range(int(indptr[w]), int(indptr[w + 1]))
        }
    params = {k: v for k, v in side.params.items() if k not in _STORE_HOW}
    # The table of language codes: an update's also holds "other", the language of the rows it keeps for removed
    # files. The codes are internal (the languages are compared by name above, per file); the names held count.
    held = set(per_file["language"].values())
    params["languages"] = [language for language in params.get("languages", []) if language in held]
    params["arrays"] = sorted(params.get("arrays", []))
    return {"store_params": params, "per_file": per_file, "pairs": pairs}


def _close(value: object) -> object:
    """A number rounded to 6 significant digits (float32 sums may differ in their last bits by summation order)."""
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer() or not math.isfinite(number):
        return number
    return float(f"{number:.6g}")


def answers(root: Path, config: IndexConfig, query: str) -> list[tuple[object, ...]]:
    """A search's hits: path, score (6 significant digits), language, role, matched definitions and line ranges, in
    order; and its notes."""
    engine = open_engine(config, build_if_missing=False)
    result = engine.search(query, SearchOptions(limit=20))
    hits = [
        (hit.path, _close(hit.score), hit.language, hit.role, hit.symbols, hit.symbols_omitted,
         tuple((lines.start_line, lines.end_line, lines.symbol) for lines in hit.lines))
        for hit in result.hits
    ]  # fmt: skip
    return [*hits, tuple(result.notes)]


def _budget() -> settings:
    examples = int(os.environ.get("ATLAS_DIFF_EXAMPLES", "8"))
    steps = int(os.environ.get("ATLAS_DIFF_STEPS", "8"))
    shrink = os.environ.get("ATLAS_DIFF_SHRINK", "1") != "0"  # a hunt may skip it: the steps are shown either way
    phases = tuple(phase for phase in Phase if shrink or phase not in (Phase.shrink, Phase.explain))
    return settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, report_multiple_bugs=False, phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip


UpdateEqualsRebuild.TestCase.settings = _budget()
TestUpdateEqualsRebuild = UpdateEqualsRebuild.TestCase


# --- regressions: each difference the machine found, as a plain test ---------------------------


def _repo(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """A committed repository of `files` at `tmp_path / "repo"`."""
    root = tmp_path / "repo"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode() if isinstance(text, str) else text)
    _run(root, "init", "-q", "-b", "main")
    _run(root, "add", "-A")
    _run(root, "commit", "-q", "-m", "initial")
    return root


def _index(root: Path, index_dir: Path | None = None, rebuild: bool = False) -> IndexReport:
    config = index_config(root, index_dir, jobs=1, max_file_bytes=MAX_FILE_BYTES)
    return index_repo(config, show_progress=False, rebuild=rebuild)


def _manifest(index_dir: Path) -> dict[str, Any]:
    generation = store.current_generation(index_dir)
    assert generation is not None
    return orjson.loads((generation / store.MANIFEST).read_bytes())  # type: ignore[no-any-return]


def test_regression_a_run_with_nothing_to_do_reports_the_signals_of_the_index(tmp_path: Path) -> None:
    # `atlas index` run again over an unchanged tree reported no signals: its summary lost the git line ("git
    # history not used: ...") and its JSON the git and graph records a rebuild reports.
    root = _repo(tmp_path, {"a.py": "def alpha():\n    pass\n"})
    first = _index(root)
    again = _index(root)
    assert again.mode == "unchanged"
    assert _report(again) == _report(first)
    assert again.signals["git"]["mined"] == "unchanged"


def test_regression_an_update_names_the_skipped_files_a_rebuild_names(tmp_path: Path) -> None:
    # The summary names the first five files skipped for a reason. An update named those of the earlier runs first,
    # so a binary file added later never showed among them; a rebuild names it.
    root = _repo(tmp_path, {"m.py": "def alpha():\n    pass\n"} | {f"b{i}.dat": b"x\0y" for i in range(6)})
    _index(root)
    (root / "a0.dat").write_bytes(b"a\0b")
    updated = _index(root)
    fresh = _index(root, tmp_path / "fresh-index", rebuild=True)
    assert updated.mode == "incremental"
    assert updated.skipped_examples == fresh.skipped_examples
    assert updated.skipped_examples["binary"][0] == "a0.dat"


def test_regression_an_update_counts_the_parse_errors_of_the_files_it_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file indexed without its definitions (its grammar failed) was counted by the run that parsed it only: the
    # next update's summary and manifest said "parse errors: 0" while a rebuild said 1 and named the file.
    from atlas.parse import symbols

    extract = symbols.extract

    def failing(language: str, source: bytes, *args: object, **kwargs: object) -> object:
        if b"tangle" in source:
            raise symbols.ExtractionError(f"{language}: the grammar gave up")
        return extract(language, source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(symbols, "extract", failing)  # the parse workers are forked from this process
    root = _repo(tmp_path, {"a.py": "def alpha():\n    pass\n", "b.py": "def tangle():\n    pass\n"})
    assert (_index(root).parse_errors, _index(root).parse_errors) == (1, 1)
    (root / "c.py").write_text("def gamma():\n    pass\n")
    updated = _index(root)
    fresh = _index(root, tmp_path / "fresh-index", rebuild=True)
    assert updated.mode == "incremental"
    assert (updated.parse_errors, updated.parse_error_examples) == (fresh.parse_errors, fresh.parse_error_examples)
    assert fresh.parse_error_examples == ["b.py"]
    assert _manifest(root / ".atlas")["parse_errors"] == 1


def test_regression_a_file_the_walk_skips_is_counted_by_the_index_that_an_update_keeps(tmp_path: Path) -> None:
    # A file over the size cap is left out by the walk, so the file table never holds it: an update that found no
    # file of the table changed kept the live generation, whose manifest did not count the new file.
    root = _repo(tmp_path, {"a.py": "def alpha():\n    pass\n"})
    _index(root)
    (root / "huge.md").write_text("# amber\n" * MAX_FILE_BYTES)
    updated = _index(root)
    fresh = _index(root, tmp_path / "fresh-index", rebuild=True)
    assert updated.skipped == fresh.skipped == {"too_large": 1}
    assert _manifest(root / ".atlas")["skipped"] == _manifest(tmp_path / "fresh-index")["skipped"]
    (root / "huge.md").unlink()
    _index(root)
    assert _manifest(root / ".atlas")["skipped"] == {}


def test_regression_attributes_from_outside_the_tree_reach_the_update(tmp_path: Path) -> None:
    # `.git/info/attributes` (or the user's core.attributesFile) is no file of the tree: marking files generated
    # there changed no file the index holds, and an update kept the live generation with the roles it had.
    root = _repo(tmp_path, {"gen/out.py": "def made():\n    pass\n", "m.py": "def mine():\n    pass\n"})
    _index(root)
    (root / ".git/info").mkdir(exist_ok=True)
    (root / ".git/info/attributes").write_text("gen/** linguist-generated\n")
    _index(root)
    _index(root, tmp_path / "fresh-index", rebuild=True)
    generations = [store.current_generation(d) for d in (root / ".atlas", tmp_path / "fresh-index")]
    roles = [_side_store(g, load_table(g).paths, list(range(2)))["per_file"]["role"] for g in generations if g]
    assert roles[0] == roles[1]
    assert roles[1]["gen/out.py"] != roles[1]["m.py"]


def test_regression_an_import_of_the_directory_finds_its_index_after_a_removal(tmp_path: Path) -> None:
    # An update keeps a removed file's row, with an empty path, until a rebuild; the import resolver took that row
    # for a file at the root, so `import ... from "."` (or `require("..")` from a subdirectory) resolved to it, and
    # the edge went with the row: a.js lost its import of index.js (and index.js its PageRank share) until --rebuild.
    files = {"index.js": "export const thing = 1;\n", "a.js": 'import { thing } from ".";\nexport const a = thing;\n'}
    others = {f"lib/m{i}.js": f"export const m{i} = {i};\n" for i in range(4)}  # one removal in 7 stays an update
    root = _repo(tmp_path, files | others | {"old.js": "export const old = 1;\n"})
    _index(root)
    (root / "old.js").unlink()
    assert _index(root).mode == "incremental"
    _index(root, tmp_path / "fresh-index", rebuild=True)
    edges = []
    for index_dir in (root / ".atlas", tmp_path / "fresh-index"):
        generation = store.current_generation(index_dir)
        assert generation is not None
        table = load_table(generation)
        live = [fid for fid, path in enumerate(table.paths) if path]
        edges.append(_side_store(generation, table.paths, live)["pairs"]["import_edges"])
    assert edges[0] == edges[1] == {("a.js", "index.js")}


def test_regression_a_file_whose_read_failed_is_read_again_by_the_next_update(tmp_path: Path) -> None:
    # A file whose read failed was recorded as left out with its stat, and an update read it again only once that
    # stat moved: a read that fails for a reason the stat does not show (another user's run, a group joined, a
    # disk's passing error) left it out of every update until `--rebuild`, which read it.
    if not _can_lock_out():
        pytest.skip("needs root, and a process whose read override can be dropped")
    files = {f"m{i}.py": f"def m{i}():\n    pass\n" for i in range(4)}
    root = _repo(tmp_path, {**files, "b.py": "def beta():\n    pass\n"})
    _index(root)
    (root / "b.py").chmod(0)  # indexed, then locked: its ctime moved, so the next update reads it
    (root / "c.py").write_text("def gamma():\n    pass\n")
    (root / "c.py").chmod(0)  # new, and locked
    fresh_dir = tmp_path / "fresh-index"
    try:
        _update_locked_out(root, layout.MIN_SEGMENT_BYTES)
        assert load_table(store.current_generation(root / ".atlas")).skipped.keys() == {"b.py", "c.py"}  # type: ignore[arg-type]
        updated = _index(root)
        fresh = _index(root, fresh_dir, rebuild=True)
    finally:
        for name in ("b.py", "c.py"):
            (root / name).chmod(0o644)
    _assert_incremental_as_rebuild(root, updated, fresh, fresh_dir)


def test_regression_files_of_a_directory_that_could_not_be_entered_are_added_by_the_next_update(
    tmp_path: Path,
) -> None:
    # A directory that can be listed but not entered (mode 644) lent names the walk could not stat, and it dropped
    # them as gone: now each counts as unreadable, as a directory that cannot be listed (mode 311) does, and an update
    # from a process that can read them adds them as a rebuild indexes them.
    if not _can_lock_out():
        pytest.skip("needs root, and a process whose read override can be dropped")
    files = {f"m{i}.py": f"def m{i}():\n    pass\n" for i in range(4)}
    locked = {"noexec/a.py": "def alpha():\n    pass\n", "nolist/b.py": "def beta():\n    pass\n"}
    root = _repo(tmp_path, {**files, **locked})
    _index(root)
    (root / "noexec").chmod(0o644)
    (root / "nolist").chmod(0o311)
    fresh_dir = tmp_path / "fresh-index"
    try:
        _update_locked_out(root, layout.MIN_SEGMENT_BYTES)
        assert sorted(p for p in load_table(store.current_generation(root / ".atlas")).paths if p) == sorted(files)  # type: ignore[arg-type]
        assert _manifest(root / ".atlas")["skipped"] == {"unreadable": 2}  # noexec/a.py, nolist
        updated = _index(root)
        fresh = _index(root, fresh_dir, rebuild=True)
    finally:
        for name in ("noexec", "nolist"):
            (root / name).chmod(0o755)
    _assert_incremental_as_rebuild(root, updated, fresh, fresh_dir)


def _assert_incremental_as_rebuild(root: Path, updated: IndexReport, fresh: IndexReport, fresh_dir: Path) -> None:
    """`updated`, an incremental update of `root`'s index (run while its files were still locked: root reads them,
    and unlocking them moves their ctime), reports and holds what `fresh`, a rebuild into `fresh_dir`, does."""
    assert updated.mode == "incremental"
    assert _report(updated) == _report(fresh)
    mine, theirs = snapshot(root, index_config(root)), snapshot(root, index_config(root, fresh_dir))
    for name in theirs:
        assert mine[name] == theirs[name], name
