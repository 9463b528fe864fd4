"""Tests for atlas.signals.git on real repositories built with `git` in tmp_path, with fixed dates."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas.signals.git import (
    DAY,
    CoChange,
    FileHistory,
    History,
    HistoryOptions,
    _Change,
    _Commit,
    _Folder,
    _parse_log,
    _Repo,
    _tokens,
    is_ancestor,
    merge_histories,
    mine_history,
)

T0 = 1_700_000_000  # 2023-11-14, the date of day 0


def isolate_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's and the system's git config out of every git run, ours and the module's."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch)


class Repo:
    """A real git repository in a temporary directory; every commit gets a chosen day."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._edits = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, day: float = 0) -> str:
        """Run git in the repository with fixed author, committer and dates; return stdout."""
        stamp = f"@{T0 + round(day * DAY)} +0000"
        env = {
            **os.environ,
            **{f"GIT_{who}_NAME": "Tester" for who in ("AUTHOR", "COMMITTER")},
            **{f"GIT_{who}_EMAIL": "t@example.com" for who in ("AUTHOR", "COMMITTER")},
            **{f"GIT_{who}_DATE": stamp for who in ("AUTHOR", "COMMITTER")},
        }
        done = subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True)
        return done.stdout.decode().strip()

    def write(self, *paths: str) -> None:
        """Create each file with ten lines, or append one line so it changes but stays similar."""
        for path in paths:
            self._edits += 1
            target = self.path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                with target.open("a") as file:
                    file.write(f"edit {self._edits}\n")
            else:
                target.write_text("".join(f"{path} line {i}\n" for i in range(10)))

    def remove(self, *paths: str) -> None:
        """Delete files from the work tree (the next commit records it)."""
        for path in paths:
            (self.path / path).unlink()

    def move(self, old: str, new: str) -> None:
        """Rename a file and edit it a little, so git sees a rename under 100% similarity."""
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)
        self.write(new)

    def commit(self, day: float, message: str = "change") -> str:
        """Commit everything in the work tree on `day`; return the new HEAD."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, day=day)
        return self.head()

    def head(self) -> str:
        """The sha of HEAD."""
        return self.git("rev-parse", "HEAD")


def at(day: float) -> int:
    """The unix time of a day in these tests."""
    return T0 + round(day * DAY)


def partners(history: History, path: str) -> list[tuple[str, int]]:
    """(partner, support) pairs of a file, best first."""
    return [(entry.path, entry.support) for entry in history.cochange.get(path, ())]


def assert_same_history(actual: History, expected: History) -> None:
    """Equal Histories, except decayed counts, which may differ by float rounding."""
    assert actual.files.keys() == expected.files.keys()
    for path, entry in expected.files.items():
        got = actual.files[path]
        assert (got.commits, got.last_change) == (entry.commits, entry.last_change), path
        assert got.decayed == pytest.approx(entry.decayed, rel=1e-12), path
    rest = ("available", "head", "newest_time", "commits_mined", "cochange", "tracked", "moved", "words")
    for name in rest:
        assert getattr(actual, name) == getattr(expected, name), name


# --- per-file history --------------------------------------------------------------------------


def test_counts_last_change_and_decay_relative_to_the_newest_commit(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "b.py")
    repo.commit(day=0)
    repo.write("a.py")
    repo.commit(day=90)
    repo.write("a.py", "b.py")
    head = repo.commit(day=180)

    history = mine_history(repo.path, HistoryOptions(half_life_days=90))

    assert (history.available, history.reason, history.head) == (True, "", head)
    assert (history.commits_mined, history.newest_time) == (3, at(180))
    assert history.files == {
        "a.py": FileHistory(commits=3, last_change=at(180), decayed=1.75),
        "b.py": FileHistory(commits=2, last_change=at(180), decayed=1.25),
    }
    assert history.cochange == {
        "a.py": (CoChange("b.py", 2, 2 / 3),),
        "b.py": (CoChange("a.py", 2, 1.0),),
    }


def test_a_commit_dated_in_the_future_counts_as_made_now_and_keeps_every_files_recency(tmp_path: Path) -> None:
    """2106-02-07, the last second of 32-bit time: ages were taken from it, so every real commit was 80 years old
    and its decayed count 0 in the store's float32, and the recency of every other file was lost."""
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "b.py")
    repo.commit(day=0)
    repo.write("a.py")
    repo.commit(day=90)
    repo.write("notes.txt")
    repo.commit(day=(4_294_967_295 - T0) / DAY, message="notes")
    before = int(time.time())

    history = mine_history(repo.path, HistoryOptions(half_life_days=90))

    assert before <= history.newest_time <= time.time()
    assert history.files["notes.txt"].last_change == history.newest_time
    decayed = {path: float(np.float32(entry.decayed)) for path, entry in history.files.items()}
    assert decayed["notes.txt"] == 1.0
    assert decayed["a.py"] > decayed["b.py"] > 0
    assert history.files["a.py"].decayed / history.files["b.py"].decayed == pytest.approx(1 + 0.5**-1)


