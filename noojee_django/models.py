"""State the app keeps about calls and recordings.

A :class:`RecordingTag` is the CRM's handle on a voice signature: a tag (an invoice number) linked to
any model instance. The PBX splits each recorded call into legs; each becomes a :class:`RecordingLeg`
keyed on the PBX's ``CallRecordId`` so that seeing the same leg twice changes nothing. Every poll and
fetch leaves a :class:`RecordingAttempt` an operator can read, and every listen a
:class:`RecordingAccess`.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.storage import InvalidStorageError, Storage, storages
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Lookup, lookups
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import noojee_settings
from .script_template import model_of, normalized, validate_template
from .validation import pbx_text_validator

EXTENSION_RE = re.compile(r"^(?P<tech>SIP|PJSIP|IAX2)/(?P<exten>[0-9]{2,10})\Z")
extension_validator = RegexValidator(
    EXTENSION_RE,
    _("Enter an extension with its technology, such as SIP/101 or PJSIP/101."),
    code="invalid_extension",
)


def exact_collation(connection: Any) -> str | None:
    """The collation under which text equals only itself, on ``connection``; ``None`` where that is
    already the default (SQLite, PostgreSQL)."""
    if connection.vendor != "mysql":
        return None
    # Binary and NO PAD: MariaDB's utf8mb4_bin still ignores trailing spaces, its nopad_bin does not.
    return "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"


class ExactCharField(models.CharField):
    """A ``CharField`` whose ``=``, unique index and joins compare byte for byte on every database.

    A tag is an identifier: ``INV-42`` and ``inv-42 `` are two tags. MariaDB's and MySQL's default
    collations (``utf8mb4_general_ci``) treat them as one, in lookups and in unique indexes alike; on
    those the column is given a binary collation with no padding, chosen for the server the schema is
    written to. SQLite and PostgreSQL already compare text exactly: there the column is a plain one.

    On MariaDB/MySQL the case-insensitive lookups (``iexact``, ``icontains``... the admin's search)
    compare under the server's case-insensitive collation, so they keep ignoring case there too.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if not self.db_collation:
            params["collation"] = exact_collation(connection)
        return params


def _ignoring_case_on_mysql(lookup: type[Lookup[Any]]) -> type[Lookup[Any]]:
    """``lookup`` on an :class:`ExactCharField`: MySQL's ``LIKE`` follows the column's (binary)
    collation, so there the column is compared under a case-insensitive one instead."""

    class IgnoringCase(lookup):  # type: ignore[valid-type,misc]
        def process_lhs(self, compiler: Any, connection: Any, lhs: Any = None) -> tuple[str, Any]:
            sql, params = super().process_lhs(compiler, connection, lhs)
            if connection.vendor == "mysql":
                sql = f"({sql} COLLATE utf8mb4_general_ci)"
            return sql, params

    IgnoringCase.__name__ = lookup.__name__
    return IgnoringCase


for _lookup in (lookups.IExact, lookups.IContains, lookups.IStartsWith, lookups.IEndsWith):
    ExactCharField.register_lookup(_ignoring_case_on_mysql(_lookup))


def connection_field() -> ExactCharField:
    """The PBX connection (``NOOJEE["PBXES"]``, :mod:`noojee_django.connections`) a row belongs to."""
    return ExactCharField(
        _("PBX connection"),
        max_length=64,
        default="default",
        db_index=True,
        help_text=_("The PBX this belongs to: a name of NOOJEE['PBXES'], or 'default'."),
    )


def recordings_storage() -> Storage:
    """The storage that holds audio: private, chosen by ``NOOJEE['STORAGE_ALIAS']``.

    Django asks for it when the models are defined. A ``NOOJEE`` that is not a dict, or an alias that
    names no storage, must reach ``manage.py check`` as ``noojee.E000``/``noojee.E004`` rather than
    stop the project at import: such a setting gives a storage that refuses every use, saying why.
    """
    try:
        return storages[noojee_settings.STORAGE_ALIAS]
    except (ImproperlyConfigured, InvalidStorageError) as exc:
        return MisconfiguredStorage(str(exc))


class MisconfiguredStorage(Storage):
    """Stands in for the recordings storage while the settings name none: every use says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __getattribute__(self, name: str) -> Any:
        if name in ("reason", "__class__", "__init__", "__repr__", "__dict__"):
            return object.__getattribute__(self, name)
        raise ImproperlyConfigured(
            f"Noojee has no recordings storage: {object.__getattribute__(self, 'reason')}"
        )

    def __repr__(self) -> str:
        return f"<MisconfiguredStorage: {self.reason}>"


def recording_upload_to(instance: Any, filename: str) -> str:
    return timezone.now().strftime(noojee_settings.UPLOAD_TO) + filename


class HandsetBrand(models.TextChoices):
    NONE = "none", _("No auto-answer")
    AASTRA = "aastra", "Aastra"
    GRANDSTREAM = "grandstream", "Grandstream"
    LINKSYS = "linksys", "Linksys"
    POLYCOM = "polycom", "Polycom"
    SNOM = "snom", "Snom"
    SNOM_NEW = "snom_new", _("Snom (newer firmware)")
    YEALINK = "yealink", "Yealink"
    CUSTOM = "custom", _("Custom string")


#: The auto-answer SIP headers Noojee publishes per handset brand (``\\;`` is Asterisk escaping).
AUTO_ANSWER_PRESETS: dict[str, str] = {
    HandsetBrand.AASTRA: "Alert-Info: info=alert-autoanswer",
    HandsetBrand.GRANDSTREAM: "Call-Info:\\\\; answer-after=0",
    HandsetBrand.LINKSYS: "Call-Info:\\\\; answer-after=0",
    HandsetBrand.POLYCOM: "Alert-Info: Ring Answer",
    HandsetBrand.SNOM: "Call-Info:\\\\; answer-after=0",
    HandsetBrand.SNOM_NEW: "Call-Info: <sip:{handset_ip}>\\;answer-after=0",
    HandsetBrand.YEALINK: "Call-Info:\\; answer-after=0",
}


class AgentPhone(models.Model):
    """The handset a CRM user dials and records from."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="noojee_phone"
    )
    connection = connection_field()
    extension = models.CharField(
        max_length=32,
        validators=[extension_validator],
        help_text=_("Technology and extension number, e.g. SIP/101."),
    )
    handset_brand = models.CharField(max_length=16, choices=HandsetBrand.choices, default=HandsetBrand.NONE)
    handset_ip = models.GenericIPAddressField(
        null=True, blank=True, help_text=_("Only for Snom handsets with newer firmware.")
    )
    auto_answer_custom = models.CharField(
        max_length=200,
        blank=True,
        validators=[pbx_text_validator],
        help_text=_("The SIP header to send when the brand is 'Custom string'."),
    )
    login_name = models.CharField(
        max_length=100,
        blank=True,
        validators=[pbx_text_validator],
        help_text=_("Noojee login name that will own the recordings."),
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("agent phone")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "extension"],
                name="noojee_phone_one_per_extension",
                violation_error_message=_("Another agent has this extension on this PBX."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.extension} ({self.user})"

    def clean(self) -> None:
        from .connections import names

        if self.connection not in names():
            raise ValidationError(
                {
                    "connection": _("There is no PBX connection named %(name)s: use one of %(names)s.")
                    % {"name": repr(self.connection), "names": ", ".join(names())}
                }
            )
        if self.handset_brand == HandsetBrand.CUSTOM and not self.auto_answer_custom:
            raise ValidationError(
                {"auto_answer_custom": _("Enter the auto-answer string for a custom brand.")}
            )
        if self.handset_brand == HandsetBrand.SNOM_NEW and not self.handset_ip:
            raise ValidationError({"handset_ip": _("Newer Snom firmware needs the handset's IP address.")})

    @property
    def exten_number(self) -> str:
        """The extension without its technology (``SIP/101`` -> ``101``), as subscribe and hangup want it."""
        return self.extension.split("/", 1)[-1]

    @property
    def auto_answer(self) -> str | None:
        if self.handset_brand == HandsetBrand.NONE:
            return None
        if self.handset_brand == HandsetBrand.CUSTOM:
            return self.auto_answer_custom or None
        return AUTO_ANSWER_PRESETS[self.handset_brand].format(handset_ip=self.handset_ip or "")


