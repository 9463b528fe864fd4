"""Context commands: query, quick, explain, render, describe. Thin shells over `atlas.api.select_context`.

Exit status: 0 a selection was made, 1 nothing was selected, 2 usage or input error, 3 and above
other failures (`atlas query` without an index exits 3 and points at `atlas quick`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from atlas.commands.options import (
    FiniteFloatRange,
    GivenFile,
    WholeNumber,
    config_from,
    index_dir_option,
    parse_weights,
    read_input,
    repo_option,
    text_input,
)  # fmt: skip
from atlas.progress import tell
from atlas.safe_read import visible

EXIT_NOTHING = 1
PRESETS = click.Choice(["fast", "balanced", "deep", "thorough"])
FORMATS = click.Choice(["auto", "human", "json", "jsonl"])
MAX_SELECTION_BYTES = 1 << 28
"""The largest selection `render` reads: a selection carries at most its budget of file text."""


def _selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `query`, `quick` and `explain` share."""
    options = [
        click.argument("task", nargs=-1),
        click.option("--task-file", type=GivenFile("rb"),
                     help="Read the task from a file ('-' for stdin)."),
        repo_option,
        index_dir_option,
        click.option("--preset", type=PRESETS, default="balanced", show_default=True,
                     help="fast: paths only, no index; deep/thorough: more candidates and budget."),
        click.option("--max-bytes", type=WholeNumber(min=0),
                     help="Byte budget (default: the preset's unless --max-tokens is given; 0: none)."),
        click.option("--max-tokens", type=WholeNumber(min=1), help="Token budget (see --tokenizer)."),
        click.option("--min-score", type=FiniteFloatRange(0.0, 1.0),
                     help="Drop files scoring under this (scores are normalised into 0..1)."),
        click.option("--top", type=WholeNumber(min=1), help="Consider at most this many ranked files."),
        click.option("--tokenizer", default="cl100k_base", show_default=True,
                     help="cl100k_base, o200k_base or estimate (bytes / 4)."),
        click.option("--whole-files", is_flag=True, help="Whole files only, the reference tools' rule."),
        click.option("--no-content", is_flag=True, help="JSON without file text (render reads the files)."),
        click.option("--weight", "weights", multiple=True, metavar="NAME=VALUE", help="Override a ranking weight."),
        click.option("--format", "fmt", type=FORMATS, default="auto",
                     help="auto: a table on a terminal, the context JSON when piped; jsonl: v0.3 (whole files)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _select(obj: dict[str, Any], params: dict[str, Any], index: str, explain: bool = False) -> Any:
    """Run the selection the parameters describe, whatever stdout is.

    v0.3 JSONL (query and quick's `--format jsonl`) can only list whole files, so it implies
    `--whole-files`: the same selection `--format json --whole-files` makes, within the budget.
    """
    from atlas.api import select_context
    from atlas.context.model import ContextOptions

    fmt = _format(params["fmt"])
    config = config_from(obj, params["repo"], params["index_dir"])
    options = ContextOptions(
        preset=params["preset"], max_bytes=params["max_bytes"], max_tokens=params["max_tokens"],
        min_score=params["min_score"], top=params["top"], tokenizer=params["tokenizer"],
        strategy="files" if params["whole_files"] or (fmt == "jsonl" and not explain) else "chunks",
        with_content=not params["no_content"], index=index, explain=explain, weights=parse_weights(params["weights"]),
        config_file=str(obj["config"]) if obj.get("config") else None,
    )  # fmt: skip
    task = text_input(params["task"], params["task_file"], "task")
    return fmt, select_context(config, task, options, show_progress=not obj["quiet"])


def _format(choice: str) -> str:
    """auto: the table on a terminal, else the `context` JSON record, which carries the same selection."""
    if choice != "auto":
        return choice
    return "human" if sys.stdout.isatty() else "json"


def _print_selection(selection: Any, fmt: str, obj: dict[str, Any]) -> None:
    from atlas.context.records import context_record, v03_records
    from atlas.context.report import human_selection
    from atlas.output import write_json, write_jsonl, write_text

    if fmt == "jsonl":
        write_jsonl(v03_records(selection))
    elif fmt == "json":
        write_json(context_record(selection))
    else:
        write_text(human_selection(selection, color=obj["color"]))


def _finish(selection: Any, obj: dict[str, Any]) -> None:
    for warning in selection.warnings:
        tell(f"atlas: {visible(warning)}")
    if not obj["quiet"]:
        for note in selection.notes:
            tell(f"atlas: note: {visible(note)}")
    if not selection.entries:
        if not obj["quiet"]:
            tell("atlas: nothing selected (no file scored over --min-score, fits the budget, or could be read)")
        sys.exit(EXIT_NOTHING)


@click.command()
@_selection_options
@click.pass_obj
def query(obj: dict[str, Any], **params: Any) -> None:
    """Select the files, or parts of files, that matter for TASK, within a budget.

    Needs an index (except --preset fast); `atlas quick` builds one first.
    """
    from atlas.errors import IndexMissing

    try:
        fmt, selection = _select(obj, params, "require")
    except IndexMissing as err:
        raise IndexMissing(err.message, "run `atlas quick TASK` (it indexes first) or `atlas index`") from err
    _print_selection(selection, fmt, obj)
    _finish(selection, obj)


@click.command()
@_selection_options
@click.pass_obj
def quick(obj: dict[str, Any], **params: Any) -> None:
    """Index the repository if needed (or refresh a stale index), then select context for TASK."""
    fmt, selection = _select(obj, params, "refresh")
    _print_selection(selection, fmt, obj)
    _finish(selection, obj)


@click.command()
@_selection_options
@click.pass_obj
def explain(obj: dict[str, Any], **params: Any) -> None:
    """Show every ranked file for TASK: its signal breakdown and what the budget decided.

    Piped output (and --format json/jsonl) is one `context_explain` record.
    """
    from atlas.context.report import explain_record, human_explain
    from atlas.output import write_json, write_jsonl, write_text

    fmt, selection = _select(obj, params, "build", explain=True)
    if fmt == "human":
        write_text(human_explain(selection, color=obj["color"]))
    elif fmt == "jsonl":
        write_jsonl([explain_record(selection)])
    else:
        write_json(explain_record(selection))
    _finish(selection, obj)


@click.command()
@click.argument("selection_file", metavar="FILE", type=GivenFile("rb"))
@repo_option
@click.option("--tokenizer", default="cl100k_base", show_default=True, help="Tokenizer for the totals line.")
@click.pass_obj
def render(obj: dict[str, Any], selection_file: Any, repo: Path | None, tokenizer: str) -> None:
    """Turn a selection (v0.3 JSONL or `--format json` output; '-' for stdin) into Markdown for a prompt.

    Files are read from --root (default: the current repository, which must be the one the selection was made
    in), as they are now; paths that are not relative and inside it are left out.
    """
    from atlas.api import find_root
    from atlas.context.records import read_selection
    from atlas.context.render import bundle
    from atlas.errors import UsageError
    from atlas.output import write_text
    from atlas.walk import refuse_root_without_source

    name = getattr(selection_file, "name", "-")
    data = read_input(selection_file, MAX_SELECTION_BYTES + 1, f"the selection {name}")
    if len(data) > MAX_SELECTION_BYTES:
        raise UsageError(f"{name} is larger than {MAX_SELECTION_BYTES >> 20} MiB, more than any selection",
                         "pass the output of `atlas query --format json` or `--format jsonl`")  # fmt: skip
    selection = read_selection(data, name)
    root = find_root(repo)
    refuse_root_without_source(root)
    if repo is None and selection.root and os.path.realpath(selection.root) != os.fspath(root):
        # The file's own root is not trusted: reading from it needs the user's explicit --root.
        raise UsageError(
            f"{name}: the selection was made in {selection.root}, not in this repository ({root})",
            f"pass --root {selection.root} to read its files from there",
        )
    text, warnings = bundle(selection, root, tokenizer)
    for warning in warnings:
        tell(f"atlas: {visible(warning)}")
    if not selection.entries:
        # Not even the heading: it alone can be over the budget nothing fitted in.
        if not obj["quiet"]:
            tell("atlas: nothing to render (the selection lists no file, or every one was left out)")
        sys.exit(EXIT_NOTHING)
    write_text(text)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["auto", "json", "jsonl"]), default="auto",
              help="json (pretty, the default) or jsonl (one line).")  # fmt: skip
def describe(fmt: str) -> None:
    """Print Atlas's context capabilities as JSON: commands, presets, formats, tokenizers, exit codes."""
    from atlas import __version__
    from atlas.context.report import describe as capabilities
    from atlas.output import write_json, write_jsonl

    record = capabilities(__version__)
    if fmt == "jsonl":
        write_jsonl([record])
    else:
        write_json(record)


COMMANDS = [query, quick, explain, render, describe]
