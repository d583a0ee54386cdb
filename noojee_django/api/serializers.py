"""What the API shows of calls, recordings and legs, and what it accepts to dial and to record.

Audio is only ever reached through the playback views (``noojee:recording-audio``,
``noojee:leg-audio``), which check who may hear and log each listen: no serializer exposes a storage
name or URL, and none exposes anything of the PBX configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from ..forms import ObjectNotFound, clean_number, clean_tag, resolve_object
from ..models import CallSession, RecordingLeg, RecordingPause, RecordingTag
from ..services.pausing import clean_pause_reason, pause_payload
from ..states import call_words, display_number, recording_words


def _absolute(context: Mapping[str, Any], url: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(url) if request is not None else url


def content_type_label(content_type: ContentType | None) -> str | None:
    return f"{content_type.app_label}.{content_type.model}" if content_type is not None else None


@extend_schema_field({"type": "string", "nullable": True, "example": "crm.invoice"})
class ContentTypeLabelField(serializers.Field):
    """A content type shown as ``"app_label.model"`` (``"crm.invoice"``)."""

    def to_representation(self, value: ContentType) -> str | None:
        return content_type_label(value)


# --------------------------------------------------------------------------------------------------
# Calls


class CallSerializer(serializers.ModelSerializer[CallSession]):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    status_words = serializers.SerializerMethodField(help_text=_("The call's state, as an agent reads it."))
    content_type = ContentTypeLabelField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    number_display = serializers.SerializerMethodField(
        help_text=_("The number as every page shows it (the FORMAT_NUMBER setting).")
    )

    def get_status_words(self, call: CallSession) -> str:
        return call_words(call)

    def get_number_display(self, call: CallSession) -> str:
        return display_number(call.number)

    class Meta:
        model = CallSession
        fields = [
            "id",
            "status",
            "status_display",
            "status_words",
            "pbx_status",
            "is_active",
            "number",
            "number_display",
            "extension",
            "record",
            "tag",
            "recording_tag",
            "content_type",
            "object_id",
            "error",
            "created_at",
            "connected_at",
            "ended_at",
        ]
        read_only_fields = fields


class _ObjectInputMixin:
    """Resolves ``content_type`` + ``object_id`` into ``attrs["obj"]``.

    A record that is missing, of a model calls may not be linked to, or not the user's to use (the
    context's ``may_use``) is a 404, one answer for all three.
    """

    context: Mapping[str, Any]

    def resolve(self, attrs: dict[str, Any], *, required: bool) -> dict[str, Any]:
        content_type = attrs.get("content_type", "")
        object_id = attrs.get("object_id", "")
        if not required and not content_type and not object_id:
            attrs["obj"] = None
            return attrs
        try:
            attrs["obj"] = resolve_object(content_type, object_id, may_use=self.context.get("may_use"))
        except ObjectNotFound as exc:
            raise NotFound(exc.message) from None
        return attrs


class DialSerializer(_ObjectInputMixin, serializers.Serializer[Any]):
    """Dial ``number`` from the user's own phone, for an optional CRM record, optionally recording it."""

    number = serializers.CharField(trim_whitespace=False, help_text=_("Digits, with an optional leading +."))
    content_type = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_('The CRM record\'s kind: "app_label.model".'),
    )
    object_id = serializers.CharField(required=False, allow_blank=True, default="")
    record = serializers.BooleanField(required=False, default=False)
    tag = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text=_("Needed with record."),
    )

    def validate_number(self, value: str) -> str:
        return clean_number(value)

    def validate_tag(self, value: str) -> str:
        return clean_tag(value) if value else ""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("record") and not attrs.get("tag"):
            raise serializers.ValidationError({"tag": gettext("Enter a tag to record the call under.")})
        return self.resolve(attrs, required=False)


# --------------------------------------------------------------------------------------------------
# Recordings


class RecordingLegSerializer(serializers.ModelSerializer[RecordingLeg]):
    fetch_status_display = serializers.CharField(source="get_fetch_status_display", read_only=True)
    audio_url = serializers.SerializerMethodField(help_text=_("The leg's audio, through the playback view."))

    class Meta:
        model = RecordingLeg
        fields = [
            "id",
            "recording_tag",
            "leg",
            "call_record_id",
            "unique_id",
            "start",
            "duration",
            "measured_duration",
            "source",
            "destination",
            "did",
            "direction",
            "fetch_status",
            "fetch_status_display",
            "fetched_at",
            "audio_url",
        ]
        read_only_fields = fields

    def get_audio_url(self, leg: RecordingLeg) -> str | None:
        if leg.fetch_status != RecordingLeg.FetchStatus.FETCHED or not leg.audio:
            return None
        return _absolute(self.context, reverse("noojee:leg-audio", args=[leg.pk]))


class RecordingPauseSerializer(serializers.ModelSerializer[RecordingPause]):
    """One secure pause: the span of the call the PBX did not record."""

    resumed_automatically = serializers.BooleanField(read_only=True)

    class Meta:
        model = RecordingPause
        fields = [
            "started_at",
            "resume_due_at",
            "ended_at",
            "ended_how",
            "resumed_automatically",
            "paused_by",
            "resumed_by",
            "reason",
        ]
        read_only_fields = fields


