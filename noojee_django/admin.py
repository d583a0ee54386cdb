"""The operator's view: calls, tags waiting for audio, legs, attempts, listens.

Every changelist runs a constant number of queries whatever its number of rows (``list_select_related``
and annotations, nothing looked up per row). The actions live in ``admin_actions``; each calls one
service. Recordings and legs cannot be deleted here: deleting would take the access log with them and
bypass legal hold; "Purge audio" deletes the audio and keeps the trail.

The pages are registered on ``django.contrib.admin.site`` unless ``NOOJEE["REGISTER_ADMIN"]`` is
False; :func:`register_admin` puts them on any other ``AdminSite``, and every link between them stays on
the site it was followed from (``self.admin_site.name``).

For a CRM's own admins: :class:`NoojeeAdminMixin` (dial, record and hear on a record's change page,
in ``admin_kit``), :class:`RecordingTagInline` (a record's voice signatures as rows) and
:class:`DialActionMixin` (a changelist action calling a record's phone number).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import Count, Max, Model, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import admin_actions, connections, services
from .admin_actions import DialActionMixin
from .admin_kit import NoojeeAdminMixin
from .conf import noojee_settings
from .models import (
    AgentPhone,
    BackfillProgress,
    CallSession,
    LogChain,
    RecordingAccess,
    RecordingAttempt,
    RecordingLeg,
    RecordingTag,
    RecordingTransition,
    Script,
    ScriptVersion,
    StoredAudio,
)
from .script_template import model_of, validate_template

__all__ = ["DialActionMixin", "NoojeeAdminMixin", "RecordingTagInline", "register_admin"]

#: Attempts shown on a tag's page, the latest first; the rest are one link away.
ATTEMPT_LOG_LIMIT = 20


class NoojeeMedia:
    css = {"all": ["noojee_django/noojee.css"]}


def _player(url: str) -> SafeString:
    return format_html(
        '<audio class="noojee-player" controls preload="metadata" src="{}" style="{}"></audio>',
        url,
        "height: 2rem; min-width: 16rem",
    )


def _object_link(admin_site: admin.AdminSite, obj: Any) -> str:
    """The CRM record a call or recording is linked to, by its own name, linking to its admin page on
    ``admin_site``. The record comes from ``content_object``: changelists prefetch it, one query per
    kind of record, whatever their number of rows."""
    content_type, object_id = obj.content_type, obj.object_id
    if content_type is None or not object_id:
        return "—"
    record = obj.content_object
    if record is None:
        return gettext("%(kind)s #%(id)s (deleted)") % {
            "kind": f"{content_type.app_label}.{content_type.model}",
            "id": object_id,
        }
    try:
        url = reverse(
            f"{admin_site.name}:{content_type.app_label}_{content_type.model}_change", args=[object_id]
        )
    except NoReverseMatch:
        return str(record)
    return format_html('<a href="{}">{}</a>', url, record)


class _WritesWhatChanged(admin.ModelAdmin):
    """A change form writes the fields it changed, and nothing else.

    ``ModelAdmin.save_model`` writes the whole row as the form loaded it. The worker and the listener
    write these rows all the time: a status the listener set, audio a worker attached or a purge that
    ran between the form's read and its write would be put back as it was, leaving a row that lies
    about its audio. Fields named in ``written_by_services`` are the subclass's to write (through the
    service that owns that use case).
    """

    written_by_services: tuple[str, ...] = ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        concrete = {field.name for field in obj._meta.concrete_fields}
        fields = [
            name for name in form.changed_data if name in concrete and name not in self.written_by_services
        ]
        if fields:
            obj.save(update_fields=[*fields, *(["updated_at"] if "updated_at" in concrete else [])])


class _OnUsersPbxes(admin.ModelAdmin):
    """Lists, pages and actions of only the rows of the PBX connections the user may deal with (the
    ``USER_PBXES`` hook): another client company's rows are "not found", as if they did not exist."""

    #: the lookup that names a row's connection
    pbx_field = "connection"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return connections.filter_for(request.user, super().get_queryset(request), self.pbx_field)


class AgentPhoneAdmin(_OnUsersPbxes):
    list_display = ["extension", "connection", "user", "handset_brand", "login_name", "is_active"]
    list_filter = ["is_active", "connection", "handset_brand"]
    search_fields = ["extension", "user__username", "login_name"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]  # autocomplete would need search_fields on the project's user admin


