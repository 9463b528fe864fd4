"""Identifier-aware tokenisation, the same code at index time and at query time.

Text is cut into word runs (letters, digits, `_`, and kebab-case joins of words). Each run is
kept whole, lower-cased, and followed by its parts when it is a compound: camelCase, PascalCase,
snake_case, kebab-case and letter/digit boundaries all split. So `parseHTTPRequest2` yields
`parsehttprequest2 parse http request 2`, and a query for either form matches. Text in scripts
without spaces (Chinese, Japanese, Korean) becomes overlapping character bigrams: `会话过期`
yields `会话 话过 过期`, so a query in those languages finds the comments and docs it shares words with.
Text is read in its composed Unicode form (NFC), so a decomposed `résumé` (NFD: `e` and a combining accent,
as macOS writes file names) and a composed one are the same words.

tantivy then indexes the space-joined tokens with its `whitespace` tokenizer, which needs no
registration and is persisted with the index, so the two sides can never drift apart.

`stem` maps inflected English words to a shared stem (`sessions` → `session`, `parsing`, `parser`
and `parse` → `pars`); the file-name and symbol fields index each token's stem beside it, and a
query looks stems up there, so a plural or an -ing form still finds the file named by its base.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
import zlib
from collections.abc import Iterable

MIN_TOKEN_LEN = 2
MAX_TOKEN_LEN = 64

# Scripts written without spaces between words (Han, Hiragana, Katakana, Hangul): a run of them is
# a word of its own, indexed as overlapping character bigrams (a lone character as itself).
_CJK = (
    "\u1100-\u11ff\u3005-\u3007\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)


_CJK_RANGES = tuple((ord(low), ord(high)) for low, high in re.findall(r"(.)-(.)", _CJK))
_CJK_STARTS = tuple(low for low, _ in _CJK_RANGES)
_PLAIN_WORD = re.compile(r"[^\W_]\w*(?:-[^\W\d_]\w*)*|(?<!_)_+[^\W_]\w*")
"""A word run where no character is CJK: `word_pattern()` restricted to such text, at a fraction of the
cost to compile (the CJK classes cost ~3 ms each to compile, ~13 ms at every CLI start).

Underscores before a word are tried from the first of their run only (`(?<!_)`): a match never ends before an
`_`, so one starting later in the run would end where the whole run's does. Tried from every underscore, a run
not followed by a letter was rescanned to its end each time (`«` and 64,000 `_`: 36 s)."""


def is_cjk(char: str) -> bool:
    """True for a character of a script written without spaces (the ranges of `_CJK`)."""
    code = ord(char)
    if code < 0x1100:
        return False
    i = bisect.bisect_right(_CJK_STARTS, code) - 1
    return i >= 0 and code <= _CJK_RANGES[i][1]


def words(text: str) -> list[str]:
    """The word runs of `text`, exactly as `word_pattern().findall(text)`: CJK runs are words of their
    own, and no other word crosses them, so the text between CJK runs is scanned with `_PLAIN_WORD`."""
    if not text or max(text) < "\u1100":
        return _PLAIN_WORD.findall(text)
    found: list[str] = []
    # Split at CJK runs (kept, at odd places): a regex, where a call of `is_cjk` per character took 0.3 s a megabyte.
    for place, segment in enumerate(_cjk_run().split(text)):
        if place % 2:
            found.append(segment)
        elif segment:
            found.extend(_PLAIN_WORD.findall(segment))
    return found


@functools.cache
def _cjk_run() -> re.Pattern[str]:
    """A run of CJK characters, captured (compiled on first use: ~1 ms, paid only by text beyond U+1100)."""
    return re.compile(f"([{_CJK}]+)")


def word_pattern() -> re.Pattern[str]:
    """The definition of a word run, as one regex (tests prove `words` and the fast path equal to it)."""
    return re.compile(
        rf"[{_CJK}]+|[^\W_{_CJK}][^\W{_CJK}]*(?:-[^\W\d_{_CJK}][^\W{_CJK}]*)*|(?<!_)_+[^\W_{_CJK}][^\W{_CJK}]*"
    )


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
    if word[:1] >= "\u1100" and is_cjk(word[0]):
        return (word,) if len(word) == 1 else tuple(word[i : i + 2] for i in range(len(word) - 1))
    whole = word.lower().strip("_")
    out: list[str] = []
    if MIN_TOKEN_LEN <= len(whole) <= MAX_TOKEN_LEN:
        out.append(whole)
        if not _SIMPLE.fullmatch(word):
            parts = [p for p in split_identifier(word) if len(p) >= MIN_TOKEN_LEN]
            if len(parts) > 1 or (parts and parts[0] != whole):
                out.extend(parts)
    return tuple(out)


def _expand_ascii(word: str) -> str:
    """`" ".join(_expand(word))` for an ASCII word of letters, digits and `_`, at a fraction of the cost.

    `_PART` never matches a separator and none of its lookaheads accepts one, so scanning the whole word
    finds exactly the parts `split_identifier` finds chunk by chunk (a test proves the two equal).
    """
    whole = word.lower().strip("_")
    if not MIN_TOKEN_LEN <= len(whole) <= MAX_TOKEN_LEN:
        return ""
    if _SIMPLE.fullmatch(word):
        return whole
    parts = [part for part in _PART.findall(word) if len(part) >= MIN_TOKEN_LEN]
    if len(parts) > 1 or (parts and parts[0].lower() != whole):
        return f"{whole} {' '.join(parts).lower()}"
    return whole


def composed(text: str) -> str:
    """`text` in Unicode's composed form (NFC): `é` written as `e` and a combining accent (NFD, as macOS names
    files and some editors save text) becomes the one character `é`. A combining mark is no word character, so
    the decomposed `résumé` was the words `re` and `sume`, and matched neither the composed word nor itself typed
    composed; composed, both spellings are the same tokens."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


