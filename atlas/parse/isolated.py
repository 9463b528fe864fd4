"""tree-sitter in a helper process, for the parses made while answering a query.

A grammar that never returns (an external scanner spinning in C holds the GIL and ignores signals, so the parse's
own deadline cannot stop it) or that crashes would take the process with it: a CLI search would hang, and so would
the MCP server for every later request. An index run has the parse pool's watchdog for that; a query parses a few
files (the fast preset's chosen ones, a file edited since indexing) in a helper forked on the first one, which
is killed should it not answer within QUERY_PARSE_SECONDS, and started again for the next file. A fork per file
would cost ~2.7 ms; a request to the helper costs a round trip of the file through a pipe. Where there is no `fork`,
the parse runs in the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time

from atlas.parse.languages import GRAMMAR_FOR, SCRIPT_HOSTS
from atlas.parse.symbols import ExtractionError, Symbol, extract, prepare

QUERY_PARSE_SECONDS = 10.0
"""The longest a query waits for one file's parse: twice tree-sitter's own deadline, and its slack."""

_CAN_FORK = hasattr(os, "fork") and sys.platform.startswith("linux")
_LENGTH = struct.Struct("<Q")
_PR_SET_PDEATHSIG = 1


class _Helper:
    """A forked process answering `extract` requests, one at a time, over a pair of pipes."""

    def __init__(self) -> None:
        requests_in, self.requests = os.pipe()
        self.answers, answers_out = os.pipe()
        self.owner = os.getpid()
        # A death signal comes when the thread that forked exits, not the process: only the main thread's is wanted.
        deathsig = threading.current_thread() is threading.main_thread()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child (coverage does not follow forks)
            _serve(requests_in, answers_out, (self.requests, self.answers), self.owner, deathsig)
        os.close(requests_in)
        os.close(answers_out)

    def ask(self, language: str, source: bytes, deadline: float) -> bytes | None:
        """The helper's pickled answer for one file; None when it did not answer within `deadline` seconds or died
        (it is then gone for good: `close` it)."""
        _write_message(self.requests, pickle.dumps((language, source), protocol=pickle.HIGHEST_PROTOCOL))
        return _read_message(self.answers, time.monotonic() + deadline)

    def close(self) -> None:
        """Kill the helper and reap it."""
        for fd in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


_helper: _Helper | None = None
_helper_lock = threading.Lock()


def extract_isolated(
    language: str, source: bytes, deadline: float = QUERY_PARSE_SECONDS
) -> tuple[list[Symbol], list[str]]:
    """`extract(language, source)`, run in the helper process; ExtractionError also when the helper does not answer
    within `deadline` seconds (it is killed) or dies."""
    global _helper
    if language not in GRAMMAR_FOR and language not in SCRIPT_HOSTS:
        return [], []
    prepare(language)  # loaded here, the grammar comes with every helper forked from now on
    if not _CAN_FORK or not source:
        return extract(language, source)
    with _helper_lock:
        if _helper is None or _helper.owner != os.getpid():  # none yet, or this is a fork of its owner
            _helper = _Helper()
        helper, answer = _helper, None
        try:
            answer = helper.ask(language, source, deadline)
        except OSError:  # the helper is gone (a broken pipe)
            pass
        finally:
            if answer is None:  # no answer: timed out, died, or this wait was interrupted (^C)
                helper.close()
                _helper = None
    if answer is None:
        raise ExtractionError(f"{language}: tree-sitter did not finish in {deadline:g} s, or crashed its process")
    ok, value = pickle.loads(answer)
    if not ok:
        raise ExtractionError(value)
    return value


def _serve(requests: int, answers: int, parents_ends: tuple[int, int], parent: int, deathsig: bool) -> None:
    """In the helper: answer requests until the parent closes its end or dies; never returns into the parent's code.

    The parent's death closes the request pipe (its ends are not inherited by the programs it runs), which ends the
    helper; with `deathsig`, the kernel also kills it then, should it be busy."""
    status = 0
    try:
        for fd in parents_ends:
            os.close(fd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C reaches the whole process group: the parent handles it
        if deathsig:
            _die_with(parent)
        while (request := _read_message(requests, None)) is not None:
            language, source = pickle.loads(request)
            try:
                outcome: tuple[bool, object] = (True, extract(language, source))
            except ExtractionError as error:
                outcome = (False, str(error))
            _write_message(answers, pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:  # whatever happens here, the parent's code must not run in this process
        status = 70
    finally:
        os._exit(status)


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux), so that no helper outlives its process."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _write_message(fd: int, payload: bytes) -> None:
    data = memoryview(_LENGTH.pack(len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def _read_message(fd: int, ends: float | None) -> bytes | None:
    """One length-prefixed message from `fd`; None at the end of the pipe, or once the monotonic clock passes `ends`."""
    header = _read_exactly(fd, _LENGTH.size, ends)
    if header is None:
        return None
    return _read_exactly(fd, _LENGTH.unpack(header)[0], ends)


def _read_exactly(fd: int, size: int, ends: float | None) -> bytes | None:
    parts: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while size:
        if ends is not None:
            left = ends - time.monotonic()
            if left <= 0:
                return None
            if not poller.poll(min(left, 0.5) * 1000):
                continue
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
