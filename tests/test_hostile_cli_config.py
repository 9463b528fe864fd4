"""Configuration and command-line faults found by red-teaming: help text, locales, option values and the
configuration files Atlas writes (`atlas mcp install`), each end to end through the real CLI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas.cli import cli


@pytest.mark.parametrize("command", ["search", "index", "status", "query", "mcp", "mcp install"])
def test_global_flags_after_a_command_are_not_documented_as_on_by_default(command: str) -> None:
    """`-q`, `-v` and `--no-color` are off unless given: a subcommand's help must not say `[default: (quiet)]`."""
    result = CliRunner().invoke(cli, [*command.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for flag in ("--quiet", "--verbose", "--no-color"):
        line = next(line for line in result.output.splitlines() if flag in line)
        assert "default" not in line, line
    assert not re.search(r"\[default: \((quiet|verbose|no_color)\)\]", result.output)


@pytest.mark.parametrize("how", ["flag", "atlas.toml"])
def test_a_memory_budget_over_tantivys_arena_still_indexes(make_repo: Callable[..., Path], how: str) -> None:
    """A large machine's budget (`--memory 32G`, `memory_bytes` in atlas.toml) gives tantivy's writer as much as it
    takes (4 GB per thread); it was an "unexpected error" (exit 3) from tantivy's own limit."""
    files = {"billing.py": "def refund_payment(amount):\n    return amount\n"}
    if how == "atlas.toml":
        files["atlas.toml"] = f"[index]\nmemory_bytes = {32 << 30}\n"
    root = make_repo(files)
    flags = ["--memory", "32G"] if how == "flag" else []
    result = CliRunner().invoke(cli, ["-q", "index", str(root), *flags, "--format", "json"])
    assert result.exit_code == 0, result.output
    found = CliRunner().invoke(cli, ["search", "--repo", str(root), "-l", "refund"])
    assert found.exit_code == 0 and found.output == "billing.py\n", found.output
