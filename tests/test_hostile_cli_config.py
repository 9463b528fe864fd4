"""Configuration and command-line faults found by red-teaming: help text, locales, option values and the
configuration files Atlas writes (`atlas mcp install`), each end to end through the real CLI.
"""

from __future__ import annotations

import re

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
