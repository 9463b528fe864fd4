"""Proximity: the words of an issue met together, in its order, outweigh the same words scattered.

"the retry budget is exhausted" is about the file where "retry budget" is written (or `retry_budget` is a
name), not about one that says "retry" here and "budget" there, more often. The `proximity` signal
ranks candidates by BM25 of the query's adjacent word pairs as phrases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import open_engine
from atlas.config import IndexConfig
from atlas.query.syntax import parse_query, word_pairs
from atlas.terms import tokenize
from tests.ranking.searching import indexed_with_filler, top_paths

QUERY = "Requests fail once the retry budget is exhausted"

SCATTERED = """\
def schedule(job, budget):
    '''Run a job within its budget, if the budget allows: over budget, nothing runs.'''
    if budget.spent(job) > budget.limit:
        return None
    # failed jobs wait in the queue for another retry, until they have exhausted their attempts
    # the queue holds each retry until the job may run again; we log what the budget spent
    log(job, budget)
    return queue.retry(job)
"""

ADJACENT = """\
def consume(attempts):
    '''Spend one attempt of the retry budget.'''
    attempts.remaining -= 1
    return attempts.remaining > 0
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return indexed_with_filler(Path(tmp_path_factory.mktemp("proximity")) / "repo", {
        "jobs/scheduler.py": SCATTERED,
        "net/attempts.py": ADJACENT,
        "net/client.py": "def send(request):\n    return transport.write(request)\n",
        "docs/usage.md": "# Usage\n\nSend a message with the client.\n",
    })  # fmt: skip


def _paths(config: IndexConfig, **overrides: float) -> list[str]:
    return top_paths(config, QUERY, **overrides)


def test_the_file_naming_the_words_together_comes_first(config: IndexConfig) -> None:
    assert _paths(config)[0] == "net/attempts.py"


def test_without_proximity_the_scattered_words_win(config: IndexConfig) -> None:
    assert _paths(config, proximity=0)[0] == "jobs/scheduler.py"


def test_only_the_files_with_a_pair_of_the_query_get_the_signal(config: IndexConfig) -> None:
    engine = open_engine(config, build_if_missing=False)
    raw = engine.candidates(QUERY).raw["proximity"]
    paths = {engine.store.paths[fid] for fid in raw}
    assert paths == {"net/attempts.py"}


def test_pairs_are_adjacent_tokens_in_order_without_repeats() -> None:
    pairs = parse_query("the retry budget; retryBudget, the retry budget").pairs
    assert pairs == (("the", "retry"), ("retry", "budget"), ("budget", "retrybudget"), ("retrybudget", "retry"),
                     ("budget", "the"))  # fmt: skip


def test_a_compound_identifier_gives_the_pair_of_its_parts() -> None:
    assert word_pairs(tokenize("rate_limit")) == (("rate_limit", "rate"), ("rate", "limit"))
    assert word_pairs(tokenize("RateLimit")) == (("ratelimit", "rate"), ("rate", "limit"))
