"""Scripts: the words an agent reads, versioned, and the exact text a recording was started with.

The record widget shows the current version of the active script for the record's kind, rendered
with the record's fields (:func:`script_for`), and posts that version's id and the sha256 of the text
it showed. :func:`shown_script` renders the version again and refuses a start whose hash differs, so
the text stored with a recording is the text the agent was shown, to the byte. An administrator's
change to a script is a new version (:func:`save_script_text`); versions are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..exceptions import ScriptChanged
from ..models import Script, ScriptVersion
from ..script_template import joined_text, normalized, render, text_sha256

#: What a start whose script is not the one the page showed is told.
SCRIPT_CHANGED = gettext_lazy(
    "The script has changed since the page was loaded: reload the page and read the new version."
)


@dataclass(frozen=True)
class ShownScript:
    """A script version rendered for one record: what the widget shows and a recording keeps."""

    version: ScriptVersion
    notice: str
    body: str

    @property
    def text(self) -> str:
        """The recording notice, a blank line, the script: the text whose hash is kept."""
        return joined_text(self.notice, self.body)

    @property
    def sha256(self) -> str:
        return text_sha256(self.text)


def active_script_for(obj: Any) -> Script | None:
    """The active script for ``obj``'s kind of record (the oldest, should two be active)."""
    if obj is None or getattr(obj, "pk", None) is None:
        return None
    content_type = ContentType.objects.get_for_model(obj)
    return Script.objects.filter(content_type=content_type, active=True).order_by("id").first()


def render_version(version: ScriptVersion, obj: Any) -> ShownScript:
    """``version`` with ``obj``'s fields filled in."""
    return ShownScript(version=version, notice=render(version.notice, obj), body=render(version.body, obj))


def script_for(obj: Any) -> ShownScript | None:
    """What the widget shows on ``obj``: the active script's current version, rendered; else ``None``."""
    script = active_script_for(obj)
    version = script.current_version if script is not None else None
    return render_version(version, obj) if version is not None else None


def shown_script(obj: Any, version_id: object, sha256: object) -> ShownScript | None:
    """The script a start of recording on ``obj`` names, checked against what it renders to now.

    No version named: no script (``None``). A version named with a hash that is not the hash of its
    text rendered now, a version that is not the current one of the active script for ``obj``'s kind,
    or one of another kind of record, is :class:`ScriptChanged`: the agent reads the new text first.
    """
    if version_id in (None, ""):
        return None
    try:
        pk = int(str(version_id))
    except ValueError:
        raise ValidationError(
            _("The script version must be a number."), code="invalid_script_version"
        ) from None
    if not isinstance(sha256, str) or not sha256:
        raise ValidationError(
            _("Send the sha256 of the script text shown with its version."), code="script_sha256_required"
        )
    version = ScriptVersion.objects.select_related("script").filter(pk=pk).first()
    current = script_for(obj)
    if version is None or current is None or current.version.pk != version.pk or current.sha256 != sha256:
        raise ScriptChanged(SCRIPT_CHANGED)
    return current


def save_script_text(
    script: Script, *, notice: str, body: str, user: Any | None = None
) -> ScriptVersion | None:
    """A new version of ``script`` when ``notice`` or ``body`` differ from its current one; else ``None``.

    Templates naming anything but a field of the script's kind of record are a ``ValidationError``
    (naming the field), and nothing is written.
    """
    notice, body = normalized(notice), normalized(body)
    current = script.current_version
    if current is not None and (current.notice, current.body) == (notice, body):
        return None
    for attempt in range(3):
        number = (ScriptVersion.objects.filter(script=script).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                return ScriptVersion.objects.create(
                    script=script, number=number, notice=notice, body=body, created_by=user
                )
        except IntegrityError:
            if attempt == 2:
                raise
    return None  # pragma: no cover


__all__ = [
    "SCRIPT_CHANGED",
    "ShownScript",
    "active_script_for",
    "render_version",
    "save_script_text",
    "script_for",
    "shown_script",
]
