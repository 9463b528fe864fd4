"""Token counts: real BPE encodings, offline, and the documented estimate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from atlas.context.tokens import canonical_name, estimate_tokens, token_counter
from atlas.errors import UsageError

CODE = 'def parse_http_request(raw: bytes) -> Request:\n    """Split the head."""\n    return Request(raw)\n'


def test_cl100k_and_o200k_give_the_known_counts() -> None:
    assert token_counter("cl100k_base").count("hello world") == 2
    assert token_counter("o200k_base").count("hello world") == 2
    assert token_counter("cl100k_base").name == "cl100k_base"
    assert token_counter("cl100k_base").count("") == 0


def test_counts_are_plausible_for_code_and_differ_between_encodings() -> None:
    cl100k, o200k = token_counter("cl100k_base").count(CODE), token_counter("o200k_base").count(CODE)
    assert 15 < cl100k < len(CODE) // 2 and 15 < o200k < len(CODE) // 2


def test_the_estimate_is_bytes_over_four_rounded_up() -> None:
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2 and estimate_tokens("") == 0
    assert token_counter("estimate").count("é" * 4) == 2


def test_aliases_and_unknown_names() -> None:
    assert canonical_name("gpt-4o") == "o200k_base" and canonical_name("cl100k") == "cl100k_base"
    with pytest.raises(UsageError):
        canonical_name("llama")


OFFLINE_SCRIPT = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network use during token counting")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from atlas.context.tokens import token_counter
print(token_counter("cl100k_base").count("hello world"), token_counter("o200k_base").count("hello world"))
"""


def test_counting_needs_no_network() -> None:
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    command = [sys.executable, "-c", OFFLINE_SCRIPT]
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        command = ["unshare", "-n", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2"]
