"""Inflected words in a file's text: an issue's "retrying uploads" meets code that says "retry" and "upload".

File names and symbols hold stems beside their words, so `parsing` already finds `parser.py` and `parse_args`;
the text field holds words as written. A query word's other forms that the text holds (`atlas.terms.inflections`,
looked up in the index) match for it at `inflection_weight` of its weight, so the module written in other forms of
the issue's words outranks a file that happens to use one of them verbatim.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from atlas.query.fuse import weights_for
from atlas.records import Hit
from tests.ranking.searching import indexed_with_filler, top_paths

QUERY = "Retrying uploads ignores the configured timeouts"

OTHER_FORMS = """\
def send_chunk(link, chunk, settings):
    '''Send one chunk; a failed upload is tried again until the retries run out.'''
    for attempt in range(settings.retries):
        # each retry waits for the timeout that the user may configure per upload
        if link.write(chunk, wait=settings.timeout):
            return True
    return False
"""

VERBATIM = """\
STATUS_TEXT = {
    "busy": "retrying in a moment",
    "done": "all uploads finished",
}


def status_line(state):
    return STATUS_TEXT.get(state, state)
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return indexed_with_filler(Path(tmp_path_factory.mktemp("inflected")) / "repo", {
        "sync/transfer.py": OTHER_FORMS,
        "ui/status.py": VERBATIM,
        "sync/link.py": "def open_link(address):\n    return socket_for(address)\n",
        "docs/usage.md": "# Usage\n\nStart the client and pick a folder.\n",
    })  # fmt: skip


def test_the_module_written_in_other_forms_of_the_words_comes_first(config: IndexConfig) -> None:
    assert top_paths(config, QUERY)[0] == "sync/transfer.py"


def test_without_inflections_the_file_using_the_words_verbatim_wins(config: IndexConfig) -> None:
    assert top_paths(config, QUERY, inflection_weight=0)[0] == "ui/status.py"


def test_a_query_in_the_files_own_forms_finds_it_either_way(config: IndexConfig) -> None:
    query = "retry upload timeout"
    assert top_paths(config, query)[0] == top_paths(config, query, inflection_weight=0)[0] == "sync/transfer.py"


def first_hit(config: IndexConfig, query: str, **overrides: float) -> Hit:
    engine = open_engine(config, build_if_missing=False)
    return engine.search(query, SearchOptions(limit=1, weights=weights_for("balanced", overrides))).hits[0]


def test_the_hit_shows_the_definition_and_lines_its_other_forms_matched(config: IndexConfig) -> None:
    hit = first_hit(config, "sending chunks")
    assert hit.path == "sync/transfer.py"
    assert hit.symbols == ("send_chunk",)
    assert [(r.start_line, r.end_line, r.symbol) for r in hit.lines] == [(1, 7, "send_chunk")]


def test_without_inflections_the_hit_shows_no_definition_for_other_forms(config: IndexConfig) -> None:
    hit = first_hit(config, "sending chunks", inflection_weight=0)
    assert hit.path == "sync/transfer.py"
    assert hit.symbols == ()
    assert hit.lines == ()
