"""The access log and each recording's history are hash-chained: a row edited, deleted, inserted or
moved afterwards is found, and said where; concurrent writers never fork a chain.

Tampering is done as an attacker with database access would: ``.update()`` and raw SQL, never through
the app's code.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from example_project.crm.models import Invoice
from noojee_django import log_chain, services
from noojee_django.lifecycle import transition
from noojee_django.log_chain import row_digest
from noojee_django.models import LogChain, RecordingAccess, RecordingLeg, RecordingTag, RecordingTransition
from tests.servers import REPO, run_for_json

Model = type[RecordingAccess] | type[RecordingTransition]


def _recording(invoice: Invoice, tag: str = "INV-42") -> RecordingTag:
    return RecordingTag.objects.create(tag=tag, content_object=invoice, start_accepted=True)


def _leg(recording: RecordingTag | None, call_record_id: int) -> RecordingLeg:
    return RecordingLeg.objects.create(
        recording_tag=recording,
        tag=recording.tag if recording else "LOOSE",
        call_record_id=call_record_id,
        leg=1,
        unique_id=f"{call_record_id}.1",
        duration=2,
    )


def _history(recording: RecordingTag, leg: RecordingLeg, user: User) -> None:
    """Five status changes, through the lifecycle as the app makes them."""
    transition(recording, RecordingTag.Status.WAITING, reason="stopped", actor=user)
    transition(recording, RecordingTag.Status.FETCHING, reason="legs listed")
    transition(leg, RecordingLeg.FetchStatus.FETCHING, reason="claimed")
    transition(leg, RecordingLeg.FetchStatus.FETCHED, reason="stored")
    transition(recording, RecordingTag.Status.ATTACHED, reason="joined")


def _accesses(recording: RecordingTag, leg: RecordingLeg, user: User) -> None:
    """Five listens, through the access log's writer as playback makes them."""
    for n in range(5):
        services.record_access(
            user,
            recording,
            leg=leg if n % 2 else None,
            action="play",
            byte_range=f"bytes={n}-",
            ip_address="2001:db8::1" if n % 2 else "203.0.113.9",
        )


@pytest.fixture
def logs(invoice: Invoice, agent: User) -> dict[str, Any]:
    """A recording with five rows in each log, and a second recording with its own."""
    recording = _recording(invoice)
    leg = _leg(recording, 501)
    _history(recording, leg, agent)
    _accesses(recording, leg, agent)
    other = _recording(invoice, "INV-43")
    other_leg = _leg(other, 502)
    _history(other, other_leg, agent)
    _accesses(other, other_leg, agent)
    return {"recording": recording, "leg": leg, "other": other, "user": agent}


def _rows(model: Model, recording: RecordingTag) -> list[Any]:
    return list(model.objects.filter(chain=f"recording:{recording.pk}").order_by("sequence"))


def _raw_insert(model: Model, values: dict[str, Any]) -> int:
    """INSERT a row by hand, as someone with database access would."""
    table = model._meta.db_table
    columns, params = [], []
    for name, value in values.items():
        field = model._meta.get_field(name.removesuffix("_id") if name.endswith("_id") else name)
        columns.append(connection.ops.quote_name(field.column))
        params.append(field.get_db_prep_value(value, connection))
    placeholders = ", ".join(["%s"] * len(params))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(table)} ({', '.join(columns)}) VALUES ({placeholders})",
            params,
        )
    return int(model.objects.order_by("-id").values_list("id", flat=True)[0])


def _copy(row: Any, **changes: Any) -> dict[str, Any]:
    skip = {"id"}
    values = {
        f.attname: getattr(row, f.attname) for f in type(row)._meta.concrete_fields if f.attname not in skip
    }
    return {**values, **changes}


def _rehash(model: Model, row_id: int) -> str:
    """What an attacker who knows the format does after an edit: make the row's own hash fit again."""
    spec = log_chain.spec_for(model)
    row = model.objects.values().get(pk=row_id)
    digest = row_digest(spec.log, row["chain"], row["sequence"], row, row["previous_hash"])
    model.objects.filter(pk=row_id).update(row_hash=digest)
    return digest