class CallSession(models.Model):
    """A click-to-dial call placed through the PBX."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DIALING = "dialing", _("Dialing")
        RINGING = "ringing", _("Ringing")
        CONNECTED = "connected", _("Connected")
        HUNG_UP = "hungup", _("Hung up")
        FAILED = "failed", _("Failed")
        #: placed through a PBX connection with a user key, which may not follow calls (``subscribe``)
        PLACED = "placed", _("Placed (not followed)")

    FINAL_STATUSES = (Status.HUNG_UP, Status.FAILED, Status.PLACED)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="noojee_calls"
    )
    connection = connection_field()
    extension = models.CharField(max_length=32)
    number = models.CharField(max_length=32)
    caller_id = models.CharField(max_length=64, blank=True)
    pbx_session_id = models.BigIntegerField(null=True, blank=True)
    unique_id = models.CharField(_("channel unique id"), max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    pbx_status = models.CharField(_("raw PBX status"), max_length=64, blank=True)
    error = models.TextField(blank=True)
    record = models.BooleanField(default=False)
    tag = ExactCharField(max_length=64, blank=True)
    recording_tag = models.ForeignKey(
        "RecordingTag", null=True, blank=True, on_delete=models.SET_NULL, related_name="call_sessions"
    )
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.CharField(max_length=64, blank=True)
    content_object = GenericForeignKey("content_type", "object_id")
    dial_guard = models.CharField(
        max_length=160,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_(
            "'<extension>><number>' ('<connection>:<extension>><number>' on a named PBX) while the call "
            "is starting: a double click cannot dial twice."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="noojee_call_object_idx"),
            models.Index(fields=["extension", "status"], name="noojee_call_ext_status_idx"),
        ]
        permissions = [("can_dial", "Can place calls through the PBX")]

    def __str__(self) -> str:
        return f"{self.extension} → {self.number} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status not in self.FINAL_STATUSES


class RecordingTag(models.Model):
    """A tagged recording (a voice signature) attached to a CRM object."""

    class Status(models.TextChoices):
        RECORDING = "recording", _("Recording")
        PAUSED = "paused", _("Paused")
        WAITING = "waiting", _("Waiting for audio")
        FETCHING = "fetching", _("Fetching audio")
        ATTACHED = "attached", _("Attached")
        ABSENT = "absent", _("No recording found")
        FAILED = "failed", _("Failed")

    PENDING_STATUSES = (Status.WAITING, Status.FETCHING)
    FINAL_STATUSES = (Status.ATTACHED, Status.ABSENT, Status.FAILED)
    #: A recording in one of these is live: the PBX's legs with its tag are its own.
    LIVE_STATUSES = (Status.RECORDING, Status.PAUSED, Status.WAITING, Status.FETCHING)
    #: The PBX was told to record this call (and was not yet told to stop for good).
    ON_CALL_STATUSES = (Status.RECORDING, Status.PAUSED)

    tag = ExactCharField(max_length=64, db_index=True)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.CharField(max_length=64)
    content_object = GenericForeignKey("content_type", "object_id")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDING)
    connection = connection_field()
    extension = models.CharField(max_length=32, blank=True)
    unique_id = models.CharField(_("call unique id"), max_length=64, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_given = models.BooleanField(
        default=False, help_text=_("The agent confirmed the customer was told the call is recorded.")
    )
    consent_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_confirmed_at = models.DateTimeField(null=True, blank=True)
    script_version = models.ForeignKey(
        "ScriptVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recordings",
        help_text=_("The version of the script the agent was shown."),
    )
    script_text = models.TextField(
        blank=True, help_text=_("The exact text the agent was shown: the recording notice, then the script.")
    )
    script_sha256 = models.CharField(
        max_length=64, blank=True, help_text=_("sha256 of the UTF-8 bytes of the text shown.")
    )
    start_accepted = models.BooleanField(
        default=True,
        help_text=_(
            "The PBX accepted the start, or the tag was claimed (watch_tag, RESOLVE_TAG): only such a "
            "recording receives legs. A recording started from the CRM is False until the PBX says yes."
        ),
    )
    status_reason = models.TextField(blank=True, help_text=_("Why the status last changed."))
    needs_review = models.BooleanField(
        default=False,
        help_text=_("A leg arrived after the signature was kept (held or purged): an operator should look."),
    )
    attempts = models.PositiveIntegerField(default=0, help_text=_("Polls of the PBX for this tag's legs."))
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    legal_hold = models.BooleanField(default=False)
    keep_until = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    attached_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    audio = models.FileField(
        upload_to=recording_upload_to, storage=recordings_storage, blank=True, max_length=255
    )
    audio_size = models.PositiveBigIntegerField(null=True, blank=True)
    audio_sha256 = models.CharField(max_length=64, blank=True)
    audio_duration = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # One live recording per tag: the PBX finds legs by tag, so two at once would share them. The
    # database computes this column from the status; an unconditional unique constraint on it, which
    # every database enforces (MariaDB and MySQL have no conditional one), is the rule.
    live_tag = models.GeneratedField(
        expression=models.Case(
            models.When(status__in=[str(status) for status in LIVE_STATUSES], then=models.F("tag")),
            default=None,
        ),
        output_field=ExactCharField(max_length=64, null=True),
        db_persist=True,
        verbose_name=_("live tag"),
        help_text=_(
            "The tag while the recording is live (recording, paused, waiting or fetching); else empty."
        ),
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="noojee_tag_object_idx"),
            # The sweep asks "which tags are due?": only pending tags have a next_poll_at.
            models.Index(fields=["next_poll_at"], name="noojee_tag_next_poll_idx"),
            models.Index(fields=["status"], name="noojee_tag_status_idx"),
        ]
        # One live recording per tag on each PBX: two PBXs may use the same tag at once.
        constraints = [
            models.UniqueConstraint(fields=["connection", "live_tag"], name="noojee_tag_one_live_recording")
        ]
        permissions = [
            ("can_record", "Can record voice signatures"),
            ("restore_recordingtag", "Can restore purged audio from the PBX"),
            ("export_evidence", "Can export signed evidence bundles of recordings"),
        ]

    def __str__(self) -> str:
        return f"{self.tag} ({self.get_status_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING_STATUSES

    @property
    def is_final(self) -> bool:
        """Attached, absent or failed: nothing more happens unless an operator acts."""
        return self.status in self.FINAL_STATUSES


class Script(models.Model):
    """The words an agent reads before and while recording a kind of record (an invoice, an order).

    Its text lives in :class:`ScriptVersion` rows, one for every change, never edited: a recording
    names the version it was shown. At most one active script per kind of record is shown.
    """

    name = models.CharField(max_length=100)
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.PROTECT,
        verbose_name=_("kind of record"),
        help_text=_("The records this script is read for; its placeholders are their fields."),
    )
    active = models.BooleanField(
        default=True, help_text=_("Shown on the record widget. One active script per kind of record.")
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("script")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.active and self.content_type_id is not None:
            other = (
                Script.objects.filter(content_type_id=self.content_type_id, active=True)
                .exclude(pk=self.pk)
                .first()
            )
            if other is not None:
                raise ValidationError(
                    {
                        "active": _(
                            "%(other)s is the active script for these records already: "
                            "make it inactive first."
                        )
                        % {"other": other.name}
                    }
                )

    @property
    def current_version(self) -> ScriptVersion | None:
        """The newest version: the one the widget shows."""
        return self.versions.order_by("-number").first()


class ScriptVersionQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        if kwargs == {"created_by": None}:  # its author's account was deleted (on_delete=SET_NULL)
            return super().update(**kwargs)
        raise TypeError("Script versions are never changed once written: save a new version.")

    def delete(self) -> Any:
        raise TypeError("Script versions are kept: recordings name the words they were shown.")


class ScriptVersion(models.Model):
    """One text of a :class:`Script`, as it was at one time. Never changed, never deleted.

    ``notice`` is the recording notice the agent reads first ("This call is recorded ..."); ``body``
    is the script read while recording. Both are templates: ``{field}`` stands for the value of one
    of the record's fields (see :mod:`noojee_django.script_template`).
    """

    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    notice = models.TextField(
        _("recording notice"), help_text=_("Read first: that the call is recorded, and why.")
    )
    body = models.TextField(
        _("script"), help_text=_("Read while recording. {field} for a field of the record.")
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScriptVersionQuerySet.as_manager()

    class Meta:
        ordering = ["script", "-number"]
        verbose_name = _("script version")
        constraints = [
            models.UniqueConstraint(fields=["script", "number"], name="noojee_scriptversion_one_number")
        ]

    def __str__(self) -> str:
        return f"{self.script} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Script versions are never changed once written: save a new version.")
        self.notice = normalized(self.notice)
        self.body = normalized(self.body)
        self.clean()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Script versions are kept: recordings name the words they were shown.")

    def clean(self) -> None:
        model = model_of(self.script.content_type) if self.script_id is not None else None
        errors: dict[str, Any] = {}
        for name in ("notice", "body"):
            try:
                validate_template(getattr(self, name), model)
            except ValidationError as exc:
                errors[name] = exc
        if errors:
            raise ValidationError(errors)


class RecordingLeg(models.Model):
    """One leg of a recorded call, as the PBX's metadata describes it, and its audio once fetched."""

    class FetchStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        FETCHING = "fetching", _("Fetching")
        FETCHED = "fetched", _("Fetched")
        REFETCHING = "refetching", _("Fetching again")
        FAILED = "failed", _("Failed")
        GONE = "gone", _("Gone from the PBX")
        PURGED = "purged", _("Audio purged")

    #: Legs whose fetch is still to be done (a worker's claim, or a lost one's, decides who does it).
    UNFINISHED_STATUSES = (FetchStatus.PENDING, FetchStatus.FETCHING, FetchStatus.REFETCHING)

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("Inbound")
        OUTBOUND = "outbound", _("Outbound")
        INTERNAL = "internal", _("Internal")
        UNKNOWN = "unknown", _("Unknown")

    recording_tag = models.ForeignKey(
        RecordingTag,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legs",
        help_text=_(
            "Empty for a leg nobody started here and RESOLVE_TAG did not place: an operator's to attach."
        ),
    )
    tag = ExactCharField(max_length=64, blank=True, help_text=_("The tag the PBX stored with the leg."))
    connection = connection_field()
    call_record_id = models.BigIntegerField(help_text=_("The PBX's number for the leg: unique on each PBX."))
    leg = models.PositiveIntegerField()
    unique_id = models.CharField(_("call unique id"), max_length=64)
    start = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(help_text=_("Seconds, as the PBX reports them."))
    source = models.CharField(max_length=64, blank=True)
    destination = models.CharField(max_length=64, blank=True)
    did = models.CharField("DID", max_length=64, blank=True)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.UNKNOWN)
    owner = models.CharField(max_length=100, blank=True, help_text=_("Noojee user that owns the leg."))
    fetch_status = models.CharField(max_length=16, choices=FetchStatus.choices, default=FetchStatus.PENDING)
    fetch_attempts = models.PositiveIntegerField(default=0)
    not_ready_count = models.PositiveIntegerField(
        default=0, help_text=_("Downloads the PBX answered 'still in progress': the backoff grows with it.")
    )
    kept_aside = models.BooleanField(
        default=False,
        help_text=_("Arrived after the signature was held or purged: stored beside it, not joined into it."),
    )
    status_reason = models.TextField(blank=True, help_text=_("Why the fetch status last changed."))
    fetched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    audio = models.FileField(
        upload_to=recording_upload_to, storage=recordings_storage, blank=True, max_length=255
    )
    audio_size = models.PositiveBigIntegerField(null=True, blank=True)
    audio_sha256 = models.CharField(max_length=64, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    measured_duration = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["recording_tag", "leg", "call_record_id"]
        indexes = [models.Index(fields=["fetch_status"], name="noojee_leg_fetch_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "call_record_id"], name="noojee_leg_one_per_record_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tag or '(no tag)'} leg {self.leg} (#{self.call_record_id})"


class StoredAudio(models.Model):
    """The audio ledger: one row for every object the app ever wrote to the recordings storage.

    A leg's audio and a signature are each an object; a re-fetch or a new join writes a new one and
    switches to it only once it is verified, and a purge deletes what the ledger holds as live. So
    storage holds exactly the live rows, and a deleted row says when its object went.
    """

    class Kind(models.TextChoices):
        LEG = "leg", _("Leg audio")
        SIGNATURE = "signature", _("Voice signature")

    class Integrity(models.TextChoices):
        UNCHECKED = "unchecked", _("Not checked yet")
        OK = "ok", _("Intact")
        MISMATCH = "mismatch", _("Altered (size or sha256 differ)")
        MISSING = "missing", _("Missing from storage")

    #: What the admin's filter and the check noojee.W011 call damaged.
    DAMAGED = (Integrity.MISMATCH, Integrity.MISSING)

    recording_tag = models.ForeignKey(
        RecordingTag, null=True, blank=True, on_delete=models.CASCADE, related_name="stored_audio"
    )
    leg = models.ForeignKey(
        RecordingLeg, null=True, blank=True, on_delete=models.CASCADE, related_name="stored_audio"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(
        _("storage name"),
        max_length=255,
        db_index=True,
        help_text=_("Storage may give a deleted object's name to a new one: unique among live objects only."),
    )
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    crc32 = models.PositiveBigIntegerField(
        _("CRC-32"),
        null=True,
        blank=True,
        help_text=_(
            "The CRC-32 of the bytes as written (an evidence bundle's ZIP checksum). Empty for an object "
            "stored before it was recorded, until the integrity scrub reads it back intact."
        ),
    )
    sources = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("For a signature: the CallRecordIds joined into it, in order."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=200, blank=True)
    # What the integrity scrub last found: the object read back from storage against size and sha256.
    integrity = models.CharField(
        max_length=16,
        choices=Integrity.choices,
        default=Integrity.UNCHECKED,
        help_text=_("What the last integrity scrub found in storage. The scrub flags; it never deletes."),
    )
    integrity_checked_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the scrub last read this object, whatever it found.")
    )
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the scrub last found exactly the ledger's bytes.")
    )
    integrity_detail = models.CharField(
        max_length=300, blank=True, help_text=_("What the scrub found wrong, in words.")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("stored audio object")
        indexes = [
            models.Index(fields=["recording_tag", "deleted_at"], name="noojee_stored_tag_live_idx"),
            # The scrub's walk: live objects, the one read longest ago first.
            models.Index(fields=["deleted_at", "integrity_checked_at", "id"], name="noojee_stored_scrub_idx"),
            models.Index(fields=["integrity"], name="noojee_stored_integrity_idx"),
        ]

    def __str__(self) -> str:
        state = "deleted" if self.deleted_at else "live"
        return f"{self.get_kind_display()} {self.name} ({state})"

    @property
    def is_live(self) -> bool:
        return self.deleted_at is None


class ChainedLogRow(models.Model):
    """A row of a hash-chained log: it carries the hash of the row before it in its chain, and its own.

    Rows are appended only by :func:`noojee_django.log_chain.append` (``objects.create()`` and
    ``save()`` of a new row go through it; ``bulk_create`` and saving an existing row are refused), so
    each chain is one unbroken sequence. ``noojee_django.log_chain.verify_log`` walks the chains.
    """

    chain = models.CharField(
        max_length=40,
        blank=True,
        editable=False,
        help_text=_("The chain this row belongs to: 'recording:<id>' (or 'leg:<id>' for a leg of none)."),
    )
    sequence = models.PositiveBigIntegerField(
        null=True, blank=True, editable=False, help_text=_("Its place in its chain, from 1, without gaps.")
    )
    previous_hash = models.CharField(
        max_length=64, blank=True, editable=False, help_text=_("The hash of the row before it in its chain.")
    )
    row_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("sha256 over this row's fields and the previous hash."),
    )

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_appending_to_chain", False):
            super().save(*args, **kwargs)
            return
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are a log: they are never changed once written.")
        from .log_chain import append_instance

        append_instance(self, using=kwargs.get("using"))


class ChainedLogQuerySet(models.QuerySet[Any]):
    def bulk_create(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self.model.__name__} rows are hash-chained: append them one by one with "
            "noojee_django.log_chain.append()."
        )


class LogChain(models.Model):
    """The head of one hash chain: how long it is and the hash of its last row.

    Appending locks this row, so two writers cannot both take the same place; and a chain whose last
    rows were deleted is told apart from a shorter chain.
    """

    class Log(models.TextChoices):
        TRANSITIONS = "transition", _("Recording history")
        ACCESSES = "access", _("Access log")

    log = models.CharField(max_length=16, choices=Log.choices)
    chain = models.CharField(max_length=40)
    length = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["log", "chain"], name="noojee_logchain_one_head")]
        verbose_name = _("log chain head")

    def __str__(self) -> str:
        return f"{self.get_log_display()} {self.chain}: {self.length} rows"


