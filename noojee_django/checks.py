"""System checks: a misconfiguration shows at ``manage.py check``, not at the first phone call.

Ids are stable and documented in ``docs/settings.md``.

The messages and hints stay in English, untranslated, as Django's own checks do: they are read by
whoever deploys, and searched for by their text as much as by their id.
"""

from __future__ import annotations

import logging
import zoneinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, models, router

from . import connections as pbx_connections
from . import signing
from .conf import DEFAULTS, noojee_settings, problems, user_settings

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_LEAKY_LOGGERS = ("urllib3", "urllib3.connectionpool", "requests", "noojee_django.client")


def _storage_has_urls(alias: str) -> bool:
    from django.core.files.storage import storages

    try:
        storages[alias].url("noojee-check.wav")
    except Exception:  # no URL (PrivateFileSystemStorage), or none without network: fine
        return False
    return True


#: Canned ACLs that let someone other than the bucket's owner read an object.
_READABLE_ACLS = ("public-read", "public-read-write", "authenticated-read")


def _bucket_url_risks(alias: str) -> list[str] | None:
    """For a bucket storage (django-storages' ``S3Storage`` and its kin), the options that would let an
    object's URL work for whoever holds it; ``None`` for a storage without such options.

    A private bucket's unsigned URL is refused by S3 itself, so only these options make a URL leak.
    """
    from django.core.files.storage import storages

    try:
        storage: Any = storages[alias]
    except Exception:  # a storage that cannot be built here: E004, or the storage's own error
        return None
    if not all(hasattr(storage, name) for name in ("querystring_auth", "default_acl", "custom_domain")):
        return None
    risks = []
    if storage.querystring_auth:
        risks.append(
            "querystring_auth is True (django-storages' default when unset): url() signs links that "
            "work for anyone holding them until they expire"
        )
    if storage.custom_domain:
        risks.append(f"custom_domain = {storage.custom_domain!r}: url() links through that domain")
    object_acl = (getattr(storage, "object_parameters", None) or {}).get("ACL")
    for name, acl in (("default_acl", storage.default_acl), ("object_parameters['ACL']", object_acl)):
        if acl in _READABLE_ACLS:
            risks.append(f"{name} = {acl!r}: every object can be read without the app")
    return risks


def _served_root(alias: str) -> str | None:
    """The setting (``MEDIA_ROOT``, ``STATIC_ROOT``) of a folder web servers serve that holds the audio.

    A private storage inside one has no URL of its own, yet every file in it is served by path, and
    recordings' paths are easy to guess (date folders, the tag).
    """
    from django.core.files.storage import storages

    try:
        location = getattr(storages[alias], "location", None)
    except Exception:  # a storage that cannot be built here is not a folder on this disk
        return None
    if not location:
        return None
    folder = Path(location).resolve()
    for name in ("MEDIA_ROOT", "STATIC_ROOT"):
        root = getattr(settings, name, None)
        if root and folder.is_relative_to(Path(root).resolve()):
            return name
    return None


#: Cache backends whose entries one process cannot see from another (or that keep nothing at all).
_PROCESS_LOCAL_CACHES = {"LocMemCache", "DummyCache"}


