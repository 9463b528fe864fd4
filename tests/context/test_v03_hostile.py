"""repo-context JSONL v0.3 from real runs on a repository of hostile names and contents, every line checked
against shared/formats/repo-context-jsonl-v0.3.md field by field and against the files on disk."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.context.model import Budget, Entry, Selection
from atlas.context.records import v03_records
from tests.conftest import indexed_repo

HEADER_KEYS = ["Version", "Query", "Preset", "Budget", "MinScore"]
FILE_KEYS = ["Path", "Score", "Tokens", "Language", "Role"]
FOOTER_KEYS = ["TotalFiles", "TotalTokens", "ScannedFiles"]
ROLES = {"impl", "test", "config", "docs", "generated", "build", "other"}
PRESETS = {"fast", "balanced", "deep", "thorough"}

HOSTILE: dict[str | bytes, str | bytes] = {
    "src/auth\nmiddleware.py": "def auth_middleware():\n    return 'auth token'\n",
    "src/tab\there.py": "def auth_tab():\n    pass\n",
    'src/quo"te.py': "def auth_quote():\n    pass\n",
    "back\\slash.py": "def auth_backslash(): pass\n",
    b"src/bad\xffname.py": b"def auth_bad():\n    pass\n",
    "src/認証.py": "def auth_cjk():\n    '''認証 auth'''\n",
    "src/🔐auth.py": "def auth_emoji():\n    pass\n",
    "ctl\x1b[31m.py": "def auth_escape(): pass\n",
    "line\u2028sep.py": "def auth_separator(): pass\n",
    "src/long.py": "def auth_long():\n    return '" + "a" * 200_000 + "'\n",
    "src/empty.py": "",
    "src/crlf.py": "def auth_crlf():\r\n    return 1\r\n",
    "src/bom.py": b"\xef\xbb\xbfdef auth_bom():\n    pass\n",
    "src/latin1.py": "def auth_latin():\n    s = 'caf\xe9 auth'\n".encode("latin-1"),
    "tests/test_auth.py": "def test_auth():\n    assert True\n",
    "docs/auth.md": "# Auth\n\nauth middleware docs\n",
    "config/auth.yaml": "auth: true\n",
    "ui/auth.tsx": "export const Auth = () => <div>auth</div>;\n",
    "run_auth.sh": "#!/bin/sh\nauth() { echo auth; }\n",
}


def on_disk(root: Path, shown: str) -> bytes:
    """The file system name of a path as Atlas shows it (a byte that is not UTF-8 is the text `\\xNN`)."""
    name = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), shown.encode("utf-8"))
    return os.path.join(os.fsencode(root), name)


def v03_problems(data: bytes, root: Path, task: str) -> list[str]:
    """What in `data` (a run's whole stdout) breaks the v0.3 spec, or is untrue of the files under `root`."""
    if not data.endswith(b"\n"):
        return ["the output does not end with a newline"]
    records: list[Any] = [orjson.loads(line) for line in data[:-1].split(b"\n")]
    header, files, footer = records[0], records[1:-1], records[-1]
    problems = []
    if list(header) != HEADER_KEYS or header["Version"] != "0.3" or header["Preset"] not in PRESETS:
        problems.append(f"header {header}")
    if header["Query"] != task:
        problems.append(f"Query {header['Query']!r} is not the task {task!r}")
    budget, floor = header["Budget"], header["MinScore"]
    if not isinstance(budget, dict) or set(budget) - {"MaxBytes"}:
        problems.append(f"Budget {budget!r}")
    max_bytes = budget.get("MaxBytes")
    if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 1):
        problems.append(f"MaxBytes {max_bytes!r}")
    if type(floor) is not float or not 0 <= floor <= 1 or str(floor).startswith("-"):
        problems.append(f"MinScore {floor!r}")
    if list(footer) != FOOTER_KEYS or not all(type(v) is int and v >= 0 for v in footer.values()):
        problems.append(f"footer {footer}")
    previous, sizes = 1.0, 0
    for line in files:
        if list(line) != FILE_KEYS:
            problems.append(f"file keys {list(line)}")
            continue
        path, score = line["Path"], line["Score"]
        if not path or path.startswith("/") or ".." in path.split("/"):
            problems.append(f"Path {path!r}")
        if type(score) is not float or not floor <= score <= previous:
            problems.append(f"{path!r}: Score {score!r} (floor {floor}, previous {previous})")
        previous = score
        size = os.stat(on_disk(root, path)).st_size
        sizes += size
        if type(line["Tokens"]) is not int or line["Tokens"] != size // 4:
            problems.append(f"{path!r}: Tokens {line['Tokens']!r} for {size} bytes")
        if not line["Language"] or line["Language"] != line["Language"].lower():
            problems.append(f"{path!r}: Language {line['Language']!r}")
        if line["Role"] not in ROLES:
            problems.append(f"{path!r}: Role {line['Role']!r}")
    if (footer.get("TotalFiles"), footer.get("TotalTokens")) != (len(files), sum(f["Tokens"] for f in files)):
        problems.append(f"footer totals {footer}")
    if footer.get("ScannedFiles", 0) < len(files):
        problems.append(f"ScannedFiles {footer}")
    if max_bytes is not None and sizes > max_bytes and len(files) > 1:
        problems.append(f"{sizes} bytes of files over MaxBytes {max_bytes}")
    return problems


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return indexed_repo(tmp_path_factory.mktemp("v03") / "repo", HOSTILE)