class RecordingTransition(ChainedLogRow):
    """The history of a recording: every status change of it and of its legs, with the reason."""

    recording_tag = models.ForeignKey(
        RecordingTag, null=True, blank=True, on_delete=models.CASCADE, related_name="transitions"
    )
    leg = models.ForeignKey(
        RecordingLeg, null=True, blank=True, on_delete=models.CASCADE, related_name="transitions"
    )
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_pk = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("The actor's primary key as written: hashed, and kept when the user is deleted."),
    )

    objects = ChainedLogQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="noojee_transition_chain_place")
        ]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class RecordingPause(models.Model):
    """One secure pause of a recording: the span of the call the PBX was told not to record.

    The PBX is told ``stop`` when it begins and ``start`` (same tag, same call) when it ends; the
    audio of the span never exists. A pause ends by a resume (the agent's, or automatic after
    ``PAUSE_MAX_SECONDS``), or with the recording (stopped, or its call ended while paused).
    """

    class Ending(models.TextChoices):
        RESUMED = "resumed", _("Resumed")
        RESUMED_AUTOMATICALLY = "resumed_automatically", _("Resumed automatically")
        ENDED = "ended", _("The recording ended while paused")

    recording_tag = models.ForeignKey(RecordingTag, on_delete=models.CASCADE, related_name="pauses")
    started_at = models.DateTimeField(default=timezone.now)
    resume_due_at = models.DateTimeField(
        help_text=_(
            "When the recording resumes by itself (PAUSE_MAX_SECONDS after the pause) unless resumed before."
        )
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_how = models.CharField(max_length=32, choices=Ending.choices, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True, help_text=_("Why the agent paused (card details)."))

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["ended_at", "resume_due_at"], name="noojee_pause_open_idx")]

    def __str__(self) -> str:
        return f"{self.recording_tag_id}: {self.started_at:%H:%M:%S}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def resumed_automatically(self) -> bool:
        return self.ended_how == self.Ending.RESUMED_AUTOMATICALLY

    @property
    def seconds(self) -> float | None:
        """How long the call went unrecorded (``None`` while the pause goes on)."""
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at is not None else None


