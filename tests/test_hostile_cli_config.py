"""Configuration and command-line faults found by red-teaming: help text, locales, option values and the
configuration files Atlas writes (`atlas mcp install`), each end to end through the real CLI.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.query.syntax import MAX_PATH_WILDCARDS
from tests.conftest import deadline, git_env, init_repo, write_tree


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


ASCII_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
"""The locale Python runs in where no UTF-8 locale is installed: file names and arguments are ASCII to it."""


def _atlas(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real `python -m atlas` in a process of its own, with `env` over the test environment."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "atlas", *args], cwd=cwd, env=environment, capture_output=True,
                          timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize("built_in", ["utf-8", "ascii"])
def test_a_non_utf8_locale_searches_files_with_non_ascii_names(make_repo: Callable[..., Path], built_in: str) -> None:
    """Under a locale that is not UTF-8, a hit whose name is not ASCII keeps its lines, and the index is the one a
    UTF-8 locale builds; it was an "unexpected error: UnicodeEncodeError" (exit 3) for every such hit."""
    root = make_repo({"données/café.py": "def cafe_refund(amount):\n    return amount\n", "README.md": "# Shop\n"})
    build = _atlas("-q", "index", "--format", "json", cwd=root, env=ASCII_LOCALE if built_in == "ascii" else None)
    assert build.returncode == 0, build.stderr
    found = _atlas("search", "--format", "jsonl", "cafe refund", cwd=root, env=ASCII_LOCALE)
    assert found.returncode == 0, found.stderr
    hit = orjson.loads(found.stdout.splitlines()[0])
    assert hit["path"] == "données/café.py" and hit["lines"][0]["start"] == 1, hit
    listed = _atlas("search", "-l", "café", cwd=root, env=ASCII_LOCALE)
    assert listed.returncode == 0 and listed.stdout.decode() == "données/café.py\n", listed


def test_a_codex_server_name_that_is_not_ascii_is_written_as_valid_toml(tmp_path: Path) -> None:
    """`--name` with a letter outside ASCII (`atlas-é`) is a quoted TOML key: TOML's bare keys are ASCII only, so
    the snippet did not parse and `--write` refused, saying the entry was "in a form Atlas cannot replace"."""
    import tomllib

    root = make_repo_at(tmp_path / "repo")
    install = ["-q", "mcp", "install", "--client", "codex", "--name", "atlas-é", "--repo", str(root)]
    shown = CliRunner().invoke(cli, install)
    assert shown.exit_code == 0, shown.output
    assert tomllib.loads(shown.stdout)["mcp_servers"]["atlas-é"]["args"][-1] == str(root)
    target = tmp_path / "codex.toml"
    target.write_text('model = "o3"\n', encoding="utf-8")
    for _ in range(2):  # the second run replaces the entry the first wrote
        written = CliRunner().invoke(cli, [*install, "--write", "--config-path", str(target)])
        assert written.exit_code == 0, written.output
    config = tomllib.loads(target.read_text(encoding="utf-8"))
    assert config["model"] == "o3" and list(config["mcp_servers"]) == ["atlas-é"]


def test_a_codex_config_that_is_not_utf8_is_left_untouched_with_a_usage_error(tmp_path: Path) -> None:
    """A client configuration Atlas cannot decode is reported (exit 2) and kept as it is, as one that is not valid
    TOML is; it was an "unexpected error: UnicodeDecodeError" (exit 3)."""
    root = make_repo_at(tmp_path / "repo")
    target = tmp_path / "config.toml"
    target.write_bytes(b'model = "caf\xe9"\n')
    result = CliRunner().invoke(cli, ["mcp", "install", "--client", "codex", "--repo", str(root), "--write",
                                      "--config-path", str(target)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "unexpected" not in result.stderr and str(target) in result.stderr
    assert target.read_bytes() == b'model = "caf\xe9"\n'


def make_repo_at(root: Path) -> Path:
    """A committed one-file repository at `root`."""
    from tests.conftest import init_repo, write_tree

    write_tree(root, {"app.py": "def main():\n    return 0\n"})
    init_repo(root)
    return root


@pytest.mark.parametrize("same, distinct", [("path:src/*", "path:src/{}*"), ("sym:refund_payment", "sym:refund_{}")])
def test_a_query_of_thousands_of_filters_is_bounded(make_repo: Callable[..., Path], same: str, distinct: str) -> None:
    """Filters repeated through a long text count once; more distinct ones than a search can afford are a usage
    error (exit 2). Each compiled into a clause of its own: 5,000 `path:` globs took 18 s and 2.7 GB."""
    root = make_repo({"src/billing.py": "def refund_payment(amount):\n    return amount\n", "README.md": "# Shop\n"})
    search = ["search", "--repo", str(root), "-l", "--query-file", "-"]
    repeated = CliRunner().invoke(cli, search, input=f"{same} " * 500 + "refund")
    assert repeated.exit_code == 0 and repeated.stdout == "src/billing.py\n", repeated.output
    many = CliRunner().invoke(cli, search, input=" ".join(distinct.format(i) for i in range(500)) + " refund")
    assert many.exit_code == 2, many.output
    assert f"different {same.split(':')[0]}: filters" in many.stderr and "unexpected" not in many.stderr


def test_path_filters_of_many_wildcards_are_bounded(make_repo: Callable[..., Path]) -> None:
    """Each `path:` glob is an automaton whose size grows steeply with its wildcards (to tantivy's cap, 0.2 s to
    build): 100 of `*?*?…` took 21 s, for 5 KB of query. More than MAX_PATH_WILDCARDS in all is a usage error."""
    root = make_repo({"src/billing.py": "def refund_payment(amount):\n    return amount\n", "README.md": "# Shop\n"})
    search = ["search", "--repo", str(root), "-l", "--query-file", "-"]
    usual = " ".join(f"path:**/*.{ext}" for ext in ("py", "ts", "go", "rs", "java", "kt", "rb", "cs", "c", "h"))
    found = CliRunner().invoke(cli, search, input=f"refund {usual} path:src/**/[a-c]*.py")
    assert found.exit_code == 0 and found.stdout == "src/billing.py\n", found.output
    hostile = " ".join("path:" + "*?" * 20 + f"{i:02}" for i in range(100))
    with deadline(10):
        refused = CliRunner().invoke(cli, search, input=f"refund {hostile}")
    assert refused.exit_code == 2, refused.output
    assert f"wildcards (*, ? and [), more than {MAX_PATH_WILDCARDS}" in refused.stderr, refused.stderr
    with deadline(10):
        flagged = CliRunner().invoke(cli, [*search[:-2], "--path", "*?" * 40, "refund"])
    assert flagged.exit_code == 2 and "wildcards" in flagged.stderr, flagged.output


def test_an_unknown_index_setting_names_the_config_file(make_repo: Callable[..., Path]) -> None:
    """Like every other bad value of atlas.toml, an unknown `[index]` key names the file it is in (the user may not
    know which file was read: `--config`, $ATLAS_CONFIG or the repository's own)."""
    root = make_repo({"app.py": "def main():\n    return 0\n", "atlas.toml": "[index]\nhistory = 5\n"})
    result = CliRunner().invoke(cli, ["search", "--repo", str(root), "-l", "main"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"atlas: {root / 'atlas.toml'}: unknown [index] setting(s) history"), result.stderr
    assert "history_commits" in result.stderr  # the hint lists the known settings


@pytest.mark.parametrize("written", ["prior.docs = 5.0", "[search.weights.prior]\ndocs = 5.0"])
def test_a_prior_weight_written_as_a_toml_dotted_key_is_taken(make_repo: Callable[..., Path], written: str) -> None:
    """`prior.docs = 5.0` under [search.weights] is TOML for a `prior` table holding `docs`, as `[search.weights.prior]`
    is: both mean the `"prior.docs"` weight. It was refused ("prior must be a finite number, not {'docs': 5.0}")."""
    doc = "# Refunds\n\nHow a refund works.\n"
    files = {"billing.py": "def refund(amount):\n    return amount\n", "docs/refunds.md": doc}
    root = make_repo({**files, "atlas.toml": '[search.weights]\n"prior.docs" = 5.0\n'})
    search = ["search", "--repo", str(root), "--format", "json", "--explain", "refund"]
    quoted = CliRunner().invoke(cli, search)
    assert quoted.exit_code == 0, quoted.output
    (root / "atlas.toml").write_text(written + "\n" if written.startswith("[") else f"[search.weights]\n{written}\n")
    dotted = CliRunner().invoke(cli, search)
    assert dotted.exit_code == 0, dotted.output
    assert orjson.loads(dotted.stdout)["results"] == orjson.loads(quoted.stdout)["results"]
    assert orjson.loads(dotted.stdout)["results"][0]["path"] == "docs/refunds.md"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_query_or_task_file_with_a_byte_order_mark_is_read_in_its_encoding(
    make_repo: Callable[..., Path], tmp_path: Path, encoding: str
) -> None:
    # PowerShell's `>` writes UTF-16 with a byte order mark: the file read as UTF-8 gave "no searchable words".
    root = make_repo({"billing/refund.py": "def refund_invoice(invoice):\n    return invoice\n"})
    boms = {"utf-16-be": b"\xfe\xff"}
    query = tmp_path / "query.txt"
    query.write_bytes(boms.get(encoding, b"") + "refund invoice\n".encode(encoding))
    found = CliRunner().invoke(cli, ["-q", "search", "--repo", str(root), "--format", "jsonl", "--query-file",
                                     str(query)])  # fmt: skip
    assert found.exit_code == 0, found.output
    assert orjson.loads(found.stdout.splitlines()[0])["path"] == "billing/refund.py"
    chosen = CliRunner().invoke(cli, ["-q", "query", "--repo", str(root), "--format", "json", "--task-file",
                                      str(query)])  # fmt: skip
    assert chosen.exit_code == 0, chosen.output
    assert orjson.loads(chosen.stdout)["task"].strip() == "refund invoice"


def test_an_atlas_toml_saved_with_a_byte_order_mark_is_read(make_repo: Callable[..., Path]) -> None:
    # Windows editors start the file with U+FEFF, which tomllib refuses: every command was exit 2, "not valid TOML".
    root = make_repo({"a.py": "def alpha():\n    pass\n"})
    (root / "atlas.toml").write_bytes("\ufeff[search]\nlimit = 3\n".encode())
    result = CliRunner().invoke(cli, ["-q", "search", "--repo", str(root), "--format", "jsonl", "alpha"])
    assert result.exit_code == 0, result.output


def test_importing_a_fifo_or_a_device_says_what_it_is(tmp_path: Path, make_repo: Callable[..., Path]) -> None:
    # `atlas import /dev/zero` (or a FIFO) said "no such archive" of a path that exists.
    root = make_repo({"a.py": "def alpha():\n    pass\n"})
    fifo = tmp_path / "pipe.tgz"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):  # a directory is click's to refuse
        result = CliRunner().invoke(cli, ["import", str(path), "--repo", str(root)])
        assert result.exit_code == 2, result.output
        assert "is not a regular file" in result.stderr and "hint:" in result.stderr


@pytest.mark.parametrize("command", [["search", "main"], ["index"], ["status"]])
def test_regression_an_atlas_toml_nested_hundreds_deep_is_a_usage_error(
    make_repo: Callable[..., Path], command: list[str]
) -> None:
    # tomllib recurses once per level: a hostile clone's `a = [[[[...` crashed every command (RecursionError, exit 3).
    root = make_repo({"app.py": "def main():\n    return 0\n", "atlas.toml": "a = " + "[" * 2000 + "]" * 2000 + "\n"})
    where = ["--repo", str(root)] if command[0] != "index" else [str(root)]
    result = CliRunner().invoke(cli, [command[0], *where, *command[1:]])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"atlas: {root / 'atlas.toml'}: the config file is not valid TOML (nested too")
    assert "hint: fix or remove it" in result.stderr


