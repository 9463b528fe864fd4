"""Index lifecycle commands: status, verify, export, import, cache-key. Thin shells over atlas.api."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from atlas.commands.options import (
    ArchivePath,
    config_from,
    index_dir_option,
    index_setting_options,
    index_settings,
    repo_option,
)

EXIT_DAMAGED = 4
EXIT_STALE = 7

FORMAT = click.Choice(["auto", "human", "json"])
def _emit(kind: str, record: dict[str, Any], fmt: str, human: str) -> None:
    from atlas.output import with_envelope, write_json, write_text

    if fmt == "human" or (fmt == "auto" and sys.stdout.isatty()):
        write_text(human)
    else:
        write_json(with_envelope(kind, record))


@click.command()
@repo_option
@index_dir_option
@click.option("--format", "fmt", type=FORMAT, default="auto")
@click.pass_obj
def status(obj: dict[str, Any], repo: Path | None, index_dir: Path | None, fmt: str) -> None:
    """Say whether the index is fresh: files changed, added or removed since it was built.

    Exit status: 0 fresh, 7 out of date, 3 no index, 4 damaged index, 2 an index directory that is no directory.
    """
    from dataclasses import asdict

    from atlas.api import index_status
    from atlas.errors import IndexCorrupt, IndexMissing

    report = index_status(config_from(obj, repo, index_dir), hash_moved=True)
    if report.damaged:
        raise IndexCorrupt(f"{report.index_dir}: {report.reason}")
    if not report.exists:
        raise IndexMissing(f"{report.index_dir}: {report.reason}")
    record = asdict(report)
    from atlas.safe_read import visible

    word = "fresh" if report.fresh else "out of date" + (f" ({visible(report.reason)})" if report.reason else "")
    human = (
        f"{word}: {len(report.changed)} changed, {len(report.added)} added, {len(report.removed)} removed; "
        f"{report.files} files, format {report.format_version}, commit {report.commit or '-'}, "
        f"{report.index_bytes / 1e6:.1f} MB\n"
    )
    _emit("status", record, fmt, human)
    sys.exit(0 if report.fresh else EXIT_STALE)


@click.command()
@repo_option
@index_dir_option
@click.option("--format", "fmt", type=FORMAT, default="auto")
@click.pass_obj
def verify(obj: dict[str, Any], repo: Path | None, index_dir: Path | None, fmt: str) -> None:
    """Check the index against its manifest, its checksums and the working tree.

    Exit status: 0 all good, 3 no index, 4 damaged (rebuild with `atlas index --rebuild`), 7 only out of date,
    2 an index directory that is no directory.
    """
    from dataclasses import asdict

    from atlas.api import verify_index
    from atlas.safe_read import visible

    report = verify_index(config_from(obj, repo, index_dir))
    lines = [f"damaged: {line}" for line in report.damaged] + [f"stale: {line}" for line in report.stale]
    lines = [visible(line) for line in lines]  # they name files, whose names may hold a newline or an escape
    human = "\n".join(lines or [f"ok: {report.checked_files} files in {report.generation}"]) + "\n"
    _emit("verify", {**asdict(report), "ok": report.ok}, fmt, human)
    sys.exit(EXIT_DAMAGED if report.damaged else EXIT_STALE if report.stale else 0)


@click.command(name="export")
@click.argument("archive", type=ArchivePath(dir_okay=False, path_type=Path))
@repo_option
@index_dir_option
@click.option("--format", "fmt", type=FORMAT, default="auto")
@click.pass_obj
def export_command(obj: dict[str, Any], archive: Path, repo: Path | None, index_dir: Path | None, fmt: str) -> None:
    """Pack the index into ARCHIVE (tar.gz with per-file SHA-256) for a CI cache or another machine."""
    from dataclasses import asdict

    from atlas.api import export_index
    from atlas.safe_read import visible

    info = export_index(config_from(obj, repo, index_dir), archive)
    where = visible(str(info.archive))  # a path given by the user, which may hold a newline or an escape
    human = f"exported {info.files} files ({info.bytes / 1e6:.1f} MB) to {where} in {info.seconds:.2f}s\n"
    _emit("export", asdict(info), fmt, human + f"sha256 {info.sha256}\n")


@click.command(name="import")
@click.argument("archive", type=ArchivePath(dir_okay=False, path_type=Path))
@repo_option
@index_dir_option
@click.option("--format", "fmt", type=FORMAT, default="auto")
@click.pass_obj
def import_command(obj: dict[str, Any], archive: Path, repo: Path | None, index_dir: Path | None, fmt: str) -> None:
    """Restore an index exported with `atlas export`; then `atlas index` brings it up to date."""
    from dataclasses import asdict

    from atlas.api import import_index

    info = import_index(config_from(obj, repo, index_dir), archive)
    human = f"imported {info.files} files ({info.bytes / 1e6:.1f} MB) as {info.generation} in {info.seconds:.2f}s\n"
    _emit("import", asdict(info), fmt, human)


@click.command(name="cache-key")
@repo_option
@index_dir_option
@click.option("--prefix", is_flag=True, help="Print only the prefix (for partial restores).")
@click.option("--shard", metavar="I/N", help="Key of shard I of N only, by the contents of its files.")
@index_setting_options
@click.pass_obj
def cache_key_command(
    obj: dict[str, Any], repo: Path | None, index_dir: Path | None, prefix: bool, shard: str | None, **settings: Any
) -> None:
    """Print the CI cache key of this repository's index (and, on a second line, its restore prefix).

    Give it the index flags the build is given (--no-history, --max-file-size, ...): the key names the index
    they build."""
    from atlas.api import cache_key
    from atlas.output import write_text

    key, restore_prefix = cache_key(config_from(obj, repo, index_dir, **index_settings(**settings)), shard)
    write_text(f"{restore_prefix}\n" if prefix else f"{key}\n{restore_prefix}\n")


COMMANDS = [status, verify, export_command, import_command, cache_key_command]
