"""The `atlas` command: formats, exit codes, errors on stderr, lean start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.index.schema import FIELDS, SCHEMA_VERSION
from tests.generated_repo import make_shop_repo

SCHEMAS = Path(__file__).resolve().parent.parent / "index_schema"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    registry_schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in registry_schemas.values()
    )
    return jsonschema.Draft202012Validator(registry_schemas[name], registry=registry)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_shop_repo(tmp_path_factory.mktemp("cli"))
    result = CliRunner().invoke(cli, ["-q", "index", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    _validator("index_report.v1.schema.json").validate(json.loads(result.stdout))
    return root


def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas", *args], capture_output=True, text=True, input=input, timeout=120
    )


def test_jsonl_records_match_the_published_schema(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "--repo", str(repo), "--format", "jsonl", "--explain", "cart"])
    assert result.exit_code == 0
    validator = _validator("hit.v1.schema.json")
    lines = result.stdout.splitlines()
    assert lines
    for line in lines:
        validator.validate(json.loads(line))


def test_json_envelope_matches_the_published_schema(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "--repo", str(repo), "--format", "json", "payment gateway"])
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    _validator("search.v1.schema.json").validate(record)
    assert record["results"][0]["path"] == "shop/payments/gateway.py"


def test_sharded_index_reports_match_the_published_schema(tmp_path: Path) -> None:
    """`--shards N`, `--shard I/N --out DIR` and `--assemble` print index_report records too (mode `assembled`, a
    `shard` object): each is valid against the schema the README points to."""
    root = make_shop_repo(tmp_path / "repo")
    validator = _validator("index_report.v1.schema.json")
    reports = []
    for args in (
        ["index", str(root), "--shards", "2"],
        *(["index", str(root), "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")] for i in range(2)),
        ["index", str(root), "--out", str(tmp_path / "assembled"), "--assemble", str(tmp_path / "s0"),
         str(tmp_path / "s1")],
    ):  # fmt: skip
        result = CliRunner().invoke(cli, ["-q", *args, "--format", "json"])
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout))
    assert [r["mode"] for r in reports] == ["assembled", "full", "full", "assembled"]
    assert reports[1]["shard"]["index"] == 0 and reports[2]["shard"]["count"] == 2
    for report in reports:
        validator.validate(report)


def test_human_format_shows_path_and_lines(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "--repo", str(repo), "--format", "human", "apply discount"])
    assert result.exit_code == 0
    assert "shop/pricing.py" in result.stdout
    assert "def apply_discount" in result.stdout


def test_piped_output_defaults_to_jsonl_and_stderr_is_separate(repo: Path) -> None:
    done = run("search", "--repo", str(repo), "crc32 checksum")
    assert done.returncode == 0
    first = json.loads(done.stdout.splitlines()[0])
    assert first["path"] == "native/src/checksum.rs"


def test_no_results_exits_1(repo: Path) -> None:
    done = run("search", "--repo", str(repo), "zzzyzzyva")
    assert done.returncode == 1
    assert done.stdout == ""


def test_query_from_stdin_and_file(repo: Path, tmp_path: Path) -> None:
    assert run("search", "--repo", str(repo), input="StockLedger reserve").returncode == 0
    query = tmp_path / "q.txt"
    query.write_text("deploy release", encoding="utf-8")
    done = run("search", "--repo", str(repo), "--query-file", str(query))
    assert json.loads(done.stdout.splitlines()[0])["path"] == "scripts/deploy.sh"


def test_missing_repo_is_a_usage_error_with_a_hint(tmp_path: Path) -> None:
    done = run("search", "--repo", str(tmp_path / "nope"), "x")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_punctuation_only_query_is_a_usage_error(repo: Path) -> None:
    done = run("search", "--repo", str(repo), "!!! ((( ???")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("atlas: ") and lines[1].strip().startswith("hint:")


def test_corrupt_index_is_reported_with_the_fix(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "repo")
    assert run("-q", "index", str(root)).returncode == 0
    generation = root / ".atlas" / (root / ".atlas" / "CURRENT").read_text()
    (generation / "manifest.json").write_bytes(b"{not json")
    done = run("search", "--repo", str(root), "cart")
    assert done.returncode == 4
    assert "atlas index --rebuild" in done.stderr
    assert "Traceback" not in done.stderr


def test_first_search_builds_the_index_with_progress_on_stderr(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "fresh")
    done = run("search", "--repo", str(root), "shopping cart")
    assert done.returncode == 0
    assert "building one" in done.stderr
    assert json.loads(done.stdout.splitlines()[0])["path"] == "shop/cart.py"


def _imported_by(argv: list[str], names: tuple[str, ...]) -> tuple[object, list[str]]:
    """Run the CLI with `argv` in a fresh interpreter: its exit code and which of `names` it imported."""
    code = (
        "import json, sys\nfrom atlas.cli import cli\nexit_code = 0\n"
        f"try:\n    cli({argv!r}, prog_name='atlas')\nexcept SystemExit as stop:\n    exit_code = stop.code\n"
        f"print(json.dumps([exit_code, [m for m in {names!r} if m in sys.modules]]), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, imported = json.loads(done.stderr.strip().splitlines()[-1])
    return exit_code, imported


def test_help_does_not_import_heavy_modules() -> None:
    _, heavy = _imported_by(["--help"], ("tantivy", "tree_sitter", "numpy", "pydriller", "orjson"))
    assert heavy == []


def test_a_search_imports_nothing_it_does_not_use(repo: Path) -> None:
    # A cold search pays for every import: hashing, TOML (no config file here), shutil and tempfile (used
    # only to build or to open a read-only index), numpy (the side store is read without it), the walk and
    # the parsers' tables (wanted only to check a `lang:` filter) and the definition look-up (only for `sym:`) stay out.
    names = (
        "hashlib", "tomllib", "shutil", "tempfile", "numpy", "tree_sitter", "atlas.walk", "atlas.parse",
        "atlas.query.symbols",
    )  # fmt: skip
    exit_code, unused = _imported_by(["-q", "search", "--repo", str(repo), "--format", "jsonl", "cart"], names)
    assert (exit_code, unused) == (0, [])


def test_published_field_spec_equals_the_code() -> None:
    published = orjson.loads((SCHEMAS / "fields.v1.json").read_bytes())
    assert published["schema_version"] == SCHEMA_VERSION
    assert published["fields"] == FIELDS


def test_the_index_summary_names_the_files_with_parse_errors() -> None:
    from atlas.cli import _human_report

    record = {
        "mode": "full", "reason": "", "added": 0, "changed": 0, "removed": 0, "files_indexed": 9, "bytes_indexed": 9,
        "seconds": 1.0, "index_dir": ".atlas", "index_bytes": 9, "skipped": {}, "symbols": 3, "signals": {},
        "parse_errors": 7, "parse_error_examples": ["tools/spline.pl", "bad\nname.pl"],
    }  # fmt: skip
    assert "; parse errors: 7 (tools/spline.pl, bad\\nname.pl, …); symbols: 3\n" in _human_report(record)
    assert "; parse errors: 0; symbols" in _human_report({**record, "parse_errors": 0, "parse_error_examples": []})