class _RunCache(dict[bytes, str]):
    """A run of word bytes → its space-joined tokens; runs repeat, so most look-ups hit.

    A run never contains an ASCII separator, so tokenising it alone with `word_pattern()` gives exactly
    what `word_pattern()` gives for that stretch of the whole text (non-ASCII punctuation inside a run is
    still a separator for `word_pattern()`).
    """

    def __missing__(self, run: bytes) -> str:
        if run.isascii() and b"-" not in run:
            # One identifier-like word (leading underscores aside): no word scan.
            joined = _expand_ascii(run.decode("ascii"))
        else:
            text = composed(run.decode("utf-8", errors="replace"))
            joined = " ".join(token for word in words(text) for token in _expand(word))
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


STEM_MIN_LEN = 4
"""Tokens shorter than this are never stemmed, and a suffix is removed only if this much remains."""
STEMMED_FIELDS = ("filename", "symbols")
"""Index fields that hold each token's stem beside it (`with_stems`); queries look stems up there."""

_VOWELS = frozenset("aeiouy")


@functools.lru_cache(maxsize=1 << 16)
def stem(token: str) -> str:
    """A light English stem of a lower-case token; anything but a plain ASCII word comes back as is.

    Plurals lose their `s` (`ies` → `y`; not `ss`, `us`, `is`), then `ing` or `ed`, then `er`, a
    doubled final consonant and a final `e` go, each only if STEM_MIN_LEN characters with a vowel
    remain: `retries` → `retry`, `wrapping` → `wrap`, `handlers`/`handled`/`handle` → `handl`.
    """
    return _stem(token)


def _stem(word: str) -> str:
    if len(word) < STEM_MIN_LEN or not (word.isascii() and word.isalpha()):
        return word
    if word.endswith(("ies", "ied")) and len(word) > STEM_MIN_LEN:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffixes in (("ing", "ed"), ("er",)):
        for suffix in suffixes:
            if word.endswith(suffix):
                word = _strip(word, len(suffix))
                break
    if word.endswith("e") and _keeps(word[:-1]):
        word = word[:-1]
    return word


def _strip(word: str, length: int) -> str:
    """`word` without its last `length` letters (and a doubled consonant that leaves), if enough remains."""
    rest = word[:-length]
    if len(rest) > 2 and rest[-1] == rest[-2] and rest[-1] not in _VOWELS and rest[-1] not in "lsz":
        rest = rest[:-1]
    return rest if _keeps(rest) else word


def _keeps(rest: str) -> bool:
    return len(rest) >= STEM_MIN_LEN and not _VOWELS.isdisjoint(rest)


def with_stems(tokens: Iterable[str]) -> list[str]:
    """Each token followed by its stem when that differs (the file-name and symbol fields hold both)."""
    out: list[str] = []
    for token in tokens:
        out.append(token)
        stemmed = stem(token)
        if stemmed != token:
            out.append(stemmed)
    return out


_ENDINGS = ("", "s", "es", "ed", "ing", "er", "ers")
_AFTER_E = ("", "s", "d", "r", "rs")
_AFTER_I = ("es", "ed", "er", "ers")
_AFTER_DOUBLE = ("ed", "er", "ers", "ing")


