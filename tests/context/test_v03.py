"""repo-context JSONL v0.3: byte-exact records against the spec's examples, end to end too."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.context.model import Budget, ContextOptions, Entry, Selection, resolve_budget
from atlas.context.records import v03_file, v03_footer, v03_header, v03_records
from tests.conftest import init_repo, write_tree
from tests.context.conftest import validator

SPEC = Path(__file__).resolve().parents[3] / "shared" / "formats" / "repo-context-jsonl-v0.3.md"
HEADER = b'{"Version":"0.3","Query":"auth middleware","Preset":"balanced","Budget":{"MaxBytes":100000},"MinScore":0.01}'
FILE = b'{"Path":"src/auth/middleware.rs","Score":0.95,"Tokens":1200,"Language":"rust","Role":"impl"}'
FOOTER = b'{"TotalFiles":2,"TotalTokens":2000,"ScannedFiles":358}'


def _line(record: dict) -> bytes:
    return orjson.dumps(record)


def _entry(path: str, score: float, size: int, language: str = "rust", role: str = "impl") -> Entry:
    return Entry(path, 1, score, language, role, "whole", 0, size, 0, size, 10, "")


def _selection(entries: list[Entry], budget: Budget, preset: str = "balanced", min_score: float = 0.01) -> Selection:
    return Selection("auth middleware", "/r", preset, "files", "cl100k_base", budget, min_score, 60, entries, [],
                     358, 2, 0, 0, 0.0)  # fmt: skip


def test_the_expected_lines_are_the_specs_examples() -> None:
    if not SPEC.is_file():
        pytest.skip("shared/formats is not beside the repository")
    examples = [line.strip().encode() for line in SPEC.read_text().splitlines() if re.match(r"\s{4}\{", line)]
    assert examples == [HEADER, FILE, FOOTER]


def test_header_is_byte_exact_with_the_balanced_defaults() -> None:
    budget = resolve_budget(ContextOptions(preset="balanced"))
    assert _line(v03_header(_selection([], budget))) == HEADER


def test_file_line_is_byte_exact_and_tokens_are_bytes_over_four() -> None:
    for size in (4800, 4801, 4803):
        assert _line(v03_file(_entry("src/auth/middleware.rs", 0.95, size))) == FILE


def test_footer_is_byte_exact() -> None:
    entries = [_entry("src/auth/middleware.rs", 0.95, 4800), _entry("src/auth/session.rs", 0.5, 3200)]
    assert _line(v03_footer(_selection(entries, Budget(100_000, None)))) == FOOTER


def test_max_bytes_is_omitted_without_a_byte_budget_and_token_budgets_are_not_emitted() -> None:
    budget = resolve_budget(ContextOptions(max_tokens=8000))
    assert budget == Budget(None, 8000)
    header = _line(v03_header(_selection([], budget)))
    assert b'"Budget":{}' in header and b"Tokens" not in header


def test_languages_use_the_specs_names_and_every_record_validates() -> None:
    entries = [_entry("run.sh", 0.5, 40, "bash"), _entry("ui/app.tsx", 0.25, 8, "tsx", "impl")]
    records = v03_records(_selection(entries, Budget(None, None)))
    assert [r.get("Language") for r in records[1:3]] == ["shell", "typescript"]
    check = validator("context_jsonl_v0.3.schema.json")
    for record in records:
        check.validate(record)
    assert list(records[0]) == ["Version", "Query", "Preset", "Budget", "MinScore"]
    assert list(records[1]) == ["Path", "Score", "Tokens", "Language", "Role"]
    assert list(records[-1]) == ["TotalFiles", "TotalTokens", "ScannedFiles"]


def _sized(text: str, size: int) -> str:
    """`text` padded with filler comment lines to exactly `size` bytes."""
    filler = "// filler line of the fixture\n"
    text += filler * ((size - len(text)) // len(filler))
    return text + "/" * (size - len(text) - 1) + "\n"


@pytest.fixture(scope="module")
def auth_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """358 files: an auth middleware of 4,800 bytes, an auth session of 3,200 bytes, and 356 unrelated files."""
    files: dict[str | bytes, str | bytes] = {
        "src/auth/middleware.rs": _sized("pub fn auth_middleware(req: Request) -> Response { ok(req) }\n", 4800),
        "src/auth/session.rs": _sized("pub struct Session { user: String }\n", 3200),
    }
    files.update({f"pkg/part{i:03d}/data{i:03d}.txt": f"row {i}\n" for i in range(356)})
    root = tmp_path_factory.mktemp("auth") / "repo"
    write_tree(root, files)
    init_repo(root)
    assert (root / "src/auth/middleware.rs").stat().st_size == 4800
    assert (root / "src/auth/session.rs").stat().st_size == 3200
    return root


def test_end_to_end_balanced_header_and_footer_are_the_specs(auth_repo: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "index", str(auth_repo)]).exit_code == 0
    result = runner.invoke(cli, ["-q", "query", "auth middleware", "--root", str(auth_repo), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    assert lines[0] == HEADER
    assert [orjson.loads(line)["Path"] for line in lines[1:-1]] == ["src/auth/middleware.rs", "src/auth/session.rs"]
    assert lines[-1] == FOOTER
    first = orjson.loads(lines[1])
    assert (first["Tokens"], first["Language"], first["Role"]) == (1200, "rust", "impl")


def test_end_to_end_fast_preset_gives_the_specs_footer_without_an_index(auth_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    files = [p for p in auth_repo.rglob("*") if p.is_file() and not {".git", ".atlas"} & set(p.parts)]
    write_tree(clone, {p.relative_to(auth_repo).as_posix(): p.read_bytes() for p in files})
    result = CliRunner().invoke(cli, ["-q", "query", "auth middleware", "--root", str(clone), "--preset", "fast",
                                      "--format", "jsonl"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    assert lines[0] == HEADER.replace(b"balanced", b"fast").replace(b"100000", b"50000").replace(b"0.01", b"0.05")
    assert [orjson.loads(line)["Path"] for line in lines[1:-1]] == ["src/auth/middleware.rs", "src/auth/session.rs"]
    assert lines[-1] == FOOTER
    assert not (clone / ".atlas").exists()
