"""Query-time reads on trees that changed, or hold what the index leaves out: `query`, `search` and `render`.

Each case runs `python -m atlas` as a real process on a real git repository and checks what a user sees: the exit
code, stderr, and that nothing is served that should not be, nor left out that should be served.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import indexed_repo, init_repo, write_tree

ROOT = Path(__file__).resolve().parents[2]


def atlas(root: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m atlas -q ARGS` run in `root`, as a user runs it; a read that blocks makes it time out."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "atlas", "-q", *args]
    return subprocess.run(command, cwd=root, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def selected(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The `context` record a query printed, each entry by its path."""
    assert "Traceback" not in result.stderr, result.stderr
    return {entry["path"]: entry for entry in json.loads(result.stdout)["entries"]}


def test_regression_the_fast_preset_selects_a_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    # The fast preset looked for each candidate by the name Atlas shows (`invoice\xff.py`, with the escape as text),
    # found no such file and dropped it as deleted: only the index presets selected it.
    write_tree(tmp_path, {
        b"invoice\xff.py": "def invoice_total():\n    return 1\n",
        "invoice_ok.py": "def invoice_total():\n    return 2\n",
    })  # fmt: skip
    init_repo(tmp_path)
    result = atlas(tmp_path, "query", "--preset", "fast", "--format", "json", "invoice")
    assert result.returncode == 0, result.stderr
    entries = selected(result)
    assert set(entries) == {"invoice\\xff.py", "invoice_ok.py"}
    assert entries["invoice\\xff.py"]["chunks"][0]["text"] == "def invoice_total():\n    return 1"


def test_regression_the_fast_preset_serves_no_file_the_ignore_rules_leave_out(tmp_path: Path) -> None:
    # The fast preset listed files with `git ls-files`, which knows nothing of `.atlasignore` (and, outside git, with
    # a walk that reads no ignore file), and served the text of files the index leaves out and `render` refuses.
    files = {
        ".atlasignore": "vault_token.py\n", ".gitignore": "vault_secret.py\n", "vault.py": "def vault():\n    pass\n",
        "vault_token.py": "TOKEN = 'atlasignored-7f3a'\n", "vault_secret.py": "SECRET = 'gitignored-9c2e'\n",
    }  # fmt: skip
    in_git, outside_git = tmp_path / "git", tmp_path / "plain"
    write_tree(in_git, files)
    init_repo(in_git)
    write_tree(outside_git, files)
    for root in (in_git, outside_git):
        result = atlas(root, "query", "--preset", "fast", "--format", "json", "vault token secret")
        assert result.returncode == 0, result.stderr
        assert set(selected(result)) == {"vault.py"}, root
        assert "atlasignored-7f3a" not in result.stdout and "gitignored-9c2e" not in result.stdout


def test_regression_a_search_hit_shows_no_line_it_did_not_read_whole(tmp_path: Path) -> None:
    # A hit's file is read up to its first 4 MiB: a file grown since indexing to one line of 6 MiB (a bundle written
    # over it) got the range "line 1" whose text was the first 4 MiB of that line, cut mid-line.
    root = indexed_repo(tmp_path / "repo", {"shop/pricing.py": "def apply_discount(amount):\n    return amount\n"})
    grown = "def apply_discount(amount): return " + "x" * (6 << 20) + "\ndef tail():\n    pass\n"
    (root / "shop" / "pricing.py").write_text(grown)
    result = atlas(root, "search", "--format", "jsonl", "apply_discount in shop/pricing.py:1")
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert [hit["path"] for hit in hits] == ["shop/pricing.py"]
    lines = grown.split("\n")
    for shown in hits[0]["lines"]:
        assert shown["text"] == "\n".join(lines[shown["start"] - 1 : shown["end"]]), shown["start"]


def test_regression_render_shows_each_line_once_however_often_a_selection_repeats_it(tmp_path: Path) -> None:
    # A selection's ranges never overlap; a crafted one of 11 KB repeating a 1 MB file's whole range 300 times made
    # `render` print 330 MB (and hold 1.6 GB): a few kilobytes more, and it was killed for want of memory.
    module = "".join(f"value_{i} = {i}  # line {i} of the module\n" for i in range(1, 2001))
    write_tree(tmp_path, {"values.py": module})
    init_repo(tmp_path)
    repeated = [{"start_line": 1, "end_line": 2000}] * 100 + [{"start_line": 1500, "end_line": 1600}]
    record = {"type": "context", "task": "values", "entries": [{"path": "values.py", "mode": "chunks",
                                                               "chunks": [{"start_line": 2001, "end_line": 2001},
                                                                          *repeated]}]}  # fmt: skip
    result = atlas(tmp_path, "render", "-", stdin=json.dumps(record))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("value_1500 = 1500") == 1
    assert "lines 1-2000 of 2,000" in result.stdout
    assert "values.py: 100 of its line ranges repeat lines of another; each line is shown once" in result.stderr


def test_regression_a_stale_index_serves_no_text_of_a_file_the_ignore_rules_now_leave_out(tmp_path: Path) -> None:
    # A file indexed before `.atlasignore` (or a `.gitignore` rule, for a file git does not track) came to leave it
    # out kept being served, its text in full, by `query` (and the MCP `context` tool) until the next `atlas index`:
    # the user who just excluded a secrets file saw it pasted into the next prompt. `render` already refused it.
    write_tree(tmp_path, {"vault.py": "def vault_open():\n    return 'vault'\n"})
    init_repo(tmp_path)
    write_tree(tmp_path, {"vault_token.py": "T = 'atlasignored-7f3a'\n", "vault_secret.py": "K = 'gitignored-9c2e'\n"})
    assert atlas(tmp_path, "index").returncode == 0
    write_tree(tmp_path, {".atlasignore": "vault_token.py\n", ".gitignore": "vault_secret.py\n"})
    result = atlas(tmp_path, "query", "--format", "json", "vault token secret")
    assert result.returncode == 0, result.stderr
    assert set(selected(result)) == {"vault.py"}
    assert "atlasignored-7f3a" not in result.stdout and "gitignored-9c2e" not in result.stdout
    for path in ("vault_token.py", "vault_secret.py"):
        assert f"atlas: left out {path}: the ignore rules leave it out" in result.stderr, result.stderr
