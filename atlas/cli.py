"""The `atlas` command: options → config → one library call → output and exit status.

Exit codes: 0 ok, 1 no results, 2 usage or input error, 3 and above other failures
(see `atlas.errors`). Heavy modules are imported inside commands so `atlas --help` is fast.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from atlas import __version__
from atlas.commands import register_all
from atlas.commands.options import (
    GivenFile,
    GivenPath,
    WholeNumber,
    config_from,
    index_dir_option,
    index_setting_options,
    index_settings,
    parse_weights,
    repo_option,
    text_input,
)  # fmt: skip
from atlas.errors import AtlasError, UsageError, is_native_panic, shown_to_user
from atlas.progress import tell
from atlas.safe_read import bytes_in_reprs, display_path, quoted_path, visible

FORMATS = click.Choice(["auto", "human", "json", "jsonl"])
EXIT_NO_RESULTS = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


CLEANUP_GRACE = 15.0
"""Seconds a ^C or SIGTERM leaves the cleanup (parse workers drained and stopped, the unpublished generation
removed) before Atlas exits anyway: a cleanup that stalls must not keep anyone waiting. It leaves what a SIGKILL
leaves, which the next run removes; the parse workers die with their parent."""

_grace: threading.Timer | None = None
_stopped_by: int | None = None
"""The exit code of the first ^C or SIGTERM: a library that catches the KeyboardInterrupt and raises its own (Ray
does, in `ray.wait`) loses which signal it was."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where ^C would be so the same cleanup runs; exits 143 instead of 130."""

    exit_code = EXIT_TERMINATED


def install_signal_handlers() -> None:
    """^C and SIGTERM raise where they land (KeyboardInterrupt, Terminated) and start the cleanup's deadline.

    A ^C the caller set to be ignored (a background job of a shell without job control) stays ignored.
    """
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    _exit_after_grace(EXIT_INTERRUPTED)
    raise KeyboardInterrupt


def _terminate(signum: int, frame: object) -> None:
    _exit_after_grace(EXIT_TERMINATED)
    raise Terminated()


def _exit_after_grace(code: int) -> None:
    """Exit with `code` in CLEANUP_GRACE seconds unless the process has ended by then (the first signal counts)."""
    global _grace, _stopped_by
    if _stopped_by is None:
        _stopped_by = code
    if _grace is None:
        _grace = threading.Timer(CLEANUP_GRACE, _give_up, (code,))
        _grace.daemon = True
        _grace.start()


def _give_up(code: int) -> None:
    # os.write and os._exit: the stalled main thread may hold the locks of sys.stderr and of the interpreter's exit.
    message = (
        f"atlas: interrupted; the cleanup did not finish within {CLEANUP_GRACE:g} s\n"
        f"  hint: {_interrupted_hint('the next run removes what this one left')}\n"
    )
    held = sys.modules.get("atlas.native_stderr")  # descriptor 2 may be held: the main thread is stuck in tantivy
    os.write(held.stderr_fd() if held else 2, message.encode())
    if os.environ.get("PYTHONFAULTHANDLER"):  # Python's own switch for dumping stacks on a fault: show where
        import faulthandler

        faulthandler.dump_traceback(all_threads=True)
    os._exit(code)


class AtlasGroup(click.Group):
    """Turns AtlasError, click's own usage errors (and anything unexpected) into one stderr sentence plus a hint."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the command line; as a program (`standalone_mode`), click's errors are reported as Atlas's are."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # click >= 8.2: a bare `atlas` shows its help, exit 2
                err.show()
                sys.exit(err.exit_code)
            _fail(_click_sentence(err), f"see '{_command_path(err)} --help'", err.exit_code)
        except click.ClickException as err:
            _fail(_click_sentence(err), "see 'atlas --help'", err.exit_code)
        except click.exceptions.Abort:
            _fail("interrupted", _interrupted_hint(), EXIT_INTERRUPTED)
        except AtlasError as err:  # raised reading the group's own options (--config), before any command runs
            _fail(err.message, err.hint, err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        """click's context of the command line; `--help` or `--version` written to a reader that went away exits 0."""
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as err:  # else click's Abort, after an empty line, and SIGTERM taken for ^C
            _fail_interrupted(err)
        except BrokenPipeError:  # `atlas --help | true`: click would exit 1, which reads as "no results"
            _reader_gone()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt as err:
            _fail_interrupted(err)
        except BaseException as err:
            if not isinstance(err, Exception) and not is_native_panic(err):
                raise
            if isinstance(err, OSError) and _raised_by_echo(err):  # a subcommand's --help could not be written
                _fail_output(err)
            shown = shown_to_user(err)
            if shown is not None:
                _fail(shown.message, shown.hint, shown.exit_code)
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            _fail(f"unexpected error: {type(err).__name__}: {err}", "rerun with -v and report it", 3)