def _only_break(recording: RecordingTag, model: Model) -> log_chain.ChainBreak:
    report = services.verify_log(recording)
    table = model._meta.db_table
    breaks = [b for b in report.breaks if b.table == table]
    assert len(breaks) == 1, report.breaks
    assert not report.ok
    return breaks[0]


BOTH = pytest.mark.parametrize("model", [RecordingTransition, RecordingAccess], ids=["history", "access_log"])


def test_every_row_is_appended_to_its_recordings_chain_linked_to_the_one_before(logs: dict[str, Any]) -> None:
    recording = logs["recording"]
    for model in (RecordingTransition, RecordingAccess):
        rows = _rows(model, recording)
        assert [r.sequence for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].previous_hash == log_chain.GENESIS
        assert all(b.previous_hash == a.row_hash for a, b in itertools.pairwise(rows))
        assert len({r.row_hash for r in rows}) == 5
        log = log_chain.spec_for(model).log
        head = LogChain.objects.get(log=log, chain=f"recording:{recording.pk}")
        assert (head.length, head.head_hash) == (5, rows[-1].row_hash)
    report = services.verify_log()
    assert report.ok, report.breaks
    assert report.rows == 20 and report.chains == 4
    assert {(h.chain, h.length) for h in report.heads} >= {(f"recording:{recording.pk}", 5)}


@BOTH
def test_an_edited_row_is_found_at_its_row(logs: dict[str, Any], model: Model) -> None:
    row = _rows(model, logs["recording"])[2]
    field, value = (
        ("reason", "stored, honestly") if model is RecordingTransition else ("ip_address", "198.51.100.1")
    )
    model.objects.filter(pk=row.pk).update(**{field: value})

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("edited", row.pk, 3)
    assert found.chain == f"recording:{logs['recording'].pk}"
    assert services.verify_log(logs["other"]).ok  # another recording's chain is its own


@BOTH
def test_an_edited_row_whose_hash_was_made_again_is_found_by_the_row_after_it(
    logs: dict[str, Any], model: Model
) -> None:
    row = _rows(model, logs["recording"])[1]
    model.objects.filter(pk=row.pk).update(created_at=row.created_at.replace(year=2020))
    _rehash(model, row.pk)

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("edited", row.pk, 2)


@BOTH
def test_a_deleted_row_is_found_missing_before_the_row_after_it(logs: dict[str, Any], model: Model) -> None:
    rows = _rows(model, logs["recording"])
    model.objects.filter(pk=rows[1].pk).delete()

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("missing", rows[2].pk, 3)
    assert "sequence 2" in found.detail


@BOTH
def test_a_deleted_row_with_the_rest_renumbered_is_found_missing(logs: dict[str, Any], model: Model) -> None:
    rows = _rows(model, logs["recording"])
    model.objects.filter(pk=rows[1].pk).delete()
    for row in rows[2:]:
        model.objects.filter(pk=row.pk).update(sequence=row.sequence - 1)
    LogChain.objects.filter(chain=rows[0].chain, log=log_chain.spec_for(model).log).update(length=4)

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("missing", rows[2].pk, 2)


@BOTH
def test_the_last_rows_deleted_are_found_missing_against_the_chains_head(
    logs: dict[str, Any], model: Model
) -> None:
    rows = _rows(model, logs["recording"])
    model.objects.filter(pk__in=[rows[3].pk, rows[4].pk]).delete()

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("missing", rows[2].pk, 3)
    assert "last 2 row(s)" in found.detail


@BOTH
def test_a_row_inserted_by_hand_is_found_inserted(logs: dict[str, Any], model: Model) -> None:
    rows = _rows(model, logs["recording"])
    # Without chain fields: SQL written by someone who did not know of the chain.
    forged = _raw_insert(model, _copy(rows[0], chain="", sequence=None, previous_hash="", row_hash=""))

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id) == ("inserted", forged)


@BOTH
def test_a_row_inserted_at_the_end_with_a_good_hash_is_found_beyond_the_chains_head(
    logs: dict[str, Any], model: Model
) -> None:
    rows = _rows(model, logs["recording"])
    spec = log_chain.spec_for(model)
    values = _copy(rows[-1], sequence=6, previous_hash=rows[-1].row_hash)
    values["row_hash"] = row_digest(spec.log, values["chain"], 6, values, values["previous_hash"])
    forged = _raw_insert(model, values)

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("inserted", forged, 6)


