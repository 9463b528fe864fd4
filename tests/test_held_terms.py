"""Which of a search's salient words each hit holds: told by index queries of many words each (every word its own
power of two in the score), it must equal asking the index word by word."""

from __future__ import annotations

from pathlib import Path

import tantivy

from atlas.api import index_config, open_engine
from atlas.query.engine import HELD_TERMS_A_LOOKUP
from tests.conftest import indexed_repo

WORDS = [f"word{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(2 * HELD_TERMS_A_LOOKUP + 5)]
FILES = {f"m{n}.txt": " ".join(w for i, w in enumerate(WORDS) if (i * 7 + n) % (n + 2) == 0) + "\n" for n in range(12)}


def test_held_terms_equal_a_look_up_of_each_word_in_each_file(tmp_path: Path) -> None:
    root = indexed_repo(tmp_path / "repo", FILES)
    engine = open_engine(index_config(root), build_if_missing=False, show_progress=False)
    reader = engine.reader
    fids = sorted(engine.store.paths.index(path) for path in FILES)[:10]
    asked = dict.fromkeys([*WORDS, "absentword"], 1.0)
    held = engine._held_terms(fids, asked)
    expected: dict[int, set[str]] = {}
    for word in asked:
        query = tantivy.Query.term_query(reader.schema, "content", word)
        for fid in reader.fids(reader.search(query, 100)):
            if fid in fids:
                expected.setdefault(fid, set()).add(word)
    assert held == expected
    assert sum(map(len, held.values())) > 3 * HELD_TERMS_A_LOOKUP  # words past the first look-up's count too
