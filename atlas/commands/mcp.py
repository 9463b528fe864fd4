"""`atlas mcp`: serve the index to coding agents over MCP (stdio), and register that server with them.

`atlas mcp` runs `atlas.mcp_server.serve`. `atlas mcp install --client claude-code|cursor|codex`
prints the client's configuration snippet; with `--write` it merges the snippet into the client's
configuration file (Claude Code: `<root>/.mcp.json`; Cursor: `~/.cursor/mcp.json`; Codex:
`$CODEX_HOME/config.toml`, default `~/.codex/config.toml`), replacing only Atlas's own entry.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from atlas.commands.options import FiniteFloatRange, GivenPath, config_from, index_dir_option, repo_option

CLIENTS = ("claude-code", "cursor", "codex")
SDK_MODULES = {"mcp", "mcp_types", "jsonschema", "anyio", "pydantic"}


def _server_module() -> Any:
    """`atlas.mcp_server`, or an AtlasError with the install hint when the `mcp` extra is missing."""
    from importlib import import_module

    from atlas.errors import AtlasError

    try:
        return import_module("atlas.mcp_server")
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in SDK_MODULES:
            raise
        raise AtlasError(
            f"the MCP server needs the optional `mcp` package ({err.name} is not installed)",
            "pip install 'atlas[mcp]'",
        ) from err


@click.group(invoke_without_command=True)
@repo_option
@index_dir_option
@click.option("--check-interval", type=FiniteFloatRange(min=0), default=2.0, show_default=True,
              help="Seconds between checks of the working tree for changed files.")
@click.option("--write-timeout", type=FiniteFloatRange(min=0, min_open=True), default=300.0, show_default=True,
              envvar="ATLAS_MCP_WRITE_TIMEOUT",
              help="Seconds the client may read nothing of an answer before the server gives up and exits (3).")
@click.pass_context
def mcp(ctx: click.Context, repo: Path | None, index_dir: Path | None, check_interval: float,
        write_timeout: float) -> None:  # fmt: skip
    """Serve the index to coding agents over MCP on stdin/stdout (tools: search, symbols, related, ...).

    stdout carries protocol messages only; logs go to stderr. Register it with
    `atlas mcp install --client claude-code|cursor|codex`.
    """
    if ctx.invoked_subcommand is not None:
        return
    server = _server_module()
    server.serve(config_from(ctx.obj, repo, index_dir), (ctx.obj or {}).get("config"), check_interval, write_timeout)


@mcp.command()
@click.option("--client", type=click.Choice(CLIENTS), required=True, help="The agent to register Atlas with.")
@repo_option
@click.option("--index-dir", type=GivenPath(file_okay=False, path_type=Path),
              help="Pass this index directory to the server (default: its own, <repo>/.atlas).")
@click.option("--name", default="atlas", show_default=True, callback=lambda ctx, param, value: server_name(value),
              help="Server name in the client's configuration.")  # fmt: skip
@click.option("--write", is_flag=True, help="Merge the entry into the client's configuration file.")
@click.option("--config-path", type=GivenPath(dir_okay=False, path_type=Path),
              help="The configuration file to write (default: the client's usual file).")
@click.pass_obj
def install(obj: dict[str, Any], client: str, repo: Path | None, index_dir: Path | None, name: str,
            write: bool, config_path: Path | None) -> None:  # fmt: skip
    """Print (or, with --write, merge) the configuration that registers `atlas mcp` with an agent."""
    from atlas.api import find_root
    from atlas.output import write_text
    from atlas.progress import tell
    from atlas.safe_read import quoted_value, visible

    root = find_root(repo)
    _warn_without_sdk()
    command, args = server_command(root, index_dir)
    check_utf8(command, args)
    target = config_path or default_config_path(client, root)
    if config_path is None and client == "claude-code":
        _refuse_link_out(target, root)
    if not write:
        write_text(snippet(client, name, command, args))
        if not obj.get("quiet"):
            tell(f"atlas: add this to {visible(str(target))} (or rerun with --write to do it)")
        return
    if client == "codex":
        merge_toml(target, name, command, args)
    else:
        merge_json(target, name, command, args)
    write_text(f"registered MCP server {quoted_value(name)} in {visible(str(target))}\n")


def _warn_without_sdk() -> None:
    """Registering works without the `mcp` extra, but the server it registers would not start: say so."""
    from atlas.errors import AtlasError
    from atlas.progress import tell
    from atlas.safe_read import visible

    try:
        _server_module()
    except AtlasError as err:
        tell(f"atlas: warning: {visible(err.message)}; the registered server cannot start without it")
        tell(f"  hint: {visible(err.hint)}")


def server_command(root: Path, index_dir: Path | None) -> tuple[str, list[str]]:
    """The executable and arguments that start this Atlas's MCP server for `root`."""
    script = Path(sys.executable).with_name("atlas")
    # -P: the client starts the server in the project, whose own `atlas/` package `-m` would import and run
    command, prefix = (str(script), []) if script.is_file() else (sys.executable, ["-P", "-m", "atlas"])
    from atlas.config import home_expanded  # orjson comes with it: not for `atlas --help`

    extra = ["--index-dir", str(home_expanded(index_dir).resolve())] if index_dir else []
    return command, [*prefix, "mcp", "--root", str(root), *extra]