@BOTH
def test_a_row_slipped_into_the_middle_with_a_good_hash_is_found_inserted(
    logs: dict[str, Any], model: Model
) -> None:
    rows = _rows(model, logs["recording"])
    spec = log_chain.spec_for(model)
    for row in reversed(rows[2:]):  # make room at sequence 3
        model.objects.filter(pk=row.pk).update(sequence=row.sequence + 1)
    values = _copy(rows[1], sequence=3, previous_hash=rows[1].row_hash)
    values["row_hash"] = row_digest(spec.log, values["chain"], 3, values, values["previous_hash"])
    forged = _raw_insert(model, values)
    LogChain.objects.filter(chain=rows[0].chain, log=spec.log).update(length=6)

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("inserted", forged, 3)


@BOTH
def test_two_rows_swapped_are_found_reordered(logs: dict[str, Any], model: Model) -> None:
    rows = _rows(model, logs["recording"])
    model.objects.filter(pk=rows[1].pk).update(sequence=1000)
    model.objects.filter(pk=rows[2].pk).update(sequence=2)
    model.objects.filter(pk=rows[1].pk).update(sequence=3)

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("reordered", rows[2].pk, 2)
    assert f"row id {rows[1].pk}, which is now at sequence 3" in found.detail


@BOTH
def test_a_row_moved_to_another_user_is_found_edited(
    logs: dict[str, Any], model: Model, other_agent: User
) -> None:
    row = _rows(model, logs["recording"])[0]
    column = "actor_id" if model is RecordingTransition else "user_id"
    model.objects.filter(pk=row.pk).update(**{column: other_agent.pk})

    found = _only_break(logs["recording"], model)
    assert (found.kind, found.row_id, found.sequence) == ("edited", row.pk, 1)


def test_deleting_a_user_keeps_the_chains_whole(logs: dict[str, Any]) -> None:
    user = logs["user"]
    pk = user.pk
    user.delete()
    assert RecordingAccess.objects.filter(user__isnull=True, user_pk=str(pk)).count() == 10
    assert services.verify_log().ok


def test_a_legs_history_before_it_has_a_recording_is_the_legs_own_chain(invoice: Invoice) -> None:
    loose = _leg(None, 900)
    transition(loose, RecordingLeg.FetchStatus.FETCHING, reason="claimed")
    transition(loose, RecordingLeg.FetchStatus.FETCHED, reason="stored")
    recording = _recording(invoice, "INV-900")
    RecordingLeg.objects.filter(pk=loose.pk).update(recording_tag=recording)
    transition(recording, RecordingTag.Status.WAITING, reason="stopped")

    assert list(
        RecordingTransition.objects.filter(chain=f"leg:{loose.pk}").values_list("sequence", flat=True)
    ) == [
        1,
        2,
    ]
    RecordingTransition.objects.filter(chain=f"leg:{loose.pk}", sequence=1).update(reason="edited")
    found = _only_break(recording, RecordingTransition)  # the recording's report includes its legs' chains
    assert (found.chain, found.kind, found.sequence) == (f"leg:{loose.pk}", "edited", 1)


def test_rows_are_written_only_through_the_chain(logs: dict[str, Any]) -> None:
    recording, user = logs["recording"], logs["user"]
    # objects.create() and save() of a new row append to the chain ...
    made = RecordingAccess.objects.create(recording_tag=recording, action="play", user=user)
    assert (made.sequence, made.chain) == (6, f"recording:{recording.pk}")
    # ... bulk_create would skip it, and a log row is never changed.
    with pytest.raises(TypeError, match="hash-chained"):
        RecordingTransition.objects.bulk_create([RecordingTransition(recording_tag=recording, to_status="x")])
    made.byte_range = "bytes=0-1"
    with pytest.raises(TypeError, match="never changed"):
        made.save()
    assert services.verify_log().ok