class RecordingAttempt(models.Model):
    """One conversation with the PBX about a tag: a poll of its metadata or a fetch of a leg's audio."""

    class Action(models.TextChoices):
        POLL = "poll", _("Poll metadata")
        FETCH = "fetch", _("Fetch audio")
        RECONCILE = "reconcile", _("Hourly reconcile")

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        NOT_READY = "not_ready", _("Not ready yet")
        NO_LEGS = "no_legs", _("No legs yet")
        GONE = "gone", _("Gone")
        ERROR = "error", _("Error")

    recording_tag = models.ForeignKey(RecordingTag, on_delete=models.CASCADE, related_name="attempts_log")
    leg = models.ForeignKey(
        RecordingLeg, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.get_outcome_display()}"


class RecordingAccess(ChainedLogRow):
    """Who listened to or downloaded which audio, and when: the compliance trail."""

    class Action(models.TextChoices):
        PLAY = "play", _("Played")
        DOWNLOAD = "download", _("Downloaded")
        EVIDENCE = "evidence", _("Exported as evidence")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    recording_tag = models.ForeignKey(RecordingTag, on_delete=models.CASCADE, related_name="accesses")
    leg = models.ForeignKey(
        RecordingLeg, null=True, blank=True, on_delete=models.CASCADE, related_name="accesses"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    byte_range = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user_pk = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("The user's primary key as written: hashed, and kept when the user is deleted."),
    )

    objects = ChainedLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("recording accesses")
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="noojee_access_chain_place")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.get_action_display()} {self.recording_tag.tag}"


