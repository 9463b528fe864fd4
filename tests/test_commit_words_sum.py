"""The commit-words signal sums a file's postings in Python, or with numpy when a search reads many (a monorepo's
common words): both must give the same files and the same floats."""

from __future__ import annotations

import random

import pytest

from atlas.api import index_config, open_engine
from atlas.query import ranking
from tests.conftest import git, init_repo, write_tree

WORDS = [f"{stem}{n}" for stem in ("parser", "cache", "retry", "socket", "widget") for n in range(20)]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("history")
    write_tree(root, {f"pkg/m{n}.py": f"VALUE_{n} = {n}\n" for n in range(40)})
    init_repo(root)
    chance = random.Random(7)
    for commit in range(60):
        for n in chance.sample(range(40), chance.randint(1, 5)):
            with (root / f"pkg/m{n}.py").open("a") as module:
                module.write(f"STEP_{commit} = {commit}\n")
        git(root, "commit", "-qam", " ".join(chance.choices(WORDS, k=chance.randint(2, 4))))
    from click.testing import CliRunner

    from atlas.cli import cli

    assert CliRunner().invoke(cli, ["-q", "index", str(root)]).exit_code == 0
    return open_engine(index_config(root), build_if_missing=False, show_progress=False)


@pytest.mark.parametrize("limit", [0, 3, 20, 1000])
@pytest.mark.parametrize("candidates", [(), (1, 5, 9, 30), tuple(range(40))])
def test_numpy_and_python_sums_agree(engine, limit: int, candidates: tuple[int, ...]) -> None:
    terms = [(word, 1.0 + i / 7) for i, word in enumerate(WORDS)]
    postings = ranking.commit_postings(engine.store, terms)
    assert postings is not None and postings.count > 100
    python = ranking.summed_in_python(engine.store, postings, set(candidates), limit)
    numpy = ranking.summed_by_numpy(engine.store, postings, set(candidates), limit)
    assert python == numpy
    assert len(python) >= min(limit or len(candidates), 10)  # the words reach files: the sums were exercised


def test_the_signal_takes_numpy_past_many_postings(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    terms = [(word, 1.0) for word in WORDS]
    taken: list[str] = []
    for name in ("summed_in_python", "summed_by_numpy"):
        summer = getattr(ranking, name)
        monkeypatch.setattr(ranking, name, lambda *args, summer=summer, name=name: taken.append(name) or summer(*args))
    monkeypatch.setattr(ranking, "VECTOR_POSTINGS", 1)
    ranking.commit_words_signal(engine.store, terms, 20, ranking.Signals())
    assert taken == ["summed_by_numpy"]
