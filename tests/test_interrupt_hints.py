"""What a ^C says: in the first milliseconds (while the CLI loads), and in a command that wrote no index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

INTERRUPT_WHILE_LOADING = """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "atlas.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
from atlas.launch import main
main()
"""


def test_a_ctrl_c_while_the_cli_loads_is_one_sentence_and_exit_130() -> None:
    done = subprocess.run([sys.executable, "-c", INTERRUPT_WHILE_LOADING], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr == "atlas: interrupted\n  hint: nothing was changed; run the command again\n"


def test_an_interrupt_of_a_command_that_wrote_no_index_does_not_speak_of_publishing(tmp_path: object) -> None:
    probe = (
        "import atlas.cli as cli\n"
        "print(cli._interrupted_hint())\n"
        "from atlas.index import store\n"
        "store.prepared.append('x')\n"
        "print(cli._interrupted_hint())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == [
        "nothing was changed; run the command again", "nothing was published; the previous index is intact",
    ]  # fmt: skip


SIGNAL_WHILE_THE_CLI_STARTS = """
import os, signal, sys

class Signal:
    def find_spec(self, name, path=None, target=None):
        if name == "atlas.native_stderr":  # imported after the handlers are installed, before the command runs
            os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_NAME"]))
        return None

sys.meta_path.insert(0, Signal())
from atlas.launch import main
main()
"""


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_regression_a_signal_after_the_handlers_are_installed_but_before_the_command_runs_is_one_sentence(
    tmp_path: Path, name: str, code: int
) -> None:
    # ^C or SIGTERM in the milliseconds between `install_signal_handlers` and the command (descriptors checked,
    # panic messages held, the fault handler enabled) raised where nothing caught it: a KeyboardInterrupt traceback.
    _assert_one_sentence(SIGNAL_WHILE_THE_CLI_STARTS, tmp_path, name, code)


def _assert_one_sentence(probe: str, tmp_path: Path, name: str, code: int) -> None:
    """`atlas status` run by `probe`, which sends itself the signal `name`, ends in one sentence with `code`."""
    done = subprocess.run(
        [sys.executable, "-c", probe, "status", "--repo", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "SIGNAL_NAME": name},
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    assert done.stderr == "atlas: interrupted\n  hint: nothing was changed; run the command again\n"


SIGNAL_WHILE_THE_COMMAND_LINE_IS_READ = """
import os, signal
import click

read = click.Command.make_context

def make_context(self, *args, **kwargs):  # click's own, which Atlas's group calls
    os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_NAME"]))
    return read(self, *args, **kwargs)

click.Command.make_context = make_context
from atlas.launch import main
main()
"""


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_regression_a_signal_while_the_command_line_is_read_is_one_sentence_with_its_own_code(
    tmp_path: Path, name: str, code: int
) -> None:
    # click turns an interrupt while it reads the command line into its Abort, after an empty line on stderr: Atlas
    # reported it as ^C whatever the signal, SIGTERM included (130, not 143), below that empty line.
    _assert_one_sentence(SIGNAL_WHILE_THE_COMMAND_LINE_IS_READ, tmp_path, name, code)


SIGTERM_WHILE_THE_CLI_LOADS = """
import os, signal, sys

class Terminate:
    def find_spec(self, name, path=None, target=None):
        if name == "atlas.cli":
            os.kill(os.getpid(), signal.SIGTERM)
        return None

sys.meta_path.insert(0, Terminate())
from atlas.launch import main
main()
"""


def test_regression_a_sigterm_while_the_cli_loads_is_one_sentence_and_exit_143() -> None:
    # A SIGTERM (`docker stop`, a CI runner's timeout) in the first tenths of a second, while the CLI's modules load,
    # found no handler yet: the process died of the signal without a word, where ^C there gets a sentence and 130.
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_WHILE_THE_CLI_LOADS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 143, done.stderr
    assert done.stderr == "atlas: interrupted\n  hint: nothing was changed; run the command again\n"
