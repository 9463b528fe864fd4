"""Token counts of real LLM tokenizers, offline.

`cl100k_base` (GPT-4, GPT-3.5) and `o200k_base` (GPT-4o, GPT-4.1) come from the `rs-bpe` package,
whose compiled extension embeds both vocabularies: nothing is downloaded, ever. Its counts equal
tiktoken's on every file of perf/RESULTS.md's sample (961 code and docs files, 8.2 MB), and
building a counter costs ~40 ms. `estimate` is ceil(bytes / 4), the rule of the reference tools
(mean absolute error 15%, p90 28% per file against cl100k on the same sample); it is also the
fallback when rs-bpe cannot be imported, with a note saying so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from atlas.errors import UsageError
from atlas.safe_read import quoted_value

DEFAULT_TOKENIZER = "cl100k_base"
ESTIMATE = "estimate"
TOKENIZERS = ("cl100k_base", "o200k_base", ESTIMATE)
ALIASES = {"cl100k": "cl100k_base", "o200k": "o200k_base", "gpt-4": "cl100k_base", "gpt-4o": "o200k_base"}


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """Counts the tokens of a text. `name` is the encoding actually used; `note` says why if it differs."""

    name: str
    count: Callable[[str], int]
    note: str = ""


def estimate_tokens(text: str) -> int:
    """ceil(UTF-8 bytes / 4): the reference tools' estimate."""
    return -(-len(text.encode("utf-8", errors="replace")) // 4)


def canonical_name(name: str) -> str:
    """The encoding called `name` (aliases accepted); UsageError for an unknown one."""
    chosen = ALIASES.get(name, name)
    if chosen not in TOKENIZERS:
        raise UsageError(f"unknown tokenizer {quoted_value(name)}", f"use one of {', '.join(TOKENIZERS)}")
    return chosen


@functools.cache
def token_counter(name: str = DEFAULT_TOKENIZER) -> TokenCounter:
    """A TokenCounter for `name`, built once per process."""
    chosen = canonical_name(name)
    if chosen == ESTIMATE:
        return TokenCounter(ESTIMATE, estimate_tokens)
    try:
        from rs_bpe.bpe import openai
    except ImportError:  # pragma: no cover - rs-bpe is a dependency; this guards odd platforms
        note = f"rs-bpe is not installed: token counts are estimates (bytes / 4), not {chosen}"
        return TokenCounter(ESTIMATE, estimate_tokens, note)
    tokenizer = openai.cl100k_base() if chosen == "cl100k_base" else openai.o200k_base()
    return TokenCounter(chosen, tokenizer.count)
