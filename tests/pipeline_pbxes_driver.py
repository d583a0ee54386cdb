"""Several PBXs through the pipeline: an agent on each connection claims tags there, and what arrives
is checked against the PBX each leg came from.

Run by ``bench/pipeline.py --pbxes`` and the reachability tests in its own process
(``python -m tests.pipeline_pbxes_driver``) with :mod:`tests.pbxes_settings`, so it shares the worker's
database, cache and storage. Two phases, each printing one JSON line:

- ``watch``: every connection's agent watches its tags (the same tag names on every PBX, the ones the
  emulators were given, listed in ``--expected``), one connection after the other for each tag, so the
  broker holds their polls mixed; then it waits until the recordings of ``--wait-for`` are final, and
  says when each one was attached.
- ``settle``: waits until every recording of the run is final, then checks each one against the PBX of
  its connection: the row's connection is its agent's, each leg's connection is the row's, each leg's
  ``CallRecordId`` and audio sha256 are the ones that PBX gave for the tag, the signature is that PBX's
  legs joined. A recording or leg that is anybody else's is a cross-tenant leak.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any


def _agent(name: str, index: int) -> Any:
    from django.contrib.auth.models import Permission, User

    from noojee_django.models import AgentPhone

    user, created = User.objects.get_or_create(username=f"agent-{name}")
    if created:
        user.user_permissions.set(
            Permission.objects.filter(
                codename__in=["can_record", "view_invoice"],
                content_type__app_label__in=["noojee_django", "crm"],
            )
        )
        AgentPhone.objects.create(
            user=user, connection=name, extension=f"SIP/{101 + index}", login_name=f"agent{index + 1}"
        )
    return User.objects.get(pk=user.pk)


def _invoice_number(prefix: str, tag: str, connection: str) -> str:
    return f"{tag}/{connection}"


def watch(expected: dict[str, dict[str, Any]], prefix: str, wait_for: list[str], timeout: float) -> None:
    from example_project.crm.models import Customer, Invoice
    from noojee_django import services
    from noojee_django.models import RecordingTag

    names = list(expected)
    agents = {name: _agent(name, index) for index, name in enumerate(names)}
    customer = Customer.objects.create(name=f"{prefix} customer", phone="0383208100")
    tags = sorted({tag for own in expected.values() for tag in own}, key=lambda t: int(t.rsplit("-", 1)[1]))
    invoices = {
        (name, tag): Invoice.objects.create(
            number=_invoice_number(prefix, tag, name), customer=customer, amount="1.00"
        )
        for tag in tags
        for name in names
        if tag in expected[name]
    }
    started = time.time()
    for tag in tags:
        for name in names:
            if (name, tag) in invoices:
                recording = services.watch_tag(invoices[name, tag], tag, user=agents[name])
                assert recording.connection == name, (recording.connection, name)
    rows = RecordingTag.objects.filter(tag__startswith=f"{prefix}-")
    deadline = started + timeout
    waited = rows.filter(connection__in=wait_for)
    while time.time() < deadline and waited.exclude(status__in=RecordingTag.FINAL_STATUSES).exists():
        time.sleep(0.2)
    report: dict[str, Any] = {"started": started, "connections": {}}
    for name in names:
        own = rows.filter(connection=name)
        attached = [
            r.attached_at.timestamp()
            for r in own.filter(status=RecordingTag.Status.ATTACHED)
            if r.attached_at
        ]
        report["connections"][name] = {
            "rows": own.count(),
            "attached": len(attached),
            "statuses": sorted(own.values_list("status", flat=True).distinct()),
            "last_attached": max(attached, default=None),
        }
    print(json.dumps(report))


def settle(expected: dict[str, dict[str, Any]], urls: dict[str, str], prefix: str, timeout: float) -> None:
    from example_project.crm.models import Invoice
    from noojee_django.emulator import ControlClient
    from noojee_django.models import RecordingTag
    from noojee_django.stitching import stitch_wavs

    rows = RecordingTag.objects.filter(tag__startswith=f"{prefix}-")
    started = time.time()
    deadline = started + timeout
    while time.time() < deadline and rows.exclude(status__in=RecordingTag.FINAL_STATUSES).exists():
        time.sleep(0.2)
    controls = {name: ControlClient(url) for name, url in urls.items()}
    invoices = {str(i.pk): i.number for i in Invoice.objects.filter(number__startswith=f"{prefix}-")}
    leaks: list[str] = []
    wrong_signatures = 0
    per_connection: dict[str, dict[str, Any]] = {
        name: {"rows": 0, "attached": 0, "last_attached": None} for name in expected
    }
    for row in rows.prefetch_related("legs"):
        number = invoices.get(row.object_id, "")
        wanted = number.rsplit("/", 1)[-1] if "/" in number else ""
        if row.connection != wanted:
            leaks.append(f"{row.tag}: a recording of {wanted!r} is on connection {row.connection!r}")
            continue
        mine = per_connection[row.connection]
        mine["rows"] += 1
        given = {leg["call_record_id"]: leg["sha256"] for leg in expected[row.connection][row.tag]["legs"]}
        for leg in row.legs.all():
            if leg.connection != row.connection:
                leaks.append(
                    f"{row.tag}: leg #{leg.call_record_id} of {leg.connection!r} on {row.connection!r}"
                )
            elif leg.call_record_id not in given:
                leaks.append(f"{row.tag}: leg #{leg.call_record_id} is not one {row.connection!r} gave")
            elif leg.audio_sha256 and leg.audio_sha256 != given[leg.call_record_id]:
                leaks.append(
                    f"{row.tag}: leg #{leg.call_record_id} holds audio {row.connection!r} never gave"
                )
        if row.status != RecordingTag.Status.ATTACHED:
            continue
        mine["attached"] += 1
        when = row.attached_at.timestamp() if row.attached_at else None
        if when is not None and (mine["last_attached"] is None or when > mine["last_attached"]):
            mine["last_attached"] = when
        if {leg.call_record_id: leg.audio_sha256 for leg in row.legs.all()} != given:
            wrong_signatures += 1
            continue
        legs = sorted(expected[row.connection][row.tag]["legs"], key=lambda leg: leg["leg"])
        reference = io.BytesIO()
        stitch_wavs(
            [io.BytesIO(controls[row.connection].audio(leg["call_record_id"])) for leg in legs], reference
        )
        with row.audio.open("rb") as stored:
            digest = hashlib.sha256(stored.read()).hexdigest()
        if not digest == hashlib.sha256(reference.getvalue()).hexdigest() == row.audio_sha256:
            wrong_signatures += 1
    print(
        json.dumps(
            {
                "started": started,
                "elapsed": time.time() - started,
                "connections": per_connection,
                "statuses": sorted(rows.values_list("status", flat=True).distinct()),
                "leaks": leaks,
                "wrong_signatures": wrong_signatures,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["watch", "settle"])
    parser.add_argument("--expected", type=Path, required=True, help="JSON: {connection: {tag: recording}}")
    parser.add_argument("--urls", default="{}", help="JSON: {connection: emulator URL} (settle)")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--wait-for", default="", help="connections whose recordings are waited for (watch)")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    expected = json.loads(args.expected.read_text())
    if args.phase == "watch":
        wait_for = [name for name in args.wait_for.split(",") if name] or list(expected)
        watch(expected, args.prefix, wait_for, args.timeout)
    else:
        settle(expected, json.loads(args.urls), args.prefix, args.timeout)


if __name__ == "__main__":
    main()