def _jsonl(root: Path, *args: str, fmt: str = "jsonl") -> bytes:
    result = CliRunner().invoke(cli, ["-q", "query", "--root", str(root), "--format", fmt, *args])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout_bytes


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("budget", [[], ["--max-bytes", "0"], ["--max-bytes", "300"], ["--max-tokens", "600"]])
def test_every_line_keeps_the_spec_on_hostile_names_and_contents(hostile: Path, preset: str, budget: list[str]) -> None:
    for task in ("auth", 'auth\tmiddleware\n認証 🔐 "quoted" \\x', "auth path:src/ lang:python"):
        data = _jsonl(hostile, "--preset", preset, *budget, "--", task)
        assert v03_problems(data, hostile, task) == [], data.decode()


def test_regression_no_file_line_scores_under_the_headers_min_score(hostile: Path) -> None:
    # Scores were rounded to 4 digits whatever the floor: `--min-score 0.340741` kept a file scoring 0.340741 and
    # printed it as 0.3407, under the header's MinScore, so a reader applying the floor dropped it.
    entries = [Entry(f"f{i}.py", i, score, "python", "impl", "whole", 0, 8, 0, 8, 1, "")
               for i, score in enumerate((0.5, 0.340741, 0.012349), 1)]  # fmt: skip
    for floor in (0.340741, 0.34074, 0.012345, 0.0123):
        kept = [e for e in entries if e.score >= floor]
        selection = Selection("auth", "/r", "balanced", "files", "cl100k_base", Budget(None, None), floor, 60, kept,
                              [], 3, 3, 0, 0, 0.0)  # fmt: skip
        records = v03_records(selection)
        assert records[0]["MinScore"] == floor
        assert all(r["Score"] >= floor for r in records[1:-1]), (floor, records)
    data = _jsonl(hostile, "--no-content", "auth", fmt="json")
    scores = [entry["score"] for entry in orjson.loads(data)["entries"]]
    for score in scores:
        data = _jsonl(hostile, "--min-score", repr(score), "auth")
        assert v03_problems(data, hostile, "auth") == [], data.decode()


def test_regression_a_min_score_of_minus_zero_is_written_as_zero(hostile: Path) -> None:
    # `--min-score -0` is in range, and was echoed as "MinScore":-0.0 (and "min_score": -0.0 in the context record).
    header = orjson.loads(_jsonl(hostile, "--min-score", "-0", "auth").split(b"\n", 1)[0])
    assert str(header["MinScore"]) == "0.0"
