"""Context selection on hostile trees and crafted input: `query`, `quick`, `explain` and `render`, end to end.

Each case runs the real command on a real directory (a git repository when it matters) and checks what a user
sees: the exit code, one sentence plus a hint on stderr, and that nothing is served that should not be.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from atlas.cli import cli
from tests.conftest import write_tree


def atlas(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def assert_one_sentence_and_hint(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), stderr
    assert "unexpected error" not in stderr and "Traceback" not in stderr


def test_a_symbolic_link_loop_outside_git_is_not_listed_by_the_fast_preset(tmp_path: Path) -> None:
    write_tree(tmp_path, {"config/parser.py": "def parse_config():\n    return 1\n"})
    os.symlink("loop", tmp_path / "loop")
    os.symlink("config_loop", tmp_path / "config" / "config_loop")
    result = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", "parse config")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [entry["path"] for entry in record["entries"]] == ["config/parser.py"]