@register(Tags.compatibility, "noojee")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    wrong = problems()
    if wrong:  # the values themselves: the other checks read them, so they wait until these are fixed
        return [
            Error(
                p.message,
                hint=None if p.check_id == "noojee.E000" else "See docs/settings.md.",
                id=p.check_id,
            )
            for p in wrong
        ] + _unknown_keys()

    for connection in pbx_connections.all_connections():
        messages += _connection_messages(connection)

    alias = noojee_settings.STORAGE_ALIAS
    storages_setting = getattr(settings, "STORAGES", {})
    if alias not in storages_setting:
        messages.append(
            Error(
                f"NOOJEE['STORAGE_ALIAS'] = {alias!r} is not a key of settings.STORAGES.",
                hint="Add a private storage for recordings to STORAGES and name it here.",
                id="noojee.E004",
            )
        )
    elif noojee_settings.ALLOW_AUDIO_URLS:
        pass
    elif (risks := _bucket_url_risks(alias)) is not None:
        if risks:
            messages.append(
                Warning(
                    f"The recordings storage {alias!r} would give audio URLs that bypass the playback "
                    f"views: {'; '.join(risks)}.",
                    hint="Set OPTIONS querystring_auth=False, no custom_domain, default_acl 'private' (or "
                    "None); or NOOJEE['ALLOW_AUDIO_URLS'] = True if the project means to hand out URLs.",
                    id="noojee.W009",
                )
            )
    elif _storage_has_urls(alias):
        messages.append(
            Warning(
                f"The recordings storage {alias!r} gives files URLs; audio must reach users only through "
                "the playback views.",
                hint="Use noojee_django.storage.PrivateFileSystemStorage, or a private bucket with signed "
                "URLs that nothing publishes; silence noojee.W005 once you have checked.",
                id="noojee.W005",
            )
        )
    served_root = _served_root(alias) if alias in storages_setting else None
    if served_root:
        messages.append(
            Warning(
                f"The recordings storage {alias!r} keeps its files inside {served_root}, which web servers "
                "serve: the audio would be public to anyone who guesses a path.",
                hint=f"Give it a location outside {served_root} (and outside STATIC_ROOT and MEDIA_ROOT).",
                id="noojee.W006",
            )
        )
    if alias == "default":
        messages.append(
            Warning(
                "Recordings are stored in the default storage, which web servers often serve publicly.",
                hint="Add a private storage (no base_url, outside MEDIA_ROOT) and name it in "
                "NOOJEE['STORAGE_ALIAS'].",
                id="noojee.W004",
            )
        )

    for hook in ("MAY_DIAL", "MAY_RECORD", "MAY_HEAR", "RESOLVE_TAG", "CLIENT_ADDRESS"):
        try:
            noojee_settings.hook(hook)
        except ImproperlyConfigured as exc:
            messages.append(Error(str(exc), id="noojee.E007"))

    if noojee_settings.RETENTION_DAYS is not None:
        schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}
        tasks = {entry.get("task") for entry in schedule.values() if isinstance(entry, dict)}
        if "noojee_django.purge_expired_recordings" not in tasks:
            messages.append(
                Warning(
                    "NOOJEE['RETENTION_DAYS'] is set but no beat schedule runs the purge.",
                    hint="CELERY_BEAT_SCHEDULE = {**noojee_django.beat.beat_schedule(), ...}",
                    id="noojee.W001",
                )
            )

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}
    scheduled = {entry.get("task") for entry in schedule.values() if isinstance(entry, dict)}
    if any(str(task).startswith("noojee_django.") for task in scheduled):
        from .beat import beat_schedule

        missing = sorted({entry["task"] for entry in beat_schedule().values()} - scheduled)
        if missing:
            messages.append(
                Warning(
                    "CELERY_BEAT_SCHEDULE runs some of the app's periodic tasks but not "
                    f"{', '.join(missing)}.",
                    hint="Without the live-call sweep, a call hung up without Stop is collected only "
                    "while noojee_listen runs; without the due-tag sweep, lost polls are never sent "
                    "again; without the integrity scrub, altered or lost audio goes unnoticed. "
                    "CELERY_BEAT_SCHEDULE = {**noojee_django.beat.beat_schedule(), ...}",
                    id="noojee.W008",
                )
            )

    for name in _LEAKY_LOGGERS:
        if logging.getLogger(name).isEnabledFor(logging.DEBUG) and name.startswith("urllib3"):
            messages.append(
                Warning(
                    f"Logger {name!r} logs at DEBUG: request lines may reach your log handlers.",
                    hint="The app masks apiKey and hash in what it logs; keep urllib3 at INFO or above "
                    "in production.",
                    id="noojee.W002",
                )
            )
            break

    messages += _evidence_signing_key()

    backend = str((getattr(settings, "CACHES", {}) or {}).get("default", {}).get("BACKEND", ""))
    if backend.rsplit(".", 1)[-1] in _PROCESS_LOCAL_CACHES:
        messages.append(
            Warning(
                f"The default cache ({backend.rsplit('.', 1)[-1]}) is not shared between processes.",
                hint="The web server then never sees the call listener's heartbeat (every status view "
                "asks the PBX for a snapshot instead), and the once-a-minute reconcile lock does not "
                "hold across workers. Use Redis, Memcached or the database cache.",
                id="noojee.W007",
            )
        )

    return messages + _unknown_keys()