def _click_sentence(err: click.ClickException) -> str:
    """click's message in Atlas's form: a lower-case start, no closing full stop."""
    message = bytes_in_reprs(err.format_message().strip())
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    return message.removesuffix(".")


def _command_path(err: click.UsageError) -> str:
    """The command the usage error is about (`atlas search`), or `atlas`."""
    return err.ctx.command_path if err.ctx is not None else "atlas"


def _raised_by_echo(err: BaseException) -> bool:
    """Whether `err` was raised writing click's own text (help, usage): Atlas writes its data through atlas.output."""
    return any(frame.f_code is click.utils.echo.__code__ for frame, _ in traceback.walk_tb(err.__traceback__))


def _fail_output(err: OSError) -> NoReturn:
    """Report a failed write of stdout, with nothing left to write at exit; a reader that went away is success."""
    from atlas.output import discard_stdout, output_error

    if isinstance(err, BrokenPipeError):
        _reader_gone()
    discard_stdout()
    error = output_error(err)
    _fail(error.message, error.hint, error.exit_code)


def _reader_gone() -> NoReturn:
    """Exit 0 after a write to a reader that went away (help or version piped to `head`), as a search's data does."""
    from atlas.output import discard_stdout

    discard_stdout()
    sys.exit(0)


def _interrupted_hint(left: str = "the previous index is intact") -> str:
    """What an interrupt left: nothing when the command wrote no index (a search of a fresh index), nothing new
    (then `left`), or, when it landed after `atlas.index.store.publish`, the new index, whole. Imports nothing:
    it also runs on the grace timer while the main thread is stuck."""
    store = sys.modules.get("atlas.index.store")
    if store is None or not store.prepared:
        return "nothing was changed; run the command again"
    if store.published:
        return f"the new index ({store.published[-1].name}) was already published and is complete"
    return f"nothing was published; {left}"


def _fail_interrupted(err: KeyboardInterrupt) -> NoReturn:
    """Exit after ^C or SIGTERM: one sentence and what the interrupt left, with the first signal's code."""
    code = _stopped_by or (EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED)
    _fail("interrupted", _interrupted_hint(), code)


def _fail(message: str, hint: str, code: int) -> NoReturn:
    tell(f"atlas: {visible(message)}\n  hint: {visible(hint)}")
    sys.exit(code)


def _format(choice: str) -> str:
    if choice != "auto":
        return choice
    return "human" if sys.stdout.isatty() else "jsonl"


@click.group(cls=AtlasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="atlas")
@click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="More detail on stderr, tracebacks on errors.")
@click.option("--no-color", is_flag=True, help="Plain text output (also NO_COLOR=1 or TERM=dumb).")
@click.option("--config", "config_file", type=GivenPath(dir_okay=False, path_type=Path), envvar="ATLAS_CONFIG",
              help="Settings file (default: <repo>/atlas.toml).")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: bool, no_color: bool, config_file: Path | None) -> None:
    """Atlas: find the files and symbols that matter, offline, in milliseconds.

    \b
    Exit codes: 0 ok, 1 no results, 2 usage or input error,
    3 other failure, 4 corrupt index, 5 index busy, 6 signal failure, 7 index out of date.
    """
    from atlas.output import use_color

    ctx.obj = {"quiet": quiet, "verbose": verbose, "color": use_color(no_color), "config": config_file}


