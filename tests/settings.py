"""The example CRM's settings, with everything that writes to disk sent to a throwaway folder."""

import atexit
import shutil
import tempfile
from pathlib import Path

from example_project.settings import *  # noqa: F403
from example_project.settings import STORAGES

_TMP = Path(tempfile.mkdtemp(prefix="noojee-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)

MEDIA_ROOT = _TMP / "media"
STORAGES = {
    **STORAGES,
    "noojee_recordings": {
        "BACKEND": "noojee_django.storage.PrivateFileSystemStorage",
        "OPTIONS": {"location": str(_TMP / "recordings"), "base_url": None},
    },
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks are published to an in-memory broker and not run: tests call the services, or run a real worker.
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = False
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