@pytest.mark.parametrize(
    "args, env",
    [
        (["search", "--repo", "{root}", "--index-dir", "~no-such-user-atlas/x", "main"], {}),
        (["search", "--repo", "{root}", "main"], {"ATLAS_INDEX_DIR": "~no-such-user-atlas/x"}),
        (["--config", "~no-such-user-atlas/a.toml", "search", "--repo", "{root}", "main"], {}),
        (["search", "--repo", "{root}", "main"], {"ATLAS_CONFIG": "~no-such-user-atlas/a.toml"}),
        (["index", "~no-such-user-atlas/r"], {}),
        (["search", "--index", "~no-such-user-atlas/r", "main"], {}),
    ],
)
def test_regression_a_home_of_an_unknown_user_is_a_usage_error(
    make_repo: Callable[..., Path], args: list[str], env: dict[str, str]
) -> None:
    # `Path.expanduser` raises RuntimeError for `~nobody-known`: it was "unexpected error" (exit 3).
    root = make_repo({"app.py": "def main():\n    return 0\n"})
    result = CliRunner().invoke(cli, [a.replace("{root}", str(root)) for a in args], env=env)
    assert result.exit_code == 2, result.output
    assert "~no-such-user-atlas/" in result.stderr and "cannot tell that user's home directory" in result.stderr
    assert "unexpected" not in result.stderr


