"""Hostile data end to end: odd file names, remembered index settings and the small promises around them.

Every test builds a real git repository in a temporary directory and drives the real CLI
(in-process through click's CliRunner, or as a subprocess when stderr timing matters).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from click.testing import CliRunner, Result

from atlas.cli import cli
from atlas.index import layout, store
from atlas.signals.store import PARAMS
from tests.conftest import GIT_ENV, Symlink, git, git_env

ATLAS = Path(sys.executable).with_name("atlas")

NEWLINE_NAME = "we\nird.py"
LATIN1_NAME = b"caf\xe9_thing.py"
LATIN1_DISPLAY = "caf\\xe9_thing.py"  # how every output spells a name that is not UTF-8

PLAIN = {"plain.py": "def beta_gadget():\n    return 2\n"}
WITH_NEWLINE: dict[str | bytes, Any] = {**PLAIN, NEWLINE_NAME: "def alpha_widget():\n    return 1\n"}
WITH_LATIN1: dict[str | bytes, Any] = {**PLAIN, LATIN1_NAME: "def gamma_gizmo():\n    return 3\n"}


def invoke(*args: str) -> Result:
    """Run the CLI in-process, quietly, stdout and stderr apart."""
    return CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)


def indexed_generation(root: Path) -> Path:
    """Index `root` and return its live generation's directory."""
    index(root)
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    return generation


def index(root: Path, *flags: str) -> dict[str, Any]:
    """`atlas index ROOT --format json FLAGS...`: the report; the run must succeed."""
    result = invoke("index", str(root), "--jobs", "1", "--format", "json", *flags)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def search(root: Path, *args: str) -> Result:
    """`atlas search --repo ROOT --format jsonl ARGS...`."""
    return invoke("search", "--repo", str(root), "--format", "jsonl", *args)


def hits(result: Result) -> list[dict[str, Any]]:
    """The JSONL hit records of a successful search."""
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def status_code(root: Path) -> int:
    """Exit status of `atlas status`."""
    return invoke("status", "--repo", str(root), "--format", "json").exit_code


def verify(root: Path) -> Result:
    """`atlas verify --format json`."""
    return invoke("verify", "--repo", str(root), "--format", "json")


def manifest(root: Path) -> dict[str, Any]:
    """The live generation's manifest."""
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    return orjson.loads((generation / store.MANIFEST).read_bytes())


# --- file names that break line- or UTF-8-based formats ---------------------------------------


def test_a_newline_in_a_tracked_name_keeps_the_index_usable(make_repo: Callable[..., Path]) -> None:
    root = make_repo(WITH_NEWLINE)
    report = index(root)
    assert report["files_indexed"] == 2
    assert [hit["path"] for hit in hits(search(root, "alpha_widget"))][:1] == [NEWLINE_NAME]
    assert [hit["path"] for hit in hits(search(root, "beta_gadget"))][:1] == ["plain.py"]
    assert verify(root).exit_code == 0
    assert status_code(root) == 0
    again = index(root)
    assert again["mode"] == "unchanged"


def test_a_name_that_is_not_utf8_is_indexed_with_history_and_served(make_repo: Callable[..., Path]) -> None:
    root = make_repo(WITH_LATIN1)
    report = index(root)  # history on: the default
    assert report["signals"]["git"]["available"] is True
    found = hits(search(root, "gamma_gizmo", "--explain"))
    assert found[0]["path"] == LATIN1_DISPLAY
    assert "gamma_gizmo" in found[0]["lines"][0]["text"]
    recency = next(term for term in found[0]["explain"] if term["signal"] == "recency")
    assert recency["raw"] > 0, "git history must be keyed by the same path as the file"
    quick = invoke("quick", "gamma_gizmo", "--repo", str(root), "--format", "json")
    assert quick.exit_code == 0, quick.stderr
    entries = json.loads(quick.stdout)["entries"]
    assert any(entry["path"] == LATIN1_DISPLAY for entry in entries)
    assert verify(root).exit_code == 0
    assert status_code(root) == 0
    assert index(root)["mode"] == "unchanged"