def check_utf8(command: str, args: list[str]) -> None:
    """InputError when a path in the server's command line is not valid UTF-8: a client's configuration is JSON or
    TOML text, which cannot name it (the name would be written as a lone surrogate, or lost)."""
    from atlas.errors import InputError
    from atlas.safe_read import display_path

    for value in (command, *args):
        shown = display_path(value)
        if shown != value:
            raise InputError(
                f"{shown} is not valid UTF-8, and an MCP client's configuration cannot name it",
                "move or rename it to a path that is valid UTF-8, then run `atlas mcp install` again",
            )


def server_name(name: str) -> str:
    """`name` (`--name`) when a client's configuration can hold it: a BadParameter (exit 2) when it is empty (an
    unset variable in a script) or not valid UTF-8 (JSON would hold a lone surrogate, TOML a `?`)."""
    from atlas.safe_read import display_path

    if not name:
        raise click.BadParameter("an empty name names no server")
    if display_path(name) != name:
        raise click.BadParameter(f"{display_path(name)} is not valid UTF-8, which a client's configuration needs")
    return name


def default_config_path(client: str, root: Path) -> Path:
    """Where `client` reads MCP servers from: the project's `.mcp.json` for Claude Code, else the user's file."""
    if client == "claude-code":
        return root / ".mcp.json"
    from atlas.config import user_home

    hint = "set HOME to your home directory, or name the file with --config-path"
    if client == "cursor":
        return user_home(f"cannot tell where {client} keeps its configuration", hint) / ".cursor" / "mcp.json"
    codex_home = os.environ.get("CODEX_HOME") or user_home(f"cannot tell where {client} keeps its configuration",
                                                           hint) / ".codex"  # fmt: skip
    return Path(codex_home) / "config.toml"


def snippet(client: str, name: str, command: str, args: list[str]) -> str:
    """The configuration text for `client`: JSON `mcpServers` for Claude Code and Cursor, TOML for Codex."""
    if client == "codex":
        return toml_entry(name, command, args)
    return json.dumps({"mcpServers": {name: {"command": command, "args": args}}}, indent=2) + "\n"


def toml_entry(name: str, command: str, args: list[str]) -> str:
    """A Codex `[mcp_servers.<name>]` table (JSON string escapes are valid TOML basic strings)."""
    quoted = ", ".join(json.dumps(arg, ensure_ascii=False) for arg in args)
    return f"[mcp_servers.{_toml_key(name)}]\ncommand = {json.dumps(command, ensure_ascii=False)}\nargs = [{quoted}]\n"


def _toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it is ASCII letters, digits, - and _ (str.isalnum takes é too), else a quoted
    string with JSON's escapes, which are TOML's."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _refuse_link_out(path: Path, root: Path) -> None:
    """UsageError when the project's configuration file is a link leading out of the repository: a cloned
    repository's `.mcp.json` could name any JSON file of the user's, which `--write` would rewrite."""
    from atlas.errors import UsageError

    if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
        raise UsageError(f"{path} is a link out of the repository, to {os.path.realpath(path)}; left untouched",
                         "replace the link with a file, or pass the file to write with --config-path")  # fmt: skip