NOT_UTF8 = os.fsdecode(b"\xff")
"""A command-line value holding the byte 0xff, as Python reads it: a lone surrogate."""
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small indexed repository, to run commands in."""
    root = tmp_path_factory.mktemp("shop")
    write_tree(root, {"shop/cart.py": "def cart_total(items):\n    return sum(items)\n"})
    init_repo(root)
    assert subprocess.run([sys.executable, "-m", "atlas", "-q", "index", str(root)], env=git_env()).returncode == 0
    return root


@pytest.mark.parametrize(
    "args",
    [
        ("search", "--format", NOT_UTF8, "cart"),
        ("search", "--limit", NOT_UTF8, "cart"),
        ("search", "--preset", NOT_UTF8, "cart"),
        ("search", "--weight", NOT_UTF8, "cart"),
        ("search", "--weight", f"bm{NOT_UTF8}25=1", "cart"),
        ("search", "--lang", NOT_UTF8, "cart"),
        ("status", "--format", NOT_UTF8),
        ("search", "--query-file", f"/nonexistent/{NOT_UTF8}"),
        ("query", "--task-file", f"/nonexistent/{NOT_UTF8}"),
        ("render", f"/nonexistent/{NOT_UTF8}"),
        ("query", "--tokenizer", NOT_UTF8, "cart"),
        ("query", "--min-score", NOT_UTF8, "cart"),
        ("index", "--shards", NOT_UTF8),
        ("index", "--shards", "2", "--executor", NOT_UTF8),
        pytest.param(
            ("index", "--rebuild", "--executor", "ray", "--ray-address", NOT_UTF8),
            marks=pytest.mark.skipif(not HAS_RAY, reason="needs atlas[ray]"),
        ),
        ("index", "--shard", f"0/{NOT_UTF8}", "--out", "shard-out"),
        ("index", "--memory", NOT_UTF8),
        ("index", "--since", NOT_UTF8),
        ("index", "--half-life", NOT_UTF8),
        ("index", "--history-backend", NOT_UTF8),
    ],
    ids=lambda args: " ".join(args[:-1] if args[-1] == "cart" else args).replace(NOT_UTF8, "0xff"),
)
def test_regression_a_value_that_is_not_utf8_is_shown_with_its_byte_escaped(shop: Path, args: tuple[str, ...]) -> None:
    # Each message quoting the value showed the byte as the lone surrogate Python holds it as, '\udcff'; paths and
    # names already showed it as \xff.
    done = subprocess.run([sys.executable, "-m", "atlas", "-q", *args], cwd=shop, capture_output=True, env=git_env(),
                          timeout=120)  # fmt: skip
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 2, stderr
    assert "\\udc" not in stderr and "\\xff" in stderr.splitlines()[0], stderr
    assert len(stderr.splitlines()) == 2 and stderr.splitlines()[1].startswith("  hint: "), stderr


@pytest.mark.parametrize("command", [["index"], ["quick", "cart"], ["search", "cart"]])
def test_regression_atlas_memory_in_the_environment_is_the_memory_budget(
    shop: Path, command: list[str]
) -> None:
    # The README documents ATLAS_MEMORY as `--memory`'s value, but only the container's entry point read it (and
    # passed --memory): elsewhere any value, `nan` too, was silently ignored and the build took the default 1G.
    bad = _atlas("-q", *command, cwd=shop, env={"ATLAS_MEMORY": "nan"})
    stderr = bad.stderr.decode()
    assert bad.returncode == 2 and stderr.startswith("atlas: ATLAS_MEMORY 'nan' is not a size"), stderr
    assert len(stderr.splitlines()) == 2 and "hint:" in stderr, stderr
    small = _atlas("-q", *command, cwd=shop, env={"ATLAS_MEMORY": "1M"})
    assert small.returncode == 2 and "ATLAS_MEMORY '1M' is below the 64M minimum" in small.stderr.decode()
    assert _atlas("-q", *command, cwd=shop, env={"ATLAS_MEMORY": "256M"}).returncode == 0


def test_regression_the_memory_flag_overrides_atlas_memory(shop: Path) -> None:
    done = _atlas("-q", "index", "--rebuild", "--memory", "256M", cwd=shop, env={"ATLAS_MEMORY": "1M"})
    assert done.returncode == 0, done.stderr