def test_regression_a_repository_whose_path_is_not_utf8_is_indexed_elsewhere_and_reported(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # The reports of `index`, `status`, `verify` and `export` crashed ("unexpected error: TypeError: str is not
    # valid UTF-8") on the root's path; the default index dir, which tantivy cannot open, did too.
    root = make_repo(WITH_LATIN1, name=os.fsdecode(b"r\xe9po"))
    shown = str(root).replace("\udce9", "\\xe9")  # how every output spells the path
    refused = invoke("index", str(root), "--jobs", "1")
    assert refused.exit_code == 2, refused.stderr
    message, hint = refused.stderr.strip().splitlines()
    assert "not valid UTF-8" in message and "--index-dir" in hint, refused.stderr
    assert not (root / ".atlas").exists()
    elsewhere = tmp_path / "index"
    report = index(root, "--index-dir", str(elsewhere))
    assert report["root"] == shown and report["files_indexed"] == 2
    for command in ("status", "verify"):
        result = invoke(command, "--repo", str(root), "--index-dir", str(elsewhere), "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout).get("root", shown) == shown
    found = hits(search(root, "--index-dir", str(elsewhere), "gamma_gizmo"))
    assert found[0]["path"] == LATIN1_DISPLAY
    exported = invoke("export", str(root / "index.tgz"), "--repo", str(root), "--index-dir", str(elsewhere),
                      "--format", "json")  # fmt: skip
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["archive"] == f"{shown}/index.tgz"


def test_verify_compares_the_side_store_with_the_file_table(make_repo: Callable[..., Path]) -> None:
    from atlas.signals.store import load_store, write_store

    root = make_repo({"a.py": "def one(): pass\n", "b.py": "def two(): pass\n"})
    generation = indexed_generation(root)
    side = load_store(generation)
    assert side is not None
    side.paths = list(reversed(side.paths))  # rows aligned to the wrong files, checksums rewritten
    side.arrays = {name: np.array(array) for name, array in side.arrays.items()}  # copies: the files are rewritten
    write_store(generation, side)
    result = verify(root)
    assert result.exit_code == 4
    assert any("side store" in line for line in json.loads(result.stdout)["damaged"])


@pytest.mark.parametrize("damage", [b'{"files": {"a.py": {"commits": 1', b'{"files": [], "cochange": {}}', b"null"])
def test_verify_reports_a_damaged_history_and_the_next_index_mines_it_again(
    make_repo: Callable[..., Path], damage: bytes
) -> None:
    # A truncated or misshapen history.json passed `verify`; `{"files": []}` crashed the next update's load.
    from atlas.signals.compute import HISTORY_FILE

    root = make_repo({"a.py": "def one(): pass\n"})
    index(root)
    assert verify(root).exit_code == 0
    generation = store.current_generation(root / ".atlas")
    assert generation is not None and (generation / HISTORY_FILE).is_file()
    (generation / HISTORY_FILE).write_bytes(damage)
    result = verify(root)
    assert result.exit_code == 4, result.stdout
    assert any(HISTORY_FILE in line for line in json.loads(result.stdout)["damaged"])
    (root / "a.py").write_text("def one(): return 2\n")
    report = index(root)
    assert report["mode"] == "incremental" and report["signals"]["git"]["available"] is True
    assert verify(root).exit_code == 0


def _history_replaced_by_a_fifo(history: Path) -> None:
    history.unlink()
    os.mkfifo(history)


HISTORY_REPLACED: dict[str, Callable[[Path], None]] = {
    "emptied": lambda history: history.write_bytes(b""),
    "cut short": lambda history: os.truncate(history, history.stat().st_size // 2),
    "grown": lambda history: history.write_bytes(history.read_bytes() + b"\0garbage"),
    "gone": lambda history: history.unlink(),
    "a directory": lambda history: (history.unlink(), history.mkdir()),
    "a fifo": _history_replaced_by_a_fifo,
}


@pytest.mark.parametrize("damage", list(HISTORY_REPLACED), ids=list(HISTORY_REPLACED))
def test_regression_a_history_of_another_size_or_kind_is_damage_to_status_as_to_verify(
    make_repo: Callable[..., Path], damage: str
) -> None:
    # `verify` (and every import) called the index damaged, `status` called it fresh (exit 0): it never looked at the
    # history. Checked by one stat against the size the manifest records, as the file table is; a same-size garble
    # is found by `verify`, which reads every file.
    from atlas.signals.compute import HISTORY_FILE

    root = make_repo({"a.py": "def one(): pass\n", "b.py": "import a\n"})
    generation = indexed_generation(root)
    HISTORY_REPLACED[damage](generation / HISTORY_FILE)
    assert verify(root).exit_code == 4
    result = invoke("status", "--repo", str(root))
    assert result.exit_code == 4 and HISTORY_FILE in result.stderr, result.stderr
    assert index(root)["signals"]["git"]["mined"] == "full"  # the next update mines it again
    assert verify(root).exit_code == 0 and status_code(root) == 0


HISTORY_DAMAGE = {
    "count-as-text": ("files", "a.py", "commits", "many"),
    "decay-as-text": ("files", "a.py", "decayed", "nan"),
    "count-past-int64": ("files", "a.py", "last_change", 2**70),
    "support-as-text": ("cochange", "a.py", 0, {"path": "b.py", "support": "x", "confidence": 1}),
    "words-as-text": ("words", "a.py", None, "abc"),
    "moved-to-a-number": ("moved", "gone.py", None, 5),
    "commits-mined-as-text": ("commits_mined", None, None, "lots"),
    "newest-time-as-text": ("newest_time", None, None, "x"),
    "reason-as-number": ("reason", None, None, 5),
    "head-as-number": ("head", None, None, 5),
    "head-as-a-branch-name": ("head", None, None, "main"),  # `main..HEAD` is empty: the new commits were lost
    # A map that is no map: "unexpected error: AttributeError" from verify, export and every update (exit 3).
    "moved-as-null": ("moved", None, None, None),
    "words-as-a-number": ("words", None, None, -1),
}


@pytest.mark.parametrize("damage", HISTORY_DAMAGE.values(), ids=HISTORY_DAMAGE.keys())
def test_a_history_with_a_field_of_the_wrong_type_is_damaged_and_mined_again(
    make_repo: Callable[..., Path], damage: tuple[str, str | None, str | int | None, object]
) -> None:
    # Valid JSON with a count written as text (a hand edit, another tool's writer) passed `verify` and failed the next
    # update with "unexpected error: TypeError" (exit 3); words as a string were merged letter by letter.
    from atlas.signals.compute import HISTORY_FILE

    root = make_repo({"a.py": "def one(): pass\n", "b.py": "def two(): pass\n"})
    generation = indexed_generation(root)
    data = orjson.loads((generation / HISTORY_FILE).read_bytes())
    field, key, item, value = damage
    if key is None:
        data[field] = value
    elif item is None:
        data[field][key] = value
    else:
        data[field][key][item] = value
    (generation / HISTORY_FILE).write_text(json.dumps(data))
    result = verify(root)
    assert result.exit_code == 4, result.stdout
    assert any(HISTORY_FILE in line for line in json.loads(result.stdout)["damaged"])
    (root / "a.py").write_text("def one(): return 2\n")
    git(root, "commit", "-qam", "two")
    report = index(root)
    assert report["signals"]["git"]["available"] is True and report["signals"]["git"]["mined"] == "full"
    assert report["signals"]["git"]["commits_mined"] == 2
    assert verify(root).exit_code == 0


@pytest.mark.parametrize("skipped", [None, -1, "x", []])
def test_regression_a_file_table_whose_skipped_map_is_no_map_is_damage_every_judge_names_and_a_build_mends(
    make_repo: Callable[..., Path], skipped: object
) -> None:
    # `status` called it damaged; verify, export and `atlas index` failed with "unexpected error: AttributeError"
    # (exit 3), so nothing could mend the index but a hand-deleted .atlas.
    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    table = orjson.loads((generation / store.FILES).read_bytes())
    (generation / store.FILES).write_bytes(orjson.dumps({**table, "skipped": skipped}))
    for command in (["status"], ["verify"], ["export", str(root.parent / "x.tgz")]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.stderr)
        assert "unexpected" not in result.stderr, result.stderr
    report = index(root)
    assert report["mode"] == "full" and "damaged" in report["reason"], report
    assert verify(root).exit_code == 0


def test_regression_a_file_table_of_another_size_than_the_manifest_says_is_damage_to_every_judge(
    make_repo: Callable[..., Path],
) -> None:
    # Searches refused it (exit 4: "files.json has N bytes, the manifest says M") while `status` and `verify` called
    # the index sound (exit 0): only the search compared the table's size with the manifest's.
    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    table = orjson.loads((generation / store.FILES).read_bytes())
    (generation / store.FILES).write_bytes(orjson.dumps({**table, "unknown": [1, 2, 3]}))
    for command in (["status"], ["verify"], ["search", "one"]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.stderr)
    assert "files.json has" in invoke("status", "--repo", str(root)).stderr
    assert index(root)["mode"] == "full"
    assert verify(root).exit_code == 0


PARAMS_DAMAGE: dict[str, tuple[tuple[str, ...], object]] = {
    "git-as-text": (("git",), "x"),
    "commit-words-as-null": (("commit_words",), None),
    "commit-word-files-as-text": (("commit_words", "files"), "x"),
    "checksums-as-a-list": (("checksums",), []),
    "a-dtype-as-a-map": (("dtypes", "lines"), {}),
}


@pytest.mark.parametrize("damage", PARAMS_DAMAGE.values(), ids=PARAMS_DAMAGE.keys())
def test_regression_side_store_parameters_of_the_wrong_type_are_damage_every_judge_names_and_a_build_mends(
    make_repo: Callable[..., Path], damage: tuple[tuple[str, ...], object]
) -> None:
    # Read as maps, numbers or type names, they failed searches, verify or export with "unexpected error:
    # AttributeError/TypeError" (exit 3), and `atlas index` kept the store, so every later search failed the same way.
    root = make_repo({"a.py": "def one(): pass\n", "b.py": "import a\n"})
    generation = indexed_generation(root)
    params = orjson.loads((generation / store.SIGNALS_DIR / PARAMS).read_bytes())
    *parents, name = damage[0]
    holder = params
    for parent in parents:
        holder = holder[parent]
    holder[name] = damage[1]
    (generation / store.SIGNALS_DIR / PARAMS).write_bytes(orjson.dumps(params))
    for command in (["status"], ["verify"], ["search", "one"], ["query", "one"]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.stderr)
        assert "unexpected" not in result.stderr, result.stderr
    assert index(root)["mode"] == "full"
    assert verify(root).exit_code == 0
    assert hits(search(root, "one"))[0]["path"] == "a.py"


@pytest.mark.parametrize("value", [None, "x", 1e308, -1, True, []])
def test_regression_a_manifest_walk_time_that_is_no_time_is_damage_and_rebuilt(
    make_repo: Callable[..., Path], value: object
) -> None:
    # Compared with each file's stamp, it failed `status` and every `atlas index` with "unexpected error: TypeError"
    # (exit 3), so nothing mended it; `verify` called the index sound.
    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**manifest(root), "walk_started_ns": value}))
    for command in (["status"], ["verify"]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.stderr)
        assert "unexpected" not in result.stderr, result.stderr
    assert index(root)["mode"] == "full"
    assert verify(root).exit_code == status_code(root) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("files_indexed", 1e308), ("files_indexed", -1), ("signals", "x"), ("signals", {"git": 5}),
     ("schema_version", None)],
)  # fmt: skip
def test_regression_a_manifest_field_of_the_wrong_type_is_damage_to_status_and_verify_alike(
    make_repo: Callable[..., Path], field: str, value: object
) -> None:
    # `status` called a file count that is no count, or signals that are no object, damage (exit 4) while `verify`
    # said all was well; a schema version that is none was damage to verify and searches ("another Atlas format (3,
    # this Atlas reads 3)") while `status` called the index fresh.
    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**manifest(root), field: value}))
    for command in (["status"], ["verify"]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.stdout, result.stderr)
        assert "unexpected" not in result.stderr, result.stderr
    assert index(root)["mode"] == "full"
    assert verify(root).exit_code == status_code(root) == 0


