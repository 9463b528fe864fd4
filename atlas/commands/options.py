"""Options and helpers shared by every command (click and the standard library only)."""

from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path
from typing import Any

import click

MAX_TEXT_CHARS = 1 << 20
"""The longest query or task a command reads (a bug report is kilobytes; Atlas keeps its 128 telling words):
an endless stream (`yes |`, /dev/zero) or a whole log ends in a usage error, not in memory exhaustion."""

class GivenPath(click.Path):
    """A click.Path that is never empty: `--repo ''` (an unset variable in a script) would mean the working
    directory, and index whatever tree a script happens to run in."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, bytes)) and not value:
            self.fail("an empty path names no file or directory", param, ctx)
        refuse_relative_without_working_directory(value)
        refuse_unreachable(value)
        return super().convert(value, param, ctx)


class GivenFile(click.File):
    """A click.File whose error names the file as a value in a message is quoted (`quoted_value`): click wrote a byte
    of the name that is not UTF-8 as U+FFFD, so the name shown was no longer the one given."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as err:
            if isinstance(value, str):
                from atlas.safe_read import quoted_value

                err.message = err.message.replace(f"'{click.format_filename(value)}'", quoted_value(value), 1)
            raise


def refuse_relative_without_working_directory(value: Any) -> None:
    """InputError when `value` is a relative path and the working directory has been removed (a shell left in a
    deleted directory): the kernel still resolves `../repo` from there, but no absolute path can be made of it."""
    if not isinstance(value, (str, bytes, os.PathLike)) or os.path.isabs(value):
        return
    try:
        os.getcwd()
    except FileNotFoundError as err:
        from atlas.errors import InputError

        shown = os.fsdecode(value)
        raise InputError(f"{shown} is relative, but the working directory no longer exists (it was removed)",
                         "give an absolute path, or cd to a directory that exists") from err  # fmt: skip


def refuse_unreachable(value: Any) -> None:
    """InputError when the system cannot look `value` up: a name in it, or the whole path, is longer than it allows
    (255 bytes a name, 4,095 a path on Linux), or it is relative and the working directory may not be entered (no
    search permission). Every later use of the path would fail the same way. (A directory on the way of an absolute
    path that may not be entered is for each command to name: what it meant to do there says most.)"""
    if not isinstance(value, (str, bytes, os.PathLike)):
        return
    try:
        os.stat(value)
    except OSError as err:
        from atlas.errors import InputError

        shown = os.fsdecode(value)
        shown = shown if len(shown) <= 100 else f"{shown[:100]}…"
        if err.errno == errno.ENAMETOOLONG:
            raise InputError(f"{shown}: the path, or a name in it, is longer than the system allows",
                             "give a shorter path (the system takes at most 255 bytes a name)") from err  # fmt: skip
        if err.errno == errno.EACCES and not os.path.isabs(value) and not os.access(os.curdir, os.X_OK):
            raise InputError(
                f"{os.getcwd()}: the working directory cannot be entered to look up {shown} (Permission denied)",
                "give an absolute path, or cd to a directory you may enter",
            ) from err


class ArchivePath(GivenPath):
    """An archive's path: `-` reads as standard input or output elsewhere, which `export` and `import` do not
    stream (export wrote a file named `-` into the working directory)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in ("-", b"-"):
            self.fail("- (standard input or output) is not an archive path; for a file named -, write ./-", param, ctx)
        return super().convert(value, param, ctx)


repo_option = click.option(
    "--repo", "--root", "repo", type=GivenPath(file_okay=False, path_type=Path), envvar="ATLAS_ROOT",
    help="Repository root (default: the enclosing repository of the working directory).",
)  # fmt: skip
index_dir_option = click.option(
    "--index-dir", type=GivenPath(file_okay=False, path_type=Path), envvar="ATLAS_INDEX_DIR",
    help="Where the index lives (default: <repo>/.atlas).",
)  # fmt: skip


def index_setting_options(command: Any) -> Any:
    """The options that change what an index holds (`atlas index` and `atlas cache-key` take them alike, so a
    cache key names the index those flags build): their values reach the command as `index_settings`."""
    options = [
        click.option("--max-file-size", type=WholeNumber(min=1), default=None, help="Skip files over this many bytes."),
        click.option("--reset-settings", is_flag=True,
                     help="Forget the settings the index remembers: use atlas.toml, these flags and the defaults."),
        click.option("--no-history", is_flag=True, help="Do not mine git history (no recency or co-change signals)."),
        click.option("--history", "history_commits", type=WholeNumber(min=1), help="Mine at most N recent commits."),
        click.option("--since", "history_since", help="Mine commits since DATE (anything `git log --since` takes)."),
        click.option("--half-life", "history_half_life_days", type=FiniteFloatRange(min=0.01),
                     help="Recency half-life, days."),
        click.option("--history-backend", type=click.Choice(["git", "pydriller"]), help="History miner (default git)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def index_settings(
    max_file_size: int | None = None,
    reset_settings: bool = False,
    no_history: bool = False,
    history_commits: int | None = None,
    history_since: str | None = None,
    history_half_life_days: float | None = None,
    history_backend: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of `config_from` for the values of `index_setting_options`."""
    wants_history = True if history_commits or history_since else None
    return {
        "remember": not reset_settings, "max_file_bytes": max_file_size,
        "git_history": False if no_history else wants_history, "history_commits": history_commits,
        "history_since": history_since, "history_half_life_days": history_half_life_days,
        "history_backend": history_backend,
    }  # fmt: skip


