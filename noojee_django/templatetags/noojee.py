"""``{% load noojee %}``: the dial and record buttons, the live call status, the recordings of a record.

The buttons are plain HTML forms that post to the app's views (so they work without JavaScript) and
carry ``data-noojee`` hooks that ``noojee.js`` takes over. A user without a phone or the permission sees
no button: the dial button falls back to the number as text, the record button to nothing. The
recordings of a record render only for users the ``MAY_HEAR`` hook allows, and nothing at all for the
others. Every tag reads the user from ``request`` in the context (the ``request`` context processor).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import services
from ..conf import noojee_settings
from ..exceptions import NoojeeServiceError
from ..models import AgentPhone, CallSession, RecordingTag
from ..states import call_words, display_number, recording_words
from ..validation import normalize_number, validate_tag

register = template.Library()

#: The partials behind the inclusion tags; the admin kit renders the same ones with the same contexts.
DIAL_BUTTON_TEMPLATE = "noojee_django/dial_button.html"
RECORD_BUTTON_TEMPLATE = "noojee_django/record_button.html"
RECORDINGS_TEMPLATE = "noojee_django/recordings.html"
CALL_STATUS_TEMPLATE = "noojee_django/call_status.html"
#: One recording's card, in ``{% noojee_recordings %}`` and in the recording status view's answer.
RECORDING_CARD_TEMPLATE = "noojee_django/includes/recording_card.html"


@register.filter(name="noojee_number")
def noojee_number(number: Any) -> str:
    """``{{ customer.phone|noojee_number }}``: the number as every page of the app shows it."""
    return display_number(str(number or ""))


@register.filter(name="noojee_words")
def noojee_words(obj: Any) -> str:
    """``{{ recording_tag|noojee_words }}``, ``{{ call|noojee_words }}``: the state as an agent reads it."""
    if isinstance(obj, RecordingTag):
        return recording_words(obj)
    if isinstance(obj, CallSession):
        return call_words(obj)
    return ""


#: A call older than this is not shown as "current" in the status area, whatever its state says.
CURRENT_CALL_WINDOW = dt.timedelta(hours=4)


def _request(context: template.Context) -> Any:
    return context.get("request")


def _user(context: template.Context) -> Any:
    request = _request(context)
    return getattr(request, "user", None) or context.get("user")


def _phone(context: template.Context) -> AgentPhone | None:
    """The user's phone, looked up once per request however many buttons the page has."""
    request = _request(context)
    if request is not None and hasattr(request, "_noojee_agent_phone"):
        cached: AgentPhone | None = request._noojee_agent_phone
        return cached
    user = _user(context)
    phone: AgentPhone | None
    try:
        phone = services.agent_phone_for(user) if user is not None else None
    except (NoojeeServiceError, PermissionDenied):
        phone = None
    if request is not None:
        request._noojee_agent_phone = phone
    return phone


def _allowed(hook: str, user: Any, obj: Any) -> bool:
    """Ask a permission hook (``MAY_DIAL``, ``MAY_RECORD``) whether to show a button."""
    check = noojee_settings.hook(hook)
    return bool(user is not None and (check is None or check(user, obj)))


def _object_fields(obj: Any) -> dict[str, str]:
    if obj is None or getattr(obj, "pk", None) is None:
        return {"content_type": "", "object_id": ""}
    content_type = ContentType.objects.get_for_model(obj)
    return {"content_type": f"{content_type.app_label}.{content_type.model}", "object_id": str(obj.pk)}


def _next(context: template.Context) -> str:
    request = _request(context)
    return request.get_full_path() if request is not None else ""


def _may_record(context: template.Context, obj: Any) -> bool:
    return (
        obj is not None
        and getattr(obj, "pk", None) is not None
        and _phone(context) is not None
        and _allowed("MAY_RECORD", _user(context), obj)
    )


def _may_hear(context: template.Context, obj: Any) -> bool:
    user = _user(context)
    return obj is not None and user is not None and services.may_hear(user, obj)


@register.simple_tag(takes_context=True)
def noojee_permissions(context: template.Context, obj: Any = None) -> dict[str, bool]:
    """``{% noojee_permissions invoice as may %}``: what the user may do here, for the page's own
    headings and texts (``{% if may.record %}<h2>Voice signature</h2>…{% endif %}``), asked by the same
    rules as the buttons: ``may.dial`` and ``may.record`` need a phone too; ``may.hear`` is ``MAY_HEAR``."""
    has_phone = _phone(context) is not None
    return {
        "has_phone": has_phone,
        "dial": has_phone and _allowed("MAY_DIAL", _user(context), obj),
        "record": _may_record(context, obj),
        "hear": _may_hear(context, obj),
    }