def test_an_index_of_an_older_format_is_rebuilt_with_the_reason(make_repo: Callable[..., Path]) -> None:
    from atlas.config import FORMAT_VERSION

    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    old = {**manifest(root), "format_version": 1}
    (generation / store.MANIFEST).write_bytes(orjson.dumps(old))
    assert FORMAT_VERSION > 1
    result = search(root, "one")
    assert result.exit_code == 4 and "format" in result.stderr
    report = index(root)
    assert report["mode"] == "full" and "format 1" in report["reason"]
    assert hits(search(root, "one"))[0]["path"] == "a.py"


def test_an_index_parsed_by_an_older_atlas_is_searched_then_rebuilt_with_the_reason(
    make_repo: Callable[..., Path],
) -> None:
    # An index from before the parsers knew Julia: same format, so searches read it; `atlas index` re-parses.
    from atlas.config import PARSE_VERSION

    root = make_repo({"src/frames.jl": "function nrow_count(df)\n    length(df.cols)\nend\n"})
    generation = indexed_generation(root)
    older = {key: value for key, value in manifest(root).items() if key != "parse_version"}
    (generation / store.MANIFEST).write_bytes(orjson.dumps(older))
    assert PARSE_VERSION > 1
    assert hits(search(root, "nrow_count"))[0]["path"] == "src/frames.jl"
    report = index(root)
    assert report["mode"] == "full" and "parse version 1" in report["reason"]
    assert manifest(root)["parse_version"] == PARSE_VERSION
    assert index(root)["mode"] == "unchanged"


