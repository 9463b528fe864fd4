"""Rust's panic lines kept off stderr (`atlas.native_stderr`), and nothing else with them.

The hold moves descriptor 2, so each check runs in a process of its own (`python -c`) on a real index: threads
printing meanwhile keep every line (through `sys.stderr`, in order); a process forked meanwhile writes to the real
stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from atlas.api import index_config, index_repo
from tests.test_hostile_data import garble_fast_fields

LINES = 3000

_PRINT_WHILE_SEARCHING = textwrap.dedent(
    """
    import os, sys, threading
    from pathlib import Path
    from atlas import api, native_stderr
    from atlas.errors import IndexCorrupt

    native_stderr.hold_panic_messages()
    good, damaged = Path(sys.argv[1]), Path(sys.argv[2])
    engine = api.open_engine(api.index_config(good), build_if_missing=False, show_progress=False)

    def python_chatter():  # progress and logging: sys.stderr
        for number in range({lines}):
            sys.stderr.write(f"py {{number}}\\n")
            sys.stderr.flush()

    def descriptor_chatter():  # what writes to descriptor 2 itself: a program started meanwhile, native code
        for number in range({lines}):
            os.write(2, f"fd {{number}}\\n".encode())

    def open_damaged():
        try:
            api.open_engine(api.index_config(damaged), build_if_missing=False, show_progress=False)
        except IndexCorrupt as err:
            assert "panicked" in str(err), err
        else:
            raise AssertionError("the damaged index opened")

    threads = [threading.Thread(target=python_chatter), threading.Thread(target=descriptor_chatter)]
    for thread in threads:
        thread.start()
    searches = panics = 0
    while any(thread.is_alive() for thread in threads) or searches < 20:
        assert engine.search("parse_token").hits
        searches += 1
        if searches % 5 == 0:
            open_damaged()  # one call into tantivy, held on its own
            with native_stderr.held():  # held inside a longer hold, as a search holds its calls
                open_damaged()
            panics += 2
    for thread in threads:
        thread.join()
    print(searches, panics)
    """
)


def _indexed(make_repo: Callable[..., Path], name: str) -> Path:
    root = make_repo({"a.py": "def parse_token(text):\n    return text\n"}, name=name)
    index_repo(index_config(root), show_progress=False)
    return root


def _python(code: str, *args: str | Path, backtrace: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUST_BACKTRACE": backtrace}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_thread_printing_while_tantivy_panics_loses_no_line(make_repo: Callable[..., Path]) -> None:
    good, damaged = _indexed(make_repo, "good"), _indexed(make_repo, "damaged")
    garble_fast_fields(damaged)
    done = _python(_PRINT_WHILE_SEARCHING.format(lines=LINES), good, damaged)
    assert done.returncode == 0, done.stderr[-3000:]
    searches, panics = map(int, done.stdout.split())
    assert searches >= 20 and panics >= 8, done.stdout
    lines = done.stderr.splitlines()
    assert [line for line in lines if line.startswith("py ")] == [f"py {n}" for n in range(LINES)]  # in order
    # Lines written to descriptor 2 itself during a hold come out when it ends: all of them, maybe later.
    held = [line for line in lines if line.startswith("fd ")]
    assert sorted(held, key=lambda line: int(line[3:])) == [f"fd {n}" for n in range(LINES)]
    assert len(lines) == 2 * LINES, [line for line in lines if line[:3] not in ("py ", "fd ")][:20]


def test_without_the_hold_rust_prints_its_panic(make_repo: Callable[..., Path]) -> None:
    # The same calls in a process that did not ask for the hold (a library user's, `atlas -v`): Rust's lines stay.
    damaged = _indexed(make_repo, "damaged")
    garble_fast_fields(damaged)
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from atlas import api
        from atlas.errors import IndexCorrupt
        try:
            api.open_engine(api.index_config(Path(sys.argv[1])), build_if_missing=False, show_progress=False)
        except IndexCorrupt:
            pass
        """
    )
    done = _python(code, damaged)
    assert done.returncode == 0 and "panicked at" in done.stderr, done.stderr


def test_a_process_forked_while_stderr_is_held_writes_to_the_real_stderr() -> None:
    code = textwrap.dedent(
        """
        import os
        from atlas import native_stderr

        def identity(fd):
            status = os.fstat(fd)
            return status.st_dev, status.st_ino

        real = identity(2)
        native_stderr.hold_panic_messages()
        with native_stderr.held():
            held = identity(2)
            child = os.fork()
            if child == 0:
                os.write(2, b"from the child\\n")
                os._exit(0 if identity(2) == real else 1)
            _, status = os.waitpid(child, 0)
        print(held != real, os.waitstatus_to_exitcode(status), identity(2) == real)
        """
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "0", "True"], done.stdout
    assert done.stderr == "from the child\n"
