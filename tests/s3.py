"""The recordings storage in S3 for a test: django-storages' ``S3Storage`` against moto's S3 API server,
configured from ``docs/deployment.md`` itself.

The audio fields take their storage once, when the models are defined (``storage=recordings_storage``,
a callable Django calls at import and keeps as ``_storage_callable``). Overriding ``STORAGES`` resets
Django's storage handler, which the ledger asks on every write and delete, but not the fields, which
playback and ``FieldFile`` use. :func:`recordings_in_s3` therefore calls each field's own callable
again after the override and gives the fields their old storage back afterwards. Everything then runs
in the test's process, through the app's unchanged code, with the test's database and emulator.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files.storage import Storage

from noojee_django.models import RecordingLeg, RecordingTag

DEPLOYMENT_DOC = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
_bucket_numbers = itertools.count(1)

#: What the tests change in the documented storage: where the bucket is, and which bucket.
TEST_ONLY_OPTIONS = ("bucket_name", "endpoint_url")


def documented_storage() -> dict[str, Any]:
    """``STORAGES["noojee_recordings"]`` as the S3 section of ``docs/deployment.md`` writes it."""
    text = DEPLOYMENT_DOC.read_text()
    block = re.search(
        r"<!-- s3 settings: begin.*?-->\s*```python\n(.*?)```\s*<!-- s3 settings: end -->", text, re.S
    )
    assert block, "docs/deployment.md has lost its marked S3 settings block"
    for node in ast.walk(ast.parse(block.group(1))):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "STORAGES":
            assert isinstance(node.value, ast.Dict)
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "noojee_recordings":
                    config: dict[str, Any] = ast.literal_eval(value)
                    return config
    raise AssertionError("the S3 settings block assigns no STORAGES['noojee_recordings']")


@dataclass
class Bucket:
    """A bucket of its own for one test, and a boto3 client that looks into it beside the app."""

    name: str
    endpoint_url: str
    client: Any

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def object_url(self, key: str) -> str:
        return f"{self.endpoint_url}/{self.name}/{key}"


def set_credentials(monkeypatch: Any) -> None:
    """Credentials from the environment, as the docs say; moto accepts any."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "noojee-test"),
        ("AWS_SECRET_ACCESS_KEY", "noojee-test-secret"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_S3_ACCESS_KEY_ID", "AWS_S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


def new_bucket(endpoint_url: str) -> Bucket:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint_url)
    name = f"noojee-test-{next(_bucket_numbers)}"
    client.create_bucket(Bucket=name)
    return Bucket(name=name, endpoint_url=endpoint_url, client=client)


@contextlib.contextmanager
def recordings_in_s3(settings: Any, bucket: Bucket, **options: Any) -> Iterator[Storage]:
    """Point ``STORAGES["noojee_recordings"]``, and the audio fields, at ``bucket``.

    ``options`` change the documented ones (``querystring_auth=True``, ``BACKEND=...``) for a test of
    what a configuration would do.
    """
    config = documented_storage()
    backend = options.pop("BACKEND", config["BACKEND"])
    config = {
        "BACKEND": backend,
        "OPTIONS": {
            **config["OPTIONS"],
            "bucket_name": bucket.name,
            "endpoint_url": bucket.endpoint_url,
            **options,
        },
    }
    settings.STORAGES = {**settings.STORAGES, "noojee_recordings": config}
    fields = [RecordingTag._meta.get_field("audio"), RecordingLeg._meta.get_field("audio")]
    before = [field.storage for field in fields]  # type: ignore[union-attr]
    for field in fields:
        field.storage = field._storage_callable()  # type: ignore[union-attr]
    try:
        yield fields[0].storage  # type: ignore[union-attr]
    finally:
        for field, storage in zip(fields, before, strict=True):
            field.storage = storage  # type: ignore[union-attr]
