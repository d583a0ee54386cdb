"""The hash chains of the access log and of each recording's history.

Every :class:`~noojee_django.models.RecordingAccess` and
:class:`~noojee_django.models.RecordingTransition` row carries the hash of the row before it in its
chain and its own hash: sha256 over a canonical serialisation of its fields, its place and the previous
hash. A row edited, deleted, inserted or moved afterwards no longer fits, and :func:`verify_log` says
which row, where, and how.

**One chain per recording and log**, not one per table: appending locks only that recording's chain
head, so two agents listening to two recordings never wait for each other, and an evidence bundle can
carry a recording's own chains whole (every row of them is that recording's). A status change of a leg
that belongs to no recording yet goes on that leg's chain (``leg:<id>``).

**Appending** (:func:`append`, the only way in: ``objects.create()`` and ``save()`` of a new row call
it, ``bulk_create`` is refused) happens inside one transaction that first locks the chain's head
(:class:`~noojee_django.models.LogChain`) with an upsert (``INSERT ... ON CONFLICT`` / ``ON DUPLICATE
KEY UPDATE``) and then reads it ``SELECT ... FOR UPDATE``: a second writer waits for the first to
commit and then reads the head the first left, on PostgreSQL, MariaDB/MySQL and SQLite alike (taking
the write lock before reading is what lets SQLite's deferred transactions wait instead of failing).
A unique constraint on ``(chain, sequence)`` makes a
fork impossible even for a writer that got around the lock.

A chain proves the rows agree with each other and with their head. Someone who can write the
database can still rewrite a whole chain and its head consistently: keep a copy of the heads (the
evidence bundle carries them) to pin what a chain said at a moment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from .models import ChainedLogRow, LogChain, RecordingAccess, RecordingLeg, RecordingTransition

#: The previous hash of a chain's first row.
GENESIS = ""
#: Part of every hashed serialisation: a change of format is a new version, never a silent one.
FORMAT = "noojee-log-v1"


@dataclass(frozen=True)
class LogSpec:
    """What is hashed in one log's rows, in order."""

    log: str
    model: type[ChainedLogRow]
    fields: tuple[str, ...]
    #: the user foreign key, and the column that keeps its value as written
    user_field: str
    user_pk_field: str

    @property
    def table(self) -> str:
        return str(self.model._meta.db_table)


TRANSITIONS = LogSpec(
    log=LogChain.Log.TRANSITIONS.value,
    model=RecordingTransition,
    fields=("recording_tag_id", "leg_id", "from_status", "to_status", "reason", "actor_pk", "created_at"),
    user_field="actor_id",
    user_pk_field="actor_pk",
)
ACCESSES = LogSpec(
    log=LogChain.Log.ACCESSES.value,
    model=RecordingAccess,
    fields=("user_pk", "recording_tag_id", "leg_id", "action", "byte_range", "ip_address", "created_at"),
    user_field="user_id",
    user_pk_field="user_pk",
)
SPECS: tuple[LogSpec, ...] = (TRANSITIONS, ACCESSES)


def spec_for(model: type[models.Model]) -> LogSpec:
    for spec in SPECS:
        if issubclass(model, spec.model):
            return spec
    raise TypeError(f"{model.__name__} is not a hash-chained log")


def chain_name(recording_tag_id: int | None, leg_id: int | None) -> str:
    """The chain a row goes on: its recording's, or for a leg of no recording, the leg's."""
    if recording_tag_id is not None:
        return f"recording:{recording_tag_id}"
    if leg_id is not None:
        return f"leg:{leg_id}"
    return "none"


def _canonical_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return value.isoformat(timespec="microseconds")
    if name == "ip_address":
        # Databases hand addresses back in their own spelling (PostgreSQL's inet): the exploded
        # form is one spelling for every address.
        return ipaddress.ip_address(value).exploded
    if isinstance(value, int | str):
        return value
    return str(value)


