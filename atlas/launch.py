"""The `atlas` command's entry point: ^C while the CLI's modules load ends as a later ^C would.

Loading `atlas.cli` (click and the commands) takes tens of milliseconds; an interrupt in that window would
otherwise print a KeyboardInterrupt traceback, before `atlas.cli.install_signal_handlers` runs.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    """Load the CLI, then run it."""
    try:
        from atlas.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("atlas: interrupted\n  hint: nothing was changed; run the command again\n")
        sys.exit(EXIT_INTERRUPTED)
    run()
