"""Markdown bundles: fenced code, paths and line ranges, from Atlas JSON or v0.3 JSONL."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from atlas.cli import cli
from atlas.context.model import Budget, Chunk, Entry, OutlineItem, Selection
from atlas.context.render import fence_for, render_selection


def _selection(entries: list[Entry]) -> Selection:
    return Selection("Fix the invoice total\nmore text", "/r", "balanced", "chunks", "cl100k_base",
                     Budget(None, 8000), 0.01, 60, entries, [], 10, 3, 123, 456, 1.0)  # fmt: skip


def test_whole_and_chunked_entries_render_as_fenced_markdown_with_line_ranges() -> None:
    whole = Entry("src/a.py", 1, 0.9, "python", "impl", "whole", 10, 40, 10, 40, 2, "fits",
                  [Chunk(1, 2, "", "file", "x = 1\ny = 2")])  # fmt: skip
    part = Entry("src/b.py", 2, 0.5, "python", "impl", "chunks", 30, 90, 900, 4000, 300, "too big",
                 [Chunk(10, 12, "total", "function", "def total():\n    return 0\n")],
                 [OutlineItem(1, 5, "class", "Book", "class Book:", 0)], 7)  # fmt: skip
    text = render_selection(_selection([whole, part]))
    assert text.startswith("# Context: Fix the invoice total\n2 files · 123 tokens (cl100k_base) · preset balanced\n")
    assert "## src/a.py\npython · impl · score 0.90 · whole file, 2 lines\n```python\nx = 1\ny = 2\n```\n" in text
    assert "## src/b.py\n" in text and "lines 10-12 of 300 · outline of 8 more definitions" in text
    assert "`lines 10-12 · total`\n```python\ndef total():" in text
    assert "     1: class Book:\n… 7 more definitions\n" in text


def test_fences_grow_past_backticks_in_the_content() -> None:
    assert fence_for("plain") == "```"
    assert fence_for("a ``` b") == "````"
    assert fence_for("`````") == "``````"


def test_render_reads_whole_files_for_a_v03_selection(shop: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    query = runner.invoke(cli, ["-q", "query", "shopping cart add item", "--root", str(shop), "--format", "jsonl"])
    assert query.exit_code == 0, query.output
    selection_file = tmp_path / "selection.jsonl"
    selection_file.write_bytes(query.stdout_bytes)
    result = runner.invoke(cli, ["-q", "render", str(selection_file), "--root", str(shop)])
    assert result.exit_code == 0, result.output
    first = orjson.loads(query.stdout_bytes.splitlines()[1])["Path"]
    assert f"## {first}\n" in result.stdout and (shop / first).read_text().splitlines()[0] in result.stdout
    assert result.stdout.startswith("# Context: shopping cart add item\n")


def test_render_of_json_without_content_reads_the_line_ranges(billing: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    query = runner.invoke(cli, ["-q", "query", "invoice total parsed", "--root", str(billing), "--format", "json",
                                "--max-tokens", "1200", "--no-content"])  # fmt: skip
    assert query.exit_code == 0, query.output
    assert '"text"' not in query.stdout
    result = runner.invoke(cli, ["-q", "render", "-", "--root", str(billing)], input=query.stdout)
    assert result.exit_code == 0, result.output
    assert "def parse_invoice_total(invoice):" in result.stdout and "```python\n" in result.stdout
