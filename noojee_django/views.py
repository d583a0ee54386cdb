"""The buttons' endpoints: dial, hang up, answer, start, pause, resume and stop recording, and the live
status of a call and of a recording.

Each view checks its input, calls one service and answers in the form the request asked for: JSON for
the JavaScript widget (``Accept: application/json`` or ``X-Requested-With``), or a redirect back to the
page with a message, so every button also works as a plain HTML form without JavaScript. Errors are
answered in words, never as a 500, with the status :func:`~noojee_django.exceptions.http_status_for`
gives (400 bad input, 403 refused, 404 unknown, 409 no phone or wrong state, 429 too many calls, 502
the PBX failed).

Whether the user may act at all is asked before anything is looked up; a record, call or recording
that exists but is not the user's to use is answered exactly as one that does not exist.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from . import services
from .exceptions import NotFound, http_status_for, message_for
from .forms import AnswerForm, DialForm, StartRecordingForm, describe_error, first_error
from .models import CallSession, RecordingTag
from .states import call_words, display_number, recording_words
from .templatetags.noojee import RECORDING_CARD_TEMPLATE

logger = logging.getLogger("noojee_django")

View = Callable[..., HttpResponse]

# --------------------------------------------------------------------------------------------------
# Answering


def wants_json(request: HttpRequest) -> bool:
    """Whether the caller is the JavaScript widget (or an API-like client) rather than a plain form."""
    return "application/json" in request.headers.get("Accept", "") or "X-Requested-With" in request.headers


def safe_back_url(request: HttpRequest) -> str:
    """Where to send the browser back to: ``next``, else the referring page, if it is on this site."""
    for candidate in (request.POST.get("next"), request.GET.get("next"), request.headers.get("Referer")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return resolve_url(getattr(settings, "LOGIN_REDIRECT_URL", "/") or "/")


def _done(request: HttpRequest, message: str, payload: dict[str, Any]) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({**payload, "message": message})
    messages.success(request, message, fail_silently=True)
    return HttpResponseRedirect(safe_back_url(request))


def _failed(
    request: HttpRequest, message: str, status: int, field: str | None = None, *, as_json: bool = False
) -> HttpResponse:
    if as_json or wants_json(request):
        return JsonResponse({"error": message, "field": field}, status=status)
    messages.error(request, message, fail_silently=True)
    return HttpResponseRedirect(safe_back_url(request))


def entry_point(view: View | None = None, *, always_json: bool = False) -> Any:
    """Login, CSRF, and the translation of every service error into an answer in words.

    ``always_json`` is for endpoints only the widget reads (``call_status``): their errors are JSON even
    for a request that did not ask for it.
    """
    if view is None:
        return functools.partial(entry_point, always_json=always_json)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        fail = functools.partial(_failed, request, as_json=always_json)
        if not request.user.is_authenticated:
            if always_json or wants_json(request):
                return JsonResponse({"error": _("Log in to use the phone."), "field": None}, status=403)
            return redirect_to_login(safe_back_url(request))
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            status = http_status_for(exc)
            if status is None:
                raise  # a bug: Django's own 500
            if status >= 500:
                logger.warning("%s failed: %s", view.__name__, exc)
            field = describe_error(exc)[1] if isinstance(exc, ValidationError) else None
            return fail(message_for(exc), status, field)

    return csrf_protect(never_cache(wrapper))


def _form_error(request: HttpRequest, form: Any) -> HttpResponse:
    message, field = first_error(form)
    return _failed(request, message, 400, field)


def _get(model: type[Any], pk: int, missing: str, user: Any, check: Callable[[Any, Any], None]) -> Any:
    """The row ``pk`` if ``check(user, row)`` lets the user act on it; else, as for no row, a 404
    saying ``missing``."""
    try:
        obj = model._default_manager.get(pk=pk)
        check(user, obj)
    except (model.DoesNotExist, PermissionDenied):
        raise NotFound(missing) from None
    return obj


def _asks_to_record(request: HttpRequest) -> bool:
    return bool(forms.BooleanField(required=False).to_python(request.POST.get("record")))


# --------------------------------------------------------------------------------------------------
# What the widget is told


def call_payload(call: CallSession) -> dict[str, Any]:
    """A call as the widget shows it; also the ``call_status`` answer."""
    return {
        "id": call.pk,
        "status": call.status,
        "status_display": call.get_status_display(),
        "status_words": call_words(call),
        "pbx_status": call.pbx_status,
        "number": call.number,
        "number_display": display_number(call.number),
        "connected_at": call.connected_at.isoformat() if call.connected_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "is_active": call.is_active,
        "status_url": reverse("noojee:call-status", args=[call.pk]),
        "hangup_url": reverse("noojee:hangup", args=[call.pk]),
    }


def recording_payload(recording_tag: RecordingTag) -> dict[str, Any]:
    return {
        "id": recording_tag.pk,
        "tag": recording_tag.tag,
        "status": recording_tag.status,
        "status_display": recording_tag.get_status_display(),
        "status_words": recording_words(recording_tag),
        "is_recording": recording_tag.status == RecordingTag.Status.RECORDING,
        "is_final": recording_tag.status in RecordingTag.FINAL_STATUSES,
        "stop_url": reverse("noojee:stop-recording", args=[recording_tag.pk]),
        "pause_url": reverse("noojee:pause-recording", args=[recording_tag.pk]),
        "resume_url": reverse("noojee:resume-recording", args=[recording_tag.pk]),
        "status_url": reverse("noojee:recording-status", args=[recording_tag.pk]),
        **services.pause_payload(recording_tag),
    }


# --------------------------------------------------------------------------------------------------
# Views


@require_POST
@entry_point
def dial(request: HttpRequest) -> HttpResponse:
    user = request.user
    record = _asks_to_record(request)
    services.check_may_dial(user)
    if record:
        services.check_may_record(user)
    form = DialForm(
        request.POST,
        may_use=lambda obj: services.may_dial(user, obj) and (not record or services.may_record(user, obj)),
    )
    if not form.is_valid():
        return _form_error(request, form)
    if form.not_found:
        raise NotFound(form.not_found)
    data = form.cleaned_data
    call = services.dial(
        request.user, data["number"], obj=data["obj"], record=data["record"], tag=data["tag"] or None
    )
    payload = call_payload(call)
    message = _("Calling %(number)s: pick up your phone.") % {"number": payload["number_display"]}
    return _done(request, message, payload)


@require_POST
@entry_point
def hangup(request: HttpRequest, call_id: int) -> HttpResponse:
    call = _get(CallSession, call_id, _("No such call."), request.user, services.require_own_call)
    call = services.hangup(request.user, call)
    payload = call_payload(call)
    message = _("Hung up the call to %(number)s.") % {"number": payload["number_display"]}
    return _done(request, message, payload)


@require_POST
@entry_point
def answer(request: HttpRequest) -> HttpResponse:
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _form_error(request, form)
    services.answer(request.user, form.cleaned_data["unique_id"])
    return _done(request, _("Answered: pick up your phone."), {"unique_id": form.cleaned_data["unique_id"]})


@require_POST
@entry_point
def start_recording(request: HttpRequest) -> HttpResponse:
    user = request.user
    services.check_may_record(user)
    form = StartRecordingForm(request.POST, may_use=lambda obj: services.may_record(user, obj))
    if not form.is_valid():
        return _form_error(request, form)
    if form.not_found:
        raise NotFound(form.not_found)
    data = form.cleaned_data
    recording_tag = services.start_recording(
        request.user,
        data["obj"],
        data["tag"],
        consent_given=data["consent"],
        script_version=data["script_version"],
        script_sha256=data["script_sha256"],
    )
    message = _("Recording %(tag)s.") % {"tag": recording_tag.tag}
    return _done(request, message, recording_payload(recording_tag))


@require_POST
@entry_point
def stop_recording(request: HttpRequest, recording_tag_id: int) -> HttpResponse:
    recording_tag = _get(
        RecordingTag, recording_tag_id, _("No such recording."), request.user, services.require_own_recording
    )
    recording_tag = services.stop_recording(request.user, recording_tag)
    if recording_tag.status == RecordingTag.Status.ATTACHED:
        message = _("%(tag)s is already attached.") % {"tag": recording_tag.tag}
    elif recording_tag.status in RecordingTag.FINAL_STATUSES:
        message = _("%(tag)s: %(status)s.") % {
            "tag": recording_tag.tag,
            "status": recording_words(recording_tag),
        }
    else:
        message = _(
            "Stopped recording %(tag)s: the audio is collected when the call ends, and attached here then."
        ) % {"tag": recording_tag.tag}
    return _done(request, message, recording_payload(recording_tag))


@require_POST
@entry_point
def pause_recording(request: HttpRequest, recording_tag_id: int) -> HttpResponse:
    """Secure pause: the PBX stops recording the call (card details) until resumed, or by itself
    after ``PAUSE_MAX_SECONDS``."""
    recording_tag = _get(
        RecordingTag, recording_tag_id, _("No such recording."), request.user, services.require_own_recording
    )
    recording_tag = services.pause_recording(
        request.user, recording_tag, reason=request.POST.get("reason", "")
    )
    payload = recording_payload(recording_tag)
    if payload["is_paused"]:
        message = _(
            "Paused %(tag)s: nothing is recorded now. It resumes by itself in %(seconds)s seconds."
        ) % {"tag": recording_tag.tag, "seconds": payload["resume_in"]}
    else:
        message = _("%(tag)s: %(status)s.") % {
            "tag": recording_tag.tag,
            "status": recording_words(recording_tag),
        }
    return _done(request, message, payload)


@require_POST
@entry_point
def resume_recording(request: HttpRequest, recording_tag_id: int) -> HttpResponse:
    recording_tag = _get(
        RecordingTag, recording_tag_id, _("No such recording."), request.user, services.require_own_recording
    )
    recording_tag = services.resume_recording(request.user, recording_tag)
    if recording_tag.status == RecordingTag.Status.RECORDING:
        message = _("Recording %(tag)s again.") % {"tag": recording_tag.tag}
    else:
        message = _("%(tag)s: %(status)s.") % {
            "tag": recording_tag.tag,
            "status": recording_words(recording_tag),
        }
    return _done(request, message, recording_payload(recording_tag))


@require_GET
@entry_point(always_json=True)
def recording_status(request: HttpRequest, recording_tag_id: int) -> HttpResponse:
    """Where a recording is, for the widget to follow it until it is final. ``card`` is the recording
    as ``{% noojee_recordings %}`` shows it (with its players once attached), for who may hear it."""
    recording_tag = _get(
        RecordingTag,
        recording_tag_id,
        _("No such recording."),
        request.user,
        services.check_may_follow_recording,
    )
    card = None
    if services.may_hear(request.user, recording_tag.content_object):
        card = render_to_string(RECORDING_CARD_TEMPLATE, {"recording_tag": recording_tag}, request=request)
    return JsonResponse({**recording_payload(recording_tag), "card": card})


@require_GET
@entry_point(always_json=True)
def call_status(request: HttpRequest, call_id: int) -> HttpResponse:
    call = _get(CallSession, call_id, _("No such call."), request.user, services.check_may_see_call)
    call = services.current_call_status(call)
    return JsonResponse(call_payload(call))