def _set_global_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """A global flag given after the subcommand (`atlas search -q foo`) sets what it sets before it."""
    if value and ctx.obj is not None and param.name:
        ctx.obj.update({"no_color": {"color": False}}.get(param.name, {param.name: True}))


def _accept_global_flags(group: click.Group) -> None:
    """Let every subcommand take -q, -v and --no-color too; they mean the same as before the subcommand."""
    for command in group.commands.values():
        for decls, text in (
            (["-q", "--quiet"], "No progress or notes on stderr."),
            (["-v", "--verbose"], "More detail on stderr, tracebacks on errors."),
            (["--no-color"], "Plain text output (also NO_COLOR=1 or TERM=dumb)."),
        ):
            # The name comes from the longest flag (quiet, verbose, no_color); Option's second argument is
            # show_default, which printed "[default: (quiet)]" in every subcommand's help.
            command.params.append(click.Option(decls, is_flag=True, expose_value=False, help=text,
                                               callback=_set_global_flag))  # fmt: skip
        if isinstance(command, click.Group):
            _accept_global_flags(command)


@cli.command()
@click.argument("paths", nargs=-1, type=GivenPath(file_okay=False, path_type=Path))
@click.option(
    "--index-dir", "--out", "index_dir", type=GivenPath(file_okay=False, path_type=Path), envvar="ATLAS_INDEX_DIR",
    help="Where to write the index (default: <repo>/.atlas). It holds only relative paths: copy it anywhere.",
)  # fmt: skip
@click.option("--jobs", "-j", type=WholeNumber(min=0), default=0, help="Parse processes (0: all cores).")
@click.option("--memory", "memory", metavar="SIZE",
              help="Memory budget for indexing, e.g. 512M or 1G (default: $ATLAS_MEMORY, else 1G).")  # fmt: skip
@click.option("--rebuild", is_flag=True, help="Rebuild from scratch.")
@index_setting_options
@click.option("--shards", metavar="N|auto", help="Build the index as N shards (auto: sized by bytes), then assemble.")
@click.option("--shard", metavar="I/N", help="Build only shard I of N (0-based) into --out DIR.")
@click.option("--assemble", is_flag=True, help="Combine the shard directories given after PATH into the index.")
@click.option("--executor", default="local", show_default=True, help="Where --shards builds run: local or ray.")
@click.option("--ray-address", help="Ray cluster for --executor ray (default: $RAY_ADDRESS, else start one here).")
@click.option("--format", "fmt", type=FORMATS, default="auto", help="Summary format.")
@click.pass_obj
def index(obj: dict[str, Any], paths: tuple[Path, ...], index_dir: Path | None, jobs: int, memory: str | None,
          rebuild: bool, shards: str | None, shard: str | None, assemble: bool, executor: str,
          ray_address: str | None, fmt: str, **settings: Any) -> None:  # fmt: skip
    """Index the repository at PATH (default: the current repository).

    The index remembers --max-file-size and the history options: later runs (index, quick, mcp)
    reuse them until a flag or atlas.toml says otherwise, or --reset-settings.

    \b
    Shards: atlas index [PATH] --shards N|auto
            atlas index [PATH] --shard I/N --out DIR      (one shard, on any machine)
            atlas index [PATH] --assemble DIR [DIR...]    (all N shards into the index)
    """
    from atlas.api import index_repo
    from atlas.config import parse_size
    from atlas.output import report_record, write_json, write_jsonl, write_text

    path, shard_dirs = _index_paths(paths, assemble, shards, shard, index_dir)

    config = config_from(
        obj, path, index_dir, jobs=jobs, memory_bytes=parse_size(memory) if memory is not None else None,
        **index_settings(**settings),
    )  # fmt: skip
    progress = not obj["quiet"]
    if assemble:
        from atlas.api import assemble as assemble_shards

        report = assemble_shards(config, shard_dirs, show_progress=progress)
    elif shard:
        from atlas.api import index_shard

        report = index_shard(config, shard, show_progress=progress, rebuild=rebuild)
    else:
        options = {"address": ray_address} if ray_address else {}
        report = index_repo(config, progress, rebuild, shards=shards, executor=executor, **options)
    record = report_record(report)
    chosen = _format(fmt)
    if chosen == "human":
        write_text(_human_report(record))
    elif chosen == "jsonl":
        write_jsonl([record])
    else:
        write_json(record)


