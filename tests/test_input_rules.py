"""The input rules of the views and the API (noojee_django.forms), without a PBX."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from example_project.crm.models import Customer, Invoice
from noojee_django.forms import (
    DialForm,
    ObjectNotFound,
    StartRecordingForm,
    clean_number,
    clean_tag,
    describe_error,
    first_error,
    resolve_content_type,
    resolve_object,
)
from tests.hypothesis_profiles import examples

HOSTILE_NUMBERS = [
    "0383&208100",
    "0383,208100",
    "0383|208100",
    "SIP/101",
    "0383/1",
    "0383\n208100",
    "0383208100\n",
    "\r\n0383208100",
    "${EXTEN}",
    "0383${EXTEN}",
    "1" * 1000,
    "٣٣٣",  # Arabic-Indic digits: digits to Python, not to Asterisk
    "",
    "   ",
]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_are_refused_with_a_message(number: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_number(number)
    message, field = describe_error(caught.value)
    assert message
    assert field == "number"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("03 8320 8100", "0383208100"), ("+61 (3) 8320-8100", "+61383208100"), ("101", "101")],
)
def test_decorated_numbers_are_normalised(raw: str, expected: str) -> None:
    assert clean_number(raw) == expected


@pytest.mark.parametrize(
    "tag", ["INV 42", "INV-42\nX", "INV-42\n", "", "-INV", "x" * 65, "INV&42", "INV${X}"]
)
def test_hostile_tags_are_refused_with_a_message(tag: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_tag(tag)
    assert describe_error(caught.value) == (describe_error(caught.value)[0], "tag")


def test_a_plain_tag_is_kept() -> None:
    assert clean_tag("INV-42") == "INV-42"


@given(st.text(max_size=40))
@settings(max_examples=examples(300), deadline=None)
def test_every_accepted_number_is_only_digits_and_a_leading_plus(raw: str) -> None:
    try:
        number = clean_number(raw)
    except ValidationError:
        return
    digits = number.removeprefix("+")
    assert digits and digits.isascii() and digits.isdigit()


@given(st.text(max_size=80))
@settings(max_examples=examples(300), deadline=None)
def test_every_accepted_tag_is_one_safe_word(raw: str) -> None:
    try:
        tag = clean_tag(raw)
    except ValidationError:
        return
    assert tag.isascii()
    assert not set(tag) & set(" \t\r\n&,|$;{}")
    assert 0 < len(tag) <= 64


# ---------------------------------------------------------------------------------------------- objects


@pytest.mark.django_db
def test_a_content_type_is_named_by_label_or_by_id() -> None:
    content_type = ContentType.objects.get_for_model(Invoice)
    assert resolve_content_type("crm.invoice") == content_type
    assert resolve_content_type("CRM.Invoice") == content_type
    assert resolve_content_type(str(content_type.pk)) == content_type


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        "",
        "crm",
        "crm.nothing",
        "nothing.invoice",
        "99999999",
        "-1",
        "1" * 300,
        "crm.invoice.x",
        "crm.invoice\n",
    ],
)
def test_unknown_kinds_of_record_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_content_type(raw)
    assert describe_error(caught.value)[1] == "content_type"


@pytest.mark.django_db
@pytest.mark.parametrize("object_id", ["abc", "1.5", "1; DROP TABLE crm_invoice", "", "9" * 80])
def test_malformed_object_ids_are_refused(invoice: Invoice, object_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_object("crm.invoice", object_id)
    assert describe_error(caught.value)[1] == "object_id"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type", ["auth.user", "sessions.session", "noojee_django.callsession", "authtoken.token"]
)
def test_records_of_internal_models_are_not_found_whatever_the_id(db: Any, content_type: str) -> None:
    with pytest.raises(ObjectNotFound, match=r"^No such record\.$"):
        resolve_object(content_type, "1")
    with pytest.raises(ObjectNotFound, match=r"^No such record\.$"):
        resolve_object(content_type, "not an id")


@pytest.mark.django_db
def test_a_well_formed_id_of_a_missing_object_is_not_found_rather_than_invalid(invoice: Invoice) -> None:
    with pytest.raises(ObjectNotFound, match=r"^No such record\.$"):
        resolve_object("crm.invoice", str(invoice.pk + 1000))
    assert resolve_object("crm.invoice", str(invoice.pk)) == invoice


@pytest.mark.django_db
def test_a_record_the_user_may_not_use_is_not_found_like_a_missing_one(invoice: Invoice) -> None:
    with pytest.raises(ObjectNotFound, match=r"^No such record\.$"):
        resolve_object("crm.invoice", str(invoice.pk), may_use=lambda obj: False)
    assert resolve_object("crm.invoice", str(invoice.pk), may_use=lambda obj: obj == invoice) == invoice


# ---------------------------------------------------------------------------------------------- forms


@pytest.mark.django_db
def test_dial_form_resolves_the_crm_object(customer: Customer) -> None:
    form = DialForm({"number": "03 8320 8100", "content_type": "crm.customer", "object_id": str(customer.pk)})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["obj"] == customer
    assert form.cleaned_data["number"] == "0383208100"


@pytest.mark.django_db
def test_dial_form_without_an_object_dials_for_nothing() -> None:
    form = DialForm({"number": "101"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["obj"] is None


@pytest.mark.django_db
def test_dial_form_reports_the_number_field_first_in_words() -> None:
    form = DialForm({"number": "0383&1"})
    assert not form.is_valid()
    message, field = first_error(form)
    assert field == "number"
    assert "digits" in message


@pytest.mark.django_db
def test_dial_form_asks_for_a_number_in_words() -> None:
    form = DialForm({})
    assert not form.is_valid()
    assert first_error(form) == ("Enter the number.", "number")


@pytest.mark.django_db
def test_a_recorded_dial_needs_a_tag(customer: Customer) -> None:
    form = DialForm(
        {"number": "101", "content_type": "crm.customer", "object_id": str(customer.pk), "record": "on"}
    )
    assert not form.is_valid()
    assert first_error(form)[1] == "tag"


@pytest.mark.django_db
def test_start_recording_form_marks_a_missing_object_as_not_found(invoice: Invoice) -> None:
    form = StartRecordingForm(
        {"content_type": "crm.invoice", "object_id": str(invoice.pk + 1000), "tag": "INV-42"}
    )
    assert form.is_valid(), form.errors
    assert form.not_found


@pytest.mark.django_db
def test_start_recording_form_needs_the_object() -> None:
    form = StartRecordingForm({"tag": "INV-42"})
    assert not form.is_valid()
    assert first_error(form)[1] in {"content_type", "object_id"}