@functools.lru_cache(maxsize=1 << 14)
def inflections(token: str) -> tuple[str, ...]:
    """Other spellings English builds on `token`'s stem (`parsing` → parse, parsed, parser, parsers, parses, …):
    every candidate `s` ≠ `token` with `stem(s) == stem(token)`. Which of them are words is for an index to say.

    Only plain lower-case ASCII words of STEM_MIN_LEN letters or more have any. The endings are the ones `stem`
    removes, after the stem itself, after it with a final `e` (`pars` → `parses`), after a `y` turned `i`
    (`retri` → `retries`) and after a doubled final consonant (`wrapp` → `wrapping`).
    """
    if len(token) < STEM_MIN_LEN or not (token.isascii() and token.isalpha() and token.islower()):
        return ()
    root = stem(token)
    with_e = root if root.endswith("e") else root + "e"
    spellings = [root + ending for ending in _ENDINGS] + [with_e + ending for ending in _AFTER_E]
    if root.endswith("y"):
        spellings += [root[:-1] + "i" + ending for ending in _AFTER_I]
    elif _doubles(root):
        spellings += [root + root[-1] + ending for ending in _AFTER_DOUBLE]
    return tuple(s for s in dict.fromkeys(spellings) if s != token and stem(s) == root)


def _doubles(root: str) -> bool:
    """English doubles the final consonant of a consonant-vowel-consonant ending (`wrap` → `wrapped`)."""
    *_, before, vowel, last = root
    return before not in _VOWELS and vowel in _VOWELS and last not in _VOWELS and last not in "wx"


class _StemmedRunCache(dict[bytes, str]):
    """A run of word bytes → `with_stems` of its tokens, space-joined (`with_stems` maps token by token, so
    the stems of a text are the stems of its runs, joined)."""

    def __missing__(self, run: bytes) -> str:
        if len(self) >= _STEMMED_CACHE_LIMIT:
            self.clear()
        joined = self[run] = " ".join(with_stems(_runs[run].split()))
        return joined


_STEMMED_CACHE_LIMIT = 1 << 16
"""Only names and paths go through this cache; a kernel's symbol names would otherwise add ~40 MiB a worker."""
_stemmed_runs = _StemmedRunCache()


def stemmed_tokens_text(text: str) -> str:
    """`" ".join(with_stems(tokenize(text)))`, each distinct run of word bytes tokenised and stemmed once."""
    runs = text.encode("utf-8", errors="surrogatepass").translate(_TO_SPACES).split()
    return " ".join(filter(None, map(_stemmed_runs.__getitem__, runs)))


def _one_character_name(name: str) -> str | None:
    """A name of one letter or digit (`Q`, `F`, `T`), which `tokenize` drops, in lower case; None for others."""
    return name.lower() if len(name) == 1 and name.isalnum() else None


def name_tokens(name: str) -> list[str]:
    """The tokens a definition's `name` is looked up by: `tokenize`'s, or for a name of one letter or digit
    its `_one_character_name` (the symbols field holds it too)."""
    tokens = tokenize(name)
    if not tokens and (short := _one_character_name(name)):
        return [short]
    return tokens


def symbol_terms(names: Iterable[str]) -> str:
    """The symbols field's text for a file's definition `names`: their tokens and stems, then the names of
    one letter or digit in lower case (so that `class Q` can be looked up)."""
    names = list(names)
    short = dict.fromkeys(filter(None, map(_one_character_name, names)))
    # One call for all the names: tokenising is compositional over the spaces that join them.
    return " ".join(filter(None, [stemmed_tokens_text(" ".join(names)), *short]))


def path_tokens(path: str) -> list[str]:
    """Tokens for a repository path: the file name's tokens first, then its directories'."""
    name = path.rsplit("/", 1)[-1]
    return tokenize(name) + tokenize(path[: -len(name)])


def path_terms(path: str) -> str:
    """`" ".join(with_stems(path_tokens(path)))`: the file-name field's text (tokenising is compositional
    over the space between the name and its directories)."""
    name = path.rsplit("/", 1)[-1]
    return stemmed_tokens_text(f"{name} {path[: -len(name)]}")


def unique(tokens: Iterable[str]) -> list[str]:
    """Return tokens in first-seen order without repeats."""
    return list(dict.fromkeys(tokens))


def word_hash(word: str) -> int:
    """A word's 32-bit key where words are stored as numbers (the commit words of the side store): CRC-32."""
    return zlib.crc32(word.encode("utf-8", "surrogatepass"))
