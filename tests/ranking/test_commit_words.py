"""Vocabulary mismatch: an issue says "throttle", the code says `rate_limit`, the commits said both.

The `commit_words` signal scores files by the words of the commit messages that touched them, so a
file is found by the words its project used for its changes even where its code never uses them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.api import open_engine
from atlas.config import IndexConfig
from tests.conftest import git, init_repo, write_tree
from tests.ranking.searching import indexed, top_paths

QUERY = "Throttling lets bursts through"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    root = Path(tmp_path_factory.mktemp("commit-words")) / "repo"
    write_tree(root, {
        "net/rate_limit.py": "def allow(bucket, now):\n    return bucket.tokens > 0\n",
        "net/retry.py": "def backoff(attempt):\n    # clients wait longer each time\n    return 2 ** attempt\n",
        "app/views.py": "def index(request):\n    return 'clients see this page'\n",
        "app/models.py": "class Client:\n    name = ''\n",
    })  # fmt: skip
    init_repo(root, message="Initial import")
    for path, message in (
        ("net/rate_limit.py", "Throttling: drop bursts above the bucket size"),
        ("net/retry.py", "Retry failed requests with exponential backoff"),
        ("app/views.py", "Show the index page to clients"),
        ("net/rate_limit.py", "Throttling per client, not per process"),
    ):
        with (root / path).open("a") as file:
            file.write("# edited\n")
        git(root, "commit", "-q", "-am", message)
    return indexed(root)


def _paths(config: IndexConfig, **overrides: float) -> list[str]:
    return top_paths(config, QUERY, **overrides)


def test_the_file_whose_commits_used_the_issues_words_comes_first(config: IndexConfig) -> None:
    assert _paths(config)[0] == "net/rate_limit.py"


def test_without_commit_words_the_code_alone_does_not_find_it(config: IndexConfig) -> None:
    assert "net/rate_limit.py" not in _paths(config, commit_words=0)


def test_words_of_most_files_commits_weigh_nothing(config: IndexConfig) -> None:
    engine = open_engine(config, build_if_missing=False)
    assert engine.candidates("Throttling").raw["commit_words"]
    assert not engine.candidates("Initial import").raw.get("commit_words")  # every file's first commit
