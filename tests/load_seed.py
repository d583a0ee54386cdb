"""The Django side of the load run: migrate, create agents, listeners and recorded invoices; count rows.

Run by :mod:`tests.load_harness` in its own process (``python -m tests.load_seed seed ...``) with the
example project's settings and the same environment as the gunicorn under load, so they share the
database and the recordings storage. Prints one JSON line.

The audio is real: each recording is scripted at the emulator and collected by the app's own services
(``watch_tag``, then ``poll_tag`` with the legs fetched inline), so the stored WAVs are exactly what
the pipeline writes in production.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

#: Listeners log in through the form with it. Agents have no usable password: their sessions are made
#: here, since hashing 200 passwords (PBKDF2, on purpose slow) would measure nothing of the app.
LISTENER_PASSWORD = "load-listener-pw"


def seed(agents: int, listeners: int, recordings: int, legs: list[int]) -> dict[str, Any]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, Permission, User
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from example_project.crm.models import Customer, Invoice
    from noojee_django import services
    from noojee_django.emulator import ControlClient
    from noojee_django.models import AgentPhone, RecordingTag

    call_command("migrate", verbosity=0, interactive=False)

    def permission(app_label: str, codename: str) -> Permission:
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    agent_group = Group.objects.create(name="load agents")
    agent_group.permissions.add(permission("noojee_django", "can_dial"), permission("crm", "view_customer"))
    listener_group = Group.objects.create(name="load listeners")
    listener_group.permissions.add(permission("crm", "view_invoice"), permission("crm", "view_customer"))

    agent_rows = []
    for i in range(agents):
        user = User(username=f"load-agent-{i}")
        user.set_unusable_password()
        user.save()
        user.groups.add(agent_group)
        phone = AgentPhone.objects.create(user=user, extension=f"SIP/{3000 + i}")
        customer = Customer.objects.create(name=f"Load customer {i}", phone=f"0412{i:06d}")
        client = Client()
        client.force_login(user)
        agent_rows.append(
            {
                "username": user.username,
                "extension": phone.extension,
                "sessionid": client.cookies["sessionid"].value,
                "customer_url": customer.get_absolute_url(),
                "number": customer.phone,
            }
        )

    password_hash = make_password(LISTENER_PASSWORD)  # hashed once: the hasher is slow on purpose
    listener_rows = []
    for i in range(listeners):
        user = User.objects.create(username=f"load-listener-{i}", password=password_hash)
        user.groups.add(listener_group)
        listener_rows.append({"username": user.username, "password": LISTENER_PASSWORD})

    control = ControlClient(os.environ["NOOJEE_BASE_URL"])
    customer = Customer.objects.create(name="Load recordings", phone="0383208100")
    audio: list[dict[str, Any]] = []
    for i in range(recordings):
        tag = f"LOAD-{i}"
        invoice = Invoice.objects.create(number=tag, customer=customer, amount="1.00")
        scripted = control.add_recording(tag=tag, legs=legs)
        pbx_sha256 = {leg["call_record_id"]: leg["sha256"] for leg in scripted["legs"]}
        recording_tag = services.watch_tag(invoice, tag)
        services.poll_tag(recording_tag.pk, fetch_inline=True)
        recording_tag.refresh_from_db()
        if recording_tag.status != RecordingTag.Status.ATTACHED:
            raise RuntimeError(f"{tag} was not attached: {recording_tag.status} {recording_tag.last_error}")
        audio.append(
            {
                "what": f"{tag} signature",
                "url": reverse("noojee:recording-audio", args=[recording_tag.pk]),
                "path": recording_tag.audio.path,
                "size": recording_tag.audio_size,
                "sha256": recording_tag.audio_sha256,
            }
        )
        for leg in recording_tag.legs.order_by("leg"):
            if leg.audio_sha256 != pbx_sha256[leg.call_record_id]:
                raise RuntimeError(f"{tag} leg {leg.leg}: stored audio differs from the PBX's")
            audio.append(
                {
                    "what": f"{tag} leg {leg.leg}",
                    "url": reverse("noojee:leg-audio", args=[leg.pk]),
                    "path": leg.audio.path,
                    "size": leg.audio_size,
                    "sha256": leg.audio_sha256,
                }
            )
    return {"agents": agent_rows, "listeners": listener_rows, "audio": audio}


def counts() -> dict[str, Any]:
    """What the load left in the database: one call row per dial, one access row per listen."""
    from django.db import connection
    from django.db.models import Count

    from noojee_django.models import CallSession, RecordingAccess

    statuses = dict(CallSession.objects.values_list("status").annotate(n=Count("pk")).order_by())
    result: dict[str, Any] = {
        "calls": CallSession.objects.count(),
        "call_statuses": statuses,
        "accesses": RecordingAccess.objects.count(),
    }
    if connection.vendor == "postgresql":
        # The web process's persistent connections (CONN_MAX_AGE), still open: this one aside.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            result["db_connections"] = cursor.fetchone()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("--agents", type=int, required=True)
    seeding.add_argument("--listeners", type=int, required=True)
    seeding.add_argument("--recordings", type=int, required=True)
    seeding.add_argument("--legs", required=True, help="leg durations in seconds, comma separated")
    sub.add_parser("counts")
    args = parser.parse_args()

    import django

    django.setup()
    if args.command == "seed":
        legs = [int(x) for x in args.legs.split(",")]
        result = seed(args.agents, args.listeners, args.recordings, legs)
    else:
        result = counts()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
