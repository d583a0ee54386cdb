from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from noojee_django.checks import check_settings
from noojee_django.conf import DEFAULTS, RULES, noojee_settings
from noojee_django.signing import generate_private_key

GOOD = {
    "BASE_URL": "https://pbx.example.com",
    "API_KEY": "test-key",
    "STORAGE_ALIAS": "noojee_recordings",
    "EVIDENCE_SIGNING_KEY": generate_private_key(),
}


SHARED_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
}


@pytest.fixture(autouse=True)
def _shared_cache(settings: Any) -> None:
    """The checks read the cache's backend only; the suite's own cache is per process (W007)."""
    settings.CACHES = SHARED_CACHE


def ids(settings: Any, **noojee: Any) -> set[str]:
    settings.NOOJEE = {**GOOD, **noojee}
    return {message.id for message in check_settings()}


def test_good_settings_raise_nothing(settings: Any) -> None:
    assert ids(settings) == set()


def test_missing_base_url_is_e001(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOOJEE_BASE_URL", raising=False)
    assert "noojee.E001" in ids(settings, BASE_URL=None)


def test_base_url_that_is_not_http_is_e001(settings: Any) -> None:
    assert "noojee.E001" in ids(settings, BASE_URL="ftp://pbx")


def test_missing_api_key_is_e002_and_the_environment_fills_it(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOOJEE_API_KEY", raising=False)
    assert "noojee.E002" in ids(settings, API_KEY=None)
    monkeypatch.setenv("NOOJEE_API_KEY", "from-env")
    assert "noojee.E002" not in ids(settings, API_KEY=None)
    assert noojee_settings.API_KEY == "from-env"


def test_plain_http_outside_debug_is_e003(settings: Any) -> None:
    settings.DEBUG = False
    assert "noojee.E003" in ids(settings, BASE_URL="http://pbx.example.com")
    assert "noojee.E003" not in ids(settings, BASE_URL="http://127.0.0.1:8765")
    settings.DEBUG = True
    assert "noojee.E003" not in ids(settings, BASE_URL="http://pbx.example.com")


def test_unknown_storage_alias_is_e004_and_default_storage_warns(settings: Any) -> None:
    assert "noojee.E004" in ids(settings, STORAGE_ALIAS="nope")
    assert "noojee.W004" in ids(settings, STORAGE_ALIAS="default")


def test_a_recordings_storage_that_gives_urls_is_w005(settings: Any) -> None:
    # FileSystemStorage falls back to MEDIA_URL
    assert "noojee.W005" in ids(settings, STORAGE_ALIAS="default")
    assert "noojee.W005" not in ids(settings)  # PrivateFileSystemStorage has no URLs


def test_bad_choice_is_e005(settings: Any) -> None:
    assert "noojee.E005" in ids(settings, AUTH="password")
    assert "noojee.E005" in ids(settings, AUDIO_ENCODING="mp3")


def test_unknown_time_zone_is_e006(settings: Any) -> None:
    assert "noojee.E006" in ids(settings, PBX_TIME_ZONE="Mars/Olympus")


def test_hook_that_cannot_be_imported_is_e007(settings: Any) -> None:
    assert "noojee.E007" in ids(settings, MAY_HEAR="nowhere.at_all")


def test_retention_without_purge_schedule_is_w001(settings: Any) -> None:
    settings.CELERY_BEAT_SCHEDULE = {}
    assert "noojee.W001" in ids(settings, RETENTION_DAYS=30)
    from noojee_django.beat import beat_schedule

    settings.CELERY_BEAT_SCHEDULE = beat_schedule()
    assert "noojee.W001" not in ids(settings, RETENTION_DAYS=30)


def test_a_beat_schedule_without_the_live_call_sweep_is_w008(settings: Any) -> None:
    from noojee_django.beat import beat_schedule

    schedule = beat_schedule()
    settings.CELERY_BEAT_SCHEDULE = schedule
    assert "noojee.W008" not in ids(settings)
    settings.CELERY_BEAT_SCHEDULE = {k: v for k, v in schedule.items() if "live-calls" not in k}
    assert "noojee.W008" in ids(settings)
    settings.CELERY_BEAT_SCHEDULE = {}  # no beat from this project's settings at all: nothing to say
    assert "noojee.W008" not in ids(settings)


def test_debug_logging_of_urllib3_is_w002(settings: Any) -> None:
    logger = logging.getLogger("urllib3")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        assert "noojee.W002" in ids(settings)
    finally:
        logger.setLevel(previous)
    assert "noojee.W002" not in ids(settings)


def test_unknown_key_is_w003(settings: Any) -> None:
    assert "noojee.W003" in ids(settings, BASEURL="typo")


def test_missing_required_setting_names_what_to_add(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOOJEE_API_KEY", raising=False)
    settings.NOOJEE = {"BASE_URL": "https://pbx"}
    with pytest.raises(ImproperlyConfigured, match=r"NOOJEE\['API_KEY'\].*NOOJEE_API_KEY"):
        noojee_settings.API_KEY  # noqa: B018


def test_noojee_setting_must_be_a_dict(settings: Any) -> None:
    settings.NOOJEE = ["https://pbx"]
    assert {m.id for m in check_settings()} == {"noojee.E000"}


@pytest.mark.parametrize("backend", ["locmem.LocMemCache", "dummy.DummyCache"])
def test_a_cache_each_process_keeps_to_itself_is_w007(settings: Any, backend: str) -> None:
    settings.CACHES = {"default": {"BACKEND": f"django.core.cache.backends.{backend}"}}
    assert "noojee.W007" in ids(settings)


@pytest.mark.parametrize("backend", ["redis.RedisCache", "db.DatabaseCache", "filebased.FileBasedCache"])
def test_a_shared_cache_is_not_w007(settings: Any, backend: str) -> None:
    settings.CACHES = {"default": {"BACKEND": f"django.core.cache.backends.{backend}", "LOCATION": "x"}}
    assert "noojee.W007" not in ids(settings)


def test_a_base_url_with_a_path_is_e001(settings: Any) -> None:
    assert "noojee.E001" in ids(settings, BASE_URL="https://pbx.example.com/servicemanager/rest")
    assert "noojee.E001" not in ids(settings, BASE_URL="https://pbx.example.com/")


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETENTION_DAYS", "365"), ("RETENTION_DAYS", -1), ("RETENTION_DAYS", 1.5), ("TIMEOUT", 0),
     ("MAX_FETCH_ATTEMPTS", True), ("POLL_BACKOFF_CAP", "600"), ("DIAL_RATE_LIMIT", 0)],
)  # fmt: skip
def test_a_number_that_is_not_one_or_out_of_range_is_e008(settings: Any, name: str, value: Any) -> None:
    settings.NOOJEE = {**GOOD, name: value}
    errors = [m for m in check_settings() if m.id == "noojee.E008"]
    assert len(errors) == 1 and f"NOOJEE['{name}']" in errors[0].msg and repr(value) in errors[0].msg


def test_numbers_in_range_and_allowed_nones_pass(settings: Any) -> None:
    assert "noojee.E008" not in ids(settings, RETENTION_DAYS=365, TIMEOUT=0.5, DIAL_RATE_LIMIT=None)
    assert "noojee.E008" not in ids(settings, RETENTION_DAYS=None, DOWNLOAD_DEADLINE=None, POLL_DELAY=0)


@pytest.mark.parametrize(
    ("override", "check_id"),
    [
        ('NOOJEE = "https://pbx.example.com"', "noojee.E000"),
        ('NOOJEE = {**NOOJEE, "STORAGE_ALIAS": "nowhere"}', "noojee.E004"),
    ],
)
def test_a_bad_noojee_or_storage_alias_is_reported_by_check_not_a_traceback(
    tmp_path: Path, override: str, check_id: str
) -> None:
    (tmp_path / "broken_settings.py").write_text(f"from tests.settings import *  # noqa\n{override}\n")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}",
            "DJANGO_SETTINGS_MODULE": "broken_settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert f"({check_id})" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_an_explicit_none_means_none_and_a_missing_key_the_default(settings: Any) -> None:
    settings.NOOJEE = {**GOOD, "DIAL_RATE_LIMIT": None, "DOWNLOAD_DEADLINE": None}
    assert noojee_settings.DIAL_RATE_LIMIT is None and noojee_settings.DOWNLOAD_DEADLINE is None
    settings.NOOJEE = dict(GOOD)
    assert noojee_settings.DIAL_RATE_LIMIT == 30 and noojee_settings.DOWNLOAD_DEADLINE == 3600


