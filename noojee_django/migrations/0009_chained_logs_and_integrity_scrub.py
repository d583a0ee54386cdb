"""Hash-chained access log and recording histories, and the integrity scrub's fields on the ledger.

The rows already written are chained in the order they happened (``created_at``, then id), one chain
per recording and log as :mod:`noojee_django.log_chain` appends them, and each chain gets its head;
only then does the unique ``(chain, sequence)`` rule apply. Existing audio starts ``unchecked``: the
scrub reads it in its first cycle.
"""

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


BATCH = 1000


def chain_existing_rows(apps, schema_editor):
    from noojee_django.log_chain import backfill

    db = schema_editor.connection.alias
    LogChain = apps.get_model("noojee_django", "LogChain")
    for model_name, log, fields in (
        ("RecordingTransition", "transition", ["chain", "sequence", "previous_hash", "row_hash", "actor_pk"]),
        ("RecordingAccess", "access", ["chain", "sequence", "previous_hash", "row_hash", "user_pk"]),
    ):
        model = apps.get_model("noojee_django", model_name)
        rows = model.objects.using(db)
        # Ids first, rows a batch at a time: the table is read whole once, and not held open while written.
        ids = list(rows.order_by("created_at", "id").values_list("id", flat=True))
        heads: dict[str, tuple[int, str]] = {}
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            by_id = rows.in_bulk(chunk)
            batch = [by_id[pk] for pk in chunk]
            backfill(batch, log=log, heads=heads)
            rows.bulk_update(batch, fields, batch_size=BATCH)
        LogChain.objects.using(db).bulk_create(
            [LogChain(log=log, chain=chain, length=n, head_hash=h) for chain, (n, h) in heads.items()],
            batch_size=BATCH,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("noojee_django", "0008_evidence_export"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LogChain",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "log",
                    models.CharField(
                        choices=[("transition", "Recording history"), ("access", "Access log")], max_length=16
                    ),
                ),
                ("chain", models.CharField(max_length=40)),
                ("length", models.PositiveBigIntegerField(default=0)),
                ("head_hash", models.CharField(blank=True, max_length=64)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "log chain head",
            },
        ),
        migrations.AddField(
            model_name="recordingaccess",
            name="chain",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The chain this row belongs to: 'recording:<id>' (or 'leg:<id>' for a leg of none).",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="recordingaccess",
            name="previous_hash",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The hash of the row before it in its chain.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="recordingaccess",
            name="row_hash",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="sha256 over this row's fields and the previous hash.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="recordingaccess",
            name="sequence",
            field=models.PositiveBigIntegerField(
                blank=True,
                editable=False,
                help_text="Its place in its chain, from 1, without gaps.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="recordingaccess",
            name="user_pk",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The user's primary key as written: hashed, and kept when the user is deleted.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="recordingtransition",
            name="actor_pk",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The actor's primary key as written: hashed, and kept when the user is deleted.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="recordingtransition",
            name="chain",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The chain this row belongs to: 'recording:<id>' (or 'leg:<id>' for a leg of none).",
                max_length=40,
            ),
        ),
        migrations.AddField(
            model_name="recordingtransition",
            name="previous_hash",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The hash of the row before it in its chain.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="recordingtransition",
            name="row_hash",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="sha256 over this row's fields and the previous hash.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="recordingtransition",
            name="sequence",
            field=models.PositiveBigIntegerField(
                blank=True,
                editable=False,
                help_text="Its place in its chain, from 1, without gaps.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="storedaudio",
            name="integrity",
            field=models.CharField(
                choices=[
                    ("unchecked", "Not checked yet"),
                    ("ok", "Intact"),
                    ("mismatch", "Altered (size or sha256 differ)"),
                    ("missing", "Missing from storage"),
                ],
                default="unchecked",
                help_text="What the last integrity scrub found in storage. The scrub flags; it never deletes.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="storedaudio",
            name="integrity_checked_at",
            field=models.DateTimeField(
                blank=True, help_text="When the scrub last read this object, whatever it found.", null=True
            ),
        ),
        migrations.AddField(
            model_name="storedaudio",
            name="integrity_detail",
            field=models.CharField(
                blank=True, help_text="What the scrub found wrong, in words.", max_length=300
            ),
        ),
        migrations.AddField(
            model_name="storedaudio",
            name="verified_at",
            field=models.DateTimeField(
                blank=True, help_text="When the scrub last found exactly the ledger's bytes.", null=True
            ),
        ),
        migrations.AddIndex(
            model_name="storedaudio",
            index=models.Index(
                fields=["deleted_at", "integrity_checked_at", "id"], name="noojee_stored_scrub_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="storedaudio",
            index=models.Index(fields=["integrity"], name="noojee_stored_integrity_idx"),
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="recordingaccess",
            constraint=models.UniqueConstraint(
                fields=("chain", "sequence"), name="noojee_access_chain_place"
            ),
        ),
        migrations.AddConstraint(
            model_name="recordingtransition",
            constraint=models.UniqueConstraint(
                fields=("chain", "sequence"), name="noojee_transition_chain_place"
            ),
        ),
        migrations.AddConstraint(
            model_name="logchain",
            constraint=models.UniqueConstraint(fields=("log", "chain"), name="noojee_logchain_one_head"),
        ),
    ]