def _index_paths(
    paths: tuple[Path, ...], assemble: bool, shards: str | None, shard: str | None, out: Path | None
) -> tuple[Path | None, list[Path]]:
    """(PATH, shard directories) from `atlas index`'s arguments, with the shard options checked."""
    from atlas.index import store

    if sum(map(bool, (assemble, shards, shard))) > 1:
        raise UsageError("--shards, --shard and --assemble do not go together", "use one of them per run")
    if shard and out is None:
        raise UsageError("--shard needs --out DIR", "pass the directory to build the shard in")
    if out is not None:
        store.refuse_output_in_index_parts(out)
    if not assemble:
        if len(paths) > 1:
            raise UsageError(f"one PATH expected, {len(paths)} given", "shard directories go after --assemble")
        return (paths[0] if paths else None), []
    first_is_index = bool(paths) and store.holds_index_files(paths[0])
    path, dirs = (None, list(paths)) if first_is_index or not paths else (paths[0], list(paths[1:]))
    return path, dirs


def _human_report(record: dict[str, Any]) -> str:
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(record["skipped"].items())) or "none"
    mode = {"full": "full build", "incremental": "incremental update", "unchanged": "already up to date"}
    how = mode.get(record["mode"], record["mode"]) + (f" ({visible(record['reason'])})" if record["reason"] else "")
    counts = f"+{record['added']} ~{record['changed']} -{record['removed']} files; "
    changes = "" if record["mode"] == "full" else counts
    return (
        f"{how}: {changes}"
        f"indexed {record['files_indexed']} files ({record['bytes_indexed'] / 1e6:.1f} MB) "
        f"in {record['seconds']:.2f}s → {visible(record['index_dir'])} ({record['index_bytes'] / 1e6:.1f} MB)\n"
        f"skipped: {skipped}; parse errors: {record['parse_errors']}{_examples(record)}; symbols: {record['symbols']}\n"
        f"{_git_line(record.get('signals', {}).get('git'))}"
        + "".join(f"note: {visible(note)}\n" for note in record.get("notes") or ())
    )


def _examples(record: dict[str, Any]) -> str:
    """The files with parse errors the summary names, in parentheses (`, …` when there are more)."""
    named = [visible(path) for path in record.get("parse_error_examples") or ()]
    more = ", …" if record["parse_errors"] > len(named) else ""
    return f" ({', '.join(named)}{more})" if named else ""


def _git_line(git: dict[str, Any] | None) -> str:
    """The summary's line about git history, when it is missing or incomplete."""
    if not git or (git.get("available") and not git.get("reason")):
        return ""
    state = "incomplete" if git.get("available") else "not used"
    return f"git history {state}: {git.get('reason') or 'unknown reason'}\n"


@cli.command()
@click.argument("query", nargs=-1)
@click.option("--query-file", type=GivenFile("rb"),
              help="Read the query from a file ('-' for stdin).")  # fmt: skip
@repo_option
@index_dir_option
@click.option("--index", "indexes", multiple=True, type=GivenPath(file_okay=False, path_type=Path),
              help="Search this repository's index (repeatable): one ranking, each hit naming its repository.")
@click.option("--limit", "-n", type=WholeNumber(min=1, max=10_000), help="Results to return (default 10).")
@click.option("--lang", multiple=True, help="Only files in this language (repeatable).")
@click.option("--path", "paths", multiple=True, help="Only paths matching this glob or substring (repeatable).")
@click.option("--format", "fmt", type=FORMATS, default="auto", help="auto: a table on a terminal, JSONL when piped.")
@click.option("--explain", is_flag=True, help="Show each signal's value, rank and contribution.")
@click.option("--no-lines", is_flag=True, help="Skip the best-matching line ranges (faster).")
@click.option("-l", "--files-only", is_flag=True, help="Print only the paths, one per line (any --format).")
@click.option("--preset", type=click.Choice(["fast", "balanced", "deep", "thorough"]), help="Ranking preset.")
@click.option("--weight", "weights", multiple=True, metavar="NAME=VALUE",
              help="Override a ranking weight, e.g. bm25=1.5 or prior.test=1 (repeatable).")  # fmt: skip
