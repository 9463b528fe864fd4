"""Identifier-aware tokenisation, the same code at index time and at query time.

Text is cut into word runs (letters, digits, `_`, and kebab-case joins of words). Each run is
kept whole, lower-cased, and followed by its parts when it is a compound: camelCase, PascalCase,
snake_case, kebab-case and letter/digit boundaries all split. So `parseHTTPRequest2` yields
`parsehttprequest2 parse http request 2`, and a query for either form matches.

tantivy then indexes the space-joined tokens with its `whitespace` tokenizer, which needs no
registration and is persisted with the index, so the two sides can never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_TOKEN_LEN = 2
MAX_TOKEN_LEN = 64

_WORD = re.compile(r"[^\W_][\w]*(?:-[^\W\d_][\w]*)*|_+[^\W_][\w]*")
# An acronym ends where a capitalised word starts (`HTTPServer` → HTTP Server), keeps a plural `s`
# (`URLs`), and leaves a version letter to its number (`SSLv3Error` → SSL v3 Error).
_PART = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]{2,}(?=[a-z]\d)|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SEPARATORS = re.compile(r"[_\-]+")
_SIMPLE = re.compile(r"[a-z]+|[A-Z][a-z]*|\d+")

_CACHE_LIMIT = 300_000

# Bytes that can be part of a word run: ASCII letters, digits, `_`, `-` (kebab joins) and every
# byte of a multi-byte UTF-8 character. Everything else separates runs.
_RUN_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") | frozenset(range(128, 256))
_TO_SPACES = bytes(byte if byte in _RUN_BYTES else 32 for byte in range(256))


def split_identifier(word: str) -> list[str]:
    """Split an identifier into its lower-cased parts (camel, Pascal, snake, kebab, digits)."""
    chunks = _SEPARATORS.split(word)
    if not word.isascii():
        return [chunk.lower() for chunk in chunks if chunk]
    parts: list[str] = []
    for chunk in chunks:
        parts.extend(p.lower() for p in _PART.findall(chunk))
    return parts


def _expand(word: str) -> tuple[str, ...]:
    whole = word.lower().strip("_")
    out: list[str] = []
    if MIN_TOKEN_LEN <= len(whole) <= MAX_TOKEN_LEN:
        out.append(whole)
        if not _SIMPLE.fullmatch(word):
            parts = [p for p in split_identifier(word) if len(p) >= MIN_TOKEN_LEN]
            if len(parts) > 1 or (parts and parts[0] != whole):
                out.extend(parts)
    return tuple(out)


class _RunCache(dict[bytes, str]):
    """A run of word bytes → its space-joined tokens; runs repeat, so most look-ups hit.

    A run never contains an ASCII separator, so tokenising it alone with `_WORD` gives exactly
    what `_WORD` gives for that stretch of the whole text (non-ASCII punctuation inside a run is
    still a separator for `_WORD`).
    """

    def __missing__(self, run: bytes) -> str:
        if run.isascii() and b"-" not in run:
            # One identifier-like word (leading underscores aside): no decode, no regex scan.
            word = run.decode("ascii").lstrip("_")
            joined = " ".join(_expand(run.decode("ascii"))) if word else ""
        else:
            text = run.decode("utf-8", errors="replace")
            joined = " ".join(token for word in _WORD.findall(text) for token in _expand(word))
        if len(self) >= _CACHE_LIMIT:
            # Generational: start afresh rather than stop caching; identifiers cluster by file and
            # directory, so the next files' runs refill it (a frozen cache fell to ~50% hits).
            self.clear()
        self[run] = joined
        return joined


_runs = _RunCache()


def tokenize(text: str) -> list[str]:
    """Return the tokens of `text` (see the module docstring)."""
    return tokens_text(text).split()


def tokens_text(text: str) -> str:
    """Return the tokens of `text` joined by spaces, ready for tantivy's whitespace tokenizer.

    Runs of several spaces may appear where a word yields no token; the tokenizer skips them.
    """
    return tokens_text_bytes(text.encode("utf-8", errors="surrogatepass"))


def tokens_text_bytes(data: bytes) -> str:
    """`tokens_text` of UTF-8 `data` (invalid bytes read as U+FFFD), without decoding it whole.

    Byte translation and `split` find the runs at C speed; each distinct run is tokenised once.
    """
    return " ".join(map(_runs.__getitem__, data.translate(_TO_SPACES).split()))


def path_tokens(path: str) -> list[str]:
    """Tokens for a repository path: the file name's tokens first, then its directories'."""
    name = path.rsplit("/", 1)[-1]
    return tokenize(name) + tokenize(path[: -len(name)])


def unique(tokens: Iterable[str]) -> list[str]:
    """Return tokens in first-seen order without repeats."""
    return list(dict.fromkeys(tokens))
