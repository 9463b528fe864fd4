"""Parsing works with no network at all: the grammars ship inside tree-sitter-language-pack."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from atlas.parse.symbols import extract

    samples = {
        "python": b"import os\\n\\nclass A:\\n    def m(self):\\n        pass\\n\\ndef f():\\n    pass\\n",
        "go": b"package p\\n\\nimport \\"fmt\\"\\n\\nfunc F() {\\n\\tfmt.Println()\\n}\\n",
        "rust": b"use std::fmt;\\nmod m;\\n\\npub struct S;\\n\\nfn run() {}\\n",
    }
    out = {}
    for language, source in samples.items():
        symbols, imports = extract(language, source)
        out[language] = [[[s.name, s.kind, s.start_line, s.end_line] for s in symbols], imports]
    print(json.dumps(out))
    """
)


def test_extract_with_network_disabled() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["python"] == [
        [["A", "class", 3, 5], ["m", "method", 4, 5], ["f", "function", 7, 8]],
        ["os"],
    ]
    assert out["go"] == [[["F", "function", 5, 7]], ["fmt"]]
    assert out["rust"] == [[["S", "struct", 4, 4], ["run", "function", 6, 6]], ["std::fmt", "mod:m"]]
