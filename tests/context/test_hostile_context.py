"""Context selection on hostile trees and crafted input: `query`, `quick`, `explain` and `render`, end to end.

Each case runs the real command on a real directory (a git repository when it matters) and checks what a user
sees: the exit code, one sentence plus a hint on stderr, and that nothing is served that should not be.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from atlas.cli import cli
from atlas.context.chunks import MAX_READ_BYTES
from tests.conftest import git, init_repo, write_tree


def atlas(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def assert_one_sentence_and_hint(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("atlas: ") and lines[1].startswith("  hint: "), stderr
    assert "unexpected error" not in stderr and "Traceback" not in stderr


def test_a_symbolic_link_loop_outside_git_is_not_listed_by_the_fast_preset(tmp_path: Path) -> None:
    write_tree(tmp_path, {"config/parser.py": "def parse_config():\n    return 1\n"})
    os.symlink("loop", tmp_path / "loop")
    os.symlink("config_loop", tmp_path / "config" / "config_loop")
    result = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", "parse config")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [entry["path"] for entry in record["entries"]] == ["config/parser.py"]


def test_a_file_name_with_a_newline_or_an_escape_cannot_forge_markdown_or_reach_the_terminal(tmp_path: Path) -> None:
    forged, coloured = "config\n## forged.py", "\x1b[2J\x1b[31mred_config.py"
    write_tree(tmp_path, {
        forged: "def parse_config():\n    return 1\n",
        coloured: "def parse_config():\n    return 2\n",
    })
    init_repo(tmp_path)
    chosen = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", "--no-content", "config")
    assert chosen.exit_code == 0, chosen.output
    assert {entry["path"] for entry in json.loads(chosen.stdout)["entries"]} == {forged, coloured}
    rendered = atlas("render", "-", "--root", str(tmp_path), input=chosen.stdout)
    assert rendered.exit_code == 0, rendered.output
    headings = [line for line in rendered.stdout.splitlines() if line.startswith("## ")]
    assert sorted(headings) == ['## "\\x1b[2J\\x1b[31mred_config.py"', '## "config\\n## forged.py"'], rendered.stdout
    assert "\x1b" not in rendered.stdout and "return 1" in rendered.stdout and "return 2" in rendered.stdout


def test_a_file_too_large_to_read_whole_is_skipped_not_served_cut_as_the_whole_file(tmp_path: Path) -> None:
    line = "x = 1  # a filler line of the huge module\n"
    huge = line * (MAX_READ_BYTES // len(line) + 10) + "LAST_LINE = 2\n"
    write_tree(tmp_path, {"huge_config.py": huge, "config_small.py": "def parse_config():\n    return 1\n"})
    init_repo(tmp_path)
    unlimited = ("--max-bytes", "0", "--max-tokens", "1000000000", "--tokenizer", "estimate")
    for strategy in ((), ("--whole-files",)):
        chosen = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", *unlimited,
                       *strategy, "huge config")  # fmt: skip
        assert chosen.exit_code == 0, chosen.output
        record = json.loads(chosen.stdout)
        assert [entry["path"] for entry in record["entries"]] == ["config_small.py"]
        assert [skip["path"] for skip in record["skipped"]] == ["huge_config.py"]
        assert "too large" in record["skipped"][0]["reason"]
    listed = '{"Version":"0.3"}\n{"Path":"huge_config.py"}\n'
    rendered = atlas("render", "-", "--root", str(tmp_path), input=listed)
    assert rendered.exit_code == 1 and "x = 1" not in rendered.stdout
    assert "left out huge_config.py: too large" in rendered.stderr


def test_a_task_without_words_is_a_usage_error_in_the_fast_preset_as_in_the_others(tmp_path: Path) -> None:
    write_tree(tmp_path, {"config.py": "def parse_config():\n    return 1\n"})
    init_repo(tmp_path)
    for task in ("", "!!! ??? ---", "   \n\t"):
        result = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", input=task)
        assert result.exit_code == 2, (task, result.output)
        said = "the task is empty" if not task.strip() else "no searchable words"
        assert result.stdout == "" and said in result.stderr
        assert_one_sentence_and_hint(result.stderr)


def test_the_fast_preset_refuses_a_git_directory_as_the_other_presets_do(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_tree(repo, {"config.py": "def parse_config():\n    return 1\n"})
    init_repo(repo)
    git(repo, "config", "remote.origin.url", "https://user:SECRET_TOKEN@example.com/repo.git")
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "repo.git"))
    for root in (repo / ".git", tmp_path / "repo.git"):
        for preset in ("fast", "balanced"):
            result = atlas("quick", "--preset", preset, "--root", str(root), "--format", "json", "config remote origin")
            assert result.exit_code == 2, (root, preset, result.output)
            assert "SECRET_TOKEN" not in result.stdout and "bare repository" in result.stderr
            assert_one_sentence_and_hint(result.stderr)


def test_render_shows_only_lines_the_file_has_under_the_range_they_are(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "def alpha():\n    return 1\n", "b.py": "def beta():\n    return 2\n"})
    init_repo(tmp_path)
    alpha = {"start_line": 0, "end_line": 5, "symbol": "alpha"}
    beta = {"start_line": 50, "end_line": 60, "symbol": "beta"}
    entries = [
        {"path": "a.py", "language": "python", "mode": "chunks", "chunks": [alpha]},
        {"path": "b.py", "mode": "chunks", "chunks": [beta]},
    ]
    record = {"type": "context", "task": "alpha beta", "entries": entries}
    result = atlas("render", "-", "--root", str(tmp_path), input=json.dumps(record))
    assert result.exit_code == 0, result.output
    assert "`lines 1-2 · alpha`\n```python\ndef alpha():\n    return 1\n```" in result.stdout
    assert "lines 0-5" not in result.stdout and "## b.py" not in result.stdout and "lines 50-60" not in result.stdout
    assert "left out b.py: none of its line ranges is within its 2 lines" in result.stderr


def test_regression_a_file_edited_to_as_many_lines_is_cut_at_its_own_definitions(tmp_path: Path) -> None:
    # An edit that kept the line count (two functions swapped) kept the index's outline: the chunk named
    # `beta_refund` held the end of `alpha_refund`, and the real `beta_refund` was not shown.
    body = "".join(f"    step_{i} = {i}\n" for i in range(300))
    alpha, beta = "def alpha_refund():\n" + body + "    return 1\n", "def beta_refund():\n    return 2\n"
    write_tree(tmp_path, {"pay.py": alpha + "\n\n" + beta})
    init_repo(tmp_path)
    assert atlas("-q", "index", str(tmp_path), "--format", "json").exit_code == 0
    (tmp_path / "pay.py").write_text(beta + "\n\n" + alpha)
    chosen = atlas("query", "--root", str(tmp_path), "--format", "json", "--max-tokens", "600", "beta refund")
    assert chosen.exit_code == 0, chosen.output
    chunks = [chunk for entry in json.loads(chosen.stdout)["entries"] for chunk in entry["chunks"]]
    named = [chunk for chunk in chunks if chunk["symbol"] == "beta_refund"]
    assert named and all(chunk["text"].startswith("def beta_refund():") for chunk in named), chunks


def test_regression_a_file_edited_after_indexing_is_cut_at_its_own_definitions_not_the_index_ones(
    tmp_path: Path,
) -> None:
    # The digest took its definitions' line ranges from the index whatever the file held now: after lines were
    # added at the top, a chunk named `parse_invoice_total` held the end of the function before it and the start
    # of this one, and lost its own last lines.
    from tests.context.conftest import big_module

    write_tree(tmp_path, {"billing/invoices.py": big_module()})
    init_repo(tmp_path)
    indexed = atlas("-q", "index", str(tmp_path), "--format", "json")
    assert indexed.exit_code == 0, indexed.output
    module = tmp_path / "billing" / "invoices.py"
    module.write_text("import sys\n" * 25 + module.read_text())
    chosen = atlas("query", "--root", str(tmp_path), "--format", "json", "--max-tokens", "500", "invoice total")
    assert chosen.exit_code == 0, chosen.output
    lines = module.read_text().splitlines()
    chunks = [chunk for entry in json.loads(chosen.stdout)["entries"] for chunk in entry["chunks"]]
    named = [chunk for chunk in chunks if chunk["symbol"] == "parse_invoice_total"]
    assert named, chunks
    start = lines.index("def parse_invoice_total(invoice):") + 1
    for chunk in named:
        assert (chunk["start_line"], chunk["end_line"]) == (start, start + 15), chunk
        assert chunk["text"] == "\n".join(lines[start - 1 : start + 15]), chunk


def test_regression_a_selection_whose_text_fields_are_not_strings_is_refused(tmp_path: Path) -> None:
    # `"root": null` read as the root "None" ("the selection was made in None", "hint: pass --root None"), and a
    # v0.3 `"Path": null` as a file named "None".
    write_tree(tmp_path, {"app.py": "def gizmo():\n    pass\n", "None": "secret = 1\n"})
    init_repo(tmp_path)
    made = atlas("quick", "gizmo", "--root", str(tmp_path), "--format", "json")
    assert made.exit_code == 0, made.output
    record = json.loads(made.stdout)
    for key in ("root", "task", "preset"):
        broken = json.dumps({**record, key: None})
        result = atlas("render", "-", "--root", str(tmp_path), input=broken)
        assert result.exit_code == 2, (key, result.output)
        assert f"{key} must be a string, not None" in result.stderr and "None." not in result.stderr
    listed = '{"Version":"0.3","Query":"gizmo"}\n{"Path":null,"Score":0.9,"Tokens":1}\n{"TotalFiles":1}\n'
    result = atlas("render", "-", "--root", str(tmp_path), input=listed)
    assert result.exit_code == 2 and "Path must be a string, not None" in result.stderr, result.output
    assert "secret" not in result.stdout


def test_regression_the_fast_preset_applies_lang_and_path_filters_as_the_others_do(tmp_path: Path) -> None:
    # The fast preset kept the query's words and dropped its filters: `lang:markdown` and `path:docs/` selected
    # `src/retry.py` too, and an unknown language was no error.
    write_tree(tmp_path, {"src/retry.py": "def retry_budget(): pass\n", "docs/retry.md": "# retry budget\n"})
    init_repo(tmp_path)
    for task in ("lang:markdown retry budget", "path:docs/ retry budget", "path:/docs/*.md retry budget"):
        chosen = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", task)
        assert chosen.exit_code == 0, (task, chosen.output)
        assert [entry["path"] for entry in json.loads(chosen.stdout)["entries"]] == ["docs/retry.md"], task
    hostile = "path:" + "*a" * 12 + "*b retry"  # Python's backtracking `re` would take years; tantivy's is linear
    assert atlas("quick", "--preset", "fast", "--root", str(tmp_path), "--format", "json", hostile).exit_code == 1
    unknown = atlas("quick", "--preset", "fast", "--root", str(tmp_path), "lang:klingon retry")
    assert unknown.exit_code == 2 and "unknown language 'klingon' in a lang: filter" in unknown.stderr


def test_regression_render_serves_the_files_text_not_the_text_a_selection_carries(tmp_path: Path) -> None:
    # A selection's chunk text was printed as it came: a hand-edited record served any text under a repository
    # path (even one naming no file), an edit made since the selection showed the old text, and a reversed range
    # counted as "has text" printed `lines 5-2 of 354` for a two-line file.
    write_tree(tmp_path, {"a.py": "def alpha():\n    return 1\n", "b.py": "def beta():\n    return 2\n"})
    init_repo(tmp_path)
    chunk = {"start_line": 1, "end_line": 2, "symbol": "alpha", "kind": "function"}
    entries = [
        {"path": "a.py", "language": "python", "mode": "chunks", "file_lines": 354,
         "chunks": [{**chunk, "text": "def alpha():\n    return 'INJECTED'"}]},
        {"path": "b.py", "mode": "chunks", "file_lines": 354, "chunks": [{**chunk, "start_line": 5, "end_line": 2}]},
        {"path": "ghost.py", "mode": "whole", "chunks": [{**chunk, "text": "print('INJECTED')"}]},
    ]  # fmt: skip
    record = {"type": "context", "task": "alpha", "entries": entries}
    result = atlas("render", "-", "--root", str(tmp_path), input=json.dumps(record))
    assert result.exit_code == 0, result.output
    assert "INJECTED" not in result.stdout and "354" not in result.stdout, result.stdout
    assert "lines 1-2 of 2" in result.stdout and "def alpha():\n    return 1\n```" in result.stdout
    assert "## b.py" not in result.stdout and "## ghost.py" not in result.stdout
    assert "left out b.py: none of its line ranges is within its 2 lines" in result.stderr
    assert "left out ghost.py: unreadable file" in result.stderr
    assert "a.py: changed since the selection was made" in result.stderr


def test_regression_render_shows_an_outline_true_to_the_file(tmp_path: Path) -> None:
    # Outline items were printed from the selection: lines past the end of the file, and signatures it does not hold.
    write_tree(tmp_path, {"a.py": "def alpha():\n    return 1\n\n\ndef beta():\n    return 2\n"})
    init_repo(tmp_path)
    outline = [
        {"line": 5, "end_line": 6, "kind": "function", "name": "beta", "signature": "def beta(password):"},
        {"line": 90, "end_line": 99, "kind": "function", "name": "gamma", "signature": "def gamma():"},
    ]
    entry = {"path": "a.py", "mode": "chunks", "outline": outline,
             "chunks": [{"start_line": 1, "end_line": 2, "symbol": "alpha", "kind": "function"}]}  # fmt: skip
    result = atlas("render", "-", "--root", str(tmp_path), input=json.dumps({"type": "context", "entries": [entry]}))
    assert result.exit_code == 0, result.output
    assert "     5: def beta():\n" in result.stdout, result.stdout
    assert "password" not in result.stdout and "gamma" not in result.stdout and "90" not in result.stdout


def test_regression_a_selection_of_another_schema_or_with_values_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    # A record of schema version 99 (or "x") was read as version 1; a score of "nan" rendered `score nan`; a mode
    # Atlas does not write (`banana`) rendered as chunks; terms of any kind (a dict, numbers) passed.
    write_tree(tmp_path, {"app.py": "def gizmo():\n    pass\n"})
    init_repo(tmp_path)
    chunk = {"start_line": 1, "end_line": 2, "symbol": "gizmo", "kind": "function", "terms": ["gizmo"]}
    entry = {"path": "app.py", "mode": "chunks", "score": 0.5, "chunks": [chunk]}
    record = {"type": "context", "schema_version": 1, "task": "gizmo", "entries": [entry]}
    assert atlas("render", "-", "--root", str(tmp_path), input=json.dumps(record)).exit_code == 0
    cases = [
        ({**record, "schema_version": 99}, "schema version 99"),
        ({**record, "schema_version": "x"}, "schema version 'x'"),
        ({**record, "entries": [{**entry, "score": "nan"}]}, "score must be a finite number"),
        ({**record, "entries": [{**entry, "mode": "banana"}]}, "mode must be one of"),
        ({**record, "entries": [{**entry, "chunks": [{**chunk, "terms": {"a": 1}}]}]}, "terms must be a list of"),
        ({**record, "entries": [{**entry, "chunks": [{**chunk, "terms": [1, 2]}]}]}, "terms must be a list of"),
        ({**record, "entries": [{**entry, "chunks": [{**chunk, "terms": 5}]}]}, "terms must be a list of"),
    ]
    for broken, message in cases:
        result = atlas("render", "-", "--root", str(tmp_path), input=json.dumps(broken))
        assert result.exit_code == 2 and message in result.stderr, (broken, result.output)
        assert_one_sentence_and_hint(result.stderr)
    v03 = '{"Version":"0.3","Query":"gizmo"}\n{"Path":"app.py","Score":"inf","Tokens":1}\n{"TotalFiles":1}\n'
    result = atlas("render", "-", "--root", str(tmp_path), input=v03)
    assert result.exit_code == 2 and "Score must be a finite number" in result.stderr, result.output


def test_regression_render_keeps_the_selections_budget_when_a_file_grew_since(tmp_path: Path) -> None:
    # A file that grew after the selection was rendered whole: a 300-token selection printed 16,000 tokens.
    from atlas.context.tokens import token_counter

    write_tree(tmp_path, {"refund.py": "def refund_total():\n    return 1\n", "notes.py": "def refund_note():\n"})
    init_repo(tmp_path)
    made = {
        fmt: atlas("quick", "--root", str(tmp_path), "--format", fmt, "--whole-files", *budget, "refund")
        for fmt, budget in (("json", ("--max-tokens", "300")), ("jsonl", ("--max-bytes", "1200")))
    }
    assert all(result.exit_code == 0 for result in made.values()), made
    with (tmp_path / "refund.py").open("a") as handle:
        handle.write("".join(f"REFUND_{i} = {i}\n" for i in range(2_000)))
    for fmt, result in made.items():
        rendered = atlas("render", "-", "--root", str(tmp_path), input=result.stdout)
        assert rendered.exit_code == 0, rendered.output
        assert "REFUND_1" not in rendered.stdout and "## notes.py" in rendered.stdout
        assert "left out refund.py: it no longer fits the selection's budget" in rendered.stderr, rendered.stderr
        if fmt == "json":
            assert token_counter("cl100k_base").count(rendered.stdout) <= 300
        else:
            assert len(rendered.stdout.encode()) <= 1200


def test_regression_rendering_an_empty_selection_prints_nothing_not_a_heading_over_the_budget(tmp_path: Path) -> None:
    # Nothing fits 5 tokens, so nothing is selected; render still printed the bundle's 20-token heading.
    write_tree(tmp_path, {"refund.py": "def refund_total():\n    return 1\n"})
    init_repo(tmp_path)
    chosen = atlas("quick", "--root", str(tmp_path), "--format", "json", "--max-tokens", "5", "refund")
    assert chosen.exit_code == 1 and json.loads(chosen.stdout)["entries"] == [], chosen.output
    rendered = atlas("render", "-", "--root", str(tmp_path), input=chosen.stdout)
    assert rendered.exit_code == 1 and rendered.stdout == "", rendered.output
    assert "nothing to render" in rendered.stderr
