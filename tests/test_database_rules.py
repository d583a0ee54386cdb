"""Every uniqueness rule the app relies on, and exact tag equality, on SQLite, PostgreSQL and MariaDB.

MariaDB is the database that would break them quietly: Django drops conditional unique constraints
there (``models.W036``), and its default collation, ``utf8mb4_general_ci``, holds ``INV-42``,
``inv-42`` and ``INV-42 `` equal in lookups and unique indexes. The rules are checked in a process of
their own (:mod:`tests.database_rules_driver`) against a fresh database of each engine, as a
deployment configured by ``DATABASE_URL`` would use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.drill_stack import fresh_database
from tests.pipeline_harness import Pipeline

pytestmark = pytest.mark.slow

DRIVER = "tests.database_rules_driver"


def _pipeline(tmp_path: Path, database_url: str, emulator: Any) -> Pipeline:
    return Pipeline.for_driver(tmp_path, emulator, database_url)


def test_the_schema_has_every_rule_the_models_declare(
    tmp_path: Path, engine_database: str, noojee_emulator: Any
) -> None:
    with _pipeline(tmp_path, engine_database, noojee_emulator) as pipeline:
        pipeline.migrate()
        # A warning (models.W036: "a constraint won't be created") fails the check.
        pipeline.manage("check", "--database", "default", "--fail-level", "WARNING")


def test_two_agents_recording_one_tag_at_once_leave_one_live_recording_and_tags_compare_exactly(
    tmp_path: Path, engine_database: str, noojee_emulator: Any
) -> None:
    with _pipeline(tmp_path, engine_database, noojee_emulator) as pipeline:
        pipeline.migrate()
        report = pipeline.run_driver(["rules"], module=DRIVER, timeout=120)

    # Two agents, two calls, two invoices, one tag: one recording starts, the other is refused in words.
    started = [o for o in report["outcomes"] if o.startswith("started")]
    refused = [o for o in report["outcomes"] if not o.startswith("started")]
    assert len(started) == 1 and started[0].endswith("(recording)"), report["outcomes"]
    assert len(refused) == 1 and refused[0].startswith("InvalidState: INV-42 is being recorded already"), (
        refused
    )
    assert report["live_after_race"] == 1
    # A status change that would make a second live INV-42 is refused too, and changes nothing.
    assert report["poll_again"].startswith("TransitionRefused: Recording 'INV-42' is being recorded"), report
    assert report["old_status"] == "failed"

    # Another case is another tag: recording inv-42 while INV-42 is live is allowed.
    assert report["lower_case"] == "started (recording)", report
    assert report["inserts"] == {"INV-42": "IntegrityError", "INV-42 ": "inserted", "Inv-42": "inserted"}
    assert report["live_rows"] == ["INV-42", "INV-42 ", "Inv-42", "inv-42"]
    assert report["live_tag_lookup"] == ["INV-42"]
    # A lookup finds its tag and no other, on recordings and on legs.
    assert report["tag_lookup"] == {"INV-42": ["INV-42"], "inv-42": ["inv-42"], "INV-42 ": ["INV-42 "]}
    assert report["leg_lookup"] == {"INV-42": ["INV-42"], "inv-42": ["inv-42"], "INV-42 ": ["INV-42 "]}
    # Searching ignores case everywhere, as the admin's search expects.
    assert report["icontains"] == ["INV-42", "INV-42 ", "Inv-42", "inv-42"]
    assert report["iexact"] == ["INV-42", "Inv-42", "inv-42"]

    # The other unique columns: a double click's guard and a leg's CallRecordId.
    assert report["dial_guard"] == "IntegrityError"
    assert report["dial_guard_nulls"] == 2  # empty guards never collide
    assert report["call_record_id"] == "IntegrityError"


def test_the_migration_fails_all_but_the_newest_live_duplicate_of_a_tag_on_mariadb(
    tmp_path: Path, mariadb_url: str, noojee_emulator: Any
) -> None:
    """Only MariaDB (and MySQL) can hold such duplicates: elsewhere the old constraint prevented them."""
    database_url = fresh_database(mariadb_url, "t_duplicates")
    with _pipeline(tmp_path, database_url, noojee_emulator) as pipeline:
        pipeline.manage("migrate", "--noinput", "-v0")
        pipeline.manage("migrate", "noojee_django", "0005", "--noinput", "-v0")
        ids = pipeline.run_driver(["seed-duplicates"], module=DRIVER)
        pipeline.migrate()
        report = pipeline.run_driver(["after-migration"], module=DRIVER)

    rows = {name: report["rows"][str(pk)] for name, pk in ids.items()}
    assert rows["newest"]["status"] == "fetching"
    for name, was in (("oldest", "recording"), ("older", "waiting")):
        assert rows[name]["status"] == "failed", rows[name]
        assert rows[name]["reason"].startswith(f"Recording #{ids['newest']} of the same tag 'INV-7' was live")
        assert not rows[name]["poll"]
        assert {
            "recording": ids[name],
            "from": was,
            "to": "failed",
            "reason": rows[name]["reason"],
        } in report["transitions"]
    assert len(report["transitions"]) == 2
    # Another tag, another case of it, and a recording that was not live are left as they were.
    assert rows["other_case"]["status"] == "recording"
    assert rows["alone"]["status"] == "waiting" and rows["alone"]["poll"]
    assert rows["attached"]["status"] == "attached"


def test_a_status_change_that_waited_on_another_records_the_status_it_really_changed(
    tmp_path: Path, engine_database: str, noojee_emulator: Any
) -> None:
    """The history (hash-chained, in evidence bundles) and the signals name the status a change left,
    also when another worker changed the row while this one waited on its lock."""
    with _pipeline(tmp_path, engine_database, noojee_emulator) as pipeline:
        pipeline.migrate()
        report = pipeline.run_driver(["history-race"], module=DRIVER, timeout=120)

    assert report["errors"] == []
    assert report["status"] == "failed"
    assert report["history"] == [["recording", "waiting"], ["waiting", "failed"]]
