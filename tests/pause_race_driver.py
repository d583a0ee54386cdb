"""The agent's Resume and the automatic ones (the task, the sweep) racing on one paused recording, on
the configured database; reports what the PBX was told.

Run by :mod:`tests.test_pause_concurrency` in its own process (``python -m tests.pause_race_driver``)
with the example project's settings, so the database is whatever ``DATABASE_URL`` names: each thread
has its own connection, as web servers and workers do. Every round pauses the recording, then sets
``--resumers`` threads of each kind loose at one barrier. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import threading
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--resumers", type=int, default=2, help="threads of each kind per round")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.db import connections

    from example_project.crm.models import Customer, Invoice
    from noojee_django import services
    from noojee_django.emulator import ControlClient
    from noojee_django.models import (
        AgentPhone,
        CallSession,
        RecordingPause,
        RecordingTag,
        RecordingTransition,
    )

    control = ControlClient(os.environ["NOOJEE_BASE_URL"])
    agent = User.objects.create_user("pause-race")
    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["can_dial", "can_record", "view_invoice", "view_customer"])
    )
    agent = User.objects.get(pk=agent.pk)
    AgentPhone.objects.create(user=agent, extension="SIP/4100")
    customer = Customer.objects.create(name="Race Pty Ltd", phone="0383208100")
    invoice = Invoice.objects.create(number="RACE-1", customer=customer, amount="1.00")
    call = services.dial(agent, customer.phone, obj=customer)
    deadline = time.monotonic() + 20
    while services.current_call_status(call).status != CallSession.Status.CONNECTED:
        if time.monotonic() > deadline:
            raise SystemExit("the call never connected")
        time.sleep(0.2)
    recording = services.start_recording(agent, invoice, "RACE-1")

    def starts() -> int:
        return int(control.stats()["requests"].get("start", 0))

    errors: list[str] = []
    starts_per_round: list[int] = []
    for _ in range(args.rounds):
        time.sleep(1.1)  # a leg of its own before each pause
        services.pause_recording(agent, RecordingTag.objects.get(pk=recording.pk))
        pause = RecordingPause.objects.get(recording_tag=recording, ended_at__isnull=True)
        due = pause.resume_due_at + dt.timedelta(seconds=1)
        before = starts()
        gate = threading.Barrier(3 * args.resumers)

        def run(kind: str, pause_id: int = pause.pk, due: dt.datetime = due, gate: Any = gate) -> None:
            try:
                seen = RecordingTag.objects.get(pk=recording.pk)  # loaded while paused
                gate.wait()
                if kind == "agent":
                    services.resume_recording(User.objects.get(pk=agent.pk), seen)
                elif kind == "task":
                    services.resume_paused(pause_id, now=due)
                else:
                    services.resume_overdue_pauses(now=due)
            except Exception as exc:  # reported, not raised: the test asserts there are none
                errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=run, args=(kind,))
            for kind in ("agent", "task", "sweep")
            for _ in range(args.resumers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        starts_per_round.append(starts() - before)

    recording.refresh_from_db()
    report: dict[str, Any] = {
        "starts_per_round": starts_per_round,
        "resumes": RecordingTransition.objects.filter(
            recording_tag=recording, from_status="paused", to_status="recording"
        ).count(),
        "open_pauses": RecordingPause.objects.filter(recording_tag=recording, ended_at__isnull=True).count(),
        "endings": sorted(
            RecordingPause.objects.filter(recording_tag=recording).values_list("ended_how", flat=True)
        ),
        "legs": len(control.recordings(unique_id=recording.unique_id)),
        "status": recording.status,
        "errors": errors,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
