"""The default answers to "who may dial, record, and hear". Replace them with ``NOOJEE['MAY_*']`` hooks."""

from __future__ import annotations

from typing import Any


def _view_permission(obj: Any) -> str:
    meta = obj._meta
    return f"{meta.app_label}.view_{meta.model_name}"


def default_may_dial(user: Any, obj: Any | None = None) -> bool:
    return bool(user.is_authenticated and user.has_perm("noojee_django.can_dial"))


def default_may_record(user: Any, obj: Any | None = None) -> bool:
    if not (user.is_authenticated and user.has_perm("noojee_django.can_record")):
        return False
    return obj is None or user.has_perm(_view_permission(obj)) or user.has_perm(_view_permission(obj), obj)


def default_may_hear(user: Any, obj: Any) -> bool:
    """May ``user`` hear the recordings attached to ``obj``? Default: may they view ``obj``'s model.

    Object-level backends (django-guardian, rules) are asked too, with ``obj``.
    """
    if not user.is_authenticated or obj is None:
        return False
    perm = _view_permission(obj)
    return bool(user.has_perm(perm) or user.has_perm(perm, obj))
