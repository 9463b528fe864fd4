"""Command modules beyond `index` and `search`, each a thin click shell over `atlas.api`.

Every module here imports only click and the standard library at top level (heavy imports go
inside the command functions), so registering them keeps `atlas --help` fast.
"""

from __future__ import annotations

import click

COMMAND_MODULES: tuple[str, ...] = ("lifecycle", "mcp", "context")


def register_all(group: click.Group) -> None:
    """Add every command defined by the modules in COMMAND_MODULES to `group`."""
    from importlib import import_module

    for name in COMMAND_MODULES:
        module = import_module(f"atlas.commands.{name}")
        for command in module.COMMANDS:
            group.add_command(command)