def row_digest(log: str, chain: str, sequence: int, values: Mapping[str, Any], previous_hash: str) -> str:
    """sha256 of a row's canonical serialisation: the format, the log, its chain and place, each hashed
    field by name in the log's order, and the previous row's hash."""
    spec = next(s for s in SPECS if s.log == log)
    document = [
        FORMAT,
        log,
        chain,
        sequence,
        [[name, _canonical_value(name, values.get(name))] for name in spec.fields],
        previous_hash,
    ]
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _values(row: Any, spec: LogSpec) -> dict[str, Any]:
    return {name: getattr(row, name) for name in spec.fields}


def append(model: type[ChainedLogRow], *, using: str | None = None, **fields: Any) -> Any:
    """Write a new row of ``model`` (``RecordingAccess`` or ``RecordingTransition``) at the end of its
    chain; the only way a row of either log is written."""
    return append_instance(model(**fields), using=using)


def append_instance(row: ChainedLogRow, *, using: str | None = None) -> ChainedLogRow:
    """Append the unsaved ``row`` to its chain (what ``objects.create()`` and ``save()`` come to)."""
    if not row._state.adding:
        raise TypeError(f"{type(row).__name__} #{row.pk} is already in its chain.")
    spec = spec_for(type(row))
    db = using or router.db_for_write(type(row), instance=row)
    user_id = getattr(row, spec.user_field)
    setattr(row, spec.user_pk_field, "" if user_id is None else str(user_id))
    if getattr(row, "created_at", None) is None:
        row.created_at = timezone.now()  # type: ignore[attr-defined]
    row.chain = chain_name(row.recording_tag_id, row.leg_id)  # type: ignore[attr-defined]
    with transaction.atomic(using=db):
        head = _locked_head(spec.log, row.chain, db)
        row.sequence = head.length + 1
        row.previous_hash = head.head_hash
        row.row_hash = row_digest(spec.log, row.chain, row.sequence, _values(row, spec), row.previous_hash)
        row._appending_to_chain = True  # type: ignore[attr-defined]
        try:
            row.save(using=db, force_insert=True)
        finally:
            del row._appending_to_chain  # type: ignore[attr-defined]
        LogChain.objects.using(db).filter(pk=head.pk).update(
            length=row.sequence, head_hash=row.row_hash, updated_at=timezone.now()
        )
    return row


def _locked_head(log: str, chain: str, db: str) -> LogChain:
    """The chain's head, locked until the current transaction ends; created for a new chain."""
    # Write first, read after: one upsert creates the head or takes the lock on it (SQLite's database
    # lock too), waiting for a writer ahead of it; the locking read then sees what that writer
    # committed. An upsert rather than INSERT-then-UPDATE: on MariaDB/MySQL, writers that all find the
    # head missing would each hold a shared lock from the failed INSERT and deadlock on the UPDATE.
    target = ["log", "chain"] if connections[db].features.supports_update_conflicts_with_target else None
    LogChain.objects.using(db).bulk_create(
        [LogChain(log=log, chain=chain, updated_at=timezone.now())],
        update_conflicts=True,
        unique_fields=target,
        update_fields=["updated_at"],
    )
    return LogChain.objects.using(db).select_for_update().get(log=log, chain=chain)


# Verification -----------------------------------------------------------------------------------------


EDITED = "edited"
MISSING = "missing"
INSERTED = "inserted"
REORDERED = "reordered"


@dataclass(frozen=True)
class ChainBreak:
    """The first place a chain stops holding together."""

    log: str
    table: str
    chain: str
    #: edited, missing, inserted or reordered
    kind: str
    row_id: int | None
    sequence: int | None
    detail: str

    def __str__(self) -> str:
        where = f"row id {self.row_id}" if self.row_id is not None else "no row"
        if self.sequence is not None:
            where += f", sequence {self.sequence}"
        return f"{self.table} chain {self.chain!r}: {self.kind} at {where}: {self.detail}"


