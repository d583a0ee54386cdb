"""Input rules of the views and the REST API, checked before anything is looked up or sent to the PBX.

Numbers and tags go through the same :mod:`~noojee_django.validation` rules the services apply, so a
hostile value is refused with a message at the door; the services check again, so nothing that skips
these forms can reach an Asterisk dial string either. The CRM object a call or recording is for is named
by content type (its id or ``app_label.model``) and object id, and resolved here to an instance.

A record that does not exist, one of a model calls may not be linked to (``ATTACHABLE_MODELS``), and
one the user may not use are answered alike (:class:`ObjectNotFound`, one message), so nobody learns
from the answer which ids exist. Entry points check that the user may act at all before that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .exceptions import NotFound, message_for
from .services.base import attachable_model
from .validation import normalize_number, validate_tag, validate_unique_id

#: Longest raw value accepted in any field before the real rules even look at it: a 1 MB "number" is
#: refused as too long, not scanned character by character.
MAX_RAW_LENGTH = 200

#: The answer for a record that does not exist, may not be linked to, or is not the user's to use.
NO_SUCH_RECORD = gettext_lazy("No such record.")


class ObjectNotFound(NotFound):
    """No record the user may use has this id (or none exists): a 404, not a 400."""

    def __init__(self, message: str | Promise = NO_SUCH_RECORD) -> None:
        super().__init__(message)


def _one_line(value: str, what: str, message: str) -> str:
    if any(char in value for char in "\r\n\x00"):
        raise ValidationError(message, code=f"{what}_not_one_line")
    return value


def clean_number(raw: object) -> str:
    """A dialable number (``"+61 3 8320 8100"`` -> ``"+61383208100"``) or a ``ValidationError``."""
    if isinstance(raw, str):
        if len(raw) > MAX_RAW_LENGTH:
            raise ValidationError(_("A phone number this long cannot be dialled."), code="number_too_long")
        _one_line(raw, "number", _("The number must be on one line."))
    return normalize_number(raw)


def clean_tag(raw: object) -> str:
    """A recording tag, with the rules of :func:`~noojee_django.validation.validate_tag`."""
    if isinstance(raw, str):
        if len(raw) > MAX_RAW_LENGTH:
            raise ValidationError(_("This tag is too long."), code="tag_too_long")
        _one_line(raw, "tag", _("The tag must be on one line."))
    return validate_tag(raw)


def resolve_content_type(raw: object) -> ContentType:
    """A content type named by its id (``"12"``) or ``"app_label.model"`` (``"crm.invoice"``)."""
    value = str(raw if raw is not None else "")
    if not value:
        raise ValidationError(_("Name the kind of record (e.g. crm.invoice)."), code="content_type_required")
    if len(value) > MAX_RAW_LENGTH:
        raise ValidationError(_("Unknown kind of record."), code="unknown_content_type")
    try:
        if value.isascii() and value.isdigit():
            content_type = ContentType.objects.get_for_id(int(value))
        elif value.count(".") == 1:
            app_label, model = value.lower().split(".")
            content_type = ContentType.objects.get_by_natural_key(app_label, model)
        else:
            raise ContentType.DoesNotExist
    except (ContentType.DoesNotExist, ValueError, OverflowError):
        raise ValidationError(_unknown_kind(value), code="unknown_content_type") from None
    model_class = content_type.model_class()
    if model_class is None or not apps.is_installed(model_class._meta.app_config.name):
        raise ValidationError(_unknown_kind(value), code="unknown_content_type")
    return content_type


def _unknown_kind(value: str) -> str:
    return _("Unknown kind of record: %(value)s.") % {"value": repr(value[:50])}


def resolve_object(
    content_type_raw: object,
    object_id_raw: object,
    *,
    may_use: Callable[[models.Model], bool] | None = None,
) -> models.Model:
    """The CRM object named by content type and id, if the user may use it (``may_use``).

    A kind of record that does not exist, or an id that is not one, is a ``ValidationError``. A model
    outside ``ATTACHABLE_MODELS`` (whatever the id), an id that matches nothing, and a record
    ``may_use`` refuses are all :class:`ObjectNotFound`, with one message.
    """
    content_type = resolve_content_type(content_type_raw)
    model_class = content_type.model_class()
    assert model_class is not None  # checked by resolve_content_type
    if not attachable_model(model_class):
        raise ObjectNotFound()
    raw_id = str(object_id_raw if object_id_raw is not None else "")
    if not raw_id:
        raise ValidationError(_("Name the record (its id)."), code="object_id_required")
    if len(raw_id) > 64:
        raise ValidationError(_("This record id is too long."), code="invalid_object_id")
    try:
        object_id = model_class._meta.pk.to_python(raw_id)
    except (ValidationError, ValueError, TypeError):
        raise ValidationError(
            _("%(value)s is not a valid record id.") % {"value": repr(raw_id[:50])}, code="invalid_object_id"
        ) from None
    try:
        obj = model_class._default_manager.get(pk=object_id)
    except (ObjectDoesNotExist, ValueError, TypeError, OverflowError):
        raise ObjectNotFound() from None
    if may_use is not None and not may_use(obj):
        raise ObjectNotFound()
    return obj


class _ObjectForm(forms.Form):
    """Resolves ``content_type`` + ``object_id`` into ``cleaned_data["obj"]`` (``None`` when both are empty).

    A record that is missing or not the user's to use (``may_use``) leaves ``not_found`` set instead of
    a field error, so the view answers 404.
    """

    object_required = False
    not_found: str | None = None

    def __init__(self, *args: Any, may_use: Callable[[models.Model], bool] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.may_use = may_use

    def clean_object(self) -> None:
        content_type = self.cleaned_data.get("content_type", "")
        object_id = self.cleaned_data.get("object_id", "")
        if not content_type and not object_id and not self.object_required:
            self.cleaned_data["obj"] = None
            return
        try:
            self.cleaned_data["obj"] = resolve_object(content_type, object_id, may_use=self.may_use)
        except ValidationError as exc:
            field = "object_id" if exc.code in ("object_id_required", "invalid_object_id") else "content_type"
            self.add_error(field, exc)
        except ObjectNotFound as exc:
            self.not_found = exc.message


def _raw_char(**kwargs: Any) -> forms.CharField:
    """A text field that keeps its value as sent (no stripping): the rules decide what is acceptable."""
    return forms.CharField(strip=False, **kwargs)


class DialForm(_ObjectForm):
    number = _raw_char(label=gettext_lazy("Number"))
    content_type = _raw_char(required=False, label=gettext_lazy("Content type"))
    object_id = _raw_char(required=False, label=gettext_lazy("Object id"))
    record = forms.BooleanField(required=False, label=gettext_lazy("Record"))
    tag = _raw_char(required=False, label=gettext_lazy("Tag"))

    def clean_number(self) -> str:
        return clean_number(self.cleaned_data["number"])

    def clean_tag(self) -> str:
        tag = self.cleaned_data.get("tag", "")
        if not tag:
            return ""
        return clean_tag(tag)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "content_type" in cleaned and "object_id" in cleaned:
            self.clean_object()
        if cleaned.get("record") and not cleaned.get("tag") and "tag" not in self.errors:
            self.add_error(
                "tag", ValidationError(_("Enter a tag to record the call under."), code="tag_required")
            )
        return cleaned


class AnswerForm(forms.Form):
    unique_id = _raw_char(max_length=64, label=gettext_lazy("Unique id"))

    def clean_unique_id(self) -> str:
        return validate_unique_id(self.cleaned_data["unique_id"])


class StartRecordingForm(_ObjectForm):
    object_required = True

    content_type = _raw_char(label=gettext_lazy("Content type"))
    object_id = _raw_char(label=gettext_lazy("Object id"))
    tag = _raw_char(label=gettext_lazy("Tag"))
    consent = forms.BooleanField(required=False, label=gettext_lazy("Consent"))
    script_version = _raw_char(required=False, max_length=20, label=gettext_lazy("Script version"))
    script_sha256 = _raw_char(required=False, max_length=64, label=gettext_lazy("Script sha256"))

    def clean_tag(self) -> str:
        return clean_tag(self.cleaned_data["tag"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "content_type" in cleaned and "object_id" in cleaned:
            self.clean_object()
        return cleaned


#: Which input field a validation error of the services is about, by its code.
_FIELD_OF_CODE = {
    "number_required": "number",
    "invalid_number": "number",
    "number_too_long": "number",
    "number_not_one_line": "number",
    "tag_required": "tag",
    "tag_too_long": "tag",
    "invalid_tag": "tag",
    "tag_not_one_line": "tag",
    "invalid_unique_id": "unique_id",
    "unknown_content_type": "content_type",
    "content_type_required": "content_type",
    "object_id_required": "object_id",
    "invalid_object_id": "object_id",
    "invalid_script_version": "script_version",
    "script_sha256_required": "script_sha256",
}


def describe_error(exc: ValidationError) -> tuple[str, str | None]:
    """A ``ValidationError`` (of a form or a service) as ``(message in words, field name or None)``."""
    if hasattr(exc, "error_dict"):
        field = next(iter(exc.error_dict))
        return message_for(exc), None if field == "__all__" else field
    return message_for(exc), _FIELD_OF_CODE.get(getattr(exc, "code", None) or "")


def first_error(form: forms.Form) -> tuple[str, str | None]:
    """The first error of a form as ``(message in words, field name or None)``."""
    for field, errors in form.errors.items():
        if errors:
            message = str(errors[0])
            if field == "__all__":
                return message, None
            label = form.fields[field].label or field.replace("_", " ")
            if message == str(forms.Field.default_error_messages["required"]):
                message = _("Enter the %(field)s.") % {"field": str(label).lower()}
            return message, field
    return _("The request is not valid."), None