def _connection_messages(connection: pbx_connections.Connection) -> list[CheckMessage]:
    """E001, E002, E003, E006 and E021 for one PBX connection, naming its keys."""
    messages: list[CheckMessage] = []
    label = connection.key("BASE_URL")
    base_url = connection.BASE_URL
    if not base_url:
        env = " or set NOOJEE_BASE_URL" if connection.name == pbx_connections.DEFAULT else ""
        messages.append(
            Error(
                f"{label} is not set.",
                hint=f"Set it to your PBX, e.g. 'https://pbx.example.com'{env}.",
                id="noojee.E001",
            )
        )
    else:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            messages.append(Error(f"{label} is not an http(s) URL: {base_url!r}.", id="noojee.E001"))
        elif parts.path.strip("/") or parts.query or parts.fragment:
            messages.append(
                Error(
                    f"{label} must be the PBX's address only, with no path or query: {base_url!r}.",
                    hint="The method paths are settings of their own (CALL_API_PATH, RECORDING_API_PATH); "
                    f"use {parts.scheme}://{parts.netloc}",
                    id="noojee.E001",
                )
            )
        elif parts.scheme == "http" and not settings.DEBUG and parts.hostname not in _LOOPBACK:
            messages.append(
                Error(
                    f"{label} uses http:// outside DEBUG: the API key would cross the network in clear.",
                    hint="Use https://; Noojee only accepts HTTPS in production.",
                    id="noojee.E003",
                )
            )
    if not connection.API_KEY:
        if connection.name == pbx_connections.DEFAULT:
            messages.append(
                Error(
                    "No Noojee API key is configured.",
                    hint="Set the NOOJEE_API_KEY environment variable, or NOOJEE['API_KEY'] read from the "
                    "environment.",
                    id="noojee.E002",
                )
            )
        else:
            messages.append(
                Error(
                    f"No API key is configured for the PBX connection {connection.name!r}.",
                    hint=f"Set {connection.key_source}.",
                    id="noojee.E002",
                )
            )
    try:
        zoneinfo.ZoneInfo(connection.PBX_TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        messages.append(
            Error(
                f"{connection.key('PBX_TIME_ZONE')} = {connection.PBX_TIME_ZONE!r} is not a known time zone.",
                id="noojee.E006",
            )
        )
    if connection.is_user_key:
        messages.append(
            Warning(
                f"{connection.key('KEY_KIND')} = 'user': this PBX will not tell the CRM when its calls are "
                "answered or end (a user key may not call subscribe).",
                hint="Its calls show as placed, with no progress; a recording ends when the agent presses "
                "Stop, or UNFOLLOWED_RECORDING_MAX seconds after it started; noojee_listen and the "
                "live-call sweep leave it alone. Silence noojee.W021 once that is what you want.",
                id="noojee.W021",
            )
        )
    return messages


def _evidence_signing_key() -> list[CheckMessage]:
    """E010 for a signing key that cannot be read (never showing it); no key at all is W010, a
    deployment check (:func:`check_evidence_signing_key`): a project may run without evidence export."""
    try:
        signing.signing_key()
    except signing.NoSigningKey:
        return []
    except signing.UnreadableSigningKey as exc:
        return [Error(str(exc), hint="See docs/evidence.md.", id="noojee.E010")]
    return []


@register(Tags.security, "noojee", deploy=True)
def check_evidence_signing_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: W010 when no evidence signing key is configured."""
    if problems():
        return []  # check_settings reports them
    try:
        signing.signing_key()
    except signing.NoSigningKey:
        return [
            Warning(
                "No evidence signing key is configured: evidence bundles cannot be exported.",
                hint=f"Set the {signing.ENVIRONMENT_VARIABLE} environment variable (manage.py "
                "noojee_evidence_key --generate makes a key); see docs/evidence.md.",
                id="noojee.W010",
            )
        ]
    except signing.UnreadableSigningKey:
        return []  # E010, from check_settings
    return []


def _unknown_keys() -> list[CheckMessage]:
    try:
        unknown = sorted(set(user_settings()) - set(DEFAULTS))
    except ImproperlyConfigured:  # not a dict: E000 says so
        return []
    if not unknown:
        return []
    return [
        Warning(
            f"Unknown NOOJEE key(s): {', '.join(unknown)}.", hint="See docs/settings.md.", id="noojee.W003"
        )
    ]


def _readable(alias: str, model: type[models.Model], column: str) -> bool:
    """Whether ``model``'s table on database ``alias`` exists with ``column``: a database check says
    nothing about a database not (or not yet) migrated that far (``migrate`` runs the checks first)."""
    if not router.allow_migrate_model(alias, model):
        return False
    connection = connections[alias]
    table = model._meta.db_table
    try:
        with connection.cursor() as cursor:
            if table not in connection.introspection.table_names(cursor):
                return False
            columns = {c.name for c in connection.introspection.get_table_description(cursor, table)}
    except DatabaseError:
        return False
    return column in columns


@register(Tags.database, "noojee", deploy=False)
def check_stored_audio_integrity(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """noojee.W011: the integrity scrub has flagged stored audio as altered or missing.

    It reads the database, so, like Django's own database checks, it runs only when asked for
    databases: ``manage.py check --database default`` (and ``migrate``, where the table or its columns
    may not exist yet: then it says nothing).
    """
    from .models import StoredAudio

    messages: list[CheckMessage] = []
    for alias in databases or ():
        if not _readable(alias, StoredAudio, "integrity"):
            continue
        try:
            damaged = dict(
                StoredAudio.objects.using(alias)
                .filter(deleted_at__isnull=True, integrity__in=StoredAudio.DAMAGED)
                .values_list("integrity")
                .annotate(count=models.Count("pk"))
                .order_by()
            )
        except DatabaseError:  # a database being migrated: the scrub's columns are not there yet
            continue
        if not damaged:
            continue
        found = ", ".join(f"{damaged[kind]} {kind}" for kind in StoredAudio.DAMAGED if kind in damaged)
        messages.append(
            Warning(
                f"The integrity scrub found stored audio altered or gone in database {alias!r}: {found}.",
                hint="The admin lists them (stored audio objects, filtered by integrity). Restore them "
                "from a backup under the same name; the next scrub of each marks it ok again.",
                id="noojee.W011",
            )
        )
    return messages


@register(Tags.database, "noojee", deploy=False)
def check_work_on_unknown_connections(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """noojee.W022: rows with work left (an active phone, a call not ended, a recording not final, a
    leg not yet stored) on a PBX connection that ``NOOJEE['PBXES']`` no longer defines: each task
    for them fails until the connection is defined again. Rows whose work is done are left alone (a
    bundle of an old recording still exports). A database check, like ``noojee.W011``.
    """
    from .models import AgentPhone, CallSession, RecordingLeg, RecordingTag

    working: list[tuple[str, type[models.Model], models.Q]] = [
        ("active phones", AgentPhone, models.Q(is_active=True)),
        ("calls not ended", CallSession, ~models.Q(status__in=CallSession.FINAL_STATUSES)),
        ("recordings not final", RecordingTag, models.Q(status__in=RecordingTag.LIVE_STATUSES)),
        ("legs not stored", RecordingLeg, models.Q(fetch_status__in=RecordingLeg.UNFINISHED_STATUSES)),
    ]
    try:
        known = pbx_connections.names()
    except ImproperlyConfigured:  # a wrong PBXES is noojee.E020's to report
        return []
    messages: list[CheckMessage] = []
    for alias in databases or ():
        found: dict[str, list[str]] = {}
        for what, model, pending in working:
            if not _readable(alias, model, "connection"):
                continue
            try:
                counts = (
                    model._default_manager.using(alias)
                    .filter(pending)
                    .exclude(connection__in=known)
                    .values_list("connection")
                    .annotate(count=models.Count("pk"))
                    .order_by("connection")
                )
                for name, count in counts:
                    found.setdefault(name, []).append(f"{count} {what}")
            except DatabaseError:
                continue
        for name, counts in sorted(found.items()):
            messages.append(
                Warning(
                    f"Database {alias!r} has work on PBX connection {name!r}, which NOOJEE['PBXES'] "
                    f"does not define: {', '.join(counts)}. Its tasks fail until it is defined again.",
                    hint=f"Define {name!r} in NOOJEE['PBXES'] again (with its address and key) until its "
                    "calls have ended and their recordings are stored; deactivate its agents' phones in "
                    "the admin.",
                    id="noojee.W022",
                )
            )
    return messages