@click.pass_obj
def search(obj: dict[str, Any], query: tuple[str, ...], query_file: Any, repo: Path | None,
           index_dir: Path | None, indexes: tuple[Path, ...], limit: int | None, lang: tuple[str, ...],
           paths: tuple[str, ...], fmt: str, explain: bool, no_lines: bool, files_only: bool, preset: str | None,
           weights: tuple[str, ...]) -> None:  # fmt: skip
    """Search the repository for QUERY (free text, "phrases", path:/lang:/sym: filters).

    With --index (repeatable), search several repositories' indexes as one ranking instead.
    """
    from atlas.api import search as run_search
    from atlas.api import search_indexes, search_options

    text = text_input(query, query_file, "query")
    if indexes and any(_given(name) for name in ("repo", "index_dir")):
        raise UsageError("--index names the repositories to search: give it without --repo or --index-dir",
                         "pass each repository with --index PATH")  # fmt: skip
    config = config_from(obj, None if indexes else repo, index_dir)
    options = search_options(
        config.root, obj["config"], preset, parse_weights(weights),
        limit=limit, languages=lang, paths=tuple(map(display_path, paths)), explain=explain,
        with_lines=not (no_lines or files_only),
    )  # fmt: skip
    configs = [config_from(obj, path, _repository_index(path)) for path in indexes]
    if configs:
        result = search_indexes(configs, text, options)
    else:
        result = run_search(config, text, options, show_progress=not obj["quiet"])
    if explain:
        from atlas.query.fuse import describe_weights

        result.notes.append(describe_weights(options.weights))
    if files_only and configs:
        _print_joined(result.hits, indexes, configs)
    else:
        _print_hits(result, "paths" if files_only else _format(fmt), explain, obj)
    for warning in result.warnings:  # the hits are not what the tree holds: said whatever the format shows
        tell(f"atlas: {visible(warning)}")
    if not result.hits:
        if not obj["quiet"]:
            tell("atlas: no results")
        sys.exit(EXIT_NO_RESULTS)


def _given(param: str) -> bool:
    """True when the option `param` was given on the command line (not by its environment variable)."""
    return click.get_current_context().get_parameter_source(param) == click.core.ParameterSource.COMMANDLINE


def _repository_index(path: Path) -> Path:
    """The index `--index PATH` names: the repository's own `.atlas`, never one it links to outside it (a clone's
    link to another repository's index, which no command reads through)."""
    from atlas.config import DEFAULT_INDEX_DIRNAME, refuse_own_link_out
    from atlas.errors import InputError

    try:
        root = path.resolve()
    except (RuntimeError, OSError) as err:  # a loop of symbolic links (RuntimeError before Python 3.13)
        raise InputError(f"{path}: the repository's path cannot be resolved ({err})",
                         "pass --index a repository directory") from err  # fmt: skip
    try:
        refuse_own_link_out(root / DEFAULT_INDEX_DIRNAME, root)
    except InputError as err:  # its hint, --index-dir, does not go with --index
        raise InputError(err.message, f"remove the link and run `atlas index {path}`, then search again") from None
    return root / DEFAULT_INDEX_DIRNAME


def _print_joined(hits: list[Any], given: tuple[Path, ...], configs: list[Any]) -> None:
    """Print each hit's path under its repository as given on the command line (`../api/src/x.py`)."""
    from atlas.api import repository_names
    from atlas.output import write_text

    where = dict(zip(repository_names([c.root for c in configs]), given, strict=True))
    write_text("".join(f"{quoted_path(str(where[hit.repository] / hit.path))}\n" for hit in hits))