def merge_json(path: Path, name: str, command: str, args: list[str]) -> None:
    """Set `mcpServers[name]` in the JSON file at `path` (created if missing), keeping everything else."""
    from atlas.errors import UsageError
    from atlas.index.store import replacement_target

    path = replacement_target(path)  # before reading it: a FIFO there would block the read
    with _directory_locked(path.parent):  # two installs at once would each drop the other's entry
        data: Any = {}
        if path.exists():
            try:
                data = _strict_json(path.read_text(encoding="utf-8") or "{}")
            except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
                reason = "nested too deeply" if isinstance(err, RecursionError) else err
                raise UsageError(f"{path}: not valid JSON ({reason}); left untouched",
                                 "fix it or use --config-path") from err  # fmt: skip
        servers = data.get("mcpServers", {}) if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            raise UsageError(f"{path}: expected a JSON object with an `mcpServers` object; left untouched")
        servers[name] = {"command": command, "args": args}
        data["mcpServers"] = servers
        _write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _strict_json(text: str) -> Any:
    """`text` as JSON, as a client's parser reads it: ValueError for what Python's parser lets by (a repeated key,
    of which it keeps the last and a rewrite would drop the others; NaN and Infinity, which JSON has not, and a
    number too large for a float, which would be written back as Infinity)."""

    from atlas.safe_read import quoted_value

    def no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {quoted_value(key)} is repeated in one object")
            seen.add(key)
        return dict(pairs)

    def not_json(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{number[:40]} is too large a number to write back")
        return value

    return json.loads(text, object_pairs_hook=no_repeats, parse_constant=not_json, parse_float=finite)


@contextlib.contextmanager
def _directory_locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (created if missing) while a configuration file in it is read,
    changed and replaced: the file itself is replaced, so a lock on it would be on the old one."""
    import fcntl

    from atlas.errors import InputError

    _make_parent(directory)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:  # a directory this user may not read (mode 000, another user's)
        raise InputError(f"{directory}: cannot open the client's configuration directory ({err.strerror})",
                         "run it where you can write, or pass --config-path") from err  # fmt: skip
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def merge_toml(path: Path, name: str, command: str, args: list[str]) -> None:
    """Replace (or append) the `[mcp_servers.<name>]` table of the TOML file at `path`, keeping the rest."""
    import tomllib

    from atlas.errors import UsageError
    from atlas.index.store import replacement_target

    path = replacement_target(path)
    with _directory_locked(path.parent):
        try:
            text = path.read_bytes().decode("utf-8") if path.exists() else ""  # its line endings kept
            before = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as err:
            reason = "nested too deeply" if isinstance(err, RecursionError) else err
            raise UsageError(f"{path}: not readable as UTF-8 TOML ({reason}); left untouched",
                             "fix it or pass --config-path") from err  # fmt: skip
        newline = "\r\n" if "\r\n" in text else "\n"
        kept = _without_table(text, name).rstrip("\r\n")
        merged = (kept + newline * 2 if kept else "") + toml_entry(name, command, args).replace("\n", newline)
        try:
            after = tomllib.loads(merged)
            entry = after["mcp_servers"][name]
        except (tomllib.TOMLDecodeError, KeyError) as err:
            raise UsageError(f"{path}: mcp_servers.{name} is in a form Atlas cannot replace",
                             "edit it by hand") from err  # fmt: skip
        if entry.get("command") != command or entry.get("args") != args:
            raise UsageError(f"{path}: defines mcp_servers.{name} elsewhere too; left untouched", "edit it by hand")
        if _others(after, name) != _others(before, name):
            raise UsageError(f"{path}: replacing mcp_servers.{name} would change other settings; left untouched",
                             "edit it by hand")  # fmt: skip
        _write_atomic(path, merged)


def _others(config: dict[str, Any], name: str) -> dict[str, Any]:
    """`config` without the server `name`'s entry (and without `mcp_servers` when that held only it)."""
    servers = config.get("mcp_servers")
    if not isinstance(servers, dict):
        return config
    rest = {key: value for key, value in servers.items() if key != name}
    return {**config, "mcp_servers": rest} if rest else {key: v for key, v in config.items() if key != "mcp_servers"}


def _without_table(text: str, name: str) -> str:
    """`text` without the `[mcp_servers.<name>]` table and its sub-tables, as `toml_entry` writes its header."""
    key = _toml_key(name)
    heads = {f"[mcp_servers.{key}]", f'[mcp_servers."{name}"]'} if key == name else {f"[mcp_servers.{key}]"}
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped in heads or any(stripped.startswith(h[:-1] + ".") for h in heads)
        if not skipping:
            out.append(line)
    return "".join(out)


def _write_atomic(path: Path, text: str) -> None:
    """Replace the configuration file at `path` (a regular file or none: see `replacement_target`) with `text`,
    whole or not at all, keeping its permissions; InputError for a file its owner made read-only, which a
    rename over it would replace all the same."""
    import stat

    from atlas.errors import InputError
    from atlas.index.store import write_atomic

    with contextlib.suppress(FileNotFoundError):
        if not os.stat(path).st_mode & stat.S_IWUSR:
            raise InputError(f"{path} is read-only; left untouched", "make it writable, or pass --config-path")
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as err:
        raise InputError(f"{path}: cannot write the client's configuration there ({err.strerror})",
                         "run it where you can write, or pass --config-path") from err  # fmt: skip


def _make_parent(directory: Path) -> None:
    from atlas.errors import InputError

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{directory}: cannot make the client's configuration directory ({err.strerror})",
                         "run it where you can write, or pass --config-path") from err  # fmt: skip


COMMANDS = [mcp]
