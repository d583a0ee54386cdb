from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from noojee_django.models import AUTO_ANSWER_PRESETS
from noojee_django.validation import is_pbx_text, normalize_number, validate_pbx_text, validate_tag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03 8320 8100", "0383208100"),
        ("+61 (3) 8320-8100", "+61383208100"),
        ("03.8320.8100", "0383208100"),
        ("101", "101"),
    ],
)
def test_number_decoration_is_removed_and_leading_plus_kept(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["0383&208100", "0383,1", "0383|1", "SIP/0383", "0383\n1", "${EXTEN}", "12+34", "++1", "", "   ", "٣٤٥"],
)
def test_anything_that_could_reach_a_dial_string_is_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        normalize_number(raw)


def test_number_length_is_bounded(settings: object) -> None:
    assert normalize_number("1" * 20) == "1" * 20
    with pytest.raises(ValidationError, match="at most 20 digits"):
        normalize_number("1" * 21)


@given(st.text(max_size=40))
def test_a_normalised_number_is_only_digits_with_an_optional_plus(raw: str) -> None:
    try:
        number = normalize_number(raw)
    except ValidationError:
        return
    digits = number.removeprefix("+")
    assert digits.isdigit() and digits.isascii() and 0 < len(digits) <= 20


@pytest.mark.parametrize("tag", ["INV-42", "order_7.2", "A", "PO:2024/17"])
def test_ordinary_tags_pass(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", "a b", "a\nb", "${X}", "a&b", "x" * 65, "é"])
def test_unsafe_or_long_tags_are_refused(tag: str) -> None:
    with pytest.raises(ValidationError):
        validate_tag(tag)


#: Characters that would add destinations or options, expand a variable or end a line at the PBX.
INJECTED_PHONE_TEXT = [
    "Call-Info: x, y",
    "Alert-Info: a&b",
    "Alert-Info: a|b",
    "Alert-Info: a^b",
    "Alert-Info: ${EXTEN}",
    "Alert-Info: a\nSIP/102",
    "Alert-Info: a\r",
    "Alert-Info:\ta",
    "Alert-Info: a\x00",
    "Alert-Info: a\x1b[0m",
    "Alert-Info: a\u2028b",
    "Alert-Info: a\u202eb",
]


@pytest.mark.parametrize("value", INJECTED_PHONE_TEXT)
def test_phone_text_that_could_reach_a_dial_string_is_refused(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_pbx_text(value)
    assert refused.value.code == "invalid_pbx_text"
    assert not is_pbx_text(value)


@pytest.mark.parametrize("value", [*AUTO_ANSWER_PRESETS.values(), "agent1", "jane.doe@example.com", ""])
def test_the_published_auto_answer_strings_and_ordinary_login_names_pass(value: str) -> None:
    value = value.format(handset_ip="10.0.0.7")
    assert validate_pbx_text(value) == value
    assert is_pbx_text(value)