def _print_hits(result: Any, fmt: str, explain: bool, obj: dict[str, Any]) -> None:
    from atlas.output import hit_record, human_hits, search_record, write_json, write_jsonl, write_text

    if fmt == "paths":
        write_text("".join(f"{quoted_path(hit.path)}\n" for hit in result.hits))
        return
    if fmt == "human":
        notes = "".join(f"note: {visible(note)}\n" for note in result.notes) if explain else ""
        write_text(notes + human_hits(result.hits, explain=explain, color=obj["color"]))
        return
    records = [hit_record(hit, with_explain=explain) for hit in result.hits]
    if fmt == "jsonl":
        write_jsonl(records)
    else:
        write_json(search_record(result.query, records, result.took_ms, result.documents, result.notes))


register_all(cli)
_accept_global_flags(cli)


def _open_closed_standard_descriptors() -> None:
    """Descriptors 0-2 closed at start (`atlas search x 2>&-`) are opened on /dev/null: else the first file Atlas
    opened would take the number, and what a child writes to its stderr (git's warnings) would land in it. A
    closed stdin then reads as empty, a closed stderr swallows the messages; a closed stdout stays an error."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != descriptor:
                os.dup2(opened, descriptor)
                os.close(opened)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's stdin, kept open
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


def _report_faults() -> None:
    """Have Python's fault handler name a fatal signal and the stacks it struck, on the real stderr (descriptor 2 may
    be held): a tantivy segment file truncated in place under a search (a `cp` of another index over the live one) is
    a SIGBUS in its memory map, which no Python code can catch, and the process (a long-lived MCP server) ended
    without a word. The handler is built in: enabling it costs microseconds. Processes forked from here (parse
    workers, the query-time parse helper) go without it, unless PYTHONFAULTHANDLER asks for it: the run reports a
    grammar that crashes one in a sentence."""
    import faulthandler

    asked = faulthandler.is_enabled()
    faulthandler.enable(file=sys.stderr)
    if not asked:
        os.register_at_fork(after_in_child=faulthandler.disable)


M_ARENA_MAX = -8  # glibc's mallopt(3) parameter


def _one_malloc_arena_under_an_address_space_limit() -> None:
    """Under `ulimit -v`, have glibc's malloc keep one arena instead of one per thread, up to eight per core.

    Each arena reserves 64 MiB of address space (twice that while it is aligned), which RLIMIT_AS counts: the
    threads of tantivy's writer, of the parse pool and of the watchdog cost hundreds of MiB of the limit, and the
    build died wherever the next one did not fit, often as a Rust allocation that aborts the process (SIGABRT, no
    sentence). With one arena, a build that fits in the limit succeeds (a small repository under 240 MB, against
    one limit in three failing from 230 MB to 1 GB). The threads then share malloc's lock: only under such a limit.
    For the same reason numpy's OpenBLAS starts no thread of its own (each with its buffers): at numpy's import,
    short of room for them, it printed its own lines and exited 1, which reads as "no results"."""
    import resource

    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY or not sys.platform.startswith("linux"):
        return
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no arenas to speak of)
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


def _prepare_standard_streams() -> None:
    """Closed standard descriptors opened, Rust's panic messages held off stderr (unless `-v`), Python's fault handler
    on: what every command needs before it runs."""
    _open_closed_standard_descriptors()
    if not {"-v", "--verbose"}.intersection(sys.argv[1:]):
        # A panic in tantivy (a damaged index) is reported in one sentence; Rust prints its own lines first (kept off
        # stderr by the hold), and with RUST_BACKTRACE=1 in the environment dozens of frames of a library's internals.
        os.environ["RUST_BACKTRACE"] = "0"
        from atlas.native_stderr import hold_panic_messages

        hold_panic_messages()
    _report_faults()


def main() -> None:
    """Console-script entry point."""
    _one_malloc_arena_under_an_address_space_limit()
    install_signal_handlers()
    try:
        _prepare_standard_streams()
    except KeyboardInterrupt as err:  # the command has not started: the handlers raise, and no `invoke` catches it yet
        _fail_interrupted(err)
    if sys.stdout is None:  # started with descriptor 1 closed (`atlas search x >&-`)
        _fail("standard output is closed", "run it with stdout open (redirect it to a file or /dev/null)", 3)
    try:
        cli(prog_name="atlas")
    except OSError as err:  # click's own output (--help, --version) could not be written; commands report theirs
        _fail_output(err)
