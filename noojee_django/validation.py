"""Input rules for everything that reaches the PBX: numbers, tags, channel unique ids, and the text
of an agent's phone (its auto-answer string and Noojee login name).

A number ends up in an Asterisk dial string, so anything beyond digits and a leading ``+`` is refused
rather than escaped: ``&``, ``,``, ``|`` or ``/`` would add destinations or options, ``${`` would
expand a variable, a newline would end the header.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .conf import noojee_settings

_NUMBER_DECORATION = re.compile(r"[ \u00a0\-.()]")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
#: An Asterisk channel unique id: ``1412750652.496``. ASCII only: ``str.isdigit`` also takes "٣" and "²".
_UNIQUE_ID_RE = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")


def normalize_number(raw: object) -> str:
    """``"+61 (3) 8320-8100"`` -> ``"+61383208100"``; raises ``ValidationError`` for anything else."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(_("Enter a phone number."), code="number_required")
    number = _NUMBER_DECORATION.sub("", raw)
    digits = number[1:] if number.startswith("+") else number
    if not digits.isascii() or not digits.isdigit():
        raise ValidationError(
            _("A phone number may contain only digits, spaces, hyphens, dots, parentheses and a leading +."),
            code="invalid_number",
        )
    max_digits = noojee_settings.NUMBER_MAX_DIGITS
    if len(digits) > max_digits:
        raise ValidationError(
            _("A phone number has at most %(max)s digits.") % {"max": max_digits}, code="number_too_long"
        )
    return number


def validate_tag(raw: object) -> str:
    """A recording tag: an invoice or order number, safe to put in a query string and a file name."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(_("Enter a tag, such as the invoice number."), code="tag_required")
    tag = raw.strip()
    max_length = noojee_settings.TAG_MAX_LENGTH
    if len(tag) > max_length:
        raise ValidationError(
            _("A tag has at most %(max)s characters.") % {"max": max_length}, code="tag_too_long"
        )
    if not tag.isascii() or not _TAG_RE.match(tag):
        raise ValidationError(
            _("A tag may contain only letters, digits and . _ : / - and must start with a letter or digit."),
            code="invalid_tag",
        )
    return tag


def validate_unique_id(raw: object) -> str:
    """A channel unique id as the PBX gave it, before it goes back to the PBX (``answer``)."""
    if not isinstance(raw, str) or not _UNIQUE_ID_RE.fullmatch(raw):
        raise ValidationError(_("A call's unique id looks like 1412750652.496."), code="invalid_unique_id")
    return raw


#: In an auto-answer header or a login name: dial options and destinations (``,`` ``&`` ``|`` ``^``).
_PBX_TEXT_FORBIDDEN = ",&|^"


def is_pbx_text(value: str) -> bool:
    """Whether ``value`` can go into the PBX's dial string as text: see :func:`validate_pbx_text`."""
    return (
        not any(char in _PBX_TEXT_FORBIDDEN for char in value)
        and "${" not in value
        and all(char.isprintable() for char in value)
    )


def validate_pbx_text(value: str) -> str:
    """An auto-answer string or a login name, which the PBX puts into a dial string as it is.

    ``,`` ``&`` ``|`` ``^`` would add options or destinations, ``${`` would expand a variable, and a
    line break or any other control or invisible character (tabs, NUL, U+2028, bidi overrides) would
    end or disguise the header. Spaces, ``:``, ``;``, ``\\``, ``<`` and ``>`` are what the published
    auto-answer strings are made of, and pass.
    """
    if not is_pbx_text(value):
        raise ValidationError(
            _(
                "This may not contain , & | ^ ${ or control characters such as line breaks or tabs: "
                "the PBX would read them as part of the dial command."
            ),
            code="invalid_pbx_text",
        )
    return value


def pbx_text_validator(value: str) -> None:
    """:func:`validate_pbx_text` as a model field validator."""
    validate_pbx_text(value)
