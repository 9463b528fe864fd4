"""The context commands through click and as a real process: formats, schemas, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
from click.testing import CliRunner

from atlas.cli import cli
from tests.context.conftest import validator
from tests.generated_repo import make_shop_repo

TASK = "verify webhook signature"


def _run(*args: str, input: str | None = None) -> object:
    return CliRunner().invoke(cli, ["-q", *args], input=input)


def test_query_json_validates_and_explains_every_entry(shop: Path) -> None:
    result = _run("query", TASK, "--root", str(shop), "--format", "json", "--max-tokens", "4000")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    validator("context.v1.schema.json").validate(record)
    assert record["entries"][0]["path"] == "shop/payments/gateway.py"
    assert all(entry["reason"] and entry["signals"] for entry in record["entries"])
    assert record["total_tokens"] <= 4000 and record["budget"] == {"max_bytes": None, "max_tokens": 4000}


def test_query_jsonl_is_v03(shop: Path) -> None:
    result = _run("query", TASK, "--root", str(shop), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in result.stdout_bytes.splitlines()]
    check = validator("context_jsonl_v0.3.schema.json")
    for record in records:
        check.validate(record)
    assert records[0]["Version"] == "0.3" and records[0]["Budget"] == {"MaxBytes": 100000}
    assert records[1]["Path"] == "shop/payments/gateway.py"
    assert records[-1]["TotalFiles"] == len(records) - 2


def test_query_human_lists_why(shop: Path) -> None:
    result = _run("query", TASK, "--root", str(shop), "--format", "human", "--preset", "deep")
    assert result.exit_code == 0, result.output
    assert "shop/payments/gateway.py" in result.stdout and "why: whole file" in result.stdout
    assert "preset deep" in result.stdout


def test_nothing_selected_exits_1(shop: Path) -> None:
    result = _run("query", TASK, "--root", str(shop), "--format", "json", "--min-score", "1")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["entries"] == []


def test_usage_errors_exit_2(shop: Path) -> None:
    assert _run("query", TASK, "--root", str(shop), "--min-score", "2").exit_code == 2
    assert _run("query", TASK, "--root", str(shop), "--tokenizer", "llama").exit_code == 2
    assert _run("query", "--root", str(shop), input="").exit_code == 2
    assert _run("query", "!!!", "--root", str(shop), "--format", "json").exit_code == 2
    assert _run("render", str(shop / "README.md")).exit_code == 2


def test_query_without_an_index_points_at_quick_and_quick_builds_it(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "fresh")
    missing = CliRunner().invoke(cli, ["query", TASK, "--root", str(root), "--format", "json"])
    assert missing.exit_code == 3 and "atlas quick" in missing.stderr
    quick = _run("quick", TASK, "--root", str(root), "--format", "json")
    assert quick.exit_code == 0, quick.output
    assert json.loads(quick.stdout)["entries"][0]["path"] == "shop/payments/gateway.py"
    assert (root / ".atlas").is_dir()
    again = _run("query", TASK, "--root", str(root), "--format", "json")
    assert again.exit_code == 0


def test_explain_json_has_each_files_signals_and_decision(shop: Path) -> None:
    task = "payment refund shopping cart discount"
    result = _run("explain", task, "--root", str(shop), "--format", "json", "--max-tokens", "250")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    validator("context_explain.v1.schema.json").validate(record)
    first = record["files"][0]
    assert first["path"] == "shop/cart.py" and first["decision"] in ("whole", "chunks")
    assert {term["signal"] for term in first["signals"]} >= {"bm25", "prior"}
    skipped = [row for row in record["files"] if row["decision"] == "skipped"]
    assert skipped and all(row["signals"] and "budget" in row["reason"] for row in skipped)


def test_explain_human_shows_contributions(shop: Path) -> None:
    result = _run("explain", TASK, "--root", str(shop), "--format", "human")
    assert result.exit_code == 0, result.output
    assert "bm25" in result.stdout and "rank" in result.stdout and "→" in result.stdout


def test_describe_is_json_and_validates() -> None:
    result = _run("describe")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    validator("context_describe.v1.schema.json").validate(record)
    assert [p["name"] for p in record["presets"]] == ["fast", "balanced", "deep", "thorough"]
    assert record["jsonl_compat"] == "0.3"
    assert {t["name"]: t["exact"] for t in record["tokenizers"]} == {
        "cl100k_base": True, "o200k_base": True, "estimate": False,
    }  # fmt: skip


def test_a_real_process_prints_only_the_context_record_on_stdout_when_piped(shop: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "atlas", "query", TASK, "--root", str(shop), "--max-tokens", "2000"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = orjson.loads(done.stdout)
    assert record["type"] == "context" and record["task"] == TASK and record["total_tokens"] <= 2000
    rendered = subprocess.run(
        [sys.executable, "-m", "atlas", "render", "-", "--root", str(shop)],
        input=done.stdout, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith(b"# Context: verify webhook signature\n")
    assert b"```python\n" in rendered.stdout


def test_task_from_a_file_and_from_stdin(shop: Path, tmp_path: Path) -> None:
    task = tmp_path / "task.md"
    task.write_text("Webhook signature verification fails\n\nThe HMAC compare is wrong.\n")
    from_file = _run("query", "--task-file", str(task), "--root", str(shop), "--format", "json")
    from_stdin = _run("query", "--root", str(shop), "--format", "json", input=task.read_text())
    assert from_file.exit_code == from_stdin.exit_code == 0
    assert json.loads(from_file.stdout)["entries"] == json.loads(from_stdin.stdout)["entries"]
