"""Fetching: downloading each leg's audio into a new ledger object, and joining the signature.

Nothing stored is ever replaced in place. A download goes to a new object and the leg points at it
only once it verified; a re-fetch that fails leaves the stored audio and the recording exactly as
they were, and says why. A held or purged recording's objects are never rewritten: a late leg on one
is stored beside it (``kept_aside``) and the recording is flagged for an operator.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import ledger
from ..client import NoojeeClient
from ..client import errors as client_errors
from ..conf import noojee_settings
from ..exceptions import InvalidState, TransitionRefused
from ..lifecycle import transition
from ..models import RecordingAttempt, RecordingLeg, RecordingTag, StoredAudio
from ..pbx import get_client
from ..stitching import GapMark, StitchError, stitch_wavs
from ..timeline import pause_marks
from . import reachability
from .base import backoff_delay, fetch_lease, log_attempt, logger, safe_name, schedule_fetch

Leg = RecordingLeg.FetchStatus


@dataclass(frozen=True)
class FetchResult:
    outcome: str
    retry_in: float | None = None


def fetch_leg(leg_id: int) -> FetchResult:
    """Download one leg's audio, verify it, and store it; at most one successful fetch per leg.

    The leg is claimed with a compare-and-set on its status, so two workers racing for it cannot both
    download it; a claim older than ``FETCH_LEASE`` seconds is taken to belong to a lost worker. A claim
    is numbered by ``fetch_attempts``: whatever a download ends with (stored, not ready, gone, failed) is
    written only while the leg still carries its claim, so a worker whose lease passed to another (its
    download outlived ``FETCH_LEASE``) changes nothing the other did. A leg claimed more than
    ``MAX_FETCH_ATTEMPTS`` times fails instead of being downloaded again, whether its downloads failed or
    never finished (workers killed by it, downloads always slower than the lease): it must not be
    fetched forever. The audio streams into a temporary file and reaches storage only once the client
    has verified the WAV.

    A leg an operator asked to fetch again (``refetching``) keeps its audio until the new one is stored.
    """
    leg = RecordingLeg.objects.filter(pk=leg_id).select_related("recording_tag").first()
    if leg is None or leg.recording_tag is None:
        return FetchResult("skipped")
    stale = timezone.now() - fetch_lease()
    if not _claimable(leg, stale):
        return FetchResult("skipped")
    client = get_client(leg.connection)
    # A download holds its slot for as long as its claim lasts, at most.
    hold = min(reachability.request_hold(client), fetch_lease().total_seconds())
    with ExitStack() as held:
        turn = held.enter_context(reachability.turn_to_ask(leg.connection, hold=hold))
        if turn.wait is not None:  # its PBX is down or busy: claim nothing, spend nothing, try later
            return _wait_for_pbx(leg, turn)
        return _claim_and_fetch(leg, stale, client, turn, held)


def _claim_and_fetch(
    leg: RecordingLeg, stale: dt.datetime, client: NoojeeClient, turn: reachability.Turn, held: ExitStack
) -> FetchResult:
    """:func:`fetch_leg` once it may ask the PBX: claim, download, store; ``held`` (the turn) is let go
    before the join."""
    refetch = leg.fetch_status == Leg.REFETCHING
    if refetch:
        claimed = transition(
            leg,
            Leg.REFETCHING,
            reason="a worker claims the re-fetch",
            where=Q(fetch_attempts=0) | Q(updated_at__lt=stale),
            strict=False,
            fetch_attempts=F("fetch_attempts") + 1,
        )
    else:
        claimed = transition(
            leg,
            Leg.FETCHING,
            reason="a worker claims the download",
            expect=[Leg.PENDING, Leg.FETCHING],
            where=Q(fetch_status=Leg.PENDING) | Q(updated_at__lt=stale),
            strict=False,
            fetch_attempts=F("fetch_attempts") + 1,
        )
    if not claimed:
        return FetchResult("skipped")
    recording_tag = leg.recording_tag
    assert recording_tag is not None
    mine = Q(fetch_status=leg.fetch_status, fetch_attempts=leg.fetch_attempts)
    if refetch and (recording_tag.legal_hold or recording_tag.purged_at is not None):
        return _end_refetch(leg, mine, "the recording is on legal hold or purged: its audio stays as it is")
    if not refetch and leg.fetch_attempts > noojee_settings.MAX_FETCH_ATTEMPTS:
        return _give_up_fetching(leg, mine)
    started = time.monotonic()
    try:
        with _temporary_file() as tmp:
            info = client.download_leg(
                tmp, unique_id=leg.unique_id, leg=leg.leg, call_record_id=leg.call_record_id
            )
            stored = _store_new_object(
                tmp,
                leg,
                f"{safe_name(recording_tag.tag)}-{leg.call_record_id}.wav",
                kind=StoredAudio.Kind.LEG,
                size=info.bytes_written,
                sha256=info.sha256,
                crc32=info.crc32,
                recording_tag=recording_tag,
                leg=leg,
            )
    except client_errors.NoojeeError as exc:
        turn.failed(exc)
        held.close()
        if refetch:
            log_attempt(
                recording_tag,
                RecordingAttempt.Action.FETCH,
                _outcome_of(exc),
                leg=leg,
                error=exc,
                started=started,
            )
            return _end_refetch(leg, mine, f"the re-fetch failed, the stored audio stays: {exc}")
        return _after_failed_fetch(leg, mine, exc, started)

    turn.answered()
    held.close()
    previous = leg.audio.name if leg.audio else ""
    switched = transition(
        leg,
        Leg.FETCHED,
        reason="re-fetched: the new audio replaced the old" if refetch else "downloaded and verified",
        where=mine,
        strict=False,
        audio=stored.name,
        audio_size=info.bytes_written,
        audio_sha256=info.sha256,
        sample_rate=info.sample_rate,
        channels=info.channels,
        measured_duration=info.duration_seconds,
        fetched_at=timezone.now(),
        last_error="",
    )
    if not switched:  # the claim passed to another worker meanwhile: keep theirs, drop ours
        ledger.delete(stored, "a newer claim stored this leg")
        return FetchResult("skipped")
    if previous and previous != stored.name:
        _delete_quietly(previous, "replaced by a re-fetch")
    log_attempt(
        recording_tag,
        RecordingAttempt.Action.FETCH,
        RecordingAttempt.Outcome.OK,
        leg=leg,
        message=f"{info.bytes_written} bytes, {info.duration_seconds:.1f} s",
        started=started,
    )
    join_if_complete(recording_tag.pk)
    return FetchResult(RecordingAttempt.Outcome.OK)


def _claimable(leg: RecordingLeg, stale: dt.datetime) -> bool:
    """Whether a claim of ``leg`` could be had now (what the claims below ask, without taking one)."""
    if leg.fetch_status == Leg.PENDING:
        return True
    if leg.fetch_status == Leg.REFETCHING:
        return leg.fetch_attempts == 0 or leg.updated_at < stale
    return leg.fetch_status == Leg.FETCHING and leg.updated_at < stale


def _wait_for_pbx(leg: RecordingLeg, turn: reachability.Turn) -> FetchResult:
    """The leg's PBX is down or busy: its download is sent again for after the wait (and the leg's
    backoff), claiming nothing and spending none of its attempts."""
    assert leg.recording_tag is not None and turn.wait is not None
    log_attempt(
        leg.recording_tag,
        RecordingAttempt.Action.FETCH,
        RecordingAttempt.Outcome.ERROR,
        leg=leg,
        message=turn.message,
        error_kind=turn.kind,
    )
    delay = max(backoff_delay(leg.fetch_attempts), turn.wait + random.uniform(0, 1))
    schedule_fetch(leg.pk, countdown=delay)
    return FetchResult("skipped", retry_in=delay)


def _outcome_of(exc: client_errors.NoojeeError) -> str:
    if isinstance(exc, client_errors.RecordingNotReady):
        return RecordingAttempt.Outcome.NOT_READY
    if isinstance(exc, client_errors.NotFoundError):
        return RecordingAttempt.Outcome.GONE
    return RecordingAttempt.Outcome.ERROR


def _end_refetch(leg: RecordingLeg, mine: Q, reason: str) -> FetchResult:
    """A re-fetch that did not store new audio: the leg is as it was, with the reason."""
    transition(leg, Leg.FETCHED, reason=reason, where=mine, strict=False, last_error=reason)
    return FetchResult(RecordingAttempt.Outcome.ERROR)


def _delete_quietly(name: str, reason: str) -> None:
    try:
        ledger.delete_name(name, reason)
    except InvalidState:
        pass  # held since: the old object stays, live in the ledger beside the new one


def _give_up_fetching(leg: RecordingLeg, mine: Q) -> FetchResult:
    """Fail a leg whose allowed downloads all started and none stored it, with the last error seen."""
    last = (
        leg.attempts.filter(action=RecordingAttempt.Action.FETCH, outcome=RecordingAttempt.Outcome.ERROR)
        .order_by("-created_at", "-pk")
        .first()
    )
    cause = last.message if last is not None else "no download finished (the worker was lost each time)"
    tried = noojee_settings.MAX_FETCH_ATTEMPTS
    if not transition(leg, Leg.FAILED, reason=cause, where=mine, strict=False, last_error=cause):
        return FetchResult("skipped")
    assert leg.recording_tag is not None
    _fail_collection(
        leg.recording_tag,
        f"Leg {leg.leg} (#{leg.call_record_id}) could not be fetched after {tried} attempt(s): {cause}",
    )
    return FetchResult(RecordingAttempt.Outcome.ERROR)


def _fail_collection(recording_tag: RecordingTag, reason: str) -> None:
    """A recording being collected whose leg failed fails too; an attached one keeps its signature."""
    transition(
        recording_tag,
        RecordingTag.Status.FAILED,
        reason=reason,
        expect=[RecordingTag.Status.FETCHING, RecordingTag.Status.WAITING],
        strict=False,
        last_error=reason,
        next_poll_at=None,
    )
    if recording_tag.status == RecordingTag.Status.ATTACHED:
        RecordingTag.objects.filter(pk=recording_tag.pk).update(last_error=reason, needs_review=True)


def _after_failed_fetch(
    leg: RecordingLeg, mine: Q, exc: client_errors.NoojeeError, started: float
) -> FetchResult:
    """Log the attempt; then, if the claim is still ours, wait, retry, or fail the leg and its tag.

    A download that outlived its lease lost the leg to another worker, which may have stored it by now:
    such a failure is logged and changes nothing else. "Not ready" (the call goes on) spends no fetch
    attempt, and waits longer each time: the call's end, not the clock, should bring the audio.
    """
    recording_tag = leg.recording_tag
    assert recording_tag is not None
    outcome = _outcome_of(exc)
    log_attempt(recording_tag, RecordingAttempt.Action.FETCH, outcome, leg=leg, error=exc, started=started)
    if outcome == RecordingAttempt.Outcome.NOT_READY:
        if not transition(
            leg,
            Leg.PENDING,
            reason="not ready: the call goes on",
            where=mine,
            strict=False,
            fetch_attempts=F("fetch_attempts") - 1,
            not_ready_count=F("not_ready_count") + 1,
        ):
            return FetchResult("skipped")
        delay = backoff_delay(leg.not_ready_count - 1)
        RecordingTag.objects.filter(pk=recording_tag.pk, status=RecordingTag.Status.FETCHING).update(
            next_poll_at=timezone.now() + dt.timedelta(seconds=delay) + fetch_lease()
        )
        schedule_fetch(leg.pk, countdown=delay)
        return FetchResult(RecordingAttempt.Outcome.NOT_READY, retry_in=delay)
    if outcome == RecordingAttempt.Outcome.GONE:
        if not transition(leg, Leg.GONE, reason=str(exc), where=mine, strict=False, last_error=str(exc)):
            return FetchResult("skipped")
        _fail_collection(recording_tag, f"Leg {leg.leg} (#{leg.call_record_id}) is gone from the PBX: {exc}")
        return FetchResult(RecordingAttempt.Outcome.GONE)
    if leg.fetch_attempts >= noojee_settings.MAX_FETCH_ATTEMPTS or not exc.retryable:
        if not transition(leg, Leg.FAILED, reason=str(exc), where=mine, strict=False, last_error=str(exc)):
            return FetchResult("skipped")
        _fail_collection(
            recording_tag,
            f"Leg {leg.leg} (#{leg.call_record_id}) could not be fetched after "
            f"{leg.fetch_attempts} attempt(s): {exc}",
        )
        return FetchResult(RecordingAttempt.Outcome.ERROR)
    if not transition(
        leg, Leg.PENDING, reason=f"passing error: {exc}", where=mine, strict=False, last_error=str(exc)
    ):
        return FetchResult("skipped")
    delay = backoff_delay(leg.fetch_attempts - 1)
    schedule_fetch(leg.pk, countdown=delay)
    return FetchResult(RecordingAttempt.Outcome.ERROR, retry_in=delay)


def _store_new_object(
    tmp: Any, owner: RecordingTag | RecordingLeg, filename: str, **entry: Any
) -> StoredAudio:
    """A finished temporary file into storage under a new name from ``UPLOAD_TO``, and the ledger."""
    tmp.flush()
    tmp.seek(0)
    name = type(owner)._meta.get_field("audio").generate_filename(owner, filename)
    return ledger.store(tmp, name, **entry)


@contextmanager
def _temporary_file() -> Iterator[Any]:
    """A temporary file with no name on disk, so that it goes even with a worker killed mid-download.

    A named one would stay in the temporary folder after a SIGKILL or an out-of-memory kill: no
    ``finally`` runs then, while the kernel still frees an unnamed file with its process.
    """
    with tempfile.TemporaryFile(prefix="noojee-", suffix=".wav.part") as tmp:
        yield tmp


def in_call_order(legs: list[RecordingLeg]) -> list[RecordingLeg]:
    """Legs as they were spoken: call after call (a tag recorded on two calls), each call's legs in
    leg order. Sorting by leg number alone would interleave two calls' legs."""
    first: dict[str, tuple[dt.datetime, int]] = {}
    for leg in legs:
        key = (leg.start or dt.datetime.max.replace(tzinfo=dt.UTC), leg.call_record_id)
        first[leg.unique_id] = min(first.get(leg.unique_id, key), key)
    return sorted(legs, key=lambda leg: (first[leg.unique_id], leg.leg, leg.call_record_id))


