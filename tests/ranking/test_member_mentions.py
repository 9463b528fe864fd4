"""A member named through its class (`Coordinates.to_index()`): the file defining both names is the one meant.

An issue names a method as `Owner.member`. The member's name alone may be defined in several files (every class
with a `to_index`), and the owner's name is one word that files using the class repeat. The pair, like a stack
frame's (container, function), counts for the files defining both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import open_engine
from atlas.config import IndexConfig
from atlas.query.engine import SearchOptions
from atlas.query.mentions import find_mentions
from tests.ranking.searching import indexed_with_filler

COORDINATES = """\
class Coordinates:
    '''Labels along each axis.'''

    def to_index(self, order=None):
        return build_index(self.names, order)
"""

DATASET = """\
from geo.labels import Coordinates


class Dataset:
    '''Variables sharing coordinates.'''

    def coordinates(self):
        return Coordinates(self.names)

    def to_index(self):
        return self.coordinates().to_index()
"""

QUERY = (
    "Major performance regression in `Coordinates.to_index()`\n\n"
    "Since the last release, calling Coordinates.to_index() on a dataset with many coordinates takes 100x longer. "
    "The coordinates have 40 levels; the dataset is small."
)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return indexed_with_filler(Path(tmp_path_factory.mktemp("members")) / "repo", {
        "geo/labels.py": COORDINATES,
        "geo/dataset.py": DATASET,
        "geo/variable.py": "class Variable:\n    def to_index(self):\n        return self.values\n",
    })  # fmt: skip


def test_owner_and_member_are_a_pair_of_names() -> None:
    assert ("Coordinates", "to_index") in find_mentions(QUERY).frames
    assert find_mentions("np.float32 and os.path.join(a, b)").frames == ()  # modules, not classes


def test_the_file_defining_the_owner_and_its_member_leads_the_symbol_mentions(config: IndexConfig) -> None:
    # Without the pair, every file defining `to_index` shared the first rank (`Coordinates` alone is no compound
    # identifier); in xarray's issue 11305, `dataset.py` came before `coordinates.py`, the file fixed.
    engine = open_engine(config, build_if_missing=False)
    hits = engine.search(QUERY, SearchOptions(limit=10, with_lines=False, explain=True)).hits
    ranks = {hit.path: term.rank for hit in hits for term in hit.explain if term.signal == "symbol_mention"}
    assert ranks["geo/labels.py"] == 1
    assert all(rank > 1 for path, rank in ranks.items() if path != "geo/labels.py"), ranks
    assert {"geo/dataset.py", "geo/variable.py"} <= set(ranks)