class RecordingTagSerializer(serializers.ModelSerializer[RecordingTag]):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    status_words = serializers.SerializerMethodField(
        help_text=_("The recording's state, as an agent reads it.")
    )
    content_type = ContentTypeLabelField(read_only=True)
    audio_url = serializers.SerializerMethodField(help_text=_("The joined voice signature, once attached."))
    legs = RecordingLegSerializer(many=True, read_only=True)
    pauses = RecordingPauseSerializer(many=True, read_only=True)
    resume_in = serializers.SerializerMethodField(
        help_text=_("While paused: seconds until the recording resumes by itself (PAUSE_MAX_SECONDS).")
    )

    def get_status_words(self, recording_tag: RecordingTag) -> str:
        return recording_words(recording_tag)

    def get_resume_in(self, recording_tag: RecordingTag) -> int | None:
        value = pause_payload(recording_tag)["resume_in"]
        return int(value) if value is not None else None

    class Meta:
        model = RecordingTag
        fields = [
            "id",
            "tag",
            "status",
            "status_display",
            "status_words",
            "content_type",
            "object_id",
            "extension",
            "started_by",
            "consent_given",
            "consent_confirmed_by",
            "consent_confirmed_at",
            "script_version",
            "script_sha256",
            "script_text",
            "started_at",
            "stopped_at",
            "attached_at",
            "audio_duration",
            "audio_url",
            "legal_hold",
            "keep_until",
            "purged_at",
            "last_error",
            "legs",
            "pauses",
            "resume_in",
        ]
        read_only_fields = fields

    def get_audio_url(self, recording_tag: RecordingTag) -> str | None:
        if not recording_tag.audio or recording_tag.purged_at is not None:
            return None
        return _absolute(self.context, reverse("noojee:recording-audio", args=[recording_tag.pk]))


class StartRecordingSerializer(_ObjectInputMixin, serializers.Serializer[Any]):
    """Record the user's current call under ``tag`` for a CRM record."""

    content_type = serializers.CharField(help_text=_('The CRM record\'s kind: "app_label.model".'))
    object_id = serializers.CharField()
    tag = serializers.CharField(trim_whitespace=False, help_text=_("An invoice or order number."))
    consent_given = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "The agent confirms the customer was told the call is recorded (the script's recording "
            "notice). Required to be true when the REQUIRE_CONSENT setting is on: else 400, and "
            "nothing is started."
        ),
    )
    script_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text=_(
            "The id of the script version the agent was shown (the record widget's script_version). "
            "It must be the current version of the active script for this kind of record."
        ),
    )
    script_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}\Z",
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "The sha256 (64 hex digits) of the exact text shown: the rendered recording notice, a blank "
            "line, the rendered script. Needed with script_version; a text that differs from what the "
            "version renders to now is refused (400: reload and read the new version)."
        ),
    )

    def validate_tag(self, value: str) -> str:
        return clean_tag(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return self.resolve(attrs, required=True)


class ScriptQuerySerializer(_ObjectInputMixin, serializers.Serializer[Any]):
    """The record whose script to show: ``content_type`` + ``object_id`` (a query string)."""

    content_type = serializers.CharField(
        trim_whitespace=False, help_text=_('The CRM record\'s kind: "app_label.model".')
    )
    object_id = serializers.CharField(trim_whitespace=False, max_length=64)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return self.resolve(attrs, required=True)


class ShownScriptSerializer(serializers.Serializer[Any]):
    """The script to show before recording a record, as the record widget shows it. Every field is
    null when no script is active for this kind of record: record without one."""

    script = serializers.CharField(allow_null=True, help_text=_("The script's name."))
    script_version = serializers.IntegerField(
        allow_null=True, help_text=_("The version's id: send it back as script_version to start.")
    )
    version = serializers.IntegerField(allow_null=True, help_text=_("The version's number."))
    notice = serializers.CharField(
        allow_null=True, help_text=_("The recording notice, filled in: read it to the customer first.")
    )
    body = serializers.CharField(
        allow_null=True, help_text=_("The script, filled in: read it while recording.")
    )
    text = serializers.CharField(
        allow_null=True, help_text=_("The text whose hash is kept: the notice, a blank line, the script.")
    )
    script_sha256 = serializers.CharField(
        allow_null=True, help_text=_("sha256 of text's UTF-8 bytes: send it back as script_sha256.")
    )


class RecordingFilterSerializer(serializers.Serializer[Any]):
    """The recordings list's query parameters, checked like any other input before they reach a query.

    A raw parameter in a filter would hand PostgreSQL a NUL character (``?tag=%00``), which it refuses
    with an error, not an empty list.
    """

    content_type = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    object_id = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=64)
    tag = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=64)
    status = serializers.ChoiceField(choices=RecordingTag.Status.choices, required=False, allow_blank=True)


class PauseRecordingSerializer(serializers.Serializer[Any]):
    """Pause a live recording; ``reason`` is kept with the pause (and in the evidence bundle)."""

    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text=_("Why: card details, say. At most 200 characters."),
    )

    def validate_reason(self, value: str) -> str:
        try:
            return clean_pause_reason(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["reason"]) from None


class NoInputSerializer(serializers.Serializer[Any]):
    """Actions that take no body (hang up, stop, poll)."""
