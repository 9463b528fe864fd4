"""Tokenizer: identifier splitting and the index/query symmetry."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from atlas.terms import (
    MAX_TOKEN_LEN,
    MIN_TOKEN_LEN,
    STEM_MIN_LEN,
    inflections,
    is_cjk,
    path_tokens,
    split_identifier,
    stem,
    tokenize,
    tokens_text,
    with_stems,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parseHTTPRequest", ["parsehttprequest", "parse", "http", "request"]),
        ("XMLHttpRequest", ["xmlhttprequest", "xml", "http", "request"]),
        ("snake_case_name", ["snake_case_name", "snake", "case", "name"]),
        ("my-component", ["my-component", "my", "component"]),
        ("base64Encode", ["base64encode", "base", "64", "encode"]),
        ("__init__", ["init"]),
        ("plain", ["plain"]),
        ("a b", []),
        ("über_größe", ["über_größe", "über", "größe"]),
        ("x-1", []),
        ("foo.bar(baz)", ["foo", "bar", "baz"]),
        ("URLs", ["urls"]),
        ("用户登录后会话过期", ["用户", "户登", "登录", "录后", "后会", "会话", "话过", "过期"]),
        ("设置max值", ["设置", "max", "值"]),
        ("セッション切れ", ["セッ", "ッシ", "ショ", "ョン", "ン切", "切れ"]),
        ("세션 만료", ["세션", "만료"]),
        ("parse_会话Id", ["parse", "会话", "id"]),
        ("SSLv3Error", ["sslv3error", "ssl", "error"]),
    ],
)
def test_tokenize_table(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("getHTTPResponseCode", ["get", "http", "response", "code"]),
        ("IOError", ["io", "error"]),
        ("HTTPServer", ["http", "server"]),
        ("JSONDecoder", ["json", "decoder"]),
        ("XMLParser", ["xml", "parser"]),
        ("SSLError", ["ssl", "error"]),
        ("getURLsFor", ["get", "urls", "for"]),
        ("IPv6Address", ["ip", "v", "6", "address"]),
        ("Av1Decoder", ["av", "1", "decoder"]),
        ("v2Api", ["v", "2", "api"]),
        ("kebab-case-word", ["kebab", "case", "word"]),
    ],
)
def test_split_identifier(word: str, parts: list[str]) -> None:
    assert split_identifier(word) == parts


def test_path_tokens_put_the_file_name_first() -> None:
    assert path_tokens("src/auth/AuthMiddleware.rs") == ["authmiddleware", "auth", "middleware", "rs", "src", "auth"]


_GROUPS = [
    ("session", "sessions"),
    ("parse", "parser", "parsers", "parsing", "parsed", "parses"),
    ("retry", "retries", "retried", "retrying"),
    ("config", "configs"),
    ("wrap", "wrapper", "wrapping", "wrapped"),
    ("cache", "caches", "caching", "cached"),
    ("match", "matches"),
    ("query", "queries"),
]


@pytest.mark.parametrize("group", _GROUPS)
def test_each_word_of_a_group_has_the_others_among_its_inflections(group: tuple[str, ...]) -> None:
    for word in group:
        assert set(group) - {word} <= set(inflections(word)), word


@pytest.mark.parametrize("group", _GROUPS)
def test_inflections_share_a_stem(group: tuple[str, ...]) -> None:
    assert len({stem(word) for word in group}) == 1, [stem(word) for word in group]


@pytest.mark.parametrize("word", ["run", "ok", "base64", "über", "HTTP", "snake_case", ""])
def test_only_plain_ascii_words_long_enough_to_stem_have_inflections(word: str) -> None:
    assert inflections(word) == ()


@given(st.from_regex(r"[a-z]{1,20}", fullmatch=True))
@example("days")  # `day`, a form of it, is too short to have forms of its own
@example("aays")
def test_inflections_are_the_other_words_of_one_stem(word: str) -> None:
    forms = inflections(word)
    assert word not in forms and len(set(forms)) == len(forms)
    assert all(stem(form) == stem(word) for form in forms)
    assert forms == () or len(word) >= STEM_MIN_LEN
    for form in forms:  # one class: a form's own inflections are the same words, the form aside
        if len(form) >= STEM_MIN_LEN:  # a shorter form has none, by the rule just above
            assert set(forms) - {form} <= set(inflections(form)) | {word}
        else:
            assert inflections(form) == ()


@pytest.mark.parametrize("word", ["status", "class", "analysis", "string", "thing", "user", "run", "base64", "über"])
def test_words_that_only_look_inflected_keep_their_form(word: str) -> None:
    assert stem(word) == word


def test_with_stems_puts_each_stem_after_its_token() -> None:
    assert with_stems(["sessions", "py", "parsing"]) == ["sessions", "session", "py", "parsing", "pars"]


@given(st.from_regex(r"[a-z]{1,20}", fullmatch=True))
def test_a_stem_is_a_prefix_or_a_y_ending(word: str) -> None:
    stemmed = stem(word)
    assert word.startswith(stemmed) or (stemmed.endswith("y") and word.startswith(stemmed[:-1]))
    assert len(stemmed) >= min(len(word), 3)


identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)


@given(st.text(max_size=300))
def test_tokens_are_lowercase_bounded_and_space_free(text: str) -> None:
    for token in tokenize(text):
        assert MIN_TOKEN_LEN <= len(token) <= MAX_TOKEN_LEN or (len(token) == 1 and is_cjk(token))
        assert token == token.lower()
        assert not any(ch.isspace() for ch in token)


@given(st.text(max_size=300))
def test_tokens_text_is_whitespace_join_of_tokenize(text: str) -> None:
    assert tokens_text(text).split() == tokenize(text)


@given(identifier)
def test_identifier_whole_form_is_kept(word: str) -> None:
    whole = word.lower().strip("_")
    tokens = tokenize(word)
    if MIN_TOKEN_LEN <= len(whole) <= MAX_TOKEN_LEN:
        assert tokens[0] == whole
    else:
        assert tokens == []


@given(identifier)
def test_parts_of_an_identifier_are_found_by_a_query_for_any_part(word: str) -> None:
    indexed = set(tokenize(word))
    for part in split_identifier(word):
        if len(part) >= MIN_TOKEN_LEN:
            assert part in indexed


cjk = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4E20), min_size=1, max_size=12)


@given(cjk)
def test_a_cjk_run_is_its_overlapping_bigrams(run: str) -> None:
    expected = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    assert tokenize(f"x {run}, y") == expected


@given(st.lists(st.one_of(identifier, cjk), min_size=1, max_size=8))
def test_tokenizing_is_compositional_over_whitespace(words: list[str]) -> None:
    assert tokenize(" ".join(words)) == [t for w in words for t in tokenize(w)]


def _regex_reference(text: str) -> list[str]:
    """The tokens of `text` by definition: the word pattern's words of its composed form (NFC), expanded."""
    from atlas.terms import _expand, word_pattern

    return [token for word in word_pattern().findall(unicodedata.normalize("NFC", text)) for token in _expand(word)]


