"""Writers of the hash-chained logs on the configured database, for :mod:`tests.test_log_chain`.

Run in its own process (``python -m tests.log_chain_driver``) with the example project's settings, so
the database is whatever ``DATABASE_URL`` names. Prints one JSON line.

- ``seed``: a recording with a leg; their ids.
- ``append``: at ``--start-at`` (a wall-clock time, so several processes start together), each of
  ``--threads`` threads, with its own connection, appends ``--rows`` rows to the recording's access
  log and as many to its history, through the app's own writers.
- ``verify``: what ``verify_log`` says, and each chain's sequences.
- ``seed-old``: at migration 0006 (before the chains), rows written as the app then wrote them.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any


def seed() -> dict[str, Any]:
    from django.contrib.auth.models import User

    from example_project.crm.models import Customer, Invoice
    from noojee_django.models import RecordingLeg, RecordingTag

    customer = Customer.objects.create(name="Chain customer", phone="03 8320 8100")
    invoice = Invoice.objects.create(number="INV-CHAIN", customer=customer, amount="1.00")
    recording = RecordingTag.objects.create(tag="INV-CHAIN", content_object=invoice)
    leg = RecordingLeg.objects.create(
        recording_tag=recording, tag="INV-CHAIN", call_record_id=7001, leg=1, unique_id="1.1", duration=3
    )
    user = User.objects.create_user("chain-listener")
    return {"recording": recording.pk, "leg": leg.pk, "user": user.pk}


def append(
    recording_id: int, leg_id: int, user_id: int, rows: int, threads: int, start_at: float
) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connections

    from noojee_django import log_chain, services
    from noojee_django.models import RecordingLeg, RecordingTag, RecordingTransition

    errors: list[str] = []
    written = [0]
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            recording = RecordingTag.objects.get(pk=recording_id)
            leg = RecordingLeg.objects.get(pk=leg_id)
            user = User.objects.get(pk=user_id)
            time.sleep(max(0.0, start_at - time.time()))
            for n in range(rows):
                services.record_access(
                    user,
                    recording,
                    leg=leg if n % 2 else None,
                    action="play",
                    byte_range=f"bytes={n}-",
                    ip_address="2001:db8::1" if n % 3 else "203.0.113.7",
                )
                log_chain.append(
                    RecordingTransition,
                    recording_tag_id=recording_id,
                    leg_id=leg_id if n % 2 else None,
                    from_status="fetching",
                    to_status="fetching",
                    reason=f"worker {worker} row {n}: ünïcödé ✓ ",
                )
                with lock:
                    written[0] += 2
        except Exception as exc:  # reported, not raised: the test asserts there are none
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return {"written": written[0], "errors": errors}


def verify() -> dict[str, Any]:
    from noojee_django import services
    from noojee_django.models import LogChain, RecordingAccess, RecordingTransition

    report = services.verify_log()
    sequences = {
        model.__name__: sorted(model.objects.values_list("sequence", flat=True))
        for model in (RecordingAccess, RecordingTransition)
    }
    return {
        "ok": report.ok,
        "breaks": [str(b) for b in report.breaks],
        "chains": report.chains,
        "rows": report.rows,
        "sequences": sequences,
        "heads": {f"{h.log} {h.chain}": h.length for h in LogChain.objects.all()},
    }


def seed_old() -> dict[str, Any]:
    """Rows as the app wrote them at migration 0006: no chain fields yet."""
    import datetime as dt

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.utils import timezone

    apps = (
        MigrationLoader(connection)
        .project_state(("noojee_django", "0006_one_live_recording_per_tag_on_every_database"))
        .apps
    )
    ContentType = apps.get_model("contenttypes", "ContentType")
    User = apps.get_model("auth", "User")
    Tag = apps.get_model("noojee_django", "RecordingTag")
    Leg = apps.get_model("noojee_django", "RecordingLeg")
    Transition = apps.get_model("noojee_django", "RecordingTransition")
    Access = apps.get_model("noojee_django", "RecordingAccess")
    content_type, _ = ContentType.objects.get_or_create(app_label="crm", model="invoice")
    user = User.objects.create(username="old-listener")
    base = timezone.now() - dt.timedelta(days=30)
    count = 0
    for r in range(3):
        tag = Tag.objects.create(
            tag=f"OLD-{r}", content_type=content_type, object_id=str(r), status="attached"
        )
        leg = Leg.objects.create(
            recording_tag=tag, tag=tag.tag, call_record_id=9000 + r, leg=1, unique_id=f"9.{r}", duration=2
        )
        orphan = Leg.objects.create(
            tag="NOBODY", call_record_id=9100 + r, leg=1, unique_id=f"8.{r}", duration=2
        )
        for n, (source, target) in enumerate(
            [("recording", "waiting"), ("waiting", "fetching"), ("fetching", "attached")]
        ):
            # The same instant for two rows: the id decides their order.
            at = base + dt.timedelta(minutes=r * 10 + n // 2)
            Transition.objects.create(recording_tag=tag, from_status=source, to_status=target, created_at=at)
            Transition.objects.create(
                recording_tag=tag, leg=leg, from_status="pending", to_status="fetching", created_at=at
            )
            Transition.objects.create(leg=orphan, from_status="pending", to_status="fetching", created_at=at)
            Access.objects.create(
                user=user,
                recording_tag=tag,
                leg=leg if n else None,
                action="play",
                ip_address="2001:db8::7",
                created_at=at,
            )
            count += 4
    return {"rows": count}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["seed", "append", "verify", "seed-old"])
    parser.add_argument("--recording", type=int)
    parser.add_argument("--leg", type=int)
    parser.add_argument("--user", type=int)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args()

    import django

    django.setup()
    if args.mode == "seed":
        out = seed()
    elif args.mode == "append":
        out = append(args.recording, args.leg, args.user, args.rows, args.threads, args.start_at)
    elif args.mode == "verify":
        out = verify()
    else:
        out = seed_old()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