class CallSessionAdmin(_OnUsersPbxes, _WritesWhatChanged):
    list_display = [
        "created_at",
        "user",
        "extension",
        "number",
        "status",
        "pbx_status",
        "record",
        "tag",
        "linked_object",
        "ended_at",
    ]
    list_filter = ["status", "record", "created_at"]
    search_fields = ["number", "extension", "unique_id", "tag", "user__username"]
    list_select_related = ["user", "content_type"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in CallSession._meta.fields if f.name not in ("id", "dial_guard")]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CallSession]:
        return super().get_queryset(request).prefetch_related("content_object")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("called from"))
    def linked_object(self, obj: CallSession) -> str:
        return _object_link(self.admin_site, obj)


class RecordingTagAdmin(_OnUsersPbxes, _WritesWhatChanged):
    list_display = [
        "tag",
        "status",
        "linked_object",
        "leg_count",
        "polls",
        "next_poll_at",
        "attached_at",
        "audio_duration",
        "legal_hold",
        "keep_until",
    ]
    list_filter = [
        "status",
        "needs_review",
        "legal_hold",
        "consent_given",
        ("content_type", admin.RelatedOnlyFieldListFilter),  # the kinds of record that have recordings
        "started_at",
        "attached_at",
    ]
    search_fields = ["tag", "unique_id", "extension", "last_error"]
    list_select_related = ["content_type"]
    date_hierarchy = "started_at"
    actions = [
        admin_actions.poll_now,
        admin_actions.set_legal_hold,
        admin_actions.clear_legal_hold,
        admin_actions.purge_audio,
        admin_actions.restore_audio,
        admin_actions.attach_to,
    ]
    readonly_fields = [
        "tag",
        "status",
        "status_reason",
        "start_accepted",
        "needs_review",
        "linked_object",
        "extension",
        "unique_id",
        "started_by",
        "consent_given",
        "consent_confirmed_by",
        "consent_confirmed_at",
        "script_version",
        "script_text",
        "script_sha256",
        "polls",
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
        "attempt_log",
        "pause_log",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["tag", "status", "status_reason", "last_error", "needs_review", "call_picture"]},
        ),
        (_("Attached to"), {"fields": ["linked_object", "started_by"]}),
        (
            _("Consent and script"),
            {
                "fields": [
                    "consent_given",
                    "consent_confirmed_by",
                    "consent_confirmed_at",
                    "script_version",
                    "script_text",
                    "script_sha256",
                ]
            },
        ),
        (_("Keeping"), {"fields": ["legal_hold", "keep_until", "purged_at"]}),
        (
            _("Collecting"),
            {
                "fields": [
                    "start_accepted",
                    "extension",
                    "unique_id",
                    "polls",
                    "next_poll_at",
                    "started_at",
                    "stopped_at",
                    "attached_at",
                ]
            },
        ),
        (_("Audio"), {"fields": ["audio_size", "audio_sha256", "audio_duration"]}),
        (_("Secure pauses"), {"fields": ["pause_log"]}),
        (_("What was asked of the PBX"), {"fields": ["attempt_log"], "classes": ["collapse"]}),
    ]
    Media = NoojeeMedia
    written_by_services = ("legal_hold",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordingTag]:
        return (
            super()
            .get_queryset(request)
            .annotate(leg_total=Count("legs"), attempt_total=Count("attempts_log", distinct=True))
            .prefetch_related("content_object")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The attempt log's heading gives the number of attempts its full listing gives."""
        fieldsets = super().get_fieldsets(request, obj)
        total = getattr(obj, "attempt_total", None)
        if total is None:
            return fieldsets
        return [
            (f"{title} ({total})" if str(title) == gettext("What was asked of the PBX") else title, options)
            for title, options in fieldsets
        ]

    def save_model(self, request: HttpRequest, obj: RecordingTag, form: Any, change: bool) -> None:
        if change and "legal_hold" in form.changed_data:
            # the same use case as the "Set/Clear legal hold" actions, with the same permission
            services.set_legal_hold(request.user, [obj], obj.legal_hold)
        super().save_model(request, obj, form, change)  # the other fields the form changed

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        """The page links to the recording's evidence bundle for who may export it and hear it."""
        extra_context = dict(extra_context or {})
        recording_tag = self.get_object(request, object_id)
        if (
            recording_tag is not None
            and services.may_export_evidence(request.user)
            and services.may_hear(request.user, recording_tag.content_object)
        ):
            extra_context["evidence_url"] = reverse("noojee:recording-evidence", args=[recording_tag.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("noojee_django.restore_recordingtag")

    def has_purge_permission(self, request: HttpRequest) -> bool:
        """Purging audio is what deleting is for the other models: it takes the delete permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}")

    @admin.display(description=_("legs"), ordering="leg_total")
    def leg_count(self, obj: RecordingTag) -> int:
        return int(getattr(obj, "leg_total", 0))

    @admin.display(description=_("PBX polls"), ordering="attempts")
    def polls(self, obj: RecordingTag) -> int:
        """How often the PBX was asked for this tag's legs: one kind of what the attempt log lists."""
        return obj.attempts

    @admin.display(description=_("attached to"))
    def linked_object(self, obj: RecordingTag) -> str:
        return _object_link(self.admin_site, obj)

    @admin.display(description=_("the call"))
    def call_picture(self, obj: RecordingTag) -> SafeString:
        return render_to_string(
            "noojee_django/includes/legs_timeline.html", {"recording_tag": obj, "with_signature": True}
        )

    @admin.display(description=_("latest first"))
    def attempt_log(self, obj: RecordingTag) -> SafeString:
        attempts = obj.attempts_log.select_related("leg").order_by("-created_at", "-id")
        all_url = reverse(f"{self.admin_site.name}:noojee_django_recordingattempt_changelist")
        return render_to_string(
            "admin/noojee_django/recordingtag/attempt_log.html",
            {
                "attempts": list(attempts[:ATTEMPT_LOG_LIMIT]),
                "total": getattr(obj, "attempt_total", None) or attempts.count(),
                "all_url": f"{all_url}?{urlencode({'recording_tag__id__exact': obj.pk})}",
            },
        )

    @admin.display(description=_("Pauses"))
    def pause_log(self, obj: RecordingTag) -> SafeString:
        """Each secure pause: who paused and resumed, when, and how long the call went unrecorded."""
        pauses = obj.pauses.select_related("paused_by", "resumed_by").order_by("started_at", "id")
        return render_to_string("admin/noojee_django/recordingtag/pause_log.html", {"pauses": list(pauses)})


class RecordingLegAdmin(_OnUsersPbxes, _WritesWhatChanged):
    list_display = [
        "__str__",
        "leg",
        "call_record_id",
        "start",
        "duration",
        "direction",
        "owner",
        "fetch_status",
        "fetched_at",
        "player",
    ]
    list_filter = [
        "fetch_status",
        ("recording_tag", admin.EmptyFieldListFilter),
        "kept_aside",
        "direction",
        "start",
        "fetched_at",
    ]
    search_fields = ["call_record_id", "unique_id", "tag", "owner"]
    list_select_related = ["recording_tag"]
    actions = [admin_actions.fetch_again]
    # The file field itself would render a link to the file's URL, which private storage refuses.
    exclude = ["audio"]
    readonly_fields = [f.name for f in RecordingLeg._meta.fields if f.name not in ("id", "audio")] + [
        "player",
        "audio_file",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("audio"))
    def player(self, obj: RecordingLeg) -> str:
        return _player(reverse("noojee:leg-audio", args=[obj.pk])) if obj.audio else "—"

    @admin.display(description=_("audio file"))
    def audio_file(self, obj: RecordingLeg) -> str:
        return obj.audio.name or "—"


class _ReadOnlyAdmin(admin.ModelAdmin):
    """A log: nobody adds, edits or deletes its rows through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StoredAudioAdmin(_OnUsersPbxes, _ReadOnlyAdmin):
    """The audio ledger: every object ever written to the recordings storage, live or deleted."""

    pbx_field = "recording_tag__connection"

    list_display = [
        "name",
        "kind",
        "recording_tag",
        "size",
        "sha256",
        "created_at",
        "deleted_at",
        "integrity",
        "verified_at",
    ]
    list_filter = ["integrity", "kind", ("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "sha256", "recording_tag__tag"]
    list_select_related = ["recording_tag"]


class RecordingTransitionAdmin(_OnUsersPbxes, _ReadOnlyAdmin):
    """Every status change of every recording and leg, with its reason."""

    pbx_field = "recording_tag__connection"

    list_display = ["created_at", "recording_tag", "leg", "from_status", "to_status", "reason", "actor"]
    list_filter = ["to_status", "created_at"]
    search_fields = ["recording_tag__tag", "reason"]
    list_select_related = ["recording_tag", "leg", "actor"]
    # A log row is never edited: its place in its hash chain is shown, never a form field.
    readonly_fields = ["chain", "sequence", "previous_hash", "row_hash", "actor_pk"]


@admin.register(LogChain)
class LogChainAdmin(_ReadOnlyAdmin):
    """The head of each hash chain: its length and last hash (``manage.py noojee_verify_log`` checks them)."""

    list_display = ["log", "chain", "length", "head_hash", "updated_at"]
    list_filter = ["log"]
    search_fields = ["chain", "head_hash"]


class RecordingAttemptAdmin(_OnUsersPbxes, _ReadOnlyAdmin):
    pbx_field = "recording_tag__connection"
    list_display = [
        "created_at",
        "recording_tag",
        "action",
        "leg",
        "outcome",
        "http_status",
        "error_kind",
        "message",
        "duration_ms",
    ]
    list_filter = ["action", "outcome", "error_kind", "created_at"]
    search_fields = ["recording_tag__tag", "message"]
    list_select_related = ["recording_tag", "leg__recording_tag"]
    date_hierarchy = "created_at"


class RecordingAccessAdmin(_OnUsersPbxes, _ReadOnlyAdmin):
    pbx_field = "recording_tag__connection"
    list_display = ["created_at", "user", "action", "recording_tag", "leg", "byte_range", "ip_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["user__username", "recording_tag__tag", "ip_address"]
    list_select_related = ["user", "recording_tag", "leg__recording_tag"]
    date_hierarchy = "created_at"
    readonly_fields = ["chain", "sequence", "previous_hash", "row_hash", "user_pk"]


class ScriptForm(forms.ModelForm):
    """A script and the text of its current version: a changed text is saved as a new version."""

    notice = forms.CharField(
        label=_("recording notice"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Read first, before recording: that the call is recorded, and why."),
    )
    body = forms.CharField(
        label=_("script"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Read while recording. {field} is replaced by the record's value of that field (e.g. "
            "{number}, {amount}); {{ and }} are braces. Nothing else is interpreted."
        ),
    )

    class Meta:
        model = Script
        fields = ["name", "content_type", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.current_version if self.instance.pk is not None else None
        if current is not None:
            self.fields["notice"].initial = current.notice
            self.fields["body"].initial = current.body

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        content_type = cleaned.get("content_type") or (
            self.instance.content_type if self.instance.content_type_id else None
        )
        model = model_of(content_type)
        for name in ("notice", "body"):
            if name in cleaned:
                try:
                    validate_template(cleaned[name], model)
                except ValidationError as exc:
                    self.add_error(name, exc)
        return cleaned


class _ReadOnlyInline:
    """For an inline: rows shown beside their parent, never added, edited or deleted there."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ScriptVersionInline(_ReadOnlyInline, admin.TabularInline):
    """Every version of a script, newest first: read-only, never deleted."""

    model = ScriptVersion
    fields = ["number", "notice", "body", "created_at", "created_by", "recording_count"]
    readonly_fields = ["number", "notice", "body", "created_at", "created_by", "recording_count"]
    ordering = ["-number"]
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = _("Versions (read-only: a change of the text above saves a new one)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScriptVersion]:
        return (
            super()
            .get_queryset(request)
            .select_related("created_by")
            .annotate(n_recordings=Count("recordings"))
        )

    @admin.display(description=_("recordings"))
    def recording_count(self, obj: ScriptVersion) -> int:
        return int(getattr(obj, "n_recordings", 0))


class ScriptAdmin(admin.ModelAdmin):
    """Scripts: editing the text saves a new version; old versions stay, read-only. A script is never
    deleted (recordings name its versions): make it inactive instead."""

    form = ScriptForm
    list_display = ["name", "content_type", "active", "version", "updated_at"]
    list_filter = ["active", ("content_type", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    list_select_related = ["content_type"]
    fields = ["name", "content_type", "active", "notice", "body"]
    inlines = [ScriptVersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Script]:
        return super().get_queryset(request).annotate(latest_number=Max("versions__number"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The versions' placeholders are fields of this kind of record.
        return ["content_type"] if obj is not None and obj.versions.exists() else []

    def save_model(self, request: HttpRequest, obj: Script, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.save_script_text(
            obj, notice=form.cleaned_data["notice"], body=form.cleaned_data["body"], user=request.user
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("version"), ordering="latest_number")
    def version(self, obj: Script) -> int | None:
        return getattr(obj, "latest_number", None)


class ScriptVersionAdmin(_ReadOnlyAdmin):
    """Every version of every script, as it was saved: never edited, never deleted."""

    list_display = ["script", "number", "created_at", "created_by"]
    list_filter = ["script", "created_at"]
    search_fields = ["script__name", "notice", "body"]
    list_select_related = ["script", "created_by"]
    fields = ["script", "number", "notice", "body", "created_at", "created_by"]
    readonly_fields = ["script", "number", "notice", "body", "created_at", "created_by"]


@admin.register(BackfillProgress)
class BackfillProgressAdmin(_ReadOnlyAdmin):
    """Each ``noojee_backfill`` range: how far it walked the PBX's hours and what it attached."""

    list_display = [
        "key",
        "hours_done",
        "next_hour",
        "legs_found",
        "legs_attached",
        "legs_unattached",
        "legs_known",
        "rate_limited",
        "started_at",
        "updated_at",
        "finished_at",
    ]
    list_filter = [("finished_at", admin.EmptyFieldListFilter), "started_at"]
    search_fields = ["key"]


class RecordingTagInline(_ReadOnlyInline, GenericTabularInline):
    """Add to a CRM model's admin to see and play the voice signatures attached to each record::

        class InvoiceAdmin(admin.ModelAdmin):
            inlines = [RecordingTagInline]

    Read-only. It shows to whoever may hear the record's recordings (the ``MAY_HEAR`` hook), the same
    rule the players' playback views apply, and to nobody else. On the page of a ``NoojeeAdminMixin``
    whose panel already shows the recordings (``noojee_show_recordings``), the rows have no player of
    their own: each signature plays once, in the panel, with its legs.
    """

    model = RecordingTag
    ct_field = "content_type"
    ct_fk_field = "object_id"
    fields = ["tag", "status", "attached_at", "player"]
    readonly_fields = ["tag", "status", "attached_at", "player"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("voice signature")
    verbose_name_plural = _("Voice signatures")
    Media = NoojeeMedia

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        parent = self.admin_site._registry.get(self.parent_model)
        if isinstance(parent, NoojeeAdminMixin) and parent.noojee_show_recordings:
            return [name for name in fields if name != "player"]
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordingTag]:
        # The parent's rows are what ``has_view_permission`` lets through; the inline's own default
        # would hide them from anyone without a Django permission on RecordingTag.
        return connections.filter_for(request.user, RecordingTag.objects.all())

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and services.may_hear(request.user, obj)

    @admin.display(description=_("listen"))
    def player(self, obj: RecordingTag) -> str:
        if obj.audio and obj.status == RecordingTag.Status.ATTACHED:
            return _player(reverse("noojee:recording-audio", args=[obj.pk]))
        if obj.purged_at:
            return gettext("audio purged")
        return obj.last_error or obj.get_status_display()


#: The app's own pages, as :func:`register_admin` registers them.
APP_ADMINS: dict[type[Model], type[admin.ModelAdmin[Any]]] = {
    AgentPhone: AgentPhoneAdmin,
    CallSession: CallSessionAdmin,
    RecordingTag: RecordingTagAdmin,
    RecordingLeg: RecordingLegAdmin,
    StoredAudio: StoredAudioAdmin,
    RecordingTransition: RecordingTransitionAdmin,
    RecordingAttempt: RecordingAttemptAdmin,
    RecordingAccess: RecordingAccessAdmin,
    Script: ScriptAdmin,
    ScriptVersion: ScriptVersionAdmin,
}


def register_admin(site: admin.AdminSite) -> None:
    """Put the app's pages (agent phones, calls, recordings, legs, the audio ledger, transitions,
    attempts, the access log, scripts and their versions) on ``site``. A model ``site`` already has a
    page for keeps it, so calling this again, or after registering one of them your own way, changes
    nothing."""
    for model, model_admin in APP_ADMINS.items():
        if not site.is_registered(model):
            site.register(model, model_admin)


def _registers_on_the_default_site() -> bool:
    try:
        return bool(noojee_settings.REGISTER_ADMIN)
    except ImproperlyConfigured:  # NOOJEE is not a dict: ``noojee.E000`` says so, the default stands
        return True


if _registers_on_the_default_site():
    register_admin(admin.site)