@dataclass(frozen=True)
class ChainHead:
    """A chain as verified: its length and the hash of its last row (what an evidence bundle pins)."""

    log: str
    chain: str
    length: int
    head_hash: str


@dataclass
class LogReport:
    """What :func:`verify_log` found: every chain walked, and the first break of each broken one."""

    chains: int = 0
    rows: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    heads: list[ChainHead] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None


_ROW_COLUMNS = ("id", "chain", "sequence", "previous_hash", "row_hash")


def verify_log(recording_tag: Any = None, *, using: str | None = None) -> LogReport:
    """Walk the chains of both logs (or only those of one recording: its own and its legs') and report
    the first break of each, with the table, the row and what happened to it."""
    report = LogReport()
    recording_id = getattr(recording_tag, "pk", recording_tag)
    for spec in SPECS:
        db = using or router.db_for_read(spec.model)
        rows = spec.model._default_manager.using(db).all()
        heads = LogChain.objects.using(db).filter(log=spec.log)
        chains: set[str] = set()
        if recording_id is not None:
            leg_ids = (
                RecordingLeg.objects.using(db)
                .filter(recording_tag_id=recording_id)
                .values_list("pk", flat=True)
            )
            chains = {chain_name(recording_id, None)} | {chain_name(None, pk) for pk in leg_ids}
            rows = rows.filter(Q(chain__in=chains) | Q(recording_tag_id=recording_id))
        columns = (*_ROW_COLUMNS, spec.user_field, *spec.fields)
        by_chain: dict[str, list[dict[str, Any]]] = {}
        for row in rows.order_by().values(*dict.fromkeys(columns)).iterator(chunk_size=2000):
            report.rows += 1
            if not row["chain"] or row["sequence"] is None:
                report.breaks.append(
                    _break(
                        spec,
                        row["chain"] or "(none)",
                        INSERTED,
                        row,
                        "written outside the chain: no place in it",
                    )
                )
                continue
            by_chain.setdefault(row["chain"], []).append(row)
        if recording_id is not None:
            heads = heads.filter(chain__in=chains | set(by_chain))
        head_of = {h.chain: h for h in heads}
        for chain in sorted(set(by_chain) | set(head_of)):
            report.chains += 1
            chain_rows = sorted(by_chain.get(chain, []), key=lambda r: (r["sequence"], r["id"]))
            found = _walk(spec, chain, chain_rows, head_of.get(chain))
            if found is not None:
                report.breaks.append(found)
            elif chain_rows:
                last = chain_rows[-1]
                report.heads.append(ChainHead(spec.log, chain, last["sequence"], last["row_hash"]))
    return report


def _break(spec: LogSpec, chain: str, kind: str, row: Mapping[str, Any] | None, detail: str) -> ChainBreak:
    return ChainBreak(
        log=spec.log,
        table=spec.table,
        chain=chain,
        kind=kind,
        row_id=row["id"] if row else None,
        sequence=row["sequence"] if row else None,
        detail=detail,
    )


def _hash_holds(spec: LogSpec, row: Mapping[str, Any]) -> bool:
    return row_digest(spec.log, row["chain"], row["sequence"], row, row["previous_hash"]) == row["row_hash"]


