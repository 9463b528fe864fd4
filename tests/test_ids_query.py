"""`ids_query` matches exactly the documents of the files it names, as terms (few ids) or as a set (many)."""

from __future__ import annotations

import pytest

from atlas.api import index_config, open_engine
from atlas.query import ranking
from atlas.query.engine import Engine
from tests.conftest import indexed_repo


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = indexed_repo(tmp_path_factory.mktemp("ids") / "repo", {f"m{n}.txt": f"word{n}\n" for n in range(320)})
    return open_engine(index_config(root), build_if_missing=False, show_progress=False)


@pytest.mark.parametrize("count", [0, 1, 17, ranking.IDS_AS_TERMS, ranking.IDS_AS_TERMS + 1, 300])
def test_ids_query_matches_the_named_files_only(engine: Engine, count: int) -> None:
    fids = list(range(0, 2 * count, 2)) if count <= 160 else list(range(count))
    hits = engine.reader.search(ranking.ids_query(engine.reader.schema, fids), 1000)
    assert sorted(engine.reader.fids(hits)) == sorted(fids)