def test_regression_an_index_parsed_by_a_newer_atlas_is_searched_then_rebuilt_with_a_true_reason(
    make_repo: Callable[..., Path],
) -> None:
    # A cache saved by a newer Atlas, restored by an older one: the reason said "this Atlas parses more".
    from atlas.config import PARSE_VERSION

    root = make_repo({"src/frames.py": "def nrow_count(df):\n    return len(df.cols)\n"})
    generation = indexed_generation(root)
    (generation / store.MANIFEST).write_bytes(orjson.dumps({**manifest(root), "parse_version": PARSE_VERSION + 1}))
    assert hits(search(root, "nrow_count"))[0]["path"] == "src/frames.py"
    report = index(root)
    assert report["mode"] == "full", report
    assert f"parse version {PARSE_VERSION + 1}" in report["reason"] and "parses more" not in report["reason"]
    assert manifest(root)["parse_version"] == PARSE_VERSION


DAMAGE = {
    "CURRENT holds bytes that are not text": lambda generation: (generation.parent / store.CURRENT).write_bytes(
        b"gen-00000\xff"
    ),
    "a tantivy positions file is missing": lambda generation: [
        path.unlink() for path in (generation / store.TANTIVY_DIR).glob("*.pos")
    ],
    # Read as "no side store": searches ranked without signals and `status` said fresh, where `verify` said damaged.
    "the side store's parameters are gone": lambda generation: (generation / store.SIGNALS_DIR / PARAMS).unlink(),
    "a side-store array is cut short": lambda generation: os.truncate(
        _largest_array(generation), _largest_array(generation).stat().st_size - 8
    ),
}


def _largest_array(generation: Path) -> Path:
    return max((generation / store.SIGNALS_DIR).glob("*.npy"), key=lambda path: path.stat().st_size)


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_damaged_index_is_reported_as_damaged_and_rebuilt_by_atlas_index(
    make_repo: Callable[..., Path], damage: str
) -> None:
    root = make_repo({"a.py": "def one(): pass\n", "b.py": "import a\n\ndef two(): return a.one()\n"})
    generation = indexed_generation(root)
    DAMAGE[damage](generation)
    result = search(root, "one two")  # two words: a phrase query reads the positions
    assert result.exit_code == 4, result.output + result.stderr
    assert "rebuild" in result.stderr and "unexpected" not in result.stderr
    assert verify(root).exit_code == status_code(root) == 4
    assert index(root, "--rebuild")["mode"] == "full"  # the hint's command
    assert hits(search(root, "one"))[0]["path"] == "a.py"
    assert verify(root).exit_code == 0


@pytest.mark.parametrize("part", ["pagerank.npy", "cochange_indptr.npy"])
def test_regression_a_side_store_file_grown_past_what_was_written_is_damage_that_atlas_index_mends(
    make_repo: Callable[..., Path], part: str
) -> None:
    # Bytes appended to a side-store file (a bad copy, a restore over a longer file) were damage to `verify` (its
    # size is not the one written), but `status` called the index fresh and `atlas index` found nothing to do: the
    # index stayed damaged to `verify` (and to every import) for good. A search, reading only what the header says,
    # may answer from it.
    root = make_repo({"a.py": "def one(): pass\n", "b.py": "import a\n\ndef two(): return a.one()\n"})
    generation = indexed_generation(root)
    with open(generation / store.SIGNALS_DIR / part, "ab") as handle:
        handle.write(b"\0garbage\xff")
    assert verify(root).exit_code == 4
    result = invoke("status", "--repo", str(root))
    assert result.exit_code == 4, result.stderr
    assert f"{part} has" in result.stderr and "were written" in result.stderr, result.stderr
    assert hits(search(root, "one"))[0]["path"] == "a.py"
    report = index(root)
    assert report["mode"] == "full" and "damaged" in report["reason"], report
    assert verify(root).exit_code == 0
    assert hits(search(root, "one"))[0]["path"] == "a.py"


