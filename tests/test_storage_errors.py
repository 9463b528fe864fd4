"""A disk that refuses writes is one sentence and a hint, whichever layer (Python or tantivy) saw it."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from atlas.errors import AtlasError, IndexCorrupt, shown_to_user, storage_error

INDEX = Path("/srv/repo/.atlas")


@pytest.mark.parametrize(
    ("error", "words", "hint"),
    [
        (OSError(errno.EROFS, "Read-only file system", str(INDEX)), "read-only", "--index-dir"),
        (PermissionError(errno.EACCES, "Permission denied", str(INDEX / "lock")), "permission denied", "--index-dir"),
        (PermissionError(errno.EPERM, "Operation not permitted", str(INDEX / "gen-000002.tmp-7")), "not permitted",
         "--index-dir"),
        (OSError(errno.ENOSPC, "No space left on device"), "full disk", "free some space"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "quota", "free some space"),
        (ValueError("An IO error occurred: 'No space left on device (os error 28)'"), "full disk", "free some space"),
        (ValueError('Failed to acquire Lockfile: IoError(Os { code: 30, kind: ReadOnlyFilesystem, message: "x" })'),
         "read-only", "--index-dir"),
    ],
)  # fmt: skip
def test_refused_writes_name_the_index_directory_and_the_fix(error: Exception, words: str, hint: str) -> None:
    problem = storage_error(error, INDEX)
    assert problem is not None and problem.exit_code == 3
    assert problem.message.startswith(f"cannot write the index: {INDEX} ") and words in problem.message
    assert hint in problem.hint


def test_an_unreadable_repository_file_is_named_as_such() -> None:
    problem = storage_error(PermissionError(errno.EACCES, "Permission denied", "/srv/repo/.gitignore"), INDEX)
    assert problem is not None and problem.message == "cannot access /srv/repo/.gitignore: Permission denied"


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOENT, "No such file or directory"), ValueError("Schema error: 'unknown field'"), KeyError("x")],
)
def test_other_errors_are_left_alone(error: Exception) -> None:
    assert storage_error(error, INDEX) is None


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", str(INDEX / "gen-000002.tmp-7" / "files.json")),
        ValueError(f"Failed to open file for read: 'FileDoesNotExist(\"{INDEX}/gen-000002.tmp-7/tantivy/"
                   'd6e2.fieldnorm")\''),  # what tantivy's commit raised after `rm -rf .atlas` mid-build
    ],
)  # fmt: skip
def test_an_index_directory_emptied_during_a_build_is_named_as_such(error: Exception) -> None:
    from atlas.errors import removed_while_building

    problem = removed_while_building(error, INDEX)
    assert problem is not None and problem.exit_code == 3
    assert problem.message.startswith(f"files of the index directory {INDEX} were removed while the index was")
    assert "nothing was published" in problem.message and "run `atlas index` again" in problem.hint


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError(errno.ENOENT, "No such file or directory", "/srv/repo/src/a.py"), ValueError("Schema error")],
)
def test_a_missing_file_outside_the_index_directory_is_not_that(error: Exception) -> None:
    from atlas.errors import removed_while_building

    assert removed_while_building(error, INDEX) is None


def _corrupt_from(cause: BaseException) -> IndexCorrupt:
    try:
        try:
            raise cause
        except OSError as err:
            raise IndexCorrupt(f"the index manifest is unreadable ({err})") from err
    except IndexCorrupt as corrupt:
        return corrupt


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_damage_blamed_on_a_refused_read_is_shown_as_the_refusal(code: int) -> None:
    refused = PermissionError(code, "Permission denied", str(INDEX / "gen-000001" / "manifest.json"))
    shown = shown_to_user(_corrupt_from(refused))
    assert shown is not None and shown.exit_code == 3 and not isinstance(shown, IndexCorrupt)
    assert shown.message.startswith(f"cannot read {INDEX}/gen-000001/manifest.json: this user is not allowed to")
    assert "rebuild" not in shown.hint and "permissions" in shown.hint


def test_other_damage_and_other_errors_are_shown_as_they_were() -> None:
    garbled = _corrupt_from(OSError(errno.EIO, "Input/output error", str(INDEX / "CURRENT")))
    assert shown_to_user(garbled) is garbled
    usage = AtlasError("x")
    assert shown_to_user(usage) is usage
    assert shown_to_user(KeyError("x")) is None and shown_to_user(PermissionError(errno.EACCES, "no name")) is None
