"""Settings of the example CRM. Also the settings the test suite runs with."""

from __future__ import annotations

import os
from pathlib import Path

from noojee_django.beat import beat_schedule

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("NOOJEE_EXAMPLE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "noojee_django",
    "example_project.crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "example_project.crm.context_processors.demo",
            ],
        },
    },
]

WSGI_APPLICATION = "example_project.wsgi.application"


# Several processes (server, worker, listener) share a SQLite file: wait for locks instead of failing.
# WAL lets readers work while one process writes; synchronous=NORMAL is safe with WAL.
_SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def _database_from_url(url: str) -> dict[str, object]:
    """``DATABASE_URL`` -> a DATABASES entry: the one setting every process of a deployment shares.

    ``postgres://user:password@host:port/name``, ``mysql://user:password@host:port/name`` (MariaDB or
    MySQL, through mysqlclient), or ``sqlite:///relative/path`` and ``sqlite:////absolute/path``.
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        name = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not name:
            raise ValueError("DATABASE_URL sqlite:/// needs a file: sqlite:///var/db.sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": dict(_SQLITE_OPTIONS)}
    engines = {
        "postgres": "django.db.backends.postgresql",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
        "mariadb": "django.db.backends.mysql",
    }
    if parts.scheme not in engines:
        raise ValueError(
            f"DATABASE_URL must be a postgres://, mysql:// or sqlite:/// URL, not {parts.scheme}://"
        )
    entry: dict[str, object] = {
        "ENGINE": engines[parts.scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # Workers run many short tasks: keep connections instead of opening one per task. Each thread
        # keeps its own: see docs/deployment.md for sizing max_connections.
        "CONN_MAX_AGE": int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
    }
    if entry["ENGINE"] == "django.db.backends.mysql":
        # Four-byte UTF-8 on the wire, and the test database made the same way as a deployed one.
        entry["OPTIONS"] = {"charset": "utf8mb4"}
        entry["TEST"] = {"CHARSET": "utf8mb4"}
    return entry


DATABASES = {
    "default": _database_from_url(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("NOOJEE_EXAMPLE_DB", str(VAR_DIR / "db.sqlite3")),
        "OPTIONS": dict(_SQLITE_OPTIONS),
    }
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm:customer-list"
LOGOUT_REDIRECT_URL = "login"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Voice signatures live here: outside MEDIA_ROOT, with no base URL, so no web server can serve them.
    "noojee_recordings": {
        "BACKEND": "noojee_django.storage.PrivateFileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "recordings"), "base_url": None},
    },
}

# The example talks to the bundled emulator by default. Against a real PBX, set NOOJEE_BASE_URL and
# NOOJEE_API_KEY in the environment: keys never belong in a settings file.
EMULATOR_DEV_KEY = "emulator-dev-key"  # the key the demo starts its local emulator with; not a PBX key
# Set by `make demo`: the pages then show (and change) how long the emulated customer stays on the line.
DEMO_PBX = os.environ.get("NOOJEE_DEMO_PBX") == "1"
DEMO_HANGUP_AFTER = int(os.environ.get("NOOJEE_DEMO_HANGUP_AFTER", "0"))
NOOJEE = {
    "BASE_URL": os.environ.get("NOOJEE_BASE_URL", "http://127.0.0.1:8765"),
    "API_KEY": os.environ.get("NOOJEE_API_KEY", EMULATOR_DEV_KEY),
    "PBX_TIME_ZONE": "Australia/Melbourne",
    "STORAGE_ALIAS": "noojee_recordings",
    # A demo should attach within seconds; the app's defaults suit a production PBX.
    "POLL_DELAY": float(os.environ.get("NOOJEE_POLL_DELAY", "2")),
    "POLL_BACKOFF_BASE": float(os.environ.get("NOOJEE_POLL_BACKOFF_BASE", "2")),
    "POLL_BACKOFF_CAP": float(os.environ.get("NOOJEE_POLL_BACKOFF_CAP", "60")),
    "GIVE_UP_AFTER": float(os.environ.get("NOOJEE_GIVE_UP_AFTER", "900")),
    # The fault drill (bench/reliability.py) runs the whole clock faster through these.
    "TIMEOUT": float(os.environ.get("NOOJEE_TIMEOUT", "10")),
    "FETCH_LEASE": float(os.environ.get("NOOJEE_FETCH_LEASE", "600")),
    "SWEEP_GRACE": float(os.environ.get("NOOJEE_SWEEP_GRACE", "60")),
    "UNLISTED_CALL_GRACE": float(os.environ.get("NOOJEE_UNLISTED_CALL_GRACE", "15")),
    "MAX_FETCH_ATTEMPTS": int(os.environ.get("NOOJEE_MAX_FETCH_ATTEMPTS", "5")),
    # "1": no recording starts until the agent ticks that the customer was told (docs/settings.md)
    "REQUIRE_CONSENT": os.environ.get("NOOJEE_REQUIRE_CONSENT") == "1",
}
# A second client company on a PBX of its own (docs/deployment.md "Several PBXs"): `make demo` starts a
# second emulator for it and sets NOOJEE_ACME_BASE_URL, and its key in NOOJEE_ACME_API_KEY, the only
# place the connection's key is read from. Without the variable the example has the one PBX.
if os.environ.get("NOOJEE_ACME_BASE_URL"):
    NOOJEE["PBXES"] = {
        "acme": {
            "BASE_URL": os.environ["NOOJEE_ACME_BASE_URL"],
            "API_KEY_ENV": "NOOJEE_ACME_API_KEY",
            "PBX_TIME_ZONE": os.environ.get("NOOJEE_ACME_PBX_TIME_ZONE", "Australia/Perth"),
        },
    }
    # Who sees which company's calls and recordings: the groups "pbx:<name>", else the user's phone.
    NOOJEE["USER_PBXES"] = "example_project.crm.pbxes.user_pbxes"
    # The CRM's customers belong to one company each (Customer.pbx): a user sees their company's.
    CRM_CUSTOMERS_PER_PBX = True

# Celery. With no broker configured, the demo uses kombu's filesystem transport: a folder is the broker,
# so a worker runs with nothing to install. Production uses Redis or RabbitMQ (docs/deployment.md).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _BROKER_DIR = VAR_DIR / "broker"
    (_BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR),
        "data_folder_out": str(_BROKER_DIR),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        # kombu's default is a "control" folder in the working directory (worker broadcasts)
        "control_folder": str(_BROKER_DIR / "control"),
    }
else:
    # A message a lost worker had taken goes back to the queue after this long (acks_late tasks).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The app's API uses the project's authentication: this CRM offers its session and API tokens.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}

CELERY_BEAT_SCHEDULE = {
    **beat_schedule(
        sweep_every=float(os.environ.get("NOOJEE_SWEEP_EVERY", "15")),
        reconcile_every=float(os.environ.get("NOOJEE_RECONCILE_EVERY", "120")),
        live_calls_every=float(os.environ.get("NOOJEE_LIVE_CALLS_EVERY", "30")),
    )
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

CACHES = {
    # Shared by every process of the demo (server, worker, listener): the listener's heartbeat and the
    # once-a-minute reconcile lock live here. Files need nothing installed; production uses Redis.
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["CACHE_REDIS_URL"]}
        if os.environ.get("CACHE_REDIS_URL")
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