# --- index settings are remembered --------------------------------------------------------------

BIG_FILE = "big_payload.py"
BIG_TEXT = "def colossal_payload():\n    return 1\n" + "# filler line for size\n" * 60_000  # ~1.4 MB


def _history_repo(make_repo: Callable[..., Path]) -> Path:
    root = make_repo({"core.py": "def tangerine_core():\n    return 0\n", BIG_FILE: BIG_TEXT})
    for day in range(2, 6):
        with open(root / "core.py", "a") as handle:
            handle.write(f"# change {day}\n")
        env = {**GIT_ENV, "GIT_AUTHOR_DATE": f"2024-03-0{day}T00:00:00+00:00"}
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
        subprocess.run(
            ["git", "-C", str(root), "commit", "-qam", f"change {day}"], env={**git_env(), **env}, check=True
        )
    return root


def _git_params(root: Path) -> dict[str, Any]:
    return manifest(root)["signals"]["git"]


def _indexed(root: Path) -> list[str]:
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    return [path for path in orjson.loads((generation / store.FILES).read_bytes())["paths"] if path]


SETTING_CASES = {
    "no-history": (["--no-history"], lambda root: _git_params(root)["available"] is False),
    "history": (["--history", "2"], lambda root: _git_params(root)["commits_mined"] == 2),
    "since": (["--since", "2024-03-02 12:00"], lambda root: _git_params(root)["commits_mined"] == 3),
    "max-file-size": (["--max-file-size", "3000000"], lambda root: BIG_FILE in _indexed(root)),
}


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_an_index_flag_is_remembered_by_later_runs(make_repo: Callable[..., Path], case: str) -> None:
    flags, holds = SETTING_CASES[case]
    root = _history_repo(make_repo)
    default = index(root)
    assert default["signals"]["git"]["commits_mined"] == 5 and default["files_indexed"] == 1
    assert not holds(root)

    built = index(root, *flags)
    assert built["mode"] == "full" and "settings changed" in built["reason"]
    assert holds(root)
    assert status_code(root) == 0

    again = index(root)
    assert again["mode"] == "unchanged" and holds(root)

    with open(root / "core.py", "a") as handle:
        handle.write("def fresh_edit():\n    return 1\n")
    updated = index(root)
    assert updated["mode"] == "incremental" and holds(root)

    (root / "extra.py").write_text("def extra_added():\n    return 1\n")
    quick = invoke("quick", "tangerine core", "--repo", str(root), "--format", "json")
    assert quick.exit_code == 0, quick.stderr
    assert manifest(root)["mode"] == "incremental" and holds(root)
    assert status_code(root) == 0


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_a_long_lived_config_follows_a_flag_given_meanwhile(make_repo: Callable[..., Path], case: str) -> None:
    from atlas.api import index_config, index_status, refresh_index

    flags, holds = SETTING_CASES[case]
    root = _history_repo(make_repo)
    index(root)
    session_config = index_config(root, jobs=1)  # what `atlas mcp` resolves when it starts
    index(root, *flags)
    assert index_status(session_config).fresh
    (root / "extra.py").write_text("def extra_added():\n    return 1\n")
    report = refresh_index(session_config, show_progress=False)  # the MCP server's refresh
    assert report is not None and report.mode == "incremental" and holds(root)


def test_remembered_size_cap_keeps_the_big_file_searchable(make_repo: Callable[..., Path]) -> None:
    root = _history_repo(make_repo)
    index(root, "--max-file-size", "3000000")
    (root / "core.py").write_text("def tangerine_core():\n    return 1\n")
    index(root)
    assert hits(search(root, "colossal_payload"))[0]["path"] == BIG_FILE


def test_an_explicit_flag_overrides_the_remembered_one_and_says_which(make_repo: Callable[..., Path]) -> None:
    root = _history_repo(make_repo)
    index(root, "--history", "2")
    report = index(root, "--history", "4")
    assert report["mode"] == "full" and "history_commits" in report["reason"]
    assert _git_params(root)["commits_mined"] == 4
    back = index(root, "--reset-settings")
    assert back["mode"] == "full" and _git_params(root)["commits_mined"] == 5


def test_history_flags_turn_history_back_on(make_repo: Callable[..., Path]) -> None:
    root = _history_repo(make_repo)
    index(root, "--no-history")
    report = index(root, "--history", "3")
    assert report["signals"]["git"]["available"] is True and _git_params(root)["commits_mined"] == 3


def test_an_edited_config_file_wins_over_the_remembered_flag(make_repo: Callable[..., Path]) -> None:
    root = _history_repo(make_repo)
    (root / "atlas.toml").write_text("[index]\nhistory_commits = 4\n")
    assert _git_params_after(root) == 4
    index(root, "--history", "2")  # the flag wins over the file ...
    assert status_code(root) == 0 and index(root)["mode"] == "unchanged" and _git_params(root)["commits_mined"] == 2
    (root / "atlas.toml").write_text("[index]\nhistory_commits = 3\n")  # ... until the file changes
    assert status_code(root) == 7
    assert index(root)["mode"] == "full" and _git_params(root)["commits_mined"] == 3


