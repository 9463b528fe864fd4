"""`atlas mcp install`: snippets for Claude Code, Cursor and Codex; --write merges, never clobbers."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from atlas.cli import cli


def _install(*args: str) -> Result:
    return CliRunner().invoke(cli, ["mcp", "install", *args])


@pytest.mark.parametrize("client", ["claude-code", "cursor"])
def test_json_clients_get_an_mcp_servers_snippet(client: str, tmp_path: Path) -> None:
    result = _install("--client", client, "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["mcpServers"]["atlas"]
    assert entry["args"][-3:] == ["mcp", "--root", str(tmp_path.resolve())]
    assert Path(entry["command"]).is_absolute()
    assert "--write" in result.stderr


def test_codex_gets_a_toml_table(tmp_path: Path) -> None:
    result = _install("--client", "codex", "--root", str(tmp_path), "--name", "atlas-shop")
    assert result.exit_code == 0, result.output
    entry = tomllib.loads(result.stdout)["mcp_servers"]["atlas-shop"]
    assert entry["args"][-3:] == ["mcp", "--root", str(tmp_path.resolve())]


def test_write_merges_into_an_existing_json_config(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}, "atlas": {"command": "old"}}, "k": 1}))
    result = _install("--client", "cursor", "--root", str(tmp_path), "--write", "--config-path", str(config))
    assert result.exit_code == 0, result.output
    data = json.loads(config.read_text())
    assert data["k"] == 1 and data["mcpServers"]["other"] == {"command": "x"}
    assert data["mcpServers"]["atlas"]["command"] != "old"
    assert str(config) in result.stdout


def test_write_replaces_only_atlas_in_a_codex_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'model = "o3"\n\n[mcp_servers.atlas]\ncommand = "old"\nargs = []\n\n[mcp_servers.atlas.env]\nA = "1"\n\n'
        '[mcp_servers.other]\ncommand = "other"\n'
    )
    result = _install("--client", "codex", "--root", str(tmp_path), "--write", "--config-path", str(config))
    assert result.exit_code == 0, result.output
    data = tomllib.loads(config.read_text())
    assert data["model"] == "o3" and data["mcp_servers"]["other"] == {"command": "other"}
    assert data["mcp_servers"]["atlas"]["command"] != "old" and "env" not in data["mcp_servers"]["atlas"]


@pytest.mark.parametrize(("client", "text"), [("cursor", "{not json"), ("codex", "[broken")])
def test_a_broken_config_is_left_untouched(client: str, text: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(text)
    result = _install("--client", client, "--root", str(tmp_path), "--write", "--config-path", str(config))
    assert result.exit_code == 2 and "left untouched" in result.stderr
    assert config.read_text() == text


def test_default_paths_follow_home_and_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    for client in ("cursor", "codex", "claude-code"):
        assert _install("--client", client, "--root", str(root), "--write").exit_code == 0
    assert "atlas" in json.loads((tmp_path / "home/.cursor/mcp.json").read_text())["mcpServers"]
    assert "atlas" in tomllib.loads((tmp_path / "home/.codex/config.toml").read_text())["mcp_servers"]
    assert "atlas" in json.loads((root / ".mcp.json").read_text())["mcpServers"]


def test_the_registered_command_starts_a_working_server(shop: Path, tmp_path: Path) -> None:
    config = tmp_path / ".mcp.json"
    result = _install("--client", "claude-code", "--root", str(shop), "--write", "--config-path", str(config))
    assert result.exit_code == 0, result.output
    entry = json.loads(config.read_text())["mcpServers"]["atlas"]

    async def main() -> None:
        params = StdioServerParameters(command=entry["command"], args=entry["args"])
        with anyio.fail_after(60), (tmp_path / "stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as streams, ClientSession(*streams) as session:
                await session.initialize()
                result = await session.call_tool("search", {"query": "shopping cart"})
                assert json.loads(result.content[0].text)["results"][0]["path"] == "shop/cart.py"

    anyio.run(main)


def test_write_goes_through_a_symlinked_config_and_keeps_the_link(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "mcp.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    link = tmp_path / "mcp.json"
    link.symlink_to(dotfiles)
    result = _install("--client", "cursor", "--root", str(tmp_path), "--write", "--config-path", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert set(json.loads(dotfiles.read_text())["mcpServers"]) == {"other", "atlas"}


@pytest.mark.parametrize("client", ["claude-code", "cursor", "codex"])
def test_regression_a_config_that_is_a_link_loop_is_left_untouched(tmp_path: Path, client: str) -> None:
    # A project's `.mcp.json -> .mcp.json` (a clone may ship one) or a --config-path whose links lead round in a
    # circle: "unexpected error: OSError: [Errno 40] Too many levels of symbolic links" (exit 3).
    config = tmp_path / ".mcp.json"
    config.symlink_to(".mcp.json")
    chosen = () if client == "claude-code" else ("--config-path", str(config))
    result = _install("--client", client, "--root", str(tmp_path), "--write", *chosen)
    assert result.exit_code == 2, result.output
    assert "a symbolic link that leads to no file" in result.stderr and "hint:" in result.stderr
    assert config.is_symlink() and os.readlink(config) == ".mcp.json"


def test_write_onto_a_fifo_is_refused_and_leaves_it(tmp_path: Path) -> None:
    import os
    import stat

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    result = _install("--client", "cursor", "--root", str(tmp_path), "--write", "--config-path", str(fifo))
    assert result.exit_code == 2 and "not a regular file" in result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_write_where_nothing_can_be_written_is_one_sentence_and_a_hint(tmp_path: Path) -> None:
    target = tmp_path / "no" / "mcp.json"
    target.parent.mkdir()
    target.parent.chmod(0o500)
    try:
        blocked = _install("--client", "cursor", "--root", str(tmp_path), "--write", "--config-path", str(target))
    finally:
        target.parent.chmod(0o700)
    if blocked.exit_code == 0:
        pytest.skip("running as root: a read-only directory is writable")
    assert blocked.exit_code == 2 and "cannot write" in blocked.stderr and "hint:" in blocked.stderr


@pytest.mark.parametrize("client", ["claude-code", "cursor", "codex"])
@pytest.mark.parametrize("write", [False, True], ids=["print", "write"])
def test_regression_a_path_that_is_not_utf8_is_refused_not_registered_as_another(
    client: str, write: bool, tmp_path: Path
) -> None:
    # A repository at `caf\xff` was registered as "caf\udcff" (JSON: a lone surrogate, which no client turns back
    # into the path), as "caf?" (a Codex snippet), or crashed (Codex --write). No client config can hold the name.
    import os

    from tests.conftest import init_repo, write_tree

    root = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xff")))
    write_tree(root, {"shop/cart.py": "class ShoppingCart:\n    pass\n"})
    init_repo(root)
    config = tmp_path / ("config.toml" if client == "codex" else "mcp.json")
    written = ("--write", "--config-path", str(config)) if write else ()
    result = _install("--client", client, "--root", str(root), *written)
    assert result.exit_code == 2, result.output
    assert "not valid UTF-8" in result.stderr and "hint:" in result.stderr and result.stdout == ""
    assert not config.exists() and not (root / ".mcp.json").exists()


@pytest.mark.parametrize("client", ["claude-code", "cursor", "codex"])
@pytest.mark.parametrize("write", [False, True], ids=["print", "write"])
@pytest.mark.parametrize("name", ["caf\udcff", ""], ids=["not-utf8", "empty"])
def test_regression_a_server_name_no_client_can_hold_is_a_usage_error(
    client: str, write: bool, name: str, tmp_path: Path
) -> None:
    # `--name $'caf\xff'` was "unexpected error: UnicodeEncodeError" (exit 3) with --write, and printed as "caf\udcff"
    # (JSON: a lone surrogate) or "caf?" (TOML) without; `--name ""` (an unset variable) registered a nameless server.
    config = tmp_path / ("config.toml" if client == "codex" else "mcp.json")
    written = ("--write", "--config-path", str(config)) if write else ()
    result = _install("--client", client, "--root", str(tmp_path), "--name", name, *written)
    assert result.exit_code == 2, result.output
    assert "--name" in result.stderr and "hint:" in result.stderr and result.stdout == ""
    assert not config.exists() and not (tmp_path / ".mcp.json").exists()


def test_an_index_directory_that_is_not_utf8_is_refused_too(tmp_path: Path) -> None:
    import os

    index_dir = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"index\xff"))
    result = _install("--client", "cursor", "--root", str(tmp_path), "--index-dir", index_dir)
    assert result.exit_code == 2 and "not valid UTF-8" in result.stderr, result.output


def test_regression_a_rewrite_keeps_the_config_files_permissions_and_refuses_a_read_only_one(tmp_path: Path) -> None:
    # The rewrite made a 0600 file of secrets 0644 (world-readable), and replaced a 0444 file all the same.
    secret = tmp_path / "config.toml"
    secret.write_text('[mcp_servers.other]\ncommand = "x"\nenv = { API_KEY = "secret" }\n')
    secret.chmod(0o600)
    assert _install("--client", "codex", "--write", "--config-path", str(secret)).exit_code == 0
    assert secret.stat().st_mode & 0o777 == 0o600 and 'API_KEY = "secret"' in secret.read_text()
    frozen = tmp_path / "ro.json"
    frozen.write_text("{}\n")
    frozen.chmod(0o444)
    result = _install("--client", "cursor", "--write", "--config-path", str(frozen))
    assert result.exit_code == 2 and "is read-only; left untouched" in result.stderr
    assert frozen.read_text() == "{}\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"mcpServers":{"x":{"command":"y"}},"mcpServers":{"z":{"command":"w"}}}', "is repeated"),
        ('{"mcpServers":{"x":{"command":"y","timeout":1e400}}}', "too large a number"),
        ('{"mcpServers":{"x":{"command":"y","timeout":NaN}}}', "NaN is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_regression_json_a_client_would_read_otherwise_is_left_untouched(tmp_path: Path, text: str, said: str) -> None:
    # Python's parser kept the last of repeated keys (a rewrite dropped server "x"), read 1e400 as inf (written back
    # as Infinity, which clients reject), and a deep nesting was "unexpected error: RecursionError".
    config = tmp_path / "mcp.json"
    config.write_text(text)
    result = _install("--client", "cursor", "--write", "--config-path", str(config))
    assert result.exit_code == 2 and said in result.stderr and "left untouched" in result.stderr, result.output
    assert config.read_text() == text


def test_regression_codex_keys_are_matched_as_written_and_nothing_else_changes(tmp_path: Path) -> None:
    escaped = tmp_path / "a.toml"
    for _ in range(2):  # a name that needs escapes could not be installed again
        installed = _install("--client", "codex", "--write", "--config-path", str(escaped), "--name", "my\\srv")
        assert installed.exit_code == 0, installed.output
    assert list(tomllib.loads(escaped.read_text())["mcp_servers"]) == ["my\\srv"]
    dotted = tmp_path / "b.toml"
    dotted.write_text('[mcp_servers.my]\ncommand = "m"\n[mcp_servers.my.env]\nK = "v"\n')
    assert _install("--client", "codex", "--write", "--config-path", str(dotted), "--name", "my.env").exit_code == 0
    servers = tomllib.loads(dotted.read_text())["mcp_servers"]  # "my.env" deleted server "my"'s env table
    assert servers["my"]["env"] == {"K": "v"} and "my.env" in servers
    tricky = tmp_path / "c.toml"
    tricky.write_text('a = 1\n[t]\ns = """\n[mcp_servers.atlas]\n[end"""\n')
    result = _install("--client", "codex", "--write", "--config-path", str(tricky))
    assert result.exit_code == 2 and "would change other settings; left untouched" in result.stderr
    crlf = tmp_path / "d.toml"
    crlf.write_bytes(b"[a]\r\nx = 1\r\n")
    assert _install("--client", "codex", "--write", "--config-path", str(crlf)).exit_code == 0
    assert crlf.read_bytes().startswith(b"[a]\r\nx = 1\r\n") and b"\n" not in crlf.read_bytes().replace(b"\r\n", b"")


def test_regression_concurrent_installs_keep_every_entry(tmp_path: Path) -> None:
    # Each run read the file, added its entry and replaced it: runs at once dropped each other's entries.
    import subprocess
    import sys

    config = tmp_path / "mcp.json"
    command = [sys.executable, "-m", "atlas", "-q", "mcp", "install", "--client", "cursor", "--write",
               "--config-path", str(config), "--root", str(tmp_path), "--name"]  # fmt: skip
    runs = [subprocess.Popen([*command, f"server{i}"], stdout=subprocess.DEVNULL) for i in range(8)]
    assert all(run.wait(timeout=120) == 0 for run in runs)
    assert sorted(json.loads(config.read_text())["mcpServers"]) == sorted(f"server{i}" for i in range(8))


def test_regression_a_projects_config_that_links_out_of_the_repository_is_not_written(tmp_path: Path) -> None:
    # A cloned repository's `.mcp.json` linking to another JSON file of the user's had that file rewritten.
    repo, elsewhere = tmp_path / "repo", tmp_path / "settings.json"
    repo.mkdir()
    (repo / ".git").mkdir()
    elsewhere.write_text('{"name": "other"}\n')
    (repo / ".mcp.json").symlink_to(elsewhere)
    result = _install("--client", "claude-code", "--write", "--root", str(repo))
    assert result.exit_code == 2 and "is a link out of the repository" in result.stderr
    assert elsewhere.read_text() == '{"name": "other"}\n'


def test_regression_an_atomic_write_never_follows_a_link_planted_at_its_temporary_name(tmp_path: Path) -> None:
    import os

    from atlas.index.store import write_atomic

    victim, config = tmp_path / "victim", tmp_path / "m.json"
    victim.write_text("precious data\n")
    config.write_text("{}\n")
    (tmp_path / f".m.json.tmp-{os.getpid()}").symlink_to(victim)
    write_atomic(config, b'{"new": 1}\n')
    assert victim.read_text() == "precious data\n" and not config.is_symlink()
    assert config.read_text() == '{"new": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "victim"]


def test_regression_a_full_disk_leaves_no_temporary_file_beside_the_config(tmp_path: Path) -> None:
    from tests.mounts import small_disk

    with small_disk(tmp_path / "disk", "64k") as disk:
        config = disk / "m.json"
        config.write_text('{"mcpServers": {"big": {"command": "' + "x" * 50_000 + '"}}}\n')
        result = _install("--client", "cursor", "--write", "--config-path", str(config))
        assert result.exit_code == 2 and "No space left on device" in result.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["m.json"] and json.loads(config.read_text())


@pytest.mark.parametrize(("client", "name"), [("cursor", "mcp.json"), ("codex", "config.toml")])
def test_regression_a_config_path_in_a_directory_this_user_may_not_enter_is_one_sentence(
    tmp_path: Path, client: str, name: str
) -> None:
    # `--write` into a directory that cannot be searched (mode 000, another user's) raised PermissionError, asking
    # whether the file was a link and then opening the directory to lock it: "unexpected error" and a bug-report hint.
    import sys

    from tests.mounts import run_with_locked_dir

    locked = tmp_path / "locked"
    command = [sys.executable, "-m", "atlas", "mcp", "install", "--client", client, "--root", str(tmp_path),
               "--write", "--config-path", str(locked / name)]  # fmt: skip
    done = run_with_locked_dir(locked, command, timeout=60)
    assert done.returncode == 2, done.stderr
    message, hint = done.stderr.splitlines()
    assert message.startswith(f"atlas: {locked}: cannot ") and "Permission denied" in message, done.stderr
    assert hint.startswith("  hint: ") and not list(locked.iterdir())


@pytest.mark.parametrize("home", ["", "relative/home"])
@pytest.mark.parametrize("client", ["cursor", "codex"])
def test_a_home_that_is_empty_or_relative_is_refused(home: str, client: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Python reads HOME="" as `/` and a relative HOME as a directory below the current one: a user's configuration
    would be written to `/.cursor/mcp.json` or into the repository."""
    monkeypatch.setenv("HOME", home)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    result = _install("--client", client, "--root", str(tmp_path), "--write")
    assert result.exit_code == 2, result.output
    assert f"HOME is {home!r}, not an absolute path" in result.stderr and "--config-path" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_index_dir_under_an_empty_home_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "")
    config = tmp_path / "mcp.json"
    result = _install("--client", "cursor", "--root", str(tmp_path), "--index-dir", "~/idx", "--config-path",
                      str(config), "--write")  # fmt: skip
    assert result.exit_code == 2 and "HOME is ''" in result.stderr
    assert not config.exists()


def test_regression_a_server_started_as_a_module_runs_no_atlas_package_of_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without an `atlas` script beside the interpreter, the registered server was `python -m atlas mcp`: started by
    # the client in the project, `-m` put the project first on the module path, and a repository holding its own
    # `atlas/` package (a hostile clone; Atlas's own checkout) had that package imported and run instead.
    import subprocess
    import sys

    from atlas.commands.mcp import server_command

    real = sys.executable
    bare = tmp_path / "bin" / "python3"
    bare.parent.mkdir()
    monkeypatch.setattr(sys, "executable", str(bare))
    command, args = server_command(tmp_path / "project", None)
    assert command == str(bare) and args[: args.index("mcp")] == ["-P", "-m", "atlas"]
    project = tmp_path / "project"
    (project / "atlas").mkdir(parents=True)
    (project / "atlas" / "__init__.py").write_text("open('ran', 'w').close()\n")
    (project / "atlas" / "__main__.py").write_text("open('ran', 'w').close()\n")
    started = subprocess.run([real, *args[: args.index("mcp")], "--version"], cwd=project, capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert not (project / "ran").exists()
