"""The API's request parsers: DRF's own, except that JSON too deeply nested is a 400, not a 500.

``json.load`` raises ``RecursionError`` (not ``ValueError``) for a body such as ``[[[[...`` a hundred
thousand deep, and DRF's ``JSONParser`` catches only ``ValueError``: one short request would answer 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


class BoundedJSONParser(JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the body is nested too deeply.")) from None


PARSER_CLASSES = [BoundedJSONParser, FormParser, MultiPartParser]
