"""The `atlas` command's entry point: ^C or SIGTERM while the CLI's modules load ends as a later one would.

Loading `atlas.cli` (click and the commands) takes tens of milliseconds; an interrupt in that window would
otherwise print a KeyboardInterrupt traceback (a SIGTERM: end the process without a word), before
`atlas.cli.install_signal_handlers` runs.
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _TerminatedWhileLoading(KeyboardInterrupt):
    """SIGTERM while the CLI loads, raised where ^C would be."""


def _terminate(signum: int, frame: object) -> None:
    raise _TerminatedWhileLoading


def main() -> None:
    """Load the CLI, then run it (in Python's UTF-8 mode, see `_in_utf8_mode`)."""
    _in_utf8_mode()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from atlas.cli import main as run
    except KeyboardInterrupt as err:
        sys.stderr.write("atlas: interrupted\n  hint: nothing was changed; run the command again\n")
        sys.exit(EXIT_TERMINATED if isinstance(err, _TerminatedWhileLoading) else EXIT_INTERRUPTED)
    run()


def _in_utf8_mode() -> None:
    """Start again in Python's UTF-8 mode when the locale encodes file names otherwise (ASCII, Latin-1).

    Atlas stores and prints names as UTF-8 and opens them by the same text, which `os.fsencode` turns back into
    the bytes on disk only when the file system encoding is UTF-8: under an ASCII locale every name that is not
    ASCII failed to encode, under Latin-1 it named another file. Arguments keep their bytes across the exec.
    """
    if sys.flags.utf8_mode or sys.getfilesystemencoding().lower() in ("utf-8", "utf8") or not sys.executable:
        return
    os.execv(sys.executable, [sys.executable, "-X", "utf8", *sys.orig_argv[1:]])
