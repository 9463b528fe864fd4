"""What a ^C says: in the first milliseconds (while the CLI loads), and in a command that wrote no index."""

from __future__ import annotations

import subprocess
import sys

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