def _walk(
    spec: LogSpec, chain: str, rows: Sequence[dict[str, Any]], head: LogChain | None
) -> ChainBreak | None:
    """The first break in one chain's rows (sorted by sequence), or ``None``."""
    by_hash = {row["row_hash"]: row for row in rows if row["row_hash"]}
    previous: dict[str, Any] | None = None
    for row in rows:
        expected_sequence = previous["sequence"] + 1 if previous else 1
        expected_link = previous["row_hash"] if previous else GENESIS
        if head is not None and row["sequence"] > head.length:
            return _break(
                spec, chain, INSERTED, row, f"beyond the chain's end (its head counts {head.length} rows)"
            )
        if row["sequence"] < expected_sequence:
            return _break(spec, chain, INSERTED, row, f"a second row at sequence {row['sequence']}")
        if row["sequence"] > expected_sequence:
            gap = (
                f"sequence {expected_sequence}"
                if row["sequence"] == expected_sequence + 1
                else f"sequences {expected_sequence} to {row['sequence'] - 1}"
            )
            return _break(spec, chain, MISSING, row, f"{gap} before this row are gone")
        holds = _hash_holds(spec, row)
        if row["previous_hash"] != expected_link:
            found = _broken_link(spec, chain, row, previous, holds, by_hash)
            if found is not None:
                return found
        if not holds:
            return _break(spec, chain, EDITED, row, "its fields no longer match its hash")
        user_id = row[spec.user_field]
        if user_id is not None and str(user_id) != row[spec.user_pk_field]:
            return _break(
                spec,
                chain,
                EDITED,
                row,
                f"{spec.user_field} is {user_id}, "
                f"the row was written for {row[spec.user_pk_field] or 'nobody'}",
            )
        previous = row
    if head is None:
        return _break(spec, chain, MISSING, previous, "the chain's head (its length and last hash) is gone")
    length = previous["sequence"] if previous else 0
    if head.length > length:
        return _break(
            spec,
            chain,
            MISSING,
            previous,
            f"the last {head.length - length} row(s) are gone (its head counts {head.length})",
        )
    if previous is not None and head.head_hash != previous["row_hash"]:
        return _break(spec, chain, EDITED, previous, "the last row's hash is not the one its head recorded")
    return None


def _broken_link(
    spec: LogSpec,
    chain: str,
    row: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    holds: bool,
    by_hash: Mapping[str, Mapping[str, Any]],
) -> ChainBreak | None:
    """Why ``row`` does not follow ``previous``."""
    link = row["previous_hash"]
    before_previous = previous["previous_hash"] if previous else None
    if previous is not None and link == before_previous:
        return _break(
            spec,
            chain,
            INSERTED,
            previous,
            f"row id {row['id']} after it was written right after the row before it",
        )
    target = by_hash.get(link)
    if target is not None and target is not previous:
        return _break(
            spec,
            chain,
            REORDERED,
            row,
            f"it was written right after row id {target['id']}, "
            f"which is now at sequence {target['sequence']}",
        )
    if holds and previous is not None:
        return _break(
            spec,
            chain,
            EDITED,
            previous,
            f"it was changed and its hash made again: row id {row['id']} after it "
            "still links to the original",
        )
    if holds:
        return _break(spec, chain, MISSING, row, "the row it was written after is gone")
    return _break(
        spec, chain, MISSING, row, "the row it was written after is gone, and the rows after renumbered"
    )


def backfill(
    rows: Iterable[Any], *, log: str, heads: dict[str, tuple[int, str]]
) -> dict[str, tuple[int, str]]:
    """Chain existing rows (instances of any version of the model, in the order they happened): fill
    their chain fields in place, and ``heads`` with each chain's ``(length, head hash)`` so far. For
    migrations; call it again with the same ``heads`` for the next batch."""
    spec = next(s for s in SPECS if s.log == log)
    user_field, user_pk_field = spec.user_field, spec.user_pk_field
    for row in rows:
        user_id = getattr(row, user_field)
        setattr(row, user_pk_field, "" if user_id is None else str(user_id))
        row.chain = chain_name(row.recording_tag_id, row.leg_id)
        length, previous = heads.get(row.chain, (0, GENESIS))
        row.sequence = length + 1
        row.previous_hash = previous
        row.row_hash = row_digest(log, row.chain, row.sequence, _values(row, spec), previous)
        heads[row.chain] = (row.sequence, row.row_hash)
    return heads


__all__ = [
    "ACCESSES",
    "EDITED",
    "GENESIS",
    "INSERTED",
    "MISSING",
    "REORDERED",
    "TRANSITIONS",
    "ChainBreak",
    "ChainHead",
    "LogReport",
    "append",
    "append_instance",
    "backfill",
    "chain_name",
    "row_digest",
    "verify_log",
]
