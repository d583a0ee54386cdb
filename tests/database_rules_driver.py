"""The uniqueness and comparison rules the app relies on, checked on the configured database.

Run by :mod:`tests.test_database_rules` in its own process (``python -m tests.database_rules_driver``)
with the example project's settings, so the database is whatever ``DATABASE_URL`` names. Each agent
works in its own thread with its own connection, as the threads of a web server do. Prints one JSON
line: what happened, for the test to judge.

``rules`` races two agents and probes the rules; ``seed-duplicates`` writes, at migration 0005, the
duplicate live recordings a MariaDB database may hold (it had no conditional unique constraint);
``after-migration`` reports what migration 0006 made of them; ``history-race`` has one worker change a
recording's status while another's change of it waits on the first's transaction, and reports the
history both left.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import threading
import time
from typing import Any

LIVE = ["recording", "waiting", "fetching"]


def _typed(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def rules() -> dict[str, Any]:
    from django.contrib.auth.models import Permission, User
    from django.db import IntegrityError, connections, transaction

    from example_project.crm.models import Customer, Invoice
    from noojee_django import services
    from noojee_django.exceptions import TransitionRefused
    from noojee_django.lifecycle import transition
    from noojee_django.models import AgentPhone, CallSession, RecordingLeg, RecordingTag

    codenames = ["can_dial", "can_record", "view_invoice", "view_customer"]
    permissions = list(Permission.objects.filter(codename__in=codenames))
    agents, invoices = [], []
    for i in range(2):
        user = User.objects.create_user(f"rules-{i}")
        user.user_permissions.add(*permissions)
        AgentPhone.objects.create(user=user, extension=f"SIP/{501 + i}", login_name=f"rules{i}")
        customer = Customer.objects.create(name=f"Customer {i}", phone=f"03 8320 810{i}")
        # Two invoices, both to be signed under the tag INV-42 (a typo, a reused number).
        invoices.append(Invoice.objects.create(number=f"INV-42/{i}", customer=customer, amount="1.00"))
        agents.append(user)

    calls = []
    for user, invoice in zip(agents, invoices, strict=True):
        calls.append(services.dial(user, invoice.customer.phone, obj=invoice.customer))
    deadline = time.monotonic() + 20
    while any(services.current_call_status(c).status != CallSession.Status.CONNECTED for c in calls):
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator's calls did not connect within 20 s")
        time.sleep(0.1)

    # Both agents start recording INV-42 at the same instant, each for their own invoice.
    barrier = threading.Barrier(2)
    outcomes: list[str] = ["", ""]

    def start(i: int) -> None:
        try:
            user = User.objects.get(pk=agents[i].pk)
            barrier.wait()
            recording = services.start_recording(user, invoices[i], "INV-42", consent_given=True)
            outcomes[i] = f"started #{recording.pk} ({recording.status})"
        except Exception as exc:  # reported, not raised: the test judges the outcomes
            outcomes[i] = _typed(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    refused = 1 if outcomes[0].startswith("started") else 0
    live_after_race = RecordingTag.objects.filter(tag="INV-42", status__in=LIVE).count()

    # A status change that would make a second live INV-42: an operator polls an old one again.
    old = RecordingTag.objects.create(
        tag="INV-42", content_object=invoices[refused], status=RecordingTag.Status.FAILED
    )
    try:
        transition(old, RecordingTag.Status.WAITING, reason="an operator polls again")
        poll_again = "allowed"
    except TransitionRefused as exc:
        poll_again = _typed(exc)
    old.refresh_from_db()

    # The refused agent, still on their call, records another tag that differs only in case.
    try:
        other_case = services.start_recording(
            User.objects.get(pk=agents[refused].pk), invoices[refused], "inv-42", consent_given=True
        )
        lower_case = f"started ({other_case.status})"
    except Exception as exc:
        lower_case = _typed(exc)

    # Below the services: what the database itself holds equal or unique. A trailing space is another
    # tag (validate_tag never lets one through; the database must not fold it either).
    def insert_live(tag: str) -> str:
        try:
            with transaction.atomic():
                RecordingTag.objects.create(tag=tag, content_object=invoices[0])
            return "inserted"
        except IntegrityError:
            return "IntegrityError"

    inserts = {tag: insert_live(tag) for tag in ("INV-42", "INV-42 ", "Inv-42")}
    for i, tag in enumerate(("INV-42", "inv-42", "INV-42 ")):
        RecordingLeg.objects.create(tag=tag, call_record_id=9000 + i, leg=1, unique_id=f"1.{i}", duration=1)

    def unique_holds(create: Any) -> str:
        try:
            with transaction.atomic():
                create()
                create()
            return "duplicate stored"
        except IntegrityError:
            return "IntegrityError"

    call_fields = {"user": agents[0], "extension": "SIP/501", "number": "0383208100"}
    nulls = [CallSession.objects.create(**call_fields, dial_guard=None) for _ in range(2)]

    return {
        "calls": [(c.extension, c.unique_id) for c in CallSession.objects.order_by("pk")[:2]],
        "outcomes": outcomes,
        "live_after_race": live_after_race,
        "poll_again": poll_again,
        "old_status": old.status,
        "lower_case": lower_case,
        "inserts": inserts,
        "live_rows": sorted(
            RecordingTag.objects.filter(status__in=LIVE).values_list("tag", flat=True), key=str
        ),
        "live_tag_lookup": list(RecordingTag.objects.filter(live_tag="INV-42").values_list("tag", flat=True)),
        "tag_lookup": {
            tag: sorted(set(RecordingTag.objects.filter(tag=tag).values_list("tag", flat=True)))
            for tag in ("INV-42", "inv-42", "INV-42 ")
        },
        "leg_lookup": {
            tag: list(RecordingLeg.objects.filter(tag=tag).values_list("tag", flat=True))
            for tag in ("INV-42", "inv-42", "INV-42 ")
        },
        # The admin searches tags ignoring case, on every database.
        "icontains": sorted(
            set(RecordingTag.objects.filter(tag__icontains="inv-4").values_list("tag", flat=True))
        ),
        "iexact": sorted(
            set(RecordingTag.objects.filter(tag__iexact="inv-42").values_list("tag", flat=True))
        ),
        "dial_guard": unique_holds(
            lambda: CallSession.objects.create(**call_fields, dial_guard="SIP/501>0383208100")
        ),
        "dial_guard_nulls": len(nulls),
        "call_record_id": unique_holds(
            lambda: RecordingLeg.objects.create(call_record_id=77, leg=1, unique_id="7.7", duration=1)
        ),
    }


def _historical_models(migration: str) -> Any:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connection).project_state(("noojee_django", migration)).apps


def seed_duplicates() -> dict[str, Any]:
    """Live duplicates as a MariaDB database could hold them before 0006 (the app's models are ahead
    of the schema here: the rows are written through the historical models of 0005)."""
    apps = _historical_models("0005_agentphone_text_without_dial_commands")
    RecordingTag = apps.get_model("noojee_django", "RecordingTag")
    ContentType = apps.get_model("contenttypes", "ContentType")
    invoice_type = ContentType.objects.get(app_label="crm", model="invoice")
    base = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    ids = {}
    for name, tag, status, minutes in (
        ("oldest", "INV-7", "recording", 0),
        ("older", "INV-7", "waiting", 5),
        ("newest", "INV-7", "fetching", 10),
        ("attached", "INV-7", "attached", 20),
        ("other_case", "inv-7", "recording", 1),
        ("alone", "INV-8", "waiting", 2),
    ):
        row = RecordingTag.objects.create(
            tag=tag, content_type=invoice_type, object_id="1", status=status,
            started_at=base + dt.timedelta(minutes=minutes), updated_at=base,
            next_poll_at=base if status == "waiting" else None,
        )  # fmt: skip
        ids[name] = row.pk
    return ids


def after_migration() -> dict[str, Any]:
    from noojee_django.models import RecordingTag, RecordingTransition

    return {
        "rows": {
            str(row.pk): {
                "tag": row.tag,
                "status": row.status,
                "reason": row.status_reason,
                "poll": bool(row.next_poll_at),
            }
            for row in RecordingTag.objects.all()
        },
        "transitions": [
            {"recording": t.recording_tag_id, "from": t.from_status, "to": t.to_status, "reason": t.reason}
            for t in RecordingTransition.objects.order_by("recording_tag_id")
        ],
    }


def history_race() -> dict[str, Any]:
    """A worker moves a recording to "waiting" in a transaction it holds open for a second; meanwhile
    another asks for "failed" (which both "recording" and "waiting" may become) and waits on the
    first's lock. The history must say what the second changed: waiting -> failed."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections, transaction

    from example_project.crm.models import Invoice
    from noojee_django.lifecycle import transition
    from noojee_django.models import RecordingTag, RecordingTransition

    recording = RecordingTag.objects.create(
        tag="INV-RACE", content_type=ContentType.objects.get_for_model(Invoice), object_id="1",
        status=RecordingTag.Status.RECORDING,
    )  # fmt: skip
    first_holds = threading.Event()
    errors: list[str] = []

    def first() -> None:
        try:
            with transaction.atomic():
                transition(RecordingTag.objects.get(pk=recording.pk), "waiting", reason="stopped")
                first_holds.set()
                time.sleep(1.0)
        except Exception as exc:  # reported, for the test to show
            errors.append(_typed(exc))
            first_holds.set()
        finally:
            connections.close_all()

    def second() -> None:
        first_holds.wait(10)
        try:
            transition(RecordingTag.objects.get(pk=recording.pk), "failed", reason="gave up", strict=False)
        except Exception as exc:
            errors.append(_typed(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return {
        "errors": errors,
        "status": RecordingTag.objects.get(pk=recording.pk).status,
        "history": [
            [t.from_status, t.to_status]
            for t in RecordingTransition.objects.filter(recording_tag=recording).order_by("pk")
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["rules", "seed-duplicates", "after-migration", "history-race"])
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    import django

    django.setup()
    step = {
        "rules": rules,
        "seed-duplicates": seed_duplicates,
        "after-migration": after_migration,
        "history-race": history_race,
    }[args.step]
    print(json.dumps(step()))


if __name__ == "__main__":
    main()