def signature_gaps(recording_tag: RecordingTag, legs: list[RecordingLeg]) -> list[GapMark]:
    """Where the signature marks the recording's pauses (``PAUSE_GAP_FILL``), between which legs."""
    return [
        GapMark(after=index, seconds=pause.seconds or 0.0)
        for index, pause in sorted(pause_marks(recording_tag, legs).items())
    ]


def signature_sources(legs: list[RecordingLeg]) -> str:
    """What a signature is made of: each leg's CallRecordId and the start of its audio's sha256."""
    return ",".join(f"{leg.call_record_id}:{leg.audio_sha256[:12]}" for leg in legs)


def retention_until(recording_tag: RecordingTag, now: dt.datetime) -> dt.date | None:
    """``RETENTION_DAYS`` from now, never earlier than what the row keeps already (an operator's ten
    years stay ten years)."""
    retention = noojee_settings.RETENTION_DAYS
    computed = (now + dt.timedelta(days=int(retention))).date() if retention is not None else None
    if recording_tag.keep_until is None:  # not set yet, or (once attached) kept forever
        return computed if recording_tag.attached_at is None else None
    if computed is None:
        return recording_tag.keep_until
    return max(recording_tag.keep_until, computed)


def join_if_complete(recording_tag_id: int) -> bool:
    """When every leg of the recording is stored, join them into the signature and attach it.

    An attached recording is joined again only when its legs changed (a late leg, a re-fetch) and it
    is neither held nor purged; the new signature replaces the old only once stored, and the old
    object is deleted after the switch.
    """
    recording_tag = RecordingTag.objects.get(pk=recording_tag_id)
    attached = recording_tag.status == RecordingTag.Status.ATTACHED
    if recording_tag.status != RecordingTag.Status.FETCHING and not attached:
        return False
    if attached and (recording_tag.legal_hold or recording_tag.purged_at is not None):
        return False
    legs = in_call_order(list(recording_tag.legs.filter(kept_aside=False)))
    # A leg being fetched again still has its stored audio: the join uses that, and runs again if
    # the re-fetch stores different audio.
    if not legs or any(
        leg.fetch_status not in (Leg.FETCHED, Leg.REFETCHING) or not leg.audio for leg in legs
    ):
        return False
    sources = signature_sources(legs)
    current = ledger.current_signature(recording_tag)
    if attached and current is not None and current.sources == sources:
        return False
    with ExitStack() as stack:
        inputs = [stack.enter_context(leg.audio.open("rb")) for leg in legs]
        tmp = stack.enter_context(_temporary_file())
        try:
            stitched = stitch_wavs(
                inputs, tmp, gaps=signature_gaps(recording_tag, legs), fill=noojee_settings.PAUSE_GAP_FILL
            )
        except StitchError as exc:
            _fail_collection(recording_tag, f"The legs could not be joined: {exc}")
            return False
        stored = _store_new_object(
            tmp,
            recording_tag,
            f"{safe_name(recording_tag.tag)}-signature.wav",
            kind=StoredAudio.Kind.SIGNATURE,
            size=stitched.bytes_written,
            sha256=stitched.sha256,
            crc32=stitched.crc32,
            recording_tag=recording_tag,
            sources=sources,
        )
    now = timezone.now()
    previous = recording_tag.audio.name if recording_tag.audio else ""
    values: dict[str, Any] = {
        "audio": stored.name,
        "audio_size": stitched.bytes_written,
        "audio_sha256": stitched.sha256,
        "audio_duration": stitched.duration_seconds,
        "keep_until": retention_until(recording_tag, now),
        "next_poll_at": None,
        "last_error": "",
    }
    if attached:
        switched = bool(
            RecordingTag.objects.filter(
                pk=recording_tag.pk,
                status=RecordingTag.Status.ATTACHED,
                audio=previous,
                legal_hold=False,
                purged_at__isnull=True,
            ).update(updated_at=now, **values)
        )
    else:
        switched = transition(
            recording_tag,
            RecordingTag.Status.ATTACHED,
            reason="every leg stored and joined",
            strict=False,
            attached_at=now,
            **values,
        )
    if not switched:  # another worker joined it first, or it was held meanwhile
        ledger.delete(stored, "another join won")
        return False
    if previous and previous != stored.name:
        _delete_quietly(previous, "replaced by a new join")
    if attached:
        from .. import signals

        recording_tag.refresh_from_db()
        signals.recording_attached.send(
            sender=RecordingTag, recording_tag=recording_tag, content_object=recording_tag.content_object
        )
    return True


