"""Nothing outside the repository root is ever read or served, whatever the tree or the index says.

Hostile cases, end to end through the real CLI (in-process with click's CliRunner, or a subprocess
where a read could hang) and the real MCP server (a subprocess driven by the SDK's client):

- a file swapped for a symbolic link after indexing (to a file outside, through a directory
  link, or for a FIFO) is served without its text, never with the text it now leads to;
- a crafted index whose file table names `../x`, `/abs` or a non-normalised path is refused by
  `atlas import` and reported corrupt (exit 4) when opened in place;
- `atlas render` reads only relative, normalised paths inside the root.

Every tree is a real git repository; every index is a real one built by Atlas (the crafted ones
are rewritten with Atlas's own generation writer, so their checksums and sizes agree).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from atlas.api import index_config, index_repo
from atlas.cli import cli
from atlas.index import store
from atlas.parse import ParseOptions
from atlas.parse.pool import ParsePool
from atlas.partition import file_content_hash
from atlas.records import FileEntry, ParsedFile, Skipped, SkipReason
from atlas.walk import walk
from tests.conftest import Symlink, deadline, git

SECRET = "SECRET-7f3a9c-ledger-password"
SECRET_TEXT = f"def process_refund(order):\n    # refund ledger credentials\n    return '{SECRET}'\n"
FILES: dict[str, Any] = {
    "billing/__init__.py": "",
    "billing/refund.py": (
        "def process_refund(order):\n    \"\"\"Refund an order to its card.\"\"\"\n"
        "    return issue_refund(order.card, order.total)\n\n\ndef issue_refund(card, amount):\n"
        "    return {'card': card, 'refund': amount}\n"
    ),
    "billing/invoice.py": "def invoice_total(order):\n    # refund lines count negative\n    return sum(order.lines)\n",
    "lib/real_ledger.py": "def ledger_refund_entry(amount):\n    return ('refund', amount)\n",
    "lib/alias_ledger.py": Symlink("real_ledger.py"),
    "README.md": "# Shop\n\nRefunds go through billing.\n",
}


def atlas(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["-q", *args], input=input)


def atlas_process(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m atlas ...` in `root`; a read that blocks makes it time out."""
    command = [sys.executable, "-m", "atlas", "-q", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the repository holding a secret that looks like code the queries want."""
    directory = tmp_path / "outside"
    (directory / "billing").mkdir(parents=True)
    (directory / "secret.py").write_text(SECRET_TEXT)
    (directory / "billing" / "refund.py").write_text(SECRET_TEXT)
    return directory


@pytest.fixture
def repo(make_repo: Callable[..., Path], outside: Path) -> Path:
    root = make_repo(FILES)
    index_repo(index_config(root, jobs=1), show_progress=False)
    return root


def swap(root: Path, outside: Path, how: str) -> None:
    """Replace what the index knows as billing/refund.py with something that is not that file."""
    target = root / "billing" / "refund.py"
    if how == "directory":
        shutil.rmtree(root / "billing")
        (root / "billing").symlink_to(outside / "billing")
        return
    target.unlink()
    if how == "absolute":
        target.symlink_to(outside / "secret.py")
    elif how == "relative":
        target.symlink_to(os.path.relpath(outside / "secret.py", target.parent))
    elif how == "fifo":
        os.mkfifo(target)


SWAPS = ["absolute", "relative", "directory"]


# ---------------------------------------------------------------------------------------------
# Files swapped for symbolic links after indexing.


@pytest.mark.parametrize("how", SWAPS)
def test_regression_search_does_not_serve_a_file_swapped_for_a_link_out_of_the_root(
    repo: Path, outside: Path, how: str
) -> None:
    swap(repo, outside, how)
    result = atlas("search", "--repo", str(repo), "--format", "jsonl", "process refund ledger")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stdout
    hits = {hit["path"]: hit for hit in map(json.loads, result.stdout.splitlines())}
    # The indexed file is not read: a link out of the root, which the walk leaves out, is left out of the hits (the
    # search asks the rules of each link, `IgnoreStamps.asked`); through a directory swapped, a result without text.
    if how == "directory":
        assert hits["billing/refund.py"]["lines"] == []
    else:
        assert "billing/refund.py" not in hits and "left out billing/refund.py" in result.output
    assert any(hit["lines"] for path, hit in hits.items() if path != "billing/refund.py")


@pytest.mark.parametrize("how", SWAPS)
def test_regression_query_does_not_serve_a_file_swapped_for_a_link_out_of_the_root(
    repo: Path, outside: Path, how: str
) -> None:
    swap(repo, outside, how)
    result = atlas("query", "--root", str(repo), "--format", "json", "--max-tokens", "4000", "process refund ledger")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stdout
    selection = json.loads(result.stdout)
    assert "billing/refund.py" not in [entry["path"] for entry in selection["entries"]]
    assert any(s["path"] == "billing/refund.py" for s in selection["skipped"])
    jsonl = atlas("query", "--root", str(repo), "--format", "jsonl", "process refund ledger")
    assert jsonl.exit_code == 0 and SECRET not in jsonl.stdout


def test_regression_a_file_swapped_for_a_fifo_does_not_hang_search_or_query(repo: Path, outside: Path) -> None:
    swap(repo, outside, "fifo")
    search = atlas_process(repo, "search", "--format", "jsonl", "process refund", timeout=30)
    assert search.returncode == 0, search.stderr
    assert any(json.loads(line)["path"] == "billing/refund.py" for line in search.stdout.splitlines())
    query = atlas_process(repo, "query", "--format", "json", "process refund", timeout=30)
    assert query.returncode == 0, query.stderr
    assert "billing/refund.py" not in [entry["path"] for entry in json.loads(query.stdout)["entries"]]


def test_a_link_inside_the_root_stays_readable(repo: Path) -> None:
    result = atlas("search", "--repo", str(repo), "--format", "jsonl", "ledger refund entry")
    assert result.exit_code == 0, result.output
    hits = {hit["path"]: hit for hit in map(json.loads, result.stdout.splitlines())}
    assert "def ledger_refund_entry" in hits["lib/alias_ledger.py"]["lines"][0]["text"]
    query = atlas("query", "--root", str(repo), "--format", "json", "ledger refund entry")
    entries = {entry["path"] for entry in json.loads(query.stdout)["entries"]}
    assert "lib/alias_ledger.py" in entries


def test_a_link_inside_the_root_swapped_to_lead_out_is_refused(repo: Path, outside: Path) -> None:
    link = repo / "lib" / "alias_ledger.py"
    link.unlink()
    link.symlink_to(outside / "secret.py")
    result = atlas("search", "--repo", str(repo), "--format", "jsonl", "ledger refund entry")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stdout


def test_regression_a_file_swapped_for_a_link_into_git_is_not_served(repo: Path) -> None:
    (repo / ".git" / "config").write_text("[remote]\n\turl = https://user:process-refund-token@example.com\n")
    target = repo / "billing" / "refund.py"
    target.unlink()
    target.symlink_to("../.git/config")
    result = atlas("query", "--root", str(repo), "--format", "json", "process refund")
    assert result.exit_code == 0, result.output
    assert "process-refund-token" not in result.stdout


@pytest.mark.parametrize("how", ["absolute", "directory"])
def test_regression_mcp_does_not_serve_a_file_swapped_for_a_link_out_of_the_root(
    repo: Path, outside: Path, how: str
) -> None:
    pytest.importorskip("mcp", reason="needs the `mcp` extra")
    from tests.mcp.client import call, call_text, run

    async def scenario(session: Any) -> None:
        fresh, is_error = await call(session, "search", {"query": "process refund", "limit": 5})
        assert not is_error and fresh["results"][0]["path"] == "billing/refund.py"
        swap(repo, outside, how)  # within the check interval: answers come from the index as built
        text, is_error = await call_text(session, "search", {"query": "process refund ledger", "limit": 10})
        assert not is_error, text
        assert SECRET not in text and "billing/refund.py" in text
        text, is_error = await call_text(session, "context", {"task": "process refund ledger", "max_tokens": 4000})
        assert not is_error, text
        assert SECRET not in text
        assert "billing/refund.py" not in [e["path"] for e in json.loads(text)["entries"]]

    run(repo, scenario, "--check-interval", "3600")


# ---------------------------------------------------------------------------------------------
# Files swapped between the walk and an index run's reads of them (parse, hashes).


def walked(root: Path) -> list[FileEntry]:
    """The files an index run of `root` would read, as its walk hands them on."""
    return [entry for entry in walk(root) if isinstance(entry, FileEntry)]


@pytest.mark.parametrize("how", [*SWAPS, "fifo"])
def test_regression_a_file_swapped_after_the_walk_is_not_read_by_the_parser(
    repo: Path, outside: Path, how: str
) -> None:
    entries = walked(repo)
    swap(repo, outside, how)
    with deadline(30), ParsePool(1, ParseOptions()) as pool:
        results = {item.path: item for item in pool.parse(entries)}
    refund = results["billing/refund.py"]
    assert isinstance(refund, Skipped) and refund.reason is SkipReason.UNREADABLE, refund
    assert isinstance(results["lib/alias_ledger.py"], ParsedFile)  # a link inside the root is still read


@pytest.mark.parametrize("how", [*SWAPS, "fifo"])
def test_regression_a_file_swapped_after_the_walk_is_not_hashed(repo: Path, outside: Path, how: str) -> None:
    from atlas.status import diff_tree, load_table

    table = load_table(store.current_generation(repo / ".atlas"))  # type: ignore[arg-type]
    entries = [replace(entry, mtime_ns=entry.mtime_ns + 1) for entry in walked(repo)]  # moved: hashed
    swap(repo, outside, how)
    with deadline(30):
        assert file_content_hash(repo, "billing/refund.py", 1 << 20) == "unreadable"
        changed = {table.paths[fid] for fid in diff_tree(table, entries, hash_moved=True).changed}
    assert "billing/refund.py" in changed and "lib/alias_ledger.py" not in changed


# ---------------------------------------------------------------------------------------------
# Crafted indexes: a file table that names files outside the root.


def craft(root: Path, evil: str) -> None:
    """Rewrite the live index of `root` so that billing/refund.py is indexed under the path `evil`.

    The new generation is written by Atlas's own writer: tantivy documents, file table, manifest and
    side store agree, so size and checksum checks pass.
    """
    from atlas.index.writer import GenerationWriter
    from atlas.parse import parse_bytes

    index_dir = root / ".atlas"
    live = store.current_generation(index_dir)
    assert live is not None
    manifest = orjson.loads((live / store.MANIFEST).read_bytes())
    writer = GenerationWriter(index_dir, 64 << 20, previous=live)
    fid = writer.table.fids()["billing/refund.py"]
    writer.replace(fid, parse_bytes(evil, SECRET_TEXT.encode(), 0))
    shutil.copytree(live / store.SIGNALS_DIR, writer.generation_dir / store.SIGNALS_DIR)
    writer.finish({k: v for k, v in manifest.items() if k not in ("schema_version", "tantivy_version", "files_bytes")})


def evil_paths(outside: Path, root: Path) -> list[str]:
    return [
        str(outside / "secret.py"),
        os.path.relpath(outside / "secret.py", root),
        "billing/../../outside/secret.py",
        "billing//refund.py",
        "./billing/refund.py",
        "billing/refund.py/",
        "",
        "billing/refund\0.py",
    ]


EVIL_IDS = ["absolute", "dotdot", "dotdot-inside", "double-slash", "dot", "trailing-slash", "empty", "nul"]


def packed_as_is(index_dir: Path, archive: Path) -> None:
    """Write the live generation of `index_dir` to `archive` as `atlas export` packs it, unchecked."""
    from atlas.artifacts import _close, _open_members, _write_archive

    generation = store.current_generation(index_dir)
    assert generation is not None
    members = _open_members(generation)
    assert members is not None
    try:
        _write_archive(members, archive)
    finally:
        _close(members)


@pytest.mark.parametrize("which", range(len(EVIL_IDS)), ids=EVIL_IDS)
def test_regression_a_crafted_index_is_refused_by_import(
    repo: Path, outside: Path, make_repo: Callable[..., Path], tmp_path: Path, which: int
) -> None:
    craft(repo, evil_paths(outside, repo)[which])
    archive = tmp_path / "crafted.tgz"
    exported = atlas("export", "--repo", str(repo), str(archive))
    assert exported.exit_code == 4 and "damaged" in exported.stderr, exported.output  # as verify says
    packed_as_is(repo / ".atlas", archive)  # as an Atlas that exported anything did, or an attacker's hand
    target = make_repo(FILES, name="target")
    index_repo(index_config(target, jobs=1), show_progress=False)
    before = store.current_generation(target / ".atlas")
    result = atlas("import", "--repo", str(target), str(archive))
    assert result.exit_code == 4, result.output
    assert "crafted or corrupt" in result.stderr and "hint:" in result.stderr
    assert store.current_generation(target / ".atlas") == before
    search = atlas("search", "--repo", str(target), "--format", "jsonl", "process refund ledger")
    assert search.exit_code == 0 and SECRET not in search.stdout


@pytest.mark.parametrize("which", range(len(EVIL_IDS)), ids=EVIL_IDS)
def test_regression_a_crafted_index_opened_in_place_is_corrupt(repo: Path, outside: Path, which: int) -> None:
    craft(repo, evil_paths(outside, repo)[which])
    for args in (["search", "--repo", str(repo), "--format", "jsonl"], ["query", "--root", str(repo)]):
        result = atlas(*args, "process refund ledger")
        assert result.exit_code == 4, (args, result.output)
        assert SECRET not in result.stdout
        assert "corrupt" in result.stderr and "hint:" in result.stderr
    assert atlas("verify", "--repo", str(repo)).exit_code == 4


def test_a_crafted_index_is_rebuilt_by_the_next_index_run(repo: Path, outside: Path) -> None:
    craft(repo, str(outside / "secret.py"))
    result = atlas("index", str(repo), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "damaged" in json.loads(result.stdout)["reason"]
    search = atlas("search", "--repo", str(repo), "--format", "jsonl", "process refund ledger")
    assert search.exit_code == 0 and SECRET not in search.stdout


def test_mcp_on_a_crafted_index_never_serves_the_file(repo: Path, outside: Path) -> None:
    pytest.importorskip("mcp", reason="needs the `mcp` extra")
    from tests.mcp.client import call_text, run

    craft(repo, str(outside / "secret.py"))

    async def scenario(session: Any) -> None:
        calls = (("search", {"query": "process refund ledger"}), ("context", {"task": "process refund"}))
        for tool, arguments in calls:
            text, _ = await call_text(session, tool, arguments)
            assert SECRET not in text

    run(repo, scenario, "--check-interval", "3600")


# ---------------------------------------------------------------------------------------------
# atlas render: only relative, normalised paths inside the root.


def v03(*paths: str) -> str:
    header = {"Version": "0.3", "Query": "process refund", "Preset": "balanced"}
    files = [{"Path": path, "Score": 1.0, "Tokens": 10, "Language": "python"} for path in paths]
    return "\n".join(json.dumps(record) for record in [header, *files]) + "\n"


@pytest.mark.parametrize("which", range(len(EVIL_IDS)), ids=EVIL_IDS)
def test_regression_render_does_not_read_a_path_outside_the_root(repo: Path, outside: Path, which: int) -> None:
    evil = evil_paths(outside, repo)[which]
    result = atlas("render", "-", "--root", str(repo), input=v03(evil, "billing/invoice.py"))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stdout
    assert "## billing/invoice.py\n" in result.stdout and "def invoice_total" in result.stdout
    assert f"## {evil}\n" not in result.stdout
    assert "left out" in result.stderr and "not a relative path inside the repository" in result.stderr


def test_a_selection_naming_a_file_twice_renders_it_once_and_says_so(repo: Path) -> None:
    result = atlas("render", "-", "--root", str(repo), input=v03("billing/invoice.py", "billing/invoice.py"))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("## billing/invoice.py\n") == 1
    assert "billing/invoice.py: listed again" in result.stderr


def test_regression_render_does_not_follow_a_link_out_of_the_root(repo: Path, outside: Path) -> None:
    swap(repo, outside, "absolute")
    result = atlas("render", "-", "--root", str(repo), input=v03("billing/refund.py"))
    assert SECRET not in result.stdout
    assert result.exit_code == 1 and "left out billing/refund.py" in result.stderr


def test_regression_render_does_not_serve_a_file_the_ignore_rules_leave_out(make_repo: Callable[..., Path]) -> None:
    """A selection may come from anywhere: one naming `.env`, a file in an ignored directory or one `.atlasignore`
    leaves out had render print its text into the prompt, where no search, query or link to it ever serves it."""
    files = {".gitignore": ".env\nsecrets/\n", ".atlasignore": "billing/private.py\n", ".env": f"API_KEY={SECRET}\n"}
    files.update({"secrets/ledger.py": SECRET_TEXT, "billing/private.py": SECRET_TEXT})
    root = make_repo({**files, "billing/invoice.py": FILES["billing/invoice.py"]})
    left_out = (".env", "secrets/ledger.py", "billing/private.py")
    result = atlas("render", "-", "--root", str(root), input=v03(*left_out, "billing/invoice.py"))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stdout and "## billing/invoice.py\n" in result.stdout
    for path in left_out:
        assert f"left out {path}: the ignore rules leave it out of the index" in result.stderr, result.stderr


def test_regression_render_does_not_take_the_root_from_the_selection_file(repo: Path, outside: Path) -> None:
    record = {"type": "context", "task": "process refund", "root": str(outside), "entries": [
        {"path": "secret.py", "mode": "whole", "chunks": []}]}  # fmt: skip
    selection = repo.parent / "selection.json"
    selection.write_text(json.dumps(record))
    result = atlas_process(repo, "render", str(selection))
    assert SECRET not in result.stdout
    assert result.returncode == 2, result.stderr
    assert f"--root {outside}" in result.stderr
    allowed = atlas_process(repo, "render", str(selection), "--root", str(outside))
    assert allowed.returncode == 0 and SECRET in allowed.stdout  # an explicit --root is the user's choice


# ---------------------------------------------------------------------------------------------
# The index directory is invisible to git and to the walk.


def test_regression_the_index_dir_is_ignored_by_git(repo: Path) -> None:
    assert (repo / ".atlas" / ".gitignore").read_text() == "*\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == b""


def test_regression_an_index_dir_inside_the_tree_is_ignored_by_git(make_repo: Callable[..., Path]) -> None:
    root = make_repo(FILES, name="elsewhere")
    result = atlas("index", str(root), "--index-dir", str(root / "build" / "idx"))
    assert result.exit_code == 0, result.output
    assert git(root, "status", "--porcelain", "--untracked-files=all") == b""


def test_regression_a_nested_index_dir_is_not_indexed(make_repo: Callable[..., Path]) -> None:
    root = make_repo({**FILES, "vendor/kit/kit.py": "def kit_refund():\n    return 1\n"}, name="nested")
    index_repo(index_config(root / "vendor" / "kit", jobs=1), show_progress=False)
    (root / "vendor" / "kit" / ".atlas" / ".gitignore").unlink(missing_ok=True)  # as an older Atlas left it
    (root / "vendor" / "kit" / ".atlas" / "notes.py").write_text("def process_refund_nested():\n    pass\n")
    index_repo(index_config(root, jobs=1), show_progress=False)
    result = atlas("search", "--repo", str(root), "--format", "jsonl", "--limit", "50", "process refund nested")
    paths = [json.loads(line)["path"] for line in result.stdout.splitlines()]
    assert paths and not [p for p in paths if ".atlas" in p.split("/")]
    assert "vendor/kit/kit.py" in atlas("search", "--repo", str(root), "--format", "jsonl", "kit refund").stdout


def test_a_file_table_with_columns_of_unequal_lengths_is_damage(repo: Path) -> None:
    """status read such a table as a whole one and failed with an IndexError (exit 3, "unexpected error")."""
    live = store.current_generation(repo / ".atlas")
    assert live is not None
    table = orjson.loads((live / store.FILES).read_bytes())
    (live / store.FILES).write_bytes(orjson.dumps({**table, "sizes": table["sizes"][:-1]}))
    result = atlas("status", "--repo", str(repo))
    assert result.exit_code == 4, result.output
    assert "unequal lengths" in result.stderr and "hint:" in result.stderr


@pytest.mark.parametrize("preset", ["balanced", "fast"])
def test_regression_an_ignored_file_is_not_served_through_a_committed_link_to_it(
    make_repo: Callable[..., Path], preset: str
) -> None:
    """`credentials.txt -> .env`, committed: git tracks the link's text, never the ignored `.env`, but the index held
    the `.env` under the link's name, and search, query and the fast preset (which lists files with git) served it."""
    root = make_repo({".gitignore": ".env\n", ".env": f"API_KEY={SECRET}\n", "credentials.txt": Symlink(".env"),
                      "billing/refund.py": FILES["billing/refund.py"]})  # fmt: skip
    assert git(root, "ls-files").decode().split() == [".gitignore", "billing/refund.py", "credentials.txt"]
    index_repo(index_config(root, jobs=1), show_progress=False)
    outputs = [atlas("query", "--repo", str(root), "--preset", preset, "--format", "json", "credentials refund")]
    if preset == "balanced":
        outputs.append(atlas("search", "--repo", str(root), "--format", "json", "credentials api key"))
        outputs.append(atlas("search", "--repo", str(root), "--format", "json", "-l", SECRET))
    for result in outputs:
        assert result.exit_code in (0, 1), result.output
        assert "credentials.txt" not in result.stdout and "API_KEY" not in result.stdout, result.stdout


@pytest.mark.parametrize("swapped", ["file", "directory"])
def test_regression_a_link_retargeted_at_an_ignored_file_after_indexing_is_not_served(
    make_repo: Callable[..., Path], swapped: str
) -> None:
    """A link indexed while it led to a file of the tree, retargeted since (a pull) at an ignored file, or a directory
    swapped for a link into an ignored one: `atlas query` served the ignored file's text under the indexed name."""
    ignored = f"API_KEY={SECRET}\ndef refund_ledger_total():\n    return 0\n"
    files = {".gitignore": ".env\nsecrets/\n", ".env": ignored, "secrets/ledger.py": ignored,
             "billing/ledger.py": "def refund_ledger_total():\n    return 1\n"}  # fmt: skip
    files.update({"ledger.py": Symlink("billing/ledger.py")} if swapped == "file" else {})
    root = make_repo(files)
    index_repo(index_config(root, jobs=1), show_progress=False)
    if swapped == "file":
        (root / "ledger.py").unlink()
        (root / "ledger.py").symlink_to(".env")
    else:
        shutil.rmtree(root / "billing")
        (root / "billing").symlink_to("secrets")
    for command in ("query", "search"):
        result = atlas(command, "--repo", str(root), "--format", "json", "refund ledger total")
        assert result.exit_code in (0, 1), result.output
        assert SECRET not in result.stdout and "API_KEY" not in result.stdout, result.stdout
    explained = atlas("explain", "--repo", str(root), "--format", "json", "refund ledger total")
    assert "a file the ignore rules leave out" in explained.stdout, explained.stdout



def test_a_read_asks_for_the_size_stat_gave_then_reads_on_to_its_limit(tmp_path: Path) -> None:
    # A read asks for the file's size (plus one byte), not for its limit: a buffered read of 4 MiB allocated 4 MiB
    # for every 30 KB hit. A file longer than its stat said (it grew; /proc's files say 0) is still read to the limit.
    from atlas.safe_read import _read_fd, read_regular_file

    data = bytes(range(256)) * 1000
    (tmp_path / "grown.bin").write_bytes(data)
    for size, limit, expected in ((10, 1 << 20, data), (0, 5000, data[:5000]), (len(data), len(data), data)):
        fd = os.open(tmp_path / "grown.bin", os.O_RDONLY)
        try:
            assert _read_fd(fd, limit, size) == expected
        finally:
            os.close(fd)
    with open("/proc/self/mountinfo", "rb") as table:
        assert read_regular_file("/proc/self/mountinfo", 1 << 22).split(b"\n")[0] == table.read().split(b"\n")[0]
