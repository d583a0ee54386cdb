"""Keeping the API key and hash out of logs, exception texts and reprs.

Every URL the client logs or puts in an exception goes through :func:`redact_url`. urllib3 logs its
own request lines at DEBUG; :func:`install_log_filter` adds a filter that masks them too.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAM = re.compile(r"(?P<name>(?:apiKey|hash)=)[^&#\s\"']*")


def redact_url(text: str) -> str:
    """``...?apiKey=f863...&tag=1`` -> ``...?apiKey=***&tag=1`` (also inside longer texts)."""
    return _SECRET_PARAM.sub(r"\g<name>***", text)


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask secret query parameters and any literal secret value in ``text``."""
    text = redact_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks ``apiKey=`` and ``hash=`` values in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        redacted = redact_url(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True


_installed = False


def install_log_filter() -> None:
    """Mask secrets in urllib3's request lines (it logs full URLs at DEBUG). Idempotent."""
    global _installed
    if _installed:
        return
    for name in ("urllib3.connectionpool", "noojee_django.client"):
        logging.getLogger(name).addFilter(RedactingFilter())
    _installed = True