def test_an_explicit_none_for_a_permission_hook_keeps_the_default_check(settings: Any) -> None:
    settings.NOOJEE = {**GOOD, "MAY_HEAR": None}
    assert noojee_settings.MAY_HEAR == "noojee_django.permissions.default_may_hear"


@pytest.mark.parametrize(
    ("name", "value"),
    [("VERIFY_TLS", 0), ("ALLOW_AUDIO_URLS", "yes"), ("API_SCHEMA_PUBLIC", 1), ("UPLOAD_TO", 3),
     ("ATTACHABLE_MODELS", "crm.invoice"), ("ATTACHABLE_MODELS", ["crm.invoice", 7]), ("MAY_HEAR", 42)],
)  # fmt: skip
def test_a_value_of_the_wrong_kind_is_e009(settings: Any, name: str, value: Any) -> None:
    settings.NOOJEE = {**GOOD, name: value}
    errors = [m for m in check_settings() if m.id == "noojee.E009"]
    assert len(errors) == 1 and f"NOOJEE['{name}']" in errors[0].msg and repr(value) in errors[0].msg


def test_reading_a_setting_with_a_bad_value_raises_what_the_check_says(settings: Any) -> None:
    settings.NOOJEE = {**GOOD, "RETENTION_DAYS": "365"}
    (message,) = [m.msg for m in check_settings()]
    with pytest.raises(ImproperlyConfigured) as raised:
        noojee_settings.POLL_DELAY  # noqa: B018
    assert message in str(raised.value)


