"""The side store's path list: `decode_paths` is the inverse of `encode_paths`, one os.fsdecode per path."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas.errors import IndexCorrupt
from atlas.signals.store import decode_paths, encode_paths

# Paths as the walk makes them: any text but NUL, including undecodable bytes kept as surrogate escapes.
raw_names = st.binary(min_size=0, max_size=40).filter(lambda b: b"\0" not in b)


@given(st.lists(raw_names, max_size=20))
def test_decode_paths_is_fsdecode_of_each_path(names: list[bytes]) -> None:
    paths = [os.fsdecode(name) for name in names]
    data = encode_paths(paths)
    assert decode_paths(data) == [os.fsdecode(raw) for raw in data.split(b"\0")[:-1]] == paths


def test_a_truncated_path_list_is_corrupt() -> None:
    with pytest.raises(IndexCorrupt):
        decode_paths(b"a.py\0b.p")
    assert decode_paths(b"") == [] and decode_paths(b"\0") == [""]