def test_the_command_reports_the_first_break_and_exits_non_zero(logs: dict[str, Any], capsys: Any) -> None:
    call_command("noojee_verify_log")
    assert "All chains hold: 4 chain(s), 20 row(s) checked." in capsys.readouterr().out

    row = _rows(RecordingAccess, logs["recording"])[3]
    RecordingAccess.objects.filter(pk=row.pk).update(action="download")
    with pytest.raises(CommandError) as raised:
        call_command("noojee_verify_log")
    assert raised.value.returncode == 1
    said = capsys.readouterr().err
    assert (
        f"noojee_django_recordingaccess chain 'recording:{logs['recording'].pk}': edited at row id {row.pk}, "
        "sequence 4: its fields no longer match its hash"
    ) in said
    call_command("noojee_verify_log", "--recording", str(logs["other"].pk))  # the other one holds


# On the servers: concurrent writers, and the migration's backfill ------------------------------------------


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": database_url,
        "NOOJEE_EXAMPLE_VAR_DIR": str(tmp_path),
        "NOOJEE_BASE_URL": "http://127.0.0.1:9",
        "NOOJEE_API_KEY": "not-used",
        "CELERY_BROKER_URL": "memory://",
        "PYTHONPATH": str(REPO),
    }


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _driver(env: dict[str, str], *args: str) -> dict[str, Any]:
    return dict(run_for_json([sys.executable, "-m", "tests.log_chain_driver", *args], env=env, timeout=300))


@pytest.mark.slow
def test_writers_appending_at_once_from_several_processes_never_fork_a_chain(
    tmp_path: Path, engine_database: str
) -> None:
    env = _env(tmp_path, engine_database)
    migrated = _manage(env, "migrate", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    ids = _driver(env, "seed")
    processes, threads, rows = 3, 2, 15
    start_at = f"{time.time() + 3:.3f}"
    command = [sys.executable, "-m", "tests.log_chain_driver", "append", "--rows", str(rows)]
    command += ["--threads", str(threads), "--start-at", start_at]
    command += ["--recording", str(ids["recording"]), "--leg", str(ids["leg"]), "--user", str(ids["user"])]
    running = [
        subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(processes)
    ]
    outcomes = []
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-3000:]
        outcomes.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert [o["errors"] for o in outcomes] == [[]] * processes
    total = processes * threads * rows

    report = _driver(env, "verify")
    assert report["ok"], report["breaks"]
    # One chain per log, no place taken twice, none skipped.
    assert report["sequences"] == {
        "RecordingAccess": list(range(1, total + 1)),
        "RecordingTransition": list(range(1, total + 1)),
    }
    chain = f"recording:{ids['recording']}"
    assert report["heads"] == {f"access {chain}": total, f"transition {chain}": total}


@pytest.mark.slow
def test_the_migration_chains_the_rows_written_before_it(tmp_path: Path, engine_database: str) -> None:
    env = _env(tmp_path, engine_database)
    migrated = _manage(env, "migrate", "noojee_django", "0006", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    assert _driver(env, "seed-old") == {"rows": 36}

    migrated = _manage(env, "migrate", "--noinput", "-v0")  # the database checks run here too
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    report = _driver(env, "verify")
    assert report["ok"], report["breaks"]
    assert report["rows"] == 36
    # Per recording: its three status changes and its leg's three; the loose legs' on their own chains.
    assert sorted(report["heads"].values()) == [3] * 6 + [6] * 3
    verified = _manage(env, "noojee_verify_log")
    assert verified.returncode == 0 and "All chains hold: 9 chain(s), 36 row(s) checked." in verified.stdout


@pytest.mark.parametrize("model", [RecordingTransition, RecordingAccess], ids=["history", "access_log"])
def test_the_admin_shows_a_rows_place_in_its_chain_and_changes_nothing(
    logs: dict[str, Any], model: Model, superuser: User, client: Any
) -> None:
    from django.urls import reverse

    row = _rows(model, logs["recording"])[1]
    client.force_login(superuser)
    url = reverse(f"admin:noojee_django_{model._meta.model_name}_change", args=[row.pk])
    page = client.get(url).content.decode()
    assert row.row_hash in page and row.previous_hash in page and f"recording:{logs['recording'].pk}" in page
    assert 'name="row_hash"' not in page  # shown, not a form field
    client.post(url, {"row_hash": "0" * 64, "sequence": 9})
    assert services.verify_log().ok