class ListenerCursor(models.Model):
    """Where the call-state listener is in the PBX's event stream, so a restart neither loses nor repeats.

    ``subscribe`` numbers events with one counter for the whole PBX; the listener stores the last
    ``seq`` it applied after every reply.
    """

    name = models.CharField(max_length=64, unique=True, default="default")
    last_sequence_number = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: seq {self.last_sequence_number}"


class BackfillProgress(models.Model):
    """How far ``manage.py noojee_backfill`` walked one range of PBX hours.

    Saved after every completed hour, so a run stopped by Ctrl-C, a deploy or a crash continues with
    the first hour it had not finished (that hour is asked again; its legs already here are left
    alone). One row per range as typed: the same command finds its row again. A range without an end
    (``last_hour`` empty) runs to the current hour each time.
    """

    key = models.CharField(max_length=100, unique=True, help_text=_("The range, in PBX-local hours."))
    time_zone = models.CharField(max_length=64, help_text=_("The PBX time zone the range was read in."))
    first_hour = models.DateTimeField(help_text=_("Start of the first hour asked."))
    last_hour = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Start of the last hour asked; empty: the current hour of each run."),
    )
    next_hour = models.DateTimeField(help_text=_("Start of the first hour not completed yet."))
    hours_done = models.PositiveIntegerField(default=0)
    legs_found = models.PositiveIntegerField(default=0, help_text=_("Tagged legs nobody here knew."))
    legs_attached = models.PositiveIntegerField(default=0)
    legs_unattached = models.PositiveIntegerField(default=0, help_text=_("Kept for an operator to attach."))
    legs_known = models.PositiveIntegerField(default=0, help_text=_("Listed, and already here: left alone."))
    rate_limited = models.PositiveIntegerField(default=0, help_text=_("Times the PBX said 'too soon'."))
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text=_("When a run last reached the end."))

    class Meta:
        verbose_name = _("backfill progress")
        verbose_name_plural = _("backfill progress")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.key}: {self.hours_done} hour(s) done"
