"""Progress on stderr: a rewritten line on a capable terminal, plain lines elsewhere (TERM=dumb included)."""

from __future__ import annotations

import os
import pty

import pytest

from atlas.progress import Progress


@pytest.mark.parametrize(("term", "rewrites"), [("xterm-256color", True), ("dumb", False)])
def test_progress_rewrites_its_line_only_on_a_terminal_that_can(
    monkeypatch: pytest.MonkeyPatch, term: str, rewrites: bool
) -> None:
    monkeypatch.setenv("TERM", term)
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        progress = Progress("indexing", stream=terminal)
        progress.interval = 0.0
        progress.update(1, 2, "files")
        progress.done()
    written = os.read(leader, 4096).decode()
    os.close(leader)
    assert "indexing: 1/2 files" in written
    assert ("\x1b[K" in written) == rewrites