@register.inclusion_tag(DIAL_BUTTON_TEMPLATE, takes_context=True)
def noojee_dial_button(context: template.Context, number: Any, obj: Any = None) -> dict[str, Any]:
    """``{% noojee_dial_button customer.phone customer %}``: ring the agent's phone, then the number."""
    shown = str(number or "").strip()
    user = _user(context)
    not_dialable = ""
    if shown:
        try:
            normalize_number(shown)
        except ValidationError as exc:
            not_dialable = exc.messages[0]
    may_dial = bool(shown) and _phone(context) is not None and _allowed("MAY_DIAL", user, obj)
    return {
        "number": shown,
        "number_display": display_number(shown),
        "can_dial": may_dial and not not_dialable,
        # to who could call it: why this number has no button ("1300 FLOWERS")
        "not_dialable": not_dialable if may_dial else "",
        "next": _next(context),
        **_object_fields(obj),
    }


@register.inclusion_tag(RECORD_BUTTON_TEMPLATE, takes_context=True)
def noojee_record_button(context: template.Context, obj: Any, tag: Any) -> dict[str, Any]:
    """``{% noojee_record_button invoice invoice.number %}``: start, pause, resume or stop recording the
    current call."""
    try:
        tag = validate_tag(str(tag or ""))
        valid_tag = True
    except ValidationError:
        valid_tag = False
    can_record = valid_tag and _may_record(context, obj)
    latest = None
    if can_record:
        latest = (
            services.recordings_for(obj, _user(context))
            .filter(tag=tag)
            .exclude(status__in=[RecordingTag.Status.FAILED, RecordingTag.Status.ABSENT])
            .order_by("-started_at")
            .first()
        )
    recording = latest if latest is not None and latest.status in RecordingTag.ON_CALL_STATUSES else None
    script, script_error = None, ""
    if can_record:
        try:
            script = services.script_for(obj)
        except ValidationError as exc:  # a field the script names is gone from the model
            script_error = " ".join(exc.messages)
    return {
        "can_record": can_record,
        "tag": tag,
        "recording": recording,
        "paused": recording is not None and recording.status == RecordingTag.Status.PAUSED,
        "pause": services.pause_payload(recording) if recording is not None else None,
        "latest": latest,
        "next": _next(context),
        "script": script,
        "script_error": script_error,
        "consent_required": bool(noojee_settings.REQUIRE_CONSENT),
        "widget_id": _widget_id(context),
        **_object_fields(obj),
    }


def _widget_id(context: template.Context) -> str:
    """An id no other record widget of the page has, for its labels and descriptions."""
    request = _request(context)
    count = getattr(request, "_noojee_widgets", 0) + 1 if request is not None else 1
    if request is not None:
        request._noojee_widgets = count
    return f"noojee-record-{count}"


@register.inclusion_tag(RECORDINGS_TEMPLATE, takes_context=True)
def noojee_recordings(context: template.Context, obj: Any) -> dict[str, Any]:
    """``{% noojee_recordings invoice %}``: the record's voice signatures, for those who may hear them."""
    may_hear = _may_hear(context, obj)
    recordings = list(services.recordings_for(obj, _user(context))) if may_hear else []
    return {"may_hear": may_hear, "recordings": recordings, "obj": obj, **_object_fields(obj)}


@register.inclusion_tag(CALL_STATUS_TEMPLATE, takes_context=True)
def noojee_call_status(context: template.Context) -> dict[str, Any]:
    """``{% noojee_call_status %}``: where the widget shows the current call and its hang-up button.

    Rendered with every call of the user in progress, each with its own state and hang-up button, so a
    page loaded mid-call (or after a dial without JavaScript) shows them too.
    """
    user = _user(context)
    calls: list[CallSession] = []
    has_phone = _phone(context) is not None
    if has_phone:
        calls = list(
            CallSession.objects.filter(user_id=user.pk, created_at__gte=timezone.now() - CURRENT_CALL_WINDOW)
            .exclude(status__in=CallSession.FINAL_STATUSES)
            .order_by("created_at")
        )
    return {"has_phone": has_phone, "calls": calls, "next": _next(context)}


@register.simple_tag
def noojee_assets() -> SafeString:
    """``{% noojee_assets %}`` in the ``<head>``: the widget's stylesheet and script, and before the
    script the JavaScript catalog of its words (``noojee:jsi18n``) when the app's URLs are included."""
    try:
        catalog = format_html('<script src="{}" defer></script>\n', reverse("noojee:jsi18n"))
    except NoReverseMatch:  # the widget then speaks the English it is written in
        catalog = SafeString("")
    return format_html(
        '<link rel="stylesheet" href="{}">\n{}<script src="{}" defer></script>',
        static("noojee_django/noojee.css"),
        catalog,
        static("noojee_django/noojee.js"),
    )