def test_renames_are_followed_to_todays_path(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("old.py", "other.py")
    repo.commit(day=0)
    repo.write("old.py", "other.py")
    repo.commit(day=1)
    repo.move("old.py", "mid.py")
    repo.commit(day=2)
    repo.move("mid.py", "pkg/new.py")
    repo.commit(day=3)
    repo.write("pkg/new.py")
    repo.commit(day=4)

    history = mine_history(repo.path)

    assert set(history.files) == {"pkg/new.py", "other.py"}
    assert history.files["pkg/new.py"].commits == 5
    assert partners(history, "pkg/new.py") == [("other.py", 2)]
    assert history.moved == {"mid.py": "pkg/new.py", "old.py": "pkg/new.py"}


def test_a_new_file_at_a_renamed_path_keeps_its_own_history(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("x.py")
    repo.commit(day=0)
    repo.move("x.py", "y.py")
    repo.commit(day=1)
    repo.write("x.py")
    repo.commit(day=2)

    history = mine_history(repo.path)

    assert history.files["y.py"] == FileHistory(2, at(1), pytest.approx(0.5 ** (1 / 90) + 0.5 ** (2 / 90)))
    assert history.files["x.py"] == FileHistory(1, at(2), 1.0)


def test_files_not_at_head_are_dropped_from_files_and_partners(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("keep.py", "gone.py")
    repo.commit(day=0)
    repo.write("keep.py", "gone.py")
    repo.commit(day=1)
    repo.remove("gone.py")
    repo.commit(day=2)

    history = mine_history(repo.path)

    assert set(history.files) == {"keep.py"}
    assert history.files["keep.py"].commits == 2
    assert history.cochange == {}
    assert history.tracked == {"keep.py"}


def test_merge_commits_are_left_out_even_when_they_change_files(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "c.py")
    repo.commit(day=0)
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("b.py")
    repo.commit(day=1)
    repo.git("checkout", "-q", "main")
    repo.write("a.py")
    repo.commit(day=2)
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feature", day=3)
    repo.write("c.py")  # an "evil merge": a change that only the merge commit carries
    repo.commit(day=3, message="merge feature")

    history = mine_history(repo.path)

    assert history.commits_mined == 3
    assert history.files["a.py"].commits == 2
    assert history.files["b.py"].commits == 1
    assert history.files["c.py"].commits == 1
    assert history.newest_time == at(2)


def test_huge_commits_count_for_history_but_not_for_cochange(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "b.py", "c.py", "d.py")
    repo.commit(day=0)
    repo.write("a.py", "b.py", "c.py")
    repo.commit(day=1)

    history = mine_history(repo.path, HistoryOptions(max_commit_files=3))

    assert {path: entry.commits for path, entry in history.files.items()} == {
        "a.py": 2,
        "b.py": 2,
        "c.py": 2,
        "d.py": 1,
    }
    assert partners(history, "a.py") == [("b.py", 1), ("c.py", 1)]
    assert history.cochange["a.py"][0].confidence == 0.5
    assert "d.py" not in history.cochange


def test_commit_message_words_count_for_the_files_of_small_commits_under_todays_path(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("limits.py", "app.py", "b.py", "c.py")
    repo.commit(day=0, message="Initial import of everything")
    repo.write("limits.py")
    repo.commit(day=1, message="Throttle bursts of requests\n\nThe throttle waits for the bucket.")
    repo.move("limits.py", "net/rate_limit.py")
    repo.commit(day=2, message="Move the limiter")
    repo.write("app.py", "b.py", "c.py")
    repo.commit(day=3, message="Reformat with black")

    history = mine_history(repo.path, HistoryOptions(max_message_files=2))

    assert history.words["net/rate_limit.py"] == {
        "throttle": 2, "bursts": 1, "of": 1, "requests": 1, "the": 3, "waits": 1, "for": 1, "bucket": 1,
        "move": 1, "limiter": 1,
    }  # fmt: skip
    assert "app.py" not in history.words  # its commits touched more than max_message_files files


def test_commit_messages_with_control_bytes_and_bad_utf8_are_read_whole(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "b.py")
    repo.commit(day=0, message="start")
    repo.write("a.py")
    message = tmp_path / "message"
    message.write_bytes(b"\x01fake header \x02 sep\n\nM\nb.py caf\xe9 throttle\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-F", str(message), day=1)

    history = mine_history(repo.path)

    assert history.files["a.py"].commits == 2 and history.files["b.py"].commits == 1
    assert {"fake", "header", "sep", "throttle"} <= set(history.words["a.py"])
    assert history.words["b.py"] == {"start": 1}  # no path or status inside a message is read as a change
    assert history == mine_history(repo.path, HistoryOptions(backend="pydriller"))


def test_the_oracle_reads_a_message_in_its_commit_encoding_as_git_does(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("limits.py", "app.py")
    repo.commit(day=0, message="start")
    repo.git("config", "i18n.commitEncoding", "latin1")  # git writes an `encoding latin1` header
    repo.write("limits.py")
    message = tmp_path / "message"
    message.write_bytes("Drosselung für Anfragen: café\n".encode("latin1"))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-F", str(message), day=1)

    history = mine_history(repo.path)

    assert {"drosselung", "für", "anfragen", "café"} <= set(history.words["limits.py"])
    assert mine_history(repo.path, HistoryOptions(backend="pydriller")) == history


def test_the_oracle_reads_a_file_name_that_is_not_utf8_as_the_walk_names_it(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    old, new = repo.path / os.fsdecode(b"caf\xe9.py"), repo.path / os.fsdecode(b"men\xfc.py")  # Latin-1 names
    old.write_bytes(b"".join(b"line %d\n" % i for i in range(10)))
    repo.write("app.py")
    repo.commit(day=0, message="start")
    old.write_bytes(old.read_bytes() + b"edit\n")
    repo.write("app.py")
    repo.commit(day=1, message="tune")
    old.rename(new)
    new.write_bytes(new.read_bytes() + b"edit\n")
    repo.commit(day=2, message="rename")

    history = mine_history(repo.path)

    assert history.files["men\\xfc.py"].commits == 3
    assert history.moved == {"caf\\xe9.py": "men\\xfc.py"}
    assert partners(history, "app.py") == [("men\\xfc.py", 2)]
    assert mine_history(repo.path, HistoryOptions(backend="pydriller")) == history


def test_a_message_padded_with_blank_lines_still_lends_its_words(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("limits.py", "app.py")
    repo.commit(day=0, message="start")
    repo.write("limits.py")
    message = tmp_path / "message"
    message.write_bytes(b"\n" * 1500 + b" " * 1500 + b"Throttle bursts of requests\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--cleanup=verbatim", "-F", str(message), day=1)

    history = mine_history(repo.path)

    assert history.words["limits.py"] == {"throttle": 1, "bursts": 1, "of": 1, "requests": 1, "start": 1}
    assert mine_history(repo.path, HistoryOptions(backend="pydriller")) == history


def test_cochange_keeps_top_k_by_support_then_path(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    for day, others in enumerate(["bcde", "bcd", "b", "c", "d"]):
        repo.write("a.py", *(f"{name}.py" for name in others))
        repo.commit(day=day)

    history = mine_history(repo.path, HistoryOptions(top_k=3))

    assert partners(history, "a.py") == [("b.py", 3), ("c.py", 3), ("d.py", 3)]
    assert [entry.confidence for entry in history.cochange["a.py"]] == [0.6, 0.6, 0.6]
    assert partners(history, "e.py") == [("a.py", 1), ("b.py", 1), ("c.py", 1)]
    assert mine_history(repo.path, HistoryOptions(top_k=0)).cochange == {}


ODD_NAMES = [
    "with space.py",
    "ünïcödé.py",
    "日本語/ファイル.py",
    "new\nline.py",
    "tab\there.py",
    '"quoted".py',
    "\x01looks like a header.py",
    "-starts-with-dash.py",
    "back\\slash.py",
]


def _odd_names_repo(path: Path) -> Repo:
    repo = Repo(path)
    repo.write(*ODD_NAMES)
    repo.commit(day=0)
    repo.move("with space.py", "still with space ü.py")
    repo.write("new\nline.py")
    repo.commit(day=1)
    return repo


def test_odd_file_names_survive_the_round_trip(tmp_path: Path) -> None:
    repo = _odd_names_repo(tmp_path / "r")

    history = mine_history(repo.path)

    expected = {*ODD_NAMES, "still with space ü.py"} - {"with space.py"}
    assert set(history.files) == expected == history.tracked
    assert history.files["still with space ü.py"].commits == 2
    assert partners(history, "new\nline.py")[0] == ("still with space ü.py", 2)
    assert len(partners(history, "new\nline.py")) == len(ODD_NAMES) - 1


def test_user_config_does_not_change_what_is_mined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _odd_names_repo(tmp_path / "r")
    roots = (repo.path, repo.path / "日本語")
    clean = [mine_history(root) for root in roots]
    hostile = {
        "diff.renames": "false",
        "core.quotepath": "true",
        "log.showRoot": "false",
        "diff.relative": "true",
        "color.ui": "always",
        "log.decorate": "full",
    }
    monkeypatch.setenv("GIT_CONFIG_COUNT", str(len(hostile)))
    for index, (key, value) in enumerate(hostile.items()):
        monkeypatch.setenv(f"GIT_CONFIG_KEY_{index}", key)
        monkeypatch.setenv(f"GIT_CONFIG_VALUE_{index}", value)

    assert [mine_history(root) for root in roots] == clean
    assert "still with space ü.py" in clean[0].files
    assert clean[1].files.keys() == {"ファイル.py"}


@pytest.fixture(scope="module")
def odd_names_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Raw `git log -z --name-status` output of the odd-names repository."""
    with pytest.MonkeyPatch.context() as patch:
        isolate_git(patch)
        repo = _odd_names_repo(tmp_path_factory.mktemp("odd") / "r")
        return subprocess.run(
            ["git", "-C", str(repo.path), "log", "-M", "--name-status", "-z", "--format=%x01%H %ct"],
            capture_output=True,
            check=True,
        ).stdout


@settings(max_examples=50, deadline=None)
@given(chunk=st.integers(min_value=1, max_value=300))
def test_parsing_does_not_depend_on_where_the_pipe_splits(odd_names_log: bytes, chunk: int) -> None:
    raw = odd_names_log
    whole = list(_parse_log(iter(raw.split(b"\0"))))
    pieces = list(_parse_log(_tokens(io.BytesIO(raw), chunk)))

    assert pieces == whole
    assert [commit.time for commit in whole] == [at(1), at(0)]
    assert ("R", "with space.py", "still with space ü.py") in whole[0].changes


def test_a_copy_counts_for_its_destination_only() -> None:
    # git reports copies only with -C, which mine_history does not pass; the parser and the fold
    # still handle them, in case git ever prints one.
    raw = b"\x01" + b"c" * 40 + b" 100\0\nC075\0src.py\0dst.py\0M\0src.py\0"
    (commit,) = _parse_log(iter(raw.split(b"\0")))
    assert commit.changes == (_Change("C", "src.py", "dst.py"), _Change("M", "src.py", "src.py"))

    keys = {"src.py": "src.py", "dst.py": "dst.py"}
    folder = _Folder(keys, max_commit_files=50)
    for older in (commit, _Commit("a" * 40, 10, (_Change("A", "src.py", "src.py"),))):
        folder.add(older)
    history = folder.history(_Repo("git", Path("."), "", commit.sha, keys), HistoryOptions())

    assert {path: entry.commits for path, entry in history.files.items()} == {"dst.py": 1, "src.py": 2}
    assert history.moved == {}


# --- windows, roots and repository shapes ----------------------------------------------------------


def _linear_repo(path: Path, days: int = 4) -> Repo:
    repo = Repo(path)
    for day in range(days):
        repo.write("a.py", f"f{day}.py")
        repo.commit(day=day)
    return repo


def test_max_commits_and_since_limit_the_window(tmp_path: Path) -> None:
    repo = _linear_repo(tmp_path / "r")

    newest_two = mine_history(repo.path, HistoryOptions(max_commits=2))
    since = mine_history(repo.path, HistoryOptions(since=f"@{at(2)}"))

    for history in (newest_two, since):
        assert history.commits_mined == 2
        assert set(history.files) == {"a.py", "f2.py", "f3.py"}
        assert history.files["a.py"] == FileHistory(2, at(3), 1 + 0.5 ** (1 / 90))


def test_an_update_with_a_since_window_mines_the_window_again_so_it_slides(tmp_path: Path) -> None:
    # A merge kept commits that had left a "90 days ago" window until --rebuild; only the newer ones were mined.
    from atlas.config import IndexConfig
    from atlas.signals.compute import _update_history

    repo = _linear_repo(tmp_path / "r")
    calls: list[str | None] = []

    def mine(root: Path, options: HistoryOptions, since_commit: str | None = None) -> History:
        calls.append(since_commit)
        return mine_history(root, options, since_commit)

    for since, expected in ((None, ["old head"]), (datetime.fromtimestamp(at(1), UTC).isoformat(), [None])):
        config = IndexConfig(root=repo.path, index_dir=tmp_path / "index", history_since=since)
        previous, _ = _update_history(config, None, mine)
        repo.write("a.py")
        repo.commit(day=9)
        calls.clear()
        history, mode = _update_history(config, previous, mine)
        assert [("old head" if call == previous.head else call) for call in calls] == expected
        assert mode == ("incremental" if since is None else "full") and history.head == repo.head()


def test_a_since_window_slides_at_an_unchanged_head_too(tmp_path: Path) -> None:
    # With no new commit, an update (files edited) kept the commits that had left the window until --rebuild.
    # The clock moving on is played by the window's start: "2 days ago" then, at day 3.5, is day 1.5; now, day 2.5.
    from atlas.config import IndexConfig
    from atlas.signals.compute import _update_history

    repo = _linear_repo(tmp_path / "r")

    def config(since_day: float) -> IndexConfig:
        since = datetime.fromtimestamp(at(since_day), UTC).isoformat()
        return IndexConfig(root=repo.path, index_dir=tmp_path / "index", history_since=since)

    previous, _ = _update_history(config(1.5), None)
    assert previous.commits_mined == 2

    kept, kept_mode = _update_history(config(1.5), previous)
    slid, slid_mode = _update_history(config(2.5), previous)

    assert (kept, kept_mode) == (previous, "unchanged")  # no commit left: nothing to write
    assert (slid_mode, slid.commits_mined, slid.head) == ("full", 1, previous.head)
    assert_same_history(slid, mine_history(repo.path, HistoryOptions(since=f"@{at(2.5)}")))


def test_a_subdirectory_root_gets_paths_relative_to_it(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("top.py", "src/a.py", "src/b.py", "moved_in.py")
    repo.commit(day=0)
    repo.move("moved_in.py", "src/pkg/moved_in.py")
    repo.write("top.py", "src/a.py")
    repo.commit(day=1)

    history = mine_history(repo.path / "src")

    assert history.tracked == {"a.py", "b.py", "pkg/moved_in.py"}
    assert {path: entry.commits for path, entry in history.files.items()} == {
        "a.py": 2,
        "b.py": 1,
        "pkg/moved_in.py": 2,
    }
    assert partners(history, "a.py") == [("pkg/moved_in.py", 2), ("b.py", 1)]
    assert history.moved == {}  # the rename started outside the root


def test_bare_repositories_and_shallow_clones_are_mined(tmp_path: Path) -> None:
    repo = _linear_repo(tmp_path / "r")
    full = mine_history(repo.path)
    bare = tmp_path / "bare.git"
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", "--depth", "2", repo.path.as_uri(), str(shallow)], check=True)

    assert mine_history(bare) == full
    cut = mine_history(shallow)
    assert (cut.available, cut.commits_mined) == (True, 2)
    assert cut.reason == "shallow clone: only the fetched part of the history was mined"
    assert cut.files["a.py"].commits == 2
    assert set(cut.files) == full.tracked  # the shallow boundary commit adds every file


def test_unminable_roots_give_a_reason_and_no_exception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    empty = Repo(tmp_path / "empty")
    repo = _linear_repo(tmp_path / "r", days=1)

    assert mine_history(plain).reason == "not a git repository"
    assert mine_history(tmp_path / "missing").reason == "not a git repository"
    assert mine_history(empty.path).reason == "no commits"
    monkeypatch.setenv("PATH", str(plain))
    unavailable = mine_history(repo.path)
    assert unavailable == History(False, "git is not installed", None, 0, 0, {}, {})
    assert not is_ancestor(repo.path, "HEAD")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_a_repository_owned_by_another_user_gets_its_own_reason(tmp_path: Path) -> None:
    repo = _linear_repo(tmp_path / "r", days=1)
    for path in (repo.path, *repo.path.rglob("*")):
        os.lchown(path, 65534, 65534)

    assert mine_history(repo.path).reason.startswith("git refuses a repository owned by another user")


def test_git_failing_before_any_commit_makes_history_unavailable_with_the_reason(tmp_path: Path) -> None:
    repo = _linear_repo(tmp_path / "r", days=1)

    history = mine_history(repo.path, since_commit="0" * 40)

    assert not history.available
    assert history.reason.startswith("git log failed: fatal:")


def test_options_are_validated() -> None:
    for bad in ({"backend": "svn"}, {"half_life_days": 0}, {"top_k": -1}, {"max_commits": -5}):
        with pytest.raises(ValueError):
            HistoryOptions(**bad)  # type: ignore[arg-type]


# --- the pydriller oracle and incremental mining -----------------------------------------------------


def _first_half(repo: Repo) -> None:
    """Nine commits: adds, modifies, a rename, a delete, a huge commit, odd names."""
    repo.write("src/app.py", "src/util.py", "README.md", "docs/user guide.md", "src/ünïcode_mod.py")
    repo.write("docs/old.md")
    repo.commit(day=0, message="initial")
    steps: list[tuple[list[str], str | None]] = [
        (["src/app.py", "src/util.py"], None),
        (["src/app.py", "tests/test_app.py"], None),
        (["README.md", "docs/old.md"], None),
        (["src/app.py"], "src/util.py -> src/helpers.py"),
        (["src/helpers.py", "tests/test_app.py"], None),
        (["README.md"], "rm docs/old.md"),
        (["src/app.py", *(f"gen/f{i:02}.txt" for i in range(60))], None),
        (["gen/f01.txt", "gen/f02.txt", "gen/f03.txt"], None),
    ]
    for day, (paths, extra) in enumerate(steps, start=1):
        _apply(repo, extra)
        repo.write(*paths)
        repo.commit(day=day)


def _second_half(repo: Repo) -> None:
    """Eleven more commits: a merged branch (with an evil merge), renames, a delete and a re-add."""
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("src/feature.py", "src/app.py")
    repo.commit(day=9)
    repo.write("src/feature.py", "tests/test_app.py")
    repo.commit(day=10)
    repo.git("checkout", "-q", "main")
    repo.write("docs/user guide.md", "src/ünïcode_mod.py")
    repo.commit(day=11)
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feature", day=12)
    repo.write("README.md")
    repo.commit(day=12, message="merge feature")
    steps: list[tuple[list[str], str | None]] = [
        ([], "src/ünïcode_mod.py -> src/ünï côdé.py"),
        (["src/helpers.py", "src/app.py", "src/ünï côdé.py"], None),
        ([], None),  # an empty commit
        (["src/feature.py", "src/helpers.py"], "rm gen/f03.txt"),
        (["src/app.py"], "src/helpers.py -> src/lib/helpers.py"),
        (["README.md"], "rm tests/test_app.py"),
        (["tests/test_app.py", "src/app.py"], None),
    ]
    for day, (paths, extra) in enumerate(steps, start=13):
        _apply(repo, extra)
        repo.write(*paths)
        repo.commit(day=day)


def _apply(repo: Repo, extra: str | None) -> None:
    if extra and extra.startswith("rm "):
        repo.remove(extra[3:])
    elif extra:
        old, _, new = extra.partition(" -> ")
        repo.move(old, new)


@dataclass(frozen=True)
class Generated:
    repo: Repo
    first_head: str
    first: History  # mined when HEAD was first_head


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    with pytest.MonkeyPatch.context() as patch:
        isolate_git(patch)
        repo = Repo(tmp_path_factory.mktemp("generated") / "repo")
        _first_half(repo)
        first = mine_history(repo.path)
        first_head = repo.head()
        _second_half(repo)
        yield Generated(repo, first_head, first)


def test_the_generated_repository_has_what_the_oracle_test_needs(generated: Generated) -> None:
    statuses = generated.repo.git("log", "--format=", "--name-status", "-M").splitlines()
    assert generated.repo.git("rev-list", "--count", "HEAD") == "20"
    assert generated.repo.git("rev-list", "--count", "--merges", "HEAD") == "1"
    assert {line[0] for line in statuses if line} == {"A", "M", "D", "R"}


@pytest.mark.parametrize(
    ("options", "oracle_since"),
    [
        (HistoryOptions(), None),
        (HistoryOptions(max_commits=7, half_life_days=3, top_k=2), None),
        (HistoryOptions(since=f"@{at(8)}", max_commit_files=2), datetime.fromtimestamp(at(8), UTC).isoformat()),
        (HistoryOptions(since="2023-11-20T00:00:00+00:00"), "2023-11-20T00:00:00+00:00"),
    ],
    ids=["defaults", "max-commits", "since-unix", "since-iso"],
)
def test_git_and_pydriller_backends_agree(
    generated: Generated, options: HistoryOptions, oracle_since: str | None
) -> None:
    git = mine_history(generated.repo.path, options)
    oracle = mine_history(generated.repo.path, replace(options, backend="pydriller", since=oracle_since))

    assert git.commits_mined > 0
    assert git == oracle


def test_git_backend_on_the_generated_repository(generated: Generated) -> None:
    history = mine_history(generated.repo.path)

    assert history.commits_mined == 19
    assert "src/util.py" not in history.files and "docs/old.md" not in history.files
    assert history.files["src/lib/helpers.py"].commits == 7
    assert history.files["src/ünï côdé.py"].commits == 4
    assert history.files["tests/test_app.py"].commits == 5  # deleted and added again: one history
    assert partners(history, "gen/f01.txt") == [("gen/f02.txt", 1)]  # the 61-file commit is left out
    assert history.moved["src/util.py"] == "src/lib/helpers.py"


def test_merging_an_incremental_mine_equals_a_full_mine(generated: Generated) -> None:
    root = generated.repo.path
    assert is_ancestor(root, generated.first_head)

    newer = mine_history(root, since_commit=generated.first_head)
    merged = merge_histories(generated.first, newer)

    assert newer.commits_mined == 10
    assert_same_history(merged, mine_history(root))


def test_merging_with_nothing_new_or_nothing_old(generated: Generated) -> None:
    root = generated.repo.path
    full = mine_history(root)
    nothing = mine_history(root, since_commit=full.head)
    unavailable = History(False, "no commits", None, 0, 0, {}, {})

    assert nothing.commits_mined == 0 and nothing.files == {}
    assert_same_history(merge_histories(full, nothing), full)
    assert merge_histories(unavailable, full) == full
    stuck = merge_histories(full, unavailable)  # the newer commits could not be mined: said, HEAD kept
    assert stuck.reason.startswith(f"the commits after {full.head[:12]} could not be mined")
    assert "no commits" in stuck.reason
    assert replace(stuck, reason=full.reason) == full
    assert merge_histories(stuck, nothing).reason == full.reason


def test_is_ancestor_is_false_after_history_is_rewritten(tmp_path: Path) -> None:
    repo = _linear_repo(tmp_path / "r", days=2)
    before = repo.head()
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    repo.git("commit", "-q", "--amend", "-m", "rewritten", day=5)

    assert is_ancestor(repo.path, first)
    assert is_ancestor(repo.path, repo.head())
    assert not is_ancestor(repo.path, before)
    assert not is_ancestor(repo.path, "f" * 40)
    assert not is_ancestor(repo.path, "--help")
