import pytest
from hypothesis import given, strategies as st

from rigbook.storage.ids import is_valid_id, validate_id


@pytest.mark.parametrize("good", ["s01", "fish 3", "Zebrafish_ä", "a.b", "x" * 128, "日本語"])
def test_valid_ids_pass_unchanged(good):
    assert validate_id(good) == good


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("", "empty"),
        ("../x", "must not contain"),
        ("a/b", "must not contain"),
        ("a\\b", "must not contain"),
        (".hidden", "start with '.'"),
        ("..", "start with '.'"),
        ("tab\there", "U+0009"),
        ("zero\u200bwidth", "U+200B"),
        ("x" * 129, "129 characters"),
        ("é" * 128, "256 bytes"),
        ("bad\ud800", "surrogate"),
    ],
)
def test_invalid_ids_raise_naming_the_id(bad, reason):
    with pytest.raises(ValueError) as info:
        validate_id(bad, "subject ID")
    assert repr(bad) in str(info.value)
    assert "subject ID" in str(info.value)
    assert reason in str(info.value)


def test_non_string_id_is_a_type_error():
    with pytest.raises(TypeError, match="task ID must be a string"):
        validate_id(3, "task ID")


@given(st.text())
def test_valid_ids_are_safe_single_path_components(value):
    if is_valid_id(value):
        assert "/" not in value and "\\" not in value
        assert not value.startswith(".")
        assert 0 < len(value) <= 128