@dataclass
class RefetchResult:
    """What "fetch again" did: how many legs will be fetched, and why each other one was not."""

    scheduled: int = 0
    refused: list[str] = field(default_factory=list)


def refetch_legs(
    legs: models.QuerySet[RecordingLeg] | list[RecordingLeg], *, actor: Any | None = None
) -> RefetchResult:
    """Fetch these legs' audio again.

    A stored leg is downloaded into a new object and switched only once that verified (its recording
    stays attached and playable meanwhile, and stays so if the PBX no longer has the leg). A failed or
    gone leg is fetched again and its recording collected again. Refused for a recording on legal hold
    (its audio may not change), a purged one (restore it first) and legs already being fetched.
    """
    result = RefetchResult()
    for leg in legs:
        leg = RecordingLeg.objects.select_related("recording_tag").get(pk=leg.pk)
        recording_tag = leg.recording_tag
        label = _("Leg %(leg)s (#%(id)s)") % {"leg": leg.leg, "id": leg.call_record_id}
        if recording_tag is None:
            result.refused.append(_("%(leg)s is attached to no recording.") % {"leg": label})
            continue
        words = {"leg": label, "tag": recording_tag.tag}
        if recording_tag.legal_hold:
            result.refused.append(_("%(leg)s: %(tag)s is on legal hold; its audio may not change.") % words)
            continue
        if recording_tag.purged_at is not None:
            result.refused.append(_("%(leg)s: %(tag)s's audio was purged; restore it first.") % words)
            continue
        try:
            if leg.fetch_status == Leg.FETCHED:
                transition(
                    leg, Leg.REFETCHING, reason="an operator fetches it again", actor=actor, fetch_attempts=0
                )
            elif leg.fetch_status in (Leg.FAILED, Leg.GONE):
                if recording_tag.status == RecordingTag.Status.FAILED:
                    transition(
                        recording_tag,
                        RecordingTag.Status.FETCHING,
                        reason="an operator fetches its legs again",
                        actor=actor,
                        next_poll_at=timezone.now() + fetch_lease(),
                    )
                transition(
                    leg,
                    Leg.PENDING,
                    reason="an operator fetches it again",
                    actor=actor,
                    fetch_attempts=0,
                    not_ready_count=0,
                    last_error="",
                )
            else:
                result.refused.append(
                    _("%(leg)s is %(status)s already.")
                    % {"leg": label, "status": leg.get_fetch_status_display().lower()}
                )
                continue
        except TransitionRefused as exc:
            result.refused.append(exc.message)
            continue
        schedule_fetch(leg.pk)
        result.scheduled += 1
    if result.refused:
        logger.info("Fetch again: %s", " ".join(result.refused))
    return result