def _git_params_after(root: Path) -> int:
    index(root)
    return int(_git_params(root)["commits_mined"])


# --- polish ---------------------------------------------------------------------------------------


def test_status_after_a_fresh_clone_and_restored_index_is_fresh(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_repo({"a.py": "def one(): pass\n", "pkg/b.py": "def two(): pass\n"})
    index(root)
    archive = tmp_path / "index.tgz"
    assert invoke("export", str(archive), "--repo", str(root), "--format", "json").exit_code == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    for path in (clone / "a.py", clone / "pkg/b.py"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # mtimes differ from the indexed ones
    assert invoke("import", str(archive), "--repo", str(clone), "--format", "json").exit_code == 0
    result = invoke("status", "--repo", str(clone), "--format", "json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["changed"] == []
    (clone / "a.py").write_text("def one(): return 1\n")  # same path, real edit
    result = invoke("status", "--repo", str(clone), "--format", "json")
    assert result.exit_code == 7 and json.loads(result.stdout)["changed"] == ["a.py"]


def test_verify_without_an_index_says_no_index_like_status(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"a.py": "def one(): pass\n"})
    status = invoke("status", "--repo", str(root))
    result = invoke("verify", "--repo", str(root))
    assert result.exit_code == status.exit_code == 3
    assert "no index" in result.stderr and "hint:" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("current", ["gen-000099\n", ""])
def test_current_naming_no_generation_is_damage_for_status_search_and_verify_alike(
    make_repo: Callable[..., Path], current: str
) -> None:
    # `status` said "no index" (exit 3) where `search` and `verify` said damaged (exit 4).
    root = make_repo({"a.py": "def one(): pass\n"})
    index(root)
    (root / ".atlas" / store.CURRENT).write_text(current)
    for command in (["status"], ["verify"], ["search", "one"]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.stderr)
        assert "CURRENT" in result.stderr + result.stdout, command  # verify reports on stdout
    assert "CURRENT" in invoke("status", "--repo", str(root)).stderr
    assert index(root)["mode"] == "full"


def test_regression_a_current_that_is_a_directory_is_damage_that_atlas_index_names_not_an_unexpected_error(
    make_repo: Callable[..., Path],
) -> None:
    # Readers called the index damaged (exit 4); `atlas index` built a whole generation, then failed to rename
    # CURRENT over the directory: "unexpected error: IsADirectoryError" (exit 3), and the generation was lost.
    root = make_repo({"a.py": "def one(): pass\n"})
    index(root)
    current = root / ".atlas" / store.CURRENT
    current.unlink()
    (current / "kept").mkdir(parents=True)
    for command in (["status"], ["verify"], ["search", "one"]):
        assert invoke(*command, "--repo", str(root)).exit_code == 4, command
    result = invoke("index", str(root))
    assert result.exit_code == 4, result.stderr
    assert "unexpected" not in result.stderr and f"{current} is a directory" in result.stderr, result.stderr
    assert "hint: remove" in result.stderr
    assert (current / "kept").is_dir()  # what the user put there is theirs: never deleted
    shutil.rmtree(current)
    assert index(root)["mode"] == "full"  # the hint's way out
    assert hits(search(root, "one"))[0]["path"] == "a.py"


def test_a_generation_that_is_a_link_is_damage_and_never_read_through(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    # CURRENT's generation swapped for a link (a restored cache, a hostile .atlas) was read wherever it pointed.
    import shutil

    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(generation, elsewhere)
    generation.symlink_to(elsewhere, target_is_directory=True)
    for command in (["status"], ["verify"], ["search", "one"], ["export", str(tmp_path / "x.tgz")]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code in (3, 4), (command, result.output)
        assert result.stdout == "" or json.loads(result.stdout).get("damaged"), command
    said = search(root, "one").stderr
    assert f"CURRENT names {generation.name}, which is a symbolic link\n" in said, said  # was "which a link"
    report = index(root)
    assert report["mode"] == "full" and "link" in report["reason"]
    assert hits(search(root, "one"))[0]["path"] == "a.py"
    assert (elsewhere / store.MANIFEST).is_file()  # what the link pointed at is left alone


def test_an_unknown_language_filter_names_the_known_ones(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"a.py": "def one(): pass\n"})
    index(root)
    result = search(root, "one lang:klingon")
    assert result.exit_code == 2
    assert "klingon" in result.stderr and "python" in result.stderr and "rust" in result.stderr
    assert search(root, "--lang", "klingon", "one").exit_code == 2
    assert hits(search(root, "one lang:Python"))[0]["path"] == "a.py"


def test_an_incremental_summary_still_counts_skipped_files(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"a.py": "def one(): pass\n", "blob.bin": b"\x00\x01binary", "min.js": "var a=1;" * 1280})
    first = index(root)
    assert first["skipped"] == {"binary": 1, "minified": 1}
    (root / "a.py").write_text("def one(): return 1\n")
    second = index(root)
    assert second["mode"] == "incremental" and second["skipped"] == first["skipped"]
    assert index(root)["skipped"] == first["skipped"]  # unchanged


def test_a_symlink_to_a_walked_directory_is_a_duplicate_not_a_loop(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"src/a.py": "def one(): pass\n", "z_alias": Symlink("src"), "up/loop": Symlink("..")})
    report = index(root)
    assert report["skipped"] == {"duplicate": 1, "symlink_loop": 1}
    assert report["skipped_examples"] == {"duplicate": ["z_alias"], "symlink_loop": ["up/loop"]}


def test_snippets_drop_a_utf8_bom(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"bom.py": "\ufeffdef quince_marmalade():\n    return 1\n".encode()})
    index(root)
    text = hits(search(root, "quince_marmalade"))[0]["lines"][0]["text"]
    assert text.startswith("def quince_marmalade") and "\ufeff" not in text