def test_the_snapshot_holds_the_declared_types_and_follows_the_setting(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.NOOJEE = {**GOOD, "ATTACHABLE_MODELS": ["crm.invoice"], "TIMEOUT": 3}
    first = noojee_settings.snapshot()
    assert noojee_settings.snapshot() is first  # read once, kept
    assert first.ATTACHABLE_MODELS == ("crm.invoice",) and first.TIMEOUT == 3
    assert first.POLL_DELAY == DEFAULTS["POLL_DELAY"]
    settings.NOOJEE = {**GOOD, "TIMEOUT": 4}
    assert noojee_settings.TIMEOUT == 4 and noojee_settings.snapshot() is not first
    monkeypatch.delenv("NOOJEE_API_KEY", raising=False)
    settings.NOOJEE = {"BASE_URL": "https://pbx.example.com"}
    before = noojee_settings.snapshot()
    monkeypatch.setenv("NOOJEE_API_KEY", "later")
    assert noojee_settings.API_KEY == "later" and noojee_settings.snapshot() is not before


def test_every_key_has_a_declared_rule_and_a_line_in_the_settings_doc() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    assert set(RULES) == set(DEFAULTS)
    missing = [name for name in DEFAULTS if f"| `{name}` |" not in text]
    assert missing == []
    undocumented_checks = [
        check for check in ("E000", "E005", "E008", "E009") if f"`noojee.{check}`" not in text
    ]
    assert undocumented_checks == []