class WholeNumber(click.IntRange):
    """An IntRange that also takes a whole number written as a float (`5.0`, `1e3`), as atlas.toml and MCP do."""

    name = "whole number range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The int, or a usage error (exit 2) for a fraction, text, nan or a value out of range."""
        if isinstance(value, str):
            from atlas.config import whole_of

            number = whole_of(value)
            if number is not None and not value.strip().isdigit():
                value = str(number)
        return super().convert(value, param, ctx)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and the infinities (click's range checks let nan through)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number, or a usage error (exit 2) when it is not finite or out of range."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            from atlas.safe_read import quoted_value

            self.fail(f"{quoted_value(value)} is not a finite number.", param, ctx)
        return number


def text_input(words: tuple[str, ...], file: Any, what: str) -> str:
    """The query or task (`what`) from the command's words, its `--<what>-file`, or a piped stdin, in that order;
    a UsageError when there is none, both words and a file, or more than MAX_TEXT_CHARS."""
    from atlas.errors import UsageError

    if words and file is not None:
        raise UsageError(f"give the {what} as arguments or with --{what}-file, not both")
    how = f"pass {what.upper()}, --{what}-file FILE, or pipe the {what} on stdin"
    if words:
        text = _valid_text(" ".join(words))
    elif file is None and sys.stdin.isatty():
        raise UsageError(f"no {what} given", how)
    else:
        source = file if file is not None else sys.stdin.buffer
        text = decode_text(read_input(source, 4 * (MAX_TEXT_CHARS + 1), f"the {what}"))
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(f"the {what} is longer than {MAX_TEXT_CHARS:,} characters",
                         f"pass the {what}'s text (an issue, a stack trace), not a whole log")  # fmt: skip
    if not text.strip():  # checked before an index is built for it
        raise UsageError(f"the {what} is empty", how)
    return text


def read_input(stream: Any, limit: int, what: str) -> bytes:
    """Up to `limit` bytes of `stream` (a query, task or selection file, or stdin), read to its end.

    A stdin its parent left non-blocking (as Node's child processes and some IDEs do) has nothing to read yet when
    Atlas starts before the writer writes: `read` returns None (or what has arrived so far), where a blocking one
    waits; so this waits for more, as a blocking read would, until the end. An error of the read itself (EIO) is an
    InputError naming `what`.
    """
    import select

    from atlas.errors import InputError

    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            try:
                chunk = stream.read(limit - size)
            except BlockingIOError:
                chunk = None
            if chunk is None:  # a non-blocking stream with nothing to read yet
                select.select([stream], [], [])
                continue
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", "check the file or what pipes it") from err
    return b"".join(chunks)


def _valid_text(text: str) -> str:
    """`text` with the bytes of an argument that are not UTF-8 (which Python keeps as lone surrogates) as U+FFFD,
    as a query file's are: the text is echoed in JSON, which holds only valid Unicode."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decode_text(data: bytes) -> str:
    """A query or task file's text: UTF-16 or UTF-32 when it starts with their byte order mark (PowerShell's
    `>` writes UTF-16), else UTF-8 with U+FFFD for bad bytes, whatever the locale says."""
    import codecs

    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            return data.decode(encoding, "replace")
    return data.decode("utf-8-sig", "replace")


def config_from(
    obj: dict[str, Any] | None, repo: Path | None, index_dir: Path | None, remember: bool = True, **settings: Any
) -> Any:
    """The IndexConfig for a command: root found from `repo`, the config file from the global --config,
    the index's remembered settings unless `remember` is False (see `atlas.api.index_config`)."""
    from atlas.api import find_root, index_config

    return index_config(find_root(repo), index_dir, (obj or {}).get("config"), remember, **settings)


def parse_weights(pairs: tuple[str, ...]) -> dict[str, float]:
    """`--weight NAME=VALUE` options → {name: value}; a malformed one is a usage error."""
    from atlas.errors import UsageError
    from atlas.safe_read import quoted_value

    weights = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        malformed = UsageError(f"--weight {quoted_value(pair)} is not NAME=NUMBER", "for example --weight bm25=1.5")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise malformed from None
        if not sep:
            raise malformed
    return weights
