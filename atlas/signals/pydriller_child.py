"""The pydriller backend's own process (`atlas.signals.git._CHILD` runs `main(TOP HEAD SINCE_COMMIT SINCE MAX)`).

Writes the commits of `atlas.signals.git.pydriller_walk` to stdout as NUL-separated tokens (`walk_tokens`), one
commit at a time, so the parent's stall watch sees progress; on an error, its first line on stderr and exit 1.
The parent stops this process and the gits it started when pydriller stalls.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from atlas.signals.git import ALIVE_MARK, first_message_line, pydriller_walk, walk_tokens


def main(argv: list[str]) -> int:
    """Walk the commits `argv` names (empty strings for none) and write them; the exit status."""
    top, head, since_commit, since, max_commits = argv
    out = sys.stdout.buffer

    def alive() -> None:
        out.write(ALIVE_MARK + b"\0")
        out.flush()

    try:
        walked = pydriller_walk(
            top, head or None, since_commit or None,
            datetime.fromtimestamp(int(since), UTC) if since else None, int(max_commits) or None, alive,
        )  # fmt: skip
        for commit in walked:
            out.write(b"\0".join(walk_tokens(commit)) + b"\0")
            out.flush()
    except Exception as error:  # pydriller raises bare Exceptions; a date past time_t is an OverflowError
        sys.stderr.write(first_message_line(error) + "\n")
        return 1
    return 0