@given(st.text(max_size=400))
def test_byte_run_tokenizer_equals_the_regex_definition(text: str) -> None:
    assert tokenize(text) == _regex_reference(text)


_SCRIPTS = [*"aZ9_- .é会话過期のセッ세션。，㐀𠀀=<", "\u0301", "\u0338", "\u0323"]  # combining accents compose (NFC)


@given(st.text(alphabet=st.sampled_from(_SCRIPTS), max_size=200))
def test_byte_run_tokenizer_equals_the_regex_definition_on_mixed_scripts(text: str) -> None:
    assert tokenize(text) == _regex_reference(text)


@given(st.binary(max_size=400))
def test_invalid_utf8_is_read_as_replacement_characters(data: bytes) -> None:
    from atlas.terms import tokens_text_bytes

    assert tokens_text_bytes(data).split() == _regex_reference(data.decode("utf-8", errors="replace"))


_MIXED = st.text(alphabet=st.sampled_from(list("ab_-Z9 .é中文ひカ한\u3005\u1100\U00020001\uff66/")), max_size=60)


@given(_MIXED)
def test_words_are_the_word_pattern_of_the_definition(text: str) -> None:
    from atlas.terms import word_pattern, words

    assert words(text) == word_pattern().findall(text)


@given(st.characters())
def test_is_cjk_is_the_definition_class(char: str) -> None:
    import re

    from atlas.terms import _CJK

    assert is_cjk(char) == bool(re.fullmatch(f"[{_CJK}]", char))


ascii_word = st.text(alphabet=st.sampled_from(list("aBzZ09_xXsSv")), min_size=1, max_size=70)


@given(st.one_of(identifier, ascii_word))
def test_the_ascii_fast_path_equals_the_definition(word: str) -> None:
    from atlas.terms import _expand, _expand_ascii

    assert _expand_ascii(word) == " ".join(_expand(word))


@given(st.lists(st.text(max_size=20), max_size=8))
def test_names_tokenised_together_equal_names_tokenised_one_by_one(names: list[str]) -> None:
    # parse_bytes tokenises all symbol names in one call.
    one_by_one = " ".join(tokens_text(name) for name in names).split()
    assert tokens_text(" ".join(names)).split() == one_by_one


@given(st.text(max_size=300))
def test_stemmed_tokens_text_is_with_stems_of_tokenize(text: str) -> None:
    from atlas.terms import stemmed_tokens_text

    assert stemmed_tokens_text(text) == " ".join(with_stems(tokenize(text)))


@given(st.lists(st.one_of(identifier, st.text(max_size=12)), min_size=1, max_size=5))
def test_path_terms_are_the_stems_of_path_tokens(parts: list[str]) -> None:
    from atlas.terms import path_terms

    path = "/".join(parts)
    assert path_terms(path) == " ".join(with_stems(path_tokens(path)))
