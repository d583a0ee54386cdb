"""The admin's actions: each validates the selection, calls one service, and says what happened.

Kept apart from the ModelAdmins (``admin.py``) because they are the only part of the admin that
changes state. ``DialActionMixin`` is here too: a CRM's own admins mix it in to call their records.
A refusal of a service is a message in words (:func:`refusal`), never a 500.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import services
from .exceptions import http_status_for, message_for
from .forms import resolve_object
from .models import RecordingLeg, RecordingTag
from .states import display_number


def refusal(exc: Exception) -> str:
    """What the operator is told when a service refuses: ``exc``'s message; a bug is raised again."""
    if http_status_for(exc) is None:
        raise exc
    return message_for(exc)


def _tagged(recording_tag: RecordingTag, reason: str) -> str:
    return _("%(tag)s: %(reason)s") % {"tag": recording_tag.tag, "reason": reason}


@admin.action(description=gettext_lazy("Poll the PBX now"), permissions=["change"])
def poll_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingTag]) -> None:
    selected = len(queryset)
    count = services.poll_now(queryset, actor=request.user)
    modeladmin.message_user(
        request,
        ngettext("%(count)d recording will be polled now.", "%(count)d recordings will be polled now.", count)
        % {"count": count},
        messages.SUCCESS,
    )
    if count < selected:
        skipped = selected - count
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d recording skipped: still recording, already attached, never started on the PBX, "
                "or recorded again under the same tag.",
                "%(count)d recordings skipped: still recording, already attached, never started on the PBX, "
                "or recorded again under the same tag.",
                skipped,
            )
            % {"count": skipped},
            messages.WARNING,
        )


@admin.action(description=gettext_lazy("Set legal hold"), permissions=["change"])
def set_legal_hold(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingTag]
) -> None:
    count = services.set_legal_hold(request.user, queryset, True)
    modeladmin.message_user(
        request,
        ngettext("%(count)d recording is on legal hold.", "%(count)d recordings are on legal hold.", count)
        % {"count": count},
        messages.SUCCESS,
    )


@admin.action(description=gettext_lazy("Clear legal hold"), permissions=["change"])
def clear_legal_hold(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingTag]
) -> None:
    count = services.set_legal_hold(request.user, queryset, False)
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d recording is no longer on legal hold.",
            "%(count)d recordings are no longer on legal hold.",
            count,
        )
        % {"count": count},
        messages.SUCCESS,
    )


@admin.action(description=gettext_lazy("Purge audio…"), permissions=["purge"])
def purge_audio(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingTag]
) -> HttpResponse | None:
    """First answer: a page listing the files that would go. Its "Yes" posts again with ``post=yes``."""
    selected = list(queryset.prefetch_related("legs"))
    held = [t for t in selected if t.legal_hold]
    purgeable = [t for t in selected if not t.legal_hold]
    if request.POST.get("post") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Purge audio?"),
            "opts": modeladmin.model._meta,
            "purgeable": [(t, [leg for leg in t.legs.all() if leg.audio]) for t in purgeable],
            "held": held,
            "selected": selected,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/noojee_django/recordingtag/purge_confirmation.html", context)
    purged = 0
    for recording_tag in purgeable:
        try:
            if services.purge_audio(recording_tag):
                purged += 1
        except Exception as exc:  # e.g. put on hold since the confirmation page was shown
            modeladmin.message_user(request, refusal(exc), messages.WARNING)
    modeladmin.message_user(
        request,
        ngettext(
            "Purged the audio of %(count)d recording; its metadata is kept.",
            "Purged the audio of %(count)d recordings; their metadata is kept.",
            purged,
        )
        % {"count": purged},
        messages.SUCCESS,
    )
    for recording_tag in held:
        modeladmin.message_user(
            request, _("%(tag)s is on legal hold: not purged.") % {"tag": recording_tag.tag}, messages.WARNING
        )
    return None


@admin.action(description=gettext_lazy("Fetch audio again"), permissions=["change"])
def fetch_again(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingLeg]) -> None:
    result = services.refetch_legs(queryset, actor=request.user)
    if result.scheduled:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d leg will be fetched again; the stored audio stays until the new audio is "
                "verified.",
                "%(count)d legs will be fetched again; the stored audio stays until the new audio is "
                "verified.",
                result.scheduled,
            )
            % {"count": result.scheduled},
            messages.SUCCESS,
        )
    for reason in result.refused:
        modeladmin.message_user(request, reason, messages.WARNING)


@admin.action(description=gettext_lazy("Restore purged audio from the PBX"), permissions=["restore"])
def restore_audio(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingTag]
) -> None:
    restored = 0
    for recording_tag in queryset:
        try:
            services.restore_audio(request.user, recording_tag)
        except Exception as exc:
            modeladmin.message_user(request, _tagged(recording_tag, refusal(exc)), messages.WARNING)
        else:
            restored += 1
    if restored:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d recording will be fetched from the PBX again.",
                "%(count)d recordings will be fetched from the PBX again.",
                restored,
            )
            % {"count": restored},
            messages.SUCCESS,
        )


