"""The placeholder language of scripts: ``{field}`` filled from the record's own fields, nothing else.

A script is written by an administrator and read aloud by an agent, and its rendered text is kept as
evidence, so the language can do exactly one thing: put the value of one of the record's concrete
model fields where its name stands in braces. No attribute paths (``{customer.user}``), no method
calls, no format specs, no filters: a template cannot run code or reach anything the record's own
columns do not hold. ``{{`` and ``}}`` are literal braces. A name that is not a field of the record's
model is refused when the script version is saved, naming it.

Values are formatted with ``str()``: a decimal as it is stored (``1250.00``), a choice as its stored
value, a related record (a foreign key) as its ``str()``; an empty value (``None``) as nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

#: One token: an escaped brace, a placeholder, or a brace that is neither.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Fields a script may never show, whatever their model (a user's password hash).
NEVER_SHOWN = frozenset({"password"})


def placeholders(template: str) -> list[str]:
    """The field names ``template`` asks for, in order; a ``ValidationError`` for a malformed one."""
    names: list[str] = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise ValidationError(
                _("A brace with no partner: write {{ or }} for a brace itself, {field} for a field."),
                code="script_unmatched_brace",
            )
        name = match.group(1).strip()
        if not _NAME.match(name):
            raise ValidationError(
                _("%(token)s is not a placeholder: write a field name alone in braces, such as {number}.")
                % {"token": token},
                code="script_invalid_placeholder",
            )
        names.append(name)
    return names


def field_names(model: type[models.Model]) -> list[str]:
    """The names a script for ``model`` may use: its concrete fields (a foreign key by its name)."""
    return [f.name for f in model._meta.concrete_fields if f.name not in NEVER_SHOWN]


def validate_template(template: str, model: type[models.Model] | None) -> None:
    """Refuse a template that is malformed or names anything but a field of ``model``."""
    names = placeholders(template)
    if model is None:
        if names:
            raise ValidationError(
                _("Choose the kind of record first: placeholders are its fields."), code="script_no_model"
            )
        return
    allowed = set(field_names(model))
    for name in names:
        if name not in allowed:
            raise ValidationError(
                _("{%(name)s} is not a field of %(model)s. Its fields: %(fields)s.")
                % {
                    "name": name,
                    "model": model._meta.verbose_name,
                    "fields": ", ".join(sorted(allowed)),
                },
                code="script_unknown_field",
                params={"name": name},
            )


def _value(obj: models.Model, name: str) -> str:
    if name not in field_names(type(obj)):  # validated when saved; checked again: the model may change
        raise ValidationError(
            _("{%(name)s} is not a field of %(model)s.") % {"name": name, "model": obj._meta.verbose_name},
            code="script_unknown_field",
        )
    value = getattr(obj, name)
    return "" if value is None else str(value)


def render(template: str, obj: models.Model) -> str:
    """``template`` with each ``{field}`` replaced by ``str()`` of ``obj``'s value of it."""

    def replace(match: re.Match[str]) -> str:
        piece = match.group(0)
        if piece in ("{{", "}}"):
            return piece[0]
        if match.group(1) is None:
            placeholders(piece)  # raises, in words
        return _value(obj, match.group(1).strip())

    placeholders(template)
    return _TOKEN.sub(replace, template)


def joined_text(notice: str, body: str) -> str:
    """What the agent is shown, as one text: the recording notice, a blank line, the script."""
    return "\n\n".join(part for part in (notice, body) if part)


def text_sha256(text: str) -> str:
    """The sha256 (hex) of a shown text's UTF-8 bytes: what a recording and its evidence carry."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalized(text: str) -> str:
    """A template as stored: line ends as ``\\n`` (a browser posts ``\\r\\n``), no trailing blanks."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def model_of(content_type: Any) -> type[models.Model] | None:
    model: type[models.Model] | None = content_type.model_class() if content_type is not None else None
    return model
