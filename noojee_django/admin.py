"""The operator's view: calls, tags waiting for audio, legs, attempts, listens; and the actions to
poll again, fetch again, hold, purge. Every action calls one service; list pages run a constant number
of queries whatever the number of rows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from . import services
from .exceptions import InvalidState, NoojeeServiceError
from .models import AgentPhone, CallSession, RecordingAccess, RecordingAttempt, RecordingLeg, RecordingTag


def _player(url: str) -> SafeString:
    return format_html('<audio controls preload="none" src="{}" style="height:2rem"></audio>', url)


@admin.register(AgentPhone)
class AgentPhoneAdmin(admin.ModelAdmin):
    list_display = ["extension", "user", "handset_brand", "login_name", "is_active"]
    list_filter = ["is_active", "handset_brand"]
    search_fields = ["extension", "user__username", "login_name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]


@admin.register(CallSession)
class CallSessionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "extension", "number", "status", "pbx_status", "record", "tag"]
    list_filter = ["status", "record", "created_at"]
    search_fields = ["number", "extension", "unique_id", "tag", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in CallSession._meta.fields if f.name != "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class RecordingAttemptInline(admin.TabularInline):
    model = RecordingAttempt
    fields = ["created_at", "action", "leg", "outcome", "http_status", "error_kind", "message", "duration_ms"]
    readonly_fields = [
        "created_at",
        "action",
        "leg",
        "outcome",
        "http_status",
        "error_kind",
        "message",
        "duration_ms",
    ]
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "attempts (what was asked of the PBX, and what it answered)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RecordingTag)
class RecordingTagAdmin(admin.ModelAdmin):
    list_display = [
        "tag",
        "status",
        "linked_object",
        "leg_count",
        "attempts",
        "next_poll_at",
        "attached_at",
        "legal_hold",
        "keep_until",
    ]
    list_filter = ["status", "legal_hold", "consent_given", "content_type", "started_at"]
    search_fields = ["tag", "unique_id", "extension", "last_error"]
    list_select_related = ["content_type"]
    date_hierarchy = "started_at"
    actions = ["poll_now", "set_legal_hold", "clear_legal_hold", "purge_audio"]
    inlines = [RecordingAttemptInline]
    readonly_fields = [
        "tag",
        "status",
        "content_type",
        "object_id",
        "extension",
        "unique_id",
        "started_by",
        "consent_given",
        "attempts",
        "next_poll_at",
        "last_error",
        "started_at",
        "stopped_at",
        "attached_at",
        "purged_at",
        "audio_size",
        "audio_sha256",
        "audio_duration",
        "call_picture",
    ]
    fieldsets = [
        (None, {"fields": ["tag", "status", "last_error", "call_picture"]}),
        ("Attached to", {"fields": ["content_type", "object_id", "started_by", "consent_given"]}),
        ("Keeping", {"fields": ["legal_hold", "keep_until", "purged_at"]}),
        (
            "Collecting",
            {
                "fields": [
                    "extension",
                    "unique_id",
                    "attempts",
                    "next_poll_at",
                    "started_at",
                    "stopped_at",
                    "attached_at",
                ]
            },
        ),
        ("Audio", {"fields": ["audio_size", "audio_sha256", "audio_duration"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordingTag]:
        return super().get_queryset(request).annotate(leg_total=Count("legs"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="legs", ordering="leg_total")
    def leg_count(self, obj: RecordingTag) -> int:
        return int(getattr(obj, "leg_total", 0))

    @admin.display(description="attached to")
    def linked_object(self, obj: RecordingTag) -> str:
        return f"{obj.content_type.app_label}.{obj.content_type.model} #{obj.object_id}"

    @admin.display(description="the call")
    def call_picture(self, obj: RecordingTag) -> SafeString:
        signature = ""
        if obj.audio and obj.status == RecordingTag.Status.ATTACHED:
            signature = format_html(
                "<p><strong>Voice signature</strong> ({} s) {}</p>",
                f"{obj.audio_duration or 0:.0f}",
                _player(reverse("noojee:recording-audio", args=[obj.pk])),
            )
        picture = render_to_string("noojee_django/includes/legs_timeline.html", {"recording_tag": obj})
        return mark_safe(signature + picture)  # noqa: S308  (both parts are escaped templates)

    @admin.action(description="Poll the PBX now", permissions=["change"])
    def poll_now(self, request: HttpRequest, queryset: QuerySet[RecordingTag]) -> None:
        count = services.poll_now(queryset)
        self.message_user(request, f"{count} recording(s) will be polled now.", messages.SUCCESS)

    @admin.action(description="Set legal hold", permissions=["change"])
    def set_legal_hold(self, request: HttpRequest, queryset: QuerySet[RecordingTag]) -> None:
        count = services.set_legal_hold(request.user, queryset, True)
        self.message_user(request, f"{count} recording(s) are on legal hold.", messages.SUCCESS)

    @admin.action(description="Clear legal hold", permissions=["change"])
    def clear_legal_hold(self, request: HttpRequest, queryset: QuerySet[RecordingTag]) -> None:
        count = services.set_legal_hold(request.user, queryset, False)
        self.message_user(request, f"{count} recording(s) are no longer on legal hold.", messages.SUCCESS)

    @admin.action(description="Purge audio…", permissions=["delete"])
    def purge_audio(self, request: HttpRequest, queryset: QuerySet[RecordingTag]) -> HttpResponse | None:
        held = [t for t in queryset if t.legal_hold]
        purgeable = [t for t in queryset if not t.legal_hold]
        if request.POST.get("post") == "yes":
            purged = 0
            for recording_tag in purgeable:
                try:
                    services.purge_audio(recording_tag)
                    purged += 1
                except InvalidState as exc:
                    self.message_user(request, str(exc), messages.WARNING)
            self.message_user(
                request, f"Purged the audio of {purged} recording(s); metadata kept.", messages.SUCCESS
            )
            for recording_tag in held:
                self.message_user(
                    request, f"{recording_tag.tag} is on legal hold: not purged.", messages.WARNING
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Purge audio?",
            "opts": self.model._meta,
            "purgeable": purgeable,
            "held": held,
            "queryset": queryset,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/noojee_django/recordingtag/purge_confirmation.html", context)


@admin.register(RecordingLeg)
class RecordingLegAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "leg",
        "call_record_id",
        "duration",
        "direction",
        "owner",
        "fetch_status",
        "fetched_at",
        "player",
    ]
    list_filter = ["fetch_status", "direction", "fetched_at"]
    search_fields = ["call_record_id", "unique_id", "recording_tag__tag", "owner"]
    list_select_related = ["recording_tag"]
    actions = ["fetch_again"]
    readonly_fields = [f.name for f in RecordingLeg._meta.fields if f.name != "id"] + ["player"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="audio")
    def player(self, obj: RecordingLeg) -> SafeString | str:
        return _player(reverse("noojee:leg-audio", args=[obj.pk])) if obj.audio else "—"

    @admin.action(description="Fetch audio again", permissions=["change"])
    def fetch_again(self, request: HttpRequest, queryset: QuerySet[RecordingLeg]) -> None:
        count = services.refetch_legs(queryset)
        self.message_user(request, f"{count} leg(s) will be fetched again.", messages.SUCCESS)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RecordingAttempt)
class RecordingAttemptAdmin(_ReadOnlyAdmin):
    list_display = [
        "created_at",
        "recording_tag",
        "action",
        "leg",
        "outcome",
        "http_status",
        "error_kind",
        "message",
    ]
    list_filter = ["action", "outcome", "error_kind", "created_at"]
    search_fields = ["recording_tag__tag", "message"]
    list_select_related = ["recording_tag", "leg__recording_tag"]


@admin.register(RecordingAccess)
class RecordingAccessAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "user", "action", "recording_tag", "leg", "byte_range", "ip_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["user__username", "recording_tag__tag", "ip_address"]
    list_select_related = ["user", "recording_tag", "leg__recording_tag"]


class RecordingTagInline(GenericTabularInline):
    """Add to a CRM model's admin to see and play the voice signatures attached to each record::

    class InvoiceAdmin(admin.ModelAdmin):
        inlines = [RecordingTagInline]
    """

    model = RecordingTag
    ct_field = "content_type"
    ct_fk_field = "object_id"
    fields = ["tag", "status", "attached_at", "legal_hold", "player"]
    readonly_fields = ["tag", "status", "attached_at", "legal_hold", "player"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "voice signature"
    verbose_name_plural = "voice signatures"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="listen")
    def player(self, obj: RecordingTag) -> SafeString | str:
        if obj.audio and obj.status == RecordingTag.Status.ATTACHED:
            return _player(reverse("noojee:recording-audio", args=[obj.pk]))
        return obj.last_error or "—"


class DialActionMixin:
    """A "Dial" admin action for CRM models with a phone number field::

    class CustomerAdmin(DialActionMixin, admin.ModelAdmin):
        noojee_phone_field = "phone"
    """

    noojee_phone_field = "phone"
    actions = ["noojee_dial"]

    @admin.action(description="Dial the selected record's number")
    def noojee_dial(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        message_user = self.message_user  # type: ignore[attr-defined]
        if queryset.count() != 1:
            message_user(request, "Select exactly one record to dial.", messages.WARNING)
            return
        obj = queryset.get()
        try:
            call = services.dial(request.user, getattr(obj, self.noojee_phone_field), obj=obj)
        except ValidationError as exc:
            message_user(request, " ".join(exc.messages), messages.ERROR)
        except PermissionDenied as exc:
            message_user(request, str(exc) or "You may not place calls.", messages.ERROR)
        except NoojeeServiceError as exc:
            message_user(request, exc.message, messages.ERROR)
        else:
            message_user(request, f"Calling {call.number}: pick up your phone.", messages.SUCCESS)
