"""Secure pause: the ``paused`` status, the pauses of each recording, and ``live_tag`` counting a
paused recording as live (one live recording per tag holds while it is paused).

A database cannot alter a generated column's expression: ``live_tag`` and its unique rule are dropped
and made again from the status, which every row already has.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import noojee_django.models


class Migration(migrations.Migration):
    dependencies = [
        ("noojee_django", "0010_scripts_and_consent"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="recordingtag",
            name="status",
            field=models.CharField(
                choices=[
                    ("recording", "Recording"),
                    ("paused", "Paused"),
                    ("waiting", "Waiting for audio"),
                    ("fetching", "Fetching audio"),
                    ("attached", "Attached"),
                    ("absent", "No recording found"),
                    ("failed", "Failed"),
                ],
                default="recording",
                max_length=16,
            ),
        ),
        migrations.RemoveConstraint(
            model_name="recordingtag",
            name="noojee_tag_one_live_recording",
        ),
        migrations.RemoveField(
            model_name="recordingtag",
            name="live_tag",
        ),
        migrations.AddField(
            model_name="recordingtag",
            name="live_tag",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Case(
                    models.When(
                        status__in=["recording", "paused", "waiting", "fetching"], then=models.F("tag")
                    ),
                    default=None,
                ),
                help_text="The tag while the recording is live (recording, paused, waiting or fetching); "
                "else empty.",
                output_field=noojee_django.models.ExactCharField(max_length=64, null=True),
                verbose_name="live tag",
            ),
        ),
        migrations.AddConstraint(
            model_name="recordingtag",
            constraint=models.UniqueConstraint(fields=("live_tag",), name="noojee_tag_one_live_recording"),
        ),
        migrations.CreateModel(
            name="RecordingPause",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "resume_due_at",
                    models.DateTimeField(
                        help_text="When the recording resumes by itself (PAUSE_MAX_SECONDS after the pause) "
                        "unless resumed before."
                    ),
                ),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "ended_how",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("resumed", "Resumed"),
                            ("resumed_automatically", "Resumed automatically"),
                            ("ended", "The recording ended while paused"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "reason",
                    models.CharField(blank=True, help_text="Why the agent paused (card details).", max_length=200),
                ),
                (
                    "paused_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "recording_tag",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pauses",
                        to="noojee_django.recordingtag",
                    ),
                ),
                (
                    "resumed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["started_at", "id"],
                "indexes": [models.Index(fields=["ended_at", "resume_due_at"], name="noojee_pause_open_idx")],
            },
        ),
    ]