def attachable_content_types() -> QuerySet[ContentType]:
    """The kinds of record recordings may be attached to (``ATTACHABLE_MODELS``)."""
    ids = [
        content_type.pk
        for content_type in ContentType.objects.all()
        if (model := content_type.model_class()) is not None and services.attachable_model(model)
    ]
    return ContentType.objects.filter(pk__in=ids).order_by("app_label", "model")


class AttachTargetForm(forms.Form):
    """The record the selected recordings go to: its kind (only attachable ones) and its id."""

    content_type = forms.ModelChoiceField(
        queryset=ContentType.objects.none(), label=gettext_lazy("Kind of record")
    )
    object_id = forms.CharField(max_length=64, label=gettext_lazy("Record id"), strip=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["content_type"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = attachable_content_types()


def _record_label(content_type: ContentType | None, object_id: str) -> str:
    return f"{content_type.app_label}.{content_type.model} #{object_id}" if content_type else "—"


ATTACH_TEMPLATE = "admin/noojee_django/recordingtag/attach_confirmation.html"


@admin.action(description=gettext_lazy("Attach to another record…"), permissions=["change"])
def attach_to(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[RecordingTag]
) -> HttpResponse | None:
    """Three steps, each a post of the changelist's action: pick the target record; see what will
    move (``attach_step=review``); confirm (``attach_step=confirm``). Every refusal is a message."""
    selected = list(queryset.select_related("content_type").order_by("pk"))
    step = request.POST.get("attach_step", "")
    form = AttachTargetForm(request.POST if step else None)
    context: dict[str, Any] = {
        **modeladmin.admin_site.each_context(request),
        "title": _("Attach recordings to another record"),
        "opts": modeladmin.model._meta,
        "form": form,
        "selected": [(t, _record_label(t.content_type, t.object_id)) for t in selected],
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    if not step or not form.is_valid():
        return TemplateResponse(request, ATTACH_TEMPLATE, context)
    user = request.user
    content_type = form.cleaned_data["content_type"]
    try:  # a record the operator may not view is answered as a missing one
        target = resolve_object(
            str(content_type.pk),
            form.cleaned_data["object_id"],
            may_use=lambda obj: services.may_view(user, obj),
        )
    except Exception as exc:
        modeladmin.message_user(request, refusal(exc), messages.ERROR)
        return TemplateResponse(request, ATTACH_TEMPLATE, context)
    target_label = f"{target} ({_record_label(content_type, str(target.pk))})"
    movable: list[RecordingTag] = []
    refused: list[tuple[RecordingTag, str]] = []
    for recording_tag in selected:
        try:
            services.check_may_attach(user, recording_tag, target)
        except Exception as exc:
            refused.append((recording_tag, refusal(exc)))
        else:
            movable.append(recording_tag)
    if step == "review" and movable:
        context.update(
            step="review",
            target_label=target_label,
            movable=[(t, _record_label(t.content_type, t.object_id)) for t in movable],
            refused=refused,
        )
        return TemplateResponse(request, ATTACH_TEMPLATE, context)
    moved = 0
    if step == "confirm":
        for recording_tag in movable:
            try:
                services.attach_to(user, recording_tag, target)
            except Exception as exc:
                refused.append((recording_tag, refusal(exc)))
            else:
                moved += 1
    for recording_tag, reason in refused:
        modeladmin.message_user(request, _tagged(recording_tag, reason), messages.WARNING)
    if moved:
        modeladmin.message_user(
            request,
            ngettext(
                "Moved %(count)d recording to %(record)s.", "Moved %(count)d recordings to %(record)s.", moved
            )
            % {"count": moved, "record": target_label},
            messages.SUCCESS,
        )
    return None


class DialActionMixin:
    """A "Dial" admin action for CRM models with a phone number field::

        class CustomerAdmin(DialActionMixin, admin.ModelAdmin):
            noojee_phone_field = "phone"

    The action rings the operator's own handset, then the selected record's number, and links the
    call to the record. It is offered only to users the ``MAY_DIAL`` hook allows, and adds itself to
    whatever ``actions`` the admin declares.
    """

    noojee_phone_field = "phone"

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]
        if self.actions is None or IS_POPUP_VAR in request.GET:  # type: ignore[attr-defined]
            return actions
        if services.may_dial(request.user):
            func, name, description = self.get_action("noojee_dial")  # type: ignore[attr-defined]
            actions[name] = (func, name, description)
        return actions

    @admin.action(description=gettext_lazy("Dial the selected record's number"))
    def noojee_dial(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        message_user = self.message_user  # type: ignore[attr-defined]
        selected = list(queryset[:2])
        if len(selected) != 1:
            message_user(request, _("Select exactly one record to dial."), messages.WARNING)
            return
        obj = selected[0]
        try:
            call = services.dial(request.user, getattr(obj, self.noojee_phone_field), obj=obj)
        except Exception as exc:
            reason = refusal(exc)
            if isinstance(exc, ValidationError):  # about the record's number, say
                reason = _("%(record)s: %(reason)s") % {"record": obj, "reason": reason}
            message_user(request, reason, messages.ERROR)
        else:
            message_user(
                request,
                _("Calling %(number)s from %(extension)s: pick up your phone.")
                % {"number": display_number(call.number), "extension": call.extension},
                messages.SUCCESS,
            )