def test_git_mining_reports_progress_on_a_long_history(tmp_path: Path) -> None:
    root = tmp_path / "long"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commits = 12_000
    stream = []
    for n in range(1, commits + 1):
        data = f"v{n}\n".encode()
        stream.append(
            b"commit refs/heads/main\n"
            + f"committer Atlas <a@example.com> {1_700_000_000 + n} +0000\n".encode()
            + b"data 1\nc\n"
            + f"M 100644 inline f{n % 7}.txt\ndata {len(data)}\n".encode()
            + data
        )
    fast_import = ["git", "-C", str(root), "fast-import", "--quiet"]
    subprocess.run(fast_import, input=b"".join(stream), env=git_env(), check=True)
    git(root, "checkout", "-q", "-f", "main")
    command = [str(ATLAS)] if ATLAS.exists() else [sys.executable, "-m", "atlas"]
    result = subprocess.run(
        [*command, "index", str(root), "--jobs", "1", "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if "git history" in line]
    assert any("5000 commits" in line for line in progress), result.stderr
    assert json.loads(result.stdout)["signals"]["git"]["commits_mined"] == 10_000
    quiet = subprocess.run([*command, "-q", "index", str(root), "--rebuild", "--jobs", "1"], capture_output=True,
                           text=True, timeout=300, check=False)  # fmt: skip
    assert quiet.returncode == 0 and "git history" not in quiet.stderr
    shutil.rmtree(root)


def test_a_name_holding_an_escapes_text_is_read_as_it_is(make_repo: Callable[..., Path]) -> None:
    # `back\xe9slash.py` spelled with a backslash (ASCII): its display path is the escape of a byte 0xE9, and a
    # read finds the name as written when no name with that byte exists.
    root = make_repo({"back\\xe9slash.py": "def backslash_func():\n    return 1\n"})
    index(root)
    found = hits(search(root, "backslash_func"))
    assert found[0]["path"] == "back\\xe9slash.py"
    assert found[0]["lines"] and found[0]["lines"][0]["text"].startswith("def backslash_func():")


@pytest.mark.parametrize(
    "manifest",
    [
        "[]", '"text"', "1", "null", "{}",
        '{"format_version": 3, "files_indexed": "many"}', '{"format_version": 3, "signals": []}',
    ],
)
def test_regression_status_calls_a_malformed_manifest_damage(make_repo: Callable[..., Path], manifest: str) -> None:
    # A manifest that was JSON but not an object (or held a field of the wrong type) was "unexpected error:
    # AttributeError" (exit 3); `{}` was "out of date" (exit 7) where a search says damaged.
    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    (generation / store.MANIFEST).write_text(manifest)
    result = CliRunner().invoke(cli, ["-q", "status", "--repo", str(root)])
    assert result.exit_code == 4, result.output
    assert "the index is damaged" in result.stderr and "unexpected" not in result.stderr


@pytest.mark.parametrize("part", [store.TANTIVY_DIR, store.SIGNALS_DIR])
def test_regression_status_calls_an_index_missing_a_part_damaged(make_repo: Callable[..., Path], part: str) -> None:
    # `status` said fresh (exit 0) for an index a search cannot open.
    root = make_repo({"a.py": "def one(): pass\n"})
    generation = indexed_generation(root)
    shutil.rmtree(generation / part)
    result = CliRunner().invoke(cli, ["-q", "status", "--repo", str(root)])
    assert result.exit_code == 4, result.output
    assert f"its {part} directory is missing" in result.stderr


def test_regression_a_generation_without_current_is_damage_and_never_replaced_by_a_read(
    make_repo: Callable[..., Path],
) -> None:
    # A half-copied cache (the generation, no CURRENT) was "no index": `status` said exit 3, and a search built a
    # new index and deleted the generation it had not looked at.
    root = make_repo({"a.py": "def parse_token(text): return text\n"})
    generation = indexed_generation(root)
    (root / ".atlas" / store.CURRENT).unlink()
    for command in (["status"], ["verify"], ["search", "parse_token"]):
        result = invoke(*command, "--repo", str(root))
        assert result.exit_code == 4, (command, result.output)
        assert f"CURRENT is missing, though {generation.name} is there" in result.stderr + result.stdout, command
    assert generation.is_dir()
    assert index(root)["mode"] == "full"  # `atlas index` is the fix
    assert search(root, "parse_token").exit_code == 0


def garble_fast_fields(root: Path) -> None:
    """The first bytes of each fast-field file of the live generation overwritten, the size kept: tantivy panics."""
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    for path in (generation / store.TANTIVY_DIR).glob("*.fast"):
        data = bytearray(path.read_bytes())
        data[:32] = b"\xde\xad\xbe\xef" * 8
        path.write_bytes(bytes(data))


def test_regression_a_panic_in_tantivy_is_a_damaged_index_for_every_command(make_repo: Callable[..., Path]) -> None:
    # pyo3 raises a Rust panic as PanicException, a BaseException: it passed every handler, and the CLI printed a
    # traceback (exit 1).
    # Then Rust's own panic lines ("thread '<unnamed>' panicked at …", the message, a note about RUST_BACKTRACE, or
    # with RUST_BACKTRACE=1 dozens of frames) came before Atlas's sentence: they are kept off stderr unless -v.
    root = make_repo({"a.py": "def parse_token(text): return text\n"})
    index(root)
    garble_fast_fields(root)
    for backtrace in ("0", "1"):
        env = {**os.environ, "RUST_BACKTRACE": backtrace}
        for command in (["search", "parse_token"], ["status"], ["verify"]):
            done = subprocess.run(
                [sys.executable, "-m", "atlas", *command, "--repo", str(root)], capture_output=True, text=True, env=env
            )
            assert done.returncode == 4, (command, done.stderr)
            assert "Traceback" not in done.stderr and "PanicException" not in done.stderr, done.stderr
            assert "panicked" in done.stderr + done.stdout, command
            for rust in ("panicked at", "thread '", "RUST_BACKTRACE", "stack backtrace"):
                assert rust not in done.stderr, (command, done.stderr)
            if command != ["verify"]:  # verify reports on stdout
                sentence, hint = done.stderr.splitlines()
                assert sentence.startswith("atlas: ") and hint == "  hint: rebuild it with `atlas index --rebuild`"
    verbose = subprocess.run(
        [sys.executable, "-m", "atlas", "-v", "search", "parse_token", "--repo", str(root)], capture_output=True,
        text=True, env={**os.environ, "RUST_BACKTRACE": "0"},
    )  # fmt: skip
    assert verbose.returncode == 4 and "panicked at" in verbose.stderr, verbose.stderr  # the details, asked for
    report = index(root)
    assert report["mode"] == "full" and "panicked" in report["reason"]
    assert search(root, "parse_token").exit_code == 0


def _xor_middle_of_segment_files(root: Path, suffix: str) -> None:
    """The middle of each segment file ending in `suffix` garbled, its size and tantivy footer kept."""
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    for path in (generation / store.TANTIVY_DIR).glob(f"*{suffix}"):
        data = bytearray(path.read_bytes())
        start, end = len(data) // 8, len(data) // 2
        data[start:end] = bytes(byte ^ 0x5A for byte in data[start:end])
        path.write_bytes(bytes(data))


def test_regression_a_garbled_doc_store_is_a_damaged_index_and_rebuild_mends_it(make_repo: Callable[..., Path]) -> None:
    # The stored documents garbled, sizes and footers kept: tantivy opens the index, and the search reading a hit's
    # stored fields failed with "An IO error occurred: ... decompressed buffer" (exit 3, "unexpected error"), while
    # `atlas verify` said the index was fine (exit 0): it never checked the segments' own checksums.
    files = {f"m{i}.py": f"def handler_{i}(request):\n    return parse_config(request) + {i}\n" for i in range(30)}
    root = make_repo(files)
    index(root)
    _xor_middle_of_segment_files(root, ".store")
    damaged = search(root, "handler", "request")
    assert damaged.exit_code == 4, damaged.output
    assert "damaged" in damaged.stderr and "atlas index --rebuild" in damaged.stderr
    verified = invoke("verify", "--repo", str(root))
    assert verified.exit_code == 4, verified.output
    assert "segment files missing or failing their checksum" in verified.stdout
    assert ".store (bytes changed)" in verified.stdout
    assert index(root, "--rebuild")["mode"] == "full"
    assert search(root, "handler").exit_code == 0
    assert invoke("verify", "--repo", str(root)).exit_code == 0


def test_verify_checks_every_segment_file_of_an_updated_index(
    make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo({f"m{i}.py": f"def handler_{i}(): return {i}\n" for i in range(6)})
    index(root)
    # An update rewrites the segment it deletes from, unless the segment is over the limit: then it keeps a `.del`.
    monkeypatch.setattr(layout, "REWRITE_LIMIT_BYTES", 0)
    (root / "m1.py").unlink()
    (root / "m2.py").write_text("def handler_two(): return 2\n")
    assert index(root)["mode"] == "incremental"
    assert invoke("verify", "--repo", str(root)).exit_code == 0  # deletions (`.del`) and new segments pass
    generation = store.current_generation(root / ".atlas")
    assert generation is not None
    deletions = next((generation / store.TANTIVY_DIR).glob("*.del"))
    data = bytearray(deletions.read_bytes())
    data[0] ^= 0xFF
    deletions.write_bytes(bytes(data))
    verified = invoke("verify", "--repo", str(root))
    assert verified.exit_code == 4 and f"{deletions.name} (bytes changed)" in verified.stdout, verified.output


@pytest.mark.parametrize("option", ["--repo", "--index-dir"])
def test_an_empty_path_is_a_usage_error_not_the_working_directory(
    make_repo: Callable[..., Path], option: str
) -> None:
    # `--repo ""` (an unset variable in a script) meant the working directory: from /tmp it indexed 83,000 files.
    root = make_repo({"a.py": "def one(): pass\n"})
    args = ["search", option, "", "one"] if option == "--repo" else ["search", "--repo", str(root), option, "", "one"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "an empty path names no file or directory" in result.stderr
