"""One live recording per tag, enforced by every database, and tags that compare exactly.

The rule was a conditional unique constraint, which MariaDB and MySQL do not have (Django skips it
there, ``models.W036``), so a MariaDB database may already hold two live recordings of one tag. In
order: the tag columns get an exact collation (on MariaDB/MySQL only: ``ExactCharField``); every
live recording but the newest of each tag is marked failed, with the reason in its history; then
the conditional constraint gives way to a unique generated column, ``live_tag``, which is the tag
while the recording is live and NULL otherwise.
"""

from django.db import migrations, models
from django.utils import timezone

import noojee_django.models

LIVE = ["recording", "waiting", "fetching"]


def fail_older_live_duplicates(apps, schema_editor):
    """Keep the newest live recording of each tag live; fail the others, saying why.

    Tags are grouped here in Python, byte for byte: before this migration MariaDB's default collation
    would have grouped ``INV-42`` with ``inv-42``.
    """
    RecordingTag = apps.get_model("noojee_django", "RecordingTag")
    RecordingTransition = apps.get_model("noojee_django", "RecordingTransition")
    db = schema_editor.connection.alias
    kept: dict[str, int] = {}
    now = timezone.now()
    live = RecordingTag.objects.using(db).filter(status__in=LIVE).order_by("-started_at", "-pk")
    for pk, tag, status in live.values_list("pk", "tag", "status"):
        if tag not in kept:
            kept[tag] = pk
            continue
        reason = (
            f"Recording #{kept[tag]} of the same tag {tag!r} was live at the same time, and is newer: "
            "only one recording of a tag may be live, so this one was failed when the rule was enforced."
        )
        changed = (
            RecordingTag.objects.using(db)
            .filter(pk=pk, status=status)
            .update(status="failed", status_reason=reason, last_error=reason, next_poll_at=None, updated_at=now)
        )
        if changed:
            RecordingTransition.objects.using(db).create(
                recording_tag_id=pk, from_status=status, to_status="failed", reason=reason, created_at=now
            )


class Migration(migrations.Migration):
    dependencies = [
        ("noojee_django", "0005_agentphone_text_without_dial_commands"),
    ]

    operations = [
        migrations.AlterField(
            model_name="callsession",
            name="tag",
            field=noojee_django.models.ExactCharField(blank=True, max_length=64),
        ),
        migrations.AlterField(
            model_name="recordingleg",
            name="tag",
            field=noojee_django.models.ExactCharField(
                blank=True, help_text="The tag the PBX stored with the leg.", max_length=64
            ),
        ),
        migrations.AlterField(
            model_name="recordingtag",
            name="tag",
            field=noojee_django.models.ExactCharField(db_index=True, max_length=64),
        ),
        migrations.RunPython(fail_older_live_duplicates, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="recordingtag",
            name="noojee_tag_unique_while_active",
        ),
        migrations.AddField(
            model_name="recordingtag",
            name="live_tag",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Case(
                    models.When(status__in=["recording", "waiting", "fetching"], then=models.F("tag")),
                    default=None,
                ),
                help_text="The tag while the recording is live (recording, waiting or fetching); else empty.",
                output_field=noojee_django.models.ExactCharField(max_length=64, null=True),
                verbose_name="live tag",
            ),
        ),
        migrations.AddConstraint(
            model_name="recordingtag",
            constraint=models.UniqueConstraint(fields=("live_tag",), name="noojee_tag_one_live_recording"),
        ),
    ]
